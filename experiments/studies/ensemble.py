"""Ensembles (F28): the variants are the members, each trained on the same data from its own θ_0
(init_seed); the ensemble averages their predicted probabilities on the dev set,

    p = (1/k) Σ_k ŷ_k        (scratch.diagnostics.ensemble_predict_proba),

and is compared with each member by dev cost (the course's cross-entropy, scratch.losses.compute_cost)
and dev accuracy (p > 0.5). experiments/configs/ensemble.toml.
"""
import os

import numpy as np

from scratch.diagnostics import ensemble_predict_proba
from scratch.losses import compute_cost

from .. import figures
from ..report import Report, Table

FIGURE = "boundaries.png"


def dev_metrics(p, Y):
    """(dev cost J = compute_cost(p, Y), dev accuracy: mean of (p > 0.5) == Y) of probabilities p (1, m)."""
    return compute_cost(p, Y), float(np.mean((p > 0.5) == Y))


def check_members(cfg, runs):
    """The members must be sigmoid networks (ŷ is (1, m)) evaluated on one and the same dev set.
    Returns that dev set (X_dev, Y_dev)."""
    if cfg.output != "sigmoid":
        raise ValueError(f"{cfg.name}: the ensemble averages (1, m) probabilities of a sigmoid output; "
                         f"got activations[-1] = {cfg.output!r}")
    X, Y = runs[0].data.dev
    for vr in runs[1:]:
        if not (np.array_equal(vr.data.dev[0], X) and np.array_equal(vr.data.dev[1], Y)):
            raise ValueError(f"{cfg.name}: member {vr.variant!r} has another dev set than {runs[0].variant!r}; "
                             "members differ only in θ_0 (init_seed), not in data (seed, m, noise, ratios)")
    return X, Y


def ensemble(runs, X, impl_index=0):
    """(ŷ_k of each member on X, their average p): each member's run by implementation impl_index."""
    members = [vr.proba(vr.results[impl_index])(X) for vr in runs]
    return members, ensemble_predict_proba(members)


def boundary_figure(cfg, runs, X, Y, rows, ens):
    """Each member's decision boundary and the ensemble's, over the dev set."""
    panels = [(f"{vr.variant} (init_seed {vr.config.init_seed}): dev acc {row[3]:.3f}, J {row[4]:.3f}", vr.proba())
              for vr, row in zip(runs, rows)]
    panels.append((f"ensemble of {len(runs)} (mean ŷ): dev acc {ens[1]:.3f}, J {ens[0]:.3f}",
                   lambda G: ensemble_predict_proba([vr.proba()(G) for vr in runs])))
    return figures.boundary_grid(panels, X, Y, title=f"{cfg.name}: ŷ of each member and of their average, "
                                 "dev set", ncols=3)


def analyze(cfg, runs, run_dir):
    """Dev cost and accuracy of every member and of the ensemble (reference implementation; with
    several implementations also each one's ensemble); holds when the ensemble's dev cost is below
    the members' mean (strictly: the members differ). The accuracy is stated, not judged: convexity
    says nothing about it."""
    X, Y = check_members(cfg, runs)
    members, p = ensemble(runs, X)
    ens = dev_metrics(p, Y)
    rows = [[vr.variant, vr.config.init_seed, vr.results[0].accuracy["train"], *dev_metrics(q, Y)[::-1]]
            for vr, q in zip(runs, members)]
    costs, accs = np.array([r[4] for r in rows]), np.array([r[3] for r in rows])
    split = np.mean([len(set(col)) > 1 for col in (np.stack(members)[:, 0, :] > 0.5).T])
    table = Table(["model", "init_seed", "train acc", "dev acc", "dev cost J"],
                  rows + [["mean of the members", "-", float(np.mean([r[2] for r in rows])), float(accs.mean()),
                           float(costs.mean())],
                          [f"ensemble (mean ŷ of {len(runs)})", "-", None, ens[1], ens[0]]],
                  f"Members and ensemble on the dev set ({Y.shape[1]} examples; {runs[0].results[0].impl})")
    tables = [table]
    impls = [r.impl for r in runs[0].results]
    if len(impls) > 1:
        per_impl = [[impl, *dev_metrics(ensemble(runs, X, j)[1], Y)[::-1]] for j, impl in enumerate(impls)]
        tables.append(Table(["impl", "ensemble dev acc", "ensemble dev cost J"], per_impl,
                            "The ensemble of each implementation's members"))
    holds = bool(ens[0] < costs.mean())
    outcome = (f"ensemble of {len(runs)}: dev cost {ens[0]:.3f} against the members' mean {costs.mean():.3f} "
               f"(members {costs.min():.3f} to {costs.max():.3f}); dev accuracy {ens[1]:.3f} against the mean "
               f"{accs.mean():.3f} ({ens[1] - accs.mean():+.3f}; members {accs.min():.3f} to {accs.max():.3f}); "
               f"the members disagree on {split:.0%} of the dev examples")
    figures.save_png(boundary_figure(cfg, runs, X, Y, rows, ens), os.path.join(run_dir, FIGURE))
    notes = ["The dev cost of the mean ŷ is at most the mean of the members' dev costs whatever the members "
             "are: the cross-entropy -y log p - (1-y) log(1-p) is convex in p (Jensen), with equality only "
             "where the members agree. The accuracy has no such guarantee."]
    return Report(cfg.name, cfg.claim, outcome, holds, tables,
                  [(FIGURE, "decision boundary (ŷ = 0.5) of each member and of the ensemble, over the dev set")],
                  notes)
