"""Shared strategies, tolerances and helpers for the parity tests.

A parity test writes the same computation twice, the NumPy half in the course's
layout (examples are columns) and the torch half batch first, and compares
them with the one parity helper, `torch_ref.parity.compare`, at the named
tolerance of the dtype (`torch_ref.parity.tolerance_for`). The only transposes
are the ones in `torch_ref.convert` (to_torch / to_numpy).

Torch itself (its functions and autograd) is the gold: expected values never
come from the code under test.

Inputs are drawn by hypothesis (shapes, seeds) and built with a seeded NumPy
Generator; `hard_array` plants the hard spots of DESIGN: |z| up to 1e3,
logits ±40 and ±800, exact zeros (and -0.0), and m = 1 is drawn often.
"""
import os

import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# The tensors here are tiny (a few units, m <= 40): intra-op threads only add spin-wait
# overhead, and on a busy 2-core machine oversubscription makes each op cost milliseconds
# (200 training steps: ~60 ms with one thread, seconds with several). Numerics are unaffected.
torch.set_num_threads(1)

# ------------------------------------------------------------------ dtypes

DTYPES = (np.float64, np.float32)
DTYPE_IDS = ("f64", "f32")
dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
"""Decorator: run the test once in float64 (the reference) and once in float32."""

TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


@pytest.fixture(params=DTYPES, ids=DTYPE_IDS, scope="session")
def dtype(request):
    """Fixture form of `dtypes` (session-scoped, so hypothesis tests may use it too)."""
    return request.param

# --------------------------------------------------------------- hypothesis

# derandomize: the same examples on every run, so CI is reproducible; set
# PARITY_EXPLORE=1 to let hypothesis draw fresh examples, and PARITY_EXAMPLES=300 for a
# longer hunt (both used while developing; the suite runs with the defaults).
PARITY = settings(
    max_examples=int(os.environ.get("PARITY_EXAMPLES", 30)),
    deadline=None,
    derandomize=not os.environ.get("PARITY_EXPLORE"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
"""The settings every property test here uses (DESIGN: many shapes and seeds)."""

seeds = st.integers(min_value=0, max_value=2**32 - 1)
sizes = st.integers(min_value=1, max_value=6)                            # n[l]
batch_sizes = st.one_of(st.just(1), st.integers(min_value=2, max_value=9))  # m, m = 1 often
shapes = st.tuples(sizes, batch_sizes)                                    # (n[l], m)

SMOOTH = ("sigmoid", "tanh", "identity")
HIDDEN = ("relu", "leaky_relu", "tanh", "sigmoid", "identity")


@st.composite
def nets(draw, hidden=HIDDEN, min_layers=1, max_layers=4):
    """A random network: {"layer_dims": [n_x, n[1], ..., 1], "activations": [...,"sigmoid"]}.

    L layers in [min_layers, max_layers]; hidden activations drawn from `hidden`;
    the output layer is sigmoid with one unit (binary classification, as in the course).
    """
    L = draw(st.integers(min_value=min_layers, max_value=max_layers))
    dims = [draw(sizes) for _ in range(L)] + [1]
    acts = [draw(st.sampled_from(hidden)) for _ in range(L - 1)] + ["sigmoid"]
    return {"layer_dims": dims, "activations": acts}


# --------------------------------------------------------- input builders

HARD_VALUES = np.array([0.0, -0.0, 1.0, -1.0, 40.0, -40.0, 800.0, -800.0, 1000.0, -1000.0])


def hard_array(rng, shape, dtype, big=1e3):
    """An array of `shape` mixing ordinary values with the hard spots.

    Each entry is, at random: N(0, 1) (40%), N(0, 10²) (20%), uniform in
    [-big, big] (10%), exactly 0 (10%), or one of HARD_VALUES (20%, entries
    with |value| > big are replaced by ±big).
    """
    kind = rng.choice(5, size=shape, p=[0.4, 0.2, 0.1, 0.1, 0.2])
    values = np.clip(rng.choice(HARD_VALUES, size=shape), -big, big)
    out = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [rng.standard_normal(shape), 10 * rng.standard_normal(shape),
         rng.uniform(-big, big, size=shape), np.zeros(shape)],
        default=values,
    )
    return out.astype(dtype)


def with_a_zero(rng, A):
    """A copy of A with one entry set to exactly 0 (so a kink test is never vacuous)."""
    A = A.copy()
    A[tuple(rng.integers(0, n) for n in A.shape)] = 0
    return A


def normal(rng, shape, dtype, scale=1.0):
    """N(0, scale²) draws in float64, cast to dtype."""
    return (scale * rng.standard_normal(shape)).astype(dtype)


def labels(rng, m, dtype):
    """Y: (1, m) labels in {0, 1}, as dtype."""
    return rng.integers(0, 2, size=(1, m)).astype(dtype)


def probabilities(rng, shape, dtype, max_logit=8.0):
    """Non-saturated probabilities σ(u), u uniform in [-max_logit, max_logit]
    (far from 0 and 1, where F.binary_cross_entropy would clamp log at -100)."""
    u = rng.uniform(-max_logit, max_logit, size=shape)
    return (1 / (1 + np.exp(-u))).astype(dtype)


def random_params(rng, layer_dims, dtype, bias_scale=0.5):
    """Parameters for a parity test: W[l] ~ N(0, 1/n[l-1]) and NON-zero biases
    b[l] ~ N(0, bias_scale²) (zero biases would hide a bias bug). Not an init
    method under test: just inputs."""
    params = {}
    for l in range(1, len(layer_dims)):
        n_prev, n = layer_dims[l - 1], layer_dims[l]
        params[f"W{l}"] = normal(rng, (n, n_prev), dtype, 1 / np.sqrt(n_prev))
        params[f"b{l}"] = normal(rng, (n, 1), dtype, bias_scale)
    return params


def dropout_masks(rng, layer_dims, m, keep_probs):
    """One boolean mask per hidden layer, D[l]: (n[l], m), True = keep with probability
    keep_probs[l-1]; drawn here (not by the code under test) and shared by both sides."""
    return [rng.random((n, m)) < kp for n, kp in zip(layer_dims[1:-1], keep_probs)]


def copy_params(params):
    return {k: v.copy() for k, v in params.items()}


# -------------------------------------------------------------- comparison


def tol_for(dtype):
    """The named tolerance of DESIGN for dtype (torch_ref.parity.F64 / F32)."""
    from torch_ref import parity
    return parity.tolerance_for(dtype)


def _as_compared(x, dtype):
    """Scalars (Python floats, 0-d tensors) as 0-d arrays of the test's dtype;
    tensors must already be in the course layout (convert.to_numpy) or have the
    same orientation on both sides (weights), so a tensor is taken as is."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if np.ndim(x) == 0:
        return np.asarray(x, dtype=dtype)
    return x


def assert_same(name, mine, gold, dtype, tol=None):
    """Assert scratch's `mine` equals torch's `gold` within the dtype's named tolerance
    (or `tol`), shape and dtype included, through torch_ref.parity.compare."""
    from torch_ref import parity
    report = parity.compare(name, _as_compared(mine, dtype), _as_compared(gold, dtype),
                            tol if tol is not None else tol_for(dtype))
    assert report.passed, f"{name}: {report.message}"


def assert_same_params(prefix, mine, gold, dtype, tol=None):
    """assert_same over every key of two params (or grads) dicts, in layer order."""
    assert sorted(mine) == sorted(gold), f"{prefix}: keys {sorted(mine)} != {sorted(gold)}"
    for key in sorted(gold, key=lambda k: (int(re.search(r"\d+$", k).group()), k)):   # W1, beta1, gamma1, W2, ...
        assert_same(f"{prefix} {key}", mine[key], gold[key], dtype, tol)


def tensor(A, dtype=None, requires_grad=False):
    """A NumPy array in the course layout as a batch-first tensor (convert.to_torch)."""
    from torch_ref import convert
    t = convert.to_torch(A, dtype=TORCH_DTYPE.get(dtype, dtype) if dtype is not None else None)
    return t.requires_grad_(requires_grad)


def trajectory_tol():
    """DESIGN's tolerance for whole training runs in float64: costs (and final parameters)
    within rtol = parity.TRAJECTORY_RTOL (1e-8), atol as F64 for values that cancel to ~0."""
    from torch_ref import parity
    return parity.Tolerance(parity.TRAJECTORY_RTOL, parity.F64.atol)


# ------------------------------------------------------------ network parity


def scratch_layers(AL, caches):
    """[(Z[l], A[l]) for l = 1..L] from scratch's caches: Z[l] is cached by layer l, A[l]
    (after dropout) is the A_prev cached by layer l+1, and A[L] = AL."""
    Zs = [c["linear_activation"][1] for c in caches]
    As = [c["linear_activation"][0][0] for c in caches[1:]] + [AL]
    return list(zip(Zs, As))


def assert_network_parity(net, params, X, Y, dtype, keep_probs=None, masks=None, lambd=0.0):
    """Forward and backward of scratch (model_forward, model_backward, model_cost) and of
    torch_ref.models.DeepNet built from the same params, layer by layer: Z[l], A[l] (after
    dropout, as layer l+1 sees it), the cost J, then dW[l], db[l] from l = L down to 1.
    The torch cost is torch's own: F.binary_cross_entropy_with_logits + λ/(2m) Σ‖W‖²."""
    import torch.nn.functional as F
    from scratch import network
    from torch_ref import convert, models
    acts = net["activations"]
    m = X.shape[1]
    AL, caches = network.model_forward(X, params, acts, keep_probs=keep_probs, masks=masks)
    grads = network.model_backward(AL, Y, caches, lambd=lambd)
    J = network.model_cost(X, Y, params, acts, lambd=lambd, keep_probs=keep_probs, masks=masks)

    model = models.DeepNet.from_params(params, acts, keep_probs=keep_probs)
    x, y = tensor(X), tensor(Y)
    outs = model.layer_outputs(x, masks=convert.masks_to_torch(masks))
    penalty = lambd / (2 * m) * sum((lin.weight ** 2).sum() for lin in model.linears)
    j = F.binary_cross_entropy_with_logits(outs[-1][0], y) + penalty
    j.backward()

    assert len(outs) == len(caches) == len(acts)
    for l, ((Z, A), (z, a)) in enumerate(zip(scratch_layers(AL, caches), outs), start=1):
        assert_same(f"Z[{l}]", Z, convert.to_numpy(z), dtype)
        assert_same(f"A[{l}]", A, convert.to_numpy(a), dtype)
    assert_same("J", J, j, dtype)
    gold = convert.grads_from_model(model)
    for l in range(len(acts), 0, -1):                          # backward order: layer L first
        assert_same(f"dW[{l}]", grads[f"dW{l}"], gold[f"dW{l}"], dtype)
        assert_same(f"db[{l}]", grads[f"db{l}"], gold[f"db{l}"], dtype)


# ------------------------------------------------------------------ Lightning tests

@pytest.fixture
def restored_torch_state():
    """Trainer(deterministic=True) and seed_everything change process-wide state (deterministic
    algorithms, CUBLAS_WORKSPACE_CONFIG, PL_GLOBAL_SEED): undone after each test of a module that
    asks for it (pytestmark = pytest.mark.usefixtures("restored_torch_state")). Lightning is
    imported here, not at the top: most tests never load it."""
    from torch_ref.lightning import restored_global_state
    with restored_global_state():
        yield


@pytest.fixture(scope="module")
def flower():
    """The planar flower, 200 points split 60/20/20 with seed 0: (X_train, Y_train, X_dev, Y_dev),
    120 and 40 examples (a module may define its own `flower` instead)."""
    from scratch.data import load_flower, split
    (Xt, Yt), (Xd, Yd), _ = split(*load_flower(m=200, seed=0), ratios=(0.6, 0.2, 0.2), seed=0)
    return Xt, Yt, Xd, Yd


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"       # the first 8 bytes of every PNG file
