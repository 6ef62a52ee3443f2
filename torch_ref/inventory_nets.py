"""Inventory rows about whole networks (F13-F22, F30, F32): scratch.network against DeepNet,
layer by layer, and the training loops against each other. See torch_ref.inventory (and
inventory_optim for F33-F38).

Naming of the compared quantities, layer l = 1..L (course notation):
    Z{l}, A{l}       forward; A{l} of a hidden layer after dropout (what layer l+1 sees)
    dW{l}, db{l}     model_backward's gradients against autograd's .grad
    dA_prev{l}       ∂L/∂A[l-1] as layer l receives it (per example: m · autograd's grad)
"""
import math

import numpy as np
import torch
from torch import nn

from scratch import layers, losses, network
from scratch.activations import sigmoid_prime
from scratch.gradcheck import GRADCHECK_THRESHOLD, gradient_check
from scratch.initializers import INIT_STD, initialize_parameters
from scratch.train import train

from . import convert, functional
from .inventory import hard, labels, leaf
from .models import DeepNet
from .parity import EXACT, GRADCHECK, TRAJECTORY_RTOL, Tolerance, compare, tolerance_for
from .train_loop import train_plain

ACTS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")


def random_params(rng, dims, dtype, bias_scale=0.5):
    """W[l] ~ N(0, 1/n[l-1]) and non-zero biases N(0, bias_scale²): inputs, not an init under test."""
    p = {}
    for l in range(1, len(dims)):
        p[f"W{l}"] = (rng.standard_normal((dims[l], dims[l - 1])) / math.sqrt(dims[l - 1])).astype(dtype)
        p[f"b{l}"] = (bias_scale * rng.standard_normal((dims[l], 1))).astype(dtype)
    return p


def cases(rng, dtype):
    """Networks with the hard spots: a zero column with b[1] = 0 (relu/leaky kinks at z = 0 exactly),
    m = 1, and an example scaled by 1e3 (|z| in the hundreds, saturated sigmoid output)."""
    out = []
    for dims, acts, m, big in (([4, 5, 3, 1], ["relu", "leaky_relu", "sigmoid"], 7, False),
                               ([3, 6, 4, 2, 1], ["tanh", "sigmoid", "identity", "sigmoid"], 1, False),
                               ([5, 8, 1], ["relu", "sigmoid"], 64, True),
                               ([2, 3, 1], ["leaky_relu", "sigmoid"], 16, True)):
        p = random_params(rng, dims, dtype)
        p["b1"][:] = 0
        X = rng.standard_normal((dims[0], m)).astype(dtype)
        if m > 1:
            X[:, 0] = 0
        if big:
            X[:, -1] *= 1e3
        out.append((p, acts, X, labels(rng, m, dtype), f"{dims} m={m}"))
    return out


def net_parity(params, acts, X, Y, tag, keep_probs=None, masks=None, lambd=0.0, output="fused"):
    """scratch model_forward/model_backward against DeepNet + autograd, every layer.
    output "fused": J from the logits (dZ[L] = A - Y); "general": J from probabilities."""
    L, m = len(acts), X.shape[1]
    AL, caches = network.model_forward(X, params, acts, keep_probs=keep_probs, masks=masks)
    grads = network.model_backward(AL, Y, caches, lambd=lambd, output=output)
    mine = {}
    if output == "fused":
        mine["cost"] = network.model_cost(X, Y, params, acts, lambd, keep_probs, masks)
    for l in range(1, L + 1):
        mine[f"Z{l}"] = caches[l - 1]["linear_activation"][1]
        mine[f"A{l}"] = caches[l]["linear_activation"][0][0] if l < L else AL
    # dA_prev by unwinding the caches with scratch's layer functions (model_backward keeps only dW, db)
    dA = layers.linear_backward(AL - Y, caches[-1]["linear_activation"][0])[0] if output == "fused" else None
    for l in range(L, 0, -1):
        mine[f"dW{l}"], mine[f"db{l}"] = grads[f"dW{l}"], grads[f"db{l}"]
        if dA is not None:
            if l < L:
                c = caches[l - 1]
                if c["mask"] is not None:
                    dA = layers.dropout_backward(dA, c["mask"], c["keep_prob"])
                dA = layers.linear_activation_backward(dA, c["linear_activation"], c["activation"])[0]
            mine[f"dA_prev{l}"] = dA

    net = DeepNet.from_params(params, acts, keep_probs=keep_probs)
    x, y = leaf(X), convert.to_torch(Y)
    outs = net.layer_outputs(x, masks=convert.masks_to_torch(masks))
    for t in (t for pair in outs for t in pair):
        t.retain_grad()
    zL, aL = outs[-1]
    data = functional.cost_from_logits(zL, y) if output == "fused" else functional.compute_cost(aL, y)
    cost = data + functional.l2_penalty(net, lambd, m)
    cost.backward()
    g = convert.grads_from_model(net)
    inputs = [x] + [a for _, a in outs[:-1]]
    gold = {"cost": cost, **{f"{k}{l}": convert.to_numpy(t) for l, (z, a) in enumerate(outs, 1)
                             for k, t in (("Z", z), ("A", a))}}
    gold.update({f"dA_prev{l}": m * convert.to_numpy(inputs[l - 1].grad) for l in range(1, L + 1)})
    gold.update(g)
    return [compare(f"{k} {tag}", v, gold[k]) for k, v in mine.items()]


def _pick(reports, *prefixes):
    return [q for q in reports if q.name.split(" ")[0].rstrip("0123456789") in prefixes]


def f13(dtype, rng):
    out = []
    for dims in ([3, 1], [4, 5, 3, 1]):
        p = random_params(rng, dims, dtype)
        grads = {"d" + k: rng.standard_normal(v.shape).astype(dtype) for k, v in p.items()}
        mine = network.update_parameters(p, grads, 0.37)
        net = DeepNet.from_params(p, ["tanh"] * (len(dims) - 2) + ["sigmoid"])
        convert.set_grads(net, grads)
        convert.sgd_for(net, 0.37).step()
        gold = net.to_params()
        out += [compare(f"{k} {dims}", mine[k], gold[k]) for k in mine]
    return out


def f14(dtype, rng):
    return [q for c in cases(rng, dtype) for q in _pick(net_parity(*c), "cost", "Z", "A")]


def f15(dtype, rng):
    out = []
    for name in ACTS:                               # one layer, random upstream dA (not all ones)
        m = 6
        p = random_params(rng, [4, 3], dtype)
        p["b1"][:] = 0
        A_prev = hard(rng, (4, m), dtype) / 100
        A_prev[:, 0] = 0                            # z = 0 exactly in column 0: the kinks
        dA = rng.standard_normal((3, m)).astype(dtype)
        _, cache = layers.linear_activation_forward(A_prev, p["W1"], p["b1"], name)
        dA_prev, dW, db = layers.linear_activation_backward(dA, cache, name)
        net = DeepNet.from_params(p, [name])
        x = leaf(A_prev)
        _, a = net.layer_outputs(x)[0]
        a.backward(convert.to_torch(dA) / m)        # J = (1/m) Σ dA ⊙ A: the course's 1/m
        g = convert.grads_from_model(net)
        out += [compare(f"dW {name}", dW, g["dW1"]), compare(f"db {name}", db, g["db1"]),
                compare(f"dA_prev {name}", dA_prev, m * convert.to_numpy(x.grad))]
    return out + [q for c in cases(rng, dtype) for q in _pick(net_parity(*c), "dW", "db", "dA_prev")]


def f16(dtype, rng):
    out = []
    for m in (1, 5, 40):
        dims, acts = [3, 4, 1], ["tanh", "sigmoid"]
        p, Y = random_params(rng, dims, dtype), labels(rng, m, dtype)
        X = rng.standard_normal((3, m)).astype(dtype)
        AL, caches = network.model_forward(X, p, acts)
        ZL = caches[-1]["linear_activation"][1]
        dAL = -(Y / AL) + (1 - Y) / (1 - AL)        # the general form, from scratch's AL
        net = DeepNet.from_params(p, acts)
        zL, aL = net.layer_outputs(convert.to_torch(X))[-1]
        zL.retain_grad(), aL.retain_grad()
        functional.compute_cost(aL, convert.to_torch(Y)).backward()
        zg = leaf(ZL)
        functional.cost_from_logits(zg, convert.to_torch(Y)).backward()
        out += [compare(f"dA[L] = -(Y/A) + (1-Y)/(1-A) m={m}", dAL, m * convert.to_numpy(aL.grad)),
                compare(f"dZ[L] = dA[L]·σ'(Z[L]) m={m}", dAL * sigmoid_prime(ZL),
                        m * convert.to_numpy(zL.grad)),
                compare(f"dZ[L] = A - Y (fused) m={m}", AL - Y, m * convert.to_numpy(zg.grad))]
        out += _pick(net_parity(p, acts, X, Y, f"general m={m}", output="general"), "dW", "db")
        out += _pick(net_parity(p, acts, X, Y, f"fused m={m}"), "dW", "db", "dA_prev")
    return out


def f17(dtype, rng):
    out = []
    for m in (1, 9, 50):
        p = random_params(rng, [2, 4, 1], dtype)
        X = (rng.standard_normal((2, m)) * 2).astype(dtype)
        out += net_parity(p, ["tanh", "sigmoid"], X, labels(rng, m, dtype), f"[2, 4, 1] m={m}")
    return out


# torch's own initializers for F18's methods, on a weight (n[l], n[l-1]) (fan_in = n[l-1]):
# kaiming_normal_'s default gain √2 (relu) gives He √(2/n[l-1]); with nonlinearity="linear" (gain 1)
# it gives the course's Xavier √(1/n[l-1]); xavier_normal_ is Glorot √(2/(n[l-1]+n[l])).
NN_INIT = {"random": lambda w, g: nn.init.normal_(w, 0.0, 0.01, generator=g),
           "xavier": lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="linear", generator=g),
           "glorot": lambda w, g: nn.init.xavier_normal_(w, generator=g),
           "he": lambda w, g: nn.init.kaiming_normal_(w, generator=g),
           "zeros": lambda w, g: nn.init.zeros_(w)}


def f18(dtype, rng):
    """Init by statistics: torch's nn.init and scratch's draws, std(W[l]) / INIT_STD - 1 and
    mean(W[l]) / INIT_STD within 5 standard errors (sample std: SE ≈ 1/√(2N); sample mean: 1/√N);
    zeros all zero; b = 0 exactly. DeepNet(init, seed) holds exactly scratch's θ_0 for that seed."""
    dims, out = [300, 200, 100], []
    tdtype = convert.torch_dtype(dtype)
    for method, torch_init in NN_INIT.items():
        seed = int(rng.integers(2**31))
        gen = torch.Generator().manual_seed(seed)
        sides = {"nn.init": {f"W{l}": torch_init(torch.empty(dims[l], dims[l - 1], dtype=tdtype), gen).numpy()
                             for l in (1, 2)},
                 "scratch": initialize_parameters(dims, method, rng=seed, dtype=dtype)}
        for side, p in sides.items():
            for l in (1, 2):
                W, N = p[f"W{l}"], p[f"W{l}"].size
                std = INIT_STD(method, dims[l - 1], dims[l])
                if std == 0:
                    out.append(compare(f"{side} zeros W{l} = 0", W, np.zeros_like(W), EXACT))
                    continue
                s = W.astype(np.float64)
                out.append(compare(f"{side} {method} std(W{l})/std - 1", s.std() / std - 1, 0.0,
                                   Tolerance(0.0, 5 / math.sqrt(2 * N))))
                out.append(compare(f"{side} {method} mean(W{l})/std", s.mean() / std, 0.0,
                                   Tolerance(0.0, 5 / math.sqrt(N))))
        net = DeepNet(dims, ["relu", "sigmoid"], init=method, seed=seed, dtype=tdtype).to_params()
        for key, value in sides["scratch"].items():
            out.append(compare(f"DeepNet {method} {key} = scratch's (seed {seed})", net[key], value, EXACT))
    return out, ("F18 errors are statistics: |std(W)/INIT_STD - 1| and |mean(W)|/INIT_STD over 2e4-6e4 "
                 "draws, each within 5 standard errors (1.4e-2 to 3.5e-2); DeepNet's θ_0 equals scratch's exactly")


def _trajectory_tol(dtype):
    return Tolerance(TRAJECTORY_RTOL, 0.0) if np.dtype(dtype) == np.float64 else tolerance_for(dtype)


def _costs(history):
    return np.array([h["cost"] for h in history])


def f19(dtype, rng):
    """Symmetric start (every hidden unit the same): units stay identical under training,
    in scratch.train and train_plain alike, and the two runs agree."""
    X, Y = rng.standard_normal((3, 20)).astype(dtype), labels(rng, 20, dtype)
    p = {"W1": np.tile(rng.standard_normal((1, 3)), (4, 1)).astype(dtype), "b1": np.full((4, 1), 0.1, dtype),
         "W2": np.full((1, 4), 0.3, dtype), "b2": np.zeros((1, 1), dtype)}
    acts = ["tanh", "sigmoid"]
    res = train(X, Y, [3, 4, 1], acts, params=p, learning_rate=0.5, num_iterations=25)
    net = DeepNet.from_params(p, acts)
    hist = train_plain(net, X, Y, learning_rate=0.5, num_iterations=25)
    gold = net.to_params()
    out = [compare("cost history", _costs(res.history), _costs(hist), _trajectory_tol(dtype))]
    for side, q in (("scratch", res.final_params), ("torch", gold)):
        for k in ("W1", "b1", "W2"):
            ref = q[k][:1] if k != "W2" else q[k][:, :1]
            out.append(compare(f"{side} {k}: all units equal", q[k], np.broadcast_to(ref, q[k].shape)))
    return out + [compare(f"{k} after 25 steps", res.final_params[k], gold[k]) for k in gold]


def f20(dtype, rng):
    out = [q for c in cases(rng, dtype) for q in _pick(net_parity(*c, lambd=0.7), "cost", "dW", "db", "dA_prev")]
    p, acts, X, Y, tag = cases(rng, dtype)[0]
    m, lr, lambd = X.shape[1], 0.3, 0.7
    out.append(compare("l2_penalty", losses.l2_penalty(p, lambd, m),
                       functional.l2_penalty([torch.tensor(p[f"W{l}"]) for l in (1, 2, 3)], lambd, m)))
    AL, caches = network.model_forward(X, p, acts)
    mine = network.update_parameters(p, network.model_backward(AL, Y, caches, lambd=lambd), lr)
    net = DeepNet.from_params(p, acts)
    functional.cost_from_logits(net(convert.to_torch(X)), convert.to_torch(Y)).backward()
    convert.sgd_for(net, lr, lambd=lambd, m=m).step()         # weight_decay = λ/m on weights only
    gold = net.to_params()
    out += [compare(f"update {k} vs SGD(weight_decay=λ/m)", mine[k], gold[k]) for k in mine]
    ref = train(X, Y, [4, 5, 3, 1], acts, params=p, learning_rate=lr, num_iterations=30, lambd=lambd)
    for mode in ("cost", "weight_decay"):
        hist = train_plain(DeepNet.from_params(p, acts), X, Y, learning_rate=lr, num_iterations=30,
                           lambd=lambd, l2_mode=mode)
        out.append(compare(f"30-step costs, l2_mode={mode}", _costs(ref.history), _costs(hist),
                           _trajectory_tol(dtype)))
    return out


def f21(dtype, rng):
    out = []
    for dims, m in (([4, 3, 1], 13), ([2, 1], 1)):
        p = random_params(rng, dims, dtype)
        p["W1"].flat[::4] = 0                                       # sign(0) = 0 = torch's abs'(0)
        ws = [leaf(p[f"W{l}"], transpose=False) for l in range(1, len(dims))]
        pen = functional.l1_penalty(ws, 0.7, m)
        pen.backward()
        out.append(compare(f"l1_penalty {dims}", losses.l1_penalty(p, 0.7, m), pen))
        out += [compare(f"l1_gradient W{l} {dims}", losses.l1_gradient(p[f"W{l}"], 0.7, m), w.grad)
                for l, w in enumerate(ws, 1)]
    return out


def f22(dtype, rng):
    """Same masks through both (forward, backward, training); nn.Dropout and scratch's own draws
    by statistics (kept fraction within 5 standard errors, kept values 1/keep_prob); eval = no dropout."""
    out = []
    for p, acts, X, Y, tag in cases(rng, dtype):
        kps = [0.8, 0.5, 1.0][:len(acts) - 1]
        hidden = [p[f"W{l}"].shape[0] for l in range(1, len(acts))]
        masks = [rng.random((n, X.shape[1])) < kp for n, kp in zip(hidden, kps)]
        out += net_parity(p, acts, X, Y, tag + " dropout", keep_probs=kps, masks=masks)

    kp, shape = 0.8, (200, 500)
    bound = Tolerance(0.0, 5 * math.sqrt(kp * (1 - kp) / (shape[0] * shape[1])))
    A_out, D = layers.dropout_forward(np.ones(shape, dtype), kp, rng=rng)
    dropout = nn.Dropout(p=convert.keep_prob_to_p(kp)).train()
    with torch.random.fork_rng(devices=[]):                         # seeded, global RNG left as it was
        torch.manual_seed(int(rng.integers(2**31)))
        t = dropout(torch.ones(shape[::-1], dtype=convert.torch_dtype(dtype)))
    kept = (t != 0).numpy()
    out += [compare("scratch kept fraction - keep_prob", D.mean() - kp, 0.0, bound),
            compare("nn.Dropout kept fraction - keep_prob", kept.mean() - kp, 0.0, bound),
            compare("scratch kept values = 1/keep_prob", A_out[D], np.full(D.sum(), 1 / kp, dtype)),
            compare("nn.Dropout kept values = 1/keep_prob", t.numpy()[kept],
                    np.full(kept.sum(), 1 / kp, dtype))]

    p, acts, X, Y, _ = cases(rng, dtype)[0]
    net, x = DeepNet.from_params(p, acts, keep_probs=[0.5, 0.5]).eval(), convert.to_torch(X)
    no_dropout = net.layer_outputs(x, dropout=False)[-1][0]
    out.append(compare("eval mode: no dropout", convert.to_numpy(net(x)), convert.to_numpy(no_dropout),
                       EXACT))

    def shared(step):                                                # one mask list per step, both sides
        return [np.random.default_rng(step).random((n, X.shape[1])) < 0.7 for n in (5, 3)]
    hyper = dict(learning_rate=0.3, num_iterations=20, masks=shared)
    ref = train(X, Y, [4, 5, 3, 1], acts, params=p, keep_probs=[0.7, 0.7], **hyper)
    hist = train_plain(DeepNet.from_params(p, acts, keep_probs=[0.7, 0.7]), X, Y, **hyper)
    out.append(compare("20-step costs, shared masks", _costs(ref.history), _costs(hist), _trajectory_tol(dtype)))
    return out, ("F22's largest error is a statistic: the kept fraction of nn.Dropout and of scratch's own "
                 "draws minus keep_prob (5 standard errors: 6.3e-3); with shared masks the errors are "
                 "rounding-level, as in F14-F15")


def f30(dtype, rng):
    """scratch's gradient_check passes (and flags a planted 1 % error); torch.autograd.gradcheck
    passes on the same cost; scratch's grads equal autograd's. Float32: grads only (ε = 1e-7
    is below float32's resolution, a numerical gradient there means nothing)."""
    p, acts, X, Y, tag = cases(rng, dtype)[1]                     # smooth activations: no kinks
    lambd, m = 0.3, X.shape[1]
    out = _pick(net_parity(p, acts, X, Y, tag, lambd=lambd), "dW", "db")
    if np.dtype(dtype) != np.float64:
        return out
    AL, caches = network.model_forward(X, p, acts)
    grads = network.model_backward(AL, Y, caches, lambd=lambd)

    def cost(q):
        return network.model_cost(X, Y, q, acts, lambd)
    wrong = dict(grads, dW1=grads["dW1"] * 1.01)
    out += [compare("gradient_check (<= 1e-7)", gradient_check(p, grads, cost), 0.0,
                    Tolerance(0.0, GRADCHECK)),
            compare("gradient_check flags dW1 × 1.01",
                    gradient_check(p, wrong, cost) > GRADCHECK_THRESHOLD, True)]
    net, x, y = DeepNet.from_params(p, acts), convert.to_torch(X), convert.to_torch(Y)
    names = list(net.state_dict())

    def J(*ps):                                                      # the same cost, as a function of θ
        z = torch.func.functional_call(net, dict(zip(names, ps)), (x,))
        weights = [q for q in ps if q.ndim == 2]
        return functional.cost_from_logits(z, y) + functional.l2_penalty(weights, lambd, m)
    leaves = tuple(t.clone().requires_grad_(True) for t in net.state_dict().values())
    ok = torch.autograd.gradcheck(J, leaves, eps=1e-6, atol=1e-7)
    return out + [compare("torch.autograd.gradcheck", ok, True)]


def f32(dtype, rng):
    """scratch predict (ŷ > 0.5) against DeepNet.predict, accuracy against torchmetrics BinaryAccuracy
    (threshold 0.5, also strict: preds > threshold); a tie ŷ = 0.5 exactly is predicted 0 by both."""
    from torchmetrics.classification import BinaryAccuracy
    tie = random_params(rng, [4, 1], dtype)
    tie["b1"][:] = 0
    X_tie = rng.standard_normal((4, 9)).astype(dtype)
    X_tie[:, 2] = 0                                                  # z = 0 exactly: ŷ = 0.5
    out = []
    for p, acts, X, Y, tag in cases(rng, dtype) + [(tie, ["sigmoid"], X_tie, labels(rng, 9, dtype), "tie")]:
        net, x = DeepNet.from_params(p, acts), convert.to_torch(X)
        pred = network.predict(X, p, acts)
        gold = BinaryAccuracy()(net.predict_proba(x).detach().reshape(-1), torch.tensor(Y.reshape(-1)).long())
        out += [compare(f"predict {tag}", pred, convert.to_numpy(net.predict(x))),
                compare(f"accuracy {tag}", float(np.mean(pred == Y)), gold)]
    return out
