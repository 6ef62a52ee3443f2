"""The command line: `python -m experiments [EXPERIMENT] [options]`, and `python -m experiments bench
[options]`, the benchmark suite (experiments/bench.py).

Only argparse and the config reader are imported up front, so --help and bad options answer
at once; NumPy, torch and Lightning load when an experiment runs.

Exit status (EXIT_STATUSES, also in --help):
    0    done; when several implementations ran, they agree in every variant
    1    error: unknown experiment, missing or unreadable file, --data for an experiment that
         reads none, no CUDA device, diverged training (non-finite cost or parameters)
    2    usage: a bad option or value
    3    implementations disagree: in some variant, their costs part at a logged step by more
         than TRAJECTORY_RTOL relative, or their final cost or parameters differ (see the
         "parity ...: DIFFER" lines)
    130  interrupted (Ctrl-C)
"""
import argparse
import sys

from .config import IMPLS, list_experiments, load_config

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DISAGREE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_STATUSES = (
    (EXIT_OK, "done; the implementations agree in every variant (when several ran)"),
    (EXIT_ERROR, "error: unknown experiment, missing file, --data where unused, no CUDA, diverged training"),
    (EXIT_USAGE, "usage: a bad option or value"),
    (EXIT_DISAGREE, "implementations disagree: some variant's verdict is DIFFER"),
    (EXIT_INTERRUPTED, "interrupted"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line and exit status 2 (argparse's default prints the whole usage first)."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _number(parse, ok, expected):
    """An argparse type: parse(text), accepted when ok(value), else 'expected <expected>, got ...'."""
    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return convert


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_nonneg_int = _number(int, lambda v: v >= 0, "a non-negative integer")
_positive_float = _number(float, lambda v: 0 < v < float("inf"), "a positive number")


def _impls(text):
    names = list(IMPLS) if text == "all" else [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in IMPLS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected 'all' or a comma-separated list of {', '.join(IMPLS)}; got {text!r}")
    return names


def build_parser():
    experiments = list_experiments()
    listing = "\n".join(f"  {name:12} {desc}" for name, desc in experiments.items())
    parser = _Parser(
        prog="python -m experiments",
        description="Train the same network with scratch (NumPy), plain PyTorch and Lightning from the "
                    "same initial parameters, print a comparison and write TensorBoard runs. "
                    "Without arguments: the main job (flower).",
        epilog=f"experiments (configs in experiments/configs/*.toml):\n{listing}\n\n"
               "examples:\n  python -m experiments                      # the main job\n"
               "  python -m experiments init --impl all       # a classic experiment, all three implementations\n"
               "  python -m experiments --steps 500 --device cuda\n"
               "  python -m experiments optimizers --impl all   # mini-batch GD vs momentum vs Adam; costs.png\n"
               "  tensorboard --logdir logs/flower            # the runs of one experiment (printed after each run)\n"
               "  python -m experiments bench --quick         # the benchmark suite (see bench --help)\n\n"
               "exit status:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_STATUSES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", nargs="?", default="flower",
                        help="an experiment name from the list below, or a path to a .toml config (default: flower)")
    parser.add_argument("--impl", type=_impls, metavar="IMPL",
                        help="'all' or a comma-separated subset of scratch,torch,lightning (default: the config's)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where torch and Lightning train; auto = CUDA when present (default: auto)")
    parser.add_argument("--steps", type=_positive_int, metavar="N",
                        help="how long every run trains: N full-batch steps (num_iterations), or, for a run with "
                             "mini_batch_size, N epochs (num_epochs: passes over the training set of "
                             "ceil(m_train / mini_batch_size) steps each)")
    parser.add_argument("--lr", type=_positive_float, metavar="ALPHA", help="learning rate α (learning_rate)")
    parser.add_argument("--seed", type=_nonneg_int, metavar="S", help="seed of the data, split, θ_0, dropout and the mini-batch order")
    parser.add_argument("--log-every", type=_positive_int, metavar="K", help="write TensorBoard scalars every K steps")
    parser.add_argument("--logdir", default="logs", metavar="DIR",
                        help="TensorBoard log directory; DIR/EXPERIMENT is replaced by each run (default: logs)")
    parser.add_argument("--data", nargs=2, metavar=("TRAIN_H5", "TEST_H5"),
                        help="the course's train_catvnoncat.h5 and test_catvnoncat.h5 (experiment catvnoncat only)")
    return parser


def main(argv=None):
    """Parse argv, run the experiment, return the exit status (EXIT_STATUSES). Errors the user can
    fix (unknown experiment, missing file, --data where unused, diverged training) print one line,
    status 1; a bad option, status 2; implementations that disagree, their verdicts in the report
    and one line on stderr, status 3."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from .bench import main as bench_main
        return bench_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.experiment)
        changes = {k: v for k, v in (("learning_rate", args.lr), ("seed", args.seed),
                                     ("log_every", args.log_every)) if v is not None}
        cfg = cfg.override(**changes)                 # over every variant's own value too
        if args.steps is not None:
            cfg = cfg.with_steps(args.steps)          # steps with full batch, epochs with mini-batches
        from .main_job import main_job     # numpy, torch, ... load from here on
        runs = main_job(cfg, impls=args.impl, logdir=args.logdir, device=args.device,
                        data_paths=args.data)
    except (ValueError, TypeError, FileNotFoundError, ImportError, FloatingPointError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    differ = [vr.variant or cfg.name for vr in runs if not vr.agree]
    if differ:
        print(f"{parser.prog}: implementations disagree ({', '.join(differ)}; see the parity lines); "
              f"exit status {EXIT_DISAGREE}", file=sys.stderr)
        return EXIT_DISAGREE
    return EXIT_OK
