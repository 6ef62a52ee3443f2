"""`python -m experiments early-stopping` (F26): on a net that overfits, early stopping on the dev cost
stops before the last step and keeps θ of the logged step with the lowest dev cost; scratch's and
Lightning's early stopping stop at the same step with the same θ. The full run's numbers are in
experiments/configs/early-stopping.toml."""
import numpy as np
import pytest

from experiments import runner
from experiments.config import load_config
from experiments.main_job import study_job
from experiments.studies import early_stopping as study
from conftest import PNG_MAGIC

pytestmark = [pytest.mark.usefixtures("restored_torch_state"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec.*")]   # Lightning 2.6 with torch 2.13, harmless
STEPS = 2000                 # the whole run, shortened (the full config's dev cost bottoms out near step 400)


def small(impls=("scratch",), steps=STEPS, patience=None):
    cfg = load_config("early-stopping").replace(impls=impls).with_steps(steps)
    return cfg if patience is None else cfg.replace(study_args={"patience": patience})


def test_the_kept_parameters_are_those_of_the_lowest_dev_cost():
    cfg = small()
    data, params0 = runner.load_data(cfg), runner.initial_params(cfg)
    res, thetas = study.run_scratch(cfg, data, params0, patience=10)
    steps = [r["step"] for r in res.history]
    dev = [r["dev_cost"] for r in res.history]
    assert res.stopped_early and steps[-1] < cfg.num_iterations - cfg.log_every      # stopped before the end
    assert res.best_step == steps[int(np.argmin(dev))] < steps[-1]
    assert set(thetas) == set(steps)                                     # θ recorded at every logged step
    for key, value in thetas[res.best_step].items():                     # kept θ = θ_best, exactly
        np.testing.assert_array_equal(res.params[key], value, err_msg=key)
    assert any(not np.array_equal(res.params[k], res.final_params[k]) for k in res.params)   # not θ at the stop
    assert dev[-1] > min(dev) + 0.005                                    # the dev cost rose after its low


@pytest.fixture(scope="module")
def scratch_report(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("early")
    return study_job(small(), logdir=str(logdir)), logdir


def test_the_study_holds_and_writes_its_page_and_figure(scratch_report):
    report, logdir = scratch_report
    assert report.holds is True and report.agree is None                # one implementation: no comparison
    [row] = report.tables[0].rows
    impl, stop, best = row[:3]
    assert impl == "scratch" and best < stop < STEPS and row[4] == "0"
    kept, final = report.tables[1].rows
    assert kept[4] < final[4] - 0.05                                      # test cost: kept θ against θ_N
    assert f"stopped at step {stop} of {STEPS} and kept θ_{best}" in report.outcome
    assert (logdir / "early-stopping" / "results.md").is_file()
    [(fname, _)] = report.figures
    assert (logdir / "early-stopping" / fname).read_bytes()[:8] == PNG_MAGIC


def test_without_a_stop_the_claim_does_not_hold(tmp_path):
    """A patience longer than the run: it never stops early, and the study says so."""
    report = study_job(small(steps=400, patience=100), logdir=str(tmp_path))
    assert report.holds is False
    assert report.tables[0].rows[0][1] == 400                             # ran every step


def test_scratch_and_lightning_stop_at_the_same_step_with_the_same_parameters(tmp_path):
    report = study_job(small(impls=("scratch", "lightning"), steps=800), logdir=str(tmp_path))
    assert report.agree is True
    scratch, lightning = report.tables[0].rows
    assert lightning[0] == "lightning" and lightning[1:3] == scratch[1:3]  # stopping step, best step
    assert lightning[3] == pytest.approx(scratch[3], rel=1e-8)             # dev cost of the kept θ
    [line] = report.verdicts
    assert line.startswith("scratch, lightning agree") and f"stopped at step {scratch[1]} / {scratch[1]}" in line
    assert (tmp_path / "early-stopping" / "checkpoints").is_dir()       # Lightning's checkpoints, in the run dir


def test_a_run_too_short_to_stop_still_agrees(tmp_path):
    """400 steps: the dev cost is still falling, neither stops; Lightning's last validation is of θ_N
    (scratch logs θ_i before update i < N only), and its kept θ_N is scratch's θ_N."""
    report = study_job(small(impls=("scratch", "lightning"), steps=400), logdir=str(tmp_path))
    assert report.agree is True and report.holds is False
    scratch, lightning = report.tables[0].rows
    assert scratch[1] == lightning[1] == 400
    assert (scratch[2], lightning[2]) == (400 - 20, 400)                  # still falling: the last one each saw
    assert "(θ_N, validated by Lightning only)" in report.verdicts[0]
