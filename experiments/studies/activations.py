"""Activation functions (experiments/configs/activations.toml): hidden layers of sigmoid, tanh, relu,
leaky_relu and identity units on the flower, logistic regression as the baseline; the accuracies side
by side and the decision boundary of each, one panel per variant."""
import os

from .. import figures
from ..report import Report, Table, results_table
from .hidden import boundary_panel

FEW_POINTS = 0.03       # the identity net does no better than logistic regression + 3 accuracy points
WIDE_MARGIN = 0.20      # each nonlinear hidden layer beats logistic regression by at least 20 points
BOUNDARIES_NAME = "boundaries.png"


def hidden_activation(vcfg):
    """The hidden layer's activation, or None for logistic regression (no hidden layer)."""
    return vcfg.activations[0] if len(vcfg.layer_dims) > 2 else None


def analyze(cfg, runs, run_dir):
    """The table (activation, θ_0 rule, costs, accuracies), the grid of decision boundaries, and the
    verdict: the identity net's train accuracy at most FEW_POINTS above logistic regression's, every
    nonlinear one's at least WIDE_MARGIN above it."""
    ref = {hidden_activation(vr.config): vr.results[0] for vr in runs}
    rows = [[vr.variant, hidden_activation(vr.config) or "- (logistic regression)", vr.config.init,
             float(vr.results[0].costs[0]), float(vr.results[0].final_cost),
             *(vr.results[0].accuracy[k] for k in ("train", "dev", "test"))] for vr in runs]
    table = Table(["variant", "hidden activation", "θ_0", "J(θ_0)", "J(θ_N)", "train acc", "dev acc", "test acc"],
                  rows, f"{runs[0].config.num_iterations} steps at α = {cfg.learning_rate:g} "
                        f"({runs[0].results[0].impl}); θ_0: each variant's init (the config's rule)")
    X, Y = runs[0].data.train
    grid = figures.boundary_grid([boundary_panel(vr) for vr in runs], X, Y, ncols=3,
                                 title=f"{cfg.name}: decision boundary of θ_N per hidden activation, training set")
    figures.save_png(grid, os.path.join(run_dir, BOUNDARIES_NAME))
    figs = [(BOUNDARIES_NAME, "decision boundary of θ_N for each hidden activation (and logistic regression) on the "
                              "training set")]
    nonlinear = [a for a in ref if a not in (None, "identity")]
    if None not in ref or "identity" not in ref or not nonlinear:
        return Report(cfg.name, cfg.claim, "no logistic regression, identity or nonlinear variant: no verdict", None,
                      [table, results_table(runs)], figs)
    train = {a: r.accuracy["train"] for a, r in ref.items()}
    base = train[None]
    holds = train["identity"] <= base + FEW_POINTS and all(train[a] >= base + WIDE_MARGIN for a in nonlinear)
    outcome = (f"train accuracy: logistic regression {base:.3f}, identity {train['identity']:.3f} (J(θ_N) "
               f"{ref[None].final_cost:.4f} and {ref['identity'].final_cost:.4f}); "
               + ", ".join(f"{a} {train[a]:.3f}" for a in nonlinear))
    return Report(cfg.name, cfg.claim, outcome, holds, [table, results_table(runs)], figs)
