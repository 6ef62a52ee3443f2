"""The Lightning path on a CUDA device: same numbers as scratch on the CPU (float64, "64-true").

Runs only where torch sees a GPU; elsewhere every test here is skipped with the reason.
"""
import numpy as np
import pytest
import torch

pytest.importorskip("lightning")

from scratch.data import load_flower, split                            # noqa: E402
from scratch.initializers import initialize_parameters                 # noqa: E402
from scratch.train import train                                        # noqa: E402
from torch_ref.lightning import restored_global_state, train_lightning  # noqa: E402
from torch_ref.parity import TRAJECTORY_RTOL                           # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="no CUDA device (torch.cuda.is_available() is False): the GPU path runs on GPU machines"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*"),
]
LAYER_DIMS, ACTIVATIONS = [2, 5, 3, 1], ["relu", "tanh", "sigmoid"]


@pytest.fixture(autouse=True)
def global_torch_state():
    """deterministic=True sets CUBLAS_WORKSPACE_CONFIG and deterministic algorithms: undo after each test."""
    with restored_global_state():
        yield


@pytest.fixture(scope="module")
def flower():
    (Xt, Yt), (Xd, Yd), _ = split(*load_flower(m=200, seed=0), ratios=(0.6, 0.2, 0.2), seed=0)
    return Xt, Yt, Xd, Yd


def test_lightning_on_cuda_matches_scratch(flower):
    Xt, Yt, Xd, Yd = flower
    params0 = initialize_parameters(LAYER_DIMS, "he", rng=3)
    ref = train(Xt, Yt, LAYER_DIMS, ACTIVATIONS, params=params0, learning_rate=0.1, num_iterations=100,
                lambd=0.7)
    out = train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, params=params0, learning_rate=0.1, num_iterations=100,
                          lambd=0.7, X_dev=Xd, Y_dev=Yd, log_every=10, accelerator="gpu", devices=1,
                          precision="64-true")
    assert out.module.device.type == "cuda"
    x, _ = out.trainer.datamodule._tensors["train"]
    assert x.device.type == "cuda"                   # the batch lives on the GPU, not copied per step
    for key in params0:
        np.testing.assert_allclose(out.params[key], ref.final_params[key], rtol=TRAJECTORY_RTOL, atol=1e-12)


def test_main_job_runs_on_cuda(tmp_path, capsys):
    from experiments.cli import main
    assert main(["--steps", "20", "--device", "cuda", "--logdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "lightning" in out and "largest parameter difference" in out
