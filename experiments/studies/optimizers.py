"""Optimization algorithms (F33-F38): Adam against plain mini-batch gradient descent at the same
learning rate, and learning-rate decay (experiments/configs/optimizers.toml)."""
from ..config import describe_lr_schedule
from ..report import Report, Table


def analyze(cfg, runs, run_dir):
    """J(θ_N) per variant; the claim holds when Adam's is below plain GD's and GD with decay's too
    (the variants "gd", "adam" and "gd-decay" of the config)."""
    by_name = {vr.variant: vr for vr in runs}
    rows = [[vr.variant, vr.config.optimizer, vr.config.learning_rate, describe_lr_schedule(vr.config.lr_schedule),
             float(vr.results[0].final_cost), vr.results[0].accuracy["train"], vr.results[0].accuracy["dev"]]
            for vr in runs]
    table = Table(["variant", "optimizer", "α₀", "lr schedule", "J(θ_N) train", "train acc", "dev acc"], rows,
                  f"After {cfg.num_epochs} epochs of mini-batches of {cfg.mini_batch_size} ({runs[0].results[0].impl})")
    cost = {name: float(vr.results[0].final_cost) for name, vr in by_name.items()}
    needed = ("gd", "adam", "gd-decay")
    if not all(n in cost for n in needed):
        return Report(cfg.name, cfg.claim, f"variants {needed} not all run: no verdict", None, [table])
    holds = cost["adam"] < cost["gd"] and cost["gd-decay"] < cost["gd"]
    outcome = (f"J(θ_N): gd {cost['gd']:.3f}, adam {cost['adam']:.3f}, gd with decay {cost['gd-decay']:.3f}"
               + "".join(f", {n} {c:.3f}" for n, c in cost.items() if n not in needed))
    return Report(cfg.name, cfg.claim, outcome, holds, [table])
