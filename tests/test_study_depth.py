"""experiments/configs/depth.toml (study depth) shortened to 300 steps: a row and a point for every
depth, the verdict computed from them, the figure; scratch and Lightning agree at each depth's own
learning rate. (At 300 steps the deep nets, at their small stable rates, have barely started: the
claim itself is measured at the default 10000 steps, see the config.)"""
import pytest

from experiments.config import load_config
from experiments.main_job import experiment_job
from experiments.studies import depth as study
from conftest import PNG_MAGIC



@pytest.fixture(scope="module")
def result(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("depth")
    runs, report = experiment_job(load_config("depth").with_steps(300), logdir=str(logdir))
    return runs, report, logdir / "depth"


def test_every_depth_has_its_own_stable_rate():
    runs = dict(load_config("depth").runs())
    assert [len(c.layer_dims) - 1 for c in runs.values()] == [2, 3, 5, 9]
    rates = [c.learning_rate for c in runs.values()]
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == 4          # deeper, smaller steps


def test_a_row_for_every_depth_and_the_verdict_follows_them(result):
    runs, report, _ = result
    [table] = [t for t in report.tables if t.title.startswith("Accuracy by depth")]
    assert [row[0] for row in table.rows] == [2, 3, 5, 9]
    for row, vr in zip(table.rows, sorted(runs, key=study.layers)):
        assert row[1] == vr.variant and row[5:7] == [vr.results[0].accuracy["train"], vr.results[0].accuracy["dev"]]
    assert report.holds is study.holds(study.rows(runs))


def test_the_page_and_figures_are_written(result):
    _, report, run_dir = result
    assert (run_dir / "results.md").exists()
    assert {name for name, _ in report.figures} == {"costs.png", "accuracy.png"}
    for name, _ in report.figures:
        assert (run_dir / name).read_bytes()[:8] == PNG_MAGIC


def test_holds_when_every_deeper_net_fits_better():
    row = lambda L, train: (L, f"L{L}", 0.1, 0.3, train, 0.8, 0.8)          # noqa: E731
    assert study.holds([row(2, 0.82), row(3, 0.90), row(5, 0.94), row(9, 0.94)])
    assert not study.holds([row(2, 0.82), row(3, 0.90), row(5, 0.94), row(9, 0.55)])   # one deep net behind
    assert not study.holds([row(3, 0.82), row(5, 0.90)])                   # no one-hidden-layer net to compare
    assert not study.holds([row(2, 0.82)])


@pytest.mark.usefixtures("restored_torch_state")
def test_scratch_and_lightning_agree_at_each_depths_rate(tmp_path):
    pytest.importorskip("lightning")
    cfg = load_config("depth").only("L2", "L9").replace(impls=("scratch", "lightning")).with_steps(100)
    runs, report = experiment_job(cfg, logdir=str(tmp_path))
    for vr in runs:
        assert vr.agree, report.verdicts
        assert vr.results[0].accuracy == vr.results[1].accuracy
