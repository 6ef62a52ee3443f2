"""F06-F08, F21: costs (and the L1 penalty) from scratch against torch.

The gold is torch's own loss functions and autograd; the twins in
torch_ref.functional are checked against scratch as well. Costs are means over
the m examples (the course's 1/m), compared as 0-d arrays of the test's dtype.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from conftest import (PARITY, assert_same, batch_sizes, dtypes, hard_array, labels, probabilities,
                      random_params, seeds, sizes, tensor)
from scratch import activations as act
from scratch import losses
from torch_ref import convert

lambdas = st.sampled_from([0.0, 0.1, 0.7, 3.0])


# ------------------------------------------------------------------ F06


@dtypes
@PARITY
@given(m=batch_sizes, seed=seeds)
def test_F06_cross_entropy_matches_binary_cross_entropy(dtype, m, seed):
    # probabilities away from 0 and 1: F.binary_cross_entropy clamps each log at -100
    rng = np.random.default_rng(seed)
    AL, Y = probabilities(rng, (1, m), dtype), labels(rng, m, dtype)
    J = losses.compute_cost(AL, Y)                  # -mean(Y log AL + (1-Y) log(1-AL))
    a, y = tensor(AL), tensor(Y)
    j = F.binary_cross_entropy(a, y)                # reduction="mean"
    assert_same("J (BCE)", J, j, dtype)


def test_F06_binary_cross_entropy_caps_saturated_probabilities_at_100():
    """Why F06 uses non-saturated probabilities: at σ(±800) = 0 or 1 exactly, torch's
    BCE clamps log at -100 (a loss of 100), while the logits path (F07) gives the
    true loss, 800, finite."""
    ZL, Y = np.array([[-800.0, 800.0]]), np.array([[1.0, 0.0]])
    J = losses.cost_from_logits(ZL, Y)
    z, y = tensor(ZL), tensor(Y)
    assert J == 800.0
    assert F.binary_cross_entropy_with_logits(z, y).item() == 800.0
    assert F.binary_cross_entropy(torch.sigmoid(z), y).item() == 100.0


# ------------------------------------------------------------------ F07


@dtypes
@PARITY
@given(m=batch_sizes, seed=seeds)
def test_F07_cost_from_logits_matches_bce_with_logits(dtype, m, seed):
    rng = np.random.default_rng(seed)
    ZL, Y = hard_array(rng, (1, m), dtype), labels(rng, m, dtype)   # ±40, ±800, ±1e3, 0
    J = losses.cost_from_logits(ZL, Y)
    z, y = tensor(ZL, requires_grad=True), tensor(Y)
    j = F.binary_cross_entropy_with_logits(z, y)
    j.backward()
    assert np.isfinite(J)
    assert_same("J (from logits)", J, j, dtype)
    # the fused output gradient (F16): ∂J/∂Z[L] = (σ(Z[L]) - Y)/m, finite for any Z
    dZL = (act.sigmoid(ZL) - Y) / m
    assert_same("dJ/dZL = (AL - Y)/m", dZL, convert.to_numpy(z.grad), dtype)


@dtypes
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_F07_logits_pm40_pm800_exact_spots(dtype, y):
    ZL = np.array([[-800.0, -40.0, -1.0, 0.0, 1.0, 40.0, 800.0]], dtype=dtype)
    Y = np.full_like(ZL, y)
    for j in range(ZL.shape[1]):                     # each spot alone (m = 1) and all together
        J = losses.cost_from_logits(ZL[:, j:j + 1], Y[:, j:j + 1])
        gold = F.binary_cross_entropy_with_logits(tensor(ZL[:, j:j + 1]), tensor(Y[:, j:j + 1]))
        assert_same(f"J at z={ZL[0, j]}, y={y}", J, gold, dtype)
    J = losses.cost_from_logits(ZL, Y)
    gold = F.binary_cross_entropy_with_logits(tensor(ZL), tensor(Y))
    assert_same(f"J at ±40, ±800, y={y}", J, gold, dtype)


@dtypes
@PARITY
@given(m=batch_sizes, seed=seeds)
def test_F06_F07_probability_and_logit_costs_agree_when_not_saturated(dtype, m, seed):
    # |z| <= 4: the probability path computes log(1 - σ(z)), and one ulp of σ near 1 is a
    # relative error ulp/(1 - σ) of 1 - σ (3e-6 in float32 at z = 4, 1e-3 at z = 10), so
    # beyond that it is the gold itself that loses digits, not the code under test.
    rng = np.random.default_rng(seed)
    ZL, Y = rng.uniform(-4, 4, size=(1, m)).astype(dtype), labels(rng, m, dtype)
    J_logits = losses.cost_from_logits(ZL, Y)
    J_probs = losses.compute_cost(act.sigmoid(ZL), Y)
    z, y = tensor(ZL), tensor(Y)
    gold = F.binary_cross_entropy_with_logits(z, y)
    assert_same("J (from logits)", J_logits, gold, dtype)
    assert_same("J (from probabilities)", J_probs, gold, dtype)


# ------------------------------------------------------------------ F08


@dtypes
@PARITY
@given(m=batch_sizes, seed=seeds)
def test_F08_half_squared_error_is_half_mse_loss(dtype, m, seed):
    rng = np.random.default_rng(seed)
    AL, Y = probabilities(rng, (1, m), dtype), labels(rng, m, dtype)
    J = losses.squared_error_cost(AL, Y)            # mean(½ (AL - Y)²)
    a, y = tensor(AL), tensor(Y)
    j = 0.5 * F.mse_loss(a, y)                      # F.mse_loss = mean((a - y)²): no ½
    assert_same("J (½ squared error)", J, j, dtype)
    assert not np.isclose(J, F.mse_loss(a, y).item())   # AL in (0, 1) never equals Y


# ------------------------------------------------------------------ F21


@dtypes
@PARITY
@given(n_x=sizes, n1=sizes, m=batch_sizes, lambd=lambdas, seed=seeds)
def test_F21_l1_penalty_and_subgradient_match_autograd(dtype, n_x, n1, m, lambd, seed):
    # The course notes swap the names: this is L1, λ/(2m) Σ|W|, subgradient (λ/(2m)) sign(W).
    rng = np.random.default_rng(seed)
    params = random_params(rng, [n_x, n1, 1], dtype)
    for key in ("W1", "W2"):                        # |w| has no derivative at 0: keep W off 0
        params[key][params[key] == 0] = 0.5
    P = losses.l1_penalty(params, lambd, m)
    dW = {k: losses.l1_gradient(params[k], lambd, m) for k in ("W1", "W2")}
    W = {k: torch.tensor(params[k], requires_grad=True) for k in ("W1", "W2")}
    p = lambd / (2 * m) * sum(w.abs().sum() for w in W.values())   # biases are not penalised
    p.backward()
    assert_same("L1 penalty", P, p, dtype)
    for k in W:
        assert_same(f"L1 subgradient d{k}", dW[k], W[k].grad.numpy(), dtype)


# ------------------------------------------------- the twins in torch_ref


@dtypes
@PARITY
@given(m=batch_sizes, seed=seeds)
def test_torch_ref_functional_costs_match_scratch(dtype, m, seed):
    from torch_ref import functional
    rng = np.random.default_rng(seed)
    ZL, Y = hard_array(rng, (1, m), dtype), labels(rng, m, dtype)
    AL = probabilities(rng, (1, m), dtype)
    z, a, y = tensor(ZL), tensor(AL), tensor(Y)
    assert_same("cost_from_logits", losses.cost_from_logits(ZL, Y),
                functional.cost_from_logits(z, y), dtype)
    assert_same("compute_cost", losses.compute_cost(AL, Y), functional.compute_cost(a, y), dtype)
    assert_same("squared_error_cost", losses.squared_error_cost(AL, Y),
                functional.squared_error_cost(a, y), dtype)


@dtypes
@PARITY
@given(n_x=sizes, n1=sizes, m=batch_sizes, lambd=lambdas, seed=seeds)
def test_torch_ref_functional_penalties_match_scratch(dtype, n_x, n1, m, lambd, seed):
    from torch_ref import functional
    rng = np.random.default_rng(seed)
    params = random_params(rng, [n_x, n1, 1], dtype)
    weights = [torch.tensor(params["W1"]), torch.tensor(params["W2"])]
    assert_same("l2_penalty", losses.l2_penalty(params, lambd, m),
                functional.l2_penalty(weights, lambd, m), dtype)
    assert_same("l1_penalty", losses.l1_penalty(params, lambd, m),
                functional.l1_penalty(weights, lambd, m), dtype)
