"""F39: softmax regression against torch. scratch's softmax, its cost from logits and from probabilities,
the fused dZ[L] = A[L] - Y and whole softmax networks against F.softmax, F.cross_entropy (logits and
CLASS INDICES, where the course has probabilities and ONE-HOT labels) and autograd, in float64 and
float32, with the hard spots: |z| up to 1e3, m = 1, C = 2.

The torch half is torch's own functions (F.softmax(dim=1), F.cross_entropy, F.nll_loss, autograd),
never torch_ref code that calls scratch.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from conftest import (HIDDEN, PARITY, assert_same, dtypes, hard_array, normal, random_params, seeds, sizes,
                      tensor)
from scratch import activations as act, losses, network
from scratch.gradcheck import GRADCHECK_THRESHOLD, gradient_check
from torch_ref import convert, functional
from torch_ref.models import DeepNet

classes = st.integers(min_value=2, max_value=10)                       # C >= 2
batch = st.one_of(st.just(1), st.integers(min_value=2, max_value=40))  # m, m = 1 often


def one_hot(rng, C, m, dtype):
    """Y one-hot (C, m) and the class indices (m,) it encodes (drawn here, not by the code under test)."""
    idx = rng.integers(0, C, size=m)
    Y = np.zeros((C, m), dtype=dtype)
    Y[idx, np.arange(m)] = 1
    return Y, idx


# ------------------------------------------------------------------ softmax itself

@dtypes
@PARITY
@given(C=classes, m=batch, seed=seeds)
def test_F39_softmax_matches_F_softmax_over_classes(dtype, C, m, seed):
    """scratch: over the rows of (C, m) (down each column); torch: dim=1 of batch-first (m, C)."""
    Z = hard_array(np.random.default_rng(seed), (C, m), dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        A = act.softmax(Z)
    assert_same("softmax(Z)", A, convert.to_numpy(F.softmax(tensor(Z), dim=1)), dtype)
    assert_same("columns sum to 1", A.sum(axis=0), np.ones(m, dtype), dtype)


@dtypes
def test_F39_softmax_exact_values_at_huge_logits(dtype):
    """e^(z - max): ±1e3 (e^1000 overflows float64, e^89 float32) gives exactly one-hot columns, no warning;
    equal logits give 1/C exactly; a constant shift changes nothing."""
    Z = np.array([[1e3, -1e3, 0.0, 5.0], [-1e3, 1e3, 0.0, 5.0 + 1e3], [-1e3, -1e3, 0.0, 5.0]], dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        A = act.softmax(Z)
    gold = F.softmax(tensor(Z), dim=1)
    want = np.array([[1, 0, 1 / 3, 0], [0, 1, 1 / 3, 1], [0, 0, 1 / 3, 0]], dtype=dtype)
    np.testing.assert_array_equal(A[:, :2], want[:, :2])
    assert_same("softmax at ±1e3", A, convert.to_numpy(gold), dtype)
    assert_same("softmax(Z) = 1/C for equal logits", A[:, 2], want[:, 2], dtype)
    assert_same("softmax(Z + c) = softmax(Z)", act.softmax(Z + dtype(7)), A, dtype)


def test_F39_softmax_is_not_a_hidden_activation():
    with pytest.raises(ValueError, match="output layer"):
        DeepNet([3, 4, 2], ["softmax", "softmax"])
    with pytest.raises(ValueError, match="activation"):
        functional.activation("softmax")                        # only with output=True
    assert functional.activation("softmax", output=True) is functional.softmax
    with pytest.raises(ValueError, match=r"C = layer_dims\[-1\] >= 2"):
        DeepNet([3, 1], ["softmax"])


# ------------------------------------------------------------------ the cost and dZ

@dtypes
@PARITY
@given(C=classes, m=batch, seed=seeds)
def test_F39_cost_from_logits_and_dZ_match_cross_entropy_with_class_indices(dtype, C, m, seed):
    """J = (1/m) Σ_i [lse(z_i) - Σ_k y_ik z_ik] against F.cross_entropy(z, class indices), and its gradient
    dJ/dZ = (A - Y)/m (the fused dZ[L] = A - Y with J's 1/m) against autograd, for logits up to ±1e3."""
    rng = np.random.default_rng(seed)
    ZL = hard_array(rng, (C, m), dtype)
    Y, idx = one_hot(rng, C, m, dtype)
    z = tensor(ZL, requires_grad=True)
    J = F.cross_entropy(z, torch.as_tensor(idx))
    J.backward()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        mine = losses.softmax_cost_from_logits(ZL, Y)
        dZ = (act.softmax(ZL) - Y) / m
    assert np.isfinite(mine)
    assert_same("J from logits", mine, J, dtype)
    assert_same("dZ = (A - Y)/m", dZ, convert.to_numpy(z.grad), dtype)
    # torch's second spelling: a (m, C) probability target (here one-hot) instead of class indices
    assert_same("J vs cross_entropy(one-hot target)", mine, F.cross_entropy(tensor(ZL), tensor(Y)), dtype)
    # the torch_ref twin is exactly that call
    assert torch.equal(functional.softmax_cost_from_logits(tensor(ZL), tensor(Y)), J.detach())
    assert torch.equal(functional.data_cost(tensor(ZL), tensor(Y), "softmax"), J.detach())


@dtypes
def test_F39_cost_at_huge_logits_exact(dtype):
    """m = 1: the true class 1e3 below the other: J = 2000 exactly (a = e^-2000 underflows to 0, where the
    cost from probabilities is inf); the true class on top: J = 0 exactly. No warning either way."""
    ZL = np.array([[-1e3, 1e3], [1e3, -1e3]], dtype=dtype)      # two examples (columns)
    Y = np.array([[1, 1], [0, 0]], dtype=dtype)                  # class 0 for both
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        wrong = losses.softmax_cost_from_logits(ZL[:, :1], Y[:, :1])
        right = losses.softmax_cost_from_logits(ZL[:, 1:], Y[:, 1:])
    assert wrong == 2000.0 and right == 0.0
    assert F.cross_entropy(tensor(ZL[:, :1]), torch.tensor([0])).item() == 2000.0
    assert F.cross_entropy(tensor(ZL[:, 1:]), torch.tensor([0])).item() == 0.0
    assert losses.softmax_cost(act.softmax(ZL[:, :1]), Y[:, :1]) == np.inf
    assert functional.softmax_cost(F.softmax(tensor(ZL[:, :1]), dim=1), tensor(Y[:, :1])).item() == np.inf


@dtypes
@PARITY
@given(C=classes, m=batch, seed=seeds)
def test_F39_cost_from_probabilities_matches_nll_of_log(dtype, C, m, seed):
    """-(1/m) ΣΣ y log a (the course's formula) against F.nll_loss(log a, class indices), for
    probabilities away from 0 (|z| <= 8)."""
    rng = np.random.default_rng(seed)
    AL = act.softmax(rng.uniform(-8, 8, (C, m)).astype(dtype))
    Y, idx = one_hot(rng, C, m, dtype)
    gold = F.nll_loss(torch.log(tensor(AL)), torch.as_tensor(idx))
    assert_same("J from probabilities", losses.softmax_cost(AL, Y), gold, dtype)
    assert_same("functional.softmax_cost", losses.softmax_cost(AL, Y), functional.softmax_cost(tensor(AL), tensor(Y)),
                dtype)


def test_softmax_cost_rejects_labels_that_do_not_fit():
    z = torch.zeros(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"y_onehot must be one-hot labels \(m, C\) shaped like zL \(4, 3\)"):
        functional.softmax_cost_from_logits(z, torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="output must be one of"):
        functional.data_cost(z, z, "tanh")


# ------------------------------------------------------------ one-hot ⇄ class indices

@PARITY
@given(C=classes, m=batch, seed=seeds)
def test_one_hot_indices_round_trip_is_exact(C, m, seed):
    Y, idx = one_hot(np.random.default_rng(seed), C, m, np.float64)
    t = convert.one_hot_to_indices(Y)
    assert t.dtype == torch.int64 and tuple(t.shape) == (m,)
    np.testing.assert_array_equal(t.numpy(), idx)
    back = convert.indices_to_one_hot(t, C)
    assert back.dtype == Y.dtype and np.array_equal(back, Y)
    np.testing.assert_array_equal(losses.one_hot(idx, C), Y)


def test_one_hot_to_indices_rejects_non_one_hot():
    with pytest.raises(ValueError, match="exactly one 1 per column"):
        convert.one_hot_to_indices(np.array([[1.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        convert.one_hot_to_indices(np.array([[0.5, 1.0], [0.5, 0.0]]))
    with pytest.raises(ValueError, match="C >= 2"):
        convert.one_hot_to_indices(np.ones((1, 3)))


# ------------------------------------------------------------------ softmax networks

@st.composite
def softmax_nets(draw, max_layers=3):
    """[n_x, n[1], ..., C] with L in 1..max_layers, hidden activations from conftest.HIDDEN, softmax output."""
    L = draw(st.integers(min_value=1, max_value=max_layers))
    dims = [draw(sizes) for _ in range(L)] + [draw(classes)]
    acts = [draw(st.sampled_from(HIDDEN)) for _ in range(L - 1)] + ["softmax"]
    return {"layer_dims": dims, "activations": acts}


def softmax_inputs(seed, net, m, dtype):
    rng = np.random.default_rng(seed)
    params = random_params(rng, net["layer_dims"], dtype)
    X = normal(rng, (net["layer_dims"][0], m), dtype)
    if m > 1 and dtype == np.float64:
        # large logits in one example. Not in float32: dW[l] = (1/m) Σ_i dZ_i A_iᵀ then sums terms 100×
        # larger than the result, whose float32 rounding (~1e-5 of the terms) is past F32's tolerance;
        # large logits in float32 are test_F39_cost_from_logits_... and test_F39_float32_large_logits_network
        X[:, -1] *= 100
    return params, X, one_hot(rng, net["layer_dims"][-1], m, dtype)[0]


@dtypes
@PARITY
@given(net=softmax_nets(), m=batch, seed=seeds, lambd=st.sampled_from([0.0, 0.7]))
def test_F39_softmax_network_matches_deepnet_and_cross_entropy(dtype, net, m, seed, lambd):
    """model_forward / model_backward / model_cost with a softmax output against DeepNet + autograd of
    F.cross_entropy(logits, class indices) + λ/(2m) Σ‖W‖², layer by layer."""
    params, X, Y = softmax_inputs(seed, net, m, dtype)
    acts = net["activations"]
    AL, caches = network.model_forward(X, params, acts)
    grads = network.model_backward(AL, Y, caches, lambd=lambd)
    J = network.model_cost(X, Y, params, acts, lambd=lambd)

    model = DeepNet.from_params(params, acts)
    outs = model.layer_outputs(tensor(X))
    idx = torch.as_tensor(Y.argmax(axis=0))
    j = F.cross_entropy(outs[-1][0], idx) + lambd / (2 * m) * sum((lin.weight ** 2).sum() for lin in model.linears)
    j.backward()
    for l, (c, (z, a)) in enumerate(zip(caches, outs), start=1):
        assert_same(f"Z[{l}]", c["linear_activation"][1], convert.to_numpy(z), dtype)
    assert_same("A[L] = softmax(Z[L])", AL, convert.to_numpy(outs[-1][1]), dtype)
    assert_same("J", J, j, dtype)
    gold = convert.grads_from_model(model)
    assert sorted(gold) == sorted(grads)
    for k in grads:
        assert_same(k, grads[k], gold[k], dtype)


@dtypes
@PARITY
@given(net=softmax_nets(), m=batch, seed=seeds)
def test_F39_predict_matches_deepnet_argmax(dtype, net, m, seed):
    params, X, _ = softmax_inputs(seed, net, m, dtype)
    acts = net["activations"]
    model = DeepNet.from_params(params, acts)
    pred = model.predict(tensor(X))
    assert pred.dtype == torch.int64 and tuple(pred.shape) == (m, 1)
    np.testing.assert_array_equal(network.predict(X, params, acts), convert.to_numpy(pred))
    proba = model.predict_proba(tensor(X)).detach()
    assert_same("predict_proba rows sum to 1", proba.sum(dim=1).numpy(), np.ones(m, dtype), dtype)
    np.testing.assert_array_equal(pred[:, 0].numpy(), torch.argmax(model(tensor(X)), dim=1).numpy())


def test_F39_predict_ties_pick_the_first_class_on_both_sides():
    """All logits equal (W = 0, b = 0): every class has a = 1/C; NumPy's and torch's argmax both take
    the first maximum, class 0."""
    params = {"W1": np.zeros((4, 3)), "b1": np.zeros((4, 1))}
    X = np.random.default_rng(0).standard_normal((3, 5))
    np.testing.assert_array_equal(network.predict(X, params, ["softmax"]), np.zeros((1, 5), int))
    assert DeepNet.from_params(params, ["softmax"]).predict(tensor(X)).eq(0).all()


def test_F39_gradient_check_of_softmax_network():
    """scratch's backward against its own cost by finite differences, below DESIGN's 1e-7 in float64
    (a planted 1 % error in one gradient is flagged), and against torch.autograd.gradcheck's verdict on
    torch's cost of the same θ."""
    net = {"layer_dims": [3, 5, 4, 3], "activations": ["tanh", "sigmoid", "softmax"]}
    params, X, Y = softmax_inputs(1, net, 6, np.float64)
    acts, lambd = net["activations"], 0.4
    AL, caches = network.model_forward(X, params, acts)
    grads = network.model_backward(AL, Y, caches, lambd=lambd)

    def cost(p):
        return network.model_cost(X, Y, p, acts, lambd=lambd)
    assert gradient_check(params, grads, cost) < GRADCHECK_THRESHOLD
    wrong = dict(grads, db3=grads["db3"] * 1.01)
    assert gradient_check(params, wrong, cost) > GRADCHECK_THRESHOLD

    model = DeepNet.from_params(params, acts)
    names = list(model.state_dict())
    x, idx = tensor(X), torch.as_tensor(Y.argmax(axis=0))

    def J(*ps):
        z = torch.func.functional_call(model, dict(zip(names, ps)), (x,))
        return F.cross_entropy(z, idx) + lambd / 12 * sum((q ** 2).sum() for q in ps if q.ndim == 2)
    leaves = tuple(t.clone().requires_grad_(True) for t in model.state_dict().values())
    assert torch.autograd.gradcheck(J, leaves, eps=1e-6, atol=1e-7)


@dtypes
def test_F39_float32_large_logits_network(dtype):
    """A softmax output fed logits in the hundreds (inputs × 1e3): cost and gradients still agree."""
    rng = np.random.default_rng(7)
    params = random_params(rng, [2, 3], dtype)
    X = (1e3 * rng.standard_normal((2, 5))).astype(dtype)
    Y, idx = one_hot(rng, 3, 5, dtype)
    AL, caches = network.model_forward(X, params, ["softmax"])
    assert np.abs(caches[0]["linear_activation"][1]).max() > 100
    grads = network.model_backward(AL, Y, caches)
    model = DeepNet.from_params(params, ["softmax"])
    j = F.cross_entropy(model(tensor(X)), torch.as_tensor(idx))
    j.backward()
    assert_same("J", network.model_cost(X, Y, params, ["softmax"]), j, dtype)
    gold = convert.grads_from_model(model)
    for k in grads:
        assert_same(k, grads[k], gold[k], dtype)
