"""F13-F17, F19 (and F22 through the network): scratch's L-layer network against
torch_ref.models.DeepNet built from the same parameters, layer by layer.

The NumPy half runs model_forward / model_backward; the torch half runs
DeepNet.layer_outputs and autograd of torch's own cost,
F.binary_cross_entropy_with_logits (mean over m). Per layer l we compare Z[l],
A[l] (after dropout for hidden layers: what layer l+1 sees), then dW[l], db[l].
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from conftest import (PARITY, assert_network_parity, assert_same_params, batch_sizes, copy_params,
                      dropout_masks, dtypes, labels, nets, normal, random_params, seeds, tensor,
                      trajectory_tol)
from scratch import network
from torch_ref import convert, models

keep_prob_lists = st.sampled_from([0.5, 0.8, 1.0])


def net_inputs(seed, net, m, dtype):
    """rng (for masks), params (non-zero biases), X (n_x, m) ~ N(0, 1), Y (1, m) in {0, 1}."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, net["layer_dims"], dtype)
    X = normal(rng, (net["layer_dims"][0], m), dtype)
    # hard spot: exact zeros in Z[1] (relu's kink) where an example is all zeros and b[1] is 0
    X[:, rng.random(m) < 0.2] = 0
    params["b1"][rng.random(params["b1"].shape) < 0.3] = 0
    return rng, params, X, labels(rng, m, dtype)


# ------------------------------------------------------- F14, F15, F16, F17


@dtypes
@PARITY
@given(net=nets(), m=batch_sizes, seed=seeds)
def test_F14_F15_deep_network_matches_deepnet_autograd(dtype, net, m, seed):
    _, params, X, Y = net_inputs(seed, net, m, dtype)
    assert_network_parity(net, params, X, Y, dtype)


@dtypes
@pytest.mark.parametrize("hidden", ["tanh", "relu"])
@PARITY
@given(n_x=st.integers(1, 4), n_h=st.integers(1, 8), m=batch_sizes, seed=seeds)
def test_F17_shallow_network_matches_autograd(hidden, dtype, n_x, n_h, m, seed):
    """The course's one-hidden-layer network is the L = 2 case."""
    net = {"layer_dims": [n_x, n_h, 1], "activations": [hidden, "sigmoid"]}
    _, params, X, Y = net_inputs(seed, net, m, dtype)
    assert_network_parity(net, params, X, Y, dtype)


@dtypes
@PARITY
@given(net=nets(min_layers=2), m=batch_sizes, seed=seeds, kp=keep_prob_lists)
def test_F22_network_with_shared_dropout_masks_matches_deepnet(dtype, net, m, seed, kp):
    rng, params, X, Y = net_inputs(seed, net, m, dtype)
    keep_probs = [kp] * (len(net["activations"]) - 1)
    masks = dropout_masks(rng, net["layer_dims"], m, keep_probs)
    assert_network_parity(net, params, X, Y, dtype, keep_probs=keep_probs, masks=masks)


@dtypes
@PARITY
@given(net=nets(), m=batch_sizes, seed=seeds)
def test_F16_general_output_form_matches_autograd_through_probabilities(dtype, net, m, seed):
    """dA[L] = -(Y/A) + (1-Y)/(1-A), then dZ[L] = dA[L] σ'(Z[L]): the gradient of
    F.binary_cross_entropy(σ(z), y) (non-saturated: |Z[L]| of a few units here)."""
    _, params, X, Y = net_inputs(seed, net, m, dtype)
    acts = net["activations"]
    AL, caches = network.model_forward(X, params, acts)
    general = network.model_backward(AL, Y, caches, output="general")
    fused = network.model_backward(AL, Y, caches, output="fused")
    model = models.DeepNet.from_params(params, acts)
    F.binary_cross_entropy(torch.sigmoid(model(tensor(X))), tensor(Y)).backward()
    gold = convert.grads_from_model(model)
    assert_same_params("general form", general, gold, dtype)
    assert_same_params("fused form", fused, gold, dtype)


@dtypes
@PARITY
@given(net=nets(), m=batch_sizes, seed=seeds, sign=st.sampled_from([-1.0, 1.0]))
def test_F16_fused_output_form_stays_exact_at_saturation(dtype, net, m, seed, sign):
    """With b[L] = ±800, A[L] is exactly 0 or 1: the general form divides by 0, the fused
    dZ[L] = A - Y is still the gradient of F.binary_cross_entropy_with_logits."""
    _, params, X, Y = net_inputs(seed, net, m, dtype)
    L = len(net["activations"])
    params[f"b{L}"] = np.full_like(params[f"b{L}"], sign * 800.0)
    assert_network_parity(net, params, X, Y, dtype)
    AL, _ = network.model_forward(X, params, net["activations"])
    assert np.all((AL == 0) | (AL == 1))


# ------------------------------------------------------------------ F13


@dtypes
@PARITY
@given(net=nets(), seed=seeds, lr=st.sampled_from([0.001, 0.1, 1.5]))
def test_F13_update_matches_torch_sgd_one_step(dtype, net, seed, lr):
    """θ := θ - α dθ, fed the same gradients on both sides (convert.set_grads)."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, net["layer_dims"], dtype)
    grads = {"d" + k: normal(rng, v.shape, dtype) for k, v in params.items()}
    before, grads_before = copy_params(params), copy_params(grads)
    new = network.update_parameters(params, grads, lr)
    model = models.DeepNet.from_params(params, net["activations"])
    convert.set_grads(model, grads)
    torch.optim.SGD(model.parameters(), lr=lr).step()
    assert_same_params("after one step", new, model.to_params(), dtype)
    for k in params:                                              # inputs left unchanged
        assert np.array_equal(params[k], before[k]) and np.array_equal(grads["d" + k], grads_before["d" + k])


# ------------------------------------------------------------------ F19


def scratch_descent(X, Y, params, acts, lr, steps):
    for _ in range(steps):
        AL, caches = network.model_forward(X, params, acts)
        params = network.update_parameters(params, network.model_backward(AL, Y, caches), lr)
    return params


def assert_units_identical(params, label):
    """Every hidden unit of a layer is the same: rows of W[l] and entries of b[l] equal, and
    the columns of W[l+1] reading those units equal (to a few ulps: BLAS may order sums)."""
    L = len(params) // 2
    for l in range(1, L):
        W, b, W_next = params[f"W{l}"], params[f"b{l}"], params[f"W{l + 1}"]
        np.testing.assert_allclose(W, np.broadcast_to(W[:1], W.shape), rtol=1e-12, atol=1e-15,
                                   err_msg=f"{label}: rows of W{l} differ")
        np.testing.assert_allclose(b, np.broadcast_to(b[:1], b.shape), rtol=1e-12, atol=1e-15,
                                   err_msg=f"{label}: entries of b{l} differ")
        np.testing.assert_allclose(W_next, np.broadcast_to(W_next[:, :1], W_next.shape), rtol=1e-12,
                                   atol=1e-15, err_msg=f"{label}: columns of W{l + 1} differ")


@pytest.mark.parametrize("init, value, hidden", [("zeros", 0.0, "sigmoid"), ("constant", 0.3, "tanh"),
                                                 ("constant", 0.3, "relu")])
def test_F19_symmetric_init_keeps_hidden_units_identical(init, value, hidden):
    """With every W[l] equal to one constant (0: the zero init) and b = 0, gradient descent
    moves all units of a layer together: training never breaks the symmetry, in scratch
    and in torch alike."""
    rng = np.random.default_rng(19)
    dims, acts = [3, 5, 4, 1], [hidden, hidden, "sigmoid"]
    X = normal(rng, (3, 40), np.float64)
    Y = (X[:1] + 0.5 * X[1:2] > 0.2).astype(np.float64)   # learnable, and not half ones
    assert Y.mean() != 0.5                  # else the zero init has zero gradient: nothing moves
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = np.full((dims[l], dims[l - 1]), value)
        params[f"b{l}"] = np.zeros((dims[l], 1))
    trained = scratch_descent(X, Y, params, acts, lr=0.5, steps=50)
    model = models.DeepNet.from_params(params, acts)
    from torch_ref import train_loop
    train_loop.train_plain(model, X, Y, learning_rate=0.5, num_iterations=50)
    assert_units_identical(trained, "scratch")
    assert_units_identical(model.to_params(), "torch")
    assert_same_params("scratch vs torch after 50 steps", trained, model.to_params(), np.float64,
                       trajectory_tol())
    assert not np.array_equal(trained["W1"], params["W1"])            # the units did move


def test_F19_random_init_breaks_the_symmetry():
    """The control: the same run from a random init leaves the hidden units different."""
    rng = np.random.default_rng(19)
    dims, acts = [3, 5, 4, 1], ["tanh", "tanh", "sigmoid"]
    X = normal(rng, (3, 40), np.float64)
    Y = (X[:1] + 0.5 * X[1:2] > 0.2).astype(np.float64)
    trained = scratch_descent(X, Y, random_params(rng, dims, np.float64), acts, lr=0.5, steps=50)
    with pytest.raises(AssertionError):
        assert_units_identical(trained, "random init")
