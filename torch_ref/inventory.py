"""The formula inventory (DESIGN F01-F44) as runnable parity rows.

Each row with a torch side is a function of the dtype returning a ParityReport: scratch
("mine", course layout) against torch ("gold", transposed back with convert.to_numpy), on
seeded random inputs with the hard spots (|z| up to 1e3, ±40, ±800, exact zeros, m = 1).
`python -m torch_ref.parity` runs them in float64 and float32 and prints the table.
The rows of the whole networks (F13-F22, F30, F32) live in inventory_nets.py, those of
optimization (F33-F38, F42, F44) in inventory_optim.py, those of softmax and batch norm
(F39-F41, F43) in inventory_multiclass.py.
"""
import argparse
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scratch import activations as act, graph, logistic, losses

from . import convert, functional
from .models import LogisticRegression
from .parity import ParityReport, compare, failed_quantity

HARD = np.array([0.0, -0.0, 1.0, -1.0, 40.0, -40.0, 800.0, -800.0, 1000.0, -1000.0])


def hard(rng, shape, dtype):
    """Normal values mixed with the hard spots: ±40, ±800, ±1e3, uniform in [-1e3, 1e3],
    and exact zeros (±0.0). float64 draws cast to dtype."""
    kind = rng.choice(4, size=shape, p=[0.4, 0.2, 0.2, 0.2])
    out = np.select([kind == 0, kind == 1, kind == 2],
                    [rng.standard_normal(shape) * 3, rng.uniform(-1e3, 1e3, shape), np.zeros(shape)],
                    default=rng.choice(HARD, size=shape))
    return out.astype(dtype)


def labels(rng, m, dtype):
    return rng.integers(0, 2, size=(1, m)).astype(dtype)


def leaf(A, transpose=True):
    """A course-layout array as a torch leaf with requires_grad (batch first unless transpose=False)."""
    t = convert.to_torch(A) if transpose else torch.tensor(A)
    return t.requires_grad_(True)


ELEMENTWISE_SHAPES = ((1, 1), (5, 40))
BATCHES = (1, 7, 64)                         # m, with m = 1


# ----------------------------------------------------------------- F01-F04

def f01(dtype, rng):
    return [compare(f"σ(Z) {s}", act.sigmoid(Z), convert.to_numpy(torch.sigmoid(convert.to_torch(Z))))
            for s in ELEMENTWISE_SHAPES for Z in [hard(rng, s, dtype)]]


def _g_pairs(alpha=0.2):
    return [("tanh", act.tanh, torch.tanh), ("relu", act.relu, functional.ACTIVATIONS["relu"]),
            ("leaky_relu", act.leaky_relu, functional.ACTIVATIONS["leaky_relu"]),
            (f"leaky_relu α={alpha}", lambda Z: act.leaky_relu(Z, alpha),
             functional.activation("leaky_relu", alpha)),
            ("identity", act.identity, functional.ACTIVATIONS["identity"])]


def f02(dtype, rng):
    return [compare(f"{name}(Z) {s}", g(Z), convert.to_numpy(t(convert.to_torch(Z))))
            for s in ELEMENTWISE_SHAPES for Z in [hard(rng, s, dtype)] for name, g, t in _g_pairs()]


def _autograd_prime(t, Z):
    """g'(Z) by autograd: the gradient of Σ g(z) (upstream ones), back in course layout."""
    z = leaf(Z)
    t(z).backward(torch.ones_like(z))
    return convert.to_numpy(z.grad)


def f03(dtype, rng):
    out = []
    primes = {"sigmoid": (act.sigmoid_prime, torch.sigmoid), "tanh": (act.tanh_prime, torch.tanh),
              "relu": (act.relu_prime, functional.ACTIVATIONS["relu"]),
              "leaky_relu": (act.leaky_relu_prime, functional.ACTIVATIONS["leaky_relu"]),
              "identity": (act.identity_prime, functional.ACTIVATIONS["identity"])}
    for s in ELEMENTWISE_SHAPES:
        Z = hard(rng, s, dtype)
        Z[Z == 0] = 0.5                                    # kinks are F04's
        out += [compare(f"{name}'(Z) {s}", gp(Z), _autograd_prime(t, Z)) for name, (gp, t) in primes.items()]
        out.append(compare(f"leaky_relu'(Z, 0.2) {s}", act.leaky_relu_prime(Z, 0.2),
                           _autograd_prime(functional.activation("leaky_relu", 0.2), Z)))
    return out


def f04(dtype, rng):
    """relu'(0), leaky'(0): scratch's default (torch's value) must equal autograd everywhere; the
    course's value (at_zero=1) must differ from it exactly at the zeros and nowhere else."""
    out, zeros = [], 0
    for s in ELEMENTWISE_SHAPES:
        Z = hard(rng, s, dtype)
        Z.flat[::3] = 0.0
        Z.flat[1::7] = -0.0
        zero = Z == 0
        zeros += int(zero.sum())
        for name, alpha, prime, t in (
                ("relu", None, lambda Z, **k: act.relu_prime(Z, **k), functional.ACTIVATIONS["relu"]),
                ("leaky_relu", 0.01, lambda Z, **k: act.leaky_relu_prime(Z, 0.01, **k),
                 functional.activation("leaky_relu", 0.01)),
                ("leaky_relu α=0.2", 0.2, lambda Z, **k: act.leaky_relu_prime(Z, 0.2, **k),
                 functional.activation("leaky_relu", 0.2))):
            gold = _autograd_prime(t, Z)
            out.append(compare(f"{name}'(Z) default (torch) {s}", prime(Z), gold))
            course = prime(Z, at_zero=act.COURSE_AT_ZERO)
            out.append(compare(f"{name}'(Z) course at_zero=1 differs only at z = 0 {s}",
                               (course != gold), zero))
    note = (f"F04 course convention (at_zero = {act.COURSE_AT_ZERO}): differs from torch's autograd "
            f"only at the {zeros} exact zeros, by 1 (relu) and 1 - α (leaky_relu); default = torch's")
    return out, note


# ----------------------------------------------------------------- F05-F12

def _logistic_inputs(rng, dtype, m, n_x=4):
    w = (rng.standard_normal((n_x, 1)) * 0.7).astype(dtype)
    b = float(rng.standard_normal())
    X = (rng.standard_normal((n_x, m)) * 1.5).astype(dtype)
    return w, b, X, labels(rng, m, dtype)


def _logistic_torch(w, b, X, Y, cost="probabilities"):
    """LogisticRegression (nn.Linear(n_x, 1) + sigmoid) on x = Xᵀ: ŷ, J and autograd's dw, db."""
    model = LogisticRegression(X.shape[0], w=w, b=np.asarray(b, dtype=w.dtype))
    x, y = convert.to_torch(X), convert.to_torch(Y)
    z = model(x)
    a = torch.sigmoid(z)
    J = functional.compute_cost(a, y) if cost == "probabilities" else functional.cost_from_logits(z, y)
    J.backward()
    g = convert.grads_from_model(model)
    dw, db = convert.params_to_logistic({"W1": g["dW1"], "b1": g["db1"]})
    return {"yhat": convert.to_numpy(a), "J": J, "dw": dw, "db": db,
            "predict": convert.to_numpy(model.predict(x))}


def f05(dtype, rng):
    out = []
    for m in BATCHES:
        w, b, X, Y = _logistic_inputs(rng, dtype, m)
        gold = _logistic_torch(w, b, X, Y)
        yhat, _ = logistic_forward(w, b, X)
        _, J = logistic.propagate(w, b, X, Y)
        out += [compare(f"ŷ = σ(wᵀX + b) m={m}", yhat, gold["yhat"]), compare(f"J m={m}", J, gold["J"]),
                compare(f"predict m={m}", logistic.predict(w, b, X), gold["predict"])]
    return out


def logistic_forward(w, b, X):
    """ŷ = σ(wᵀX + b) as scratch's one-layer form: W1 = wᵀ, b1 = [[b]] (convert.logistic_to_params)."""
    from scratch.layers import linear_activation_forward
    p = convert.logistic_to_params(w, b)
    return linear_activation_forward(X, p["W1"], p["b1"], "sigmoid")


def f06(dtype, rng):
    out = []
    for m in BATCHES:               # non-saturated: F.binary_cross_entropy clamps log at -100 (F07 saturates)
        AL = (1 / (1 + np.exp(-rng.uniform(-8, 8, (1, m))))).astype(dtype)
        Y = labels(rng, m, dtype)
        out.append(compare(f"J(AL, Y) m={m}", losses.compute_cost(AL, Y),
                           functional.compute_cost(convert.to_torch(AL), convert.to_torch(Y))))
    return out


def f07(dtype, rng):
    out = []
    for m in BATCHES + (200,):
        ZL, Y = hard(rng, (1, m), dtype), labels(rng, m, dtype)
        z = leaf(ZL)
        J = functional.cost_from_logits(z, convert.to_torch(Y))
        J.backward()
        dZ = (act.sigmoid(ZL) - Y) / m                  # the fused dZ[L] = A - Y, with J's 1/m
        out += [compare(f"J(ZL, Y) m={m}", losses.cost_from_logits(ZL, Y), J),
                compare(f"dJ/dZL = (σ(ZL) - Y)/m  m={m}", dZ, convert.to_numpy(z.grad))]
    return out


def f08(dtype, rng):
    out = []
    for m in BATCHES:
        AL, Y = rng.uniform(0, 1, (1, m)).astype(dtype), labels(rng, m, dtype)
        out.append(compare(f"½ mean (AL - Y)² m={m}", losses.squared_error_cost(AL, Y),
                           functional.squared_error_cost(convert.to_torch(AL), convert.to_torch(Y))))
    return out


def f09(dtype, rng):
    out = []
    for k in range(3):
        a, b, c = (dtype(v) for v in rng.standard_normal(3) * 5)
        ta, tb, tc = (torch.tensor(v, requires_grad=True) for v in (a, b, c))
        u = tb * tc
        v = ta + u
        J = 3 * v
        u.retain_grad(), v.retain_grad(), J.backward()
        gold = {"u": u, "v": v, "J": J, "dJ/dv": v.grad, "dJ/du": u.grad, "dJ/da": ta.grad,
                "dJ/db": tb.grad, "dJ/dc": tc.grad}
        mine = {**graph.graph_forward(a, b, c), **graph.graph_backward(a, b, c)}
        out += [compare(f"{key} #{k}", mine[key], gold[key]) for key in gold]
    return out


def f10(dtype, rng):
    """Per example (m = 1): da by autograd on a = σ(z), dz, dw = x dz, db = dz."""
    out = []
    for i in range(4):
        w, b, X, Y = _logistic_inputs(rng, dtype, 1)
        gold = _logistic_torch(w, b, X, Y)
        grads, J = logistic.propagate_loop(w, b, X, Y)
        a, _ = logistic_forward(w, b, X)
        ta = leaf(a)
        functional.compute_cost(ta, convert.to_torch(Y)).backward()
        da = -Y / a + (1 - Y) / (1 - a)                 # the course's da, for y in {0, 1}
        out += [compare(f"da = -y/a + (1-y)/(1-a) #{i}", da, convert.to_numpy(ta.grad)),
                compare(f"dw = x dz #{i}", grads["dw"], gold["dw"]),
                compare(f"db = dz #{i}", grads["db"], gold["db"]), compare(f"L #{i}", J, gold["J"])]
    return out


def _propagate_row(fn):
    def row(dtype, rng):
        out = []
        for m in BATCHES:
            w, b, X, Y = _logistic_inputs(rng, dtype, m)
            gold = _logistic_torch(w, b, X, Y)
            grads, J = fn(w, b, X, Y)
            out += [compare(f"J m={m}", J, gold["J"]), compare(f"dw m={m}", grads["dw"], gold["dw"]),
                    compare(f"db m={m}", grads["db"], gold["db"])]
        return out
    return row


# ------------------------------------------------------------------ the rows

@dataclass(frozen=True)
class Row:
    """One inventory row. run(dtype, rng) -> list of QuantityReports (or (list, note));
    None when the row has no torch side (then `check` says how it is tested)."""
    id: str
    formula: str
    run: object = None
    check: str = ""


def _rows():
    from . import inventory_multiclass as multi
    from . import inventory_nets as nets
    from . import inventory_optim as optim
    R = Row
    return [
        R("F01", "sigmoid σ(z) = 1/(1+e^-z), stable", f01),
        R("F02", "tanh, relu, leaky_relu(α), identity", f02),
        R("F03", "σ' = σ(1-σ), tanh' = 1-tanh², relu', leaky'", f03),
        R("F04", "relu'(0), leaky'(0): torch's value (course's 1 selectable)", f04),
        R("F05", "logistic regression ŷ = σ(wᵀx + b)", f05),
        R("F06", "cross-entropy J from probabilities", f06),
        R("F07", "cross-entropy J from logits, any z", f07),
        R("F08", "squared error ½(ŷ-y)²", f08),
        R("F09", "computation graph J = 3(a + bc)", f09),
        R("F10", "per-example backward da, dz, dw, db", f10),
        R("F11", "explicit loops over m examples", _propagate_row(logistic.propagate_loop)),
        R("F12", "vectorized Z = wᵀX + b, dw = X dZᵀ/m", _propagate_row(logistic.propagate)),
        R("F13", "gradient descent θ := θ - α dθ", nets.f13),
        R("F14", "layer forward Z = WA + b, A = g(Z)", nets.f14),
        R("F15", "layer backward dZ, dW, db, dA_prev", nets.f15),
        R("F16", "output layer dA[L] general / dZ[L] = A - Y", nets.f16),
        R("F17", "shallow net (L = 2)", nets.f17),
        R("F18", "init zeros/random/xavier/glorot/he, b = 0", nets.f18),
        R("F19", "symmetry: identical units stay identical", nets.f19),
        R("F20", "L2 λ/(2m)Σ‖W‖², dW += λW/m, weight decay λ/m", nets.f20),
        R("F21", "L1 λ/(2m)Σ|W|, subgradient λ/(2m) sign(W)", nets.f21),
        R("F22", "inverted dropout, shared masks", nets.f22),
        R("F23", "input normalization (train μ, σ)", check="by value"),
        R("F24", "train/dev/test split by ratio", check="by value"),
        R("F25", "bias/variance diagnosis", check="by value"),
        R("F26", "early stopping on dev cost", check="by behaviour (Lightning EarlyStopping)"),
        R("F27", "horizontal flip augmentation", check="by value"),
        R("F28", "ensembles: average probabilities", check="by value"),
        R("F29", "vanishing/exploding with depth", check="by value"),
        R("F30", "gradient check ‖g-g̃‖/(‖g‖+‖g̃‖) < 1e-7", nets.f30),
        R("F31", "vectorization: loop vs vectorized, timed", check="by benchmark"),
        R("F32", "prediction ŷ > 0.5, accuracy", nets.f32),
        R("F33", "mini-batches: one permutation, cut; last m mod size", optim.f33),
        R("F34", "EWA v = βv + (1-β)θ, bias correction v/(1-βᵗ)", optim.f34),
        R("F35", "momentum v = βv + (1-β)dθ vs SGD + zero buffer", optim.f35),
        R("F36", "RMSprop s = β₂s + (1-β₂)dθ², dθ/(√s + ε)", optim.f36),
        R("F37", "Adam θ -= α·v/(1-β₁ᵗ) / (√(s/(1-β₂ᵗ)) + ε)", optim.f37),
        R("F38", "lr decay: 1/(1+rt), staircase, baseᵗ, k/√t", optim.f38),
        R("F39", "softmax, cost -(1/m)ΣΣ y log a, dZ = A - Y", multi.f39),
        R("F40", "batch norm z̃ = γ(z-μ)/√(σ²+ε) + β, backward", multi.f40),
        R("F41", "running μ, σ² (EWA), prediction vs BatchNorm1d.eval", multi.f41),
        R("F42", "mini-batch training, each optimizer, decay", optim.f42),
        R("F43", "softmax network on digits (10 classes), accuracy", multi.f43),
        R("F44", "log-scale search α = 10^r, β = 1 - 10^r", optim.f44),
    ]


ROWS = _rows()
SEED = 20240


def run_row(row, dtype):
    """(ParityReport, note) of one row in one dtype; an exception is a failed quantity."""
    try:
        result = row.run(np.dtype(dtype).type, np.random.default_rng([SEED, int(row.id[1:])]))
    except Exception as err:                                       # a crash is a failure, reported
        return ParityReport([failed_quantity(f"{row.id} raised", f"{type(err).__name__}: {err}")]), None
    out, note = result if isinstance(result, tuple) else (result, None)
    return ParityReport(out), note


def tests_naming(row_id, root=Path(__file__).resolve().parent.parent / "tests"):
    """The test files under tests/ that mention row_id (e.g. "F23"), for rows tested by value."""
    pattern = re.compile(rf"\b{row_id}\b")
    return sorted(p.name for p in root.glob("test_*.py") if pattern.search(p.read_text(errors="ignore")))


def run_cli(argv):
    parser = argparse.ArgumentParser(
        prog="python -m torch_ref.parity",
        description="Parity of scratch against torch, row by row (DESIGN's formula inventory).")
    parser.add_argument("ids", nargs="*", help="rows to run, e.g. F07 F20 (default: all)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every quantity of every row")
    args = parser.parse_args(argv)
    rows = [r for r in ROWS if not args.ids or r.id in args.ids]
    if not rows:
        parser.error(f"no row matches {args.ids}; rows are {[r.id for r in ROWS]}")
    # the rows use tiny tensors: one intra-op thread is faster (no spinning on a busy machine)
    # and makes reductions run in one fixed order
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _table(rows, args.verbose)
    finally:
        torch.set_num_threads(threads)


def _table(rows, verbose):
    start, failed, notes = time.perf_counter(), [], []
    print(f"{'id':4}  {'formula':58}  {'max err f64':>11}  {'max err f32':>11}  pass")
    for row in rows:
        if row.run is None:
            files = tests_naming(row.id)
            where = "tests/" + (", tests/".join(files) if files else "")
            print(f"{row.id:4}  {row.formula:58}  {row.check} — see {where}")
            continue
        reports = {}
        for dtype in (np.float64, np.float32):
            reports[dtype], note = run_row(row, dtype)
            if note and note not in notes:
                notes.append(note)
        ok = all(r.passed for r in reports.values())
        errs = [f"{r.max_abs:11.2e}" for r in reports.values()]
        print(f"{row.id:4}  {row.formula:58}  {errs[0]}  {errs[1]}  {'ok' if ok else 'FAIL'}")
        for dtype, r in reports.items():
            if verbose or not r.passed:
                print("\n".join("      " + line for line in f"[{np.dtype(dtype).name}]\n{r}".splitlines()))
        if not ok:
            failed.append(row.id)
    for note in notes:
        print("note: " + note)
    took = time.perf_counter() - start
    print(f"{len(rows)} rows in {took:.1f} s: " + (f"FAILED {', '.join(failed)}" if failed else "all pass"))
    return 1 if failed else 0
