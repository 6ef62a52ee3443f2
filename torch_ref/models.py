"""DeepNet: the PyTorch twin of scratch.network, batch first.

Same hyperparameters as scratch (layer_dims, activations, keep_probs, init, seed),
same initial parameters for the same (init, seed) as scratch.initializers, same inverted dropout.

    scratch (columns)                      DeepNet (batch first)
    Z[l] = W[l] A[l-1] + b[l]  (n[l], m)   z = linears[l-1](a) = a Wᵀ + bias   (m, n[l])
    A[l] = g[l](Z[l])                      a = g[l](z)
    A[l] = A[l] * D[l] / keep_prob[l]      a = a * mask / keep_prob   (mask = D[l]ᵀ)
"""
import torch
from torch import nn

from scratch._checks import check_activation, check_count, check_keep_prob, check_params
from scratch.initializers import INIT_METHODS, initialize_parameters

from . import convert
from .divergence import check_finite_parameters
from .functional import activation as _activation


class DeepNet(nn.Module):
    """An L-layer fully connected network: layer_dims = [n[0], ..., n[L]].

    activations: L names (one per layer 1..L), e.g. ["relu", "relu", "sigmoid"].
    keep_probs: L-1 probabilities of KEEPING a unit of hidden layers 1..L-1 (None: no dropout).
    init: "zeros", "random" (× scale), "xavier", "glorot", "he" — W[l] ~ N(0, INIT_STD²), biases
      zero: the very θ_0 that scratch's initialize_parameters(layer_dims, init, rng=seed) draws.
      (nn.Linear's own default is uniform with non-zero biases; DeepNet replaces it.)
    dtype: float64 (the parity reference) or float32. alpha: leaky_relu's negative slope.
    """

    def __init__(self, layer_dims, activations, keep_probs=None, init="he", seed=None,
                 dtype=torch.float64, alpha=0.01, scale=0.01):
        super().__init__()
        if not isinstance(layer_dims, (list, tuple)) or len(layer_dims) < 2:
            raise ValueError(f"layer_dims must be a list [n[0], ..., n[L]] of at least 2 ints; "
                             f"got {layer_dims!r}")
        dims = [check_count(f"layer_dims[{i}]", n, minimum=1) for i, n in enumerate(layer_dims)]
        L = len(dims) - 1
        if not isinstance(activations, (list, tuple)) or len(activations) != L:
            raise ValueError(f"activations must be a list of L = {L} names (layers 1..L); "
                             f"got {activations!r}")
        for i, name in enumerate(activations):
            check_activation(name, argname=f"activations[{i}]")
        if keep_probs is not None:
            if not isinstance(keep_probs, (list, tuple)) or len(keep_probs) != L - 1:
                raise ValueError(f"keep_probs must be a list of L-1 = {L - 1} probabilities "
                                 f"(hidden layers 1..L-1) or None; got {keep_probs!r}")
            keep_probs = [check_keep_prob(f"keep_probs[{i}]", kp) for i, kp in enumerate(keep_probs)]
        if init not in INIT_METHODS:
            raise ValueError(f"init must be one of {list(INIT_METHODS)}; got {init!r}")
        dtype = convert.torch_dtype(dtype)
        if dtype is None or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a float dtype (torch.float64 or torch.float32); got {dtype}")

        self.layer_dims, self.activations, self.keep_probs = dims, list(activations), keep_probs
        self.alpha, self.init = float(alpha), init
        self._g = [_activation(name, self.alpha) for name in self.activations]
        self.linears = nn.ModuleList(nn.Linear(dims[l - 1], dims[l], dtype=dtype) for l in range(1, L + 1))
        # nn.Dropout(p) drops with probability p = 1 - keep_prob (convert.keep_prob_to_p).
        kps = keep_probs or [1.0] * (L - 1)
        self.dropouts = nn.ModuleList(nn.Dropout(p=convert.keep_prob_to_p(kp)) for kp in kps)
        self.reset_parameters(init, seed, scale)

    @torch.no_grad()
    def reset_parameters(self, init="he", seed=None, scale=0.01):
        """θ_0 = scratch.initializers.initialize_parameters(layer_dims, init, rng=seed, scale): W[l] ~
        N(0, INIT_STD²), b[l] = 0, drawn in float64 and cast to this net's dtype, so a seed means the
        same parameters on both sides (seed None: fresh, unseeded draws). torch's own nn.init
        functions draw from the same distributions (tests/test_init_stats.py, parity row F18)."""
        params = initialize_parameters(self.layer_dims, init, rng=seed, scale=scale)
        with torch.no_grad():
            for l, lin in enumerate(self.linears, start=1):
                lin.weight.copy_(torch.from_numpy(params[f"W{l}"]))
                lin.bias.zero_()

    @property
    def L(self):
        """Number of layers with parameters (L)."""
        return len(self.linears)

    def _check_x(self, x, masks):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch tensor (m, n_x) (batch first; for course-layout X "
                            f"use torch_ref.convert.to_torch(X)); got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.layer_dims[0]:
            raise ValueError(f"x must have shape (m, n_x) with n_x = {self.layer_dims[0]}; "
                             f"got shape {tuple(x.shape)}")
        if masks is not None:
            if self.keep_probs is None:
                raise ValueError("masks were given but keep_probs is None (no dropout layers)")
            if len(masks) != self.L - 1:
                raise ValueError(f"masks must be a list of L-1 = {self.L - 1} tensors; got {len(masks)}")
            for l, mask in enumerate(masks, start=1):
                want = (x.shape[0], self.layer_dims[l])
                if tuple(mask.shape) != want:
                    raise ValueError(f"masks[{l - 1}] must have shape (m, n[{l}]) = {want}; "
                                     f"got shape {tuple(mask.shape)}")

    def layer_outputs(self, x, masks=None, dropout=True):
        """[(Z[1], A[1]), ..., (Z[L], A[L])], each (m, n[l]), batch first (for parity).

        A[l] of a hidden layer is after dropout (what layer l+1 sees): with `masks`
        (L-1 bool tensors (m, n[l]), see convert.masks_to_torch) A = g(Z) * mask / keep_prob,
        in any mode; without masks nn.Dropout(p = 1 - keep_prob) in train mode, nothing in
        eval mode. dropout=False skips dropout altogether (prediction). A[L] = g[L](Z[L]).
        """
        self._check_x(x, masks)
        outs, a = [], x
        for l, (lin, g) in enumerate(zip(self.linears, self._g), start=1):
            z = lin(a)
            a = g(z)
            if l < self.L and dropout and self.keep_probs is not None:
                if masks is not None:
                    a = a * masks[l - 1].to(a.dtype) / self.keep_probs[l - 1]
                else:
                    a = self.dropouts[l - 1](a)
            outs.append((z, a))
        return outs

    def forward(self, x, masks=None):
        """The logits Z[L] (m, n[L]): the output layer's pre-activation (for cost_from_logits)."""
        return self.layer_outputs(x, masks)[-1][0]

    def predict_proba(self, x):
        """ŷ = g[L](Z[L]) (m, n[L]), without dropout (none at prediction).
        Non-finite parameters raise ValueError naming the parameter (a NaN weight would
        otherwise give NaN probabilities, and predict 0 for every example). Training loops call
        layer_outputs instead: they check their parameters once at the entry and then every step."""
        check_finite_parameters(self, "DeepNet parameters")
        return self.layer_outputs(x, dropout=False)[-1][1]

    @torch.no_grad()
    def predict(self, x):
        """0/1 predictions (ŷ > 0.5) as an int64 tensor (m, n[L]), without dropout.
        Non-finite parameters raise ValueError naming the parameter (see predict_proba)."""
        return (self.predict_proba(x) > 0.5).to(torch.int64)

    @classmethod
    def from_params(cls, params, activations, keep_probs=None, alpha=0.01):
        """A DeepNet holding scratch params exactly (dtype from params["W1"]); see
        convert.params_to_state_dict for W[l] -> weight, b[l] (n[l], 1) -> bias (n[l],)."""
        L = check_params(params)
        dims = [params["W1"].shape[1]] + [params[f"W{l}"].shape[0] for l in range(1, L + 1)]
        net = cls(dims, activations, keep_probs=keep_probs, init="zeros",
                  dtype=params["W1"].dtype, alpha=alpha)
        net.load_state_dict(convert.params_to_state_dict(params))
        return net

    def to_params(self):
        """The scratch params dict {"W1", "b1", ...} (fresh NumPy arrays, exact)."""
        return convert.state_dict_to_params(self.state_dict())

    def extra_repr(self):
        return f"activations={self.activations}, keep_probs={self.keep_probs}"


def LogisticRegression(n_x, dtype=torch.float64, w=None, b=0.0):
    """Logistic regression ŷ = σ(wᵀx + b) (F05) as DeepNet([n_x, 1], ["sigmoid"]), i.e.
    nn.Linear(n_x, 1) + sigmoid. Zero-initialized as in the course, or from w (n_x, 1), b."""
    if w is None:
        return DeepNet([n_x, 1], ["sigmoid"], init="zeros", dtype=dtype)
    return DeepNet.from_params(convert.logistic_to_params(w, b), ["sigmoid"])
