"""Behaviour of scratch's batch norm (F40, F41) without torch: the forward statistics, the hand-derived
backward against the step-by-step graph and against finite differences, m = 1 and m = 2, constant
features, running statistics, and the network and training loop with batch-norm layers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratch import optimizers
from scratch.batchnorm import (batchnorm_backward, batchnorm_forward, batchnorm_predict,
                               initialize_running_stats, update_running_stats)
from scratch.gradcheck import GRADCHECK_THRESHOLD, gradient_check
from scratch.initializers import initialize_parameters
from scratch.losses import one_hot
from scratch.network import model_backward, model_cost, model_forward, predict
from scratch.train import train

EPSILON = 1e-5   # as tests/test_scratch_network.py


def _layer(seed, n, m, dtype=np.float64):
    rng = np.random.default_rng(seed)
    Z = (rng.standard_normal((n, m)) * rng.uniform(0.1, 5, (n, 1)) + rng.uniform(-3, 3, (n, 1))).astype(dtype)
    gamma = rng.uniform(0.5, 2, (n, 1)).astype(dtype)
    beta = rng.standard_normal((n, 1)).astype(dtype)
    return Z, gamma, beta, rng


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 6), m=st.integers(2, 12))
def test_forward_normalizes_each_unit_over_the_batch(seed, n, m):
    Z, gamma, beta, _ = _layer(seed, n, m)
    Z_tilde, cache = batchnorm_forward(Z, gamma, beta, eps=1e-5)
    np.testing.assert_allclose(cache["mu"], Z.mean(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(cache["var"], Z.var(axis=1, keepdims=True), rtol=1e-10)      # biased (ddof 0)
    z_norm = (Z_tilde - beta) / gamma
    np.testing.assert_allclose(z_norm.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(z_norm.var(axis=1), cache["var"][:, 0] / (cache["var"][:, 0] + 1e-5), rtol=1e-9)
    # prediction mode with the batch's own statistics computes the same numbers
    np.testing.assert_allclose(batchnorm_predict(Z, gamma, beta, cache["mu"], cache["var"]), Z_tilde, rtol=1e-13)


def test_m_equal_1_is_refused_and_m_equal_2_is_plus_minus():
    Z, gamma, beta, _ = _layer(0, 3, 1)
    with pytest.raises(ValueError, match=r"batch norm in training needs m >= 2 examples per batch; got Z of shape \(3, 1\)"):
        batchnorm_forward(Z, gamma, beta)
    Z2 = np.array([[1.0, 3.0]])
    Z_tilde, _ = batchnorm_forward(Z2, np.ones((1, 1)), np.zeros((1, 1)), eps=1e-5)
    np.testing.assert_allclose(Z_tilde, [[-1 / np.sqrt(1 + 1e-5), 1 / np.sqrt(1 + 1e-5)]], rtol=1e-15)
    # one example at prediction is fine: it is normalized by given statistics
    out = batchnorm_predict(Z, gamma, beta, np.zeros((3, 1)), np.ones((3, 1)))
    np.testing.assert_allclose(out, gamma * Z / np.sqrt(1 + 1e-5) + beta, rtol=1e-15)


def test_constant_feature_gives_beta_and_a_finite_gradient():
    Z = np.array([[2.0, 2.0, 2.0, 2.0], [1.0, -1.0, 0.5, 3.0]])
    gamma, beta = np.array([[1.5], [1.0]]), np.array([[0.25], [0.0]])
    Z_tilde, cache = batchnorm_forward(Z, gamma, beta, eps=1e-5)
    np.testing.assert_array_equal(Z_tilde[0], 0.25)             # σ² = 0: z_norm = 0/√ε = 0, z̃ = β
    g = np.array([[1.0, -2.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]])
    dZ, dgamma, dbeta = batchnorm_backward(g, cache)
    # σ² = 0: dZ = (γ/√ε)(g - ⟨g⟩): large (ε matters) but finite
    np.testing.assert_allclose(dZ[0], 1.5 / np.sqrt(1e-5) * (g[0] - g[0].mean()), rtol=1e-12)
    assert dgamma[0, 0] == 0.0 and dbeta[0, 0] == pytest.approx(g[0].mean())


def _graph_backward(g, Z, gamma, eps):
    """The backward pass written node by node along z -> (μ, σ²) -> z_norm -> z̃, with the network's
    scale (g = m ∂J/∂z̃, returns m ∂J/∂z and ∂J/∂γ, ∂J/∂β)."""
    m = Z.shape[1]
    mu = Z.sum(axis=1, keepdims=True) / m
    xc = Z - mu
    var = (xc ** 2).sum(axis=1, keepdims=True) / m
    s = np.sqrt(var + eps)
    z_norm = xc / s
    dbeta = g.sum(axis=1, keepdims=True) / m
    dgamma = (g * z_norm).sum(axis=1, keepdims=True) / m
    dz_norm = g * gamma
    dvar = (dz_norm * xc).sum(axis=1, keepdims=True) * -0.5 * s ** -3
    dmu = -(dz_norm / s).sum(axis=1, keepdims=True) + dvar * (-2.0 / m) * xc.sum(axis=1, keepdims=True)
    dZ = dz_norm / s + dvar * 2.0 * xc / m + dmu / m
    return dZ, dgamma, dbeta


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 5), m=st.integers(2, 10))
def test_compact_backward_equals_the_graph_derivation(seed, n, m):
    Z, gamma, beta, rng = _layer(seed, n, m)
    g = rng.standard_normal((n, m))
    _, cache = batchnorm_forward(Z, gamma, beta)
    for got, want in zip(batchnorm_backward(g, cache), _graph_backward(g, Z, gamma, 1e-5)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed, n, m", [(0, 3, 2), (1, 2, 5), (2, 4, 9)])
def test_backward_against_finite_differences(seed, n, m):
    """J(Z, γ, β) = (1/m) Σ R ⊙ z̃ has m ∂J/∂z̃ = R: batchnorm_backward(R) must give m ∂J/∂Z, ∂J/∂γ, ∂J/∂β."""
    Z, gamma, beta, rng = _layer(seed, n, m)
    R = rng.standard_normal((n, m))

    def J(p):
        return float(np.sum(R * batchnorm_forward(p["Z"], p["gamma"], p["beta"])[0]) / m)

    _, cache = batchnorm_forward(Z, gamma, beta)
    dZ, dgamma, dbeta = batchnorm_backward(R, cache)
    # gradient_check wants W/b-named keys: Z as "W1", γ as "gamma1", β as "beta1" with a dummy W2/b2
    params = {"W1": Z, "gamma1": gamma, "beta1": beta, "W2": np.zeros((1, n)), "b2": np.zeros((1, 1))}
    grads = {"dW1": dZ / m, "dgamma1": dgamma, "dbeta1": dbeta, "dW2": np.zeros((1, n)), "db2": np.zeros((1, 1))}
    diff = gradient_check(params, grads, lambda p: J({"Z": p["W1"], "gamma": p["gamma1"], "beta": p["beta1"]}),
                          epsilon=EPSILON)
    assert diff < GRADCHECK_THRESHOLD


def _bn_net(seed, dims, m, classes=False, hidden="tanh"):
    rng = np.random.default_rng(seed)
    params = initialize_parameters(dims, "xavier", rng=rng, batchnorm=True)
    for l in range(1, len(dims) - 1):
        params[f"gamma{l}"] = rng.uniform(0.5, 1.5, params[f"gamma{l}"].shape)
        params[f"beta{l}"] = 0.1 * rng.standard_normal(params[f"beta{l}"].shape)
    X = rng.standard_normal((dims[0], m))
    if classes:
        Y = one_hot(rng.integers(0, dims[-1], m), dims[-1])
        acts = [hidden] * (len(dims) - 2) + ["softmax"]
    else:
        Y = (rng.random((1, m)) < 0.5).astype(float)
        acts = [hidden] * (len(dims) - 2) + ["sigmoid"]
    return params, X, Y, acts, rng


@pytest.mark.parametrize("seed, dims, m, classes", [(0, [3, 5, 1], 6, False), (1, [4, 3, 4, 1], 2, False),
                                                    (2, [2, 6, 3], 5, True), (3, [3, 4, 4, 4], 8, True)])
@pytest.mark.parametrize("lambd, dropout", [(0.0, False), (0.5, True)])
def test_batchnorm_network_gradient_check(seed, dims, m, classes, lambd, dropout):
    params, X, Y, acts, rng = _bn_net(seed, dims, m, classes)
    keep_probs = masks = None
    if dropout:
        keep_probs = [0.8] * (len(dims) - 2)
        masks = [rng.random((n, m)) < 0.8 for n in dims[1:-1]]
    AL, caches = model_forward(X, params, acts, keep_probs=keep_probs, masks=masks)
    grads = model_backward(AL, Y, caches, lambd=lambd)
    assert list(grads) == ["d" + k for k in params]            # layer order: dW1, dgamma1, dbeta1, ...
    assert not any(k.startswith("db") and k[2:].isdigit() and int(k[2:]) < len(dims) - 1 for k in grads)
    cost = lambda p: model_cost(X, Y, p, acts, lambd=lambd, keep_probs=keep_probs, masks=masks)  # noqa: E731
    assert gradient_check(params, grads, cost, epsilon=EPSILON) < GRADCHECK_THRESHOLD


def test_initialize_parameters_with_batchnorm_draws_the_same_weights():
    plain = initialize_parameters([4, 5, 3, 1], "he", rng=7)
    bn = initialize_parameters([4, 5, 3, 1], "he", rng=7, batchnorm=True)
    assert list(bn) == ["W1", "gamma1", "beta1", "W2", "gamma2", "beta2", "W3", "b3"]
    for l in (1, 2, 3):
        np.testing.assert_array_equal(bn[f"W{l}"], plain[f"W{l}"])
    np.testing.assert_array_equal(bn["gamma2"], np.ones((3, 1)))
    np.testing.assert_array_equal(bn["beta1"], np.zeros((5, 1)))


def test_running_statistics_are_the_exponentially_weighted_average_of_the_batches():
    params, X, Y, acts, rng = _bn_net(5, [3, 4, 1], 6)
    stats = initialize_running_stats(params)
    np.testing.assert_array_equal(stats["mu1"], 0)
    np.testing.assert_array_equal(stats["var1"], 1)
    mu, var, var_u = np.zeros((4, 1)), np.ones((4, 1)), np.ones((4, 1))
    stats_u = stats
    for _ in range(4):
        Xb = rng.standard_normal((3, 6)) * 2 + 1
        _, caches = model_forward(Xb, params, acts)
        Z = params["W1"] @ Xb                                   # the batch's Z[1], b[1] dropped
        mu = 0.8 * mu + 0.2 * Z.mean(axis=1, keepdims=True)
        var = 0.8 * var + 0.2 * Z.var(axis=1, keepdims=True)
        var_u = 0.8 * var_u + 0.2 * Z.var(axis=1, ddof=1, keepdims=True)
        stats = update_running_stats(stats, caches, beta=0.8)
        stats_u = update_running_stats(stats_u, caches, beta=0.8, unbiased=True)
    np.testing.assert_allclose(stats["mu1"], mu, rtol=1e-12)
    np.testing.assert_allclose(stats["var1"], var, rtol=1e-12)
    np.testing.assert_allclose(stats_u["var1"], var_u, rtol=1e-12)
    np.testing.assert_allclose(stats_u["mu1"], mu, rtol=1e-12)


def test_prediction_needs_running_statistics_and_uses_them_per_example():
    params, X, Y, acts, _ = _bn_net(6, [3, 4, 1], 10)
    with pytest.raises(ValueError, match="predict needs their running statistics bn_stats"):
        predict(X, params, acts)
    stats = {"mu1": np.full((4, 1), 0.3), "var1": np.full((4, 1), 2.0)}
    whole = predict(X, params, acts, bn_stats=stats)
    one_by_one = np.concatenate([predict(X[:, i:i + 1], params, acts, bn_stats=stats) for i in range(10)], axis=1)
    np.testing.assert_array_equal(whole, one_by_one)          # no batch statistics at prediction
    AL, caches = model_forward(X, params, acts, bn_stats=stats)
    with pytest.raises(ValueError, match="training-mode caches"):
        model_backward(AL, Y, caches)
    with pytest.raises(ValueError, match=r"bn_stats must have 'var1'"):
        model_forward(X, params, acts, bn_stats={"mu1": stats["mu1"]})


def test_params_with_batchnorm_are_checked():
    params, X, _, acts, _ = _bn_net(7, [3, 4, 1], 4)
    bad = dict(params, b1=np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"a batch-norm layer 1 has 'W1', 'gamma1' and 'beta1' and no 'b1'"):
        model_forward(X, bad, acts)
    bad = {k: v for k, v in params.items() if k != "beta1"}
    with pytest.raises(ValueError, match="a batch-norm layer 1 has"):
        model_forward(X, bad, acts)
    bad = dict(params, gamma1=np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"gamma1 must have shape \(n\[1\], 1\) with 4 rows"):
        model_forward(X, bad, acts)


def test_adam_updates_gamma_and_beta():
    params, X, Y, acts, _ = _bn_net(8, [3, 4, 1], 6)
    AL, caches = model_forward(X, params, acts)
    grads = model_backward(AL, Y, caches)
    v, s = optimizers.initialize_adam(params)
    assert set(v) == {"dW1", "dgamma1", "dbeta1", "dW2", "db2"}
    new, v, s = optimizers.update_parameters_with_adam(params, grads, v, s, 1, learning_rate=0.1)
    # Adam's first step moves every parameter by α·dθ/(|dθ| + ε) = α·sign(dθ)·(1 - ε/|dθ| + ...): rtol 1e-4 holds
    # while |dθ| > 1e-4 (ε = 1e-8), as for these γ; a wrong key or a missed update is off by 100 %
    np.testing.assert_allclose(new["gamma1"] - params["gamma1"], -0.1 * np.sign(grads["dgamma1"]), rtol=1e-4)


def test_train_with_batchnorm_mini_batches_and_adam():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 200)) * np.array([[10.0], [0.1]]) + 5       # badly scaled inputs
    Y = (X[0:1] - 5 > 0).astype(float)
    kwargs = dict(rng=0, learning_rate=0.01, mini_batch_size=32, num_epochs=8, optimizer="adam", log_every=7,
                  X_dev=X[:, :50], Y_dev=Y[:, :50])
    res = train(X, Y, [2, 6, 1], ["relu", "sigmoid"], batchnorm=True, **kwargs)
    assert set(res.bn_stats) == {"mu1", "var1"} and "gamma1" in res.params and "b1" not in res.params
    assert res.history[-1]["cost"] < res.history[0]["cost"]
    # the running mean tracks Z[1] = W[1] X of the inputs (b[1] dropped): close to its mean over the data. Loose
    # on purpose (rtol 0.2, atol 0.5): it averages the batches of W's that moved during training, and the
    # inputs' offset of 5 puts the true mean far from the start value 0 that a missing update would leave
    np.testing.assert_allclose(res.bn_stats["mu1"], (res.final_params["W1"] @ X).mean(axis=1, keepdims=True),
                               rtol=0.2, atol=0.5)
    # dev metrics of step 0 use the initial running statistics μ = 0, σ² = 1
    p0 = initialize_parameters([2, 6, 1], "he", rng=0, batchnorm=True)
    stats0 = {"mu1": np.zeros((6, 1)), "var1": np.ones((6, 1))}
    assert res.history[0]["dev_cost"] == pytest.approx(model_cost(X[:, :50], Y[:, :50], p0, ["relu", "sigmoid"],
                                                                  bn_stats=stats0), rel=1e-12)
    assert np.mean(predict(X, res.params, ["relu", "sigmoid"], bn_stats=res.bn_stats) == Y) > 0.9
    with pytest.raises(ValueError, match=r"batch norm needs m >= 2 examples in every step.*smallest step of this plan has 1"):
        train(X[:, :65], Y[:, :65], [2, 6, 1], ["relu", "sigmoid"], batchnorm=True, rng=0, learning_rate=0.01,
              mini_batch_size=32, num_epochs=1)


@pytest.mark.parametrize("unbiased", [False, True])
def test_train_running_variance_convention(unbiased):
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((2, 9)), (rng.random((1, 9)) < 0.5).astype(float)
    res = train(X, Y, [2, 3, 1], ["tanh", "sigmoid"], batchnorm=True, rng=1, learning_rate=0.1, num_iterations=1,
                bn_beta=0.75, bn_unbiased=unbiased)
    Z = initialize_parameters([2, 3, 1], "he", rng=1, batchnorm=True)["W1"] @ X
    var_B = Z.var(axis=1, ddof=1 if unbiased else 0, keepdims=True)
    np.testing.assert_allclose(res.bn_stats["var1"], 0.75 * 1 + 0.25 * var_B, rtol=1e-12)
    np.testing.assert_allclose(res.bn_stats["mu1"], 0.25 * Z.mean(axis=1, keepdims=True), rtol=1e-12)
