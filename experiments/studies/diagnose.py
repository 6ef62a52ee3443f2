"""Bias and variance (F25): the course's cases through scratch.diagnostics.diagnose, each with the
diagnosis and the basic recipe's next step (experiments/configs/diagnose.toml).

No training: a case is three error rates (fractions), train, dev and the baseline (human) error,
and the label the course gives it. study_args.cases lists them; a user adds a case of their own by
appending a table (its `expected` label may be left out: it is then diagnosed, not checked).

    avoidable bias = train error - base error        high when > tol
    variance       = dev error - train error         high when > tol
"""
import os

from scratch.diagnostics import DIAGNOSIS_TOL, diagnose

from .. import figures
from ..report import Report, Table, diagnosis_line, percent, recipe
from . import args

# The course's examples (Course 2, week 1), errors as fractions.
COURSE_CASES = (
    {"name": "1 % / 11 %", "train_error": 0.01, "dev_error": 0.11, "expected": "high variance"},
    {"name": "15 % / 16 %", "train_error": 0.15, "dev_error": 0.16, "expected": "high bias"},
    {"name": "15 % / 30 %", "train_error": 0.15, "dev_error": 0.30, "expected": "high bias and high variance"},
    {"name": "0.5 % / 1 %", "train_error": 0.005, "dev_error": 0.01, "expected": "ok"},
    {"name": "15 % / 16 %, base 15 %", "train_error": 0.15, "dev_error": 0.16, "base_error": 0.15,
     "expected": "ok"},
)
DEFAULTS = {"cases": COURSE_CASES, "tol": DIAGNOSIS_TOL}
CASE_KEYS = {"name", "train_error", "dev_error", "base_error", "expected"}
LABELS = ("ok", "high bias", "high variance", "high bias and high variance")
FIGURE = "bias_variance.png"


def check_case(cfg, k, case):
    """Case k of study_args.cases as a dict with every key (name defaults to "case k", base_error to
    the config's base_error, expected to None). ValueError naming the case for an unknown key, a
    missing error rate or an unknown expected label."""
    where = f"{cfg.name}: study_args.cases[{k}]"
    if not isinstance(case, dict):
        raise ValueError(f"{where} must be a table {{train_error = ..., dev_error = ...}}; got {case!r}")
    unknown = sorted(set(case) - CASE_KEYS)
    missing = sorted({"train_error", "dev_error"} - set(case))
    if unknown or missing:
        raise ValueError(f"{where}: " + (f"unknown key(s) {unknown}" if unknown else f"missing {missing}")
                         + f"; known keys {sorted(CASE_KEYS)}")
    if case.get("expected") is not None and case["expected"] not in LABELS:
        raise ValueError(f"{where}: expected must be one of {list(LABELS)}; got {case['expected']!r}")
    return {"name": f"case {k}", "base_error": cfg.base_error, "expected": None, **case}


def diagnose_case(case, tol):
    """(Diagnosis, matches) of one checked case: matches is None when the case has no expected label.
    ValueError naming the case for an error rate outside [0, 1]."""
    try:
        d = diagnose(case["train_error"], case["dev_error"], case["base_error"], tol)
    except (ValueError, TypeError) as err:
        raise ValueError(f"case {case['name']!r}: {err}") from None
    return d, (None if case["expected"] is None else d.label == case["expected"])


def plane_figure(rows, tol):
    """The (avoidable bias, variance) plane: the tol lines cut it into the four diagnoses, one point per case."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    bias = [100 * d.avoidable_bias for _, d, _ in rows]
    var = [100 * d.variance for _, d, _ in rows]
    top = max([3 * 100 * tol] + [abs(v) + 2 for v in bias + var])
    low = min([-2.0] + [v - 2 for v in bias + var])
    t = 100 * tol
    regions = (("ok", (low, t), (low, t), "white"), ("high bias", (t, top), (low, t), "#fdf1e0"),
               ("high variance", (low, t), (t, top), "#e6eefa"),
               ("high bias and high variance", (t, top), (t, top), "#f3e6f3"))
    for text, (x0, x1), (y0, y1), shade in regions:      # each diagnosis's region, its name in a corner
        ax.fill_between([x0, x1], y0, y1, color=shade, zorder=0)
        ax.text(x1 - 0.2, y0 + 0.2, text, ha="right", va="bottom", color="0.4", fontsize=9)
    ax.axvline(t, color="k", linestyle="--", linewidth=0.8)
    ax.axhline(t, color="k", linestyle="--", linewidth=0.8)
    middle = sorted(var)[len(var) // 2]
    for (case, d, match), x, y in zip(rows, bias, var):
        colour = {True: "tab:green", False: "tab:red", None: "tab:blue"}[match]
        ax.scatter([x], [y], color=colour, zorder=3)
        ax.annotate(case["name"], (x, y), textcoords="offset points", xytext=(6, 5 if y >= middle else -12), fontsize=8)
    ax.set_xlim(low, top)
    ax.set_ylim(low, top)
    ax.set_xlabel("avoidable bias = train error - base error (%)")
    ax.set_ylabel("variance = dev error - train error (%)")
    ax.set_title(f"F25: each case in the bias/variance plane (dashed: tol {percent(tol)}); green: the "
                 "course's label, red: not", fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def run_study(cfg, run_dir, impls, device):
    """Diagnose every case of study_args.cases (default COURSE_CASES); holds when each case with an
    expected label gets it (None when no case has one). impls and device are not used: no training."""
    a = args(cfg, DEFAULTS)
    cases = [check_case(cfg, k, c) for k, c in enumerate(a["cases"])]
    if not cases:
        raise ValueError(f"{cfg.name}: study_args.cases is empty; give at least one case")
    rows = [(c, *diagnose_case(c, a["tol"])) for c in cases]
    table = Table(["case", "train error", "dev error", "base error", "avoidable bias", "variance", "diagnosis",
                   "the course's label", "matches", "what to try next (the basic recipe)"],
                  [[c["name"], percent(c["train_error"]), percent(c["dev_error"]), percent(c["base_error"]),
                    percent(d.avoidable_bias), percent(d.variance), d.label, c["expected"], match, recipe(d)]
                   for c, d, match in rows],
                  f"Bias and variance (F25): high means more than {percent(a['tol'])}")
    checked = [m for _, _, m in rows if m is not None]
    holds = all(checked) if checked else None
    outcome = (f"{sum(checked)} of {len(checked)} cases get the course's label: "
               + "; ".join(f"{c['name']} -> {d.label}" for c, d, _ in rows))
    figures.save_png(plane_figure(rows, a["tol"]), os.path.join(run_dir, FIGURE))
    lines = [f"- {c['name']}: {diagnosis_line(1 - c['train_error'], 1 - c['dev_error'], c['base_error'])}"
             for c, _, _ in rows]
    notes = ["The diagnosis line every training experiment prints (experiments.report.diagnosis_line, at the "
             f"default tol {percent(DIAGNOSIS_TOL)}), for each case:", ""] + lines
    return Report(cfg.name, cfg.claim, outcome, holds, [table],
                  [(FIGURE, "each case in the (avoidable bias, variance) plane; the dashed lines at tol "
                            "separate the four diagnoses")], notes)
