"""`python -m experiments init`, shortened: from zeros every hidden unit of a layer stays identical (F19)
and the net stays at the majority label's accuracy; He beats random × 10 on the circles; every random
θ_0 breaks the symmetry; scratch and Lightning agree on the headline numbers."""
import numpy as np
import pytest

from experiments.config import load_config
from experiments.main_job import experiment_job
from experiments.studies import init
from conftest import PNG_MAGIC



@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """init.toml at 3000 of its 15000 steps, scratch: (runs by variant, report, run_dir)."""
    logdir = tmp_path_factory.mktemp("init")
    runs, report = experiment_job(load_config("init").with_steps(3000), logdir=str(logdir))
    return {vr.variant: vr for vr in runs}, report, logdir / "init"


def test_the_config_has_the_five_initializations():
    runs = dict(load_config("init").runs())
    assert {(c.init, c.scale if c.init == "random" else None) for c in runs.values()} == {
        ("zeros", None), ("random", 10.0), ("random", 0.01), ("xavier", None), ("he", None)}
    assert {c.learning_rate for c in runs.values()} == {0.01}


def test_unit_spread_measures_how_far_units_are_from_identical():
    params = {"W1": np.array([[1.0, 2.0], [1.0, 2.5]]), "b1": np.zeros((2, 1)),
              "W2": np.ones((1, 2)), "b2": np.zeros((1, 1))}
    assert init.unit_spread(params, 2) == (0.5, 0.0)
    params["W1"][1] = params["W1"][0]
    assert init.unit_spread(params, 2) == (0.0, 0.0)               # W2 (the output layer) is not looked at


def test_zeros_keeps_every_hidden_unit_identical_and_stays_at_chance(short):
    runs, _, _ = short
    zeros = runs["zeros"]
    assert init.unit_spread(zeros.results[0].params, 3) == (0.0, 0.0)
    Y = zeros.data.train[1]
    assert zeros.results[0].accuracy["train"] <= init.majority(Y) + 0.02
    assert abs(zeros.results[0].accuracy["train"] - 0.5) < 0.1


def test_every_random_start_breaks_the_symmetry(short):
    runs, _, _ = short
    for name in ("random", "random-0.01", "xavier", "he"):
        assert max(init.unit_spread(runs[name].results[0].params, 3)) > 1e-6, name


def test_he_beats_large_random_weights(short):
    runs, report, _ = short
    he, large = (runs[n].results[0].accuracy["train"] for n in ("he", "random"))
    assert he >= 0.9 and he >= large + 0.08
    assert report.holds is True


def test_results_page_and_figures(short):
    _, report, run_dir = short
    assert (run_dir / "results.md").is_file()
    text = (run_dir / "results.md").read_text()
    assert "max \\|W[l][i] - W[l][0]\\|" in text
    names = [name for name, _ in report.figures]
    assert "costs.png" in names and init.BOUNDARIES_NAME in names
    for name in names:
        with open(run_dir / name, "rb") as f:
            assert f.read(8) == PNG_MAGIC, name


@pytest.mark.usefixtures("restored_torch_state")
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_scratch_and_lightning_agree_on_the_headline(tmp_path):
    pytest.importorskip("lightning")
    cfg = load_config("init").with_steps(200)
    cfg = cfg.override(impls=("scratch", "lightning"), log_every=20)
    cfg = cfg.only("zeros", "he")
    runs, report = experiment_job(cfg, logdir=str(tmp_path))
    for vr in runs:
        scratch, light = vr.results
        assert light.impl == "lightning" and vr.agree, vr.variant
        assert light.accuracy == scratch.accuracy, vr.variant
        np.testing.assert_allclose(init.unit_spread(light.params, 3), init.unit_spread(scratch.params, 3),
                                   atol=1e-12)
    assert init.unit_spread(runs[0].results[1].params, 3) == (0.0, 0.0)     # zeros, Lightning's θ_N
