"""`python -m experiments diagnose` (F25): the course's bias/variance cases, each with its diagnosis and
the basic recipe's next step; a case of one's own in study_args.cases; error rates outside [0, 1] refused."""
import pytest

from experiments.config import load_config
from experiments.main_job import study_job
from experiments.studies import diagnose as study
from conftest import PNG_MAGIC

COURSE = {"1 % / 11 %": "high variance", "15 % / 16 %": "high bias", "15 % / 30 %": "high bias and high variance",
          "0.5 % / 1 %": "ok", "15 % / 16 %, base 15 %": "ok"}


def rows(report):
    """{case name: row dict} of the study's table."""
    table = report.tables[0]
    return {r[0]: dict(zip(table.header, r)) for r in table.rows}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The config as shipped: (Report, logdir)."""
    logdir = tmp_path_factory.mktemp("diagnose")
    return study_job(load_config("diagnose"), logdir=str(logdir)), logdir


def test_the_config_holds_the_courses_cases(tmp_path):
    cfg = load_config("diagnose")
    assert cfg.study == "diagnose" and cfg.claim
    assert {c["name"]: c["expected"] for c in cfg.study_args["cases"]} == COURSE
    assert [dict(c) for c in cfg.study_args["cases"]] == [dict(c) for c in study.COURSE_CASES]
    (tmp_path / "diagnose.toml").write_text(cfg.to_toml())              # --print-config writes the cases back
    assert load_config(str(tmp_path / "diagnose.toml")) == cfg


def test_every_course_case_gets_the_courses_label(course):
    report, logdir = course
    assert report.holds is True
    got = rows(report)
    assert {name: r["diagnosis"] for name, r in got.items()} == COURSE
    assert all(r["matches"] is True for r in got.values())
    assert "5 of 5 cases" in report.outcome
    assert (logdir / "diagnose" / "results.md").read_text().count("high variance") >= 2
    [(fname, _)] = report.figures
    assert (logdir / "diagnose" / fname).read_bytes()[:8] == PNG_MAGIC


def test_the_recipe_says_what_to_try_next_bias_first(course):
    got = rows(course[0])
    assert got["1 % / 11 %"]["what to try next (the basic recipe)"].startswith("for the high variance: more data")
    assert got["15 % / 16 %"]["what to try next (the basic recipe)"].startswith("for the high bias: bigger network")
    both = got["15 % / 30 %"]["what to try next (the basic recipe)"]
    assert both.index("for the high bias") < both.index("then for the high variance")
    assert got["0.5 % / 1 %"]["what to try next (the basic recipe)"].startswith("done")


def test_a_case_of_ones_own_is_diagnosed_and_a_wrong_label_breaks_the_claim(tmp_path):
    mine = {"name": "mine", "train_error": 0.30, "dev_error": 0.31, "base_error": 0.29}     # no expected label
    wrong = {"name": "wrong", "train_error": 0.01, "dev_error": 0.11, "expected": "ok"}
    cfg = load_config("diagnose")
    cases = list(cfg.study_args["cases"])
    report = study_job(cfg.replace(study_args={"cases": cases + [mine]}), logdir=str(tmp_path))
    assert report.holds is True and rows(report)["mine"]["diagnosis"] == "ok"
    assert rows(report)["mine"]["matches"] is None
    report = study_job(cfg.replace(study_args={"cases": cases + [wrong]}), logdir=str(tmp_path))
    assert report.holds is False and rows(report)["wrong"]["matches"] is False


@pytest.mark.parametrize("case, words", [
    ({"train_error": 1.5, "dev_error": 0.1}, ["train_error must be a fraction in [0, 1]", "case 0"]),
    ({"train_error": 0.1, "dev_error": -0.01}, ["dev_error must be a fraction in [0, 1]"]),
    ({"train_error": 0.1, "dev_error": 0.2, "base_error": 2}, ["base_error must be a fraction in [0, 1]"]),
    ({"train_error": 0.1}, ["missing ['dev_error']"]),
    ({"train_error": 0.1, "dev_error": 0.2, "trian": 1}, ["unknown key(s) ['trian']"]),
    ({"train_error": 0.1, "dev_error": 0.2, "expected": "bias"}, ["expected must be one of"]),
])
def test_a_bad_case_is_refused_by_name(tmp_path, case, words):
    cfg = load_config("diagnose").replace(study_args={"cases": [case]})
    with pytest.raises(ValueError) as err:
        study_job(cfg, logdir=str(tmp_path))
    assert all(w in str(err.value) for w in words), err.value
