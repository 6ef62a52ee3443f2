"""Optimization algorithms (F33-F38): mini-batches, exponentially weighted averages,
momentum, RMSprop, Adam and learning-rate decay.

θ stands for every parameter W[l], b[l] and dθ for its gradient dW[l], db[l]. The
optimizer state v (first moment, "velocity") and s (second moment) are dicts keyed like
grads, {"dW1", "db1", ..., "dWL", "dbL"}, each entry shaped like its parameter.
Squares and roots are element-wise. Every update returns NEW dicts of new arrays and
changes nothing it was given. dtype follows the inputs: float32 params and grads give
float32 results (the hyperparameters are Python floats, which do not promote).

Shapes: X (n_x, m), Y (1, m) or (C, m), W[l] (n[l], n[l-1]), b[l] (n[l], 1).
"""
import math

import numpy as np

from . import network
from ._checks import (as_generator, check_array, check_beta, check_count, check_finite, check_matrix,
                      check_nonneg, check_positive, check_real, param_keys)


# ------------------------------------------------------------------ checks

def _check_like_params(name, d, params):
    """d (grads, v or s) must be {"dW1", "db1", ...}, exactly one entry per parameter,
    each shaped like it. Returns the parameter names in layer order ["W1", "b1", ...]
    (a batch-norm layer: "W{l}", "gamma{l}", "beta{l}"; scratch._checks.param_keys)."""
    names = param_keys(params)
    if not isinstance(d, dict):
        raise TypeError(f"{name} must be a dict {{'dW1', 'db1', ...}}; got {type(d).__name__}")
    if set(d) != {"d" + p for p in names}:
        raise ValueError(f"{name} must have exactly the keys {['d' + p for p in names]} "
                         f"(one per parameter); got keys {sorted(map(str, d))}")
    for p in names:
        check_matrix(f"{name}['d{p}']", d["d" + p], rows=params[p].shape[0], cols=params[p].shape[1],
                     finite=False, layout=f"{params[p].shape}", why=f"(the shape of {p})")
    return names


def _check_permutation(permutation, m):
    """permutation must be a 1-D integer sequence holding each of 0..m-1 exactly once."""
    perm = np.asarray(permutation)
    if perm.dtype.kind not in "iu":
        raise TypeError(f"permutation must hold integers (an order of the m examples); got dtype {perm.dtype}")
    if perm.ndim != 1 or perm.shape[0] != m:
        raise ValueError(f"permutation must be 1-D of length m = {m} (columns of X); got shape {perm.shape}")
    values, counts = np.unique(perm, return_counts=True)
    outside = values[(values < 0) | (values >= m)]
    if outside.size or (counts > 1).any():
        what = (f"values out of range {outside[:5].tolist()}" if outside.size
                else f"repeated values {values[counts > 1][:5].tolist()}")
        raise ValueError(f"permutation must hold each of 0..{m - 1} exactly once; got {what}")
    return perm


# -------------------------------------------------------------- mini-batches

def random_mini_batches(X, Y, mini_batch_size=64, rng=None, permutation=None):
    """Shuffle the m examples and cut them into mini-batches (F33).

    X: (n_x, m), Y: (1, m) or (C, m) (any number of rows, the same m).
    The columns of X and Y are reordered by ONE order, so each y stays with its x:
    `permutation` (a 1-D int array, a permutation of range(m), used exactly, e.g. the
    course's), or else rng.permutation(m) (rng: Generator, int seed or None; not drawn
    from when a permutation is given). The shuffled columns are then cut into
    floor(m / size) full batches and, when m mod size != 0, one last batch of
    m mod size examples (never an empty batch), so an epoch visits every example once.
    Returns [(X_1, Y_1), ...], X_k: (n_x, m_k), Y_k: (C, m_k); new arrays, X and Y unchanged.
    """
    check_matrix("X", X, finite=False, layout="(n_x, m)")
    m = X.shape[1]
    check_matrix("Y", Y, cols=m, finite=False, layout="(C, m)", why=("", "(m = columns of X)"))
    size = check_count("mini_batch_size", mini_batch_size, minimum=1)
    if permutation is None:
        perm = as_generator(rng).permutation(m)
    else:
        perm = _check_permutation(permutation, m)
    return [(X[:, columns], Y[:, columns]) for columns in mini_batch_columns(perm, size)]


def mini_batch_columns(permutation, mini_batch_size):
    """The column indices of each mini-batch: the order `permutation` (of range(m)) cut into
    floor(m / size) pieces of `size` and a last one of m mod size (none when it is 0)."""
    return [permutation[k:k + mini_batch_size] for k in range(0, len(permutation), mini_batch_size)]


class _EpochOrder:
    """order(epoch) = np.random.default_rng([seed, epoch]).permutation(m); a class, not a closure,
    so that it pickles (Lightning's ddp_spawn sends it to every process)."""

    def __init__(self, m, seed):
        self.m, self.seed = m, seed

    def __call__(self, epoch):
        epoch = check_count("epoch", epoch, minimum=0)
        return np.random.default_rng([self.seed, epoch]).permutation(self.m)


def epoch_permutations(m, seed):
    """The batch order of every epoch from (seed, epoch) alone, so that scratch, the plain
    torch loop and Lightning can share it: returns order(epoch) =
    np.random.default_rng([seed, epoch]).permutation(m), for random_mini_batches(permutation=...).
    m >= 1 examples, seed >= 0, epoch >= 0 (ints)."""
    return _EpochOrder(check_count("m", m, minimum=1), check_count("seed", seed, minimum=0))


# ---------------------------------------------------------- weighted averages

def exponentially_weighted_average(x, beta, bias_correction=False):
    """v_0 = 0, v_t = β v_{t-1} + (1-β) θ_t for t = 1..T (F34): an average over about
    1/(1-β) of the latest θ. Starting from 0 makes the first values too small
    (v_1 = (1-β)θ_1); bias correction divides by the weight actually given: v_t / (1 - βᵗ).

    x: 1-D sequence θ_1..θ_T of finite reals; β in [0, 1).
    Returns [v_1, ..., v_T], a float array of length T (float32 input stays float32).
    """
    x = check_array("x", np.asarray(x))
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (θ_1, ..., θ_T); got shape {x.shape}")
    check_finite("x", x)
    beta = check_beta("beta", beta)
    out = np.empty(x.shape, dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    v = 0.0
    for t, theta in enumerate(x):
        v = beta * v + (1 - beta) * theta
        out[t] = v
    if bias_correction:
        out = (out / (1 - beta ** np.arange(1, len(x) + 1))).astype(out.dtype)   # float32 stays float32
    return out


# ------------------------------------------------------------------ updates

def update_parameters_with_gd(params, grads, learning_rate):
    """Gradient descent (F13): θ := θ - α dθ. Returns new params."""
    _check_like_params("grads", grads, params)
    return network.update_parameters(params, grads, learning_rate)


def initialize_velocity(params):
    """v = {"dW1": zeros like W1, "db1": zeros like b1, ...} (also RMSprop's s, Adam's v and s); a
    batch-norm layer has "dgamma{l}", "dbeta{l}" in place of "db{l}"."""
    return {"d" + p: np.zeros_like(params[p]) for p in param_keys(params)}


def _copies(*dicts):
    """Fresh copies of the arrays of each dict (the public updates change nothing they are given)."""
    return [{k: np.array(v, copy=True) for k, v in d.items()} for d in dicts]


def update_parameters_with_momentum(params, grads, v, beta, learning_rate):
    """Gradient descent with momentum (F35), for every θ:

        v = β v + (1 - β) dθ        (an exponentially weighted average of the gradients)
        θ := θ - α v

    β in [0, 1) (β = 0 is plain gradient descent), α > 0. Returns new (params, v).
    torch's SGD(momentum=β, dampening=β) is the same except its first step, where it
    starts v at dθ, not at (1 - β) dθ.
    """
    names = _check_like_params("grads", grads, params)
    _check_like_params("v", v, params)
    beta = check_beta("beta", beta)
    alpha = check_positive("learning_rate", learning_rate)
    new_params, new_v = _copies({p: params[p] for p in names}, v)
    _momentum_step(new_params, grads, new_v, beta, alpha)
    return new_params, new_v


def _momentum_step(params, grads, v, beta, alpha):
    """update_parameters_with_momentum IN PLACE on params and v (the training loop's own arrays)."""
    for p, theta in params.items():
        d = "d" + p
        v[d] *= beta
        v[d] += (1 - beta) * grads[d]          # v = β v + (1 - β) dθ
        theta -= alpha * v[d]                  # θ := θ - α v


def initialize_rmsprop(params):
    """s = zeros, keyed and shaped like the gradients (see initialize_velocity)."""
    return initialize_velocity(params)


def update_parameters_with_rmsprop(params, grads, s, beta2, learning_rate, epsilon=1e-8):
    """RMSprop (F36), for every θ:

        s = β₂ s + (1 - β₂) dθ²     (a running mean of the squared gradients)
        θ := θ - α dθ / (√s + ε)    (large, oscillating components take smaller steps)

    β₂ in [0, 1), α > 0, ε > 0 (added to √s, as torch.optim.RMSprop(alpha=β₂, eps=ε) does).
    Returns new (params, s).
    """
    names = _check_like_params("grads", grads, params)
    _check_like_params("s", s, params)
    beta2 = check_beta("beta2", beta2)
    alpha = check_positive("learning_rate", learning_rate)
    epsilon = check_positive("epsilon", epsilon)
    new_params, new_s = _copies({p: params[p] for p in names}, s)
    _rmsprop_step(new_params, grads, new_s, beta2, alpha, epsilon)
    return new_params, new_s


def _rmsprop_step(params, grads, s, beta2, alpha, epsilon):
    """update_parameters_with_rmsprop IN PLACE on params and s."""
    for p, theta in params.items():
        d = "d" + p
        s[d] *= beta2
        s[d] += (1 - beta2) * grads[d] ** 2                       # s = β₂ s + (1 - β₂) dθ²
        theta -= alpha * grads[d] / (np.sqrt(s[d]) + epsilon)     # θ := θ - α dθ / (√s + ε)


def initialize_adam(params):
    """v, s = zeros, zeros, two separate dicts keyed and shaped like the gradients."""
    return initialize_velocity(params), initialize_velocity(params)


def update_parameters_with_adam(params, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999,
                                epsilon=1e-8):
    """Adam (F37) = momentum + RMSprop, with bias correction; for every θ:

        v = β₁ v + (1 - β₁) dθ          v̂ = v / (1 - β₁ᵗ)
        s = β₂ s + (1 - β₂) dθ²         ŝ = s / (1 - β₂ᵗ)
        θ := θ - α v̂ / (√ŝ + ε)

    t: the number of this update, counted from 1 (an int >= 1); the correction matters
    while t is small (at t = 1, v̂ = dθ while v = (1 - β₁) dθ). ε > 0 is added to √ŝ, the
    root of the bias-corrected s, as torch.optim.Adam(betas=(β₁, β₂), eps=ε) does.
    β₁, β₂ in [0, 1), α > 0. Returns new (params, v, s).
    """
    names = _check_like_params("grads", grads, params)
    _check_like_params("v", v, params)
    _check_like_params("s", s, params)
    t = check_count("t", t, minimum=1)
    alpha = check_positive("learning_rate", learning_rate)
    beta1, beta2 = check_beta("beta1", beta1), check_beta("beta2", beta2)
    epsilon = check_positive("epsilon", epsilon)
    new_params, new_v, new_s = _copies({p: params[p] for p in names}, v, s)
    _adam_step(new_params, grads, new_v, new_s, t, alpha, beta1, beta2, epsilon)
    return new_params, new_v, new_s


def _adam_step(params, grads, v, s, t, alpha, beta1, beta2, epsilon):
    """update_parameters_with_adam IN PLACE on params, v and s."""
    for p, theta in params.items():
        d = "d" + p
        v[d] *= beta1
        v[d] += (1 - beta1) * grads[d]                           # v = β₁ v + (1 - β₁) dθ
        s[d] *= beta2
        s[d] += (1 - beta2) * grads[d] ** 2                        # s = β₂ s + (1 - β₂) dθ²
        v_hat = v[d] / (1 - beta1 ** t)
        s_hat = s[d] / (1 - beta2 ** t)
        theta -= alpha * v_hat / (np.sqrt(s_hat) + epsilon)       # θ := θ - α v̂ / (√ŝ + ε)


# ---------------------------------------------------------- learning-rate decay

def update_lr(learning_rate0, epoch_num, decay_rate):
    """α = α₀ / (1 + decay_rate · epoch_num) (F38). α₀ > 0, epoch_num >= 0 (int), decay_rate >= 0."""
    alpha0 = check_positive("learning_rate0", learning_rate0)
    epoch_num = check_count("epoch_num", epoch_num, minimum=0)
    decay_rate = check_nonneg("decay_rate", decay_rate)
    return alpha0 / (1 + decay_rate * epoch_num)


def schedule_lr_decay(learning_rate0, epoch_num, decay_rate, time_interval=1000):
    """α = α₀ / (1 + decay_rate · floor(epoch_num / time_interval)) (F38): the course's
    staircase form, constant for time_interval epochs, then a step down. time_interval >= 1."""
    alpha0 = check_positive("learning_rate0", learning_rate0)
    epoch_num = check_count("epoch_num", epoch_num, minimum=0)
    decay_rate = check_nonneg("decay_rate", decay_rate)
    time_interval = check_count("time_interval", time_interval, minimum=1)
    return alpha0 / (1 + decay_rate * (epoch_num // time_interval))


def exponential_lr_decay(learning_rate0, epoch_num, base=0.95):
    """α = baseᵉᵖᵒᶜʰ · α₀ (F38), base in (0, 1] (the course's 0.95 by default)."""
    alpha0 = check_positive("learning_rate0", learning_rate0)
    epoch_num = check_count("epoch_num", epoch_num, minimum=0)
    base = check_real("base", base)
    if not 0.0 < base <= 1.0:
        raise ValueError(f"base must be in (0, 1] (a decay factor per epoch); got {base}")
    return base ** epoch_num * alpha0


def inverse_sqrt_lr_decay(learning_rate0, epoch_num, k=1.0):
    """α = k / √epoch_num · α₀ (F38) for epoch_num >= 1, k > 0. The course's formula is
    undefined at epoch_num = 0 (division by zero): there α = α₀."""
    alpha0 = check_positive("learning_rate0", learning_rate0)
    epoch_num = check_count("epoch_num", epoch_num, minimum=0)
    k = check_positive("k", k)
    return alpha0 if epoch_num == 0 else k / math.sqrt(epoch_num) * alpha0


# name -> schedule(learning_rate0, epoch_num, ...), for the training loops.
LR_SCHEDULES = {"inverse_time": update_lr, "staircase": schedule_lr_decay,
                "exponential": exponential_lr_decay, "inverse_sqrt": inverse_sqrt_lr_decay}
