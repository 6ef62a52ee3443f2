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

from ._checks import check_array, check_finite, check_positive

GRADCHECK_THRESHOLD = 1e-7   # float64 with ε = 1e-7: rounding ~1e-16/ε ≈ 1e-9 plus ε² terms


def _ordered_keys(params, prefix=""):
    """Keys W1, b1, W2, b2, ... (a batch-norm layer: W, gamma, beta; with a prefix "d" for grads),
    in layer order (scratch._checks.param_keys)."""
    name = "grads" if prefix else "params"
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict; got {type(params).__name__}")
    layers = sorted(int(k[len(prefix) + 1:]) for k in params
                    if re.fullmatch(prefix + r"W[1-9][0-9]*", str(k)))
    if not layers or layers != list(range(1, len(layers) + 1)):
        raise ValueError(f"{name} must have keys {prefix}W1..{prefix}WL, {prefix}b1..{prefix}bL; "
                         f"got keys {sorted(map(str, params))}")
    keys = [f"{prefix}{p}{l}" for l in layers
            for p in (("W", "gamma", "beta") if f"{prefix}gamma{l}" in params else ("W", "b"))]
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


def _component(keys, like, i):
    """The name of component i of θ as the reader knows it, e.g. "W1[0, 2]" (keys in θ's order)."""
    for k in keys:
        size = np.asarray(like[k]).size
        if i < size:
            index = np.unravel_index(i, np.shape(like[k]))
            return f"{k}[{', '.join(str(int(j)) for j in index)}]"
        i -= size
    raise IndexError(i)                                         # unreachable: i < len(θ)


def gradient_check(params, grads, cost_fn, epsilon=1e-7):
    """Relative difference between backprop's grads and the two-sided numerical gradient:

        ‖g - g̃‖₂ / (‖g‖₂ + ‖g̃‖₂),  g̃_i = (J(θ + ε e_i) - J(θ - ε e_i)) / (2ε)

    params {"W1", "b1", ...}, grads {"dW1", "db1", ...} (at params), cost_fn(params) -> float.
    Evaluate cost_fn on copies, never on params itself (left unchanged). Run in float64
    with any dropout masks fixed inside cost_fn. Returns a float (0.0 when both are 0).

    Non-finite numbers raise ValueError rather than produce a score: NaN makes the ratio
    NaN, and since NaN compares False with everything a caller's `difference < 1e-7`
    could never tell, while inf/inf is NaN too. The message names what is non-finite:
    a key of params or grads (e.g. "grads['dW1'] must be finite ..."), or the component
    and perturbation at which cost_fn returned NaN or inf (e.g. "cost_fn returned nan at
    theta + epsilon for W1[0, 2]").
    """
    epsilon = check_positive("epsilon", epsilon)
    theta, keys = dictionary_to_vector(params)
    for k in keys:
        check_finite(f"params[{k!r}]", params[k])
    for k in _ordered_keys(grads, prefix="d"):
        check_finite(f"grads[{k!r}]", grads[k])
    theta = theta.astype(np.float64)
    grad = gradients_to_vector(grads).astype(np.float64)
    if grad.shape != theta.shape:
        raise ValueError(f"grads must match params in size, {theta.shape[0]} entries; "
                         f"got {grad.shape[0]}")
    grad_approx = np.zeros_like(theta)
    for i in range(theta.shape[0]):
        J = {}
        for sign, side in ((1.0, "theta + epsilon"), (-1.0, "theta - epsilon")):
            theta_moved = theta.copy()
            theta_moved[i, 0] += sign * epsilon
            J[side] = float(cost_fn(vector_to_dictionary(theta_moved, params)))
            if not np.isfinite(J[side]):
                raise ValueError(f"cost_fn returned {J[side]} at {side} for {_component(keys, params, i)}; "
                                 "the numerical gradient needs a finite cost on both sides")
        with np.errstate(over="ignore"):
            grad_approx[i, 0] = (J["theta + epsilon"] - J["theta - epsilon"]) / (2 * epsilon)
        if not np.isfinite(grad_approx[i, 0]):
            raise ValueError(f"the numerical gradient overflowed for {_component(keys, params, i)}: "
                             f"(J(theta + epsilon) - J(theta - epsilon)) / (2 epsilon) with J = "
                             f"{J['theta + epsilon']!r} and {J['theta - epsilon']!r}, epsilon = {epsilon!r}")
    largest = max(np.abs(grad).max(), np.abs(grad_approx).max())
    if largest == 0:
        return 0.0
    # The ratio is scale free, and ‖v‖₂ = √(Σ v²) overflows once entries pass ~1e154 although the
    # ratio is still defined: divide both vectors by the power of two just above their largest
    # entry (exact in IEEE arithmetic), so every entry is below 1 and no square can overflow.
    scale = np.ldexp(1.0, -int(np.frexp(largest)[1]))
    grad, grad_approx = grad * scale, grad_approx * scale
    numerator = np.linalg.norm(grad - grad_approx)
    denominator = np.linalg.norm(grad) + np.linalg.norm(grad_approx)
    return float(numerator / denominator)
