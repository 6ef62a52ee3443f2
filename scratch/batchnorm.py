"""Batch normalization of a hidden layer (F40, F41), examples as columns.

In training, over the m examples (columns) of the mini-batch, for each unit (row) of Z = W[l] A[l-1]:

    μ   = (1/m) Σ_i z_i                       the batch mean
    σ²  = (1/m) Σ_i (z_i - μ)²                the batch variance (biased: 1/m, not 1/(m-1))
    z_norm_i = (z_i - μ) / √(σ² + ε)          mean 0, variance 1 (ε keeps σ² = 0 finite)
    z̃_i = γ z_norm_i + β                      γ, β: (n[l], 1) learned, so the layer can undo it

b[l] is dropped: any constant added to Z is removed by - μ, and β takes its place.

At prediction there is no batch: μ and σ² come from exponentially weighted averages of the batch
statistics seen in training (F34's v = βv + (1-β)θ), the running statistics.

Conventions against torch.nn.BatchNorm1d (torch_ref/convert.py states the conversion):
  - its `momentum` is 1 - β (torch: running = (1 - momentum) running + momentum batch);
  - its running variance averages the UNBIASED batch variance σ²·m/(m-1), while it normalizes
    with the biased one; update_running_stats(unbiased=True) keeps what torch keeps;
  - its running statistics start at μ = 0, σ² = 1 (initialize_running_stats does the same);
  - ε defaults to 1e-5 on both sides;
  - m = 1 in training raises on both sides (σ² = 0 and z_norm = 0 whatever the input).
"""
import numpy as np

from ._checks import check_beta, check_matrix, check_params, check_positive, has_batchnorm

BN_EPS = 1e-5   # torch.nn.BatchNorm1d's default ε


def _check_gamma_beta(Z, gamma, beta):
    check_matrix("Z", Z, finite=False, layout="(n[l], m)")
    for name, v in (("gamma", gamma), ("beta", beta)):
        check_matrix(name, v, rows=Z.shape[0], cols=1, finite=False, layout="(n[l], 1)",
                     why=("(rows of Z)", ""))


def batchnorm_forward(Z, gamma, beta, eps=BN_EPS):
    """Batch norm in training mode (F40): normalize each row of Z over its m columns with the
    batch's own mean and (biased) variance, then scale by γ and shift by β.

    Z: (n[l], m) with m >= 2, gamma, beta: (n[l], 1), eps > 0.
    Returns Z_tilde: (n[l], m) and cache = {"z_norm", "gamma", "mu", "var", "eps", "m"} (mu, var:
    (n[l], 1) batch statistics, for the backward pass and the running statistics).
    """
    _check_gamma_beta(Z, gamma, beta)
    eps = check_positive("eps", eps)
    m = Z.shape[1]
    if m < 2:
        raise ValueError(f"batch norm in training needs m >= 2 examples per batch; got Z of shape {Z.shape} "
                         f"(with m = 1, σ² = 0 and z_norm = 0 whatever the input; torch.nn.BatchNorm1d "
                         f"raises too): use larger batches, or batchnorm_predict with running statistics")
    mu = np.mean(Z, axis=1, keepdims=True)
    var = np.mean((Z - mu) ** 2, axis=1, keepdims=True)
    z_norm = (Z - mu) / np.sqrt(var + eps)
    Z_tilde = gamma * z_norm + beta
    return Z_tilde, {"z_norm": z_norm, "gamma": gamma, "mu": mu, "var": var, "eps": eps, "m": m}


def batchnorm_backward(dZ_tilde, cache):
    """The hand-derived backward pass of batchnorm_forward (F40).

    dZ_tilde: (n[l], m), the network's dZ̃ = m ∂J/∂Z̃ (the scale of every dZ in scratch: dZ[L] = A - Y,
    and linear_backward takes the 1/m). Returns dZ (n[l], m) on the same scale, and dgamma, dbeta
    (n[l], 1), the gradients of J:

        dβ = (1/m) Σ_i dz̃_i            dγ = (1/m) Σ_i dz̃_i z_norm_i      (like db = (1/m) Σ dZ)
        dZ = γ / √(σ² + ε) · (dz̃ - ⟨dz̃⟩ - z_norm ⟨dz̃ z_norm⟩)          ⟨·⟩ = mean over the m columns

    How dZ follows from the graph z → (μ, σ²) → z_norm → z̃, one row, s = √(σ² + ε), g = dz̃:
        dz_norm_i = γ g_i
        dσ² = Σ_i dz_norm_i (z_i - μ) · (-½) s⁻³ = -(γ / 2s²) Σ_i g_i z_norm_i
        dμ  = -(1/s) Σ_i dz_norm_i + dσ² · (-2/m) Σ_i (z_i - μ) = -(γ/s) Σ_i g_i   (Σ (z_i - μ) = 0)
        dz_i = dz_norm_i / s + dσ² · 2(z_i - μ)/m + dμ / m       (z_i reaches J along three paths)
             = (γ/s) (g_i - (1/m) Σ_j g_j z_norm_j · z_norm_i - (1/m) Σ_j g_j)
    since (z_i - μ)/s = z_norm_i. Every example's gradient depends on the whole batch through the
    two means: the coupling that makes batch norm a mini-batch method.
    """
    if not isinstance(cache, dict) or not {"z_norm", "gamma", "mu", "var", "eps", "m"} <= set(cache):
        raise TypeError(f"cache must be the dict from batchnorm_forward; got {type(cache).__name__}")
    z_norm, gamma = cache["z_norm"], cache["gamma"]
    check_matrix("dZ_tilde", dZ_tilde, rows=z_norm.shape[0], cols=z_norm.shape[1], finite=False,
                 layout="(n[l], m)", why="(the shape of Z in the cache)")
    dbeta = np.mean(dZ_tilde, axis=1, keepdims=True)
    dgamma = np.mean(dZ_tilde * z_norm, axis=1, keepdims=True)
    dZ = gamma / np.sqrt(cache["var"] + cache["eps"]) * (dZ_tilde - dbeta - z_norm * dgamma)
    return dZ, dgamma, dbeta


def batchnorm_predict(Z, gamma, beta, mu, var, eps=BN_EPS):
    """Batch norm at prediction (F41): the same z̃ = γ (z - μ)/√(σ² + ε) + β with given statistics
    (the running ones), so each example's output depends on that example alone (any m, m = 1 too).
    Z: (n[l], m); gamma, beta, mu, var: (n[l], 1). Returns Z_tilde: (n[l], m)."""
    _check_gamma_beta(Z, gamma, beta)
    for name, v in (("mu", mu), ("var", var)):
        check_matrix(name, v, rows=Z.shape[0], cols=1, finite=False, layout="(n[l], 1)", why=("(rows of Z)", ""))
    eps = check_positive("eps", eps)
    return gamma * ((Z - mu) / np.sqrt(var + eps)) + beta


def initialize_running_stats(params):
    """Running statistics of every batch-norm layer l of params: {"mu{l}": zeros (n[l], 1),
    "var{l}": ones (n[l], 1)} in params' dtype, torch.nn.BatchNorm1d's starting values."""
    L = check_params(params)
    stats = {}
    for l in range(1, L + 1):
        if has_batchnorm(params, l):
            like = params[f"gamma{l}"]
            stats[f"mu{l}"], stats[f"var{l}"] = np.zeros_like(like), np.ones_like(like)
    return stats


def check_step_sizes(plan):
    """Batch norm in training needs m >= 2 examples in every step of a scratch.plan.Plan (the variance of
    one example is 0, and torch's BatchNorm1d raises): ValueError at the entry of a training run, not in
    the middle of it. The three training paths call this."""
    smallest = min(plan.step_size(i) for i in range(plan.steps_per_epoch))
    if smallest < 2:
        raise ValueError(f"batch norm needs m >= 2 examples in every step (the variance of one example is 0); "
                         f"the smallest step of this plan has {smallest}: choose mini_batch_size so that "
                         f"m mod mini_batch_size is not 1")


def unbiased_variance(var, m):
    """Bessel's correction, σ²·m/(m-1), of a biased batch variance σ² = (1/m) Σ (z - μ)² over m >= 2
    examples: the variance torch's BatchNorm1d averages into running_var (both sides normalize with the
    biased one)."""
    return var * (m / (m - 1))


def update_running_stats(stats, caches, beta=0.9, unbiased=False):
    """One exponentially weighted average step (F34) of the running statistics, from the batch
    statistics in `caches` (scratch.network.model_forward's, training mode), for each batch-norm layer l:

        μ_run[l]  = β μ_run[l]  + (1 - β) μ_B[l]
        σ²_run[l] = β σ²_run[l] + (1 - β) σ²_B[l]     σ²_B biased (1/m), or σ²_B·m/(m-1) if unbiased

    beta in [0, 1) (torch's momentum is 1 - β); unbiased=True keeps what BatchNorm1d keeps.
    Returns new stats (stats is not modified).
    """
    beta = check_beta("beta", beta)
    if not isinstance(stats, dict):
        raise TypeError(f"stats must be a dict {{'mu1', 'var1', ...}}; got {type(stats).__name__}")
    new = dict(stats)
    for l, cache in enumerate(caches, start=1):
        bn = cache.get("batchnorm") if isinstance(cache, dict) else None
        if bn is None:
            continue
        if f"mu{l}" not in stats or f"var{l}" not in stats:
            raise ValueError(f"stats must have 'mu{l}' and 'var{l}' for batch-norm layer {l}; got keys {sorted(stats)}")
        var_B = unbiased_variance(bn["var"], bn["m"]) if unbiased else bn["var"]
        new[f"mu{l}"] = beta * stats[f"mu{l}"] + (1 - beta) * bn["mu"]
        new[f"var{l}"] = beta * stats[f"var{l}"] + (1 - beta) * var_B
    return new
