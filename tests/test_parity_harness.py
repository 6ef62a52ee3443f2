"""The parity harness as a user meets it: torch_ref.parity.check / compare / assert_parity.

The README example must pass; a planted wrong derivative, a shape mismatch, a missing
key must fail and be named; float32 is judged with float32's tolerance.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_ref.parity import (EXACT, F32, F64, GRADCHECK, TRAJECTORY_RTOL, ParityReport, Tolerance,
                              assert_parity, check, compare, tolerance_for)

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


# ----------------------------------------------------- the README example, verbatim

def my_forward_backward(Z):            # numpy, course layout
    A = np.tanh(Z)
    return {"A": A, "dZ": 1 - A**2}    # dZ for upstream gradient of ones


def torch_version(Z):                  # torch tensors with requires_grad
    A = torch.tanh(Z)
    A.backward(torch.ones_like(A))
    return {"A": A, "dZ": Z.grad}


def test_readme_example_passes():
    report = check(my_forward_backward, torch_version, {"Z": np.random.default_rng(0).normal(size=(3, 5))})
    print(report)
    assert report.passed
    assert report.first_failure is None
    assert [q.name for q in report] == ["A", "dZ"]
    assert all(q.shape == (3, 5) and q.dtype == "float64" and q.tol == F64 for q in report)
    assert "PASSED" in str(report)
    assert_parity(report)


# ------------------------------------------------------------- failures named

def wrong_derivative(Z):
    A = np.tanh(Z)
    return {"A": A, "dZ": 1 - A}        # planted bug: forgot the square


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_planted_wrong_derivative_fails_and_is_named(dtype):
    Z = np.random.default_rng(1).normal(size=(4, 6))
    report = check(wrong_derivative, torch_version, {"Z": Z}, dtype=dtype)
    assert not report.passed
    assert report.first_failure == "dZ"
    assert report["A"].passed and not report["dZ"].passed
    assert report["dZ"].max_abs > 0.01 and "dZ" in report["dZ"].message
    assert "FAILED" in str(report) and "dZ" in str(report)
    with pytest.raises(AssertionError, match="dZ"):
        assert_parity(report)


def test_first_failure_is_the_first_in_order():
    def wrong_forward(Z):
        return {"A": np.tanh(Z) + 1e-3, "dZ": np.zeros_like(Z)}
    report = check(wrong_forward, torch_version, {"Z": np.ones((2, 2))})
    assert report.first_failure == "A"


def test_shape_mismatch_is_reported():
    def transposed(Z):
        A = np.tanh(Z).T                # course layout vs batch first, not converted
        return {"A": A, "dZ": 1 - np.tanh(Z) ** 2}
    report = check(transposed, torch_version, {"Z": np.random.default_rng(2).normal(size=(3, 5))})
    q = report["A"]
    assert not q.passed and not q.shape_ok
    assert q.shape == (5, 3) and q.gold_shape == (3, 5)
    assert "shape" in q.message and math.isnan(q.max_abs)
    assert report.first_failure == "A"


def test_missing_key_fails():
    def torch_only_A(Z):
        return {"A": torch.tanh(Z)}
    report = check(my_forward_backward, torch_only_A, {"Z": np.ones((2, 3))})
    assert not report.passed and report.first_failure == "dZ"
    assert "missing from the torch result" in report["dZ"].message

    def numpy_only_A(Z):
        return {"A": np.tanh(Z)}
    report = check(numpy_only_A, torch_version, {"Z": np.ones((2, 3))})
    assert report.first_failure == "dZ" and "missing from the NumPy result" in report["dZ"].message


def test_names_selects_and_orders_quantities():
    report = check(my_forward_backward, torch_version, {"Z": np.ones((2, 3))}, names=["dZ", "A"])
    assert [q.name for q in report] == ["dZ", "A"] and report.passed
    report = check(my_forward_backward, torch_version, {"Z": np.ones((2, 3))}, names=["dZ", "B"])
    assert report.first_failure == "B"


def test_missing_grad_is_explained():
    def no_backward(Z):
        return {"A": torch.tanh(Z), "dZ": Z.grad}       # forgot backward: Z.grad is None
    report = check(my_forward_backward, no_backward, {"Z": np.ones((2, 2))})
    assert report.first_failure == "dZ" and "backward" in report["dZ"].message


def test_empty_report_does_not_pass():
    assert not ParityReport([]).passed
    report = check(lambda Z: {}, lambda Z: {}, {"Z": np.ones((1, 1))})
    assert not report.passed


# --------------------------------------------------------------- dtypes

def test_float32_inputs_arrive_as_float32_and_use_float32_tolerance():
    seen = {}

    def torch_fn(Z):
        seen["dtype"], seen["requires_grad"] = Z.dtype, Z.requires_grad
        return torch_version(Z)
    report = check(my_forward_backward, torch_fn, {"Z": np.random.default_rng(3).normal(size=(3, 4))},
                   dtype=np.float32)
    assert seen == {"dtype": torch.float32, "requires_grad": True}
    assert report.passed and all(q.tol == F32 and q.dtype == "float32" for q in report)


@pytest.mark.parametrize("dtype, passes", [(np.float64, False), (np.float32, True)])
def test_error_of_1e_minus_7_passes_only_in_float32(dtype, passes):
    def slightly_off(Z):
        out = my_forward_backward(Z)
        out["A"] = out["A"] * (1 + 1e-7)             # far above float64's 1e-10, below float32's 1e-5
        return out
    report = check(slightly_off, torch_version, {"Z": np.full((2, 2), 0.5)}, dtype=dtype)
    assert report.passed is passes


def test_numpy_side_upcasting_float32_is_a_dtype_failure():
    def upcasts(Z):
        return {"A": np.tanh(Z.astype(np.float64))}
    report = check(upcasts, lambda Z: {"A": torch.tanh(Z)}, {"Z": np.ones((2, 2))}, dtype=np.float32)
    assert not report.passed and not report["A"].dtype_ok and "dtype" in report["A"].message


def test_labels_without_grad_and_scalar_costs():
    """A cost (Python float on the NumPy side, 0-d tensor on torch's) through requires_grad=[...]:
    F.binary_cross_entropy has no gradient for its target, so Y is left out."""
    rng = np.random.default_rng(4)
    A, Y = rng.uniform(0.1, 0.9, (1, 7)), rng.integers(0, 2, (1, 7)).astype(float)

    def mine(A, Y):
        J = float(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)))
        return {"J": J, "dA": (-(Y / A) + (1 - Y) / (1 - A)) / A.shape[1]}

    def gold(A, Y):
        J = F.binary_cross_entropy(A, Y)
        J.backward()
        return {"J": J, "dA": A.grad}
    for dtype in (np.float64, np.float32):
        report = check(mine, gold, {"A": A, "Y": Y}, dtype=dtype, requires_grad=["A"])
        assert report.passed, str(report)
    with pytest.raises(ValueError, match="requires_grad"):
        check(mine, gold, {"A": A, "Y": Y}, requires_grad=["B"])


def test_inputs_are_not_shared_or_mutated():
    Z = np.ones((2, 2))

    def mutating(Z):
        Z += 1                           # a careless user function
        return {"A": np.tanh(Z - 1)}
    report = check(mutating, lambda Z: {"A": torch.tanh(Z)}, {"Z": Z})
    assert report.passed and np.all(Z == 1)


# ------------------------------------------------------------ compare itself

def test_compare_nan_never_agrees():
    """NaN on both sides is not agreement: a NaN says the computation broke, on one side or both."""
    both = compare("x", np.array([np.inf, -np.inf, np.nan]),
                   torch.tensor([np.inf, -np.inf, np.nan], dtype=torch.float64))
    assert not both.passed and "non-finite" in both.message
    for allow_inf in (False, True):
        q = compare("dZ", np.array([[1.0, 2.0, np.nan]]), np.array([[1.0, 2.0, np.nan]]), allow_inf=allow_inf)
        assert not q.passed
        assert q.message.startswith("dZ: 1 non-finite value (nan on mine and nan on gold at index (0, 2))")
    assert not compare("J", float("nan"), float("nan"), allow_inf=True).passed


def test_compare_nonfinite_message_counts_and_names_the_first():
    mine = np.array([[1.0, 2.0, np.nan], [np.inf, 0.5, 0.25]])
    gold = np.array([[1.0, 2.0, 3.0], [4.0, -np.inf, 0.25]])
    q = compare("dZ", mine, gold)
    assert not q.passed
    assert q.message.startswith("dZ: 3 non-finite values (nan on mine at index (0, 2))"), q.message
    q = compare("A", np.array([[0.5, 1.0]]), np.array([[0.5, np.inf]]))
    assert q.message.startswith("A: 1 non-finite value (inf on gold at index (0, 1))"), q.message
    assert not compare("x", np.array([np.nan]), np.array([1.0])).passed
    assert not compare("x", np.array([1.0]), np.array([np.inf])).passed


def test_compare_inf_agrees_only_when_allowed_and_equal():
    mine, gold = np.array([np.inf, -np.inf, 1.0]), torch.tensor([np.inf, -np.inf, 1.0], dtype=torch.float64)
    q = compare("J", mine, gold)
    assert not q.passed and "non-finite" in q.message and "allow_inf" in q.message
    q = compare("J", mine, gold, allow_inf=True)
    assert q.passed and q.message == "ok" and q.max_abs == 0.0
    assert not compare("x", np.array([np.inf]), np.array([-np.inf]), allow_inf=True).passed     # sign differs
    assert not compare("x", np.array([np.inf, 1.0]), np.array([1.0, np.inf]), allow_inf=True).passed
    assert not compare("x", np.array([np.inf]), np.array([1e308]), allow_inf=True).passed
    assert compare("J", math.inf, torch.tensor(math.inf, dtype=torch.float64), allow_inf=True).passed
    assert not compare("J", math.inf, torch.tensor(math.inf, dtype=torch.float64)).passed
    with pytest.raises(TypeError, match="allow_inf must be True or False"):
        compare("J", 1.0, 1.0, allow_inf="yes")


def test_compare_all_and_check_pass_allow_inf_through():
    def mine(A, Y):
        with np.errstate(divide="ignore"):
            return {"J": float(-np.mean(np.where(Y == 1, np.log(A), np.log(1 - A)))), "A": A}

    def gold(A, Y):                     # not F.binary_cross_entropy: it clamps log at -100
        J = -torch.mean(torch.where(Y == 1, torch.log(A), torch.log(1 - A)))
        return {"J": J, "A": A}
    inputs = {"A": np.array([[1.0, 0.3]]), "Y": np.array([[0.0, 1.0]])}   # saturated wrong: J = inf
    report = check(mine, gold, inputs, requires_grad=[])
    assert not report.passed and report.first_failure == "J" and "non-finite" in report["J"].message
    assert check(mine, gold, inputs, requires_grad=[], allow_inf=True).passed
    from torch_ref.parity import compare_all
    assert not compare_all({"J": math.inf}, {"J": math.inf}).passed
    assert compare_all({"J": math.inf}, {"J": math.inf}, allow_inf=True).passed


def test_compare_scalars_and_exact_dtypes():
    q = compare("J", 0.5, torch.tensor(0.5, dtype=torch.float32))       # Python float vs float32 0-d
    assert q.passed and q.tol == F32
    assert compare("pred", np.array([[0, 1]]), torch.tensor([[0, 1]])).tol == EXACT
    assert not compare("pred", np.array([[0, 1]]), np.array([[1, 1]])).passed
    assert compare("mask", np.array([True, False]), np.array([True, False])).passed


def test_compare_relative_error_where_gold_is_zero():
    q = compare("x", np.array([0.0, 1.0]), np.array([0.0, 1.0 + 1e-13]))
    assert q.passed and q.max_rel < 1e-12
    q = compare("x", np.array([1e-13]), np.array([0.0]))                 # inside atol = 1e-12
    assert q.passed and q.max_rel == math.inf
    assert not compare("x", np.array([1e-11]), np.array([0.0])).passed


def test_tolerances_are_the_named_constants():
    assert F64 == Tolerance(1e-10, 1e-12) and F32 == Tolerance(1e-5, 1e-6)
    assert GRADCHECK == 1e-7 and TRAJECTORY_RTOL == 1e-8
    assert tolerance_for(np.float64) is F64 and tolerance_for(torch.float32) is F32
    assert tolerance_for(np.int64) is EXACT and tolerance_for(torch.bool) is EXACT
    with pytest.raises(ValueError, match="dtype"):
        tolerance_for(np.float16)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6), m=st.integers(1, 9),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_sigmoid_twin_passes_over_random_shapes(seed, n, m, dtype):
    from scratch.activations import sigmoid, sigmoid_prime
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, m)) * rng.choice([1.0, 40.0, 1e3], size=(n, m))

    def gold(Z):
        A = torch.sigmoid(Z)
        A.backward(torch.ones_like(A))
        return {"A": A, "dZ": Z.grad}
    report = check(lambda Z: {"A": sigmoid(Z), "dZ": sigmoid_prime(Z)}, gold, {"Z": Z}, dtype=dtype)
    assert_parity(report)


def _linear_course(X, W):
    """By hand, examples as columns: Z = W X, and dX = Wᵀ dZ for the upstream gradient dZ = 1."""
    Z = W @ X
    return {"Z": Z, "dX": W.T @ np.ones_like(Z), "dW": np.ones_like(Z) @ X.T}


def _linear_batch_first(X, W):
    """The same layer as torch writes it: x batch first (m, n_x), z = x Wᵀ (m, n)."""
    Z = X @ W.T
    Z.backward(torch.ones_like(Z))
    return {"Z": Z, "dX": X.grad, "dW": W.grad}


def test_batch_first_transposes_examples_both_ways():
    rng = np.random.default_rng(3)
    inputs = {"X": rng.standard_normal((4, 7)), "W": rng.standard_normal((3, 4))}   # n_x = 4, m = 7
    report = check(_linear_course, _linear_batch_first, inputs, batch_first=("X", "Z", "dX"))
    assert report.passed, str(report)
    assert [q.name for q in report.quantities] == ["Z", "dX", "dW"]
    assert report["Z"].shape == (3, 7)                     # compared in the course layout


def test_batch_first_still_catches_a_wrong_derivative():
    def wrong(X, W):
        out = _linear_course(X, W)
        out["dX"] = W.T @ np.ones((W.shape[0], X.shape[1])) * 2      # planted: doubled
        return out
    rng = np.random.default_rng(4)
    inputs = {"X": rng.standard_normal((4, 7)), "W": rng.standard_normal((3, 4))}
    report = check(wrong, _linear_batch_first, inputs, batch_first=("X", "Z", "dX"))
    assert not report.passed and report.first_failure == "dX"


def test_batch_first_without_it_the_layouts_do_not_meet():
    rng = np.random.default_rng(5)
    inputs = {"X": rng.standard_normal((4, 7)), "W": rng.standard_normal((3, 4))}
    with pytest.raises(RuntimeError):                      # torch_fn gets X (4, 7): x Wᵀ cannot multiply
        check(_linear_course, _linear_batch_first, inputs)
    with pytest.raises(ValueError, match="batch_first input 'X' must be 2-D"):
        check(_linear_course, _linear_batch_first, {"X": np.ones(4), "W": inputs["W"]}, batch_first=("X",))
