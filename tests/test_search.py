"""F44: hyperparameter search on a log scale (scratch.search)."""
import numpy as np
import pytest

from scratch.search import sample_beta, sample_log_uniform


def test_alpha_is_ten_to_a_uniform_exponent():
    alpha = sample_log_uniform(3, -4, 0, size=10)
    r = np.random.default_rng(3).uniform(-4, 0, 10)            # the same draws, the formula written out
    np.testing.assert_allclose(alpha, 10.0 ** r, rtol=1e-15)
    assert np.all((alpha >= 1e-4) & (alpha <= 1))


def test_every_decade_gets_the_same_share():
    """Uniform α in [1e-4, 1] would put 90 % in [0.1, 1]; the log scale puts 25 % in each decade."""
    alpha = sample_log_uniform(0, -4, 0, size=40_000)
    shares = np.histogram(np.log10(alpha), bins=[-4, -3, -2, -1, 0])[0] / alpha.size
    np.testing.assert_allclose(shares, 0.25, atol=5 * np.sqrt(0.25 * 0.75 / alpha.size))


def test_beta_is_one_minus_ten_to_r():
    beta = sample_beta(1, -3, -1, size=1000)
    np.testing.assert_allclose(1 - beta, 10.0 ** np.random.default_rng(1).uniform(-3, -1, 1000), rtol=1e-12)
    assert np.all((beta >= 0.9) & (beta <= 0.999))
    assert isinstance(sample_beta(1, -3, -1), float)


@pytest.mark.parametrize("call, match", [
    (lambda: sample_log_uniform(0, 0, -4), "low must be < high"),
    (lambda: sample_beta(0, -1, 1), "high must be <= 0"),
    (lambda: sample_log_uniform(0, -4, 0, size=0), "size"),
    (lambda: sample_log_uniform(-1, -4, 0), "rng"),
])
def test_bad_arguments(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
