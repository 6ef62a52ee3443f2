"""`python -m experiments augmentation` (F27): flips of the training images against none, paired by seed.
The training set doubles, the added images are mirror images with the same labels, dev and test are
untouched; the study states the dev accuracy of both, whichever way it goes (at full size flips do
not help: see experiments/configs/augmentation.toml)."""
import numpy as np
import pytest

from experiments.config import Variant, load_config
from experiments.main_job import experiment_job
from experiments.runner import load_data
from conftest import PNG_MAGIC

pytestmark = [pytest.mark.usefixtures("restored_torch_state"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec.*")]   # Lightning 2.6 with torch 2.13, harmless


def small(seeds=2, steps=300):
    """augmentation.toml with the first `seeds` pairs and fewer steps."""
    cfg = load_config("augmentation")
    return cfg.replace(variants=cfg.variants[:2 * seeds]).with_steps(steps)


def test_every_seed_has_a_none_and_a_flip_variant():
    runs = dict(load_config("augmentation").runs())
    for seed in range(5):
        none, flip = runs[f"none-s{seed}"], runs[f"flip-s{seed}"]
        assert (none.augment, flip.augment) == (None, "flip")
        assert none.seed == flip.seed == seed and none.replace(augment="flip") == flip


def test_flip_doubles_the_training_set_with_mirror_images():
    cfg = load_config("augmentation").runs()[0][1]                      # none-s0
    plain, flipped = load_data(cfg), load_data(cfg.replace(augment="flip"))
    (X, Y), (X2, Y2) = plain.train, flipped.train
    m = X.shape[1]
    assert X2.shape == (64, 2 * m) and Y2.shape == (1, 2 * m)
    np.testing.assert_array_equal(X2[:, :m], X)
    images, mirrors = X.T.reshape(m, 8, 8), X2[:, m:].T.reshape(m, 8, 8)
    np.testing.assert_array_equal(mirrors, images[:, :, ::-1])            # each row read right to left
    assert not np.array_equal(mirrors, images)
    np.testing.assert_array_equal(Y2, np.concatenate([Y, Y], axis=1))      # a mirrored 0 is still a 0
    for part in ("dev", "test"):                                           # only the training part grows
        for a, b in zip(getattr(plain, part), getattr(flipped, part)):
            np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("augmentation")
    runs, report = experiment_job(small(), logdir=str(logdir))
    return runs, report, logdir


def test_the_study_states_both_dev_accuracies_and_judges_their_difference(short_run):
    runs, report, logdir = short_run
    by_name = {vr.variant: vr for vr in runs}
    for seed in (0, 1):
        assert by_name[f"flip-s{seed}"].sizes["train"] == 2 * by_name[f"none-s{seed}"].sizes["train"]
    none = np.mean([by_name[f"none-s{s}"].results[0].accuracy["dev"] for s in (0, 1)])
    flip = np.mean([by_name[f"flip-s{s}"].results[0].accuracy["dev"] for s in (0, 1)])
    assert f"dev accuracy without flips {none:.4f}, with flips {flip:.4f}" in report.outcome
    assert report.holds is bool(flip - none > 0)                         # whichever way it goes
    assert report.tables[1].rows[-1][0] == "mean"
    assert (logdir / "augmentation" / "results.md").is_file()
    assert len(report.figures) == 3                                       # costs, mirrors, dev accuracy
    for fname, _ in report.figures:
        assert (logdir / "augmentation" / fname).read_bytes()[:8] == PNG_MAGIC


def test_a_seed_without_its_pair_is_refused(tmp_path):
    cfg = small(seeds=1, steps=5)
    cfg = cfg.replace(variants=cfg.variants + (Variant("flip-s9", {"seed": 9, "augment": "flip"}),))
    with pytest.raises(ValueError, match="seed 9 needs one variant without augment"):
        experiment_job(cfg, logdir=str(tmp_path))


def test_scratch_and_lightning_agree_on_the_flipped_run(tmp_path):
    cfg = small(seeds=1, steps=60).override(impls=("scratch", "lightning"), log_every=20)
    runs, report = experiment_job(cfg, logdir=str(tmp_path))
    assert all(vr.agree for vr in runs)
    flip = next(vr for vr in runs if vr.variant == "flip-s0")
    scratch, lightning = flip.results
    assert lightning.accuracy == scratch.accuracy
    for key, value in scratch.params.items():
        np.testing.assert_allclose(lightning.params[key], value, rtol=1e-8, atol=1e-12, err_msg=key)
