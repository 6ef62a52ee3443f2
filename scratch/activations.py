"""Activation functions g(Z) and their derivatives g'(Z) (F01-F04).

Each g acts elementwise on Z of any shape, in a layer Z[l]: (n[l], m), and
returns an array of the same shape and float dtype (float32 in, float32 out;
integer input gives float64). They accept any array; validation lives at the
layer and network entry points.

The derivative of relu and leaky_relu is undefined at exactly z = 0. Which
value we use there is an explicit argument `at_zero`:
  - TORCH_AT_ZERO: what torch's autograd returns (relu: 0, leaky_relu: alpha),
    the default, so that parity with torch holds everywhere;
  - COURSE_AT_ZERO = 1: the course writes g'(z) = 1 for z >= 0.
"""
import numpy as np

TORCH_AT_ZERO = 0.0   # relu'(0) in torch; for leaky_relu torch gives alpha (at_zero=None)
COURSE_AT_ZERO = 1.0  # the course's convention: g'(z) = 1 for z >= 0


def _as_float(Z):
    """Z as a float array: floats keep their dtype, integers/bools become float64."""
    Z = np.asarray(Z)
    return Z if Z.dtype.kind == "f" else Z.astype(np.float64)


def sigmoid(Z):
    """σ(Z) = 1 / (1 + e^(-Z)), elementwise. Z: any shape, e.g. (n[l], m).

    Stable for any |z|: with e = exp(-|z|) <= 1 (never overflows),
        σ(z) = 1 / (1 + e)   for z >= 0,
        σ(z) = e / (1 + e)   for z < 0     (multiply top and bottom by e^z).
    For z < -745 (float64) e underflows to 0 and σ(z) = 0, the correctly
    rounded value; that underflow is expected and silenced.
    """
    Z = _as_float(Z)
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(Z))
        return np.where(Z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_prime(Z):
    """σ'(Z) = σ(Z) (1 - σ(Z)), elementwise, from the pre-activation Z."""
    s = sigmoid(Z)
    return s * (1 - s)


def tanh(Z, out=None):
    """tanh(Z) = (e^Z - e^-Z) / (e^Z + e^-Z), elementwise (np.tanh is stable).
    out: an array shaped like Z to write the result into (a training loop's reused buffer)."""
    return np.tanh(_as_float(Z), out=out)


def tanh_prime(Z):
    """tanh'(Z) = 1 - tanh(Z)², elementwise."""
    t = np.tanh(_as_float(Z))
    return 1 - t * t


def relu(Z, out=None):
    """relu(Z) = max(0, Z), elementwise. out: as tanh's."""
    Z = _as_float(Z)
    return np.maximum(Z, 0, out=out)


def relu_prime(Z, at_zero=TORCH_AT_ZERO):
    """relu'(Z) = 1 for z > 0, 0 for z < 0, and `at_zero` at exactly z = 0.

    at_zero: TORCH_AT_ZERO = 0.0 (default, torch's autograd) or COURSE_AT_ZERO = 1.0.
    """
    Z = _as_float(Z)
    dZ = (Z > 0).astype(Z.dtype)
    dZ[Z == 0] = at_zero
    return dZ


def leaky_relu(Z, alpha=0.01):
    """leaky_relu(Z) = Z for z > 0, alpha * Z for z <= 0, elementwise (alpha: the negative slope)."""
    Z = _as_float(Z)
    return np.where(Z > 0, Z, float(alpha) * Z).astype(Z.dtype, copy=False)


def leaky_relu_prime(Z, alpha=0.01, at_zero=None):
    """leaky_relu'(Z) = 1 for z > 0, alpha for z < 0, and `at_zero` at exactly z = 0.

    at_zero: None (default) means alpha, torch's autograd value; COURSE_AT_ZERO = 1.0
    is the course's (1 for z >= 0).
    """
    Z = _as_float(Z)
    dZ = np.where(Z > 0, 1.0, float(alpha)).astype(Z.dtype)
    dZ[Z == 0] = float(alpha) if at_zero is None else at_zero
    return dZ


def identity(Z):
    """identity(Z) = Z (a linear output layer); returns a copy, never the same array."""
    return _as_float(Z).copy()


def identity_prime(Z):
    """identity'(Z) = 1, elementwise."""
    return np.ones_like(_as_float(Z))


def softmax(Z):
    """softmax(Z) column by column (F39): for each example i (column), over the C classes k,

        a_ki = e^(z_ki) / Σ_j e^(z_ji).

    Z: (C, m) logits of the output layer. Returns A: (C, m), each column a probability
    distribution. Stable for any finite Z: subtracting the column's max c first gives
    e^(z - c) / Σ e^(z_j - c), the same value (the factor e^-c cancels) with every exponent
    <= 0, so nothing overflows (and at least one term of the sum is e^0 = 1, so it is never 0).
    Not elementwise, so not in ACTIVATIONS: its derivative is a Jacobian, which the output
    layer never forms (with the cross-entropy cost dZ = A - Y, scratch.network).
    """
    Z = _as_float(Z)
    if Z.ndim != 2:
        raise ValueError(f"Z must be 2-D (C, m); got shape {Z.shape}")
    with np.errstate(under="ignore"):
        E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


# name -> (g, g'). leaky_relu and its derivative take alpha; relu' and leaky' take at_zero.
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_prime),
    "tanh": (tanh, tanh_prime),
    "relu": (relu, relu_prime),
    "leaky_relu": (leaky_relu, leaky_relu_prime),
    "identity": (identity, identity_prime),
}
