"""Inventory rows about many classes and batch norm (F39-F41, F43): scratch's softmax, batch norm
and running statistics against F.softmax, F.cross_entropy and nn.BatchNorm1d, then whole multi-class
training runs. See torch_ref.inventory. (Its helpers are imported inside the functions, so that this
module can be imported first, e.g. for bn_tolerances, without a circular import: inventory builds its
rows at import.)

Naming of the compared quantities of a network, layer l = 1..L (course notation):
    Z{l}, A{l}                   forward: Z{l} the input of g[l] (Z̃[l] for a batch-norm layer), A{l}
    dW{l}, db{l}, dgamma{l}, dbeta{l}   model_backward's gradients against autograd's .grad
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scratch import activations as act, batchnorm as bn, losses, network
from scratch._checks import param_keys
from scratch.train import train

from . import convert
from .models import DeepNet
from .parity import EXACT, Tolerance, compare, tolerance_for
from .train_loop import train_plain


def one_hot_labels(rng, C, m, dtype):
    """Y: one-hot (C, m) of random classes (scratch.losses.one_hot), and the classes (m,)."""
    classes = rng.integers(0, C, size=m)
    return losses.one_hot(classes, C, dtype=dtype), classes


def bn_params(rng, dims, dtype, batchnorm=True):
    """random_params with batch norm on the hidden layers: γ[l] ~ 1 + N(0, 0.3²) (some negative
    entries are fine: γ is any real), β[l] ~ N(0, 0.5²), no b[l]; W[l] and b[L] as random_params."""
    from .inventory_nets import random_params
    p = random_params(rng, dims, dtype)
    if batchnorm:
        for l in range(1, len(dims) - 1):
            n = dims[l]
            del p[f"b{l}"]
            p[f"gamma{l}"] = (1 + 0.3 * rng.standard_normal((n, 1))).astype(dtype)
            p[f"beta{l}"] = (0.5 * rng.standard_normal((n, 1))).astype(dtype)
    return {k: p[k] for k in param_keys(p)}                     # layer order: W1, gamma1, beta1, ...


def net_parity(params, acts, X, Y, tag, lambd=0.0):
    """scratch model_forward / model_backward / model_cost (training mode: batch statistics) against
    DeepNet.from_params + autograd of torch's own cost (F.cross_entropy on the logits for a softmax
    output, binary_cross_entropy_with_logits for a sigmoid one), every layer; with batch norm each quantity
    gets bn_network_tol (the dtype's tolerance without)."""
    L, m = len(acts), X.shape[1]
    AL, caches = network.model_forward(X, params, acts)
    grads = network.model_backward(AL, Y, caches, lambd=lambd)
    mine = {"cost": network.model_cost(X, Y, params, acts, lambd)}
    for l in range(1, L + 1):
        mine[f"Z{l}"] = caches[l - 1]["linear_activation"][1]
        mine[f"A{l}"] = caches[l]["linear_activation"][0][0] if l < L else AL
    mine.update(grads)

    net = DeepNet.from_params(params, acts)
    outs = net.layer_outputs(convert.to_torch(X))
    zL, y = outs[-1][0], convert.to_torch(Y)
    data = (F.cross_entropy(zL, y.argmax(1)) if acts[-1] == "softmax"
            else F.binary_cross_entropy_with_logits(zL, y))
    cost = data + lambd / (2 * m) * sum((lin.weight ** 2).sum() for lin in net.linears)
    cost.backward()
    gold = {"cost": cost, **convert.grads_from_model(net)}
    for l, (z, a) in enumerate(outs, start=1):
        gold[f"Z{l}"], gold[f"A{l}"] = convert.to_numpy(z), convert.to_numpy(a)
    gold["cost"] = cost.detach().numpy()
    dtype, top = params["W1"].dtype, max(float(np.abs(v).max()) for k, v in gold.items() if k.startswith("d"))
    return [compare(f"{k} {tag}", v, gold[k], bn_network_tol(caches, gold[k], dtype, top if k[0] == "d" else None))
            for k, v in mine.items()]


# ------------------------------------------------------------------ F39 softmax

SOFTMAX_SHAPES = ((3, 1), (2, 5), (4, 7), (10, 64))          # (C, m), with m = 1 and C = 2


def f39(dtype, rng):
    """softmax(Z) against F.softmax(dim=1); softmax_cost_from_logits against F.cross_entropy with class
    indices (and with one-hot probabilities as target, torch's other spelling); its gradient dZ = (A - Y)/m
    against autograd, on logits with the hard spots (±40, ±800, ±1e3, zeros); softmax_cost from
    probabilities against F.nll_loss(log a) on moderate logits; whole softmax networks, layer by layer."""
    from .inventory import hard, leaf
    from .inventory_nets import random_params
    out = []
    for C, m in SOFTMAX_SHAPES:
        ZL = hard(rng, (C, m), dtype)
        Y, classes = one_hot_labels(rng, C, m, dtype)
        z = leaf(ZL)
        J = F.cross_entropy(z, torch.as_tensor(classes))
        J.backward()
        with np.errstate(over="raise", divide="raise", invalid="raise"):    # no overflow, log 0 or 0/0 at all
            A = act.softmax(ZL)
            J_mine = losses.softmax_cost_from_logits(ZL, Y)
        tag = f"C={C} m={m}"
        out += [compare(f"softmax(Z) {tag}", A, convert.to_numpy(F.softmax(convert.to_torch(ZL), dim=1))),
                compare(f"J = -(1/m) ΣΣ y log a, from logits {tag}", J_mine, J),
                compare(f"J vs cross_entropy(one-hot target) {tag}", J_mine,
                        F.cross_entropy(convert.to_torch(ZL), convert.to_torch(Y))),
                compare(f"dZ = (A - Y)/m {tag}", (A - Y) / m, convert.to_numpy(z.grad))]
        Zs = (3 * rng.standard_normal((C, m))).astype(dtype)        # probabilities away from 0
        As = act.softmax(Zs)
        out.append(compare(f"J from probabilities {tag}", losses.softmax_cost(As, Y),
                           F.nll_loss(torch.log(convert.to_torch(As)), torch.as_tensor(classes))))
    for dims, acts, m in (([4, 5, 3], ["relu", "softmax"], 7), ([3, 6, 4, 5], ["tanh", "leaky_relu", "softmax"], 1),
                          ([5, 8, 10], ["sigmoid", "softmax"], 64)):
        p = random_params(rng, dims, dtype)
        X = rng.standard_normal((dims[0], m)).astype(dtype)
        if m > 1:
            X[:, -1] *= 1e3                                          # |z| in the hundreds: saturated
        out += net_parity(p, acts, X, one_hot_labels(rng, dims[-1], m, dtype)[0], f"{dims} m={m}", lambd=0.3)
    return out


# --------------------------------------------------------------- F40 batch norm

BN_SHAPES = ((3, 2), (4, 7), (5, 64), (1, 3))                 # (n[l], m), with m = 2


def _bn_inputs(rng, n, m, dtype):
    """Z (n, m) = 3 N(0, 1) + 2 with exact zeros, and row 0 constant (σ² = 0, where ε alone keeps
    z_norm finite) at 0.75 (a sum of m copies of 0.75 and its mean are exact: both sides see σ² = 0)."""
    Z = (3 * rng.standard_normal((n, m)) + 2).astype(dtype)
    Z[rng.random((n, m)) < 0.1] = 0.0
    Z[0] = 0.75
    gamma = (1 + 0.5 * rng.standard_normal((n, 1))).astype(dtype)
    beta = rng.standard_normal((n, 1)).astype(dtype)
    return Z, gamma, beta


def batchnorm_torch(Z, gamma, beta, dZ_tilde, eps=1e-5):
    """nn.BatchNorm1d in training mode on z = Zᵀ, γ, β copied in; backward of J = (1/m) Σ dZ̃ ⊙ Z̃ (the
    course's scale: scratch's dZ̃ is m ∂J/∂Z̃). Returns Z̃, dZ = m ∂J/∂Z (scratch's scale), dγ, dβ, the
    batch μ, σ² (torch.var_mean, biased: correction=0) in course layout."""
    from .inventory import leaf
    m = Z.shape[1]
    norm = nn.BatchNorm1d(Z.shape[0], eps=eps, dtype=convert.torch_dtype(Z.dtype)).train()
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(gamma.reshape(-1)))
        norm.bias.copy_(torch.from_numpy(beta.reshape(-1)))
    z = leaf(Z)
    z_tilde = norm(z)
    z_tilde.backward(convert.to_torch(dZ_tilde) / m)
    var, mu = torch.var_mean(z.detach(), dim=0, correction=0)
    return {"Z_tilde": convert.to_numpy(z_tilde), "dZ": m * convert.to_numpy(z.grad),
            "dgamma": norm.weight.grad.numpy().reshape(-1, 1), "dbeta": norm.bias.grad.numpy().reshape(-1, 1),
            "mu": mu.numpy().reshape(-1, 1), "var": var.numpy().reshape(-1, 1)}


def bn_tolerances(stats, dtype, Z=None, dZ_tilde=None):
    """Per-unit (per-row) tolerances of batch norm's Z̃ and dZ against nn.BatchNorm1d: {"Z_tilde": [n
    Tolerances], "dZ": [n Tolerances] (with dZ_tilde)}, each the dtype's plus the rounding that the gain
    γ/s, s = √(σ² + ε), amplifies in row r (eps: the dtype's machine epsilon, g = dZ̃ of the row, m examples):

        Z̃:  + 4 eps (|μ| + max|z|) |γ|/s   torch's CPU kernel computes z̃ = z·(γ/s) + (β - μγ/s): terms of
                               size |zγ/s| and |μγ/s| that cancel to γ z_norm, leaving their rounding in z̃;
        dZ: + 4 eps √m max|g| |γ|/s   dZ = (γ/s)(g - ⟨g⟩ - z_norm ⟨g z_norm⟩): the rounding of the means
                               (sums of m terms, in a different order on each side) times γ/s.

    stats: {"gamma", "mu", "var", "eps"} (n, 1): batchnorm_forward's cache (training) or the running
    statistics (prediction). Z: (n, m), the linear map W A_prev fed to batch norm (default: |μ| alone).
    For an ordinary feature s is about its spread and these add little. Where s is small they matter: a
    constant feature (σ² = 0, s = √ε = 3.2e-3 at ε = 1e-5) with μ = 0.75 has |μγ/s| ≈ 240, whose float32
    ulp (1.5e-5) is past F32's atol, and dZ's entries near 0 are differences of entries ~500; scratch's
    (z - μ)/s is exact there (Z̃ = β), torch's is not. In float64 the extras stay near 1e-13."""
    base, eps = tolerance_for(dtype), float(np.finfo(dtype).eps)
    gain = np.abs(stats["gamma"][:, 0]) / np.sqrt(stats["var"][:, 0] + stats["eps"])
    size = np.abs(stats["mu"][:, 0]) + (np.abs(Z).max(axis=1) if Z is not None else 0.0)
    out = {"Z_tilde": [Tolerance(base.rtol, base.atol + 4 * eps * float(g * z)) for g, z in zip(gain, size)]}
    if dZ_tilde is not None:
        top = np.abs(dZ_tilde).max(axis=1) * np.sqrt(dZ_tilde.shape[1])
        out["dZ"] = [Tolerance(base.rtol, base.atol + 4 * eps * float(g * t)) for g, t in zip(gain, top)]
    return out


def bn_network_tol(caches, gold, dtype, scale=None):
    """The tolerance of a quantity `gold` (Z[l], A[l], J or a gradient) of a network with batch norm: the
    dtype's, plus 4 eps √m K S, K = Π_l max(1, K_l), K_l the largest gain |γ|/√(σ² + ε) of batch-norm layer
    l, S = `scale` (default max|gold|; for gradients, the largest gradient of the network: see below).
    Each batch-norm layer multiplies the rounding that reaches it by up to K_l (bn_tolerances gives the
    exact per-unit bound of one layer; through the layers the gains multiply), and a result can be a small
    difference of such terms (z̃ = z·γ/s + (β - μγ/s) in torch; in the backward, the projection of g off
    1 and z_norm, which with few examples leaves little), so its float32 error is relative to the terms,
    not to itself. A whole gradient can be such a remainder: batch norm is invariant to the scale of each
    row of W[l] (z_norm(c·z) = z_norm(z), c > 0), so dW[l] ⟂ W[l] row by row, and a layer of width 1
    before it leaves dW[l] = 0 up to ε; hence S for gradients is the largest of the network's gradients.
    Seen in float32: K = 106 (σ² = 1.2e-4) and m = 3 put dW2 4.5e-5 apart relatively, K = 60 and m = 4
    put Z[L] 1.1e-5 apart; n_x = 1 (every unit of layer 1 normalizes to ±the same x̂) with two more
    batch-norm layers and m = 3 put dW2 5e-4 apart. A formula error shows as O(1) relative differences,
    far above this bound, which only widens for ill-conditioned batches (K in the tens or more)."""
    base, eps = tolerance_for(dtype), float(np.finfo(dtype).eps)
    gains = [np.abs(c["batchnorm"]["gamma"]) / np.sqrt(c["batchnorm"]["var"] + c["batchnorm"]["eps"])
             for c in caches if c.get("batchnorm") is not None]
    if not gains:
        return base
    K = float(np.prod([max(1.0, float(g.max())) for g in gains]))      # the gains compound layer after layer
    m = caches[0]["linear_activation"][0][0].shape[1]
    S = float(np.abs(gold).max()) if scale is None else float(scale)
    return Tolerance(base.rtol, base.atol + 4 * eps * np.sqrt(m) * K * S)


def compare_rows(name, mine, gold, tols):
    """compare() row by row (unit by unit) with one tolerance per row: [QuantityReport per row]."""
    return [compare(f"{name} row {r}", mine[r], gold[r], tol) for r, tol in enumerate(tols)]


def _raises(fn):
    try:
        fn()
    except ValueError:
        return True
    return False


def f40(dtype, rng):
    """batchnorm_forward / batchnorm_backward against nn.BatchNorm1d in training mode and autograd, with a
    random upstream dZ̃ (not all ones): Z̃, μ, σ² (biased), dZ, dγ, dβ; m = 2, a constant feature (σ² = 0),
    ε = 1e-5 and 1e-2; m = 1 raises ValueError on both sides; batch-norm networks, layer by layer."""
    out = []
    for (n, m), eps in zip(BN_SHAPES, (1e-5, 1e-5, 1e-2, 1e-5)):
        Z, gamma, beta = _bn_inputs(rng, n, m, dtype)
        dZ_tilde = rng.standard_normal((n, m)).astype(dtype)
        Z_tilde, cache = bn.batchnorm_forward(Z, gamma, beta, eps)
        dZ, dgamma, dbeta = bn.batchnorm_backward(dZ_tilde, cache)
        gold = batchnorm_torch(Z, gamma, beta, dZ_tilde, eps)
        mine = {"Z_tilde": Z_tilde, "mu": cache["mu"], "var": cache["var"], "dZ": dZ, "dgamma": dgamma, "dbeta": dbeta}
        tols, tag = bn_tolerances(cache, dtype, Z, dZ_tilde), f"n={n} m={m} ε={eps:g}"
        for k, v in mine.items():
            if k in tols:
                out += compare_rows(f"{k} {tag}", v, gold[k], tols[k])
            else:
                out.append(compare(f"{k} {tag}", v, gold[k]))
        out.append(compare(f"σ² = 0 row: Z̃ = β exactly n={n} m={m}", Z_tilde[0], np.full(m, beta[0, 0]), EXACT))
    Z, gamma, beta = _bn_inputs(rng, 3, 1, dtype)
    norm = nn.BatchNorm1d(3, dtype=convert.torch_dtype(dtype)).train()
    out.append(compare("m = 1 raises ValueError: scratch, nn.BatchNorm1d",
                       np.array([_raises(lambda: bn.batchnorm_forward(Z, gamma, beta)),
                                 _raises(lambda: norm(convert.to_torch(Z)))]), np.array([True, True]), EXACT))
    for dims, acts, m in (([4, 5, 3, 1], ["relu", "tanh", "sigmoid"], 2), ([3, 6, 4], ["leaky_relu", "softmax"], 9),
                          ([5, 4, 4, 3], ["tanh", "relu", "softmax"], 32)):
        p = bn_params(rng, dims, dtype)
        X = rng.standard_normal((dims[0], m)).astype(dtype)
        Y = (one_hot_labels(rng, dims[-1], m, dtype)[0] if acts[-1] == "softmax"
             else rng.integers(0, 2, (1, m)).astype(dtype))
        out += net_parity(p, acts, X, Y, f"BN {dims} m={m}", lambd=0.2)
    return out


# --------------------------------------------------- F41 running statistics, prediction

def f41(dtype, rng):
    """The running statistics after the same sequence of batches, scratch's update_running_stats against
    BatchNorm1d's buffers (momentum = 1 - β): μ equal; σ² with unbiased=True equal to running_var; the
    course's σ² (unbiased=False) converted by course_running_var_to_torch (equal batch sizes) equal to it,
    and different before the conversion. Then prediction mode: model_forward(bn_stats) and predict against
    DeepNet.eval() and predict (m = 1 included)."""
    out = []
    dims, acts = [4, 6, 5, 3], ["relu", "tanh", "softmax"]
    for bn_beta, eps, sizes in ((0.9, 1e-5, (5, 8, 2, 16, 3, 7)), (0.5, 1e-3, (6,) * 5), (0.99, 1e-5, (4,) * 30)):
        p = bn_params(rng, dims, dtype)
        net = DeepNet.from_params(p, acts, bn_eps=eps, bn_beta=bn_beta).train()
        course = unbiased = bn.initialize_running_stats(p)
        for m in sizes:
            X = (2 * rng.standard_normal((dims[0], m)) + 1).astype(dtype)
            _, caches = network.model_forward(X, p, acts, bn_eps=eps)
            course = bn.update_running_stats(course, caches, beta=bn_beta)
            unbiased = bn.update_running_stats(unbiased, caches, beta=bn_beta, unbiased=True)
            with torch.no_grad():
                net(convert.to_torch(X))
        gold, tag = net.to_bn_stats(), f"β={bn_beta} momentum={net.norm(1).momentum:.3g} {len(sizes)} batches"
        for l in (1, 2):
            out += [compare(f"μ_run{l} {tag}", course[f"mu{l}"], gold[f"mu{l}"]),
                    compare(f"σ²_run{l} unbiased=True {tag}", unbiased[f"var{l}"], gold[f"var{l}"])]
            if len(set(sizes)) == 1:
                converted = convert.course_running_var_to_torch(course[f"var{l}"], sizes[0], len(sizes), bn_beta)
                out += [compare(f"σ²_run{l} course -> torch (m={sizes[0]}) {tag}", converted, gold[f"var{l}"]),
                        compare(f"σ²_run{l} course differs before conversion {tag}",
                                bool(np.all(np.abs(course[f"var{l}"] - gold[f"var{l}"]) > 1e-3 * gold[f"var{l}"])),
                                True)]
        net.eval()
        for m in (1, 9):
            X = (2 * rng.standard_normal((dims[0], m)) + 1).astype(dtype)
            AL, caches = network.model_forward(X, p, acts, bn_stats=unbiased, bn_eps=eps)
            outs = net.layer_outputs(convert.to_torch(X))
            for l, (z, _) in enumerate(outs, start=1):
                mine = caches[l - 1]["linear_activation"][1]
                if l == len(acts):
                    out.append(compare(f"eval Z{l} m={m} {tag}", mine, convert.to_numpy(z)))
                    continue
                A_prev, W, _ = caches[l - 1]["linear_activation"][0]
                stats = {"gamma": p[f"gamma{l}"], "mu": unbiased[f"mu{l}"], "var": unbiased[f"var{l}"], "eps": eps}
                out += compare_rows(f"eval Z̃{l} m={m} {tag}", mine, convert.to_numpy(z),
                                    bn_tolerances(stats, dtype, W @ A_prev)["Z_tilde"])
            out += [compare(f"eval A[L] m={m} {tag}", AL, convert.to_numpy(outs[-1][1])),
                    compare(f"predict m={m} {tag}", network.predict(X, p, acts, bn_stats=unbiased, bn_eps=eps),
                            convert.to_numpy(net.predict(convert.to_torch(X))), EXACT)]
    return out


# ----------------------------------------------------------- F43 multi-class training

def _digits(dtype, m=320):
    """The first m examples of scikit-learn's digits (10 classes, 64 pixels in [0, 1])."""
    from scratch.data import load_digits_multiclass
    X, Y = load_digits_multiclass()
    return X[:, :m].astype(dtype), Y[:, :m].astype(dtype)


def f43(dtype, rng):
    """A softmax network on the digits (10 classes): scratch.train against train_plain from the same θ_0,
    200 full-batch gradient-descent steps, then batch norm with Adam on mini-batches of 64 (5 epochs);
    costs at every step (float64: DESIGN's trajectory rule), final parameters, running statistics (torch's
    = the course's converted), predictions, and accuracy against torchmetrics' MulticlassAccuracy
    (average="micro": the fraction right; average=None: the recall of each class, whose mean is its
    default "macro")."""
    from torchmetrics.classification import MulticlassAccuracy

    from .inventory_nets import _costs, _trajectory_tol
    X, Y = _digits(dtype)
    C, m = Y.shape
    dims, acts, out = [64, 16, C], ["relu", "softmax"], []
    for name, kw in (("gd 200 steps", dict(learning_rate=0.5, num_iterations=200)),
                     ("BN adam mini-batches", dict(learning_rate=0.01, optimizer="adam", mini_batch_size=64,
                                                    num_epochs=5, seed=int(rng.integers(1000))))):
        batchnorm = name.startswith("BN")
        p = bn_params(rng, dims, dtype, batchnorm=batchnorm)
        ref = train(X, Y, dims, acts, params=p, **kw)
        net = DeepNet.from_params(p, acts)
        hist = train_plain(net, X, Y, **kw)
        out.append(compare(f"J {name} ({len(hist)} steps)", _costs(ref.history), _costs(hist), _trajectory_tol(dtype)))
        gold = net.to_params()
        if np.dtype(dtype) == np.float64:
            tol = _trajectory_tol(dtype)
        elif batchnorm:
            # float32 Adam after batch norm: where the batch-norm backward cancels
            # (γ/s (g - ⟨g⟩ - z_norm ⟨g z_norm⟩)), a gradient keeps only a few correct bits, and Adam
            # divides out its scale (v̂/√ŝ), so the step of that coordinate differs by a fraction of
            # α = 0.01; after 25 steps one of the 1024 entries of W1 (pixel 24, non-zero in one image)
            # is 1.3e-5 apart. atol 5e-5; costs stay at F32.
            tol = Tolerance(tolerance_for(dtype).rtol, 5e-5)
        else:
            tol = None
        out += [compare(f"{k} {name}", v, gold[k], tol) for k, v in ref.final_params.items()]
        out.append(compare(f"train_acc {name}", np.array([h["train_acc"] for h in ref.history]),
                           np.array([h["train_acc"] for h in hist]), EXACT))
        stats = None
        if batchnorm:
            torch_stats, steps = net.to_bn_stats(), len(hist)
            stats = {k: (convert.course_running_var_to_torch(v, 64, steps) if k.startswith("var") else v)
                     for k, v in ref.bn_stats.items()}
            out += [compare(f"{k}_run {name} (course -> torch)", v, torch_stats[k]) for k, v in stats.items()]
        x, classes = convert.to_torch(X), convert.one_hot_to_indices(Y)
        pred = network.predict(X, ref.final_params, acts, bn_stats=stats)
        net.eval()
        proba = net.predict_proba(x).detach()
        acc = {avg: MulticlassAccuracy(num_classes=C, average=avg)(proba, classes).numpy() for avg in ("micro", None)}
        labels = classes.numpy()
        recall = np.array([np.mean(pred[0, labels == k] == k) for k in range(C)])    # every class is present
        out += [compare(f"predict {name}", pred, convert.to_numpy(net.predict(x)), EXACT),
                compare(f"accuracy vs MulticlassAccuracy(micro) {name}", np.float32(np.mean(pred[0] == labels)),
                        acc["micro"], EXACT),
                compare(f"per-class recall vs MulticlassAccuracy(average=None) {name}", recall.astype(np.float32),
                        acc[None], EXACT)]
    return out, ("F43's accuracies are torchmetrics' float32 fractions, compared exactly with scratch's fraction "
                 "rounded to float32 (correct/m is correctly rounded either way); MulticlassAccuracy's default "
                 "average='macro' is the mean of the per-class recalls, not the fraction right ('micro')")
