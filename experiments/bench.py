"""The benchmark suite: `python -m experiments bench [--quick] [--repeats R] [--out FILE]`.

Times, side by side in one run and on the same data, one training step of
  scratch      scratch.train (NumPy, the course's formulas),
  raw torch    a hand-written loop: nn.Sequential + BCEWithLogitsLoss + torch.optim.SGD,
  raw torch + guard  the same loop with train_plain's divergence guard (what the trust rules add per step),
  train_plain  torch_ref.train_loop.train_plain (DeepNet, the divergence guard, history),
  lightning    torch_ref.lightning.train_lightning (the lean Trainer, fused steps: one training_step per
               log_every steps, the same work per step as a run's default log_every = N/100),
for each network and dtype below, on the CPU (and, with a GPU, the torch paths on CUDA).

A step's time is (T(2N) - T(N)) / N, T(n) the wall time of a whole run of n full-batch gradient-descent
steps: what a run costs per step once it is set up (data conversion, Trainer construction and the first
call are paid by both runs and cancel). Each figure is the median of R repeats, with the spread (min-max)
beside it; each implementation runs its repeats in a row, after a pause (the thread pools of NumPy and
torch spin for a while after their last call, and slow whichever runs next on a small machine).

Also measured: the machine's matrix-product ceiling (one large A @ B in NumPy and in torch; GFLOP/s of
each step against it), the peak memory of one step (a fresh process per implementation, resident-set
growth), time per step against m for the tall net with the fitted exponent (t ∝ m^k; k = 1 is
linear), and where a step goes: its matrix products timed alone in each library, against the rest. Writes FILE (default BENCHMARKS.md) with the machine, the versions and the tables, and a PNG of
time against m beside it. Numbers only: nothing is asserted.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .cli import _Parser, _positive_int

# name: (layer_dims, activations, m). Full sizes, and the --quick ones.
NETS = {
    "tiny": ([2, 4, 1], ["tanh", "sigmoid"], 400),
    "course deep": ([12288, 20, 7, 5, 1], ["relu", "relu", "relu", "sigmoid"], 209),
    "matrix-bound": ([784, 1024, 1024, 1], ["relu", "relu", "sigmoid"], 8192),
    "tall": ([100, 64, 1], ["relu", "sigmoid"], 200_000),
}
QUICK_NETS = {
    "tiny": NETS["tiny"],
    "course deep": NETS["course deep"],
    "matrix-bound": ([784, 256, 256, 1], ["relu", "relu", "sigmoid"], 1024),
    "tall": ([100, 64, 1], ["relu", "sigmoid"], 20_000),
}
SCALING_M = (10_000, 100_000, 1_000_000)
QUICK_SCALING_M = (2_000, 10_000, 50_000)
MEMORY_M, QUICK_MEMORY_M = 1_000_000, 100_000
IMPLS = ("scratch", "raw torch", "raw torch + guard", "train_plain", "lightning")
LEARNING_RATE = 0.01          # small: random labels, a few steps; nothing here is about convergence
TARGET_SECONDS = 0.4          # N is chosen so that one run of N steps takes about this long
QUICK_TARGET_SECONDS = 0.05
# Between implementations: the thread pools of OpenBLAS (NumPy) and OpenMP (torch) keep spinning for a
# while after their last call, and on a 2-core machine a torch run started right after a NumPy run
# measured 2-10× slower than alone. So each implementation runs all its repeats in a row, after a pause.
SETTLE_SECONDS = 0.3


def flops_per_step(dims, m):
    """Multiply-adds × 2 of one full-batch step: Z = W A (2 m n[l] n[l-1] per layer), dW = dZ Aᵀ (the
    same), dA[l-1] = Wᵀ dZ (the same, for l >= 2: neither side computes dA[0])."""
    products = [dims[l] * dims[l - 1] for l in range(1, len(dims))]
    return 2 * m * (2 * sum(products) + sum(products[1:]))


# ---------------------------------------------------------------- the four implementations

def _data(dims, m, dtype, seed=0):
    """X (n_x, m) standard normal and random 0/1 labels Y (1, m), drawn directly in dtype (no float64
    intermediate: the peak memory of drawing the data is the data)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m), dtype=dtype)
    Y = (rng.random((1, m), dtype=dtype) < 0.5).astype(dtype)
    return X, Y


def _runner(impl, dims, acts, X, Y, device="cpu"):
    """A function steps -> seconds that trains `impl` for that many full-batch steps from the same θ_0."""
    from scratch.initializers import initialize_parameters
    params0 = initialize_parameters(dims, "he", rng=0, dtype=X.dtype)
    if impl == "scratch":
        from scratch.train import train

        def run(steps):
            start = time.perf_counter()
            train(X, Y, dims, acts, params=params0, learning_rate=LEARNING_RATE, num_iterations=steps,
                  log_every=steps)
            return time.perf_counter() - start
        return run

    import torch
    from torch_ref import convert
    dtype = convert.torch_dtype(X.dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if impl in ("raw torch", "raw torch + guard"):
        from torch_ref.divergence import CHECK_EVERY, DivergenceGuard
        x, y = convert.to_torch(X, device=device), convert.to_torch(Y, device=device)
        guarded = impl == "raw torch + guard"

        def run(steps):
            layers = []
            for l in range(1, len(dims)):
                layers.append(torch.nn.Linear(dims[l - 1], dims[l], dtype=dtype, device=device))
                if l < len(dims) - 1:
                    layers.append({"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh()}[acts[l - 1]])
            net = torch.nn.Sequential(*layers)
            opt = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            params = [p.detach() for p in net.parameters()]
            guard = DivergenceGuard([f"p{j}" for j in range(len(params))], CHECK_EVERY)
            sync()
            start = time.perf_counter()
            for i in range(steps):
                loss = loss_fn(net(x), y)
                if guarded:
                    guard.after_forward(i, loss)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if guarded:
                    guard.after_update(i, params)
                    if guard.due(i):
                        guard.raise_if_diverged()
            if guarded:
                guard.raise_if_diverged()
            sync()
            return time.perf_counter() - start
        return run

    if impl == "train_plain":
        from torch_ref.models import DeepNet
        from torch_ref.train_loop import train_plain

        def run(steps):
            net = DeepNet.from_params(params0, acts).to(device)
            sync()
            start = time.perf_counter()
            train_plain(net, X, Y, learning_rate=LEARNING_RATE, num_iterations=steps, log_every=steps)
            sync()
            return time.perf_counter() - start
        return run

    from torch_ref.lightning import train_lightning
    precision = "64-true" if X.dtype == np.float64 else "32-true"

    def run(steps):
        start = time.perf_counter()
        train_lightning(X, Y, dims, acts, params=params0, learning_rate=LEARNING_RATE, num_iterations=steps,
                        log_every=steps, precision=precision, accelerator="gpu" if device == "cuda" else "cpu")
        return time.perf_counter() - start
    return run


def _steps_for(run, target, cap=2000, least=2):
    """N such that N more steps take about `target` seconds: n doubles from `least` until T(2n) - T(n)
    reaches target or n reaches cap (after a warm-up run that pays first-call costs). Doubling, not a
    guess from T(2) - T(1): the set-up of a run (Lightning's Trainer) varies by more than one small step,
    and such a guess once came out near zero and set N to the cap for a 40 ms step (half an hour of
    benchmark). At least `least`: with N = 1 a large step's T(2N) - T(N) is one step against the noise."""
    run(1)
    n, t_n = least, run(least)
    while n < cap:
        t_2n = run(2 * n)                     # T(2n), then T(4n), ...: each run serves two differences
        if t_2n - t_n >= target:
            break
        n, t_n = 2 * n, t_2n
    return min(n, cap)


def per_step(run, steps, repeats):
    """[(T(2N) - T(N)) / N for each repeat], in seconds (a difference can come out negative when the
    machine's load changes between the two runs; the median absorbs a few)."""
    return [(run(2 * steps) - run(steps)) / steps for _ in range(repeats)]


def _median_spread(values):
    return statistics.median(values), min(values), max(values)


# ---------------------------------------------------------------- the ceiling and memory

def gemm_ceiling(n, dtype, repeats):
    """GFLOP/s of one n×n @ n×n product (2n³ flops), median over repeats, in NumPy and in torch."""
    import torch
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    tA, tB = torch.from_numpy(A), torch.from_numpy(B)
    return {name: 2 * n ** 3 / _median_time(product, repeats) / 1e9
            for name, product in (("numpy", lambda: A @ B), ("torch", lambda: tA @ tB))}


_MEMORY_CODE = """
import json, sys
import numpy as np
impl, dims, m, dtype = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
from experiments.bench import _data, _rss_mib, _runner
X, Y = _data(dims, m, np.dtype(dtype))
run = _runner(impl, dims, ["relu"] * (len(dims) - 2) + ["sigmoid"], X, Y)
run(1)                                   # imports, first-call caches, and torch's copy of the data
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")                         # reset the peak resident set (VmHWM) to the current one
before = _rss_mib("VmRSS")
run(1)
print(json.dumps({"data_mb": (X.nbytes + Y.nbytes) / 2**20, "step_mb": _rss_mib("VmHWM") - before}))
"""


def _rss_mib(field):
    """VmRSS (resident now) or VmHWM (peak resident since the last reset) of this process, MiB (Linux)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def step_memory(impl, dims, m, dtype):
    """Peak resident-memory growth (MiB) of one training step run in a fresh process: the peak during
    the step minus the resident set just before it, which already holds the data, the model and (for
    torch) its batch-first copy of the data, all set up by a first run. Linux only (/proc)."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", _MEMORY_CODE, impl, json.dumps(dims), str(m), np.dtype(dtype).name],
                          capture_output=True, text=True, cwd=root, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"memory measurement of {impl} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median_time(fn, repeats, inner=1):
    """Median seconds of one call of fn over `repeats` timings of `inner` calls each, after a warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


def product_time(dims, m, dtype, repeats):
    """Where a step goes: the matrix products of one full-batch step of `dims` on m examples, timed alone
    in each library and its layout, summed (seconds). NumPy (scratch's course layout): Z[l] = W[l] A[l-1],
    dW[l] = dZ[l] A[l-1]ᵀ and dA[l-1] = W[l]ᵀ dZ[l] (l >= 2); torch (batch first): F.linear(a, W) = a Wᵀ,
    dW = dzᵀ a and da = dz W, what nn.Linear and its autograd compute. The rest of a step (activations,
    their derivatives, the cost, the update, allocation, Python) is the step's time minus this."""
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(0)
    inner = max(1, int(2e7 // (m * max(dims))))                 # small products: time several per call
    layers = [(rng.standard_normal((dims[l - 1], m), dtype=dtype), rng.standard_normal((dims[l], dims[l - 1]), dtype=dtype),
               rng.standard_normal((dims[l], m), dtype=dtype)) for l in range(1, len(dims))]
    total = {"numpy": 0.0, "torch": 0.0}
    for l, (A, W, dZ) in enumerate(layers, start=1):            # NumPy first, all of it (see SETTLE_SECONDS)
        ops = [lambda: W @ A, lambda: dZ @ A.T] + ([lambda: W.T @ dZ] if l >= 2 else [])
        total["numpy"] += sum(_median_time(op, repeats, inner) for op in ops)
    time.sleep(SETTLE_SECONDS)
    for l, (A, W, dZ) in enumerate(layers, start=1):
        a, w, dz = (torch.from_numpy(np.ascontiguousarray(A.T)), torch.from_numpy(W),
                    torch.from_numpy(np.ascontiguousarray(dZ.T)))
        ops = [lambda: F.linear(a, w), lambda: dz.T @ a] + ([lambda: dz @ w] if l >= 2 else [])
        total["torch"] += sum(_median_time(op, repeats, inner) for op in ops)
    return total


def elementwise_time(shape, dtype, repeats):
    """One elementwise pass over an array of `shape` (relu: max(z, 0)), seconds: NumPy (its ufuncs run on
    one core), torch with its intra-op threads, and torch on one thread."""
    import torch
    Z = np.random.default_rng(0).standard_normal(shape, dtype=dtype)
    z = torch.from_numpy(Z)
    out = {"numpy": _median_time(lambda: np.maximum(Z, 0), repeats)}
    time.sleep(SETTLE_SECONDS)
    threads = torch.get_num_threads()
    out[f"torch, {threads} threads"] = _median_time(lambda: torch.relu(z), repeats)
    torch.set_num_threads(1)
    try:
        out["torch, 1 thread"] = _median_time(lambda: torch.relu(z), repeats)
    finally:
        torch.set_num_threads(threads)
    return out


# ---------------------------------------------------------------- report

def machine():
    import lightning
    import torch
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch threads": torch.get_num_threads(),
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "lightning": lightning.__version__, "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _fmt(seconds):
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def run_suite(quick=False, repeats=5, out=Path("BENCHMARKS.md"), log=print):
    import logging
    import warnings

    import lightning.pytorch  # noqa: F401  (its import sets its loggers to INFO: quiet them after)
    import torch
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    nets, scaling_m, memory_m = (QUICK_NETS, QUICK_SCALING_M, QUICK_MEMORY_M) if quick else (NETS, SCALING_M, MEMORY_M)
    target = QUICK_TARGET_SECONDS if quick else TARGET_SECONDS
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    info = machine()
    log("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))

    ceiling = {}
    for dtype in (np.float64, np.float32):
        ceiling[np.dtype(dtype).name] = gemm_ceiling(1024 if quick else 2048, dtype, repeats)
        log(f"GEMM ceiling {np.dtype(dtype).name}: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in ceiling[np.dtype(dtype).name].items()))

    rows = []
    for net, (dims, acts, m) in nets.items():
        for dtype in ((np.float32,) if quick else (np.float64, np.float32)):
            X, Y = _data(dims, m, dtype)
            for device in devices:
                impls = IMPLS if device == "cpu" else IMPLS[1:]
                runners = {impl: _runner(impl, dims, acts, X, Y, device) for impl in impls}
                steps, times = {}, {}
                for impl, run in runners.items():              # one implementation at a time (see SETTLE)
                    time.sleep(SETTLE_SECONDS)
                    steps[impl] = _steps_for(run, target)
                    times[impl] = per_step(run, steps[impl], repeats)
                for impl in impls:
                    med, lo, hi = _median_spread(times[impl])
                    row = {"net": net, "dims": dims, "m": m, "dtype": np.dtype(dtype).name, "device": device,
                           "impl": impl, "median": med, "min": lo, "max": hi, "steps": steps[impl],
                           "gflops": flops_per_step(dims, m) / med / 1e9 if med > 0 else float("nan")}
                    rows.append(row)
                    log(f"{net:13} {row['dtype']:8} {device:4} {impl:12} {_fmt(med):>10}/step "
                        f"({_fmt(lo)}-{_fmt(hi)}), {row['gflops']:.1f} GFLOP/s")

    scaling = {}
    for impl in ("scratch", "raw torch"):
        for m in scaling_m:
            X, Y = _data([100, 64, 1], m, np.float32)
            run = _runner(impl, [100, 64, 1], ["relu", "sigmoid"], X, Y)
            time.sleep(SETTLE_SECONDS)
            steps = _steps_for(run, target, cap=200, least=4)
            scaling[(impl, m)] = statistics.median(per_step(run, steps, max(3, repeats // 2)))
            log(f"tall [100, 64, 1] float32 m = {m:>9,d} {impl:10} {_fmt(scaling[(impl, m)])}/step")
    exponents = {impl: float(np.polyfit(np.log(scaling_m), np.log([scaling[(impl, m)] for m in scaling_m]), 1)[0])
                 for impl in ("scratch", "raw torch")}

    memory = {impl: step_memory(impl, [100, 64, 1], memory_m, np.float32) for impl in ("scratch", "raw torch")}
    profile = {(r["net"], r["dtype"]): product_time(r["dims"], r["m"], np.dtype(r["dtype"]).type, repeats)
               for r in rows if r["impl"] == "scratch"}
    tall_m = scaling_m[-1]
    scaling_products = product_time([100, 64, 1], tall_m, np.float32, max(3, repeats // 2))
    elementwise = elementwise_time((64, tall_m), np.float32, repeats)
    log("products alone: " + ", ".join(f"{net} {dt}: NumPy {_fmt(p['numpy'])}, torch {_fmt(p['torch'])}"
                                        for (net, dt), p in profile.items()))
    log("peak memory of one step: " + ", ".join(f"{k} {v['step_mb']:.0f} MiB" for k, v in memory.items()))

    png = out.with_name(out.stem + "_time_vs_m.png")
    _plot(scaling, scaling_m, exponents, png)
    out.write_text(_markdown(info, ceiling, rows, scaling, scaling_m, exponents, memory, memory_m, quick, repeats,
                             png.name, profile, scaling_products, elementwise))
    log(f"wrote {out} and {png}")
    return rows


def _plot(scaling, scaling_m, exponents, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for impl in ("scratch", "raw torch"):
        ax.loglog(scaling_m, [scaling[(impl, m)] for m in scaling_m], "o-",
                  label=f"{impl} (t ∝ m^{exponents[impl]:.2f})")
    ax.set_xlabel("m (examples)")
    ax.set_ylabel("seconds per step")
    ax.set_title("[100, 64, 1] float32, full-batch step")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _markdown(info, ceiling, rows, scaling, scaling_m, exponents, memory, memory_m, quick, repeats, png, profile,
              scaling_products, elementwise):
    lines = ["# Benchmarks", "",
             f"Written by `python -m experiments bench{' --quick' if quick else ''} --repeats {repeats}` "
             f"on {time.strftime('%Y-%m-%d')}. Per-step times are (T(2N) - T(N)) / N of whole full-batch runs, "
             f"median of {repeats} repeats (min-max in brackets); ratios are of medians from this one run.", "",
             "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += ["", "## Matrix-product ceiling (one n×n @ n×n)", "", "| dtype | NumPy GFLOP/s | torch GFLOP/s |", "|---|---|---|"]
    lines += [f"| {dt} | {c['numpy']:.1f} | {c['torch']:.1f} |" for dt, c in ceiling.items()]
    lines += ["", "## One training step", "",
              "scratch / raw = scratch's step over the raw torch loop's; plain / raw and lightning / plain likewise; "
              "% ceiling = GFLOP/s of the step over the GEMM ceiling of its own library (NumPy for scratch, torch "
              "for the others).", "",
              "| net | m | dtype | device | impl | time per step | GFLOP/s | % ceiling | ratio |",
              "|---|---|---|---|---|---|---|---|---|"]
    by = {(r["net"], r["dtype"], r["device"], r["impl"]): r for r in rows}
    for r in rows:
        key = (r["net"], r["dtype"], r["device"])
        ratio = ""
        if r["impl"] == "scratch":
            ratio = f"scratch / raw {r['median'] / by[key + ('raw torch',)]['median']:.2f}"
        elif r["impl"] == "raw torch + guard":
            ratio = f"guarded / raw {r['median'] / by[key + ('raw torch',)]['median']:.2f}"
        elif r["impl"] == "train_plain":
            ratio = f"plain / raw {r['median'] / by[key + ('raw torch',)]['median']:.2f}"
        elif r["impl"] == "lightning":
            ratio = f"lightning / plain {r['median'] / by[key + ('train_plain',)]['median']:.2f}"
        lib = "numpy" if r["impl"] == "scratch" else "torch"
        pct = 100 * r["gflops"] / ceiling[r["dtype"]][lib] if r["device"] == "cpu" else float("nan")
        lines.append(f"| {r['net']} {r['dims']} | {r['m']:,} | {r['dtype']} | {r['device']} | {r['impl']} | "
                     f"{_fmt(r['median'])} ({_fmt(r['min'])}-{_fmt(r['max'])}) | {r['gflops']:.2f} | "
                     f"{pct:.0f} % | {ratio} |")
    lines += ["", "## Time per step against m ([100, 64, 1], float32)", "",
              "| m | " + " | ".join(("scratch", "raw torch")) + " | scratch / raw |", "|---|---|---|---|"]
    for m in scaling_m:
        s, t = scaling[("scratch", m)], scaling[("raw torch", m)]
        lines.append(f"| {m:,} | {_fmt(s)} | {_fmt(t)} | {s / t:.2f} |")
    lines += ["", "Fitted exponent k of t ∝ m^k: " + ", ".join(f"{k} {v:.2f}" for k, v in exponents.items()) + ".",
              "", f"![time against m]({png})", "",
              f"## Peak memory of one step ([100, 64, 1], m = {memory_m:,}, float32)", "",
              "Peak resident-set growth during one step in a fresh process, over what it held just before: the "
              "data, the model and, for torch, its batch-first copy of the data (made once per run).", "",
              "| impl | data (MiB) | one step (MiB) |", "|---|---|---|"]
    lines += [f"| {k} | {v['data_mb']:.0f} | {v['step_mb']:.0f} |" for k, v in memory.items()]
    s, t = memory["scratch"]["step_mb"], memory["raw torch"]["step_mb"]
    lines += ["", f"scratch / torch: {s / t:.2f}." if t > 0 else "", "",
              "## Where a step goes: the matrix products and the rest", "",
              "Each step's matrix products (forward W A, dW = dZ Aᵀ, and dA = Wᵀ dZ below the first layer) timed "
              "alone in each library and its layout and summed, against the step's time from the table above; "
              "the rest is everything else (activations and their derivatives, the cost, the update, allocation, "
              "Python). NumPy's products are OpenBLAS's, torch's its own (MKL / oneDNN on this build): where "
              "scratch's products alone take longer than torch's, that part of the gap is the BLAS, not scratch.", "",
              "| net | dtype | scratch step | NumPy products | scratch rest | raw torch step | torch products | "
              "torch rest | products NumPy / torch |", "|---|---|---|---|---|---|---|---|---|"]
    for (net, dt), p in profile.items():
        s_step, t_step = by[(net, dt, "cpu", "scratch")]["median"], by[(net, dt, "cpu", "raw torch")]["median"]
        lines.append(f"| {net} | {dt} | {_fmt(s_step)} | {_fmt(p['numpy'])} | {_fmt(s_step - p['numpy'])} | "
                     f"{_fmt(t_step)} | {_fmt(p['torch'])} | {_fmt(t_step - p['torch'])} | "
                     f"{p['numpy'] / p['torch']:.2f} |")
    m_top = scaling_m[-1]
    s_step, t_step = scaling[("scratch", m_top)], scaling[("raw torch", m_top)]
    lines += ["", f"The tall net at m = {m_top:,} (float32): products NumPy {_fmt(scaling_products['numpy'])}, "
              f"torch {_fmt(scaling_products['torch'])}; the rest of the step scratch "
              f"{_fmt(s_step - scaling_products['numpy'])}, torch {_fmt(t_step - scaling_products['torch'])}. "
              f"One elementwise pass over its (64, m) hidden layer (relu), the kind of operation the rest is made "
              "of: " + ", ".join(f"{k} {_fmt(v)}" for k, v in elementwise.items()) + ". NumPy's ufuncs run on "
              "one core; torch splits an elementwise pass over its threads."]
    lines += ["", "## What train_plain adds to the raw loop", "",
              "The raw loop checks nothing. \"raw torch + guard\" is the same loop with the divergence guard "
              "train_plain runs (torch_ref.divergence): check 1 keeps each step's cost, check 2 writes (min p, "
              "max p) of every parameter on the device after each update, and the host reads both every 100 steps. "
              "The guard is what the trust rules ask of every step: the first non-finite step, named exactly.", "",
              "| net | dtype | device | raw torch | raw torch + guard | train_plain | guard / raw | plain / guarded raw |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["impl"] == "train_plain":
            key = (r["net"], r["dtype"], r["device"])
            raw, guarded = by[key + ("raw torch",)]["median"], by[key + ("raw torch + guard",)]["median"]
            lines.append(f"| {r['net']} | {r['dtype']} | {r['device']} | {_fmt(raw)} | {_fmt(guarded)} | "
                         f"{_fmt(r['median'])} | {guarded / raw:.2f} | {r['median'] / guarded:.2f} |")
    lines.append("")
    return "\n".join(lines)


def build_parser():
    parser = _Parser(prog="python -m experiments bench", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smaller nets and m, float32 only, fewer repeats: under a minute")
    parser.add_argument("--repeats", type=_positive_int, default=None, metavar="R",
                        help="repeats per figure, medians reported (default 5, --quick 3)")
    parser.add_argument("--out", default="BENCHMARKS.md", metavar="FILE",
                        help="the report to write; the PNG goes beside it (default BENCHMARKS.md)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    out = Path(args.out)
    if out.parent and not out.parent.is_dir():
        print(f"python -m experiments bench: error: directory {str(out.parent)!r} of --out does not exist",
              file=sys.stderr)
        return 1
    run_suite(quick=args.quick, repeats=repeats, out=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
