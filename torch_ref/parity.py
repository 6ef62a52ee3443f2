"""The parity harness: does my NumPy forward/backward match torch, and by how much?

    from torch_ref.parity import check, assert_parity
    report = check(my_numpy_fn, torch_fn, {"Z": Z})   # both return {"A": ..., "dZ": ...}
    print(report)                                     # one line per quantity
    assert_parity(report)                             # names the first quantity that diverged

Each quantity is checked for shape, dtype and value with the tolerance of its dtype
(named constants below, DESIGN's table). A NaN or inf on either side fails, never counts as
agreement (the same inf on both sides passes only with an explicit allow_inf=True; see compare). `python -m torch_ref.parity` runs the formula
inventory (torch_ref.inventory) and prints the measured errors.
"""
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch

from . import convert


@dataclass(frozen=True)
class Tolerance:
    """Pass iff |mine - gold| <= atol + rtol·|gold| elementwise (np.isclose's rule)."""
    rtol: float
    atol: float


# float64: both sides evaluate the same formula in IEEE double; they may differ in the
# order of operations (BLAS blocking, fused kernels), a few ulps (2.2e-16 each) per op.
# 1e-10 relative leaves room for ~1e5 ulps of accumulated reordering; atol 1e-12 covers
# results that cancel to ~0, where relative error is meaningless.
F64 = Tolerance(rtol=1e-10, atol=1e-12)
# float32: eps is 1.2e-7; sums over a few hundred terms in different orders reach ~1e-6
# relative, so 1e-5 relative with atol 1e-6 (values near 0) is the tightest stable bound.
F32 = Tolerance(rtol=1e-5, atol=1e-6)
# exact: booleans, integer predictions, counts — any difference is a bug.
EXACT = Tolerance(rtol=0.0, atol=0.0)
# gradient check (float64): the two-sided difference has truncation error O(ε²) ≈ 1e-14
# and rounding error O(eps/ε) ≈ 1e-9 for ε = 1e-7, so a correct gradient gives a relative
# difference ‖g - g̃‖/(‖g‖ + ‖g̃‖) far below 1e-7; a wrong one gives ~1e-2 or more.
GRADCHECK = 1e-7
# training trajectories (float64): hundreds of steps compound per-step ulp differences;
# costs at every logged step stay within 1e-8 relative for >= 100 steps.
TRAJECTORY_RTOL = 1e-8


def tolerance_for(dtype):
    """The Tolerance for a dtype (NumPy or torch): F64 for float64, F32 for float32
    (and float16/bfloat16 would need their own: rejected), EXACT for bool and integers."""
    if isinstance(dtype, torch.dtype):
        dtype = torch.empty((), dtype=dtype).numpy().dtype if dtype != torch.bfloat16 else None
    dtype = np.dtype(dtype) if dtype is not None else None
    if dtype == np.float64:
        return F64
    if dtype == np.float32:
        return F32
    if dtype is not None and dtype.kind in "biu":
        return EXACT
    raise ValueError(f"dtype must be float64, float32, bool or an integer type; got {dtype}")


def _as_array(value):
    """A NumPy array from a NumPy array/scalar, a Python number or a torch tensor."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _is_scalar(value):
    return isinstance(value, (int, float, np.generic)) or getattr(value, "ndim", None) == 0


@dataclass(frozen=True)
class QuantityReport:
    """One quantity compared: mine (NumPy) against gold (torch).

    shape/gold_shape, dtype/gold_dtype: as given; shape_ok, dtype_ok: whether they agree
    (0-d costs may differ in dtype: scratch returns Python floats). max_abs = max|mine - gold|,
    max_rel = max|mine - gold|/|gold| (inf where gold = 0 and mine differs; nan when the shapes
    differ). passed: shape, dtype and every element within tol. message: why, in words.
    """
    name: str
    shape: tuple
    gold_shape: tuple
    dtype: str
    gold_dtype: str
    shape_ok: bool
    dtype_ok: bool
    max_abs: float
    max_rel: float
    tol: Tolerance
    passed: bool
    message: str


def _describe(value):
    """'nan', 'inf' or '-inf' for a non-finite float (repr would say 'nan' too, but not for -nan)."""
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def compare(name, mine, gold, tol=None, *, allow_inf=False):
    """Compare one quantity. mine: NumPy array or number (course layout); gold: NumPy array,
    torch tensor or number, already in mine's layout (transposing is the caller's job).
    tol: a Tolerance, default tolerance_for the less precise of the two dtypes.

    Non-finite values FAIL: NaN never agrees with anything, NaN included (a NaN says that a
    computation broke, on one side or both, and two broken sides are no evidence of parity);
    inf on either side fails too, unless the caller passed allow_inf=True explicitly AND both
    sides hold the same inf (same sign) at the same places, e.g. the cross-entropy of a
    saturated wrong prediction, whose exact value is +inf. The message counts the non-finite
    values and names the first one, e.g. "dZ: 3 non-finite values (nan on mine at index (0, 2))".
    Returns a QuantityReport.
    """
    if not isinstance(allow_inf, bool):
        raise TypeError(f"allow_inf must be True or False; got {type(allow_inf).__name__}")
    if gold is None:
        return failed_quantity(name, "gold (torch) value is None: did torch_fn call backward(), and is "
                        "the tensor a leaf with requires_grad?")
    a, g = _as_array(mine), _as_array(gold)
    shape, gold_shape = tuple(a.shape), tuple(g.shape)
    scalars = _is_scalar(mine) and _is_scalar(gold)
    dtype_ok = bool(a.dtype == g.dtype or scalars)
    if tol is None:
        try:
            tol = tolerance_for(min((a.dtype, g.dtype), key=lambda d: (d.kind == "f", d.itemsize)))
        except ValueError as err:
            return QuantityReport(name, shape, gold_shape, str(a.dtype), str(g.dtype), shape == gold_shape,
                                  False, math.nan, math.nan, F64, False, f"{name}: {err}")
    if shape != gold_shape:
        return QuantityReport(name, shape, gold_shape, str(a.dtype), str(g.dtype), False, dtype_ok,
                              math.nan, math.nan, tol, False,
                              f"{name}: shape {shape} differs from gold shape {gold_shape}")
    af, gf = a.astype(np.float64), g.astype(np.float64)
    finite_a, finite_g = np.isfinite(af), np.isfinite(gf)
    finite = finite_a & finite_g
    # the one non-finite agreement there is: the same inf on both sides, and only when asked for
    same_inf = (np.isinf(af) & (af == gf)) if allow_inf else np.zeros(af.shape, bool)
    nonfinite = ~finite & ~same_inf                                   # NaN anywhere, or an unmatched inf
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.where(finite, np.abs(af - gf), np.where(same_inf, 0.0, np.inf))
        rel = np.where(diff == 0, 0.0, diff / np.abs(gf))
        ok = same_inf | (finite & (diff <= tol.atol + tol.rtol * np.abs(gf)))
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float(np.where(np.isnan(rel), np.inf, rel).max()) if rel.size else 0.0
    values_ok = bool(ok.all())
    if nonfinite.any():
        first = tuple(int(i) for i in np.argwhere(nonfinite)[0])
        ma, mg = float(af[first]), float(gf[first])
        if finite_a[first]:
            where = f"{_describe(mg)} on gold"
        elif finite_g[first]:
            where = f"{_describe(ma)} on mine"
        else:
            where = f"{_describe(ma)} on mine and {_describe(mg)} on gold"
        count = int(nonfinite.sum())
        rule = ("NaN never agrees" if allow_inf else
                "NaN never agrees; inf agrees only with the same inf on both sides and allow_inf=True")
        message = (f"{name}: {count} non-finite value{'s' if count != 1 else ''} ({where} at index {first}); "
                   f"{rule}")
    elif not values_ok:
        worst = np.unravel_index(int(np.argmax(np.where(ok, -1.0, diff))), diff.shape) if diff.ndim else ()
        message = (f"{name}: {int((~ok).sum())} of {ok.size} values out of tolerance (rtol={tol.rtol:g}, "
                   f"atol={tol.atol:g}); worst at index {tuple(int(i) for i in worst)}: "
                   f"mine {float(af[worst])!r}, gold {float(gf[worst])!r}")
    elif not dtype_ok:
        message = f"{name}: dtype {a.dtype} differs from gold dtype {g.dtype}"
    else:
        message = "ok"
    return QuantityReport(name, shape, gold_shape, str(a.dtype), str(g.dtype), True, dtype_ok,
                          max_abs, max_rel, tol, values_ok and dtype_ok, message)


def failed_quantity(name, why):
    """A QuantityReport that failed without a comparison (a missing key, a crash), saying why."""
    return QuantityReport(name, (), (), "", "", False, False, math.nan, math.nan, F64, False,
                          f"{name}: {why}")


@dataclass(frozen=True)
class ParityReport:
    """The quantities compared, in order. passed: every one passed (and there is at least
    one); first_failure: the name of the first quantity that diverged, or None."""
    quantities: tuple

    def __post_init__(self):
        object.__setattr__(self, "quantities", tuple(self.quantities))

    @property
    def passed(self):
        return bool(self.quantities) and all(q.passed for q in self.quantities)

    @property
    def first_failure(self):
        for q in self.quantities:
            if not q.passed:
                return q.name
        return None if self.quantities else "(nothing compared)"

    @property
    def max_abs(self):
        """The largest max_abs over the quantities (nan when none was comparable)."""
        vals = [q.max_abs for q in self.quantities if not math.isnan(q.max_abs)]
        return max(vals) if vals else math.nan

    def __getitem__(self, name):
        for q in self.quantities:
            if q.name == name:
                return q
        raise KeyError(name)

    def __iter__(self):
        return iter(self.quantities)

    def __len__(self):
        return len(self.quantities)

    def __add__(self, other):
        return ParityReport(self.quantities + tuple(other.quantities))

    def __str__(self):
        rows = [("quantity", "shape", "dtype", "max abs err", "max rel err", "rtol/atol", "result")]
        for q in self.quantities:
            rows.append((q.name, "x".join(map(str, q.shape)) or "()", q.dtype or "-", f"{q.max_abs:.3g}",
                         f"{q.max_rel:.3g}", f"{q.tol.rtol:g}/{q.tol.atol:g}",
                         "ok" if q.passed else "FAIL: " + q.message))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]
        if self.passed:
            lines.append(f"PASSED: {len(self.quantities)} quantities agree")
        else:
            lines.append(f"FAILED: first diverged quantity: {self.first_failure}")
        return "\n".join(lines)


def compare_all(mine, gold, names=None, tol=None, *, allow_inf=False):
    """Compare two dicts of quantities key by key (mine's order, then gold-only keys).
    names: the keys to compare, in order (default: all). A key missing on either side fails.
    allow_inf: passed to compare for every key (NaN fails regardless; see compare)."""
    keys = list(names) if names is not None else list(mine) + [k for k in gold if k not in mine]
    out = []
    for k in keys:
        if k not in mine:
            out.append(failed_quantity(k, f"missing from the NumPy result (it has {list(mine)})"))
        elif k not in gold:
            out.append(failed_quantity(k, f"missing from the torch result (it has {list(gold)})"))
        else:
            out.append(compare(k, mine[k], gold[k], tol, allow_inf=allow_inf))
    return ParityReport(out)


def _as_dict(result, side):
    if isinstance(result, dict):
        return result
    if isinstance(result, (np.ndarray, torch.Tensor, float, int, np.generic)):
        return {"output": result}
    raise TypeError(f"{side} must return a dict name -> array (or one array); got {type(result).__name__}")


def check(numpy_fn, torch_fn, inputs, dtype=np.float64, names=None, requires_grad=None, tol=None,
          batch_first=(), *, allow_inf=False):
    """Run both implementations on the same inputs and compare what they return.

    numpy_fn(**inputs) -> dict name -> NumPy array/number (your code, your layout).
    torch_fn(**tensors) -> dict name -> tensor/number, where each float input arrives as a
        new leaf tensor of `dtype` with requires_grad=True, so it may call backward and return
        X.grad; in the layout given, except the names in `batch_first`. Bool/int inputs arrive
        as tensors without grad.
    inputs: dict name -> NumPy array or number. Float inputs are cast to `dtype`
        (None: keep each one's dtype); each side gets its own copy.
    names: the keys to compare, in order (default: all keys of both results).
    requires_grad: names of the float inputs that get requires_grad (default: all of them;
        e.g. leave labels out for F.binary_cross_entropy, which has no target gradient).
    tol: a Tolerance for every quantity (default: by dtype, F64 or F32).
    batch_first: names of the example-indexed 2-D quantities, inputs or outputs (e.g. "X", "A",
        "dX"): your NumPy side has them as columns (n, m), as in the course; torch_fn gets and
        returns them batch first (m, n). The harness transposes them both ways (convert.to_torch
        and convert.to_numpy), so neither side bends its convention. Parameters such as W, whose
        orientation is the same on both sides, stay out of it.
    allow_inf: let the same inf at the same places on both sides agree (default False: any
        NaN or inf fails; NaN always fails). Pass it only where inf is the exact answer.
    Returns a ParityReport: .passed, .first_failure, str() a table.
    """
    if not isinstance(inputs, dict):
        raise TypeError(f"inputs must be a dict name -> NumPy array; got {type(inputs).__name__}")
    arrays = {}
    for k, v in inputs.items():
        a = np.asarray(v)
        if a.dtype.kind == "f" and dtype is not None:
            a = a.astype(dtype)
        elif a.dtype.kind not in "biuf":
            raise TypeError(f"inputs[{k!r}] must be a real NumPy array or number; got dtype {a.dtype}")
        arrays[k] = a
    grad_names = set(arrays) if requires_grad is None else set(requires_grad)
    unknown = grad_names - set(arrays)
    if unknown:
        raise ValueError(f"requires_grad names {sorted(unknown)} are not inputs; inputs are {list(arrays)}")
    batch_first = {batch_first} if isinstance(batch_first, str) else set(batch_first)
    for k in batch_first & set(arrays):
        if arrays[k].ndim != 2:
            raise ValueError(f"batch_first input {k!r} must be 2-D (n, m), examples as columns; "
                             f"got shape {arrays[k].shape}")
    mine = _as_dict(numpy_fn(**{k: a.copy() for k, a in arrays.items()}), "numpy_fn")
    tensors = {k: (convert.to_torch(a) if k in batch_first else torch.tensor(a))
               .requires_grad_(bool(a.dtype.kind == "f" and k in grad_names))
               for k, a in arrays.items()}
    gold = _as_dict(torch_fn(**tensors), "torch_fn")
    gold = {k: (convert.to_numpy(v) if k in batch_first and isinstance(v, torch.Tensor) and v.ndim == 2 else v)
            for k, v in gold.items()}
    return compare_all(mine, gold, names=names, tol=tol, allow_inf=allow_inf)


def assert_parity(report):
    """Raise AssertionError naming the first quantity that diverged (with the full table)."""
    if not report.passed:
        q = next((q for q in report.quantities if not q.passed), None)
        why = q.message if q is not None else "nothing was compared"
        raise AssertionError(f"parity failed at {report.first_failure!r}: {why}\n{report}")
    return report


def main(argv=None):
    """`python -m torch_ref.parity [-v] [IDS...]`: run the formula inventory in float64 and
    float32, print id, formula, max error per dtype, pass. Returns the exit status (0 = all pass)."""
    from . import inventory                     # the rows import scratch and torchmetrics
    return inventory.run_cli(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
