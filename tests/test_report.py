"""The results pages (experiments/report.py), the studies' plumbing (experiments/studies), the config
keys they use (claim, base_error, init_seed, augment, study, study_args, --data's with_data) and
`python -m experiments all` (experiments/all.py)."""

import numpy as np
import pytest

from experiments import all as all_cmd
from experiments import report, runner, studies
from experiments.cli import main, with_data
from experiments.config import Config, load_config
from experiments.main_job import experiment_job
from conftest import PNG_MAGIC



def tiny(**changes):
    base = dict(name="tiny", dataset="flower", m=60, layer_dims=(2, 3, 1), activations=("tanh", "sigmoid"),
                learning_rate=0.5, num_iterations=20, log_every=5, impls=("scratch",))
    return Config(**{**base, **changes})


# ---------------------------------------------------------------- report.py

def test_cells_and_tables():
    assert [report.cell(v) for v in (None, True, False, 0.5, 0.0, 1e-5, 2e6, 3, "x")] == \
        ["-", "yes", "no", "0.500", "0.000", "1.00e-05", "2.00e+06", "3", "x"]
    text = report.markdown_table(report.Table(["a", "b|c"], [[1, 0.25]], "T"))
    assert text.splitlines() == ["**T**", "", "| a | b\\|c |", "|---|---|", "| 1 | 0.250 |"]


@pytest.mark.parametrize("holds, word", [(True, "the claim **holds**"), (False, "the claim **does NOT hold**"),
                                         (None, None)])
def test_render_states_claim_outcome_and_verdict(holds, word):
    r = report.Report("exp", "Claim C.", "measured M", holds, [report.Table(["x"], [[1]])], [("f.png", "cap")],
                      ["a note"], verdicts=["parity v: scratch, torch agree (...)"])
    page = report.render(r, "python -m experiments exp", figure_prefix="results/exp/")
    assert page.startswith("# exp\n\n`python -m experiments exp`\n")
    assert "- **The course's claim:** Claim C." in page
    assert "![cap](results/exp/f.png)" in page and "a note" in page
    assert "- **Parity** v: scratch, torch agree" in page
    measured = next(line for line in page.splitlines() if line.startswith("- **Measured:**"))
    assert (word in measured) if word else measured == "- **Measured:** measured M"


# the course's examples of F25 (errors as fractions) and the label each must get
COURSE_CASES = [(0.01, 0.11, 0.0, "high variance"), (0.15, 0.16, 0.0, "high bias"),
                (0.15, 0.30, 0.0, "high bias and high variance"), (0.005, 0.01, 0.0, "ok"), (0.15, 0.16, 0.15, "ok")]


@pytest.mark.parametrize("train_err, dev_err, base, label", COURSE_CASES)
def test_diagnosis_line_gives_the_course_label_and_its_recipe(train_err, dev_err, base, label):
    line = report.diagnosis_line(1 - train_err, 1 - dev_err, base)
    assert f"-> {label}" in line
    assert f"train error {100 * train_err:.1f} %" in line and f"dev error {100 * dev_err:.1f} %" in line
    if label == "ok":
        assert "next" not in line
    else:      # the course's recipe fixes the bias first, then the variance
        first = "high bias" if "bias" in label else "high variance"
        assert f"next, for the {first}:" in line
        assert ("bigger network" in line) == ("bias" in label)
        assert ("then for the high variance: more data" in line) == (label == "high bias and high variance")
    assert report.diagnosis_line(0.9, None) == "no dev set: no diagnosis"


# ---------------------------------------------------------------- config keys the studies use

def test_init_seed_changes_theta_0_only(tmp_path):
    (a,), (b,), (c,) = (runner.run(cfg, logdir=str(tmp_path / str(k))) for k, cfg in
                        enumerate([tiny(), tiny(init_seed=0), tiny(init_seed=7)]))
    assert np.array_equal(a.data.train[0], c.data.train[0])            # the same data and split
    assert a.results[0].final_cost == b.results[0].final_cost           # init_seed = seed: the same run
    assert a.results[0].final_cost != c.results[0].final_cost           # another θ_0


def test_augment_flip_doubles_the_training_part_only():
    plain = runner.load_data(Config(name="d", dataset="digits", layer_dims=(64, 1), activations=("sigmoid",)))
    flipped = runner.load_data(Config(name="d", dataset="digits", layer_dims=(64, 1), activations=("sigmoid",),
                                      augment="flip"))
    m = plain.train[0].shape[1]
    assert flipped.train[0].shape == (64, 2 * m) and np.array_equal(flipped.train[1][:, m:], plain.train[1])
    mirrored = plain.train[0].reshape(8, 8, m)[:, ::-1, :].reshape(64, m)
    assert np.array_equal(flipped.train[0][:, m:], mirrored)
    assert np.array_equal(flipped.dev[0], plain.dev[0]) and np.array_equal(flipped.test[0], plain.test[0])
    with pytest.raises(ValueError, match="augment = 'flip' needs a data set of images"):
        tiny(augment="flip")
    with pytest.raises(ValueError, match="augment must be one of"):
        Config(name="d", dataset="digits", layer_dims=(64, 1), activations=("sigmoid",), augment="rotate")


def test_with_data_applies_the_configs_cat_keys_only_with_data():
    cfg = tiny(study_args={"with_data": {"dataset": "catvnoncat", "layer_dims": [12288, 3, 1]}})
    assert with_data(cfg, None) is cfg
    cats = with_data(cfg, ("train.h5", "test.h5"))
    assert cats.dataset == "catvnoncat" and cats.layer_dims == (12288, 3, 1) and cats.study_args is None
    assert with_data(tiny(), ("a", "b")).dataset == "flower"              # no table: runner.run refuses --data


def test_study_args_and_an_unknown_study():
    cfg = tiny(study="flower", study_args={"k": [1, 2]})
    assert studies.args(cfg, {"k": (), "w": 0.5}) == {"k": (1, 2), "w": 0.5}
    with pytest.raises(ValueError, match=r"unknown study_args key\(s\) \['k'\]"):
        studies.args(cfg, {"w": 0.5})
    with pytest.raises(ValueError, match="no study 'nosuch' in experiments/studies"):
        studies.load("nosuch")
    with pytest.raises(ValueError, match="study must be the name of a module"):
        tiny(study="../x")


def test_an_unknown_study_is_refused_before_anything_trains(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text('study = "nosuch"\nnum_iterations = 5\nimpls = ["scratch"]\n')
    assert main([str(path), "--logdir", str(tmp_path / "logs")]) == 1
    assert "no study 'nosuch'" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()


def test_a_training_experiment_without_a_study_gets_the_generic_page(tmp_path, capsys):
    cfg = tiny(claim="Tiny nets train.", base_error=0.05)
    runs, rep = experiment_job(cfg, logdir=str(tmp_path))
    out = capsys.readouterr().out
    assert rep.claim == "Tiny nets train." and rep.holds is None
    assert "claim: Tiny nets train." in out and "bias/variance (F25):" in out and "base error 5.0 %" in out
    page = (tmp_path / "tiny" / "results.md").read_text()
    assert "**Every run**" in page and "Bias and variance (F25)" in page
    assert f"| scratch | {report.cell(float(runs[0].results[0].final_cost))} |" in page


# ---------------------------------------------------------------- the course's studies of the older configs

def test_flower_separates_and_draws_each_implementations_boundary(tmp_path):
    cfg = load_config("flower").replace(num_iterations=2000, impls=("scratch", "torch"))
    runs, rep = experiment_job(cfg, logdir=str(tmp_path))
    assert rep.holds is True and runs[0].agree
    assert runs[0].results[0].accuracy["train"] > 0.85
    with open(tmp_path / "flower" / "boundaries.png", "rb") as f:
        assert f.read(8) == PNG_MAGIC


def test_flower_does_not_claim_what_a_short_run_does_not_show(tmp_path):
    _, rep = experiment_job(load_config("flower").replace(num_iterations=5, impls=("scratch",)), logdir=str(tmp_path))
    assert rep.holds is False


def test_adam_and_decay_beat_plain_minibatch_gd(tmp_path):
    _, rep = experiment_job(load_config("optimizers").with_steps(100), logdir=str(tmp_path))
    costs = {row[0]: row[4] for row in rep.tables[0].rows}
    assert costs["adam"] < costs["gd"] and costs["gd-decay"] < costs["gd"] and rep.holds is True


def test_multiclass_is_far_above_chance(tmp_path):
    _, rep = experiment_job(load_config("multiclass").with_steps(200), logdir=str(tmp_path))
    assert rep.holds is True and "chance 0.10" in rep.outcome


# ---------------------------------------------------------------- python -m experiments all

def test_all_writes_results_with_every_page_and_its_figures(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    status = main(["all", "--only", "multiclass,init", "--impl", "scratch", "--steps", "20", "--logdir",
                   str(tmp_path / "logs"), "--out", str(out)])
    assert status == 0, capsys.readouterr()
    text = (out / "RESULTS.md").read_text()
    assert "| [multiclass](#multiclass) |" in text and "| [init](#init) |" in text
    assert text.index("## init") < text.index("## multiclass")                    # the course's order
    assert "`python -m experiments multiclass --impl scratch --steps 20`" in text and "cores" in text
    links = [line[line.index("](") + 2:-1] for line in text.splitlines() if line.startswith("![")]
    assert "results/multiclass/confusion.png" in links and "results/init/costs.png" in links
    for link in links:
        with open(out / link, "rb") as f:
            assert f.read(8) == PNG_MAGIC, link


def test_all_reports_a_failed_experiment_and_exits_1(tmp_path, monkeypatch, capsys):
    def broken(name, args):
        raise ValueError("boom")
    monkeypatch.setattr(all_cmd, "run_one", broken)
    status = main(["all", "--only", "flower", "--logdir", str(tmp_path / "logs"), "--out", str(tmp_path)])
    assert status == 1 and "flower failed: boom" in capsys.readouterr().err
    assert "**Failed:** boom" in (tmp_path / "RESULTS.md").read_text()


def test_all_exits_3_when_implementations_disagree(tmp_path, monkeypatch):
    monkeypatch.setattr(all_cmd, "run_one", lambda name, args: (report.Report(name, "c", "o"), False, "cmd"))
    assert main(["all", "--only", "flower", "--logdir", str(tmp_path / "logs"), "--out", str(tmp_path)]) == 3
    assert "| [flower](#flower) | - | **NO** |" in (tmp_path / "RESULTS.md").read_text()


@pytest.mark.parametrize("argv, message", [(["--only", "nosuch"], "unknown experiment"),
                                           (["--steps", "0"], "positive integer")])
def test_all_refuses_bad_options_with_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["all", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_all_runs_the_three_implementations_by_default(tmp_path, monkeypatch):
    seen = []

    def record(name, args):
        seen.append(list(args.impl))
        return report.Report(name, "c", "o"), True, "cmd"
    monkeypatch.setattr(all_cmd, "run_one", record)
    assert main(["all", "--only", "diagnose", "--logdir", str(tmp_path / "logs"), "--out", str(tmp_path)]) == 0
    assert seen == [["scratch", "torch", "lightning"]]


def test_config_only_keeps_the_named_variants_in_the_configs_order():
    cfg = load_config("init")
    assert [v.name for v in cfg.only("he", "zeros").variants] == ["zeros", "he"]
    with pytest.raises(ValueError, match=r"init: no variant\(s\) \['nosuch'\]; its variants are \['zeros'"):
        cfg.only("he", "nosuch")
