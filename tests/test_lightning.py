"""The Lightning path against scratch: same θ_0, same steps, same numbers (float64, "64-true").

Each test writes the scratch half and the Lightning half with the same hyperparameter names;
scratch.train is the reference. Trajectories use parity.TRAJECTORY_RTOL (DESIGN's 1e-8).
"""
import numpy as np
import pytest
import torch

pytest.importorskip("lightning")

from lightning.pytorch.callbacks import Callback                      # noqa: E402

from scratch.data import load_flower, make_moons, split               # noqa: E402
from scratch.initializers import initialize_parameters                # noqa: E402
from scratch.network import model_cost                                # noqa: E402
from scratch.train import train                                       # noqa: E402
from torch_ref import convert                                         # noqa: E402
from scratch.plan import make_plan                                    # noqa: E402
from torch_ref.lightning import (CourseDataModule, DeepNetModule, PlannedBatches,  # noqa: E402
                                 train_lightning)
from torch_ref.parity import TRAJECTORY_RTOL                          # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore:.*LeafSpec.*"),  # Lightning 2.6 with torch 2.13, harmless
              pytest.mark.usefixtures("restored_torch_state")]
LAYER_DIMS, ACTIVATIONS = [2, 5, 3, 1], ["relu", "tanh", "sigmoid"]


class CostRecorder(Callback):
    """train/cost as Lightning logged it after every training step (log_every=1)."""

    def __init__(self):
        self.costs = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.costs.append(float(trainer.callback_metrics["train/cost"]))


@pytest.mark.parametrize("lambd, l2_mode", [(0.0, "cost"), (0.7, "cost"), (0.7, "weight_decay")],
                         ids=["plain", "l2-cost", "l2-weight-decay"])
def test_float64_matches_scratch_step_for_step(flower, lambd, l2_mode):
    Xt, Yt, Xd, Yd = flower
    steps = 100

    ref = train(Xt, Yt, LAYER_DIMS, ACTIVATIONS, init="he", rng=3, learning_rate=0.1, num_iterations=steps,
                lambd=lambd, log_every=1)
    recorder = CostRecorder()
    out = train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, init="he", seed=3, learning_rate=0.1,
                          num_iterations=steps, lambd=lambd, l2_mode=l2_mode, log_every=1,
                          precision="64-true", accelerator="cpu", callbacks=[recorder])

    np.testing.assert_allclose(recorder.costs, [h["cost"] for h in ref.history], rtol=TRAJECTORY_RTOL, atol=0)
    for key in ref.final_params:
        np.testing.assert_allclose(out.params[key], ref.final_params[key], rtol=TRAJECTORY_RTOL, atol=1e-12,
                                   err_msg=key)
    assert out.trainer.global_step == steps


def test_float32_precision_runs_in_float32(flower):
    Xt, Yt, _, _ = flower
    out = train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, learning_rate=0.1, num_iterations=5,
                          precision="32-true", accelerator="cpu")
    assert all(p.dtype == torch.float32 for p in out.module.parameters())
    assert out.params["W1"].dtype == np.float32


def test_datamodule_keeps_one_in_memory_batch(flower):
    Xt, Yt, Xd, Yd = flower
    dm = CourseDataModule(Xt, Yt, Xd, Yd, num_iterations=7)
    dm.setup()
    loader = dm.train_dataloader()
    assert isinstance(loader, PlannedBatches) and not isinstance(loader, (list, tuple))
    batches = list(loader)
    assert len(loader) == len(batches) == 7
    assert all(b[0] is batches[0][0] and b[1] is batches[0][1] for b in batches)   # never re-collated
    assert all(b[2:] == (1.0, Xt.shape[1]) for b in batches)                      # weight 1, m_b = m
    np.testing.assert_array_equal(convert.to_numpy(batches[0][0]), Xt)           # x = Xᵀ
    assert batches[0][0].dtype == torch.float64


def test_mini_batches_follow_the_plan_and_visit_every_example_once_per_epoch():
    X = np.arange(10, dtype=np.float64).reshape(1, 10)
    order = {0: np.array([3, 1, 4, 0, 5, 9, 2, 6, 8, 7]), 1: np.arange(10)[::-1]}
    plan = make_plan(10, num_epochs=2, mini_batch_size=4, permutations=order.__getitem__)
    batches = list(PlannedBatches(convert.to_torch(X), convert.to_torch(X), plan))
    assert [len(b[0]) for b in batches] == [4, 4, 2] * 2
    assert [b[3] for b in batches] == [4, 4, 2] * 2                                 # m of each step
    got = [convert.to_numpy(b[0]).ravel().astype(int).tolist() for b in batches]
    assert got == [[3, 1, 4, 0], [5, 9, 2, 6], [8, 7], [9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]
    assert all(torch.equal(bx, by) for bx, by, _, _ in batches)                  # x and y stay paired


def test_ddp_shares_of_a_step_weight_to_its_gradient():
    """Process r of W takes columns r, r+W, ... of each step with weight m_r·W/m_b."""
    X = np.arange(10, dtype=np.float64).reshape(1, 10)
    plan = make_plan(10, num_epochs=1, mini_batch_size=6, permutations=lambda e: np.arange(10))
    shares = [list(PlannedBatches(convert.to_torch(X), convert.to_torch(X), plan, rank=r, world=4)) for r in range(4)]
    assert [convert.to_numpy(b[0]).ravel().tolist() for b in shares[1]] == [[1.0, 5.0], [7.0]]
    assert [b[2] for b in shares[0]] == [2 * 4 / 6, 1 * 4 / 4] and [b[2] for b in shares[3]] == [4 / 6, 1.0]
    # DDP averages the W gradients: each example of the step then counts weight / (W·m_r) = 1/m_b
    assert all(b[2] / (4 * len(b[0])) == pytest.approx(1 / b[3]) for share in shares for b in share)


def test_checkpoint_is_written_and_loads_with_weights_only(flower, tmp_path):
    Xt, Yt, Xd, Yd = flower
    out = train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, learning_rate=0.1, num_iterations=40, log_every=10,
                          X_dev=Xd, Y_dev=Yd, checkpoint_dir=str(tmp_path), accelerator="cpu")
    assert out.best_path and out.best_path.startswith(str(tmp_path))
    ckpt = torch.load(out.best_path, weights_only=True)

    restored = DeepNetModule(**ckpt["hyper_parameters"])
    restored.load_state_dict(ckpt["state_dict"])
    best_score = float(out.trainer.checkpoint_callback.best_model_score)
    assert model_cost(Xd, Yd, restored.model.to_params(), ACTIVATIONS) == pytest.approx(best_score, rel=1e-12)


def test_early_stopping_stops_and_keeps_the_best_dev_cost(tmp_path):
    """F26 through Lightning's EarlyStopping on dev/cost: it stops, and the best θ comes back."""
    # a small noisy training set and a wide network: the dev cost bottoms out early, then rises
    X, Y = make_moons(m=60, noise=0.4, seed=1)
    (Xt, Yt), (Xd, Yd), _ = split(X, Y, ratios=(0.5, 0.4, 0.1), seed=0)
    dims, acts = [2, 32, 32, 1], ["relu", "relu", "sigmoid"]
    params0 = initialize_parameters(dims, "he", rng=0)
    kw = dict(params=params0, learning_rate=0.5, num_iterations=600, X_dev=Xd, Y_dev=Yd, early_stopping=3)

    ref = train(Xt, Yt, dims, acts, log_every=20, **kw)
    out = train_lightning(Xt, Yt, dims, acts, log_every=20, checkpoint_dir=str(tmp_path), accelerator="cpu", **kw)

    assert ref.stopped_early and out.stopped_early
    assert out.trainer.global_step == ref.history[-1]["step"] < 600
    best = min(h["dev_cost"] for h in ref.history)
    assert model_cost(Xd, Yd, out.params, acts) == pytest.approx(best, rel=TRAJECTORY_RTOL)
    assert model_cost(Xd, Yd, out.params, acts) < model_cost(Xd, Yd, out.module.model.to_params(), acts) + 1e-15
    for key in params0:
        np.testing.assert_allclose(out.params[key], ref.params[key], rtol=TRAJECTORY_RTOL, atol=1e-12)


def test_metrics_are_torchmetrics_values(flower):
    Xt, Yt, Xd, Yd = flower
    out = train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, learning_rate=0.1, num_iterations=20, log_every=5,
                          X_dev=Xd, Y_dev=Yd, accelerator="cpu")
    metrics = out.trainer.callback_metrics
    assert {"train/cost", "train/acc", "train/auroc", "train/f1", "dev/cost", "dev/acc", "dev/auroc"} <= set(metrics)
    predicted = (model_forward_proba(Xd, out.params) > 0.5).astype(float)
    assert float(metrics["dev/acc"]) == pytest.approx(np.mean(predicted == Yd), abs=1e-6)   # float32 metric


def model_forward_proba(X, params):
    from scratch.network import model_forward
    return model_forward(X, params, ACTIVATIONS)[0]


def test_non_sigmoid_output_is_rejected_like_scratch(flower):
    Xt, Yt, _, _ = flower
    with pytest.raises(ValueError, match=r"activations\[-1\] must be 'sigmoid'"):
        train(Xt, Yt, LAYER_DIMS, ["relu", "tanh", "tanh"], learning_rate=0.1, num_iterations=2)
    with pytest.raises(ValueError, match=r"activations\[-1\] must be 'sigmoid'"):
        train_lightning(Xt, Yt, LAYER_DIMS, ["relu", "tanh", "tanh"], learning_rate=0.1, num_iterations=2,
                        accelerator="cpu")


def test_quiet_by_default_and_banners_on_request(flower, capfd, caplog):
    """No 'GPU available' banner, tips or LeafSpec deprecation warning unless verbose=True."""
    import logging
    Xt, Yt, Xd, Yd = flower
    with caplog.at_level(logging.INFO, logger="lightning.pytorch"):
        train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, learning_rate=0.1, num_iterations=3, X_dev=Xd, Y_dev=Yd,
                        accelerator="cpu")
        out = capfd.readouterr()
        assert out.out + out.err == "" and caplog.records == []
        train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, learning_rate=0.1, num_iterations=3, accelerator="cpu",
                        verbose=True)
        assert logging.getLogger("lightning.pytorch").level == logging.INFO   # the caller's level, restored
    out = capfd.readouterr()
    assert "GPU available" in out.out + out.err + caplog.text


def test_default_log_every_writes_a_hundred_points(flower):
    """log_every defaults to ceil(N / 100): validating after every step would cost more than the steps."""
    Xt, Yt, Xd, Yd = flower
    validations = []

    class Count(Callback):
        def on_validation_end(self, trainer, pl_module):
            validations.append(trainer.global_step)

    train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, learning_rate=0.1, num_iterations=250, X_dev=Xd, Y_dev=Yd,
                    accelerator="cpu", callbacks=[Count()])
    assert validations[1:4] == [3, 6, 9] and len(validations) == 1 + 250 // 3


def test_global_state_is_restored(flower):
    Xt, Yt, _, _ = flower
    before = torch.are_deterministic_algorithms_enabled()
    train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, learning_rate=0.1, num_iterations=2, deterministic=True,
                    accelerator="cpu")
    assert torch.are_deterministic_algorithms_enabled() == before


@pytest.mark.parametrize("kwargs, match", [
    ({"l2_mode": "decay"}, "l2_mode"),
    ({"precision": "8-true"}, "precision"),
    ({"early_stopping": 2}, "dev data"),
    ({"num_iterations": 0}, "num_iterations"),
])
def test_bad_arguments_name_themselves(flower, kwargs, match):
    Xt, Yt, _, _ = flower
    args = dict(learning_rate=0.1, num_iterations=3, accelerator="cpu") | kwargs
    with pytest.raises(ValueError, match=match):
        train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, **args)


@pytest.mark.slow
def test_ddp_on_two_processes_is_full_batch_gradient_descent(tmp_path):
    """devices=2 (DDP over gloo on the CPU): each process trains on its shard of the examples, here of
    unequal sizes (121 and 120), and the updates are still exactly scratch's full-batch ones; the logged
    cost, averaged over the processes, is scratch's J_i at every logged step."""
    from lightning.pytorch.loggers import TensorBoardLogger
    from experiments.tb import read_scalars
    (X, Y), (Xd, Yd), _ = split(*load_flower(m=402, seed=0), seed=0)
    assert X.shape[1] % 2 == 1                                               # shards of unequal size
    steps, every, lambd = 60, 20, 0.7
    ref = train(X, Y, [2, 4, 1], ["tanh", "sigmoid"], init="random", rng=0, learning_rate=1.2,
                num_iterations=steps, lambd=lambd, log_every=every)
    logger = TensorBoardLogger(str(tmp_path), name="", version="ddp", default_hp_metric=False)
    res = train_lightning(X, Y, [2, 4, 1], ["tanh", "sigmoid"], init="random", seed=0, learning_rate=1.2,
                          num_iterations=steps, lambd=lambd, X_dev=Xd, Y_dev=Yd, log_every=every, logger=logger,
                          accelerator="cpu", devices=2, strategy="ddp_spawn")
    for key, value in ref.final_params.items():
        np.testing.assert_allclose(res.params[key], value, rtol=TRAJECTORY_RTOL, atol=1e-12, err_msg=key)
    logged = read_scalars(str(tmp_path / "ddp"))["train/cost"]
    assert [step for step, _ in logged] == [r["step"] for r in ref.history]
    np.testing.assert_allclose([v for _, v in logged], [r["cost"] for r in ref.history], rtol=1e-6)  # float32 events


@pytest.mark.slow
def test_ddp_on_two_processes_with_mini_batches_and_adam_is_scratch(tmp_path):
    """devices=2 with mini-batches of 50 (the last of 41, split 21/20): each process takes its share
    of every batch, weighted, so every Adam update is scratch's update on the whole batch."""
    (X, Y), _, _ = split(*load_flower(m=402, seed=0), seed=0)                  # m = 241: 50·4 + 41
    kw = dict(learning_rate=0.01, optimizer="adam", mini_batch_size=50, num_epochs=4, seed=3, lambd=0.7,
              lr_schedule=("exponential", {"base": 0.9}))
    theta0 = initialize_parameters([2, 4, 1], "random", rng=0)
    ref = train(X, Y, [2, 4, 1], ["tanh", "sigmoid"], params=theta0, **kw)
    res = train_lightning(X, Y, [2, 4, 1], ["tanh", "sigmoid"], params=theta0, accelerator="cpu", devices=2,
                          strategy="ddp_spawn", **kw)
    for key, value in ref.final_params.items():
        np.testing.assert_allclose(res.params[key], value, rtol=TRAJECTORY_RTOL, atol=1e-12, err_msg=key)


def test_each_ddp_rank_keeps_a_strided_shard_with_its_loss_weight():
    """CourseDataModule under a world of W = 3 processes: rank r keeps examples r, r+3, ... of the
    training set (dev whole), weighted m_r·W/m so that DDP's average of gradients is the full-batch one."""
    from types import SimpleNamespace
    X, Y = load_flower(m=20, seed=0)                                     # m = 20: shards of 7, 7, 6
    X_dev, Y_dev = load_flower(m=6, seed=1)
    seen = []
    for rank in range(3):
        dm = CourseDataModule(X, Y, X_dev, Y_dev, num_iterations=1)
        dm.trainer = SimpleNamespace(world_size=3, global_rank=rank,
                                     strategy=SimpleNamespace(root_device=torch.device("cpu")))
        dm.setup("fit")
        x, y, weight, m_step = next(iter(dm.train_dataloader()))
        np.testing.assert_array_equal(convert.to_numpy(x), X[:, rank::3])
        np.testing.assert_array_equal(convert.to_numpy(y), Y[:, rank::3])
        assert weight == pytest.approx(X[:, rank::3].shape[1] * 3 / 20) and m_step == 20
        assert next(iter(dm.val_dataloader()))[0].shape[0] == 6              # dev stays whole
        seen.extend(convert.to_numpy(x).T.tolist())
    assert sorted(seen) == sorted(X.T.tolist())                              # a partition of the examples
