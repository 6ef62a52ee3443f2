"""The model file (scratch.model_file, torch_ref.model_file): one format for scratch, torch and
Lightning, round trips with identical predictions, and every kind of bad file refused by name."""
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

from scratch import network
from scratch.initializers import initialize_parameters
from scratch.model_file import Model, ModelFileError, TrainState, atomic_write, load_model, save_model
from torch_ref import convert
from torch_ref.model_file import deepnet_from_model, load_deepnet, save_deepnet
from torch_ref.models import DeepNet

DIMS, ACTS = [3, 5, 4, 2], ["relu", "tanh", "softmax"]


def _model(batchnorm=False, state=False, preprocess=None, seed=0):
    params = initialize_parameters(DIMS, "he", rng=seed, batchnorm=batchnorm)
    rng = np.random.default_rng(seed + 1)
    for k in params:                                    # nonzero biases, γ ≠ 1: a swap would show
        params[k] = params[k] + rng.normal(0, 0.3, params[k].shape)
    bn = {"mu1": rng.normal(0, 0.3, (5, 1)), "var1": rng.uniform(0.5, 1.5, (5, 1))} if batchnorm else None
    if bn:
        bn.update(mu2=rng.normal(0, 0.3, (4, 1)), var2=rng.uniform(0.5, 1.5, (4, 1)))
    st = None
    if state:
        st = TrainState(step=7, params={k: v * 2 for k, v in params.items()}, optimizer="adam",
                        opt_state={"v": {"d" + k: v + 1 for k, v in params.items()},
                                   "s": {"d" + k: v ** 2 for k, v in params.items()}, "t": 7},
                        bn_stats=bn, rng=np.random.default_rng(5).bit_generator.state,
                        torch_rng=torch.get_rng_state().numpy(),
                        history=[{"step": 0, "epoch": 0, "cost": 0.7, "train_acc": 0.5},
                                 {"step": 5, "epoch": 5, "cost": 0.6, "train_acc": 0.55, "dev_cost": 0.65}],
                        best={"cost": 0.65, "step": 5, "since": 0, "params": params, "bn_stats": bn},
                        last_finite=(6, 0.58), plan={"m": 40, "mini_batch_size": None, "seed": 3},
                        extra={"anything": [1, 2]})
    return Model(params, list(DIMS), list(ACTS), keep_probs=[0.9, 0.8], bn_stats=bn, preprocess=preprocess,
                 state=st, config={"name": "x", "lambd": 0.1})


def _X(m=11, seed=2):
    return np.random.default_rng(seed).normal(0, 3, size=(DIMS[0], m))


@pytest.mark.parametrize("batchnorm", [False, True])
def test_round_trip_keeps_every_array_and_field_exactly(tmp_path, batchnorm):
    model = _model(batchnorm, state=True, preprocess={"mu": np.ones((3, 1)), "sigma": np.full((3, 1), 2.0)})
    path = save_model(tmp_path / "m.npz", model)
    back = load_model(path)
    for k, v in model.params.items():
        assert np.array_equal(back.params[k], v) and back.params[k].dtype == v.dtype
    assert (back.layer_dims, back.activations, back.keep_probs, back.config, back.impl) == \
        (model.layer_dims, model.activations, model.keep_probs, model.config, model.impl)
    s, t = model.state, back.state
    assert t.step == s.step and t.optimizer == s.optimizer and t.rng == s.rng and t.plan == s.plan
    assert t.history == s.history and tuple(t.last_finite) == tuple(s.last_finite) and t.extra == s.extra
    assert t.opt_state["t"] == 7
    for part in ("v", "s"):
        assert all(np.array_equal(t.opt_state[part][k], v) for k, v in s.opt_state[part].items())
    assert all(np.array_equal(t.params[k], v) for k, v in s.params.items())
    assert all(np.array_equal(t.best["params"][k], v) for k, v in s.best["params"].items())
    assert np.array_equal(t.torch_rng, s.torch_rng)
    assert np.array_equal(back.preprocess["sigma"], model.preprocess["sigma"])
    if batchnorm:
        assert all(np.array_equal(back.bn_stats[k], v) for k, v in model.bn_stats.items())


def test_predictions_equal_after_every_round_trip(tmp_path):
    """scratch params -> file -> DeepNet -> file -> scratch: the parameters come back bit for bit, so
    each implementation predicts exactly what it predicted before; scratch against torch, the same
    classes and probabilities within DESIGN's float64 forward tolerance (two libraries' arithmetic)."""
    model = _model(batchnorm=True, preprocess={"scale": 0.5}, seed=5)
    X = _X(200)
    expected = network.model_forward(X * 0.5, model.params, ACTS, bn_stats=model.bn_stats)[0]
    classes = np.argmax(expected, axis=0).reshape(1, -1)
    assert len(np.unique(classes)) == 2                       # both classes occur: a swap would show
    save_model(tmp_path / "a.npz", model)
    net = load_deepnet(tmp_path / "a.npz")
    torch_proba = convert.to_numpy(net.predict_proba(convert.to_torch(X * 0.5)))
    np.testing.assert_allclose(torch_proba, expected, rtol=1e-10, atol=1e-12)
    assert np.array_equal(convert.to_numpy(net.predict(convert.to_torch(X * 0.5))).reshape(1, -1), classes)
    save_deepnet(tmp_path / "b.npz", net, preprocess={"scale": 0.5})
    back = load_model(tmp_path / "b.npz")
    assert back.impl == "torch" and back.bn_unbiased
    assert all(np.array_equal(back.params[k], v) for k, v in model.params.items())
    assert np.array_equal(back.predict_proba(X), expected)            # scratch again: bit for bit
    assert np.array_equal(back.predict(X), classes)
    again = load_deepnet(tmp_path / "b.npz")
    assert np.array_equal(convert.to_numpy(again.predict_proba(convert.to_torch(X * 0.5))), torch_proba)


def test_model_prepare_standardizes_and_checks_the_feature_count():
    model = _model(preprocess={"mu": np.full((3, 1), 1.0), "sigma": np.full((3, 1), 4.0)})
    X = _X()
    assert np.array_equal(model.prepare(X), (X - 1.0) / 4.0)
    with pytest.raises(ValueError, match="4 features.*n_x = 3"):
        model.predict(np.zeros((4, 2)))


def test_a_deepnet_trained_by_torch_saves_what_scratch_predicts(tmp_path):
    net = DeepNet([2, 3, 1], ["tanh", "sigmoid"], seed=1)
    path = save_deepnet(tmp_path / "n.npz", net)
    X = _X()[:2]
    expected = convert.to_numpy(net.predict_proba(convert.to_torch(X)))
    np.testing.assert_allclose(load_model(path).predict_proba(X), expected, rtol=1e-10, atol=1e-12)
    assert np.array_equal(convert.to_numpy(deepnet_from_model(load_model(path)).predict_proba(convert.to_torch(X))),
                          expected)


def test_optimizer_state_round_trips_into_torch():
    net = DeepNet([2, 3, 1], ["tanh", "sigmoid"], seed=1)
    opt = convert.optimizer_for(net, "adam", 0.1)
    net(torch.ones(4, 2, dtype=torch.float64)).sum().backward()
    opt.step()
    saved = convert.optimizer_state(opt, net)
    net2 = DeepNet([2, 3, 1], ["tanh", "sigmoid"], seed=1)
    opt2 = convert.load_optimizer_state(convert.optimizer_for(net2, "adam", 0.1), net2, saved)
    again = convert.optimizer_state(opt2, net2)
    assert again["t"] == 1
    assert all(np.array_equal(again[p][k], saved[p][k]) for p in ("v", "s") for k in saved[p])
    with pytest.raises(ValueError, match="no entry 'dW1'"):
        convert.load_optimizer_state(opt2, net2, {"v": {}, "s": {}, "t": 1})


# ------------------------------------------------------------------ bad files

@pytest.fixture
def saved(tmp_path):
    return save_model(tmp_path / "good.npz", _model(state=True))


def _refused(path, match):
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path)
    assert str(info.value).startswith(os.fspath(path))
    return info.value


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        load_model(tmp_path / "nope.npz")


def test_empty_file_refused(tmp_path):
    (tmp_path / "e.npz").write_bytes(b"")
    _refused(tmp_path / "e.npz", "empty")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_file_refused(saved, keep):
    data = open(saved, "rb").read()
    open(saved, "wb").write(data[:int(len(data) * keep)])
    _refused(saved, "truncated or corrupted")


def test_random_bytes_refused(tmp_path):
    (tmp_path / "r.npz").write_bytes(np.random.default_rng(0).bytes(3000))
    _refused(tmp_path / "r.npz", "truncated or corrupted|not a model file")


def test_a_flipped_byte_inside_a_weight_is_refused(saved):
    """The zip's CRC-32 of the member holding W1 fails (the SHA-256 would catch what it missed)."""
    W1 = load_model(saved).params["W1"].tobytes()
    data = bytearray(open(saved, "rb").read())
    at = data.find(W1) + 5
    assert at > 5
    data[at] ^= 0x01
    open(saved, "wb").write(bytes(data))
    _refused(saved, "corrupted")


def test_a_rewritten_array_fails_the_checksum(saved, tmp_path):
    """A well-formed zip whose W1 was changed after saving (CRCs recomputed): the SHA-256 catches it."""
    with np.load(saved, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["params/W1"] = arrays["params/W1"].copy()
    arrays["params/W1"][0, 0] += 1e-12
    np.savez(tmp_path / "edited.npz", **arrays)
    _refused(tmp_path / "edited.npz", "checksum mismatch")


@pytest.mark.parametrize("drop", ["params/W2", "params/b1", "meta"])
def test_missing_entries_refused(saved, tmp_path, drop):
    with np.load(saved, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != drop}
    np.savez(tmp_path / "m.npz", **arrays)
    _refused(tmp_path / "m.npz", "checksum mismatch|no 'meta'")


def test_wrong_shapes_refused_even_with_a_valid_checksum(tmp_path):
    """An array that does not fit layer_dims (a file written by other code, checksum recomputed)."""
    import json
    from scratch import model_file as mf
    model = _model()
    model.params["W2"] = np.zeros((4, 6))
    arrays = {f"params/{k}": v for k, v in model.params.items()}
    meta = {"format": mf.FORMAT, "version": mf.VERSION, "impl": "scratch", "layer_dims": DIMS,
            "activations": ACTS, "keep_probs": None, "alpha": 0.01, "bn_eps": 1e-5, "bn_beta": 0.9,
            "bn_unbiased": False, "preprocess": None, "config": None, "state": None}
    meta["sha256"] = mf._digest(arrays, meta)
    np.savez(tmp_path / "s.npz", meta=np.array(json.dumps(meta)), **arrays)
    _refused(tmp_path / "s.npz", "do not fit the model.*W2")


def test_other_npz_and_other_versions_refused(tmp_path):
    np.savez(tmp_path / "o.npz", x=np.zeros(3))
    _refused(tmp_path / "o.npz", "no 'meta'")
    np.savez(tmp_path / "v.npz", meta=np.array('{"format": "torch-ref-model", "version": 99}'))
    _refused(tmp_path / "v.npz", "version 99")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))          # creating the file would prove code ran


def test_a_crafted_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "p.npz").write_bytes(pickle.dumps(_Exploit(str(marker))))
    _refused(tmp_path / "p.npz", "pickled data")
    np.savez(tmp_path / "obj.npz", meta=np.array([_Exploit(str(marker))], dtype=object))
    _refused(tmp_path / "obj.npz", "pickled data")
    assert not marker.exists()


def test_save_refuses_non_finite_parameters(tmp_path):
    model = _model()
    model.params["W1"][0, 0] = np.nan
    with pytest.raises(ValueError, match="W1"):
        save_model(tmp_path / "n.npz", model)
    assert not (tmp_path / "n.npz").exists()


def test_an_interrupted_save_leaves_the_old_file_and_no_temporary(saved):
    before = open(saved, "rb").read()

    def write(f):
        f.write(b"half a file")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        atomic_write(saved, write)
    assert open(saved, "rb").read() == before
    assert sorted(os.listdir(os.path.dirname(saved))) == ["good.npz"]
    assert load_model(saved).state.step == 7


def test_atomic_write_renames_into_place(tmp_path, monkeypatch):
    """The final name only ever appears through os.replace of a complete, fsynced temporary file."""
    calls = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: calls.append(("replace", os.path.basename(b))) or real_replace(a, b))
    save_model(tmp_path / "x.npz", _model())
    assert calls[0] == "fsync" and calls[1] == ("replace", "x.npz")
    assert zipfile.is_zipfile(tmp_path / "x.npz")


def test_a_bare_npy_array_is_refused_by_name(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 3)))
    _refused(tmp_path / "a.npy", r"bare array .*shape \(2, 3\)")
