"""Resuming a Lightning run (train_lightning(resume=...)) is the run that was never interrupted, bit for bit.

Each case trains N steps in one go, and k steps then k -> N from the saved state: a TrainState
(LightningResult.state), a model file (.npz, save_model(model_from_result(...))) and last.ckpt. The
parameters, running statistics, optimizer state, history and the values Lightning's logger was given
(each tag's (step, value) sequence) must be EQUAL, not close: np.array_equal and ==. k is not a
multiple of log_every in most cases, so the resumed fit must keep the dev validations and the
written records on the uninterrupted run's steps. Bad checkpoints must be refused with one
ModelFileError naming the file.
"""
import os
import pickle

import numpy as np
import pytest
import torch

pytest.importorskip("lightning")

from lightning.pytorch.callbacks import Callback                      # noqa: E402
from lightning.pytorch.loggers import Logger                          # noqa: E402

from scratch.data import split                                       # noqa: E402
from scratch.model_file import ModelFileError, load_model, save_model  # noqa: E402
from torch_ref.lightning import (CHECKPOINT_KEY, checkpoint_to_model, load_checkpoint,  # noqa: E402
                                 model_from_result, train_lightning)

pytestmark = [pytest.mark.filterwarnings("ignore:.*LeafSpec.*"),
              pytest.mark.usefixtures("restored_torch_state")]
DIMS, ACTS = [2, 6, 4, 1], ["relu", "tanh", "sigmoid"]


class Written(Logger):
    """What Lightning gives its logger: per tag, the (step, value) pairs in the order written."""

    def __init__(self):
        super().__init__()
        self.curves = {}

    @property
    def name(self):
        return "written"

    @property
    def version(self):
        return 0

    def log_hyperparams(self, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        for tag, value in metrics.items():
            if tag.startswith(("train/", "dev/")):
                self.curves.setdefault(tag, []).append((step, float(value)))


class CrashAt(Callback):
    """Raises once the run has made `step` updates: a crash after last.ckpt was written earlier."""

    def __init__(self, step):
        self.step = step

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        # before every update, with fused steps too (a batch's hooks run once per log_every steps)
        if pl_module.step == self.step:
            raise RuntimeError(f"crash at step {self.step}")


def joined(*curves):
    out = {}
    for c in curves:
        for tag, points in c.items():
            out.setdefault(tag, []).extend(points)
    return out


def after(curves, k):
    """The values a run resumed at step k writes: training records of steps >= k, dev of steps > k
    (the dev value of θ_k was computed, and saved, before the stop)."""
    return {tag: [(s, v) for s, v in points if (s > k if tag.startswith("dev/") else s >= k)]
            for tag, points in curves.items()}


def assert_same_run(got, want):
    """Bit for bit: parameters, running statistics, optimizer state, step, history."""
    for key, value in want.params.items():
        assert np.array_equal(got.params[key], value), f"{key}: max |Δ| {np.max(np.abs(got.params[key] - value))}"
    assert (got.bn_stats is None) == (want.bn_stats is None)
    for key, value in (want.bn_stats or {}).items():
        assert np.array_equal(got.bn_stats[key], value), key
    s, w = got.state, want.state
    assert s.step == w.step and s.plan == w.plan and s.last_finite == w.last_finite
    assert np.array_equal(s.torch_rng, w.torch_rng)
    assert (s.opt_state is None) == (w.opt_state is None)
    for which, entries in (w.opt_state or {}).items():
        if which == "t":
            assert s.opt_state["t"] == entries
            continue
        for key, value in entries.items():
            assert np.array_equal(s.opt_state[which][key], value), f"opt_state[{which!r}][{key!r}]"
    assert s.history == w.history


def shared_masks(step):
    """Dropout masks of step i for m = 120 columns, drawn from i alone (scratch's layout (n[l], m))."""
    gen = np.random.default_rng(1000 + step)
    return [gen.random((6, 120)) < 0.8, gen.random((4, 120)) < 0.9]


CASES = {
    # name: (keyword arguments, length argument, N, k): k % log_every != 0 except where said
    "full-batch": (dict(learning_rate=0.5, log_every=5), "num_iterations", 60, 23),
    "dropout": (dict(learning_rate=0.5, log_every=5, keep_probs=[0.8, 0.9]), "num_iterations", 60, 23),
    "shared-masks": (dict(learning_rate=0.5, log_every=5, keep_probs=[0.8, 0.9], masks=shared_masks),
                     "num_iterations", 40, 17),
    # 4 steps an epoch (32, 32, 32, 24): k = 2 epochs = 8 steps, log_every 3
    "minibatch-adam-schedule": (dict(learning_rate=0.02, log_every=3, optimizer="adam", mini_batch_size=32,
                                     lr_schedule=("exponential", {"base": 0.8})), "num_epochs", 5, 2),
    "batchnorm-momentum": (dict(learning_rate=0.1, log_every=4, optimizer="momentum", batchnorm=True),
                           "num_iterations", 30, 10),
}


def fit(data, kw, length, n, **more):
    Xt, Yt, Xd, Yd = data
    logger = Written()
    out = train_lightning(Xt, Yt, DIMS, ACTS, X_dev=Xd, Y_dev=Yd, seed=3, accelerator="cpu", logger=logger,
                          **{length: n}, **kw, **more)
    return out, logger.curves


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "step-per-batch"])
@pytest.mark.parametrize("case", list(CASES))
def test_resume_is_the_uninterrupted_run(flower, tmp_path, case, fused):
    kw, length, N, k = CASES[case]
    kw = dict(kw, fuse_steps=fused)
    whole, whole_curves = fit(flower, kw, length, N)
    first, first_curves = fit(flower, kw, length, k, checkpoint_dir=str(tmp_path))
    k_steps, total = first.state.step, N * (4 if length == "num_epochs" else 1)    # 4 mini-batches an epoch
    assert whole.state.step == whole.trainer.global_step == total
    assert any("dev_cost" in r for r in first.state.history) and len(whole_curves["dev/cost"]) > 3
    npz = save_model(tmp_path / "first.npz", model_from_result(first))
    for source in (first.state, str(npz), load_model(npz), str(tmp_path / "last.ckpt")):
        resumed, resumed_curves = fit(flower, kw, length, N, resume=source)
        assert_same_run(resumed, whole)
        assert joined(first_curves, resumed_curves) == whole_curves, f"from {type(source).__name__}"
        # fused, the fit starts at step k; else at k0 = k - k % log_every and skips k - k0 batches
        start = k_steps if fused else k_steps - k_steps % kw["log_every"]
        assert resumed.trainer.global_step == total - start
    if case == "minibatch-adam-schedule":
        assert whole.state.opt_state["t"] == whole.state.step and k_steps % kw["log_every"] != 0


def test_resume_from_last_ckpt_after_a_crash_mid_epoch(flower, tmp_path):
    """Mini-batches, Adam, a schedule and dropout: a crash at step 10 leaves last.ckpt at step 9 (the
    last validation), in the middle of epoch 2; resumed from it, the run is the uninterrupted one."""
    kw, length, N, _ = CASES["minibatch-adam-schedule"]
    kw = dict(kw, keep_probs=[0.8, 0.9])
    whole, whole_curves = fit(flower, kw, length, N)
    with pytest.raises(RuntimeError, match="crash at step 10"):
        fit(flower, kw, length, N, checkpoint_dir=str(tmp_path), callbacks=[CrashAt(10)])
    saved = load_checkpoint(tmp_path / "last.ckpt")[CHECKPOINT_KEY]
    assert saved["step"] == 9 and 9 % 4 != 0                  # mid-epoch
    resumed, resumed_curves = fit(flower, kw, length, N, resume=str(tmp_path / "last.ckpt"))
    assert_same_run(resumed, whole)
    assert resumed_curves == after(whole_curves, 9)


def test_extending_a_finished_run_without_dev_data_from_last_ckpt(flower, tmp_path):
    """Train 30 steps, then ask for 60 in total from last.ckpt (written without dev data): 60 steps."""
    Xt, Yt, _, _ = flower
    kw = dict(learning_rate=0.5, log_every=10, seed=1, accelerator="cpu")
    whole = train_lightning(Xt, Yt, DIMS, ACTS, num_iterations=60, **kw)
    train_lightning(Xt, Yt, DIMS, ACTS, num_iterations=30, checkpoint_dir=str(tmp_path), **kw)
    assert sorted(os.listdir(tmp_path)) == ["last.ckpt"]
    assert load_checkpoint(tmp_path / "last.ckpt")[CHECKPOINT_KEY]["step"] == 30
    more = train_lightning(Xt, Yt, DIMS, ACTS, num_iterations=60, resume=str(tmp_path / "last.ckpt"), **kw)
    assert more.trainer.global_step == 30
    assert_same_run(more, whole)


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")
def test_last_ckpt_without_dev_data_is_written_every_log_every_steps_and_at_the_end(flower, tmp_path):
    Xt, Yt, _, _ = flower
    kw = dict(learning_rate=0.5, log_every=5, seed=1, accelerator="cpu", checkpoint_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match="crash at step 17"):
        train_lightning(Xt, Yt, DIMS, ACTS, num_iterations=40, callbacks=[CrashAt(17)], **kw)
    assert load_checkpoint(tmp_path / "last.ckpt")[CHECKPOINT_KEY]["step"] == 15
    out = train_lightning(Xt, Yt, DIMS, ACTS, num_iterations=23, **kw)
    assert load_checkpoint(tmp_path / "last.ckpt")[CHECKPOINT_KEY]["step"] == 23 == out.state.step
    assert out.best_path is None and sorted(os.listdir(tmp_path)) == ["last.ckpt"]


def test_early_stopping_state_comes_back_from_the_checkpoint(tmp_path):
    """A run with early stopping crashes after its dev cost stopped improving (wait > 0); resumed from
    last.ckpt, it stops at the same step with the same best parameters as the run never interrupted."""
    from scratch.data import make_moons
    X, Y = make_moons(m=60, noise=0.4, seed=1)
    (Xt, Yt), (Xd, Yd), _ = split(X, Y, ratios=(0.5, 0.4, 0.1), seed=0)
    dims, acts = [2, 32, 32, 1], ["relu", "relu", "sigmoid"]
    kw = dict(learning_rate=0.5, num_iterations=600, X_dev=Xd, Y_dev=Yd, early_stopping=3, log_every=20,
              accelerator="cpu", seed=0)
    whole = train_lightning(Xt, Yt, dims, acts, checkpoint_dir=str(tmp_path / "whole"), **kw)
    assert whole.stopped_early
    stop = whole.state.step
    with pytest.raises(RuntimeError, match="crash"):
        train_lightning(Xt, Yt, dims, acts, checkpoint_dir=str(tmp_path / "cut"), callbacks=[CrashAt(stop - 10)], **kw)
    ckpt = str(tmp_path / "cut" / "last.ckpt")
    waited = load_checkpoint(ckpt)[CHECKPOINT_KEY]["extra"]["callbacks"]["early_stopping"]["wait_count"]
    assert waited > 0                                        # the state that must come back
    resumed = train_lightning(Xt, Yt, dims, acts, checkpoint_dir=str(tmp_path / "cut"), resume=ckpt, **kw)
    assert resumed.stopped_early and resumed.state.step == stop
    assert os.path.basename(resumed.best_path) == os.path.basename(whole.best_path)
    for key, value in whole.params.items():                  # the best θ, reloaded at the end
        assert np.array_equal(resumed.params[key], value), key
    assert resumed.state.history == whole.state.history


def test_a_checkpoint_becomes_a_model_file_scratch_reads(flower, tmp_path):
    Xt, Yt, Xd, Yd = flower
    out = train_lightning(Xt, Yt, DIMS, ACTS, learning_rate=0.5, num_iterations=12, log_every=5, batchnorm=True,
                          optimizer="rmsprop", X_dev=Xd, Y_dev=Yd, checkpoint_dir=str(tmp_path), accelerator="cpu")
    model = checkpoint_to_model(tmp_path / "last.ckpt")
    assert model.impl == "lightning" and model.state.step == 12 and model.state.opt_state["t"] == 12
    path = save_model(tmp_path / "net.npz", model)
    back = load_model(path)
    for key, value in out.params.items():
        assert np.array_equal(back.params[key], value), key
        assert np.array_equal(back.state.params[key], value), key
    from scratch.network import model_forward
    proba = model_forward(Xd, back.params, ACTS, bn_stats=back.bn_stats)[0]
    with torch.no_grad():
        torch_proba = out.module.model.predict_proba(torch.tensor(Xd.T)).numpy().T
    np.testing.assert_allclose(back.predict_proba(Xd), proba, rtol=0, atol=0)
    np.testing.assert_allclose(proba, torch_proba, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("change, match", [
    (dict(seed=4), r"another plan \(seed 3 \(saved\) vs 4"),
    (dict(mini_batch_size=32, num_epochs=20, num_iterations=None), r"another plan \(mini_batch_size None"),
    (dict(num_iterations=30), r"already trained 30 steps; ask for more than 30"),
    (dict(num_iterations=20), r"already trained 30 steps; ask for more than 30"),
    (dict(optimizer="adam"), r"optimizer 'gd'"),
])
def test_resume_refuses_another_plan_or_no_more_steps(flower, change, match):
    Xt, Yt, _, _ = flower
    kw = dict(learning_rate=0.5, num_iterations=30, seed=3, accelerator="cpu")
    first = train_lightning(Xt, Yt, DIMS, ACTS, **kw)
    with pytest.raises(ValueError, match=match):
        train_lightning(Xt, Yt, DIMS, ACTS, resume=first.state, **(kw | change))
    with pytest.raises(ValueError, match=r"another plan \(m 120 \(saved\) vs 100"):
        train_lightning(Xt[:, :100], Yt[:, :100], DIMS, ACTS, resume=first.state, **(kw | {"num_iterations": 40}))


@pytest.mark.filterwarnings("ignore:No positive samples in targets")
def test_divergence_after_a_resume_names_the_same_step_and_last_finite_cost():
    """tests/test_divergence.py's COST run (α = 1e100 on one example): J_2 overflows. Stopped after 2
    steps and resumed, the error names step 2 and the last finite cost J_1 of the first run."""
    X, Y = np.array([[1.0]]), np.array([[0.0]])
    theta0 = {"W1": np.array([[1.0]]), "b1": np.zeros((1, 1)), "W2": np.array([[1.0]]), "b2": np.zeros((1, 1))}
    kw = dict(learning_rate=1e100, accelerator="cpu", log_every=1)
    with pytest.raises(FloatingPointError) as whole:
        train_lightning(X, Y, [1, 1, 1], ["identity", "sigmoid"], params=theta0, num_iterations=20, **kw)
    first = train_lightning(X, Y, [1, 1, 1], ["identity", "sigmoid"], params=theta0, num_iterations=2, **kw)
    with pytest.raises(FloatingPointError) as resumed:
        train_lightning(X, Y, [1, 1, 1], ["identity", "sigmoid"], num_iterations=20, resume=first.state, **kw)
    assert "at iteration 2" in str(whole.value) and "last finite cost" in str(whole.value)
    assert str(resumed.value) == str(whole.value)


class Boom:
    """Unpickling this runs os.system: a crafted checkpoint must be refused before that can happen."""

    def __init__(self, witness):
        self.witness = witness

    def __reduce__(self):
        return os.system, (f"touch {self.witness}",)


def test_bad_checkpoints_are_refused_naming_the_file(flower, tmp_path):
    Xt, Yt, _, _ = flower
    train_lightning(Xt, Yt, DIMS, ACTS, learning_rate=0.5, num_iterations=5, accelerator="cpu",
                    checkpoint_dir=str(tmp_path / "good"))
    good = (tmp_path / "good" / "last.ckpt").read_bytes()
    ckpt = load_checkpoint(tmp_path / "good" / "last.ckpt")
    W1 = ckpt["state_dict"]["model.linears.0.weight"].numpy().tobytes()
    assert good.count(W1) == 1
    flipped = bytearray(good)
    flipped[good.index(W1) + 13] ^= 0x01                     # one bit of one weight
    witness = tmp_path / "witness"
    refused = "refused: pickled objects are not loaded"
    bad = {
        "empty.ckpt": (b"", "is empty"),
        "truncated.ckpt": (good[: len(good) // 2], "truncated or corrupted"),
        "random.ckpt": (b"\x13" + np.random.default_rng(0).bytes(4000), "not a checkpoint"),
        "flipped.ckpt": (bytes(flipped), "checksum mismatch"),
        "pickle.ckpt": (pickle.dumps({"state_dict": Boom(witness)}, protocol=2), refused),
        "pickle4.ckpt": (pickle.dumps({"state_dict": Boom(witness)}, protocol=4), refused),
    }
    zipped = tmp_path / "zipped.ckpt"
    torch.save({"state_dict": {}, CHECKPOINT_KEY: Boom(witness)}, zipped)   # a torch zip holding the object
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, other)                # a checkpoint, not train_lightning's
    paths = {zipped: refused, other: "not a train_lightning checkpoint"}
    for name, (content, _) in bad.items():
        (tmp_path / name).write_bytes(content)
        paths[tmp_path / name] = bad[name][1]
    for path, what in paths.items():
        for read in (load_checkpoint, checkpoint_to_model, lambda p: train_lightning(
                Xt, Yt, DIMS, ACTS, learning_rate=0.5, num_iterations=9, accelerator="cpu", resume=str(p))):
            with pytest.raises(ModelFileError, match=what) as err:
                read(path)
            assert str(err.value).startswith(f"{path}: "), str(err.value)
    assert not witness.exists()                              # nothing the pickles asked for ran
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(Boom(live)))                   # the payload is live: plain unpickling runs it
    assert live.exists()
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.ckpt")
