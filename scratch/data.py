"""Datasets and data preparation in course layout: X is (n_x, m), Y is (1, m), examples are columns.

Everything is offline: the planar sets are generated here in NumPy, the real sets come from
scikit-learn's bundled files (imported lazily, inside their loader), the cat/non-cat HDF5 files
are read from paths you give (h5py imported lazily; a damaged file is one ValueError naming it).
Generators refuse an m whose arrays would exceed the memory budget (scratch._checks.memory_budget),
before drawing anything. Also here: input normalization (F23), the train/dev/test split (F24) and
horizontal-flip augmentation (F27).
"""
import math
import numbers
import os
from dataclasses import dataclass

import numpy as np

from ._checks import as_generator, check_count, check_matrix, check_memory, check_nonneg
from .losses import one_hot

DIGITS_IMAGE_SHAPE = (8, 8)             # load_digits_binary: each column is an 8x8 image, C order
CATVNONCAT_IMAGE_SHAPE = (64, 64, 3)    # load_catvnoncat: each column is a 64x64 RGB image, C order
CATVNONCAT_KEYS = {"train": ("train_set_x", "train_set_y", "list_classes"),
                   "test": ("test_set_x", "test_set_y")}


# A generator of m planar points holds, at its peak, at most this many float64 arrays of m·(2 + 1)
# entries (points + labels): the points, their noise, the noisy copy, the shuffled copy, the course-layout
# X and Y, the permutation (measured with tracemalloc: about 4; 6 leaves room).
GENERATED_COPIES = 6


def _check_generated(what, m, C=0):
    """Refuse (MemoryBudgetError) a planar data set of m points whose generation would exceed the memory
    budget, before anything is drawn: GENERATED_COPIES · m · (2 + 1) float64, + the one-hot Y (C, m)."""
    check_memory(f"{what}: m = {m}", 8 * m * (GENERATED_COPIES * 3 + C), "the data set")


def _course_layout(points, labels):
    """(m, 2) points and (m,) labels -> X (2, m) float64, Y (1, m) float64."""
    return np.ascontiguousarray(points.T, dtype=np.float64), labels.reshape(1, -1).astype(np.float64)


def load_flower(m=400, seed=0):
    """The planar "flower": 2 classes of m/2 points each, a = 4 petals.

    For class j in {0, 1}, with N = m/2 and noise ε ~ N(0, 1) drawn in this order (t then r, class 0 first):
        t = linspace(3.12 j, 3.12 (j+1), N) + 0.2 ε_t          (angle)
        r = a sin(a t) + 0.2 ε_r,  a = 4                        (radius: the petals)
        x = (r sin t, r cos t),  y = j
    seed: int or numpy.random.Generator. Returns X (2, m), Y (1, m), float64; class 0 columns first.
    """
    m = check_count("m", m, minimum=2)
    if m % 2:
        raise ValueError(f"m must be even (m/2 points per class); got {m}")
    _check_generated("load_flower", m)
    rng, n, a = as_generator(seed), m // 2, 4
    points, labels = np.zeros((m, 2)), np.zeros(m)
    for j in range(2):
        t = np.linspace(3.12 * j, 3.12 * (j + 1), n) + 0.2 * rng.standard_normal(n)
        r = a * np.sin(a * t) + 0.2 * rng.standard_normal(n)
        points[j * n:(j + 1) * n] = np.c_[r * np.sin(t), r * np.cos(t)]
        labels[j * n:(j + 1) * n] = j
    return _course_layout(points, labels)


def _noisy_shuffled(points, labels, noise, rng):
    points = points + check_nonneg("noise", noise) * rng.standard_normal(points.shape)
    order = rng.permutation(len(labels))
    return _course_layout(points[order], labels[order])


def make_circles(m=400, noise=0.1, seed=0, factor=0.5):
    """Two concentric circles: outer radius 1 (y = 0, ceil(m/2) points), inner radius `factor` (y = 1).

    Angles evenly spaced on [0, 2π), Gaussian noise of std `noise` on each coordinate, columns shuffled.
    Returns X (2, m), Y (1, m) float64.
    """
    m, rng = check_count("m", m, minimum=2), as_generator(seed)
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in (0, 1); got {factor!r}")
    _check_generated("make_circles", m)
    n_out = m - m // 2
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, m // 2, endpoint=False)
    points = np.r_[np.c_[np.cos(t_out), np.sin(t_out)], factor * np.c_[np.cos(t_in), np.sin(t_in)]]
    return _noisy_shuffled(points, np.r_[np.zeros(n_out), np.ones(m // 2)], noise, rng)


def make_moons(m=400, noise=0.1, seed=0):
    """Two interleaving half circles: (cos t, sin t) with y = 0 and (1 - cos t, 1/2 - sin t) with y = 1,
    t evenly spaced on [0, π]; Gaussian noise of std `noise`, columns shuffled. X (2, m), Y (1, m)."""
    m, rng = check_count("m", m, minimum=2), as_generator(seed)
    _check_generated("make_moons", m)
    n_out = m - m // 2
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, m // 2)
    points = np.r_[np.c_[np.cos(t_out), np.sin(t_out)], np.c_[1 - np.cos(t_in), 0.5 - np.sin(t_in)]]
    return _noisy_shuffled(points, np.r_[np.zeros(n_out), np.ones(m // 2)], noise, rng)


def make_blobs(m=400, noise=1.0, seed=0, centers=((-2.0, 0.0), (2.0, 0.0))):
    """Two Gaussian blobs of std `noise` around centers[0] (y = 0, ceil(m/2) points) and centers[1] (y = 1).
    Columns shuffled. Returns X (2, m), Y (1, m) float64."""
    m, rng = check_count("m", m, minimum=2), as_generator(seed)
    c = np.asarray(centers, dtype=np.float64)
    if c.shape != (2, 2):
        raise ValueError(f"centers must be two 2-D points, shape (2, 2); got shape {c.shape}")
    _check_generated("make_blobs", m)
    n_out = m - m // 2
    points = np.r_[np.repeat(c[:1], n_out, axis=0), np.repeat(c[1:], m // 2, axis=0)]
    return _noisy_shuffled(points, np.r_[np.zeros(n_out), np.ones(m // 2)], noise, rng)


def make_blobs_multiclass(m=600, C=3, noise=1.0, seed=0, radius=3.0):
    """C Gaussian blobs of std `noise`, centred on a circle of the given radius (class k at angle
    2πk/C), m // C points each (the first m mod C classes one more); columns shuffled.
    Returns X (2, m) float64 and one-hot Y (C, m) float64 (scratch.losses.one_hot)."""
    C = check_count("C", C, minimum=2)
    m, rng = check_count("m", m, minimum=C), as_generator(seed)
    _check_generated(f"make_blobs_multiclass (C = {C})", m, C)
    angles = 2 * np.pi * np.arange(C) / C
    centers = float(radius) * np.c_[np.cos(angles), np.sin(angles)]
    labels = np.arange(m) % C
    X, y = _noisy_shuffled(centers[labels], labels.astype(np.float64), noise, rng)
    return X, one_hot(y, C)


def load_digits_multiclass():
    """scikit-learn's bundled 8x8 digits, all ten classes (F43): X (64, 1797) float64 with pixels
    (0..16) scaled to [0, 1], each column an image of shape DIGITS_IMAGE_SHAPE flattened in C order,
    and one-hot Y (10, 1797) (row k is digit k)."""
    from sklearn.datasets import load_digits  # lazy: scratch itself needs NumPy only
    digits = load_digits()
    return np.ascontiguousarray(digits.data.T.astype(np.float64) / 16.0), one_hot(digits.target, 10)


def load_digits_binary(positive=0, negative=None):
    """scikit-learn's bundled 8x8 digits as a binary task: y = 1 for digit `positive`, y = 0 for digit
    `negative` (only those two digits kept), or for every other digit when negative is None.

    Pixels (0..16) are scaled to [0, 1]. Returns X (64, m) float64, each column an image of shape
    DIGITS_IMAGE_SHAPE = (8, 8) flattened in C order (use it with flip_horizontal), and Y (1, m).
    """
    from sklearn.datasets import load_digits  # lazy: scratch itself needs NumPy only
    for name, d in (("positive", positive), ("negative", negative)):
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 0 <= d <= 9):
            raise ValueError(f"{name} must be a digit 0..9{' or None' if name == 'negative' else ''}; got {d!r}")
    if negative == positive:
        raise ValueError(f"negative must differ from positive; got both {positive}")
    digits = load_digits()
    keep = np.ones(len(digits.target), bool) if negative is None else np.isin(digits.target, (positive, negative))
    X = digits.data[keep].T.astype(np.float64) / 16.0
    return np.ascontiguousarray(X), (digits.target[keep] == positive).astype(np.float64).reshape(1, -1)


def load_breast_cancer():
    """scikit-learn's bundled Wisconsin breast-cancer set: X (30, 569) float64 (raw features; standardize
    them), Y (1, 569) with sklearn's coding 1 = benign, 0 = malignant."""
    from sklearn.datasets import load_breast_cancer as _load  # lazy
    data = _load()
    return np.ascontiguousarray(data.data.T, dtype=np.float64), data.target.astype(np.float64).reshape(1, -1)


@dataclass(frozen=True)
class StandardizeStats:
    """Training-set statistics: mu and sigma are (n_x, 1). apply(X) = (X - mu) / sigma."""
    mu: np.ndarray
    sigma: np.ndarray

    def apply(self, X):
        X = _as_float(check_matrix("X", X, rows=self.mu.shape[0]))
        return (X - self.mu.astype(X.dtype)) / self.sigma.astype(X.dtype)


def _as_float(X):
    """Integer and bool arrays (e.g. uint8 pixels) as float64; float arrays unchanged (float32 stays
    float32). Standardizing in the input's own integer dtype would cast μ and σ to it: μ truncated,
    X - μ wrapping around in uint8, σ < 1 truncated to 0 and a division by zero (inf, NaN)."""
    return X.astype(np.float64) if X.dtype.kind in "biu" else X


def standardize(X_train, *others, eps=1e-12):
    """Input normalization (F23) with the training statistics, reused on dev/test.

        μ = (1/m) Σ_i x(i)            σ² = (1/m) Σ_i (x(i) - μ)²      (per feature, over the m train columns)
        x := (x - μ) / σ

    The course notes write x /= σ², dividing by the variance: a slip, that does not give unit variance;
    we divide by the standard deviation σ. A constant feature (σ <= eps) gets σ := 1, so it becomes 0
    instead of dividing by zero. X_train: (n_x, m); each of `others`: (n_x, m_k).
    Integer and bool input (e.g. uint8 images) is converted to float64 first; float input keeps its
    dtype (float32 stays float32).
    Returns (X_train_std, *others_std, stats) with stats a StandardizeStats (mu, sigma: (n_x, 1)).
    """
    X_train = _as_float(check_matrix("X_train", X_train))
    others = [check_matrix(f"others[{k}]", X, rows=X_train.shape[0]) for k, X in enumerate(others)]
    mu = X_train.mean(axis=1, keepdims=True)
    sigma = np.sqrt(((X_train - mu) ** 2).mean(axis=1, keepdims=True))
    sigma = np.where(sigma <= eps, np.ones_like(sigma), sigma)
    stats = StandardizeStats(mu, sigma)
    return (stats.apply(X_train), *[stats.apply(X) for X in others], stats)


def default_ratios(m):
    """The course's rule of thumb (F24): 60/20/20 for small m, 98/1/1 for very large m (m >= 1,000,000)."""
    m = check_count("m", m, minimum=1)
    return (0.98, 0.01, 0.01) if m >= 1_000_000 else (0.6, 0.2, 0.2)


def train_dev_test_split(X, Y, ratios=(0.6, 0.2, 0.2), seed=0):
    """Shuffle the m columns with `seed`, then cut them into train/dev/test by `ratios` (F24).

    One shuffle before the cut puts dev and test in the same distribution. Cut points are
    round(r_train m) and round((r_train + r_dev) m). ratios: three positive numbers summing to 1
    (98/1/1 is fine for large m); every part must be non-empty. X: (n_x, m), Y: (k, m).
    Returns (X_train, Y_train), (X_dev, Y_dev), (X_test, Y_test) (copies).
    """
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2 or Y.ndim != 2:
        raise ValueError(f"X and Y must be 2-D (n_x, m) and (1, m); got shapes {X.shape} and {Y.shape}")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must have the same number of columns m; got {X.shape[1]} and {Y.shape[1]}")
    r = tuple(ratios)
    if len(r) != 3 or not all(isinstance(v, numbers.Real) and v > 0 for v in r) \
            or not math.isclose(sum(r), 1.0, abs_tol=1e-9):
        raise ValueError(f"ratios must be 3 positive numbers summing to 1 (train, dev, test); got {ratios!r}")
    m = X.shape[1]
    cut1, cut2 = round(r[0] * m), round((r[0] + r[1]) * m)
    sizes = (cut1, cut2 - cut1, m - cut2)
    if min(sizes) < 1:
        raise ValueError(f"ratios {ratios!r} with m = {m} give an empty part: sizes (train, dev, test) = {sizes}")
    order = as_generator(seed).permutation(m)
    parts = (order[:cut1], order[cut1:cut2], order[cut2:])
    return tuple((X[:, idx], Y[:, idx]) for idx in parts)


split = train_dev_test_split  # the contract's short name


def _check_images(X, image_shape):
    X = np.asarray(X)
    shape = tuple(image_shape)
    if len(shape) not in (2, 3) or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
        raise ValueError(f"image_shape must be (H, W) or (H, W, C) positive ints; got {image_shape!r}")
    if X.ndim != 2 or X.shape[0] != math.prod(shape):
        raise ValueError(f"X must be 2-D (H*W*C, m) with H*W*C = {math.prod(shape)} for image_shape "
                         f"{shape}; got shape {X.shape}")
    return X, shape


def flip_horizontal(X, image_shape):
    """Mirror each image left-right (F27). X: (H*W*C, m), column i the C-order flatten of an image of
    shape image_shape = (H, W) or (H, W, C): column i -> image[:, ::-1(, :)] flattened. Returns a new array."""
    X, shape = _check_images(X, image_shape)
    images = X.T.reshape((X.shape[1],) + shape)          # (m, H, W[, C])
    return np.ascontiguousarray(images[:, :, ::-1].reshape(X.shape[1], -1).T)


def augment_flip(X, Y, image_shape):
    """Data augmentation by horizontal flips (F27): returns ([X, flip(X)], [Y, Y]), i.e. (n_x, 2m), (k, 2m)."""
    X, _ = _check_images(X, image_shape)
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[1] != X.shape[1]:
        raise ValueError(f"Y must be 2-D (1, m) with m = {X.shape[1]}; got shape {Y.shape}")
    return np.concatenate([X, flip_horizontal(X, image_shape)], axis=1), np.concatenate([Y, Y], axis=1)


# ---------------------------------------------------------------- HDF5 files
# What h5py raises on a damaged file: OSError when opening (not HDF5, truncated, bad superblock),
# RuntimeError listing a damaged group, KeyError opening a damaged object, TypeError comparing damaged
# names. Each becomes one ValueError naming the file. (Damage inside the raw pixel data itself cannot be
# seen: HDF5 keeps no checksum of it unless the file was written with the fletcher32 filter.)
_H5_ERRORS = (OSError, RuntimeError, KeyError, TypeError)


def _import_h5py(who):
    try:
        import h5py  # lazy: optional dependency
    except ImportError as err:
        raise ImportError(f"{who} needs h5py: pip install torch-ref[h5]  (or pip install h5py)") from err
    return h5py


def _read_h5_file(h5py, name, path, read):
    """Open path with h5py and return read(f). A missing file is a FileNotFoundError naming the argument
    `name`; an empty, non-HDF5, truncated or damaged file is a ValueError naming the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name}: no such file {os.fspath(path)!r}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path}: empty file (0 bytes), not an HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            return read(f)
    except _H5_ERRORS as err:
        text = str(err)
        what = ("not an HDF5 file" if "signature not found" in text else
                "truncated HDF5 file (shorter than its header says)" if "truncated file" in text else
                "corrupted HDF5 file")
        raise ValueError(f"{path}: {what}: {type(err).__name__}: {text}") from None


def _h5_datasets(h5py, f):
    """The names of every dataset in f (nested ones as "group/name"), sorted."""
    names = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(map(str, names))


def _numeric_dataset(h5py, path, f, key):
    """f[key] must be a dataset of numbers (bool, int, float) with the examples along axis 0 (m >= 1)."""
    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise ValueError(f"{path}: {key!r} is a group, not a dataset")
    if ds.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {key!r} must hold numbers; got dtype {ds.dtype}")
    if ds.ndim == 0 or ds.shape[0] == 0:
        raise ValueError(f"{path}: {key!r} holds no examples (m = 0); got shape {ds.shape}")
    return ds


def _count_nonfinite(x):
    return int(x.size - np.count_nonzero(np.isfinite(x))) if x.dtype.kind == "f" else 0


def _read_catvnoncat_set(h5py, name, path, keys):
    """One cat/non-cat file -> (X (12288, m) float64 in [0, 1], Y (1, m) float64, classes or None),
    every key checked before anything is read, every value after."""
    x_key, y_key = keys[0], keys[1]

    def read(f):
        found = [str(k) for k in f.keys()]
        missing = [k for k in keys if k not in found]
        if missing:
            raise ValueError(f"{path}: not a cat/non-cat file; expected keys {list(keys)}, "
                             f"found {sorted(found)} (missing {missing})")
        x, y = _numeric_dataset(h5py, path, f, x_key), _numeric_dataset(h5py, path, f, y_key)
        m = x.shape[0]
        if x.shape[1:] != CATVNONCAT_IMAGE_SHAPE:
            raise ValueError(f"{path}: {x_key!r} must hold images (m, {', '.join(map(str, CATVNONCAT_IMAGE_SHAPE))}) "
                             f"(CATVNONCAT_IMAGE_SHAPE); got shape {x.shape}")
        if y.ndim > 2 or y.size != m:
            raise ValueError(f"{path}: {x_key!r} has {m} images but {y_key!r} has shape {y.shape}, "
                             f"not m = {m} labels")
        # the raw images, their float64 copy and its scaled copy, before reading anything
        check_memory(f"load_catvnoncat: {path} ({m} images)", x.size * (x.dtype.itemsize + 16), "the images")
        classes = f[keys[2]][()] if len(keys) > 2 else None
        return x[()], y[()], classes

    x, y, classes = _read_h5_file(h5py, name, path, read)
    bad = _count_nonfinite(x)
    if bad:
        raise ValueError(f"{path}: {x_key!r} must hold finite pixels; got {bad} NaN or inf")
    low, high = x.min(), x.max()
    if low < 0 or high > 255:
        raise ValueError(f"{path}: {x_key!r} pixels must lie in [0, 255]; got values in [{low}, {high}]")
    y = y.reshape(1, -1)
    other = (y != 0) & (y != 1)          # NaN is caught here too
    if other.any():
        raise ValueError(f"{path}: {y_key!r} labels must be 0 (non-cat) or 1 (cat); got other values "
                         f"{np.unique(y[other])[:5].tolist()}")
    if classes is not None:
        classes = np.asarray(classes).reshape(-1)
        if classes.size != 2:
            raise ValueError(f"{path}: {keys[2]!r} must name the 2 classes of labels 0 and 1; got {classes.size} "
                             f"entries")
        classes = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in classes]
    # course: x.reshape(m, -1).T / 255 -> (H*W*C, m), each column one C-order flattened image
    X = x.reshape(x.shape[0], -1).T.astype(np.float64)
    X /= 255.0
    return X, y.astype(np.float64), classes


def load_catvnoncat(train_path, test_path):
    """The course's cat / non-cat HDF5 files (train_catvnoncat.h5, test_catvnoncat.h5), not shipped.

    Train file keys: train_set_x (m, 64, 64, 3) uint8, train_set_y (m,), list_classes;
    test file keys: test_set_x, test_set_y. Images flattened to (12288, m) and divided by 255
    (image shape CATVNONCAT_IMAGE_SHAPE for flips). Needs h5py (`pip install torch-ref[h5]`).
    Returns (X_train, Y_train), (X_test, Y_test), classes (list of str, e.g. ["non-cat", "cat"]).
    Raises FileNotFoundError for a missing file, and ValueError naming the file for: an empty, non-HDF5,
    truncated or corrupted file; other keys; images not (m, 64, 64, 3) or m = 0; pixels non-finite or
    outside [0, 255]; labels other than 0/1 or not m of them; list_classes not 2 names; and
    MemoryBudgetError (a ValueError) for images over the memory budget, before reading them.
    """
    for name, path in (("train_path", train_path), ("test_path", test_path)):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{name}: no such file {os.fspath(path)!r}")
    h5py = _import_h5py("load_catvnoncat")
    X_tr, Y_tr, classes = _read_catvnoncat_set(h5py, "train_path", train_path, CATVNONCAT_KEYS["train"])
    X_te, Y_te, _ = _read_catvnoncat_set(h5py, "test_path", test_path, CATVNONCAT_KEYS["test"])
    return (X_tr, Y_tr), (X_te, Y_te), classes


def read_h5_examples(path, key=None):
    """The examples of one dataset of an HDF5 file, in course layout: X (n_x, m) float64, column i the
    C-order flatten of example i = dataset[i] (so (m, 64, 64, 3) images -> (12288, m), (m,) -> (1, m)).

    key: the dataset's name (nested: "group/name"); None picks the file's only dataset, else its only
    dataset whose name ends in "_x" (train_set_x, test_set_x). Values are returned as stored (uint8
    pixels stay 0..255, not divided by 255: a model file's preprocess does the scaling). Needs h5py.
    Raises FileNotFoundError for a missing file, and ValueError naming the file for: an empty, non-HDF5,
    truncated or corrupted file; a missing or ambiguous key (listing the datasets found); a dataset that
    is not numbers or holds no examples; NaN or inf values; MemoryBudgetError (a ValueError) for a
    dataset over the memory budget, before reading it.
    """
    h5py = _import_h5py("read_h5_examples")
    if key is not None and not isinstance(key, str):
        raise TypeError(f"key must be a dataset name (str) or None; got {type(key).__name__}")
    key = None if key is None else key.strip("/")

    def read(f):
        names = _h5_datasets(h5py, f)
        if key is not None:
            if key not in names:
                raise ValueError(f"{path}: no dataset {key!r}; found datasets {names}")
            chosen = key
        elif len(names) == 1:
            chosen = names[0]
        else:
            xs = [n for n in names if n.endswith("_x")]
            if len(xs) != 1:
                raise ValueError(f"{path}: cannot tell which dataset holds the examples; found datasets {names}: "
                                 f"give key, one of them")
            chosen = xs[0]
        ds = _numeric_dataset(h5py, path, f, chosen)
        if ds.size == 0:
            raise ValueError(f"{path}: {chosen!r} holds empty examples; got shape {ds.shape}")
        check_memory(f"read_h5_examples: {path} {chosen!r} of shape {ds.shape}",
                     ds.size * (ds.dtype.itemsize + 8), "the examples")
        return chosen, ds[()]

    chosen, x = _read_h5_file(h5py, "path", path, read)
    bad = _count_nonfinite(x)
    if bad:
        raise ValueError(f"{path}: {chosen!r} must hold finite values; got {bad} NaN or inf")
    return np.ascontiguousarray(x.reshape(x.shape[0], -1).T, dtype=np.float64)
