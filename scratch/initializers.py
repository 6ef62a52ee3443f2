"""Parameter initialization (F18).

For layers l = 1..L with sizes layer_dims = [n[0], n[1], ..., n[L]]:
    W[l] = N(0, 1) draws of shape (n[l], n[l-1]) times a standard deviation std[l],
    b[l] = zeros (n[l], 1).
The std by method (INIT_STD, the one formula torch_ref reuses):
    zeros   0                       (all W = 0: every hidden unit stays identical, F19)
    random  scale (default 0.01)    (the course's "× 0.01")
    xavier  √(1 / n[l-1])
    glorot  √(2 / (n[l-1] + n[l]))
    he      √(2 / n[l-1])           (for relu layers)
The draws are normal (the course notes' `rand`, a uniform draw, is a slip: the
variances above are those of a normal N(0, std²)).
"""
import math

import numpy as np

from ._checks import (as_generator, check_choice, check_count, check_memory, check_positive, parameter_count,
                      short_list)

INIT_METHODS = ("zeros", "random", "xavier", "glorot", "he")


def INIT_STD(method, n_prev, n, scale=0.01):
    """The standard deviation of W[l]'s entries for layer l with n_prev = n[l-1] inputs
    and n = n[l] units: 0 (zeros), scale (random), √(1/n[l-1]) (xavier),
    √(2/(n[l-1]+n[l])) (glorot), √(2/n[l-1]) (he). Returns a float.
    """
    check_choice("method", method, INIT_METHODS)
    n_prev = check_count("n_prev", n_prev, minimum=1)
    n = check_count("n", n, minimum=1)
    if method == "zeros":
        return 0.0
    if method == "random":
        return check_positive("scale", scale)
    if method == "xavier":
        return math.sqrt(1.0 / n_prev)
    if method == "glorot":
        return math.sqrt(2.0 / (n_prev + n))
    return math.sqrt(2.0 / n_prev)  # he


def initialize_parameters(layer_dims, method, rng=None, scale=0.01, dtype=np.float64, batchnorm=False):
    """Initialize {"W1", "b1", ..., "WL", "bL"} for layer_dims = [n[0], ..., n[L]].

    W[l]: (n[l], n[l-1]) = rng.standard_normal((n[l], n[l-1])) * INIT_STD(method, n[l-1], n[l]),
          drawn in float64 for l = 1..L in order, then cast to dtype (so a float32
          network holds the float32 roundings of the float64 one with the same seed);
          "zeros" draws nothing.
    b[l]: (n[l], 1) zeros.
    batchnorm=True: every hidden layer l < L gets batch norm's gamma[l] = ones and beta[l] = zeros
          (n[l], 1) instead of b[l] (torch's BatchNorm1d starts there too); the W[l] are the same
          draws as without batch norm.
    rng: numpy.random.Generator, int seed or None. scale: the std for method="random".
    Refuses (MemoryBudgetError, a ValueError) layer_dims whose parameters would exceed the memory
    budget (scratch._checks.memory_budget), before drawing anything: see initialize_bytes.
    """
    if not isinstance(layer_dims, (list, tuple)):
        raise TypeError(f"layer_dims must be a list of ints [n[0], ..., n[L]]; "
                        f"got {type(layer_dims).__name__}")
    if len(layer_dims) < 2:
        raise ValueError(f"layer_dims must have at least 2 entries [n[0], n[1]]; got {list(layer_dims)}")
    dims = [check_count(f"layer_dims[{i}]", n, minimum=1) for i, n in enumerate(layer_dims)]
    check_choice("method", method, INIT_METHODS)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a float dtype; got {dtype}")
    check_memory(f"initialize_parameters: layer_dims {short_list(dims)}",
                 initialize_bytes(dims, dtype, bool(batchnorm)), "the parameters and their float64 draw")
    rng = as_generator(rng)
    params = {}
    for l in range(1, len(dims)):
        std = INIT_STD(method, dims[l - 1], dims[l], scale=scale)
        if method == "zeros":
            W = np.zeros((dims[l], dims[l - 1]))
        else:
            W = rng.standard_normal((dims[l], dims[l - 1])) * std
        params[f"W{l}"] = W.astype(dtype)
        if batchnorm and l < len(dims) - 1:
            params[f"gamma{l}"] = np.ones((dims[l], 1), dtype=dtype)
            params[f"beta{l}"] = np.zeros((dims[l], 1), dtype=dtype)
        else:
            params[f"b{l}"] = np.zeros((dims[l], 1), dtype=dtype)
    return params


def initialize_bytes(layer_dims, dtype=np.float64, batchnorm=False):
    """The bytes initialize_parameters(layer_dims, ..., dtype, batchnorm) allocates at its peak (a Python
    int, computed without allocating): every parameter in dtype, plus the float64 draw of the largest
    W[l] and its product with the std (both alive while W[l] is cast to dtype)."""
    largest = max(n * n_prev for n_prev, n in zip(layer_dims[:-1], layer_dims[1:]))
    return parameter_count(layer_dims, batchnorm) * np.dtype(dtype).itemsize + 2 * 8 * largest
