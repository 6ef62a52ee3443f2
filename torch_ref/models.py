"""DeepNet: the PyTorch twin of scratch.network, batch first.

Same hyperparameters as scratch (layer_dims, activations, keep_probs, init, seed, batchnorm),
same initial parameters for the same (init, seed) as scratch.initializers, same inverted dropout.

    scratch (columns)                      DeepNet (batch first)
    Z[l] = W[l] A[l-1] + b[l]  (n[l], m)   z = linears[l-1](a) = a Wᵀ + bias   (m, n[l])
    A[l] = g[l](Z[l])                      a = g[l](z)
    A[l] = A[l] * D[l] / keep_prob[l]      a = a * mask / keep_prob   (mask = D[l]ᵀ)

With batch norm (F40, F41) a hidden layer l drops b[l] (linears[l-1] has bias=False) and
normalizes before g:

    Z[l] = W[l] A[l-1]                     z = linears[l-1](a) = a Wᵀ
    Z̃[l] = γ[l] z_norm + β[l]              z̃ = norms[l-1](z)      nn.BatchNorm1d(n[l], eps, momentum = 1 - β)
    A[l] = g[l](Z̃[l]), then dropout        a = g[l](z̃), then dropout

The output layer L never has batch norm. A softmax output (F39) gives logits z (m, C) from
forward(); its probabilities are softmax over the C classes, i.e. over dim 1 (the rows of the
batch-first tensor), where scratch takes it over the rows of (C, m), i.e. down each column.
"""
import torch
import torch.nn.functional as F
from torch import nn

from scratch._checks import (check_activation, check_count, check_keep_prob, check_memory, check_params,
                             check_positive, parameter_count, short_list)
from scratch.initializers import INIT_METHODS, initialize_bytes, initialize_parameters

from . import convert
from .divergence import check_finite_parameters
from .functional import activation as _activation

# the ways layer_outputs may take the statistics of a batch-norm layer (see layer_outputs)
BN_STATS = (None, "batch", "running")


def _check_batchnorm(batchnorm, L):
    """batchnorm: a bool (every hidden layer, or none) or L-1 bools (hidden layers 1..L-1).
    Returns the list of L-1 bools."""
    if isinstance(batchnorm, bool):
        return [batchnorm] * (L - 1)
    if (not isinstance(batchnorm, (list, tuple)) or len(batchnorm) != L - 1
            or not all(isinstance(b, bool) for b in batchnorm)):
        raise ValueError(f"batchnorm must be True/False (every hidden layer) or a list of L-1 = {L - 1} "
                         f"bools (hidden layers 1..L-1); got {batchnorm!r}")
    return list(batchnorm)


def construction_bytes(layer_dims, dtype=torch.float64, batchnorm=False):
    """The bytes DeepNet(layer_dims, ..., dtype, batchnorm) allocates at its peak (a Python int, nothing
    allocated): its parameters in dtype (and each batch-norm layer's running μ, σ², 2 n[l] more), plus
    reset_parameters' scratch draw of them, in float64 (scratch.initializers.initialize_bytes)."""
    bn = _check_batchnorm(batchnorm, len(layer_dims) - 1)
    itemsize = torch.finfo(convert.torch_dtype(dtype)).bits // 8
    running = sum(2 * n for n, b in zip(layer_dims[1:], bn) if b)
    return (parameter_count(layer_dims, bn) + running) * itemsize + initialize_bytes(layer_dims, "float64", False)


class DeepNet(nn.Module):
    """An L-layer fully connected network: layer_dims = [n[0], ..., n[L]].

    activations: L names (one per layer 1..L), e.g. ["relu", "relu", "sigmoid"]; the output layer
      may be "softmax" (C = n[L] >= 2 classes, one-hot labels), a hidden layer may not.
    keep_probs: L-1 probabilities of KEEPING a unit of hidden layers 1..L-1 (None: no dropout).
    init: "zeros", "random" (× scale), "xavier", "glorot", "he" — W[l] ~ N(0, INIT_STD²), biases
      zero: the very θ_0 that scratch's initialize_parameters(layer_dims, init, rng=seed) draws.
      (nn.Linear's own default is uniform with non-zero biases; DeepNet replaces it.)
    dtype: float64 (the parity reference) or float32. alpha: leaky_relu's negative slope.
    batchnorm: False, True (every hidden layer) or L-1 bools: batch norm after the linear map of
      those hidden layers (then that linear map has no bias, γ = 1 and β = 0 at the start, and the
      running statistics μ = 0, σ² = 1, as scratch's initialize_running_stats).
    bn_eps: ε of z_norm = (z - μ)/√(σ² + ε) (torch's and scratch's default 1e-5).
    bn_beta: the course's β of the running statistics, μ_run = β μ_run + (1-β) μ_B; BatchNorm1d
      gets momentum = 1 - β (convert.bn_beta_to_momentum).
    A net whose parameters would exceed the memory budget (scratch._checks.memory_budget) is refused
    (MemoryBudgetError, a ValueError) before nn.Linear allocates them: see construction_bytes.
    """

    def __init__(self, layer_dims, activations, keep_probs=None, init="he", seed=None,
                 dtype=torch.float64, alpha=0.01, scale=0.01, batchnorm=False, bn_eps=1e-5, bn_beta=0.9):
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
            check_activation(name, argname=f"activations[{i}]", output=i == L - 1)
        if activations[-1] == "softmax" and dims[-1] < 2:
            raise ValueError(f"a softmax output needs C = layer_dims[-1] >= 2 classes; got {dims[-1]} "
                             f"(for two classes with labels 0/1 use one sigmoid unit)")
        if keep_probs is not None:
            if not isinstance(keep_probs, (list, tuple)) or len(keep_probs) != L - 1:
                raise ValueError(f"keep_probs must be a list of L-1 = {L - 1} probabilities "
                                 f"(hidden layers 1..L-1) or None; got {keep_probs!r}")
            keep_probs = [check_keep_prob(f"keep_probs[{i}]", kp) for i, kp in enumerate(keep_probs)]
        if init not in INIT_METHODS:
            raise ValueError(f"init must be one of {list(INIT_METHODS)}; got {init!r}")
        bn_layers = _check_batchnorm(batchnorm, L)
        bn_eps = check_positive("bn_eps", bn_eps)
        momentum = convert.bn_beta_to_momentum(bn_beta)
        dtype = convert.torch_dtype(dtype)
        if dtype is None or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a float dtype (torch.float64 or torch.float32); got {dtype}")
        check_memory(f"DeepNet: layer_dims {short_list(dims)}", construction_bytes(dims, dtype, bn_layers),
                     "the parameters and their float64 draw")

        self.layer_dims, self.activations, self.keep_probs = dims, list(activations), keep_probs
        self.alpha, self.init = float(alpha), init
        self.bn_layers, self.bn_eps, self.bn_beta = bn_layers, bn_eps, float(bn_beta)
        self._g = [_activation(name, self.alpha, output=l == L)
                   for l, name in enumerate(self.activations, start=1)]
        # a batch-norm layer's bias would be removed by z - μ at once: β takes its place (course)
        self.linears = nn.ModuleList(
            nn.Linear(dims[l - 1], dims[l], bias=not (l < L and bn_layers[l - 1]), dtype=dtype)
            for l in range(1, L + 1))
        # nn.Dropout(p) drops with probability p = 1 - keep_prob (convert.keep_prob_to_p).
        kps = keep_probs or [1.0] * (L - 1)
        self.dropouts = nn.ModuleList(nn.Dropout(p=convert.keep_prob_to_p(kp)) for kp in kps)
        # norms[l-1] is layer l's BatchNorm1d (nn.Identity, no parameters, where a hidden layer has
        # none); empty without batch norm, so a plain net's state_dict is what it always was.
        self.norms = nn.ModuleList(
            (nn.BatchNorm1d(dims[l], eps=bn_eps, momentum=momentum, dtype=dtype) if bn else nn.Identity())
            for l, bn in enumerate(bn_layers, start=1)) if any(bn_layers) else nn.ModuleList()
        self.reset_parameters(init, seed, scale)

    @torch.no_grad()
    def reset_parameters(self, init="he", seed=None, scale=0.01):
        """θ_0 = scratch.initializers.initialize_parameters(layer_dims, init, rng=seed, scale): W[l] ~
        N(0, INIT_STD²), b[l] = 0, drawn in float64 and cast to this net's dtype, so a seed means the
        same parameters on both sides (seed None: fresh, unseeded draws). torch's own nn.init
        functions draw from the same distributions (tests/test_init_stats.py, parity row F18).
        Batch-norm layers: γ = 1, β = 0, running μ = 0, σ² = 1 (the W draws are the same as without
        batch norm: the draws do not depend on the biases)."""
        params = initialize_parameters(self.layer_dims, init, rng=seed, scale=scale)
        for l, lin in enumerate(self.linears, start=1):
            lin.weight.copy_(torch.from_numpy(params[f"W{l}"]))
            if lin.bias is not None:
                lin.bias.zero_()
            norm = self.norm(l)
            if norm is not None:
                norm.reset_parameters()          # weight (γ) = 1, bias (β) = 0, running stats 0 and 1

    @property
    def L(self):
        """Number of layers with parameters (L)."""
        return len(self.linears)

    @property
    def batchnorm(self):
        """Whether any hidden layer has batch norm."""
        return any(self.bn_layers)

    def norm(self, l):
        """The nn.BatchNorm1d of layer l (1..L), or None when layer l has no batch norm."""
        if 1 <= l < self.L and self.bn_layers[l - 1]:
            return self.norms[l - 1]
        return None

    def _check_x(self, x, masks, stats):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch tensor (m, n_x) (batch first; for course-layout X "
                            f"use torch_ref.convert.to_torch(X)); got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.layer_dims[0]:
            raise ValueError(f"x must have shape (m, n_x) with n_x = {self.layer_dims[0]}; "
                             f"got shape {tuple(x.shape)}")
        if stats not in BN_STATS:
            raise ValueError(f"stats must be one of {list(BN_STATS)}; got {stats!r}")
        if masks is not None:
            self._check_masks(masks, x.shape[0])

    def _check_masks(self, masks, m):
        """masks: L-1 tensors (m, n[l]) for a batch of m examples, and dropout layers to apply them to."""
        if self.keep_probs is None:
            raise ValueError("masks were given but keep_probs is None (no dropout layers)")
        if len(masks) != self.L - 1:
            raise ValueError(f"masks must be a list of L-1 = {self.L - 1} tensors; got {len(masks)}")
        for l, mask in enumerate(masks, start=1):
            want = (m, self.layer_dims[l])
            if tuple(mask.shape) != want:
                raise ValueError(f"masks[{l - 1}] must have shape (m, n[{l}]) = {want}; "
                                 f"got shape {tuple(mask.shape)}")

    def _normalize(self, norm, z, stats):
        """z̃ = γ (z - μ)/√(σ² + ε) + β by nn.BatchNorm1d (see layer_values for `stats`)."""
        if stats is None:
            return norm(z)
        if stats == "batch":             # the batch's μ, σ² (biased), running statistics untouched
            return F.batch_norm(z, None, None, norm.weight, norm.bias, training=True, eps=norm.eps)
        return F.batch_norm(z, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                            training=False, eps=norm.eps)

    def layer_values(self, x, masks=None, dropout=True, stats=None):
        """Every layer's values, batch first: a list of L dicts, layer l = 1..L,
            "Z": the linear map z = a Wᵀ (+ bias) (m, n[l]),
            "Z_tilde": z̃ = norms[l-1](z) (m, n[l]), only for a batch-norm layer,
            "A": g[l](z̃ or z), after dropout for a hidden layer (what layer l+1 sees).

        Dropout: with `masks` (L-1 bool tensors (m, n[l]), see convert.masks_to_torch)
        A = g(Z) * mask / keep_prob, in any mode; without masks nn.Dropout(p = 1 - keep_prob) in
        train mode, nothing in eval mode. dropout=False skips dropout altogether (prediction).
        stats, for batch-norm layers:
            None:      the module's mode: in train mode the batch's μ, σ² (biased) and one update of
                       the running statistics (BatchNorm1d's forward; m = 1 raises ValueError, as in
                       torch), in eval mode the running statistics;
            "batch":   the batch's μ, σ², the running statistics left as they are (e.g. an accuracy
                       evaluated on the batch of a training step, which already updated them once);
            "running": the running statistics (prediction, any m), in any mode.
        """
        self._check_x(x, masks, stats)
        return self._layer_values(x, masks, dropout, stats)

    def _layer_values(self, x, masks=None, dropout=True, stats=None, output=True):
        """layer_values without its argument checks, for callers that checked x, masks and stats
        once (the training loops check them at their entry, and each step's masks).
        output=False stops at Z[L]: layer L's dict has no "A" (a cost from the logits needs no g[L])."""
        values, a, L = [], x, self.L
        drop = dropout and self.keep_probs is not None
        for l, (lin, g) in enumerate(zip(self.linears, self._g), start=1):
            z = lin(a)
            value = {"Z": z}
            if l == L and not output:
                values.append(value)
                break
            if l < L and self.bn_layers[l - 1]:                  # self.norm(l)
                z = value["Z_tilde"] = self._normalize(self.norms[l - 1], z, stats)
            a = g(z)
            if l < L and drop:
                if masks is not None:
                    a = a * masks[l - 1].to(a.dtype) / self.keep_probs[l - 1]
                else:
                    a = self.dropouts[l - 1](a)
            value["A"] = a
            values.append(value)
        return values

    def layer_outputs(self, x, masks=None, dropout=True, stats=None):
        """[(Z[1], A[1]), ..., (Z[L], A[L])], each (m, n[l]), batch first (for parity): the input of
        g[l] and A[l]. Z[l] is the linear map W[l]A[l-1] + b[l], or, for a batch-norm layer, the
        normalized Z̃[l] = γ z_norm + β (what g[l] acts on, so A[l] = g[l](Z[l]) holds for every layer;
        layer_values has the linear map of a batch-norm layer too).

        A[l] of a hidden layer is after dropout (what layer l+1 sees): with `masks`
        (L-1 bool tensors (m, n[l]), see convert.masks_to_torch) A = g(Z) * mask / keep_prob,
        in any mode; without masks nn.Dropout(p = 1 - keep_prob) in train mode, nothing in
        eval mode. dropout=False skips dropout altogether (prediction). A[L] = g[L](Z[L]).
        stats: the statistics of batch-norm layers (None, "batch" or "running"; see layer_values).
        """
        return [(v.get("Z_tilde", v["Z"]), v["A"]) for v in self.layer_values(x, masks, dropout, stats)]

    def forward(self, x, masks=None):
        """The logits Z[L] (m, n[L]): the output layer's pre-activation (for cost_from_logits, or for
        F.cross_entropy with a softmax output)."""
        self._check_x(x, masks, None)
        return self._logits(x, masks)

    def _logits(self, x, masks=None):
        """forward without its argument checks (see _layer_values): Z[L] (the output layer has no
        batch norm, so its Z is what g[L] acts on), without computing A[L]."""
        return self._layer_values(x, masks, output=False)[-1]["Z"]

    def predict_proba(self, x):
        """ŷ = g[L](Z[L]) (m, n[L]), without dropout (none at prediction), and with the running
        statistics in batch-norm layers (prediction mode, any m: each example on its own), whatever
        the module's mode. A softmax output gives (m, C) class probabilities, each row summing to 1.
        Non-finite parameters raise ValueError naming the parameter (a NaN weight would
        otherwise give NaN probabilities, and predict 0 for every example). Training loops call
        layer_outputs instead: they check their parameters once at the entry and then every step."""
        check_finite_parameters(self, "DeepNet parameters")
        return self.layer_outputs(x, dropout=False, stats="running")[-1][1]

    @torch.no_grad()
    def predict(self, x):
        """Predictions as an int64 tensor (m, 1), as predict_proba (no dropout, running statistics):
        sigmoid output: 0/1 (ŷ > 0.5), (m, n[L]); softmax output: the class index argmax_k ŷ_k
        (the first one on a tie, as NumPy's argmax in scratch.network.predict), (m, 1).
        Non-finite parameters raise ValueError naming the parameter (see predict_proba)."""
        proba = self.predict_proba(x)
        if self.activations[-1] == "softmax":
            return proba.argmax(dim=1, keepdim=True)
        return (proba > 0.5).to(torch.int64)

    @classmethod
    def from_params(cls, params, activations, keep_probs=None, alpha=0.01, bn_stats=None, bn_eps=1e-5,
                    bn_beta=0.9):
        """A DeepNet holding scratch params exactly (dtype from params["W1"]); see
        convert.params_to_state_dict for W[l] -> weight, b[l] (n[l], 1) -> bias (n[l],), and
        γ[l], β[l] (n[l], 1) -> norms[l-1].weight, .bias. A layer has batch norm iff params has
        "gamma{l}". bn_stats: running statistics {"mu{l}", "var{l}"} (n[l], 1) for every batch-norm
        layer, copied into running_mean / running_var as they are (no conversion of the variance
        convention: see convert), or None for the starting values μ = 0, σ² = 1."""
        L = check_params(params)
        dims = [params["W1"].shape[1]] + [params[f"W{l}"].shape[0] for l in range(1, L + 1)]
        bn = [f"gamma{l}" in params for l in range(1, L)]
        net = cls(dims, activations, keep_probs=keep_probs, init="zeros", dtype=params["W1"].dtype,
                  alpha=alpha, batchnorm=bn, bn_eps=bn_eps, bn_beta=bn_beta)
        sd = convert.params_to_state_dict(params, bn_stats)
        missing, unexpected = net.load_state_dict(sd, strict=False)
        # what may stay at its starting value: the running statistics when bn_stats is None, and
        # num_batches_tracked (torch's count, used only when momentum is None; not a course quantity)
        allowed = ("num_batches_tracked",) + (("running_mean", "running_var") if bn_stats is None else ())
        missing = [k for k in missing if not k.endswith(allowed)]
        if missing or unexpected:                           # unreachable for params that pass check_params
            raise ValueError(f"params do not fit DeepNet {dims}: missing {missing}, unexpected {unexpected}")
        return net

    def to_params(self):
        """The scratch params dict {"W1", "b1", ...} (with "gamma{l}", "beta{l}" instead of "b{l}" for
        a batch-norm layer): fresh NumPy arrays, exact."""
        return convert.state_dict_to_params(self.state_dict())

    def to_bn_stats(self):
        """The running statistics {"mu{l}", "var{l}"} (n[l], 1) of the batch-norm layers as torch keeps
        them (the variance is torch's unbiased average, see convert), or None without batch norm."""
        return convert.state_dict_to_bn_stats(self.state_dict())

    def extra_repr(self):
        bn = f", batchnorm={self.bn_layers}, bn_eps={self.bn_eps}, bn_beta={self.bn_beta}" if self.batchnorm else ""
        return f"activations={self.activations}, keep_probs={self.keep_probs}{bn}"


def LogisticRegression(n_x, dtype=torch.float64, w=None, b=0.0):
    """Logistic regression ŷ = σ(wᵀx + b) (F05) as DeepNet([n_x, 1], ["sigmoid"]), i.e.
    nn.Linear(n_x, 1) + sigmoid. Zero-initialized as in the course, or from w (n_x, 1), b."""
    if w is None:
        return DeepNet([n_x, 1], ["sigmoid"], init="zeros", dtype=dtype)
    return DeepNet.from_params(convert.logistic_to_params(w, b), ["sigmoid"])
