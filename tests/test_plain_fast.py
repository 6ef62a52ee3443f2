"""train_plain runs unchecked internals in its loop (DeepNet._logits, the masks checked alone, the weight
decay set only when m changes, the divergence guard's buffers), having checked its arguments once at the
entry. The public functions check every argument. Both must compute the same numbers, bit for bit: here
the plain loop is rebuilt from the public, checked functions (model.layer_outputs(x, masks),
functional.data_cost and training_cost, convert.optimizer_for, set_weight_decay, lr_scheduler_for) and
compared with train_plain exactly (torch.equal and ==, no tolerance): the final parameters and running
statistics, and every logged cost and accuracy, over nets, optimizers, dropout, L2, batch norm, softmax,
learning-rate schedules, seeds and dtypes. A diverging run must name the same first bad step, and the
same last finite cost, as the checked loop that looks at every step, whenever the guard reads its flags.
"""
import math

import numpy as np
import pytest
import torch

from scratch.plan import check_lr_schedule, make_plan
from scratch.train import divergence_error
from torch_ref import convert, functional
from torch_ref.divergence import DivergenceGuard, parameter_names
from torch_ref.models import DeepNet
from torch_ref.train_loop import train_plain


def checked_plain(model, X, Y, *, learning_rate, num_iterations=None, num_epochs=None, mini_batch_size=None,
                  seed=0, lambd=0.0, l2_mode="cost", masks=None, optimizer="gd", lr_schedule=None, log_every=1,
                  **hp):
    """train_plain's loop, one public (checked) call per formula, reading every step's cost and parameters
    on the host. Returns (history, error): error is the FloatingPointError train_plain must raise
    (scratch.train.divergence_error of the first non-finite cost or parameters), or None."""
    output, dtype = model.activations[-1], next(model.parameters()).dtype
    x, y = convert.to_torch(X, dtype=dtype), convert.to_torch(Y, dtype=dtype)
    m = X.shape[1]
    plan = make_plan(m, num_iterations=num_iterations, num_epochs=num_epochs, mini_batch_size=mini_batch_size,
                     seed=seed)
    decay = lambd if l2_mode == "weight_decay" else 0.0
    opt = convert.optimizer_for(model, optimizer, learning_rate, lambd=decay, m=m, **hp)
    lr_schedule = check_lr_schedule(lr_schedule)
    scheduler = convert.lr_scheduler_for(opt, *lr_schedule) if lr_schedule is not None else None
    names = parameter_names(model)
    model.train()
    history, last, i = [], None, 0
    for epoch in range(plan.num_epochs):
        for columns in plan.batches(epoch):
            if columns is None:
                xb, yb = x, y
            else:
                rows = torch.as_tensor(columns)
                xb, yb = x[rows], y[rows]
            mb = xb.shape[0]
            if decay:
                convert.set_weight_decay(opt, lambd, mb)
            step_masks = convert.masks_to_torch(masks(i)) if masks is not None else None
            logits = model.layer_outputs(xb, masks=step_masks)[-1][0]             # Z[L], checked
            data_cost = functional.data_cost(logits, yb, output)
            loss, cost = functional.training_cost(data_cost, model, lambd, mb, l2_mode)
            if not math.isfinite(cost.item()):
                return history, divergence_error(i, last, cost=cost.item())
            last = (i, cost.item())
            if i % log_every == 0:
                with torch.no_grad():
                    proba = model.layer_outputs(xb, dropout=False, stats="batch")[-1][1]
                if output == "softmax":
                    acc = (proba.argmax(dim=1) == yb.argmax(dim=1)).to(torch.float64).mean().item()
                else:
                    acc = ((proba > 0.5).to(yb.dtype) == yb).to(torch.float64).mean().item()
                history.append({"step": i, "epoch": epoch, "cost": cost.item(), "train_acc": acc})
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bad = [n for n, p in zip(names, model.parameters()) if not bool(torch.isfinite(p).all())]
            if bad:
                return history, divergence_error(i, last, bad_params=bad)
            i += 1
        if scheduler is not None:
            scheduler.step()
    return history, None


def _data(n_x, m, seed, C=1, dtype=np.float64, scale=1.0):
    rng = np.random.default_rng(seed)
    X = (scale * rng.standard_normal((n_x, m))).astype(dtype)
    if C == 1:
        return X, (rng.random((1, m)) < 0.5).astype(dtype)
    return X, np.eye(C, dtype=dtype)[:, rng.integers(0, C, m)]


def _masks(dims, keep_probs, m, seed):
    """A masks callable: step -> L-1 course-layout bool masks (n[l], m), the same for both loops."""
    def masks(step):
        rng = np.random.default_rng([seed, step])
        return [rng.random((n, m)) < kp for n, kp in zip(dims[1:-1], keep_probs)]
    return masks


DEEP, RELU = [5, 8, 6, 1], ["relu", "relu", "sigmoid"]
# name: (layer_dims, activations, DeepNet options, data options, train_plain options)
CASES = {
    "tiny-tanh": ([2, 4, 1], ["tanh", "sigmoid"], {}, dict(m=400), dict(learning_rate=0.5, num_iterations=60)),
    "tiny-tanh-f32-log7": ([2, 4, 1], ["tanh", "sigmoid"], dict(dtype=torch.float32), dict(m=400, dtype=np.float32),
                           dict(learning_rate=0.5, num_iterations=60, log_every=7)),
    "l2-cost": (DEEP, RELU, {}, dict(m=60), dict(learning_rate=0.1, num_iterations=50, lambd=0.7)),
    "l2-weight-decay-log7": (DEEP, RELU, {}, dict(m=60), dict(learning_rate=0.1, num_iterations=50, lambd=0.7,
                                                              l2_mode="weight_decay", log_every=7)),
    "l2-weight-decay-adam-minibatch": (DEEP, RELU, {}, dict(m=60),
                                       dict(learning_rate=0.01, optimizer="adam", num_epochs=6, mini_batch_size=16,
                                            lambd=0.7, l2_mode="weight_decay")),
    "dropout-masks-minibatch-l2": (DEEP, RELU, dict(keep_probs=[0.8, 0.6]), dict(m=64),
                                   dict(learning_rate=0.1, num_epochs=5, mini_batch_size=16, lambd=0.3,
                                        l2_mode="weight_decay", log_every=3, masks=(16, [0.8, 0.6]))),
    "dropout-masks": (DEEP, ["tanh", "leaky_relu", "sigmoid"], dict(keep_probs=[0.7, 1.0]), dict(m=50),
                      dict(learning_rate=0.1, num_iterations=40, masks=(50, [0.7, 1.0]))),
    "dropout-torch-rng": (DEEP, RELU, dict(keep_probs=[0.8, 0.6]), dict(m=60),
                          dict(learning_rate=0.1, num_iterations=40, log_every=7)),
    "momentum": (DEEP, RELU, {}, dict(m=100), dict(learning_rate=0.05, optimizer="momentum", num_iterations=60)),
    "rmsprop-minibatch": (DEEP, RELU, {}, dict(m=100), dict(learning_rate=0.005, optimizer="rmsprop", num_epochs=4,
                                                            mini_batch_size=25)),
    "batchnorm": (DEEP, RELU, dict(batchnorm=True), dict(m=100), dict(learning_rate=0.05, num_iterations=50,
                                                                     log_every=7)),
    "batchnorm-adam-minibatch-l2": (DEEP, RELU, dict(batchnorm=[True, False]), dict(m=100),
                                    dict(learning_rate=0.01, optimizer="adam", num_epochs=4, mini_batch_size=30,
                                         lambd=0.5, log_every=2)),
    "softmax-l2": ([4, 6, 3], ["relu", "softmax"], {}, dict(m=90, C=3),
                   dict(learning_rate=0.1, num_iterations=50, lambd=0.2)),
    "softmax-f32-momentum-minibatch": ([4, 6, 3], ["tanh", "softmax"], dict(dtype=torch.float32),
                                       dict(m=90, C=3, dtype=np.float32),
                                       dict(learning_rate=0.1, optimizer="momentum", num_epochs=5, mini_batch_size=20,
                                            log_every=7)),
    "schedule-exponential": (DEEP, RELU, {}, dict(m=100), dict(learning_rate=0.1, num_epochs=8, mini_batch_size=25,
                                                               lr_schedule=("exponential", {"base": 0.8}))),
    "schedule-staircase-adam-f32": (DEEP, RELU, dict(dtype=torch.float32), dict(m=100, dtype=np.float32),
                                    dict(learning_rate=0.01, optimizer="adam", num_epochs=9, mini_batch_size=50,
                                         lr_schedule=("staircase", {"decay_rate": 0.5, "time_interval": 3}),
                                         log_every=7)),
}


def _setup(dims, acts, net_options, data_options, options, seed):
    """(make_model, X, Y, options) of a case: the same θ_0, data and masks for both loops."""
    data_options = dict(data_options)
    X, Y = _data(dims[0], data_options.pop("m"), seed, **data_options)
    options = dict(options, seed=seed)
    if "masks" in options:
        options["masks"] = _masks(dims, options["masks"][1], options["masks"][0], seed)
    return (lambda: DeepNet(dims, acts, seed=seed, **net_options)), X, Y, options


def _run(loop, make_model, X, Y, options, seed):
    """loop(model, X, Y, **options) from the case's θ_0 and torch RNG state (nn.Dropout's masks where
    no masks are given); returns (its result, the trained model)."""
    model = make_model()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return loop(model, X, Y, **options), model


def _assert_same_model(fast, checked):
    a, b = fast.state_dict(), checked.state_dict()
    assert list(a) == list(b)
    for key in a:                                    # parameters, running statistics, num_batches_tracked
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("name", list(CASES))
def test_train_plain_is_the_checked_loop_bit_for_bit(name, seed):
    make_model, X, Y, options = _setup(*CASES[name], seed)
    history, fast = _run(train_plain, make_model, X, Y, options, seed)
    (want_history, error), checked = _run(checked_plain, make_model, X, Y, options, seed)
    assert error is None
    assert len(history) == len(want_history) > 1
    assert history == want_history                   # every step, epoch, cost and accuracy exactly
    _assert_same_model(fast, checked)


def test_the_comparison_sees_a_one_ulp_difference():
    """The checks above can fail: one parameter one ulp apart, or one cost, is a difference."""
    make_model, X, Y, options = _setup(*CASES["tiny-tanh"], 0)
    history, fast = _run(train_plain, make_model, X, Y, options, 0)
    (want_history, _), checked = _run(checked_plain, make_model, X, Y, options, 0)
    with torch.no_grad():
        w = checked.linears[0].weight
        w[0, 0] = torch.nextafter(w[0, 0], torch.tensor(math.inf, dtype=w.dtype))
    with pytest.raises(AssertionError):
        _assert_same_model(fast, checked)
    want_history[-1]["cost"] = math.nextafter(want_history[-1]["cost"], math.inf)
    assert history != want_history


def test_masks_of_a_wrong_shape_are_refused_with_the_public_message():
    dims = [5, 8, 6, 1]
    X, Y = _data(5, 40, 0)
    model = DeepNet(dims, RELU, keep_probs=[0.8, 0.6], seed=0)
    wrong = _masks(dims, [0.8, 0.6], 39, 0)           # m = 39 columns for a batch of 40
    with pytest.raises(ValueError, match=r"masks\[0\] must have shape \(m, n\[1\]\) = \(40, 8\); got shape \(39, 8\)"):
        train_plain(model, X, Y, learning_rate=0.1, num_iterations=3, masks=wrong)
    with pytest.raises(ValueError, match="masks must be a list of L-1 = 2 tensors; got 1"):
        train_plain(model, X, Y, learning_rate=0.1, num_iterations=3, masks=lambda i: wrong(i)[:1])
    plain = DeepNet(dims, RELU, seed=0)
    with pytest.raises(ValueError, match="masks were given but keep_probs is None"):
        train_plain(plain, X, Y, learning_rate=0.1, num_iterations=3, masks=_masks(dims, [0.8, 0.6], 40, 0))


# Runs that diverge, at the step and by the check the checked loop finds (the test asserts the check, so
# the table exercises both): with linear or leaky hidden layers and a large α the cost overflows after a
# few steps (check 1); with α jumping from 1 to ~1e308 at epoch 1 (inverse_sqrt with a huge k) the first
# update of epoch 1 overflows parameters while that step's cost is still finite (check 2), several at
# once; in "parameters-minus-inf" some entries of W2 become -inf, the others stay finite (a check that
# looked for +inf and NaN only, e.g. max p alone, would leave W2 out).
# name: (seed, case); log_every is large, so the guard reads its flags every check_every steps.
JUMP = ("inverse_sqrt", {"k": 1e308})
DIVERGING = {
    "cost-linear": (0, (DEEP, ["identity", "identity", "sigmoid"], {}, dict(m=60, scale=3.0),
                        dict(learning_rate=3.0, num_iterations=300))),
    "cost-leaky-relu": (0, (DEEP, ["leaky_relu", "leaky_relu", "sigmoid"], {}, dict(m=60, scale=3.0),
                            dict(learning_rate=3.0, num_iterations=300))),
    "cost-f32-momentum": (0, (DEEP, ["leaky_relu", "leaky_relu", "sigmoid"], dict(dtype=torch.float32),
                              dict(m=60, scale=3.0, dtype=np.float32),
                              dict(learning_rate=10.0, optimizer="momentum", num_iterations=300))),
    "parameters-full-batch": (0, ([2, 4, 1], ["identity", "sigmoid"], {}, dict(m=40, scale=10.0),
                                  dict(learning_rate=1.0, num_epochs=10, lr_schedule=JUMP))),
    "parameters-minibatch": (0, ([2, 4, 1], ["identity", "sigmoid"], {}, dict(m=40, scale=10.0),
                                 dict(learning_rate=1.0, num_epochs=10, mini_batch_size=16, lr_schedule=JUMP))),
    "parameters-f32-minibatch": (0, ([2, 4, 1], ["identity", "sigmoid"], dict(dtype=torch.float32),
                                     dict(m=40, scale=10.0, dtype=np.float32),
                                     dict(learning_rate=1.0, num_epochs=10, mini_batch_size=16,
                                          lr_schedule=("inverse_sqrt", {"k": 3e38})))),
    "parameters-minus-inf": (1, ([2, 4, 1], ["identity", "sigmoid"], {}, dict(m=40, scale=10.0),
                                 dict(learning_rate=1.0, num_epochs=10, lr_schedule=("inverse_sqrt", {"k": 5e307})))),
}


@pytest.mark.parametrize("check_every", [1, 100])
@pytest.mark.parametrize("name", list(DIVERGING))
def test_a_diverging_run_names_the_first_bad_step_of_the_checked_loop(name, check_every):
    """However late the guard reads its flags, train_plain's error is the checked loop's, word for word:
    the same first bad step, the same check, the same parameters, the same last finite cost."""
    seed, case = DIVERGING[name]
    make_model, X, Y, options = _setup(*case, seed)
    (_, want), checked = _run(checked_plain, make_model, X, Y, options, seed)
    assert want is not None and " at iteration 0:" not in str(want)
    assert (": parameters" if name.startswith("parameters") else ": cost is") in str(want)
    if name == "parameters-minus-inf":              # W2: some entries -inf, the others finite
        W2 = checked.linears[1].weight
        assert "'W2'" in str(want) and bool((W2 == -math.inf).any() and torch.isfinite(W2).any())
        assert not bool((W2 == math.inf).any() or W2.isnan().any())
    with pytest.raises(FloatingPointError) as err:
        _run(train_plain, make_model, X, Y, dict(options, check_every=check_every, log_every=1000), seed)
    assert str(err.value) == str(want)


@pytest.mark.parametrize("check_every", [1, 100, 1000])
def test_the_guard_names_the_first_bad_step_however_many_steps_it_holds(check_every):
    """The guard keeps (min p, max p) of every step since its last read in blocks of rows (128 at most per
    block, more blocks as needed): read every step, every 100, or after 300 steps at once, the first bad
    step (300: W gets one -inf among finite entries) is the one named, with the cost of that step."""
    guard = DivergenceGuard(["W", "b"], check_every)
    W, b = torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.float32)
    with pytest.raises(FloatingPointError) as err:
        for i in range(400):
            guard.after_forward(i, torch.tensor(1.0 + i))
            W[1, 0], b[0] = (-math.inf if i >= 300 else i), (math.nan if i >= 350 else -i)
            guard.after_update(i, iter([W, b]))              # any iterable of the parameters, not only a list
            if guard.due(i):
                guard.raise_if_diverged()
        guard.raise_if_diverged()
    assert str(err.value) == str(divergence_error(300, (300, 301.0), bad_params=["W"]))
    assert guard.last_finite == (300, 301.0)
