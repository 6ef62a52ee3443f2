"""Run one experiment config: every (variant, implementation) pair from the same θ_0.

Each implementation trains with its own code and is evaluated with its own code:
scratch with scratch.train / scratch.network, torch with torch_ref.train_loop.train_plain
and DeepNet, Lightning with torch_ref.lightning (imported only when it runs: `import
lightning` takes seconds). All in float64; each writes its TensorBoard run (experiments.tb).
"""
import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from scratch import data as sdata
from scratch import network
from scratch.initializers import initialize_parameters

from . import tb


@dataclass
class Dataset:
    """Course layout: X (n_x, m), Y (1, m) per part; test may be None."""
    train: tuple
    dev: tuple
    test: tuple = None


@dataclass
class RunResult:
    """What one implementation produced: θ_N, J(θ_N) on the training set (with L2, without dropout),
    accuracies {"train", "dev", "test"} (θ_N, no dropout), the training wall time and the run dir."""
    impl: str
    params: dict
    final_cost: float
    accuracy: dict
    wall_s: float
    run_dir: str


@dataclass
class VariantRuns:
    """The runs of one variant (None without variants): its Config, the data sizes
    {"train", "dev", "test"} and one RunResult per implementation."""
    variant: str
    config: object
    sizes: dict
    results: list


def load_data(cfg, data_paths=None):
    """The config's dataset split into train/dev/test (standardized with the train statistics
    if cfg.standardize). catvnoncat reads data_paths = (train.h5, test.h5): the train file is the
    training set, the test file the dev set, as in the course."""
    if cfg.dataset == "catvnoncat":
        if not data_paths:
            raise ValueError("catvnoncat needs the course's files: --data TRAIN_H5 TEST_H5")
        train, dev, _ = sdata.load_catvnoncat(*data_paths)
        parts = Dataset(train, dev)
    else:
        loaders = {"flower": lambda: sdata.load_flower(cfg.m, cfg.seed),
                   "moons": lambda: sdata.make_moons(cfg.m, cfg.noise, cfg.seed),
                   "circles": lambda: sdata.make_circles(cfg.m, cfg.noise, cfg.seed),
                   "blobs": lambda: sdata.make_blobs(cfg.m, cfg.noise, cfg.seed),
                   "digits": sdata.load_digits_binary, "breast_cancer": sdata.load_breast_cancer}
        X, Y = loaders[cfg.dataset]()
        parts = Dataset(*sdata.split(X, Y, ratios=cfg.ratios, seed=cfg.seed))
    if cfg.standardize:
        others = [p for p in (parts.dev, parts.test) if p is not None]
        *std, _ = sdata.standardize(parts.train[0], *[p[0] for p in others])
        parts = Dataset((std[0], parts.train[1]), *[(x, p[1]) for x, p in zip(std[1:], others)])
    if parts.train[0].shape[0] != cfg.layer_dims[0]:
        raise ValueError(f"{cfg.name}: layer_dims[0] must be n_x = {parts.train[0].shape[0]} for dataset "
                         f"{cfg.dataset!r}; got {cfg.layer_dims[0]}")
    return parts


class Progress:
    """One self-rewriting line on stderr when it is a terminal (silent otherwise), at most 10 a second."""

    def __init__(self, label, total):
        self.label, self.total, self.last = label, total, 0.0
        self.live = sys.stderr.isatty()

    def update(self, step, cost):
        now = time.perf_counter()
        if self.live and now - self.last > 0.1:
            self.last = now
            sys.stderr.write(f"\r{self.label:>10}: step {step + 1:>7}/{self.total}  cost {cost:.6f}")
            sys.stderr.flush()

    def close(self):
        if self.live:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def _accuracies(predict, data):
    """{"train", "dev", "test"}: mean of predict(X) == Y over each part (None when absent)."""
    return {name: (float(np.mean(predict(part[0]) == part[1])) if part is not None else None)
            for name, part in (("train", data.train), ("dev", data.dev), ("test", data.test))}


def _finish(writer, cfg, impl, result, predict_proba, data):
    """Hyperparameters with metrics, and the decision boundary, into the run; close it."""
    tb.write_hparams(writer, {"impl": impl, **cfg.hparams()},
                     {"hp/train_cost": result.final_cost, "hp/train_acc": result.accuracy["train"],
                      "hp/dev_acc": result.accuracy["dev"]})
    tb.add_decision_boundary(writer, predict_proba, *data.train, step=cfg.num_iterations,
                             title=f"{cfg.name} ({impl}): train acc {result.accuracy['train']:.3f}")
    writer.close()


def shared_dropout_masks(layer_dims, keep_probs, m, seed):
    """masks(step) -> the dropout masks D[1..L-1] of that step, bool (n[l], m), D[l] = rand < keep_prob[l].

    Every implementation trains with these same masks (scratch.train, train_plain and the Lightning
    module all take `masks`), so a dropout run is the same run three times and its curves overlay.
    Each step draws from its own Generator seeded by (seed, step): the masks do not depend on who
    asks first or how often. None without dropout."""
    if not keep_probs:
        return None
    dims, keep_probs = list(layer_dims[1:-1]), list(keep_probs)

    def masks(step):
        rng = np.random.default_rng([seed, step])
        return [rng.random((n, m)) < kp for n, kp in zip(dims, keep_probs)]
    return masks


def run_scratch(cfg, data, params0, path, device=None, masks=None):
    """scratch.train (NumPy, full batch) from params0; history records written as they come."""
    from scratch.train import train
    writer, bar = tb.open_writer(path), Progress("scratch", cfg.num_iterations)

    def log(step, record, params):
        tb.write_record(writer, record)
        bar.update(step, record["cost"])

    start = time.perf_counter()
    res = train(*data.train, list(cfg.layer_dims), list(cfg.activations), params=params0, rng=cfg.seed,
                learning_rate=cfg.learning_rate, num_iterations=cfg.num_iterations, lambd=cfg.lambd,
                keep_probs=cfg.keep_probs and list(cfg.keep_probs), masks=masks, X_dev=data.dev[0],
                Y_dev=data.dev[1], callback=log, log_every=cfg.log_every)
    wall, params = time.perf_counter() - start, res.final_params
    bar.close()
    acts = list(cfg.activations)
    result = RunResult("scratch", params, network.model_cost(*data.train, params, acts, lambd=cfg.lambd),
                       _accuracies(lambda X: network.predict(X, params, acts), data), wall, path)
    proba = lambda X: network.model_forward(X, params, acts)[0]           # noqa: E731
    _finish(writer, cfg, "scratch", result, proba, data)
    return result


def _torch_evaluator(model):
    """cost(X, Y, lambd) = J(θ) (+ L2 when lambd), no dropout; predict(X); proba(X): course layout in,
    floats / NumPy out."""
    import torch
    from torch_ref import convert, functional

    def tensor(A):
        first = next(model.parameters())
        return convert.to_torch(A, dtype=first.dtype, device=first.device)

    def logits(X):
        return model.layer_outputs(tensor(X), dropout=False)[-1][0]

    @torch.no_grad()
    def cost(X, Y, lambd=0.0):
        data_cost = functional.cost_from_logits(logits(X), tensor(Y))
        return float(functional.training_cost(data_cost, model, lambd, X.shape[1])[1])

    @torch.no_grad()
    def proba(X):
        return convert.to_numpy(torch.sigmoid(logits(X)))

    return cost, (lambda X: (proba(X) > 0.5).astype(int)), proba


def _torch_device(device):
    import torch
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    return device


def run_torch(cfg, data, params0, path, device=None, masks=None):
    """torch_ref.train_loop.train_plain on a DeepNet holding params0; dev metrics at logged steps."""
    import torch
    from torch_ref.models import DeepNet
    from torch_ref.train_loop import train_plain
    torch.manual_seed(cfg.seed)                              # nn.Dropout's masks when none are shared
    model = DeepNet.from_params(params0, list(cfg.activations), keep_probs=cfg.keep_probs and list(cfg.keep_probs))
    model.to(_torch_device(device))
    cost, predict, proba = _torch_evaluator(model)
    writer, bar = tb.open_writer(path), Progress("torch", cfg.num_iterations)

    def log(step, record, model):            # model holds θ_step; dev cost without L2, as scratch's
        record.update(dev_cost=cost(*data.dev), dev_acc=float(np.mean(predict(data.dev[0]) == data.dev[1])))
        tb.write_record(writer, record)
        bar.update(step, record["cost"])

    start = time.perf_counter()
    train_plain(model, *data.train, learning_rate=cfg.learning_rate, num_iterations=cfg.num_iterations,
                lambd=cfg.lambd, masks=masks, callback=log, log_every=cfg.log_every)
    wall = time.perf_counter() - start
    bar.close()
    model.eval()
    result = RunResult("torch", model.to_params(), cost(*data.train, cfg.lambd), _accuracies(predict, data),
                       wall, path)
    _finish(writer, cfg, "torch", result, proba, data)
    return result


def run_lightning(cfg, data, params0, path, device=None, masks=None):
    """torch_ref.lightning.train_lightning (one epoch of N full-batch steps, precision "64-true")
    from params0, its TensorBoardLogger writing `path`; then trainer.test when there is a test set."""
    import warnings
    from lightning.pytorch.loggers import TensorBoardLogger
    from torch_ref.lightning import train_lightning
    for name in ("lightning.pytorch", "lightning.fabric"):       # their import set these to INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")   # Lightning 2.6 vs torch 2.13, harmless
    accelerator = {None: "auto", "auto": "auto", "cpu": "cpu", "cuda": "gpu"}[device]
    tb.clear_run(path)
    logger = TensorBoardLogger(save_dir=os.path.dirname(path), name="", version=os.path.basename(path),
                               default_hp_metric=False)
    test = data.test or (None, None)
    start = time.perf_counter()
    res = train_lightning(*data.train, list(cfg.layer_dims), list(cfg.activations), params=params0,
                          seed=cfg.seed, learning_rate=cfg.learning_rate, num_iterations=cfg.num_iterations,
                          lambd=cfg.lambd, keep_probs=cfg.keep_probs and list(cfg.keep_probs), masks=masks,
                          X_dev=data.dev[0], Y_dev=data.dev[1], X_test=test[0], Y_test=test[1],
                          log_every=cfg.log_every, logger=logger, accelerator=accelerator,
                          precision="64-true", progress_bar=sys.stderr.isatty())
    wall = time.perf_counter() - start
    if data.test is not None:
        res.trainer.test(res.module, datamodule=res.trainer.datamodule, verbose=False)
    model = res.module.model.eval()
    cost, predict, proba = _torch_evaluator(model)
    result = RunResult("lightning", res.params, cost(*data.train, cfg.lambd), _accuracies(predict, data), wall, path)
    _finish(logger.experiment, cfg, "lightning", result, proba, data)
    return result


RUNNERS = {"scratch": run_scratch, "torch": run_torch, "lightning": run_lightning}


SMALL_LAYER = 65536   # entries of the largest W[l] below which torch runs on one thread


@contextlib.contextmanager
def _threads_for(cfg):
    """One intra-op thread for small networks, restored afterwards: tensors of a few hundred entries
    gain nothing from a thread pool, and on a busy 2-core machine its waits made the flower's plain
    loop 10-100× slower (measured: 1000 steps in 0.2 s on one thread, 3-30 s on two)."""
    import torch
    before = torch.get_num_threads()
    small = max(a * b for a, b in zip(cfg.layer_dims, cfg.layer_dims[1:])) < SMALL_LAYER
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(cfg, impls=None, logdir="logs", device=None, data_paths=None):
    """Train every variant of cfg with every implementation in impls (default cfg.impls), all from
    the θ_0 that initialize_parameters(layer_dims, init, rng=seed, scale) draws in float64, and with
    dropout all with the same masks (shared_dropout_masks).
    Returns a list of VariantRuns, one per variant (one in all without variants)."""
    impls = list(impls or cfg.impls)
    if device == "cuda" and set(impls) & {"torch", "lightning"}:
        _torch_device(device)                                    # fail before anything trains
    datasets, out = {}, []
    for variant, vcfg in cfg.runs():
        key = (vcfg.dataset, vcfg.m, vcfg.noise, vcfg.standardize, vcfg.ratios, vcfg.seed)
        if key not in datasets:                                  # variants usually share the data
            datasets[key] = load_data(vcfg, data_paths)
        elif datasets[key].train[0].shape[0] != vcfg.layer_dims[0]:
            load_data(vcfg, data_paths)                          # raises the n_x error
        params0 = initialize_parameters(list(vcfg.layer_dims), vcfg.init, rng=vcfg.seed, scale=vcfg.scale)
        masks = shared_dropout_masks(vcfg.layer_dims, vcfg.keep_probs, datasets[key].train[0].shape[1], vcfg.seed)
        with _threads_for(vcfg):
            results = [RUNNERS[impl](vcfg, datasets[key], params0, tb.run_dir(logdir, cfg.name, impl, variant),
                                     device, masks) for impl in impls]
        sizes = {k: (p[0].shape[1] if p is not None else 0) for k, p in vars(datasets[key]).items()}
        out.append(VariantRuns(variant, vcfg, sizes, results))
    return out
