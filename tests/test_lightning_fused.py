"""Fused steps (train_lightning(fuse_steps=True), the default with one process) are the run of one
step per training_step, bit for bit.

With fused steps a training_step trains the log_every steps between two logged steps (manual
optimization), so Lightning's per-batch machinery runs once per log_every steps. Everything the run
produces must be EQUAL to fuse_steps=False (automatic optimization, one step per training_step): the
parameters, running statistics, optimizer and RNG state, the history, what Lightning's logger was
given (tag -> (step, value) pairs, dev validations included), the checkpoints' steps, early
stopping's stop and the first divergent step's error. Only the number of per-batch hook calls differs.
"""
import math
import os

import numpy as np
import pytest
import torch

pytest.importorskip("lightning")

from lightning.pytorch.callbacks import Callback                      # noqa: E402

from scratch.data import make_moons, split                           # noqa: E402
from torch_ref.lightning import CHECKPOINT_KEY, PlannedBatches, StepChunk, load_checkpoint, train_lightning  # noqa: E402
from test_divergence import COST, PARAMS, THETA0, Y as Y1                # noqa: E402 - its BLAS-proof runs
from test_lightning_resume import Written, assert_same_run               # noqa: E402 - the same bit-for-bit rule

pytestmark = [pytest.mark.filterwarnings("ignore:.*LeafSpec.*"),
              pytest.mark.filterwarnings("ignore:No positive samples in targets"),
              pytest.mark.usefixtures("restored_torch_state")]
DIMS, ACTS = [2, 6, 4, 1], ["relu", "tanh", "sigmoid"]


class BatchSteps(Callback):
    """The run's step at each on_train_batch_start, and how many updates on_before_optimizer_step saw."""

    def __init__(self):
        self.starts, self.updates = [], 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.starts.append(pl_module.step)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.updates += 1


def shared_masks(step):
    gen = np.random.default_rng(500 + step)
    return [gen.random((6, 120)) < 0.8, gen.random((4, 120)) < 0.9]


CASES = {
    # name: keyword arguments (N = 47, or 12 epochs of 4 steps: 48, not a multiple of 7)
    "full-batch": dict(learning_rate=0.5),
    "l2-cost": dict(learning_rate=0.3, lambd=0.7),
    "l2-weight-decay": dict(learning_rate=0.3, lambd=0.7, l2_mode="weight_decay"),
    "nn-dropout": dict(learning_rate=0.3, keep_probs=[0.8, 0.9]),
    "shared-masks": dict(learning_rate=0.3, keep_probs=[0.8, 0.9], masks=shared_masks),
    "adam-minibatch-schedule": dict(learning_rate=0.02, optimizer="adam", mini_batch_size=32, num_epochs=12,
                                    lr_schedule=("exponential", {"base": 0.8})),
    "momentum-batchnorm": dict(learning_rate=0.1, optimizer="momentum", batchnorm=True),
    "rmsprop-float32": dict(learning_rate=0.01, optimizer="rmsprop", precision="32-true"),
}


def run(data, fused, log_every, dev=True, **kw):
    Xt, Yt, Xd, Yd = data
    logger, hooks = Written(), BatchSteps()
    if "num_epochs" not in kw:
        kw["num_iterations"] = 47
    out = train_lightning(Xt, Yt, DIMS, ACTS, seed=2, accelerator="cpu", log_every=log_every, logger=logger,
                          callbacks=[hooks], fuse_steps=fused, **(dict(X_dev=Xd, Y_dev=Yd) if dev else {}), **kw)
    return out, logger.curves, hooks


@pytest.mark.parametrize("log_every", [1, 7])
@pytest.mark.parametrize("case", list(CASES))
def test_fused_steps_are_the_run_of_one_step_per_training_step(flower, case, log_every):
    fused, fused_curves, fused_hooks = run(flower, True, log_every, **CASES[case])
    plain, plain_curves, plain_hooks = run(flower, False, log_every, **CASES[case])
    assert_same_run(fused, plain)
    assert fused_curves == plain_curves
    assert len(plain_curves["dev/cost"]) > 3 and len(plain_curves["train/cost"]) > 3
    # the per-batch hooks: once per log_every steps fused, at the logged steps; every update either way
    n = plain.state.step
    assert plain_hooks.starts == list(range(n))
    assert fused_hooks.starts == list(range(0, n, log_every))
    assert fused_hooks.updates == plain_hooks.updates == n


def test_the_history_is_scratchs_when_fused(flower):
    """Not only equal to the unfused run: the fused run's records are scratch.train's, within the
    float64 trajectory tolerance (a fused path that skipped a step would fail here)."""
    from scratch.train import train
    Xt, Yt, Xd, Yd = flower
    out, _, _ = run(flower, True, 7, learning_rate=0.5)
    ref = train(Xt, Yt, DIMS, ACTS, init="he", rng=2, learning_rate=0.5, num_iterations=47, log_every=7,
                X_dev=Xd, Y_dev=Yd)
    got = out.state.history
    assert [r["step"] for r in got] == [r["step"] for r in ref.history] == list(range(0, 47, 7))
    for a, b in zip(got, ref.history):
        assert math.isclose(a["cost"], b["cost"], rel_tol=1e-12, abs_tol=1e-14)
        assert math.isclose(a["dev_cost"], b["dev_cost"], rel_tol=1e-12, abs_tol=1e-14)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "step-per-batch"])
def test_checkpoints_and_early_stopping_land_on_the_same_steps(tmp_path, fused):
    X, Y = make_moons(m=60, noise=0.4, seed=1)
    (Xt, Yt), (Xd, Yd), _ = split(X, Y, ratios=(0.5, 0.4, 0.1), seed=0)
    kw = dict(learning_rate=0.5, num_iterations=600, X_dev=Xd, Y_dev=Yd, early_stopping=3, log_every=20,
              accelerator="cpu", seed=0)
    out = train_lightning(Xt, Yt, [2, 32, 32, 1], ["relu", "relu", "sigmoid"], fuse_steps=fused,
                          checkpoint_dir=str(tmp_path / "a"), **kw)
    other = train_lightning(Xt, Yt, [2, 32, 32, 1], ["relu", "relu", "sigmoid"], fuse_steps=not fused,
                            checkpoint_dir=str(tmp_path / "b"), **kw)
    assert out.stopped_early and 0 < out.state.step < 600 and out.state.step % 20 == 0
    assert out.state.step == other.state.step
    assert os.path.basename(out.best_path) == os.path.basename(other.best_path)
    assert sorted(os.listdir(tmp_path / "a")) == sorted(os.listdir(tmp_path / "b"))
    assert load_checkpoint(tmp_path / "a" / "last.ckpt")[CHECKPOINT_KEY]["step"] == out.state.step
    for key, value in other.params.items():                 # the best θ, reloaded
        assert np.array_equal(out.params[key], value), key


def test_last_ckpt_without_dev_data_is_at_the_logged_steps_and_the_end(flower, tmp_path):
    """Fused, last.ckpt is written after every batch: each ends at a multiple of log_every, the
    last one at the run's end."""
    saved = []

    class Steps(Callback):
        def on_save_checkpoint(self, trainer, pl_module, checkpoint):
            saved.append(pl_module.step)

    Xt, Yt, _, _ = flower
    out = train_lightning(Xt, Yt, DIMS, ACTS, learning_rate=0.5, num_iterations=23, log_every=5, seed=1,
                          accelerator="cpu", checkpoint_dir=str(tmp_path), callbacks=[Steps()], fuse_steps=True)
    assert saved == [5, 10, 15, 20, 23] and out.state.step == 23
    assert load_checkpoint(tmp_path / "last.ckpt")[CHECKPOINT_KEY]["step"] == 23


@pytest.mark.parametrize("check_every", [1, 3, 100])
@pytest.mark.parametrize("case", [COST, PARAMS], ids=["cost-overflows", "parameters-overflow"])
def test_the_first_divergent_step_is_named_exactly_when_fused(case, check_every):
    """test_divergence's 1-1-1 runs, which overflow at a step no rounding can move: fused or not, the
    same error, naming the same first bad step, however late the flags are read."""
    errors = []
    for fused in (True, False):
        with pytest.raises(FloatingPointError) as info:
            train_lightning(case["X"], Y1, [1, 1, 1], ["identity", "sigmoid"], params=THETA0,
                            learning_rate=case["learning_rate"], num_iterations=20, log_every=10,
                            accelerator="cpu", check_every=check_every, fuse_steps=fused)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    assert errors[0].startswith(f"training diverged at iteration {case['step']}: {case['what']}")


def test_chunks_are_cut_at_multiples_of_k():
    """PlannedBatches(chunk=k): a resumed run's first chunk runs to the next multiple of k, the last
    one to the end; every step once, in order."""
    from scratch.plan import make_plan
    x, y = torch.zeros(10, 2), torch.zeros(10, 1)
    plan = make_plan(10, mini_batch_size=3, num_epochs=3)          # 4 steps an epoch, 12 in all
    for start in (0, 1, 5, 8, 11):
        chunks = list(PlannedBatches(x, y, plan, start=start, chunk=4))
        flat = list(PlannedBatches(x, y, plan, start=start))
        assert all(isinstance(c, StepChunk) for c in chunks)
        assert len(chunks) == len(PlannedBatches(x, y, plan, start=start, chunk=4))
        ends = np.cumsum([len(c) for c in chunks]) + start
        assert list(ends) == sorted({*range(start - start % 4 + 4, 12, 4), 12})
        items = [item for c in chunks for item in c]
        assert len(items) == len(flat) == 12 - start
        for a, b in zip(items, flat):
            assert all(torch.equal(u, v) if isinstance(u, torch.Tensor) else u == v for u, v in zip(a, b))


def test_fuse_steps_needs_one_process(flower):
    Xt, Yt, _, _ = flower
    with pytest.raises(ValueError, match="fuse_steps needs one process"):
        train_lightning(Xt, Yt, DIMS, ACTS, learning_rate=0.1, num_iterations=4, devices=2, fuse_steps=True,
                        accelerator="cpu")
