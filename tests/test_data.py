"""scratch.data: built-in datasets (flower, circles, moons, blobs, digits, breast cancer),
standardize (F23), train/dev/test split (F24), flip augmentation (F27), the cat/non-cat HDF5 loader."""
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratch import data

FEW = settings(max_examples=25, deadline=None)


# ---------------------------------------------------------------- flower
def test_flower_shape_balance_labels():
    X, Y = data.load_flower()
    assert X.shape == (2, 400) and Y.shape == (1, 400)
    assert X.dtype == np.float64 and Y.dtype == np.float64
    assert set(np.unique(Y)) == {0.0, 1.0}
    assert Y.sum() == 200


def test_flower_deterministic_per_seed():
    X1, Y1 = data.load_flower(seed=3)
    X2, Y2 = data.load_flower(seed=np.random.default_rng(3))
    X3, _ = data.load_flower(seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(Y1, Y2)
    assert not np.allclose(X1, X3)


@pytest.mark.parametrize("m, seed", [(400, 0), (10, 7), (2, 1)])
def test_flower_matches_its_formula(m, seed):
    # independent computation with the same draws: for each class, t noise then r noise
    rng, n = np.random.default_rng(seed), m // 2
    cols = []
    for j in range(2):
        t = np.linspace(3.12 * j, 3.12 * (j + 1), n) + 0.2 * rng.standard_normal(n)
        r = 4 * np.sin(4 * t) + 0.2 * rng.standard_normal(n)
        cols.append(np.vstack([r * np.sin(t), r * np.cos(t)]))
    X, Y = data.load_flower(m=m, seed=seed)
    np.testing.assert_allclose(X, np.hstack(cols), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(Y, np.repeat([[0.0, 1.0]], n, axis=1))


@pytest.mark.parametrize("m", [3, 0, -2])
def test_flower_rejects_bad_m(m):
    with pytest.raises(ValueError, match="m must"):
        data.load_flower(m=m)


# ---------------------------------------------------------------- other planar sets
@pytest.mark.parametrize("make", [data.make_circles, data.make_moons, data.make_blobs])
def test_planar_sets_layout_and_seed(make):
    X, Y = make(m=101, noise=0.1, seed=5)
    assert X.shape == (2, 101) and Y.shape == (1, 101)
    assert set(np.unique(Y)) == {0.0, 1.0} and Y.sum() == 50
    X2, Y2 = make(m=101, noise=0.1, seed=5)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(Y, Y2)
    assert not np.allclose(X, make(m=101, noise=0.1, seed=6)[0])
    with pytest.raises(ValueError, match="noise"):
        make(m=10, noise=-1.0, seed=0)


def test_circles_radii_without_noise():
    X, Y = data.make_circles(m=40, noise=0.0, seed=0, factor=0.5)
    radius = np.linalg.norm(X, axis=0)
    np.testing.assert_allclose(radius[Y[0] == 0], 1.0)
    np.testing.assert_allclose(radius[Y[0] == 1], 0.5)


# ---------------------------------------------------------------- real sets (scikit-learn, offline)
def test_digits_binary():
    X, Y = data.load_digits_binary(positive=0, negative=1)
    assert X.shape[0] == 64 == np.prod(data.DIGITS_IMAGE_SHAPE) and Y.shape == (1, X.shape[1])
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert 0.4 < Y.mean() < 0.6
    X_all, Y_all = data.load_digits_binary(positive=3)
    assert X_all.shape == (64, 1797) and 0.05 < Y_all.mean() < 0.15
    with pytest.raises(ValueError, match="negative"):
        data.load_digits_binary(positive=2, negative=2)


def test_breast_cancer():
    X, Y = data.load_breast_cancer()
    assert X.shape == (30, 569) and Y.shape == (1, 569)
    assert set(np.unique(Y)) == {0.0, 1.0}


# ---------------------------------------------------------------- standardize (F23)
def test_standardize_train_statistics_reused():
    rng = np.random.default_rng(0)
    X_train = rng.normal(5.0, 3.0, (3, 200))
    X_dev = rng.normal(-1.0, 0.5, (3, 50))
    X_tr_s, X_dev_s, stats = data.standardize(X_train, X_dev)
    mu, sigma = X_train.mean(axis=1, keepdims=True), X_train.std(axis=1, keepdims=True)
    np.testing.assert_allclose(stats.mu, mu)
    np.testing.assert_allclose(stats.sigma, sigma)
    np.testing.assert_allclose(X_tr_s.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(X_tr_s.std(axis=1), 1, rtol=1e-12)       # σ, not σ²: unit variance
    np.testing.assert_allclose(X_dev_s, (X_dev - mu) / sigma, rtol=1e-12)  # train μ, σ on dev
    assert not np.allclose(X_dev_s.mean(axis=1), 0, atol=0.5)           # not dev's own statistics


def test_standardize_divides_by_sigma_not_variance():
    X = np.array([[0.0, 4.0, 0.0, 4.0]])                              # μ = 2, σ = 2, σ² = 4
    X_s, stats = data.standardize(X)
    np.testing.assert_allclose(X_s, [[-1.0, 1.0, -1.0, 1.0]])
    assert stats.sigma[0, 0] == 2.0


def test_standardize_constant_feature_and_inputs_unchanged():
    X = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])
    X_copy = X.copy()
    X_s, stats = data.standardize(X)
    assert np.all(np.isfinite(X_s)) and np.all(X_s[0] == 0.0)
    assert stats.sigma[0, 0] == 1.0
    np.testing.assert_array_equal(X, X_copy)
    with pytest.raises(ValueError, match="rows"):
        data.standardize(X, np.ones((3, 2)))



def test_standardize_uint8_images_match_the_float64_result():
    """uint8 pixels (0..255): the statistics and the output are those of the same values in
    float64 (not μ cast to uint8, nor uint8 arithmetic wrapping around), for train and dev."""
    rng = np.random.default_rng(7)
    X_train = rng.integers(0, 256, (12, 30), dtype=np.uint8)
    X_dev = rng.integers(0, 256, (12, 9), dtype=np.uint8)
    Xf, Xdf = X_train.astype(np.float64), X_dev.astype(np.float64)
    mu, sigma = Xf.mean(axis=1, keepdims=True), Xf.std(axis=1, keepdims=True)   # independent formula
    X_tr_s, X_dev_s, stats = data.standardize(X_train, X_dev)
    assert X_tr_s.dtype == X_dev_s.dtype == np.float64
    np.testing.assert_allclose(stats.mu, mu, rtol=1e-12)
    np.testing.assert_allclose(stats.sigma, sigma, rtol=1e-12)
    np.testing.assert_allclose(X_tr_s, (Xf - mu) / sigma, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(X_dev_s, (Xdf - mu) / sigma, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.apply(X_dev), (Xdf - mu) / sigma, rtol=1e-12, atol=1e-12)
    f64 = data.standardize(Xf, Xdf)                                     # and the float64 path agrees
    np.testing.assert_array_equal(X_tr_s, f64[0])
    np.testing.assert_array_equal(X_dev_s, f64[1])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint16, np.bool_])
def test_standardize_integer_and_bool_input_become_float64(dtype):
    X = np.array([[0, 1, 1, 0], [0, 1, 0, 1]]).astype(dtype)          # each row: μ = 1/2, σ = 1/2
    X_s, stats = data.standardize(X)
    assert X_s.dtype == np.float64 and np.all(np.isfinite(X_s))
    np.testing.assert_array_equal(X_s, [[-1.0, 1.0, 1.0, -1.0], [-1.0, 1.0, -1.0, 1.0]])
    np.testing.assert_array_equal(stats.mu, [[0.5], [0.5]])


def test_standardize_large_int64_values():
    X = np.array([[10**12, 10**12 + 2, 10**12 + 4]], dtype=np.int64)    # μ = 1e12 + 2, σ = √(8/3)
    X_s, _ = data.standardize(X)
    np.testing.assert_allclose(X_s, [[-2, 0, 2]] / np.sqrt(8 / 3), rtol=1e-12)


def test_standardize_float32_stays_float32():
    X = np.array([[0.0, 4.0, 0.0, 4.0]], dtype=np.float32)
    X_s, X_dev_s, _ = data.standardize(X, X[:, :2])
    assert X_s.dtype == X_dev_s.dtype == np.float32
    np.testing.assert_array_equal(X_s, np.array([[-1.0, 1.0, -1.0, 1.0]], dtype=np.float32))
    np.testing.assert_array_equal(X_dev_s, np.array([[-1.0, 1.0]], dtype=np.float32))

# ---------------------------------------------------------------- split (F24)
@FEW
@given(m=st.integers(5, 300), seed=st.integers(0, 10_000))
def test_split_sizes_disjoint_covering(m, seed):
    X = np.arange(m, dtype=float).reshape(1, m) * np.ones((2, 1))
    Y = (np.arange(m) % 2).reshape(1, m).astype(float)
    parts = data.train_dev_test_split(X, Y, ratios=(0.6, 0.2, 0.2), seed=seed)
    ids = [p[0][0].astype(int) for p in parts]
    assert sorted(np.concatenate(ids).tolist()) == list(range(m))      # disjoint and covering
    for (Xp, Yp), i in zip(parts, ids):
        np.testing.assert_array_equal(Yp[0], i % 2)                     # columns stay paired
        assert Xp.shape[1] >= 1
    assert [len(i) for i in ids] == [round(0.6 * m), round(0.8 * m) - round(0.6 * m), m - round(0.8 * m)]


def test_split_seeded_and_shuffled():
    X, Y = np.arange(100.0).reshape(1, 100), np.zeros((1, 100))
    a = data.split(X, Y, seed=1)
    b = data.split(X, Y, seed=1)
    c = data.split(X, Y, seed=2)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert not np.array_equal(a[0][0], c[0][0])
    assert not np.array_equal(a[0][0][0], np.arange(60.0))              # shuffled, not the first 60


def test_split_98_1_1_and_default_ratios():
    X, Y = np.zeros((1, 1000)), np.zeros((1, 1000))
    sizes = [p[0].shape[1] for p in data.split(X, Y, ratios=(0.98, 0.01, 0.01))]
    assert sizes == [980, 10, 10]
    assert data.default_ratios(400) == (0.6, 0.2, 0.2)
    assert data.default_ratios(1_000_000) == (0.98, 0.01, 0.01)


@pytest.mark.parametrize("ratios, m, match", [((0.5, 0.5), 10, "ratios"), ((0.6, 0.3, 0.2), 10, "ratios"),
                                              ((1.0, 0.0, 0.0), 10, "ratios"), ((0.98, 0.01, 0.01), 20, "empty")])
def test_split_rejects(ratios, m, match):
    with pytest.raises(ValueError, match=match):
        data.split(np.zeros((1, m)), np.zeros((1, m)), ratios=ratios)


# ---------------------------------------------------------------- flips (F27)
def test_flip_known_tiny_image():
    img = np.array([[1, 2, 3], [4, 5, 6]], dtype=float)                 # (H, W) = (2, 3)
    X = img.reshape(-1, 1)
    np.testing.assert_array_equal(data.flip_horizontal(X, (2, 3)), img[:, ::-1].reshape(-1, 1))
    rgb = np.arange(2 * 2 * 3, dtype=float).reshape(2, 2, 3)            # channels stay channels
    np.testing.assert_array_equal(data.flip_horizontal(rgb.reshape(-1, 1), (2, 2, 3)),
                                  rgb[:, ::-1, :].reshape(-1, 1))


@FEW
@given(h=st.integers(1, 5), w=st.integers(1, 5), c=st.sampled_from([None, 1, 3]), m=st.integers(1, 4))
def test_flip_twice_is_identity(h, w, c, m):
    shape = (h, w) if c is None else (h, w, c)
    X = np.random.default_rng(h * 100 + w).random((int(np.prod(shape)), m))
    np.testing.assert_array_equal(data.flip_horizontal(data.flip_horizontal(X, shape), shape), X)


def test_augment_flip_and_errors():
    X, Y = np.random.default_rng(0).random((6, 4)), np.array([[0.0, 1.0, 1.0, 0.0]])
    X2, Y2 = data.augment_flip(X, Y, (2, 3))
    assert X2.shape == (6, 8) and Y2.shape == (1, 8)
    np.testing.assert_array_equal(X2[:, :4], X)
    np.testing.assert_array_equal(X2[:, 4:], data.flip_horizontal(X, (2, 3)))
    np.testing.assert_array_equal(Y2, np.hstack([Y, Y]))
    with pytest.raises(ValueError, match="image_shape"):
        data.flip_horizontal(X, (4, 3))


# ---------------------------------------------------------------- cat / non-cat HDF5
def _write_h5(path, **datasets):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f.create_dataset(key, data=value)


@pytest.fixture
def catvnoncat_files(tmp_path):
    rng = np.random.default_rng(0)
    train, test = tmp_path / "train.h5", tmp_path / "test.h5"
    x_tr = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)     # the course's (m, 64, 64, 3) images
    x_te = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    _write_h5(train, train_set_x=x_tr, train_set_y=np.array([0, 1, 1, 0, 1]),
              list_classes=np.array([b"non-cat", b"cat"]))
    _write_h5(test, test_set_x=x_te, test_set_y=np.array([1, 0]), list_classes=np.array([b"non-cat", b"cat"]))
    return train, test, x_tr, x_te


def test_catvnoncat_loads_fake_files(catvnoncat_files):
    train, test, x_tr, x_te = catvnoncat_files
    (X_tr, Y_tr), (X_te, Y_te), classes = data.load_catvnoncat(train, test)
    assert X_tr.shape == (12288, 5) and X_te.shape == (12288, 2)
    np.testing.assert_allclose(X_tr, x_tr.reshape(5, -1).T / 255.0)      # the course's flatten
    np.testing.assert_array_equal(Y_tr, [[0, 1, 1, 0, 1]])
    np.testing.assert_array_equal(Y_te, [[1, 0]])
    assert classes == ["non-cat", "cat"]
    np.testing.assert_allclose(data.flip_horizontal(X_tr, data.CATVNONCAT_IMAGE_SHAPE)[:, 0],
                               x_tr[0, :, ::-1, :].reshape(-1) / 255.0)


def test_catvnoncat_missing_file_and_wrong_keys(tmp_path, catvnoncat_files):
    train, test, _, _ = catvnoncat_files
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        data.load_catvnoncat(tmp_path / "nope.h5", test)
    other = tmp_path / "other.h5"
    _write_h5(other, images=np.zeros((2, 4, 4, 3)), labels=np.zeros(2))
    with pytest.raises(ValueError, match=r"other\.h5.*train_set_x.*found \['images', 'labels'\]"):
        data.load_catvnoncat(other, test)


def test_catvnoncat_without_h5py(monkeypatch, catvnoncat_files):
    train, test, _, _ = catvnoncat_files
    monkeypatch.setitem(sys.modules, "h5py", None)                      # import h5py -> ImportError
    with pytest.raises(ImportError, match=r"torch-ref\[h5\]"):
        data.load_catvnoncat(train, test)
