"""One layer, forward and backward, with caches (F14, F15, F22).

Each forward returns (output, cache); its backward takes (upstream gradient,
cache) and returns the gradients. The cache holds exactly what the forward
pass saw; backward reads it and never reruns the forward pass (the one thing
it evaluates is g'(Z) at the cached Z, which is the formula itself).

Shapes, course notation (examples are columns):
    A_prev: (n[l-1], m)   W: (n[l], n[l-1])   b: (n[l], 1)   Z, A: (n[l], m)
Every gradient dX has the shape of X. "d" means ∂J/∂, J the mean cost over m.
"""
import numpy as np

from ._checks import as_generator, check_activation, check_array, check_keep_prob, check_matrix
from .activations import ACTIVATIONS, leaky_relu, leaky_relu_prime, relu_prime, softmax


# ---------------------------------------------------------------- linear part

def linear_forward(A_prev, W, b):
    """Z = W A_prev + b.

    A_prev: (n[l-1], m), W: (n[l], n[l-1]), b: (n[l], 1) (broadcast over the m columns), or
    b = None for a layer without bias, Z = W A_prev (batch norm: its β takes b's place).
    Returns Z: (n[l], m) and cache = (A_prev, W, b).
    """
    check_matrix("A_prev", A_prev, finite=False, layout="(n[l-1], m)")
    check_matrix("W", W, cols=A_prev.shape[0], finite=False, layout="(n[l], n[l-1])",
                 why="(n[l-1] = rows of A_prev)")
    if b is not None:
        check_matrix("b", b, rows=W.shape[0], cols=1, finite=False, layout="(n[l], 1)",
                     why=("(n[l] = rows of W)", ""))
    return _linear_forward(A_prev, W, b)


def _linear_forward(A_prev, W, b, out=None):
    """linear_forward without the checks (the training loop checks once, at its entry). out: an array
    (n[l], m) for Z (a buffer the training loop reuses from step to step), or None for a fresh one."""
    Z = np.matmul(W, A_prev, out=out)           # W @ A_prev
    if b is not None:
        Z += b                      # Z = W A_prev + b, added into the fresh product
    return Z, (A_prev, W, b)


def linear_backward(dZ, cache):
    """Backward of Z = W A_prev + b, with cache = (A_prev, W, b) and dZ: (n[l], m):

        dW      = (1/m) dZ A_prevᵀ              (n[l], n[l-1])
        db      = (1/m) Σ_columns dZ (keepdims)  (n[l], 1)
        dA_prev = Wᵀ dZ                          (n[l-1], m)

    The 1/m is here because J is the MEAN of the m losses and dZ holds the
    per-example ∂L/∂Z (e.g. A - Y); dA_prev carries no 1/m (it is per example).
    Returns dA_prev, dW, db (fresh arrays); db is None for a layer without bias (b = None).
    """
    A_prev, W, b = _unpack_linear_cache(cache)
    check_matrix("dZ", dZ, rows=W.shape[0], cols=A_prev.shape[1], finite=False,
                 layout="(n[l], m)", why="(the shape of Z in the cache)")
    return _linear_backward(dZ, cache)


def _linear_backward(dZ, cache, need_dA_prev=True, out=None):
    """linear_backward without the checks; need_dA_prev=False skips dA_prev = Wᵀ dZ (returns None),
    which nothing uses below the first layer (dA[0] would be the gradient of the data X).
    out: an array (n[l-1], m) for dA_prev (a reused buffer, as _linear_forward's), or None."""
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = dZ @ A_prev.T
    dW /= m                         # dW = (1/m) dZ A_prevᵀ, divided in place
    db = None if b is None else np.sum(dZ, axis=1, keepdims=True) / m
    if not need_dA_prev:
        dA_prev = None
    elif W.shape[0] == 1:
        # one unit (an output layer): Wᵀ dZ is the outer product (n[l-1], 1)(1, m), each entry the single
        # product w_j dz_i, so the broadcast product gives the same numbers without a GEMM of inner size 1
        dA_prev = np.multiply(W.T, dZ, out=out)
    else:
        dA_prev = np.matmul(W.T, dZ, out=out)   # W.T @ dZ
    return dA_prev, dW, db


def _unpack_linear_cache(cache):
    if not (isinstance(cache, tuple) and len(cache) == 3):
        raise TypeError(f"cache must be the tuple (A_prev, W, b) from linear_forward; "
                        f"got {type(cache).__name__}")
    for name, X in zip(("A_prev", "W", "b"), cache):
        if X is not None or name != "b":
            check_array(f"cache {name}", X)
    return cache


# ------------------------------------------------------- linear -> activation

WRITE_INTO_OUT = ("relu", "tanh")     # the activations activation_forward can write into a given array


def activation_forward(Z, activation, alpha=0.01, out=None):
    """A = g(Z), g named by `activation` ("sigmoid", "tanh", "relu", "leaky_relu", "identity", or
    "softmax" for an output layer; alpha: leaky_relu's slope). Z: (n[l], m).
    out: for relu and tanh, an array shaped like Z to write A into (a training loop's reused buffer);
    the other activations return a fresh array whatever out is."""
    check_activation(activation, output=True)
    if out is not None and activation in WRITE_INTO_OUT:
        return ACTIVATIONS[activation][0](Z, out=out)
    if activation == "leaky_relu":
        return leaky_relu(Z, alpha)
    if activation == "softmax":
        return softmax(Z)
    return ACTIVATIONS[activation][0](Z)


def activation_backward(dA, Z, activation, at_zero=None, alpha=0.01):
    """dZ = dA * g'(Z), elementwise, g'(Z) evaluated at Z (from the cache); dA, Z: (n[l], m).

    at_zero: g'(0) for relu/leaky_relu; None -> torch's value (relu: 0, leaky_relu: alpha),
    COURSE_AT_ZERO = 1.0 -> the course's. Ignored by the smooth activations. softmax has no
    elementwise derivative: its layer's backward is the fused dZ[L] = A[L] - Y (scratch.network).
    """
    if activation == "softmax":
        raise ValueError("softmax is not elementwise, so dZ = dA * g'(Z) does not apply: with the "
                         "cross-entropy cost the output layer's dZ[L] = A[L] - Y (model_backward's "
                         "output='fused')")
    check_activation(activation)
    check_matrix("dA", dA, finite=False, layout="(n[l], m)")
    check_matrix("cache Z", Z, finite=False, layout="(n[l], m)")
    if dA.shape != Z.shape:
        raise ValueError(f"dA must have the shape of Z in the cache, (n[l], m) = {Z.shape}; "
                         f"got shape {dA.shape}")
    return _activation_backward(dA, Z, activation, at_zero, alpha)


def _activation_backward(dA, Z, activation, at_zero=None, alpha=0.01, overwrite_dA=False):
    """activation_backward without the checks. overwrite_dA=True lets relu write dZ into dA's memory
    (the network's backward pass owns its dA, a fresh Wᵀ dZ: one array of (n[l], m) less at a time)."""
    if activation == "relu" and not at_zero:
        # relu'(Z) is 1 where z > 0 and 0 elsewhere (at z = 0 too, torch's value): dA * (Z > 0), the
        # product with the 0/1 mask taken directly (the same numbers as dA * relu_prime(Z))
        return np.multiply(dA, Z > 0, out=dA if overwrite_dA else None, dtype=dA.dtype)
    if activation == "relu":
        g_prime = relu_prime(Z, at_zero=at_zero)
    elif activation == "leaky_relu":
        g_prime = leaky_relu_prime(Z, alpha=alpha, at_zero=at_zero)
    else:
        g_prime = ACTIVATIONS[activation][1](Z)
    return dA * g_prime


def linear_activation_forward(A_prev, W, b, activation, alpha=0.01):
    """Z = W A_prev + b, A = g(Z), g named by `activation`
    ("sigmoid", "tanh", "relu", "leaky_relu", "identity", or "softmax" for an output layer;
    alpha: leaky_relu's slope).

    A_prev: (n[l-1], m), W: (n[l], n[l-1]), b: (n[l], 1).
    Returns A: (n[l], m) and cache = (linear_cache, Z), linear_cache = (A_prev, W, b).
    """
    check_activation(activation, output=True)
    Z, linear_cache = linear_forward(A_prev, W, b)
    return activation_forward(Z, activation, alpha), (linear_cache, Z)


def linear_activation_backward(dA, cache, activation, at_zero=None, alpha=0.01):
    """Backward of A = g(W A_prev + b), with cache = (linear_cache, Z), dA: (n[l], m):

        dZ = dA * g'(Z)     (elementwise; g'(Z) evaluated at the cached Z; activation_backward)
        then dA_prev, dW, db = linear_backward(dZ, linear_cache).

    at_zero: g'(0) for relu/leaky_relu (see activation_backward).
    Returns dA_prev: (n[l-1], m), dW: (n[l], n[l-1]), db: (n[l], 1).
    """
    if not (isinstance(cache, tuple) and len(cache) == 2):
        raise TypeError(f"cache must be the tuple (linear_cache, Z) from linear_activation_forward; "
                        f"got {type(cache).__name__}")
    linear_cache, Z = cache
    dZ = activation_backward(dA, Z, activation, at_zero=at_zero, alpha=alpha)
    return linear_backward(dZ, linear_cache)


# ---------------------------------------------------------- inverted dropout

def dropout_forward(A, keep_prob, rng=None, mask=None):
    """Inverted dropout on A: (n[l], m) (F22).

        D = (rand(n[l], m) < keep_prob)     # True = keep; drawn from rng unless `mask` given
        A_out = A * D / keep_prob           # dividing by keep_prob keeps E[A_out] = A

    keep_prob is the probability of KEEPING a unit (torch's nn.Dropout(p) takes
    p = 1 - keep_prob, the probability of dropping). keep_prob = 1 is the identity.
    mask: optional bool array shaped like A (lets scratch and torch share masks).
    Returns A_out (dtype of A) and the bool mask D.
    """
    check_matrix("A", A, finite=False, layout="(n[l], m)")
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    if mask is None:
        mask = as_generator(rng).random(A.shape) < keep_prob
    else:
        _check_mask("mask", mask, A.shape)
    return A * mask / keep_prob, mask


def dropout_backward(dA, mask, keep_prob):
    """Backward of inverted dropout: dA_in = dA * D / keep_prob, with the SAME mask D
    as the forward pass (dropped units get no gradient). dA, mask: (n[l], m).
    """
    check_matrix("dA", dA, finite=False, layout="(n[l], m)")
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    _check_mask("mask", mask, dA.shape)
    return _dropout_backward(dA, mask, keep_prob)


def _dropout_backward(dA, mask, keep_prob, out=None):
    """dropout_backward without the checks: dA * D / keep_prob, written into `out` when given (out=dA: the
    network's backward pass owns its dA, so it overwrites it; the same numbers, in the same order)."""
    dA_in = np.multiply(dA, mask, out=out)      # dA * D
    dA_in /= keep_prob
    return dA_in


def _check_mask(name, mask, shape):
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        got = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
        raise TypeError(f"{name} must be a boolean ndarray (True = keep); got {got}")
    if mask.shape != shape:
        raise ValueError(f"{name} must have the shape of A, (n[l], m) = {shape}; got shape {mask.shape}")
    return mask
