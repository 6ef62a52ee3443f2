"""`python -m experiments logistic`, shortened: the larger learning rate lowers the cost more in the
same iterations, the course's propagate/optimize loop is the one-neuron network, the cat images come
in through --data, and scratch and Lightning give the same headline number."""
import os

import numpy as np
import pytest

from experiments.cli import with_data
from experiments.config import load_config
from experiments.main_job import experiment_job
from experiments.studies import logistic
from conftest import PNG_MAGIC



@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """logistic.toml at 300 of its 1500 iterations, scratch: (runs, report, run_dir)."""
    logdir = tmp_path_factory.mktemp("logistic")
    runs, report = experiment_job(load_config("logistic").with_steps(300), logdir=str(logdir))
    return runs, report, logdir / "logistic"


def test_the_config_is_the_courses_logistic_regression():
    cfg = load_config("logistic")
    runs = dict(cfg.runs())
    assert {c.learning_rate for c in runs.values()} == {0.01, 0.001, 0.0001}
    for c in runs.values():
        assert (c.dataset, c.layer_dims, c.activations, c.init) == ("digits", (64, 1), ("sigmoid",), "zeros")
        assert logistic.is_logistic(c)


def test_data_turns_it_into_the_cat_images():
    cfg = with_data(load_config("logistic"), ("a.h5", "b.h5"))
    for _, c in cfg.runs():
        assert (c.dataset, c.layer_dims) == ("catvnoncat", (12288, 1))
    assert {c.learning_rate for _, c in cfg.runs()} == {0.01, 0.001, 0.0001}     # the rates stay
    assert with_data(load_config("logistic"), None).dataset == "digits"


def test_a_larger_rate_lowers_the_cost_more(short):
    runs, report, _ = short
    cost = {vr.config.learning_rate: float(vr.results[0].final_cost) for vr in runs}
    start = float(runs[0].results[0].costs[0])
    assert cost[0.01] < cost[0.001] < cost[0.0001] < start
    assert start - cost[0.0001] < 0.5 * (start - cost[0.01])       # the small rate barely moves it
    assert report.holds is True


def test_the_courses_loop_is_the_one_neuron_network(short):
    runs, report, _ = short
    for vr in runs:
        d = logistic.loop_vs_network(vr)
        assert d["ok"] and d["compared"] == 3                      # J at 0, 100, 200
        assert max(d["w"], d["b"], d["J"]) < 1e-12
    assert "the course's loop equals the one-neuron network" in report.outcome


def test_the_loop_check_sees_a_different_network(short):
    runs, _, _ = short
    vr = runs[0]
    ref = vr.results[0]
    moved = dict(ref.params, W1=ref.params["W1"] + 1e-6)
    vr_moved = type(vr)(vr.variant, vr.config, vr.sizes, [type(ref)(**{**vars(ref), "params": moved})], [], vr.data)
    assert logistic.loop_vs_network(vr_moved)["ok"] is False


def test_results_page_and_figures(short):
    _, report, run_dir = short
    assert (run_dir / "results.md").is_file()
    names = [name for name, _ in report.figures]
    assert names[:1] == ["costs.png"] and logistic.WEIGHTS_NAME in names
    for name in names:
        with open(run_dir / name, "rb") as f:
            assert f.read(8) == PNG_MAGIC, name


@pytest.mark.usefixtures("restored_torch_state")
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_scratch_and_lightning_agree_on_the_cost(tmp_path):
    pytest.importorskip("lightning")
    cfg = load_config("logistic").with_steps(100)
    cfg = cfg.override(impls=("scratch", "lightning")).replace(variants=cfg.variants[:1])
    runs, report = experiment_job(cfg, logdir=str(tmp_path))
    scratch, light = runs[0].results
    assert light.impl == "lightning" and runs[0].agree
    np.testing.assert_allclose(light.final_cost, scratch.final_cost, rtol=1e-8)
    assert light.accuracy == scratch.accuracy
    assert os.path.isfile(tmp_path / "logistic" / "results.md")
