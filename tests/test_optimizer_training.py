"""F42: mini-batch training with each optimizer, scratch against the plain torch loop and Lightning.

The three start from the same θ_0 and follow the same scratch.plan (the same batches in the same
order, the same learning rate per epoch); torch and Lightning update with torch.optim and
torch.optim.lr_scheduler, scratch with scratch.optimizers. DESIGN's float64 rule for trajectories:
J_i at every logged step within TRAJECTORY_RTOL for >= 100 steps, and the final parameters.
"""
import numpy as np
import pytest

pytest.importorskip("lightning")

from lightning.pytorch.callbacks import Callback                      # noqa: E402

from scratch.data import make_moons                                   # noqa: E402
from scratch.initializers import initialize_parameters                # noqa: E402
from scratch.network import model_backward, model_forward, update_parameters  # noqa: E402
from scratch.train import train                                       # noqa: E402
from torch_ref.lightning import train_lightning  # noqa: E402
from torch_ref.models import DeepNet                                  # noqa: E402
from torch_ref.parity import TRAJECTORY_RTOL                          # noqa: E402
from torch_ref.train_loop import train_plain                          # noqa: E402

pytestmark = pytest.mark.usefixtures("restored_torch_state")

DIMS, ACTS = [2, 5, 2, 1], ["relu", "relu", "sigmoid"]
M, BATCH, EPOCHS = 150, 64, 70                       # 3 steps an epoch (64, 64, 22): 210 steps
OPTIMIZERS = {"gd": dict(learning_rate=0.3), "momentum": dict(learning_rate=0.3, beta=0.9),
              "rmsprop": dict(learning_rate=0.01, beta2=0.9), "adam": dict(learning_rate=0.01)}
SCHEDULES = {None: None, "inverse_time": ("inverse_time", {"decay_rate": 0.5}),
             "exponential": ("exponential", {"base": 0.95}),
             "staircase": ("staircase", {"decay_rate": 1.0, "time_interval": 10})}


@pytest.fixture(scope="module")
def moons():
    return make_moons(M, 0.2, 0)


class Recorder(Callback):
    """J_i after every Lightning step (log_every=1)."""

    def __init__(self):
        self.costs = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.costs.append(float(trainer.callback_metrics["train/cost"]))


def _three(X, Y, optimizer, schedule, **extra):
    kw = dict(optimizer=optimizer, mini_batch_size=BATCH, num_epochs=EPOCHS, lr_schedule=schedule, seed=5,
              **OPTIMIZERS[optimizer], **extra)
    theta0 = initialize_parameters(DIMS, "he", rng=1)
    ref = train(X, Y, DIMS, ACTS, params=theta0, **kw)
    model = DeepNet.from_params(theta0, ACTS)
    plain = train_plain(model, X, Y, **kw)
    rec = Recorder()
    out = train_lightning(X, Y, DIMS, ACTS, params=theta0, accelerator="cpu", log_every=1, callbacks=[rec], **kw)
    return ref, (plain, model.to_params()), (rec.costs, out.params)


def _assert_trajectory(name, ref, costs, params):
    want = [h["cost"] for h in ref.history]
    assert len(want) == EPOCHS * 3 >= 200
    np.testing.assert_allclose(costs, want, rtol=TRAJECTORY_RTOL, atol=0, err_msg=name)
    for key, value in ref.final_params.items():
        np.testing.assert_allclose(params[key], value, rtol=TRAJECTORY_RTOL, atol=1e-12, err_msg=f"{name} {key}")


@pytest.mark.slow
@pytest.mark.parametrize("schedule", list(SCHEDULES), ids=lambda s: s or "constant")
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_scratch_plain_loop_and_lightning_follow_one_trajectory(moons, optimizer, schedule):
    X, Y = moons
    ref, (plain, plain_params), (costs, params) = _three(X, Y, optimizer, SCHEDULES[schedule])
    _assert_trajectory("torch", ref, [h["cost"] for h in plain], plain_params)
    _assert_trajectory("lightning", ref, costs, params)
    assert ref.history[-1]["cost"] < ref.history[0]["cost"]                 # it trained


def test_l2_in_either_mode_with_adam_and_a_smaller_last_batch(moons):
    """λ/(2m_b)‖W‖² with m_b the examples of the step (the last batch is smaller): in the cost, or as
    torch's weight_decay = λ/m_b set per step; the same trajectory."""
    X, Y = moons
    kw = dict(lambd=0.7)
    ref, (plain, plain_params), (costs, params) = _three(X, Y, "adam", None, **kw)
    _assert_trajectory("torch", ref, [h["cost"] for h in plain], plain_params)
    _assert_trajectory("lightning", ref, costs, params)
    theta0 = initialize_parameters(DIMS, "he", rng=1)
    model = DeepNet.from_params(theta0, ACTS)
    decay = train_plain(model, X, Y, optimizer="adam", mini_batch_size=BATCH, num_epochs=EPOCHS, seed=5,
                        l2_mode="weight_decay", **OPTIMIZERS["adam"], **kw)
    _assert_trajectory("torch weight_decay", ref, [h["cost"] for h in decay], model.to_params())


def test_full_batch_default_is_unchanged(moons):
    """Without mini-batches nothing moves: step i is epoch i, the columns keep their order."""
    X, Y = moons
    ref = train(X, Y, DIMS, ACTS, init="he", rng=1, learning_rate=0.3, num_iterations=50)
    assert [h["epoch"] for h in ref.history] == list(range(50))
    params = initialize_parameters(DIMS, "he", rng=1)
    for _ in range(50):                                   # the loop written out with scratch.network
        AL, caches = model_forward(X, params, ACTS)
        params = update_parameters(params, model_backward(AL, Y, caches), 0.3)
    for key in params:
        np.testing.assert_array_equal(ref.final_params[key], params[key])


def test_default_batch_order_depends_only_on_the_seed(moons):
    X, Y = moons
    kw = dict(learning_rate=0.1, mini_batch_size=BATCH, num_epochs=3, init="he", rng=1)
    a = train(X, Y, DIMS, ACTS, seed=7, **kw)
    b = train(X, Y, DIMS, ACTS, seed=7, **kw)
    c = train(X, Y, DIMS, ACTS, seed=8, **kw)
    assert [h["cost"] for h in a.history] == [h["cost"] for h in b.history]
    assert [h["cost"] for h in a.history] != [h["cost"] for h in c.history]


@pytest.mark.parametrize("kwargs, match", [
    ({"mini_batch_size": 64}, "num_epochs"),
    ({"mini_batch_size": 64, "num_epochs": 2, "num_iterations": 5}, "num_epochs"),
    ({"num_iterations": 5, "permutations": lambda e: np.arange(150)}, "mini_batch_size"),
    ({"num_iterations": 5, "optimizer": "sgd"}, "optimizer"),
    ({"num_iterations": 5, "optimizer": "momentum", "beta": 1.0}, "beta"),
    ({"num_iterations": 5, "optimizer": "adam", "epsilon": 0.0}, "epsilon"),
    ({"num_iterations": 5, "lr_schedule": "cosine"}, "lr_schedule"),
    ({"mini_batch_size": 64, "num_epochs": 1, "permutations": lambda e: np.zeros(150, dtype=int)}, "permutation"),
])
def test_bad_training_arguments_are_refused_alike(moons, kwargs, match):
    X, Y = moons
    kw = dict(learning_rate=0.1) | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        train(X, Y, DIMS, ACTS, **kw)
    with pytest.raises((ValueError, TypeError), match=match):
        train_plain(DeepNet(DIMS, ACTS, seed=0), X, Y, **kw)
    with pytest.raises((ValueError, TypeError), match=match):
        train_lightning(X, Y, DIMS, ACTS, accelerator="cpu", **kw)
