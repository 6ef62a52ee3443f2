"""experiments/configs/regularization.toml (study regularization, F20 and F22) in 1800 steps at α = 0.1
instead of 5000 at 0.05 (the same path, still below the edge of stability, which comes at step 1910):
the unregularized net overfits, L2 keeps its weights small and narrows the train-dev gap, dropout
narrows it too; scratch and Lightning (shared dropout masks) train the same nets."""
import pytest

from experiments.config import load_config
from experiments.main_job import experiment_job
from experiments.studies import regularization as study
from conftest import PNG_MAGIC



@pytest.fixture(scope="module")
def result(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("regularization")
    cfg = load_config("regularization").override(learning_rate=0.1).with_steps(1800)
    runs, report = experiment_job(cfg, logdir=str(logdir))
    return {vr.variant: study.measures(vr) for vr in runs}, report, logdir / "regularization"


def test_the_config_changes_one_thing_per_variant():
    runs = dict(load_config("regularization").runs())
    assert list(runs) == ["none", "L2", "dropout", "both"]
    assert runs["none"].layer_dims == (2, 20, 3, 1) and runs["none"].lambd == 0 and runs["none"].keep_probs is None
    assert runs["none"].replace(lambd=0.7) == runs["L2"]
    assert runs["none"].replace(keep_probs=(0.86, 0.86)) == runs["dropout"]
    assert runs["L2"].replace(keep_probs=(0.86, 0.86)) == runs["both"]


def test_the_claim_holds_and_the_page_and_figures_are_written(result):
    _, report, run_dir = result
    assert report.holds is True
    assert "the claim **holds**" in (run_dir / "results.md").read_text()
    assert {name for name, _ in report.figures} == {"costs.png", "boundaries.png"}
    for name, _ in report.figures:
        assert (run_dir / name).read_bytes()[:8] == PNG_MAGIC


def test_the_unregularized_net_overfits(result):
    m = result[0]
    assert m["none"]["gap"] > 0.04 and m["none"]["train"] > 0.9


def test_l2_shrinks_the_weights_and_the_gap(result):
    m = result[0]
    assert m["L2"]["weights"] < 0.5 * m["none"]["weights"]
    assert m["both"]["weights"] < 0.5 * m["none"]["weights"]
    assert m["L2"]["gap"] < m["none"]["gap"] - 0.03


def test_dropout_narrows_the_gap(result):
    m = result[0]
    assert m["dropout"]["gap"] < m["none"]["gap"] - 0.02
    assert m["both"]["gap"] < m["none"]["gap"] - 0.02


def test_holds_is_computed_from_the_numbers():
    m = {"none": {"gap": 0.10, "weights": 100.0, "lambd": 0.0}, "L2": {"gap": 0.02, "weights": 20.0, "lambd": 0.7},
         "dropout": {"gap": 0.05, "weights": 90.0, "lambd": 0.0}}
    assert study.holds(m)
    assert not study.holds({**m, "dropout": {**m["dropout"], "gap": 0.12}})         # dropout widened the gap
    assert not study.holds({**m, "L2": {**m["L2"], "weights": 150.0}})               # L2 grew the weights
    assert not study.holds({k: {**v, "gap": v["gap"] / 10} for k, v in m.items()})   # nothing overfitted


@pytest.mark.usefixtures("restored_torch_state")
def test_scratch_and_lightning_agree_on_the_gaps_and_weights(tmp_path):
    pytest.importorskip("lightning")
    cfg = load_config("regularization").only("none", "both").replace(impls=("scratch", "lightning")).with_steps(100)
    runs, report = experiment_job(cfg, logdir=str(tmp_path))
    for vr in runs:
        assert vr.agree, report.verdicts
        ref, light = vr.results
        assert ref.accuracy == light.accuracy
        assert study.weight_norm(light.params) == pytest.approx(study.weight_norm(ref.params), rel=1e-10)
