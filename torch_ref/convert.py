"""The one place where the two conventions meet.

scratch (the course)                     torch_ref (PyTorch)
--------------------------------------   ---------------------------------------------
examples are columns: X (n_x, m)         batch first: x (m, n_x)            x = Xᵀ
W[l] (n[l], n[l-1])                      linears[l-1].weight (n[l], n[l-1]) same matrix
b[l] (n[l], 1)                           linears[l-1].bias (n[l],)          b = bias[:, None]
dropout keep_prob (probability to KEEP)  nn.Dropout(p) (probability to DROP) p = 1 - keep_prob
cost + λ/(2m) Σ_l ‖W[l]‖²_F              SGD(weight_decay=λ/m) on weights only
dropout mask D[l] (n[l], m)              mask (m, n[l])                     mask = D[l]ᵀ
logistic w (n_x, 1), b scalar            Linear(n_x, 1): weight = wᵀ (1, n_x), bias = [b]
momentum v = βv + (1-β)dθ, v_0 = 0       SGD(momentum=β, dampening=β) + a zero momentum_buffer
RMSprop s = β₂s + (1-β₂)dθ²              RMSprop(alpha=β₂, eps=ε)
Adam v̂ = v/(1-β₁ᵗ), ŝ = s/(1-β₂ᵗ)         Adam(betas=(β₁, β₂), eps=ε)
α(epoch_num) from LR_SCHEDULES           lr_scheduler stepped once per epoch (last_epoch = epoch_num)
batch-norm layer l: W[l], no b[l]         linears[l-1] with bias=False (β[l] takes b's place)
γ[l], β[l] (n[l], 1)                     norms[l-1].weight, norms[l-1].bias (n[l],)  = γ.ravel(), β.ravel()
running μ[l], σ²[l] (n[l], 1)            norms[l-1].running_mean, running_var (n[l],)
running μ = β μ + (1-β) μ_B              BatchNorm1d(momentum=1-β): r = (1-momentum) r + momentum·x_B
running σ² from the BIASED σ²_B (1/m)    running_var from the UNBIASED σ²_B·m/(m-1) (Bessel), though
                                         both normalize the batch with the biased σ²_B
ε = 1e-5 in √(σ² + ε)                    BatchNorm1d(eps=1e-5), the same default
running statistics start at 0 and 1      running_mean = 0, running_var = 1 (reset_running_stats)
one-hot Y (C, m), softmax over columns   class indices (m,) = Y.argmax(0), F.cross_entropy on logits (m, C)

Every conversion of values is exact (a transpose, a reshape or a copy, never arithmetic on
the values), so a round trip returns bit-identical arrays. Nothing here mutates its inputs.
Running statistics are copied as they are: a course run's σ²[l] (biased batch variances) and
torch's running_var (unbiased) are different numbers for the same batches, and only
unbiased_variance / course_running_var_to_torch convert one into the other (arithmetic, stated).
The optimizers and schedules are conversions of hyperparameters: the same update, computed
by torch in its own order of operations (equal to rounding, DESIGN's tolerances).
"""
import math
import re
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import torch

from scratch._checks import (check_beta, check_count, check_keep_prob, check_matrix, check_nonneg, check_one_hot,
                             check_params, check_positive)
from scratch import batchnorm
from scratch.losses import one_hot
from scratch.plan import OPTIMIZERS, check_lr_schedule

_NUMPY_TO_TORCH = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32,
                   np.dtype(np.float16): torch.float16, np.dtype(np.bool_): torch.bool}
_KEY = re.compile(r"(?:^|\.)linears\.(\d+)\.(weight|bias)$")
_NORM_KEY = re.compile(r"(?:^|\.)norms\.(\d+)\.(weight|bias|running_mean|running_var)$")
# a batch-norm layer's names, scratch <-> nn.BatchNorm1d (parameters, then running statistics)
_NORM_PARAMS = (("gamma", "weight"), ("beta", "bias"))
_NORM_STATS = (("mu", "running_mean"), ("var", "running_var"))


def torch_dtype(dtype):
    """The torch dtype for a NumPy dtype (or a torch dtype, returned as is)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _NUMPY_TO_TORCH[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"dtype must be float64, float32, float16 or bool; got {dtype!r}") from None


def numpy_dtype(dtype):
    """The NumPy dtype for a torch dtype (or a NumPy dtype, returned as np.dtype)."""
    if isinstance(dtype, torch.dtype):
        for np_dt, t_dt in _NUMPY_TO_TORCH.items():
            if t_dt == dtype:
                return np_dt
        raise TypeError(f"dtype must be float64, float32, float16 or bool; got {dtype}")
    return np.dtype(dtype)


def _to_numpy_any(t):
    """A torch tensor (any device, with or without grad) as a fresh NumPy array."""
    return t.detach().cpu().numpy().copy()


def to_torch(A, dtype=None, device=None):
    """Course layout -> batch first: x = Aᵀ.

    A: (n, m) NumPy array (examples are columns). Returns a new tensor (m, n), a
    copy (never shares memory with A), dtype A's unless `dtype` is given.
    """
    check_matrix("A", A, finite=False, layout="(n, m)")
    return torch.tensor(np.ascontiguousarray(A.T), dtype=torch_dtype(dtype), device=device)


def to_numpy(t):
    """Batch first -> course layout: A = tᵀ.

    t: (m, n) tensor. Returns a new NumPy array (n, m) with t's dtype.
    """
    if not isinstance(t, torch.Tensor) or t.ndim != 2:
        got = f"shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"t must be a 2-D tensor (m, n); got {got}")
    return np.ascontiguousarray(_to_numpy_any(t).T)


def _column(v):
    """A 1-D tensor (n,) as the course's column (n, 1): a fresh NumPy array."""
    return _to_numpy_any(v).reshape(-1, 1)


def params_to_state_dict(params, bn_stats=None):
    """scratch params -> DeepNet state_dict.

    W[l] (n[l], n[l-1]) -> "linears.{l-1}.weight" (n[l], n[l-1])   (same orientation)
    b[l] (n[l], 1)      -> "linears.{l-1}.bias"   (n[l],)          (bias = b[l].ravel())
    batch-norm layer l (params has "gamma{l}", no "b{l}"):
    γ[l], β[l] (n[l], 1) -> "norms.{l-1}.weight", "norms.{l-1}.bias" (n[l],)
    bn_stats (optional) {"mu{l}", "var{l}"} (n[l], 1) for every batch-norm layer
                        -> "norms.{l-1}.running_mean", "norms.{l-1}.running_var" (n[l],), copied as
                        they are (torch's running_var is an average of UNBIASED batch variances, a
                        course run's var{l} of biased ones: see course_running_var_to_torch).
    Keys in DeepNet's order (linears, then norms); num_batches_tracked, torch's count of batches
    (used only with momentum=None), is not a course quantity and is left out.
    Returns an OrderedDict of new CPU tensors with the params' dtype.
    """
    L = check_params(params)
    sd = OrderedDict()
    for l in range(1, L + 1):
        sd[f"linears.{l - 1}.weight"] = torch.tensor(params[f"W{l}"])
        if f"b{l}" in params:
            sd[f"linears.{l - 1}.bias"] = torch.tensor(params[f"b{l}"].reshape(-1))
    bn = [l for l in range(1, L) if f"gamma{l}" in params]
    if bn_stats is not None:
        if not isinstance(bn_stats, Mapping):
            raise TypeError(f"bn_stats must be a dict {{'mu1', 'var1', ...}} or None; got {type(bn_stats).__name__}")
        want = {f"{s}{l}" for l in bn for s, _ in _NORM_STATS}
        if set(bn_stats) != want:
            raise ValueError(f"bn_stats must have exactly the keys {sorted(want)} (the batch-norm layers of "
                             f"params); got keys {sorted(map(str, bn_stats))}")
    for l in bn:
        for name, torch_name in _NORM_PARAMS:
            sd[f"norms.{l - 1}.{torch_name}"] = torch.tensor(params[f"{name}{l}"].reshape(-1))
        if bn_stats is not None:
            n = params[f"W{l}"].shape[0]
            for name, torch_name in _NORM_STATS:
                v = check_matrix(f"bn_stats['{name}{l}']", bn_stats[f"{name}{l}"], rows=n, cols=1, finite=False,
                                 layout=f"(n[{l}], 1)", why=(f"(rows of W{l})", ""))
                sd[f"norms.{l - 1}.{torch_name}"] = torch.tensor(v.reshape(-1))
    return sd


def _collect(state_dict, pattern, what):
    """{(layer index, name): tensor} of the keys of state_dict that match pattern."""
    found = {}
    for key, value in state_dict.items():
        match = pattern.search(key)
        if match:
            slot = (int(match.group(1)), match.group(2))
            if slot in found:
                raise ValueError(f"state_dict has two entries for {what}.{slot[0]}.{slot[1]}; "
                                 f"got keys {list(state_dict)}")
            found[slot] = value
    return found


def state_dict_to_params(state_dict):
    """DeepNet state_dict -> scratch params (the exact inverse of params_to_state_dict).

    "linears.{l-1}.weight" (n[l], n[l-1]) -> W[l];  "linears.{l-1}.bias" (n[l],) -> b[l] (n[l], 1);
    "norms.{l-1}.weight", "norms.{l-1}.bias" (n[l],) -> γ[l], β[l] (n[l], 1) of a batch-norm layer
    (which has no linear bias). Keys may carry a prefix (e.g. "model.linears.0.weight" from a
    LightningModule); other keys (running statistics included: state_dict_to_bn_stats) are ignored.
    Returns fresh NumPy arrays with the tensors' dtype, in layer order (W1, b1 or W1, gamma1, beta1, ...).
    """
    found = _collect(state_dict, _KEY, "linears")
    norms = _collect(state_dict, _NORM_KEY, "norms")
    L = 1 + max((i for i, k in found if k == "weight"), default=-1)
    if L == 0 or {i for i, _ in found} != set(range(L)) or any((i, "weight") not in found for i in range(L)):
        raise ValueError("state_dict must hold linears.{0..L-1}.weight (and .bias, or norms.{l-1}.weight and "
                         f".bias for a batch-norm layer); got keys {list(state_dict)}")
    params = {}
    for l in range(1, L + 1):
        i = l - 1
        params[f"W{l}"] = _to_numpy_any(found[(i, "weight")])
        has_norm = [(i, t) in norms for _, t in _NORM_PARAMS]
        if any(has_norm):
            if not all(has_norm) or (i, "bias") in found or l == L:
                raise ValueError(f"layer {l}: a batch-norm layer must hold norms.{i}.weight and norms.{i}.bias and "
                                 f"no linears.{i}.bias (and the output layer has no batch norm); "
                                 f"got keys {list(state_dict)}")
            for name, torch_name in _NORM_PARAMS:
                params[f"{name}{l}"] = _column(norms[(i, torch_name)])
        elif (i, "bias") in found:
            params[f"b{l}"] = _column(found[(i, "bias")])
        else:
            raise ValueError(f"state_dict must hold linears.{i}.bias (or norms.{i}.weight and .bias for a "
                             f"batch-norm layer); got keys {list(state_dict)}")
    check_params(params)
    return params


def state_dict_to_bn_stats(state_dict):
    """DeepNet state_dict -> the running statistics of its batch-norm layers, as scratch's bn_stats:
    "norms.{l-1}.running_mean", "norms.{l-1}.running_var" (n[l],) -> "mu{l}", "var{l}" (n[l], 1), exact
    copies (running_var stays torch's unbiased average; see course_running_var_to_torch).
    Keys may carry a prefix. Returns None when the state_dict has no running statistics (no batch norm)."""
    norms = _collect(state_dict, _NORM_KEY, "norms")
    layers = sorted({i for i, k in norms if k in ("running_mean", "running_var")})
    if not layers:
        return None
    stats = {}
    for i in layers:
        for name, torch_name in _NORM_STATS:
            if (i, torch_name) not in norms:
                raise ValueError(f"state_dict must hold both norms.{i}.running_mean and norms.{i}.running_var; "
                                 f"got keys {list(state_dict)}")
            stats[f"{name}{i + 1}"] = _column(norms[(i, torch_name)])
    return stats


def scratch_parameters(model):
    """A DeepNet's parameters under scratch's names, in scratch's order (scratch._checks.param_keys):
    {"W1": linears[0].weight, "b1": linears[0].bias, ...}, and for a batch-norm layer l
    "gamma{l}": norms[l-1].weight, "beta{l}": norms[l-1].bias in place of "b{l}". The tensors
    themselves (not copies)."""
    out = OrderedDict()
    norms = getattr(model, "norms", ())
    for l, lin in enumerate(model.linears, start=1):
        out[f"W{l}"] = lin.weight
        norm = norms[l - 1] if l - 1 < len(norms) else None
        if isinstance(norm, torch.nn.modules.batchnorm._BatchNorm):
            out[f"gamma{l}"], out[f"beta{l}"] = norm.weight, norm.bias
        if lin.bias is not None:
            out[f"b{l}"] = lin.bias
    return out


def _as_course(value, p):
    """A parameter-shaped tensor as scratch holds it: a matrix as is, a 1-D (n,) as (n, 1)."""
    return _to_numpy_any(value).reshape(tuple(p.shape) if p.ndim >= 2 else (-1, 1))


def grads_from_model(model):
    """The .grad of each parameter of a DeepNet as scratch grads.

    weight.grad (n[l], n[l-1]) -> dW[l];  bias.grad (n[l],) -> db[l] (n[l], 1);
    batch-norm layer: norms[l-1].weight.grad, .bias.grad (n[l],) -> dgamma[l], dbeta[l] (n[l], 1).
    These equal the course's dW, db, dγ, dβ when the loss is the mean over the m examples.
    """
    grads = {}
    for name, p in scratch_parameters(model).items():
        if p.grad is None:
            raise ValueError(f"model parameter {name} has no .grad; call backward() first")
        grads["d" + name] = _as_course(p.grad, p)
    return grads


def set_grads(model, grads):
    """Write scratch grads into a DeepNet's .grad (the inverse of grads_from_model):
    dW[l] -> weight.grad, db[l] (n[l], 1) -> bias.grad (n[l],), dgamma[l], dbeta[l] -> norms[l-1]'s
    weight.grad, bias.grad. Used to feed scratch's gradients to a torch optimizer."""
    params = scratch_parameters(model)
    for name, p in params.items():
        value = grads.get("d" + name)
        if value is None:
            raise ValueError(f"grads must have key {'d' + name!r}; got keys {sorted(grads)}")
        if value.size != p.numel():
            raise ValueError(f"grads[{'d' + name!r}] must have {p.numel()} entries; got shape {value.shape}")
    for name, p in params.items():
        p.grad = torch.tensor(grads["d" + name].reshape(tuple(p.shape)), dtype=p.dtype, device=p.device)


# ------------------------------------------------------- batch norm, many classes (F39-F41)

def bn_beta_to_momentum(bn_beta):
    """The course's β of the running statistics -> nn.BatchNorm1d's momentum = 1 - β.

    course: μ_run = β μ_run + (1-β) μ_B            (β weighs the PAST, as in F34's EWA)
    torch:  running_mean = (1 - momentum) running_mean + momentum μ_B   (momentum weighs the BATCH)
    β in [0, 1) (scratch's check), so momentum is in (0, 1]. (momentum=None, torch's cumulative
    average over all batches, has no β and is not used.)"""
    return 1.0 - check_beta("bn_beta", bn_beta)


def momentum_to_bn_beta(momentum):
    """nn.BatchNorm1d's momentum -> the course's β = 1 - momentum (the inverse of bn_beta_to_momentum)."""
    if momentum is None:
        raise ValueError("momentum must be a float in (0, 1]; got None (torch's cumulative average over all "
                         "batches, which is not an exponentially weighted average and has no β)")
    return check_beta("bn_beta (= 1 - momentum)", 1.0 - float(momentum))


def unbiased_variance(var, m):
    """The batch variance torch adds into running_var: σ²·m/(m-1) (Bessel's correction) from the biased
    σ² = (1/m) Σ (z - μ)² that both sides normalize with. var: NumPy array; m >= 2 examples.
    Arithmetic (one multiply), not a copy: equal to torch's to rounding. The formula is scratch's
    (scratch.batchnorm.unbiased_variance, which update_running_stats(unbiased=True) uses); m is checked here."""
    return batchnorm.unbiased_variance(var, check_count("m", m, minimum=2))


def course_running_var_to_torch(var, m, num_updates, bn_beta=0.9):
    """A course run's running variance -> what BatchNorm1d holds after the same batches, when every one
    of the num_updates batches had m examples (then the correction is the same factor each time):

        course  σ²_run,n = βⁿ·1 + Σ_k (1-β) βⁿ⁻ᵏ σ²_k              (biased σ²_k, start 1)
        torch   σ²_run,n = βⁿ·1 + Σ_k (1-β) βⁿ⁻ᵏ σ²_k·m/(m-1)       (unbiased)
        so      torch = βⁿ + (m/(m-1)) (course - βⁿ)

    (The running means are equal: the mean has no such correction.) With batches of different sizes
    (a smaller last mini-batch) no closed form exists: use scratch's update_running_stats(unbiased=True).
    Arithmetic, equal to torch's to rounding."""
    num_updates = check_count("num_updates", num_updates, minimum=0)
    start = check_beta("bn_beta", bn_beta) ** num_updates
    return start + unbiased_variance(var - start, m)


def one_hot_to_indices(Y, device=None):
    """One-hot labels (C, m) (scratch) -> class indices (m,) int64 (F.cross_entropy's target, torchmetrics'
    multiclass target): index_i = the row of the 1 in column i = Y.argmax(0). Exact. Y is checked to be
    one-hot (C >= 2, entries 0/1, one 1 per column): argmax would silently pick a class otherwise."""
    check_one_hot("Y", Y)
    return torch.as_tensor(np.argmax(Y, axis=0).astype(np.int64), device=device)


def indices_to_one_hot(indices, C, dtype=np.float64):
    """Class indices (m,) (a tensor or array) -> one-hot (C, m) NumPy array (scratch.losses.one_hot),
    the inverse of one_hot_to_indices."""
    if isinstance(indices, torch.Tensor):
        indices = _to_numpy_any(indices)
    return one_hot(indices, C, dtype=dtype)


def logistic_to_params(w, b):
    """Logistic regression (F05) as a one-layer network.

    w (n_x, 1), b scalar  ->  {"W1": wᵀ (1, n_x), "b1": [[b]] (1, 1)}
    so that ŷ = σ(wᵀX + b) = σ(W1 X + b1) = sigmoid(nn.Linear(n_x, 1)(x)).
    """
    check_matrix("w", w, cols=1, finite=False, layout="(n_x, 1)")
    return {"W1": w.T.copy(), "b1": np.full((1, 1), b, dtype=w.dtype)}


def params_to_logistic(params):
    """The inverse of logistic_to_params: {"W1": (1, n_x), "b1": (1, 1)} -> w = W1ᵀ (n_x, 1),
    b = b1[0, 0], a NumPy scalar of b1's dtype (float(b) for a Python float).
    Works for gradients too ({"W1": dW1, "b1": db1} -> dw, db)."""
    check_matrix("W1", params["W1"], rows=1, finite=False, layout="(1, n_x)")
    check_matrix("b1", params["b1"], rows=1, cols=1, finite=False, layout="(1, 1)")
    return params["W1"].T.copy(), params["b1"][0, 0].copy()


def masks_to_torch(masks, device=None):
    """Dropout masks, course -> batch first: D[l] (n[l], m) -> mask (m, n[l]) = D[l]ᵀ.

    masks: list of L-1 boolean arrays (one per hidden layer) or None (returned as None).
    """
    if masks is None:
        return None
    out = []
    for l, D in enumerate(masks, start=1):
        check_matrix(f"masks[{l - 1}]", D, finite=False, layout=f"(n[{l}], m)")
        if D.dtype != np.bool_:
            raise TypeError(f"masks[{l - 1}] must be a boolean array; got dtype {D.dtype}")
        out.append(to_torch(D, device=device))
    return out


def masks_to_numpy(masks):
    """Dropout masks, batch first -> course: mask (m, n[l]) -> D[l] = maskᵀ (n[l], m)."""
    return None if masks is None else [to_numpy(t) for t in masks]


def keep_prob_to_p(keep_prob):
    """Course keep_prob (probability to KEEP a unit) -> nn.Dropout's p (to DROP): p = 1 - keep_prob."""
    return 1.0 - check_keep_prob("keep_prob", keep_prob)


def p_to_keep_prob(p):
    """nn.Dropout's p (probability to DROP) -> the course's keep_prob = 1 - p."""
    return check_keep_prob("keep_prob (= 1 - p)", 1.0 - float(p))


def l2_weight_decay(lambd, m):
    """The course's L2 term as SGD weight decay.

    Cost:  J_reg = J + λ/(2m) Σ_l ‖W[l]‖²_F   =>   dW[l] += (λ/m) W[l]   (the ½ cancels the 2)
    SGD:   g = grad + weight_decay · W         =>   weight_decay = λ/m
    So W := W - α(dW + (λ/m)W) = (1 - αλ/m)W - α·dW, applied to weights only (not biases).
    """
    lambd = check_nonneg("lambd", lambd)
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m must be a positive int (number of examples); got {m!r}")
    return lambd / m


def _parameters(model_or_params):
    """The tensors to optimize: model.parameters() of an nn.Module, the values of a dict
    name -> tensor, or an iterable of tensors (in its order)."""
    if isinstance(model_or_params, torch.nn.Module):
        params = list(model_or_params.parameters())
    elif isinstance(model_or_params, Mapping):
        params = list(model_or_params.values())
    elif isinstance(model_or_params, (str, bytes, torch.Tensor)) or not hasattr(model_or_params, "__iter__"):
        raise TypeError("model_or_params must be an nn.Module, a dict name -> tensor or a list of tensors; "
                        f"got {type(model_or_params).__name__}")
    else:
        params = list(model_or_params)
    bad = [type(p).__name__ for p in params if not isinstance(p, torch.Tensor)]
    if bad or not params:
        raise TypeError("model_or_params must hold at least one tensor (a parameter) and nothing else; "
                        f"got {len(params)} entries" + (f", among them a {bad[0]}" if bad else ""))
    return params


def sgd_param_groups(model, lambd, m):
    """Parameter groups for torch.optim.SGD matching the course's L2 (F20):
    weights (every parameter with ndim >= 2, i.e. each W[l]) decay by λ/m, biases do not, nor do
    batch norm's γ[l], β[l] (1-D, like biases: the course's L2 is λ/(2m) Σ‖W[l]‖² alone).

    [{"params": weights, "weight_decay": λ/m}, {"params": biases, "weight_decay": 0.0}]
    model: an nn.Module (or, as for optimizer_for, a dict or list of tensors).
    """
    decay = l2_weight_decay(lambd, m)
    params = _parameters(model)
    weights = [p for p in params if p.ndim >= 2]
    biases = [p for p in params if p.ndim < 2]
    return [{"params": weights, "weight_decay": decay}, {"params": biases, "weight_decay": 0.0}]


def sgd_for(model, learning_rate, lambd=0.0, m=None):
    """torch.optim.SGD doing the course's update θ := θ - α dθ (F13), with the course's
    L2 as weight decay λ/m on weights only when lambd > 0 (then m is required)."""
    if lambd and m is None:
        raise ValueError("m (number of examples) is required when lambd > 0: weight_decay = λ/m")
    groups = sgd_param_groups(model, lambd, m if m is not None else 1)
    return torch.optim.SGD(groups, lr=learning_rate)


def batch_rows(columns, device=None):
    """One epoch's batches of scratch.plan.Plan.batches (course-layout column indices of X) as row
    indices of the batch-first x on `device`, moved in ONE transfer per epoch (a copy per step would be
    a host-to-device synchronisation per step on a GPU). [None] (full batch) is returned as is."""
    if columns[0] is None:
        return columns
    rows = torch.as_tensor(np.concatenate(columns), device=device)
    return list(torch.split(rows, [len(c) for c in columns]))


# ------------------------------------------------------------ optimizers (F35-F37)

def optimizer_for(model_or_params, optimizer, learning_rate, *, beta=0.9, beta1=0.9, beta2=0.999,
                  epsilon=1e-8, lambd=0.0, m=None):
    """A torch.optim optimizer doing the update of scratch.optimizers, step for step.

    model_or_params: an nn.Module (e.g. DeepNet), a dict name -> tensor or a list of tensors.
    optimizer: "gd" | "momentum" | "rmsprop" | "adam"; each uses only its own hyperparameters.
    Per parameter θ with gradient dθ (torch's p.grad), α = learning_rate:

    "gd"        course: θ := θ - α dθ
                torch:  SGD(lr=α) (the same group layout as sgd_for)
    "momentum"  course: v = β v + (1-β) dθ, v_0 = 0;  θ := θ - α v
                torch:  SGD(lr=α, momentum=β, dampening=β): buf = β·buf + (1 - dampening)·dθ;
                        θ := θ - α buf. But torch starts an absent buffer at buf_1 = dθ_1 (sgd.py:
                        `if buf is None: buf = clone(grad)`), not at (1-β)dθ_1; a buffer already in
                        optimizer.state[p]["momentum_buffer"] is used as
                        `buf.mul_(momentum).add_(grad, alpha=1 - dampening)`. So each parameter gets a
                        ZERO momentum_buffer here, and the first step is buf_1 = β·0 + (1-β)dθ_1 = v_1:
                        the course's recursion exactly, from step 1. (Without it buf_k = v_k + βᵏ dθ_1 and
                        torch's θ_k = the course's θ_k - α dθ_1 (β + β² + ... + βᵏ): see the tests.)
    "rmsprop"   course: s = β₂ s + (1-β₂) dθ², s_0 = 0;  θ := θ - α dθ / (√s + ε)
                torch:  RMSprop(lr=α, alpha=β₂, eps=ε, momentum=0, centered=False): square_avg = s;
                        torch's alpha is the weight of the PAST (β₂), not of dθ²; ε added to √s, no
                        bias correction (neither side has one).
    "adam"      course: v = β₁ v + (1-β₁) dθ, s = β₂ s + (1-β₂) dθ², t = 1, 2, ...;
                        v̂ = v/(1-β₁ᵗ), ŝ = s/(1-β₂ᵗ);  θ := θ - α v̂ / (√ŝ + ε)
                torch:  Adam(lr=α, betas=(β₁, β₂), eps=ε): exp_avg = v (updated as v + (1-β₁)(dθ - v),
                        a lerp: the same v to rounding), exp_avg_sq = s, state "step" = t (a float tensor
                        counting the steps taken); θ := θ - (α/(1-β₁ᵗ)) v / (√s/√(1-β₂ᵗ) + ε).
                        ε sits in the same place on both sides: added to √ŝ, the root of the
                        bias-corrected s (not to √s before the correction).

    L2 (F20), lambd > 0 (then m is required): the course adds (λ/m)W[l] to dW[l] (the gradient of
    λ/(2m) Σ‖W[l]‖²) BEFORE any optimizer sees it. torch's weight_decay in SGD, RMSprop and Adam does
    exactly that, dθ + weight_decay·θ, before its moments: so weight_decay = λ/m on the weights only
    (ndim >= 2), biases 0, for every optimizer here. (AdamW's decoupled decay θ := θ - αλ'θ is a
    different update, and is not used.)
    """
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}; got {optimizer!r}")
    learning_rate = check_positive("learning_rate", learning_rate)
    lambd = check_nonneg("lambd", lambd)
    if lambd and m is None:
        raise ValueError("m (number of examples) is required when lambd > 0: weight_decay = λ/m")
    if optimizer == "gd":
        return sgd_for(model_or_params, learning_rate, lambd=lambd, m=m)
    groups = sgd_param_groups(model_or_params, lambd, m if m is not None else 1)
    if optimizer == "momentum":
        beta = check_beta("beta", beta)
        opt = torch.optim.SGD(groups, lr=learning_rate, momentum=beta, dampening=beta)
        if beta > 0:                     # β = 0: torch's momentum = 0 is plain SGD, no buffer at all
            for group in opt.param_groups:
                for p in group["params"]:
                    opt.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return opt
    if optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=learning_rate, alpha=check_beta("beta2", beta2),
                                   eps=check_positive("epsilon", epsilon), momentum=0, centered=False)
    return torch.optim.Adam(groups, lr=learning_rate,
                            betas=(check_beta("beta1", beta1), check_beta("beta2", beta2)),
                            eps=check_positive("epsilon", epsilon))


def set_weight_decay(optimizer, lambd, m):
    """The course's L2 for one step of m examples, on an optimizer made by optimizer_for or sgd_for:
    weight_decay = λ/m on its groups of weights (ndim >= 2), biases left at 0. With mini-batches the
    course's cost of a batch of m_k examples is J_k + λ/(2m_k) Σ‖W‖², gradient dW + (λ/m_k)W, so the
    decay follows m_k (the last batch may be smaller): set it before each step. In place; returns it."""
    decay = l2_weight_decay(lambd, m)
    for i, group in enumerate(optimizer.param_groups):
        kinds = {p.ndim >= 2 for p in group["params"]}
        if len(kinds) > 1:
            raise ValueError(f"optimizer.param_groups[{i}] mixes weights and biases; build the optimizer "
                             "with optimizer_for (a group of weights, a group of biases)")
        if kinds == {True}:
            group["weight_decay"] = decay
    return optimizer


def optimizer_state(optimizer, model):
    """torch's optimizer state of a DeepNet under the course's names (for parity checks):
    {"v": {"dW1": (n[1], n[0]), "db1": (n[1], 1), ...}, "s": {...}, "t": int}, with only what
    the optimizer keeps:

        SGD momentum_buffer -> v          RMSprop square_avg -> s, step -> t
        Adam exp_avg -> v, exp_avg_sq -> s, step -> t (the number of steps taken)

    Bias (n[l],) -> db[l] (n[l], 1); a batch-norm layer's γ, β (n[l],) -> dgamma[l], dbeta[l] (n[l], 1).
    Fresh NumPy arrays; an entry a parameter lacks is left out.
    """
    names = {"momentum_buffer": "v", "exp_avg": "v", "square_avg": "s", "exp_avg_sq": "s"}
    out = {}
    for name, p in scratch_parameters(model).items():
        state = optimizer.state.get(p, {})
        for torch_name, course_name in names.items():
            if state.get(torch_name) is not None:
                out.setdefault(course_name, {})["d" + name] = _as_course(state[torch_name], p)
        if "step" in state:                        # a float32 tensor (float64 if that is the default)
            out["t"] = int(float(state["step"]))
    return out



_TORCH_STATE = {"momentum": (("momentum_buffer", "v"),), "rmsprop": (("square_avg", "s"),),
                "adam": (("exp_avg", "v"), ("exp_avg_sq", "s"))}


def load_optimizer_state(optimizer, model, opt_state):
    """Put the course's optimizer state into a torch optimizer built by optimizer_for for `model`
    (the inverse of optimizer_state, to resume a run): opt_state {"v": {"dW1": ...}, "s": {...},
    "t": int} -> SGD momentum_buffer = v; RMSprop square_avg = s, step = t; Adam exp_avg = v,
    exp_avg_sq = s, step = t. db[l] (n[l], 1) -> (n[l],). Arrays are copied (in the parameter's dtype,
    on its device); a missing or misshapen entry is a ValueError naming it."""
    if isinstance(optimizer, torch.optim.Adam):
        kind = "adam"
    elif isinstance(optimizer, torch.optim.RMSprop):
        kind = "rmsprop"
    elif isinstance(optimizer, torch.optim.SGD):
        kind = "momentum" if any(g.get("momentum", 0) for g in optimizer.param_groups) else "gd"
    else:
        raise TypeError(f"optimizer must be SGD, RMSprop or Adam (optimizer_for); got {type(optimizer).__name__}")
    if kind == "gd":
        return optimizer
    opt_state = opt_state or {}
    counted = kind in ("rmsprop", "adam")
    if counted and "t" not in opt_state:
        raise ValueError(f"opt_state of {kind} needs t, the number of steps taken; got keys {sorted(opt_state)}")
    for name, p in scratch_parameters(model).items():
        state = optimizer.state[p]
        for torch_name, course_name in _TORCH_STATE[kind]:
            value = (opt_state.get(course_name) or {}).get("d" + name)
            if value is None:
                raise ValueError(f"opt_state[{course_name!r}] has no entry 'd{name}' for the {kind} optimizer")
            value = np.asarray(value)
            if value.size != p.numel() or value.shape not in (tuple(p.shape), (p.numel(), 1)):
                raise ValueError(f"opt_state[{course_name!r}]['d{name}'] has shape {value.shape}; the parameter "
                                 f"{name} has {tuple(p.shape) if p.ndim >= 2 else (p.numel(), 1)}")
            state[torch_name] = torch.tensor(value.reshape(p.shape), dtype=p.dtype, device=p.device)
        if counted:     # the counter optimizer.step creates: a float32 scalar (float64 beyond 2^24 steps)
            t = int(opt_state["t"])
            state["step"] = torch.tensor(float(t), dtype=torch.float32 if t < 2 ** 24 else torch.float64)
    return optimizer

# ------------------------------------------------------ learning-rate decay (F38)

def lr_scheduler_for(optimizer, schedule, kwargs=None, **kw):
    """A torch.optim.lr_scheduler giving, epoch by epoch, scratch.optimizers.LR_SCHEDULES[schedule].

    Call scheduler.step() ONCE PER EPOCH, at its end. torch's scheduler counts its step() calls in
    last_epoch (0 at construction), and the optimizer's lr is then lr0 · factor(last_epoch); so
    epoch e (counting from 0) trains at schedule(lr0, epoch_num=e, **kw), the course's epoch_num,
    as scratch.plan does. (Stepping it after every mini-batch would make last_epoch count
    updates, not epochs: the rate would decay per step, n_batches times as fast.)
    lr0 is the optimizer's lr when the scheduler is made (its "initial_lr"). The schedule's keywords
    come as keywords or as one dict (scratch.plan's (name, kwargs): lr_scheduler_for(opt, *lr_schedule)).

    "inverse_time" (decay_rate):   course α₀/(1 + decay_rate·e)
                                   torch  LambdaLR(e -> 1/(1 + decay_rate·e))
    "staircase" (decay_rate, time_interval=1000):
                                   course α₀/(1 + decay_rate·floor(e/time_interval))
                                   torch  LambdaLR(e -> 1/(1 + decay_rate·floor(e/time_interval)))
    "exponential" (base=0.95):     course baseᵉ·α₀
                                   torch  ExponentialLR(gamma=base): recursive, lr_e = lr_{e-1}·base, so
                                   one rounding per epoch (relative error <= e·2⁻⁵³), not the closed form
    "inverse_sqrt" (k=1.0):        course k/√e·α₀ for e >= 1, α₀ at e = 0 (k/√0 is undefined)
                                   torch  LambdaLR(e -> k/√e if e >= 1 else 1)
    LambdaLR multiplies: lr0·(1/(1 + …)) against the course's lr0/(1 + …), equal to one rounding.
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}")
    if kwargs is not None:
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"kwargs must be a dict of the schedule's keywords; got {type(kwargs).__name__}")
        both = sorted(set(kwargs) & set(kw))
        if both:
            raise ValueError(f"{both[0]} given twice (in kwargs and as a keyword)")
        kw = {**kwargs, **kw}
    schedule, args = check_lr_schedule((schedule, kw))          # scratch's one check, defaults filled in
    if schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args["base"])
    if schedule == "inverse_sqrt":
        k = args["k"]
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: k / math.sqrt(e) if e >= 1 else 1.0)
    rate = args["decay_rate"]
    if schedule == "inverse_time":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1 / (1 + rate * e))
    interval = args["time_interval"]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1 / (1 + rate * (e // interval)))
