"""Logistic regression as a one-neuron network (F05-F13), at the course's three learning rates
(experiments/configs/logistic.toml).

Two things are measured. The learning rate: J(θ_N) after the same number of iterations per rate, and
how far each lowered the cost from J(θ_0). The equivalence: the course's own loop, scratch.logistic's
optimize (w (n_x, 1), b a number; propagate and update, J recorded every 100 iterations), run from the
same θ_0 with the same rate and iterations, against the [n_x, 1] sigmoid network that runner trained:
w = W1ᵀ, b = b1 and the recorded costs agree within DESIGN's float64 tolerance (torch_ref.parity.F64).
"""
import os

import numpy as np

from scratch.initializers import initialize_parameters
from scratch.logistic import optimize

from .. import figures
from ..config import IMAGE_SHAPES
from ..report import Report, Table, results_table
from . import args, majority

DEFAULTS = {"with_data": None}     # with_data: the config keys for --data (experiments.cli.with_data reads it)
COURSE_EVERY = 100                 # scratch.logistic.optimize records J at i = 0, 100, 200, ...
SMALL_RATE_SHARE = 0.5             # the smallest rate lowers J by less than half of what the largest does
WEIGHTS_NAME = "weights.png"


def is_logistic(vcfg):
    """Whether a variant's network is logistic regression trained as optimize trains it: one sigmoid
    unit, full-batch gradient descent, no L2, no dropout, no schedule."""
    return (len(vcfg.layer_dims) == 2 and vcfg.activations[-1] == "sigmoid" and vcfg.optimizer == "gd"
            and vcfg.mini_batch_size is None and vcfg.lambd == 0 and not vcfg.keep_probs
            and vcfg.lr_schedule is None)


def course_loop(vr):
    """The course's optimize on the variant's training set from the network's θ_0 (w = W1ᵀ, b = b1,
    drawn as runner.run draws it), with its rate and iterations. Returns (w (n_x, 1), b, costs)."""
    vcfg = vr.config
    seed = vcfg.seed if vcfg.init_seed is None else vcfg.init_seed
    theta0 = initialize_parameters(list(vcfg.layer_dims), vcfg.init, rng=seed, scale=vcfg.scale)
    params, _, costs = optimize(theta0["W1"].T.copy(), float(theta0["b1"][0, 0]), *vr.data.train,
                                vcfg.num_iterations, vcfg.learning_rate)
    return params["w"], params["b"], np.array(costs)


def loop_vs_network(vr):
    """{"w", "b", "J"}: the largest |difference| of the course's loop from the network (reference run)
    in w against W1ᵀ, b against b1, and J at the iterations both recorded (multiples of 100 that are
    logged steps); "compared": how many costs; "ok": all within DESIGN's float64 tolerance."""
    from torch_ref.parity import F64                # float64 forward/gradients: rtol 1e-10, atol 1e-12
    ref = vr.results[0]
    w, b, costs = course_loop(vr)
    net_w, net_b = ref.params["W1"].T, float(ref.params["b1"][0, 0])
    logged = {int(s): float(c) for s, c in zip(ref.steps, ref.costs)}
    both = [(logged[i * COURSE_EVERY], c) for i, c in enumerate(costs) if i * COURSE_EVERY in logged]
    net_J, loop_J = (np.array([p[k] for p in both]) for k in (0, 1))

    def close(a, gold):
        return bool(np.allclose(a, gold, rtol=F64.rtol, atol=F64.atol))

    def diff(a, gold):
        return float(np.max(np.abs(a - gold), initial=0.0))
    return {"w": diff(w, net_w), "b": abs(b - net_b), "J": diff(loop_J, net_J), "compared": len(both),
            "ok": close(w, net_w) and close(b, net_b) and close(loop_J, net_J), "tol": F64}


def weights_figure(runs, shape, title):
    """A Figure of each rate's w (W1 of the reference run) as an image of the input's shape, a
    colour image summed over its channels: blue pushes towards y = 1, red towards y = 0."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(runs), figsize=(2.6 * len(runs), 2.9), dpi=80, squeeze=False)
    for ax, vr in zip(axes.ravel(), runs):
        image = vr.results[0].params["W1"].reshape(shape)
        image = image.sum(axis=2) if image.ndim == 3 else image
        top = float(np.max(np.abs(image))) or 1.0
        ax.imshow(image, cmap="RdBu", vmin=-top, vmax=top)
        ax.set_title(f"{vr.variant}: max |w| {top:.2g}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def rate_rows(runs):
    """One row per variant: α, J(θ_0), J(θ_N), the drop, the accuracies (reference run)."""
    rows = []
    for vr in runs:
        r = vr.results[0]
        J0 = float(r.costs[0]) if r.costs is not None and len(r.costs) else None
        rows.append([vr.variant, f"{vr.config.learning_rate:g}", J0, float(r.final_cost),
                     None if J0 is None else J0 - float(r.final_cost),
                     r.accuracy["train"], r.accuracy["dev"], r.accuracy["test"]])
    return rows


def rate_verdict(rows, num_iterations):
    """(holds, words): J(θ_N) after num_iterations falls as α grows, and the smallest α lowers J by less than
    SMALL_RATE_SHARE of what the largest does. holds None with fewer than two distinct rates."""
    by_rate = sorted(rows, key=lambda row: float(row[1]))
    if len({row[1] for row in rows}) < 2 or any(row[4] is None for row in rows):
        return None, "fewer than two learning rates: no verdict on the rate"
    finals = [row[3] for row in by_rate]
    ordered = all(a > b for a, b in zip(finals, finals[1:]))
    small, large = by_rate[0], by_rate[-1]
    holds = ordered and small[4] < SMALL_RATE_SHARE * large[4]
    words = (f"in {num_iterations} iterations J falls from {large[2]:.3f} to "
             + ", ".join(f"{row[3]:.3f} at α = {row[1]}" for row in reversed(by_rate))
             + f" (the smallest rate lowers it by {small[4]:.3f}, the largest by {large[4]:.3f})")
    return holds, words


def analyze(cfg, runs, run_dir):
    """The rate table, the loop-versus-network table, the weight images (image data sets) and the
    verdict: the rate claim (rate_verdict) and the loop equal to the network for every variant."""
    args(cfg, DEFAULTS)
    rows = rate_rows(runs)
    base = majority(runs[0].data.train[1])
    rates = Table(["variant", "α", "J(θ_0)", "J(θ_N)", "J(θ_0) - J(θ_N)", "train acc", "dev acc", "test acc"],
                  rows, f"{runs[0].config.num_iterations} iterations from θ_0 (init {cfg.init}), "
                        f"{runs[0].results[0].impl}; predicting the majority label everywhere scores {base:.3f} on "
                        "the training set")
    loops = [(vr, loop_vs_network(vr)) for vr in runs if is_logistic(vr.config)]
    loop_rows = [[vr.variant, f"{vr.config.learning_rate:g}", d["compared"], *(f"{d[k]:.1e}" for k in "wbJ"),
                  d["ok"]] for vr, d in loops]
    tol = loops[0][1]["tol"] if loops else None
    loop_table = Table(["variant", "α", "costs compared", "max |w - W1ᵀ|", "|b - b1|", "max |J_loop - J_net|",
                        "within tolerance"], loop_rows,
                       "The course's propagate/optimize loop (scratch.logistic) against the one-neuron network"
                       + (f" (float64 tolerance rtol {tol.rtol:g}, atol {tol.atol:g})" if tol else ""))
    holds, words = rate_verdict(rows, runs[0].config.num_iterations)
    same = bool(loops) and all(d["ok"] for _, d in loops)
    worst = max((max(d["w"], d["b"], d["J"]) for _, d in loops), default=None)
    outcome = words + (f"; the course's loop equals the one-neuron network in every variant (largest "
                       f"difference {worst:.1e})" if same else
                       "; the course's loop DIFFERS from the network (see the table)" if loops else
                       "; no variant is plain logistic regression: the loop was not compared")
    holds = None if holds is None else (holds and same)
    figs = []
    shape = IMAGE_SHAPES.get(cfg.dataset)
    if shape is not None and all(len(vr.config.layer_dims) == 2 for vr in runs):
        figures.save_png(weights_figure(runs, shape, f"{cfg.name}: w of each learning rate as an image "
                                                     "(blue: towards y = 1)"), os.path.join(run_dir, WEIGHTS_NAME))
        figs.append((WEIGHTS_NAME, "the learned w of each learning rate, one weight per pixel (blue: towards "
                                   "y = 1, red: towards y = 0); the larger the rate, the further w moved from 0"))
    return Report(cfg.name, cfg.claim, outcome, holds, [rates, loop_table, results_table(runs)], figs)
