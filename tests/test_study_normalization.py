"""experiments/configs/normalization.toml (study normalization, F23) at 300 of its 1000 steps: at the
same learning rate the standardized inputs reach the target cost in far fewer steps, their bowl is
far rounder, the toy bowl is elongated before and round after; scratch and Lightning agree."""
import numpy as np
import pytest

from experiments import figures
from experiments.config import load_config
from experiments.main_job import experiment_job
from experiments.studies import normalization as study
from conftest import PNG_MAGIC

TARGET = 0.2          # reached by both within 300 steps (raw near step 190, standardized near 20)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("normalization")
    cfg = load_config("normalization").replace(target_cost=TARGET, log_every=10).with_steps(300)
    runs, report = experiment_job(cfg, logdir=str(logdir))
    return {vr.variant: vr for vr in runs}, report, logdir / "normalization"


def test_the_variants_differ_in_standardize_only():
    cfg = load_config("normalization")
    runs = dict(cfg.runs())
    assert list(runs) == ["raw", "standardized"] and cfg.target_cost is not None
    assert runs["raw"].replace(standardize=True) == runs["standardized"]       # same α, same model


def test_standardized_inputs_reach_the_target_in_fewer_steps(result):
    runs, report, _ = result
    raw, std = (figures.steps_to_target(runs[v].results[0], TARGET) for v in ("raw", "standardized"))
    assert std is not None and raw is not None
    assert raw >= 3 * std, (raw, std)
    assert report.holds is True


def test_the_standardized_bowl_is_rounder(result):
    runs = result[0]
    kappa = {v: study.bowl_shape(vr.data.train[0])[2] for v, vr in runs.items()}
    assert kappa["standardized"] < kappa["raw"] / 100


def test_the_page_and_figures_are_written(result):
    _, report, run_dir = result
    assert "the claim **holds**" in (run_dir / "results.md").read_text()
    names = {name for name, _ in report.figures}
    assert {"costs.png", "contours.png"} <= names
    for name in names:
        assert (run_dir / name).read_bytes()[:8] == PNG_MAGIC


def test_the_toy_bowl_is_elongated_raw_and_round_standardized():
    bowls = study.toy_bowls(study.DEFAULTS, seed=0)
    raw, std = bowls["raw"], bowls["standardized"]
    assert 200 < raw[-1] < 800                     # κ ≈ (20 / 1)² = 400, from a sample of 200
    assert std[-1] < 2
    np.testing.assert_allclose(raw[4], [1.0, 0.05], rtol=0.1)          # w* = 1 / scales
    assert std[5] * 20 < raw[5]                    # steps to converge, each at 1.6 / λ_max


def test_the_verdict_is_computed_from_the_steps():
    assert study.faster(raw=765, standardized=75) and study.faster(raw=None, standardized=75)
    assert not study.faster(raw=75, standardized=765)
    assert not study.faster(raw=75, standardized=None) and not study.faster(raw=None, standardized=None)
    assert not study.faster(raw=75, standardized=75)


@pytest.mark.slow
@pytest.mark.usefixtures("restored_torch_state")
def test_scratch_and_lightning_agree_on_the_steps_to_target(tmp_path):
    pytest.importorskip("lightning")
    cfg = load_config("normalization").replace(target_cost=0.5, impls=("scratch", "lightning")).with_steps(60)
    runs, report = experiment_job(cfg, logdir=str(tmp_path))
    for vr in runs:
        assert vr.agree, report.verdicts
        ref, light = vr.results
        assert figures.steps_to_target(ref, 0.5) == figures.steps_to_target(light, 0.5) is not None
