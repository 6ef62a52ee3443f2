"""Honest verdicts: every run with several implementations ends with a parity verdict per variant,
names the first logged step where the cost curves part, writes the difference into TensorBoard,
and exits 3 when implementations disagree.

Disagreements here are made on purpose and deterministically (a wrapped runner perturbs what the
torch run recorded), never by a chaotic run whose parting step would depend on how a BLAS rounds.
Each run is a tiny config written to tmp_path (scratch and torch only, well under a second).
"""
import os

import numpy as np
import pytest

from experiments import compare, runner
from experiments.cli import main

TINY = """\
description = "tiny: verdict tests"
dataset = "flower"
m = 60
layer_dims = [2, 3, 1]
activations = ["tanh", "sigmoid"]
init = "random"
learning_rate = 1.2
num_iterations = 30
log_every = 5
seed = 0
impls = ["scratch", "torch"]
"""
SWEEP = TINY + """
[[variants]]
name = "n3"

[[variants]]
name = "n2"
layer_dims = [2, 2, 1]
"""
STEPS = list(range(0, 30, 5))               # the logged steps of TINY: 0, 5, ..., 25


def config(tmp_path, text=TINY, name="tiny"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


def perturb_torch(monkeypatch, cost_factors=None, theta_shift=None):
    """Wrap runner.RUNNERS["torch"]: after the real run, multiply its recorded costs by
    cost_factors (one per logged step) and add theta_shift(index) to θ at each logged step."""
    real = runner.RUNNERS["torch"]

    def run_torch(cfg, data, params0, path, device=None, masks=None, resume=None):
        result = real(cfg, data, params0, path, device, masks, resume=resume)
        if cost_factors is not None:
            result.costs = result.costs * np.asarray(cost_factors)
        if theta_shift is not None:
            result.thetas = result.thetas + np.array([[theta_shift(k)] for k in range(len(result.thetas))])
        return result
    monkeypatch.setitem(runner.RUNNERS, "torch", run_torch)


def verdicts(out):
    return [line for line in out.splitlines() if line.startswith("parity")]


def test_agreeing_run_prints_a_verdict_and_exits_0(tmp_path, capsys):
    assert main([config(tmp_path), "--logdir", str(tmp_path / "logs")]) == 0
    out = capsys.readouterr().out
    [line] = verdicts(out)
    assert line.startswith("parity: scratch, torch agree"), line
    assert "every logged step" in line


def test_a_sweep_prints_one_verdict_per_variant(tmp_path, capsys):
    assert main([config(tmp_path, SWEEP), "--logdir", str(tmp_path / "logs")]) == 0
    lines = verdicts(capsys.readouterr().out)
    assert [line.split(":")[0] for line in lines] == ["parity n3", "parity n2"], lines
    assert all("scratch, torch agree" in line for line in lines), lines


def test_one_implementation_prints_no_verdict(tmp_path, capsys):
    assert main([config(tmp_path), "--impl", "scratch", "--logdir", str(tmp_path / "logs")]) == 0
    assert verdicts(capsys.readouterr().out) == []


def test_disagreement_names_the_first_parting_step_and_exits_3(tmp_path, capsys, monkeypatch):
    # steps 0, 5: exact; step 10: 1e-9 relative (inside rtol 1e-8); from step 15: 1e-6 (outside)
    perturb_torch(monkeypatch, cost_factors=[1, 1, 1 + 1e-9, 1 + 1e-6, 1 + 1e-6, 1 + 1e-6])
    assert main([config(tmp_path), "--logdir", str(tmp_path / "logs")]) == 3
    captured = capsys.readouterr()
    [line] = verdicts(captured.out)
    assert "DIFFER" in line and "torch" in line and "step 15" in line, line
    assert "step 10" not in line
    assert "disagree" in captured.err and len(captured.err.strip().splitlines()) == 1


def test_disagreement_in_one_variant_of_a_sweep_exits_3(tmp_path, capsys, monkeypatch):
    perturb_torch(monkeypatch, cost_factors=[1, 1, 1, 1, 1, 1.01])
    assert main([config(tmp_path, SWEEP), "--logdir", str(tmp_path / "logs")]) == 3
    lines = verdicts(capsys.readouterr().out)
    assert len(lines) == 2 and all("DIFFER" in line and "step 25" in line for line in lines), lines


def test_parted_parameters_show_how_the_difference_grew(tmp_path, capsys, monkeypatch):
    """θ moved by 10^(4k-16) at logged step k (and the costs part at step 20): the growth line under
    the verdict shows the difference crossing the decades, step by step."""
    perturb_torch(monkeypatch, cost_factors=[1, 1, 1, 1, 1 + 1e-6, 1 + 1e-6],
                  theta_shift=lambda k: 10.0 ** (4 * k - 16) if k else 0.0)
    assert main([config(tmp_path), "--logdir", str(tmp_path / "logs")]) == 3
    out = capsys.readouterr().out
    [growth] = [line for line in out.splitlines() if "θ difference" in line and "→" in line]
    *logged, final = growth.split("→")
    assert final.strip().endswith("(final θ)"), growth
    points = [(float(part.split()[-3]), int(part.split()[-1].rstrip(")"))) for part in logged]
    values, steps = zip(*points)
    assert steps[0] == 0 and steps[-1] == 25 and len(steps) >= 4, growth
    assert list(steps) == sorted(set(steps)) and list(values) == sorted(values), growth
    assert values[0] == 0 and values[-1] > 1e3 * values[1] > 0, growth


def test_parity_curves_are_written_in_the_non_reference_run(tmp_path, capsys, monkeypatch):
    from experiments.tb import read_scalars
    perturb_torch(monkeypatch, theta_shift=lambda k: 1e-3 if k >= 3 else 0.0)
    logdir = tmp_path / "logs"
    main([config(tmp_path), "--logdir", str(logdir)])
    scalars = read_scalars(str(logdir / "tiny" / "torch"))
    diffs = scalars["parity/max_rel_param_diff"]
    assert [s for s, _ in diffs] == STEPS
    assert diffs[0][1] == 0 and all(v < 1e-10 for _, v in diffs[:3]) and all(v > 1e-5 for _, v in diffs[3:])
    assert [s for s, _ in scalars["parity/cost_rel_diff"]] == STEPS
    assert not any(tag.startswith("parity/") for tag in read_scalars(str(logdir / "tiny" / "scratch")))


def test_first_parting_step_and_relative_parameter_difference():
    from torch_ref.parity import TRAJECTORY_RTOL
    steps = np.array([0, 10, 20, 30])
    ref = np.array([1.0, 0.5, 0.25, 0.125])
    assert compare.first_parting(steps, ref, ref.copy()) is None
    just_inside = ref * (1 + 0.9 * TRAJECTORY_RTOL)
    assert compare.first_parting(steps, just_inside, ref) is None
    apart = ref * np.array([1, 1, 1 + 2 * TRAJECTORY_RTOL, 1])
    assert compare.first_parting(steps, apart, ref) == 20
    # max over the arrays of max|θa - θb| / max|θb|: W1's 0.1 / 2 beats b1's 0.01 / 1
    a = {"W1": np.array([[2.0, -1.9]]), "b1": np.array([[1.01]])}
    b = {"W1": np.array([[2.0, -2.0]]), "b1": np.array([[1.0]])}
    assert compare.relative_param_difference(a, b) == pytest.approx(0.05)
    assert compare.relative_param_difference(b, b) == 0


def test_data_is_refused_for_an_experiment_without_files(tmp_path, capsys):
    logdir = tmp_path / "logs"
    status = main([config(tmp_path), "--data", "train.h5", "test.h5", "--logdir", str(logdir)])
    assert status in (1, 2)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--data" in err and "flower" in err
    assert not logdir.exists()                              # refused before anything trained


def test_a_rerun_replaces_the_experiments_runs_and_nothing_else(tmp_path, capsys):
    logdir = tmp_path / "logs"
    stale = logdir / "tiny" / "lightning"
    stale.mkdir(parents=True)
    (stale / "events.out.tfevents.old").write_text("stale")
    (logdir / "tiny" / "old-variant").mkdir()
    other = logdir / "other" / "scratch"
    other.mkdir(parents=True)
    (other / "events.out.tfevents.keep").write_text("keep")
    (logdir / "notes.txt").write_text("keep")
    assert main([config(tmp_path), "--logdir", str(logdir)]) == 0
    assert sorted(os.listdir(logdir / "tiny")) == ["results.md", "scratch", "torch"]
    assert (other / "events.out.tfevents.keep").exists() and (logdir / "notes.txt").exists()


def test_a_config_name_that_leaves_the_logdir_is_refused(tmp_path):
    """<logdir>/<name> is removed before a run: a name that is not a plain directory name is refused."""
    from experiments.config import load_config
    logdir = tmp_path / "sub" / "logs"
    logdir.mkdir(parents=True)
    (logdir / "keep.txt").write_text("keep")
    cfg = load_config(config(tmp_path))
    for name in ("..", ".", "", "a/../..", os.sep + "tmp"):
        with pytest.raises(ValueError, match="experiment name"):
            runner.run(cfg.replace(name=name), logdir=str(logdir))
    assert (logdir / "keep.txt").exists() and (tmp_path / "sub").is_dir()


def test_the_tensorboard_line_opens_the_experiment_just_run(tmp_path, capsys):
    logdir = tmp_path / "logs"
    assert main([config(tmp_path), "--logdir", str(logdir)]) == 0
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {os.path.join(str(logdir), 'tiny')}" in out


def test_help_documents_the_exit_statuses():
    from experiments.cli import build_parser
    epilog = build_parser().epilog
    for status, meaning in (("0", "agree"), ("1", "error"), ("2", "usage"), ("3", "disagree")):
        assert any(line.strip().startswith(status) and meaning in line for line in epilog.splitlines()), status


def test_command_line_values_win_over_a_variants_own(tmp_path, capsys):
    """--lr (and --steps, --seed, --log-every) apply to every variant, also one that sets its own
    learning_rate in the config, as depth's and hidden's variants do."""
    from experiments.config import load_config
    text = SWEEP.replace('name = "n2"', 'name = "n2"\nlearning_rate = 0.5')
    cfg = load_config(config(tmp_path, text))
    assert [c.learning_rate for _, c in cfg.runs()] == [1.2, 0.5]
    assert main([config(tmp_path, text), "--lr", "0.7", "--impl", "scratch", "--logdir", str(tmp_path / "logs")]) == 0
    assert "learning_rate 0.5" not in capsys.readouterr().out
    assert [c.learning_rate for _, c in cfg.override(learning_rate=0.7).runs()] == [0.7, 0.7]


def test_a_huge_final_cost_prints_in_one_column():
    """A run gone astray (J ~ 1e200) keeps the table's 19-character cost column."""
    from experiments.main_job import _cost
    assert _cost(0.176840348841556) == "  0.176840348841556"
    assert _cost(8.8022111600155e199) == "8.802211160015e+199"
    assert _cost(-5e5) == "-5.000000000000e+05"
