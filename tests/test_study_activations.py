"""`python -m experiments activations`, shortened: the identity hidden layer is logistic regression again
(no better than it on the flower) while a tanh hidden layer separates the flower; every nonlinear
activation does; one decision-boundary panel per variant; scratch and Lightning agree."""
import numpy as np
import pytest

from experiments.config import load_config
from experiments.main_job import experiment_job
from experiments.studies import activations
from conftest import PNG_MAGIC

RULE = {"sigmoid": "xavier", "tanh": "xavier", "identity": "xavier", "relu": "he", "leaky_relu": "he"}


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """activations.toml at 2000 of its 10000 steps, scratch: (runs by variant, report, run_dir)."""
    logdir = tmp_path_factory.mktemp("activations")
    runs, report = experiment_job(load_config("activations").with_steps(2000), logdir=str(logdir))
    return {vr.variant: vr for vr in runs}, report, logdir / "activations"


def test_the_config_follows_its_init_rule_with_one_rate_and_width():
    runs = dict(load_config("activations").runs())
    hidden = {name: c for name, c in runs.items() if len(c.layer_dims) == 3}
    assert {c.activations[0] for c in hidden.values()} == set(RULE)
    for name, c in hidden.items():
        assert c.init == RULE[c.activations[0]], name
    assert len({c.layer_dims for c in hidden.values()}) == 1
    assert len({c.learning_rate for c in runs.values()}) == 1
    assert (runs["logistic"].layer_dims, runs["logistic"].activations) == ((2, 1), ("sigmoid",))


def test_the_linear_net_is_no_better_than_logistic_regression_and_tanh_is(short):
    runs, report, _ = short
    train = {name: vr.results[0].accuracy["train"] for name, vr in runs.items()}
    assert train["identity"] <= train["logistic"] + 0.03
    assert train["tanh"] >= train["logistic"] + 0.25
    for name in ("sigmoid", "relu", "leaky_relu"):
        assert train[name] >= train["logistic"] + 0.20, name
    assert report.holds is True


def test_results_page_and_boundary_grid(short):
    _, report, run_dir = short
    assert (run_dir / "results.md").is_file()
    names = [name for name, _ in report.figures]
    assert names == ["costs.png", activations.BOUNDARIES_NAME]
    for name in names:
        with open(run_dir / name, "rb") as f:
            assert f.read(8) == PNG_MAGIC, name


@pytest.mark.usefixtures("restored_torch_state")
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_scratch_and_lightning_agree_on_the_headline(tmp_path):
    pytest.importorskip("lightning")
    cfg = load_config("activations").with_steps(300).override(impls=("scratch", "lightning"))
    cfg = cfg.only("identity", "tanh")
    runs, _ = experiment_job(cfg, logdir=str(tmp_path))
    for vr in runs:
        scratch, light = vr.results
        assert light.impl == "lightning" and vr.agree, vr.variant
        assert light.accuracy == scratch.accuracy, vr.variant
        np.testing.assert_allclose(light.final_cost, scratch.final_cost, rtol=1e-8)
