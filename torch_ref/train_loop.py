"""The plain PyTorch training loop (no Lightning), step for step the twin of scratch.train.

Step i (0-based), the convention shared with scratch.train and the Lightning module:
    forward on θ_i -> J_i = cost_from_logits(Z[L], Y) + λ/(2m) Σ_l ‖W[l]‖²_F
    backward       -> dθ_i (autograd)
    update         -> θ_{i+1} = θ_i - α dθ_i   (torch.optim.SGD, full batch)
history[k]["cost"] is J_i of a logged step i, the cost BEFORE update i.
"""
import torch

from scratch._checks import check_count, check_labels, check_matrix, check_nonneg, check_positive

from . import convert, functional
from .divergence import CHECK_EVERY, DivergenceGuard, check_finite_parameters, parameter_names


def _accuracy(model, x, y):
    """F32: fraction of examples with (ŷ > 0.5) == y, without dropout (scratch.train's rule)."""
    with torch.no_grad():          # layer_outputs, not predict: the loop checks its parameters itself
        proba = model.layer_outputs(x, dropout=False)[-1][1]
        return ((proba > 0.5).to(y.dtype) == y).to(torch.float64).mean().item()


def train_plain(model, X, Y, *, learning_rate, num_iterations, lambd=0.0, l2_mode="cost", masks=None,
                callback=None, log_every=1, device=None, check_every=CHECK_EVERY):
    """Full-batch gradient descent on a DeepNet with torch.optim.SGD (F13, F20, F22).

    model: a DeepNet (sigmoid output) with finite parameters, trained in place (train mode).
    X: (n_x, m), Y: (1, m) course-layout NumPy arrays, converted ONCE with convert.to_torch
        (x = Xᵀ (m, n_x), y = Yᵀ (m, 1)) in the model's dtype, on `device` (default: the model's).
    lambd: the course's L2 strength λ. l2_mode:
        "cost":          J + λ/(2m) Σ‖W‖² through autograd, SGD without decay;
        "weight_decay":  autograd on J alone, SGD(weight_decay=λ/m) on weights only
                         (convert.sgd_for) — the same update (1 - αλ/m)W - α·dW.
        Either way the logged cost includes the L2 term, the value scratch computes.
    masks: None, or a callable step -> list of L-1 course-layout bool masks (n[l], m), the
        same callable scratch.train accepts, so both sides drop the same units.
    callback(step, record, model): called at each logged step (i % log_every == 0) with a
        copy of the record, before update i (the model then holds θ_i).
    check_every: how often the divergence flags are read back from the device (divergence.py);
        they are also read before every logged step and at the end.
    Returns history: [{"step": i, "cost": J_i, "train_acc": accuracy of θ_i}, ...] for the
    logged steps. Raises FloatingPointError, as scratch.train, naming the first step whose cost
    or updated parameters are not finite and the last finite cost.
    """
    check_matrix("X", X, layout="(n_x, m)")
    check_labels("Y", Y, m=X.shape[1])
    learning_rate = check_positive("learning_rate", learning_rate)
    num_iterations = check_count("num_iterations", num_iterations, minimum=1)
    lambd = check_nonneg("lambd", lambd)
    log_every = check_count("log_every", log_every, minimum=1)
    check_every = check_count("check_every", check_every, minimum=1)
    if l2_mode not in ("cost", "weight_decay"):
        raise ValueError(f"l2_mode must be 'cost' or 'weight_decay'; got {l2_mode!r}")
    if masks is not None and not callable(masks):
        raise TypeError(f"masks must be a callable step -> list of masks, or None; "
                        f"got {type(masks).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable(step, record, model); got {type(callback).__name__}")
    if getattr(model, "activations", ["sigmoid"])[-1] != "sigmoid":
        raise ValueError("model's output activation must be 'sigmoid' (the cost is the cross-entropy "
                         f"from the logits); got {model.activations[-1]!r}")
    check_finite_parameters(model)
    first = next(model.parameters())
    if device is not None:
        model.to(device)
    device, dtype = first.device if device is None else torch.device(device), first.dtype
    x = convert.to_torch(X, dtype=dtype, device=device)          # (m, n_x), once
    y = convert.to_torch(Y, dtype=dtype, device=device)          # (m, 1), once
    m = X.shape[1]

    if l2_mode == "weight_decay":
        optimizer = convert.sgd_for(model, learning_rate, lambd=lambd, m=m)
    else:
        optimizer = convert.sgd_for(model, learning_rate)
    model.train()
    params = list(model.parameters())
    guard, history = DivergenceGuard(parameter_names(model), check_every), []
    for i in range(num_iterations):
        step_masks = convert.masks_to_torch(masks(i), device=device) if masks is not None else None
        data_cost = functional.cost_from_logits(model(x, masks=step_masks), y)
        loss, cost = functional.training_cost(data_cost, model, lambd, m, l2_mode)
        guard.after_forward(i, cost)                               # check 1, on the device
        if i % log_every == 0:
            guard.raise_if_diverged()                              # never log a diverged step
            record = {"step": i, "cost": cost.item(), "train_acc": _accuracy(model, x, y)}
            history.append(record)
            if callback is not None:
                callback(i, dict(record), model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        guard.after_update(i, params)                              # check 2, on the device
        if guard.due(i):
            guard.raise_if_diverged()
    guard.raise_if_diverged()
    return history
