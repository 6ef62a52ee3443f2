"""F40, F41: batch normalization against nn.BatchNorm1d. The hand-derived forward and backward of
scratch.batchnorm against BatchNorm1d in training mode and autograd; batch-norm networks layer by layer;
the running statistics after the same batches against BatchNorm1d's buffers (momentum = 1 - β, the
unbiased running variance) and prediction against BatchNorm1d.eval(); the conversions of convert.

Hard spots: m = 2 (the smallest batch), m = 1 (both sides raise), constant features (σ² = 0, where ε
alone keeps z_norm finite), ε from 1e-5 to 1e-1. The torch half is torch's own module and autograd.
"""
import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

from conftest import HIDDEN, PARITY, assert_same, dtypes, normal, random_params, seeds, sizes, tensor
from scratch import batchnorm as bn, network
from scratch.gradcheck import GRADCHECK_THRESHOLD, gradient_check
from scratch.initializers import initialize_parameters
from torch_ref import convert, functional
from scratch._checks import param_keys
from torch_ref.inventory_multiclass import bn_network_tol, bn_tolerances
from torch_ref.models import DeepNet

bn_batches = st.one_of(st.just(2), st.integers(min_value=3, max_value=40))      # m >= 2, m = 2 often
epsilons = st.sampled_from([1e-5, 1e-3, 1e-1])


def bn_inputs(rng, n, m, dtype, constant_rows=1):
    """Z (n, m) = 3 N(0, 1) + 2 with ~10 % exact zeros; the first `constant_rows` rows constant (σ² = 0) at a
    value whose sums are exact (a multiple of 1/4), so both sides see σ² = 0 exactly. γ ~ 1 + N(0, 0.5²),
    β ~ N(0, 1), and a random upstream dZ̃ (not all ones)."""
    Z = (3 * rng.standard_normal((n, m)) + 2).astype(dtype)
    Z[rng.random((n, m)) < 0.1] = 0
    for r in range(min(constant_rows, n)):
        Z[r] = rng.integers(-8, 8) / 4
    gamma = (1 + 0.5 * rng.standard_normal((n, 1))).astype(dtype)
    beta = rng.standard_normal((n, 1)).astype(dtype)
    return Z, gamma, beta, rng.standard_normal((n, m)).astype(dtype)


def torch_batchnorm(Z, gamma, beta, dZ_tilde, eps):
    """nn.BatchNorm1d(train) on z = Zᵀ with γ, β copied in, and autograd of J = (1/m) Σ dZ̃ ⊙ Z̃ (the
    course's scale: scratch's dZ̃ is m ∂J/∂Z̃, its dZ m ∂J/∂Z). Course layout out."""
    m = Z.shape[1]
    norm = nn.BatchNorm1d(Z.shape[0], eps=eps, dtype=convert.torch_dtype(Z.dtype)).train()
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(gamma[:, 0]))
        norm.bias.copy_(torch.from_numpy(beta[:, 0]))
    z = tensor(Z, requires_grad=True)
    out = norm(z)
    out.backward(tensor(dZ_tilde) / m)
    return {"Z_tilde": convert.to_numpy(out), "dZ": m * convert.to_numpy(z.grad),
            "dgamma": norm.weight.grad.numpy()[:, None], "dbeta": norm.bias.grad.numpy()[:, None]}


def assert_rows(name, mine, gold, dtype, cache, Z, dZ_tilde):
    """assert_same unit by unit (row by row) with bn_tolerances: the dtype's tolerance plus the rounding
    that γ/√(σ² + ε) amplifies in torch's kernel (large for a constant feature, σ² = 0; see there)."""
    tols = bn_tolerances(cache, dtype, Z, dZ_tilde)["Z_tilde" if name == "Z̃" else "dZ"]
    for r, tol in enumerate(tols):
        assert_same(f"{name} row {r}", mine[r], gold[r], dtype, tol)


# ------------------------------------------------------------------ F40: one layer

@dtypes
@PARITY
@given(n=sizes, m=bn_batches, eps=epsilons, seed=seeds)
def test_F40_batchnorm_forward_backward_match_batchnorm1d(dtype, n, m, eps, seed):
    rng = np.random.default_rng(seed)
    Z, gamma, beta, dZ_tilde = bn_inputs(rng, n, m, dtype)
    Z_tilde, cache = bn.batchnorm_forward(Z, gamma, beta, eps)
    dZ, dgamma, dbeta = bn.batchnorm_backward(dZ_tilde, cache)
    gold = torch_batchnorm(Z, gamma, beta, dZ_tilde, eps)
    assert_rows("Z̃", Z_tilde, gold["Z_tilde"], dtype, cache, Z, dZ_tilde)
    assert_rows("dZ", dZ, gold["dZ"], dtype, cache, Z, dZ_tilde)
    assert_same("dγ", dgamma, gold["dgamma"], dtype)
    assert_same("dβ", dbeta, gold["dbeta"], dtype)
    var, mu = torch.var_mean(tensor(Z), dim=0, correction=0)          # the biased batch variance
    assert_same("μ", cache["mu"], mu.numpy()[:, None], dtype)
    assert_same("σ² (biased)", cache["var"], var.numpy()[:, None], dtype)


@dtypes
def test_F40_m_equals_2_exact_values(dtype):
    """Two examples: μ = (a + b)/2, σ² = ((a - b)/2)², z_norm = ±|a-b|/2 / √(σ² + ε): for a - b = 2,
    z_norm = ±1/√(1 + ε); torch agrees, and so does autograd's dZ."""
    Z = np.array([[3.0, 1.0], [-1.0, 1.0]], dtype=dtype)
    gamma, beta = np.ones((2, 1), dtype), np.zeros((2, 1), dtype)
    Z_tilde, cache = bn.batchnorm_forward(Z, gamma, beta, 1e-5)
    want = np.array([[1, -1], [-1, 1]]) / np.sqrt(1 + 1e-5)
    assert_same("z_norm at m = 2", Z_tilde, want.astype(dtype), dtype)
    dZ_tilde = np.array([[0.5, -2.0], [1.0, 3.0]], dtype=dtype)
    gold = torch_batchnorm(Z, gamma, beta, dZ_tilde, 1e-5)
    assert_same("Z̃ m = 2", Z_tilde, gold["Z_tilde"], dtype)
    for k, v in zip(("dZ", "dgamma", "dbeta"), bn.batchnorm_backward(dZ_tilde, cache)):
        assert_same(f"{k} m = 2", v, gold[k], dtype)


@dtypes
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_F40_constant_feature_sigma2_zero(dtype, eps):
    """σ² = 0: z_norm = 0/√ε = 0 exactly, so Z̃ = β and dγ = 0 exactly; dZ = (γ/√ε)(dz̃ - ⟨dz̃⟩),
    where ε sets the scale (1/√ε = 316 for ε = 1e-5). torch: the same dZ, dγ, dβ."""
    rng = np.random.default_rng(3)
    Z, gamma, beta, dZ_tilde = bn_inputs(rng, 3, 6, dtype, constant_rows=3)
    Z_tilde, cache = bn.batchnorm_forward(Z, gamma, beta, eps)
    dZ, dgamma, dbeta = bn.batchnorm_backward(dZ_tilde, cache)
    np.testing.assert_array_equal(cache["var"], 0)
    np.testing.assert_array_equal(Z_tilde, np.broadcast_to(beta, Z.shape))
    np.testing.assert_array_equal(dgamma, 0)
    want = gamma / np.sqrt(dtype(eps)) * (dZ_tilde - dZ_tilde.mean(axis=1, keepdims=True))
    assert_same("dZ = (γ/√ε)(dz̃ - ⟨dz̃⟩)", dZ, want, dtype)
    gold = torch_batchnorm(Z, gamma, beta, dZ_tilde, eps)
    assert_rows("Z̃", Z_tilde, gold["Z_tilde"], dtype, cache, Z, dZ_tilde)
    assert_rows("dZ", dZ, gold["dZ"], dtype, cache, Z, dZ_tilde)
    assert_same("dγ", dgamma, gold["dgamma"], dtype)
    assert_same("dβ", dbeta, gold["dbeta"], dtype)


@dtypes
def test_F40_one_example_raises_on_both_sides(dtype):
    """m = 1 in training: σ² = 0 and z_norm = 0 whatever z, so both refuse: scratch with a ValueError that
    says m and what to do, torch's BatchNorm1d with its own ValueError. Prediction (running statistics)
    takes m = 1 on both sides."""
    Z, gamma, beta, _ = bn_inputs(np.random.default_rng(0), 3, 1, dtype)
    with pytest.raises(ValueError, match="m >= 2"):
        bn.batchnorm_forward(Z, gamma, beta)
    norm = nn.BatchNorm1d(3, dtype=convert.torch_dtype(dtype)).train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        norm(tensor(Z))
    mu, var = np.full((3, 1), 0.5, dtype), np.full((3, 1), 2.0, dtype)
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(gamma[:, 0]))
        norm.bias.copy_(torch.from_numpy(beta[:, 0]))
        norm.running_mean.fill_(0.5)
        norm.running_var.fill_(2.0)
    assert_same("prediction m = 1", bn.batchnorm_predict(Z, gamma, beta, mu, var),
                convert.to_numpy(norm.eval()(tensor(Z)).detach()), dtype)


# ------------------------------------------------------------------ F40: networks

@st.composite
def bn_nets(draw, max_layers=4):
    """[n_x, n[1], ..., n[L]] with L in 2..max_layers, batch norm on every hidden layer; the output is
    sigmoid (one unit) or softmax (C in 2..4)."""
    L = draw(st.integers(min_value=2, max_value=max_layers))
    softmax = draw(st.booleans())
    dims = [draw(sizes) for _ in range(L)] + [draw(st.integers(2, 4)) if softmax else 1]
    acts = [draw(st.sampled_from(HIDDEN)) for _ in range(L - 1)] + ["softmax" if softmax else "sigmoid"]
    return {"layer_dims": dims, "activations": acts}


def bn_params(rng, dims, dtype):
    """random_params with each hidden b[l] replaced by γ[l] ~ 1 + N(0, 0.3²), β[l] ~ N(0, 0.5²)."""
    p = random_params(rng, dims, dtype)
    for l in range(1, len(dims) - 1):
        del p[f"b{l}"]
        p[f"gamma{l}"] = normal(rng, (dims[l], 1), dtype, 0.3) + dtype(1)
        p[f"beta{l}"] = normal(rng, (dims[l], 1), dtype, 0.5)
    return p


def labels_for(rng, acts, C, m, dtype):
    if acts[-1] == "softmax":
        Y = np.zeros((C, m), dtype)
        Y[rng.integers(0, C, m), np.arange(m)] = 1
        return Y
    return rng.integers(0, 2, (1, m)).astype(dtype)


def torch_cost(model, x, Y, acts, lambd, m):
    """torch's own cost of the batch: F.cross_entropy (class indices) or BCE with logits, + λ/(2m) Σ‖W‖²."""
    z = model(x)
    y = tensor(Y)
    data = (torch.nn.functional.cross_entropy(z, y.argmax(1)) if acts[-1] == "softmax"
            else torch.nn.functional.binary_cross_entropy_with_logits(z, y))
    return data + lambd / (2 * m) * sum((lin.weight ** 2).sum() for lin in model.linears)


@dtypes
@PARITY
@given(net=bn_nets(), m=bn_batches, seed=seeds, lambd=st.sampled_from([0.0, 0.5]))
def test_F40_batchnorm_network_matches_deepnet(dtype, net, m, seed, lambd):
    """model_forward / model_backward (training mode) against DeepNet with BatchNorm1d + autograd: Z̃[l]
    (the input of g), A[l], J, and dW[l], dγ[l], dβ[l] (hidden), dW[L], db[L], each with bn_network_tol.

    float32 takes m >= 3. With m = 2 each unit's z̃ is ±γσ/√(σ² + ε) + β, nearly independent of z, and
    dZ = (γ/s)(g - ⟨g⟩ - z_norm ⟨g z_norm⟩) cancels to (γ/s)(ε/(σ² + ε))(g₁ - g₂)/2 on both sides: a
    relative error of eps·(σ² + ε)/ε, 8e-5 in float32 for σ² = 0.0065 (seen), 1e-2 for σ² = 1. float64
    keeps m = 2 (2e-11 relative at σ² = 1, and those dZ are tiny, under atol)."""
    assume(dtype == np.float64 or m >= 3)
    rng = np.random.default_rng(seed)
    dims, acts = net["layer_dims"], net["activations"]
    params = bn_params(rng, dims, dtype)
    X = normal(rng, (dims[0], m), dtype, 2.0)
    Y = labels_for(rng, acts, dims[-1], m, dtype)
    AL, caches = network.model_forward(X, params, acts)
    grads = network.model_backward(AL, Y, caches, lambd=lambd)

    model = DeepNet.from_params(params, acts).train()
    x = tensor(X)
    outs = model.layer_outputs(x, stats="batch")
    # every quantity with bn_network_tol: the dtype's tolerance plus the rounding batch norm's γ/s amplifies
    for l, (c, (z, a)) in enumerate(zip(caches, outs), start=1):
        A = caches[l]["linear_activation"][0][0] if l < len(acts) else AL
        for name, mine, gold in ((f"Z[{l}]", c["linear_activation"][1], convert.to_numpy(z)),
                                 (f"A[{l}]", A, convert.to_numpy(a))):
            assert_same(name, mine, gold, dtype, bn_network_tol(caches, gold, dtype))
    j = torch_cost(model, x, Y, acts, lambd, m)
    assert_same("J", network.model_cost(X, Y, params, acts, lambd=lambd), j, dtype,
                bn_network_tol(caches, j.detach().numpy(), dtype))
    j.backward()
    gold = convert.grads_from_model(model)
    assert list(gold) == list(grads)                      # dW1, dgamma1, dbeta1, ..., dWL, dbL
    top = max(float(np.abs(g).max()) for g in gold.values())
    for k in grads:                                       # relative to the largest gradient: see bn_network_tol
        assert_same(k, grads[k], gold[k], dtype, bn_network_tol(caches, gold[k], dtype, scale=top))


def test_F40_gradient_check_of_batchnorm_network():
    """scratch's hand-derived backward against finite differences of its own cost (batch statistics
    recomputed at every θ ± ε e_i, so the coupling through μ and σ² is in the check), below 1e-7 in
    float64; a 1 % error in dγ1 alone is flagged. torch.autograd.gradcheck passes on torch's cost too."""
    rng = np.random.default_rng(11)
    dims, acts, lambd = [3, 5, 4, 3], ["tanh", "relu", "softmax"], 0.3
    params = bn_params(rng, dims, np.float64)
    X, Y = rng.standard_normal((3, 8)), labels_for(rng, acts, 3, 8, np.float64)
    AL, caches = network.model_forward(X, params, acts)
    grads = network.model_backward(AL, Y, caches, lambd=lambd)

    def cost(p):
        return network.model_cost(X, Y, p, acts, lambd=lambd)
    assert gradient_check(params, grads, cost) < GRADCHECK_THRESHOLD
    assert gradient_check(params, dict(grads, dgamma1=grads["dgamma1"] * 1.01), cost) > GRADCHECK_THRESHOLD

    model = DeepNet.from_params(params, acts).train()
    names = [n for n, _ in model.named_parameters()]
    x = tensor(X)

    def J(*ps):
        state = dict(zip(names, ps))
        z = torch.func.functional_call(model, state, (x,), {"masks": None})
        data = torch.nn.functional.cross_entropy(z, tensor(Y).argmax(1))
        return data + lambd / 16 * sum((q ** 2).sum() for q in ps if q.ndim == 2)
    leaves = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    assert torch.autograd.gradcheck(J, leaves, eps=1e-6, atol=1e-7)


# --------------------------------------------- F41: running statistics and prediction

@dtypes
@PARITY
@given(seed=seeds, bn_beta=st.sampled_from([0.5, 0.9, 0.99]), eps=epsilons,
       batches=st.lists(bn_batches, min_size=1, max_size=8))
def test_F41_running_statistics_match_batchnorm1d_buffers(dtype, seed, bn_beta, eps, batches):
    """After the same batches (any sizes >= 2): μ_run equal to running_mean; σ²_run of
    update_running_stats(unbiased=True) equal to running_var; then prediction mode (running statistics,
    m = 1 too) equal to DeepNet.eval() and predict. β >= 0.5 keeps σ²_run >= β⁸ >= 0.004 (the running
    variance starts at 1), so the gain γ/√(σ²_run + ε) stays moderate; β = 0 (momentum 1) is below."""
    rng = np.random.default_rng(seed)
    dims, acts = [3, 4, 3, 3], ["relu", "tanh", "softmax"]
    params = bn_params(rng, dims, dtype)
    model = DeepNet.from_params(params, acts, bn_eps=eps, bn_beta=bn_beta).train()
    assert model.norm(1).momentum == convert.bn_beta_to_momentum(bn_beta)
    stats = bn.initialize_running_stats(params)
    for m in batches:
        X = normal(rng, (3, m), dtype, 2.0) + dtype(1)
        _, caches = network.model_forward(X, params, acts, bn_eps=eps)
        stats = bn.update_running_stats(stats, caches, beta=bn_beta, unbiased=True)
        with torch.no_grad():
            model(tensor(X))
    gold = model.to_bn_stats()
    for k in stats:
        assert_same(f"{k}_run", stats[k], gold[k], dtype)
    model.eval()
    for m in (1, 5):
        X = normal(rng, (3, m), dtype, 2.0)
        AL, caches = network.model_forward(X, params, acts, bn_stats=stats, bn_eps=eps)
        outs = model.layer_outputs(tensor(X))
        for l, (c, (z, _)) in enumerate(zip(caches[:-1], outs), start=1):
            # z̃ = z·(γ/s) + (β - μγ/s) in torch: with the running statistics too (bn_tolerances)
            A_prev, W, _ = c["linear_activation"][0]
            running = {"gamma": params[f"gamma{l}"], "mu": stats[f"mu{l}"], "var": stats[f"var{l}"], "eps": eps}
            for r, tol in enumerate(bn_tolerances(running, dtype, W @ A_prev)["Z_tilde"]):
                assert_same(f"eval Z̃[{l}] row {r} m={m}", c["linear_activation"][1][r], convert.to_numpy(z)[r],
                            dtype, tol)
        assert_same(f"eval A[L] m={m}", AL, convert.to_numpy(outs[-1][1]), dtype)
        np.testing.assert_array_equal(network.predict(X, params, acts, bn_stats=stats, bn_eps=eps),
                                      convert.to_numpy(model.predict(tensor(X))))


@dtypes
def test_F41_momentum_one_keeps_the_last_batch(dtype):
    """β = 0 (momentum = 1): the running statistics are the last batch's μ and unbiased σ², on both sides."""
    rng = np.random.default_rng(8)
    params = bn_params(rng, [3, 4, 1], dtype)
    model = DeepNet.from_params(params, ["relu", "sigmoid"], bn_beta=0.0).train()
    assert model.norm(1).momentum == 1.0
    for m in (5, 9, 6):
        X = normal(rng, (3, m), dtype, 2.0)
        _, caches = network.model_forward(X, params, ["relu", "sigmoid"])
        with torch.no_grad():
            model(tensor(X))
    stats = bn.update_running_stats(bn.initialize_running_stats(params), caches, beta=0.0, unbiased=True)
    np.testing.assert_array_equal(stats["mu1"], caches[0]["batchnorm"]["mu"])
    assert_same("μ_run = last μ_B", stats["mu1"], model.to_bn_stats()["mu1"], dtype)
    assert_same("σ²_run = last σ²_B·m/(m-1)", stats["var1"], model.to_bn_stats()["var1"], dtype)
    assert_same("σ²_run = torch.var(correction=1) of the last batch", model.to_bn_stats()["var1"],
                torch.var(tensor(caches[0]["linear_activation"][0][1] @ X), dim=0).numpy()[:, None], dtype)


@dtypes
@PARITY
@given(seed=seeds, bn_beta=st.sampled_from([0.5, 0.9, 0.99]), m=bn_batches, k=st.integers(1, 12))
def test_F41_course_running_variance_differs_by_the_bessel_factor(dtype, seed, bn_beta, m, k):
    """The course's running σ² (biased batch variances, unbiased=False) is not what torch keeps; with k
    batches of m examples each, torch's = βᵏ + (m/(m-1)) (course - βᵏ) (course_running_var_to_torch)."""
    rng = np.random.default_rng(seed)
    params = bn_params(rng, [3, 4, 1], dtype)
    model = DeepNet.from_params(params, ["tanh", "sigmoid"], bn_beta=bn_beta).train()
    course = bn.initialize_running_stats(params)
    for _ in range(k):
        X = normal(rng, (3, m), dtype, 2.0)
        _, caches = network.model_forward(X, params, ["tanh", "sigmoid"])
        course = bn.update_running_stats(course, caches, beta=bn_beta)
        with torch.no_grad():
            model(tensor(X))
    gold = model.to_bn_stats()
    assert_same("μ_run (no correction for the mean)", course["mu1"], gold["mu1"], dtype)
    assert_same("course σ²_run -> torch", convert.course_running_var_to_torch(course["var1"], m, k, bn_beta),
                gold["var1"], dtype)
    # and the difference is real: before the conversion they differ by (1/(m-1)) (course - βᵏ)
    gap = (course["var1"] - bn_beta ** k) / (m - 1)
    big = np.abs(gap) > 1e-3 * np.abs(gold["var1"])
    assume(big.any())                                  # units whose batches had some spread
    assert not np.allclose(course["var1"][big], gold["var1"][big], rtol=1e-4, atol=0)


@dtypes
def test_F41_unbiased_variance_is_torch_var_with_bessel(dtype):
    Z = np.random.default_rng(0).standard_normal((4, 6)).astype(dtype)
    _, cache = bn.batchnorm_forward(Z, np.ones((4, 1), dtype), np.zeros((4, 1), dtype))
    assert_same("σ²·m/(m-1)", convert.unbiased_variance(cache["var"], 6),
                torch.var(tensor(Z), dim=0, correction=1).numpy()[:, None], dtype)
    with pytest.raises(ValueError, match="m"):
        convert.unbiased_variance(cache["var"], 1)


def test_momentum_bn_beta_conversions():
    """BatchNorm1d's momentum weighs the BATCH, the course's β the past: momentum = 1 - β."""
    assert convert.bn_beta_to_momentum(0.9) == 1 - 0.9
    assert convert.momentum_to_bn_beta(0.1) == 1 - 0.1
    assert convert.bn_beta_to_momentum(0.0) == 1.0                # β = 0: the running stats are the last batch's
    for beta in (0.5, 0.9, 0.99, 0.999):
        assert convert.momentum_to_bn_beta(convert.bn_beta_to_momentum(beta)) == pytest.approx(beta, abs=1e-15)
    with pytest.raises(ValueError, match=r"bn_beta must be in \[0, 1\)"):
        convert.bn_beta_to_momentum(1.0)
    with pytest.raises(ValueError, match="None"):
        convert.momentum_to_bn_beta(None)
    with pytest.raises(ValueError, match="momentum"):
        convert.momentum_to_bn_beta(0.0)                          # β = 1: the average never moves
    with pytest.raises(ValueError, match="bn_beta"):
        DeepNet([2, 3, 1], ["relu", "sigmoid"], batchnorm=True, bn_beta=1.5)


# ------------------------------------------------------ DeepNet ⇄ params with batch norm

@PARITY
@given(net=bn_nets(), seed=seeds, dtype=st.sampled_from([np.float64, np.float32]))
def test_params_state_dict_round_trips_with_batchnorm_are_exact(net, seed, dtype):
    rng = np.random.default_rng(seed)
    dims, acts = net["layer_dims"], net["activations"]
    params = bn_params(rng, dims, dtype)
    stats = {k: normal(rng, v.shape, dtype) ** 2 + (dtype(0) if k.startswith("var") else dtype(-1))
             for k, v in bn.initialize_running_stats(params).items()}
    before = {k: v.copy() for k, v in params.items()}
    sd = convert.params_to_state_dict(params, stats)
    L = len(dims) - 1
    want = ([f"linears.{i}.weight" for i in range(L)] + [f"linears.{L - 1}.bias"]
            + [f"norms.{i}.{k}" for i in range(L - 1) for k in ("weight", "bias", "running_mean", "running_var")])
    assert sorted(sd) == sorted(want)
    for l in range(1, L):
        assert np.array_equal(sd[f"norms.{l - 1}.weight"].numpy(), params[f"gamma{l}"][:, 0])
        assert np.array_equal(sd[f"norms.{l - 1}.running_var"].numpy(), stats[f"var{l}"][:, 0])
    model = DeepNet.from_params(params, acts, bn_stats=stats)
    assert model.norm(1).weight.dtype == convert.torch_dtype(dtype)
    back, back_stats = model.to_params(), model.to_bn_stats()
    assert list(back) == param_keys(params)                 # layer order: W1, gamma1, beta1, ..., WL, bL
    for ref, got in ((params, back), (stats, back_stats), (before, params)):
        assert sorted(ref) == sorted(got)
        for k in ref:
            assert got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape and np.array_equal(got[k], ref[k]), k
    assert not np.shares_memory(back["gamma1"], params["gamma1"])
    # a LightningModule's prefix, and a state_dict without running statistics
    prefixed = {"model." + k: v for k, v in model.state_dict().items()}
    assert all(np.array_equal(convert.state_dict_to_params(prefixed)[k], params[k]) for k in params)
    assert convert.state_dict_to_bn_stats(convert.params_to_state_dict(params)) is None
    fresh = DeepNet.from_params(params, acts).to_bn_stats()           # bn_stats None: torch's start, 0 and 1
    for k, v in bn.initialize_running_stats(params).items():
        assert np.array_equal(fresh[k], v)


def test_batchnorm_state_dict_errors_name_what_is_wrong():
    params = bn_params(np.random.default_rng(0), [3, 4, 1], np.float64)
    with pytest.raises(ValueError, match=r"exactly the keys \['mu1', 'var1'\]"):
        convert.params_to_state_dict(params, {"mu1": np.zeros((4, 1))})
    with pytest.raises(ValueError, match=r"bn_stats\['var1'\] must have shape \(n\[1\], 1\) with 4 rows"):
        convert.params_to_state_dict(params, {"mu1": np.zeros((4, 1)), "var1": np.ones((3, 1))})
    sd = convert.params_to_state_dict(params)
    del sd["norms.0.bias"]
    with pytest.raises(ValueError, match="norms.0.weight and norms.0.bias"):
        convert.state_dict_to_params(sd)
    sd = convert.params_to_state_dict(params)
    sd["linears.0.bias"] = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="no linears.0.bias"):
        convert.state_dict_to_params(sd)


@pytest.mark.parametrize("init", ["he", "xavier", "zeros"])
def test_deepnet_batchnorm_init_equals_scratch(init):
    """DeepNet(batchnorm=True, seed) holds scratch's initialize_parameters(batchnorm=True) exactly: the same W
    draws as without batch norm, γ = 1, β = 0, no hidden bias; running statistics 0 and 1."""
    dims = [5, 4, 3, 2]
    model = DeepNet(dims, ["relu", "tanh", "softmax"], init=init, seed=4, batchnorm=True)
    want = initialize_parameters(dims, init, rng=4, batchnorm=True)
    got = model.to_params()
    assert list(got) == list(want)
    for k in want:
        assert np.array_equal(got[k], want[k]), k
    assert model.linears[0].bias is None and model.linears[-1].bias is not None
    plain = DeepNet(dims, ["relu", "tanh", "softmax"], init=init, seed=4).to_params()
    assert all(np.array_equal(plain[f"W{l}"], got[f"W{l}"]) for l in (1, 2, 3))
    for k, v in bn.initialize_running_stats(want).items():
        assert np.array_equal(model.to_bn_stats()[k], v)


def test_layer_outputs_statistics_modes():
    """stats=None in train mode updates the running statistics once per call; "batch" uses the batch's
    statistics and leaves them; "running" and predict_proba use the running statistics in any mode."""
    rng = np.random.default_rng(5)
    params = bn_params(rng, [3, 4, 2], np.float64)
    model = DeepNet.from_params(params, ["relu", "softmax"]).train()
    x = tensor(rng.standard_normal((3, 6)))
    start = model.to_bn_stats()
    a_batch = model.layer_outputs(x, stats="batch")[-1][1]
    assert all(np.array_equal(start[k], v) for k, v in model.to_bn_stats().items())
    a_train = model.layer_outputs(x)[-1][1]
    assert torch.equal(a_batch, a_train)
    after = model.to_bn_stats()
    assert not np.array_equal(after["mu1"], start["mu1"]) and model.norm(1).num_batches_tracked.item() == 1
    running = model.layer_outputs(x, stats="running")[-1][1]
    assert model.training and not torch.allclose(running, a_train)
    assert torch.equal(model.predict_proba(x), running)
    assert all(np.array_equal(after[k], v) for k, v in model.to_bn_stats().items())
    assert torch.equal(model.eval()(x), model.layer_outputs(x, stats="running")[-1][0])
    with pytest.raises(ValueError, match="stats must be one of"):
        model.layer_outputs(x, stats="train")


def test_grads_optimizer_state_and_weight_decay_with_batchnorm():
    """γ, β have gradients dgamma, dbeta (set_grads is the inverse of grads_from_model); the optimizer
    state names them so; L2 (weight decay λ/m and l2_penalty) touches the weights W[l] only."""
    rng = np.random.default_rng(6)
    params = bn_params(rng, [3, 4, 5, 1], np.float64)
    model = DeepNet.from_params(params, ["relu", "tanh", "sigmoid"])
    grads = {"d" + k: rng.standard_normal(v.shape) for k, v in params.items()}
    convert.set_grads(model, grads)
    back = convert.grads_from_model(model)
    assert list(back) == ["dW1", "dgamma1", "dbeta1", "dW2", "dgamma2", "dbeta2", "dW3", "db3"]
    assert all(np.array_equal(back[k], grads[k]) for k in grads)
    weights = [torch.tensor(params[f"W{l}"]) for l in (1, 2, 3)]
    assert functional.l2_penalty(model, 0.7, 10).item() == functional.l2_penalty(weights, 0.7, 10).item()
    opt = convert.optimizer_for(model, "adam", 0.01, lambd=0.7, m=10)
    decayed, plain = opt.param_groups
    assert {id(p) for p in decayed["params"]} == {id(lin.weight) for lin in model.linears}
    assert decayed["weight_decay"] == 0.7 / 10 and plain["weight_decay"] == 0.0
    opt.step()
    assert sorted(convert.optimizer_state(opt, model)["v"]) == sorted(grads)
