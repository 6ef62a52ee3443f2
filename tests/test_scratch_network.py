"""Behaviour of scratch.network and scratch.gradcheck (F13-F17, F19, F20, F22, F30)."""
import copy

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scratch.gradcheck import (GRADCHECK_THRESHOLD, dictionary_to_vector, gradient_check,
                               gradients_to_vector, vector_to_dictionary)
from scratch.initializers import initialize_parameters
from scratch.network import model_backward, model_cost, model_forward, predict, update_parameters

SMOOTH_HIDDEN = ["tanh", "sigmoid", "leaky_relu"]
# The course's ε = 1e-7 leaves a rounding error ≈ 1e-16·J/ε ≈ 1e-9 in every numerical
# component; on a net with small gradients that pushed the relative difference to
# 1.2e-7 in 1 of 600 random nets. ε = 1e-5 gives truncation O(ε²) ≈ 1e-10 and rounding
# ≈ 1e-11: the worst of the same 600 nets was 1e-9, 100× under GRADCHECK_THRESHOLD.
EPSILON = 1e-5
KINK_MARGIN = 1e-3   # leaky_relu: every Z must stay farther than this (>> ε·|A|) from the kink


def random_problem(seed, layer_dims, m, keep_probs=None):
    """A random net (xavier weights, non-zero biases), data X, labels Y and, with
    keep_probs, fixed dropout masks drawn once."""
    rng = np.random.default_rng(seed)
    params = initialize_parameters(layer_dims, "xavier", rng=rng)
    for l in range(1, len(layer_dims)):
        params[f"b{l}"] = 0.1 * rng.standard_normal(params[f"b{l}"].shape)
    X = rng.standard_normal((layer_dims[0], m))
    Y = (rng.random((1, m)) < 0.5).astype(float)
    masks = None
    if keep_probs is not None:
        masks = [rng.random((n, m)) < kp for n, kp in zip(layer_dims[1:-1], keep_probs)]
    return params, X, Y, masks


def min_abs_Z(caches):
    """Smallest |Z| over the leaky_relu layers (inf when there are none)."""
    return min((float(np.min(np.abs(c["linear_activation"][1]))) for c in caches
                if c["activation"] == "leaky_relu"), default=np.inf)


def check(params, X, Y, activations, lambd=0.0, keep_probs=None, masks=None, backward=None):
    """gradient_check of model_backward against model_cost (masks fixed on both sides)."""
    backward = backward or model_backward
    AL, caches = model_forward(X, params, activations, keep_probs=keep_probs, masks=masks)
    grads = backward(AL, Y, caches, lambd=lambd)
    cost_fn = lambda p: model_cost(X, Y, p, activations, lambd=lambd,  # noqa: E731
                                   keep_probs=keep_probs, masks=masks)
    return gradient_check(params, grads, cost_fn, epsilon=EPSILON), caches


net_shapes = st.tuples(
    st.integers(0, 10_000),                                     # seed
    st.lists(st.integers(1, 5), min_size=1, max_size=4),        # n[0], hidden sizes
    st.integers(1, 6),                                          # m (1 included)
    st.lists(st.sampled_from(SMOOTH_HIDDEN), min_size=3, max_size=3),
)


# ------------------------------------------------------------- gradient check

@settings(max_examples=30, deadline=None, derandomize=True)
@given(net_shapes, st.sampled_from([0.0, 0.7]))
def test_gradient_check_random_deep_nets(shape, lambd):
    seed, dims, m, hidden = shape
    layer_dims = dims + [1]
    activations = (hidden * 2)[:len(layer_dims) - 2] + ["sigmoid"]
    params, X, Y, _ = random_problem(seed, layer_dims, m)
    diff, caches = check(params, X, Y, activations, lambd=lambd)
    assume(min_abs_Z(caches) > KINK_MARGIN)
    assert diff < GRADCHECK_THRESHOLD


@pytest.mark.parametrize("m", [1, 4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_check_with_fixed_dropout_masks_and_l2(seed, m):
    layer_dims, keep_probs = [3, 5, 4, 1], [0.6, 0.8]
    activations = ["tanh", "leaky_relu", "sigmoid"]
    params, X, Y, masks = random_problem(seed, layer_dims, m, keep_probs)
    diff, caches = check(params, X, Y, activations, lambd=0.3, keep_probs=keep_probs, masks=masks)
    assert min_abs_Z(caches) > KINK_MARGIN
    assert diff < GRADCHECK_THRESHOLD
    assert caches[0]["mask"] is masks[0] and caches[-1]["mask"] is None


def test_logistic_and_shallow_net_are_the_L1_and_L2_cases():
    for layer_dims, activations in (([4, 1], ["sigmoid"]), ([4, 3, 1], ["tanh", "sigmoid"])):
        params, X, Y, _ = random_problem(5, layer_dims, 7)
        assert check(params, X, Y, activations)[0] < GRADCHECK_THRESHOLD


def doubled_dW1(AL, Y, caches, lambd=0.0):
    grads = model_backward(AL, Y, caches, lambd=lambd)
    return {**grads, "dW1": 2 * grads["dW1"]}


def forgot_dropout_mask(AL, Y, caches, lambd=0.0):
    caches = [{**c, "mask": None} for c in caches]
    return model_backward(AL, Y, caches, lambd=lambd)


def forgot_l2(AL, Y, caches, lambd=0.0):
    return model_backward(AL, Y, caches, lambd=0.0)


@pytest.mark.parametrize("bug", [doubled_dW1, forgot_dropout_mask, forgot_l2])
def test_planted_bug_is_caught_by_gradient_check(bug):
    layer_dims, keep_probs = [3, 5, 4, 1], [0.6, 0.8]
    activations = ["tanh", "tanh", "sigmoid"]
    params, X, Y, masks = random_problem(11, layer_dims, 5, keep_probs)
    good, _ = check(params, X, Y, activations, lambd=1.0, keep_probs=keep_probs, masks=masks)
    bad, _ = check(params, X, Y, activations, lambd=1.0, keep_probs=keep_probs, masks=masks, backward=bug)
    assert good < GRADCHECK_THRESHOLD
    assert bad > 1e3 * GRADCHECK_THRESHOLD


def test_params_vector_round_trip_and_order():
    params = {"W1": np.arange(6.0).reshape(2, 3), "b1": np.array([[6.0], [7.0]]),
              "W2": np.array([[8.0, 9.0]]), "b2": np.array([[10.0]])}
    theta, keys = dictionary_to_vector(params)
    assert keys == ["W1", "b1", "W2", "b2"]
    np.testing.assert_array_equal(theta, np.arange(11.0).reshape(11, 1))
    back = vector_to_dictionary(theta, params)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k])
    grads = {f"d{k}": -v for k, v in reversed(list(params.items()))}
    np.testing.assert_array_equal(gradients_to_vector(grads), -theta)


# ------------------------------------------------------------------ backward

@settings(max_examples=20, deadline=None, derandomize=True)
@given(net_shapes)
def test_fused_and_general_output_forms_agree(shape):
    seed, dims, m, hidden = shape
    layer_dims = dims + [1]
    activations = (hidden * 2)[:len(layer_dims) - 2] + ["sigmoid"]
    params, X, Y, _ = random_problem(seed, layer_dims, m)
    AL, caches = model_forward(X, params, activations)
    fused = model_backward(AL, Y, caches, output="fused")
    general = model_backward(AL, Y, caches, output="general")
    assert list(fused) == list(general)
    for k in fused:
        np.testing.assert_allclose(general[k], fused[k], rtol=1e-9, atol=1e-13)


def test_fused_output_requires_sigmoid():
    params, X, Y, _ = random_problem(0, [2, 3, 1], 4)
    AL, caches = model_forward(X, params, ["tanh", "identity"])
    with pytest.raises(ValueError, match="output='fused'.*sigmoid"):
        model_backward(AL, Y, caches)
    model_backward(AL, Y, caches, output="general")   # the general form has no such restriction


def test_gradients_are_fresh_no_accumulation():
    params, X, Y, _ = random_problem(3, [3, 4, 1], 5)
    AL, caches = model_forward(X, params, ["tanh", "sigmoid"])
    first = model_backward(AL, Y, caches, lambd=0.5)
    snapshot = copy.deepcopy(first)
    second = model_backward(AL, Y, caches, lambd=0.5)
    for k in first:
        np.testing.assert_array_equal(second[k], snapshot[k])
        np.testing.assert_array_equal(first[k], snapshot[k])
        assert not np.shares_memory(first[k], second[k])
    for l in (1, 2):
        assert not np.shares_memory(first[f"dW{l}"], params[f"W{l}"])


def test_float32_network_stays_float32():
    params, X, Y, _ = random_problem(0, [3, 4, 1], 5)
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    AL, caches = model_forward(X.astype(np.float32), params32, ["relu", "sigmoid"],
                               keep_probs=[0.5], rng=0)
    grads = model_backward(AL, Y.astype(int), caches, lambd=0.1)
    assert AL.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
    new = update_parameters(params32, grads, 0.1)
    assert all(v.dtype == np.float32 for v in new.values())


# ---------------------------------------------------------- forward, dropout

def test_forward_dropout_applies_to_hidden_layers_only_and_is_seeded():
    params, X, Y, _ = random_problem(2, [3, 6, 6, 1], 8)
    activations = ["relu", "relu", "sigmoid"]
    AL1, c1 = model_forward(X, params, activations, keep_probs=[0.5, 0.7], rng=42)
    AL2, c2 = model_forward(X, params, activations, keep_probs=[0.5, 0.7], rng=42)
    np.testing.assert_array_equal(AL1, AL2)
    assert [c["keep_prob"] for c in c1] == [0.5, 0.7, 1.0]
    assert c1[-1]["mask"] is None and c1[0]["mask"].shape == (6, 8)
    # layer 2 saw A[1] * D[1] / keep_prob[1]
    A1 = np.maximum(params["W1"] @ X + params["b1"], 0)
    np.testing.assert_allclose(c1[1]["linear_activation"][0][0], A1 * c1[0]["mask"] / 0.5, rtol=1e-15)
    no_dropout, c3 = model_forward(X, params, activations)
    assert all(c["mask"] is None and c["keep_prob"] == 1.0 for c in c3)
    np.testing.assert_allclose(c3[0]["linear_activation"][1], params["W1"] @ X + params["b1"], rtol=1e-15)


def test_model_cost_is_cross_entropy_plus_l2():
    params, X, Y, _ = random_problem(4, [3, 4, 1], 6)
    activations = ["tanh", "sigmoid"]
    A1 = np.tanh(params["W1"] @ X + params["b1"])
    A2 = 1 / (1 + np.exp(-(params["W2"] @ A1 + params["b2"])))
    ce = -np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))
    l2 = 0.4 / (2 * 6) * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    assert model_cost(X, Y, params, activations, lambd=0.4) == pytest.approx(ce + l2, rel=1e-12)


def test_predict_thresholds_at_one_half():
    params = {"W1": np.array([[1.0]]), "b1": np.array([[0.0]])}
    X = np.array([[-3.0, -1e-9, 0.0, 1e-9, 5.0]])
    np.testing.assert_array_equal(predict(X, params, ["sigmoid"]), [[0, 0, 0, 1, 1]])
    assert predict(X, params, ["sigmoid"]).dtype.kind == "i"


# ------------------------------------------------------------ update, symmetry

def test_update_parameters_returns_new_dict_and_mutates_nothing():
    params, X, Y, _ = random_problem(6, [2, 3, 1], 4)
    AL, caches = model_forward(X, params, ["tanh", "sigmoid"])
    grads = model_backward(AL, Y, caches)
    params_before, grads_before = copy.deepcopy(params), copy.deepcopy(grads)
    new = update_parameters(params, grads, 0.5)
    assert new is not params and set(new) == set(params)
    for k in params:
        np.testing.assert_array_equal(params[k], params_before[k])
        np.testing.assert_array_equal(grads["d" + k], grads_before["d" + k])
        np.testing.assert_array_equal(new[k], params_before[k] - 0.5 * grads_before["d" + k])
        assert not np.shares_memory(new[k], params[k])


def train(params, X, Y, activations, steps=50, learning_rate=0.5):
    for _ in range(steps):
        AL, caches = model_forward(X, params, activations)
        params = update_parameters(params, model_backward(AL, Y, caches), learning_rate)
    return params


def rows_identical(W):
    return np.allclose(W, W[:1], rtol=1e-12, atol=1e-15)


def symmetry_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 20))
    Y = (X[:1] + X[1:2] > 0).astype(float)
    return X, Y


@pytest.mark.parametrize("init, hidden", [("zeros", "sigmoid"), ("constant", "tanh")])
def test_symmetric_init_keeps_hidden_units_identical(init, hidden):
    """F19: if all units of a layer start equal they get equal gradients forever.
    Non-trivial: the weights do move (zeros with sigmoid; all W = 0.5 with tanh)."""
    X, Y = symmetry_data()
    params = initialize_parameters([3, 4, 4, 1], "zeros")
    if init == "constant":
        params = {k: np.full_like(v, 0.5) if k.startswith("W") else v for k, v in params.items()}
    start = copy.deepcopy(params)
    trained = train(params, X, Y, [hidden, hidden, "sigmoid"])
    for l in (1, 2, 3):
        assert rows_identical(trained[f"W{l}"]) and rows_identical(trained[f"b{l}"])
    assert np.abs(trained["W1"] - start["W1"]).max() > 1e-6   # it moved, yet stayed symmetric


def test_zero_init_tanh_hidden_weights_never_move():
    X, Y = symmetry_data()
    trained = train(initialize_parameters([3, 4, 1], "zeros"), X, Y, ["tanh", "sigmoid"])
    # tanh(0) = 0, so A[1] = 0 and dW[2] = 0, and W[2] = 0 gives dA[1] = 0: all stuck
    np.testing.assert_array_equal(trained["W1"], 0.0)
    np.testing.assert_array_equal(trained["W2"], 0.0)
    assert trained["b2"][0, 0] != 0.0


def test_random_init_breaks_symmetry():
    X, Y = symmetry_data()
    trained = train(initialize_parameters([3, 4, 4, 1], "he", rng=0), X, Y, ["tanh", "tanh", "sigmoid"])
    assert not rows_identical(trained["W1"]) and not rows_identical(trained["W2"])
