"""The order of training (F33, F38): which examples each step sees, and at which learning rate.

One pass over the m examples is an epoch.
    full batch (mini_batch_size None): each epoch is ONE step on all m columns, in their order,
        so step i is epoch i (the course's gradient descent, and the default everywhere);
    mini-batches: epoch e visits the columns in the order permutation(e) (a permutation of
        range(m)), cut into floor(m/size) batches of `size` columns and a last one of the
        m mod size left (never an empty one), as scratch.optimizers.random_mini_batches cuts them.
Steps are numbered 0, 1, 2, ... across epochs; Adam's t is step + 1.
The learning rate of epoch e is α_e = schedule(α₀, e, **kw) (F38), from the first step of epoch e:
the schedule moves once per epoch, as the course's update_lr(learning_rate0, epoch_num, ...).

scratch.train, torch_ref.train_loop.train_plain and torch_ref.lightning all follow one Plan, so
the three see the same batches in the same order and the same learning rates.
"""
import inspect
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ._checks import check_count, check_positive
from ._checks import check_beta
from .optimizers import LR_SCHEDULES, _check_permutation, epoch_permutations, mini_batch_columns

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")


@dataclass(frozen=True)
class Plan:
    """m examples, num_epochs epochs, mini_batch_size (None: full batch), permutations(epoch) -> order."""
    m: int
    num_epochs: int
    mini_batch_size: int = None
    permutations: object = None

    @property
    def steps_per_epoch(self):
        if self.mini_batch_size is None:
            return 1
        return -(-self.m // self.mini_batch_size)                 # ceil(m / size)

    @property
    def num_steps(self):
        return self.num_epochs * self.steps_per_epoch

    def step_size(self, step):
        """The number of examples update `step` sees: m with full batch, else mini_batch_size, and
        m mod mini_batch_size for the last step of an epoch (when not 0)."""
        if self.mini_batch_size is None:
            return self.m
        return min(self.mini_batch_size, self.m - (step % self.steps_per_epoch) * self.mini_batch_size)

    def batches(self, epoch):
        """The column indices of each step of `epoch`: [None] (all m, in order) for full batch, else
        the permutation of the epoch cut into batches of mini_batch_size (the last m mod size)."""
        if self.mini_batch_size is None:
            return [None]
        order = np.ascontiguousarray(_check_permutation(self.permutations(epoch), self.m), dtype=np.int64)
        return mini_batch_columns(order, self.mini_batch_size)


def make_plan(m, *, num_iterations=None, num_epochs=None, mini_batch_size=None, permutations=None, seed=0):
    """The Plan of a training run on m examples.

    Full batch (mini_batch_size None): num_iterations steps (= epochs); num_epochs is a synonym.
    Mini-batches: num_epochs epochs of ceil(m / mini_batch_size) steps (num_iterations must be None);
    permutations: callable epoch -> permutation of range(m), or None for
    scratch.optimizers.epoch_permutations(m, seed) (the order depends only on seed and epoch)."""
    m = check_count("m", m, minimum=1)
    if mini_batch_size is None:
        if (num_iterations is None) == (num_epochs is None):
            raise ValueError("give num_iterations (full-batch steps) or num_epochs, not both; got "
                             f"num_iterations={num_iterations!r}, num_epochs={num_epochs!r}")
        if permutations is not None:
            raise ValueError("permutations order mini-batches: give mini_batch_size too (full batch keeps the order of X)")
        steps = num_iterations if num_iterations is not None else num_epochs
        return Plan(m, check_count("num_iterations" if num_epochs is None else "num_epochs", steps, minimum=1))
    size = check_count("mini_batch_size", mini_batch_size, minimum=1)
    if num_iterations is not None or num_epochs is None:
        raise ValueError("with mini_batch_size, give num_epochs (passes over the m examples), not "
                         f"num_iterations; got num_iterations={num_iterations!r}, num_epochs={num_epochs!r}")
    num_epochs = check_count("num_epochs", num_epochs, minimum=1)
    if permutations is None:
        permutations = epoch_permutations(m, check_count("seed", seed, minimum=0))
    elif not callable(permutations):
        raise TypeError(f"permutations must be a callable epoch -> permutation of range(m); got "
                        f"{type(permutations).__name__}")
    return Plan(m, num_epochs, size, permutations)


def check_lr_schedule(lr_schedule):
    """The one check of a learning-rate schedule, for scratch, torch_ref.convert and the experiments'
    configs: None, a name in scratch.optimizers.LR_SCHEDULES, or (name, {keyword: value}).
    Returns None or (name, keywords with the schedule's defaults filled in): the keywords must be
    those the schedule function takes after (learning_rate0, epoch_num), and their values are
    checked by calling it once, here."""
    if lr_schedule is None:
        return None
    name, kwargs = (lr_schedule, {}) if isinstance(lr_schedule, str) else tuple(lr_schedule)
    if not isinstance(name, str) or name not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule name must be one of {list(LR_SCHEDULES)}; got {name!r}")
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"lr_schedule's keywords must be a dict; got {type(kwargs).__name__}")
    parameters = list(inspect.signature(LR_SCHEDULES[name]).parameters.values())[2:]
    accepted = [p.name for p in parameters]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"lr_schedule {name!r} takes the key(s) {accepted}; got unknown key(s) {unknown}")
    missing = [p.name for p in parameters if p.default is inspect.Parameter.empty and p.name not in kwargs]
    if missing:
        raise ValueError(f"lr_schedule {name!r} needs the key(s) {missing} (it takes {accepted})")
    full = {p.name: kwargs.get(p.name, p.default) for p in parameters}
    try:
        LR_SCHEDULES[name](1.0, 0, **full)                        # checks the values
    except (ValueError, TypeError) as err:
        raise type(err)(f"lr_schedule {name!r}: {err}") from None
    return name, full


def learning_rate_at(learning_rate0, epoch, lr_schedule):
    """α of `epoch`: α₀ without a schedule, else LR_SCHEDULES[name](α₀, epoch, **kwargs)."""
    if lr_schedule is None:
        return learning_rate0
    name, kwargs = lr_schedule
    return check_positive("learning rate", LR_SCHEDULES[name](learning_rate0, epoch, **kwargs))


def check_optimizer(optimizer, beta, beta1, beta2, epsilon):
    """The optimizer name and its hyperparameters, validated once at a training entry:
    β, β₁, β₂ in [0, 1), ε > 0. Returns a dict of what that optimizer uses."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}; got {optimizer!r}")
    beta, beta1, beta2 = check_beta("beta", beta), check_beta("beta1", beta1), check_beta("beta2", beta2)
    epsilon = check_positive("epsilon", epsilon)
    used = {"gd": {}, "momentum": {"beta": beta}, "rmsprop": {"beta2": beta2, "epsilon": epsilon},
            "adam": {"beta1": beta1, "beta2": beta2, "epsilon": epsilon}}[optimizer]
    return {k: float(v) for k, v in used.items()}
