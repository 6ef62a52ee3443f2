"""Logistic regression, the course's first network (F05, F10-F12).

    ŷ = a = σ(wᵀx + b),  w: (n_x, 1), b: a scalar, x: one column of X (n_x, m).

It is the L = 1 case of scratch.network (layer_dims [n_x, 1], activations
["sigmoid"], W1 = wᵀ); this module keeps the course's own notation and shows
the same gradient twice: with explicit loops (F11) and vectorized (F12).

Per example (F10), for the loss L(a, y) = -(y log a + (1-y) log(1-a)):
    da = -y/a + (1-y)/(1-a),  dz = da · σ'(z) = a - y,  dw = x dz,  db = dz.
The cost J and the gradients dw, db are the means of these over the m examples.
"""
import math

import numpy as np

from ._checks import (check_count, check_finite, check_labels, check_matrix, check_memory, check_positive,
                      check_real)
from .activations import sigmoid
from .losses import compute_cost
from .train import divergence_error


def initialize_with_zeros(dim):
    """w = zeros (dim, 1), b = 0.0 (zeros are fine here: one unit has no symmetry to break).
    A dim whose w would exceed the memory budget is refused (MemoryBudgetError, a ValueError)."""
    dim = check_count("dim", dim, minimum=1)
    check_memory(f"initialize_with_zeros: dim = {dim}", 8 * dim, "w")
    return np.zeros((dim, 1)), 0.0


def _check_wbX(w, b, X):
    check_matrix("X", X, layout="(n_x, m)")
    check_matrix("w", w, rows=X.shape[0], cols=1, finite=False, layout="(n_x, 1)",
                 why=("(n_x = rows of X)", ""))
    return check_real("b", b)


def propagate_loop(w, b, X, Y):
    """Cost and gradients with explicit loops over examples i and features j (F11),
    exactly as the course writes the algorithm:

        J = 0, dw_j = 0, db = 0
        for i = 1..m:
            z(i) = Σ_j w_j x_j(i) + b;  a(i) = σ(z(i))
            J += -[y(i) log a(i) + (1 - y(i)) log(1 - a(i))]
            dz(i) = a(i) - y(i)
            for j = 1..n_x:  dw_j += x_j(i) dz(i)
            db += dz(i)
        J /= m;  dw_j /= m;  db /= m

    w: (n_x, 1), b: float, X: (n_x, m), Y: (1, m) in {0, 1}.
    Returns grads {"dw": (n_x, 1), "db": float} and the cost J (float).
    """
    b = _check_wbX(w, b, X)
    check_labels("Y", Y, m=X.shape[1])
    n_x, m = X.shape
    J, dw, db = 0.0, [0.0] * n_x, 0.0
    for i in range(m):
        z = b
        for j in range(n_x):
            z += float(w[j, 0]) * float(X[j, i])
        a = _sigmoid_scalar(z)
        y = float(Y[0, i])
        # for y in {0, 1} one term of y log a + (1-y) log(1-a) survives; log 0 = -inf (J = inf)
        J += -_log(a) if y == 1 else -_log(1 - a)
        dz = a - y
        for j in range(n_x):
            dw[j] += float(X[j, i]) * dz
        db += dz
    J, db = J / m, db / m
    dw = np.array([[dw_j / m] for dw_j in dw], dtype=w.dtype if w.dtype.kind == "f" else np.float64)
    return {"dw": dw, "db": db}, J


def _log(x):
    return math.log(x) if x > 0 else -math.inf


def _sigmoid_scalar(z):
    """σ(z) for one float, the stable form of scratch.activations.sigmoid."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def propagate(w, b, X, Y):
    """Vectorized cost and gradients (F12):

        Z = wᵀ X + b (1, m),  A = σ(Z),  J = -(1/m) Σ [Y log A + (1-Y) log(1-A)],
        dZ = A - Y,  dw = (1/m) X dZᵀ (n_x, 1),  db = (1/m) Σ dZ.

    w: (n_x, 1), b: float, X: (n_x, m), Y: (1, m). Returns grads {"dw", "db"} and J.
    """
    b = _check_wbX(w, b, X)
    check_labels("Y", Y, m=X.shape[1])
    m = X.shape[1]
    A = sigmoid(w.T @ X + b)
    cost = compute_cost(A, Y)
    dZ = A - Y.astype(A.dtype, copy=False)
    dw = (X @ dZ.T) / m
    db = float(np.sum(dZ) / m)
    return {"dw": dw, "db": db}, cost


def optimize(w, b, X, Y, num_iterations, learning_rate, print_cost=False):
    """Gradient descent (F13): repeat num_iterations times
        grads, J = propagate(w, b, X, Y);  w := w - α dw;  b := b - α db.

    Records J every 100 iterations (i = 0, 100, ...) in `costs`, as the course
    does, and prints it when print_cost. w, b are not modified in place.
    Returns params {"w", "b"}, grads (of the last iteration), costs (list of floats).
    Raises FloatingPointError (as scratch.train does) when the cost J_i or the updated
    w, b become non-finite (e.g. a learning rate so large that α·dw overflows), naming
    the iteration and the last finite cost, instead of returning inf or NaN.
    """
    b = _check_wbX(w, b, X)
    check_finite("w", w)                            # a NaN start is bad input, not a divergence
    check_labels("Y", Y, m=X.shape[1])
    num_iterations = check_count("num_iterations", num_iterations, minimum=1)
    learning_rate = check_positive("learning_rate", learning_rate)
    costs, last_finite = [], None
    for i in range(num_iterations):
        with np.errstate(over="ignore", invalid="ignore"):      # divergence is detected explicitly below
            grads, cost = propagate(w, b, X, Y)
        if not math.isfinite(cost):
            raise divergence_error(i, last_finite, cost=cost)
        last_finite = (i, float(cost))
        with np.errstate(over="ignore", invalid="ignore"):
            w = w - learning_rate * grads["dw"]
            b = b - learning_rate * grads["db"]
        bad = [k for k, v in (("w", w), ("b", b)) if not np.all(np.isfinite(v))]
        if bad:
            raise divergence_error(i, last_finite, bad_params=bad)
        if i % 100 == 0:
            costs.append(cost)
            if print_cost:
                print(f"Cost after iteration {i}: {cost:f}")
    return {"w": w, "b": b}, grads, costs


def predict(w, b, X):
    """ŷ = 1 where σ(wᵀX + b) > 0.5, else 0 (F32). w: (n_x, 1), X: (n_x, m).
    Returns a (1, m) int array. Non-finite w or b raise ValueError (a NaN weight would
    otherwise predict 0 for every example)."""
    b = _check_wbX(w, b, X)                                     # b: a finite number
    check_finite("w", w)
    return (sigmoid(w.T @ X + b) > 0.5).astype(int)
