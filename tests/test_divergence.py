"""One definition of divergence for scratch.train, train_plain and train_lightning (torch_ref.divergence).

Step i diverges when J_i is not finite or when θ_{i+1} (after update i) is not finite. The runs below
diverge for certain on any CPU or GPU: a 1-1-1 network on one example makes every matrix product a
single IEEE multiplication (no summation order, no BLAS blocking), and the values jump past the float
range by a factor of ~1e100 or more, so no rounding choice can move the step that overflows.
"""
import numpy as np
import pytest
import torch

pytest.importorskip("lightning")

from scratch.losses import l2_penalty                                  # noqa: E402
from scratch.network import cost_from_caches, model_forward            # noqa: E402
from scratch.train import train                                        # noqa: E402
from torch_ref import functional                                       # noqa: E402
from torch_ref.divergence import DivergenceGuard                       # noqa: E402
from torch_ref.lightning import train_lightning  # noqa: E402
from torch_ref.models import DeepNet                                   # noqa: E402
from torch_ref.train_loop import train_plain                           # noqa: E402

DIMS, ACTS = [1, 1, 1], ["identity", "sigmoid"]
THETA0 = {"W1": np.array([[1.0]]), "b1": np.zeros((1, 1)), "W2": np.array([[1.0]]), "b2": np.zeros((1, 1))}
Y = np.array([[0.0]])
# COST: α = 1e100, x = 1. Update 0 sends every parameter to about -7e99 (dZ = σ(1) ≈ 0.73), so
# J_1 = z ≈ 1e200 is finite; update 1 (dZ = σ(1e200) - 0 = 1 exactly) sends them to about ±1e200,
# so z = W2 (W1 x + b1) + b2 ≈ 1e400 overflows: J_2 is not finite (check 1 at iteration 2).
COST = dict(X=np.array([[1.0]]), learning_rate=1e100, step=2, what="cost is ")
# PARAMS: α = 1e308, x = 4. J_0 is finite; dW1 = W2·dZ·x ≈ 3.9 and dW2 = dZ·A1 ≈ 3.9, so
# α·dW ≈ 3.9e308 > 1.8e308 overflows to inf exactly: W1, W2 non-finite after update 0 (check 2);
# b1, b2 move by α·dZ ≈ 9.8e307 and stay finite.
PARAMS = dict(X=np.array([[4.0]]), learning_rate=1e308, step=0, what="parameters ['W1', 'W2'] became non-finite")


# one example of class 0: torchmetrics' F1 and AUROC warn that there is no positive example
pytestmark = [pytest.mark.filterwarnings("ignore:No positive samples in targets"),
              pytest.mark.usefixtures("restored_torch_state")]


def _scratch(case, **kw):
    return train(case["X"], Y, DIMS, ACTS, params=THETA0, learning_rate=case["learning_rate"],
                 num_iterations=20, **kw)


def _torch(case, check_every=100):
    model = DeepNet.from_params(THETA0, ACTS)
    return train_plain(model, case["X"], Y, learning_rate=case["learning_rate"], num_iterations=20,
                       check_every=check_every)


def _lightning(case, check_every=100, log_every=1):
    return train_lightning(case["X"], Y, DIMS, ACTS, params=THETA0, learning_rate=case["learning_rate"],
                           num_iterations=20, accelerator="cpu", check_every=check_every, log_every=log_every)


def _words(err):
    """The message up to the value of the non-finite cost, and the 'last finite' part without its value."""
    msg = str(err.value)
    head, _, rest = msg.partition("; ")
    head = head.split("cost is ")[0] + ("cost is " if "cost is " in head else "")
    last = rest.split(" at iteration ")[-1] if "last finite" in rest else rest
    return head, last


@pytest.mark.parametrize("case", [COST, PARAMS], ids=["cost-overflows", "parameters-overflow"])
def test_scratch_torch_and_lightning_name_the_same_iteration(case):
    with pytest.raises(FloatingPointError) as ref:
        _scratch(case)
    assert str(ref.value).startswith(f"training diverged at iteration {case['step']}: {case['what']}")
    for run in (_torch, _lightning):
        with pytest.raises(FloatingPointError) as out:
            run(case)
        assert _words(out) == _words(ref), run.__name__


@pytest.mark.parametrize("check_every", [1, 3, 7])
def test_reading_the_flags_late_still_names_the_first_bad_step(check_every):
    """The flags stay on the device and are read every check_every steps (one GPU sync per k steps);
    the error still names step 2, however late it is read."""
    with pytest.raises(FloatingPointError, match="diverged at iteration 2: cost is"):
        _torch(COST, check_every=check_every)
    with pytest.raises(FloatingPointError, match="diverged at iteration 2: cost is"):
        _lightning(COST, check_every=check_every, log_every=10)


def test_the_last_finite_cost_is_that_of_the_step_before():
    with pytest.raises(FloatingPointError) as ref:
        _scratch(COST)
    assert "last finite cost 1.06" in str(ref.value) and str(ref.value).endswith("at iteration 1")
    with pytest.raises(FloatingPointError) as out:
        _torch(COST, check_every=5)
    assert "last finite cost 1.06" in str(out.value) and str(out.value).endswith("at iteration 1")


def test_no_record_of_a_diverged_step_is_logged():
    """A logged step's callback only ever sees finite costs, even when the flags are read late."""
    seen = []
    with pytest.raises(FloatingPointError):
        train_plain(DeepNet.from_params(THETA0, ACTS), COST["X"], Y, learning_rate=COST["learning_rate"],
                    num_iterations=20, check_every=50, callback=lambda i, rec, model: seen.append(rec["cost"]))
    assert seen and all(np.isfinite(seen)) and len(seen) == 2          # steps 0 and 1


def test_lambda_zero_contributes_exactly_zero():
    """λ = 0 adds nothing, even when ‖W‖² overflows to inf (0·inf would be NaN)."""
    params = {"W1": np.full((3, 2), 1e200), "b1": np.zeros((3, 1)), "W2": np.ones((1, 3)), "b2": np.zeros((1, 1))}
    assert l2_penalty(params, 0.0, 5) == 0.0
    with np.errstate(over="ignore"):                                   # ‖W1‖² = 6e400 overflows, as it should
        assert np.isinf(l2_penalty(params, 0.1, 5))
    X = np.zeros((2, 5))                                               # Z[1] = 0: the data cost is finite
    _, caches = model_forward(X, params, ["tanh", "sigmoid"])
    assert cost_from_caches(caches, np.zeros((1, 5)), params, 0.0) == pytest.approx(np.log(2), rel=1e-15)


def test_torch_training_cost_adds_nothing_at_lambda_zero():
    net = DeepNet.from_params({"W1": np.full((3, 2), 1e200), "b1": np.zeros((3, 1)), "W2": np.ones((1, 3)),
                               "b2": np.zeros((1, 1))}, ["tanh", "sigmoid"])
    data_cost = torch.tensor(0.5, dtype=torch.float64)
    loss, cost = functional.training_cost(data_cost, net, 0.0, 5)
    assert float(cost) == 0.5 and loss is data_cost


def test_guard_reports_nothing_on_a_finite_run():
    guard = DivergenceGuard(["W1", "b1"], check_every=1)
    params = [torch.ones(2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)]
    for i in range(3):
        guard.after_forward(i, torch.tensor(1.0 / (i + 1), dtype=torch.float64))
        guard.after_update(i, params)
        guard.raise_if_diverged()
    params[1][0] = float("nan")
    guard.after_update(3, params)
    with pytest.raises(FloatingPointError, match=r"iteration 3: parameters \['b1'\] .* last finite cost 0.333"):
        guard.raise_if_diverged()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_initial_parameters_are_rejected_at_the_entry(bad):
    theta = {k: v.copy() for k, v in THETA0.items()}
    theta["W2"][0, 0] = bad
    with pytest.raises(ValueError, match="W2"):
        train(COST["X"], Y, DIMS, ACTS, params=theta, learning_rate=0.1, num_iterations=2)
    with pytest.raises(ValueError, match=r"must be finite.*\['W2'\]"):
        train_plain(DeepNet.from_params(theta, ACTS), COST["X"], Y, learning_rate=0.1, num_iterations=2)
    with pytest.raises(ValueError, match=r"must be finite.*\['W2'\]"):
        train_lightning(COST["X"], Y, DIMS, ACTS, params=theta, learning_rate=0.1, num_iterations=2,
                        accelerator="cpu")
