"""Many classes (F39, F43): a softmax output on the ten digits (experiments/configs/multiclass.toml)."""
from ..report import Report, results_table

CHANCE_FACTOR = 5        # "far above chance": at least 5 × 1/C


def analyze(cfg, runs, run_dir):
    """Dev accuracy of the softmax net against chance (1/C); the confusion matrix is main_job's figure."""
    ref = runs[0].results[0]
    C = cfg.layer_dims[-1]
    holds = ref.accuracy["dev"] >= CHANCE_FACTOR / C
    outcome = (f"dev accuracy {ref.accuracy['dev']:.3f} over {C} classes (chance {1 / C:.2f}), train "
               f"{ref.accuracy['train']:.3f}, J(θ_N) = {ref.final_cost:.3f} ({ref.impl})")
    return Report(cfg.name, cfg.claim, outcome, holds, [results_table(runs)])
