"""An L-layer network for classification: forward, backward, update (F13-F17, F20, F22, F39, F40).

    A[0] = X;  for l = 1..L:  Z[l] = W[l] A[l-1] + b[l],  A[l] = g[l](Z[l])
                              (hidden l < L: optional inverted dropout on A[l])
    ŷ = A[L] = σ(Z[L]) with a sigmoid output layer (two classes, Y (1, m) of 0/1), or
    ŷ = A[L] = softmax(Z[L]) with a softmax output layer (C >= 2 classes, Y one-hot (C, m)).

Batch norm (F40), on a hidden layer whose params hold gamma[l], beta[l] instead of b[l]:
    Z[l] = W[l] A[l-1],  Z̃[l] = γ[l] z_norm + β[l] (scratch.batchnorm),  A[l] = g[l](Z̃[l])
with the batch's statistics in training (bn_stats=None) or given running statistics at prediction.

Logistic regression is the L = 1 case (layer_dims = [n_x, 1], activations ["sigmoid"]),
the course's shallow network the L = 2 case ([n_x, n_h, 1], ["tanh", "sigmoid"]) (F17).

Shapes: X (n_x, m), Y (1, m), W[l] (n[l], n[l-1]), b[l] (n[l], 1), Z[l], A[l] (n[l], m).

caches, one dict per layer l = 1..L (caches[l-1]):
    "linear_activation": ((A[l-1], W[l], b[l]), Z[l])   # A[l-1] after dropout, as layer l saw it
                                                        # batch norm: ((A[l-1], W[l], None), Z̃[l])
    "batchnorm": the cache of batchnorm_forward (training) or None (no batch norm, or prediction)
    "activation": the name of g[l]
    "alpha": leaky_relu's negative slope
    "mask": the dropout mask D[l] applied to A[l] (bool, (n[l], m)), or None
    "keep_prob": keep_prob[l] (1.0 when no dropout)
caches[-1]["linear_activation"][1] is Z[L], the logits.
"""
import numpy as np

from ._checks import (as_generator, check_activation, check_choice, check_keep_prob, check_labels,
                      check_matrix, check_nonneg, check_one_hot, check_params, check_positive,
                      has_batchnorm, param_keys)
from .batchnorm import BN_EPS, batchnorm_backward, batchnorm_forward, batchnorm_predict
from .layers import (WRITE_INTO_OUT, _activation_backward, _dropout_backward, _linear_backward, _linear_forward,
                     activation_forward, dropout_forward)
from .losses import (_cost_from_logits, _l2_penalty, _softmax_cost_from_logits, cost_from_logits, l2_gradient,
                     l2_penalty, softmax_cost_from_logits)


def _check_activations(activations, L):
    if not isinstance(activations, (list, tuple)):
        raise TypeError(f"activations must be a list of {L} names, one per layer 1..L; "
                        f"got {type(activations).__name__}")
    if len(activations) != L:
        raise ValueError(f"activations must have one name per layer, L = {L} (from params); "
                         f"got {len(activations)}")
    return [check_activation(a, f"activations[{i}]", output=i == L - 1) for i, a in enumerate(activations)]


# the output activations whose cross-entropy cost the training loops compute from the logits
OUTPUTS = ("sigmoid", "softmax")


def output_kind(activations):
    """"softmax" when the output layer is a softmax (C classes, one-hot Y), else "sigmoid"."""
    return "softmax" if list(activations)[-1:] == ["softmax"] else "sigmoid"


def check_targets(name, Y, activations, C, m=None):
    """Y of a network whose output layer has C units: (1, m) of 0/1 for a sigmoid output,
    one-hot (C, m) for a softmax output. Returns Y."""
    if output_kind(activations) == "softmax":
        return check_one_hot(name, Y, C=C, m=m)
    return check_labels(name, Y, m=m)


def _check_bn_stats(bn_stats, params, L):
    if not isinstance(bn_stats, dict):
        raise TypeError(f"bn_stats must be a dict {{'mu1', 'var1', ...}} of running statistics or None; "
                        f"got {type(bn_stats).__name__}")
    for l in range(1, L + 1):
        if has_batchnorm(params, l):
            for k in (f"mu{l}", f"var{l}"):
                if k not in bn_stats:
                    raise ValueError(f"bn_stats must have {k!r} for batch-norm layer {l}; got keys {sorted(bn_stats)}")


def _check_dropout_args(keep_probs, masks, L):
    if keep_probs is None:
        if masks is not None:
            raise ValueError("masks were given but keep_probs is None; dropout needs keep_probs "
                             "(one per hidden layer) to scale A[l] * D[l] / keep_prob[l]")
        return None, None
    if not isinstance(keep_probs, (list, tuple)):
        raise TypeError(f"keep_probs must be a list of {L - 1} floats (hidden layers 1..L-1) or None; "
                        f"got {type(keep_probs).__name__}")
    if len(keep_probs) != L - 1:
        raise ValueError(f"keep_probs must have one value per hidden layer, L-1 = {L - 1} "
                         f"(none on the output layer); got {len(keep_probs)}")
    keep_probs = [check_keep_prob(f"keep_probs[{i}]", kp) for i, kp in enumerate(keep_probs)]
    if masks is None:
        masks = [None] * (L - 1)
    elif not isinstance(masks, (list, tuple)) or len(masks) != L - 1:
        got = len(masks) if isinstance(masks, (list, tuple)) else type(masks).__name__
        raise ValueError(f"masks must be a list of {L - 1} boolean arrays (hidden layers 1..L-1) "
                         f"or None; got {got}")
    return keep_probs, list(masks)


def model_forward(X, params, activations, keep_probs=None, rng=None, masks=None, alpha=0.01, bn_stats=None,
                  bn_eps=BN_EPS):
    """Forward pass through L layers (F14), with optional inverted dropout (F22) and batch norm (F40).

    X: (n_x, m), finite. params: {"W1", "b1", ..., "WL", "bL"}; a hidden layer with gamma[l], beta[l]
        (and no b[l]) is batch-normalized.
    activations: L names, g[1]..g[L] (e.g. ["relu", "relu", "sigmoid"]); g[L] may be "softmax".
    keep_probs: L-1 floats in (0, 1], dropout on hidden A[1]..A[L-1]; none on the
        output layer. None: no dropout.
    masks: L-1 bool arrays shaped like A[l] (or None entries), used instead of
        drawing D[l] = rand < keep_prob[l] from rng (int seed / Generator / None).
    alpha: leaky_relu's negative slope.
    bn_stats: None (training: each batch-norm layer uses the batch's μ, σ², m >= 2), or the running
        statistics {"mu{l}", "var{l}"} (prediction, scratch.batchnorm). bn_eps: batch norm's ε.
    Returns AL = A[L]: (n[L], m) and caches (see the module docstring).
    """
    check_matrix("X", X, layout="(n_x, m)")
    L = check_params(params, n_x=X.shape[0])
    activations = _check_activations(activations, L)
    keep_probs, masks = _check_dropout_args(keep_probs, masks, L)
    if bn_stats is not None:
        _check_bn_stats(bn_stats, params, L)
    if keep_probs is not None and any(mk is None for mk in masks):
        rng = as_generator(rng)
    return _forward(X, params, activations, L, keep_probs, rng, masks, alpha, bn_stats, bn_eps)


def _buffer(workspace, key, shape, dtype):
    """workspace[key], an array of `shape` and `dtype` (made there when missing or of another shape).
    The training loop keeps one dict from step to step: step i+1 writes its
    hidden layers' Z[l], A[l] (see _forward) and dA[l] into the arrays that held step i's, which nothing
    reads any more.
    A fresh array of tens of MiB comes from the OS page by page at every step (on [784, 1024, 1024, 1]
    at m = 8192, float32, a tenth of the step); a reused one does not. The numbers are the same: only
    where they are written changes."""
    array = workspace.get(key)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = workspace[key] = np.empty(shape, dtype)
    return array


def _forward(X, params, activations, L, keep_probs=None, rng=None, masks=None, alpha=0.01, bn_stats=None,
             bn_eps=BN_EPS, workspace=None):
    """model_forward's computation, without its checks: the training loop checks its arguments once,
    at its entry, and calls this every step (masks: a list of L-1 masks or Nones, when keep_probs).
    workspace: None, or the training loop's dict of reused arrays (see _buffer) for the hidden layers'
    Z[l] and A[l]; the caches then hold those arrays until the next step with that workspace."""
    A = X
    caches = []
    m = X.shape[1]
    for l in range(1, L + 1):
        bn_cache = None
        W, bn = params[f"W{l}"], has_batchnorm(params, l)
        Z_out = A_out = None
        if workspace is not None and l < L:
            # reused arrays for what the caches keep: Z[l] and A[l] of a hidden layer, unless a batch norm
            # follows (its cache keeps Z̃[l], not Z[l]) or dropout (its cache keeps A[l]·D[l]/keep_prob)
            shape, dtype = (W.shape[0], m), np.result_type(W, A)      # Z[l] = W[l] A[l-1] (+ b[l])
            if not bn:
                Z_out = _buffer(workspace, f"Z{l}", shape, dtype)
            if keep_probs is None and activations[l - 1] in WRITE_INTO_OUT:
                A_out = _buffer(workspace, f"A{l}", shape, dtype)
        if bn:
            gamma, beta = params[f"gamma{l}"], params[f"beta{l}"]
            Z, linear_cache = _linear_forward(A, W, None, out=Z_out)           # b[l] dropped: β[l] replaces it
            if bn_stats is None:
                Z, bn_cache = batchnorm_forward(Z, gamma, beta, bn_eps)       # Z̃[l], batch statistics
            else:
                Z = batchnorm_predict(Z, gamma, beta, bn_stats[f"mu{l}"], bn_stats[f"var{l}"], bn_eps)
        else:
            Z, linear_cache = _linear_forward(A, W, params[f"b{l}"], out=Z_out)
        A, linear_activation_cache = activation_forward(Z, activations[l - 1], alpha, out=A_out), (linear_cache, Z)
        mask, keep_prob = None, 1.0
        if l < L and keep_probs is not None:
            keep_prob = keep_probs[l - 1]
            A, mask = dropout_forward(A, keep_prob, rng=rng, mask=masks[l - 1])
        caches.append({"linear_activation": linear_activation_cache, "activation": activations[l - 1],
                       "alpha": alpha, "mask": mask, "keep_prob": keep_prob, "batchnorm": bn_cache})
    return A, caches


def model_backward(AL, Y, caches, lambd=0.0, output="fused", at_zero=None):
    """Backward pass through L layers (F15, F16, F20, F22, F39, F40). Returns fresh grads
    {"dW1", "db1", ..., "dWL", "dbL"} (a batch-norm layer: "dW{l}", "dgamma{l}", "dbeta{l}"),
    in layer order; nothing accumulates across calls.

    AL: (n[L], m) from model_forward; Y: (1, m) in {0, 1} (sigmoid output) or one-hot (C, m)
    (softmax output); caches from model_forward.
    Output layer, for the cross-entropy cost J = -(1/m) Σ [y log a + (1-y) log(1-a)]:
      output="general": dA[L] = -(Y/AL) + (1-Y)/(1-AL), then dZ[L] = dA[L] * g[L]'(Z[L]);
                        infinite where AL saturates at the wrong label;
      output="fused":   with g[L] = σ, σ' = A(1-A) cancels the denominators:
                        dZ[L] = A[L] - Y, finite everywhere (requires a sigmoid output).
    Softmax output, J = -(1/m) Σ_i Σ_k y_ki log a_ki: dZ[L] = A[L] - Y as well (F39): ∂L/∂z_k =
      Σ_j (-y_j/a_j) a_j(δ_jk - a_k) = -y_k + a_k Σ_j y_j = a_k - y_k, since Σ_j y_j = 1;
      only output="fused" (softmax's Jacobian is not elementwise).
    Hidden layers l = L-1..1: dA[l] = W[l+1]ᵀ dZ[l+1]; dropout: dA[l] = dA[l] * D[l] / keep_prob[l];
      dZ[l] = dA[l] * g[l]'(Z[l]) (at_zero: relu'/leaky'(0), None -> torch's value);
      batch norm: dZ̃[l] = dA[l] * g[l]'(Z̃[l]), then dZ[l], dγ[l], dβ[l] = batchnorm_backward(dZ̃[l]).
    Every layer: dW[l] = (1/m) dZ[l] A[l-1]ᵀ + (λ/m) W[l]   (L2, F20), db[l] = (1/m) Σ dZ[l].
    """
    if not isinstance(caches, (list, tuple)) or not caches or not all(isinstance(c, dict) for c in caches):
        raise TypeError(f"caches must be the non-empty list of dicts from model_forward; "
                        f"got {type(caches).__name__}")
    out = caches[-1]
    ZL = out["linear_activation"][1]
    softmax_out = out["activation"] == "softmax"
    check_matrix("AL", AL, rows=ZL.shape[0], cols=ZL.shape[1], finite=False,
                 layout="(C, m)" if softmax_out else "(1, m)", why="(the shape of Z[L] in caches)")
    if softmax_out:
        check_one_hot("Y", Y, C=AL.shape[0], m=AL.shape[1])
    else:
        check_labels("Y", Y, m=AL.shape[1])
    lambd = check_nonneg("lambd", lambd)
    check_choice("output", output, ("fused", "general"))
    if output == "fused" and out["activation"] not in OUTPUTS:
        raise ValueError(f"output='fused' (dZ[L] = AL - Y) requires a sigmoid or softmax output layer; got "
                         f"activation {out['activation']!r}: use output='general'")
    if output == "general" and softmax_out:
        raise ValueError("output='general' needs an elementwise g'(Z[L]); a softmax output layer has "
                         "output='fused' only (dZ[L] = A[L] - Y)")
    for l, cache in enumerate(caches[:-1], start=1):
        if cache["linear_activation"][0][2] is None and cache.get("batchnorm") is None:
            raise ValueError(f"caches[{l - 1}] is a batch-norm layer from a forward pass in prediction "
                             f"mode (bn_stats given); backward needs the training-mode caches (bn_stats=None)")
    return _backward(AL, Y, caches, lambd, output, at_zero)


def _backward(AL, Y, caches, lambd=0.0, output="fused", at_zero=None, workspace=None):
    """model_backward's computation, without its checks (the training loop checks once, at its entry).
    dA[0] = W[1]ᵀ dZ[1], the gradient of the data X, is not computed: no parameter needs it.
    workspace: None, or _forward's, for the hidden layers' dA[l] (see _buffer)."""
    L = len(caches)
    out = caches[-1]
    Y = Y.astype(AL.dtype, copy=False)
    m = AL.shape[1]
    grads = {}

    if output == "fused":
        # σ: dL/dZ = (dL/dA) σ'(Z) = (-(y/a) + (1-y)/(1-a)) a(1-a) = a - y;  softmax: see model_backward
        dZ = AL - Y
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            dAL = -(Y / AL) + (1 - Y) / (1 - AL)
        dZ = _activation_backward(dAL, out["linear_activation"][1], out["activation"], at_zero,
                                  out.get("alpha", 0.01))
    dA, grads[f"dW{L}"], grads[f"db{L}"] = _linear_backward(dZ, out["linear_activation"][0], need_dA_prev=L > 1,
                                                            out=_dA_buffer(workspace, caches, L - 1))

    for l in range(L - 1, 0, -1):
        cache = caches[l - 1]
        if cache["mask"] is not None:
            # A[l] was A[l] * D[l] / keep_prob: the same mask routes the gradient back
            dA = _dropout_backward(dA, cache["mask"], cache["keep_prob"], out=dA)
        linear_cache, Z = cache["linear_activation"]
        dZ = _activation_backward(dA, Z, cache["activation"], at_zero, cache.get("alpha", 0.01), overwrite_dA=True)
        if cache.get("batchnorm") is not None:              # Z is Z̃[l]: back through the batch norm
            dZ, grads[f"dgamma{l}"], grads[f"dbeta{l}"] = batchnorm_backward(dZ, cache["batchnorm"])
        dA, grads[f"dW{l}"], db = _linear_backward(dZ, linear_cache, need_dA_prev=l > 1,
                                                   out=_dA_buffer(workspace, caches, l - 1))
        if db is not None:
            grads[f"db{l}"] = db

    if lambd > 0:
        for l in range(1, L + 1):
            W = caches[l - 1]["linear_activation"][0][1]
            grads[f"dW{l}"] += l2_gradient(W, lambd, m)
    order = [f"d{p}{l}" for l in range(1, L + 1)
             for p in (("W", "gamma", "beta") if f"dgamma{l}" in grads else ("W", "b"))]
    return {k: grads[k] for k in order}


def _dA_buffer(workspace, caches, l):
    """The workspace's array for dA[l], shaped like A[l] (layer l+1's A_prev); None for l = 0 (dA[0] is
    not computed) or without a workspace."""
    if workspace is None or l == 0:
        return None
    A = caches[l]["linear_activation"][0][0]
    return _buffer(workspace, f"dA{l}", A.shape, A.dtype)


def update_parameters(params, grads, learning_rate):
    """One step of gradient descent (F13): θ := θ - α dθ for every parameter (W[l], b[l]; batch
    norm's γ[l], β[l]).

    params {"W1", "b1", ...}, grads {"dW1", "db1", ...} of the same shapes, α > 0.
    Returns a NEW dict of new arrays; params and grads are left unchanged.
    """
    keys = param_keys(params)
    learning_rate = check_positive("learning_rate", learning_rate)
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict {{'dW1', 'db1', ...}}; got {type(grads).__name__}")
    for p in keys:
        if "d" + p not in grads:
            raise ValueError(f"grads must have key 'd{p}' for params['{p}']; got keys {sorted(grads)}")
        check_matrix("d" + p, grads["d" + p], rows=params[p].shape[0], cols=params[p].shape[1],
                     finite=False, layout=f"{params[p].shape}", why=f"(the shape of {p})")
    new = {p: params[p].copy() for p in keys}
    _gd_step(new, grads, learning_rate)
    return new


def _gd_step(params, grads, learning_rate):
    """θ := θ - α dθ for every parameter of params, IN PLACE on params' arrays (update_parameters
    works on copies; the training loop on the arrays it owns). Unchecked."""
    for p, theta in params.items():
        theta -= learning_rate * grads["d" + p]


def predict(X, params, activations, alpha=0.01, bn_stats=None, bn_eps=BN_EPS):
    """Predictions of A[L] without dropout (none at prediction time), F32 / F39:
    sigmoid output: ŷ = 1 where A[L] > 0.5, else 0; softmax output: ŷ = the class k with the
    largest a_k (argmax over the rows). X: (n_x, m). Returns a (1, m) int array.
    Batch-norm layers normalize with bn_stats, the running statistics from training (required when
    params have batch norm: prediction never uses the batch's own statistics).
    Non-finite parameters raise ValueError naming the key: NaN > 0.5 is False, so a NaN
    weight would otherwise predict 0 for every example without a word."""
    check_matrix("X", X, layout="(n_x, m)")
    L = check_params(params, n_x=X.shape[0], finite=True)
    if bn_stats is None and any(has_batchnorm(params, l) for l in range(1, L + 1)):
        raise ValueError("params have batch-norm layers: predict needs their running statistics bn_stats "
                         "{'mu1', 'var1', ...} (e.g. TrainResult.bn_stats)")
    AL, _ = model_forward(X, params, activations, alpha=alpha, bn_stats=bn_stats, bn_eps=bn_eps)
    if output_kind(activations) == "softmax":
        return np.argmax(AL, axis=0).reshape(1, -1)
    return (AL > 0.5).astype(int)


def model_cost(X, Y, params, activations, lambd=0.0, keep_probs=None, masks=None, rng=None, alpha=0.01,
               bn_stats=None, bn_eps=BN_EPS):
    """The training cost, computed here (and by cost_from_caches, below) and nowhere else:

        J = cost_from_logits(Z[L], Y) + λ/(2m) Σ_l ‖W[l]‖²_F              (sigmoid output)
        J = softmax_cost_from_logits(Z[L], Y) + λ/(2m) Σ_l ‖W[l]‖²_F      (softmax output)

    (cross-entropy from the logits, stable for any Z[L], + L2). With dropout the
    forward pass uses keep_probs and masks (or draws from rng), as in training; batch norm uses
    the batch's statistics, or bn_stats when given. X: (n_x, m), Y: (1, m) or one-hot (C, m).
    Returns a float.
    """
    check_matrix("X", X, layout="(n_x, m)")
    lambd = check_nonneg("lambd", lambd)
    if isinstance(activations, (list, tuple)) and activations and activations[-1] not in OUTPUTS:
        raise ValueError(f"model_cost is the cross-entropy of a sigmoid or softmax output: activations[-1] "
                         f"must be 'sigmoid' or 'softmax'; got {activations[-1]!r}")
    _, caches = model_forward(X, params, activations, keep_probs=keep_probs, rng=rng, masks=masks,
                              alpha=alpha, bn_stats=bn_stats, bn_eps=bn_eps)
    return cost_from_caches(caches, Y, params, lambd)


def cost_from_caches(caches, Y, params, lambd=0.0):
    """J = cross-entropy from the logits Z[L] (cost_from_logits, or softmax_cost_from_logits for a
    softmax output) + λ/(2m) Σ_l ‖W[l]‖²_F, from the caches of a forward pass already made (the
    training loop's, so that J_i costs no second forward pass). Returns a float."""
    ZL = caches[-1]["linear_activation"][1]
    data_cost = softmax_cost_from_logits if caches[-1]["activation"] == "softmax" else cost_from_logits
    return data_cost(ZL, Y) + l2_penalty(params, lambd, ZL.shape[1])


def _cost(caches, Y, params, lambd=0.0):
    """cost_from_caches without the checks of Y and params (the training loop checked them once)."""
    ZL = caches[-1]["linear_activation"][1]
    data_cost = _softmax_cost_from_logits if caches[-1]["activation"] == "softmax" else _cost_from_logits
    return data_cost(ZL, Y) + _l2_penalty(params, lambd, ZL.shape[1])
