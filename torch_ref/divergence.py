"""Divergence detection for the torch training paths, the twin of scratch.train's two checks.

One definition for scratch.train, train_loop.train_plain and the Lightning module: step i
diverges when
    check 1: its cost J_i is not finite (after the forward pass), or
    check 2: the parameters θ_{i+1} are not finite (after update i).
Both look only at numbers already computed, so the verdict does not depend on how a BLAS
rounds an overflow; the error is scratch.train.divergence_error, word for word.

Reading a value back to the host synchronises a GPU with the CPU, so nothing is read per step:
after_forward keeps the 0-d cost tensor J_i it is given (no kernel at all), after_update computes
max|p| per parameter on the device (one kernel per parameter: NaN and inf propagate through a max,
and a max of finite numbers cannot overflow, so it is non-finite exactly when p is). The host reads
what was kept only in `raise_if_diverged`, which the loops call every `check_every` steps, before
every logged step (so no record of a diverged run is ever written) and at the end; the error
still names the FIRST bad step, found up to check_every - 1 steps late.
"""
import math

import torch

from scratch.train import divergence_error

CHECK_EVERY = 100     # default: steps between host reads of the flags (one sync per that many steps)

def check_finite_parameters(module, what="model's parameters"):
    """ValueError naming the parameters of `module` that are not finite (a training loop's entry check)."""
    names = parameter_names(module)
    bad = [n for n, p in zip(names, module.parameters()) if not bool(torch.isfinite(p.detach()).all())]
    if bad:
        raise ValueError(f"{what} must be finite (no NaN or inf); got non-finite {bad}")


class DivergenceGuard:
    """Finds the first step whose cost or updated parameters are not finite, reading the device rarely.

    names: the parameter names, in the order the parameters are given to after_update
    (e.g. the scratch names "W1", "b1", ... of a DeepNet, as scratch.train reports them).
    """

    def __init__(self, names, check_every=CHECK_EVERY, last_finite=None):
        self.names, self.check_every = list(names), int(check_every)
        self._costs, self._maxabs = [], []        # (step, tensor) kept since the last read
        self._last = last_finite                  # (step, cost) of the last finite cost read so far

    @property
    def last_finite(self):
        """(step, cost) of the last finite cost read so far (None before any): what a resumed run's
        guard starts from (last_finite=), so its errors name the same last finite cost."""
        return self._last

    def after_forward(self, step, cost):
        """Check 1 on J_step (a 0-d tensor), kept for the next read: no kernel, no synchronisation."""
        self._costs.append((int(step), cost.detach()))

    @torch.no_grad()
    def after_update(self, step, params):
        """Check 2 on θ_{step+1}, the parameters after update `step`: max|p| per parameter, on the device."""
        self._maxabs.append((int(step), torch.stack([torch.linalg.vector_norm(p, math.inf) for p in params])))

    def due(self, step):
        """Whether the host should read the checks after step `step` (every check_every steps)."""
        return (step + 1) % self.check_every == 0

    def raise_if_diverged(self):
        """Read what was kept (one synchronisation) and raise scratch's FloatingPointError naming the
        first bad step, its cost or its non-finite parameters, and the last finite cost before it."""
        costs, maxabs, self._costs, self._maxabs = self._costs, self._maxabs, [], []
        cost_at = dict(zip([i for i, _ in costs], torch.stack([c for _, c in costs]).double().cpu().tolist())
                       if costs else [])
        params_at = dict(zip([i for i, _ in maxabs], torch.stack([m for _, m in maxabs]).cpu().tolist())
                         if maxabs else [])
        for step in sorted(set(cost_at) | set(params_at)):       # at each step: check 1, then check 2
            if step in cost_at:
                if not math.isfinite(cost_at[step]):
                    raise divergence_error(step, self._last, cost=cost_at[step])
                self._last = (step, cost_at[step])
            if step in params_at and not all(map(math.isfinite, params_at[step])):
                bad = [n for n, v in zip(self.names, params_at[step]) if not math.isfinite(v)]
                raise divergence_error(step, self._last, bad_params=bad)


def parameter_names(model):
    """The names divergence errors use, in model.parameters() order: scratch's ("W1", "b1", "gamma1",
    "beta1", ...) for a DeepNet, with or without batch norm (convert.scratch_parameters); else torch's own."""
    if not hasattr(model, "linears"):
        return [name for name, _ in model.named_parameters()]
    from .convert import scratch_parameters       # convert imports models, which imports this module
    by_id = {id(p): name for name, p in scratch_parameters(model).items()}
    return [by_id.get(id(p), name) for name, p in model.named_parameters()]
