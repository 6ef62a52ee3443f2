"""`python -m experiments bench`: bad options are one-line errors before anything is timed, and the quick
suite runs and writes its report. Speed itself is never asserted here (benchmarks, not timed tests)."""
import re

import pytest

from experiments import bench, cli


@pytest.fixture
def no_benchmark(monkeypatch):
    """Fail loudly if a bad command line gets through to the benchmark."""
    def ran(*args, **kwargs):
        raise AssertionError("the benchmark started: the arguments were not rejected")
    monkeypatch.setattr(bench, "run_suite", ran)


@pytest.mark.parametrize("argv, message", [
    (["bench", "--repeats", "0"], "argument --repeats: expected a positive integer, got '0'"),
    (["bench", "--repeats", "two"], "argument --repeats: expected a positive integer, got 'two'"),
    (["bench", "--fast"], "unrecognized arguments: --fast"),
])
def test_bad_options_are_one_line_errors(argv, message, no_benchmark, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and message in err, err


def test_missing_output_directory_is_an_error(no_benchmark, tmp_path, capsys):
    assert cli.main(["bench", "--out", str(tmp_path / "nope" / "B.md")]) == 1
    assert "directory" in capsys.readouterr().err


def test_flops_per_step_counts_forward_dW_and_dA_but_not_dA0():
    # [3, 4, 2] at m = 5: products 12 and 8; forward 2·5·20, dW 2·5·20, dA[1] 2·5·8 (no dA[0])
    assert bench.flops_per_step([3, 4, 2], 5) == 2 * 5 * 20 + 2 * 5 * 20 + 2 * 5 * 8


def test_steps_for_doubles_n_until_n_more_steps_take_the_target():
    calls = []

    def run(n):                                     # a run: 1 s of set-up, then 10 ms a step
        calls.append(n)
        return 1.0 + 0.01 * n
    assert bench._steps_for(run, 0.4) == 64         # 32 more steps take 0.32 s, 64 take 0.64 s
    assert calls == [1, 2, 4, 8, 16, 32, 64, 128]   # the warm-up, then T(n) for n = 2, 4, ... up to 2·64
    assert bench._steps_for(lambda n: 1.0 + 1e-6 * n, 0.4) == 2000          # tiny steps: the cap
    assert bench._steps_for(lambda n: 1.0 + 1.0 * n, 0.4, least=4) == 4     # a long step: at least `least`


@pytest.mark.slow
def test_quick_suite_writes_its_report(tmp_path, capsys):
    out = tmp_path / "BENCH.md"
    assert cli.main(["bench", "--quick", "--repeats", "1", "--out", str(out)]) == 0
    text = out.read_text()
    for impl in bench.IMPLS:
        assert f"| {impl} |" in text
    for net in bench.QUICK_NETS:
        assert f"| {net} " in text
    assert re.search(r"Fitted exponent k of t ∝ m\^k: scratch -?\d+\.\d\d, raw torch -?\d+\.\d\d", text)
    assert "## Peak memory of one step" in text and "## Machine" in text
    assert "## Where a step goes: the matrix products and the rest" in text
    for net in bench.QUICK_NETS:                        # one profile row per net, for the scratch rows' dtypes
        assert re.search(rf"^\| {net} \| float32 \| [\d.]+ ms \| ", text, re.M), net
    assert re.search(r"One elementwise pass .*: numpy [\d.]+ ms, torch, \d+ threads [\d.]+ ms, torch, 1 thread", text)
    guard = text.split("## What train_plain adds to the raw loop")[1]
    for net in bench.QUICK_NETS:                        # raw, guarded raw, plain and two ratios
        assert re.search(rf"^\| {net} \| float32 \| cpu \|( [\d.e+-]+ ms \|){{3}}( \d+\.\d\d \|){{2}}$", guard, re.M), net
    assert (tmp_path / "BENCH_time_vs_m.png").stat().st_size > 1000
    assert "wrote" in capsys.readouterr().out
