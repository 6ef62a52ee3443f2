"""Diagnosing and improving a trained model: bias/variance (F25), ensembles (F28),
vanishing/exploding activations and gradients with depth (F29).
"""
from typing import NamedTuple

import numpy as np

from ._checks import (as_generator, check_activation, check_count, check_matrix,
                             check_nonneg, check_real)
from .initializers import initialize_parameters
from .layers import linear_activation_forward, linear_backward, linear_forward

# "High" means more than this many error points (fractions: 0.02 = 2 %). The course judges by eye:
# train 1 % / dev 11 % is high variance, 0.5 % / 1 % is fine; 2 points separates its examples.
DIAGNOSIS_TOL = 0.02

# The course's basic recipe: what to try for each problem.
RECIPE = {"high bias": ("bigger network (more units, more layers)", "train longer / better optimizer",
                        "another architecture"),
          "high variance": ("more data (or data augmentation)", "regularization (L2, dropout, early stopping)",
                            "another architecture")}


class Diagnosis(NamedTuple):
    """label: "high bias", "high variance", "high bias and high variance" or "ok";
    avoidable_bias = train_error - base_error; variance = dev_error - train_error; advice: what to try."""
    label: str
    avoidable_bias: float
    variance: float
    high_bias: bool
    high_variance: bool
    advice: tuple


def diagnose(train_error, dev_error, base_error=0.0, tol=DIAGNOSIS_TOL):
    """Bias/variance diagnosis (F25) from error rates given as fractions in [0, 1].

        avoidable bias = train error - base error (human / Bayes error; 0 by default)
        variance       = dev error - train error
    Each is "high" when it exceeds tol. Course examples (base 0): 1 %/11 % -> high variance;
    15 %/16 % -> high bias; 15 %/30 % -> high bias and high variance; 0.5 %/1 % -> ok.
    With base error 15 %, 15 %/16 % is ok.
    """
    errors = {}
    for name, value in (("train_error", train_error), ("dev_error", dev_error), ("base_error", base_error)):
        errors[name] = check_real(name, value)
        if not 0.0 <= errors[name] <= 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1] (0.11 for 11 %); got {errors[name]}")
    tol = check_nonneg("tol", tol)
    bias = errors["train_error"] - errors["base_error"]
    variance = errors["dev_error"] - errors["train_error"]
    high_bias, high_variance = bias > tol, variance > tol
    problems = [p for p, on in (("high bias", high_bias), ("high variance", high_variance)) if on]
    label = " and ".join(problems) if problems else "ok"
    advice = tuple(dict.fromkeys(a for p in problems for a in RECIPE[p]))      # in order, no repeats
    return Diagnosis(label, bias, variance, bool(high_bias), bool(high_variance), advice)


def ensemble_predict_proba(probabilities):
    """Average the predicted probabilities of K independently trained models (F28):
        p = (1/K) Σ_k ŷ_k,   each ŷ_k: (1, m) in [0, 1] (all the same shape). Returns p, (1, m)."""
    probs = list(probabilities)
    if not probs:
        raise ValueError("probabilities must hold at least one model's (1, m) predictions; got none")
    shape = None
    for k, p in enumerate(probs):
        check_matrix(f"probabilities[{k}]", p, rows=shape[0] if shape else None,
                     cols=shape[1] if shape else None, layout="(1, m)")
        shape = shape or p.shape
        if ((p < 0) | (p > 1)).any():
            raise ValueError(f"probabilities[{k}] must lie in [0, 1]; got values in [{p.min()}, {p.max()}]")
    return np.mean(np.stack(probs), axis=0)


def ensemble_predict(probabilities, threshold=0.5):
    """Ensemble prediction (F28, F32): 1 where the averaged probability > threshold, else 0. (1, m) int."""
    threshold = check_real("threshold", threshold)
    return (ensemble_predict_proba(probabilities) > threshold).astype(int)


def deep_linear_forward(x, w, L):
    """A deep linear network (F29): L layers, every W[l] = w·I (n x n), b[l] = 0, identity activation.

    Z[l] = W[l] A[l-1] + b[l] = w A[l-1], so ŷ = A[L] = w^L · x. x: (n, m). Returns (A[L], caches)
    with caches[l-1] = (A[l-1], W[l], b[l]) from scratch.layers.linear_forward.
    """
    x = check_matrix("x", x, layout="(n, m)")
    w, L = check_real("w", w), check_count("L", L, minimum=1)
    n = x.shape[0]
    W, b = w * np.eye(n, dtype=x.dtype), np.zeros((n, 1), dtype=x.dtype)
    A, caches = x, []
    with np.errstate(over="ignore", under="ignore"):
        for _ in range(L):
            A, cache = linear_forward(A, W, b)
            caches.append(cache)
    return A, caches


def deep_linear_gradients(x, w, L):
    """Backward pass of deep_linear_forward for J = (1/m) Σ_i Σ_j ŷ_j(i), i.e. dA[L] = 1 (per example).

    Through scratch.layers.linear_backward: dA[l-1] = W[l]ᵀ dZ[l] = w dZ[l] and dZ[l] = dA[l] (identity), so
        dA[0] = w^L · 1 (per-example gradient w.r.t. the input),   dW[l] = w^(L-l) · 1 A[l-1]ᵀ / m,
    which contains w^(L-1) for l = 1: the gradients shrink or grow exponentially with depth too.
    Returns {"dA0": (n, m), "dW1": (n, n), "dWL": (n, n)}.
    """
    AL, caches = deep_linear_forward(x, w, L)
    dA, dWs = np.ones_like(AL), {}
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for l in range(L, 0, -1):
            dA, dWs[l], _ = linear_backward(dA, caches[l - 1])
    return {"dA0": dA, "dW1": dWs[1], "dWL": dWs[L]}


def vanishing_exploding_demo(w_values=(0.5, 1.0, 1.5), depths=(1, 10, 25, 50), x=None):
    """F29 numerically: for each w and depth L, the output and input-gradient of the deep linear net.

    x: (n, m) input (default [[1.0], [2.0]]). Returns rows {"w", "L", "y_hat_max": max |ŷ|,
    "expected_max": max |w^L x|, "grad_x_max": max |dA[0]| (= |w|^L), "grad_W1_norm": ‖dW[1]‖_F}.
    w = 1.5, L = 50: ŷ = 1.5^50 x ≈ 6.4e8 x (exploding); w = 0.5: 0.5^50 ≈ 8.9e-16 (vanishing).
    """
    x = np.array([[1.0], [2.0]]) if x is None else x
    rows = []
    for w in w_values:
        for L in depths:
            y_hat, _ = deep_linear_forward(x, w, L)
            grads = deep_linear_gradients(x, w, L)
            rows.append({"w": float(w), "L": int(L), "y_hat_max": float(np.max(np.abs(y_hat))),
                         "expected_max": float(np.max(np.abs(float(w) ** L * x))),
                         "grad_x_max": float(np.max(np.abs(grads["dA0"]))),
                         "grad_W1_norm": float(np.linalg.norm(grads["dW1"]))})
    return rows


def activation_variance_by_depth(method, activation, depth=50, width=100, m=500, scale=1.0, rng=0):
    """Var(A[l]) for l = 0..depth of a random deep net (F29 tamed by F18), input x ~ N(0, 1).

    W[l] from scratch.initializers (method "random" uses std `scale`), b = 0, every layer `activation`.
    With width n: "random" scale 1 multiplies the variance by about n (identity) or n/2 (relu) per layer:
    it explodes; "he" with relu and "xavier" with tanh/identity keep it of order 1.
    Returns an array (depth + 1,) of variances (inf once it overflows).
    """
    check_activation(activation)
    depth, width, m = check_count("depth", depth, 1), check_count("width", width, 1), check_count("m", m, 1)
    gen = as_generator(rng)
    params = initialize_parameters([width] * (depth + 1), method, rng=gen, scale=scale)
    A = gen.standard_normal((width, m))
    variances = [A.var()]
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for l in range(1, depth + 1):
            A, _ = linear_activation_forward(A, params[f"W{l}"], params[f"b{l}"], activation)
            variances.append(A.var() if np.isfinite(A).all() else np.inf)
    return np.array(variances)


def init_scale_demo(depth=50, width=100, m=500, rng=0):
    """Var(A[l]), l = 0..depth, for classic pairings of init and activation (F18 taming F29):
    "random" std 1 explodes (×n per layer with identity, ×n/2 with relu), "random" std 0.01 with relu
    vanishes (×n·10⁻⁴/2 per layer), "xavier" with identity and "he" with relu stay of order 1, "xavier"
    with tanh shrinks only slowly (tanh squashes, no exponential factor).
    Returns {label: variance array (depth + 1,)}, labels like "he+relu" and "random(1.0)+identity"."""
    setups = (("random", "identity", 1.0), ("xavier", "identity", 0.01), ("random", "relu", 1.0),
              ("random", "relu", 0.01), ("he", "relu", 0.01), ("xavier", "tanh", 0.01))
    return {(f"random({scale})" if meth == "random" else meth) + f"+{act}":
            activation_variance_by_depth(meth, act, depth, width, m, scale, rng) for meth, act, scale in setups}
