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

Every conversion is exact (a transpose, a reshape or a copy, never arithmetic on the
values), so a round trip returns bit-identical arrays. Nothing here mutates its inputs.
"""
import re
from collections import OrderedDict

import numpy as np
import torch

from scratch._checks import check_keep_prob, check_matrix, check_nonneg, check_params

_NUMPY_TO_TORCH = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32,
                   np.dtype(np.float16): torch.float16, np.dtype(np.bool_): torch.bool}
_KEY = re.compile(r"(?:^|\.)linears\.(\d+)\.(weight|bias)$")


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


def params_to_state_dict(params):
    """scratch params -> DeepNet state_dict.

    W[l] (n[l], n[l-1]) -> "linears.{l-1}.weight" (n[l], n[l-1])   (same orientation)
    b[l] (n[l], 1)      -> "linears.{l-1}.bias"   (n[l],)          (bias = b[l].ravel())
    Returns an OrderedDict of new CPU tensors with the params' dtype.
    """
    L = check_params(params)
    sd = OrderedDict()
    for l in range(1, L + 1):
        sd[f"linears.{l - 1}.weight"] = torch.tensor(params[f"W{l}"])
        sd[f"linears.{l - 1}.bias"] = torch.tensor(params[f"b{l}"].reshape(-1))
    return sd


def state_dict_to_params(state_dict):
    """DeepNet state_dict -> scratch params (the exact inverse of params_to_state_dict).

    "linears.{l-1}.weight" (n[l], n[l-1]) -> W[l];  "linears.{l-1}.bias" (n[l],) -> b[l] (n[l], 1).
    Keys may carry a prefix (e.g. "model.linears.0.weight" from a LightningModule);
    other keys are ignored. Returns fresh NumPy arrays with the tensors' dtype.
    """
    found = {}
    for key, value in state_dict.items():
        match = _KEY.search(key)
        if match:
            slot = (int(match.group(1)), match.group(2))
            if slot in found:
                raise ValueError(f"state_dict has two entries for linears.{slot[0]}.{slot[1]}; "
                                 f"got keys {list(state_dict)}")
            found[slot] = value
    L = len(found) // 2
    if L == 0 or set(found) != {(i, k) for i in range(L) for k in ("weight", "bias")}:
        raise ValueError("state_dict must hold linears.{0..L-1}.weight and .bias; "
                         f"got keys {list(state_dict)}")
    params = {}
    for l in range(1, L + 1):
        params[f"W{l}"] = _to_numpy_any(found[(l - 1, "weight")])
        params[f"b{l}"] = _to_numpy_any(found[(l - 1, "bias")]).reshape(-1, 1)
    check_params(params)
    return params


def grads_from_model(model):
    """The .grad of each nn.Linear of `model.linears` as scratch grads.

    weight.grad (n[l], n[l-1]) -> dW[l];  bias.grad (n[l],) -> db[l] (n[l], 1).
    These equal the course's dW, db when the loss is the mean over the m examples.
    """
    grads = {}
    for l, lin in enumerate(model.linears, start=1):
        if lin.weight.grad is None or lin.bias.grad is None:
            raise ValueError(f"model.linears[{l - 1}] has no .grad; call backward() first")
        grads[f"dW{l}"] = _to_numpy_any(lin.weight.grad)
        grads[f"db{l}"] = _to_numpy_any(lin.bias.grad).reshape(-1, 1)
    return grads


def set_grads(model, grads):
    """Write scratch grads into `model.linears` .grad (the inverse of grads_from_model):
    dW[l] -> weight.grad, db[l] (n[l], 1) -> bias.grad (n[l],). Used to feed scratch's
    gradients to a torch optimizer."""
    for l, lin in enumerate(model.linears, start=1):
        for key, p, value in ((f"dW{l}", lin.weight, grads.get(f"dW{l}")),
                              (f"db{l}", lin.bias, grads.get(f"db{l}"))):
            if value is None:
                raise ValueError(f"grads must have key {key!r}; got keys {sorted(grads)}")
            if value.size != p.numel():
                raise ValueError(f"grads[{key!r}] must have {p.numel()} entries; got shape {value.shape}")
        lin.weight.grad = torch.tensor(grads[f"dW{l}"], dtype=lin.weight.dtype, device=lin.weight.device)
        lin.bias.grad = torch.tensor(grads[f"db{l}"].reshape(-1), dtype=lin.bias.dtype,
                                     device=lin.bias.device)


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


def sgd_param_groups(model, lambd, m):
    """Parameter groups for torch.optim.SGD matching the course's L2 (F20):
    weights (every parameter with ndim >= 2, i.e. each W[l]) decay by λ/m, biases do not.

    [{"params": weights, "weight_decay": λ/m}, {"params": biases, "weight_decay": 0.0}]
    """
    decay = l2_weight_decay(lambd, m)
    weights = [p for p in model.parameters() if p.ndim >= 2]
    biases = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": weights, "weight_decay": decay}, {"params": biases, "weight_decay": 0.0}]


def sgd_for(model, learning_rate, lambd=0.0, m=None):
    """torch.optim.SGD doing the course's update θ := θ - α dθ (F13), with the course's
    L2 as weight decay λ/m on weights only when lambd > 0 (then m is required)."""
    if lambd and m is None:
        raise ValueError("m (number of examples) is required when lambd > 0: weight_decay = λ/m")
    groups = sgd_param_groups(model, lambd, m if m is not None else 1)
    return torch.optim.SGD(groups, lr=learning_rate)
