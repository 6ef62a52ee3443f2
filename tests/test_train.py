"""scratch.train.train: the full-batch gradient-descent loop (F13), its history/callback conventions,
divergence errors, dropout masks and early stopping on the dev cost (F26)."""
import numpy as np
import pytest

from scratch import data, network
from scratch.initializers import initialize_parameters
from scratch.train import TrainResult, train

TANH_NET = ([2, 4, 1], ["tanh", "sigmoid"])


@pytest.fixture(scope="module")
def flower():
    return data.load_flower()


def _manual_costs(X, Y, params, activations, learning_rate, steps, lambd=0.0, keep_probs=None, masks=None):
    """The same loop written out with scratch.network, to pin down the step-i convention."""
    costs = []
    for i in range(steps):
        step_masks = masks(i) if masks else None
        costs.append(network.model_cost(X, Y, params, activations, lambd=lambd, keep_probs=keep_probs,
                                        masks=step_masks))
        AL, caches = network.model_forward(X, params, activations, keep_probs=keep_probs, masks=step_masks)
        params = network.update_parameters(params, network.model_backward(AL, Y, caches, lambd=lambd),
                                           learning_rate)
    return costs, params


def test_cost_decreases_on_flower_with_tanh(flower):
    X, Y = flower
    result = train(X, Y, *TANH_NET, init="random", rng=1, learning_rate=1.2, num_iterations=1500, log_every=100)
    assert isinstance(result, TrainResult)
    costs = [h["cost"] for h in result.history]
    assert costs[0] == pytest.approx(np.log(2), abs=1e-3)        # W ~ 0.01 N(0,1): ŷ ≈ 1/2
    assert costs[-1] < 0.6 * costs[0]
    assert result.history[-1]["train_acc"] > 0.6
    assert result.best_step is None and result.best_params is None and not result.stopped_early


def test_history_is_cost_before_each_update(flower):
    X, Y = flower
    params = initialize_parameters([2, 4, 1], "he", rng=0)
    result = train(X, Y, *TANH_NET, params=params, learning_rate=0.5, num_iterations=20, lambd=0.7)
    costs, final = _manual_costs(X, Y, params, TANH_NET[1], 0.5, 20, lambd=0.7)
    assert [h["step"] for h in result.history] == list(range(20))
    np.testing.assert_allclose([h["cost"] for h in result.history], costs, rtol=1e-13)
    for k in final:
        np.testing.assert_allclose(result.params[k], final[k], rtol=1e-13)


@pytest.mark.parametrize("n, k, steps", [(10, 3, [0, 3, 6, 9]), (11, 5, [0, 5, 10]), (1, 7, [0]), (4, 1, [0, 1, 2, 3])])
def test_log_every(flower, n, k, steps):
    X, Y = flower
    result = train(X, Y, *TANH_NET, rng=0, learning_rate=0.1, num_iterations=n, log_every=k)
    assert [h["step"] for h in result.history] == steps


def test_given_params_not_mutated_and_init_seeded(flower):
    X, Y = flower
    params = initialize_parameters([2, 4, 1], "xavier", rng=3)
    before = {k: v.copy() for k, v in params.items()}
    result = train(X, Y, *TANH_NET, params=params, learning_rate=0.5, num_iterations=5)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    assert all(not np.array_equal(result.params[k], before[k]) for k in params)
    a = train(X, Y, *TANH_NET, init="he", rng=7, learning_rate=0.5, num_iterations=3)
    b = train(X, Y, *TANH_NET, init="he", rng=7, learning_rate=0.5, num_iterations=3)
    assert a.history == b.history


def test_callback_gets_step_record_params(flower):
    X, Y = flower
    X_dev, Y_dev = data.load_flower(m=40, seed=9)
    calls = []
    result = train(X, Y, *TANH_NET, rng=0, learning_rate=0.5, num_iterations=9, log_every=4,
                   X_dev=X_dev, Y_dev=Y_dev, callback=lambda step, rec, p: calls.append((step, rec, p)))
    assert [c[0] for c in calls] == [0, 4, 8]
    assert [c[1] for c in calls] == result.history
    assert set(result.history[0]) == {"step", "epoch", "cost", "train_acc", "dev_cost", "dev_acc"}
    for step, rec, p in calls:            # the params handed over are the ones that gave the cost
        assert rec["cost"] == pytest.approx(network.model_cost(X, Y, p, TANH_NET[1]), rel=1e-13)
        assert rec["dev_cost"] == pytest.approx(network.model_cost(X_dev, Y_dev, p, TANH_NET[1]), rel=1e-13)
        assert rec["dev_acc"] == np.mean(network.predict(X_dev, p, TANH_NET[1]) == Y_dev)


def test_print_every(flower, capsys):
    X, Y = flower
    train(X, Y, *TANH_NET, rng=0, learning_rate=0.1, num_iterations=5)
    assert capsys.readouterr().out == ""
    train(X, Y, *TANH_NET, rng=0, learning_rate=0.1, num_iterations=5, print_every=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].split()[:2] == ["step", "0"] and "cost" in lines[0]


def test_non_finite_initial_params_rejected(flower):
    X, Y = flower
    params = initialize_parameters([2, 4, 1], "he", rng=0)
    params["W2"] = params["W2"].copy()
    params["W2"][0, 1] = np.inf
    with pytest.raises(ValueError, match="W2"):
        train(X, Y, *TANH_NET, params=params, learning_rate=0.1, num_iterations=2)


def test_dropout_with_shared_masks_matches_manual_loop(flower):
    X, Y = flower
    net = ([2, 6, 5, 1], ["relu", "tanh", "sigmoid"])
    keep = [0.8, 0.6]

    def masks(step):
        g = np.random.default_rng(100 + step)
        return [g.random((6, 400)) < keep[0], g.random((5, 400)) < keep[1]]

    params = initialize_parameters(net[0], "he", rng=0)
    result = train(X, Y, *net, params=params, learning_rate=0.3, num_iterations=6, keep_probs=keep, masks=masks)
    costs, _ = _manual_costs(X, Y, params, net[1], 0.3, 6, keep_probs=keep, masks=masks)
    np.testing.assert_allclose([h["cost"] for h in result.history], costs, rtol=1e-13)
    drawn = [train(X, Y, *net, params=params, rng=5, learning_rate=0.3, num_iterations=4, keep_probs=keep).history
             for _ in range(2)]
    assert drawn[0] == drawn[1]                                  # masks drawn from the seeded rng
    assert drawn[0][1]["cost"] != result.history[1]["cost"]


def test_early_stopping_returns_best_dev_params():
    # a tiny noisy training set and a big net: the dev cost falls, then rises (overfitting)
    X, Y = data.make_moons(m=220, noise=0.35, seed=0)
    X_tr, Y_tr, X_dev, Y_dev = X[:, :20], Y[:, :20], X[:, 20:], Y[:, 20:]
    net = ([2, 64, 64, 1], ["relu", "relu", "sigmoid"])
    result = train(X_tr, Y_tr, *net, init="xavier", rng=0, learning_rate=0.01, num_iterations=5000, log_every=5,
                   X_dev=X_dev, Y_dev=Y_dev, early_stopping=20)
    dev_costs = [h["dev_cost"] for h in result.history]
    assert result.stopped_early and len(result.history) < 1000
    assert 0 < result.best_step and dev_costs[0] > min(dev_costs) + 0.1  # it did learn before overfitting
    assert result.history[-1]["step"] == result.best_step + 20 * 5      # patience counted in logged steps
    best = network.model_cost(X_dev, Y_dev, result.params, net[1])
    assert best == min(dev_costs) == result.history[dev_costs.index(min(dev_costs))]["dev_cost"]
    assert result.params is result.best_params
    assert network.model_cost(X_dev, Y_dev, result.final_params, net[1]) > best


@pytest.mark.parametrize("kwargs, match", [
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"num_iterations": 0}, "num_iterations"),
    ({"num_iterations": 2.5}, "num_iterations"),
    ({"lambd": -0.1}, "lambd"),
    ({"layer_dims": [3, 4, 1]}, r"layer_dims\[0\]"),
    ({"layer_dims": [2, 4, 2]}, r"layer_dims\[-1\]"),
    ({"activations": ["tanh", "relu"]}, "sigmoid"),
    ({"activations": ["sigmoid"]}, "activations"),
    ({"keep_probs": [0.0]}, "keep_probs"),
    ({"early_stopping": 3}, "dev"),
    ({"X_dev": np.zeros((2, 3))}, "Y_dev"),
    ({"log_every": 0}, "log_every"),
    ({"masks": [np.ones((4, 400), bool)], "keep_probs": [0.5]}, "callable"),
])
def test_rejects_bad_arguments(flower, kwargs, match):
    X, Y = flower
    args = {"layer_dims": [2, 4, 1], "activations": ["tanh", "sigmoid"], "learning_rate": 0.1, "num_iterations": 2}
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        train(X, Y, args.pop("layer_dims"), args.pop("activations"), rng=0, **args)
