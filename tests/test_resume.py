"""Exact resume (issue 10): a scratch run and a plain-loop run stopped at step k and continued from
their saved state end with the parameters and the logged curves of the run never stopped, bit for
bit, with dropout, mini-batches, every optimizer, a learning-rate schedule and batch norm; a finished
run extended by more steps trains those steps; a state that does not fit the call is refused."""
import numpy as np
import pytest
import torch

from scratch import data
from scratch.initializers import initialize_parameters
from scratch.model_file import Model, load_model, save_model
from scratch.train import train
from torch_ref.model_file import model_from_deepnet
from torch_ref.models import DeepNet
from torch_ref.parity import TRAJECTORY_RTOL
from torch_ref.train_loop import train_plain

DIMS, ACTS = [2, 6, 5, 1], ["relu", "tanh", "sigmoid"]
X, Y = data.load_flower(160, 0)
X_DEV, Y_DEV = data.load_flower(60, 1)

# (name, options, the first run's length, the whole run's length): k is never a multiple of log_every = 3
CASES = [
    ("dropout", dict(keep_probs=[0.8, 0.9]), dict(num_iterations=17), dict(num_iterations=40)),
    ("adam-minibatch-schedule-bn", dict(optimizer="adam", mini_batch_size=48, lr_schedule="exponential",
                                        batchnorm=True), dict(num_epochs=2), dict(num_epochs=6)),
    ("momentum-minibatch", dict(optimizer="momentum", mini_batch_size=50), dict(num_epochs=2), dict(num_epochs=5)),
    ("rmsprop-schedule", dict(optimizer="rmsprop", lr_schedule=("inverse_time", {"decay_rate": 0.5})),
     dict(num_iterations=13), dict(num_iterations=30)),
]


def _scratch(options, length, **kw):
    options = {"learning_rate": 0.05, **options}
    return train(X, Y, DIMS, ACTS, rng=3, X_dev=X_DEV, Y_dev=Y_DEV, log_every=3, **options, **length, **kw)


def _same_params(a, b):
    assert sorted(a) == sorted(b)
    worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    assert worst == 0.0, f"largest parameter difference {worst}"


@pytest.mark.parametrize("name, options, first, whole", CASES, ids=[c[0] for c in CASES])
def test_scratch_resumed_from_its_file_is_the_uninterrupted_run(tmp_path, name, options, first, whole):
    full = _scratch(options, whole)
    part = _scratch(options, first)
    assert part.state.step not in (0, full.state.step) and part.state.step % 3 != 0
    save_model(tmp_path / "run.npz", Model(part.final_params, DIMS, ACTS, state=part.state))
    rest = _scratch(options, whole, resume=load_model(tmp_path / "run.npz").state)
    _same_params(rest.final_params, full.final_params)
    assert rest.history == full.history                     # the earlier records, then the new ones
    assert rest.state.step == full.state.step
    if full.bn_stats is not None:
        _same_params(rest.bn_stats, full.bn_stats)


def test_scratch_resume_keeps_early_stopping_state_and_calls_back_on_new_steps_only():
    options = dict(keep_probs=[0.8, 0.9], early_stopping=1000)
    full = _scratch(options, dict(num_iterations=30))
    part = _scratch(options, dict(num_iterations=14))
    seen = []
    rest = _scratch(options, dict(num_iterations=30), resume=part.state,
                    callback=lambda i, record, params: seen.append(i))
    assert seen == [i for i in range(14, 30) if i % 3 == 0]
    assert rest.best_step == full.best_step
    _same_params(rest.params, full.params)


def _plain(options, length, bn=False, keep_probs=None, seed_torch=0, **kw):
    torch.manual_seed(seed_torch)
    net = DeepNet.from_params(initialize_parameters(DIMS, "he", rng=3, batchnorm=bn), ACTS, keep_probs=keep_probs)
    history, state = train_plain(net, X, Y, learning_rate=0.05, log_every=3, return_state=True, **options,
                                 **length, **kw)
    return net, history, state


@pytest.mark.parametrize("name, options, first, whole", CASES, ids=[c[0] for c in CASES])
def test_plain_loop_resumed_from_its_file_is_the_uninterrupted_run(tmp_path, name, options, first, whole):
    """nn.Dropout's masks come from torch's RNG (restored from the file); another seed before the
    resumed call and a fresh θ_0 in the model must not matter."""
    options = dict(options)
    bn, keep_probs = options.pop("batchnorm", False), options.pop("keep_probs", None)
    full_net, full_history, _ = _plain(options, whole, bn, keep_probs)
    part_net, _, part_state = _plain(options, first, bn, keep_probs)
    save_model(tmp_path / "run.npz", model_from_deepnet(part_net, state=part_state))
    torch.manual_seed(12345)
    net = DeepNet.from_params(initialize_parameters(DIMS, "he", rng=99, batchnorm=bn), ACTS, keep_probs=keep_probs)
    history, state = train_plain(net, X, Y, learning_rate=0.05, log_every=3, return_state=True, **options,
                                 **whole, resume=load_model(tmp_path / "run.npz").state)
    for (k, a), (_, b) in zip(full_net.state_dict().items(), net.state_dict().items()):
        assert torch.equal(a, b), k
    assert history == full_history


def test_extending_a_finished_run_trains_the_new_steps():
    done = _scratch({}, dict(num_iterations=20))
    longer = _scratch({}, dict(num_iterations=35), resume=done.state)
    full = _scratch({}, dict(num_iterations=35))
    assert longer.state.step == 35
    _same_params(longer.final_params, full.final_params)
    assert not all(np.array_equal(longer.final_params[k], done.final_params[k]) for k in done.final_params)


def test_a_state_that_does_not_fit_the_call_is_refused():
    done = _scratch({}, dict(num_iterations=20))
    with pytest.raises(ValueError, match="already trained 20 steps"):
        _scratch({}, dict(num_iterations=20), resume=done.state)
    with pytest.raises(ValueError, match="optimizer 'gd'"):
        _scratch(dict(optimizer="adam"), dict(num_iterations=30), resume=done.state)
    with pytest.raises(ValueError, match="another plan"):
        _scratch(dict(mini_batch_size=40), dict(num_epochs=30), resume=done.state)
    with pytest.raises(ValueError, match="not both"):
        train(X, Y, DIMS, ACTS, params=done.final_params, learning_rate=0.05, num_iterations=30, resume=done.state)
    with pytest.raises(TypeError, match="TrainState"):
        _scratch({}, dict(num_iterations=30), resume=done.final_params)
    net = DeepNet([2, 3, 1], ["tanh", "sigmoid"], seed=0)
    with pytest.raises(ValueError, match="do not fit the model"):
        train_plain(net, X, Y, learning_rate=0.05, num_iterations=30, resume=done.state)


def _stopped_mid_epoch(options):
    """A scratch run of mini-batches stopped by early stopping in the middle of an epoch (patience 1 on
    a dev cost that rises after a few steps): the kind of state a Lightning last.ckpt also holds."""
    part = _scratch(dict(options, early_stopping=1), dict(num_epochs=8))
    assert part.stopped_early and part.state.step % 4 != 0, part.state.step     # 4 steps per epoch
    assert part.history[-1]["step"] == part.state.step     # logged, then stopped before its update
    return part


def test_a_run_stopped_mid_epoch_continues_with_the_batches_it_had_left():
    """Early stopping changes no update, only where the run ends: continuing its state without early
    stopping is the run that never stopped, bit for bit (the rest of the epoch's batches, in order)."""
    options = dict(optimizer="adam", mini_batch_size=40, learning_rate=0.1)
    part = _stopped_mid_epoch(options)
    full = _scratch(options, dict(num_epochs=8))
    rest = _scratch(options, dict(num_epochs=8), resume=part.state)
    _same_params(rest.final_params, full.final_params)
    assert rest.history == full.history


def test_one_file_continues_in_the_other_implementation_within_the_trajectory_tolerance(tmp_path):
    """A scratch run's file, stopped mid-epoch, continued by the plain loop (Adam: its v, s and t
    converted to torch's state; the rest of the epoch's batches) follows scratch's own run within
    DESIGN's float64 trajectory rule."""
    options = dict(optimizer="adam", mini_batch_size=40, learning_rate=0.1)
    part = _stopped_mid_epoch(options)
    save_model(tmp_path / "s.npz", Model(part.final_params, DIMS, ACTS, state=part.state))
    full = _scratch(options, dict(num_epochs=8))
    net = DeepNet.from_params(initialize_parameters(DIMS, "he", rng=3), ACTS)
    history = train_plain(net, X, Y, log_every=3, **options, num_epochs=8,
                          resume=load_model(tmp_path / "s.npz").state)
    costs = np.array([r["cost"] for r in history])
    np.testing.assert_allclose(costs, [r["cost"] for r in full.history], rtol=TRAJECTORY_RTOL)
    assert [r["step"] for r in history] == [r["step"] for r in full.history]
