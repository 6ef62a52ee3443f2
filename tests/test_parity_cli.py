"""`python -m torch_ref.parity`: the formula inventory as a command.

It must exit 0, list every row (F01-F32, then wave 2's F33-F38 and on; rows without a torch
side say how they are tested instead of vanishing), and exit non-zero as soon as one row fails.
"""
import contextlib
import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from torch_ref import inventory, parity

ROOT = Path(__file__).resolve().parent.parent
TORCH_SIDE = {f"F{i:02d}" for i in list(range(1, 23)) + [30, 32] + list(range(33, 39))}


def run_main(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = parity.main(argv)
    return status, out.getvalue()


@pytest.fixture(scope="module")
def full_run():
    return run_main([])


@pytest.mark.slow
def test_every_row_runs_and_passes(full_run):
    status, text = full_run
    assert status == 0, text
    lines = {line[:3]: line for line in text.splitlines() if line[:1] == "F" and line[1:3].isdigit()}
    assert sorted(lines) == sorted(r.id for r in inventory.ROWS)
    assert {f"F{i:02d}" for i in range(1, 39)} <= set(lines)
    for rid, line in lines.items():
        if rid in TORCH_SIDE or next(r for r in inventory.ROWS if r.id == rid).run is not None:
            err64, err32, verdict = line.split()[-3:]
            assert verdict == "ok" and float(err64) >= 0 and float(err32) >= 0, line
        else:
            assert "by " in line and "see tests/" in line, line
    assert "all pass" in text.splitlines()[-1]
    assert "F04 course convention" in text and "only at the" in text


@pytest.mark.slow
def test_runs_as_a_module_in_a_few_seconds():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    by_value = next(r.id for r in inventory.ROWS if r.run is None)   # not spelled out: the command
    ids = ["F01", "F07", by_value]                                   # lists the test files naming a row
    done = subprocess.run([sys.executable, "-m", "torch_ref.parity", *ids], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line[:3] for line in done.stdout.splitlines() if line.startswith("F")] == ids


def broken_sigmoid_row(dtype, rng):
    """σ with a planted error of 1e-6 relative: inside float32's tolerance, far outside float64's."""
    from scratch.activations import sigmoid
    Z = rng.standard_normal((3, 4)).astype(dtype)
    gold = 1 / (1 + np.exp(-Z.astype(np.float64)))
    return [parity.compare("σ(Z)", sigmoid(Z) * (1 + 1e-6), gold.astype(dtype))]


def test_a_broken_row_makes_it_fail(monkeypatch):
    rows = [dataclasses.replace(r, run=broken_sigmoid_row) if r.id == "F01" else r for r in inventory.ROWS]
    monkeypatch.setattr(inventory, "ROWS", rows)
    status, text = run_main(["F01", "F02"])
    assert status != 0
    f01 = next(line for line in text.splitlines() if line.startswith("F01"))
    assert f01.rstrip().endswith("FAIL")
    assert "[float64]" in text and "first diverged quantity: σ(Z)" in text      # the failing dtype, shown
    assert "[float32]" not in text                                             # float32 passed: not shown
    assert text.splitlines()[-1].endswith("FAILED F01")


def test_a_crashing_row_is_a_failure_not_a_crash(monkeypatch):
    def crash(dtype, rng):
        raise RuntimeError("planted")
    rows = [dataclasses.replace(r, run=crash) if r.id == "F08" else r for r in inventory.ROWS]
    monkeypatch.setattr(inventory, "ROWS", rows)
    status, text = run_main(["F08"])
    assert status == 1 and "RuntimeError: planted" in text


def test_unknown_row_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        run_main(["F99"])
    assert exc.value.code == 2


def test_verbose_prints_every_quantity():
    status, text = run_main(["-v", "F09"])
    assert status == 0 and "dJ/dc" in text and "PASSED" in text
