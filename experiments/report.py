"""What an experiment shows: its results page, results.md, next to its TensorBoard runs.

A Report holds the course's claim (one sentence, the config's `claim`), the measured outcome beside
it (one sentence, written by the experiment's study from its own numbers), whether the outcome
supports the claim, tables of numbers, figures (PNG files in the run directory) and notes.
render() turns it into Markdown; write_results() writes <logdir>/<experiment>/results.md; the `all`
command (experiments/all.py) puts every experiment's page into experiments/RESULTS.md.

Every training experiment also gets the bias/variance diagnosis (F25) of each variant, from its
train and dev error and the config's base_error (diagnosis_line), in the printed report and in
results.md.
"""
import os
from dataclasses import dataclass, field

RESULTS_NAME = "results.md"


@dataclass
class Table:
    """A Markdown table: header (column names) and rows (lists of cells: str, or numbers shown by
    cell()), with an optional title above it."""
    header: list
    rows: list
    title: str = ""


@dataclass
class Report:
    """One experiment's results page.

    name: the experiment; claim: the course's claim, one sentence; outcome: the measured outcome,
    one sentence with its numbers; holds: whether the measurement supports the claim (None: the
    experiment makes no yes/no claim); tables: Tables; figures: [(file name in the run directory,
    caption)]; notes: further Markdown lines; agree: for an experiment that compares implementations
    itself (a study's run_study), whether they agree (None when not compared; a training
    experiment's verdicts come from its VariantRuns); verdicts: the parity lines printed."""
    name: str
    claim: str
    outcome: str
    holds: bool = None
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    agree: bool = None
    verdicts: list = field(default_factory=list)


def cell(value, digits=3):
    """A table cell: None as "-", a bool as yes/no, a float with `digits` decimals (scientific below
    1e-3 or from 1e5, except 0), anything else as str."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 10 ** -digits or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(table):
    """The Markdown text of a Table (its title in bold above it, when it has one)."""
    def row(cells):
        return "| " + " | ".join(cell(c).replace("|", "\\|") for c in cells) + " |"
    lines = [f"**{table.title}**", ""] if table.title else []
    lines += [row(table.header), "|" + "|".join("---" for _ in table.header) + "|"]
    lines += [row(r) for r in table.rows]
    return "\n".join(lines)


def verdict_word(holds):
    """"holds" / "does NOT hold" / "" (no yes/no claim) for Report.holds."""
    return {True: "holds", False: "does NOT hold", None: ""}[holds]


def render(report, command, figure_prefix="", heading="#", extra=()):
    """The Markdown page of a Report: heading, command, claim, measured outcome, tables, figures
    (links are figure_prefix + file name), notes, parity verdicts. extra: lines after the command
    (the `all` command's run time, for one)."""
    word = verdict_word(report.holds)
    lines = [f"{heading} {report.name}", "", f"`{command}`", *extra, "",
             f"- **The course's claim:** {report.claim or '(none stated)'}",
             f"- **Measured:** {report.outcome}" + (f" — the claim **{word}**." if word else "")]
    for line in report.verdicts:
        line = line.strip()
        lines.append("- " + (line.replace("parity", "**Parity**", 1) if line.startswith("parity") else
                             f"**Parity:** {line}"))
    for table in report.tables:
        lines += ["", markdown_table(table)]
    for name, caption in report.figures:
        lines += ["", f"![{caption}]({figure_prefix}{name})", f"*{caption}*"]
    for k, note in enumerate(report.notes):       # a list item continues a list; other notes are paragraphs
        if k == 0 or not note.startswith(("- ", "* ", "|")):
            lines.append("")
        lines.append(note)
    return "\n".join(lines) + "\n"


def write_results(report, run_dir, command):
    """Write render(report, command) as <run_dir>/results.md (figure links relative to it). Returns
    its path."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, RESULTS_NAME)
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(report, command))
    return path


def percent(fraction):
    """0.0312 -> "3.1 %"."""
    return f"{100 * fraction:.1f} %"


def recipe(d):
    """The course's basic recipe for scratch.diagnostics' Diagnosis d: what to try for the high bias
    first, then for the high variance (the course fixes the bias before it looks at the variance);
    "done: neither is high" when it is ok."""
    from scratch.diagnostics import RECIPE
    problems = [p for p, on in (("high bias", d.high_bias), ("high variance", d.high_variance)) if on]
    if not problems:
        return "done: neither is high"
    return "; ".join(f"{'then ' if i else ''}for the {p}: {', '.join(RECIPE[p])}" for i, p in enumerate(problems))


def diagnosis_line(train_acc, dev_acc, base_error=0.0):
    """One line of F25 (scratch.diagnostics.diagnose): train and dev error (1 - accuracy), the
    avoidable bias and the variance, the label, and the course's recipe for what to try next (recipe).
    "no dev set" when dev_acc is None."""
    from scratch.diagnostics import diagnose
    if dev_acc is None:
        return "no dev set: no diagnosis"
    d = diagnose(1 - train_acc, 1 - dev_acc, base_error)
    advice = f"; next, {recipe(d)}" if d.advice else ""
    return (f"train error {percent(1 - train_acc)}, dev error {percent(1 - dev_acc)}, base error "
            f"{percent(base_error)}: avoidable bias {percent(d.avoidable_bias)}, variance "
            f"{percent(d.variance)} -> {d.label}{advice}")


def diagnosis_lines(runs, base_error=0.0):
    """One diagnosis_line per variant of runner.run's VariantRuns (its reference implementation)."""
    width = max(len(vr.variant or "") for vr in runs)
    out = []
    for vr in runs:
        acc = vr.results[0].accuracy
        name = f"{vr.variant:{width}}  " if vr.variant else ""
        out.append(f"{name}{diagnosis_line(acc['train'], acc['dev'], base_error)}")
    return out


def results_table(runs, title="Every run"):
    """The generic Table of a training experiment: per variant and implementation, J(θ_N), the
    train, dev and test accuracy and the training time."""
    sweep = any(vr.variant for vr in runs)
    header = (["variant"] if sweep else []) + ["impl", "J(θ_N)", "train acc", "dev acc", "test acc", "wall s"]
    rows = []
    for vr in runs:
        for r in vr.results:
            rows.append(([vr.variant] if sweep else []) + [r.impl, float(r.final_cost), r.accuracy["train"],
                                                           r.accuracy["dev"], r.accuracy["test"],
                                                           f"{r.wall_s:.2f}"])
    return Table(header, rows, title)


def generic_report(cfg, runs, figures=()):
    """The Report of a training experiment without a study of its own: the results table, the
    diagnosis of each variant and the figures main_job wrote ([(file name, caption)]). Its outcome
    names the best variant by dev accuracy (or the one run's accuracies)."""
    ref = [(vr.variant, vr.results[0]) for vr in runs]
    if len(ref) > 1:
        best_name, best = max(ref, key=lambda p: (p[1].accuracy["dev"] or 0))
        outcome = (f"best dev accuracy {best.accuracy['dev']:.3f} ({best_name}); "
                   + ", ".join(f"{n} {r.accuracy['dev']:.3f}" for n, r in ref if r.accuracy["dev"] is not None))
    else:
        r = ref[0][1]
        outcome = (f"train accuracy {r.accuracy['train']:.3f}, dev accuracy "
                   f"{cell(r.accuracy['dev'])}, J(θ_N) = {r.final_cost:.4g} ({r.impl})")
    diagnosis = Table(["variant", "diagnosis (F25)"],
                      [[vr.variant or cfg.name, diagnosis_line(vr.results[0].accuracy["train"],
                                                               vr.results[0].accuracy["dev"], cfg.base_error)]
                       for vr in runs], "Bias and variance (F25)")
    return Report(cfg.name, cfg.claim, outcome, None, [results_table(runs), diagnosis], list(figures))
