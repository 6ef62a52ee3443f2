"""torch_ref.convert — where the course's columns meet torch's batch-first rows — and the two
things built on it: DeepNet (from_params / to_params, init, dropout) and train_plain.

Every conversion must be exact (a transpose, a reshape, a copy), so round trips are
compared with ==, not with a tolerance.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratch import network
from scratch.initializers import INIT_STD
from scratch.train import train
from torch_ref import convert
from torch_ref.models import DeepNet, LogisticRegression
from torch_ref.parity import TRAJECTORY_RTOL, Tolerance, assert_parity, compare_all
from torch_ref.train_loop import train_plain

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
DTYPES = [np.float64, np.float32]

layer_dims = st.lists(st.integers(1, 7), min_size=2, max_size=5)


def random_params(rng, dims, dtype):
    """Non-zero biases on purpose: a zero bias would hide a bias bug."""
    return {k: rng.standard_normal(shape).astype(dtype)
            for l in range(1, len(dims))
            for k, shape in ((f"W{l}", (dims[l], dims[l - 1])), (f"b{l}", (dims[l], 1)))}


def assert_identical(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert np.array_equal(a[k], b[k]), k


# ------------------------------------------------------------ params ⇄ state_dict

@SETTINGS
@given(dims=layer_dims, seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(DTYPES))
def test_params_state_dict_round_trip_is_exact(dims, seed, dtype):
    params = random_params(np.random.default_rng(seed), dims, dtype)
    before = {k: v.copy() for k, v in params.items()}
    sd = convert.params_to_state_dict(params)
    assert list(sd) == [f"linears.{i}.{k}" for i in range(len(dims) - 1) for k in ("weight", "bias")]
    for l in range(1, len(dims)):
        W, bias = sd[f"linears.{l - 1}.weight"], sd[f"linears.{l - 1}.bias"]
        assert tuple(W.shape) == (dims[l], dims[l - 1])            # same orientation as W[l]
        assert tuple(bias.shape) == (dims[l],)                      # b[l] (n, 1) -> (n,)
        assert np.array_equal(W.numpy(), params[f"W{l}"]) and np.array_equal(bias.numpy(), params[f"b{l}"][:, 0])
    back = convert.state_dict_to_params(sd)
    assert_identical(back, params)
    assert_identical(params, before)                                # inputs untouched
    assert not np.shares_memory(back["W1"], params["W1"])
    net = DeepNet.from_params(params, ["tanh"] * (len(dims) - 1))   # through a real module
    assert net.linears[0].weight.dtype == convert.torch_dtype(dtype)
    assert_identical(net.to_params(), params)


def test_state_dict_with_prefix_and_bad_keys():
    params = random_params(np.random.default_rng(0), [3, 2, 1], np.float64)
    sd = {"model." + k: v for k, v in convert.params_to_state_dict(params).items()}
    sd["model.some_buffer"] = torch.zeros(1)
    assert_identical(convert.state_dict_to_params(sd), params)
    del sd["model.linears.1.bias"]
    with pytest.raises(ValueError, match="linears"):
        convert.state_dict_to_params(sd)
    with pytest.raises(ValueError, match="b1"):
        convert.params_to_state_dict({"W1": params["W1"]})


# ------------------------------------------------------------- data layout

@pytest.mark.parametrize("dtype", DTYPES)
def test_to_torch_is_a_transposed_copy(dtype):
    X = np.arange(6, dtype=dtype).reshape(2, 3)                     # (n_x, m) = (2, 3)
    x = convert.to_torch(X)
    assert tuple(x.shape) == (3, 2) and x.dtype == convert.torch_dtype(dtype)
    assert np.array_equal(x.numpy(), X.T)
    x[0, 0] = 100
    assert X[0, 0] == 0                                             # no shared memory
    assert np.array_equal(convert.to_numpy(convert.to_torch(X)), X)
    assert convert.to_torch(X, dtype=torch.float32).dtype == torch.float32
    with pytest.raises(ValueError, match=r"A must be 2-D \(n, m\); got shape \(3,\)"):
        convert.to_torch(np.ones(3))
    with pytest.raises(ValueError, match="t must be a 2-D tensor"):
        convert.to_numpy(torch.ones(3))


def test_masks_transpose_both_ways():
    rng = np.random.default_rng(1)
    masks = [rng.random((4, 5)) < 0.7, rng.random((3, 5)) < 0.5]   # D[l]: (n[l], m)
    t = convert.masks_to_torch(masks)
    assert [tuple(x.shape) for x in t] == [(5, 4), (5, 3)] and all(x.dtype == torch.bool for x in t)
    assert all(np.array_equal(x.numpy(), D.T) for x, D in zip(t, masks))
    back = convert.masks_to_numpy(t)
    assert all(np.array_equal(a, b) and a.dtype == np.bool_ for a, b in zip(back, masks))
    assert convert.masks_to_torch(None) is None
    with pytest.raises(TypeError, match="boolean"):
        convert.masks_to_torch([np.ones((2, 2))])


def test_logistic_w_b_as_a_layer():
    w, b = np.array([[1.0], [2.0], [3.0]]), 0.5                    # w (n_x, 1)
    p = convert.logistic_to_params(w, b)
    assert p["W1"].shape == (1, 3) and p["b1"].shape == (1, 1) and p["b1"][0, 0] == 0.5
    w2, b2 = convert.params_to_logistic(p)
    assert np.array_equal(w2, w) and b2 == b
    x = convert.to_torch(np.array([[1.0], [1.0], [1.0]]))
    assert LogisticRegression(3, w=w, b=b).predict_proba(x).item() == pytest.approx(1 / (1 + np.exp(-6.5)))
    assert LogisticRegression(3).predict_proba(x).item() == 0.5    # zero init


# ------------------------------------------------------ keep_prob, L2, SGD groups

def test_keep_prob_and_p():
    assert convert.keep_prob_to_p(0.8) == 1 - 0.8 and convert.keep_prob_to_p(1.0) == 0.0
    assert convert.p_to_keep_prob(convert.keep_prob_to_p(0.5)) == 0.5
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="keep_prob"):
            convert.keep_prob_to_p(bad)
    net = DeepNet([3, 4, 2, 1], ["relu", "relu", "sigmoid"], keep_probs=[0.8, 0.5])
    assert [d.p for d in net.dropouts] == [1 - 0.8, 1 - 0.5]


def test_weight_decay_is_lambda_over_m_on_weights_only():
    assert convert.l2_weight_decay(0.7, 10) == 0.7 / 10
    with pytest.raises(ValueError, match="m must be a positive int"):
        convert.l2_weight_decay(0.7, 0)
    net = DeepNet([3, 4, 1], ["relu", "sigmoid"])
    decay, no_decay = convert.sgd_param_groups(net, 0.7, 10)
    assert decay["weight_decay"] == 0.7 / 10 and no_decay["weight_decay"] == 0.0
    assert [id(p) for p in decay["params"]] == [id(l.weight) for l in net.linears]
    assert [id(p) for p in no_decay["params"]] == [id(l.bias) for l in net.linears]
    with pytest.raises(ValueError, match="m"):
        convert.sgd_for(net, 0.1, lambd=0.7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_weight_decay_step_equals_scratch_l2_update(dtype):
    """(1 - αλ/m)W - α·dW on weights, b - α·db on biases (non-zero biases catch a decayed bias)."""
    rng = np.random.default_rng(2)
    params, X = random_params(rng, [3, 4, 1], dtype), rng.standard_normal((3, 9)).astype(dtype)
    Y = rng.integers(0, 2, (1, 9)).astype(dtype)
    AL, caches = network.model_forward(X, params, ["tanh", "sigmoid"])
    mine = network.update_parameters(params, network.model_backward(AL, Y, caches, lambd=0.7), 0.3)
    net = DeepNet.from_params(params, ["tanh", "sigmoid"])
    torch.nn.functional.binary_cross_entropy_with_logits(net(convert.to_torch(X)), convert.to_torch(Y)).backward()
    scratch_grads = network.model_backward(AL, Y, caches)
    assert_parity(compare_all(scratch_grads, convert.grads_from_model(net)))
    convert.sgd_for(net, 0.3, lambd=0.7, m=9).step()
    assert_parity(compare_all(mine, net.to_params()))


def test_set_grads_round_trip():
    params = random_params(np.random.default_rng(3), [2, 3, 1], np.float64)
    net = DeepNet.from_params(params, ["relu", "sigmoid"])
    with pytest.raises(ValueError, match="backward"):
        convert.grads_from_model(net)
    grads = {"d" + k: v * 2 for k, v in params.items()}
    convert.set_grads(net, grads)
    assert_identical(convert.grads_from_model(net), grads)


# ------------------------------------------------------------------- DeepNet

@pytest.mark.parametrize("init", ["zeros", "random", "xavier", "glorot", "he"])
def test_deepnet_init_uses_scratch_std_and_zero_biases(init):
    dims = [200, 150, 1]
    net = DeepNet(dims, ["relu", "sigmoid"], init=init, seed=0)
    W = net.linears[0].weight.detach().numpy()
    assert all(np.all(l.bias.detach().numpy() == 0) for l in net.linears)
    std = INIT_STD(init, 200, 150)
    if std == 0:
        assert np.all(W == 0)
    else:                                   # sample std of N = 30000 normals: SE ≈ std/√(2N) ≈ 0.4 %
        assert abs(W.std() / std - 1) < 5 / np.sqrt(2 * W.size)
    again = DeepNet(dims, ["relu", "sigmoid"], init=init, seed=0)
    assert torch.equal(again.linears[0].weight, net.linears[0].weight)


def test_deepnet_dropout_masks_and_modes():
    rng = np.random.default_rng(4)
    params, X = random_params(rng, [3, 5, 1], np.float64), rng.standard_normal((3, 8))
    masks = [rng.random((5, 8)) < 0.6]
    AL, caches = network.model_forward(X, params, ["relu", "sigmoid"], keep_probs=[0.6], masks=masks)
    net = DeepNet.from_params(params, ["relu", "sigmoid"], keep_probs=[0.6])
    x = convert.to_torch(X)
    for mode in (net.train, net.eval):                              # given masks apply in both modes
        mode()
        (z1, a1), (z2, a2) = net.layer_outputs(x, masks=convert.masks_to_torch(masks))
        assert_parity(compare_all({"A1 (after dropout)": caches[1]["linear_activation"][0][0], "A2": AL},
                                  {"A1 (after dropout)": convert.to_numpy(a1), "A2": convert.to_numpy(a2)}))
    net.eval()                                                      # no masks, eval: identity
    assert torch.equal(net(x), net.layer_outputs(x, dropout=False)[-1][0])
    net.train()                                                     # no masks, train: nn.Dropout draws
    torch.manual_seed(0)
    assert not torch.equal(net(x), net.layer_outputs(x, dropout=False)[-1][0])
    with pytest.raises(ValueError, match="masks"):
        net(x, masks=convert.masks_to_torch([masks[0][:, :3]]))


def test_deepnet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activations"):
        DeepNet([2, 3, 1], ["relu"])
    with pytest.raises(ValueError, match="keep_probs"):
        DeepNet([2, 3, 1], ["relu", "sigmoid"], keep_probs=[0.5, 0.5])
    with pytest.raises(ValueError, match="init"):
        DeepNet([2, 3, 1], ["relu", "sigmoid"], init="uniform")
    net = DeepNet([2, 3, 1], ["relu", "sigmoid"])
    with pytest.raises(TypeError, match="to_torch"):
        net(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"x must have shape \(m, n_x\) with n_x = 2"):
        net(torch.ones(4, 3, dtype=torch.float64))


# --------------------------------------------------------------- train_plain

@pytest.mark.parametrize("l2_mode", ["cost", "weight_decay"])
def test_train_plain_follows_scratch_train_for_150_steps(l2_mode):
    """DESIGN: float64 costs at every logged step within rtol 1e-8 for >= 100 steps."""
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((2, 40)), rng.integers(0, 2, (1, 40)).astype(float)
    dims, acts = [2, 5, 3, 1], ["relu", "tanh", "sigmoid"]
    params = {k: v * 0.5 for k, v in random_params(rng, dims, np.float64).items()}
    ref = train(X, Y, dims, acts, params=params, learning_rate=0.5, num_iterations=150, lambd=0.3)
    net = DeepNet.from_params(params, acts)
    hist = train_plain(net, X, Y, learning_rate=0.5, num_iterations=150, lambd=0.3, l2_mode=l2_mode)
    assert [h["step"] for h in hist] == list(range(150))
    mine, gold = np.array([h["cost"] for h in ref.history]), np.array([h["cost"] for h in hist])
    assert_parity(compare_all({"costs": mine, "train_acc": np.array([h["train_acc"] for h in ref.history])},
                              {"costs": gold, "train_acc": np.array([h["train_acc"] for h in hist])},
                              tol=Tolerance(TRAJECTORY_RTOL, 0.0)))
    assert_parity(compare_all(ref.final_params, net.to_params(), tol=Tolerance(1e-8, 1e-12)))


def test_train_plain_log_every_callback_and_divergence():
    rng = np.random.default_rng(6)
    X, Y = rng.standard_normal((2, 10)), rng.integers(0, 2, (1, 10)).astype(float)
    seen = []
    net = DeepNet([2, 3, 1], ["tanh", "sigmoid"], seed=0)
    hist = train_plain(net, X, Y, learning_rate=0.1, num_iterations=7, log_every=3,
                       callback=lambda step, record, model: seen.append((step, record["cost"])))
    assert [h["step"] for h in hist] == [0, 3, 6] and seen == [(h["step"], h["cost"]) for h in hist]
    with pytest.raises(FloatingPointError, match="iteration"):
        train_plain(DeepNet([2, 3, 1], ["identity", "sigmoid"], seed=0), X * 1e3, Y,
                    learning_rate=1e6, num_iterations=50)
    with pytest.raises(ValueError, match="l2_mode"):
        train_plain(net, X, Y, learning_rate=0.1, num_iterations=1, l2_mode="decay")
    with pytest.raises(ValueError, match="Y"):
        train_plain(net, X, Y[:, :5], learning_rate=0.1, num_iterations=1)
