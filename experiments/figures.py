"""Figures of a sweep, written next to its TensorBoard runs as PNG files (matplotlib, Agg backend).

cost_curves: the training cost J_i of every variant on one axis, from the reference implementation
(the first that ran, normally scratch: the others agree with it, see experiments.compare) at the
logged update steps. The same numbers are in TensorBoard's train/cost; the figure puts every
variant side by side in one file that needs no server.
"""
import os
import textwrap

FIGURE_NAME = "costs.png"


def cost_figure(runs, title="", log_y=True):
    """A matplotlib Figure: the reference history of each VariantRuns in `runs` (runner.run's list),
    one line per variant (labelled with its name, or the implementation's without variants), J_i
    against the update step i. log_y: a logarithmic cost axis. With mini-batches each J_i is the
    cost of step i's batch, so the curves are noisy; the legend gives J(θ_N) on the training set."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for vr in runs:
        ref = vr.results[0]
        if ref.steps is None or not len(ref.steps):
            continue
        ax.plot(ref.steps, ref.costs, linewidth=1.2,
                label=f"{vr.variant or ref.impl} (J(θ_N) on the training set {ref.final_cost:.3g})")
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


def cost_curves(runs, path, title="", log_y=True):
    """cost_figure(runs, title, log_y) written as a PNG file at `path` (directories made as needed).
    Returns path."""
    import matplotlib.pyplot as plt
    fig = cost_figure(runs, title, log_y)
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
