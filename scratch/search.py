"""Hyperparameter search on a log scale (F44).

Sampling α uniformly in [0.0001, 1] spends 90 % of the trials in [0.1, 1]; the course samples the
EXPONENT instead, so that every decade gets the same share:

    α = 10^r,      r ~ uniform[low, high]          e.g. low = -4, high = 0 for α in [1e-4, 1]
    β = 1 - 10^r,  r ~ uniform[low, high]          e.g. low = -3, high = -1 for β in [0.9, 0.999]

(1 - β is what matters near 1: β = 0.9 averages over ~10 values, 0.999 over ~1000.)
"""

from ._checks import as_generator, check_count, check_real


def _exponents(rng, low, high, size):
    low, high = check_real("low", low), check_real("high", high)
    if not low < high:
        raise ValueError(f"low must be < high (exponents of 10); got low={low}, high={high}")
    if size is not None:
        size = check_count("size", size, minimum=1)
    return as_generator(rng).uniform(low, high, size)


def sample_log_uniform(rng, low, high, size=None):
    """α = 10^r with r ~ uniform[low, high] (rng: Generator or int seed). A float, or (size,) array."""
    return 10.0 ** _exponents(rng, low, high, size)


def sample_beta(rng, low, high, size=None):
    """β = 1 - 10^r with r ~ uniform[low, high], low < high <= 0 (so β in [0, 1)). A float or array."""
    if check_real("high", high) > 0:
        raise ValueError(f"high must be <= 0 (1 - β = 10^r <= 1); got {high}")
    return 1.0 - 10.0 ** _exponents(rng, low, high, size)
