"""An L-layer network for binary classification: forward, backward, update (F13-F17, F20, F22).

    A[0] = X;  for l = 1..L:  Z[l] = W[l] A[l-1] + b[l],  A[l] = g[l](Z[l])
                              (hidden l < L: optional inverted dropout on A[l])
    ŷ = A[L] = σ(Z[L]) with a sigmoid output layer.

Logistic regression is the L = 1 case (layer_dims = [n_x, 1], activations ["sigmoid"]),
the course's shallow network the L = 2 case ([n_x, n_h, 1], ["tanh", "sigmoid"]) (F17).

Shapes: X (n_x, m), Y (1, m), W[l] (n[l], n[l-1]), b[l] (n[l], 1), Z[l], A[l] (n[l], m).

caches, one dict per layer l = 1..L (caches[l-1]):
    "linear_activation": ((A[l-1], W[l], b[l]), Z[l])   # A[l-1] after dropout, as layer l saw it
    "activation": the name of g[l]
    "alpha": leaky_relu's negative slope
    "mask": the dropout mask D[l] applied to A[l] (bool, (n[l], m)), or None
    "keep_prob": keep_prob[l] (1.0 when no dropout)
caches[-1]["linear_activation"][1] is Z[L], the logits.
"""
import numpy as np

from ._checks import (as_generator, check_activation, check_choice, check_keep_prob,
                      check_labels, check_matrix, check_nonneg, check_params, check_positive)
from .layers import (dropout_backward, dropout_forward, linear_activation_backward,
                     linear_activation_forward, linear_backward)
from .losses import cost_from_logits, l2_gradient, l2_penalty


def _check_activations(activations, L):
    if not isinstance(activations, (list, tuple)):
        raise TypeError(f"activations must be a list of {L} names, one per layer 1..L; "
                        f"got {type(activations).__name__}")
    if len(activations) != L:
        raise ValueError(f"activations must have one name per layer, L = {L} (from params); "
                         f"got {len(activations)}")
    return [check_activation(a, f"activations[{i}]") for i, a in enumerate(activations)]


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


def model_forward(X, params, activations, keep_probs=None, rng=None, masks=None, alpha=0.01):
    """Forward pass through L layers (F14), with optional inverted dropout (F22).

    X: (n_x, m), finite. params: {"W1", "b1", ..., "WL", "bL"}.
    activations: L names, g[1]..g[L] (e.g. ["relu", "relu", "sigmoid"]).
    keep_probs: L-1 floats in (0, 1], dropout on hidden A[1]..A[L-1]; none on the
        output layer. None: no dropout.
    masks: L-1 bool arrays shaped like A[l] (or None entries), used instead of
        drawing D[l] = rand < keep_prob[l] from rng (int seed / Generator / None).
    alpha: leaky_relu's negative slope.
    Returns AL = A[L]: (n[L], m) and caches (see the module docstring).
    """
    check_matrix("X", X, layout="(n_x, m)")
    L = check_params(params, n_x=X.shape[0])
    activations = _check_activations(activations, L)
    keep_probs, masks = _check_dropout_args(keep_probs, masks, L)
    if keep_probs is not None and any(mk is None for mk in masks):
        rng = as_generator(rng)
    A = X
    caches = []
    for l in range(1, L + 1):
        A, linear_activation_cache = linear_activation_forward(
            A, params[f"W{l}"], params[f"b{l}"], activations[l - 1], alpha=alpha)
        mask, keep_prob = None, 1.0
        if l < L and keep_probs is not None:
            keep_prob = keep_probs[l - 1]
            A, mask = dropout_forward(A, keep_prob, rng=rng, mask=masks[l - 1])
        caches.append({"linear_activation": linear_activation_cache, "activation": activations[l - 1],
                       "alpha": alpha, "mask": mask, "keep_prob": keep_prob})
    return A, caches


def model_backward(AL, Y, caches, lambd=0.0, output="fused", at_zero=None):
    """Backward pass through L layers (F15, F16, F20, F22). Returns fresh
    grads {"dW1", "db1", ..., "dWL", "dbL"} (nothing accumulates across calls).

    AL: (1, m) from model_forward, Y: (1, m) in {0, 1}, caches from model_forward.
    Output layer, for the cross-entropy cost J = -(1/m) Σ [y log a + (1-y) log(1-a)]:
      output="general": dA[L] = -(Y/AL) + (1-Y)/(1-AL), then dZ[L] = dA[L] * g[L]'(Z[L]);
                        infinite where AL saturates at the wrong label;
      output="fused":   with g[L] = σ, σ' = A(1-A) cancels the denominators:
                        dZ[L] = A[L] - Y, finite everywhere (requires a sigmoid output).
    Hidden layers l = L-1..1: dA[l] = W[l+1]ᵀ dZ[l+1]; dropout: dA[l] = dA[l] * D[l] / keep_prob[l];
      dZ[l] = dA[l] * g[l]'(Z[l]) (at_zero: relu'/leaky'(0), None -> torch's value).
    Every layer: dW[l] = (1/m) dZ[l] A[l-1]ᵀ + (λ/m) W[l]   (L2, F20), db[l] = (1/m) Σ dZ[l].
    """
    if not isinstance(caches, (list, tuple)) or not caches or not all(isinstance(c, dict) for c in caches):
        raise TypeError(f"caches must be the non-empty list of dicts from model_forward; "
                        f"got {type(caches).__name__}")
    L = len(caches)
    ZL = caches[-1]["linear_activation"][1]
    check_matrix("AL", AL, rows=1, cols=ZL.shape[1], finite=False, layout="(1, m)",
                 why="(the shape of Z[L] in caches)")
    check_labels("Y", Y, m=AL.shape[1])
    lambd = check_nonneg("lambd", lambd)
    check_choice("output", output, ("fused", "general"))
    Y = Y.astype(AL.dtype, copy=False)
    m = AL.shape[1]
    grads = {}

    out = caches[-1]
    if output == "fused":
        if out["activation"] != "sigmoid":
            raise ValueError(f"output='fused' (dZ[L] = AL - Y) requires a sigmoid output layer; got "
                             f"activation {out['activation']!r}: use output='general'")
        # dL/dZ = (dL/dA) σ'(Z) = (-(y/a) + (1-y)/(1-a)) a(1-a) = a - y
        dA, dW, db = linear_backward(AL - Y, out["linear_activation"][0])
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            dAL = -(Y / AL) + (1 - Y) / (1 - AL)
        dA, dW, db = linear_activation_backward(dAL, out["linear_activation"], out["activation"],
                                                at_zero=at_zero, alpha=out.get("alpha", 0.01))
    grads[f"dW{L}"], grads[f"db{L}"] = dW, db

    for l in range(L - 1, 0, -1):
        cache = caches[l - 1]
        if cache["mask"] is not None:
            # A[l] was A[l] * D[l] / keep_prob: the same mask routes the gradient back
            dA = dropout_backward(dA, cache["mask"], cache["keep_prob"])
        dA, dW, db = linear_activation_backward(dA, cache["linear_activation"], cache["activation"],
                                                at_zero=at_zero, alpha=cache.get("alpha", 0.01))
        grads[f"dW{l}"], grads[f"db{l}"] = dW, db

    if lambd > 0:
        for l in range(1, L + 1):
            W = caches[l - 1]["linear_activation"][0][1]
            grads[f"dW{l}"] = grads[f"dW{l}"] + l2_gradient(W, lambd, m)
    return {k: grads[k] for l in range(1, L + 1) for k in (f"dW{l}", f"db{l}")}


def update_parameters(params, grads, learning_rate):
    """One step of gradient descent (F13): θ := θ - α dθ for every W[l], b[l].

    params {"W1", "b1", ...}, grads {"dW1", "db1", ...} of the same shapes, α > 0.
    Returns a NEW dict of new arrays; params and grads are left unchanged.
    """
    L = check_params(params)
    learning_rate = check_positive("learning_rate", learning_rate)
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict {{'dW1', 'db1', ...}}; got {type(grads).__name__}")
    new = {}
    for l in range(1, L + 1):
        for p in (f"W{l}", f"b{l}"):
            if "d" + p not in grads:
                raise ValueError(f"grads must have key 'd{p}' for params['{p}']; got keys {sorted(grads)}")
            check_matrix("d" + p, grads["d" + p], rows=params[p].shape[0], cols=params[p].shape[1],
                         finite=False, layout=f"{params[p].shape}", why=f"(the shape of {p})")
            new[p] = params[p] - learning_rate * grads["d" + p]
    return new


def predict(X, params, activations, alpha=0.01):
    """ŷ = 1 where A[L] > 0.5, else 0 (F32); no dropout at prediction time.
    X: (n_x, m). Returns a (1, m) int array of 0/1.
    Non-finite parameters raise ValueError naming the key: NaN > 0.5 is False, so a NaN
    weight would otherwise predict 0 for every example without a word."""
    check_matrix("X", X, layout="(n_x, m)")
    check_params(params, n_x=X.shape[0], finite=True)
    AL, _ = model_forward(X, params, activations, alpha=alpha)
    return (AL > 0.5).astype(int)


def model_cost(X, Y, params, activations, lambd=0.0, keep_probs=None, masks=None, rng=None, alpha=0.01):
    """The training cost, computed here (and by cost_from_caches, below) and nowhere else:

        J = cost_from_logits(Z[L], Y) + λ/(2m) Σ_l ‖W[l]‖²_F

    (cross-entropy from the logits, stable for any Z[L], + L2). With dropout the
    forward pass uses keep_probs and masks (or draws from rng), as in training.
    Requires a sigmoid output layer. X: (n_x, m), Y: (1, m). Returns a float.
    """
    check_matrix("X", X, layout="(n_x, m)")
    check_labels("Y", Y, m=X.shape[1])
    lambd = check_nonneg("lambd", lambd)
    if isinstance(activations, (list, tuple)) and activations and activations[-1] != "sigmoid":
        raise ValueError(f"model_cost is the cross-entropy of a sigmoid output: activations[-1] must "
                         f"be 'sigmoid'; got {activations[-1]!r}")
    _, caches = model_forward(X, params, activations, keep_probs=keep_probs, rng=rng, masks=masks,
                              alpha=alpha)
    return cost_from_caches(caches, Y, params, lambd)


def cost_from_caches(caches, Y, params, lambd=0.0):
    """J = cost_from_logits(Z[L], Y) + λ/(2m) Σ_l ‖W[l]‖²_F, from the caches of a forward pass
    already made (the training loop's, so that J_i costs no second forward pass). Returns a float."""
    ZL = caches[-1]["linear_activation"][1]
    return cost_from_logits(ZL, Y) + l2_penalty(params, lambd, ZL.shape[1])
