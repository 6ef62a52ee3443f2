"""Reusable input checks for scratch (and torch_ref where useful).

Every check raises TypeError (not an array, not a number) or ValueError (wrong
shape, wrong value) with a message that names the argument, says what was
expected and what was got, e.g. ``X must be 2-D (n_x, m); got shape (400,)``.
Checks never modify or copy what they are given: a rejected call changes nothing.

Shapes follow the course: examples are columns, X is (n_x, m), Y is (1, m),
W[l] is (n[l], n[l-1]), b[l] is (n[l], 1).

The size guard (at the end) refuses, before anything is allocated, a request whose arrays would
exceed a memory budget (MemoryBudgetError, a ValueError), instead of attempting terabytes.
"""
import functools
import numbers
import os
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


# ---------------------------------------------------------------- size guard
# Entry points that allocate from user-given sizes (initializers, data generators, training) compute,
# with Python ints (no overflow) and before allocating anything, how many bytes the request needs, and
# refuse it when that exceeds the budget. The budget bounds what ONE call allocates, not the process.

MEMORY_BUDGET_ENV = "TORCH_REF_MEMORY_BUDGET"
DEFAULT_BUDGET_FRACTION = 0.5           # of the machine's memory: room for the data, torch and the OS
FALLBACK_MEMORY_BUDGET = 8 * 2**30      # when the machine's memory cannot be read
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*", re.IGNORECASE)
_override = None                        # set_memory_budget's value, or None


class MemoryBudgetError(ValueError):
    """A request whose arrays would exceed the memory budget, refused before allocating anything.

    A ValueError, not a MemoryError: nothing ran out of memory; a user-given size (m, a width, C) was
    refused, like any other bad argument, and the CLI's error handler prints it as one line."""


def parse_bytes(text, name=MEMORY_BUDGET_ENV):
    """A size such as "8GiB", "512 MiB", "1.5GB", "2e9" or "4096" (bytes) -> int bytes > 0.
    Units, case-insensitive: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB (powers of 1024).
    ValueError naming `name` for anything else."""
    match = _SIZE.fullmatch(str(text))
    unit = match and _UNITS.get(match.group(2).lower() or "b")
    if not unit:
        raise ValueError(f"{name} must be a size in bytes such as 8GiB, 512MiB, 1.5GB or 2e9 "
                         f"(units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB); got {text!r}")
    nbytes = float(match.group(1)) * unit
    if not 1 <= nbytes < float("inf"):
        raise ValueError(f"{name} must be at least 1 byte (and finite); got {text!r}")
    return int(nbytes)


@functools.lru_cache(maxsize=None)
def _machine_memory():
    """The bytes of memory this process may use: physical RAM (os.sysconf), or the container's
    cgroup limit when lower; None when neither can be read."""
    sizes = []
    try:
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):       # not on this platform (e.g. Windows)
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                sizes.append(int(f.read().strip()))     # "max" (no limit) raises ValueError
        except (OSError, ValueError):
            pass
    sizes = [s for s in sizes if s > 0]
    return min(sizes) if sizes else None


def memory_budget():
    """The most bytes one call may allocate, in this order:
      1. set_memory_budget(n) (a process-wide override, for tests and notebooks);
      2. the environment variable TORCH_REF_MEMORY_BUDGET ("8GiB", "512MiB", "1.5GB", "2e9", ...;
         a bad value is a ValueError naming it);
      3. the default: half of the machine's memory (physical RAM, or the container's cgroup limit
         when lower), 8 GiB when it cannot be read. Half, because one request of more than that
         would leave no room for the data already loaded, torch and the OS: it would swap or be
         killed by the OOM killer without a message. On a 16 GiB machine that is 8 GiB, ten times
         what the course's largest cases need (m = 10^6 examples of 100 float64 features: 0.8 GB).
    """
    if _override is not None:
        return _override
    text = os.environ.get(MEMORY_BUDGET_ENV)
    if text is not None and text.strip():
        return parse_bytes(text)
    machine = _machine_memory()
    return int(machine * DEFAULT_BUDGET_FRACTION) if machine else FALLBACK_MEMORY_BUDGET


def set_memory_budget(nbytes):
    """Override the memory budget for this process: an int of bytes > 0 or a size string ("2GiB");
    None goes back to the environment variable or the default. Returns the previous override
    (None if there was none), so that a test can restore it."""
    global _override
    previous = _override
    if nbytes is None:
        _override = None
    elif isinstance(nbytes, str):
        _override = parse_bytes(nbytes, "nbytes")
    else:
        _override = check_count("nbytes", nbytes, minimum=1)
    return previous


def format_bytes(n):
    """A byte count for messages: "512 B", "1.50 KiB", "7.45 GiB", "13.64 TiB" (powers of 1024)."""
    n = int(n)
    if abs(n) < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        value /= 1024
        if abs(value) < 1024 or unit == "EiB":
            return f"{value:.2f} {unit}"


def check_training_memory(what, layer_dims, m, itemsize, optimizer="gd", keep_probs=None, batchnorm=False,
                          mini_batch_size=None):
    """check_memory of one training step (estimate_training_bytes), before the first step: what names
    the entry point, e.g. "train"."""
    nbytes = estimate_training_bytes(layer_dims, m, itemsize, optimizer, keep_probs, batchnorm, mini_batch_size)
    return check_memory(f"{what}: layer_dims {short_list(list(layer_dims))} on m = {m} examples", nbytes,
                        "one training step")


def check_memory(what, nbytes, purpose=None):
    """Refuse a request that needs more than memory_budget() bytes, before it allocates anything.

    what: who asks and with which sizes, e.g. "initialize_parameters: layer_dims [1000000, 1000000, 1]";
    nbytes: the bytes it would allocate (a Python int: no overflow); purpose: what for, e.g. "the
    parameters". Raises MemoryBudgetError (a ValueError):
      "initialize_parameters: layer_dims [1000000, 1000000, 1] needs 7.45 GiB for the parameters,
       over the memory budget of 4.00 GiB (set TORCH_REF_MEMORY_BUDGET to change it)".
    Returns nbytes."""
    nbytes, budget = int(nbytes), memory_budget()
    if nbytes > budget:
        source = " (set by set_memory_budget)" if _override is not None else ""
        purpose = f" for {purpose}" if purpose else ""
        raise MemoryBudgetError(f"{what} needs {format_bytes(nbytes)}{purpose}, over the memory budget of "
                                f"{format_bytes(budget)}{source} (set {MEMORY_BUDGET_ENV} to change it)")
    return nbytes


def short_list(values, head=4, tail=2):
    """A list for messages, shortened when long: [784, 100, 100, 100, ..., 100, 10] (L + 1 = 12 entries)."""
    values = list(values)
    if len(values) <= head + tail + 1:
        return str(values)
    return f"[{', '.join(map(str, values[:head]))}, ..., {', '.join(map(str, values[-tail:]))}] " \
           f"({len(values)} entries)"


def _per_hidden_layer(name, values, L, default):
    """values for hidden layers 1..L-1: a list of L-1 values, or one value (None: default) for every
    hidden layer. Returns a list of L-1 values."""
    if isinstance(values, (list, tuple)):
        if len(values) != L - 1:
            raise ValueError(f"{name} must be one value or a list of L-1 = {L - 1} values (hidden layers "
                             f"1..L-1); got {list(values)!r}")
        return list(values)
    return [default if values is None else values] * (L - 1)


def parameter_count(layer_dims, batchnorm=False):
    """The number of parameters of layer_dims = [n[0], ..., n[L]] (a Python int):
    Σ_l n[l]·n[l-1] (the W[l]) + n[l] (b[l]), plus n[l] more for each hidden batch-norm layer
    (γ[l] and β[l] in place of b[l]). batchnorm: a bool or L-1 bools (hidden layers 1..L-1)."""
    dims = [check_count(f"layer_dims[{i}]", n, minimum=1) for i, n in enumerate(layer_dims)]
    bn = [bool(f) for f in _per_hidden_layer("batchnorm", batchnorm, len(dims) - 1, False)] + [False]
    return sum(dims[l] * dims[l - 1] + dims[l] * (2 if bn[l - 1] else 1) for l in range(1, len(dims)))


# State slots per parameter each optimizer keeps (v for momentum, s for RMSprop, v and s for Adam).
OPTIMIZER_SLOTS = {"gd": 0, "momentum": 1, "rmsprop": 1, "adam": 2}


def estimate_training_bytes(layer_dims, m, itemsize, optimizer="gd", keep_probs=None, batchnorm=False,
                            mini_batch_size=None):
    """A generous estimate of one training step's working set, in bytes (a Python int), for a network
    layer_dims = [n[0], ..., n[L]] trained on m examples of `itemsize`-byte floats (8: float64, 4: float32).
    With b = mini_batch_size (m when None), it counts, in arrays of itemsize-byte entries:
      data        (n[0] + n[L])·(m + b)        X and Y, and the step's copy of them (the mini-batch
                                               gathered by X[:, columns], or Y cast to X's dtype)
                  + 6·8·m bytes with mini-batches   the epoch's int64 permutation and its check's copies
                                               (np.unique's sorted values and counts)
      caches      b·Σ_l k[l]·n[l]              what the forward pass keeps for backward: Z[l] and A[l]
                                               (k = 2), + 1 with dropout (the mask D[l], counted at
                                               itemsize though it is bool), + 2 with batch norm (z_norm, Z̃),
                                               + 1 for a hidden layer's dA[l], which scratch.train keeps
                                               from step to step with Z[l] and A[l] (network._buffer)
      transients  4·b·max_l n[l]               the backward pass's dA[l], dZ[l], g'(Z[l]), dA[l-1]
                                               (or the forward's dropout draw, Z - μ: fewer, not at once)
      parameters  P·(4 + 2·slots)              θ, dθ, an update temporary and a best-so-far copy (early
                                               stopping), and each optimizer slot (0 gd, 1 momentum /
                                               rmsprop, 2 adam) with its bias-corrected temporary
    O(L), nothing allocated. keep_probs: None or L-1 keep probabilities (1 = no dropout on that layer);
    batchnorm: a bool or L-1 bools. Not counted: the dev set's forward pass, if any, and Python's
    bookkeeping (a history record per logged step, about 0.5 KiB each).
    """
    if not isinstance(layer_dims, (list, tuple)) or len(layer_dims) < 2:
        raise ValueError(f"layer_dims must be a list of at least 2 ints [n[0], ..., n[L]]; got {layer_dims!r}")
    dims = [check_count(f"layer_dims[{i}]", n, minimum=1) for i, n in enumerate(layer_dims)]
    L = len(dims) - 1
    m = check_count("m", m, minimum=1)
    itemsize = check_count("itemsize", itemsize, minimum=1)
    check_choice("optimizer", optimizer, tuple(OPTIMIZER_SLOTS))
    b = m if mini_batch_size is None else min(m, check_count("mini_batch_size", mini_batch_size, minimum=1))
    dropout = [check_keep_prob(f"keep_probs[{i}]", kp) < 1
               for i, kp in enumerate(_per_hidden_layer("keep_probs", keep_probs, L, 1.0))]
    bn = [bool(f) for f in _per_hidden_layer("batchnorm", batchnorm, L, False)]
    k = [3 + dropout[l - 1] + 2 * bn[l - 1] if l < L else 2 for l in range(1, L + 1)]
    entries = ((dims[0] + dims[L]) * (m + b)
               + b * sum(k[l - 1] * dims[l] for l in range(1, L + 1))
               + 4 * b * max(dims[1:])
               + parameter_count(dims, bn) * (4 + 2 * OPTIMIZER_SLOTS[optimizer]))
    return entries * itemsize + (6 * 8 * m if mini_batch_size is not None else 0)

