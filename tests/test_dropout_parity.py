"""F22: inverted dropout, scratch against torch.

With the same masks the two sides must agree to the usual tolerances, forward and
backward, per layer. Without shared masks (torch's own nn.Dropout, scratch's own
draws) they can only agree in distribution: the kept fraction lies inside a
5-sigma binomial bound around keep_prob (fixed seeds, so the test is repeatable;
a correct implementation fails it with probability ~6e-7), every survivor is
scaled by exactly 1/keep_prob, and nothing is dropped at prediction time.

keep_prob is the probability of KEEPING a unit; nn.Dropout(p) takes p = 1 - keep_prob.
"""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import (PARITY, assert_network_parity, assert_same, batch_sizes, dropout_masks, dtypes,
                      labels, nets, normal, random_params, seeds, shapes, tensor)
from scratch import layers, network
from torch_ref import convert, models

keep_probs_st = st.sampled_from([0.1, 0.5, 0.8, 1.0])


def inside_binomial_bound(kept, n, keep_prob, sigmas=5.0):
    """|kept/n - keep_prob| <= sigmas · sqrt(keep_prob (1 - keep_prob) / n)."""
    bound = sigmas * np.sqrt(keep_prob * (1 - keep_prob) / n)
    why = f"kept {kept / n:.5f} of {n}, keep_prob {keep_prob}, bound {bound:.5f}"
    return abs(kept / n - keep_prob) <= bound, why


# ------------------------------------------------------ shared masks: exact


@dtypes
@PARITY
@given(shape=shapes, seed=seeds, keep_prob=keep_probs_st)
def test_F22_dropout_forward_backward_with_shared_mask(dtype, shape, seed, keep_prob):
    rng = np.random.default_rng(seed)
    A, dA = normal(rng, shape, dtype), normal(rng, shape, dtype)
    D = rng.random(shape) < keep_prob
    A_out, mask = layers.dropout_forward(A, keep_prob, mask=D)     # A * D / keep_prob
    dA_in = layers.dropout_backward(dA, D, keep_prob)               # dA * D / keep_prob
    a = tensor(A, requires_grad=True)
    a_out = a * convert.masks_to_torch([D])[0] / keep_prob
    a_out.backward(tensor(dA))
    assert np.array_equal(mask, D)
    assert_same("A * D / keep_prob", A_out, convert.to_numpy(a_out), dtype)
    assert_same("dA * D / keep_prob", dA_in, convert.to_numpy(a.grad), dtype)


@dtypes
@PARITY
@given(net=nets(min_layers=3), m=batch_sizes, seed=seeds,
       keep_probs=st.lists(keep_probs_st, min_size=3, max_size=3))
def test_F22_deep_network_with_per_layer_keep_probs_and_shared_masks(dtype, net, m, seed, keep_probs):
    """Each hidden layer its own keep_prob; Z[l], A[l], J, dW[l], db[l] per layer."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, net["layer_dims"], dtype)
    X, Y = normal(rng, (net["layer_dims"][0], m), dtype), labels(rng, m, dtype)
    keep_probs = keep_probs[:len(net["activations"]) - 1]
    masks = dropout_masks(rng, net["layer_dims"], m, keep_probs)
    assert_network_parity(net, params, X, Y, dtype, keep_probs=keep_probs, masks=masks)


def test_F22_backward_uses_the_mask():
    """A backward that forgot its mask (numpy-ml #94) is caught: dropped units get no gradient."""
    rng = np.random.default_rng(22)
    dA = normal(rng, (4, 5), np.float64)
    D = rng.random((4, 5)) < 0.5
    D[0, 0], D[0, 1] = False, True
    dA_in = layers.dropout_backward(dA, D, 0.5)
    assert np.all(dA_in[~D] == 0) and np.all(dA_in[D] == dA[D] / 0.5)


# ------------------------------------------------ own draws: by statistics

STAT_M, STAT_N = 2000, 50            # 100 000 units per hidden layer


@pytest.mark.parametrize("keep_prob", [0.5, 0.8])
def test_F22_nn_dropout_in_deepnet_by_statistics(keep_prob):
    """DeepNet without masks, train mode: torch's nn.Dropout(p = 1 - keep_prob)."""
    rng = np.random.default_rng(0)
    dims, acts = [3, STAT_N, STAT_N, 1], ["sigmoid", "sigmoid", "sigmoid"]
    params = random_params(rng, dims, np.float64)
    X = normal(rng, (3, STAT_M), np.float64)
    model = models.DeepNet.from_params(params, acts, keep_probs=[keep_prob, keep_prob])
    x = tensor(X)
    assert all(d.p == pytest.approx(1 - keep_prob) for d in model.dropouts)
    model.train()
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(1234)
        outs = model.layer_outputs(x)
    for l, (z, a) in enumerate(outs[:-1], start=1):
        g = torch.sigmoid(z)                             # > 0 everywhere: 0 in a means dropped
        kept = a != 0
        ok, why = inside_binomial_bound(int(kept.sum()), kept.numel(), keep_prob)
        assert ok, f"layer {l}: {why}"
        assert_same(f"survivors of layer {l} = g(Z)/keep_prob", a[kept].numpy(),
                    g[kept].numpy() / keep_prob, np.float64)

    # prediction: no dropout, in eval mode as in predict_proba, equal to scratch without dropout
    AL, _ = network.model_forward(X, params, acts)
    model.eval()
    with torch.no_grad():
        a_eval = model.layer_outputs(x)[-1][1]
    assert_same("eval-mode A[L] = scratch A[L] without dropout", AL, convert.to_numpy(a_eval), np.float64)
    model.train()
    assert_same("predict_proba (train mode) = scratch A[L] without dropout", AL,
                convert.to_numpy(model.predict_proba(x)), np.float64)
    assert np.array_equal(network.predict(X, params, acts), convert.to_numpy(model.predict(x)))


@pytest.mark.parametrize("keep_prob", [0.5, 0.8])
def test_F22_scratch_drawn_masks_by_statistics(keep_prob):
    rng = np.random.default_rng(0)
    A = normal(rng, (STAT_N, STAT_M), np.float64)
    A_out, mask = layers.dropout_forward(A, keep_prob, rng=np.random.default_rng(1234))
    ok, why = inside_binomial_bound(int(mask.sum()), mask.size, keep_prob)
    assert ok, why
    assert mask.dtype == np.bool_ and mask.shape == A.shape
    assert np.all(A_out[~mask] == 0)
    assert_same("survivors = A/keep_prob", A_out[mask], A[mask] / keep_prob, np.float64)

    # through the network: each hidden layer draws its own mask from rng
    dims, acts = [3, STAT_N, STAT_N, 1], ["relu", "tanh", "sigmoid"]
    params = random_params(rng, dims, np.float64)
    X = normal(rng, (3, STAT_M), np.float64)
    _, caches = network.model_forward(X, params, acts, keep_probs=[keep_prob, keep_prob],
                                      rng=np.random.default_rng(99))
    for l, cache in enumerate(caches[:-1], start=1):
        D = cache["mask"]
        ok, why = inside_binomial_bound(int(D.sum()), D.size, keep_prob)
        assert ok, f"layer {l}: {why}"
    assert not np.array_equal(caches[0]["mask"], caches[1]["mask"])   # a fresh draw per layer
    assert caches[-1]["mask"] is None                                   # none on the output layer


def test_F22_binomial_bound_can_fail():
    """The control: a keep fraction off by 1% of 100 000 units is outside the bound."""
    assert not inside_binomial_bound(81_000, 100_000, 0.8)[0]
    assert inside_binomial_bound(80_100, 100_000, 0.8)[0]


@PARITY
@given(net=nets(min_layers=2), m=batch_sizes, seed=seeds)
def test_F22_no_dropout_at_prediction(net, m, seed):
    """scratch predict ignores dropout; so does DeepNet in eval mode (same logits as a
    DeepNet without keep_probs)."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, net["layer_dims"], np.float64)
    X = normal(rng, (net["layer_dims"][0], m), np.float64)
    acts = net["activations"]
    keep_probs = [0.5] * (len(acts) - 1)
    AL, _ = network.model_forward(X, params, acts)
    model = models.DeepNet.from_params(params, acts, keep_probs=keep_probs).eval()
    x = tensor(X)
    assert_same("A[L], eval mode", AL, convert.to_numpy(torch.sigmoid(model(x))), np.float64)
    assert np.array_equal(network.predict(X, params, acts), (AL > 0.5).astype(int))
    assert np.array_equal(network.predict(X, params, acts), convert.to_numpy(model.predict(x)))
