"""Costs and regularization penalties (F06-F08, F20, F21).

Binary classification, examples are columns: AL, ZL, Y are (1, m). The loss L
is per example, the cost J is the MEAN of the m losses (the course's 1/m lives
here and in the 1/m of linear_backward, nowhere else).

Names: L2 is the SQUARED Frobenius norm, λ/(2m) Σ_l ‖W[l]‖²_F ("weight decay");
L1 is the sum of absolute values, λ/(2m) Σ_l Σ |W[l]|. The course notes swap
the two names beside their formulas; these functions follow the formulas.
Both penalize weights only, never biases.

Many classes (F39): the output is a softmax over C classes, AL and ZL are (C, m) and Y is
one-hot (C, m) (one_hot turns class indices into it); the cost is the mean over the m examples
of -Σ_k y_k log a_k.
"""
import re

import numpy as np

from ._checks import check_count, check_labels, check_matrix, check_memory, check_nonneg, check_one_hot


def _check_AL_Y(AL, Y, name="AL"):
    check_matrix(name, AL, rows=1, finite=False, layout="(1, m)")
    check_labels("Y", Y, m=AL.shape[1])
    return AL, Y.astype(AL.dtype if AL.dtype.kind == "f" else np.float64, copy=False)


def compute_cost(AL, Y):
    """Cross-entropy cost from probabilities (F06), the exact course formula:

        J = -(1/m) Σ_i [ y_i log a_i + (1 - y_i) log(1 - a_i) ]

    AL: (1, m) probabilities in [0, 1], Y: (1, m) labels in {0, 1}. Returns a float.
    For y in {0, 1} exactly one term survives; the other is taken as 0 (its
    limit), so a saturated CORRECT prediction (a = y) gives 0 rather than 0·log 0 = NaN.
    A saturated WRONG prediction (a = 1 - y) gives J = inf, the exact value of the
    formula; numpy's divide-by-zero warning is silenced. cost_from_logits is the
    stable path for training (finite for any Z).
    """
    AL, Y = _check_AL_Y(AL, Y)
    if np.any((AL < 0) | (AL > 1)):
        raise ValueError(f"AL must hold probabilities in [0, 1]; got values in "
                         f"[{float(np.nanmin(AL))}, {float(np.nanmax(AL))}]")
    with np.errstate(divide="ignore"):
        losses = -np.where(Y == 1, np.log(AL), np.log(1 - AL))
    return float(np.mean(losses))


def cost_from_logits(ZL, Y):
    """The same cross-entropy cost from the logits ZL (AL = σ(ZL)), finite for any ZL (F07):

        L(z, y) = -(y log σ(z) + (1-y) log(1-σ(z))) = max(z, 0) - z y + log(1 + e^(-|z|))

    (log σ(z) = -log(1 + e^-z) and log(1 - σ(z)) = -z - log(1 + e^-z); folding
    the sign of z into max(z, 0) keeps every exponent <= 0, the log-sum-exp trick).
    ZL: (1, m), Y: (1, m) in {0, 1}. Returns J = mean over m, a float.
    Non-finite ZL is not rejected: it gives a non-finite J (diverged training shows).
    """
    ZL, Y = _check_AL_Y(ZL, Y, name="ZL")
    return _cost_from_logits(ZL, Y)


def _cost_from_logits(ZL, Y):
    """cost_from_logits without its checks (Y in ZL's dtype, or any 0/1 array)."""
    with np.errstate(under="ignore"):
        losses = np.maximum(ZL, 0) - ZL * Y + np.log1p(np.exp(-np.abs(ZL)))
    return float(np.mean(losses))


def one_hot(labels, C, dtype=np.float64):
    """Class indices -> one-hot columns: Y[k, i] = 1 where labels[i] = k, else 0.

    labels: m class indices in 0..C-1, shape (m,) or (1, m), ints (or floats holding whole numbers).
    C: the number of classes, >= 2. Returns Y: (C, m) of dtype. A (C, m) over the memory budget is
    refused (MemoryBudgetError, a ValueError) before it is allocated.
    """
    C = check_count("C", C, minimum=2)
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be m >= 1 class indices, shape (m,) or (1, m); got shape {labels.shape}")
    if labels.dtype.kind not in "iuf" or (labels.dtype.kind == "f" and not np.all(labels == np.round(labels))):
        raise ValueError(f"labels must be whole numbers (class indices 0..{C - 1}); got dtype {labels.dtype}")
    outside = labels[(labels < 0) | (labels >= C)]
    if outside.size:
        raise ValueError(f"labels must lie in 0..{C - 1} (C = {C}); got {np.unique(outside)[:5].tolist()}")
    dtype = np.dtype(dtype)
    check_memory(f"one_hot: C = {C} classes x m = {labels.size} labels", C * labels.size * dtype.itemsize, "Y")
    Y = np.zeros((C, labels.size), dtype=dtype)
    Y[labels.astype(np.intp), np.arange(labels.size)] = 1
    return Y


def _check_softmax_AL_Y(AL, Y, name):
    check_matrix(name, AL, finite=False, layout="(C, m)")
    check_one_hot("Y", Y, C=AL.shape[0], m=AL.shape[1])
    return Y.astype(AL.dtype if AL.dtype.kind == "f" else np.float64, copy=False)


def softmax_cost(AL, Y):
    """Cross-entropy of a softmax output from its probabilities (F39), the course formula:

        J = -(1/m) Σ_i Σ_k y_ki log a_ki

    AL: (C, m) probabilities (columns of softmax(ZL)), Y: one-hot (C, m). Returns a float.
    Only the true class's term survives in each column (y = 0 elsewhere; 0·log 0 is taken as 0),
    so J = -(1/m) Σ_i log a_(true class of i), i; a true class with a = 0 gives inf (the exact value
    of the formula). softmax_cost_from_logits is the stable path.
    """
    Y = _check_softmax_AL_Y(AL, Y, "AL")
    if np.any((AL < 0) | (AL > 1)):
        raise ValueError(f"AL must hold probabilities in [0, 1]; got values in "
                         f"[{float(np.nanmin(AL))}, {float(np.nanmax(AL))}]")
    with np.errstate(divide="ignore"):
        log_true = np.log(np.sum(np.where(Y == 1, AL, 0), axis=0))   # log a of each column's class
    return float(-np.mean(log_true))


def softmax_cost_from_logits(ZL, Y):
    """The same cost from the logits ZL (AL = softmax(ZL)), finite for any finite ZL (F39):

        log a_ki = z_ki - log Σ_j e^(z_ji)    so    J = (1/m) Σ_i [ lse(z_:i) - Σ_k y_ki z_ki ]

    with lse(z) = c + log Σ_j e^(z_j - c), c = max_j z_j (the log-sum-exp trick: every exponent
    <= 0, and the sum >= 1, so neither the exp nor the log can overflow or hit log 0). Computed as
    log a = (z - c) - log Σ_j e^(z_j - c), so that c cancels before any rounding.
    ZL: (C, m), Y: one-hot (C, m). Returns a float. torch's F.cross_entropy(z, class indices)
    computes this from batch-first logits.
    """
    return _softmax_cost_from_logits(ZL, _check_softmax_AL_Y(ZL, Y, "ZL"))


def _softmax_cost_from_logits(ZL, Y):
    """softmax_cost_from_logits without its checks."""
    shifted = ZL - ZL.max(axis=0, keepdims=True)                 # z - c <= 0
    with np.errstate(under="ignore"):
        log_A = shifted - np.log(np.sum(np.exp(shifted), axis=0, keepdims=True))   # log softmax
    return float(-np.mean(np.sum(np.where(Y == 1, log_A, 0), axis=0)))


def squared_error_cost(AL, Y):
    """Squared-error cost (F08), the course's non-convex alternative for logistic regression:

        J = (1/m) Σ_i ½ (a_i - y_i)²

    AL, Y: (1, m) (Y any real targets here). Note the ½: torch's MSELoss has none.
    """
    check_matrix("AL", AL, rows=1, finite=False, layout="(1, m)")
    check_matrix("Y", Y, rows=1, cols=AL.shape[1], finite=False, layout="(1, m)",
                 why="(the shape of AL)")
    return float(np.mean(0.5 * (AL - Y) ** 2))


def _weights(params):
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict {{'W1', 'b1', ...}}; got {type(params).__name__}")
    keys = sorted((k for k in params if re.fullmatch(r"W[1-9][0-9]*", str(k))), key=lambda k: int(k[1:]))
    if not keys:
        raise ValueError(f"params must contain weights W1..WL; got keys {sorted(map(str, params))}")
    return [check_matrix(k, params[k], finite=False, layout="(n[l], n[l-1])") for k in keys]


def l2_penalty(params, lambd, m):
    """L2 penalty (F20): λ/(2m) Σ_l ‖W[l]‖²_F, weights only (b is not penalized).
    The ½ makes its gradient (λ/m) W[l]. Returns a float.

    λ = 0 contributes exactly 0, whatever the weights: the norms are not computed, so weights
    whose ‖W‖² overflows to inf give 0, not 0·inf = NaN (torch_ref.functional.training_cost
    adds nothing at λ = 0 either, so both sides see the same cost)."""
    lambd = check_nonneg("lambd", lambd)
    m = check_count("m", m, minimum=1)
    _weights(params)
    return _l2_penalty(params, lambd, m)


def _l2_penalty(params, lambd, m):
    """l2_penalty without its checks: λ/(2m) Σ_l ‖W[l]‖²_F over the keys W1, W2, ... of params."""
    if lambd == 0:
        return 0.0
    weights = [params[f"W{l}"] for l in range(1, len(params) + 1) if f"W{l}" in params]
    return float(lambd / (2 * m) * sum(float(np.sum(np.square(W))) for W in weights))


def l2_gradient(W, lambd, m):
    """∂/∂W[l] of the L2 penalty: (λ/m) W[l], shape (n[l], n[l-1])."""
    lambd = check_nonneg("lambd", lambd)
    m = check_count("m", m, minimum=1)
    check_matrix("W", W, finite=False, layout="(n[l], n[l-1])")
    return (lambd / m) * W


def l1_penalty(params, lambd, m):
    """L1 penalty (F21): λ/(2m) Σ_l Σ_ij |W[l]_ij|, weights only. Returns a float."""
    lambd = check_nonneg("lambd", lambd)
    m = check_count("m", m, minimum=1)
    return float(lambd / (2 * m) * sum(float(np.sum(np.abs(W))) for W in _weights(params)))


def l1_gradient(W, lambd, m):
    """Subgradient of the L1 penalty: (λ/(2m)) sign(W[l]); sign(0) = 0 (torch's abs' at 0)."""
    lambd = check_nonneg("lambd", lambd)
    m = check_count("m", m, minimum=1)
    check_matrix("W", W, finite=False, layout="(n[l], n[l-1])")
    return (lambd / (2 * m)) * np.sign(W)


def compute_cost_with_regularization(AL, Y, params, lambd):
    """J_regularized = compute_cost(AL, Y) + λ/(2m) Σ_l ‖W[l]‖²_F, with m = columns of Y."""
    return compute_cost(AL, Y) + l2_penalty(params, lambd, AL.shape[1])
