"""Vanishing and exploding activations and gradients with depth (F29), and the initializations that
tame them (F18) (experiments/configs/vanishing.toml). Nothing trains: every number is at θ_0.

Two nets:
    the deep linear net of scratch.diagnostics: every W[l] = w·I, b[l] = 0, identity activations, so
        A[l] = w^l x, and for J = (1/m) Σ ŷ the input gradient of a net of depth L is dA[0] = w^L · 1;
    a deep relu net (depth hidden layers of `width` units, one sigmoid output) drawn with random × 1,
        random × 0.01, Xavier √(1/n[l-1]) and He √(2/n[l-1]), on x ~ N(0, 1), random 0/1 labels:
        ‖A[l]‖ and the backpropagated gradient ‖dA[l]‖ (= ∂L/∂A[l] per example) layer by layer.
With torch (or Lightning) in the impls, the same norms come from torch autograd on a DeepNet holding
the same θ_0 and are compared at float64's tolerance (torch_ref.parity.F64).
"""
import os

import numpy as np

from scratch.diagnostics import deep_linear_forward, deep_linear_gradients, init_scale_demo
from scratch.initializers import initialize_parameters
from scratch.layers import linear_activation_backward, linear_backward
from scratch.network import model_forward

from .. import figures
from ..report import Report, Table
from . import args

DEFAULTS = {"w_values": [0.5, 0.9, 1.1, 1.5],   # deep linear nets: w < 1 vanishes, w > 1 explodes
            "linear_depth": 50,                  # L of the deep linear nets
            "linear_n": 4, "linear_m": 8,        # x: (n, m)
            "depth": 50, "width": 100,           # the relu nets: depth hidden layers of width units
            "m": 200}                            # examples x ~ N(0, 1) through the relu nets
# (label, init method, scale of "random"): the relu nets' θ_0
INITS = (("random × 1", "random", 1.0), ("random × 0.01", "random", 0.01), ("Xavier", "xavier", 0.01),
         ("He", "he", 0.01))
# ‖A[l]‖/‖x‖ = w^l in exact arithmetic; each layer rounds once (a few ulps): 1e-10 is DESIGN's float64 rule
POWER_RTOL = 1e-10
# He keeps the relu activations' scale: the largest and smallest ‖A[l]‖ over the layers within this factor
# (a finite width makes ‖A[l]‖ a random walk in log scale: about ±√(depth · 2/width) e-folds, not a drift)
HE_FACTOR = 10.0
# exploded / vanished: the last hidden layer's ‖A[L-1]‖ over the input's, beyond these
EXPLODED, VANISHED = 1e3, 1e-3


def norm(A):
    """‖A‖_F."""
    return float(np.linalg.norm(A))


def rms(A):
    """‖A‖_F / √(number of entries): the typical size of one entry."""
    return norm(A) / np.sqrt(A.size)


# ----------------------------------------------------------------------------------- deep linear net

def linear_profile(x, w, L):
    """The deep linear net (F29) of width x.shape[0] with W[l] = w·I: ratios that should be powers of w.
    acts[l] = ‖A[l]‖/‖x‖ for l = 0..L (deep_linear_forward of depth L): w^l;
    grads[k] = ‖dA[0]‖/‖1‖ of the net of depth k = 1..L (deep_linear_gradients, dA[k] = 1): w^k (grads[0] = 1);
    dW1[k] = ‖dW[1]‖ of the net of depth k over the depth-1 net's: w^(k-1) (dW1[0] unused, 1).
    Returns {"acts", "grads", "dW1"}: arrays (L + 1,)."""
    AL, caches = deep_linear_forward(x, w, L)
    A = [cache[0] for cache in caches] + [AL]                     # caches[l-1] = (A[l-1], W[l], b[l])
    acts = np.array([norm(a) / norm(x) for a in A])
    g = [deep_linear_gradients(x, w, k) for k in range(1, L + 1)]
    grads = np.array([1.0] + [norm(gk["dA0"]) / norm(np.ones_like(x)) for gk in g])
    dW1 = np.array([1.0] + [norm(gk["dW1"]) / norm(g[0]["dW1"]) for gk in g])
    return {"acts": acts, "grads": grads, "dW1": dW1}


def power_error(ratios, w, start=0):
    """The largest relative difference between ratios[k] and w^(k - start) over k >= start (a float)."""
    k = np.arange(len(ratios))[start:]
    expected = float(w) ** (k - start)
    return float(np.max(np.abs(ratios[start:] - expected) / expected))


def linear_input(n, m, seed):
    """x (n, m) ~ N(0, 1) from seed."""
    return np.random.default_rng(seed).standard_normal((n, m))


# ------------------------------------------------------------------------------------ deep relu nets

def relu_setup(method, scale, depth, width, m, seed):
    """θ_0, X, Y of the relu net [width] * (depth + 1) + [1]: W[1..depth] and then X drawn from one
    Generator(seed) exactly as scratch.diagnostics.activation_variance_by_depth draws them (so its Var(A[l])
    are this net's), then the sigmoid output layer W[depth + 1] (same method) and 0/1 labels Y.
    Returns (params, activations, X (width, m), Y (1, m))."""
    gen = np.random.default_rng(seed)
    params = initialize_parameters([width] * (depth + 1), method, rng=gen, scale=scale)
    X = gen.standard_normal((width, m))
    out = initialize_parameters([width, 1], method, rng=gen, scale=scale)
    params[f"W{depth + 1}"], params[f"b{depth + 1}"] = out["W1"], out["b1"]
    Y = gen.integers(0, 2, size=(1, m)).astype(np.float64)
    return params, ["relu"] * depth + ["sigmoid"], X, Y


def scratch_profile(params, activations, X, Y):
    """Per-layer norms at θ_0 from scratch.network's forward pass and the layer backward functions
    (scratch.layers, the course's cache contract), with dZ[L] = A[L] - Y:
    "A": ‖A[l]‖ for l = 0..L-1 (A[0] = X), "dA": ‖dA[l]‖ for l = 0..L-1 (dA[l] = W[l+1]ᵀ dZ[l+1], per
    example), "dW": ‖dW[l]‖ for l = 1..L. Arrays."""
    AL, caches = model_forward(X, params, activations)
    L = len(caches)
    A = [X] + [caches[l]["linear_activation"][0][0] for l in range(1, L)]     # A[l] is layer l+1's input
    dA, dW_L, _ = linear_backward(AL - Y, caches[L - 1]["linear_activation"][0])
    dA_norms, dW_norms = [norm(dA)], [norm(dW_L)]
    for l in range(L - 1, 0, -1):
        dA, dW, _ = linear_activation_backward(dA, caches[l - 1]["linear_activation"], activations[l - 1])
        dA_norms.append(norm(dA))
        dW_norms.append(norm(dW))
    return {"A": np.array([norm(a) for a in A]), "dA": np.array(dA_norms[::-1]), "dW": np.array(dW_norms[::-1])}


def torch_net(impl, params, activations):
    """The DeepNet holding params exactly: torch's DeepNet.from_params, or the one inside Lightning's
    DeepNetModule built from params (its forward is that DeepNet's)."""
    if impl == "lightning":
        from torch_ref.lightning import DeepNetModule
        dims = [params["W1"].shape[1]] + [params[f"W{l}"].shape[0] for l in range(1, len(activations) + 1)]
        return DeepNetModule(dims, activations, learning_rate=1.0, params=params).model
    from torch_ref.models import DeepNet
    return DeepNet.from_params(params, activations)


def torch_profile(impl, params, activations, X, Y):
    """scratch_profile's norms from torch autograd: J = the mean cross-entropy from the logits
    (torch_ref.functional.data_cost, what the training loops minimize), backward; ∂J/∂A[l] is
    dA[l] / m (scratch's dA[l] is per example), so m · ‖A[l].grad‖ is compared with ‖dA[l]‖."""
    import torch
    from torch_ref import convert, functional
    net = torch_net(impl, params, activations)
    x = convert.to_torch(X).requires_grad_(True)
    values = net.layer_values(x)
    for v in values[:-1]:
        v["A"].retain_grad()
    functional.data_cost(values[-1]["Z"], convert.to_torch(Y)).backward()
    m = X.shape[1]
    hidden = [x] + [v["A"] for v in values[:-1]]
    with torch.no_grad():
        return {"A": np.array([norm(a.detach().numpy()) for a in hidden]),
                "dA": np.array([m * norm(a.grad.numpy()) for a in hidden]),
                "dW": np.array([norm(lin.weight.grad.numpy()) for lin in net.linears])}


def linear_torch(x, w, L):
    """linear_profile's depth-L quantities from torch autograd on a DeepNet of identity layers holding
    W[l] = w·I, b = 0, and J = (1/m) Σ ŷ: acts (‖A[l]‖/‖x‖, l = 0..L), the grads entry of depth L
    (m ‖∂J/∂x‖ / ‖1‖) and ‖dW[1]‖ (∂J/∂W[1] is dW[1] itself)."""
    from torch_ref import convert
    from torch_ref.models import DeepNet
    n, m = x.shape
    params = {k: v for l in range(1, L + 1) for k, v in ((f"W{l}", w * np.eye(n)), (f"b{l}", np.zeros((n, 1))))}
    net = DeepNet.from_params(params, ["identity"] * L)
    xt = convert.to_torch(x).requires_grad_(True)
    values = net.layer_values(xt)
    (values[-1]["A"].sum() / m).backward()
    acts = np.array([1.0] + [norm(v["A"].detach().numpy()) / norm(x) for v in values])
    return acts, m * norm(xt.grad.numpy()) / norm(np.ones_like(x)), norm(net.linears[0].weight.grad.numpy())


def relative_difference(a, b):
    """max |a - b| / |b| over the entries (0 where both are 0)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(a == b, 0.0, np.abs(a - b) / np.abs(b))
    return float(np.max(rel))


# --------------------------------------------------------------------------------------------- study

def run_study(cfg, run_dir, impls, device):
    """The deep linear nets' ratios against w^l, the relu nets' per-layer norms under four inits, the
    classic init/activation pairings of init_scale_demo, the torch comparison, and the figure."""
    a = args(cfg, DEFAULTS)
    others = [i for i in impls if i != "scratch"]
    x = linear_input(a["linear_n"], a["linear_m"], cfg.seed)
    L = a["linear_depth"]
    linear = {w: linear_profile(x, w, L) for w in a["w_values"]}
    relu = {}
    for label, method, scale in INITS:
        setup = relu_setup(method, scale, a["depth"], a["width"], a["m"], cfg.seed)
        relu[label] = (setup, scratch_profile(*setup))
    verdicts, agree = compare_torch(others, x, L, linear, relu)
    profiles = {label: p for label, (_, p) in relu.items()}
    fname = "vanishing.png"
    figures.save_png(figure(linear, profiles, a), os.path.join(run_dir, fname))
    tables = [linear_table(linear, L), relu_table(relu, a), demo_table(a, cfg.seed)]
    holds, outcome = verdict(linear, profiles, a)
    caption = ("(a, b) deep linear nets W[l] = w·I: ‖A[l]‖/‖x‖ against layer l and the input gradient ‖dA[0]‖ "
               "against depth, with w^l dashed; (c, d) relu nets of "
               f"{a['depth']} × {a['width']} units at θ_0: ‖A[l]‖ and ‖dA[l]‖ per entry (RMS) against layer l")
    notes = [f"- Deep linear nets: x is ({a['linear_n']}, {a['linear_m']}) ~ N(0, 1) (seed {cfg.seed}); "
             f"the gradients are those of J = (1/m) Σ ŷ (dA[L] = 1), scratch.diagnostics.deep_linear_gradients; "
             f"the last column is the largest relative difference from w^l over every layer and depth (tolerance "
             f"{POWER_RTOL:g}).",
             f"- Relu nets: {a['depth']} hidden layers of {a['width']} relu units and a sigmoid output, b = 0, "
             f"x ~ N(0, 1) with m = {a['m']}, random 0/1 labels; dA[l] = ∂L/∂A[l] per example (scratch's "
             "convention: dZ[L] = A[L] - Y). He is claimed to keep ‖A[l]‖ within a factor "
             f"{HE_FACTOR:g} over depth; 'explodes' / 'vanishes': ‖A[L-1]‖/‖A[0]‖ beyond {EXPLODED:g} / below "
             f"{VANISHED:g}.",
             "- Every init scales the same standard-normal draws (one seed), and relu is positively homogeneous "
             "(relu(c·z) = c·relu(z), c > 0): each init's ‖A[l]‖ is (σ/σ_He)^l times He's, so the init sets only "
             "the factor σ·√(n/2) by which a layer multiplies the activations' scale; He's √(2/n) makes it 1."]
    return Report(cfg.name, cfg.claim, outcome, holds, tables, [(fname, caption)], notes,
                  agree=agree if others else None, verdicts=verdicts)


def verdict(linear, relu, a):
    """(holds, outcome sentence) from the measured ratios."""
    L = a["linear_depth"]
    worst = max(max(power_error(p["acts"], w), power_error(p["grads"], w), power_error(p["dW1"], w, 1))
                for w, p in linear.items())
    direction = all((p["acts"][-1] < 1) == (w < 1) and (p["grads"][-1] < 1) == (w < 1) for w, p in linear.items())
    ratio = {k: p["A"][-1] / p["A"][0] for k, p in relu.items()}
    spread = {k: p["A"].max() / p["A"].min() for k, p in relu.items()}
    holds = bool(worst < POWER_RTOL and direction and spread["He"] < HE_FACTOR
             and ratio["random × 1"] > EXPLODED and ratio["random × 0.01"] < VANISHED)
    ends = ", ".join(f"w = {w}: {p['acts'][-1]:.2e}" for w, p in linear.items())
    outcome = (f"deep linear, L = {L}: ‖A[L]‖/‖x‖ = {ends}, activations and input gradients equal to w^l within "
               f"{worst:.1e} (relative); relu {a['depth']} × {a['width']}: ‖A[L-1]‖/‖A[0]‖ = "
               + ", ".join(f"{k} {r:.2e}" for k, r in ratio.items())
               + f"; He's ‖A[l]‖ within a factor {spread['He']:.2f} over all layers")
    return holds, outcome


def compare_torch(others, x, L, linear, relu):
    """(verdict lines, agree) of each implementation in `others` against scratch: the relu nets' ‖A[l]‖,
    ‖dA[l]‖, ‖dW[l]‖ and (torch) the deep linear nets' ratios, each within torch_ref.parity.F64.rtol."""
    if not others:
        return [], True
    from torch_ref.parity import F64
    lines, agree = [], True
    for impl in others:
        worst = 0.0
        for setup, mine in relu.values():
            theirs = torch_profile(impl, *setup)
            worst = max(worst, *(relative_difference(mine[k], theirs[k]) for k in ("A", "dA", "dW")))
        what = f"the relu nets' ‖A[l]‖, ‖dA[l]‖, ‖dW[l]‖ ({len(relu)} inits, every layer)"
        if impl == "torch":
            for w, p in linear.items():
                acts, grad, dW1 = linear_torch(x, w, L)
                mine_dW1 = norm(deep_linear_gradients(x, w, L)["dW1"])
                worst = max(worst, relative_difference(p["acts"], acts), relative_difference(p["grads"][-1], grad),
                            relative_difference(mine_dW1, dW1))
            what += " and the deep linear nets' ‖A[l]‖/‖x‖, ‖dA[0]‖, ‖dW[1]‖"
        else:
            what += " (the deep linear nets' identity output is not a DeepNetModule's: torch only)"
        ok = worst <= F64.rtol
        agree = agree and ok
        lines.append(f"scratch and {impl} ({'torch autograd' if impl == 'torch' else 'its DeepNetModule, torch autograd'}) "
                     f"{'agree' if ok else 'DIFFER'} on {what}: largest relative difference {worst:.1e} "
                     f"(tolerance {F64.rtol:g})")
    return lines, agree


def linear_table(linear, L):
    rows = []
    for w, p in linear.items():
        rows.append([w, L, float(p["acts"][-1]), float(w) ** L, float(p["grads"][-1]), float(p["dW1"][-1]),
                     f"{max(power_error(p['acts'], w), power_error(p['grads'], w), power_error(p['dW1'], w, 1)):.1e}"])
    return Table(["w", "L", "‖A[L]‖/‖x‖", "w^L", "‖dA[0]‖/‖1‖ (depth L)", "‖dW[1]‖ ratio (depth L / 1)",
                  "largest rel. diff. from w^l"], rows, "Deep linear nets, W[l] = w·I, b = 0 (F29)")


def relu_table(relu, a):
    rows = []
    for label, ((params, _, X, _), p) in relu.items():
        std = float(params["W2"].std())
        rows.append([label, std, float(p["A"][-1] / p["A"][0]), float(p["A"].max() / p["A"].min()),
                     float(p["dA"][0] / p["dA"][-1]), float(p["dW"][0]), float(p["dW"][-1])])
    return Table(["init", "std of W[2] entries", "‖A[L-1]‖/‖A[0]‖", "max/min ‖A[l]‖ over l",
                  "‖dA[0]‖/‖dA[L-1]‖", "‖dW[1]‖", "‖dW[L]‖"], rows,
                 f"Relu nets, {a['depth']} hidden layers of {a['width']} units, at θ_0 (F18, F29)")


def demo_table(a, seed):
    """scratch.diagnostics.init_scale_demo: Var(A[l]) at a few depths for the classic pairings."""
    demo = init_scale_demo(depth=a["depth"], width=a["width"], m=a["m"], rng=seed)
    cols = sorted({0, 1, a["depth"] // 5, a["depth"] // 2, a["depth"]})
    rows = [[label] + [float(v[l]) for l in cols] for label, v in demo.items()]
    return Table(["init + activation"] + [f"Var(A[{l}])" for l in cols], rows,
                 "scratch.diagnostics.init_scale_demo: every layer the same activation, no output layer")


def figure(linear, relu, a):
    """Four log-scale panels: the deep linear nets' activations and input gradients with w^l dashed, the
    relu nets' RMS of A[l] and dA[l] per layer."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), dpi=90)
    L = a["linear_depth"]
    ls = np.arange(L + 1)
    for w, p in linear.items():
        line, = axes[0, 0].semilogy(ls, p["acts"], "o", markersize=2.5, label=f"w = {w}")
        axes[0, 0].semilogy(ls, float(w) ** ls, "--", color=line.get_color(), linewidth=0.8)
        axes[0, 1].semilogy(ls, p["grads"], "o", markersize=2.5, color=line.get_color(), label=f"w = {w}")
        axes[0, 1].semilogy(ls, float(w) ** ls, "--", color=line.get_color(), linewidth=0.8)
    axes[0, 0].set(title="(a) deep linear net: ‖A[l]‖ / ‖x‖ (dashed: w^l)", xlabel="layer l")
    axes[0, 1].set(title="(b) deep linear net of depth L: ‖dA[0]‖ / ‖1‖ (dashed: w^L)", xlabel="depth L")
    n_units = a["width"]
    for label, p in relu.items():
        layers = np.arange(len(p["A"]))
        axes[1, 0].semilogy(layers, p["A"] / np.sqrt(n_units * a["m"]), label=label)
        axes[1, 1].semilogy(layers, p["dA"] / np.sqrt(n_units * a["m"]), label=label)
    axes[1, 0].set(title=f"(c) relu net at θ_0: RMS of A[l] ({a['depth']} layers of {n_units})", xlabel="layer l")
    axes[1, 1].set(title="(d) relu net at θ_0: RMS of dA[l] = ∂L/∂A[l]", xlabel="layer l")
    for ax in axes.ravel():
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
        ax.title.set_fontsize(9)
    fig.suptitle("Vanishing and exploding with depth (F29), tamed by He's initialization (F18)", fontsize=10)
    fig.tight_layout()
    return fig
