"""The README stays true: its first code block holds the two fresh-machine commands, and its
parity examples run as written and pass."""
import contextlib
import io
import os
import re

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _blocks(lang):
    text = open(README, encoding="utf-8").read()
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def test_first_block_holds_the_two_commands():
    first = re.search(r"^```[a-z]*\n(.*?)^```", open(README, encoding="utf-8").read(), flags=re.S | re.M)
    lines = [ln for ln in first.group(1).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(lines) == 2
    assert lines[0].endswith("python -m experiments") and lines[1].endswith("python -m pytest")


PARITY_EXAMPLES = [code for code in _blocks("python") if "torch_ref.parity" in code]


@pytest.mark.parametrize("code", PARITY_EXAMPLES, ids=[f"example{i}" for i in range(len(PARITY_EXAMPLES))])
def test_parity_example_runs_and_passes(code):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    printed = out.getvalue()
    assert "PASSED" in printed and "FAIL" not in printed, printed


def test_there_are_parity_examples():
    assert len(PARITY_EXAMPLES) >= 2


def test_every_code_fence_stands_alone_on_its_line():
    """A fence followed by text on the same line (``` `tests/...` ...) turns the rest of the README into code."""
    for number, line in enumerate(open(README, encoding="utf-8").read().splitlines(), start=1):
        if line.lstrip().startswith("```"):
            assert re.fullmatch(r"\s*```[a-z]*\s*", line), f"README.md:{number}: {line!r}"


LIGHTNING_EXAMPLE = next(code for code in _blocks("python") if "train_lightning(" in code and "devices=2" not in code)


@pytest.mark.filterwarnings("error::UserWarning")
def test_lightning_example_runs_anywhere_quietly(capfd):
    """The README's train_lightning snippet runs on a machine without a GPU and prints only its result."""
    from torch_ref.lightning import restored_global_state
    with restored_global_state():
        exec(compile(LIGHTNING_EXAMPLE, "README.md", "exec"), {"__name__": "readme_example"})
    out = capfd.readouterr()
    assert out.err == "" and re.fullmatch(r"tensor\(0\.\d+\)\n", out.out), out


OPTIMIZER_EXAMPLE = next(code for code in _blocks("python") if "optimizer=" in code)


def test_optimizer_example_prints_the_same_cost_twice(capsys):
    exec(compile(OPTIMIZER_EXAMPLE, "README.md", "exec"), {"__name__": "readme_example"})
    a, b = map(float, capsys.readouterr().out.split())
    assert a == pytest.approx(b, rel=1e-8) and a < 0.69


KEEP_BLOCK = next(code for code in _blocks("bash") if "--resume" in code)


@pytest.mark.slow
def test_save_resume_predict_set_examples_run_as_written(tmp_path):
    """Each line of the README's save / resume / predict / --set block, in a fresh directory, with the
    installed python; each exits 0, and predict prints one row per example."""
    import subprocess
    import sys
    outputs = []
    for line in [ln for ln in KEEP_BLOCK.splitlines() if ln.strip()]:
        assert line.startswith("python "), line
        cmd = line.replace("python ", f"{sys.executable} ", 1)
        done = subprocess.run(cmd, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (line, done.stderr[-2000:])
        outputs.append(done.stdout)
    assert (tmp_path / "flower.npz").is_file() and (tmp_path / "flower-1000.npz").is_file()
    rows = [r for r in outputs[3].splitlines() if r]
    assert rows[0] == "prediction,probability" and len(rows) == 3
    assert "lambd = 0.7" in outputs[4] and "init = \"he\"" in outputs[4]
