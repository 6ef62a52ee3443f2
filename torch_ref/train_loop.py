"""The plain PyTorch training loop (no Lightning), step for step the twin of scratch.train.

Step i (0-based), the convention shared with scratch.train and the Lightning module:
    forward on θ_i -> J_i = data cost of Z[L] + λ/(2m) Σ_l ‖W[l]‖²_F, the data cost
                      cost_from_logits(Z[L], Y) (sigmoid) or F.cross_entropy(Z[L], class indices) (softmax)
    backward       -> dθ_i (autograd)
    update         -> θ_{i+1} = θ_i - α dθ_i   (torch.optim.SGD, full batch)
history[k]["cost"] is J_i of a logged step i, the cost BEFORE update i.
Batch norm (F40, F41): the model is in train mode, so each step's forward normalizes with that
batch's statistics and updates BatchNorm1d's running statistics once, as scratch.train does
(torch's running variance is the unbiased one: convert.course_running_var_to_torch).
"""
import contextlib
import warnings

import torch

from scratch._checks import check_count, check_matrix, check_nonneg, check_positive, check_training_memory
from scratch.batchnorm import check_step_sizes
from scratch.network import OUTPUTS, check_targets
from scratch.plan import check_lr_schedule, check_optimizer, make_plan
from scratch.train import check_resume

from . import convert, functional
from .divergence import CHECK_EVERY, DivergenceGuard, check_finite_parameters, parameter_names
from .model_file import set_torch_rng_state, train_state



def _accuracy(model, x, y):
    """F32: fraction of examples with (ŷ > 0.5) == y, or for a softmax output (F43) with
    argmax_k ŷ_k == argmax_k y_k (y one-hot (m, C)); without dropout (scratch.train's rule), with the
    batch's statistics in batch-norm layers (as the step's own forward) but without a second update
    of the running statistics (stats="batch")."""
    with torch.no_grad():          # not predict: the loop checks its parameters (and x) itself
        proba = model._layer_values(x, dropout=False, stats="batch" if model.training else None)[-1]["A"]
        if model.activations[-1] == "softmax":
            return (proba.argmax(dim=1) == y.argmax(dim=1)).to(torch.float64).mean().item()
        return ((proba > 0.5).to(y.dtype) == y).to(torch.float64).mean().item()


def _running_stats(norms):
    """Copies of the running statistics of the batch-norm modules `norms` (to show a callback the
    statistics of the batches before the current step, as scratch.train's dev metrics of that step)."""
    return [(n.running_mean.clone(), n.running_var.clone(), n.num_batches_tracked.clone()) for n in norms]


@contextlib.contextmanager
def _running_stats_of(norms, saved):
    """Within the block, the batch-norm modules hold the running statistics `saved`; then their own again.
    The buffers are swapped, not copied into: autograd holds the current ones for the backward pass."""
    names = ("running_mean", "running_var", "num_batches_tracked")
    current = [tuple(getattr(n, name) for name in names) for n in norms]
    for n, values in zip(norms, saved):
        for name, value in zip(names, values):
            setattr(n, name, value)
    try:
        yield
    finally:
        for n, values in zip(norms, current):
            for name, value in zip(names, values):
                setattr(n, name, value)


def train_plain(model, X, Y, *, learning_rate, num_iterations=None, lambd=0.0, l2_mode="cost", masks=None,
                callback=None, log_every=1, device=None, check_every=CHECK_EVERY, optimizer="gd", beta=0.9,
                beta1=0.9, beta2=0.999, epsilon=1e-8, mini_batch_size=None, num_epochs=None, permutations=None,
                seed=0, lr_schedule=None, resume=None, return_state=False):
    """Gradient descent on a DeepNet with torch.optim (F13, F20, F22, F33-F38), scratch.train's twin.

    model: a DeepNet (sigmoid or softmax output, with or without batch norm) with finite parameters,
        trained in place (train mode: batch-norm layers use each step's batch statistics and update
        their running statistics once per step; a batch of m = 1 then raises, as nn.BatchNorm1d does).
    X: (n_x, m), Y: (1, m) labels in {0, 1} (sigmoid) or one-hot (C, m) with C = n[L] (softmax),
        course-layout NumPy arrays, converted ONCE with convert.to_torch (x = Xᵀ (m, n_x),
        y = Yᵀ (m, 1) or (m, C)) in the model's dtype, on `device` (default: the model's).
        Softmax: the data cost is F.cross_entropy on the logits with the class indices of y
        (functional.softmax_cost_from_logits), the accuracy argmax_k ŷ_k == argmax_k y_k.
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
        copy of the record, before update i (the model then holds θ_i, and its batch-norm layers the
        running statistics of batches 0..i-1, as scratch.train's dev metrics of step i).
    check_every: how often the divergence flags are read back from the device (divergence.py);
        they are also read before every logged step and at the end.
    resume: a scratch.model_file.TrainState (return_state's, or load_model(path).state of a file saved
        by any implementation) to continue that run exactly: the model's parameters and running
        statistics are replaced by the state's, the optimizer's state (course names, converted by
        convert.load_optimizer_state), the learning-rate schedule's epoch, torch's RNG (nn.Dropout's
        masks on the CPU) and the step counter are restored, and training runs from step k =
        resume.step until num_iterations / num_epochs IN TOTAL (more than k), with the same X, Y,
        optimizer, mini_batch_size and seed. The history then starts with the saved records; callback
        sees the new steps only. A run resumed from its own state is the uninterrupted run, bit for bit.
    return_state: also return the TrainState after the last update (to save or resume).
    Returns history: [{"step": i, "epoch": e, "cost": J_i, "train_acc": accuracy of θ_i on the examples of
    step i}, ...] for the logged steps (with return_state: (history, TrainState)). Raises FloatingPointError, as scratch.train, naming the first step
    whose cost or updated parameters are not finite and the last finite cost.
    """
    output = getattr(model, "activations", ["sigmoid"])[-1]
    if output not in OUTPUTS:
        raise ValueError(f"model's output activation must be one of {list(OUTPUTS)} (the cost is the "
                         f"cross-entropy from the logits); got {output!r}")
    check_matrix("X", X, layout="(n_x, m)")
    check_targets("Y", Y, model.activations, C=model.layer_dims[-1], m=X.shape[1])
    learning_rate = check_positive("learning_rate", learning_rate)
    plan = make_plan(X.shape[1], num_iterations=num_iterations, num_epochs=num_epochs,
                     mini_batch_size=mini_batch_size, permutations=permutations, seed=seed)
    if getattr(model, "batchnorm", False):
        check_step_sizes(plan)             # before any step (torch would raise mid-run)
    hp = check_optimizer(optimizer, beta, beta1, beta2, epsilon)
    check_training_memory("train_plain", model.layer_dims, X.shape[1], next(model.parameters()).element_size(),
                          optimizer, model.keep_probs, list(getattr(model, "bn_layers", [])) or False, mini_batch_size)
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
    if resume is not None:
        check_resume(resume, None, optimizer, plan, seed)
        _resume_model(model, resume)
    check_finite_parameters(model)
    first = next(model.parameters())
    if device is not None:
        model.to(device)
    device, dtype = first.device if device is None else torch.device(device), first.dtype
    x = convert.to_torch(X, dtype=dtype, device=device)          # (m, n_x), once
    y = convert.to_torch(Y, dtype=dtype, device=device)          # (m, 1) or (m, C), once
    m = X.shape[1]

    decay = lambd if l2_mode == "weight_decay" else 0.0
    opt = convert.optimizer_for(model, optimizer, learning_rate, lambd=decay, m=m, **hp)
    scheduler = convert.lr_scheduler_for(opt, *lr_schedule) if lr_schedule is not None else None
    model.train()
    params = [p.detach() for p in model.parameters()]      # for the guard: views of θ, no autograd
    norms = [mod for mod in model.modules() if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)]
    guard, history, i = DivergenceGuard(parameter_names(model), check_every), [], 0
    if resume is not None:                                   # where the saved run stopped
        i = int(resume.step)
        history = [dict(r) for r in resume.history or [] if r["step"] < i]   # step i is logged again
        guard = DivergenceGuard(parameter_names(model), check_every, resume.last_finite)
        if optimizer != "gd":
            convert.load_optimizer_state(opt, model, resume.opt_state)
        if scheduler is not None:
            with warnings.catch_warnings():                  # "lr_scheduler.step() before optimizer.step()"
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(i // plan.steps_per_epoch):   # α of the epoch the run stopped in
                    scheduler.step()
        set_torch_rng_state(resume.torch_rng)
    # Each step runs the model's unchecked forward, model._logits: x and y were checked above and each
    # step's masks are checked alone (model(x, masks) would check x again at every step, and run
    # nn.Module's hook machinery, which DeepNet does not use). What does not change is looked up once.
    data_cost_of = functional.DATA_COSTS[output]               # functional.data_cost(zL, y, output)
    weights = functional.weights_of(model)                     # the W[l] of the L2 term
    start, per_epoch, decay_m = i, plan.steps_per_epoch, None
    for epoch in range(start // per_epoch, plan.num_epochs):
        skip = start - epoch * per_epoch if epoch == start // per_epoch else 0
        for rows in convert.batch_rows(plan.batches(epoch)[skip:], device):
            if rows is None:
                xb, yb, mb = x, y, m
            else:
                xb, yb, mb = x[rows], y[rows], len(rows)
            if decay and mb != decay_m:                        # weight_decay = λ/m of this step's m
                convert.set_weight_decay(opt, lambd, mb)
                decay_m = mb
            step_masks = convert.masks_to_torch(masks(i), device=device) if masks is not None else None
            if step_masks is not None:
                model._check_masks(step_masks, mb)
            logged = i % log_every == 0
            before = _running_stats(norms) if norms and callback is not None and logged else None
            data_cost = data_cost_of(model._logits(xb, step_masks), yb)
            loss, cost = functional.training_cost(data_cost, weights, lambd, mb, l2_mode)
            guard.after_forward(i, cost)                       # check 1, on the device
            if logged:
                guard.raise_if_diverged()                      # never log a diverged step
                record = {"step": i, "epoch": epoch, "cost": cost.item(), "train_acc": _accuracy(model, xb, yb)}
                history.append(record)
                if callback is not None:
                    # θ_i with the running statistics of batches 0..i-1: the forward pass above already
                    # took in batch i, which scratch.train does after its step's logging
                    with _running_stats_of(norms, before) if before is not None else contextlib.nullcontext():
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
    if not return_state:
        return history
    return history, train_state(model, i, opt, optimizer, history=[dict(r) for r in history],
                                last_finite=guard.last_finite,
                                plan={"m": m, "mini_batch_size": mini_batch_size, "seed": seed})


@torch.no_grad()
def _resume_model(model, resume):
    """Put the TrainState's parameters and running statistics into the model (in place, on the model's
    device and dtype; resume already checked by scratch.train.check_resume)."""
    have, saved = convert.scratch_parameters(model), resume.params
    if set(have) != set(saved):
        raise ValueError(f"resume: the saved parameters {sorted(saved)} do not fit the model's {sorted(have)}")
    for name, p in have.items():
        value = torch.as_tensor(saved[name]).reshape(p.shape) if saved[name].size == p.numel() else None
        if value is None or tuple(saved[name].shape) not in (tuple(p.shape), (p.numel(), 1)):
            raise ValueError(f"resume: saved {name} has shape {saved[name].shape}; the model's is {tuple(p.shape)}")
        p.copy_(value)
    if getattr(model, "batchnorm", False) and resume.bn_stats is not None:
        for l in (l for l in range(1, model.L) if model.bn_layers[l - 1]):
            norm = model.norm(l)
            norm.running_mean.copy_(torch.as_tensor(resume.bn_stats[f"mu{l}"]).reshape(-1))
            norm.running_var.copy_(torch.as_tensor(resume.bn_stats[f"var{l}"]).reshape(-1))
            norm.num_batches_tracked.fill_(int(resume.step))
