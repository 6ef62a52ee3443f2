"""F01-F04: activations and their derivatives, scratch against torch and autograd.

Each test writes the computation twice, line for line: g(Z) in NumPy on the
course layout, g(z) in torch on the batch-first z = convert.to_torch(Z).
Inputs carry the hard spots (|z| up to 1e3, ±40, ±800, exact zeros, m = 1).
"""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given

from conftest import (PARITY, assert_same, dtypes, hard_array, normal, shapes, seeds, tensor,
                      with_a_zero)
from scratch import activations as act
from torch_ref import convert, parity

CUSTOM_ALPHA = 0.2

# The gold: torch's own functions (not torch_ref), one per scratch activation.
TORCH_G = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "identity": lambda z: 1 * z,  # 1·z: a new node, so autograd has something to differentiate
}
NAMES = sorted(TORCH_G)


# ------------------------------------------------------------------ F01, F02


@dtypes
@pytest.mark.parametrize("name", NAMES)
@PARITY
@given(shape=shapes, seed=seeds)
def test_F01_F02_activation_matches_torch(name, dtype, shape, seed):
    Z = hard_array(np.random.default_rng(seed), shape, dtype)
    A = act.ACTIVATIONS[name][0](Z)          # scratch: g(Z), (n, m)
    z = tensor(Z)
    a = TORCH_G[name](z)                     # torch: g(z), (m, n)
    assert_same(f"{name}(Z)", A, convert.to_numpy(a), dtype)


@dtypes
@PARITY
@given(shape=shapes, seed=seeds)
def test_F02_leaky_relu_custom_alpha_matches_torch(dtype, shape, seed):
    Z = hard_array(np.random.default_rng(seed), shape, dtype)
    A = act.leaky_relu(Z, alpha=CUSTOM_ALPHA)
    z = tensor(Z)
    a = F.leaky_relu(z, negative_slope=CUSTOM_ALPHA)
    assert_same("leaky_relu(Z, 0.2)", A, convert.to_numpy(a), dtype)


@dtypes
@pytest.mark.parametrize("name", NAMES)
def test_F01_activations_stay_finite_and_silent_at_extremes(name, dtype):
    """σ at ±1000 (and every g) gives finite values of the input dtype, with no warning."""
    Z = np.array([[-1000.0, -800.0, -40.0, -0.0, 0.0, 40.0, 800.0, 1000.0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        A = act.ACTIVATIONS[name][0](Z)
        dZ = act.ACTIVATIONS[name][1](Z)
    a = TORCH_G[name](tensor(Z))
    assert np.isfinite(A).all() and np.isfinite(dZ).all()
    assert_same(f"{name}(±1000)", A, convert.to_numpy(a), dtype)


# ------------------------------------------------------------------ F03


@dtypes
@pytest.mark.parametrize("name", NAMES)
@PARITY
@given(shape=shapes, seed=seeds)
def test_F03_derivative_matches_autograd(name, dtype, shape, seed):
    rng = np.random.default_rng(seed)
    Z = with_a_zero(rng, hard_array(rng, shape, dtype))
    # a random upstream gradient, not ones; N(0, 1): near saturation 1 - tanh² carries the
    # 1-ulp difference of tanh (1.2e-7 in float32) times |dA|, which must stay below atol
    dA = normal(rng, shape, dtype)
    dZ = dA * act.ACTIVATIONS[name][1](Z)              # scratch: dZ = dA * g'(Z), default at_zero
    z = tensor(Z, requires_grad=True)
    TORCH_G[name](z).backward(tensor(dA))              # torch: vector-Jacobian product
    assert_same(f"dA * {name}'(Z)", dZ, convert.to_numpy(z.grad), dtype)


@dtypes
@PARITY
@given(shape=shapes, seed=seeds)
def test_F03_leaky_relu_prime_custom_alpha_matches_autograd(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    Z = with_a_zero(rng, hard_array(rng, shape, dtype))
    dZ = act.leaky_relu_prime(Z, alpha=CUSTOM_ALPHA)
    z = tensor(Z, requires_grad=True)
    F.leaky_relu(z, CUSTOM_ALPHA).backward(torch.ones_like(z))  # elementwise g: VJP with ones = g'
    assert_same("leaky_relu'(Z, 0.2)", dZ, convert.to_numpy(z.grad), dtype)


# ------------------------------------------------------------------ F04

# (scratch derivative with the course's value at 0, torch's g, torch's value at exactly 0)
KINKS = {
    "relu": (lambda Z: act.relu_prime(Z, at_zero=act.COURSE_AT_ZERO), F.relu, 0.0),
    "leaky_relu": (lambda Z: act.leaky_relu_prime(Z, at_zero=act.COURSE_AT_ZERO),
                   lambda z: F.leaky_relu(z, 0.01), 0.01),
    "leaky_relu_0.2": (lambda Z: act.leaky_relu_prime(Z, alpha=CUSTOM_ALPHA, at_zero=act.COURSE_AT_ZERO),
                       lambda z: F.leaky_relu(z, CUSTOM_ALPHA), CUSTOM_ALPHA),
}


@dtypes
@pytest.mark.parametrize("name", sorted(KINKS))
@PARITY
@given(shape=shapes, seed=seeds)
def test_F04_course_value_differs_from_torch_only_at_exact_zeros(name, dtype, shape, seed):
    rng = np.random.default_rng(seed)
    Z = with_a_zero(rng, hard_array(rng, shape, dtype))
    course_prime, torch_g, torch_at_zero = KINKS[name]
    dZ_course = course_prime(Z)
    z = tensor(Z, requires_grad=True)
    torch_g(z).backward(torch.ones_like(z))
    gold = convert.to_numpy(z.grad)
    at_zero = Z == 0                                  # includes -0.0
    assert at_zero.any()
    # away from 0 the two conventions agree with autograd ...
    assert_same(f"{name}' (course) off zero", dZ_course[~at_zero], gold[~at_zero], dtype)
    # ... and at exactly 0 the course writes 1 (z >= 0) where torch uses its own value
    assert np.all(dZ_course[at_zero] == 1.0)
    assert np.all(gold[at_zero] == torch_at_zero)


def test_F04_named_conventions():
    """The constants name the two conventions: torch's relu'(0) = 0, the course's 1."""
    z = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    F.relu(z).backward()
    assert act.TORCH_AT_ZERO == z.grad.item() == 0.0
    assert act.COURSE_AT_ZERO == 1.0
    assert act.relu_prime(np.zeros((1, 1)))[0, 0] == 0.0
    assert act.leaky_relu_prime(np.zeros((1, 1)))[0, 0] == 0.01
    assert act.relu_prime(np.zeros((1, 1)), at_zero=act.COURSE_AT_ZERO)[0, 0] == 1.0


@dtypes
@pytest.mark.parametrize("name", NAMES)
@PARITY
@given(shape=shapes, seed=seeds)
def test_F01_F03_through_parity_check(name, dtype, shape, seed):
    """The same comparison through the harness's own entry point, parity.check: each side
    gets its copy of the inputs (torch: leaf tensors, same layout; g is elementwise)."""
    rng = np.random.default_rng(seed)
    inputs = {"Z": with_a_zero(rng, hard_array(rng, shape, dtype)), "dA": normal(rng, shape, dtype)}

    def numpy_side(Z, dA):
        g, g_prime = act.ACTIVATIONS[name]
        return {"A": g(Z), "dZ": dA * g_prime(Z)}

    def torch_side(Z, dA):
        A = TORCH_G[name](Z)
        A.backward(dA)
        return {"A": A, "dZ": Z.grad}

    report = parity.check(numpy_side, torch_side, inputs, dtype=dtype, requires_grad=["Z"])
    assert [q.name for q in report] == ["A", "dZ"]
    parity.assert_parity(report)


# ------------------------------------------------- the twins in torch_ref


@dtypes
@pytest.mark.parametrize("name", NAMES)
@PARITY
@given(shape=shapes, seed=seeds)
def test_torch_ref_functional_activations_match_scratch(name, dtype, shape, seed):
    """torch_ref.functional.ACTIVATIONS (the product's twins) agree with scratch."""
    from torch_ref import functional
    rng = np.random.default_rng(seed)
    Z = with_a_zero(rng, hard_array(rng, shape, dtype))
    A = act.ACTIVATIONS[name][0](Z)
    dZ = act.ACTIVATIONS[name][1](Z)
    z = tensor(Z, requires_grad=True)
    a = functional.ACTIVATIONS[name](z)
    a.backward(torch.ones_like(a))
    assert_same(f"functional {name}(Z)", A, convert.to_numpy(a), dtype)
    assert_same(f"functional {name}'(Z)", dZ, convert.to_numpy(z.grad), dtype)


# ------------------------------------------------- the parity helper itself


@dtypes
def test_parity_compare_can_fail(dtype):
    """The one comparison used by every test rejects a value off by 10x its rtol,
    a wrong shape and a wrong dtype, and names the quantity."""
    tol = parity.tolerance_for(dtype)
    gold = np.linspace(1.0, 2.0, 6, dtype=dtype).reshape(2, 3)
    assert parity.compare("A", gold.copy(), gold, tol).passed
    off = gold * (1 + 10 * tol.rtol)
    bad = parity.compare("A", off.astype(dtype), gold, tol)
    assert not bad.passed and bad.name == "A" and bad.max_rel > tol.rtol
    assert not parity.compare("A", gold.T.copy(), gold, tol).passed
    other = np.float32 if dtype == np.float64 else np.float64
    assert not parity.compare("A", gold.astype(other), gold, tol).passed
    report = parity.ParityReport([parity.compare("Z", gold, gold, tol), bad])
    assert not report.passed and report.first_failure == "A"
    with pytest.raises(AssertionError, match="A"):
        parity.assert_parity(report)
