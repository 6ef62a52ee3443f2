"""The model file (scratch.model_file) from and to a DeepNet: one format for scratch, torch and Lightning.

A DeepNet's parameters go in under scratch's names (convert.scratch_parameters: W[l], b[l], γ[l],
β[l] as course columns), its batch-norm running statistics as torch keeps them (bn_unbiased=True: the
variance is an average of unbiased batch variances, see convert), and the optimizer's state in the
course's names (convert.optimizer_state / load_optimizer_state), so that a file saved here is read by
scratch.model_file.load_model and predicts the same there, and the other way round.
"""
import numpy as np
import torch

from scratch.model_file import Model, TrainState, load_model, save_model

from . import convert
from .models import DeepNet

__all__ = ["model_from_deepnet", "deepnet_from_model", "load_optimizer_state", "save_deepnet", "load_deepnet",
           "train_state", "torch_rng_state", "set_torch_rng_state"]

load_optimizer_state = convert.load_optimizer_state


def torch_rng_state():
    """torch's CPU generator state (nn.Dropout draws from it on the CPU) as a uint8 NumPy array."""
    return torch.get_rng_state().numpy().copy()


def set_torch_rng_state(state):
    """Restore torch's CPU generator from torch_rng_state()'s array (None: leave it)."""
    if state is not None:
        torch.set_rng_state(torch.from_numpy(np.asarray(state, dtype=np.uint8).copy()))


def train_state(net, step, optimizer=None, optimizer_name="gd", **kw):
    """The TrainState of a DeepNet after `step` updates: its parameters and running statistics, the
    optimizer's state in the course's names (convert.optimizer_state), torch's RNG state; kw: the
    other TrainState fields (history, best, last_finite, plan, extra)."""
    opt_state = convert.optimizer_state(optimizer, net) if optimizer is not None and optimizer_name != "gd" else None
    return TrainState(step=int(step), params=net.to_params(), optimizer=optimizer_name, opt_state=opt_state or None,
                      bn_stats=net.to_bn_stats(), torch_rng=torch_rng_state(), **kw)


def model_from_deepnet(net, *, state=None, config=None, preprocess=None, impl="torch"):
    """A scratch.model_file.Model of a DeepNet: its parameters (exact), architecture, running statistics
    (bn_unbiased=True, torch's convention) and, when given, a TrainState to resume from."""
    if not isinstance(net, DeepNet):
        raise TypeError(f"net must be a torch_ref.models.DeepNet; got {type(net).__name__}")
    return Model(params=net.to_params(), layer_dims=list(net.layer_dims), activations=list(net.activations),
                 keep_probs=None if net.keep_probs is None else list(net.keep_probs), alpha=net.alpha,
                 bn_stats=net.to_bn_stats(), bn_eps=net.bn_eps, bn_beta=net.bn_beta, bn_unbiased=True,
                 preprocess=preprocess, state=state, config=config, impl=impl)


def deepnet_from_model(model, dtype=torch.float64, device=None):
    """The DeepNet of a Model (or of the path of a model file): the same parameters, cast to dtype
    (exact for float64), and the running statistics copied as they are (a course run's biased
    averages included: predictions then equal scratch's). In eval mode."""
    if not isinstance(model, Model):
        model = load_model(model)
    params = {k: np.asarray(v, dtype=convert.numpy_dtype(dtype)) for k, v in model.params.items()}
    stats = None if model.bn_stats is None else {k: np.asarray(v, dtype=params["W1"].dtype)
                                                 for k, v in model.bn_stats.items()}
    net = DeepNet.from_params(params, list(model.activations), keep_probs=model.keep_probs, alpha=model.alpha,
                              bn_stats=stats, bn_eps=model.bn_eps, bn_beta=model.bn_beta)
    if device is not None:
        net.to(device)
    return net.eval()


def save_deepnet(path, net, **kw):
    """save_model(path, model_from_deepnet(net, **kw)): atomic. Returns path."""
    return save_model(path, model_from_deepnet(net, **kw))


def load_deepnet(path, dtype=torch.float64, device=None):
    """The DeepNet of the model file at path (deepnet_from_model(load_model(path)))."""
    return deepnet_from_model(load_model(path), dtype=dtype, device=device)
