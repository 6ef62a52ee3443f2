"""Gradient checking (F30): compare backprop's gradient with a numerical one.

All parameters are laid end to end in one column vector θ, ordered
W1, b1, W2, b2, ..., WL, bL (each flattened row by row), and the gradients
likewise into dθ. For each component i, the two-sided difference

    dθ_approx[i] = (J(θ + ε e_i) - J(θ - ε e_i)) / (2ε)

has error O(ε²) (the one-sided one, O(ε)). The check is the relative difference

    ‖dθ - dθ_approx‖₂ / (‖dθ‖₂ + ‖dθ_approx‖₂)

which is scale free; below GRADCHECK_THRESHOLD = 1e-7 (float64, ε = 1e-7) the
backward pass is taken as right, above ~1e-3 it is surely wrong.
"""
import re

import numpy as np

from ._checks import check_array, check_positive

GRADCHECK_THRESHOLD = 1e-7   # float64 with ε = 1e-7: rounding ~1e-16/ε ≈ 1e-9 plus ε² terms


def _ordered_keys(params, prefix=""):
    """Keys W1, b1, W2, b2, ... (with a prefix "d" for grads), in layer order."""
    name = "grads" if prefix else "params"
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict; got {type(params).__name__}")
    layers = sorted(int(k[len(prefix) + 1:]) for k in params
                    if re.fullmatch(prefix + r"W[1-9][0-9]*", str(k)))
    if not layers or layers != list(range(1, len(layers) + 1)):
        raise ValueError(f"{name} must have keys {prefix}W1..{prefix}WL, {prefix}b1..{prefix}bL; "
                         f"got keys {sorted(map(str, params))}")
    keys = [f"{prefix}{p}{l}" for l in layers for p in ("W", "b")]
    for k in keys:
        if k not in params:
            raise ValueError(f"{name} is missing key {k!r}; got keys {sorted(map(str, params))}")
        check_array(k, params[k])
    return keys


def dictionary_to_vector(params):
    """params {"W1", "b1", ...} -> (theta: (n, 1), keys), keys = ["W1", "b1", "W2", ...]
    in the order of theta; n = total number of parameters. theta is a new array."""
    keys = _ordered_keys(params)
    theta = np.concatenate([np.asarray(params[k]).reshape(-1, 1) for k in keys], axis=0)
    return theta, keys


def vector_to_dictionary(theta, like):
    """theta: (n, 1) -> params with the keys, shapes and dtypes of `like` (the inverse
    of dictionary_to_vector). Returns new arrays."""
    keys = _ordered_keys(like)
    check_array("theta", theta)
    n = sum(np.asarray(like[k]).size for k in keys)
    if theta.size != n:
        raise ValueError(f"theta must have {n} entries (the size of all parameters); got shape {theta.shape}")
    flat, params, start = theta.reshape(-1), {}, 0
    for k in keys:
        shape = np.shape(like[k])
        size = int(np.prod(shape))
        params[k] = flat[start:start + size].reshape(shape).astype(np.asarray(like[k]).dtype)
        start += size
    return params


def gradients_to_vector(grads):
    """grads {"dW1", "db1", ...} -> (n, 1), ordered dW1, db1, dW2, db2, ... (other keys ignored)."""
    keys = _ordered_keys(grads, prefix="d")
    return np.concatenate([np.asarray(grads[k]).reshape(-1, 1) for k in keys], axis=0)


def gradient_check(params, grads, cost_fn, epsilon=1e-7):
    """Relative difference between backprop's grads and the two-sided numerical gradient:

        ‖g - g̃‖₂ / (‖g‖₂ + ‖g̃‖₂),  g̃_i = (J(θ + ε e_i) - J(θ - ε e_i)) / (2ε)

    params {"W1", "b1", ...}, grads {"dW1", "db1", ...} (at params), cost_fn(params) -> float.
    Evaluate cost_fn on copies, never on params itself (left unchanged). Run in float64
    with any dropout masks fixed inside cost_fn. Returns a float (0.0 when both are 0).
    """
    epsilon = check_positive("epsilon", epsilon)
    theta, _ = dictionary_to_vector(params)
    theta = theta.astype(np.float64)
    grad = gradients_to_vector(grads).astype(np.float64)
    if grad.shape != theta.shape:
        raise ValueError(f"grads must match params in size, {theta.shape[0]} entries; "
                         f"got {grad.shape[0]}")
    grad_approx = np.zeros_like(theta)
    for i in range(theta.shape[0]):
        theta_plus = theta.copy()
        theta_plus[i, 0] += epsilon
        theta_minus = theta.copy()
        theta_minus[i, 0] -= epsilon
        J_plus = cost_fn(vector_to_dictionary(theta_plus, params))
        J_minus = cost_fn(vector_to_dictionary(theta_minus, params))
        grad_approx[i, 0] = (J_plus - J_minus) / (2 * epsilon)
    numerator = np.linalg.norm(grad - grad_approx)
    denominator = np.linalg.norm(grad) + np.linalg.norm(grad_approx)
    return float(numerator / denominator) if denominator > 0 else 0.0
