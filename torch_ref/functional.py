"""Torch twins of the scratch formulas (activations, costs, penalties), batch first.

Each function is the PyTorch spelling of a scratch function of the same name; the
comments say what PyTorch hides. Shapes: zL, aL, y are (m, 1) (batch first) or any
matching shape; costs are means over all entries, as the course's 1/m Σ over examples.
Many classes (F39): zL, aL and the one-hot y are (m, C), one example per row; the costs are
means over the m examples of a sum over the C classes.
"""
import torch
import torch.nn.functional as F
from torch import nn


def identity(z):
    """identity(z) = z (a linear output layer); its derivative is 1."""
    return z


# name -> torch callable g(z). relu is F.relu on purpose: autograd then gives
# relu'(0) = 0 (torch.maximum(z, 0) would give 0.5, clamp(min=0) 1); leaky_relu is
# F.leaky_relu, whose autograd gives the negative slope α at z = 0. These are the values
# scratch uses by default (scratch.activations.TORCH_AT_ZERO), see F04.
ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,     # default negative_slope 0.01, the course's α
    "identity": identity,
}


def softmax(z):
    """softmax over the C classes of each example: a_ik = e^(z_ik) / Σ_j e^(z_ij), z (m, C) batch first,
    so over dim 1 (scratch's softmax(Z) takes Z (C, m) down each column: the same numbers, transposed).
    F.softmax subtracts the row's max first, as scratch does: finite for any finite z."""
    return F.softmax(z, dim=1)


# output-only activations: not elementwise, so a hidden layer never takes them (F39)
OUTPUT_ACTIVATIONS = {"softmax": softmax}


def activation(name, alpha=0.01, output=False):
    """The torch callable for activation `name`; leaky_relu gets negative_slope = alpha.
    output=True (the output layer L) also accepts "softmax" (over dim 1, see softmax)."""
    if output and name in OUTPUT_ACTIVATIONS:
        return OUTPUT_ACTIVATIONS[name]
    if name not in ACTIVATIONS:
        names = list(ACTIVATIONS) + (list(OUTPUT_ACTIVATIONS) if output else [])
        hint = " (softmax only as the output layer's activation)" if name in OUTPUT_ACTIVATIONS else ""
        raise ValueError(f"activation must be one of {names}{hint}; got {name!r}")
    if name == "leaky_relu":
        return lambda z: F.leaky_relu(z, negative_slope=alpha)
    return ACTIVATIONS[name]


def cost_from_logits(zL, y):
    """J = mean(max(z,0) - z·y + log(1 + e^-|z|)), the cross-entropy of σ(z), finite for any z
    (F07). Same value as scratch.losses.cost_from_logits; torch computes it stably."""
    return F.binary_cross_entropy_with_logits(zL, y.to(zL.dtype))


def compute_cost(aL, y):
    """J = -mean(y log a + (1-y) log(1-a)) from probabilities (F06).

    torch clamps each log at -100, so the loss saturates at 100 where a is exactly 0 or 1
    (float32 reaches that for |z| > ~17); use cost_from_logits there."""
    return F.binary_cross_entropy(aL, y.to(aL.dtype))


def _class_indices(z, y_onehot, zname):
    """The class index of each row of a one-hot y (m, C), after checking its shape against z."""
    if not isinstance(y_onehot, torch.Tensor) or y_onehot.ndim != 2 or y_onehot.shape != z.shape:
        got = f"shape {tuple(y_onehot.shape)}" if isinstance(y_onehot, torch.Tensor) else type(y_onehot).__name__
        raise ValueError(f"y_onehot must be one-hot labels (m, C) shaped like {zname} {tuple(z.shape)}; got {got}")
    return y_onehot.argmax(dim=1)


def softmax_cost_from_logits(zL, y_onehot):
    """J = (1/m) Σ_i [log Σ_k e^(z_ik) - Σ_k y_ik z_ik] = -(1/m) Σ_i Σ_k y_ik log softmax(z_i)_k (F39),
    finite for any finite z; the value of scratch.losses.softmax_cost_from_logits.

    Conventions: the course writes the cost from PROBABILITIES a = softmax(z) and ONE-HOT labels
    y (C, m); F.cross_entropy takes LOGITS z (m, C) (it applies log_softmax itself, with the
    log-sum-exp shift) and CLASS INDICES (m,) (the position of the 1 in each one-hot row, y.argmax(1)):
    with one-hot y only the true class's term of Σ_k y_k log a_k survives, so both are
    -(1/m) Σ_i log a_(i, true class), and reduction="mean" is the course's 1/m.
    zL: (m, C) logits; y_onehot: (m, C) one-hot (convert.to_torch of scratch's Y). Returns a 0-d tensor.
    """
    return F.cross_entropy(zL, _class_indices(zL, y_onehot, "zL"))


def softmax_cost(aL, y_onehot):
    """J = -(1/m) Σ_i Σ_k y_ik log a_ik from probabilities aL (m, C) (F39), the course's formula as
    F.nll_loss(log a, class indices) (nll_loss picks -log a of the true class and averages over m).
    Unlike F.binary_cross_entropy nothing is clamped: a true class with a = 0 gives inf, as scratch's
    softmax_cost; softmax_cost_from_logits is the stable path."""
    return F.nll_loss(torch.log(aL), _class_indices(aL, y_onehot, "aL"))


# output activation -> the data cost J from the logits Z[L] (before L2), what the training loops minimize
DATA_COSTS = {"sigmoid": cost_from_logits, "softmax": softmax_cost_from_logits}


def data_cost(zL, y, output="sigmoid"):
    """The cross-entropy cost of the output layer from its logits zL, by output activation:
        "sigmoid": binary, zL and y (m, 1) with y in {0, 1}      -> cost_from_logits (F07)
        "softmax": C classes, zL (m, C) and y one-hot (m, C)     -> softmax_cost_from_logits (F39)
    """
    if output not in DATA_COSTS:
        raise ValueError(f"output must be one of {list(DATA_COSTS)} (the output activation with a "
                         f"cross-entropy cost from logits); got {output!r}")
    return DATA_COSTS[output](zL, y)


def squared_error_cost(aL, y):
    """J = mean(½(a - y)²) (F08). F.mse_loss has no ½: the course's cost is half of it."""
    return 0.5 * F.mse_loss(aL, y.to(aL.dtype))


def weights_of(model_or_weights):
    """The weight matrices W[l]: the parameters with ndim >= 2 of a module, or the given iterable of
    tensors. Biases and batch norm's γ, β (all 1-D) are excluded: the course's L2 is on weights only."""
    if isinstance(model_or_weights, nn.Module):
        return [p for p in model_or_weights.parameters() if p.ndim >= 2]
    return list(model_or_weights)


def l2_penalty(model_or_weights, lambd, m):
    """λ/(2m) Σ_l ‖W[l]‖²_F over weights only (F20); its gradient is (λ/m) W[l]."""
    weights = weights_of(model_or_weights)
    total = sum((W * W).sum() for W in weights)
    return lambd / (2 * m) * total


def l1_penalty(model_or_weights, lambd, m):
    """λ/(2m) Σ_l Σ|W[l]| over weights only (F21, DESIGN's L1 scaling; the course notes swap
    the L1/L2 names). Its (sub)gradient is (λ/(2m)) sign(W), 0 at W = 0 as torch's abs'."""
    weights = weights_of(model_or_weights)
    total = sum(W.abs().sum() for W in weights)
    return lambd / (2 * m) * total


def training_cost(data_cost, model, lambd, m, l2_mode="cost"):
    """The training cost J = data_cost + λ/(2m) Σ_l ‖W[l]‖²_F (F20) and the loss autograd differentiates.

    l2_mode "cost":         loss = J, so autograd adds (λ/m) W[l] to dW[l];
            "weight_decay": loss = data_cost, and SGD(weight_decay=λ/m) on the weights applies the
                            same (1 - αλ/m) W - α dW (convert.sgd_for); J is computed without grad.
    model: the module, or its weights (weights_of(model), e.g. looked up once by a training loop).
    Returns (loss, J). With λ = 0, J is data_cost itself (nothing is added).
    """
    if not lambd:
        return data_cost, data_cost
    if l2_mode == "cost":
        cost = data_cost + l2_penalty(model, lambd, m)
        return cost, cost
    with torch.no_grad():
        cost = data_cost + l2_penalty(model, lambd, m)
    return data_cost, cost
