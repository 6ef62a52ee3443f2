"""Divergence detection for the torch training paths, the twin of scratch.train's two checks.

One definition for scratch.train, train_loop.train_plain and the Lightning module: step i
diverges when
    check 1: its cost J_i is not finite (after the forward pass), or
    check 2: the parameters θ_{i+1} are not finite (after update i).
Both look only at numbers already computed, so the verdict does not depend on how a BLAS
rounds an overflow; the error is scratch.train.divergence_error, word for word.

Reading a value back to the host synchronises a GPU with the CPU, so nothing is read per step:
after_forward keeps the 0-d cost tensor J_i it is given (no kernel at all), after_update computes
(min p, max p) per parameter on the device (one torch.aminmax kernel per parameter: a NaN propagates
to both, +inf shows in the max, -inf in the min, and the min and max of finite numbers are finite, so
the pair is non-finite exactly when p is; max|p| = vector_norm(p, inf) says the same, but it is a
slow kernel on the CPU, 4-7× slower than aminmax on W1 of [12288, 20, 7, 5, 1]). The host reads
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
    (e.g. the scratch names "W1", "b1", ... of a DeepNet, as scratch.train reports them);
    after_update gets the same parameters at every step.
    """

    def __init__(self, names, check_every=CHECK_EVERY, last_finite=None):
        self.names, self.check_every = list(names), int(check_every)
        self._costs = []                          # (step, 0-d cost tensor) kept since the last read
        self._steps = []                          # the steps whose (min p, max p) rows 0, 1, ... hold
        self._blocks = []                         # blocks of rows: per parameter a (rows, 2) tensor, on its device
        self._rows = max(1, min(self.check_every, 128))     # rows of a block (a huge check_every: more blocks)
        self._outs = []                           # row k: per parameter the 0-d views (min, max) of its block
        self._last = last_finite                  # (step, cost) of the last finite cost read so far

    @property
    def last_finite(self):
        """(step, cost) of the last finite cost read so far (None before any): what a resumed run's
        guard starts from (last_finite=), so its errors name the same last finite cost."""
        return self._last

    def after_forward(self, step, cost):
        """Check 1 on J_step (a 0-d tensor), kept for the next read: no kernel, no synchronisation."""
        self._costs.append((int(step), cost.detach()))

    def after_update(self, step, params):
        """Check 2 on θ_{step+1}, the parameters after update `step`: (min p, max p) per parameter, on the
        device, written by torch.aminmax(p, out=...) into the next row of buffers that the guard keeps
        from read to read (nothing is allocated per step once they exist). A loop that owns its
        parameters can pass them detached once (p.detach() shares p's storage, so it sees every
        in-place update): a parameter that requires grad is detached here, at every call."""
        params, k = params if isinstance(params, list) else list(params), len(self._steps)
        if k == len(self._outs):
            self._add_row(params, k)
        for p, out in zip(params, self._outs[k]):
            torch.aminmax(p.detach() if p.requires_grad else p, out=out)
        self._steps.append(int(step))

    def _add_row(self, params, k):
        """The views of row k (allocating a new block of rows when row k is the first of one)."""
        block, r = divmod(k, self._rows)
        if block == len(self._blocks):
            self._blocks.append([torch.empty(self._rows, 2, dtype=p.dtype, device=p.device) for p in params])
        self._outs.append([(bounds[r, 0], bounds[r, 1]) for bounds in self._blocks[block]])

    def due(self, step):
        """Whether the host should read the checks after step `step` (every check_every steps)."""
        return (step + 1) % self.check_every == 0

    def raise_if_diverged(self):
        """Read what was kept (one synchronisation) and raise scratch's FloatingPointError naming the
        first bad step, its cost or its non-finite parameters, and the last finite cost before it."""
        costs, steps, self._costs, self._steps = self._costs, self._steps, [], []
        cost_at = dict(zip([i for i, _ in costs], torch.stack([c for _, c in costs]).double().cpu().tolist())
                       if costs else [])
        params_at = {}                    # step -> [[min p, max p] for each parameter]
        if steps:
            bounds = torch.stack([torch.cat([block[j] for block in self._blocks])[:len(steps)]
                                  for j in range(len(self._blocks[0]))], dim=1)      # (steps, parameters, 2)
            params_at = dict(zip(steps, bounds.cpu().tolist()))
        for step in sorted(set(cost_at) | set(params_at)):       # at each step: check 1, then check 2
            if step in cost_at:
                if not math.isfinite(cost_at[step]):
                    raise divergence_error(step, self._last, cost=cost_at[step])
                self._last = (step, cost_at[step])
            if step in params_at:
                bad = [n for n, pair in zip(self.names, params_at[step]) if not all(map(math.isfinite, pair))]
                if bad:
                    raise divergence_error(step, self._last, bad_params=bad)


def parameter_names(model):
    """The names divergence errors use, in model.parameters() order: scratch's ("W1", "b1", "gamma1",
    "beta1", ...) for a DeepNet, with or without batch norm (convert.scratch_parameters); else torch's own."""
    if not hasattr(model, "linears"):
        return [name for name, _ in model.named_parameters()]
    from .convert import scratch_parameters       # convert imports models, which imports this module
    by_id = {id(p): name for name, p in scratch_parameters(model).items()}
    return [by_id.get(id(p), name) for name, p in model.named_parameters()]
