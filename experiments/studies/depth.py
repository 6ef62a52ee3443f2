"""Depth: the same width with more hidden layers; train and dev accuracy against the number of layers
L (experiments/configs/depth.toml). Each depth trains at its own stable learning rate."""
import os

from .. import figures
from ..report import Report, Table, results_table


def layers(vr):
    """The number of layers L of a variant (hidden layers + the output layer)."""
    return len(vr.config.layer_dims) - 1


def rows(runs):
    """[(L, variant, α, J(θ_N), train, dev, test)] of the reference runs, by depth."""
    out = []
    for vr in runs:
        r = vr.results[0]
        out.append((layers(vr), vr.variant, vr.config.learning_rate, float(r.final_cost), r.accuracy["train"],
                    r.accuracy["dev"], r.accuracy["test"]))
    return sorted(out)


def holds(table):
    """The claim, from rows(): every net with more than one hidden layer fits the training set better
    than the one-hidden-layer net (the shallowest) of the same width."""
    shallow = table[0]
    return bool(len(table) > 1 and shallow[0] == 2 and all(row[4] > shallow[4] for row in table[1:]))


def accuracy_figure(table, title):
    """Train and dev accuracy against the number of layers L, each point labelled with its α."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=90)
    Ls = [row[0] for row in table]
    ax.plot(Ls, [row[4] for row in table], "o-", label="train accuracy")
    ax.plot(Ls, [row[5] for row in table], "s--", label="dev accuracy")
    for L, _, alpha, _, train, _, _ in table:
        ax.annotate(f"α = {alpha:g}", (L, train), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    ax.set(xlabel="number of layers L (hidden layers + output)", ylabel="accuracy", xticks=Ls, title=title)
    ax.title.set_fontsize(9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def analyze(cfg, runs, run_dir):
    """The accuracy table and figure by depth, and the verdict."""
    table = rows(runs)
    ref = runs[0].results[0].impl
    width = sorted({n for vr in runs for n in vr.config.layer_dims[1:-1]})
    name = "accuracy.png"
    figures.save_png(accuracy_figure(table, f"{cfg.name}: hidden layers of {'/'.join(map(str, width))} units, "
                                            f"θ_N after {cfg.num_iterations} steps ({ref})"),
                     os.path.join(run_dir, name))
    shown = Table(["L", "variant", "hidden layers", "α", "J(θ_N)", "train acc", "dev acc", "test acc"],
                  [[L, v, L - 1, a, J, tr, dv, te] for L, v, a, J, tr, dv, te in table],
                  f"Accuracy by depth ({ref})")
    outcome = "train / dev accuracy by number of layers: " + ", ".join(
        f"L = {L} (α = {a:g}) {tr:.3f} / {dv:.3f}" for L, _, a, _, tr, dv, _ in table)
    notes = ["Each depth trains at its own learning rate, the largest at which full-batch gradient descent stays "
             "stable (configs/depth.toml): deeper nets need smaller steps, so the deepest is the least trained "
             "after the same number of steps. The claim holds when every deeper net's train accuracy is above the "
             "one-hidden-layer net's."]
    return Report(cfg.name, cfg.claim, outcome, holds(table), [shown, results_table(runs)],
                  [(name, "train and dev accuracy of θ_N against the number of layers")], notes)
