"""Early stopping (F26): on a network that overfits, stop once the dev cost has not improved for
`patience` logged steps and keep the parameters of the logged step with the lowest dev cost;
scratch's early stopping (scratch.train) against Lightning's (EarlyStopping on dev/cost and the best
checkpoint, torch_ref.lightning.train_lightning) on the same run. experiments/configs/early-stopping.toml.

The run: θ_0 from runner.initial_params (init_seed, else seed), the data from
runner.load_data, the optimization arguments from runner.train_kwargs, as every experiment. Scratch
also trains all N steps without early stopping, for the curves past the stop and for
what the kept θ gains on the test set against θ_N.
"""
import os
import re

import numpy as np

from scratch.network import model_cost
from scratch.train import train

from .. import figures, runner
from ..compare import params_agree
from ..main_job import max_param_difference
from ..report import Report, Table
from . import args

DEFAULTS = {"patience": 10}
FIGURE = "early_stopping.png"
CHECKPOINTS = "checkpoints"           # Lightning's best and last checkpoints, under the run directory


def run_scratch(cfg, data, params0, patience):
    """scratch.train from params0 with the dev set; early_stopping=patience (None: the whole run).
    Returns (TrainResult, {step: θ_step} of every logged step, from the callback)."""
    thetas = {}

    def keep(step, record, params):
        thetas[step] = params
    res = train(*data.train, list(cfg.layer_dims), list(cfg.activations), params=params0, rng=cfg.seed,
                X_dev=data.dev[0], Y_dev=data.dev[1], early_stopping=patience, callback=keep,
                **runner.train_kwargs(cfg), **runner.bn_kwargs(cfg))
    return res, thetas


def run_lightning(cfg, data, params0, patience, run_dir, device):
    """train_lightning on the same run with EarlyStopping(patience) on the dev cost, its checkpoints
    under run_dir/checkpoints. Returns (LightningResult, stopping step, best step): the stopping step
    is the last logged step (trainer.global_step, where the last validation ran), the best step is read
    from the best checkpoint's name, best-step{s}.ckpt."""
    from torch_ref.lightning import train_lightning
    accelerator = runner.lightning_accelerator(device)
    out = train_lightning(*data.train, list(cfg.layer_dims), list(cfg.activations), params=params0,
                          X_dev=data.dev[0], Y_dev=data.dev[1], early_stopping=patience,
                          checkpoint_dir=os.path.join(run_dir, CHECKPOINTS), accelerator=accelerator,
                          precision="64-true", **runner.train_kwargs(cfg), **runner.bn_kwargs(cfg))
    found = re.search(r"best-step(\d+)\.ckpt$", out.best_path or "")
    return out, int(out.trainer.global_step), (int(found.group(1)) if found else None)


def stopping_step(res, N):
    """Where scratch's run `res` of N update steps stopped: its last logged step when early stopping
    ended it (the step whose dev cost used up the patience), else N (Lightning's global_step alike)."""
    return res.history[-1]["step"] if res.stopped_early else N


def curves_figure(cfg, full, early, patience, N, lightning_stop=None):
    """Train cost J_i and dev cost of the whole run, the lowest dev cost's step and where early stopping stopped."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [r["step"] for r in full.history]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    ax.plot(steps, [r["cost"] for r in full.history], label="train cost J_i", color="tab:blue")
    ax.plot(steps, [r["dev_cost"] for r in full.history], label="dev cost", color="tab:orange")
    best = early.best_step
    best_cost = next(r["dev_cost"] for r in early.history if r["step"] == best)
    ax.axvline(best, color="tab:green", linewidth=1.2,
               label=f"lowest dev cost {best_cost:.3f} at step {best}: θ kept")
    stop = stopping_step(early, N)
    ax.axvline(stop, color="k", linestyle="--", linewidth=1,
               label=(f"stopped at step {stop}" if early.stopped_early else f"did not stop before step {N}")
               + f" (patience {patience} logged steps of {cfg.log_every})"
               + (f"; Lightning at {lightning_stop}" if lightning_stop is not None else ""))
    if stop < steps[-1]:
        ax.axvspan(stop, steps[-1], color="0.9", zorder=0)
    ax.scatter([best], [best_cost], color="tab:green", zorder=3)
    ax.set_xlabel("update step i")
    ax.set_ylabel("cost (cross-entropy)")
    ax.set_yscale("log")
    ax.set_title(f"{cfg.name}: train and dev cost of the whole run of {N} steps (scratch); "
                 "grey: the steps early stopping saves", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def compare_lightning(early, thetas, light, data, held_out, acts, N):
    """Lightning's row of the early-stopping table, whether it agrees with scratch's run `early` and the
    verdict line. Agree: the same stopping step, the same best step, and Lightning's kept θ equal to
    scratch's θ of that step within the float64 trajectory tolerance. One allowance: a run that does
    not stop early ends, in Lightning, with a validation of θ_N, which scratch never logs (it logs
    θ_i before update i < N); Lightning's best may then be θ_N, compared with scratch's θ_N."""
    from torch_ref.parity import TRAJECTORY_RTOL
    out, stop, best = light
    ref_stop, ref_best = stopping_step(early, N), early.best_step
    only_lightning = best == N and N not in thetas and not early.stopped_early
    theta = early.final_params if only_lightning else thetas.get(best)
    agree = bool(stop == ref_stop and (best == ref_best or only_lightning) and theta is not None
                 and params_agree(out.params, theta))
    row = ["lightning", stop, best, model_cost(*data.dev, out.params, acts),
           f"{max_param_difference(out.params, theta):.1e}" if theta is not None else "-",
           model_cost(*held_out[1], out.params, acts)]
    verdict = (f"scratch, lightning {'agree' if agree else 'DIFFER'} on early stopping: stopped at step "
               f"{ref_stop} / {stop}, best step {ref_best} / {best}"
               + (" (θ_N, validated by Lightning only)" if only_lightning else "")
               + (f", kept θ max|Δ| {max_param_difference(out.params, theta):.1e}" if theta is not None else "")
               + f" (rtol {TRAJECTORY_RTOL:g}, atol 1e-12)")
    return row, agree, verdict


def gain_table(early, full, data, held_out, acts, N):
    """The kept θ_best against θ_N of the whole run (scratch): costs and accuracies."""
    name, part = held_out
    rows = []
    for label, steps, step, params in (("early stopping: θ_best", stopping_step(early, N), early.best_step,
                                        early.params),
                                       ("whole run: θ_N", N, N, full.final_params)):
        rows.append([label, steps, step, model_cost(*data.dev, params, acts), model_cost(*part, params, acts),
                     *(accuracy(p, params, acts) for p in (data.train, data.dev, part))])
    return Table(["run", "steps trained", "θ of step", "dev cost", f"{name} cost", "train acc", "dev acc",
                  f"{name} acc"], rows, "What the kept θ gains (scratch)")


def run_study(cfg, run_dir, impls, device):
    """The scratch run with early stopping and the whole run without; Lightning's early stopping on
    the same run when "lightning" is in impls (torch has none: skipped, with a note). holds: stopped
    before the last step, kept θ = θ of the lowest dev cost's step exactly, and that θ has a lower
    test cost (dev cost without a test set) than θ_N of the whole run. agree: compare_lightning."""
    patience = args(cfg, DEFAULTS)["patience"]
    if cfg.output != "sigmoid":
        raise ValueError(f"{cfg.name}: early stopping here is shown on a sigmoid network; got {cfg.output!r}")
    data, params0 = runner.load_data(cfg), runner.initial_params(cfg)
    with runner.threads_for(cfg):
        early, thetas = run_scratch(cfg, data, params0, patience)
        full, _ = run_scratch(cfg, data, params0, None)
        light = run_lightning(cfg, data, params0, patience, run_dir, device) if "lightning" in impls else None
    acts, held_out = list(cfg.activations), ("test", data.test) if data.test is not None else ("dev", data.dev)
    N = cfg.num_steps(data.train[0].shape[1])
    stop, best = stopping_step(early, N), early.best_step
    kept_diff = max_param_difference(early.params, thetas[best])
    whole = gain_table(early, full, data, held_out, acts, N)
    (_, _, _, best_dev, kept_cost, *_, kept_acc), (*_, final_dev, final_cost, _, _, final_acc) = whole.rows
    lowest = min(early.history, key=lambda r: r["dev_cost"])["step"]
    holds = bool(early.stopped_early and best == lowest and kept_diff == 0 and kept_cost < final_cost)
    rows, agree, verdicts = [["scratch", stop, best, best_dev, f"{kept_diff:g}", kept_cost]], None, []
    if light is not None:
        row, agree, verdict = compare_lightning(early, thetas, light, data, held_out, acts, N)
        rows.append(row)
        verdicts.append(verdict)
    table = Table(["impl", "stopped at step", "best step (lowest dev cost)", "dev cost of the kept θ",
                   "max|kept θ - θ_best|", f"{held_out[0]} cost of the kept θ"], rows,
                  f"Early stopping, patience {patience} logged steps (every {cfg.log_every})")
    stopped = (f"early stopping stopped at step {stop} of {N}" if early.stopped_early else
               f"early stopping did NOT stop before step {N}")
    outcome = (f"the dev cost was lowest at step {best} ({best_dev:.3f}), and {final_dev:.3f} for θ_N (step "
               f"{N}); {stopped} and kept θ_{best} (max|kept θ - θ_{best}| = {kept_diff:g}); its {held_out[0]} "
               f"cost {kept_cost:.3f} against {final_cost:.3f} for θ_N of the whole run ({held_out[0]} accuracy "
               f"{kept_acc:.3f} against {final_acc:.3f})")
    if light is not None:
        outcome += f"; Lightning stopped at step {light[1]}, best step {light[2]}" + ("" if agree else " (DIFFERS)")
    figures.save_png(curves_figure(cfg, full, early, patience, N, light[1] if light else None),
                     os.path.join(run_dir, FIGURE))
    return Report(cfg.name, cfg.claim, outcome, holds, [table, whole],
                  [(FIGURE, "train and dev cost of the whole run; green: the lowest dev cost's step, whose θ is "
                            "kept; dashed: where early stopping stopped")],
                  study_notes(impls, full, best, patience), agree, verdicts)


def study_notes(impls, full, best, patience):
    """What did not run, and where the whole run's dev cost was lowest."""
    skipped = [i for i in impls if i not in ("scratch", "lightning")]
    notes = ([f"- Not run: {', '.join(skipped)} (the plain torch loop, torch_ref.train_loop, has no early "
              "stopping); scratch is the reference and always runs."] if skipped else [])
    low = min(full.history, key=lambda r: r["dev_cost"])
    return notes + [f"- The whole run's lowest logged dev cost was {low['dev_cost']:.4f} at step {low['step']}"
                    + (" (the step early stopping kept)." if low["step"] == best else
                       f"; early stopping kept step {best}, having given up after {patience} logged steps "
                       "without a new low.")]


def accuracy(part, params, activations):
    """Accuracy of θ on (X, Y): predictions ŷ > 0.5."""
    from scratch.network import predict
    X, Y = part
    return float(np.mean(predict(X, params, activations) == Y))
