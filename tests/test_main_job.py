"""`python -m experiments` end to end at a small size, its TensorBoard runs, and its command line."""
import contextlib
import io
import math
import os
import subprocess
import sys

import pytest

from experiments.cli import main
from experiments.config import IMPLS, list_experiments, load_config

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*")   # Lightning 2.6 with torch 2.13, harmless
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, EVERY = 45, 10      # 45: the last record (step 40) has no Lightning write after it


def run_cli(*args, timeout=60):
    """`python -m experiments ARGS` in a subprocess from the repository root."""
    return subprocess.run([sys.executable, "-m", "experiments", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    """The main job at a small size, in this process (Lightning is imported once): (logdir, stdout)."""
    pytest.importorskip("lightning")
    from torch_ref.lightning import restored_global_state
    logdir, out = str(tmp_path_factory.mktemp("logs")), io.StringIO()
    with contextlib.redirect_stdout(out), restored_global_state():
        status = main(["--steps", str(STEPS), "--log-every", str(EVERY), "--logdir", logdir])
    assert status == 0
    return logdir, out.getvalue()


@pytest.mark.slow
def test_main_job_prints_the_comparison(main_job):
    logdir, out = main_job
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["scratch"], ["torch"], ["lightning"])}
    assert set(rows) == set(IMPLS)
    costs = [float(rows[impl][1]) for impl in IMPLS]
    assert max(costs) - min(costs) <= 1e-8 * max(costs)                    # printed with 15 decimals
    assert "largest parameter difference" in out
    assert "parity: scratch, torch, lightning agree (cost at every logged step" in out
    diffs = [float(part.split()[-1]) for part in out.split("after training:")[1].splitlines()[0].split(",")]
    assert len(diffs) == 3 and max(diffs) < 1e-10
    assert f"tensorboard --logdir {os.path.join(logdir, 'flower')}\n" in out     # the experiment just run


@pytest.mark.slow
def test_main_job_writes_one_run_per_implementation(main_job):
    from experiments.tb import read_scalars
    logdir, _ = main_job
    logged = math.ceil(STEPS / EVERY)
    for impl in IMPLS:
        run = os.path.join(logdir, "flower", impl)
        assert any(f.startswith("events.out.tfevents.") for f in os.listdir(run)), impl
        scalars = read_scalars(run)
        for tag in ("train/cost", "train/acc", "dev/cost", "dev/acc"):
            assert len(scalars[tag]) == logged, (impl, tag)
        for tag in ("hp/train_cost", "hp/train_acc", "hp/dev_acc"):
            assert len(scalars[tag]) == 1, (impl, tag)
        steps = [s for s, _ in scalars["train/cost"]]
        # all three write the training tags at steps 0, k, 2k, ... (see experiments.tb)
        assert steps == list(range(0, STEPS, EVERY)), impl
    train = {impl: read_scalars(os.path.join(logdir, "flower", impl))["train/cost"] for impl in IMPLS}
    for impl in ("torch", "lightning"):                                         # J_i of θ_i, step by step
        assert [v for _, v in train[impl]] == pytest.approx([v for _, v in train["scratch"]], rel=1e-6), impl
    for impl in ("torch", "lightning"):          # the difference from scratch, at the same logged steps
        parity = read_scalars(os.path.join(logdir, "flower", impl))
        diffs = parity["parity/max_rel_param_diff"]
        assert [s for s, _ in diffs] == list(range(0, STEPS, EVERY)), impl
        # θ_i recorded one step off would differ by a whole update (~1e-2 here), not by rounding
        assert diffs[0][1] == 0 and max(v for _, v in diffs) < 1e-12, (impl, diffs)
        assert max(v for _, v in parity["parity/cost_rel_diff"]) < 1e-12, impl
    assert not any(tag.startswith("parity/") for tag in read_scalars(os.path.join(logdir, "flower", "scratch")))
    costs = {impl: dict(read_scalars(os.path.join(logdir, "flower", impl))["dev/cost"]) for impl in IMPLS}
    for step in costs["scratch"].keys() & costs["lightning"].keys():            # dev cost of θ_step, all three
        assert costs["lightning"][step] == pytest.approx(costs["scratch"][step], rel=1e-6)   # float32 events
        assert costs["torch"][step] == pytest.approx(costs["scratch"][step], rel=1e-6)


@pytest.mark.slow
def test_main_job_logs_hparams_with_metrics_and_a_figure(main_job):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    logdir, _ = main_job
    for impl in IMPLS:
        acc = EventAccumulator(os.path.join(logdir, "flower", impl))
        acc.Reload()
        assert set(acc.PluginTagToContent("hparams")) >= {"_hparams_/experiment", "_hparams_/session_start_info"}
        assert acc.Tags()["images"] == ["decision_boundary"]


def test_every_config_loads_and_is_consistent():
    names = list_experiments()
    assert "flower" in names and {"init", "l2", "dropout", "depth", "hidden"} <= set(names)
    for name in names:
        for variant, cfg in load_config(name).runs():
            assert len(cfg.activations) == len(cfg.layer_dims) - 1, (name, variant)
            assert cfg.keep_probs is None or len(cfg.keep_probs) == len(cfg.layer_dims) - 2, (name, variant)


def test_a_classic_experiment_runs_small(tmp_path, capsys):
    assert main(["hidden", "--steps", "20", "--logdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert sum(line.startswith("n_h-") for line in out.splitlines()) == 7
    assert os.path.isdir(tmp_path / "hidden" / "n_h-50" / "scratch")


def test_help_lists_the_experiments_and_options():
    res = run_cli("--help")
    assert res.returncode == 0
    for word in ("--impl", "--device", "--steps", "--lr", "--seed", "--logdir", "--data", "flower", "init", "l2",
                 "dropout", "depth", "hidden"):
        assert word in res.stdout


@pytest.mark.parametrize("args, status", [
    (["--steps", "zero"], 2),
    (["--impl", "keras"], 2),
    (["--device", "tpu"], 2),
    (["no-such-experiment"], 1),
    (["catvnoncat"], 1),                                    # needs --data
    (["catvnoncat", "--data", "missing_train.h5", "missing_test.h5"], 1),
])
def test_bad_options_exit_nonzero_with_one_line(args, status):
    res = run_cli(*args)
    assert res.returncode == status
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "error:" in res.stderr


def test_device_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: tests/test_cuda.py covers --device cuda")
    res = run_cli("--device", "cuda", "--steps", "1", "--impl", "torch", "--logdir", str(tmp_path))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "no CUDA device" in res.stderr
    assert not os.listdir(tmp_path)                         # refused before anything trained


def test_catvnoncat_reads_the_course_files(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    import numpy as np
    rng = np.random.default_rng(0)
    paths = []
    for part, m in (("train", 12), ("test", 6)):
        path = tmp_path / f"{part}_catvnoncat.h5"
        with h5py.File(path, "w") as f:               # the course's layout: (m, 64, 64, 3) uint8 images
            f[f"{part}_set_x"] = rng.integers(0, 256, (m, 64, 64, 3), dtype=np.uint8)
            f[f"{part}_set_y"] = np.arange(m) % 2
            if part == "train":
                f["list_classes"] = np.array([b"non-cat", b"cat"])
        paths.append(str(path))
    args = ["catvnoncat", "--data", *paths, "--steps", "3", "--impl", "scratch,torch", "--logdir", str(tmp_path / "logs")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "train 12 / dev 6" in out and "torch vs scratch" in out


@pytest.mark.slow
def test_dropout_experiment_shares_masks_so_the_three_runs_agree(tmp_path):
    """With dropout, scratch, torch and Lightning train with the same masks (runner.shared_dropout_masks):
    the same run three times, not three draws of it."""
    from experiments.runner import run
    from torch_ref.lightning import restored_global_state
    cfg = load_config("dropout").replace(num_iterations=30, log_every=10)
    with contextlib.redirect_stdout(io.StringIO()), restored_global_state():
        variants = run(cfg, impls=IMPLS, logdir=str(tmp_path))
    dropped = [v for v in variants if v.config.keep_probs]
    assert dropped
    for v in dropped:
        scratch = next(r for r in v.results if r.impl == "scratch")
        for other in v.results:
            for k, value in scratch.params.items():
                assert abs(other.params[k] - value).max() < 1e-12, (v.variant, other.impl, k)
        # and dropout did something: the run differs from the variant without it
    plain = next(v for v in variants if not v.config.keep_probs).results[0].params
    assert max(abs(plain[k] - dropped[0].results[0].params[k]).max() for k in plain) > 1e-6


def test_shared_dropout_masks_are_per_step_and_reproducible():
    from experiments.runner import shared_dropout_masks
    masks = shared_dropout_masks([2, 30, 20, 1], [0.8, 0.5], m=400, seed=1)
    first, again, later = masks(7), masks(7), masks(8)
    assert [d.shape for d in first] == [(30, 400), (20, 400)] and all(d.dtype == bool for d in first)
    assert all((a == b).all() for a, b in zip(first, again))               # same step, same masks
    assert any((a != b).any() for a, b in zip(first, later))               # next step, new masks
    for d, kp in zip(first, (0.8, 0.5)):                                     # kept fraction ≈ keep_prob (5σ)
        assert abs(d.mean() - kp) < 5 * (kp * (1 - kp) / d.size) ** 0.5
    assert shared_dropout_masks([2, 4, 1], None, m=10, seed=0) is None


def test_parity_verdict_says_agree_or_names_what_differs():
    import numpy as np
    from experiments.main_job import parity_verdict
    from experiments.runner import RunResult
    params = {"W1": np.array([[0.5, -1.0]]), "b1": np.array([[0.25]])}
    same = [RunResult(impl, {k: v.copy() for k, v in params.items()}, 0.3, {}, 0.0, "") for impl in IMPLS]
    assert parity_verdict(same).startswith("parity: scratch, torch, lightning agree")
    off = {k: v.copy() for k, v in params.items()}
    off["W1"][0, 1] *= 1 + 1e-6                                              # 100× the tolerance
    runs = same[:1] + [RunResult("torch", off, 0.3 * (1 + 1e-6), {}, 0.0, "")]
    verdict = parity_verdict(runs)
    assert "DIFFER" in verdict and "torch's final cost" in verdict and "torch's final parameters" in verdict


def test_every_implementation_shows_a_progress_line_in_a_terminal(tmp_path, capsys, monkeypatch):
    """On a terminal each implementation redraws one 'impl: step i/N  cost J' line on stderr,
    Lightning included (its tqdm bar wrote to stdout and drew nothing on a terminal of unknown width)."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["--steps", "30", "--impl", "all", "--logdir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    for impl in IMPLS:
        assert f"{impl:>10}: step " in captured.err, (impl, captured.err)
    assert "Epoch" not in captured.out + captured.err
