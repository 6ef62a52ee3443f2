"""The plain PyTorch training loop (no Lightning), step for step the twin of scratch.train.

Step i (0-based), the convention shared with scratch.train and the Lightning module:
    forward on θ_i -> J_i = cost_from_logits(Z[L], Y) + λ/(2m) Σ_l ‖W[l]‖²_F
    backward       -> dθ_i (autograd)
    update         -> θ_{i+1} = θ_i - α dθ_i   (torch.optim.SGD, full batch)
history[k]["cost"] is J_i of a logged step i, the cost BEFORE update i.
"""
import torch

from scratch._checks import check_count, check_labels, check_matrix, check_nonneg, check_positive
from scratch.plan import check_lr_schedule, check_optimizer, make_plan

from . import convert, functional
from .divergence import CHECK_EVERY, DivergenceGuard, check_finite_parameters, parameter_names


def _accuracy(model, x, y):
    """F32: fraction of examples with (ŷ > 0.5) == y, without dropout (scratch.train's rule)."""
    with torch.no_grad():          # layer_outputs, not predict: the loop checks its parameters itself
        proba = model.layer_outputs(x, dropout=False)[-1][1]
        return ((proba > 0.5).to(y.dtype) == y).to(torch.float64).mean().item()


def train_plain(model, X, Y, *, learning_rate, num_iterations=None, lambd=0.0, l2_mode="cost", masks=None,
                callback=None, log_every=1, device=None, check_every=CHECK_EVERY, optimizer="gd", beta=0.9,
                beta1=0.9, beta2=0.999, epsilon=1e-8, mini_batch_size=None, num_epochs=None, permutations=None,
                seed=0, lr_schedule=None):
    """Gradient descent on a DeepNet with torch.optim (F13, F20, F22, F33-F38), scratch.train's twin.

    model: a DeepNet (sigmoid output) with finite parameters, trained in place (train mode).
    X: (n_x, m), Y: (1, m) course-layout NumPy arrays, converted ONCE with convert.to_torch
        (x = Xᵀ (m, n_x), y = Yᵀ (m, 1)) in the model's dtype, on `device` (default: the model's).
    optimizer, beta, beta1, beta2, epsilon: as scratch.train; torch.optim's SGD, RMSprop or Adam built
        by convert.optimizer_for (which converts each convention). lr_schedule: as scratch.train, a
        torch.optim.lr_scheduler from convert.lr_scheduler_for, stepped once per epoch.
    mini_batch_size, num_epochs, permutations, seed: the batches of scratch.plan.make_plan, the same
        as scratch.train's for the same arguments (each batch is gathered from the tensors on the device).
    lambd: the course's L2 strength λ. l2_mode:
        "cost":          J + λ/(2m) Σ‖W‖² through autograd, no decay in the optimizer;
        "weight_decay":  autograd on J alone, weight_decay=λ/m on weights only (convert) — the same
                         gradient dW + (λ/m)W (m: the examples of the step).
        Either way the logged cost includes the L2 term, the value scratch computes.
    masks: None, or a callable step -> list of L-1 course-layout bool masks (n[l], m of the step), the
        same callable scratch.train accepts, so both sides drop the same units.
    callback(step, record, model): called at each logged step (i % log_every == 0) with a
        copy of the record, before update i (the model then holds θ_i).
    check_every: how often the divergence flags are read back from the device (divergence.py);
        they are also read before every logged step and at the end.
    Returns history: [{"step": i, "epoch": e, "cost": J_i, "train_acc": accuracy of θ_i on the examples of
    step i}, ...] for the logged steps. Raises FloatingPointError, as scratch.train, naming the first step
    whose cost or updated parameters are not finite and the last finite cost.
    """
    check_matrix("X", X, layout="(n_x, m)")
    check_labels("Y", Y, m=X.shape[1])
    learning_rate = check_positive("learning_rate", learning_rate)
    plan = make_plan(X.shape[1], num_iterations=num_iterations, num_epochs=num_epochs,
                     mini_batch_size=mini_batch_size, permutations=permutations, seed=seed)
    hp = check_optimizer(optimizer, beta, beta1, beta2, epsilon)
    lr_schedule = check_lr_schedule(lr_schedule)
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

    decay = lambd if l2_mode == "weight_decay" else 0.0
    opt = convert.optimizer_for(model, optimizer, learning_rate, lambd=decay, m=m, **hp)
    scheduler = convert.lr_scheduler_for(opt, *lr_schedule) if lr_schedule is not None else None
    model.train()
    params = list(model.parameters())
    guard, history, i = DivergenceGuard(parameter_names(model), check_every), [], 0
    for epoch in range(plan.num_epochs):
        for rows in convert.batch_rows(plan.batches(epoch), device):
            if rows is None:
                xb, yb, mb = x, y, m
            else:
                xb, yb, mb = x[rows], y[rows], len(rows)
            if decay:                                          # weight_decay = λ/m of this step
                convert.set_weight_decay(opt, lambd, mb)
            step_masks = convert.masks_to_torch(masks(i), device=device) if masks is not None else None
            data_cost = functional.cost_from_logits(model(xb, masks=step_masks), yb)
            loss, cost = functional.training_cost(data_cost, model, lambd, mb, l2_mode)
            guard.after_forward(i, cost)                       # check 1, on the device
            if i % log_every == 0:
                guard.raise_if_diverged()                      # never log a diverged step
                record = {"step": i, "epoch": epoch, "cost": cost.item(), "train_acc": _accuracy(model, xb, yb)}
                history.append(record)
                if callback is not None:
                    callback(i, dict(record), model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            guard.after_update(i, params)                      # check 2, on the device
            if guard.due(i):
                guard.raise_if_diverged()
            i += 1
        if scheduler is not None:
            scheduler.step()                                   # once per epoch: α of epoch + 1
    guard.raise_if_diverged()
    return history
