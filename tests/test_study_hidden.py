"""`python -m experiments hidden`, cut to three of its variants: 4 tanh units separate the flower far
better than logistic regression (the course: about 90 % against 47 %), 50 units lower the training cost
without a better dev accuracy, one decision-boundary panel per variant; scratch and Lightning agree."""
import numpy as np
import pytest

from experiments.config import load_config
from experiments.main_job import experiment_job
from experiments.studies import hidden
from conftest import PNG_MAGIC



@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """hidden.toml's logistic, n_h-4 and n_h-50 at the full 5000 steps, scratch: (runs by variant,
    report, run_dir)."""
    logdir = tmp_path_factory.mktemp("hidden")
    runs, report = experiment_job(load_config("hidden").only("logistic", "n_h-4", "n_h-50"), logdir=str(logdir))
    return {vr.variant: vr for vr in runs}, report, logdir / "hidden"


def test_the_config_keeps_its_rates_and_adds_logistic_regression():
    runs = dict(load_config("hidden").runs())
    assert (runs["logistic"].layer_dims, runs["logistic"].activations) == ((2, 1), ("sigmoid",))
    assert {hidden.hidden_units(c) for c in runs.values()} == {0, 1, 2, 3, 4, 5, 20, 50}
    assert runs["n_h-20"].learning_rate == runs["n_h-50"].learning_rate == 0.6       # stable: see the config
    assert runs["n_h-4"].learning_rate == 1.2


def test_four_tanh_units_beat_logistic_regression_by_far(three):
    runs, report, _ = three
    net, logistic = (runs[n].results[0].accuracy for n in ("n_h-4", "logistic"))
    assert logistic["train"] < 0.65                        # a straight line cannot separate the petals
    assert net["train"] >= logistic["train"] + 0.20 and net["dev"] >= logistic["dev"] + 0.20
    assert report.holds is True


def test_fifty_units_fit_the_training_set_closer_but_not_the_dev_set(three):
    runs, _, _ = three
    wide, four = runs["n_h-50"].results[0], runs["n_h-4"].results[0]
    assert wide.final_cost < 0.9 * four.final_cost
    assert wide.accuracy["dev"] <= four.accuracy["dev"] + 0.02


def test_results_page_and_boundary_grid(three):
    _, report, run_dir = three
    assert (run_dir / "results.md").is_file()
    names = [name for name, _ in report.figures]
    assert names == ["costs.png", hidden.BOUNDARIES_NAME]
    for name in names:
        with open(run_dir / name, "rb") as f:
            assert f.read(8) == PNG_MAGIC, name


@pytest.mark.usefixtures("restored_torch_state")
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_scratch_and_lightning_agree_on_the_headline(tmp_path):
    pytest.importorskip("lightning")
    cfg = load_config("hidden").only("logistic", "n_h-4").with_steps(300).override(impls=("scratch", "lightning"))
    runs, _ = experiment_job(cfg, logdir=str(tmp_path))
    for vr in runs:
        scratch, light = vr.results
        assert light.impl == "lightning" and vr.agree, vr.variant
        assert light.accuracy == scratch.accuracy, vr.variant
        np.testing.assert_allclose(light.final_cost, scratch.final_cost, rtol=1e-8)
