"""experiments/bench_lightning.py's arguments: a bad number is a one-line error with exit status 2,
before any benchmark runs (the benchmark itself is never run here)."""
import pytest

from experiments import bench_lightning


@pytest.fixture
def no_benchmark(monkeypatch):
    """Fail loudly if argument parsing lets a call through to the benchmark."""
    def ran(*args, **kwargs):
        raise AssertionError("the benchmark started: the arguments were not rejected")
    monkeypatch.setattr(bench_lightning, "_nets", ran)


@pytest.mark.parametrize("argv, option", [
    (["--steps", "-1"], "--steps"),
    (["--steps", "0"], "--steps"),
    (["--steps", "2.5"], "--steps"),
    (["--repeats", "0"], "--repeats"),
    (["--deep-steps", "-3"], "--deep-steps"),
    (["--every", "0"], "--every"),
    (["--every", "ten"], "--every"),
])
def test_bad_numbers_are_one_line_errors(argv, option, no_benchmark, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_lightning.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"argument {option}: expected a positive integer, got {argv[1]!r}" in err, err


def test_good_numbers_parse():
    args = bench_lightning.build_parser().parse_args(
        ["--steps", "30", "--deep-steps", "2", "--repeats", "1", "--every", "5"])
    assert (args.steps, args.deep_steps, args.repeats, args.every) == (30, 2, 1, 5)
    defaults = bench_lightning.build_parser().parse_args([])
    assert (defaults.steps, defaults.deep_steps, defaults.repeats, defaults.every) == (2000, 100, 5, 50)


def test_minibatch_benchmark_refuses_bad_options_and_runs_small(capsys):
    """experiments.bench_minibatch: bad numbers and names are one-line errors; a tiny run prints one row
    per implementation whose final costs agree (float32, the same batches)."""
    from experiments import bench_minibatch
    with pytest.raises(SystemExit) as exit_info:
        bench_minibatch.main(["--m", "0"])
    assert exit_info.value.code == 2
    assert bench_minibatch.main(["--impl", "numpy"]) == 2
    capsys.readouterr()
    rows = [bench_minibatch.run_one(impl, 3000, 1, 256) for impl in ("scratch", "torch")]
    assert rows[0]["cost"] == pytest.approx(rows[1]["cost"], rel=1e-5, abs=1e-6)      # DESIGN's float32 rule
    assert all(r["peak_mb"] >= r["data_peak_mb"] > 0 for r in rows)
