"""Input normalization (F23): the same model on raw and on standardized inputs at one learning rate,
steps to the target cost, and the shape of the cost bowl (experiments/configs/normalization.toml).

The bowl: a linear model's squared error J(w) = (1/2m) Σ (wᵀx - y)² has the Hessian (1/m) X Xᵀ; its
eigenvalues are the curvatures of J along its axes. Gradient descent is stable for α < 2/λ_max and
closes the gap along an axis of curvature λ by the factor (1 - αλ) a step, so an elongated bowl
(large κ = λ_max/λ_min) crawls along its flat axes at any stable α. Standardizing puts every feature
at mean 0 and variance 1 and makes the bowl round (κ near 1 for independent features). A softmax
regression's cross-entropy has the same Hessian weighted by the predicted probabilities.
"""
import os

import numpy as np

from scratch.data import standardize

from .. import figures
from ..report import Report, Table, results_table
from . import args

DEFAULTS = {"scales": [1.0, 20.0],   # the toy model's two features: standard deviations 1 and 20
            "m": 200,                # its examples
            "steps": 30,             # gradient-descent steps drawn on each bowl
            "rate": 1.6}             # each toy bowl's α = rate / λ_max (plain GD is stable below 2 / λ_max)
# the toy run counts as converged when J - J* <= this fraction of J(0) - J*
CONVERGED = 1e-3
# eigenvalues below this fraction of the largest are zero: constant pixels (always 0) give exact zeros
ZERO_EIGENVALUE = 1e-12


def bowl_shape(X):
    """(λ_max, λ_min, κ) of (1/m) X̃ X̃ᵀ, X̃ = X (n, m) with a row of ones (the bias): the Hessian of a
    linear model's squared error, the shape of its cost bowl. λ_min is the smallest non-zero eigenvalue
    (a constant-zero feature adds an exact zero: a direction J does not depend on)."""
    Xb = np.vstack([X, np.ones((1, X.shape[1]))])
    eig = np.linalg.eigvalsh(Xb @ Xb.T / X.shape[1])
    top = float(eig.max())
    low = float(eig[eig > ZERO_EIGENVALUE * top].min())
    return top, low, top / low


def toy_data(scales, m, seed):
    """Two independent features x_k ~ N(0, scales[k]²) (X (2, m)) and y = Σ_k x_k / scales[k] + 0.1·noise
    (1, m): the best weights are w* = 1/scales on the raw features, about (1, 1) on standardized ones."""
    rng = np.random.default_rng(seed)
    s = np.asarray(scales, dtype=float).reshape(-1, 1)
    X = s * rng.standard_normal((len(scales), m))
    Y = (X / s).sum(axis=0, keepdims=True) + 0.1 * rng.standard_normal((1, m))
    return X, Y


def toy_cost(W, X, Y):
    """J(w) = (1/2m) Σ (wᵀx - y)² for each row w of W (k, 2), no bias. Returns (k,)."""
    R = W @ X - Y
    return (R ** 2).sum(axis=1) / (2 * X.shape[1])


def toy_descent(X, Y, steps, rate):
    """Gradient descent on toy_cost from w = 0 at α = rate / λ_max((1/m) X Xᵀ): dJ/dw = (1/m) X (wᵀX - y)ᵀ.
    Returns (path (steps + 1, 2), α, w*, the steps until J - J* <= CONVERGED · (J(0) - J*))."""
    m = X.shape[1]
    H = X @ X.T / m
    alpha = rate / float(np.linalg.eigvalsh(H).max())
    w_star = np.linalg.solve(H, X @ Y.T / m).ravel()
    J_star, J_0 = toy_cost(w_star[None], X, Y)[0], toy_cost(np.zeros((1, 2)), X, Y)[0]
    w, path, converged = np.zeros(2), [np.zeros(2)], None
    for k in range(1, 100_000):
        w = w - alpha * (X @ (w @ X - Y).T / m).ravel()
        if k <= steps:
            path.append(w)
        if converged is None and toy_cost(w[None], X, Y)[0] - J_star <= CONVERGED * (J_0 - J_star):
            converged = k
        if converged is not None and k >= steps:
            break
    return np.array(path), alpha, w_star, converged


def toy_bowls(a, seed):
    """{"raw", "standardized"}: (X, Y, path, α, w*, steps to converge, κ) of the toy model."""
    X, Y = toy_data(a["scales"], a["m"], seed)
    Xs, _ = standardize(X)
    out = {}
    for name, data in (("raw", X), ("standardized", Xs)):
        path, alpha, w_star, converged = toy_descent(data, Y, a["steps"], a["rate"])
        eig = np.linalg.eigvalsh(data @ data.T / a["m"])
        out[name] = (data, Y, path, alpha, w_star, converged, float(eig.max() / eig.min()))
    return out


def toy_figure(bowls, a):
    """The cost contours of the toy model before and after standardization, each with its gradient-descent
    path from w = 0, on the same window and equal axes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), dpi=90)
    g = np.linspace(-0.6, 1.6, 220)
    G1, G2 = np.meshgrid(g, g)
    W = np.c_[G1.ravel(), G2.ravel()]
    for ax, (name, (X, Y, path, alpha, w_star, converged, kappa)) in zip(axes, bowls.items()):
        J = toy_cost(W, X, Y).reshape(G1.shape)
        J_star, J_0 = toy_cost(w_star[None], X, Y)[0], toy_cost(np.zeros((1, 2)), X, Y)[0]
        levels = J_star + (J_0 - J_star) * np.geomspace(1e-3, 4, 14)
        ax.contour(G1, G2, J, levels=levels, cmap="viridis", linewidths=0.8)
        ax.plot(path[:, 0], path[:, 1], "o-", color="#d62728", markersize=3, linewidth=1,
                label=f"{len(path) - 1} steps of gradient descent, α = {alpha:.3g}")
        ax.plot(*w_star, "k*", markersize=10, label=f"minimum w* = ({w_star[0]:.2f}, {w_star[1]:.2f})")
        scales = ", ".join(f"{s:.3g}" for s in X.std(axis=1))
        ax.set(title=f"{name} features (std {scales}): κ = {kappa:.3g}; J - J* ≤ {CONVERGED:g}·(J(0) - J*) "
                     f"after {converged} steps", xlabel="w1", ylabel="w2", aspect="equal",
               xlim=(g[0], g[-1]), ylim=(g[0], g[-1]))
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"J(w1, w2) = (1/2m) Σ (w1 x1 + w2 x2 - y)², m = {a['m']}, no bias; each bowl at "
                 f"α = {a['rate']:g} / λ_max (its largest curvature)", fontsize=9)
    fig.tight_layout()
    return fig


def faster(raw, standardized):
    """The claim, from the first logged steps at the target cost (None: never reached): the standardized
    run reached it, and before the raw one (or the raw one never did)."""
    return standardized is not None and (raw is None or raw > standardized)


def analyze(cfg, runs, run_dir):
    """Steps to cfg.target_cost per variant, the bowl shape of each variant's inputs, the toy contours."""
    a = args(cfg, DEFAULTS)
    ref = runs[0].results[0].impl
    reached, rows = {}, []
    for vr in runs:
        r = vr.results[0]
        reached[vr.variant] = figures.steps_to_target(r, cfg.target_cost)
        top, low, kappa = bowl_shape(vr.data.train[0])
        step = reached[vr.variant]
        rows.append([vr.variant, vr.config.standardize, vr.config.learning_rate,
                     step if step is not None else f"not in {vr.config.num_iterations}", float(r.final_cost),
                     r.accuracy["train"], r.accuracy["dev"], top, low, kappa])
    table = Table(["variant", "standardize", "α", f"first logged step with J_i ≤ {cfg.target_cost:g}", "J(θ_N)",
                   "train acc", "dev acc", "λ_max", "λ_min (non-zero)", "κ = λ_max/λ_min"], rows,
                  f"Steps to the target cost ({ref}) and the bowl of (1/m) X̃X̃ᵀ of each variant's training inputs")
    bowls = toy_bowls(a, cfg.seed)
    name = "contours.png"
    figures.save_png(toy_figure(bowls, a), os.path.join(run_dir, name))
    raw = [vr.variant for vr in runs if not vr.config.standardize]
    std = [vr.variant for vr in runs if vr.config.standardize]
    holds = faster(reached[raw[0]], reached[std[0]]) if raw and std else None
    show = lambda s: f"step {s}" if s is not None else "never"                    # noqa: E731
    outcome = (f"J_i ≤ {cfg.target_cost:g} at α = {cfg.learning_rate:g}: "
               + ", ".join(f"{v} {show(s)}" for v, s in reached.items())
               + "; κ of the inputs' bowl " + ", ".join(f"{row[0]} {row[-1]:.3g}" for row in rows)
               + f"; toy bowl κ {bowls['raw'][-1]:.3g} raw, {bowls['standardized'][-1]:.3g} standardized")
    caption = ("cost contours of a two-weight squared error on features of std "
               f"{' and '.join(f'{s:g}' for s in a['scales'])}: elongated on the raw features, round on the "
               "standardized ones, with gradient descent from w = 0")
    notes = [f"- Both variants train at α = {cfg.learning_rate:g} from the same θ_0. κ: the ratio of the largest to the "
             "smallest non-zero eigenvalue of (1/m) X̃X̃ᵀ (X̃: the training inputs with a row of ones), the "
             "Hessian of a linear model's squared error: how elongated the bowl is.",
             f"- The toy bowls each run at α = {a['rate']:g}/λ_max, the same fraction of their own stability limit "
             "2/λ_max: standardizing shrank the large feature, so the round bowl's λ_max is smaller and its α larger."]
    return Report(cfg.name, cfg.claim, outcome, holds, [table, results_table(runs)], [(name, caption)], notes)
