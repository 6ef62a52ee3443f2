"""Torch twins of the scratch formulas (activations, costs, penalties), batch first.

Each function is the PyTorch spelling of a scratch function of the same name; the
comments say what PyTorch hides. Shapes: zL, aL, y are (m, 1) (batch first) or any
matching shape; costs are means over all entries, as the course's 1/m Σ over examples.
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


def activation(name, alpha=0.01):
    """The torch callable for activation `name`; leaky_relu gets negative_slope = alpha."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(ACTIVATIONS)}; got {name!r}")
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


def squared_error_cost(aL, y):
    """J = mean(½(a - y)²) (F08). F.mse_loss has no ½: the course's cost is half of it."""
    return 0.5 * F.mse_loss(aL, y.to(aL.dtype))


def weights_of(model_or_weights):
    """The weight matrices W[l]: the parameters with ndim >= 2 of a module (biases excluded),
    or the given iterable of tensors."""
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
