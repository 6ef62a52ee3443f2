"""F31 benchmark: the explicit-loop logistic-regression step against the vectorized one.

    python -m experiments.bench_vectorization [--n-x 100] [--m 1000] [--repeats 5] [--seed 0]

Both compute the same gradients and cost on the same data (scratch.logistic.propagate_loop:
loops over the m examples and n_x features with accumulators, F11; scratch.logistic.propagate:
Z = wᵀX + b, A = σ(Z), dw = X(A - Y)ᵀ/m, db = Σ(A - Y)/m, F12). The script first checks they
agree, then times each `repeats` times and prints the medians and their ratio.
This is a measurement: the timings depend on the machine and are never asserted in tests.
"""
import argparse
import statistics
import sys
import time

import numpy as np

from scratch.logistic import propagate, propagate_loop

AGREEMENT_RTOL = 1e-10   # float64: the loop sums in another order than BLAS, so not bit-identical
AGREEMENT_ATOL = 1e-12


def make_problem(n_x, m, seed=0):
    """Random float64 data in course layout: w (n_x, 1), b float, X (n_x, m), Y (1, m) in {0, 1}."""
    rng = np.random.default_rng(seed)
    w = 0.1 * rng.standard_normal((n_x, 1))
    X = rng.standard_normal((n_x, m))
    Y = (rng.random((1, m)) < 0.5).astype(np.float64)
    return w, 0.1, X, Y


def max_difference(loop_out, vec_out):
    """Largest absolute difference between the (grads, cost) of the two implementations."""
    (g1, c1), (g2, c2) = loop_out, vec_out
    return max(float(np.max(np.abs(np.asarray(g1["dw"]) - np.asarray(g2["dw"])))),
               abs(float(g1["db"]) - float(g2["db"])), abs(float(c1) - float(c2)))


def agree(loop_out, vec_out):
    (g1, c1), (g2, c2) = loop_out, vec_out
    return (np.allclose(g1["dw"], g2["dw"], rtol=AGREEMENT_RTOL, atol=AGREEMENT_ATOL)
            and np.isclose(float(g1["db"]), float(g2["db"]), rtol=AGREEMENT_RTOL, atol=AGREEMENT_ATOL)
            and np.isclose(float(c1), float(c2), rtol=AGREEMENT_RTOL, atol=AGREEMENT_ATOL))


def median_seconds(fn, args, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(n_x=100, m=1000, repeats=5, seed=0, out=None):
    """Check agreement, time both, print a summary to `out` (default stdout). Returns a dict of the numbers."""
    out = sys.stdout if out is None else out
    args = make_problem(n_x, m, seed)
    diff = max_difference(propagate_loop(*args), propagate(*args))
    ok = agree(propagate_loop(*args), propagate(*args))
    print(f"F31 vectorization benchmark: n_x = {n_x}, m = {m}, repeats = {repeats} (median)", file=out)
    print(f"agreement: {'yes' if ok else 'NO'} (max abs difference {diff:.3e}, "
          f"rtol {AGREEMENT_RTOL:g}, atol {AGREEMENT_ATOL:g})", file=out)
    if not ok:
        return {"agree": False, "max_abs_diff": diff}
    t_loop = median_seconds(propagate_loop, args, repeats)
    t_vec = median_seconds(propagate, args, repeats)
    ratio = t_loop / t_vec if t_vec > 0 else float("inf")
    print(f"explicit loops (propagate_loop): {1e3 * t_loop:10.3f} ms", file=out)
    print(f"vectorized     (propagate):      {1e3 * t_vec:10.3f} ms", file=out)
    print(f"ratio loop / vectorized: {ratio:.1f}x", file=out)
    return {"agree": True, "max_abs_diff": diff, "loop_s": t_loop, "vectorized_s": t_vec, "ratio": ratio}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m experiments.bench_vectorization", description=__doc__.split("\n")[0])
    parser.add_argument("--n-x", type=int, default=100, help="number of features n_x (default 100)")
    parser.add_argument("--m", type=int, default=1000, help="number of examples m (default 1000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions, the median is kept (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")
    a = parser.parse_args(argv)
    for name, value in (("--n-x", a.n_x), ("--m", a.m), ("--repeats", a.repeats)):
        if value < 1:
            parser.error(f"{name} must be >= 1; got {value}")
    result = run(a.n_x, a.m, a.repeats, a.seed)
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
