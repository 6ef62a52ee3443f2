"""Bad input is rejected with ValueError/TypeError whose message names the argument,
what was expected and what was got; a rejected call changes nothing it was given."""
import copy

import numpy as np
import pytest

from scratch import initializers, layers, logistic, losses, network
from scratch._checks import as_generator


def good():
    """A fresh, valid problem: a 3-layer net on X (3, 5), Y (1, 5), its caches and grads."""
    rng = np.random.default_rng(0)
    params = initializers.initialize_parameters([3, 4, 2, 1], "he", rng=rng)
    X = rng.standard_normal((3, 5))
    Y = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]])
    activations = ["relu", "tanh", "sigmoid"]
    AL, caches = network.model_forward(X, params, activations)
    grads = network.model_backward(AL, Y, caches)
    w, b = rng.standard_normal((3, 1)), 0.5
    return dict(params=params, X=X, Y=Y, activations=activations, AL=AL, caches=caches, grads=grads,
                w=w, b=b, A=rng.standard_normal((4, 5)))


def with_nan(X):
    X = X.copy()
    X[1, 2] = np.nan
    return X


def with_inf(X):
    X = X.copy()
    X[0, 0] = -np.inf
    return X


# id -> (function, builder g -> (args, kwargs), exception, regex the message must match)
CASES = {
    # rank-1 arrays
    "forward-X-rank1": (network.model_forward, lambda g: ((g["X"][0], g["params"], g["activations"]), {}),
                        ValueError, r"X must be 2-D \(n_x, m\); got shape \(5,\)"),
    "predict-X-rank1": (network.predict, lambda g: ((g["X"].ravel(), g["params"], g["activations"]), {}),
                        ValueError, r"X must be 2-D"),
    "propagate-X-rank1": (logistic.propagate, lambda g: ((g["w"], g["b"], g["X"][0], g["Y"]), {}),
                          ValueError, r"X must be 2-D"),
    "backward-Y-rank1": (network.model_backward, lambda g: ((g["AL"], g["Y"][0], g["caches"]), {}),
                         ValueError, r"Y must be 2-D \(1, m\); got shape \(5,\)"),
    "propagate-Y-rank1": (logistic.propagate_loop, lambda g: ((g["w"], g["b"], g["X"], g["Y"][0]), {}),
                          ValueError, r"Y must be 2-D"),
    "cost-Y-rank1": (losses.compute_cost, lambda g: ((g["AL"], g["Y"].ravel()), {}), ValueError, r"Y must be 2-D"),
    "w-rank1": (logistic.propagate, lambda g: ((g["w"].ravel(), g["b"], g["X"], g["Y"]), {}),
                ValueError, r"w must be 2-D \(n_x, 1\)"),
    # X and Y with different m
    "propagate-m-mismatch": (logistic.propagate, lambda g: ((g["w"], g["b"], g["X"], g["Y"][:, :4]), {}),
                             ValueError, r"Y must have shape \(1, m\) with 5 columns.*got shape \(1, 4\)"),
    "optimize-m-mismatch": (logistic.optimize, lambda g: ((g["w"], g["b"], g["X"][:, :3], g["Y"], 10, 0.1), {}),
                            ValueError, r"Y must have shape \(1, m\) with 3 columns"),
    "cost-m-mismatch": (network.model_cost, lambda g: ((g["X"], g["Y"][:, 1:], g["params"], g["activations"]), {}),
                        ValueError, r"Y must have shape \(1, m\) with 5 columns"),
    "backward-m-mismatch": (network.model_backward, lambda g: ((g["AL"], g["Y"][:, :2], g["caches"]), {}),
                            ValueError, r"Y must have shape \(1, m\) with 5 columns"),
    # W of the wrong shape
    "W1-vs-X": (network.model_forward, lambda g: ((g["X"][:2], g["params"], g["activations"]), {}),
                ValueError, r"W1 must have shape \(n\[1\], n\[0\]\) with 2 columns \(rows of X\); got shape \(4, 3\)"),
    "W2-vs-W1": (network.model_forward,
                 lambda g: ((g["X"], {**g["params"], "W2": np.ones((2, 3))}, g["activations"]), {}),
                 ValueError, r"W2 must have shape .* with 4 columns \(rows of W1\); got shape \(2, 3\)"),
    "b-vs-W": (network.model_forward,
               lambda g: ((g["X"], {**g["params"], "b2": np.zeros((3, 1))}, g["activations"]), {}),
               ValueError, r"b2 must have shape \(n\[2\], 1\) with 2 rows \(rows of W2\); got shape \(3, 1\)"),
    "linear-W-vs-A_prev": (layers.linear_forward, lambda g: ((g["A"], np.ones((2, 3)), np.zeros((2, 1))), {}),
                           ValueError, r"W must have shape \(n\[l\], n\[l-1\]\) with 4 columns"),
    "linear-b-vs-W": (layers.linear_forward, lambda g: ((g["A"], np.ones((2, 4)), np.zeros((1, 2))), {}),
                      ValueError, r"b must have shape \(n\[l\], 1\) with 2 rows"),
    "grads-vs-params": (network.update_parameters,
                        lambda g: ((g["params"], {**g["grads"], "dW1": np.ones((3, 4))}, 0.1), {}),
                        ValueError, r"dW1 must have shape .* with 4 rows"),
    "missing-b": (network.model_forward,
                  lambda g: ((g["X"], {k: v for k, v in g["params"].items() if k != "b3"}, g["activations"]), {}),
                  ValueError, r"params must have key 'b3'"),
    # labels
    "Y-not-binary": (network.model_backward, lambda g: ((g["AL"], g["Y"] * 2, g["caches"]), {}),
                     ValueError, r"Y must contain only 0 and 1; got other values \[2.0\]"),
    "Y-not-binary-logistic": (logistic.propagate, lambda g: ((g["w"], g["b"], g["X"], g["Y"] - 0.5), {}),
                              ValueError, r"Y must contain only 0 and 1"),
    "Y-nan": (losses.cost_from_logits, lambda g: ((g["AL"], g["Y"] * np.nan), {}),
              ValueError, r"Y must contain only 0 and 1"),
    # non-finite X
    "X-nan": (network.model_forward, lambda g: ((with_nan(g["X"]), g["params"], g["activations"]), {}),
              ValueError, r"X must be finite \(no NaN or inf\); got 1 non-finite"),
    "X-inf": (logistic.propagate, lambda g: ((g["w"], g["b"], with_inf(g["X"]), g["Y"]), {}),
              ValueError, r"X must be finite"),
    "X-nan-cost": (network.model_cost, lambda g: ((with_nan(g["X"]), g["Y"], g["params"], g["activations"]), {}),
                   ValueError, r"X must be finite"),
    # non-finite parameters at prediction (a NaN weight would predict 0 everywhere)
    "predict-W-nan": (network.predict,
                      lambda g: ((g["X"], {**g["params"], "W2": with_nan(g["params"]["W2"])}, g["activations"]), {}),
                      ValueError, r"params\['W2'\] must be finite \(no NaN or inf\); got 1 non-finite entry"),
    "predict-w-inf": (logistic.predict, lambda g: ((with_inf(g["w"]), g["b"], g["X"]), {}),
                      ValueError, r"w must be finite \(no NaN or inf\)"),
    # an empty batch (m = 0): a mean over no examples is NaN
    "forward-X-empty": (network.model_forward, lambda g: ((g["X"][:, :0], g["params"], g["activations"]), {}),
                        ValueError, r"X must have at least one example \(m >= 1\); got shape \(3, 0\)"),
    "cost-X-empty": (network.model_cost,
                     lambda g: ((g["X"][:, :0], g["Y"][:, :0], g["params"], g["activations"]), {}),
                     ValueError, r"X must have at least one example \(m >= 1\)"),
    "propagate-X-empty": (logistic.propagate, lambda g: ((g["w"], g["b"], g["X"][:, :0], g["Y"][:, :0]), {}),
                          ValueError, r"X must have at least one example \(m >= 1\); got shape \(3, 0\)"),
    "optimize-X-empty": (logistic.optimize,
                         lambda g: ((g["w"], g["b"], g["X"][:, :0], g["Y"][:, :0], 10, 0.1), {}),
                         ValueError, r"X must have at least one example \(m >= 1\)"),
    "cost-AL-empty": (losses.compute_cost, lambda g: ((g["AL"][:, :0], g["Y"][:, :0]), {}),
                      ValueError, r"AL must have at least one example \(m >= 1\); got shape \(1, 0\)"),
    # keep_prob
    "keep_prob-zero": (layers.dropout_forward, lambda g: ((g["A"], 0.0), {"rng": 0}),
                       ValueError, r"keep_prob must be in \(0, 1\].*got 0.0"),
    "keep_prob-above-one": (layers.dropout_forward, lambda g: ((g["A"], 1.5), {"rng": 0}),
                            ValueError, r"keep_prob must be in \(0, 1\].*got 1.5"),
    "keep_prob-nan": (layers.dropout_backward, lambda g: ((g["A"], g["A"] > 0, float("nan")), {}),
                      ValueError, r"keep_prob must be a finite number"),
    "keep_probs-negative": (network.model_forward,
                            lambda g: ((g["X"], g["params"], g["activations"]), {"keep_probs": [0.5, -0.2], "rng": 0}),
                            ValueError, r"keep_probs\[1\] must be in \(0, 1\]"),
    "keep_probs-on-output": (network.model_forward,
                             lambda g: ((g["X"], g["params"], g["activations"]), {"keep_probs": [0.5, 0.5, 0.5]}),
                             ValueError, r"keep_probs must have one value per hidden layer, L-1 = 2"),
    "mask-not-bool": (layers.dropout_forward, lambda g: ((g["A"], 0.5), {"mask": np.ones((4, 5))}),
                      TypeError, r"mask must be a boolean ndarray"),
    "mask-shape": (layers.dropout_backward, lambda g: ((g["A"], np.ones((4, 4), bool), 0.5), {}),
                   ValueError, r"mask must have the shape of A"),
    # lambd, learning_rate
    "lambd-negative": (network.model_backward, lambda g: ((g["AL"], g["Y"], g["caches"]), {"lambd": -0.1}),
                       ValueError, r"lambd must be >= 0; got -0.1"),
    "lambd-negative-cost": (network.model_cost,
                            lambda g: ((g["X"], g["Y"], g["params"], g["activations"]), {"lambd": -1}),
                            ValueError, r"lambd must be >= 0"),
    "lambd-negative-penalty": (losses.l2_penalty, lambda g: ((g["params"], -1.0, 5), {}),
                               ValueError, r"lambd must be >= 0"),
    "learning_rate-zero": (network.update_parameters, lambda g: ((g["params"], g["grads"], 0.0), {}),
                           ValueError, r"learning_rate must be > 0; got 0.0"),
    "learning_rate-negative": (logistic.optimize, lambda g: ((g["w"], g["b"], g["X"], g["Y"], 10, -0.5), {}),
                               ValueError, r"learning_rate must be > 0; got -0.5"),
    "num_iterations-float": (logistic.optimize, lambda g: ((g["w"], g["b"], g["X"], g["Y"], 10.5, 0.1), {}),
                             TypeError, r"num_iterations must be an int"),
    # names
    "activation-unknown": (network.model_forward,
                           lambda g: ((g["X"], g["params"], ["relu", "swish", "sigmoid"]), {}),
                           ValueError, r"activations\[1\] must be one of \['sigmoid', 'tanh', 'relu', "
                                       r"'leaky_relu', 'identity'\]; got 'swish'"),
    "activation-softmax-hidden": (network.model_forward,
                                  lambda g: ((g["X"], g["params"], ["relu", "softmax", "sigmoid"]), {}),
                                  ValueError, r"activations\[1\] is 'softmax', which only the output layer"),
    "output-activation-unknown": (network.model_forward,
                                  lambda g: ((g["X"], g["params"], ["relu", "tanh", "swish"]), {}),
                                  ValueError, r"activations\[2\] must be one of \['sigmoid', 'tanh', 'relu', "
                                              r"'leaky_relu', 'identity', 'softmax'\]; got 'swish'"),
    "activations-count": (network.model_forward, lambda g: ((g["X"], g["params"], ["relu", "sigmoid"]), {}),
                          ValueError, r"activations must have one name per layer, L = 3"),
    "layer-activation-unknown": (layers.linear_activation_forward,
                                 lambda g: ((g["A"], np.ones((2, 4)), np.zeros((2, 1)), "Relu"), {}),
                                 ValueError, r"activation must be one of .*got 'Relu'"),
    "init-unknown": (initializers.initialize_parameters, lambda g: (([3, 4, 1], "kaiming"), {"rng": 0}),
                     ValueError, r"method must be one of \['zeros', 'random', 'xavier', 'glorot', 'he'\]; "
                                 r"got 'kaiming'"),
    "layer_dims-zero": (initializers.initialize_parameters, lambda g: (([3, 0, 1], "he"), {}),
                        ValueError, r"layer_dims\[1\] must be an int >= 1; got 0"),
    "output-form-unknown": (network.model_backward, lambda g: ((g["AL"], g["Y"], g["caches"]), {"output": "exact"}),
                            ValueError, r"output must be one of \['fused', 'general'\]"),
    "AL-not-probability": (losses.compute_cost, lambda g: ((g["AL"] + 1.0, g["Y"]), {}),
                           ValueError, r"AL must hold probabilities in \[0, 1\]"),
    # wrong types
    "X-list": (network.model_forward, lambda g: ((g["X"].tolist(), g["params"], g["activations"]), {}),
               TypeError, r"X must be a NumPy array; got list"),
    "X-strings": (network.predict, lambda g: ((g["X"].astype(str), g["params"], g["activations"]), {}),
                  TypeError, r"X must hold real numbers; got dtype <U"),
    "params-not-dict": (network.update_parameters, lambda g: ((list(g["params"].values()), g["grads"], 0.1), {}),
                        TypeError, r"params must be a dict"),
    "keep_prob-string": (layers.dropout_forward, lambda g: ((g["A"], "0.5"), {}),
                         TypeError, r"keep_prob must be a real number; got str"),
    "learning_rate-bool": (network.update_parameters, lambda g: ((g["params"], g["grads"], True), {}),
                           TypeError, r"learning_rate must be a real number; got bool"),
    "b-array": (logistic.predict, lambda g: ((g["w"], np.zeros((2, 1)), g["X"]), {}),
                TypeError, r"b must be a real number; got ndarray"),
    "rng-float": (initializers.initialize_parameters, lambda g: (([3, 1], "he"), {"rng": 0.5}),
                  TypeError, r"rng must be a numpy.random.Generator, an int seed or None; got float"),
    "activation-not-str": (layers.linear_activation_backward,
                           lambda g: ((g["AL"], g["caches"][-1]["linear_activation"], None), {}),
                           TypeError, r"activation must be a str"),
}


def assert_same(after, before, path="arg"):
    """Deep equality (NaN == NaN, dtypes and identity of structure included)."""
    assert type(after) is type(before), path
    if isinstance(before, np.ndarray):
        assert after.dtype == before.dtype and after.shape == before.shape, path
        np.testing.assert_array_equal(after, before, err_msg=path)
    elif isinstance(before, dict):
        assert list(after) == list(before), path
        for k in before:
            assert_same(after[k], before[k], f"{path}[{k!r}]")
    elif isinstance(before, (list, tuple)):
        assert len(after) == len(before), path
        for i, (a, b) in enumerate(zip(after, before)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        assert after == before or (after != after and before != before), path


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_rejected_and_changes_nothing(case):
    fn, build, exc, pattern = CASES[case]
    args, kwargs = build(good())
    args_before, kwargs_before = copy.deepcopy(args), copy.deepcopy(kwargs)
    with pytest.raises(exc, match=pattern):
        fn(*args, **kwargs)
    assert_same(list(args), list(args_before))
    assert_same(kwargs, kwargs_before)


def test_the_good_problem_is_accepted():
    """The cases above differ from a valid call only in the one bad argument."""
    g = good()
    network.model_cost(g["X"], g["Y"], g["params"], g["activations"], lambd=0.1, keep_probs=[0.5, 0.5], rng=0)
    network.update_parameters(g["params"], g["grads"], 0.1)
    logistic.optimize(g["w"], g["b"], g["X"], g["Y"], 2, 0.1)
    layers.dropout_forward(g["A"], 1.0, rng=0)
    as_generator(np.int64(3))


def test_valid_calls_change_nothing():
    g = good()
    before = copy.deepcopy(g)
    AL, caches = network.model_forward(g["X"], g["params"], g["activations"], keep_probs=[0.8, 0.9], rng=1)
    grads = network.model_backward(AL, g["Y"], caches, lambd=0.3, output="general")
    network.update_parameters(g["params"], grads, 0.5)
    network.model_cost(g["X"], g["Y"], g["params"], g["activations"], lambd=0.3)
    network.predict(g["X"], g["params"], g["activations"])
    logistic.optimize(g["w"], g["b"], g["X"], g["Y"], 3, 0.1)
    logistic.propagate_loop(g["w"], g["b"], g["X"], g["Y"])
    for k in ("params", "X", "Y", "w", "b", "A", "grads", "AL"):
        assert_same(g[k], before[k], k)
