"""Initialization (F18, F19): the same network, data and learning rate from five θ_0
(experiments/configs/init.toml).

Per variant: the std of W[l]'s entries (scratch.initializers.INIT_STD), J(θ_0), J(θ_N), the
accuracies, and the symmetry check of F19 on θ_N, unit_spread: how far the hidden units of a layer
are from being identical. From zeros every hidden unit of a layer receives the same gradient at
every step, so they stay copies of each other (spread 0); any random θ_0 breaks that.
"""
import os

import numpy as np

from scratch.initializers import INIT_STD

from .. import figures
from ..report import Report, Table, results_table
from . import majority

IDENTICAL_ATOL = 1e-12     # DESIGN's float64 atol: units "identical" up to rounding of values near 0
BETTER_BY = 0.05           # He beats large random weights by at least 5 accuracy points
CHANCE_MARGIN = 0.05       # zeros stays within 5 points of predicting the majority label everywhere
BOUNDARIES_NAME = "boundaries.png"


def unit_spread(params, L):
    """(max over hidden layers l < L and rows i of |W[l][i] - W[l][0]|, the same for b[l]): 0 when every
    hidden unit of each layer has the same incoming weights and bias (F19)."""
    def spread(key):
        return max(float(np.max(np.abs(params[f"{key}{l}"] - params[f"{key}{l}"][:1]))) for l in range(1, L))
    return spread("W"), spread("b")


def std_label(vcfg):
    """The std of W1's entries at θ_0, e.g. "0", "10", "0.707" (Xavier, He: per layer, W1's shown)."""
    return f"{INIT_STD(vcfg.init, vcfg.layer_dims[0], vcfg.layer_dims[1], scale=vcfg.scale):.3g}"


def pick(runs, init, key=None):
    """The first variant with this init (of those, the one with the largest key(config)), or None."""
    found = [vr for vr in runs if vr.config.init == init]
    return max(found, key=lambda vr: key(vr.config)) if found and key else (found[0] if found else None)


def analyze(cfg, runs, run_dir):
    """The table (θ_0's std, costs, accuracies, unit spread of θ_N) and the decision boundaries; the
    claim holds when zeros' hidden units stayed identical and its accuracy near the majority label's,
    every other θ_0's units differ, and He's train accuracy beats large random's by BETTER_BY."""
    L = len(runs[0].config.layer_dims) - 1
    rows, spreads = [], {}
    for vr in runs:
        r = vr.results[0]
        spreads[vr.variant] = unit_spread(r.params, len(vr.config.layer_dims) - 1)
        rows.append([vr.variant, vr.config.init, std_label(vr.config), float(r.costs[0]), float(r.final_cost),
                     r.accuracy["train"], r.accuracy["dev"], r.accuracy["test"],
                     *(f"{s:.1e}" for s in spreads[vr.variant])])
    table = Table(["variant", "init", "std of W1 at θ_0", "J(θ_0)", "J(θ_N)", "train acc", "dev acc", "test acc",
                   "max |W[l][i] - W[l][0]|", "max |b[l][i] - b[l][0]|"], rows,
                  f"{runs[0].config.num_iterations} steps at α = {runs[0].config.learning_rate:g} "
                  f"({runs[0].results[0].impl}); the last two columns: hidden layers l < {L}, units i (F19)")
    panels = [(f"{vr.variant}: train accuracy {vr.results[0].accuracy['train']:.3f}", vr.proba()) for vr in runs]
    X, Y = runs[0].data.train
    figs = []
    if X.shape[0] == 2:
        figures.save_png(figures.boundary_grid(panels, X, Y, title=f"{cfg.name}: decision boundary of θ_N per "
                                               "initialization, training set", ncols=len(panels)),
                         os.path.join(run_dir, BOUNDARIES_NAME))
        figs.append((BOUNDARIES_NAME, "decision boundary of θ_N for each initialization on the training set"))
    zeros, large, he = pick(runs, "zeros"), pick(runs, "random", key=lambda c: c.scale), pick(runs, "he")
    if not (zeros and large and he):
        return Report(cfg.name, cfg.claim, "the variants zeros, random and he are not all there: no verdict",
                      None, [table, results_table(runs)], figs)
    acc = {name: vr.results[0].accuracy["train"] for name, vr in (("zeros", zeros), ("large", large), ("he", he))}
    base = majority(zeros.data.train[1])
    symmetric = max(spreads[zeros.variant]) <= IDENTICAL_ATOL
    broken = all(max(spreads[vr.variant]) > IDENTICAL_ATOL for vr in runs if vr.config.init != "zeros")
    holds = (symmetric and broken and acc["zeros"] <= base + CHANCE_MARGIN
             and acc["he"] >= acc["large"] + BETTER_BY)
    others = ", ".join(f"{vr.variant} {vr.results[0].accuracy['train']:.3f} (spread "
                       f"{max(spreads[vr.variant]):.1e})" for vr in runs if vr.config.init != "zeros")
    outcome = (f"train accuracy: {zeros.variant} {acc['zeros']:.3f} (the majority label scores {base:.3f}), its "
               f"hidden units {'all identical' if symmetric else 'NOT identical'} (max spread "
               f"{max(spreads[zeros.variant]):.1e}); {others}")
    notes = [f"- {vr.variant}: its hidden units differ (spread {max(spreads[vr.variant]):.1e}), yet its train "
             f"accuracy {vr.results[0].accuracy['train']:.3f} is near the majority label's: a θ_0 this small makes ŷ "
             f"almost constant through {L} layers, and the gradients are too small to leave that plateau in "
             f"{vr.config.num_iterations} steps."
             for vr in runs if vr.config.init != "zeros" and vr.results[0].accuracy["train"] <= base + CHANCE_MARGIN
             and vr.config.init == "random" and vr.config.scale < 1]
    return Report(cfg.name, cfg.claim, outcome, holds, [table, results_table(runs)], figs, notes)
