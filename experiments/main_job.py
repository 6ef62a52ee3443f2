"""The main job and its report: train, then print one table per experiment.

`python -m experiments` runs the "flower" config: [2, 4, 1] tanh/sigmoid on the planar flower,
trained from the same θ_0 by scratch (NumPy), the plain PyTorch loop and Lightning, in float64.
The report gives, per implementation, J(θ_N) (the training cost of the final parameters, L2
included), train/dev/test accuracy and the training wall time; then the largest difference
between the final parameters of any two implementations, a parity verdict per variant when
several implementations ran (the first logged step where their cost curves part, and how the
parameter difference grew), and how to open TensorBoard on the experiment just run.
A config with target_cost also gets, per variant, the first logged step whose cost reached it; a
softmax network, the confusion matrix on the dev set as a PNG next to its runs.
"""
import itertools
import os
import shlex
import time

import numpy as np

from . import compare, figures, runner, studies
from . import report as report_mod
from .config import describe_lr_schedule


def max_param_difference(a, b):
    """max over l and entries of |θ_a - θ_b| (W[l] and b[l])."""
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def _sci(value):
    """A difference with one significant digit and a short exponent: 0, 2e-16, 3e-1, 4e0, inf."""
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


GROWTH_DECADES = 4    # the growth line marks the first logged step past 1e-16, 1e-12, 1e-8, ...


def growth_line(comparison):
    """One line: how the relative parameter difference (compare.relative_param_difference) of
    comparison.impl from the reference grew over the logged steps: its value at the first logged
    step, the first nonzero one, the first logged step past each GROWTH_DECADES decades (1e-12,
    1e-8, 1e-4, 1, ...), the last logged step, and at θ_N. Rounding differences amplified by an
    unstable run grow by steady decades from 1e-16; a bug shows a large difference from the start."""
    steps, diffs = comparison.steps, comparison.param_rel_diff
    points = [0]
    nonzero = np.flatnonzero(diffs > 0)
    if diffs[0] == 0 and nonzero.size:
        points.append(int(nonzero[0]))
    finite = diffs[np.isfinite(diffs) & (diffs > 0)]
    if finite.size:
        top = np.log10(finite.max()) if np.isfinite(diffs).all() else np.inf
        low = GROWTH_DECADES * np.ceil(np.log10(finite.min()) / GROWTH_DECADES)
        for exponent in np.arange(low, min(top, 300) + 1e-9, GROWTH_DECADES):
            crossed = np.flatnonzero(diffs >= 10.0 ** exponent)
            if crossed.size and crossed[0] > points[-1]:
                points.append(int(crossed[0]))
    if len(steps) - 1 > points[-1]:
        points.append(len(steps) - 1)
    trail = " → ".join([f"{_sci(diffs[j])} (step {steps[j]})" for j in points]
                       + [f"{_sci(comparison.final_param_rel_diff)} (final θ)"])
    return (f"    θ difference {comparison.impl} vs {comparison.reference} (max over arrays of "
            f"max|θa - θb| / max|θb|): {trail}")


def parity_verdict(results, comparisons=None, variant=None):
    """One line: do the implementations agree, by DESIGN's trajectory tolerance (float64 training
    runs: J_i at every logged step within rtol TRAJECTORY_RTOL = 1e-8; J(θ_N) to the same rtol, θ_N
    also atol 1e-12)? results: RunResults of one variant, the first the reference; comparisons:
    compare.compare of the others against it (computed when not given); variant: its name, or None."""
    from torch_ref.parity import TRAJECTORY_RTOL              # loaded only when several impls ran
    if comparisons is None:
        comparisons = compare.compare_variant(results)
    label = f"parity {variant}:" if variant else "parity:"
    ref, bad = results[0], []
    for c in comparisons:
        if c.first_parting is not None:
            at = int(np.flatnonzero(c.steps == c.first_parting)[0])
            bad.append(f"{c.impl}'s cost parts at step {c.first_parting} (relative difference "
                       f"{c.cost_rel_diff[at]:.1e})")
        elif not c.final_cost_ok:
            bad.append(f"{c.impl}'s final cost")
        if not c.final_params_ok:
            bad.append(f"{c.impl}'s final parameters (relative difference {_sci(c.final_param_rel_diff)})")
    if bad:
        return f"{label} DIFFER from {ref.impl}: {', '.join(bad)} (tolerance rtol {TRAJECTORY_RTOL:g})"
    names = ", ".join(r.impl for r in results)
    largest = max(max(c.param_rel_diff.max(initial=0), c.final_param_rel_diff) for c in comparisons)
    steps = comparisons[0].steps if comparisons else ()
    what = (f"cost at every logged step, {len(steps)} from {steps[0]} to {steps[-1]}, and final parameters"
            if len(steps) else "final cost and every parameter")
    return (f"{label} {names} agree ({what} within rtol {TRAJECTORY_RTOL:g}; largest relative θ "
            f"difference {_sci(largest)})")


def verdict_lines(vr):
    """The verdict of VariantRuns vr (parity_verdict) and, when they differ, the growth_line of the
    implementation that parted first (or ended farthest apart). [] when one implementation ran."""
    if len(vr.results) < 2:
        return []
    lines = [parity_verdict(vr.results, vr.comparisons, vr.variant)]
    parted = [c for c in vr.comparisons if not c.agree and len(c.steps)]
    if parted:
        first = min(parted, key=lambda c: (c.first_parting if c.first_parting is not None else np.inf,
                                           -c.final_param_rel_diff))
        lines.append(growth_line(first))
    return lines


def _per_variant(cfg, *keys):
    """Whether every variant of cfg sets one of `keys` itself (the base value is then never used)."""
    return bool(cfg.variants) and all(any(k in v.overrides for k in keys) for v in cfg.variants)


def _training(cfg, m):
    """How long cfg trains on m examples: "N full-batch steps" or "E epochs of mini-batches of B (S steps)"."""
    if cfg.mini_batch_size is None:
        return f"{cfg.num_iterations} full-batch steps"
    return (f"{cfg.num_epochs} epochs of mini-batches of {cfg.mini_batch_size} "
            f"({cfg.num_steps(m)} steps, batch order from seed {cfg.seed})")


def _describe(cfg, sizes):
    """One line: network, data sizes, steps, learning rate, optimizer, schedule, regularization, θ_0
    ("per variant" for what every variant sets itself)."""
    net = ("network per variant" if _per_variant(cfg, "layer_dims", "activations")
           else f"{list(cfg.layer_dims)} {'/'.join(cfg.activations)}")
    rate = "per variant" if _per_variant(cfg, "learning_rate") else cfg.learning_rate
    optim = [("optimizer", "per variant" if _per_variant(cfg, "optimizer") else
              (cfg.optimizer if cfg.optimizer != "gd" else None)),
             ("lr_schedule", describe_lr_schedule(cfg.lr_schedule) if cfg.lr_schedule else None)]
    bn = ("batch norm per variant" if _per_variant(cfg, "batchnorm") else
          (f"batch norm (bn_beta {cfg.bn_beta}, bn_eps {cfg.bn_eps:g})" if cfg.batchnorm else None))
    extra = "".join(f", {k} {v}" for k, v in (*optim, ("lambd", cfg.lambd), ("keep_probs", cfg.keep_probs)) if v)
    extra += f", {bn}" if bn else ""
    split = " / ".join(f"{k} {n}" for k, n in sizes.items() if n)
    steps = ("steps per variant" if _per_variant(cfg, "num_iterations", "num_epochs", "mini_batch_size")
             else _training(cfg, sizes["train"]))
    if _per_variant(cfg, "init_seed"):
        theta0 = f"θ_0 per variant (init {cfg.init}, init_seed per variant; data seed {cfg.seed})"
    else:
        seed = cfg.seed if cfg.init_seed is None else f"{cfg.init_seed} (data seed {cfg.seed})"
        theta0 = f"same θ_0 for all (init {cfg.init}, seed {seed})"
    return f"{net} on {cfg.dataset} ({split}); {steps}, learning_rate {rate}{extra}, float64; {theta0}"


def _value(key, value):
    """A variant's override as the report shows it (an lr_schedule table as name(keywords))."""
    if key == "lr_schedule":
        from .config import normalize_lr_schedule
        return describe_lr_schedule(normalize_lr_schedule(key, value))
    return repr(value)


def _cost(value):
    """J(θ_N) in 19 characters: fixed point with 15 decimals below 1000 (the usual case, digits
    aligned), scientific beyond (a run gone astray prints 8.802211160016e+199, not 200 digits)."""
    return f"{value:19.15f}" if abs(value) < 1e3 else f"{value:19.12e}"


def _acc(value):
    return f"{value:9.3f}" if value is not None else f"{'-':>9}"


def target_lines(cfg, runs):
    """With cfg.target_cost: one line per variant, the first logged step whose training cost J_i
    (of the reference implementation) is at most the target, and a heading. [] without a target."""
    if cfg.target_cost is None:
        return []
    ref = runs[0].results[0].impl
    lines = ["", f"steps to the target cost J_i <= {cfg.target_cost:g} (first logged step, every "
                 f"{runs[0].config.log_every}; {ref}):"]
    width = max(len(vr.variant or cfg.name) for vr in runs)
    for vr in runs:
        step = figures.steps_to_target(vr.results[0], cfg.target_cost)
        steps = vr.config.num_steps(vr.sizes["train"])
        reached = (f"step {step}" if step is not None
                   else f"not reached in {steps} steps (lowest logged J_i {min(vr.results[0].costs):.4g})")
        lines.append(f"  {vr.variant or cfg.name:{width}}  {reached}")
    return lines


def write_confusion(cfg, runs, logdir):
    """The dev-set confusion matrix of each softmax variant's reference implementation as a PNG,
    <logdir>/<experiment>[/<variant>]/confusion.png. Returns the paths written ([] for sigmoid nets)."""
    paths = []
    for vr in runs:
        ref = vr.results[0]
        if ref.confusion is None:
            continue
        parts = [runner.experiment_dir(logdir, cfg)] + ([vr.variant] if vr.variant else [])
        title = (f"{cfg.name}{' ' + vr.variant if vr.variant else ''} ({ref.impl}): dev set, "
                 f"accuracy {ref.accuracy['dev']:.3f}")
        paths.append(figures.save_png(figures.confusion_figure(ref.confusion, title),
                                      os.path.join(*parts, figures.CONFUSION_NAME)))
    return paths


def format_report(cfg, runs, logdir, total_s=None, figure=None, confusion=(), saved=(), resumed=None):
    """The printed summary of runner.run's VariantRuns for config cfg (total_s: the whole run's time;
    figure: the path of the cost-curve PNG, when one was written; confusion: the paths of the
    confusion-matrix PNGs; saved: the model files written; resumed: the Model a run continued)."""
    lines = [f"{cfg.name}: {cfg.description}"]
    if resumed is not None:
        lines.append(f"  continued from {resumed.path} ({resumed.impl}'s run, at step {resumed.state.step})")
    sweep = any(r.variant for r in runs)
    width = max([12] + [len(vr.variant) for vr in runs if vr.variant])      # the variant column
    head = f"{'variant':{width}} " if sweep else ""
    header = f"{head}{'impl':10} {'final cost J(θ_N)':>19} {'train acc':>9} {'dev acc':>9} {'test acc':>9} {'wall s':>7}"
    lines.append("  " + _describe(cfg if sweep else runs[0].config, runs[0].sizes))
    if sweep:
        changes = "; ".join(f"{v.name}: " + ", ".join(f"{k} {_value(k, val)}" for k, val in v.overrides.items())
                            for v in cfg.variants)
        lines.append(f"  variants (each changes only this): {changes}")
    lines += ["", header]
    for vr in runs:
        for r in vr.results:
            name = f"{vr.variant:{width}} " if sweep else ""
            lines.append(f"{name}{r.impl:10} {_cost(r.final_cost)} {_acc(r.accuracy['train'])} "
                         f"{_acc(r.accuracy['dev'])} {_acc(r.accuracy['test'])} {r.wall_s:7.2f}")
        pairs = list(itertools.combinations(vr.results, 2))
        if pairs and not sweep:
            diffs = ", ".join(f"{b.impl} vs {a.impl} {max_param_difference(b.params, a.params):.1e}" for a, b in pairs)
            lines += ["", f"largest parameter difference |θ_a - θ_b| after training: {diffs}"]
        elif pairs:
            worst = max(max_param_difference(a.params, b.params) for a, b in pairs)
            lines.append(f"{'':{width}} largest |θ_a - θ_b| between implementations: {worst:.1e}")
        lines += verdict_lines(vr)
    lines += target_lines(cfg, runs)
    impls = sorted({r.impl for vr in runs for r in vr.results}, key=("scratch", "torch", "lightning").index)
    where = os.path.join(logdir, cfg.name, "<variant>" if sweep else "", "{" + ",".join(impls) + "}")
    if total_s is not None:
        lines += ["", f"total {total_s:.1f} s (loading torch and Lightning and writing TensorBoard included)"]
    if figure is not None:
        lines += [f"cost curves of every variant ({runs[0].results[0].impl}): {figure}"]
    for path in confusion:
        lines += [f"confusion matrix on the dev set ({runs[0].results[0].impl}): {path}"]
    for variant, r, path in saved:
        lines += [f"model file ({r.impl}{', ' + variant if variant else ''}): {path}"]
    lines += ["", f"TensorBoard runs: {where.replace(os.sep * 2, os.sep)}. Open them with:",
              f"    tensorboard --logdir {shlex.quote(os.path.join(logdir, cfg.name))}"]
    return "\n".join(lines)


def _figure_entries(run_dir, figure, confusion):
    """[(path relative to run_dir, caption)] of the figures main_job wrote."""
    out = [(os.path.relpath(figure, run_dir), "training cost J_i of every variant")] if figure else []
    return out + [(os.path.relpath(p, run_dir), "confusion matrix on the dev set") for p in confusion]


def summary_lines(report, path, diagnosis=()):
    """The printed end of an experiment: its claim, the measured outcome, the diagnosis lines (F25),
    and where results.md is."""
    word = report_mod.verdict_word(report.holds)
    lines = ["", f"claim: {report.claim or '(none stated)'}",
             f"measured: {report.outcome}" + (f" -> the claim {word}" if word else "")]
    if diagnosis:
        lines += ["bias/variance (F25):"] + [f"    {line}" for line in diagnosis]
    return lines + [f"results page: {path}"]


def experiment_job(cfg, impls=None, logdir="logs", device=None, data_paths=None, save=None, resume=None,
                   command=None):
    """main_job's work, returning (VariantRuns list, report.Report): run cfg (runner.run), write the
    figures, analyse the runs with the config's study (experiments/studies; report.generic_report
    without one), write <logdir>/<experiment>/results.md, print the report."""
    start = time.perf_counter()
    if save is not None:
        runner.check_save_path(save)                     # before training, not after
    analyze = studies.load(cfg.study).analyze if cfg.study else None       # an unknown study: before training
    runs = runner.run(cfg, impls=impls, logdir=logdir, device=device, data_paths=data_paths, resume=resume)
    saved = []
    if save is not None:
        runner.save_models(runs, save)
        saved = runner.save_paths(save, runs)
    run_dir = runner.experiment_dir(logdir, cfg)
    figure = None
    if any(vr.variant for vr in runs):
        figure = figures.cost_curves(runs, os.path.join(run_dir, figures.FIGURE_NAME),
                                     title=cfg.description or cfg.name, target=cfg.target_cost)
    confusion = write_confusion(cfg, runs, logdir)
    entries = _figure_entries(run_dir, figure, confusion)
    if analyze is None:
        report = report_mod.generic_report(cfg, runs, entries)
    else:
        report = analyze(cfg, runs, run_dir)
        report.figures = entries + [f for f in report.figures if f[0] not in {e[0] for e in entries}]
    report.verdicts = [line for vr in runs for line in verdict_lines(vr)[:1]]
    command = command or f"python -m experiments {cfg.name}"
    path = report_mod.write_results(report, run_dir, command)
    diagnosis = report_mod.diagnosis_lines(runs, cfg.base_error)
    print(format_report(cfg, runs, logdir, total_s=time.perf_counter() - start, figure=figure,
                        confusion=confusion, saved=saved, resumed=resume))
    print("\n".join(summary_lines(report, path, diagnosis)))
    return runs, report


def main_job(cfg, impls=None, logdir="logs", device=None, data_paths=None, save=None, resume=None, command=None):
    """Run cfg (runner.run) and print its report; for a sweep, also the cost curves of every
    variant into <logdir>/<experiment>/costs.png (figures.cost_curves); for a softmax network, its
    confusion matrix into confusion.png (write_confusion); the results page results.md (the claim,
    the measured outcome, the tables and figures of the config's study, the diagnosis). save: a
    path: each implementation's trained model is written there as a model file (runner.save_paths
    names them); resume: a scratch.model_file.Model whose run every implementation continues;
    command: the command line results.md shows. Returns the VariantRuns (VariantRuns.agree says
    whether its implementations agree)."""
    return experiment_job(cfg, impls, logdir, device, data_paths, save, resume, command)[0]


def study_job(cfg, logdir="logs", impls=None, device=None, command=None):
    """An experiment whose study does its own work (run_study, experiments/studies): clear
    <logdir>/<experiment>, run it there, write results.md, print the outcome. Returns the Report
    (Report.agree: False when the implementations it compared disagree)."""
    study = studies.load(cfg.study)
    run_dir = runner.experiment_dir(logdir, cfg)
    runner.clear_experiment(logdir, cfg)
    os.makedirs(run_dir, exist_ok=True)
    start = time.perf_counter()
    report = study.run_study(cfg, run_dir, list(impls or cfg.impls), device)
    path = report_mod.write_results(report, run_dir, command or f"python -m experiments {cfg.name}")
    lines = [f"{cfg.name}: {cfg.description}"]
    for table in report.tables:
        lines += ["", report_mod.markdown_table(table)]
    lines += [f"parity: {v}" for v in report.verdicts]
    lines += ["", f"total {time.perf_counter() - start:.1f} s"] + summary_lines(report, path)
    lines += [f"figures: {', '.join(os.path.join(run_dir, f) for f, _ in report.figures)}"] if report.figures else []
    print("\n".join(lines))
    return report
