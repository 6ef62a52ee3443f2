"""Turning training histories into TensorBoard runs: scalars, hyperparameters, figures.

A run is a directory logs/<experiment>[/<variant>]/<impl>. scratch and the plain torch loop are
written here with torch's SummaryWriter; Lightning writes its own run through TensorBoardLogger
under the SAME tags (DeepNetModule logs "train/cost", "train/acc", "dev/cost", "dev/acc"), so the
three curves overlay. Each logged value at step i was computed on θ_i, the parameters before
update i. All three write the training and dev tags at steps 0, k, 2k, ... (k = log_every);
Lightning's dev curve has one more point, at step N, when k divides N (it validates after steps).

When several implementations ran, each run after the first (the reference, normally scratch)
also holds how far it is from the reference at each logged step: PARITY_TAGS (toggle the log
scale in TensorBoard to see a difference of rounding grow by decades).
"""
import glob
import os

# history record key (scratch.train, torch_ref.train_loop) -> TensorBoard tag (as DeepNetModule logs it)
TAGS = {"cost": "train/cost", "train_acc": "train/acc", "dev_cost": "dev/cost", "dev_acc": "dev/acc"}
HP_METRICS = ("hp/train_cost", "hp/train_acc", "hp/dev_acc")
# experiments.compare.Comparison field -> tag: max over the arrays of max|θa - θref| / max|θref|,
# and |J_a - J_ref| / |J_ref|, at the logged steps
PARITY_TAGS = {"param_rel_diff": "parity/max_rel_param_diff", "cost_rel_diff": "parity/cost_rel_diff"}
CONFUSION_TAG = "confusion_matrix"     # = torch_ref.lightning.CONFUSION_TAG (not imported: Lightning is slow to load)


def run_dir(logdir, experiment, impl, variant=None):
    """logs/<experiment>/<impl>, or logs/<experiment>/<variant>/<impl> for a sweep."""
    parts = [logdir, experiment] + ([variant] if variant else []) + [impl]
    return os.path.join(*parts)


def clear_run(path):
    """Remove the event files (and Lightning's hparams.yaml) a previous run left in `path`, so a
    re-run replaces the curves instead of drawing a second line over them. Nothing else is touched."""
    for old in glob.glob(os.path.join(path, "events.out.tfevents.*")) + glob.glob(os.path.join(path, "hparams.yaml")):
        os.remove(old)


def open_writer(path):
    """A fresh SummaryWriter on run directory `path` (previous event files removed)."""
    from torch.utils.tensorboard import SummaryWriter
    clear_run(path)
    return SummaryWriter(log_dir=path)


def write_record(writer, record):
    """One history record {"step", "cost", "train_acc", "dev_cost"?, "dev_acc"?} as scalars."""
    for key, tag in TAGS.items():
        if key in record:
            writer.add_scalar(tag, record[key], global_step=record["step"])


def append_writer(path):
    """A SummaryWriter adding a new event file to run directory `path`, keeping what is there
    (TensorBoard reads every event file of a run directory as one run)."""
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(log_dir=path)


def write_parity(path, steps, param_rel_diff, cost_rel_diff):
    """The difference from the reference implementation, one value per logged step, into the
    finished run `path` under PARITY_TAGS (float32 in the event file, as every scalar)."""
    writer = append_writer(path)
    for step, dp, dc in zip(steps, param_rel_diff, cost_rel_diff):
        writer.add_scalar(PARITY_TAGS["param_rel_diff"], float(dp), global_step=int(step))
        writer.add_scalar(PARITY_TAGS["cost_rel_diff"], float(dc), global_step=int(step))
    writer.close()


def write_hparams(writer, hparams, metrics):
    """Hyperparameters WITH metrics, so the HPARAMS tab has columns to compare runs by.

    hparams: flat {name: str/int/float/bool}; metrics: {tag: float}. As Lightning's
    TensorBoardLogger.log_hyperparams does: the metric values as scalars at step 0, plus the
    hparams plugin's three summaries (experiment, session start, session end)."""
    from torch.utils.tensorboard.summary import hparams as hparams_summaries
    for tag, value in metrics.items():
        writer.add_scalar(tag, value, global_step=0)
    file_writer = writer._get_file_writer()     # the summaries are protos, not scalars: no public adder
    for summary in hparams_summaries(hparams, metrics):
        file_writer.add_summary(summary)
    writer.flush()


def decision_boundary_figure(predict_proba, X, Y, title):
    """A matplotlib Figure: ŷ = predict_proba(points) over a grid covering X, the 0.5 contour, and
    the examples coloured by label. predict_proba maps (2, k) course-layout points to (1, k)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    (x0, x1), (y0, y1) = [(row.min() - 0.5, row.max() + 0.5) for row in X[:2]]
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    proba = np.asarray(predict_proba(np.vstack([gx.ravel(), gy.ravel()]))).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=80)
    ax.contourf(gx, gy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.45)
    ax.contour(gx, gy, proba, levels=[0.5], colors="k", linewidths=1)
    for label, colour in ((0, "#b2182b"), (1, "#2166ac")):     # the ends of RdBu: red y = 0, blue y = 1
        keep = Y.ravel() == label
        ax.scatter(X[0, keep], X[1, keep], c=colour, edgecolors="white", linewidths=0.5, s=18, label=f"y = {label}")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def add_decision_boundary(writer, predict_proba, X, Y, step, title):
    """Log decision_boundary_figure under the tag "decision_boundary" (IMAGES tab); 2-D inputs only."""
    if X.shape[0] != 2:
        return
    writer.add_figure("decision_boundary", decision_boundary_figure(predict_proba, X, Y, title),
                      global_step=step, close=True)


def add_confusion_matrix(writer, matrix, step, title):
    """Log a softmax network's (C, C) confusion matrix (figures.confusion_figure) as the image
    "confusion_matrix" (IMAGES tab), the tag Lightning's run writes it under (torch_ref.lightning)."""
    from .figures import confusion_figure
    writer.add_figure(CONFUSION_TAG, confusion_figure(matrix, title), global_step=step, close=True)


def read_scalars(path):
    """{tag: [(step, value), ...]} of every scalar in the run directory `path` (all points kept)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(path, size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
