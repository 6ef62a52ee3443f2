"""The Lightning path on a CUDA device: same numbers as scratch on the CPU (float64, "64-true").

Runs only where torch sees a GPU; elsewhere every test here is skipped with the reason.
"""
import numpy as np
import pytest
import torch

pytest.importorskip("lightning")

from scratch.initializers import initialize_parameters                 # noqa: E402
from lightning.pytorch.callbacks import Callback                       # noqa: E402

from scratch.train import train                                        # noqa: E402
from torch_ref.divergence import DivergenceGuard                       # noqa: E402
from torch_ref.lightning import train_lightning  # noqa: E402
from torch_ref.models import DeepNet                                   # noqa: E402
from torch_ref.train_loop import train_plain                           # noqa: E402
from torch_ref.parity import TRAJECTORY_RTOL                           # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("restored_torch_state"),
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="no CUDA device (torch.cuda.is_available() is False): the GPU path runs on GPU machines"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*"),
]
LAYER_DIMS, ACTIVATIONS = [2, 5, 3, 1], ["relu", "tanh", "sigmoid"]


class DeviceRecorder(Callback):
    """Where the parameters and the batch are at every training step (Lightning moves the module back
    to the CPU when fit ends, so the device must be seen during training, not afterwards)."""

    def __init__(self):
        self.seen = set()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen.add((next(pl_module.parameters()).device.type, batch[0].device.type))


def test_lightning_on_cuda_matches_scratch(flower):
    Xt, Yt, Xd, Yd = flower
    params0 = initialize_parameters(LAYER_DIMS, "he", rng=3)
    ref = train(Xt, Yt, LAYER_DIMS, ACTIVATIONS, params=params0, learning_rate=0.1, num_iterations=100,
                lambd=0.7)
    devices = DeviceRecorder()
    out = train_lightning(Xt, Yt, LAYER_DIMS, ACTIVATIONS, params=params0, learning_rate=0.1, num_iterations=100,
                          lambd=0.7, X_dev=Xd, Y_dev=Yd, log_every=10, accelerator="gpu", devices=1,
                          precision="64-true", callbacks=[devices])
    assert devices.seen == {("cuda", "cuda")}        # parameters and batch on the GPU at every step
    x, _ = out.trainer.datamodule._tensors["train"]
    assert x.device.type == "cuda"                   # the batch lives on the GPU, not copied per step
    for key in params0:
        np.testing.assert_allclose(out.params[key], ref.final_params[key], rtol=TRAJECTORY_RTOL, atol=1e-12)


def test_plain_loop_on_cuda_matches_scratch(flower):
    Xt, Yt, _, _ = flower
    params0 = initialize_parameters(LAYER_DIMS, "he", rng=3)
    ref = train(Xt, Yt, LAYER_DIMS, ACTIVATIONS, params=params0, learning_rate=0.1, num_iterations=100,
                lambd=0.7, log_every=10)
    model, seen = DeepNet.from_params(params0, ACTIVATIONS), set()
    history = train_plain(model, Xt, Yt, learning_rate=0.1, num_iterations=100, lambd=0.7, log_every=10,
                          device="cuda",
                          callback=lambda i, rec, m: seen.add(next(m.parameters()).device.type))
    assert seen == {"cuda"}
    np.testing.assert_allclose([h["cost"] for h in history], [h["cost"] for h in ref.history],
                               rtol=TRAJECTORY_RTOL, atol=0)
    for key, value in model.to_params().items():
        np.testing.assert_allclose(value, ref.final_params[key], rtol=TRAJECTORY_RTOL, atol=1e-12)


def test_divergence_checks_do_not_synchronise_the_gpu():
    """The divergence checks stay on the device: with CUDA's sync debug mode set to "error", the per-step
    checks run without a host synchronisation; only raise_if_diverged reads them back."""
    guard = DivergenceGuard(["W1", "b1"])
    params = [torch.ones(3, 2, dtype=torch.float64, device="cuda"), torch.zeros(3, dtype=torch.float64, device="cuda")]
    cost = torch.tensor(0.5, dtype=torch.float64, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for i in range(5):
            guard.after_forward(i, cost * i)
            params[0].mul_(1e200)                    # overflows to inf at update 2
            guard.after_update(i, params)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    with pytest.raises(FloatingPointError, match=r"iteration 2: parameters \['W1'\] .* last finite cost 1.0 at iteration 2"):
        guard.raise_if_diverged()


def test_main_job_runs_on_cuda(tmp_path, capsys):
    from experiments.cli import main
    assert main(["--steps", "200", "--device", "cuda", "--logdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "lightning" in out and "largest parameter difference" in out
    assert "parity: scratch, torch, lightning agree" in out
