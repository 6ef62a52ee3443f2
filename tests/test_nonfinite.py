"""A reference tool never reports success on non-finite numbers, and bad input is a clear error.

- gradient_check raises (never scores 0.0) when params, grads or the cost are NaN or inf;
- predict (scratch.network, scratch.logistic, DeepNet) rejects non-finite parameters by name;
- an empty batch (m = 0) is a ValueError at every entry, not NaN and not "diverged";
- logistic.optimize stops with FloatingPointError when it diverges, in scratch.train's words.
"""
import numpy as np
import pytest
import torch

from scratch import gradcheck, logistic, network
from scratch.train import train
from torch_ref.models import DeepNet
from torch_ref.train_loop import train_plain


def small_problem():
    """A [3, 4, 1] tanh/sigmoid net on X (3, 5), its grads at params and its cost function."""
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((4, 3)), "b1": rng.standard_normal((4, 1)),
              "W2": rng.standard_normal((1, 4)), "b2": rng.standard_normal((1, 1))}
    X, Y = rng.standard_normal((3, 5)), np.array([[0.0, 1.0, 1.0, 0.0, 1.0]])
    acts = ["tanh", "sigmoid"]
    AL, caches = network.model_forward(X, params, acts)
    grads = network.model_backward(AL, Y, caches)

    def cost_fn(p):
        return network.model_cost(X, Y, p, acts)
    return params, grads, cost_fn, X, Y, acts


# ------------------------------------------------------------------ 1. gradient_check

@pytest.mark.parametrize("key, value", [("dW1", np.nan), ("db2", np.inf), ("dW2", -np.inf)])
def test_gradient_check_rejects_nonfinite_grads(key, value):
    params, grads, cost_fn, *_ = small_problem()
    grads = dict(grads)
    grads[key] = grads[key].copy()
    grads[key].flat[0] = value
    with pytest.raises(ValueError, match=rf"grads\['{key}'\] must be finite"):
        gradcheck.gradient_check(params, grads, cost_fn)


def test_gradient_check_rejects_all_nan_grads_and_cost():
    """The old failure: NaN everywhere gave nan/nan, and `nan > 0` is False: a perfect 0.0."""
    params, grads, _, *_ = small_problem()
    nan_grads = {k: np.full_like(v, np.nan) for k, v in grads.items()}
    with pytest.raises(ValueError, match=r"grads\['dW1'\] must be finite"):
        gradcheck.gradient_check(params, nan_grads, lambda p: float("nan"))


@pytest.mark.parametrize("key", ["W1", "b2"])
def test_gradient_check_rejects_nonfinite_params(key):
    params, grads, cost_fn, *_ = small_problem()
    params = dict(params)
    params[key] = params[key].copy()
    params[key].flat[-1] = np.nan
    with pytest.raises(ValueError, match=rf"params\['{key}'\] must be finite"):
        gradcheck.gradient_check(params, grads, cost_fn)


def test_gradient_check_names_the_component_where_the_cost_is_nan():
    """cost_fn is NaN only when W1[0, 2] is pushed up: the message names that perturbation."""
    params, grads, cost_fn, *_ = small_problem()
    w = params["W1"][0, 2]

    def nan_above(p):
        return float("nan") if p["W1"][0, 2] > w else cost_fn(p)
    with pytest.raises(ValueError, match=r"cost_fn returned nan at theta \+ epsilon for W1\[0, 2\]"):
        gradcheck.gradient_check(params, grads, nan_above)


def test_gradient_check_names_the_component_where_the_cost_is_inf():
    params, grads, cost_fn, *_ = small_problem()
    b = params["b1"][3, 0]

    def inf_below(p):
        return float("inf") if p["b1"][3, 0] < b else cost_fn(p)
    with pytest.raises(ValueError, match=r"cost_fn returned inf at theta - epsilon for b1\[3, 0\]"):
        gradcheck.gradient_check(params, grads, inf_below)


def test_gradient_check_names_the_component_where_the_numerical_gradient_overflows():
    """J(θ ± ε) = ±1e302, both finite, but (1e302 - (-1e302)) / 2e-7 = 1e309 exceeds the largest double."""
    params, grads, _, *_ = small_problem()
    w = params["W1"][0, 0]
    with pytest.raises(ValueError, match=r"numerical gradient overflowed for W1\[0, 0\]"):
        gradcheck.gradient_check(params, grads, lambda p: 1e302 if p["W1"][0, 0] > w else -1e302)


def test_gradient_check_with_huge_gradients_is_still_a_number():
    """‖g‖ with an entry of 1e200 squares past the largest double; the ratio is still defined:
    with g̃ = 0 (a constant cost) it is ‖g‖/‖g‖ = 1 exactly, the verdict "surely wrong"."""
    params, grads, _, *_ = small_problem()
    grads = dict(grads, dW1=np.full_like(grads["dW1"], 1e200))
    assert gradcheck.gradient_check(params, grads, lambda p: 0.0) == 1.0


def test_gradient_check_still_scores_a_correct_gradient():
    params, grads, cost_fn, *_ = small_problem()
    assert gradcheck.gradient_check(params, grads, cost_fn) < gradcheck.GRADCHECK_THRESHOLD


# ------------------------------------------------------------------ 3. predict

def test_network_predict_rejects_nonfinite_params_by_key():
    params, _, _, X, _, acts = small_problem()
    bad = dict(params, W2=params["W2"].copy())
    bad["W2"][0, 1] = np.nan
    with pytest.raises(ValueError, match=r"params\['W2'\] must be finite \(no NaN or inf\); got 1 non-finite entry"):
        network.predict(X, bad, acts)
    bad = dict(params, b1=np.full((4, 1), np.inf))
    with pytest.raises(ValueError, match=r"params\['b1'\] must be finite.*got 4 non-finite entries"):
        network.predict(X, bad, acts)


def test_logistic_predict_rejects_nonfinite_w_and_b():
    X = np.array([[1.0, -2.0, 0.5]])
    with pytest.raises(ValueError, match=r"w must be finite \(no NaN or inf\)"):
        logistic.predict(np.array([[np.inf]]), 0.0, X)
    with pytest.raises(ValueError, match=r"w must be finite"):
        logistic.predict(np.array([[np.nan]]), 0.0, X)
    with pytest.raises(ValueError, match=r"b must be a finite number; got nan"):
        logistic.predict(np.array([[1.0]]), float("nan"), X)


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_deepnet_predict_rejects_nonfinite_parameters_by_name(method):
    net = DeepNet([3, 4, 1], ["tanh", "sigmoid"], seed=0)
    x = torch.ones(2, 3, dtype=torch.float64)
    with torch.no_grad():
        net.linears[1].bias[0] = float("nan")
    with pytest.raises(ValueError, match=r"DeepNet parameters must be finite \(no NaN or inf\); got non-finite \['b2'\]"):
        getattr(net, method)(x)
    with torch.no_grad():
        net.linears[1].bias[0] = 0.0
        net.linears[0].weight[2, 1] = float("-inf")
    with pytest.raises(ValueError, match=r"must be finite.*got non-finite \['W1'\]"):
        getattr(net, method)(x)


def test_predict_with_finite_params_still_predicts():
    params, _, _, X, _, acts = small_problem()
    AL, _ = network.model_forward(X, params, acts)
    np.testing.assert_array_equal(network.predict(X, params, acts), (AL > 0.5).astype(int))


# ------------------------------------------------------------------ 4. m = 0

EMPTY = r"X must have at least one example \(m >= 1\); got shape \(2, 0\)"


def empty_batch():
    return np.zeros((2, 0)), np.zeros((1, 0))


def test_model_forward_rejects_an_empty_batch():
    X, _ = empty_batch()
    params = {"W1": np.ones((3, 2)), "b1": np.zeros((3, 1)), "W2": np.ones((1, 3)), "b2": np.zeros((1, 1))}
    with pytest.raises(ValueError, match=EMPTY):
        network.model_forward(X, params, ["relu", "sigmoid"])
    with pytest.raises(ValueError, match=EMPTY):
        network.predict(X, params, ["relu", "sigmoid"])


@pytest.mark.parametrize("fn", [logistic.propagate, logistic.propagate_loop])
def test_logistic_propagate_rejects_an_empty_batch(fn):
    X, Y = empty_batch()
    with pytest.raises(ValueError, match=EMPTY):
        fn(np.zeros((2, 1)), 0.0, X, Y)


def test_logistic_optimize_rejects_an_empty_batch():
    X, Y = empty_batch()
    with pytest.raises(ValueError, match=EMPTY):
        logistic.optimize(np.zeros((2, 1)), 0.0, X, Y, 10, 0.1)


def test_scratch_train_rejects_an_empty_batch():
    X, Y = empty_batch()
    with pytest.raises(ValueError, match=EMPTY):
        train(X, Y, [2, 3, 1], ["relu", "sigmoid"], learning_rate=0.1, num_iterations=5, rng=0)


def test_train_plain_rejects_an_empty_batch():
    X, Y = empty_batch()
    with pytest.raises(ValueError, match=EMPTY):
        train_plain(DeepNet([2, 3, 1], ["relu", "sigmoid"], seed=0), X, Y, learning_rate=0.1,
                    num_iterations=5)


def test_no_features_is_rejected_too():
    with pytest.raises(ValueError, match=r"X must have at least one row \(n_x >= 1\); got shape \(0, 4\)"):
        logistic.propagate(np.zeros((0, 1)), 0.0, np.zeros((0, 4)), np.zeros((1, 4)))


# ------------------------------------------------------------------ 5. optimize diverging

def test_optimize_raises_when_the_parameters_overflow():
    """w = 0, b = 0: A = 1/2, dZ = A - Y = [-1/2, 1/2], dw = (10·(-1/2) + (-10)·(1/2))/2 = -5 exactly.
    w - α dw = 0 + 1e308·5 exceeds the largest double (1.8e308): +inf in IEEE arithmetic, an
    elementwise product (no BLAS involved). J_0 = log 2."""
    X, Y = np.array([[10.0, -10.0]]), np.array([[1.0, 0.0]])
    with pytest.raises(FloatingPointError,
                       match=r"training diverged at iteration 0: parameters \['w'\] became non-finite after "
                             r"the update; last finite cost 0\.69314718055994\d* at iteration 0"):
        logistic.optimize(np.zeros((1, 1)), 0.0, X, Y, 5, 1e308)


def test_optimize_raises_when_the_cost_becomes_infinite():
    """X = [[1, 2]], Y = [[1, 0]], w = b = 0: dZ = [-1/2, 1/2], dw = (1·(-1/2) + 2·(1/2))/2 = 1/4,
    db = 0 (all exact). With α = 4000, w_1 = -1000: z = [-1000, -2000], σ(z) underflows to 0 exactly
    for the y = 1 example, so J_1 = -log 0 = inf (parameters stay finite). J_0 = log 2."""
    X, Y = np.array([[1.0, 2.0]]), np.array([[1.0, 0.0]])
    with pytest.raises(FloatingPointError,
                       match=r"training diverged at iteration 1: cost is inf; last finite cost "
                             r"0\.69314718055994\d* at iteration 0"):
        logistic.optimize(np.zeros((1, 1)), 0.0, X, Y, 5, 4000.0)


def test_optimize_rejects_a_nonfinite_starting_w_as_bad_input():
    """A NaN in the initial w is the caller's input, not a divergence: ValueError before any step."""
    with pytest.raises(ValueError, match=r"w must be finite \(no NaN or inf\); got 1 non-finite entry"):
        logistic.optimize(np.array([[0.0], [np.nan]]), 0.0, np.ones((2, 3)), np.array([[0.0, 1.0, 1.0]]), 3, 0.1)


def test_optimize_raises_when_the_first_cost_is_infinite():
    """z = 40: σ(40) = 1/(1 + 4e-18) rounds to 1.0 exactly, and y = 0 gives -log(1 - 1) = inf."""
    with pytest.raises(FloatingPointError,
                       match=r"training diverged at iteration 0: cost is inf; no finite cost before it"):
        logistic.optimize(np.array([[40.0]]), 0.0, np.array([[1.0]]), np.array([[0.0]]), 3, 0.1)
