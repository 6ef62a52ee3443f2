"""Hidden-layer size (experiments/configs/hidden.toml): logistic regression and n_h = 1 ... 50 tanh
units on the flower, the decision boundary of each, one panel per variant."""
import os

from .. import figures
from ..report import Report, Table, results_table

WIDE_MARGIN = 0.20            # a few hidden units beat logistic regression by at least 20 accuracy points
DEV_MARGIN = 0.02             # "not better on the dev set": at most 2 points above (1 or 2 dev examples)
HEADLINE_UNITS = 4            # the course's n_h = 4: about 90 % against logistic regression's 47 %
BOUNDARIES_NAME = "boundaries.png"


def hidden_units(vcfg):
    """n_h of a one-hidden-layer variant, 0 for logistic regression (layer_dims [n_x, 1])."""
    return vcfg.layer_dims[1] if len(vcfg.layer_dims) == 3 else 0 if len(vcfg.layer_dims) == 2 else None


def boundary_panel(vr):
    """(panel title with the train and dev accuracy, ŷ of θ_N) of a variant's reference run."""
    acc = vr.results[0].accuracy
    return f"{vr.variant}: train {acc['train']:.3f}, dev {acc['dev']:.3f}", vr.proba()


def analyze(cfg, runs, run_dir):
    """The table per variant (n_h, α, J(θ_N), accuracies), the grid of decision boundaries, and the
    verdict: n_h = HEADLINE_UNITS beats logistic regression's train accuracy by WIDE_MARGIN, and the
    widest net has a lower training cost than n_h = HEADLINE_UNITS but a dev accuracy no more than
    DEV_MARGIN above it."""
    ref = {vr.variant: vr.results[0] for vr in runs}
    rows = [[vr.variant, hidden_units(vr.config), f"{vr.config.learning_rate:g}", float(ref[vr.variant].final_cost),
             *(ref[vr.variant].accuracy[k] for k in ("train", "dev", "test"))] for vr in runs]
    table = Table(["variant", "n_h", "α", "J(θ_N)", "train acc", "dev acc", "test acc"], rows,
                  f"{runs[0].config.num_iterations} steps from the course's θ_0 (random × {cfg.scale:g}), "
                  f"{runs[0].results[0].impl}; n_h = 0 is logistic regression")
    X, Y = runs[0].data.train
    grid = figures.boundary_grid([boundary_panel(vr) for vr in runs], X, Y,
                                 title=f"{cfg.name}: decision boundary of θ_N per hidden-layer size, training set")
    figures.save_png(grid, os.path.join(run_dir, BOUNDARIES_NAME))
    figs = [(BOUNDARIES_NAME, "decision boundary of θ_N for each hidden-layer size (logistic regression: n_h = 0) "
                              "on the training set")]
    by_units = {hidden_units(vr.config): ref[vr.variant] for vr in runs}
    if 0 not in by_units or HEADLINE_UNITS not in by_units:
        return Report(cfg.name, cfg.claim, f"no logistic regression or no n_h = {HEADLINE_UNITS}: no verdict", None,
                      [table, results_table(runs)], figs)
    train = {n: r.accuracy["train"] for n, r in by_units.items() if n is not None}
    nets = sorted(n for n in train if n > 0)
    logistic, head, wide = by_units[0], by_units[HEADLINE_UNITS], by_units[nets[-1]]
    holds = (train[HEADLINE_UNITS] >= train[0] + WIDE_MARGIN and wide.final_cost < head.final_cost
             and wide.accuracy["dev"] <= head.accuracy["dev"] + DEV_MARGIN)
    outcome = (f"train accuracy: logistic regression {train[0]:.3f}, "
               + ", ".join(f"n_h = {n} {train[n]:.3f}" for n in nets)
               + f"; n_h = {nets[-1]} against n_h = {HEADLINE_UNITS}: J(θ_N) {wide.final_cost:.3f} against "
               f"{head.final_cost:.3f}, dev accuracy {wide.accuracy['dev']:.3f} against {head.accuracy['dev']:.3f} "
               f"(logistic regression's dev accuracy {logistic.accuracy['dev']:.3f})")
    return Report(cfg.name, cfg.claim, outcome, holds, [table, results_table(runs)], figs)
