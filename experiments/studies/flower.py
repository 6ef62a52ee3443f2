"""The main job's claim: the course's shallow network separates the flower, and the three
implementations trained from the same θ_0 are the same network (experiments/configs/flower.toml)."""
import os

from .. import figures
from ..report import Report, results_table

TARGET_ACCURACY = 0.85        # "about 90 %" in the course, with a margin


def analyze(cfg, runs, run_dir):
    """Train accuracy of the reference run against TARGET_ACCURACY, the parity verdict of the
    implementations (when several ran), and the decision boundary of each implementation's θ_N."""
    vr = runs[0]
    ref = vr.results[0]
    X, Y = vr.data.train
    panels = [(f"{r.impl}: train accuracy {r.accuracy['train']:.3f}", vr.proba(r)) for r in vr.results]
    name = "boundaries.png"
    figures.save_png(figures.boundary_grid(panels, X, Y, title=f"{cfg.name}: decision boundary of θ_N, "
                                           "training set"), os.path.join(run_dir, name))
    agree = vr.agree if len(vr.results) > 1 else None
    separates = ref.accuracy["train"] >= TARGET_ACCURACY
    outcome = (f"{len(cfg.layer_dims) - 2}-hidden-layer net of {cfg.layer_dims[1]} {cfg.activations[0]} units: "
               f"train accuracy {ref.accuracy['train']:.3f}, dev {ref.accuracy['dev']:.3f} ({ref.impl})")
    if agree is not None:
        outcome += (f"; {', '.join(r.impl for r in vr.results)} "
                    + ("agree at every logged step" if agree else "DISAGREE (see the parity line)"))
    return Report(cfg.name, cfg.claim, outcome, separates and agree is not False, [results_table(runs)],
                  [(name, "decision boundary of each implementation's θ_N on the training set")])
