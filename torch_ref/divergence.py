"""Divergence detection for the torch training paths, the twin of scratch.train's two checks.

One definition for scratch.train, train_loop.train_plain and the Lightning module: step i
diverges when
    check 1: its cost J_i is not finite (after the forward pass), or
    check 2: the parameters θ_{i+1} are not finite (after update i).
Both look only at numbers already computed, so the verdict does not depend on how a BLAS
rounds an overflow; the error is scratch.train.divergence_error, word for word.

Reading a flag back to the host synchronises a GPU with the CPU, so the checks stay on the
device: each step updates a few 0-d tensors (first bad step, why, last finite cost) with
torch.where, and the host reads them only in `raise_if_diverged`, which the loops call every
`check_every` steps, before every logged step (so no record of a diverged run is ever written)
and at the end. The error still names the FIRST bad step, found up to check_every - 1 steps late.
"""
import math

import torch

from scratch.train import divergence_error

CHECK_EVERY = 100     # default: steps between host reads of the flags (one sync per that many steps)

_COST, _PARAMS = 1, 2  # why a step diverged


def check_finite_parameters(module, what="model's parameters"):
    """ValueError naming the parameters of `module` that are not finite (a training loop's entry check)."""
    names = parameter_names(module)
    bad = [n for n, p in zip(names, module.parameters()) if not bool(torch.isfinite(p.detach()).all())]
    if bad:
        raise ValueError(f"{what} must be finite (no NaN or inf); got non-finite {bad}")


class DivergenceGuard:
    """Tracks, on the device, the first step whose cost or updated parameters are not finite.

    names: the parameter names, in the order the parameters are given to after_update
    (e.g. the scratch names "W1", "b1", ... of a DeepNet, as scratch.train reports them).
    """

    def __init__(self, names, check_every=CHECK_EVERY):
        self.names, self.check_every = list(names), int(check_every)
        self._state = None

    def _init(self, like):
        dev = like.device
        self._state = {
            "first": torch.tensor(-1, device=dev),                         # first bad step, -1: none
            "why": torch.tensor(0, device=dev),                            # _COST or _PARAMS
            "bad_cost": torch.tensor(math.nan, dtype=torch.float64, device=dev),
            "bad_params": torch.zeros(len(self.names), dtype=torch.bool, device=dev),
            "last_cost": torch.tensor(math.nan, dtype=torch.float64, device=dev),
            "last_step": torch.tensor(-1, device=dev),
        }

    def after_forward(self, step, cost):
        """Check 1: J_step (a 0-d tensor) is finite. No host synchronisation."""
        cost = cost.detach().to(torch.float64)
        if self._state is None:
            self._init(cost)
        s = self._state
        clean = s["first"] < 0
        finite = torch.isfinite(cost)
        new = clean & ~finite
        s["first"] = torch.where(new, step, s["first"])
        s["why"] = torch.where(new, _COST, s["why"])
        s["bad_cost"] = torch.where(new, cost, s["bad_cost"])
        ok = clean & finite
        s["last_cost"] = torch.where(ok, cost, s["last_cost"])
        s["last_step"] = torch.where(ok, step, s["last_step"])

    @torch.no_grad()
    def after_update(self, step, params):
        """Check 2: θ_{step+1} (the parameters after update `step`) is finite. No host synchronisation."""
        params = list(params)
        if self._state is None:
            self._init(params[0])
        s = self._state
        bad = torch.stack([~torch.isfinite(p).all() for p in params])
        new = (s["first"] < 0) & bad.any()
        s["first"] = torch.where(new, step, s["first"])
        s["why"] = torch.where(new, _PARAMS, s["why"])
        s["bad_params"] = torch.where(new, bad, s["bad_params"])

    def due(self, step):
        """Whether the host should read the flags after step `step` (every check_every steps)."""
        return (step + 1) % self.check_every == 0

    def raise_if_diverged(self):
        """Read the flags (one synchronisation) and raise scratch's FloatingPointError naming the
        first bad step, its cost or its non-finite parameters, and the last finite cost before it."""
        if self._state is None:
            return
        s = {k: v.cpu() for k, v in self._state.items()}
        first = int(s["first"])
        if first < 0:
            return
        last = (int(s["last_step"]), float(s["last_cost"])) if int(s["last_step"]) >= 0 else None
        if int(s["why"]) == _COST:
            raise divergence_error(first, last, cost=float(s["bad_cost"]))
        bad = [n for n, b in zip(self.names, s["bad_params"].tolist()) if b]
        raise divergence_error(first, last, bad_params=bad)


def parameter_names(model):
    """The names divergence errors use, in model.parameters() order: scratch's "W1", "b1", ... for a
    DeepNet (whose parameters are linears.0.weight, linears.0.bias, ...), else torch's own names."""
    linears = getattr(model, "linears", None)
    if linears is not None and len(list(model.parameters())) == 2 * len(linears):
        return [f"{p}{l}" for l in range(1, len(linears) + 1) for p in ("W", "b")]
    return [name for name, _ in model.named_parameters()]
