"""Comparing implementations run by run: the parity verdict of experiments.

Each RunResult carries its trajectory (J_i and θ_i at the logged steps); compare puts one against
the reference (the first implementation that ran, normally scratch) with DESIGN's rule for float64
training trajectories: J_i within TRAJECTORY_RTOL = 1e-8 relative at every logged step, and the
final cost and parameters likewise. The relative parameter difference of θ_a from θ_b is the max
over the parameter arrays of max|θa - θb| / max|θb| (relative_param_difference).
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class Comparison:
    """One implementation against the reference (the first that ran) over the logged steps.

    steps; cost_rel_diff |J_a - J_ref| / |J_ref| and param_rel_diff (relative_param_difference of
    θ_i) per logged step; first_parting: the first logged step whose costs differ by more than
    TRAJECTORY_RTOL relative (None if none); final_param_rel_diff of θ_N; final_cost_ok and
    final_params_ok: J(θ_N) and θ_N within DESIGN's trajectory tolerance (rtol 1e-8; parameters
    atol 1e-12), the check the main job made before trajectories were recorded."""
    impl: str
    reference: str
    steps: np.ndarray
    cost_rel_diff: np.ndarray
    param_rel_diff: np.ndarray
    first_parting: object
    final_param_rel_diff: float
    final_cost_ok: bool
    final_params_ok: bool

    @property
    def agree(self):
        return self.first_parting is None and self.final_cost_ok and self.final_params_ok


def param_keys(params):
    """The parameter names in layer order, W1, b1, W2, b2, ... (a batch-norm layer: W[l], gamma[l],
    beta[l]): the order of a flattened θ (scratch._checks.param_keys)."""
    from scratch._checks import param_keys as keys
    return keys(params)


def flatten_params(params):
    """θ as one float64 vector (each array row-major, in param_keys order): a compact snapshot."""
    return np.concatenate([np.asarray(params[k], dtype=np.float64).ravel() for k in param_keys(params)])


def _param_slices(params):
    """The slice of each parameter array in flatten_params(params)."""
    out, start = [], 0
    for k in param_keys(params):
        size = np.size(params[k])
        out.append(slice(start, start + size))
        start += size
    return out


def _relative_rows(A, B, slices):
    """relative_param_difference row by row of two (k, n) stacks of flattened θ."""
    A, B = np.atleast_2d(A), np.atleast_2d(B)
    per_array = []
    for s in slices:
        num = np.max(np.abs(A[:, s] - B[:, s]), axis=1)
        den = np.max(np.abs(B[:, s]), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_array.append(np.where(den > 0, num / den, np.where(num > 0, np.inf, 0.0)))
    return np.max(per_array, axis=0)


def relative_param_difference(a, b):
    """The relative parameter difference of θ_a from θ_b: the max over the parameter arrays
    (W[l], b[l], γ[l], β[l]) of max|θa - θb| / max|θb|, each array scaled by its own largest entry so that a
    small bias vector is not judged on the scale of a large weight matrix. An array that is zero
    in both counts 0 (zero-initialized biases at step 0); zero in θb only, inf."""
    return float(_relative_rows(flatten_params(a), flatten_params(b), _param_slices(b))[0])


def first_parting(steps, costs, ref_costs, rtol=None):
    """The first logged step where |J_a - J_ref| > rtol·|J_ref| (rtol: TRAJECTORY_RTOL, DESIGN's
    rule for float64 training trajectories), or None when the cost curves agree at every step."""
    if rtol is None:
        from torch_ref.parity import TRAJECTORY_RTOL
        rtol = TRAJECTORY_RTOL
    apart = np.flatnonzero(np.abs(np.asarray(costs) - np.asarray(ref_costs)) > rtol * np.abs(ref_costs))
    return int(steps[apart[0]]) if apart.size else None


def params_agree(a, b):
    """θ dicts a and b within DESIGN's float64 trajectory tolerance, entry by entry: rtol
    TRAJECTORY_RTOL (1e-8), atol 1e-12 (b the reference)."""
    from torch_ref.parity import TRAJECTORY_RTOL
    return all(np.allclose(a[k], b[k], rtol=TRAJECTORY_RTOL, atol=1e-12) for k in b)


def compare(result, ref):
    """The Comparison of RunResult `result` against the reference RunResult `ref`, over the
    logged steps both recorded (no steps when either has no trajectory)."""
    from torch_ref.parity import TRAJECTORY_RTOL
    if result.steps is not None and ref.steps is not None:
        steps, ia, ib = np.intersect1d(result.steps, ref.steps, return_indices=True)
        costs, ref_costs = result.costs[ia], ref.costs[ib]
        with np.errstate(divide="ignore", invalid="ignore"):
            cost_rel = np.abs(costs - ref_costs) / np.abs(ref_costs)
        param_rel = _relative_rows(result.thetas[ia], ref.thetas[ib], _param_slices(ref.params))
        parting = first_parting(steps, costs, ref_costs, TRAJECTORY_RTOL)
    else:
        steps, cost_rel, param_rel, parting = (np.zeros(0, dtype=int), np.zeros(0), np.zeros(0), None)
    final_cost_ok = bool(np.isclose(result.final_cost, ref.final_cost, rtol=TRAJECTORY_RTOL, atol=0))
    final_params_ok = params_agree(result.params, ref.params)
    return Comparison(result.impl, ref.impl, steps, cost_rel, param_rel, parting,
                      relative_param_difference(result.params, ref.params), final_cost_ok, final_params_ok)


def compare_variant(results):
    """One Comparison per RunResult after the first, against the first (the reference)."""
    return [compare(r, results[0]) for r in results[1:]]
