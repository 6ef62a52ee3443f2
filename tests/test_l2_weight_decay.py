"""F20: L2 regularization, its gradient, and its weight-decay form in torch.

The course's cost J + λ/(2m) Σ_l ‖W[l]‖²_F (weights only) has gradient dW + (λ/m)W,
so gradient descent is W := (1 - αλ/m)W - α·dW ("weight decay"): torch.optim.SGD with
weight_decay = λ/m on the weights only, biases in an undecayed group
(torch_ref.convert.sgd_param_groups / sgd_for). Decaying the biases too (the common
SGD(model.parameters(), weight_decay=...)) is a different update, shown below.
"""
import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from conftest import (PARITY, assert_network_parity, assert_same, assert_same_params, batch_sizes,
                      dtypes, labels, nets, normal, probabilities, random_params, seeds,
                      tensor)
from scratch import losses, network
from torch_ref import convert, models

lambdas = st.sampled_from([0.01, 0.7, 5.0])
learning_rates = st.sampled_from([0.01, 0.3, 1.2])


def setup(seed, net, m, dtype):
    rng = np.random.default_rng(seed)
    params = random_params(rng, net["layer_dims"], dtype)
    return params, normal(rng, (net["layer_dims"][0], m), dtype), labels(rng, m, dtype)


def torch_grads_without_l2(params, acts, X, Y):
    """dW, db of the unregularized cost J by autograd (the gold), and the model."""
    model = models.DeepNet.from_params(params, acts)
    F.binary_cross_entropy_with_logits(model(tensor(X)), tensor(Y)).backward()
    return convert.grads_from_model(model), model


@dtypes
@PARITY
@given(net=nets(), m=batch_sizes, lambd=lambdas, seed=seeds)
def test_F20_l2_penalty_and_gradient_match_autograd(dtype, net, m, lambd, seed):
    params, _, _ = setup(seed, net, m, dtype)
    L = len(net["activations"])
    P = losses.l2_penalty(params, lambd, m)                      # λ/(2m) Σ‖W‖², no biases
    dW = {f"W{l}": losses.l2_gradient(params[f"W{l}"], lambd, m) for l in range(1, L + 1)}
    W = {k: torch.tensor(params[k], requires_grad=True) for k in dW}
    p = lambd / (2 * m) * sum((w ** 2).sum() for w in W.values())
    p.backward()
    assert_same("L2 penalty", P, p, dtype)
    for k in W:
        assert_same(f"(λ/m) {k}", dW[k], W[k].grad.numpy(), dtype)


@dtypes
@PARITY
@given(m=batch_sizes, lambd=lambdas, seed=seeds)
def test_F20_cost_with_regularization_matches_torch(dtype, m, lambd, seed):
    rng = np.random.default_rng(seed)
    params = random_params(rng, [3, 4, 1], dtype)
    AL, Y = probabilities(rng, (1, m), dtype), labels(rng, m, dtype)
    J = losses.compute_cost_with_regularization(AL, Y, params, lambd)
    weights = [torch.tensor(params["W1"]), torch.tensor(params["W2"])]
    j = F.binary_cross_entropy(tensor(AL), tensor(Y)) + lambd / (2 * m) * sum((w ** 2).sum() for w in weights)
    assert_same("J + λ/(2m) Σ‖W‖²", J, j, dtype)


@dtypes
@PARITY
@given(net=nets(), m=batch_sizes, lambd=lambdas, seed=seeds)
def test_F20_backward_with_l2_matches_autograd(dtype, net, m, lambd, seed):
    params, X, Y = setup(seed, net, m, dtype)
    assert_network_parity(net, params, X, Y, dtype, lambd=lambd)


@dtypes
@PARITY
@given(net=nets(), m=batch_sizes, lambd=lambdas, lr=learning_rates, seed=seeds)
def test_F20_scratch_update_is_the_weight_decay_form(dtype, net, m, lambd, lr, seed):
    """update_parameters with dW + (λ/m)W equals (1 - αλ/m)W - α·dW, and equals one step of
    SGD(weight_decay=λ/m) on the weights only (convert.sgd_for) with autograd's dW."""
    params, X, Y = setup(seed, net, m, dtype)
    acts = net["activations"]
    AL, caches = network.model_forward(X, params, acts)
    new = network.update_parameters(params, network.model_backward(AL, Y, caches, lambd=lambd), lr)

    gold, model = torch_grads_without_l2(params, acts, X, Y)      # dW, db of J alone
    decay_form = {}
    for k in params:
        shrink = (1 - lr * lambd / m) if k.startswith("W") else 1.0
        decay_form[k] = shrink * params[k] - lr * gold["d" + k]
    convert.sgd_for(model, lr, lambd=lambd, m=m).step()
    assert_same_params("(1 - αλ/m)W - α·dW", new, decay_form, dtype)
    assert_same_params("SGD(weight_decay=λ/m) on weights only", new, model.to_params(), dtype)


@dtypes
@PARITY
@given(net=nets(), m=batch_sizes, lambd=lambdas, lr=learning_rates, seed=seeds)
def test_F20_decaying_biases_too_is_a_different_update(dtype, net, m, lambd, lr, seed):
    """SGD(model.parameters(), weight_decay=λ/m) also shrinks the biases: weights agree with
    the course, each bias is off by exactly α(λ/m)b."""
    params, X, Y = setup(seed, net, m, dtype)
    acts = net["activations"]
    AL, caches = network.model_forward(X, params, acts)
    new = network.update_parameters(params, network.model_backward(AL, Y, caches, lambd=lambd), lr)

    _, model = torch_grads_without_l2(params, acts, X, Y)
    torch.optim.SGD(model.parameters(), lr=lr, weight_decay=lambd / m).step()
    got = model.to_params()
    for l in range(1, len(acts) + 1):
        assert_same(f"W{l} (decayed either way)", new[f"W{l}"], got[f"W{l}"], dtype)
        b_off = new[f"b{l}"] - lr * (lambd / m) * params[f"b{l}"]
        assert_same(f"b{l} = course's b{l} - α(λ/m)b{l}", b_off, got[f"b{l}"], dtype)
        assert not np.allclose(new[f"b{l}"], got[f"b{l}"], rtol=0, atol=0)


@PARITY
@given(net=nets(), m=batch_sizes, lambd=lambdas, seed=seeds)
def test_F20_param_groups_decay_weights_only(net, m, lambd, seed):
    params, _, _ = setup(seed, net, m, np.float64)
    model = models.DeepNet.from_params(params, net["activations"])
    assert convert.l2_weight_decay(lambd, m) == lambd / m
    decayed, plain = convert.sgd_param_groups(model, lambd, m)
    assert decayed["weight_decay"] == lambd / m and plain["weight_decay"] == 0.0
    assert [id(p) for p in decayed["params"]] == [id(lin.weight) for lin in model.linears]
    assert [id(p) for p in plain["params"]] == [id(lin.bias) for lin in model.linears]
