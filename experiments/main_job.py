"""The main job and its report: train, then print one table per experiment.

`python -m experiments` runs the "flower" config: [2, 4, 1] tanh/sigmoid on the planar flower,
trained from the same θ_0 by scratch (NumPy), the plain PyTorch loop and Lightning, in float64.
The report gives, per implementation, J(θ_N) (the training cost of the final parameters, L2
included), train/dev/test accuracy and the training wall time; then the largest difference
between the final parameters of any two implementations, and how to open TensorBoard.
"""
import itertools
import os
import shlex
import time

import numpy as np

from . import runner


def max_param_difference(a, b):
    """max over l and entries of |θ_a - θ_b| (W[l] and b[l])."""
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def parity_verdict(results):
    """One line: do the implementations agree, by DESIGN's trajectory tolerance (rtol 1e-8 on the
    final cost; the parameters to the same rtol, atol 1e-12)? results: RunResults of one variant."""
    from torch_ref.parity import TRAJECTORY_RTOL              # loaded only when several impls ran
    ref, bad = results[0], []
    for r in results[1:]:
        if not np.isclose(r.final_cost, ref.final_cost, rtol=TRAJECTORY_RTOL, atol=0):
            bad.append(f"{r.impl}'s final cost")
        if not all(np.allclose(r.params[k], ref.params[k], rtol=TRAJECTORY_RTOL, atol=1e-12) for k in ref.params):
            bad.append(f"{r.impl}'s parameters")
    names = ", ".join(r.impl for r in results)
    if bad:
        return f"parity: DIFFER from {ref.impl}: {', '.join(bad)} (tolerance rtol {TRAJECTORY_RTOL:g})"
    return f"parity: {names} agree (final cost and every parameter within rtol {TRAJECTORY_RTOL:g})"


def _describe(cfg, sizes):
    """One line: network, data sizes, steps, learning rate, regularization, θ_0."""
    net = f"{list(cfg.layer_dims)} {'/'.join(cfg.activations)}"
    extra = "".join(f", {k} {v}" for k, v in (("lambd", cfg.lambd), ("keep_probs", cfg.keep_probs)) if v)
    split = " / ".join(f"{k} {n}" for k, n in sizes.items() if n)
    return (f"{net} on {cfg.dataset} ({split}); {cfg.num_iterations} full-batch steps, learning_rate "
            f"{cfg.learning_rate}{extra}, float64; same θ_0 for all (init {cfg.init}, seed {cfg.seed})")


def _acc(value):
    return f"{value:9.3f}" if value is not None else f"{'-':>9}"


def format_report(cfg, runs, logdir, total_s=None):
    """The printed summary of runner.run's VariantRuns for config cfg (total_s: the whole run's time)."""
    lines = [f"{cfg.name}: {cfg.description}"]
    sweep = any(r.variant for r in runs)
    head = f"{'variant':12} " if sweep else ""
    header = f"{head}{'impl':10} {'final cost J(θ_N)':>19} {'train acc':>9} {'dev acc':>9} {'test acc':>9} {'wall s':>7}"
    lines.append("  " + _describe(cfg if sweep else runs[0].config, runs[0].sizes))
    if sweep:
        changes = "; ".join(f"{v.name}: " + ", ".join(f"{k} {val!r}" for k, val in v.overrides.items())
                            for v in cfg.variants)
        lines.append(f"  variants (each changes only this): {changes}")
    lines += ["", header]
    for vr in runs:
        for r in vr.results:
            name = f"{vr.variant:12} " if sweep else ""
            lines.append(f"{name}{r.impl:10} {r.final_cost:19.15f} {_acc(r.accuracy['train'])} "
                         f"{_acc(r.accuracy['dev'])} {_acc(r.accuracy['test'])} {r.wall_s:7.2f}")
        pairs = list(itertools.combinations(vr.results, 2))
        if pairs and not sweep:
            diffs = ", ".join(f"{b.impl} vs {a.impl} {max_param_difference(b.params, a.params):.1e}" for a, b in pairs)
            lines += ["", f"largest parameter difference |θ_a - θ_b| after training: {diffs}",
                      parity_verdict(vr.results)]
        elif pairs:
            worst = max(max_param_difference(a.params, b.params) for a, b in pairs)
            lines.append(f"{'':12} largest |θ_a - θ_b| between implementations: {worst:.1e}")
    impls = sorted({r.impl for vr in runs for r in vr.results}, key=("scratch", "torch", "lightning").index)
    where = os.path.join(logdir, cfg.name, "<variant>" if sweep else "", "{" + ",".join(impls) + "}")
    if total_s is not None:
        lines += ["", f"total {total_s:.1f} s (loading torch and Lightning and writing TensorBoard included)"]
    lines += ["", f"TensorBoard runs: {where.replace(os.sep * 2, os.sep)}. Open them with:",
              f"    tensorboard --logdir {shlex.quote(logdir)}"]
    return "\n".join(lines)


def main_job(cfg, impls=None, logdir="logs", device=None, data_paths=None):
    """Run cfg (runner.run) and print its report; returns the VariantRuns."""
    start = time.perf_counter()
    runs = runner.run(cfg, impls=impls, logdir=logdir, device=device, data_paths=data_paths)
    print(format_report(cfg, runs, logdir, total_s=time.perf_counter() - start))
    return runs
