"""One model file for scratch, torch and Lightning: a trained network, its architecture, how its
inputs were prepared, and (optionally) the state a training run needs to continue exactly.

Format: an uncompressed `.npz` (np.savez), read with np.load(allow_pickle=False). NumPy is the
one library every side has (scratch is pure NumPy; no safetensors dependency), allow_pickle=False
refuses object arrays, so loading a file never runs code, and each array is stored as raw bytes
under its own name. Members:

    meta                  a 0-d unicode array: JSON {format, version, impl, layer_dims, activations,
                          keep_probs, alpha, bn_eps, bn_beta, bn_unbiased, preprocess, config,
                          state (scalars: step, optimizer, t, rng, best, last_finite, plan, extra), sha256}
    params/<k>            the parameters to predict with, scratch layout (W1, b1 or gamma1, beta1, ...)
    bn/<mu1|var1|...>     the running statistics that go with them (batch norm)
    pre/<mu|sigma>        standardization statistics (F23), when the inputs were standardized
    state/params/<k>      θ_step, the parameters training continues from
    state/bn/<k>          the running statistics after `step` updates
    state/opt/<v|s>/<dk>  the optimizer's averages in the course's names (momentum v, RMSprop s, Adam v, s)
    state/best/params/<k>, state/best/bn/<k>   early stopping's best parameters so far
    state/torch_rng       torch.get_rng_state() as uint8 (nn.Dropout's generator), when kept
    state/history/<key>   the logged records so far, one float64 column per key (NaN where absent)

Integrity: meta holds the SHA-256 of every array (name, dtype, shape, bytes, in name order) and of
the rest of meta; load_model recomputes it, so a flipped byte anywhere is refused (the zip's own
CRC-32 usually catches it first). Saving is atomic (atomic_write): a temporary file in the same
directory, flushed and fsynced, then renamed over the final name.
"""
import hashlib
import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import network
from ._checks import check_matrix, check_params, param_keys

FORMAT = "torch-ref-model"
VERSION = 1
IMPLS = ("scratch", "torch", "lightning")
_HISTORY_INT_KEYS = ("step", "epoch")


class ModelFileError(ValueError):
    """A model file that cannot be read as one: str(err) is "<path>: <what is wrong>"."""

    def __init__(self, path, what):
        super().__init__(f"{os.fspath(path)}: {what}")
        self.path = os.fspath(path)


@dataclass
class TrainState:
    """What a training run needs to continue exactly where it stopped (see the module docstring).

    step: updates performed, so the next step is i = step. params: θ_step (scratch layout).
    optimizer: "gd", "momentum", "rmsprop" or "adam"; opt_state: its averages in the course's names,
    {"v": {"dW1": ...}, "s": {...}, "t": int} (what the optimizer keeps; None for gd).
    bn_stats: the running statistics after `step` updates. rng: the bit_generator.state of scratch's
    mask generator; torch_rng: torch.get_rng_state() (uint8). history: the logged records so far.
    best: early stopping's {"cost", "step", "since", "params", "bn_stats"}. last_finite: (step, J).
    plan: {"m", "mini_batch_size", "seed"} of the batches. extra: a JSON-able dict of an
    implementation's own (e.g. Lightning's callback states)."""
    step: int
    params: dict
    optimizer: str = "gd"
    opt_state: dict = None
    bn_stats: dict = None
    rng: dict = None
    torch_rng: np.ndarray = None
    history: list = None
    best: dict = None
    last_finite: tuple = None
    plan: dict = None
    extra: dict = None


@dataclass
class Model:
    """A trained network as the model file holds it (see the module docstring and TrainState).

    params: the parameters to predict with; bn_stats: the running statistics that go with them
    (bn_unbiased: True when the variance is torch's average of unbiased batch variances);
    preprocess: None, {"mu", "sigma"} (x := (x - μ)/σ, F23) or {"scale": s} (x := s·x, e.g. 1/255);
    config: the experiment's resolved config as a plain dict; impl: who trained it."""
    params: dict
    layer_dims: list
    activations: list
    keep_probs: list = None
    alpha: float = 0.01
    bn_stats: dict = None
    bn_eps: float = 1e-5
    bn_beta: float = 0.9
    bn_unbiased: bool = False
    preprocess: dict = None
    state: TrainState = None
    config: dict = None
    impl: str = "scratch"
    path: str = field(default=None, compare=False)

    def prepare(self, X):
        """Raw course-layout inputs X (n_x, m) -> what the network takes (the preprocessing applied)."""
        X = check_matrix("X", X, layout="(n_x, m)")
        if X.shape[0] != self.layer_dims[0]:
            where = f" ({self.path})" if self.path else ""
            raise ValueError(f"X has {X.shape[0]} features per example (rows); the model{where} takes "
                             f"n_x = {self.layer_dims[0]}")
        X = X.astype(self.params["W1"].dtype, copy=False)
        pre = self.preprocess or {}
        if "scale" in pre:
            X = X * pre["scale"]
        if "mu" in pre:
            X = (X - pre["mu"].astype(X.dtype)) / pre["sigma"].astype(X.dtype)
        return X

    def predict_proba(self, X):
        """ŷ = A[L] (n[L], m) of raw inputs X: no dropout, batch norm with the running statistics."""
        return network.model_forward(self.prepare(X), self.params, self.activations,
                                     bn_stats=self.bn_stats, bn_eps=self.bn_eps)[0]

    def predict(self, X):
        """(1, m): 0/1 (sigmoid output) or class indices (softmax), scratch.network.predict's rule."""
        return network.predict(self.prepare(X), self.params, self.activations, bn_stats=self.bn_stats,
                               bn_eps=self.bn_eps)


# ------------------------------------------------------------------------------ writing

def atomic_write(path, write):
    """Call write(fileobj) on a temporary file in path's directory, flush and fsync it, then rename it
    to path (os.replace), so that path is never a half-written file: an interrupted save leaves the
    old file (or none). Returns path. The temporary file is removed when write raises."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{path}: directory {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _ignored(OSError):
            os.remove(tmp)
        raise
    with _ignored(OSError):                     # the rename itself, durable (POSIX)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


class _ignored:
    def __init__(self, *kinds):
        self.kinds = kinds

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, self.kinds)


def _digest(arrays, meta):
    """SHA-256 over meta (without its sha256) and every array's name, dtype, shape and bytes."""
    h = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _put(arrays, prefix, d):
    for k, v in (d or {}).items():
        arrays[f"{prefix}{k}"] = np.asarray(v)


def _history_columns(history):
    keys = []
    for record in history:
        keys += [k for k in record if k not in keys]
    return {k: np.array([float(r.get(k, math.nan)) for r in history], dtype=np.float64) for k in keys}


def _json_number(value):
    return None if value is None else float(value)


def save_model(path, model):
    """Write `model` (a Model) to path as a model file, atomically (atomic_write). Refuses non-finite
    parameters (ValueError) and an unknown impl. Returns path."""
    if not isinstance(model, Model):
        raise TypeError(f"model must be a scratch.model_file.Model; got {type(model).__name__}")
    if model.impl not in IMPLS:
        raise ValueError(f"impl must be one of {list(IMPLS)}; got {model.impl!r}")
    check_params(model.params, n_x=model.layer_dims[0])
    for k in param_keys(model.params):
        check_matrix(f"params[{k!r}]", model.params[k], layout=str(np.shape(model.params[k])))
    arrays = {}
    _put(arrays, "params/", model.params)
    _put(arrays, "bn/", model.bn_stats)
    pre = dict(model.preprocess or {})
    if "mu" in pre:
        _put(arrays, "pre/", {"mu": pre.pop("mu"), "sigma": pre.pop("sigma")})
        pre["standardize"] = True
    meta = {"format": FORMAT, "version": VERSION, "impl": model.impl, "layer_dims": [int(n) for n in model.layer_dims],
            "activations": list(model.activations),
            "keep_probs": None if model.keep_probs is None else [float(k) for k in model.keep_probs],
            "alpha": float(model.alpha), "bn_eps": float(model.bn_eps), "bn_beta": float(model.bn_beta),
            "bn_unbiased": bool(model.bn_unbiased), "preprocess": pre or None, "config": model.config,
            "state": None}
    s = model.state
    if s is not None:
        _put(arrays, "state/params/", s.params)
        _put(arrays, "state/bn/", s.bn_stats)
        for which in ("v", "s"):
            _put(arrays, f"state/opt/{which}/", (s.opt_state or {}).get(which))
        best = None
        if s.best is not None:
            _put(arrays, "state/best/params/", s.best.get("params"))
            _put(arrays, "state/best/bn/", s.best.get("bn_stats"))
            best = {"cost": _json_number(s.best.get("cost")), "step": s.best.get("step"),
                    "since": int(s.best.get("since", 0))}
        if s.torch_rng is not None:
            arrays["state/torch_rng"] = np.asarray(s.torch_rng, dtype=np.uint8)
        _put(arrays, "state/history/", _history_columns(s.history or []))
        meta["state"] = {"step": int(s.step), "optimizer": s.optimizer,
                         "t": None if s.opt_state is None else s.opt_state.get("t"),
                         "rng": s.rng, "best": best,
                         "last_finite": None if s.last_finite is None else [int(s.last_finite[0]),
                                                                           float(s.last_finite[1])],
                         "plan": s.plan, "extra": s.extra, "history": s.history is not None}
    meta["sha256"] = _digest(arrays, meta)
    text = json.dumps(meta)

    def write(f):
        np.savez(f, meta=np.array(text), **arrays)
    return atomic_write(path, write)


# ------------------------------------------------------------------------------ reading

def check_file(path, what="model file"):
    """path as a str when it names a non-empty file: FileNotFoundError when it does not exist,
    ModelFileError when it is a directory or empty (0 bytes). what: "model file", "checkpoint"."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such {what}")
    if os.path.isdir(path):
        raise ModelFileError(path, f"is a directory, not a {what}")
    if os.path.getsize(path) == 0:
        raise ModelFileError(path, f"is empty (0 bytes): not a {what}")
    return path


def _read(path):
    """(meta dict, {name: array}) of a model file, or ModelFileError naming what is wrong."""
    path = check_file(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):              # a .npy: one bare array
            raise ModelFileError(path, f"holds one bare array (a .npy of shape {np.shape(loaded)}), not a "
                                       "model file (.npz written by save_model)")
        with loaded as npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as err:
        if "pickle" in str(err):
            raise ModelFileError(path, "holds pickled data, which is never loaded (allow_pickle=False): "
                                       "not a model file") from None
        raise ModelFileError(path, f"not a model file ({err})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:
        raise ModelFileError(path, f"truncated or corrupted (not a readable .npz: {err})") from None
    if not isinstance(arrays, dict) or "meta" not in arrays:
        raise ModelFileError(path, f"not a torch-ref model file (no 'meta' entry; found {sorted(arrays)[:8]})")
    try:
        meta = json.loads(str(arrays.pop("meta")[()]))
    except (ValueError, TypeError) as err:
        raise ModelFileError(path, f"corrupted metadata ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(path, f"not a torch-ref model file (format {meta.get('format') if isinstance(meta, dict) else meta!r})")
    if meta.get("version") != VERSION:
        raise ModelFileError(path, f"model file version {meta.get('version')!r}; this torch-ref reads version {VERSION}")
    if meta.get("sha256") != _digest(arrays, meta):
        raise ModelFileError(path, "checksum mismatch: the file was changed or corrupted after it was saved")
    return meta, arrays


def _take(arrays, prefix):
    return {name[len(prefix):]: arrays[name] for name in sorted(arrays)
            if name.startswith(prefix) and "/" not in name[len(prefix):]} or None


def _check_model(path, model):
    """Shapes and values that fit the architecture, or ModelFileError."""
    dims, L = model.layer_dims, len(model.layer_dims) - 1
    try:
        if L < 1 or len(model.activations) != L:
            raise ValueError(f"{len(model.activations)} activations for layer_dims {dims}")
        for label, params in (("params", model.params),
                              ("state params", model.state.params if model.state else None)):
            if params is None:
                continue
            if check_params(params, n_x=dims[0]) != L:
                raise ValueError(f"{label} do not have L = {L} layers")
            for l in range(1, L + 1):
                check_matrix(f"{label} W{l}", params[f"W{l}"], rows=dims[l], cols=dims[l - 1],
                             layout=f"(n[{l}], n[{l - 1}])", why=f"(layer_dims {dims})")
            for k in param_keys(params):
                check_matrix(f"{label} {k}", params[k], layout=str(params[k].shape))
        for label, stats in (("bn", model.bn_stats),):
            for k, v in (stats or {}).items():
                l = int(k[2:] if k.startswith("mu") else k[3:])
                check_matrix(f"{label} {k}", v, rows=dims[l], cols=1, layout=f"(n[{l}], 1)")
        if model.preprocess and "mu" in model.preprocess:
            for k in ("mu", "sigma"):
                check_matrix(f"preprocess {k}", model.preprocess[k], rows=dims[0], cols=1, layout="(n_x, 1)")
    except (ValueError, TypeError, KeyError) as err:
        raise ModelFileError(path, f"holds arrays that do not fit the model: {err}") from None


def load_model(path):
    """The Model saved at path (save_model), its state included when saved. Raises FileNotFoundError
    for a missing file and ModelFileError (a ValueError naming the file) for one that is empty,
    truncated, corrupted (a flipped byte included: checksum), pickled, of another format or version,
    or whose arrays are missing or do not fit its architecture."""
    meta, arrays = _read(path)
    path = os.fspath(path)
    try:
        pre = dict(meta["preprocess"] or {})
        if pre.pop("standardize", False):
            pre.update(mu=arrays["pre/mu"], sigma=arrays["pre/sigma"])
        state = None
        s = meta["state"]
        if s is not None:
            opt = {w: _take(arrays, f"state/opt/{w}/") for w in ("v", "s")}
            opt = {k: v for k, v in opt.items() if v is not None}
            if s["t"] is not None:
                opt["t"] = int(s["t"])
            best = None
            if s["best"] is not None:
                best = dict(s["best"], params=_take(arrays, "state/best/params/"),
                            bn_stats=_take(arrays, "state/best/bn/"))
            history = None
            if s["history"]:
                cols = _take(arrays, "state/history/") or {}
                n = len(next(iter(cols.values()))) if cols else 0
                history = [{k: (int(c[j]) if k in _HISTORY_INT_KEYS else float(c[j]))
                            for k, c in cols.items() if not math.isnan(c[j])} for j in range(n)]
            state = TrainState(step=int(s["step"]), params=_take(arrays, "state/params/"),
                               optimizer=s["optimizer"], opt_state=opt or None,
                               bn_stats=_take(arrays, "state/bn/"), rng=s["rng"],
                               torch_rng=arrays.get("state/torch_rng"), history=history, best=best,
                               last_finite=None if s["last_finite"] is None else tuple(s["last_finite"]),
                               plan=s["plan"], extra=s["extra"])
        model = Model(params=_take(arrays, "params/"), layer_dims=list(meta["layer_dims"]),
                      activations=list(meta["activations"]), keep_probs=meta["keep_probs"],
                      alpha=meta["alpha"], bn_stats=_take(arrays, "bn/"), bn_eps=meta["bn_eps"],
                      bn_beta=meta["bn_beta"], bn_unbiased=meta["bn_unbiased"], preprocess=pre or None,
                      state=state, config=meta["config"], impl=meta["impl"], path=path)
    except (KeyError, TypeError, ValueError, StopIteration) as err:
        raise ModelFileError(path, f"missing or malformed entry {err}") from None
    if model.params is None:
        raise ModelFileError(path, "holds no parameters (no 'params/W1')")
    _check_model(path, model)
    return model

