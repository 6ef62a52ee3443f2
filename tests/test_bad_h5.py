"""Bad HDF5 files: load_catvnoncat and read_h5_examples refuse each with one ValueError naming the file
and what is wrong (never a raw h5py OSError, never 8x8 or NaN "cat images" accepted)."""
import re

import numpy as np
import pytest

from scratch import data

h5py = pytest.importorskip("h5py")

M_TRAIN, M_TEST = 4, 2


def _write(path, **datasets):
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f.create_dataset(key, data=value)
    return path


def _images(m, shape=data.CATVNONCAT_IMAGE_SHAPE, dtype=np.uint8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (m, *shape)).astype(dtype)


def _train(path, x=None, y=None, classes=(b"non-cat", b"cat")):
    x = _images(M_TRAIN) if x is None else x
    y = np.arange(len(x)) % 2 if y is None else y
    return _write(path, train_set_x=x, train_set_y=y, list_classes=np.array(classes))


@pytest.fixture
def good(tmp_path):
    """A good (train, test) pair."""
    test = _write(tmp_path / "test.h5", test_set_x=_images(M_TEST, seed=1), test_set_y=np.array([1, 0]))
    return _train(tmp_path / "train.h5"), test


def _refused(path, *args, match=""):
    """load_catvnoncat(*args) raises one ValueError naming `path` (and matching `match`)."""
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + match) as info:
        data.load_catvnoncat(*args)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_good_pair_loads(good):
    train, test = good
    (X, Y), (X_te, Y_te), classes = data.load_catvnoncat(train, test)
    assert X.shape == (12288, M_TRAIN) and X.dtype == np.float64 and 0 <= X.min() and X.max() <= 1
    np.testing.assert_array_equal(X, _images(M_TRAIN).reshape(M_TRAIN, -1).T / 255.0)
    np.testing.assert_array_equal(Y, [[0, 1, 0, 1]])
    assert X_te.shape == (12288, M_TEST) and classes == ["non-cat", "cat"]


def test_a_missing_file_stays_file_not_found(tmp_path, good):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        data.load_catvnoncat(good[0], tmp_path / "nope.h5")


def _damaged(tmp_path, good, how):
    raw = good[0].read_bytes()
    path = tmp_path / f"{how}.h5"
    if how == "truncated":
        raw = raw[:len(raw) // 2]
    elif how == "empty":
        raw = b""
    elif how == "random":
        raw = np.random.default_rng(0).bytes(4096)
    elif how == "signature":                   # the 8-byte HDF5 signature, flipped
        raw = bytes(b ^ 0xFF for b in raw[:8]) + raw[8:]
    elif how == "superblock":                  # the superblock's version and flags, flipped
        raw = raw[:8] + bytes(b ^ 0xFF for b in raw[8:24]) + raw[24:]
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("how, what", [("truncated", "truncated"), ("empty", "empty file"),
                                       ("random", "not an HDF5 file"), ("signature", "not an HDF5 file"),
                                       ("superblock", "corrupted")])
def test_a_damaged_file_is_one_value_error(tmp_path, good, how, what):
    path = _damaged(tmp_path, good, how)
    _refused(path, path, good[1], match=what)                     # as the train file
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + what):
        data.read_h5_examples(path)


def test_damage_deeper_in_the_file_is_a_value_error_too(tmp_path, good):
    """h5py reports damage past the superblock as RuntimeError, KeyError or TypeError: each becomes a
    ValueError naming the file (or, damage in the raw pixels, goes unseen: HDF5 keeps no checksum)."""
    raw = good[0].read_bytes()
    path = tmp_path / "flipped.h5"
    kinds = set()
    for pos in range(0, 2048, 13):             # the metadata: superblock, group, object headers
        path.write_bytes(raw[:pos] + bytes([raw[pos] ^ 0xFF]) + raw[pos + 1:])
        try:
            data.load_catvnoncat(path, good[1])
            kinds.add("loaded")
        except ValueError as err:
            assert str(path) in str(err)
            kinds.add("ValueError")
    assert "ValueError" in kinds                # any other exception type fails the test


@pytest.mark.parametrize("case, match", [
    ("wrong keys", r"expected keys.*found \['images', 'labels'\]"),
    ("8x8 images", r"\(m, 64, 64, 3\).*\(4, 8, 8, 3\)"),
    ("grey images", r"\(m, 64, 64, 3\).*\(4, 64, 64\)"),
    ("NaN pixels", "finite.*1 NaN or inf"),
    ("pixel 300", r"\[0, 255\].*300"),
    ("negative pixel", r"\[0, 255\].*-1"),
    ("labels 2", r"0 \(non-cat\) or 1 \(cat\).*\[2\]"),
    ("NaN label", r"0 \(non-cat\) or 1 \(cat\).*nan"),
    ("m mismatch", "4 images.*shape \\(3,\\)"),
    ("empty set", r"no examples \(m = 0\)"),
    ("string images", "must hold numbers"),
    ("three classes", "2 classes"),
])
def test_a_bad_train_file_is_refused_with_its_reason(tmp_path, good, case, match):
    path = tmp_path / "bad.h5"
    x, y = _images(M_TRAIN), np.array([0, 1, 0, 1])
    if case == "wrong keys":
        _write(path, images=x, labels=y)
    elif case == "three classes":
        _train(path, classes=(b"a", b"b", b"c"))
    else:
        if case == "8x8 images":
            x = _images(M_TRAIN, (8, 8, 3))
        elif case == "grey images":
            x = _images(M_TRAIN, (64, 64))
        elif case == "NaN pixels":
            x = x.astype(np.float32)
            x[1, 2, 3, 0] = np.nan
        elif case in ("pixel 300", "negative pixel"):
            x = x.astype(np.int16)
            x[0, 0, 0, 0] = 300 if case == "pixel 300" else -1
        elif case == "labels 2":
            y = np.array([0, 1, 2, 1])
        elif case == "NaN label":
            y = np.array([0, 1, np.nan, 1])
        elif case == "m mismatch":
            y = np.array([0, 1, 0])
        elif case == "empty set":
            x, y = x[:0], y[:0]
        elif case == "string images":
            x = np.array([b"cat"] * M_TRAIN)
        _train(path, x, y)
    _refused(path, path, good[1], match=match)


def test_a_bad_test_file_is_named_too(tmp_path, good):
    path = _write(tmp_path / "bad_test.h5", test_set_x=_images(M_TEST, (8, 8, 3)), test_set_y=np.array([1, 0]))
    _refused(path, good[0], path, match="test_set_x.*64, 64, 3")


def test_images_over_the_memory_budget_are_refused_before_reading(good):
    from scratch._checks import MemoryBudgetError, set_memory_budget
    previous = set_memory_budget(M_TRAIN * 12288 * 17 - 1)       # one byte under what the train set needs
    try:
        with pytest.raises(MemoryBudgetError, match="load_catvnoncat.*train.h5.*memory budget"):
            data.load_catvnoncat(*good)
    finally:
        set_memory_budget(previous)


# ---------------------------------------------------------------- read_h5_examples
def test_read_h5_examples_picks_the_x_dataset_in_course_layout(good):
    X = data.read_h5_examples(good[0])                   # train_set_x: the only key ending in _x
    assert X.shape == (12288, M_TRAIN) and X.dtype == np.float64 and X.flags.c_contiguous
    np.testing.assert_array_equal(X, _images(M_TRAIN).reshape(M_TRAIN, -1).T)   # raw pixels, no /255
    np.testing.assert_array_equal(data.read_h5_examples(good[0], key="train_set_y"), [[0, 1, 0, 1]])


def test_read_h5_examples_only_dataset_and_nested_keys(tmp_path):
    x = np.arange(6.0).reshape(3, 2)
    path = _write(tmp_path / "one.h5", features=x)
    np.testing.assert_array_equal(data.read_h5_examples(path), x.T)
    nested = tmp_path / "nested.h5"
    with h5py.File(nested, "w") as f:
        f.create_group("g").create_dataset("inputs", data=x)
        f["labels"] = np.zeros(3)
    np.testing.assert_array_equal(data.read_h5_examples(nested, key="g/inputs"), x.T)
    np.testing.assert_array_equal(data.read_h5_examples(_write(tmp_path / "v.h5", v=np.arange(3))), [[0, 1, 2]])


@pytest.mark.parametrize("datasets, key, match", [
    ({"a": np.zeros((2, 3)), "b": np.zeros((2, 3))}, None, r"which dataset.*found datasets \['a', 'b'\]"),
    ({"a_x": np.zeros((2, 3)), "b_x": np.zeros((2, 3))}, None, r"which dataset.*\['a_x', 'b_x'\]"),
    ({"a_x": np.zeros((2, 3))}, "b_x", r"no dataset 'b_x'; found datasets \['a_x'\]"),
    ({"x": np.array([[1.0, np.nan], [np.inf, 0.0]])}, None, "'x' must hold finite values; got 2 NaN or inf"),
    ({"x": np.zeros((0, 3))}, None, r"no examples \(m = 0\)"),
    ({"x": np.zeros((3, 0))}, None, "empty examples"),
    ({"x": np.array(5.0)}, None, "no examples"),
    ({"x": np.array([b"cat", b"dog"])}, None, "must hold numbers"),
])
def test_read_h5_examples_refuses_with_the_file_and_the_reason(tmp_path, datasets, key, match):
    path = _write(tmp_path / "bad.h5", **datasets)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + match):
        data.read_h5_examples(path, key=key)


def test_read_h5_examples_missing_file_and_group_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        data.read_h5_examples(tmp_path / "nope.h5")
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f.create_group("g").create_dataset("x", data=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"no dataset 'g'; found datasets \['g/x'\]"):
        data.read_h5_examples(path, key="g")
