"""Figures of a sweep, written next to its TensorBoard runs as PNG files (matplotlib, Agg backend).

cost_curves: the training cost J_i of every variant on one axis, from the reference implementation
(the first that ran, normally scratch: the others agree with it, see experiments.compare) at the
logged update steps. The same numbers are in TensorBoard's train/cost; the figure puts every
variant side by side in one file that needs no server. With a target cost, a dashed line at the
target and, in the legend, the first logged step that reached it.
confusion_figure: a softmax network's confusion matrix (rows: true class, columns: predicted).
boundary_grid: decision boundaries of several 2-D models side by side, one panel each.
"""
import os
import textwrap

FIGURE_NAME = "costs.png"
CONFUSION_NAME = "confusion.png"


def steps_to_target(run, target):
    """The first logged step i whose training cost J_i <= target in RunResult `run`'s trajectory, or
    None when no logged step reached it (or nothing was recorded)."""
    if run.steps is None or not len(run.steps):
        return None
    reached = [int(step) for step, cost in zip(run.steps, run.costs) if cost <= target]
    return reached[0] if reached else None


def cost_figure(runs, title="", log_y=True, target=None):
    """A matplotlib Figure: the reference history of each VariantRuns in `runs` (runner.run's list),
    one line per variant (labelled with its name, or the implementation's without variants), J_i
    against the update step i. log_y: a logarithmic cost axis. With mini-batches each J_i is the
    cost of step i's batch, so the curves are noisy; the legend gives J(θ_N) on the training set.
    target: a cost to mark with a dashed line, each legend entry then naming the step it reached it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for vr in runs:
        ref = vr.results[0]
        if ref.steps is None or not len(ref.steps):
            continue
        label = f"{vr.variant or ref.impl} (J(θ_N) on the training set {ref.final_cost:.3g}"
        if target is not None:
            step = steps_to_target(ref, target)
            label += f"; J ≤ {target:g} at step {step})" if step is not None else f"; J > {target:g} throughout)"
        else:
            label += ")"
        ax.plot(ref.steps, ref.costs, linewidth=1.2, label=label)
    if target is not None:
        ax.axhline(target, color="k", linestyle="--", linewidth=0.8)
    if log_y:
        ax.set_yscale("log")
    impl = runs[0].results[0].impl if runs and runs[0].results else "reference"
    ax.set_xlabel("update step i")
    ax.set_ylabel(f"training cost J_i of step i ({impl})")
    ax.set_title("\n".join(textwrap.wrap(title, 95)), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cost_curves(runs, path, title="", log_y=True, target=None):
    """cost_figure(runs, title, log_y, target) written as a PNG file at `path` (directories made as
    needed). Returns path."""
    return save_png(cost_figure(runs, title, log_y, target), path)


def save_png(fig, path):
    """Write matplotlib Figure `fig` as a PNG file at `path` (directories made as needed), close it.
    Returns path."""
    import matplotlib.pyplot as plt
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def confusion_figure(matrix, title="", class_names=None):
    """A matplotlib Figure of a (C, C) confusion matrix: entry [k, j] (row k, column j) counts the
    examples of true class k predicted as class j, each cell labelled with its count; the diagonal
    holds the examples classified right. class_names: C tick labels (default 0..C-1)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    matrix = np.asarray(matrix)
    C = matrix.shape[0]
    names = [str(k) for k in range(C)] if class_names is None else [str(n) for n in class_names]
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * C, 1.0 + 0.5 * C), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    top = matrix.max() if matrix.size else 0
    for k in range(C):
        for j in range(C):
            ax.text(j, k, str(int(matrix[k, j])), ha="center", va="center", fontsize=8,
                    color="white" if matrix[k, j] > top / 2 else "black")
    ax.set_xticks(range(C), names)
    ax.set_yticks(range(C), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("\n".join(textwrap.wrap(title, 50)), fontsize=9)
    fig.tight_layout()
    return fig


def boundary_grid(panels, X, Y, title="", ncols=4):
    """A matplotlib Figure of decision boundaries side by side, one panel per (panel title,
    predict_proba) in `panels`, over the same 2-D examples X (2, m) with 0/1 labels Y (1, m):
    ŷ over a grid covering X, the 0.5 contour, the examples coloured by label (red y = 0, blue y = 1).
    predict_proba maps (2, k) course-layout points to (1, k) probabilities."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    n = len(panels)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    (x0, x1), (y0, y1) = [(row.min() - 0.5, row.max() + 0.5) for row in X[:2]]
    gx, gy = np.meshgrid(np.linspace(x0, x1, 150), np.linspace(y0, y1, 150))
    grid = np.vstack([gx.ravel(), gy.ravel()])
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.0 * nrows + 0.4), dpi=80, squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, (name, predict_proba) in zip(axes.ravel(), panels):
        proba = np.asarray(predict_proba(grid)).reshape(gx.shape)
        ax.contourf(gx, gy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.45)
        ax.contour(gx, gy, proba, levels=[0.5], colors="k", linewidths=1)
        for label, colour in ((0, "#b2182b"), (1, "#2166ac")):
            keep = Y.ravel() == label
            ax.scatter(X[0, keep], X[1, keep], c=colour, edgecolors="white", linewidths=0.4, s=10)
        ax.set_title("\n".join(textwrap.wrap(name, 40)), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle("\n".join(textwrap.wrap(title, 110)), fontsize=9)
    fig.tight_layout()
    return fig
