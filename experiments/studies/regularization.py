"""Regularization (F20, F22): the same overfitting network without regularization, with L2, with
dropout and with both; train-dev gaps, weight norms and decision boundaries
(experiments/configs/regularization.toml)."""
import os

from .. import figures
from ..report import Report, Table, results_table

NONE = "none"                # the unregularized variant: every other one is judged against it
# the unregularized net overfits when its train accuracy is at least this far above dev (5 points:
# ten dev examples of 200, well beyond one example's half point)
OVERFIT_GAP = 0.05


def weight_norm(params):
    """Σ_l ‖W[l]‖²_F: what L2 (F20) penalizes, λ/(2m) times this (the biases are not in it)."""
    return float(sum((params[k] ** 2).sum() for k in params if k.startswith("W")))


def measures(vr):
    """{"train", "dev", "gap" (train - dev accuracy), "weights" (Σ‖W[l]‖²_F), "cost" (J(θ_N))} of a
    variant's reference run."""
    r = vr.results[0]
    train, dev = r.accuracy["train"], r.accuracy["dev"]
    return {"train": train, "dev": dev, "gap": train - dev, "weights": weight_norm(r.params),
            "cost": float(r.final_cost)}


def regularizer(cfg):
    """How a variant's Config is regularized, in words: "λ = 0.7", "keep_prob 0.86", both, or "none"."""
    parts = ([f"λ = {cfg.lambd:g}"] if cfg.lambd else []) + \
            ([f"keep_prob {'/'.join(f'{k:g}' for k in cfg.keep_probs)}"] if cfg.keep_probs else [])
    return ", ".join(parts) or "no regularization"


def holds(m):
    """The claim, from the measures of each variant: the unregularized net overfits (gap >= OVERFIT_GAP),
    every regularized variant has a smaller gap, and every variant with L2 has smaller weights."""
    base = m[NONE]
    return bool(base["gap"] >= OVERFIT_GAP
                and all(v["gap"] < base["gap"] for k, v in m.items() if k != NONE)
                and all(v["weights"] < base["weights"] for k, v in m.items() if v["lambd"]))


def analyze(cfg, runs, run_dir):
    """The gap table, the decision boundary of every variant on the training set, and the verdict."""
    m = {vr.variant: {**measures(vr), "lambd": vr.config.lambd} for vr in runs}
    ref = runs[0].results[0].impl
    rows = [[vr.variant, regularizer(vr.config), m[vr.variant]["cost"], m[vr.variant]["train"],
             m[vr.variant]["dev"], m[vr.variant]["gap"], m[vr.variant]["weights"]] for vr in runs]
    table = Table(["variant", "regularization", "J(θ_N)", "train acc", "dev acc", "train - dev",
                   "Σ‖W[l]‖²_F"], rows, f"Train-dev gap and weights ({ref})")
    X, Y = runs[0].data.train
    panels = [(f"{vr.variant} ({regularizer(vr.config)}): train {m[vr.variant]['train']:.3f}, dev "
               f"{m[vr.variant]['dev']:.3f}, Σ‖W‖² {m[vr.variant]['weights']:.0f}", vr.proba()) for vr in runs]
    name = "boundaries.png"
    figures.save_png(figures.boundary_grid(panels, X, Y, title=f"{cfg.name}: decision boundary of θ_N ({ref}) "
                                           "over the training set"), os.path.join(run_dir, name))
    outcome = "; ".join(f"{k}: train {v['train']:.3f}, dev {v['dev']:.3f} (gap {v['gap']:+.3f}), "
                        f"Σ‖W‖² {v['weights']:.1f}" for k, v in m.items())
    notes = [f"The unregularized net counts as overfitting when its train accuracy exceeds dev by at least "
             f"{OVERFIT_GAP:g}; the claim holds when it does, every regularized variant's gap is smaller, and "
             "every variant with L2 ends with a smaller Σ‖W[l]‖²_F. Accuracies are of θ_N without dropout."]
    return Report(cfg.name, cfg.claim, outcome, holds(m) if NONE in m else None, [table, results_table(runs)],
                  [(name, "decision boundary of each variant's θ_N over the training set")], notes)
