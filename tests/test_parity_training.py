"""Whole-run parity (F13, F20, F22): 200 steps of full-batch gradient descent from the
same initial parameters, scratch against the plain torch loop
(torch_ref.train_loop.train_plain, torch.optim.SGD), float64.

DESIGN: the costs at every step agree within rtol = TRAJECTORY_RTOL (1e-8), and so
do the final parameters. The scratch side is run two ways: scratch.train.train,
and a bare loop over model_forward / model_cost / model_backward / update_parameters
(so a bug in either one is pinned to it). With dropout both sides call the same
masks callable, step -> masks.
"""
import numpy as np
import pytest

from conftest import assert_same, assert_same_params, copy_params, normal, random_params, trajectory_tol
from scratch import network
from torch_ref import models, train_loop

STEPS = 200
M = 60

CASES = {
    # name: (layer_dims, activations, learning_rate, lambd, keep_probs)
    "logistic": ([2, 1], ["sigmoid"], 0.5, 0.0, None),
    "plain": ([2, 6, 4, 1], ["relu", "tanh", "sigmoid"], 0.3, 0.0, None),
    "l2": ([2, 6, 4, 1], ["tanh", "leaky_relu", "sigmoid"], 0.3, 0.7, None),
    "dropout": ([2, 6, 4, 1], ["relu", "sigmoid", "sigmoid"], 0.3, 0.0, [0.8, 0.6]),
    "l2+dropout": ([2, 6, 4, 1], ["tanh", "relu", "sigmoid"], 0.3, 0.5, [0.7, 0.9]),
}
RUNS = [("logistic", "cost"), ("plain", "cost"), ("l2", "cost"), ("l2", "weight_decay"),
        ("dropout", "cost"), ("l2+dropout", "cost"), ("l2+dropout", "weight_decay")]


def dataset(seed=0):
    """X (2, M) ~ N(0, 1); Y = 1 inside a circle of radius 1.1 (not linearly separable)."""
    rng = np.random.default_rng(seed)
    X = normal(rng, (2, M), np.float64)
    Y = (np.sum(X ** 2, axis=0, keepdims=True) < 1.1 ** 2).astype(np.float64)
    return rng, X, Y


def shared_masks(layer_dims, keep_probs, seed=1):
    """step -> [D[1], ..., D[L-1]], D[l] (n[l], M) bool, the same for every caller
    (drawn here from a Generator seeded by (seed, step), not by the code under test)."""
    def masks(step):
        rng = np.random.default_rng([seed, step])
        return [rng.random((n, M)) < kp for n, kp in zip(layer_dims[1:-1], keep_probs)]
    return masks


def scratch_loop(X, Y, params, acts, lr, lambd, keep_probs, masks):
    """The course's loop, step i: J_i on θ_i (before the update), backward, update."""
    costs = []
    for i in range(STEPS):
        step_masks = masks(i) if masks else None
        AL, caches = network.model_forward(X, params, acts, keep_probs=keep_probs, masks=step_masks)
        costs.append(network.model_cost(X, Y, params, acts, lambd=lambd, keep_probs=keep_probs,
                                        masks=step_masks))
        params = network.update_parameters(params, network.model_backward(AL, Y, caches, lambd=lambd), lr)
    return costs, params


def scratch_train(X, Y, params, acts, lr, lambd, keep_probs, masks):
    from scratch import train
    dims = [X.shape[0]] + [params[f"W{l}"].shape[0] for l in range(1, len(acts) + 1)]
    result = train.train(X, Y, dims, acts, params=params, learning_rate=lr, num_iterations=STEPS,
                         lambd=lambd, keep_probs=keep_probs, masks=masks)
    assert [h["step"] for h in result.history] == list(range(STEPS))
    return [h["cost"] for h in result.history], result.final_params


@pytest.mark.parametrize("scratch_side", ["loop", "train"])
@pytest.mark.parametrize("case, l2_mode", RUNS, ids=[f"{c}-{mode}" for c, mode in RUNS])
def test_whole_run_parity_200_steps(case, l2_mode, scratch_side):
    dims, acts, lr, lambd, keep_probs = CASES[case]
    rng, X, Y = dataset()
    params0 = random_params(rng, dims, np.float64)
    masks = shared_masks(dims, keep_probs) if keep_probs else None
    kept = copy_params(params0)

    run = scratch_loop if scratch_side == "loop" else scratch_train
    costs, final = run(X, Y, params0, acts, lr, lambd, keep_probs, masks)
    model = models.DeepNet.from_params(params0, acts, keep_probs=keep_probs)
    history = train_loop.train_plain(model, X, Y, learning_rate=lr, num_iterations=STEPS, lambd=lambd,
                                     l2_mode=l2_mode, masks=masks)

    assert [h["step"] for h in history] == list(range(STEPS))
    assert_same("cost at every step", np.array(costs), np.array([h["cost"] for h in history]),
                np.float64, trajectory_tol())
    assert_same_params("final", final, model.to_params(), np.float64, trajectory_tol())
    assert costs[-1] < costs[0]                                    # it did train
    assert_same_params("initial params untouched", params0, kept, np.float64)


def test_whole_run_parity_can_fail():
    """The control: a learning rate off by 1e-6 relative is caught by the trajectory check."""
    dims, acts, lr, lambd, _ = CASES["plain"]
    rng, X, Y = dataset()
    params0 = random_params(rng, dims, np.float64)
    costs, _ = scratch_loop(X, Y, params0, acts, lr, lambd, None, None)
    model = models.DeepNet.from_params(params0, acts)
    history = train_loop.train_plain(model, X, Y, learning_rate=lr * (1 + 1e-6), num_iterations=STEPS)
    with pytest.raises(AssertionError):
        assert_same("cost at every step", np.array(costs), np.array([h["cost"] for h in history]),
                    np.float64, trajectory_tol())
