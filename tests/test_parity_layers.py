"""F14-F15: one layer, forward and backward, scratch against nn.Linear + autograd.

The torch half is a bare nn.Linear (not torch_ref's DeepNet) loaded from the
scratch parameters through convert.params_to_state_dict, followed by torch's
own activation. The upstream gradient dA is random, not all ones.

Gradient conventions (course): dA and dA_prev are per-example derivatives,
∂L/∂A stacked in columns, i.e. m·∂J/∂A; dW and db are ∂J/∂W, ∂J/∂b of the mean
J. In torch we take J = Σ(A ∘ dA)/m, so that ∂(mJ)/∂A = dA: then W.grad = dW,
b.grad = db and m·x.grad = dA_prev.

Hard spots enter through the bias: b holds exact zeros, ±1, ±40, ±800, values
up to ±1e3, so Z = W A_prev + b reaches them, while A_prev ~ N(0, 1) keeps the
sums of products well conditioned. A_prev has exact-zero columns, so Z is
exactly 0 wherever b is (the kink of relu/leaky_relu).
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from torch import nn

from conftest import (PARITY, TORCH_DTYPE, assert_same, batch_sizes, dtypes, hard_array, normal,
                      seeds, sizes, tensor)
from scratch import activations as act
from scratch import layers
from torch_ref import convert

TORCH_G = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "identity": lambda z: 1 * z,
}
NAMES = sorted(TORCH_G)


class OneLayer(nn.Module):
    """nn.Linear(n[l-1], n[l]) in a `linears` list, so convert's state_dict keys fit."""

    def __init__(self, W, b, dtype):
        super().__init__()
        n, n_prev = W.shape
        self.linears = nn.ModuleList([nn.Linear(n_prev, n, dtype=TORCH_DTYPE[dtype])])
        self.load_state_dict(convert.params_to_state_dict({"W1": W, "b1": b}))

    def forward(self, x):
        return self.linears[0](x)


def layer_inputs(seed, n_prev, n, m, dtype):
    """A_prev (n_prev, m) ~ N(0,1) with exact-zero columns, W ~ N(0, 1/n_prev),
    b (n, 1) carrying the hard spots, dA (n, m) ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    A_prev = normal(rng, (n_prev, m), dtype)
    A_prev[:, rng.random(m) < 0.25] = 0
    W = normal(rng, (n, n_prev), dtype, 1 / np.sqrt(n_prev))
    b = hard_array(rng, (n, 1), dtype)
    dA = normal(rng, (n, m), dtype)
    return A_prev, W, b, dA


# ------------------------------------------------------------------ F14


@dtypes
@PARITY
@given(n_prev=sizes, n=sizes, m=batch_sizes, seed=seeds)
def test_F14_linear_forward_matches_nn_linear(dtype, n_prev, n, m, seed):
    A_prev, W, b, _ = layer_inputs(seed, n_prev, n, m, dtype)
    Z, cache = layers.linear_forward(A_prev, W, b)       # Z = W A_prev + b
    x = tensor(A_prev)
    z = OneLayer(W, b, dtype)(x)                          # z = x Wᵀ + b
    assert_same("Z", Z, convert.to_numpy(z), dtype)
    assert cache[0] is A_prev and cache[1] is W and cache[2] is b


@dtypes
@pytest.mark.parametrize("name", NAMES)
@PARITY
@given(n_prev=sizes, n=sizes, m=batch_sizes, seed=seeds)
def test_F14_F15_layer_forward_backward_match_autograd(name, dtype, n_prev, n, m, seed):
    A_prev, W, b, dA = layer_inputs(seed, n_prev, n, m, dtype)
    A, cache = layers.linear_activation_forward(A_prev, W, b, name)
    dA_prev, dW, db = layers.linear_activation_backward(dA, cache, name)
    x = tensor(A_prev, requires_grad=True)
    layer = OneLayer(W, b, dtype)
    z = layer(x)
    a = TORCH_G[name](z)
    (a * tensor(dA)).sum().div(m).backward()
    Z = cache[1]
    assert_same("Z", Z, convert.to_numpy(z), dtype)
    assert_same("A", A, convert.to_numpy(a), dtype)
    g = convert.grads_from_model(layer)
    assert_same("dW", dW, g["dW1"], dtype)
    assert_same("db", db, g["db1"], dtype)
    assert_same("dA_prev", dA_prev, m * convert.to_numpy(x.grad), dtype)


@dtypes
@PARITY
@given(n_prev=sizes, n=sizes, m=batch_sizes, seed=seeds)
def test_F15_linear_backward_matches_autograd(dtype, n_prev, n, m, seed):
    A_prev, W, b, dZ = layer_inputs(seed, n_prev, n, m, dtype)
    _, cache = layers.linear_forward(A_prev, W, b)
    dA_prev, dW, db = layers.linear_backward(dZ, cache)
    x = tensor(A_prev, requires_grad=True)
    layer = OneLayer(W, b, dtype)
    (layer(x) * tensor(dZ)).sum().div(m).backward()
    g = convert.grads_from_model(layer)
    assert_same("dW", dW, g["dW1"], dtype)
    assert_same("db", db, g["db1"], dtype)
    assert_same("dA_prev", dA_prev, m * convert.to_numpy(x.grad), dtype)


# The course's kink convention, written in torch: where(z >= 0, z, slope·z) takes
# the first branch at z = 0, so autograd gives g'(0) = 1 there (the course's value).
COURSE_TORCH_G = {
    "relu": lambda z: torch.where(z >= 0, z, torch.zeros_like(z)),
    "leaky_relu": lambda z: torch.where(z >= 0, z, 0.01 * z),
}


@dtypes
@pytest.mark.parametrize("name", sorted(COURSE_TORCH_G))
@PARITY
@given(n_prev=sizes, n=sizes, m=batch_sizes, seed=seeds)
def test_F04_F15_course_value_at_zero_passes_through_the_layer(name, dtype, n_prev, n, m, seed):
    A_prev, W, b, dA = layer_inputs(seed, n_prev, n, m, dtype)
    A_prev[:, 0] = 0
    b[0, 0] = 0                                           # so Z[0, 0] is exactly 0
    _, cache = layers.linear_activation_forward(A_prev, W, b, name)
    dA_prev, dW, db = layers.linear_activation_backward(dA, cache, name, at_zero=act.COURSE_AT_ZERO)
    x = tensor(A_prev, requires_grad=True)
    layer = OneLayer(W, b, dtype)
    (COURSE_TORCH_G[name](layer(x)) * tensor(dA)).sum().div(m).backward()
    assert cache[1][0, 0] == 0
    g = convert.grads_from_model(layer)
    assert_same("dW (course g'(0) = 1)", dW, g["dW1"], dtype)
    assert_same("db (course g'(0) = 1)", db, g["db1"], dtype)
    assert_same("dA_prev (course g'(0) = 1)", dA_prev, m * convert.to_numpy(x.grad), dtype)


@dtypes
@pytest.mark.parametrize("alpha", [0.01, 0.3])
@PARITY
@given(n_prev=sizes, n=sizes, m=batch_sizes, seed=seeds)
def test_F02_F15_leaky_relu_layer_with_alpha(alpha, dtype, n_prev, n, m, seed):
    A_prev, W, b, dA = layer_inputs(seed, n_prev, n, m, dtype)
    A, cache = layers.linear_activation_forward(A_prev, W, b, "leaky_relu", alpha=alpha)
    dA_prev, dW, db = layers.linear_activation_backward(dA, cache, "leaky_relu", alpha=alpha)
    x = tensor(A_prev, requires_grad=True)
    layer = OneLayer(W, b, dtype)
    a = F.leaky_relu(layer(x), alpha)
    (a * tensor(dA)).sum().div(m).backward()
    g = convert.grads_from_model(layer)
    assert_same("A", A, convert.to_numpy(a), dtype)
    assert_same("dW", dW, g["dW1"], dtype)
    assert_same("db", db, g["db1"], dtype)
    assert_same("dA_prev", dA_prev, m * convert.to_numpy(x.grad), dtype)


def test_F15_backward_returns_fresh_arrays_and_leaves_inputs_alone():
    """Gradients never accumulate across calls, and nothing given is mutated."""
    A_prev, W, b, dA = layer_inputs(7, 3, 2, 4, np.float64)
    kept = [A.copy() for A in (A_prev, W, b, dA)]
    _, cache = layers.linear_activation_forward(A_prev, W, b, "relu")
    first = layers.linear_activation_backward(dA, cache, "relu")
    second = layers.linear_activation_backward(dA, cache, "relu")
    for g1, g2 in zip(first, second):
        assert g1 is not g2 and np.array_equal(g1, g2)
    for before, after in zip(kept, (A_prev, W, b, dA)):
        assert np.array_equal(before, after)
