"""Data augmentation (F27): the same network trained with and without each training image's horizontal
mirror (augment = "flip"), paired by seed (one split, one θ_0 per seed), compared by dev accuracy and
dev cost. experiments/configs/augmentation.toml.

    flip: train = [X, flip(X)], [Y, Y]   (scratch.data.augment_flip), dev and test unchanged
"""
import os

import numpy as np

from scratch.losses import compute_cost

from .. import figures
from ..config import IMAGE_SHAPES
from ..report import Report, Table

EXAMPLES = "mirrors.png"
PAIRS = "dev_accuracy.png"
SHOWN = 6                     # training images shown beside their mirrors


def dev_cost(vr):
    """The dev cost J (cross-entropy, scratch.losses.compute_cost) of the variant's reference run."""
    X, Y = vr.data.dev
    return compute_cost(vr.proba()(X), Y)


def pairs(cfg, runs):
    """[(seed, none VariantRuns, flip VariantRuns)] in seed order. ValueError unless every seed has one
    run without augmentation and one with flips, on the same dev set."""
    by_seed = {}
    for vr in runs:
        by_seed.setdefault(vr.config.seed, {})[vr.config.augment or "none"] = vr
    out = []
    for seed, pair in sorted(by_seed.items()):
        if set(pair) != {"none", "flip"}:
            raise ValueError(f"{cfg.name}: seed {seed} needs one variant without augment and one with "
                             f"augment = \"flip\"; got {sorted(pair)}")
        if not np.array_equal(pair["none"].data.dev[0], pair["flip"].data.dev[0]):
            raise ValueError(f"{cfg.name}: seed {seed}: the none and flip variants have different dev sets")
        out.append((seed, pair["none"], pair["flip"]))
    return out


def mirror_figure(cfg, vr):
    """Training images of a flip variant, SHOWN // 2 of each label (top), and the mirrors it trained on
    too (bottom)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shape = IMAGE_SHAPES[cfg.dataset]
    X, Y = vr.data.train
    m = X.shape[1] // 2                       # augment_flip: [X, flip(X)]
    fig, axes = plt.subplots(2, SHOWN, figsize=(1.4 * SHOWN, 3.3), dpi=100, squeeze=False)
    labels = Y[0, :m] if Y.shape[0] == 1 else np.argmax(Y[:, :m], axis=0)
    first = [int(i) for c in np.unique(labels) for i in np.flatnonzero(labels == c)[:SHOWN // 2]]  # each class
    for j, i in enumerate(first[:SHOWN]):
        for row, column in enumerate((i, m + i)):
            ax = axes[row, j]
            ax.imshow(X[:, column].reshape(shape), cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{'train' if row == 0 else 'mirror of'} #{i}, label {int(labels[i])}", fontsize=7)
    for j in range(len(first[:SHOWN]), SHOWN):
        axes[0, j].axis("off")
        axes[1, j].axis("off")
    fig.suptitle(f"{cfg.name} ({vr.variant}): training images of each label and their horizontal "
                 f"mirrors (training set {m} -> {2 * m})", fontsize=9)
    fig.tight_layout()
    return fig


def pairs_figure(cfg, rows):
    """Dev accuracy of none and flip per seed, each pair joined by a line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    at = {}
    for seed, none, flip in rows:
        ax.plot([0, 1], [none, flip], color="0.6", linewidth=0.8)
        ax.scatter([0, 1], [none, flip], color=["tab:blue", "tab:orange"], zorder=3)
        at.setdefault(round(flip, 9), []).append(str(seed))
    for flip, seeds in at.items():           # seeds that ended on the same accuracy share a label
        ax.annotate(f"seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)}", (1, flip), textcoords="offset points",
                    xytext=(6, -3), fontsize=8)
    means = np.mean([[n, f] for _, n, f in rows], axis=0)
    ax.plot([0, 1], means, color="k", linewidth=2, label=f"mean: {means[0]:.4f} -> {means[1]:.4f}")
    ax.set_xticks([0, 1], ["none", "flip"])
    ax.set_xlim(-0.3, 1.4)
    ax.set_ylabel("dev accuracy")
    ax.set_title(f"{cfg.name}: dev accuracy without and with flips, per seed", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def analyze(cfg, runs, run_dir):
    """Per seed: train size, train and dev accuracy, dev cost of none and flip (reference
    implementation), and the paired differences; holds when the mean dev-accuracy difference
    (flip - none) is positive. The dev cost is stated beside it."""
    paired = pairs(cfg, runs)
    impl, dev_size = runs[0].results[0].impl, paired[0][1].sizes["dev"]
    every = Table(["seed", "augment", "train size", "train acc", "dev acc", "dev cost J"],
                  [[vr.config.seed, vr.config.augment or "none", vr.sizes["train"], vr.results[0].accuracy["train"],
                    f"{vr.results[0].accuracy['dev']:.4f}", f"{dev_cost(vr):.4f}"]
                   for _, n, f in paired for vr in (n, f)],
                  f"Every run ({impl}; dev {dev_size} images)")
    diffs = np.array([[f.results[0].accuracy["dev"] - n.results[0].accuracy["dev"], dev_cost(f) - dev_cost(n)]
                      for _, n, f in paired])
    diff_rows = [[seed, f"{d[0]:+.4f}", f"{d[1]:+.4f}"] for (seed, _, _), d in zip(paired, diffs)]
    diff_rows.append(["mean", f"{diffs[:, 0].mean():+.4f}", f"{diffs[:, 1].mean():+.4f}"])
    gain = Table(["seed", "Δ dev acc (flip - none)", "Δ dev cost (flip - none)"], diff_rows,
                 "What the flips changed, per seed")
    acc = np.array([[n.results[0].accuracy["dev"], f.results[0].accuracy["dev"]] for _, n, f in paired])
    cost = np.array([[dev_cost(n), dev_cost(f)] for _, n, f in paired])
    holds = bool(diffs[:, 0].mean() > 0)
    outcome = (f"over {len(paired)} seeds, dev accuracy without flips {acc[:, 0].mean():.4f}, with flips "
               f"{acc[:, 1].mean():.4f} (mean difference {diffs[:, 0].mean():+.4f}; flips better in "
               f"{int((diffs[:, 0] > 0).sum())} of {len(paired)}); dev cost {cost[:, 0].mean():.4f} against "
               f"{cost[:, 1].mean():.4f} (lower with flips in {int((diffs[:, 1] < 0).sum())} of {len(paired)}); "
               f"training set {paired[0][1].sizes['train']} -> {paired[0][2].sizes['train']} images")
    figures.save_png(mirror_figure(cfg, paired[0][2]), os.path.join(run_dir, EXAMPLES))
    figures.save_png(pairs_figure(cfg, [(s, *a) for (s, _, _), a in zip(paired, acc)]), os.path.join(run_dir, PAIRS))
    notes = ["A flip helps only when the mirror image is an example of the same label from the distribution "
             "the model is tested on. The dev and test sets are not flipped: the mirrors add training examples "
             "that the dev set never shows (mirror writing), and on an easy task they can cost more than they add."]
    return Report(cfg.name, cfg.claim, outcome, holds, [every, gain],
                  [(EXAMPLES, "training images (top) and the horizontal mirrors added by augment = \"flip\" (bottom)"),
                   (PAIRS, "dev accuracy without and with flips, one line per seed; black: the mean")], notes)
