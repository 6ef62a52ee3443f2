"""F18: initialization, by statistics, against nn.init and the course's formulas.

The formulas are written here, not taken from the code under test:
    zeros 0;  random 0.01;  xavier √(1/n[l-1]);  glorot √(2/(n[l-1]+n[l]));  he √(2/n[l-1]).
For N independent N(0, σ²) draws the sample standard deviation s satisfies
s/σ ≈ 1 + N(0, 1/(2N)) (the normal approximation of the chi distribution), so
|s/σ - 1| < 5/√(2N) holds with probability 1 - 6e-7; the sample mean is within
5σ/√N of 0; and the fraction of draws within one σ of 0 is 0.6827 ± 5·√(p(1-p)/N)
(a uniform draw of the same σ has 0.577: this is what shows the draws are normal,
not the course notes' `rand`). Seeds are fixed, so the tests are repeatable.

Measured facts about torch encoded here (torch 2.x):
  nn.init.kaiming_normal_ default (fan_in, leaky_relu with a = 0)  = He √(2/n_in)
  nn.init.kaiming_normal_(nonlinearity="linear")                   = the course's Xavier √(1/n_in)
  nn.init.xavier_normal_                                           = Glorot √(2/(n_in+n_out))
  nn.Linear's default init is uniform(±1/√n_in), biases too (non-zero): DeepNet replaces it.
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from scratch import initializers
from torch_ref import models

N_IN, N_OUT = 400, 300            # one layer: N = 120 000 draws
DIMS = [400, 300, 200, 1]         # for whole networks (layer 3 has only 200 draws: looser bound)

FORMULA = {
    "random": lambda n_prev, n: 0.01,
    "xavier": lambda n_prev, n: math.sqrt(1 / n_prev),
    "glorot": lambda n_prev, n: math.sqrt(2 / (n_prev + n)),
    "he": lambda n_prev, n: math.sqrt(2 / n_prev),
}
P_ONE_SIGMA = math.erf(1 / math.sqrt(2))          # 0.6827 for a normal


def assert_normal_with_std(W, std, label):
    """W's entries look like N(0, std²) draws, within the 5-sigma bounds of the docstring."""
    W = np.asarray(W, dtype=np.float64).ravel()
    N = W.size
    s = W.std()
    assert abs(s / std - 1) < 5 / math.sqrt(2 * N), f"{label}: sample std {s:.6g}, formula {std:.6g}, N = {N}"
    assert abs(W.mean()) < 5 * std / math.sqrt(N), f"{label}: sample mean {W.mean():.3g}, N = {N}"
    inside = np.mean(np.abs(W) < std)
    bound = 5 * math.sqrt(P_ONE_SIGMA * (1 - P_ONE_SIGMA) / N)
    assert abs(inside - P_ONE_SIGMA) < bound, f"{label}: {inside:.4f} of draws within 1σ (normal: 0.6827)"


def torch_weight(init, **kwargs):
    W = torch.empty(N_OUT, N_IN, dtype=torch.float64)   # nn.Linear layout: (n_out, n_in)
    init(W, generator=torch.Generator().manual_seed(18), **kwargs)
    return W.numpy()


# ------------------------------------------------------ torch's own inits


def test_kaiming_normal_default_is_he():
    assert_normal_with_std(torch_weight(nn.init.kaiming_normal_), FORMULA["he"](N_IN, N_OUT),
                           "kaiming_normal_")


def test_kaiming_normal_linear_is_the_course_xavier():
    assert_normal_with_std(torch_weight(nn.init.kaiming_normal_, nonlinearity="linear"),
                           FORMULA["xavier"](N_IN, N_OUT), "kaiming_normal_(linear)")


def test_xavier_normal_is_glorot():
    assert_normal_with_std(torch_weight(nn.init.xavier_normal_), FORMULA["glorot"](N_IN, N_OUT),
                           "xavier_normal_")


def test_nn_linear_default_is_uniform_with_nonzero_biases():
    torch.manual_seed(18)
    lin = nn.Linear(N_IN, N_OUT, dtype=torch.float64)
    W, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    bound = 1 / math.sqrt(N_IN)
    assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(W).max() > 0.99 * bound                  # fills the interval ...
    with pytest.raises(AssertionError, match="within 1σ"):  # ... and is not normal
        assert_normal_with_std(W, bound / math.sqrt(3), "nn.Linear default")
    assert np.count_nonzero(b) == N_OUT


def test_the_statistics_can_fail():
    """The control: He against Glorot's formula (√2 smaller here) fails the std bound."""
    with pytest.raises(AssertionError, match="sample std"):
        assert_normal_with_std(torch_weight(nn.init.kaiming_normal_), FORMULA["glorot"](N_IN, N_OUT), "He")


# ----------------------------------------------- scratch and DeepNet alike


def deepnet_params(method, seed):
    return models.DeepNet(DIMS, ["relu", "relu", "sigmoid"], init=method, seed=seed).to_params()


def scratch_params(method, seed):
    return initializers.initialize_parameters(DIMS, method, rng=seed)


SIDES = {"scratch": scratch_params, "DeepNet": deepnet_params}


@pytest.mark.parametrize("side", sorted(SIDES))
@pytest.mark.parametrize("method", sorted(FORMULA))
def test_F18_init_std_matches_the_formula(side, method):
    params = SIDES[side](method, 18)
    for l in range(1, len(DIMS)):
        W, b = params[f"W{l}"], params[f"b{l}"]
        assert W.shape == (DIMS[l], DIMS[l - 1]) and b.shape == (DIMS[l], 1)
        assert W.dtype == np.float64 and b.dtype == np.float64
        assert np.all(b == 0), f"{side} {method}: b{l} must be exactly zero"
        assert_normal_with_std(W, FORMULA[method](DIMS[l - 1], DIMS[l]), f"{side} {method} W{l}")


@pytest.mark.parametrize("side", sorted(SIDES))
def test_F18_zeros_init_is_all_zero(side):
    params = SIDES[side]("zeros", 18)
    assert all(np.all(v == 0) for v in params.values())
    assert sorted(params) == sorted(f"{p}{l}" for l in range(1, len(DIMS)) for p in "Wb")


@pytest.mark.parametrize("side", sorted(SIDES))
def test_F18_seeded_init_is_repeatable_and_seed_dependent(side):
    a, b, c = SIDES[side]("he", 1), SIDES[side]("he", 1), SIDES[side]("he", 2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["W1"], c["W1"])


def test_F18_scratch_float32_init():
    params = initializers.initialize_parameters(DIMS, "he", rng=18, dtype=np.float32)
    assert all(v.dtype == np.float32 for v in params.values())
    assert_normal_with_std(params["W1"], FORMULA["he"](DIMS[0], DIMS[1]), "scratch he float32 W1")


def test_F18_deepnet_float32_init():
    model = models.DeepNet(DIMS, ["relu", "relu", "sigmoid"], init="he", seed=18, dtype=torch.float32)
    W = model.linears[0].weight.detach().numpy()
    assert W.dtype == np.float32
    assert_normal_with_std(W, FORMULA["he"](DIMS[0], DIMS[1]), "DeepNet he float32 W1")
    assert all(np.all(lin.bias.detach().numpy() == 0) for lin in model.linears)


@pytest.mark.parametrize("method", ["zeros", "random", "xavier", "glorot", "he"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_F18_deepnet_seed_gives_scratchs_parameters(method, dtype):
    """A seed means the same θ_0 on both sides: DeepNet(init, seed) holds exactly the parameters
    scratch's initialize_parameters(layer_dims, init, rng=seed) draws (float32: their roundings)."""
    torch_dtype = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    net = models.DeepNet([7, 5, 3, 1], ["relu", "tanh", "sigmoid"], init=method, seed=11, dtype=torch_dtype)
    ours = net.to_params()
    theirs = initializers.initialize_parameters([7, 5, 3, 1], method, rng=11, dtype=dtype)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert ours[key].dtype == dtype
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
