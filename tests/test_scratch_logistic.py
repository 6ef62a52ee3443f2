"""Behaviour of scratch.logistic (F05, F10-F12) and scratch.graph (F09)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratch.graph import graph_backward, graph_forward
from scratch.logistic import initialize_with_zeros, optimize, predict, propagate, propagate_loop
from scratch.network import model_backward, model_forward

# The loop and the vectorized form add the same terms in different orders (and
# BLAS may use FMA): agreement to ~1e-15 relative; atol covers gradient components
# that cancel to ~0, where a relative error means nothing.
LOOP_RTOL, LOOP_ATOL = 1e-12, 1e-14


def problem(seed, n_x, m):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_x, 1))
    b = float(rng.standard_normal())
    X = rng.standard_normal((n_x, m))
    Y = (rng.random((1, m)) < 0.5).astype(float)
    return w, b, X, Y


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(1, 8))
def test_loop_and_vectorized_agree(seed, n_x, m):
    w, b, X, Y = problem(seed, n_x, m)
    grads_loop, cost_loop = propagate_loop(w, b, X, Y)
    grads_vec, cost_vec = propagate(w, b, X, Y)
    assert grads_loop["dw"].shape == grads_vec["dw"].shape == (n_x, 1)
    assert isinstance(grads_loop["db"], float) and isinstance(grads_vec["db"], float)
    np.testing.assert_allclose(grads_loop["dw"], grads_vec["dw"], rtol=LOOP_RTOL, atol=LOOP_ATOL)
    np.testing.assert_allclose(grads_loop["db"], grads_vec["db"], rtol=LOOP_RTOL, atol=LOOP_ATOL)
    np.testing.assert_allclose(cost_loop, cost_vec, rtol=LOOP_RTOL)


def test_propagate_known_small_case():
    # The course's test case: w = [1, 2], b = 2, X = [[1, 2, -1], [3, 4, -3.2]], Y = [1, 0, 1]
    w, b = np.array([[1.0], [2.0]]), 2.0
    X, Y = np.array([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]]), np.array([[1, 0, 1]])
    Z = np.array([1 + 6 + 2, 2 + 8 + 2, -1 - 6.4 + 2])
    A = 1 / (1 + np.exp(-Z))
    cost = -(np.log(A[0]) + np.log(1 - A[1]) + np.log(A[2])) / 3
    dZ = A - np.array([1, 0, 1])
    for fn in (propagate, propagate_loop):
        grads, J = fn(w, b, X, Y)
        assert J == pytest.approx(cost, rel=1e-13)
        np.testing.assert_allclose(grads["dw"][:, 0], [dZ @ X[0] / 3, dZ @ X[1] / 3], rtol=1e-13)
        assert grads["db"] == pytest.approx(dZ.sum() / 3, rel=1e-13)
    # the course's published values for this case
    assert J == pytest.approx(5.801545319394553, rel=1e-12)
    np.testing.assert_allclose(grads["dw"][:, 0], [0.99845601, 2.39507239], rtol=1e-7)
    assert grads["db"] == pytest.approx(0.00145557813678, rel=1e-9)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.integers(1, 4), st.integers(1, 5))
def test_propagate_matches_finite_differences(seed, n_x, m):
    w, b, X, Y = problem(seed, n_x, m)
    grads, _ = propagate(w, b, X, Y)
    h = 1e-6
    for j in range(n_x):
        e = np.zeros_like(w)
        e[j, 0] = h
        num = (propagate(w + e, b, X, Y)[1] - propagate(w - e, b, X, Y)[1]) / (2 * h)
        assert grads["dw"][j, 0] == pytest.approx(num, rel=1e-6, abs=1e-9)
    num_b = (propagate(w, b + h, X, Y)[1] - propagate(w, b - h, X, Y)[1]) / (2 * h)
    assert grads["db"] == pytest.approx(num_b, rel=1e-6, abs=1e-9)


def test_logistic_regression_is_the_L1_network():
    w, b, X, Y = problem(3, 4, 6)
    grads, _ = propagate(w, b, X, Y)
    AL, caches = model_forward(X, {"W1": w.T, "b1": np.array([[b]])}, ["sigmoid"])
    net = model_backward(AL, Y, caches)
    np.testing.assert_allclose(net["dW1"], grads["dw"].T, rtol=1e-13)
    assert net["db1"][0, 0] == pytest.approx(grads["db"], rel=1e-13)


def test_saturated_wrong_prediction_gives_infinite_cost_in_both_forms():
    w, b = np.array([[1.0]]), 0.0
    X, Y = np.array([[-1000.0, 2.0]]), np.array([[1, 1]])
    assert propagate(w, b, X, Y)[1] == np.inf
    assert propagate_loop(w, b, X, Y)[1] == np.inf


def test_optimize_lowers_the_cost_and_records_every_100(capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 50))
    Y = (X[0] - 0.5 * X[1] > 0).astype(float)[None, :]
    w, b = initialize_with_zeros(2)
    w_before = w.copy()
    params, grads, costs = optimize(w, b, X, Y, num_iterations=301, learning_rate=0.1, print_cost=True)
    assert len(costs) == 4                          # iterations 0, 100, 200, 300
    assert costs[0] == pytest.approx(np.log(2), rel=1e-12)   # w = 0, b = 0: a = 1/2 everywhere
    assert all(c2 < c1 for c1, c2 in zip(costs, costs[1:]))
    np.testing.assert_array_equal(w, w_before)     # w not modified in place
    assert set(params) == {"w", "b"} and set(grads) == {"dw", "db"}
    out = capsys.readouterr().out
    assert "Cost after iteration 0:" in out and "Cost after iteration 300:" in out
    accuracy = np.mean(predict(params["w"], params["b"], X) == Y)
    assert accuracy > 0.9


def test_optimize_one_step_is_gradient_descent():
    w, b, X, Y = problem(1, 3, 5)
    grads, _ = propagate(w, b, X, Y)
    params, _, _ = optimize(w, b, X, Y, num_iterations=1, learning_rate=0.3)
    np.testing.assert_allclose(params["w"], w - 0.3 * grads["dw"], rtol=1e-15)
    assert params["b"] == pytest.approx(b - 0.3 * grads["db"], rel=1e-15)


def test_predict_thresholds_at_one_half():
    w, b = np.array([[2.0]]), 0.0
    X = np.array([[-1.0, -1e-12, 0.0, 1e-12, 3.0]])
    pred = predict(w, b, X)
    np.testing.assert_array_equal(pred, [[0, 0, 0, 1, 1]])   # σ(0) = 0.5 is not > 0.5
    assert pred.shape == (1, 5) and pred.dtype.kind == "i"


def test_initialize_with_zeros():
    w, b = initialize_with_zeros(3)
    np.testing.assert_array_equal(w, np.zeros((3, 1)))
    assert b == 0.0 and isinstance(b, float)


# ------------------------------------------------------------ computation graph

def test_graph_forward_and_backward_at_5_3_2():
    assert graph_forward(5, 3, 2) == {"u": 6, "v": 11, "J": 33}
    assert graph_backward(5, 3, 2) == {"dJ/dv": 3, "dJ/du": 3, "dJ/da": 3, "dJ/db": 6, "dJ/dc": 9}


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.floats(-10, 10), st.floats(-10, 10), st.floats(-10, 10))
def test_graph_backward_matches_finite_differences(a, b, c):
    h = 1e-4   # J is bilinear: central differences are exact up to rounding
    J = lambda a, b, c: graph_forward(a, b, c)["J"]  # noqa: E731
    d = graph_backward(a, b, c)
    assert d["dJ/da"] == pytest.approx((J(a + h, b, c) - J(a - h, b, c)) / (2 * h), abs=1e-8)
    assert d["dJ/db"] == pytest.approx((J(a, b + h, c) - J(a, b - h, c)) / (2 * h), abs=1e-8)
    assert d["dJ/dc"] == pytest.approx((J(a, b, c + h) - J(a, b, c - h)) / (2 * h), abs=1e-8)
