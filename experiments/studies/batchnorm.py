"""Batch norm (F40, F41): the same deep sigmoid net with and without it, steps to the target cost
(experiments/configs/batchnorm.toml)."""
from .. import figures
from ..report import Report, Table


def analyze(cfg, runs, run_dir):
    """The first logged step at which each variant's J_i reached cfg.target_cost; the claim holds when
    the batch-norm variant reached it and the plain one did not, or took more than twice as many steps."""
    reached = {vr.variant: figures.steps_to_target(vr.results[0], cfg.target_cost) for vr in runs}
    rows = [[vr.variant, reached[vr.variant] if reached[vr.variant] is not None else f"not in {vr.config.num_iterations}",
             float(vr.results[0].final_cost), vr.results[0].accuracy["train"], vr.results[0].accuracy["dev"]]
            for vr in runs]
    table = Table(["variant", f"first logged step with J_i ≤ {cfg.target_cost:g}", "J(θ_N)", "train acc", "dev acc"],
                  rows, f"At α = {cfg.learning_rate} ({runs[0].results[0].impl})")
    bn, plain = reached.get("batchnorm"), reached.get("plain")
    holds = bn is not None and (plain is None or plain > 2 * bn)
    show = lambda s: f"step {s}" if s is not None else "never"                    # noqa: E731
    outcome = f"J_i ≤ {cfg.target_cost:g}: with batch norm {show(bn)}, without {show(plain)}"
    return Report(cfg.name, cfg.claim, outcome, holds, [table])
