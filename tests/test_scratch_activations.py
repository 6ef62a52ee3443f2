"""Behaviour of scratch.activations (F01-F04): exact values, no overflow, derivatives, kinks, dtype."""
import decimal
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scratch.activations import (ACTIVATIONS, COURSE_AT_ZERO, TORCH_AT_ZERO, identity, identity_prime,
                                 leaky_relu, leaky_relu_prime, relu, relu_prime, sigmoid, sigmoid_prime,
                                 tanh, tanh_prime)

# Reference values computed independently in 60-digit decimal arithmetic, then rounded once.
decimal.getcontext().prec = 60
D = decimal.Decimal


def ref_sigmoid(z):
    return float(1 / (1 + (-D(z)).exp()))


def ref_tanh(z):
    e2 = (2 * D(z)).exp() if z < 0 else (-2 * D(z)).exp()
    t = (1 - e2) / (1 + e2)
    return float(t if z >= 0 else -t)


# One or two ulps: np.exp / np.tanh are faithfully rounded, plus one rounded division.
RTOL_F64 = 4e-16
RTOL_F32 = 3e-7
HARD_Z = [-1000.0, -800.0, -40.0, -1.0, 0.0, 1.0, 40.0, 800.0, 1000.0]


def no_warnings():
    """Turn every numpy floating-point event and every Python warning into an error."""
    class Ctx:
        def __enter__(self):
            self.err = np.errstate(all="raise")
            self.err.__enter__()
            self.w = warnings.catch_warnings()
            self.w.__enter__()
            warnings.simplefilter("error")

        def __exit__(self, *exc):
            self.w.__exit__(*exc)
            return self.err.__exit__(*exc)
    return Ctx()


# ------------------------------------------------------------------ exact values

def test_sigmoid_exact_values_at_hard_points():
    Z = np.array(HARD_Z)
    with no_warnings():
        got = sigmoid(Z)
    want = np.array([ref_sigmoid(z) for z in HARD_Z])
    np.testing.assert_allclose(got, want, rtol=RTOL_F64, atol=0)
    # the extremes round exactly: σ(-800) underflows to 0, σ(40) rounds to 1
    assert got[0] == 0.0 and got[1] == 0.0 and got[-1] == 1.0 and got[-3] == 1.0
    assert got[HARD_Z.index(0.0)] == 0.5
    assert got[2] == pytest.approx(4.248354255291589e-18, rel=1e-15)


def test_sigmoid_float32_at_hard_points_no_warnings():
    Z = np.array(HARD_Z, dtype=np.float32)
    with no_warnings():
        got = sigmoid(Z)
    assert got.dtype == np.float32
    want = np.array([ref_sigmoid(z) for z in HARD_Z], dtype=np.float32)
    np.testing.assert_allclose(got, want, rtol=RTOL_F32, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_relu_leaky_identity_exact_values(dtype):
    Z = np.array(HARD_Z, dtype=dtype)
    with no_warnings():
        np.testing.assert_allclose(tanh(Z), np.array([ref_tanh(z) for z in HARD_Z], dtype=dtype),
                                   rtol=RTOL_F64 if dtype == np.float64 else RTOL_F32)
        np.testing.assert_array_equal(relu(Z), [0, 0, 0, 0, 0, 1, 40, 800, 1000])
        np.testing.assert_allclose(leaky_relu(Z), [-10, -8, -0.4, -0.01, 0, 1, 40, 800, 1000],
                                   rtol=RTOL_F32)
        np.testing.assert_allclose(leaky_relu(Z, alpha=0.2), [-200, -160, -8, -0.2, 0, 1, 40, 800, 1000],
                                   rtol=RTOL_F32)
        np.testing.assert_array_equal(identity(Z), Z)


def test_values_at_minus_one_zero_one():
    Z = np.array([-1.0, 0.0, 1.0])
    e = np.e
    np.testing.assert_allclose(sigmoid(Z), [1 / (1 + e), 0.5, 1 / (1 + 1 / e)], rtol=RTOL_F64)
    np.testing.assert_allclose(tanh(Z), [-(e - 1 / e) / (e + 1 / e), 0.0, (e - 1 / e) / (e + 1 / e)],
                               rtol=1e-15)
    np.testing.assert_allclose(sigmoid_prime(Z), [e / (1 + e) ** 2, 0.25, e / (1 + e) ** 2], rtol=1e-15)
    np.testing.assert_allclose(tanh_prime(Z), [1 - np.tanh(1) ** 2, 1.0, 1 - np.tanh(1) ** 2], rtol=1e-15)


def test_derivatives_no_warnings_at_extremes():
    Z = np.array(HARD_Z)
    with no_warnings():
        assert np.all(np.isfinite(sigmoid_prime(Z)))
        assert sigmoid_prime(Z)[0] == 0.0 and sigmoid_prime(Z)[-1] == 0.0
        assert np.all(np.isfinite(tanh_prime(Z)))


# --------------------------------------------------- derivatives vs finite diffs

H = 1e-6  # central differences: error O(h²) ≈ 1e-12 plus rounding ≈ 1e-16/h = 1e-10


def central_difference(g, Z):
    return (g(Z + H) - g(Z - H)) / (2 * H)


away_from_kinks = hnp.arrays(
    np.float64, st.integers(1, 30),
    elements=st.floats(-6, 6).filter(lambda z: abs(z) > 1e-3))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@settings(max_examples=30, deadline=None, derandomize=True)
@given(Z=away_from_kinks)
def test_derivative_matches_central_difference(name, Z):
    g, g_prime = ACTIVATIONS[name]
    np.testing.assert_allclose(g_prime(Z), central_difference(g, Z), rtol=1e-7, atol=1e-8)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(Z=away_from_kinks, alpha=st.floats(0.0, 0.5))
def test_leaky_relu_derivative_with_alpha(Z, alpha):
    num = central_difference(lambda x: leaky_relu(x, alpha=alpha), Z)
    np.testing.assert_allclose(leaky_relu_prime(Z, alpha=alpha), num, rtol=1e-7, atol=1e-8)
    # away from 0 the derivative is 1 on the right, alpha on the left, by definition
    np.testing.assert_array_equal(leaky_relu_prime(Z, alpha=alpha), np.where(Z > 0, 1.0, alpha))


# ------------------------------------------------------------- the kink at z = 0

def test_relu_prime_at_zero_torch_default_and_course_value():
    Z = np.array([-2.0, -0.0, 0.0, 3.0])
    assert TORCH_AT_ZERO == 0.0 and COURSE_AT_ZERO == 1.0
    np.testing.assert_array_equal(relu_prime(Z), [0, 0, 0, 1])                  # torch: 0 at 0
    np.testing.assert_array_equal(relu_prime(Z, at_zero=COURSE_AT_ZERO), [0, 1, 1, 1])  # course: z >= 0
    np.testing.assert_array_equal(relu_prime(Z, at_zero=0.5), [0, 0.5, 0.5, 1])


def test_leaky_relu_prime_at_zero_torch_default_and_course_value():
    Z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(leaky_relu_prime(Z), [0.01, 0.01, 1])         # torch: alpha at 0
    np.testing.assert_array_equal(leaky_relu_prime(Z, alpha=0.3), [0.3, 0.3, 1])
    np.testing.assert_array_equal(leaky_relu_prime(Z, at_zero=COURSE_AT_ZERO), [0.01, 1, 1])
    np.testing.assert_array_equal(leaky_relu_prime(Z, alpha=0.3, at_zero=0.0), [0.3, 0.0, 1])


def test_identity_prime_is_one_and_identity_is_a_copy():
    Z = np.array([[-3.0, 0.0, 2.0]])
    np.testing.assert_array_equal(identity_prime(Z), np.ones((1, 3)))
    A = identity(Z)
    assert A is not Z and not np.shares_memory(A, Z)


# ------------------------------------------------------------------------ dtypes

@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_and_shape_preserved(name, dtype):
    g, g_prime = ACTIVATIONS[name]
    Z = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
    for out in (g(Z), g_prime(Z)):
        assert out.dtype == dtype and out.shape == (3, 4)
    assert relu_prime(Z, at_zero=COURSE_AT_ZERO).dtype == dtype
    assert leaky_relu_prime(Z, at_zero=COURSE_AT_ZERO).dtype == dtype
    assert leaky_relu(Z, alpha=np.float64(0.2)).dtype == dtype


def test_integer_input_gives_float64():
    Z = np.array([[-2, 0, 3]])
    for g, g_prime in ACTIVATIONS.values():
        assert g(Z).dtype == np.float64 and g_prime(Z).dtype == np.float64


def test_inputs_are_not_modified():
    Z = np.array([[-2.0, 0.0, 3.0]])
    before = Z.copy()
    for g, g_prime in ACTIVATIONS.values():
        g(Z), g_prime(Z)
    np.testing.assert_array_equal(Z, before)
