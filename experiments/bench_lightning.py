"""Lightning against the plain PyTorch loop, same network, same full-batch steps (float64).

    python -m experiments.bench_lightning [--steps 2000] [--deep-steps 100] [--repeats 5]

Times whole training runs (Trainer construction included) and prints, per network, the median
wall time over the repeats and its ratio to the plain loop (torch_ref.train_loop.train_plain):
  lean        torch_ref.lightning.train_lightning: in-memory batch, one epoch of N steps,
              no checkpoint, writes every k steps (no logger)
  lean+tb     the same writing a TensorBoard run (what the main job does)
  default     a default Trainer: N epochs over DataLoader(TensorDataset) with the whole set
              as one batch, checkpoint every epoch, log_every_n_steps=1, TensorBoard
              (timed on fewer steps and reported per step, it is slow)
Networks: "tiny" [2, 4, 1] on the flower set (m = 240) and the course's deep net
[12288, 20, 7, 5, 1] on random 64x64x3 images (m = 209). Numbers only: nothing is asserted.
"""
import argparse
import logging
import statistics
import tempfile
import time
import warnings

import numpy as np

from .cli import _Parser, _positive_int


def _nets():
    from scratch.data import load_flower, split
    (X, Y), _, _ = split(*load_flower(), ratios=(0.6, 0.2, 0.2), seed=0)
    rng = np.random.default_rng(0)
    Xd = rng.random((12288, 209))
    Yd = (rng.random((1, 209)) < 0.35).astype(np.float64)
    return {"tiny": (X, Y, [2, 4, 1], ["tanh", "sigmoid"], 1.2),
            "deep": (Xd, Yd, [12288, 20, 7, 5, 1], ["relu", "relu", "relu", "sigmoid"], 0.0075)}


def _plain(X, Y, dims, acts, lr, steps, every):
    from torch_ref.models import DeepNet
    from torch_ref.train_loop import train_plain
    start = time.perf_counter()
    train_plain(DeepNet(dims, acts, init="he", seed=0), X, Y, learning_rate=lr, num_iterations=steps,
                log_every=every)
    return time.perf_counter() - start


def _lean(X, Y, dims, acts, lr, steps, every, tb):
    from lightning.pytorch.loggers import TensorBoardLogger
    from torch_ref.lightning import train_lightning
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        logger = TensorBoardLogger(tmp, name="bench", default_hp_metric=False) if tb else False
        train_lightning(X, Y, dims, acts, learning_rate=lr, num_iterations=steps, init="he", seed=0,
                        log_every=every, logger=logger)
        return time.perf_counter() - start


def _default(X, Y, dims, acts, lr, steps):
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset
    from torch_ref import convert
    from torch_ref.lightning import DeepNetModule, restored_global_state
    with tempfile.TemporaryDirectory() as tmp, restored_global_state():
        start = time.perf_counter()
        data = TensorDataset(convert.to_torch(X), convert.to_torch(Y))
        loader = DataLoader(data, batch_size=X.shape[1])
        module = DeepNetModule(dims, acts, learning_rate=lr, init="he", seed=0)
        trainer = pl.Trainer(max_epochs=steps, default_root_dir=tmp, log_every_n_steps=1, deterministic=True,
                             precision="64-true", enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(module, train_dataloaders=loader)
        return time.perf_counter() - start


def build_parser():
    """The argument parser: every number is a positive integer, a bad one a one-line error
    (exit status 2), with the validators and the parser class of the main command line."""
    parser = _Parser(prog="python -m experiments.bench_lightning", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=_positive_int, default=2000, metavar="N",
                        help="steps for the tiny net (default 2000)")
    parser.add_argument("--deep-steps", type=_positive_int, default=100, metavar="N",
                        help="steps for the deep net (default 100)")
    parser.add_argument("--repeats", type=_positive_int, default=5, metavar="R",
                        help="runs per setting; medians reported (default 5)")
    parser.add_argument("--every", type=_positive_int, default=50, metavar="K",
                        help="write every k steps (default 50)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    import lightning.pytorch  # noqa: F401  (its import sets its loggers to INFO: quiet them after)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    print(f"median wall time of whole runs over {args.repeats} repeats; ratio = time / plain loop time")
    print(f"{'net':6} {'setting':9} {'steps':>6} {'median s':>9} {'ms/step':>8} {'ratio':>6}")
    for name, (X, Y, dims, acts, lr) in _nets().items():
        steps = args.steps if name == "tiny" else args.deep_steps
        every = min(args.every, steps)
        runs = {"plain": lambda: _plain(X, Y, dims, acts, lr, steps, every),
                "lean": lambda: _lean(X, Y, dims, acts, lr, steps, every, tb=False),
                "lean+tb": lambda: _lean(X, Y, dims, acts, lr, steps, every, tb=True),
                "default": lambda: _default(X, Y, dims, acts, lr, max(10, steps // 10))}
        _lean(X, Y, dims, acts, lr, 10, 10, tb=False)          # warm-up: first-call imports and caches
        times = {setting: [] for setting in runs}
        for _ in range(args.repeats):                          # round robin: load changes hit all alike
            for setting, run in runs.items():
                times[setting].append(run())
        plain = statistics.median(times["plain"]) / steps
        for setting, ts in times.items():
            n = max(10, steps // 10) if setting == "default" else steps
            median = statistics.median(ts)
            print(f"{name:6} {setting:9} {n:6d} {median:9.3f} {1e3 * median / n:8.3f} "
                  f"{median / n / plain:6.2f}", flush=True)

if __name__ == "__main__":
    main()
