"""`python -m experiments multiclass` and `python -m experiments batchnorm`, shortened: they exit 0, the
three implementations agree, the multiclass run writes its confusion matrix (PNG and TensorBoard), and
the batchnorm run shows its claim (batch norm reaches the target cost, the plain net does not come
near it in twice the steps). The full runs' measured outcomes are in the configs' comments and README."""
import contextlib
import io
import os
import re

import numpy as np
import pytest

from experiments.cli import main
from experiments.config import load_config
from conftest import PNG_MAGIC

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*")   # Lightning 2.6 with torch 2.13, harmless
IMPLS = ("scratch", "torch", "lightning")


def run_cli(*args):
    """main(args) with stdout captured, the process-wide state Lightning changes restored: (status, stdout)."""
    from torch_ref.lightning import restored_global_state
    out = io.StringIO()
    with contextlib.redirect_stdout(out), restored_global_state():
        status = main(list(args))
    return status, out.getvalue()


def verdicts(out):
    return [line for line in out.splitlines() if line.startswith("parity")]


def images(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(path, size_guidance={"images": 0})
    acc.Reload()
    return acc.Tags()["images"]


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory):
    """multiclass.toml itself, 40 steps, all three implementations: (status, stdout, logdir)."""
    pytest.importorskip("lightning")
    logdir = str(tmp_path_factory.mktemp("multiclass") / "logs")
    return (*run_cli("multiclass", "--impl", "all", "--steps", "40", "--log-every", "5", "--logdir", logdir), logdir)


@pytest.fixture(scope="module")
def batchnorm(tmp_path_factory):
    """batchnorm.toml itself, 200 of its 500 steps, all three implementations: (status, stdout, logdir)."""
    pytest.importorskip("lightning")
    logdir = str(tmp_path_factory.mktemp("batchnorm") / "logs")
    return (*run_cli("batchnorm", "--impl", "all", "--steps", "200", "--logdir", logdir), logdir)


def test_the_configs_load_as_described():
    mc = load_config("multiclass")
    assert (mc.dataset, mc.activations[-1], mc.layer_dims[-1], mc.batchnorm) == ("digits10", "softmax", 10, False)
    bn = load_config("batchnorm")
    runs = dict(bn.runs())
    assert list(runs) == ["plain", "batchnorm"] and bn.target_cost == 0.1
    assert [runs[v].batchnorm for v in runs] == [False, True]
    assert runs["plain"].replace(batchnorm=True) == runs["batchnorm"]        # batch norm is the only change
    assert bn.dataset == "digits10" and len(bn.layer_dims) >= 6              # a deep net: 5 hidden layers


@pytest.mark.slow
def test_multiclass_runs_agrees_and_writes_its_confusion_matrix(multiclass):
    status, out, logdir = multiclass
    assert status == 0, out
    [line] = verdicts(out)
    assert "parity: scratch, torch, lightning agree (cost at every logged step, 8 from 0 to 35" in line, line
    rows = {r.split()[0]: r.split() for r in out.splitlines() if r.split()[:1] and r.split()[0] in IMPLS}
    accs = {impl: [float(v) for v in row[2:5]] for impl, row in rows.items()}      # train, dev, test accuracy
    assert accs["scratch"] == accs["torch"] == accs["lightning"]
    assert all(0.5 < a <= 1 for a in accs["scratch"]), accs          # 40 steps learn far above chance (0.1)
    path = os.path.join(logdir, "multiclass", "confusion.png")
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    assert os.path.getsize(path) > 10_000                            # a 10 × 10 grid of counts
    assert f"confusion matrix on the dev set (scratch): {path}" in out
    for impl in IMPLS:                                               # and in every TensorBoard run
        assert images(os.path.join(logdir, "multiclass", impl)) == ["confusion_matrix"], impl


@pytest.mark.slow
def test_multiclass_lightning_logs_multiclass_metrics(multiclass):
    from experiments.tb import read_scalars
    _, _, logdir = multiclass
    scalars = read_scalars(os.path.join(logdir, "multiclass", "lightning"))
    assert {"train/acc", "train/f1", "dev/acc", "dev/f1"} <= set(scalars) and "dev/auroc" not in scalars
    ref = dict(read_scalars(os.path.join(logdir, "multiclass", "scratch"))["dev/acc"])
    got = dict(scalars["dev/acc"])
    for step in ref.keys() & got.keys():                 # torchmetrics' accuracy is scratch's argmax accuracy
        assert got[step] == pytest.approx(ref[step], rel=1e-6), step


@pytest.mark.slow
def test_batchnorm_runs_agrees_and_reaches_the_target_far_sooner(batchnorm):
    status, out, logdir = batchnorm
    assert status == 0, out
    lines = verdicts(out)
    assert [line.split(":")[0] for line in lines] == ["parity plain", "parity batchnorm"], lines
    assert all("scratch, torch, lightning agree" in line for line in lines), lines
    reached = dict(re.findall(r"^  (plain|batchnorm)\s+(.*)$", out, flags=re.M))
    step = int(re.fullmatch(r"step (\d+)", reached["batchnorm"]).group(1))
    assert step <= 100, reached                   # batch norm: J_i <= 0.1 within 100 steps ...
    plain = re.fullmatch(r"not reached in 200 steps \(lowest logged J_i ([\d.]+)\)", reached["plain"])
    assert plain and float(plain.group(1)) > 10 * 0.1, reached   # ... the plain net not even near it in 200
    assert "-> the claim holds" in out                                # the batchnorm study's verdict agrees
    path = os.path.join(logdir, "batchnorm", "costs.png")
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    assert f"cost curves of every variant (scratch): {path}" in out


def test_steps_to_target_is_the_first_logged_step_at_or_below_it():
    from experiments.figures import steps_to_target
    from experiments.runner import RunResult
    run = RunResult("scratch", {}, 0.0, {}, 0.0, "", np.array([0, 5, 10, 15]), np.array([2.3, 0.2, 0.1, 0.05]))
    assert steps_to_target(run, 0.1) == 10 and steps_to_target(run, 0.15) == 10
    assert steps_to_target(run, 0.01) is None and steps_to_target(run, 5.0) == 0


def test_the_confusion_matrix_counts_true_rows_against_predicted_columns():
    from experiments.runner import confusion_matrix
    from scratch.losses import one_hot
    Y = one_hot(np.array([0, 0, 1, 2, 2, 2]), 3)
    matrix = confusion_matrix(np.array([[0, 1, 1, 2, 0, 2]]), Y)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


BASE = """\
description = "tiny"
dataset = "blobs3"
m = 60
noise = 1.0
layer_dims = [2, 4, 3]
activations = ["relu", "softmax"]
learning_rate = 0.1
num_iterations = 3
impls = ["scratch"]
"""


@pytest.mark.parametrize("change, words", [
    (("layer_dims = [2, 4, 3]", "layer_dims = [2, 4, 1]"), "has 3 classes: the output layer must be a 'softmax'"),
    (('["relu", "softmax"]', '["relu", "sigmoid"]'), "has 3 classes"),
    (('dataset = "blobs3"', 'dataset = "moons"'), "0/1 labels: the output layer must be one 'sigmoid' unit"),
    (("impls", "batchnorm = 1\nimpls"), "batchnorm must be true or false"),
    (("impls", "bn_beta = 1.0\nimpls"), "bn_beta must be a number in [0, 1)"),
    (("impls", "bn_eps = 0\nimpls"), "bn_eps must be a positive number"),
    (("impls", "target_cost = -1\nimpls"), "target_cost must be a positive number"),
])
def test_a_config_that_does_not_fit_its_data_is_a_one_line_error(tmp_path, capsys, change, words):
    path = tmp_path / "tiny.toml"
    path.write_text(BASE.replace(*change))
    assert main([str(path), "--logdir", str(tmp_path / "logs")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert not (tmp_path / "logs").exists()


def test_a_batch_norm_softmax_config_runs_on_blobs3_with_scratch_and_torch(tmp_path, capsys):
    """The keys reach both implementations, with mini-batches: θ_0 with γ, β (no b) for both; bn_eps
    (not the default) changes every z_norm, so a side without it would part from the first step; bn_beta
    (not the default) makes the running means, equal on both sides (torch's variance is the unbiased one)."""
    from experiments.main_job import main_job
    path = tmp_path / "tiny.toml"
    path.write_text(BASE.replace("num_iterations = 3\n", "mini_batch_size = 16\nnum_epochs = 3\n")
                    + "batchnorm = true\nbn_beta = 0.7\nbn_eps = 0.01\nlog_every = 1\n")
    [vr] = main_job(load_config(str(path)), impls=["scratch", "torch"], logdir=str(tmp_path / "logs"))
    out = capsys.readouterr().out
    [line] = verdicts(out)
    assert "scratch, torch agree (cost at every logged step, 9 from 0 to 8" in line, line
    assert "batch norm (bn_beta 0.7, bn_eps 0.01)" in out
    scratch, torch = vr.results
    assert all({"gamma1", "beta1"} <= set(r.params) and "b1" not in r.params for r in vr.results)
    np.testing.assert_allclose(torch.bn_stats["mu1"], scratch.bn_stats["mu1"], rtol=1e-10, atol=1e-12)
    default = vr.config.replace(bn_beta=0.9)
    [other] = main_job(default, impls=["scratch"], logdir=str(tmp_path / "logs2"))
    assert not np.allclose(other.results[0].bn_stats["mu1"], scratch.bn_stats["mu1"], rtol=1e-3)
    assert os.path.exists(tmp_path / "logs" / "tiny" / "confusion.png")


def test_the_config_readers_copies_of_scratch_names_match():
    """experiments.config keeps its own tuples (it loads before NumPy, for a fast --help): they must not drift."""
    from experiments import config
    from scratch.network import OUTPUTS
    from scratch.plan import OPTIMIZERS
    assert config.OUTPUTS == OUTPUTS and config.OPTIMIZERS == OPTIMIZERS
