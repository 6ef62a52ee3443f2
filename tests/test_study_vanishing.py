"""experiments/configs/vanishing.toml (study vanishing, F29 and F18), at a reduced size: the deep linear
net's norms follow w^l for w < 1 and w > 1, He keeps a relu net's activations within a factor while
random × 1 explodes and × 0.01 vanishes, and scratch's norms are torch autograd's (Lightning's module)."""
import numpy as np
import pytest

from experiments.config import load_config
from experiments.main_job import study_job
from experiments.studies import vanishing as study
from scratch.diagnostics import activation_variance_by_depth
from conftest import PNG_MAGIC

SMALL = {"w_values": [0.5, 0.9, 1.1, 1.5], "linear_depth": 20, "depth": 12, "width": 30, "m": 40}


def small(impls=("scratch",)):
    return load_config("vanishing").replace(study_args=SMALL, impls=impls)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("vanishing")
    return study_job(small(), logdir=str(logdir)), logdir / "vanishing"


def test_the_claim_holds_and_the_page_and_figure_are_written(report):
    rep, run_dir = report
    assert rep.holds is True and rep.agree is None                    # scratch alone: nothing compared
    assert (run_dir / "results.md").read_text().count("the claim **holds**") == 1
    [(name, _)] = rep.figures
    assert (run_dir / name).read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("w", [0.5, 0.9, 1.1, 1.5])
def test_deep_linear_norms_follow_w_to_the_l(w):
    x = study.linear_input(3, 5, seed=1)
    p = study.linear_profile(x, w, 30)
    l = np.arange(31)
    np.testing.assert_allclose(p["acts"], w ** l, rtol=study.POWER_RTOL)           # ‖A[l]‖/‖x‖
    np.testing.assert_allclose(p["grads"], w ** l, rtol=study.POWER_RTOL)          # ‖dA[0]‖ of depth l
    np.testing.assert_allclose(p["dW1"][1:], w ** (l[1:] - 1), rtol=study.POWER_RTOL)
    steps = np.diff(np.log(p["acts"]))
    assert np.all(steps > 0.09) if w > 1 else np.all(steps < -0.1)     # ln 1.1 = 0.095, ln 0.9 = -0.105 a layer


def test_a_wrong_power_is_caught():
    p = study.linear_profile(study.linear_input(3, 5, seed=1), 1.1, 30)
    assert study.power_error(p["acts"], 1.1) < study.POWER_RTOL
    assert study.power_error(p["acts"], 1.1 * (1 + 1e-9)) > study.POWER_RTOL      # 30 layers: 3e-8 off


def relu_profiles():
    a = SMALL
    return {label: study.scratch_profile(*study.relu_setup(method, scale, a["depth"], a["width"], a["m"], 0))
            for label, method, scale in study.INITS}


def test_he_keeps_relu_activations_while_random_explodes_and_small_random_vanishes():
    p = relu_profiles()
    he = p["He"]["A"]
    assert he.max() / he.min() < study.HE_FACTOR
    big, tiny = p["random × 1"]["A"], p["random × 0.01"]["A"]
    assert big[-1] / big[0] > 1e3 and np.all(np.diff(big) > 0)             # √(30/2) ≈ 3.9 a layer: 1e7
    assert tiny[-1] / tiny[0] < 1e-3 and np.all(np.diff(tiny) < 0)         # 0.039 a layer: 1e-17
    # the backpropagated gradient too: it grows (shrinks) towards the input as the activations grow (shrink)
    assert p["random × 1"]["dA"][0] / p["random × 1"]["dA"][-1] > 1e3
    assert p["random × 0.01"]["dA"][0] / p["random × 0.01"]["dA"][-1] < 1e-3
    he_grad = p["He"]["dA"]
    assert he_grad.max() / he_grad.min() < study.HE_FACTOR


@pytest.mark.parametrize("method, scale", [("he", 0.01), ("random", 1.0)])
def test_the_relu_nets_are_the_ones_of_activation_variance_by_depth(method, scale):
    params, acts, X, _ = study.relu_setup(method, scale, 6, 10, 20, seed=3)
    from scratch.network import model_forward
    _, caches = model_forward(X, params, acts)
    ours = [X.var()] + [caches[l]["linear_activation"][0][0].var() for l in range(1, 7)]
    np.testing.assert_allclose(ours, activation_variance_by_depth(method, "relu", 6, 10, 20, scale, rng=3),
                               rtol=1e-12)


@pytest.mark.usefixtures("restored_torch_state")
def test_scratch_and_lightning_agree_on_every_norm(tmp_path):
    pytest.importorskip("lightning")
    rep = study_job(small(("scratch", "lightning")), logdir=str(tmp_path))
    assert rep.agree is True and rep.holds is True
    [line] = rep.verdicts
    assert line.startswith("scratch and lightning") and " agree " in line


def test_scratch_and_torch_agree_on_the_deep_linear_nets_too(tmp_path):
    rep = study_job(small(("scratch", "torch")), logdir=str(tmp_path))
    assert rep.agree is True
    [line] = rep.verdicts
    assert "deep linear nets" in line and " agree " in line
