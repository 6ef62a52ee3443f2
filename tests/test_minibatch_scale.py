"""Mini-batches at scale (issue "Optimization algorithms", part 4), at a reduced size.

One epoch of K equal-size mini-batches with a tiny learning rate ε moves θ by
    θ_0 - θ_K = ε Σ_k g_k(θ_{k-1}) = ε Σ_k g_k(θ_0) + O(ε²) = ε K g(θ_0) + O(ε²),
because the mean of the K batch gradients (each a mean over its m/K examples) is the full-batch
gradient g. So (θ_0 - θ_K) / (ε K) tracks one full-batch step's gradient, to O(εK): normwise
within 1e-5 here (measured 2e-7: the drift of θ within the epoch, ε K |H| |g|, and rounding,
ulp(θ)/(ε K), both small at ε = 1e-7), while one batch alone is 16 % to 580 % off.
"""
import numpy as np
import pytest

from scratch import network
from scratch.initializers import initialize_parameters
from scratch.train import train

DIMS, ACTS = [10, 8, 1], ["tanh", "sigmoid"]
M, BATCH, EPS = 2000, 200, 1e-7


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, M))
    Y = (X[:1] + 0.5 * rng.standard_normal((1, M)) > 0).astype(float)
    return X, Y


def _full_gradient(X, Y, params):
    AL, caches = network.model_forward(X, params, ACTS)
    return network.model_backward(AL, Y, caches)


def test_one_epoch_of_equal_batches_tracks_the_full_batch_gradient(data):
    X, Y = data
    theta0 = initialize_parameters(DIMS, "xavier", rng=1)
    out = train(X, Y, DIMS, ACTS, params=theta0, learning_rate=EPS, mini_batch_size=BATCH, num_epochs=1, seed=3)
    K = M // BATCH
    g = _full_gradient(X, Y, theta0)
    for key in theta0:
        tracked = (theta0[key] - out.final_params[key]) / (EPS * K)
        assert np.linalg.norm(tracked - g["d" + key]) < 1e-5 * np.linalg.norm(g["d" + key]), key


def test_a_single_batch_is_not_the_full_gradient(data):
    """The check above can fail: one batch alone (K = 1 of 10) is far from g."""
    X, Y = data
    theta0 = initialize_parameters(DIMS, "xavier", rng=1)
    order = np.random.default_rng(3).permutation(M)
    g_batch = _full_gradient(X[:, order[:BATCH]], Y[:, order[:BATCH]], theta0)
    g = _full_gradient(X, Y, theta0)
    for key in theta0:
        assert np.linalg.norm(g_batch["d" + key] - g["d" + key]) > 0.1 * np.linalg.norm(g["d" + key]), key
