"""Reusable input checks for scratch (and torch_ref where useful).

Every check raises TypeError (not an array, not a number) or ValueError (wrong
shape, wrong value) with a message that names the argument, says what was
expected and what was got, e.g. ``X must be 2-D (n_x, m); got shape (400,)``.
Checks never modify or copy what they are given: a rejected call changes nothing.

Shapes follow the course: examples are columns, X is (n_x, m), Y is (1, m),
W[l] is (n[l], n[l-1]), b[l] is (n[l], 1).
"""
import numbers
import re

import numpy as np

# The activation names every layer understands (scratch.activations.ACTIVATIONS).
ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
# softmax acts on a whole column (it is not elementwise): only the output layer may use it.
OUTPUT_ONLY_ACTIVATIONS = ("softmax",)


def as_generator(rng):
    """Return a numpy.random.Generator from rng.

    rng: a Generator (returned as is), an int seed (a fresh Generator seeded
    with it), or None (a fresh, unseeded Generator).
    """
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(f"rng must be a non-negative int seed; got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None; got {type(rng).__name__}"
    )


def check_array(name, A):
    """A must be a NumPy array of real numbers (or booleans); else TypeError."""
    if not isinstance(A, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array; got {type(A).__name__}")
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {A.dtype}")
    return A


def _axis_names(layout):
    """The two axis names of a layout such as "(n_x, m)" -> ("n_x", "m"), else (None, None)."""
    names = [part.strip() for part in layout.strip().strip("()").split(",")]
    return tuple(names) if len(names) == 2 and all(names) else (None, None)


def check_matrix(name, A, rows=None, cols=None, *, finite=True, allow_empty=False,
                 layout="(rows, columns)", why=""):
    """A must be a 2-D real ndarray, with `rows` rows and `cols` columns when given,
    without a zero-size dimension (unless allow_empty=True) and (if finite=True)
    without NaN or inf. Returns A unchanged.

    An empty axis is rejected because nothing downstream is defined on it: a mean
    over m = 0 examples is 0/0 = NaN, so an empty batch would show up as a NaN cost
    (or a "diverged" training run) far from its cause. Callers for which an empty
    array is meaningful pass allow_empty=True.
    layout: the course notation printed in messages, e.g. "(n_x, m)".
    why: an explanation appended to a shape mismatch, e.g. "(rows of A_prev)"; a str
    for both axes or a pair (why_rows, why_cols).
    """
    check_array(name, A)
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D {layout}; got shape {A.shape}")
    whys = why if isinstance(why, tuple) else (why, why)
    for axis, want, word in ((0, rows, "rows"), (1, cols, "columns")):
        if want is not None and A.shape[axis] != want:
            extra = f" {whys[axis]}" if whys[axis] else ""
            raise ValueError(
                f"{name} must have shape {layout} with {want} {word}{extra}; got shape {A.shape}"
            )
    if not allow_empty and A.size == 0:
        axis = 1 if A.shape[1] == 0 else 0
        symbol = _axis_names(layout)[axis]
        if axis == 1 and symbol == "m":
            what = "one example (m >= 1)"
        else:
            what = f"one {('row', 'column')[axis]}" + (f" ({symbol} >= 1)" if symbol else "")
        raise ValueError(f"{name} must have at least {what}; got shape {A.shape}")
    if finite:
        check_finite(name, A)
    return A


def check_labels(name, Y, m=None):
    """Y must be a (1, m) array of labels in {0, 1} (bool, int or float). Returns Y."""
    check_matrix(name, Y, rows=1, cols=m, finite=False, layout="(1, m)",
                 why=("", "(m = number of examples)"))
    bad = (Y != 0) & (Y != 1)          # NaN is caught here too (NaN != 0 and NaN != 1)
    if bad.any():
        shown = np.unique(Y[bad])[:5].tolist()
        raise ValueError(f"{name} must contain only 0 and 1; got other values {shown}")
    return Y


def check_real(name, value):
    """value must be a real, finite Python or NumPy number (not bool). Returns float(value)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value}")
    return value


def check_nonneg(name, value):
    """value must be a finite real number >= 0 (e.g. lambd). Returns float(value)."""
    value = check_real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value}")
    return value


def check_positive(name, value):
    """value must be a finite real number > 0 (e.g. learning_rate). Returns float(value)."""
    value = check_real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0; got {value}")
    return value


def check_beta(name, beta):
    """β weighs the past in v = βv + (1-β)θ (momentum, RMSprop, Adam, running statistics): it must
    lie in [0, 1) (with β = 1 the average would never take in a new value). Returns float(beta)."""
    beta = check_real(name, beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"{name} must be in [0, 1); got {beta}")
    return beta


def check_count(name, value, minimum=0):
    """value must be an int >= minimum (e.g. num_iterations, m, n[l]). Returns int(value)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}")
    return int(value)


def check_keep_prob(name, keep_prob):
    """keep_prob is the probability of KEEPING a unit (torch's p = 1 - keep_prob);
    it must lie in (0, 1]. Returns float(keep_prob)."""
    keep_prob = check_real(name, keep_prob)
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"{name} must be in (0, 1] (probability of keeping a unit); got {keep_prob}")
    return keep_prob


def check_activation(activation, argname="activation", output=False):
    """activation must be one of ACTIVATION_NAMES, or (output=True: the output layer L) also
    "softmax". Returns it."""
    names = ACTIVATION_NAMES + (OUTPUT_ONLY_ACTIVATIONS if output else ())
    if not isinstance(activation, str):
        raise TypeError(f"{argname} must be a str, one of {list(names)}; "
                        f"got {type(activation).__name__}")
    if activation in OUTPUT_ONLY_ACTIVATIONS and not output:
        raise ValueError(f"{argname} is {activation!r}, which only the output layer (activations[-1]) "
                         f"may use; a hidden layer takes one of {list(ACTIVATION_NAMES)}")
    if activation not in names:
        raise ValueError(f"{argname} must be one of {list(names)}; got {activation!r}")
    return activation


def check_one_hot(name, Y, C=None, m=None):
    """Y must be one-hot labels (C, m) of C >= 2 classes: entries 0 or 1, exactly one 1 per column
    (bool, int or float). C = 1 is refused: one class is the binary case, a (1, m) Y with a sigmoid
    output. Returns Y."""
    check_matrix(name, Y, rows=C, cols=m, finite=False, layout="(C, m)",
                 why=("(C = number of classes)", "(m = number of examples)"))
    if Y.shape[0] < 2:
        raise ValueError(f"{name} must be one-hot (C, m) with C >= 2 classes; got shape {Y.shape} "
                         f"(for two classes with labels 0/1 in a (1, m) Y use a sigmoid output)")
    bad = (Y != 0) & (Y != 1)          # NaN is caught here too
    if bad.any():
        shown = np.unique(Y[bad])[:5].tolist()
        raise ValueError(f"{name} must be one-hot: only 0 and 1; got other values {shown}")
    ones = np.count_nonzero(Y, axis=0)
    if (ones != 1).any():
        col = int(np.flatnonzero(ones != 1)[0])
        raise ValueError(f"{name} must be one-hot: exactly one 1 per column (example); column {col} "
                         f"has {int(ones[col])}")
    return Y


def check_choice(name, value, choices):
    """value must be one of choices (strings). Returns it."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")
    return value


def has_batchnorm(params, l):
    """Whether layer l of params has batch norm: its parameters are W[l], gamma[l], beta[l] (no b[l])."""
    return f"gamma{l}" in params


def param_keys(params):
    """The parameter names of params in layer order, each layer W[l] then b[l], or W[l], gamma[l],
    beta[l] for a batch-norm layer: ["W1", "gamma1", "beta1", "W2", "b2"]. Their gradients are
    "d" + name. params must pass check_params."""
    L = check_params(params)
    return [f"{p}{l}" for l in range(1, L + 1)
            for p in (("W", "gamma", "beta") if has_batchnorm(params, l) else ("W", "b"))]


def check_params(params, n_x=None, name="params", *, finite=False):
    """params must be {"W1", "b1", ..., "WL", "bL"} with W[l]: (n[l], n[l-1]) and
    b[l]: (n[l], 1), consecutive layers fitting together (and n[0] = n_x when given),
    and (if finite=True) without NaN or inf, e.g. at prediction, where a NaN weight
    would silently predict 0 for every example. finite defaults to False because the
    training loops detect divergence themselves and report the iteration.
    A hidden layer l < L with batch norm holds gamma[l], beta[l]: (n[l], 1) instead of b[l]
    (beta takes b's place; the output layer always has b[L]).
    Returns L, the number of layers.
    """
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict {{'W1', 'b1', ..., 'WL', 'bL'}}; "
                        f"got {type(params).__name__}")
    layers = sorted(int(k[1:]) for k in params if re.fullmatch(r"W[1-9][0-9]*", str(k)))
    L = len(layers)
    if L == 0 or layers != list(range(1, L + 1)):
        raise ValueError(f"{name} must have keys W1..WL and b1..bL; got keys {sorted(map(str, params))}")
    n_prev = n_x
    for l in range(1, L + 1):
        bn = has_batchnorm(params, l) or f"beta{l}" in params
        if bn and l == L:
            raise ValueError(f"{name}: batch norm is for hidden layers 1..L-1; the output layer {L} has "
                             f"gamma{L}/beta{L}; got keys {sorted(map(str, params))}")
        if bn and (f"b{l}" in params or f"gamma{l}" not in params or f"beta{l}" not in params):
            raise ValueError(f"{name}: a batch-norm layer {l} has 'W{l}', 'gamma{l}' and 'beta{l}' and no "
                             f"'b{l}' (beta takes its place); got keys {sorted(map(str, params))}")
        if not bn and f"b{l}" not in params:
            raise ValueError(f"{name} must have key 'b{l}' to go with 'W{l}'; "
                             f"got keys {sorted(map(str, params))}")
        W = check_matrix(f"W{l}", params[f"W{l}"], cols=n_prev, finite=False,
                         layout=f"(n[{l}], n[{l - 1}])",
                         why="(rows of X)" if l == 1 else f"(rows of W{l - 1})")
        for p in (("gamma", "beta") if bn else ("b",)):
            check_matrix(f"{p}{l}", params[f"{p}{l}"], rows=W.shape[0], cols=1, finite=False,
                         layout=f"(n[{l}], 1)", why=(f"(rows of W{l})", ""))
        n_prev = W.shape[0]
    if finite:
        for k in param_keys(params):
            check_finite(f"{name}[{k!r}]", params[k])
    return L


def check_finite(name, A):
    """A (a real ndarray) must hold no NaN or inf; else ValueError counting the bad entries.
    Returns A unchanged."""
    if A.dtype.kind == "f" and not np.isfinite(A).all():
        bad = int(A.size - np.count_nonzero(np.isfinite(A)))
        entries = "entry" if bad == 1 else "entries"
        raise ValueError(f"{name} must be finite (no NaN or inf); got {bad} non-finite {entries}")
    return A
