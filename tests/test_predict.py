"""`python -m experiments predict --model PATH --data FILE [--out CSV] [--key KEY]` (experiments/predict.py).

The model files are written with scratch.model_file.save_model from small hand-made parameters; the
expected predictions come from scratch.network (predict, model_forward) on the same examples, laid
out and preprocessed here, not by the code under test. Everything runs in-process through
cli.main (capsys), except one subprocess run of the command itself."""
import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.cli import main
from scratch import network
from scratch.model_file import Model, save_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
M = 7                                            # examples in each data file


def run(capsys, *argv):
    """main(["predict", *argv]) in this process: (status, stdout, stderr)."""
    try:
        status = main(["predict", *map(str, argv)])
    except SystemExit as exc:                    # argparse: --help, bad usage
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def parse(text):
    """(header, rows of floats) of a CSV."""
    header, *rows = list(csv.reader(io.StringIO(text)))
    return header, np.array(rows, dtype=np.float64)


# (layer_dims, activations, preprocess): one sigmoid model with standardization, one softmax model
MODELS = {
    "sigmoid": ([2, 3, 1], ["tanh", "sigmoid"],
                {"mu": np.array([[0.5], [-1.0]]), "sigma": np.array([[2.0], [0.5]])}),
    "softmax": ([2, 4, 3], ["relu", "softmax"], None),
}


@pytest.fixture(params=sorted(MODELS))
def model(request, tmp_path):
    """(path of the model file, params, activations, preprocess) of a hand-made network."""
    dims, acts, pre = MODELS[request.param]
    rng = np.random.default_rng(3)
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1]))
        params[f"b{l}"] = rng.standard_normal((dims[l], 1))
    path = str(tmp_path / f"{request.param}.npz")
    save_model(path, Model(params=params, layer_dims=dims, activations=acts, preprocess=pre))
    return path, params, acts, pre


@pytest.fixture
def rows():
    """M examples of 2 features, one a row (the files' layout), with a few exact values."""
    X = np.random.default_rng(11).standard_normal((M, 2)) * 3
    X[0] = [0.0, 0.0]
    X[1] = [-1.5, 2.25]
    return X


def expected(model, rows):
    """(predictions (m,), probabilities (m, n[L])) from scratch.network on the course layout."""
    _, params, acts, pre = model
    X = rows.T.astype(np.float64)                # course layout (n_x, m)
    if pre is not None:
        X = (X - pre["mu"]) / pre["sigma"]
    return network.predict(X, params, acts).ravel(), network.model_forward(X, params, acts)[0].T


def assert_predictions(text, model, rows):
    header, table = parse(text)
    labels, proba = expected(model, rows)
    C = proba.shape[1]
    assert header == (["prediction", "probability"] if C == 1 else ["prediction"] + [f"p{k}" for k in range(C)])
    assert table.shape == (len(rows), 1 + C)
    np.testing.assert_array_equal(table[:, 0], labels)
    np.testing.assert_allclose(table[:, 1:], proba, rtol=1e-15, atol=0)      # floats written exactly
    if C > 1:
        np.testing.assert_array_equal(table[:, 0], np.argmax(table[:, 1:], axis=1))


# ------------------------------------------------------------------------------ formats

def test_npy_rows(capsys, tmp_path, model, rows):
    np.save(tmp_path / "x.npy", rows)
    status, out, err = run(capsys, "--model", model[0], "--data", tmp_path / "x.npy")
    assert status == 0, err
    assert_predictions(out, model, rows)


def test_npy_of_one_example_and_of_ints(capsys, tmp_path, model, rows):
    np.save(tmp_path / "one.npy", rows[1])                                   # 1-D: one example
    status, out, err = run(capsys, "--model", model[0], "--data", tmp_path / "one.npy")
    assert status == 0, err
    assert_predictions(out, model, rows[1:2])
    ints = np.array([[1, 2], [-3, 0], [4, 4]], dtype=np.int32)
    np.save(tmp_path / "ints.npy", ints)
    status, out, err = run(capsys, "--model", model[0], "--data", tmp_path / "ints.npy")
    assert status == 0, err
    assert_predictions(out, model, ints.astype(np.float64))


def test_csv_with_a_header_and_blank_lines(capsys, tmp_path, model, rows):
    text = [[repr(float(v)) for v in row] for row in rows]                   # exact decimal forms
    lines = ["x1, x2", ""] + [",".join(r) for r in text[:3]] + ["", "  "] + [", ".join(r) for r in text[3:]]
    (tmp_path / "x.csv").write_text("\r\n".join(lines) + "\n")
    status, out, err = run(capsys, "--model", model[0], "--data", tmp_path / "x.csv")
    assert status == 0, err
    assert_predictions(out, model, rows)
    (tmp_path / "plain.csv").write_text("\n".join(",".join(r) for r in text))          # no header
    status, out, err = run(capsys, "--model", model[0], "--data", tmp_path / "plain.csv")
    assert status == 0, err
    assert_predictions(out, model, rows)


def test_h5_dataset_by_key_and_alone(capsys, tmp_path, model, rows):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["points_x"] = rows.reshape(M, 2, 1)                 # each example flattened: (2, 1) -> 2 features
        f["labels"] = np.zeros(M)
    status, out, err = run(capsys, "--model", model[0], "--data", tmp_path / "x.h5", "--key", "points_x")
    assert status == 0, err
    assert_predictions(out, model, rows)
    status, out, err = run(capsys, "--model", model[0], "--data", tmp_path / "x.h5")   # the only *_x
    assert status == 0, err
    assert_predictions(out, model, rows)
    status, _, err = run(capsys, "--model", model[0], "--data", tmp_path / "x.h5", "--key", "nope")
    assert status == 1 and "no dataset 'nope'" in err


def test_out_writes_the_csv(capsys, tmp_path, model, rows):
    np.save(tmp_path / "x.npy", rows)
    status, printed, _ = run(capsys, "--model", model[0], "--data", tmp_path / "x.npy")
    assert status == 0
    out = tmp_path / "pred.csv"
    status, stdout, err = run(capsys, "--model", model[0], "--data", tmp_path / "x.npy", "--out", out)
    assert status == 0, err
    assert stdout == "" and f"{M} predictions written to {out}" in err
    assert out.read_text() == printed
    assert_predictions(out.read_text(), model, rows)
    assert sorted(os.listdir(tmp_path)) == sorted(["x.npy", "pred.csv", os.path.basename(model[0])])  # no temp file


# ------------------------------------------------------------------------------ refused

def one_line_error(status, err, expected_status=1):
    assert status == expected_status, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("python -m experiments predict: error: "), err


def test_feature_count_mismatch_is_refused_before_predicting(capsys, tmp_path, model, rows, monkeypatch):
    np.save(tmp_path / "x3.npy", np.hstack([rows, rows[:, :1]]))
    monkeypatch.setattr(Model, "predict", lambda *a: pytest.fail("predicted"))
    status, out, err = run(capsys, "--model", model[0], "--data", tmp_path / "x3.npy")
    one_line_error(status, err)
    assert f"{tmp_path / 'x3.npy'} has 3 features per example; the model ({model[0]}) takes n_x = 2" in err
    assert out == ""
    (tmp_path / "x1.csv").write_text("1\n2\n")
    status, _, err = run(capsys, "--model", model[0], "--data", tmp_path / "x1.csv")
    one_line_error(status, err)
    assert "has 1 features per example" in err


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(capsys, tmp_path, model, rows, bad):
    X = rows.copy()
    X[4, 1] = bad
    np.save(tmp_path / "x.npy", X)
    status, out, err = run(capsys, "--model", model[0], "--data", tmp_path / "x.npy")
    one_line_error(status, err)
    assert "1 non-finite value(s)" in err and "example 4" in err and "feature 1" in err and out == ""
    (tmp_path / "x.csv").write_text(f"1,2\n3,{bad}\n")
    status, _, err = run(capsys, "--model", model[0], "--data", tmp_path / "x.csv")
    one_line_error(status, err)
    assert "non-finite" in err


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", "", "is empty (0 bytes)"),
    ("header.csv", "x1,x2\n\n", "holds no examples"),
    ("blank.csv", "\n \n", "holds no examples"),
    ("empty.npy", None, "holds no examples"),
    ("zero.npy", b"", "is empty (0 bytes)"),
    ("ragged.csv", "1,2\n3\n", "line 2 has 1 values; the rows before it have 2"),
    ("words.csv", "x1,x2\n1,two\n", "line 2, column 2: not a number: 'two'"),
    ("garbage.npy", b"not an array", "not a .npy file (no NumPy header)"),
    ("zip.npy", b"PK\x03\x04", "an .npz (zip) archive, not a .npy array"),
    ("cut.npy", b"\x93NUMPY\x01\x00", "not a readable .npy file"),
    ("cube.npy", "cube", "expected a 2-D array (m, n_x)"),
    ("text.npy", "text", "holds <U1 values; expected numbers"),
    ("x.txt", "1,2\n", "unsupported data file extension '.txt'"),
])
def test_bad_data_files_are_one_line(capsys, tmp_path, model, name, content, message):
    path = tmp_path / name
    if content is None:
        np.save(path, np.zeros((0, 2)))
    elif content == "cube":
        np.save(path, np.zeros((2, 2, 2)))
    elif content == "text":
        np.save(path, np.array([["a", "b"]]))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    status, out, err = run(capsys, "--model", model[0], "--data", path)
    one_line_error(status, err)
    assert message in err and str(path) in err and out == ""


def test_a_pickled_npy_is_refused_not_loaded(capsys, tmp_path, model, monkeypatch):
    import pickle
    np.save(tmp_path / "obj.npy", np.array([[1.0, "a"]], dtype=object), allow_pickle=True)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    status, _, err = run(capsys, "--model", model[0], "--data", tmp_path / "obj.npy")
    one_line_error(status, err)
    assert "object (pickled) array, which is never loaded" in err


def test_missing_and_bad_model_files(capsys, tmp_path, rows):
    np.save(tmp_path / "x.npy", rows)
    status, _, err = run(capsys, "--model", tmp_path / "nope.npz", "--data", tmp_path / "x.npy")
    one_line_error(status, err)
    assert f"{tmp_path / 'nope.npz'}: no such model file" in err
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    status, _, err = run(capsys, "--model", tmp_path / "junk.npz", "--data", tmp_path / "x.npy")
    one_line_error(status, err)
    assert f"error: {tmp_path / 'junk.npz'}: " in err                           # the ModelFileError text
    status, _, err = run(capsys, "--model", tmp_path / "x.npy", "--data", tmp_path / "x.npy")
    one_line_error(status, err)
    assert f"error: {tmp_path / 'x.npy'}: " in err


def test_missing_data_file(capsys, tmp_path, model):
    status, _, err = run(capsys, "--model", model[0], "--data", tmp_path / "nope.csv")
    one_line_error(status, err)
    assert f"{tmp_path / 'nope.csv'}: no such data file" in err


@pytest.mark.parametrize("argv", [[], ["--model", "m.npz"], ["--model", "m.npz", "--data", "x.csv", "--key", "x"],
                                  ["--model", "m.npz", "--data", "x.npy", "--bogus"]])
def test_bad_usage_exits_2(capsys, argv):
    status, _, err = run(capsys, *argv)
    one_line_error(status, err, 2)


def test_help_has_an_example(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "python -m experiments predict --model" in out and "prediction,probability" in out


@pytest.mark.parametrize("model", ["sigmoid"], indirect=True)          # one subprocess: the command runs
def test_runs_as_a_command(tmp_path, model, rows):
    np.save(tmp_path / "x.npy", rows)
    done = subprocess.run([sys.executable, "-m", "experiments", "predict", "--model", model[0], "--data",
                           str(tmp_path / "x.npy")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert_predictions(done.stdout, model, rows)
