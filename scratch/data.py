"""Datasets and data preparation in course layout: X is (n_x, m), Y is (1, m), examples are columns.

Everything is offline: the planar sets are generated here in NumPy, the real sets come from
scikit-learn's bundled files (imported lazily, inside their loader), the cat/non-cat HDF5 files
are read from paths you give (h5py imported lazily). Also here: input normalization (F23), the
train/dev/test split (F24) and horizontal-flip augmentation (F27).
"""
import math
import numbers
import os
from dataclasses import dataclass

import numpy as np

from ._checks import as_generator, check_count, check_labels, check_matrix, check_nonneg
from .losses import one_hot

DIGITS_IMAGE_SHAPE = (8, 8)             # load_digits_binary: each column is an 8x8 image, C order
CATVNONCAT_IMAGE_SHAPE = (64, 64, 3)    # load_catvnoncat: each column is a 64x64 RGB image, C order
CATVNONCAT_KEYS = {"train": ("train_set_x", "train_set_y", "list_classes"),
                   "test": ("test_set_x", "test_set_y")}


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
    n_out = m - m // 2
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, m // 2, endpoint=False)
    points = np.r_[np.c_[np.cos(t_out), np.sin(t_out)], factor * np.c_[np.cos(t_in), np.sin(t_in)]]
    return _noisy_shuffled(points, np.r_[np.zeros(n_out), np.ones(m // 2)], noise, rng)


def make_moons(m=400, noise=0.1, seed=0):
    """Two interleaving half circles: (cos t, sin t) with y = 0 and (1 - cos t, 1/2 - sin t) with y = 1,
    t evenly spaced on [0, π]; Gaussian noise of std `noise`, columns shuffled. X (2, m), Y (1, m)."""
    m, rng = check_count("m", m, minimum=2), as_generator(seed)
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
    n_out = m - m // 2
    points = np.r_[np.repeat(c[:1], n_out, axis=0), np.repeat(c[1:], m // 2, axis=0)]
    return _noisy_shuffled(points, np.r_[np.zeros(n_out), np.ones(m // 2)], noise, rng)


def make_blobs_multiclass(m=600, C=3, noise=1.0, seed=0, radius=3.0):
    """C Gaussian blobs of std `noise`, centred on a circle of the given radius (class k at angle
    2πk/C), m // C points each (the first m mod C classes one more); columns shuffled.
    Returns X (2, m) float64 and one-hot Y (C, m) float64 (scratch.losses.one_hot)."""
    C = check_count("C", C, minimum=2)
    m, rng = check_count("m", m, minimum=C), as_generator(seed)
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


def _read_h5(h5py, path, expected):
    with h5py.File(path, "r") as f:
        found = sorted(f.keys())
        missing = [k for k in expected if k not in found]
        if missing:
            raise ValueError(f"{path}: not a cat/non-cat file; expected keys {list(expected)}, "
                             f"found {found} (missing {missing})")
        return [f[k][()] for k in expected]


def _flatten_set(path, x, y):
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    if x.ndim < 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: expected images (m, H, W, C) and labels (m,); got shapes {x.shape} and {y.shape}")
    # course: x.reshape(m, -1).T / 255 -> (H*W*C, m), each column one C-order flattened image
    return x.reshape(x.shape[0], -1).T.astype(np.float64) / 255.0, check_labels("Y", y.astype(np.float64).reshape(1, -1))


def load_catvnoncat(train_path, test_path):
    """The course's cat / non-cat HDF5 files (train_catvnoncat.h5, test_catvnoncat.h5), not shipped.

    Train file keys: train_set_x (m, 64, 64, 3) uint8, train_set_y (m,), list_classes;
    test file keys: test_set_x, test_set_y. Images flattened to (12288, m) and divided by 255
    (image shape CATVNONCAT_IMAGE_SHAPE for flips). Needs h5py (`pip install torch-ref[h5]`).
    Returns (X_train, Y_train), (X_test, Y_test), classes (list of str, e.g. ["non-cat", "cat"]).
    Raises FileNotFoundError for a missing file, ValueError for a file with other keys.
    """
    for name, path in (("train_path", train_path), ("test_path", test_path)):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{name}: no such file {os.fspath(path)!r}")
    try:
        import h5py  # lazy: optional dependency
    except ImportError as err:
        raise ImportError("load_catvnoncat needs h5py: pip install torch-ref[h5]  (or pip install h5py)") from err
    x_tr, y_tr, classes = _read_h5(h5py, train_path, CATVNONCAT_KEYS["train"])
    x_te, y_te = _read_h5(h5py, test_path, CATVNONCAT_KEYS["test"])
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in np.asarray(classes).reshape(-1)]
    return _flatten_set(train_path, x_tr, y_tr), _flatten_set(test_path, x_te, y_te), classes
