"""The command line: `python -m experiments [EXPERIMENT] [options]`; `python -m experiments bench
[options]`, the benchmark suite (experiments/bench.py); `python -m experiments predict --model PATH
--data FILE`, predictions of a saved model (experiments/predict.py); `python -m experiments all
[options]`, every experiment and experiments/RESULTS.md (experiments/all.py).

Each experiment ends with its results page, <logdir>/<experiment>/results.md: the course's claim
(the config's `claim`), the measured outcome beside it, its tables and figures (experiments/report.py,
computed by the config's study in experiments/studies), and the bias/variance diagnosis (F25) of
each variant.

The experiment's config (experiments/config.py) is resolved in this order:
    1. the TOML file (a name in experiments/configs, or a path);
    2. every --set KEY=VALUE, in the base config and in every variant (a variant's own value of KEY
       gives way, as for --lr); VALUE is a TOML value, or a bare word for a string (init=he); the
       same key twice: the last one. --set mini_batch_size=B also drops num_iterations, as a
       variant that sets mini_batch_size does (give num_epochs, or --steps);
    3. the dedicated options --lr, --seed, --log-every and --impl, applied with the --set changes
       (each refused together with a --set of its own key: learning_rate, seed, log_every, impls),
       then --steps (refused with --set num_iterations or num_epochs): every run trains N steps,
       or N epochs where it has mini-batches.
Then the whole config is validated as a file is. --print-config prints the result as TOML that
load_config reads back, and exits without training.

Only argparse and the config reader are imported up front, so --help and bad options answer
at once; NumPy, torch and Lightning load when an experiment runs.

Exit status (EXIT_STATUSES, also in --help):
    0    done; when several implementations ran, they agree in every variant
    1    error: unknown experiment, missing or unreadable file, a --logdir that is (or is under) a
         file, --data for an experiment that reads none, no CUDA device, diverged training
         (non-finite cost or parameters)
    2    usage: a bad option or value, a --set that does not fit the config
    3    implementations disagree: in some variant, their costs part at a logged step by more
         than TRAJECTORY_RTOL relative, or their final cost or parameters differ (see the
         "parity ...: DIFFER" lines)
    130  interrupted (Ctrl-C)
"""
import argparse
import os
import shlex
import sys

from .config import IMPLS, list_experiments, load_config, parse_setting

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DISAGREE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_STATUSES = (
    (EXIT_OK, "done; the implementations agree in every variant (when several ran)"),
    (EXIT_ERROR, "error: unknown experiment, missing file, --logdir a file, --data where unused, no CUDA, "
                 "diverged training, a predict that failed"),
    (EXIT_USAGE, "usage: a bad option or value (also a --set that does not fit the config)"),
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


def _setting(text):
    """An argparse type: --set KEY=VALUE as (key, value, text) (config.parse_setting)."""
    try:
        return (*parse_setting(text), text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# each dedicated option and the config key it sets (refused together with a --set of that key)
DEDICATED = {"lr": "learning_rate", "seed": "seed", "log_every": "log_every", "impl": "impls"}
STEP_KEYS = ("num_iterations", "num_epochs")     # what --steps sets


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
               "  python -m experiments l2 --set lambd=0.1 --set 'layer_dims=[2, 10, 10, 1]'\n"
               "                                              # any config key, in every variant (TOML values;\n"
               "                                              # a bare word is a string: --set init=he)\n"
               "  python -m experiments dropout --set standardize=true --print-config > mine.toml\n"
               "  python -m experiments mine.toml             # the resolved config, saved and run\n"
               "  python -m experiments predict --model model.npz --data points.csv   # see predict --help\n"
               "  python -m experiments bench --quick         # the benchmark suite (see bench --help)\n"
               "  python -m experiments all                   # every experiment, then experiments/RESULTS.md\n\n"
               "--set KEY=VALUE and the options are applied in this order: the config file, every --set (the\n"
               "last one of a key wins), then --lr/--seed/--log-every/--impl (each refused with a --set of its\n"
               "own key), then --steps (refused with --set num_iterations or num_epochs).\n\n"
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
    parser.add_argument("--set", type=_setting, action="append", metavar="KEY=VALUE", dest="settings",
                        help="set a config key in the base config and every variant; VALUE is a TOML value "
                             "(0.7, true, [2, 10, 1], \"he\") or a bare word for a string (he); repeatable")
    parser.add_argument("--save", metavar="PATH",
                        help="write each implementation's trained model to a model file (.npz; with several "
                             "runs PATH-<variant>-<impl>.npz), which predict, --resume and the Python API read")
    parser.add_argument("--resume", metavar="PATH",
                        help="continue the run saved in a model file (.npz from --save) or a Lightning last.ckpt: "
                             "its config (or EXPERIMENT's, for a .ckpt) with --steps as the new TOTAL length; "
                             "the implementation that saved it unless --impl says otherwise")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config (after --set and the options) as TOML and exit "
                             "without training")
    return parser


def resolve_config(cfg, args):
    """cfg with the command line's changes (the order in the module docstring): the --set keys and the
    dedicated options in one Config.override over the base and every variant, then --steps
    (Config.with_steps). ValueError for a key set twice (--lr and --set learning_rate=...) or a value
    that does not fit (Config's own message, as for a file)."""
    settings = {key: value for key, value, _ in args.settings or []}
    changes = {}
    for option, key in DEDICATED.items():
        value = getattr(args, option)
        if value is None:
            continue
        if key in settings:
            raise ValueError(f"--{option.replace('_', '-')} and --set {key}=... both set {key}: give one of them")
        changes[key] = tuple(value) if option == "impl" else value
    if args.steps is not None and set(STEP_KEYS) & set(settings):
        raise ValueError(f"--steps and --set {'/'.join(k for k in STEP_KEYS if k in settings)}=... both set how "
                         "long the runs train: give one of them")
    if "mini_batch_size" in settings:             # mini-batches train by epochs: as a variant that sets it
        settings.setdefault("num_iterations", None)
        if args.steps is not None:
            settings.setdefault("num_epochs", args.steps)
    changes.update(settings)
    try:
        if changes:
            cfg = cfg.override(**changes)         # over every variant's own value too
        if args.steps is not None:
            cfg = cfg.with_steps(args.steps)      # steps with full batch, epochs with mini-batches
        cfg.runs()                                # every variant checked, as load_config does
    except ValueError as err:
        raise ValueError(f"--set: {err}" if settings else str(err)) from None
    return cfg


def with_data(cfg, data):
    """cfg as it runs on the course's files given with --data: unchanged for a catvnoncat config (or
    without --data); a config whose study_args has a `with_data` table (the config keys for the cat
    images, such as dataset = "catvnoncat" and layer_dims = [12288, 1]) gets those keys; any other
    config is left for runner.run to refuse --data."""
    table = (cfg.study_args or {}).get("with_data")
    if not data or cfg.dataset == "catvnoncat" or not table:
        return cfg
    args = {k: v for k, v in cfg.study_args.items() if k != "with_data"}
    return cfg.override(**dict(table), study_args=args or None)


def check_logdir(logdir, cfg):
    """Refuse (ValueError) a --logdir that is a file or lies under one, and a <logdir>/<experiment>
    that is a file (a run replaces that directory): before anything trains, one line."""
    probe = os.path.abspath(logdir)
    while not os.path.lexists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)                # the deepest part of the path that exists
    if os.path.lexists(probe) and not os.path.isdir(probe):
        where = "is a file" if probe == os.path.abspath(logdir) else f"is under a file ({probe})"
        raise ValueError(f"--logdir {logdir}: {where}, not a directory")
    run_dir = os.path.join(logdir, cfg.name)
    if os.path.lexists(run_dir) and not os.path.isdir(run_dir) and not os.path.islink(run_dir):
        raise ValueError(f"--logdir {logdir}: {run_dir} is a file, not a directory (each run replaces "
                         "<logdir>/<experiment>)")


def load_resume(path, experiment):
    """(Config, Model) of --resume PATH: a model file's own config (what the run was trained with), or
    for a Lightning checkpoint (which holds no experiment config) the named experiment's."""
    from .config import Config
    if str(path).endswith(".ckpt"):
        from torch_ref.lightning import checkpoint_to_model
        model = checkpoint_to_model(path)
        model.path = str(path)
        return load_config(experiment), model
    from scratch.model_file import load_model
    model = load_model(path)
    if model.state is None:
        raise ValueError(f"{path}: holds no training state, so it cannot be resumed (it can still predict)")
    if model.config is None:
        return load_config(experiment), model
    return Config.from_dict(None, model.config, where=f"{path} (its config)"), model


def main(argv=None):
    """Parse argv, run the experiment, return the exit status (EXIT_STATUSES). Errors the user can
    fix (unknown experiment, missing file, --logdir a file, --data where unused, diverged training)
    print one line, status 1; a bad option, or a --set that does not fit the config, status 2;
    implementations that disagree, their verdicts in the report and one line on stderr, status 3.
    `bench ...` and `predict ...` go to their own commands."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from .bench import main as bench_main
        return bench_main(argv[1:])
    if argv[:1] == ["predict"]:
        from .predict import main as predict_main
        return predict_main(argv[1:])
    if argv[:1] == ["all"]:
        from .all import main as all_main
        return all_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    resumed = None
    try:
        if args.resume is not None:
            cfg, resumed = load_resume(args.resume, args.experiment)
            if args.impl is None:
                cfg = cfg.replace(impls=(resumed.impl,))
        else:
            cfg = load_config(args.experiment)
    except (ValueError, TypeError, OSError, ImportError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    try:
        cfg = resolve_config(with_data(cfg, args.data), args)
    except ValueError as err:
        print(f"{parser.prog}: error: {err} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    if args.print_config:
        command = shlex.join(argv).replace("\r", "\\r").replace("\n", "\\n")      # one comment line
        print(f"# python -m experiments {command}\n# the resolved config of {cfg.name!r}; "
              f"saved as {cfg.name}.toml it runs with python -m experiments {cfg.name}.toml\n")
        print(cfg.to_toml(), end="")
        return EXIT_OK
    command = "python -m experiments " + shlex.join(argv) if argv else "python -m experiments"
    try:
        check_logdir(args.logdir, cfg)
        from . import studies
        if not studies.trains(cfg):        # an experiment that does its own work (experiments/studies)
            for option in ("data", "save", "resume"):
                if getattr(args, option) is not None:
                    raise ValueError(f"--{option}: experiment {cfg.name!r} trains no model through the runner "
                                     f"(study {cfg.study!r}), so it takes no --{option}")
            from .main_job import study_job
            report = study_job(cfg, logdir=args.logdir, device=args.device, command=command)
            differ = [cfg.name] if report.agree is False else []
        else:
            from .main_job import main_job     # numpy, torch, ... load from here on
            runs = main_job(cfg, impls=None, logdir=args.logdir, device=args.device, data_paths=args.data,
                            save=args.save, resume=resumed, command=command)
            differ = [vr.variant or cfg.name for vr in runs if not vr.agree]
    except (ValueError, TypeError, OSError, ImportError, FloatingPointError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if differ:
        print(f"{parser.prog}: implementations disagree ({', '.join(differ)}; see the parity lines); "
              f"exit status {EXIT_DISAGREE}", file=sys.stderr)
        return EXIT_DISAGREE
    return EXIT_OK
