"""scratch.train runs unchecked cores in place (validated once at its entry); the public functions check
every argument and return fresh arrays. Both must compute the same numbers, bit for bit: here the
training loop is rebuilt from the public, checked functions and compared with train() exactly
(assert_array_equal, no tolerance), over nets, optimizers, dropout, L2, batch norm, softmax, dtypes."""
import numpy as np
import pytest

from scratch import data, network, optimizers
from scratch.batchnorm import initialize_running_stats, update_running_stats
from scratch.initializers import initialize_parameters
from scratch.plan import make_plan
from scratch.train import train


def checked_loop(X, Y, dims, acts, params, *, learning_rate, steps=None, num_epochs=None, mini_batch_size=None,
                 lambd=0.0, keep_probs=None, masks=None, optimizer="gd", bn=False):
    """The course's loop, one public (checked, non-mutating) call per formula."""
    plan = make_plan(X.shape[1], num_iterations=steps, num_epochs=num_epochs, mini_batch_size=mini_batch_size)
    v = optimizers.initialize_velocity(params)
    s = optimizers.initialize_velocity(params)
    stats = initialize_running_stats(params) if bn else None
    costs, t = [], 0
    for epoch in range(plan.num_epochs):
        for columns in plan.batches(epoch):
            Xb, Yb = (X, Y) if columns is None else (X[:, columns], Y[:, columns])
            step_masks = masks(t) if masks is not None else None
            AL, caches = network.model_forward(Xb, params, acts, keep_probs=keep_probs, masks=step_masks)
            costs.append(network.cost_from_caches(caches, Yb, params, lambd))
            if bn:
                stats = update_running_stats(stats, caches)
            grads = network.model_backward(AL, Yb, caches, lambd=lambd)
            t += 1
            if optimizer == "gd":
                params = optimizers.update_parameters_with_gd(params, grads, learning_rate)
            elif optimizer == "momentum":
                params, v = optimizers.update_parameters_with_momentum(params, grads, v, 0.9, learning_rate)
            elif optimizer == "rmsprop":
                params, s = optimizers.update_parameters_with_rmsprop(params, grads, s, 0.999, learning_rate)
            else:
                params, v, s = optimizers.update_parameters_with_adam(params, grads, v, s, t, learning_rate)
    return costs, params, stats


CASES = {
    "tiny-tanh": ([2, 4, 1], ["tanh", "sigmoid"], dict(learning_rate=1.2, steps=60)),
    "deep-relu-l2": ([2, 8, 5, 3, 1], ["relu", "relu", "leaky_relu", "sigmoid"], dict(learning_rate=0.3, steps=40, lambd=0.7)),
    "logistic": ([2, 1], ["sigmoid"], dict(learning_rate=0.5, steps=30)),
    "momentum-minibatch": ([2, 6, 1], ["tanh", "sigmoid"], dict(learning_rate=0.1, num_epochs=4, mini_batch_size=64,
                                                                  optimizer="momentum")),
    "rmsprop": ([2, 6, 1], ["relu", "sigmoid"], dict(learning_rate=0.01, steps=30, optimizer="rmsprop")),
    "adam-minibatch-l2": ([2, 6, 4, 1], ["relu", "tanh", "sigmoid"], dict(learning_rate=0.01, num_epochs=3,
                                                                          mini_batch_size=50, optimizer="adam", lambd=0.3)),
    "dropout": ([2, 6, 4, 1], ["relu", "relu", "sigmoid"], dict(learning_rate=0.1, steps=30, keep_probs=[0.8, 0.6])),
    "batchnorm-adam": ([2, 6, 4, 1], ["relu", "tanh", "sigmoid"], dict(learning_rate=0.01, steps=30, optimizer="adam", bn=True)),
    "softmax": ([2, 6, 3], ["tanh", "softmax"], dict(learning_rate=0.5, steps=30)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", list(CASES))
def test_train_is_bit_identical_to_the_checked_path(case, seed, dtype):
    dims, acts, kw = CASES[case]
    kw = dict(kw)
    bn = kw.pop("bn", False)
    if acts[-1] == "softmax":
        X, Y = data.make_blobs_multiclass(m=200, C=dims[-1], seed=seed)
    else:
        X, Y = data.load_flower(200, seed)
    X, Y = X.astype(dtype), Y.astype(dtype)
    params0 = initialize_parameters(dims, "he", rng=seed, dtype=dtype, batchnorm=bn)
    masks = None
    if "keep_probs" in kw:
        mask_rng = np.random.default_rng(seed + 100)
        drawn = [[mask_rng.random((n, X.shape[1])) < kp for n, kp in zip(dims[1:-1], kw["keep_probs"])]
                 for _ in range(kw["steps"])]
        masks = drawn.__getitem__
    want_costs, want_params, want_stats = checked_loop(X, Y, dims, acts, params0, masks=masks, bn=bn, **kw)

    steps = kw.pop("steps", None)
    res = train(X, Y, dims, acts, params=params0, num_iterations=steps, masks=masks, batchnorm=bn, **kw)
    np.testing.assert_array_equal([h["cost"] for h in res.history], want_costs)
    assert list(res.params) == list(want_params)
    for k in want_params:
        np.testing.assert_array_equal(res.params[k], want_params[k], err_msg=k)
        assert res.params[k].dtype == dtype
    if bn:
        for k in want_stats:
            np.testing.assert_array_equal(res.bn_stats[k], want_stats[k], err_msg=k)


def test_train_leaves_its_inputs_and_the_callbacks_params_alone():
    X, Y = data.load_flower(100, 0)
    params0 = initialize_parameters([2, 4, 1], "he", rng=0)
    before = {k: v.copy() for k, v in params0.items()}
    seen = []
    res = train(X, Y, [2, 4, 1], ["tanh", "sigmoid"], params=params0, learning_rate=1.0, num_iterations=20,
                log_every=5, X_dev=X, Y_dev=Y, callback=lambda i, rec, p: seen.append((i, p)))
    for k in before:
        np.testing.assert_array_equal(params0[k], before[k])      # the caller's θ_0 is never updated in place
    # each callback's θ_i is its own: the updates in place after it do not reach it
    for i, p in seen:
        cost = network.model_cost(X, Y, p, ["tanh", "sigmoid"])
        assert cost == res.history[i // 5]["cost"]
    assert res.best_params is not res.final_params
