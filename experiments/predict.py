"""`python -m experiments predict --model PATH --data FILE [--out CSV] [--key KEY]`: the predictions of
a saved model (scratch.model_file) on the examples of a file, as CSV.

FILE holds raw examples, one per row, prepared as the model's own preprocess says (standardization
with the training set's μ and σ, or a scale such as 1/255):
    .npy           a numeric array (m, n_x), or (n_x,) for one example; read with allow_pickle=False,
                   so an object (pickled) array is refused, never loaded
    .csv           comma-separated numbers, one example a row; a first row with no number in it (a
                   header) and blank lines are skipped
    .h5 / .hdf5    one dataset (--key names it; scratch.data.read_h5_examples), example i = dataset[i]
                   flattened, e.g. (m, 64, 64, 3) images
They become course layout X (n_x, m); the feature count is checked against the model's n_x and
non-finite values are refused before anything is predicted.

The CSV has one row per example, in the file's order: `prediction,probability` for a sigmoid output
(0/1 and ŷ = P(y = 1 | x)), `prediction,p0,p1,...,p{C-1}` for a softmax over C classes (the class
index and each class's probability). Floats are written in their shortest exact form (repr).
Exit status: 0 done; 1 an error (missing or bad model or data file: one line naming it); 2 bad usage.
"""
import argparse
import csv
import io
import os
import sys

from .cli import EXIT_ERROR, EXIT_OK, _Parser

PROG = "python -m experiments predict"
EXTENSIONS = (".npy", ".csv", ".h5", ".hdf5")


def build_parser():
    parser = _Parser(
        prog=PROG,
        description="Predict with a saved model file (.npz, written by training: scratch.model_file) on "
                    "the examples of a .npy, .csv or .h5 file, one example a row; print a CSV of the "
                    "predictions (or write it to --out).",
        epilog="examples:\n"
               "  python -m experiments predict --model logs/flower/model.npz --data points.csv\n"
               "  python -m experiments predict --model cat.npz --data test_catvnoncat.h5 --key test_set_x "
               "--out cats.csv\n\n"
               "output: a header, then one row per example: prediction,probability (a sigmoid output: 0/1\n"
               "and P(y = 1)), or prediction,p0,...,p{C-1} (a softmax over C classes).\n"
               "exit status: 0 done, 1 error (missing or bad model or data file), 2 bad usage",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="PATH", help="the model file (.npz)")
    parser.add_argument("--data", required=True, metavar="FILE",
                        help="the examples, one a row: .npy (m, n_x), .csv, or .h5/.hdf5 (see --key)")
    parser.add_argument("--out", metavar="CSV", help="write the CSV here (atomically) instead of to stdout")
    parser.add_argument("--key", metavar="KEY",
                        help="the HDF5 dataset of the examples (default: the file's only dataset, or its "
                             "only one named *_x); .h5/.hdf5 only")
    return parser


def _read_npy(path):
    """A .npy array as (m, n_x) rows, or one row for a 1-D array. ValueError naming the file."""
    import numpy as np
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"PK":
        raise ValueError(f"{path}: an .npz (zip) archive, not a .npy array (m, n_x)")
    if magic != b"\x93NUMPY":
        raise ValueError(f"{path}: not a .npy file (no NumPy header)")
    try:
        X = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err).lower():          # "Object arrays cannot be loaded when allow_pickle=False"
            raise ValueError(f"{path}: holds an object (pickled) array, which is never loaded "
                             "(allow_pickle=False); save a numeric array (m, n_x)") from None
        raise ValueError(f"{path}: not a readable .npy file ({err})") from None
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npy file ({err})") from None
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{path}: holds {X.dtype} values; expected numbers (int or float)")
    if X.ndim == 1:
        return X.reshape(1, -1)
    if X.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (m, n_x), one example a row, or 1-D (n_x,) for one "
                         f"example; got shape {X.shape}")
    return X


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def _read_csv(path):
    """The rows of comma-separated numbers as a list of lists of float (m, n_x). A first row without
    a number in it is a header (skipped); blank lines are skipped. ValueError naming file and line."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text (UTF-8) CSV file ({err})") from None
    rows, width = [], None
    for line_no, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        fields = [x.strip() for x in fields]
        if not any(fields):
            continue
        values = [_number(x) for x in fields]
        if not rows and width is None and all(v is None for v in values):
            width = len(fields)                        # the header: its width is the table's
            continue
        bad = [k for k, v in enumerate(values) if v is None]
        if bad:
            raise ValueError(f"{path}: line {line_no}, column {bad[0] + 1}: not a number: {fields[bad[0]]!r}")
        if width is not None and len(values) != width:
            raise ValueError(f"{path}: line {line_no} has {len(values)} values; "
                             f"{'the header has' if not rows else 'the rows before it have'} {width}")
        width = len(values)
        rows.append(values)
    return rows


def read_examples(path, key=None):
    """The examples of FILE in course layout X (n_x, m) float64 (see the module docstring).
    FileNotFoundError for a missing file; ValueError naming the file for an unsupported extension,
    an unreadable or empty file."""
    import numpy as np
    ext = os.path.splitext(path)[1].lower()
    if ext not in EXTENSIONS:
        raise ValueError(f"{path}: unsupported data file extension {ext or '(none)'!r}; expected "
                         f"{', '.join(EXTENSIONS)}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such data file")
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory, not a data file")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path}: is empty (0 bytes): no examples")
    if ext in (".h5", ".hdf5"):
        from scratch.data import read_h5_examples
        return read_h5_examples(path, key)            # course layout already
    rows = _read_npy(path) if ext == ".npy" else _read_csv(path)
    X = np.asarray(rows, dtype=np.float64)
    if X.size == 0:
        raise ValueError(f"{path}: holds no examples")
    return X.T


def _check_finite(path, X):
    import numpy as np
    bad = ~np.isfinite(X)
    if bad.any():
        feature, example = np.argwhere(bad)[0]
        raise ValueError(f"{path}: {int(bad.sum())} non-finite value(s) (NaN or inf), the first in example "
                         f"{example} (0-based row), feature {feature}; predictions need finite inputs")


def predictions_csv(model, X):
    """The CSV text of model's predictions on X (n_x, m): a header and one row per example."""
    import numpy as np
    labels = np.asarray(model.predict(X)).reshape(-1)
    proba = np.asarray(model.predict_proba(X))
    if model.activations[-1] == "softmax":
        header = ["prediction"] + [f"p{k}" for k in range(proba.shape[0])]
    else:
        header = ["prediction", "probability"]
    lines = [",".join(header)]
    lines += [",".join([str(int(labels[i]))] + [repr(float(p)) for p in proba[:, i]]) for i in range(len(labels))]
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Parse argv, predict, return the exit status (0; 1 an error, one line on stderr; 2 bad usage)."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    ext = os.path.splitext(args.data)[1].lower()
    if args.key is not None and ext not in (".h5", ".hdf5"):
        parser.error(f"--key names an HDF5 dataset; {args.data} is not an .h5/.hdf5 file")
    try:
        from scratch.model_file import atomic_write, load_model
        try:
            model = load_model(args.model)
        except TypeError as err:            # e.g. a .npy given as the model: np.load returns no archive
            raise ValueError(f"{args.model}: not a model file ({err})") from None
        X = read_examples(args.data, args.key)
        n_x = model.layer_dims[0]
        if X.shape[0] != n_x:
            hint = (" (a 1-D .npy is one example; save m examples of one feature as shape (m, 1))"
                    if ext == ".npy" and X.shape[1] == 1 and n_x == 1 else "")
            raise ValueError(f"{args.data} has {X.shape[0]} features per example; the model ({args.model}) "
                             f"takes n_x = {n_x}{hint}")
        _check_finite(args.data, X)
        text = predictions_csv(model, X)
        if args.out is None:
            sys.stdout.write(text)
        else:
            atomic_write(args.out, lambda f: f.write(text.encode("utf-8")))
            print(f"{X.shape[1]} predictions written to {args.out}", file=sys.stderr)
    except (ValueError, TypeError, OSError, ImportError, MemoryError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
