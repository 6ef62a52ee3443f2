"""Behaviour of scratch's softmax output (F39) without torch: the activation, one-hot labels, the two
costs, the fused backward (gradient-checked), predict and training on many classes."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratch import data
from scratch.activations import softmax
from scratch.gradcheck import GRADCHECK_THRESHOLD, gradient_check
from scratch.initializers import initialize_parameters
from scratch.losses import one_hot, softmax_cost, softmax_cost_from_logits
from scratch.network import model_backward, model_cost, model_forward, predict
from scratch.train import train

EPSILON = 1e-5   # as tests/test_scratch_network.py: truncation O(ε²) and rounding both far below 1e-7


def _logits(seed, C, m, scale):
    return np.random.default_rng(seed).standard_normal((C, m)) * scale


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), C=st.integers(2, 7), m=st.integers(1, 9),
       scale=st.sampled_from([1e-3, 1.0, 30.0, 1e3]), dtype=st.sampled_from([np.float64, np.float32]))
def test_softmax_columns_are_distributions_and_shift_invariant(seed, C, m, scale, dtype):
    Z = _logits(seed, C, m, scale).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # no overflow warning at |z| = 1e3
        A = softmax(Z)
        A_shifted = softmax(Z + dtype(7))
    assert A.dtype == dtype and A.shape == (C, m)
    assert np.all(np.isfinite(A)) and np.all(A >= 0)
    np.testing.assert_allclose(A.sum(axis=0), 1, rtol=1e-6 if dtype == np.float32 else 1e-14)
    # e^(z + c) / Σ e^(z_j + c) = e^z / Σ e^z: the same distribution (to rounding of z + 7)
    if scale <= 30:
        np.testing.assert_allclose(A_shifted, A, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-30)


def test_softmax_against_the_formula_where_exp_is_safe():
    Z = np.array([[0.0, 1.0, -2.0], [1.0, 1.0, 3.0], [2.0, 1.0, 0.5]])
    E = np.exp(Z)
    np.testing.assert_allclose(softmax(Z), E / E.sum(axis=0), rtol=1e-15)
    np.testing.assert_allclose(softmax(Z)[:, 1], [1 / 3] * 3, rtol=1e-15)


def test_softmax_is_column_wise_not_row_wise():
    Z = np.array([[0.0, 100.0], [0.0, 100.0]])                  # each column two equal logits
    np.testing.assert_array_equal(softmax(Z), np.full((2, 2), 0.5))


def test_one_hot_and_its_errors():
    np.testing.assert_array_equal(one_hot([2, 0, 1], 3), [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(one_hot(np.array([[1.0, 0.0]]), 2), [[0, 1], [1, 0]])
    assert one_hot([0, 1], 2, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.2 \(C = 3\); got \[3\]"):
        one_hot([0, 3], 3)
    with pytest.raises(ValueError, match="C must be an int >= 2"):
        one_hot([0, 0], 1)
    with pytest.raises(ValueError, match="whole numbers"):
        one_hot([0.5, 1.0], 2)


@pytest.mark.parametrize("Y, pattern", [
    (np.array([[1.0, 0.0], [1.0, 1.0]]), r"exactly one 1 per column \(example\); column 0 has 2"),
    (np.array([[0.0, 0.0], [0.0, 1.0]]), r"column 0 has 0"),
    (np.array([[0.5, 0.0], [0.5, 1.0]]), r"only 0 and 1; got other values \[0.5\]"),
    (np.array([[1.0, 0.0]]), r"C >= 2 classes; got shape \(1, 2\)"),
    (np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), r"\(C, m\) with 2 rows \(C = number of classes\)"),
])
def test_costs_refuse_labels_that_are_not_one_hot(Y, pattern):
    Z = np.zeros((1 if Y.shape[0] == 1 else 2, 2))
    with pytest.raises(ValueError, match=pattern):
        softmax_cost_from_logits(Z, Y)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), C=st.integers(2, 6), m=st.integers(1, 8), scale=st.sampled_from([0.1, 3.0, 20.0]))
def test_cost_from_logits_equals_the_course_formula(seed, C, m, scale):
    rng = np.random.default_rng(seed)
    Z = _logits(seed, C, m, scale)
    Y = one_hot(rng.integers(0, C, m), C)
    # the course: -(1/m) Σ_i Σ_k y log a, written out with a loop over the examples
    expected = -sum(np.log(np.exp(Z[k, i]) / np.exp(Z[:, i]).sum()) for i in range(m)
                    for k in range(C) if Y[k, i] == 1) / m
    # atol: where every example is confidently right J is ~1e-9, and the naive reference log(e^z / Σ e^z)
    # carries an absolute rounding error of ~1e-16 there (relative 1e-7)
    np.testing.assert_allclose(softmax_cost_from_logits(Z, Y), expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(softmax_cost(softmax(Z), Y), expected, rtol=1e-10, atol=1e-14)


def test_cost_from_logits_is_finite_where_probabilities_saturate():
    Z = np.array([[1e3, -1e3], [-1e3, 1e3]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])                      # both examples confidently wrong
    assert softmax_cost_from_logits(Z, Y) == pytest.approx(2e3, rel=1e-12)   # lse - z_true = 1e3 - (-1e3)
    with np.errstate(all="raise"):
        assert softmax_cost(softmax(Z), Y) == np.inf            # log 0 of the probabilities: inf, no warning raised
    assert softmax_cost_from_logits(Z, 1 - Y) == 0.0            # confidently right: log 1 = 0 exactly


def _softmax_net(seed, dims, m, hidden="tanh"):
    rng = np.random.default_rng(seed)
    params = initialize_parameters(dims, "xavier", rng=rng)
    for l in range(1, len(dims)):
        params[f"b{l}"] = 0.1 * rng.standard_normal(params[f"b{l}"].shape)
    X = rng.standard_normal((dims[0], m))
    Y = one_hot(rng.integers(0, dims[-1], m), dims[-1])
    return params, X, Y, [hidden] * (len(dims) - 2) + ["softmax"]


@pytest.mark.parametrize("seed, dims, m", [(0, [3, 5, 4], 7), (1, [4, 3], 1), (2, [2, 6, 3, 5], 4), (3, [5, 2, 2], 3)])
@pytest.mark.parametrize("lambd", [0.0, 0.7])
def test_softmax_network_gradient_check(seed, dims, m, lambd):
    params, X, Y, acts = _softmax_net(seed, dims, m)
    AL, caches = model_forward(X, params, acts)
    np.testing.assert_allclose(AL, softmax(caches[-1]["linear_activation"][1]))
    grads = model_backward(AL, Y, caches, lambd=lambd)
    difference = gradient_check(params, grads, lambda p: model_cost(X, Y, p, acts, lambd=lambd), epsilon=EPSILON)
    assert difference < GRADCHECK_THRESHOLD


def test_softmax_backward_refuses_general_output_and_wrong_labels():
    params, X, Y, acts = _softmax_net(0, [3, 4, 3], 5)
    AL, caches = model_forward(X, params, acts)
    with pytest.raises(ValueError, match="output='fused' only"):
        model_backward(AL, Y, caches, output="general")
    with pytest.raises(ValueError, match=r"Y must have shape \(C, m\) with 3 rows"):
        model_backward(AL, Y[:2], caches)
    with pytest.raises(ValueError, match="one-hot"):
        model_backward(AL, np.ones_like(Y), caches)               # every class "true": not one-hot


def test_predict_returns_class_indices():
    params, X, Y, acts = _softmax_net(4, [3, 4, 5], 11)
    AL, _ = model_forward(X, params, acts)
    got = predict(X, params, acts)
    assert got.shape == (1, 11) and got.dtype.kind == "i"
    np.testing.assert_array_equal(got[0], np.argmax(AL, axis=0))
    assert set(got[0]) <= set(range(5))


def test_train_learns_three_blobs_and_keeps_binary_checks():
    X, Y = data.make_blobs_multiclass(m=300, C=3, noise=0.6, seed=1)
    res = train(X, Y, [2, 8, 3], ["tanh", "softmax"], rng=0, learning_rate=0.5, num_iterations=300, log_every=50)
    costs = [r["cost"] for r in res.history]
    assert costs[-1] < 0.3 * costs[0]
    assert res.history[-1]["train_acc"] > 0.9
    assert np.mean(predict(X, res.params, ["tanh", "softmax"])[0] == np.argmax(Y, axis=0)) > 0.9
    with pytest.raises(ValueError, match=r"layer_dims\[-1\] must be 1 \(one sigmoid output unit\); got 3"):
        train(X, Y, [2, 8, 3], ["tanh", "sigmoid"], rng=0, learning_rate=0.5, num_iterations=2)
    with pytest.raises(ValueError, match=r"layer_dims\[-1\] must be C >= 2 classes"):
        train(X, Y[:1], [2, 8, 1], ["tanh", "softmax"], rng=0, learning_rate=0.5, num_iterations=2)
    with pytest.raises(ValueError, match=r"Y must have shape \(C, m\) with 4 rows"):
        train(X, Y, [2, 8, 4], ["tanh", "softmax"], rng=0, learning_rate=0.5, num_iterations=2)


def test_digits_are_ten_balanced_one_hot_classes():
    X, Y = data.load_digits_multiclass()
    assert X.shape == (64, 1797) and Y.shape == (10, 1797)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(Y.sum(axis=0), 1)
    assert Y.sum(axis=1).min() > 170
