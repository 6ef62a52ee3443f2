"""F30: gradient checking, and the scratch gradients against torch autograd.

scratch.gradcheck.gradient_check compares backprop with the two-sided difference
(J(θ + εe_i) - J(θ - εe_i))/(2ε) by ‖g - g̃‖/(‖g‖ + ‖g̃‖), which must be below
torch_ref.parity.GRADCHECK = 1e-7 in float64. Smooth activations only (sigmoid,
tanh, identity): at a kink of relu the difference quotient straddles two slopes.
The cost is the one training uses, scratch.network.model_cost (with L2, with
dropout masks held fixed). A planted bug must make the check fail.

Resolution: each difference quotient carries a rounding error of about
eps·|J|/ε ≈ 2e-16 · 0.7 / 1e-7 ≈ 1.5e-9, so for a correct gradient the relative
difference is about 1e-9·√n / ‖g‖; with ‖g‖ below ~0.05 it approaches 1e-7 however
right the backward pass is (measured: 5.8e-8 at ‖g‖ = 0.016). The property tests
therefore keep to problems whose gradient is resolvable, ‖g‖ >= MIN_GRAD_NORM.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings

from conftest import (PARITY, SMOOTH, assert_network_parity, batch_sizes, dropout_masks, labels, nets,
                      normal, random_params, seeds, tensor)
from scratch import gradcheck, network
from torch_ref import models, parity

GRADCHECK_SETTINGS = settings(PARITY, max_examples=15)   # each check runs 2n forward passes
MIN_GRAD_NORM = 0.05


def problem(seed, net, m, with_dropout=False):
    rng = np.random.default_rng(seed)
    dims = net["layer_dims"]
    params = random_params(rng, dims, np.float64)
    X, Y = normal(rng, (dims[0], m), np.float64), labels(rng, m, np.float64)
    keep_probs = [0.7] * (len(dims) - 2) if with_dropout else None
    masks = dropout_masks(rng, dims, m, keep_probs) if with_dropout else None
    return params, X, Y, keep_probs, masks


def scratch_check(params, X, Y, acts, lambd=0.0, keep_probs=None, masks=None):
    AL, caches = network.model_forward(X, params, acts, keep_probs=keep_probs, masks=masks)
    grads = network.model_backward(AL, Y, caches, lambd=lambd)

    def cost_fn(p):
        return network.model_cost(X, Y, p, acts, lambd=lambd, keep_probs=keep_probs, masks=masks)
    return gradcheck.gradient_check(params, grads, cost_fn), grads


def test_F30_threshold_is_the_named_constant():
    assert gradcheck.GRADCHECK_THRESHOLD == parity.GRADCHECK == 1e-7


@pytest.mark.parametrize("case", ["plain", "l2", "dropout", "l2+dropout"])
@GRADCHECK_SETTINGS
@given(net=nets(hidden=SMOOTH, min_layers=2), m=batch_sizes, seed=seeds)
def test_F30_gradient_check_passes_and_grads_equal_autograd(case, net, m, seed):
    lambd = 0.7 if "l2" in case else 0.0
    params, X, Y, keep_probs, masks = problem(seed, net, m, with_dropout="dropout" in case)
    difference, grads = scratch_check(params, X, Y, net["activations"], lambd, keep_probs, masks)
    assume(np.linalg.norm(gradcheck.gradients_to_vector(grads)) >= MIN_GRAD_NORM)
    assert difference < parity.GRADCHECK, f"{case}: relative difference {difference:.3g}"
    assert_network_parity(net, params, X, Y, np.float64, keep_probs=keep_probs, masks=masks, lambd=lambd)


@pytest.mark.parametrize("bug", ["dW doubled", "dropout backward without its mask"])
def test_F30_planted_bug_fails_the_gradient_check(bug, monkeypatch):
    net = {"layer_dims": [3, 5, 4, 1], "activations": ["tanh", "sigmoid", "sigmoid"]}
    params, X, Y, keep_probs, masks = problem(30, net, 6, with_dropout=True)
    before, _ = scratch_check(params, X, Y, net["activations"], 0.0, keep_probs, masks)
    assert before < parity.GRADCHECK

    if bug == "dW doubled":
        real = network._linear_backward

        def planted(*args, **kwargs):
            dA_prev, dW, db = real(*args, **kwargs)
            return dA_prev, 2 * dW, db
        monkeypatch.setattr(network, "_linear_backward", planted)
    else:
        monkeypatch.setattr(network, "_dropout_backward", lambda dA, mask, keep_prob, out=None: dA / keep_prob)
    after, _ = scratch_check(params, X, Y, net["activations"], 0.0, keep_probs, masks)
    assert after > 1e-3, f"planted bug '{bug}' not caught: relative difference {after:.3g}"


def test_F30_doubled_gradient_fails_directly():
    net = {"layer_dims": [2, 3, 1], "activations": ["tanh", "sigmoid"]}
    params, X, Y, _, _ = problem(31, net, 5)
    _, grads = scratch_check(params, X, Y, net["activations"])
    grads["dW1"] = 2 * grads["dW1"]
    difference = gradcheck.gradient_check(
        params, grads, lambda p: network.model_cost(X, Y, p, net["activations"]))
    assert difference > 1e-3


@pytest.mark.parametrize("with_dropout", [False, True], ids=["plain", "masks"])
@settings(PARITY, max_examples=10)
@given(net=nets(hidden=SMOOTH + ("relu", "leaky_relu"), min_layers=2), m=batch_sizes, seed=seeds)
def test_F30_torch_gradcheck_on_deepnet(with_dropout, net, m, seed):
    """torch.autograd.gradcheck (float64) on DeepNet's cost as a function of every weight,
    bias and the input (relu is fine here: random inputs miss its kink almost surely)."""
    params, X, Y, keep_probs, masks = problem(seed, net, m, with_dropout=with_dropout)
    model = models.DeepNet.from_params(params, net["activations"], keep_probs=keep_probs)
    names = [n for n, _ in model.named_parameters()]
    masks_t = None
    if with_dropout:
        from torch_ref import convert
        masks_t = convert.masks_to_torch(masks)
    y = tensor(Y)

    def cost(x, *theta):
        out = torch.func.functional_call(model, dict(zip(names, theta)), (x,), {"masks": masks_t})
        return F.binary_cross_entropy_with_logits(out, y)
    inputs = (tensor(X, requires_grad=True),) + tuple(
        p.detach().clone().requires_grad_(True) for p in model.parameters())
    assert torch.autograd.gradcheck(cost, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)
