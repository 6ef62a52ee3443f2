"""Mini-batches at scale: [100, 64, 1] on m = 1,000,000 synthetic examples, batches of 1,024.

    python -m experiments.bench_minibatch                 # scratch and Lightning, 1 epoch each
    python -m experiments.bench_minibatch --m 200000 --epochs 2 --impl scratch,torch,lightning

Each implementation runs in a fresh process (so that its peak memory is its own) and reports the
time per epoch and two peaks of resident memory: after the data set was generated (X is
(n_x, m) float32: 400 MB at m = 10⁶) and after training. Training holds the caches of one
mini-batch at a time, never of the whole set, so the second peak exceeds the first by what the
implementation itself keeps (Lightning: its own batch-first copy of X, another 400 MB, and the
framework). The data: x ~ N(0, I), y = [w·x + 0.5·noise > 0] for a fixed random w (a set a
[100, 64, 1] network learns to ~95 %). Adam, α = 0.001, float32, seed 0.
"""
import argparse
import json
import os
import subprocess
import sys
import time

from .cli import _Parser, _positive_int

IMPLS = ("scratch", "torch", "lightning")
N_X, HIDDEN = 100, 64


def _peak_mb():
    """The process's peak resident memory so far (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _data(m, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_X, m), dtype=np.float32)
    w = rng.standard_normal((1, N_X)).astype(np.float32)
    Y = ((w @ X) / np.sqrt(N_X) + 0.5 * rng.standard_normal((1, m), dtype=np.float32) > 0).astype(np.float32)
    return X, Y


def run_one(impl, m, epochs, batch):
    """Train `impl` in this process; returns a dict of measurements."""
    X, Y = _data(m)
    data_peak = _peak_mb()
    kw = dict(optimizer="adam", learning_rate=0.001, mini_batch_size=batch, num_epochs=epochs, seed=0)
    dims, acts = [N_X, HIDDEN, 1], ["relu", "sigmoid"]
    start = time.perf_counter()
    if impl == "scratch":
        from scratch.train import train
        params = train(X, Y, dims, acts, init="he", rng=0, log_every=1000, **kw).final_params
    elif impl == "torch":
        import torch
        from torch_ref.models import DeepNet
        from torch_ref.train_loop import train_plain
        model = DeepNet(dims, acts, init="he", seed=0, dtype=torch.float32)
        train_plain(model, X, Y, log_every=1000, **kw)
        params = model.to_params()
    else:
        from torch_ref.lightning import train_lightning
        params = train_lightning(X, Y, dims, acts, init="he", precision="32-true", accelerator="cpu", **kw).params
    wall, peak = time.perf_counter() - start, _peak_mb()
    from scratch import network                     # the final θ judged alike, on the first 20,000 examples
    Xe, Ye = X[:, :20_000], Y[:, :20_000]
    return {"impl": impl, "m": m, "epochs": epochs, "batch": batch, "s_per_epoch": wall / epochs,
            "data_peak_mb": data_peak, "peak_mb": peak, "cost": network.model_cost(Xe, Ye, params, acts),
            "acc": float((network.predict(Xe, params, acts) == Ye).mean())}


def build_parser():
    parser = _Parser(prog="python -m experiments.bench_minibatch",
                     description="Time per epoch and peak memory of mini-batch training at scale.")
    parser.add_argument("--m", type=_positive_int, default=1_000_000, help="examples (default 1,000,000)")
    parser.add_argument("--epochs", type=_positive_int, default=1, help="epochs (default 1)")
    parser.add_argument("--batch", type=_positive_int, default=1024, help="mini-batch size (default 1024)")
    parser.add_argument("--impl", default="scratch,lightning", help="comma-separated: scratch, torch, lightning")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args.child, args.m, args.epochs, args.batch)))
        return 0
    impls = [i.strip() for i in args.impl.split(",") if i.strip()]
    bad = [i for i in impls if i not in IMPLS]
    if bad or not impls:
        print(f"{build_parser().prog}: error: --impl must list {', '.join(IMPLS)}; got {args.impl!r}", file=sys.stderr)
        return 2
    print(f"[{N_X}, {HIDDEN}, 1] relu/sigmoid, m = {args.m:,}, mini-batches of {args.batch}, Adam, float32, "
          f"{args.epochs} epoch(s); one process per implementation ({os.cpu_count()} CPUs)")
    print(f"{'impl':10} {'s/epoch':>8} {'peak MB (data)':>15} {'peak MB (train)':>16} {'J(θ)':>8} {'acc':>6}"
          "   (J and accuracy of the final θ on the first 20,000 examples)")
    for impl in impls:
        cmd = [sys.executable, "-m", "experiments.bench_minibatch", "--child", impl, "--m", str(args.m),
               "--epochs", str(args.epochs), "--batch", str(args.batch)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{impl}: failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{impl:10} {r['s_per_epoch']:8.2f} {r['data_peak_mb']:15.0f} {r['peak_mb']:16.0f} "
              f"{r['cost']:8.4f} {r['acc']:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
