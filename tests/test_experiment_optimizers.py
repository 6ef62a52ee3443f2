"""`python -m experiments optimizers`: the optimization arguments in a config (optimizer, betas,
mini-batches, epochs, lr_schedule), passed alike to scratch, torch and Lightning, and the cost-curve
figure of a sweep. The full run's measured outcome is in experiments/configs/optimizers.toml."""
import contextlib
import io
import os

import pytest

from experiments.cli import main
from experiments.config import CONFIG_DIR, DEFAULT_ITERATIONS, load_config
from conftest import PNG_MAGIC

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*")   # Lightning 2.6 with torch 2.13, harmless
VARIANTS = ["gd", "momentum", "adam", "gd-decay", "momentum-decay", "gd-0.1"]

BASE = """\
description = "tiny: optimization keys"
dataset = "moons"
m = 50
layer_dims = [2, 3, 1]
activations = ["relu", "sigmoid"]
init = "he"
learning_rate = 0.05
log_every = 1
seed = 0
impls = ["scratch", "torch"]
"""
MINI = BASE + "mini_batch_size = 8\nnum_epochs = 2\n"       # train 30 = 8 + 8 + 8 + 6: 4 steps an epoch


def write(tmp_path, text, name="tiny"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


def verdicts(out):
    return [line for line in out.splitlines() if line.startswith("parity")]


def test_the_optimizers_config_loads():
    cfg = load_config("optimizers")
    runs = dict(cfg.runs())
    assert list(runs) == VARIANTS
    for name, run in runs.items():
        assert (run.dataset, run.mini_batch_size, run.num_iterations) == ("moons", 64, None), name
        assert list(run.layer_dims) == [2, 5, 2, 1] and run.init == "he", name
        assert run.num_steps(180) == run.num_epochs * 3, name              # 64 + 64 + 52
    assert [runs[v].optimizer for v in VARIANTS] == ["gd", "momentum", "adam", "gd", "momentum", "gd"]
    assert {runs[v].learning_rate for v in ("gd", "momentum", "adam")} == {0.0007}
    for name in ("gd-decay", "momentum-decay"):                            # a TOML table -> (name, kwargs)
        assert runs[name].lr_schedule == ("staircase", {"decay_rate": 1.0, "time_interval": 100})
    assert runs["adam"].lr_schedule is None and runs["gd-0.1"].lr_schedule is None
    assert runs["gd-0.1"].learning_rate == runs["gd-decay"].learning_rate       # the control: α₀ without decay


@pytest.fixture(scope="module")
def tiny_optimizers(tmp_path_factory):
    """optimizers.toml itself, shortened to 3 epochs (9 steps) whose staircase steps down every
    epoch, every step logged, run with all three implementations: (status, stdout, logdir)."""
    pytest.importorskip("lightning")
    from torch_ref.lightning import restored_global_state
    tmp = tmp_path_factory.mktemp("optimizers")
    text = open(os.path.join(CONFIG_DIR, "optimizers.toml"), encoding="utf-8").read()
    for old, new in (("num_epochs = 500", "num_epochs = 3"), ("log_every = 25", "log_every = 1"),
                     ("time_interval = 100}", "time_interval = 1}")):
        assert old in text, old
        text = text.replace(old, new)
    logdir, out = str(tmp / "logs"), io.StringIO()
    with contextlib.redirect_stdout(out), restored_global_state():
        status = main([write(tmp, text, "optimizers"), "--impl", "all", "--logdir", logdir])
    return status, out.getvalue(), logdir


@pytest.mark.slow
def test_a_tiny_optimizers_run_agrees_in_every_variant(tiny_optimizers):
    status, out, _ = tiny_optimizers
    assert status == 0, out
    lines = verdicts(out)
    assert [line.split(":")[0] for line in lines] == [f"parity {v}" for v in VARIANTS], lines
    for line in lines:           # 9 update steps logged: mini-batches, not 3 full-batch steps
        assert "scratch, torch, lightning agree (cost at every logged step, 9 from 0 to 8" in line, line
    assert "3 epochs of mini-batches of 64 (9 steps" in out


@pytest.mark.slow
def test_a_sweep_writes_its_cost_curves_as_a_png(tiny_optimizers):
    _, out, logdir = tiny_optimizers
    path = os.path.join(logdir, "optimizers", "costs.png")
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    assert os.path.getsize(path) > 10_000                                 # axes, five curves, a legend
    assert f"cost curves of every variant (scratch): {path}" in out


def test_the_figure_plots_the_reference_history_of_each_variant(tmp_path):
    import numpy as np
    from experiments import figures
    from experiments.runner import RunResult, VariantRuns

    def result(impl, last):
        return RunResult(impl, {}, last, {}, 0.0, "", np.arange(0, 30, 10), np.array([0.7, 0.5, last]))
    runs = [VariantRuns(name, None, {}, [result("scratch", c), result("torch", 9.0)])
            for name, c in (("a", 0.3), ("b", 0.2))]
    fig = figures.cost_figure(runs, title="t")
    lines = fig.axes[0].get_lines()
    assert [line.get_label().split()[0] for line in lines] == ["a", "b"]          # one per variant
    assert [list(line.get_ydata()) for line in lines] == [[0.7, 0.5, 0.3], [0.7, 0.5, 0.2]]   # scratch's
    assert fig.axes[0].get_yscale() == "log"
    path = figures.cost_curves(runs, str(tmp_path / "sub" / "costs.png"))
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC


def test_schedule_optimizer_and_dropout_reach_scratch_and_torch_alike(tmp_path, capsys):
    """inverse_time decay moves α every epoch, Adam's β's are not the defaults, dropout masks are drawn
    per mini-batch (the last one of 6 columns): a value that one implementation did not get parts the
    cost curves at step 4 at the latest, exit status 3."""
    text = MINI.replace('layer_dims = [2, 3, 1]\nactivations = ["relu", "sigmoid"]',
                        'layer_dims = [2, 4, 3, 1]\nactivations = ["relu", "relu", "sigmoid"]\nkeep_probs = [0.8, 0.7]')
    text += ('optimizer = "adam"\nbeta1 = 0.8\nbeta2 = 0.99\nepsilon = 1e-6\n'
             'lr_schedule = {name = "inverse_time", decay_rate = 1.0}\n')
    assert main([write(tmp_path, text), "--logdir", str(tmp_path / "logs")]) == 0
    [line] = verdicts(capsys.readouterr().out)
    assert "scratch, torch agree (cost at every logged step, 8 from 0 to 7" in line, line


def test_train_kwargs_carries_every_optimization_key():
    from experiments.runner import train_kwargs
    cfg = load_config("optimizers").runs()[3][1]                         # gd-decay
    kwargs = train_kwargs(cfg)
    assert kwargs["lr_schedule"] == ("staircase", {"decay_rate": 1.0, "time_interval": 100})
    assert (kwargs["mini_batch_size"], kwargs["num_epochs"], kwargs["num_iterations"]) == (64, 500, None)
    assert (kwargs["optimizer"], kwargs["learning_rate"], kwargs["seed"]) == ("gd", 0.1, 0)
    flower = train_kwargs(load_config("flower"))                       # full batch exactly as before
    assert (flower["num_iterations"], flower["num_epochs"], flower["mini_batch_size"]) == (10000, None, None)
    assert (flower["optimizer"], flower["lr_schedule"]) == ("gd", None)


def test_full_batch_is_unchanged_and_defaults_to_10000_steps(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert (cfg.num_iterations, cfg.num_epochs, cfg.mini_batch_size) == (DEFAULT_ITERATIONS, None, None)
    assert cfg.num_steps(30) == DEFAULT_ITERATIONS and cfg.optimizer == "gd" and cfg.lr_schedule is None


def test_steps_on_the_command_line_are_epochs_with_mini_batches(tmp_path):
    """--steps N: N full-batch steps for a full-batch run, N epochs for a mini-batch run, also when a
    variant of a full-batch config switches to mini-batches."""
    mini = load_config(write(tmp_path, MINI, "mini")).with_steps(7)
    assert (mini.num_epochs, mini.num_iterations) == (7, None)
    mixed = load_config(write(tmp_path, BASE + 'num_iterations = 40\n[[variants]]\nname = "full"\n'
                              '[[variants]]\nname = "mini"\nmini_batch_size = 8\nnum_epochs = 2\n', "mixed"))
    assert [(c.num_iterations, c.num_epochs) for _, c in mixed.runs()] == [(40, None), (None, 2)]
    assert [(c.num_iterations, c.num_epochs) for _, c in mixed.with_steps(5).runs()] == [(5, None), (None, 5)]
    from experiments.cli import build_parser
    steps_help = next(a.help for a in build_parser()._actions if "--steps" in a.option_strings)
    assert "epochs" in steps_help and "num_epochs" in steps_help


def test_dropout_masks_are_drawn_for_each_steps_batch():
    from experiments.runner import shared_dropout_masks
    masks = shared_dropout_masks([2, 4, 3, 1], [0.8, 0.5], m=180, seed=0, mini_batch_size=64)
    assert [[d.shape for d in masks(step)] for step in (0, 1, 2, 3)] == [
        [(4, 64), (3, 64)], [(4, 64), (3, 64)], [(4, 52), (3, 52)], [(4, 64), (3, 64)]]
    assert all((a == b).all() for a, b in zip(masks(2), masks(2)))


BAD_SCHEDULES = [
    ('lr_schedule = {name = "inverse_tim", decay_rate = 1.0}', "name must be one of"),
    ('lr_schedule = {decay_rate = 1.0}', "needs a name"),
    ('lr_schedule = {name = "inverse_time"}', "needs the key(s) ['decay_rate']"),
    ('lr_schedule = {name = "inverse_time", decay_rate = 1.0, rate = 2}', "unknown key(s) ['rate']"),
    ('lr_schedule = {name = "staircase", decay_rate = 1.0, time_interval = 0}', "time_interval"),
    ('lr_schedule = {name = "inverse_time", decay_rate = -1.0}', "decay_rate"),
    ('lr_schedule = 3', "lr_schedule must be a table"),
]


@pytest.mark.parametrize("line, words", BAD_SCHEDULES)
def test_a_bad_lr_schedule_is_a_one_line_error(tmp_path, capsys, line, words):
    logdir = tmp_path / "logs"
    assert main([write(tmp_path, MINI + line + "\n"), "--logdir", str(logdir)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "tiny: lr_schedule" in err and words in err, err          # the config and the key
    assert not logdir.exists()                                           # refused before anything trained


def test_a_bad_lr_schedule_in_a_variant_names_the_variant(tmp_path, capsys):
    text = MINI + '[[variants]]\nname = "ok"\n[[variants]]\nname = "decay"\nlr_schedule = {name = "nope"}\n'
    assert main([write(tmp_path, text), "--logdir", str(tmp_path / "logs")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "tiny, variant 'decay': lr_schedule" in err, err


@pytest.mark.parametrize("text, words", [
    (MINI + "num_iterations = 100\n", ["num_iterations", "conflicts with mini_batch_size", "num_epochs"]),
    (BASE + "mini_batch_size = 8\n", ["mini_batch_size = 8 needs num_epochs"]),
    (BASE + "num_epochs = 3\n", ["num_epochs", "mini_batch_size"]),
    (MINI + '[[variants]]\nname = "v"\nnum_iterations = 100\n', ["variant 'v'", "conflicts with mini_batch_size"]),
    (BASE + '[[variants]]\nname = "v"\nmini_batch_size = 8\nnum_iterations = 100\nnum_epochs = 2\n',
     ["variant 'v'", "conflicts with mini_batch_size"]),
    (MINI + 'optimizer = "sgd"\n', ["optimizer must be one of"]),
    (MINI + "beta2 = 1.0\n", ["beta2 must be a number in [0, 1)"]),
])
def test_conflicting_or_bad_optimization_keys_are_refused(tmp_path, capsys, text, words):
    logdir = tmp_path / "logs"
    assert main([write(tmp_path, text), "--logdir", str(logdir)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert all(w in err for w in words), err
    assert not logdir.exists()


def test_the_report_describes_the_mini_batch_run(tmp_path, capsys):
    assert main([write(tmp_path, MINI), "--impl", "scratch", "--logdir", str(tmp_path / "logs")]) == 0
    out = capsys.readouterr().out
    assert "2 epochs of mini-batches of 8 (8 steps" in out
    assert not os.path.exists(tmp_path / "logs" / "tiny" / "costs.png")   # one run, no sweep: no figure
