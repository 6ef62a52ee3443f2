"""F43 (and F40-F41 in training): whole runs of softmax and batch-norm networks, scratch.train against
the plain torch loop (torch_ref.train_loop.train_plain: F.cross_entropy on the logits, nn.BatchNorm1d in
train mode, torch.optim) from the same θ_0 on the same batches, and accuracy against torchmetrics.

DESIGN's trajectory rule (float64): the costs at every step within rtol = TRAJECTORY_RTOL (1e-8) for
200 steps, and the final parameters too. Running statistics: torch keeps the unbiased batch variance,
so they equal scratch's run with bn_unbiased=True, and the course's (biased) ones after
convert.course_running_var_to_torch when every batch has the same size.
"""
import numpy as np
import pytest
import torch

from conftest import assert_same, normal, random_params, trajectory_tol
from scratch import network
from scratch._checks import param_keys
from scratch.data import load_digits_multiclass, make_blobs_multiclass
from scratch.train import train
from torch_ref import convert
from torch_ref.models import DeepNet
from torch_ref.train_loop import train_plain


def digits(m=256, dtype=np.float64):
    """The first m of scikit-learn's digits: X (64, m) in [0, 1], Y one-hot (10, m)."""
    X, Y = load_digits_multiclass()
    return X[:, :m].astype(dtype), Y[:, :m].astype(dtype)


def with_batchnorm(rng, params, dtype):
    """params with each hidden b[l] replaced by γ[l] ~ 1 + N(0, 0.2²), β[l] ~ N(0, 0.3²) (not the
    initial 1 and 0, so a swapped γ/β would show), in layer order."""
    L = max(int(k[1:]) for k in params if k.startswith("W"))
    p = dict(params)
    for l in range(1, L):
        n = p.pop(f"b{l}").shape[0]
        p[f"gamma{l}"] = normal(rng, (n, 1), dtype, 0.2) + dtype(1)
        p[f"beta{l}"] = normal(rng, (n, 1), dtype, 0.3)
    return {k: p[k] for k in param_keys(p)}


def assert_same_params(prefix, mine, gold, dtype, tol=None):
    """assert_same over every key of two dicts (params, grads or running statistics), in mine's order."""
    assert sorted(mine) == sorted(gold), f"{prefix}: keys {sorted(mine)} != {sorted(gold)}"
    for key in mine:
        assert_same(f"{prefix} {key}", mine[key], gold[key], dtype, tol)


def costs(history):
    return np.array([h["cost"] for h in history])


def assert_runs_agree(ref, hist, net, dtype, tol=None):
    """Costs at every step, train accuracies (exactly) and final parameters of scratch's TrainResult
    `ref` against train_plain's history and model."""
    tol = tol or (trajectory_tol() if dtype == np.float64 else None)
    assert [h["step"] for h in ref.history] == [h["step"] for h in hist]
    assert_same("costs", costs(ref.history), costs(hist), dtype, tol)
    np.testing.assert_array_equal([h["train_acc"] for h in ref.history], [h["train_acc"] for h in hist])
    assert_same_params("final", ref.final_params, net.to_params(), dtype, tol)


# ------------------------------------------------------------ float64, 200 steps

def test_F43_softmax_digits_200_gd_steps():
    """[64, 16, 10] relu -> softmax, full batch, α = 0.5, λ = 0.3: 200 steps."""
    X, Y = digits()
    params = random_params(np.random.default_rng(0), [64, 16, 10], np.float64)
    kw = dict(learning_rate=0.5, num_iterations=200, lambd=0.3)
    ref = train(X, Y, [64, 16, 10], ["relu", "softmax"], params=params, **kw)
    net = DeepNet.from_params(params, ["relu", "softmax"])
    hist = train_plain(net, X, Y, **kw)
    assert len(hist) == 200 and costs(hist)[-1] < 0.5 * costs(hist)[0]       # it learns
    assert_runs_agree(ref, hist, net, np.float64)


@pytest.mark.parametrize("l2_mode", ["cost", "weight_decay"])
def test_F43_batchnorm_softmax_adam_minibatches_200_steps(l2_mode):
    """Batch norm on both hidden layers, Adam, mini-batches of 32 (8 per epoch, 25 epochs: 200 steps),
    L2 on the weights (γ, β not decayed: a decayed γ would part the runs at once). Then the running
    statistics: torch's = the course's converted (every batch has 32 examples) = scratch's with
    bn_unbiased=True; and prediction with them: scratch's predict = DeepNet.eval()'s."""
    X, Y = digits(256)
    rng = np.random.default_rng(1)
    dims, acts = [64, 12, 8, 10], ["relu", "tanh", "softmax"]
    params = with_batchnorm(rng, random_params(rng, dims, np.float64), np.float64)
    kw = dict(learning_rate=0.01, optimizer="adam", mini_batch_size=32, num_epochs=25, seed=7, lambd=0.5)
    ref = train(X, Y, dims, acts, params=params, **kw)
    net = DeepNet.from_params(params, acts)
    hist = train_plain(net, X, Y, l2_mode=l2_mode, **kw)
    assert len(hist) == 200
    assert_runs_agree(ref, hist, net, np.float64)

    torch_stats = net.to_bn_stats()
    for k, v in ref.bn_stats.items():
        course = convert.course_running_var_to_torch(v, 32, 200) if k.startswith("var") else v
        assert_same(f"{k}_run (course -> torch)", course, torch_stats[k], np.float64, trajectory_tol())
    unbiased = train(X, Y, dims, acts, params=params, bn_unbiased=True, **kw).bn_stats
    assert_same_params("running statistics, bn_unbiased=True", unbiased, torch_stats, np.float64, trajectory_tol())
    X_test, _ = load_digits_multiclass()
    X_test = X_test[:, 256:400]
    net.eval()
    np.testing.assert_array_equal(network.predict(X_test, ref.final_params, acts, bn_stats=unbiased),
                                  convert.to_numpy(net.predict(convert.to_torch(X_test))))
    assert_same("A[L] at prediction", network.model_forward(X_test, ref.final_params, acts, bn_stats=unbiased)[0],
                convert.to_numpy(net.predict_proba(convert.to_torch(X_test)).detach()), np.float64, trajectory_tol())


@pytest.mark.parametrize("optimizer, hp", [("momentum", {"learning_rate": 0.1, "beta": 0.9}),
                                           ("gd", {"learning_rate": 0.5}),
                                           ("rmsprop", {"learning_rate": 0.003})])
def test_F40_batchnorm_sigmoid_minibatches_with_a_smaller_last_batch(optimizer, hp):
    """Binary output, batch norm, 150 examples in batches of 64, 64, 22 (the last smaller), 67 epochs =
    201 steps; torch's running statistics = scratch's with bn_unbiased=True (the Bessel factor m/(m-1)
    changes from batch to batch, so no closed-form conversion exists here)."""
    rng = np.random.default_rng(2)
    X = normal(rng, (2, 150), np.float64, 1.5)
    Y = (np.sum(X ** 2, axis=0, keepdims=True) < 2.0).astype(np.float64)
    dims, acts = [2, 8, 6, 1], ["relu", "leaky_relu", "sigmoid"]
    params = with_batchnorm(rng, random_params(rng, dims, np.float64), np.float64)
    kw = dict(optimizer=optimizer, mini_batch_size=64, num_epochs=67, seed=3, **hp)
    ref = train(X, Y, dims, acts, params=params, bn_unbiased=True, **kw)
    net = DeepNet.from_params(params, acts)
    hist = train_plain(net, X, Y, **kw)
    assert len(hist) == 201
    assert_runs_agree(ref, hist, net, np.float64)
    assert_same_params("running statistics", ref.bn_stats, net.to_bn_stats(), np.float64, trajectory_tol())


def test_F43_blobs_three_classes_batchnorm_full_batch():
    """Three blobs, batch norm, full batch (the batch statistics are the whole set's), 200 steps."""
    X, Y = make_blobs_multiclass(m=120, C=3, seed=4)
    rng = np.random.default_rng(4)
    dims, acts = [2, 5, 3], ["tanh", "softmax"]
    params = with_batchnorm(rng, random_params(rng, dims, np.float64), np.float64)
    ref = train(X, Y, dims, acts, params=params, learning_rate=0.2, num_iterations=200, bn_unbiased=True)
    net = DeepNet.from_params(params, acts)
    hist = train_plain(net, X, Y, learning_rate=0.2, num_iterations=200)
    assert_runs_agree(ref, hist, net, np.float64)
    assert_same_params("running statistics", ref.bn_stats, net.to_bn_stats(), np.float64, trajectory_tol())
    assert hist[-1]["train_acc"] > 0.8


# ---------------------------------------------------------------- float32

@pytest.mark.parametrize("batchnorm", [False, True])
def test_float32_runs_agree_for_50_steps(batchnorm):
    """float32: costs at every step and final parameters within F32's tolerance for 50 steps of gd
    (Adam in float32 magnifies rounding on nearly-cancelled gradients: inventory row F43 documents it)."""
    dtype = np.float32
    X, Y = digits(128, dtype)
    rng = np.random.default_rng(5)
    dims, acts = [64, 16, 10], ["relu", "softmax"]
    params = random_params(rng, dims, dtype)
    if batchnorm:
        params = with_batchnorm(rng, params, dtype)
    kw = dict(learning_rate=0.3, mini_batch_size=64, num_epochs=25, seed=1)
    ref = train(X, Y, dims, acts, params=params, **kw)
    net = DeepNet.from_params(params, acts)
    assert net.linears[0].weight.dtype == torch.float32
    hist = train_plain(net, X, Y, **kw)
    assert len(hist) == 50
    assert_runs_agree(ref, hist, net, dtype)


# ----------------------------------------------------------- accuracy, metrics

def test_F43_accuracy_matches_torchmetrics_multiclass():
    """scratch's predict on held-out digits: the fraction right = MulticlassAccuracy(average="micro"); the
    recall of each class = average=None; its default "macro" is their mean (not the fraction right)."""
    from torchmetrics.classification import MulticlassAccuracy
    X, Y = load_digits_multiclass()
    X_train, Y_train, X_test, Y_test = X[:, :400], Y[:, :400], X[:, 400:700], Y[:, 400:700]
    params = random_params(np.random.default_rng(6), [64, 20, 10], np.float64)
    ref = train(X_train, Y_train, [64, 20, 10], ["relu", "softmax"], params=params, learning_rate=0.5,
                num_iterations=150)
    pred = network.predict(X_test, ref.final_params, ["relu", "softmax"])[0]
    labels = Y_test.argmax(axis=0)
    net = DeepNet.from_params(ref.final_params, ["relu", "softmax"])
    proba, target = net.predict_proba(convert.to_torch(X_test)).detach(), convert.one_hot_to_indices(Y_test)
    micro = MulticlassAccuracy(num_classes=10, average="micro")(proba, target)
    per_class = MulticlassAccuracy(num_classes=10, average=None)(proba, target)
    macro = MulticlassAccuracy(num_classes=10)(proba, target)
    assert 0.5 < micro.item() < 1.0                                   # it learned, and is not trivially perfect
    assert micro.item() == np.float32(np.mean(pred == labels))       # the same float32 rounding of right/300
    recall = np.array([np.mean(pred[labels == k] == k) for k in range(10)], dtype=np.float32)
    np.testing.assert_array_equal(per_class.numpy(), recall)
    assert macro.item() == pytest.approx(float(recall.astype(np.float64).mean()), rel=1e-6)
    assert macro.item() != pytest.approx(micro.item(), rel=1e-6)     # the two averages differ here


# ----------------------------------------------------------------- errors

def test_train_plain_refuses_what_scratch_refuses():
    X, Y = digits(64)
    net = DeepNet.from_params(random_params(np.random.default_rng(0), [64, 5, 10], np.float64), ["relu", "softmax"])
    with pytest.raises(ValueError, match=r"Y must have shape \(C, m\) with 10 rows"):
        train_plain(net, X, Y[:3], learning_rate=0.1, num_iterations=1)
    Y_bad = Y.copy()
    Y_bad[0, 0] = 1 - Y_bad[0, 0]
    with pytest.raises(ValueError, match="Y must be one-hot"):
        train_plain(net, X, Y_bad, learning_rate=0.1, num_iterations=1)
    tanh_out = DeepNet([64, 3], ["tanh"])
    with pytest.raises(ValueError, match=r"output activation must be one of \['sigmoid', 'softmax'\]"):
        train_plain(tanh_out, X, Y[:1], learning_rate=0.1, num_iterations=1)
    bn_net = DeepNet([64, 5, 10], ["relu", "softmax"], batchnorm=True, seed=0)
    for fn in (lambda: train_plain(bn_net, X[:, :33], Y[:, :33], learning_rate=0.1, mini_batch_size=16, num_epochs=1),
               lambda: train(X[:, :33], Y[:, :33], [64, 5, 10], ["relu", "softmax"], params=bn_net.to_params(),
                             learning_rate=0.1, mini_batch_size=16, num_epochs=1)):
        with pytest.raises(ValueError, match="batch norm needs m >= 2 examples in every step"):
            fn()


def test_divergence_of_a_batchnorm_net_names_the_same_step_and_parameters():
    """A learning rate of 1e308 with W2 × 100 (so dA[1], hence dW1, dγ1, dβ1, exceed 1.8) overflows layer 1's
    parameters at update 0: both loops name the same step and the same parameters, with scratch's names
    (W1, gamma1, beta1) on the torch side too, and the same last cost (to rounding)."""
    X, Y = digits(32)
    rng = np.random.default_rng(9)
    params = with_batchnorm(rng, random_params(rng, [64, 6, 10], np.float64), np.float64)
    params["W2"] = params["W2"] * 100
    errors = []
    for run in (lambda: train(X, Y, [64, 6, 10], ["relu", "softmax"], params=params, learning_rate=1e308,
                              num_iterations=3),
                lambda: train_plain(DeepNet.from_params(params, ["relu", "softmax"]), X, Y, learning_rate=1e308,
                                    num_iterations=3)):
        with pytest.raises(FloatingPointError) as err:
            run()
        errors.append(str(err.value).split("; last finite cost "))
    want = "training diverged at iteration 0: parameters ['W1', 'gamma1', 'beta1'] became non-finite after the update"
    assert errors[0][0] == errors[1][0] == want
    assert float(errors[0][1].split()[0]) == pytest.approx(float(errors[1][1].split()[0]), rel=1e-12)


def test_train_plain_callback_sees_the_running_statistics_scratch_uses_for_dev():
    """scratch.train's dev metrics of step i use the running statistics of batches 0..i-1; train_plain's
    callback at step i must see the same (its forward pass of step i has already taken in batch i)."""
    import torch

    from scratch.data import make_blobs_multiclass
    from scratch.initializers import initialize_parameters
    from scratch.train import train
    from torch_ref import convert, functional
    from torch_ref.models import DeepNet
    from torch_ref.train_loop import train_plain

    X, Y = make_blobs_multiclass(m=160, C=3, noise=0.8, seed=2)
    X_dev, Y_dev = make_blobs_multiclass(m=60, C=3, noise=0.8, seed=3)
    dims, acts = [2, 5, 4, 3], ["relu", "tanh", "softmax"]
    params0 = initialize_parameters(dims, "he", rng=1, batchnorm=True)
    kw = dict(learning_rate=0.05, mini_batch_size=32, num_epochs=3, optimizer="adam", seed=4, log_every=2)
    ref = train(X, Y, dims, acts, params=params0, X_dev=X_dev, Y_dev=Y_dev, bn_unbiased=True, **kw)
    x_dev, y_dev = convert.to_torch(X_dev), convert.to_torch(Y_dev)
    seen = []

    def dev_cost(i, record, model):
        with torch.no_grad():
            z = model.layer_outputs(x_dev, dropout=False, stats="running")[-1][0]
            seen.append(float(functional.data_cost(z, y_dev, "softmax")))

    train_plain(DeepNet.from_params(params0, acts), X, Y, callback=dev_cost, **kw)
    np.testing.assert_allclose(seen, [r["dev_cost"] for r in ref.history], rtol=1e-10)
