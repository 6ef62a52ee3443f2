"""F05, F09-F12 (and the logistic F13): logistic regression and the computation graph.

The torch half is nn.Linear(n_x, 1) + torch.sigmoid + F.binary_cross_entropy,
loaded from (w, b) through convert.logistic_to_params (weight = wᵀ: the one place
that knows it). Inputs are kept away from saturation (|z| of a few units), where
the probability path of the course is accurate in both dtypes.
"""
import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from conftest import (PARITY, TORCH_DTYPE, assert_same, assert_same_params, batch_sizes, dtypes,
                      labels, normal, seeds, sizes, tensor, trajectory_tol)
from scratch import graph, logistic, network
from torch_ref import convert, models


def logistic_inputs(seed, n_x, m, dtype):
    """w (n_x, 1) ~ N(0, 1/n_x), b ~ N(0, 0.5²), X (n_x, m) ~ N(0, 1), Y (1, m) in {0, 1}."""
    rng = np.random.default_rng(seed)
    w = normal(rng, (n_x, 1), dtype, 1 / np.sqrt(n_x))
    b = float(normal(rng, (), dtype, 0.5))
    return w, b, normal(rng, (n_x, m), dtype), labels(rng, m, dtype)


class Logistic(nn.Module):
    """ŷ = σ(x Wᵀ + b): nn.Linear(n_x, 1) + sigmoid (course: σ(wᵀx + b), W = wᵀ)."""

    def __init__(self, w, b, dtype):
        super().__init__()
        self.linears = nn.ModuleList([nn.Linear(w.shape[0], 1, dtype=TORCH_DTYPE[dtype])])
        self.load_state_dict(convert.params_to_state_dict(convert.logistic_to_params(w, b)))

    def forward(self, x):
        return torch.sigmoid(self.linears[0](x))


def torch_propagate(w, b, X, Y, dtype):
    """The gold for propagate: cost J and grads {"dW1": ∂J/∂weight (1, n_x), "db1": (1, 1)}
    by autograd."""
    model = Logistic(w, b, dtype)
    J = F.binary_cross_entropy(model(tensor(X)), tensor(Y))
    J.backward()
    return convert.grads_from_model(model), J


def as_layer_grads(grads):
    """scratch's {"dw": (n_x, 1), "db": float} in the layer layout {"dW1": dwᵀ, "db1": [[db]]},
    through the same mapping as the parameters (convert.logistic_to_params: W = wᵀ)."""
    g = convert.logistic_to_params(grads["dw"], grads["db"])
    return {"dW1": g["W1"], "db1": g["b1"]}


# ------------------------------------------------------------------ F05


@dtypes
@PARITY
@given(n_x=sizes, m=batch_sizes, seed=seeds)
def test_F05_logistic_regression_is_nn_linear_plus_sigmoid(dtype, n_x, m, seed):
    w, b, X, _ = logistic_inputs(seed, n_x, m, dtype)
    AL, _ = network.model_forward(X, convert.logistic_to_params(w, b), ["sigmoid"])  # σ(wᵀX + b)
    y_hat = logistic.predict(w, b, X)
    a = Logistic(w, b, dtype)(tensor(X))
    a_twin = models.LogisticRegression(n_x, dtype=TORCH_DTYPE[dtype], w=w, b=b).predict_proba(tensor(X))
    assert_same("ŷ = σ(wᵀX + b)", AL, convert.to_numpy(a), dtype)
    assert_same("ŷ (torch_ref LogisticRegression)", AL, convert.to_numpy(a_twin), dtype)
    assert np.array_equal(y_hat, convert.to_numpy(a > 0.5).astype(int))


# ------------------------------------------------------------------ F09


@given(a=st.floats(-100, 100), b=st.floats(-100, 100), c=st.floats(-100, 100))
@example(a=5.0, b=3.0, c=2.0)                     # the course's numbers
@PARITY
def test_F09_computation_graph_matches_autograd(a, b, c):
    fwd, bwd = graph.graph_forward(a, b, c), graph.graph_backward(a, b, c)
    ta, tb, tc = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b, c))
    u = tb * tc
    v = ta + u
    J = 3 * v
    for t in (u, v):
        t.retain_grad()
    J.backward()
    for name, mine, gold in (("u", fwd["u"], u), ("v", fwd["v"], v), ("J", fwd["J"], J),
                             ("dJ/dv", bwd["dJ/dv"], v.grad), ("dJ/du", bwd["dJ/du"], u.grad),
                             ("dJ/da", bwd["dJ/da"], ta.grad), ("dJ/db", bwd["dJ/db"], tb.grad),
                             ("dJ/dc", bwd["dJ/dc"], tc.grad)):
        assert_same(name, mine, gold, np.float64)


def test_F09_course_numbers():
    """The course's example a = 5, b = 3, c = 2: u = 6, v = 11, J = 33, dJ/db = 6, dJ/dc = 9."""
    assert graph.graph_forward(5, 3, 2) == {"u": 6, "v": 11, "J": 33}
    assert graph.graph_backward(5, 3, 2) == {"dJ/dv": 3, "dJ/du": 3, "dJ/da": 3, "dJ/db": 6, "dJ/dc": 9}


# ------------------------------------------------------------ F10, F11, F12


@dtypes
@PARITY
@given(n_x=sizes, m=batch_sizes, seed=seeds)
def test_F10_per_example_backward_matches_autograd(dtype, n_x, m, seed):
    """Each example alone (m = 1): dz = a - y, dw = x dz, db = dz, the loss L(a, y)."""
    w, b, X, Y = logistic_inputs(seed, n_x, m, dtype)
    for i in range(m):
        x_i, y_i = X[:, i:i + 1], Y[:, i:i + 1]
        grads, L = logistic.propagate_loop(w, b, x_i, y_i)
        gold, L_gold = torch_propagate(w, b, x_i, y_i, dtype)
        assert_same(f"L (example {i})", L, L_gold, dtype)
        assert_same_params(f"example {i}:", as_layer_grads(grads), gold, dtype)


@PARITY
@given(n_x=sizes, m=batch_sizes, seed=seeds)
def test_F11_loop_equals_vectorized(n_x, m, seed):
    """The explicit loops and the vectorized form agree to rtol 1e-12 in float64 (only the
    order of the sums differs: a few ulps)."""
    from torch_ref import parity
    tight = parity.Tolerance(rtol=1e-12, atol=1e-14)
    w, b, X, Y = logistic_inputs(seed, n_x, m, np.float64)
    loop, J_loop = logistic.propagate_loop(w, b, X, Y)
    vec, J_vec = logistic.propagate(w, b, X, Y)
    assert_same("J loop vs vectorized", J_loop, J_vec, np.float64, tight)
    assert_same("dw loop vs vectorized", loop["dw"], vec["dw"], np.float64, tight)
    assert_same("db loop vs vectorized", loop["db"], vec["db"], np.float64, tight)


@dtypes
@PARITY
@given(n_x=sizes, m=batch_sizes, seed=seeds)
def test_F11_F12_propagate_matches_autograd(dtype, n_x, m, seed):
    w, b, X, Y = logistic_inputs(seed, n_x, m, dtype)
    gold, J_gold = torch_propagate(w, b, X, Y, dtype)
    for name, fn in (("vectorized", logistic.propagate), ("loop", logistic.propagate_loop)):
        grads, J = fn(w, b, X, Y)
        assert_same(f"J ({name})", J, J_gold, dtype)
        assert_same_params(name, as_layer_grads(grads), gold, dtype)


# ------------------------------------------------------------------ F13


@settings(PARITY, max_examples=10)                      # 201 torch steps per example
@given(n_x=sizes, m=batch_sizes, seed=seeds, lr=st.sampled_from([0.01, 0.5, 2.0]))
def test_F13_optimize_matches_torch_sgd(n_x, m, seed, lr):
    """201 steps of gradient descent: costs at i = 0, 100, 200 and the final w, b."""
    w, b, X, Y = logistic_inputs(seed, n_x, m, np.float64)
    params, _, costs = logistic.optimize(w, b, X, Y, num_iterations=201, learning_rate=lr)
    model = Logistic(w, b, np.float64)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x, y = tensor(X), tensor(Y)
    gold_costs = []
    for i in range(201):
        opt.zero_grad()
        J = F.binary_cross_entropy(model(x), y)
        if i % 100 == 0:
            gold_costs.append(J.item())
        J.backward()
        opt.step()
    assert_same("costs at 0, 100, 200", np.array(costs), np.array(gold_costs), np.float64, trajectory_tol())
    assert_same_params("final", convert.logistic_to_params(params["w"], params["b"]),
                       convert.state_dict_to_params(model.state_dict()), np.float64, trajectory_tol())
