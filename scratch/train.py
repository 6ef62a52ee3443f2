"""The full-batch gradient-descent loop (F13) with history, callback and early stopping (F26).

Step i (0-based), the convention shared with torch_ref.train_loop and the Lightning module:
    forward on the current parameters θ_i  ->  J_i = cost_from_logits(Z[L], Y) + λ/(2m) Σ_l ‖W[l]‖²_F
    backward                               ->  dθ_i
    update                                 ->  θ_{i+1} = θ_i - α dθ_i                        (F13)
history records J_i, the cost BEFORE update i (with dropout: computed with step i's masks).
Every formula lives in scratch.network / scratch.losses; this file only orchestrates.

Divergence, one definition for scratch, torch_ref.train_loop and torch_ref.lightning: step i
diverges when J_i is not finite (checked after the forward pass) or when θ_{i+1} is not finite
(checked after the update). Both are plain IEEE facts about numbers already computed, so the
verdict does not depend on how a BLAS rounds an overflow, and all three name the same step in
the same words (divergence_error).
"""
import itertools
from dataclasses import dataclass, field

import numpy as np

from . import network, optimizers
from ._checks import (as_generator, check_activation, check_beta, check_count, check_keep_prob, check_matrix,
                      check_nonneg, check_params, check_positive, check_training_memory, has_batchnorm,
                      param_keys)
from .batchnorm import BN_EPS, check_step_sizes, initialize_running_stats, update_running_stats
from .initializers import initialize_parameters
from .model_file import TrainState
from .plan import check_lr_schedule, check_optimizer, learning_rate_at, make_plan


@dataclass
class TrainResult:
    """What train returns.

    params: the parameters to use: the best ones (lowest dev cost) when early_stopping is set,
        else the final ones (after the last update).
    history: one dict per logged step (see train).
    best_step: the logged step with the lowest dev cost (None without dev data).
    best_params: the parameters θ_best_step that gave that dev cost (None without dev data).
    final_params: the parameters after the last update performed.
    stopped_early: True when early stopping ended the run before num_iterations steps.
    bn_stats: the running statistics {"mu{l}", "var{l}"} that go with params (batch norm; None without),
        for prediction: network.predict(X, result.params, activations, bn_stats=result.bn_stats).
    state: the scratch.model_file.TrainState after the last update performed, to continue the run
        exactly (train(..., resume=result.state)) or to save it (scratch.model_file.save_model).
    """
    params: dict
    history: list
    best_step: object = None
    best_params: object = None
    final_params: dict = field(default_factory=dict)
    stopped_early: bool = False
    bn_stats: object = None
    state: object = None


def divergence_error(step, last_finite, *, cost=None, bad_params=None):
    """The FloatingPointError that ends a diverged run, in the words all three training paths use.

    step: the iteration i that diverged; last_finite: (iteration, cost) of the last finite J, or None;
    cost: the non-finite J_i (check 1), or bad_params: the names of the parameters that became
    non-finite after update i (check 2)."""
    if bad_params is not None:
        what = f"parameters {list(bad_params)} became non-finite after the update"
    else:
        what = f"cost is {float(cost)}"
    before = (f"last finite cost {float(last_finite[1])!r} at iteration {int(last_finite[0])}"
              if last_finite is not None else "no finite cost before it")
    return FloatingPointError(f"training diverged at iteration {int(step)}: {what}; {before}")


def _accuracy(AL, Y):
    """F32: fraction of examples predicted right, the rule of scratch.network.predict: (ŷ > 0.5) == y
    for a sigmoid output (1, m); argmax of A[L] == argmax of the one-hot Y for a softmax output (C, m)."""
    if AL.shape[0] > 1:
        return float(np.mean(np.argmax(AL, axis=0) == np.argmax(Y, axis=0)))
    return float(np.mean((AL > 0.5) == (Y == 1)))


def _evaluate(X, Y, params, activations, bn_stats=None, bn_eps=BN_EPS):
    """Cost (cross-entropy from logits, no L2, no dropout) and accuracy of params on (X, Y); batch norm
    in prediction mode (bn_stats) when given, else with the batch's statistics."""
    AL, caches = network.model_forward(X, params, activations, bn_stats=bn_stats, bn_eps=bn_eps)
    return network.cost_from_caches(caches, Y, params), _accuracy(AL, Y)


def _check_setup(X, Y, layer_dims, activations, keep_probs, X_dev, Y_dev, early_stopping):
    check_matrix("X", X, layout="(n_x, m)")
    dims = list(layer_dims)
    if len(dims) < 2:
        raise ValueError(f"layer_dims must list n[0], ..., n[L] with L >= 1; got {layer_dims!r}")
    dims = [check_count(f"layer_dims[{l}]", n, minimum=1) for l, n in enumerate(dims)]
    if dims[0] != X.shape[0]:
        raise ValueError(f"layer_dims[0] must equal the rows of X (n_x = {X.shape[0]}); got {dims[0]}")
    L = len(dims) - 1
    if len(activations) != L:
        raise ValueError(f"activations must have one name per layer (L = {L}); got {len(activations)}")
    activations = [check_activation(a, f"activations[{l}]", output=l == L - 1) for l, a in enumerate(activations)]
    if activations[-1] == "sigmoid" and dims[-1] != 1:
        raise ValueError(f"layer_dims[-1] must be 1 (one sigmoid output unit); got {dims[-1]} "
                         f"(for C classes use activations[-1] = 'softmax' and one-hot Y)")
    if activations[-1] == "softmax" and dims[-1] < 2:
        raise ValueError(f"layer_dims[-1] must be C >= 2 classes for a softmax output; got {dims[-1]} "
                         f"(two classes with labels 0/1: a sigmoid output)")
    if activations[-1] not in network.OUTPUTS:
        raise ValueError(f"activations[-1] must be 'sigmoid' or 'softmax' (cost from logits, dZ[L] = A - Y); "
                         f"got {activations[-1]!r}")
    network.check_targets("Y", Y, activations, C=dims[-1], m=X.shape[1])
    if keep_probs is not None:
        if len(keep_probs) != L - 1:
            raise ValueError(f"keep_probs must have one value per hidden layer (L-1 = {L - 1}); got {len(keep_probs)}")
        keep_probs = [check_keep_prob(f"keep_probs[{l}]", k) for l, k in enumerate(keep_probs)]
    if (X_dev is None) != (Y_dev is None):
        raise ValueError("X_dev and Y_dev must be given together; got only one of them")
    if X_dev is not None:
        check_matrix("X_dev", X_dev, rows=X.shape[0], layout="(n_x, m_dev)", why="(n_x = rows of X)")
        network.check_targets("Y_dev", Y_dev, activations, C=dims[-1], m=X_dev.shape[1])
    if early_stopping is not None:
        check_count("early_stopping", early_stopping, minimum=1)
        if X_dev is None:
            raise ValueError("early_stopping needs dev data: give X_dev and Y_dev")
    return dims, activations, keep_probs


def _initial_params(params, layer_dims, X, init, gen, batchnorm):
    """θ_0: a copy of the given params (checked against layer_dims), or initialize_parameters' draw."""
    if params is None:
        return initialize_parameters(layer_dims, init, rng=gen, dtype=X.dtype, batchnorm=batchnorm)
    L = check_params(params, n_x=X.shape[0])
    if L != len(layer_dims) - 1:
        raise ValueError(f"params must have L = {len(layer_dims) - 1} layers (from layer_dims); got {L}")
    for l in range(1, L + 1):
        check_matrix(f"params['W{l}']", params[f"W{l}"], rows=layer_dims[l], cols=layer_dims[l - 1],
                     layout=f"(n[{l}], n[{l - 1}])", why="(from layer_dims)")
    for k in param_keys(params):
        check_matrix(f"params[{k!r}]", params[k], layout=str(params[k].shape))   # finite
    return {k: np.array(params[k], copy=True) for k in param_keys(params)}


def _optimizer_state(optimizer, params):
    """The optimizer's running averages, zero at the start: None (gd), v (momentum), s (rmsprop), (v, s) (adam)."""
    return {"gd": lambda: None, "momentum": lambda: optimizers.initialize_velocity(params),
            "rmsprop": lambda: optimizers.initialize_rmsprop(params),
            "adam": lambda: optimizers.initialize_adam(params)}[optimizer]()


def _optimizer_step(optimizer, params, grads, state, t, learning_rate, hp):
    """One update θ_{t} -> θ_{t+1} with the named optimizer (F13, F35-F37), IN PLACE on the loop's own
    params and state (the formulas: scratch.network.update_parameters, scratch.optimizers); t counts
    updates from 1."""
    if optimizer == "gd":
        network._gd_step(params, grads, learning_rate)
    elif optimizer == "momentum":
        optimizers._momentum_step(params, grads, state, hp["beta"], learning_rate)
    elif optimizer == "rmsprop":
        optimizers._rmsprop_step(params, grads, state, hp["beta2"], learning_rate, hp["epsilon"])
    else:
        optimizers._adam_step(params, grads, *state, t, learning_rate, hp["beta1"], hp["beta2"], hp["epsilon"])


def _copy(params):
    return {k: v.copy() for k, v in params.items()}


def _opt_state_out(optimizer, state, t):
    """The loop's optimizer state in TrainState's form {"v": ..., "s": ..., "t": updates}, copied."""
    if optimizer == "gd":
        return None
    v, s = state if optimizer == "adam" else ((state, None) if optimizer == "momentum" else (None, state))
    out = {"t": int(t)}
    if v is not None:
        out["v"] = _copy(v)
    if s is not None:
        out["s"] = _copy(s)
    return out


def _opt_state_in(optimizer, saved, params):
    """The loop's optimizer state (as _optimizer_state makes it) from TrainState.opt_state, copied and
    checked against the parameters' keys and shapes."""
    fresh = _optimizer_state(optimizer, params)
    if optimizer == "gd":
        return None
    parts = {"momentum": ("v",), "rmsprop": ("s",), "adam": ("v", "s")}[optimizer]
    out = []
    for part, zeros in zip(parts, fresh if optimizer == "adam" else (fresh,)):
        given = (saved or {}).get(part) or {}
        for k, z in zeros.items():
            if k not in given or np.shape(given[k]) != z.shape:
                raise ValueError(f"resume: the {optimizer} state {part!r} has no {k} of shape {z.shape} "
                                 f"(got {np.shape(given[k]) if k in given else 'none'})")
            zeros[k][...] = given[k]
        out.append(zeros)
    return tuple(out) if optimizer == "adam" else out[0]


def check_resume(resume, params, optimizer, plan, seed):
    """A TrainState continues this call (the rule of scratch.train, train_plain and train_lightning):
    params not given too, the same optimizer and the same batches (m, mini_batch_size, seed of
    the plan), and more steps in total than it has done. Returns k = resume.step."""
    if not isinstance(resume, TrainState):
        raise TypeError(f"resume must be a scratch.model_file.TrainState (e.g. a TrainResult.state or "
                        f"load_model(path).state); got {type(resume).__name__}")
    if params is not None:
        raise ValueError("give params or resume, not both: a resumed run continues from its own parameters θ_k")
    if resume.optimizer != optimizer:
        raise ValueError(f"resume: the saved run used optimizer {resume.optimizer!r}; got optimizer={optimizer!r}")
    k = int(resume.step)
    if resume.plan is not None:                     # a hand-made state may leave it out
        want = {"m": plan.m, "mini_batch_size": plan.mini_batch_size, "seed": seed}
        differ = [f"{key} {resume.plan.get(key)!r} (saved) vs {want[key]!r} (now)" for key in want
                  if resume.plan.get(key) != want[key]]
        if differ:
            raise ValueError(f"resume: the saved run followed another plan ({'; '.join(differ)}); resume with the "
                             "same training set (m examples), mini_batch_size and seed")
    if not 0 <= k < plan.num_steps:
        per = "" if plan.mini_batch_size is None else f", num_epochs × {plan.steps_per_epoch} steps per epoch"
        raise ValueError(f"resume: already trained {k} steps; ask for more than {k} (the steps IN TOTAL{per}); "
                         f"got {plan.num_steps}")
    return k


def train(X, Y, layer_dims, activations, *, params=None, init="he", rng=None, learning_rate, num_iterations=None,
          lambd=0.0, keep_probs=None, masks=None, X_dev=None, Y_dev=None, early_stopping=None,
          callback=None, log_every=1, print_every=None, optimizer="gd", beta=0.9, beta1=0.9, beta2=0.999,
          epsilon=1e-8, mini_batch_size=None, num_epochs=None, permutations=None, seed=0, lr_schedule=None,
          batchnorm=False, bn_beta=0.9, bn_eps=BN_EPS, bn_unbiased=False, resume=None):
    """Gradient descent on a deep network with a sigmoid or softmax output (F13, F20, F22, F26,
    F33-F41): full batch by default, or mini-batches, with plain steps, momentum, RMSprop or Adam.

    X: (n_x, m); layer_dims: [n[0] = n_x, ..., n[L]]; activations: L names. Sigmoid output: n[L] = 1,
        Y (1, m) in {0, 1}; softmax output: n[L] = C >= 2 classes, Y one-hot (C, m).
    batchnorm: batch norm on every hidden layer (scratch.batchnorm; given params decide by their keys:
        gamma[l], beta[l] in place of b[l]); needs m >= 2 examples in every step. Running statistics
        for prediction: μ, σ² averaged with weight bn_beta (torch's momentum 1 - bn_beta) over the
        steps, updated after each step's logging (so dev metrics of step i use batches 0..i-1, as
        Lightning's validation before step i). bn_eps: batch norm's ε. bn_unbiased: average the
        unbiased batch variance σ²·m/(m-1), as torch's BatchNorm1d does (default: the biased σ², the
        course's); only prediction and dev metrics depend on it.
    params: initial {"W1", "b1", ...} (copied, never mutated; takes precedence over init), or None to
        draw them with initialize_parameters(layer_dims, init, rng, dtype=X.dtype).
    rng: Generator or int seed, used first for the initial parameters, then for the dropout masks.
    learning_rate: α₀. num_iterations: full-batch steps (or num_epochs: the same with full batch).
    optimizer: "gd" (θ -= α dθ), "momentum" (beta), "rmsprop" (beta2, epsilon) or "adam" (beta1,
        beta2, epsilon); scratch.optimizers holds the formulas.
    mini_batch_size: None for full batch, else num_epochs passes over the examples, each in the order
        permutations(epoch) (default scratch.optimizers.epoch_permutations(m, seed)), cut into batches
        (scratch.plan). lr_schedule: None, or a name of scratch.optimizers.LR_SCHEDULES, or (name, kwargs):
        α of epoch e is LR_SCHEDULES[name](α₀, e, **kwargs) (with full batch an epoch is a step).
    lambd: L2 strength λ (cost + λ/(2m)Σ‖W‖², dW += (λ/m)W, m the examples of the step). keep_probs:
        L-1 keep probabilities.
    masks: callable step -> list of L-1 boolean masks shaped like A[l] (n[l], m of the step); when given
        they are used instead of drawing from rng (so two implementations can share them). Needs keep_probs.
    X_dev, Y_dev: dev set; its cost is the cross-entropy from logits WITHOUT the L2 term and without dropout.
    early_stopping: patience P (int): stop when the dev cost has not improved (strictly) for P logged
        steps in a row; result.params are then the best parameters (F26).
    callback(step, record, params): called at every logged step with a copy of the history record and
        θ_step (the parameters that gave record["cost"]; do not mutate them).
    log_every: steps 0, k, 2k, ... (i % k == 0) are logged, so len(history) = ceil(steps / k)
        unless stopped early. print_every: print one progress line every that many steps (default silent).
    resume: a scratch.model_file.TrainState (result.state of an earlier call, or load_model(path).state)
        to continue that run exactly: from its step k, parameters, optimizer state, running statistics,
        mask generator and early-stopping state, until num_iterations / num_epochs IN TOTAL (more than
        k), with the same X, Y, optimizer, mini_batch_size and seed. The result is the run that was
        never interrupted, bit for bit: the same parameters, and history (the earlier records, then
        the new ones) equal to its history. callback sees the new steps only. params must be None.

    history records: {"step": i, "epoch": e, "cost": J_i (on the examples of step i), "train_acc":
    accuracy of θ_i on those examples without dropout (batch norm: with the batch's statistics)} plus,
    with dev data, {"dev_cost", "dev_acc"} (batch norm: with the running statistics).
    Raises FloatingPointError (an ArithmeticError, not a ValueError) when the cost or the parameters
    become non-finite, naming the iteration and the last finite cost. Bad arguments raise ValueError/TypeError.
    """
    layer_dims, activations, keep_probs = _check_setup(X, Y, layer_dims, activations, keep_probs,
                                                       X_dev, Y_dev, early_stopping)
    learning_rate = check_positive("learning_rate", learning_rate)
    plan = make_plan(X.shape[1], num_iterations=num_iterations, num_epochs=num_epochs,
                     mini_batch_size=mini_batch_size, permutations=permutations, seed=seed)
    hp = check_optimizer(optimizer, beta, beta1, beta2, epsilon)
    check_training_memory("train", layer_dims, X.shape[1], X.dtype.itemsize if X.dtype.kind == "f" else 8,
                          optimizer, keep_probs, bool(batchnorm) or (params is not None and "gamma1" in params),
                          mini_batch_size)
    lr_schedule = check_lr_schedule(lr_schedule)
    lambd = check_nonneg("lambd", lambd)
    log_every = check_count("log_every", log_every, minimum=1)
    if print_every is not None:
        print_every = check_count("print_every", print_every, minimum=1)
    if masks is not None and (keep_probs is None or not callable(masks)):
        raise ValueError("masks must be a callable step -> list of masks, and needs keep_probs; "
                         f"got masks={type(masks).__name__}, keep_probs={keep_probs!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable(step, record, params); got {type(callback).__name__}")
    bn_beta, bn_eps = check_beta("bn_beta", bn_beta), check_positive("bn_eps", bn_eps)
    Y = Y.astype(X.dtype if X.dtype.kind == "f" else np.float64, copy=False)   # labels in the data's dtype, once
    if resume is not None:
        check_resume(resume, params, optimizer, plan, seed)
        params = resume.params
    gen = as_generator(rng)
    params = _initial_params(params, layer_dims, X, init, gen, bool(batchnorm))
    bn_stats = None
    if any(has_batchnorm(params, l) for l in range(1, len(layer_dims))):
        check_step_sizes(plan)
        bn_stats = initialize_running_stats(params)

    history, best = [], (np.inf, None, None, None)                # best = (dev cost, step, params, bn_stats)
    last_finite, since_best, stopped_early = None, 0, False
    state, i = _optimizer_state(optimizer, params), 0
    if resume is not None:                                          # where the saved run stopped
        i, state = int(resume.step), _opt_state_in(optimizer, resume.opt_state, params)
        if bn_stats is not None and resume.bn_stats is not None:
            bn_stats = {k: np.array(resume.bn_stats[k], dtype=v.dtype) for k, v in bn_stats.items()}
        if resume.rng is not None:
            gen.bit_generator.state = resume.rng
        history = [dict(r) for r in (resume.history or []) if r["step"] < i]   # step i is logged again
        last_finite = None if resume.last_finite is None else (int(resume.last_finite[0]), resume.last_finite[1])
        if resume.best is not None and resume.best.get("params") is not None:
            best = (resume.best["cost"], resume.best["step"], _copy(resume.best["params"]), resume.best.get("bn_stats"))
            since_best = int(resume.best.get("since", 0))
    start = i
    # Everything is checked above, once: the loop runs the unchecked cores of scratch.network on arrays
    # it owns (params is a copy), updating them in place; nothing is re-validated per step.
    L, no_masks = len(layer_dims) - 1, [None] * (len(layer_dims) - 2)
    workspace = {}         # the hidden layers' Z, A and dA, rewritten in place at every step (network._buffer)
    per_epoch = plan.steps_per_epoch
    for epoch in range(start // per_epoch, plan.num_epochs):
        alpha = learning_rate_at(learning_rate, epoch, lr_schedule)
        skip = start - epoch * per_epoch if epoch == start // per_epoch else 0
        for columns in itertools.islice(plan.batches(epoch), skip, None):
            Xb, Yb = (X, Y) if columns is None else (X[:, columns], Y[:, columns])
            step_masks = no_masks
            if masks is not None:
                step_masks = network._check_dropout_args(keep_probs, masks(i), L)[1]
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected explicitly below
                AL, caches = network._forward(Xb, params, activations, L, keep_probs=keep_probs, rng=gen,
                                              masks=step_masks, bn_eps=bn_eps, workspace=workspace)
                cost = network._cost(caches, Yb, params, lambd)
            if not np.isfinite(cost):                               # divergence, check 1 of 2
                raise divergence_error(i, last_finite, cost=cost)
            last_finite = (i, float(cost))
            if i % log_every == 0:
                record = {"step": i, "epoch": epoch, "cost": float(cost)}
                if keep_probs is None:
                    record["train_acc"] = _accuracy(AL, Yb)
                else:
                    record["train_acc"] = _evaluate(Xb, Yb, params, activations, bn_eps=bn_eps)[1]
                if X_dev is not None:
                    record["dev_cost"], record["dev_acc"] = _evaluate(X_dev, Y_dev, params, activations,
                                                                      bn_stats, bn_eps)
                    if record["dev_cost"] < best[0]:
                        best, since_best = (record["dev_cost"], i, _copy(params), bn_stats), 0
                    else:
                        since_best += 1
                history.append(record)
                if callback is not None:
                    callback(i, dict(record), _copy(params))      # θ_i, which the update then changes in place
                if early_stopping is not None and since_best >= early_stopping:
                    stopped_early = True
            if print_every is not None and i % print_every == 0:
                extra = f"  dev cost {history[-1]['dev_cost']:.6f}" if i % log_every == 0 and X_dev is not None else ""
                print(f"step {i:>7d}  cost {cost:.6f}{extra}", flush=True)
            if stopped_early:
                break
            if bn_stats is not None:                                # F41: after the step's logging
                bn_stats = update_running_stats(bn_stats, caches, beta=bn_beta, unbiased=bool(bn_unbiased))
            grads = network._backward(AL, Yb, caches, lambd=lambd, workspace=workspace)
            with np.errstate(over="ignore", invalid="ignore"):
                _optimizer_step(optimizer, params, grads, state, i + 1, alpha, hp)
            bad = [k for k, v in params.items() if not np.all(np.isfinite(v))]
            if bad:                                                 # divergence, check 2 of 2
                raise divergence_error(i, last_finite, bad_params=bad)
            i += 1
        if stopped_early:
            break
    best_params = best[2] if X_dev is not None else None
    keep_best = early_stopping is not None
    saved = TrainState(step=i, params=_copy(params), optimizer=optimizer, opt_state=_opt_state_out(optimizer, state, i),
                       bn_stats=None if bn_stats is None else _copy(bn_stats), rng=gen.bit_generator.state,
                       history=[dict(r) for r in history],
                       best=None if best[2] is None else {"cost": best[0], "step": best[1], "since": since_best,
                                                          "params": _copy(best[2]), "bn_stats": best[3]},
                       last_finite=last_finite,
                       plan={"m": plan.m, "mini_batch_size": mini_batch_size, "seed": seed})
    return TrainResult(params=best_params if keep_best else params, history=history,
                       best_step=best[1], best_params=best_params, final_params=params,
                       stopped_early=stopped_early, bn_stats=best[3] if keep_best else bn_stats, state=saved)
