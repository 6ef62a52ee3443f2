"""Behaviour of scratch.layers (F14, F15, F22): shapes, caches, backward vs finite
differences with a random upstream gradient (CS231n style), inverted dropout."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scratch.activations import ACTIVATIONS, COURSE_AT_ZERO
from scratch.layers import (dropout_backward, dropout_forward, linear_activation_backward,
                            linear_activation_forward, linear_backward, linear_forward)

H = 1e-6          # central differences in float64: truncation O(h²), rounding O(1e-16/h)
FD_RTOL, FD_ATOL = 1e-6, 1e-8
KINK_MARGIN = 1e-4  # relu/leaky: every Z must stay farther than this from 0 for the differences


def numerical_gradient(f, x):
    """∂f/∂x by central differences, x perturbed in a private copy (f takes x)."""
    x = x.astype(np.float64).copy()
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + H
        f_plus = f(x)
        x[idx] = old - H
        f_minus = f(x)
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * H)
    return grad


def layer_inputs(seed, n_prev, n, m):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_prev, m)), rng.standard_normal((n, n_prev)),
            rng.standard_normal((n, 1)), rng.standard_normal((n, m)))


sizes = st.tuples(st.integers(0, 10_000), st.integers(1, 5), st.integers(1, 5), st.integers(1, 6))


# --------------------------------------------------------------------- shapes

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_forward_shapes_value_and_cache(dtype):
    A_prev, W, b, _ = (x.astype(dtype) for x in layer_inputs(0, 4, 3, 7))
    Z, cache = linear_forward(A_prev, W, b)
    assert Z.shape == (3, 7) and Z.dtype == dtype
    assert cache[0] is A_prev and cache[1] is W and cache[2] is b
    # Z[:, i] = W a(i) + b, example by example
    for i in range(7):
        np.testing.assert_allclose(Z[:, i], W @ A_prev[:, i] + b[:, 0], rtol=1e-5)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_linear_activation_forward_cache_and_shapes(activation):
    A_prev, W, b, dA = layer_inputs(1, 4, 3, 5)
    A, (linear_cache, Z) = linear_activation_forward(A_prev, W, b, activation)
    assert A.shape == Z.shape == (3, 5)
    assert linear_cache[0] is A_prev and linear_cache[1] is W and linear_cache[2] is b
    np.testing.assert_array_equal(Z, W @ A_prev + b)
    np.testing.assert_array_equal(A, ACTIVATIONS[activation][0](Z))
    dA_prev, dW, db = linear_activation_backward(dA, (linear_cache, Z), activation)
    assert dA_prev.shape == A_prev.shape and dW.shape == W.shape and db.shape == b.shape


# ------------------------------------------------- backward vs finite differences
# With J = (1/m) Σ_i L_i and a random upstream per-example gradient dout = ∂L/∂Z
# (resp. ∂L/∂A), J = (1/m) Σ dout * Z is the scalar whose exact gradients are
# dW and db; dA_prev is per example, so it equals m ∂J/∂A_prev.

@settings(max_examples=25, deadline=None, derandomize=True)
@given(sizes)
def test_linear_backward_matches_finite_differences(size):
    seed, n_prev, n, m = size
    A_prev, W, b, dZ = layer_inputs(seed, n_prev, n, m)
    dA_prev, dW, db = linear_backward(dZ, linear_forward(A_prev, W, b)[1])
    J = lambda Z: float(np.sum(dZ * Z)) / m  # noqa: E731
    np.testing.assert_allclose(dW, numerical_gradient(lambda W_: J(W_ @ A_prev + b), W), FD_RTOL, FD_ATOL)
    np.testing.assert_allclose(db, numerical_gradient(lambda b_: J(W @ A_prev + b_), b), FD_RTOL, FD_ATOL)
    np.testing.assert_allclose(dA_prev / m, numerical_gradient(lambda A_: J(W @ A_ + b), A_prev),
                               FD_RTOL, FD_ATOL)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@settings(max_examples=15, deadline=None, derandomize=True)
@given(size=sizes)
def test_linear_activation_backward_matches_finite_differences(activation, size):
    seed, n_prev, n, m = size
    A_prev, W, b, dA = layer_inputs(seed, n_prev, n, m)
    A, cache = linear_activation_forward(A_prev, W, b, activation)
    if activation in ("relu", "leaky_relu"):
        Z = cache[1]
        assume(np.min(np.abs(Z)) > KINK_MARGIN)  # a difference across the kink measures neither side
    dA_prev, dW, db = linear_activation_backward(dA, cache, activation)
    J = lambda A_prev_, W_, b_: float(  # noqa: E731
        np.sum(dA * linear_activation_forward(A_prev_, W_, b_, activation)[0])) / m
    np.testing.assert_allclose(dW, numerical_gradient(lambda W_: J(A_prev, W_, b), W), FD_RTOL, FD_ATOL)
    np.testing.assert_allclose(db, numerical_gradient(lambda b_: J(A_prev, W, b_), b), FD_RTOL, FD_ATOL)
    np.testing.assert_allclose(dA_prev / m, numerical_gradient(lambda A_: J(A_, W, b), A_prev),
                               FD_RTOL, FD_ATOL)


def test_linear_activation_backward_reads_the_cached_Z():
    """Backward must use the cache, not rerun the forward pass: give it a cached Z
    different from W A_prev + b and check the formula used that Z."""
    A_prev, W, b, dA = layer_inputs(3, 3, 2, 4)
    _, (linear_cache, Z) = linear_activation_forward(A_prev, W, b, "tanh")
    Z_other = Z + 0.7
    dA_prev, dW, db = linear_activation_backward(dA, (linear_cache, Z_other), "tanh")
    dZ = dA * (1 - np.tanh(Z_other) ** 2)
    np.testing.assert_allclose(dW, dZ @ A_prev.T / 4, rtol=1e-14)
    np.testing.assert_allclose(db, dZ.sum(axis=1, keepdims=True) / 4, rtol=1e-14)
    np.testing.assert_allclose(dA_prev, W.T @ dZ, rtol=1e-14)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_at_zero_passes_through_to_the_derivative(activation):
    A_prev = np.zeros((2, 3))                 # Z = b = 0 exactly: every unit sits on the kink
    W, b, dA = np.ones((2, 2)), np.zeros((2, 1)), np.ones((2, 3))
    _, cache = linear_activation_forward(A_prev, W, b, activation)
    torch_db = linear_activation_backward(dA, cache, activation)[2]
    course_db = linear_activation_backward(dA, cache, activation, at_zero=COURSE_AT_ZERO)[2]
    np.testing.assert_array_equal(torch_db, np.full((2, 1), 0.0 if activation == "relu" else 0.01))
    np.testing.assert_array_equal(course_db, np.ones((2, 1)))


def test_backward_returns_fresh_arrays_and_leaves_inputs_alone():
    A_prev, W, b, dA = layer_inputs(4, 3, 2, 5)
    copies = [x.copy() for x in (A_prev, W, b, dA)]
    A, cache = linear_activation_forward(A_prev, W, b, "sigmoid")
    first = linear_activation_backward(dA, cache, "sigmoid")
    second = linear_activation_backward(dA, cache, "sigmoid")
    for g1, g2 in zip(first, second):
        np.testing.assert_array_equal(g1, g2)
        assert g1 is not g2
    for x, c in zip((A_prev, W, b, dA), copies):
        np.testing.assert_array_equal(x, c)


# -------------------------------------------------------------------- dropout

def test_dropout_with_given_mask_is_exact():
    A = np.arange(12.0).reshape(3, 4) - 5
    mask = np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 0]], dtype=bool)
    A_out, mask_out = dropout_forward(A, 0.75, mask=mask)
    assert mask_out is mask
    want = np.where(mask, A / 0.75, 0.0)
    np.testing.assert_array_equal(A_out, want)


def test_dropout_backward_uses_its_mask():
    """A backward that forgets the mask (numpy-ml #94) would return dA / keep_prob everywhere."""
    dA = np.ones((3, 4))
    mask = np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 0]], dtype=bool)
    dA_in = dropout_backward(dA, mask, 0.5)
    np.testing.assert_array_equal(dA_in, np.where(mask, 2.0, 0.0))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.integers(1, 5), st.integers(1, 6), st.floats(0.1, 1.0))
def test_dropout_backward_matches_finite_differences(seed, n, m, keep_prob):
    rng = np.random.default_rng(seed)
    A, dout = rng.standard_normal((n, m)), rng.standard_normal((n, m))
    _, mask = dropout_forward(A, keep_prob, rng=rng)
    J = lambda A_: float(np.sum(dout * dropout_forward(A_, keep_prob, mask=mask)[0]))  # noqa: E731
    np.testing.assert_allclose(dropout_backward(dout, mask, keep_prob), numerical_gradient(J, A),
                               FD_RTOL, FD_ATOL)


@pytest.mark.parametrize("keep_prob", [0.5, 0.8, 0.95])
def test_dropout_kept_fraction_inside_binomial_bound(keep_prob):
    N = 200 * 500
    A = np.ones((200, 500))
    A_out, mask = dropout_forward(A, keep_prob, rng=12345)
    # kept count ~ Binomial(N, keep_prob): a 5-sigma bound on the kept fraction
    bound = 5 * np.sqrt(keep_prob * (1 - keep_prob) / N)
    assert abs(mask.mean() - keep_prob) < bound
    # inverted dropout keeps the expected activation: mean(A_out) = kept fraction / keep_prob ≈ 1
    assert abs(A_out.mean() - 1.0) < bound / keep_prob
    assert mask.dtype == np.bool_ and mask.shape == A.shape


def test_drawn_mask_is_rand_less_than_keep_prob_from_the_generator():
    A = np.ones((4, 6))
    _, mask = dropout_forward(A, 0.6, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(mask, np.random.default_rng(7).random((4, 6)) < 0.6)
    _, mask_seed = dropout_forward(A, 0.6, rng=7)  # an int seed is the same generator
    np.testing.assert_array_equal(mask, mask_seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_keep_prob_one_is_identity(dtype):
    A = np.random.default_rng(0).standard_normal((3, 5)).astype(dtype)
    A_out, mask = dropout_forward(A, 1.0, rng=0)
    assert mask.all() and A_out.dtype == dtype
    np.testing.assert_array_equal(A_out, A)
    np.testing.assert_array_equal(dropout_backward(A, mask, 1.0), A)


def test_dropout_preserves_float32():
    A = np.ones((2, 3), dtype=np.float32)
    A_out, mask = dropout_forward(A, np.float64(0.5), rng=0)
    assert A_out.dtype == np.float32
    assert dropout_backward(A, mask, 0.5).dtype == np.float32
