"""`python -m experiments all`: every experiment at its default size, and experiments/RESULTS.md.

Runs each experiment of experiments/configs in the course's order (ORDER; any other config after
them; catvnoncat is skipped: it needs the course's files, --data), each as `python -m experiments
NAME --impl all` would (its results.md and figures under <logdir>/<name>; --impl chooses others),
so that every page says whether scratch, torch and Lightning agree; then writes RESULTS.md: the machine,
a summary table (does each claim hold, do the implementations agree, how long it took) and each
experiment's page (report.render) with its figures copied next to RESULTS.md under results/<name>/.
An experiment that fails is reported and the others still run.

Exit status: 0 when every experiment ran and every comparison agrees; 3 when implementations
disagree somewhere; 1 when an experiment failed (2 for a bad option; 130 interrupted).
"""
import os
import platform
import shutil
import sys
import time

from . import report as report_mod
from .cli import EXIT_DISAGREE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, _impls, _Parser, _positive_int
from .config import IMPLS, list_experiments, load_config

# the course's order: logistic regression, the shallow net, its size and activations, initialization,
# regularization, depth and its gradients, normalization, optimization, many classes, the toolbox
ORDER = ("logistic", "flower", "hidden", "activations", "init", "regularization", "l2", "dropout",
         "early-stopping", "depth", "vanishing", "normalization", "optimizers", "multiclass", "batchnorm",
         "ensemble", "augmentation", "diagnose")
NEEDS_DATA = {"catvnoncat": "needs the course's HDF5 files: python -m experiments catvnoncat --data TRAIN_H5 TEST_H5"}
RESULTS_FILE = "RESULTS.md"
FIGURE_DIR = "results"


def experiment_names():
    """Every config in experiments/configs that `all` runs, in ORDER first, then the rest by name."""
    known = list_experiments()
    return [n for n in ORDER if n in known] + sorted(n for n in known if n not in ORDER and n not in NEEDS_DATA)


def build_parser():
    parser = _Parser(prog="python -m experiments all",
                     description="Run every experiment at its default size (each as python -m experiments NAME) "
                                 "and write RESULTS.md with each claim, its measured outcome, tables and figures.",
                     epilog="exit status: 0 all ran and agree; 1 an experiment failed; 2 usage; "
                            "3 implementations disagree somewhere; 130 interrupted")
    parser.add_argument("--impl", type=_impls, metavar="IMPL", default=list(IMPLS),
                        help="'all' or a comma-separated subset of scratch,torch,lightning for every experiment "
                             "(default: all three, so that every page carries a parity verdict; --impl scratch "
                             "for the quick run)")
    parser.add_argument("--steps", type=_positive_int, metavar="N",
                        help="train every run N steps (or epochs): a quick check, not the results")
    parser.add_argument("--only", metavar="NAMES", help="a comma-separated subset of the experiments (run in the "
                                                        "course's order)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--logdir", default="logs", metavar="DIR",
                        help="TensorBoard log directory (default: logs); each experiment replaces DIR/NAME")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)), metavar="DIR",
                        help="where RESULTS.md and its figures (DIR/results/) go (default: the experiments package, "
                             "experiments/RESULTS.md)")
    return parser


def _selected(parser, only):
    names = experiment_names()
    if only is None:
        return names
    chosen = [n.strip() for n in only.split(",") if n.strip()]
    bad = [n for n in chosen if n not in names]
    if bad or not chosen:
        parser.error(f"--only: unknown experiment(s) {bad or only!r}; known: {', '.join(names)}")
    return [n for n in names if n in chosen]                   # in the course's order


def machine():
    """One line: the CPU model, cores, OS, Python, NumPy and torch versions."""
    import numpy
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (f"{cpu}, {os.cpu_count()} cores{gpu}; {platform.system()} {platform.release()}; Python "
            f"{platform.python_version()}, NumPy {numpy.__version__}, torch {torch.__version__}")


def run_one(name, args):
    """Run experiment `name` as the command line would, with args.impl and args.steps. Returns
    (Report, agree: bool or None, the command)."""
    from . import studies
    from .cli import check_logdir
    from .main_job import experiment_job, study_job
    cfg = load_config(name).override(impls=tuple(args.impl))
    if args.steps:
        cfg = cfg.with_steps(args.steps)
    check_logdir(args.logdir, cfg)
    command = " ".join(["python -m experiments", name, "--impl",
                        "all" if set(args.impl) == set(IMPLS) else ",".join(args.impl)]
                       + (["--steps", str(args.steps)] if args.steps else []))
    if not studies.trains(cfg):
        report = study_job(cfg, logdir=args.logdir, device=args.device, command=command)
        return report, report.agree, command
    runs, report = experiment_job(cfg, logdir=args.logdir, device=args.device, command=command)
    agree = all(vr.agree for vr in runs) if any(len(vr.results) > 1 for vr in runs) else None
    return report, agree, command


def _copy_figures(report, run_dir, out_dir, name):
    """Copy each figure of `report` from run_dir to out_dir/results/<name>/ (a figure in a variant's
    subdirectory flattened to <variant>-<file>). Returns the report's figures renamed to match."""
    target = os.path.join(out_dir, FIGURE_DIR, name)
    os.makedirs(target, exist_ok=True)
    renamed = []
    for fname, caption in report.figures:
        flat = fname.replace(os.sep, "-").replace("/", "-")
        compact_png(os.path.join(run_dir, fname), os.path.join(target, flat))
        renamed.append((flat, caption))
    return renamed


def compact_png(source, target):
    """Copy PNG `source` to `target` with its colours reduced to a 256-colour palette (Pillow, which
    matplotlib installs): a plot has few colours, and the copies next to RESULTS.md stay a few
    hundred KB in all. A plain copy when Pillow is missing."""
    try:
        from PIL import Image
    except ImportError:                          # pragma: no cover - matplotlib depends on Pillow
        shutil.copyfile(source, target)
        return
    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=256).save(target, format="PNG", optimize=True)


def _yes_no(value):
    return {True: "yes", False: "**NO**", None: "-"}[value]


def write_results(entries, out_dir, header):
    """RESULTS.md in out_dir from entries [(name, Report or None, agree, seconds, command, error)].
    Returns its path."""
    lines = ["# Results: the course's claims, reproduced", "", *header, "",
             "| experiment | the claim holds | implementations agree | seconds |", "|---|---|---|---|"]
    for name, report, agree, seconds, _, error in entries:
        holds = "failed" if error else _yes_no(report.holds)
        lines.append(f"| [{name}](#{name}) | {holds} | {_yes_no(agree)} | {seconds:.0f} |")
    lines += ["", "\"implementations agree\": every variant's parity verdict (scratch, torch and Lightning from the "
              "same θ_0; '-' where one implementation ran or the experiment trains nothing).", ""]
    for name, report, agree, seconds, command, error in entries:
        if error:
            lines += [f"## {name}", "", f"`{command}`", "", f"**Failed:** {error}", ""]
            continue
        lines.append(report_mod.render(report, command, figure_prefix=f"{FIGURE_DIR}/{name}/", heading="##",
                                       extra=["", f"Ran in {seconds:.0f} s."]))
    path = os.path.join(out_dir, RESULTS_FILE)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    names = _selected(parser, args.only)
    if not os.path.isdir(args.out):
        print(f"{parser.prog}: error: --out {args.out}: not a directory", file=sys.stderr)
        return EXIT_ERROR
    start, entries = time.perf_counter(), []
    shutil.rmtree(os.path.join(args.out, FIGURE_DIR), ignore_errors=True)
    try:
        for k, name in enumerate(names, start=1):
            print(f"\n=== [{k}/{len(names)}] {name} ===", flush=True)
            t0 = time.perf_counter()
            command = f"python -m experiments {name}"
            try:
                report, agree, command = run_one(name, args)
                report.figures = _copy_figures(report, os.path.join(args.logdir, name), args.out, name)
                entries.append((name, report, agree, time.perf_counter() - t0, command, None))
            except (ValueError, TypeError, OSError, ImportError, FloatingPointError) as err:
                print(f"{parser.prog}: {name} failed: {err}", file=sys.stderr)
                entries.append((name, None, None, time.perf_counter() - t0, command, str(err)))
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    total = time.perf_counter() - start
    skipped = [f"- {name}: {why}" for name, why in NEEDS_DATA.items()]
    header = [f"Written by `python -m experiments all{' ' + ' '.join(argv) if argv else ''}` in {total / 60:.1f} min "
              f"on {machine()}.",
              "Each experiment's claim is the course's; the measured outcome beside it is computed from the run, "
              "and \"holds\" is the study's own test of the claim. Not run here:", *skipped]
    path = write_results(entries, args.out, header)
    print(f"\n{len(entries)} experiments in {total / 60:.1f} min; results: {path}")
    if any(e[5] for e in entries):
        return EXIT_ERROR
    if any(e[2] is False for e in entries):
        return EXIT_DISAGREE
    return EXIT_OK
