"""Run one experiment config: every (variant, implementation) pair from the same θ_0.

Each implementation trains with its own code and is evaluated with its own code:
scratch with scratch.train / scratch.network, torch with torch_ref.train_loop.train_plain
and DeepNet, Lightning with torch_ref.lightning (imported only when it runs: `import
lightning` takes seconds). All in float64; each writes its TensorBoard run (experiments.tb).

Each run also records its trajectory, J_i and θ_i at the logged steps (θ_i: the parameters
before update i, one flat float64 vector per step), so that the implementations are compared
step by step (compare), not only by where they ended.

Softmax networks (one-hot labels (C, m)): accuracy is the fraction of argmax predictions equal to
the true class, and each run also records its confusion matrix on the dev set (RunResult.confusion),
written into its TensorBoard run as the image "confusion_matrix".
Batch norm: J(θ_N) is computed with the batch statistics of the whole training set (a function of θ_N
alone, the same in all three implementations); predictions use each implementation's running
statistics (scratch averages the biased batch variances, torch the unbiased ones, see
torch_ref.convert), so the accuracies, the dev curves and the confusion matrices may differ in
the last digits (or by an example on a boundary) while the trajectories agree.
"""
import contextlib
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from scratch import data as sdata
from scratch import network
from scratch.initializers import initialize_parameters
from scratch.plan import Plan

from . import tb
from .compare import compare_variant, flatten_params
from .config import CLASSES, IMAGE_SHAPES


@dataclass
class Dataset:
    """Course layout: X (n_x, m), Y (1, m) (or one-hot (C, m)) per part; test may be None.
    preprocess: how raw inputs became these X, for a model file (scratch.model_file.Model.preprocess):
    None, {"scale": s} (catvnoncat's pixels / 255) and/or {"mu", "sigma"} (standardize, F23)."""
    train: tuple
    dev: tuple
    test: tuple = None
    preprocess: dict = None


@dataclass
class RunResult:
    """What one implementation produced: θ_N, J(θ_N) on the training set (with L2, without dropout),
    accuracies {"train", "dev", "test"} (θ_N, no dropout), the training wall time and the run dir;
    and its trajectory at the logged steps i = 0, k, 2k, ...: steps (int array), costs (J_i, the
    training cost before update i) and thetas ((len(steps), n) float64: row j is θ_steps[j]
    flattened by flatten_params). None where a run was not recorded. confusion: the (C, C) confusion
    matrix on the dev set of a softmax network (rows: true class, columns: predicted), else None.
    bn_stats: the running statistics {"mu{l}", "var{l}"} of a batch-norm network (each implementation's
    own: torch's variance is the unbiased average), else None. model: the trained network as a model
    file holds it (scratch.model_file.Model: θ_N, the architecture, the inputs' preprocessing, the
    config and the TrainState to resume from), written by run(save=...)."""
    impl: str
    params: dict
    final_cost: float
    accuracy: dict
    wall_s: float
    run_dir: str
    steps: np.ndarray = None
    costs: np.ndarray = None
    thetas: np.ndarray = None
    confusion: np.ndarray = None
    bn_stats: dict = None
    model: object = None


@dataclass
class VariantRuns:
    """The runs of one variant (None without variants): its Config, the data sizes
    {"train", "dev", "test"}, one RunResult per implementation, and one Comparison per
    implementation after the first (empty when one implementation ran)."""
    variant: str
    config: object
    sizes: dict
    results: list
    comparisons: list = field(default_factory=list)
    data: Dataset = None          # the data the variant trained and was evaluated on

    def proba(self, result=None):
        """X -> ŷ (n[L], m) of a run's final parameters (default: the reference run, results[0]),
        computed by scratch.network with this variant's activations, no dropout, batch norm with the
        run's running statistics: the one formula for every implementation's θ_N (their θ_N agree)."""
        result = result or self.results[0]
        acts = list(self.config.activations)
        stats = dict(bn_stats=result.bn_stats, bn_eps=self.config.bn_eps) if result.bn_stats else {}
        return lambda X: network.model_forward(X, result.params, acts, **stats)[0]

    @property
    def agree(self):
        """True when every implementation agrees with the reference (or only one ran)."""
        return all(c.agree for c in self.comparisons)


class Trajectory:
    """Collects (step, J_i, θ_i) at the logged steps; arrays() gives RunResult's steps, costs, thetas."""

    def __init__(self):
        self.steps, self.costs, self.thetas = [], [], []

    def add(self, step, cost, params):
        self.steps.append(int(step))
        self.costs.append(float(cost))
        self.thetas.append(flatten_params(params))

    def arrays(self):
        return (np.array(self.steps, dtype=int), np.array(self.costs, dtype=np.float64),
                np.array(self.thetas, dtype=np.float64).reshape(len(self.steps), -1))


def load_data(cfg, data_paths=None):
    """The config's dataset split into train/dev/test (standardized with the train statistics
    if cfg.standardize). catvnoncat reads data_paths = (train.h5, test.h5): the train file is the
    training set, the test file the dev set, as in the course."""
    if cfg.dataset == "catvnoncat":
        if not data_paths:
            raise ValueError("catvnoncat needs the course's files: --data TRAIN_H5 TEST_H5")
        train, dev, _ = sdata.load_catvnoncat(*data_paths)
        parts = Dataset(train, dev, preprocess={"scale": 1 / 255})       # load_catvnoncat divides by 255
    else:
        loaders = {"flower": lambda: sdata.load_flower(cfg.m, cfg.seed),
                   "moons": lambda: sdata.make_moons(cfg.m, cfg.noise, cfg.seed),
                   "circles": lambda: sdata.make_circles(cfg.m, cfg.noise, cfg.seed),
                   "blobs": lambda: sdata.make_blobs(cfg.m, cfg.noise, cfg.seed),
                   "digits": sdata.load_digits_binary, "breast_cancer": sdata.load_breast_cancer,
                   "digits10": sdata.load_digits_multiclass,
                   "blobs3": lambda: sdata.make_blobs_multiclass(cfg.m, CLASSES["blobs3"], cfg.noise, cfg.seed)}
        X, Y = loaders[cfg.dataset]()
        parts = Dataset(*sdata.split(X, Y, ratios=cfg.ratios, seed=cfg.seed))
    if cfg.augment == "flip":                     # F27: the training part only; dev and test stay as drawn
        parts = Dataset(sdata.augment_flip(*parts.train, IMAGE_SHAPES[cfg.dataset]), parts.dev, parts.test,
                        parts.preprocess)
    if cfg.standardize:
        others = [p for p in (parts.dev, parts.test) if p is not None]
        *std, stats = sdata.standardize(parts.train[0], *[p[0] for p in others])
        parts = Dataset((std[0], parts.train[1]), *[(x, p[1]) for x, p in zip(std[1:], others)],
                        preprocess={**(parts.preprocess or {}), "mu": stats.mu, "sigma": stats.sigma})
    if parts.train[0].shape[0] != cfg.layer_dims[0]:
        raise ValueError(f"{cfg.name}: layer_dims[0] must be n_x = {parts.train[0].shape[0]} for dataset "
                         f"{cfg.dataset!r}; got {cfg.layer_dims[0]}")
    return parts


class Progress:
    """One self-rewriting line on stderr when it is a terminal (silent otherwise), at most 10 a second."""

    def __init__(self, label, total):
        self.label, self.total, self.last = label, total, 0.0
        self.live = sys.stderr.isatty()

    def due(self):
        """Whether update would redraw the line now (a caller can skip computing what it shows)."""
        return self.live and time.perf_counter() - self.last > 0.1

    def update(self, step, cost):
        if self.due():
            self.last = time.perf_counter()
            sys.stderr.write(f"\r{self.label:>10}: step {step + 1:>7}/{self.total}  cost {cost:.6f}")
            sys.stderr.flush()

    def close(self):
        if self.live:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def labels(Y):
    """The class of each example as a (1, m) int array: Y itself for 0/1 labels (1, m), the row of
    the 1 in each column for one-hot labels (C, m)."""
    return Y.astype(int) if Y.shape[0] == 1 else np.argmax(Y, axis=0).reshape(1, -1)


def _accuracies(predict, data):
    """{"train", "dev", "test"}: mean of predict(X) == the class of each example over each part
    (None when absent). predict(X) -> (1, m): 0/1, or class indices for a softmax network."""
    return {name: (float(np.mean(predict(part[0]) == labels(part[1]))) if part is not None else None)
            for name, part in (("train", data.train), ("dev", data.dev), ("test", data.test))}


def confusion_matrix(predicted, Y):
    """The (C, C) confusion matrix: entry [k, j] counts the examples of class k (one-hot Y (C, m))
    predicted as class j (predicted: (1, m) class indices). int64."""
    C = Y.shape[0]
    matrix = np.zeros((C, C), dtype=np.int64)
    np.add.at(matrix, (labels(Y).ravel(), np.asarray(predicted).ravel()), 1)
    return matrix


def _confusion(cfg, predict, data):
    """The dev set's confusion matrix of a softmax network, None for a sigmoid one."""
    return confusion_matrix(predict(data.dev[0]), data.dev[1]) if cfg.output == "softmax" else None


def _finish(writer, cfg, impl, result, predict_proba, data, confusion_image=True):
    """Hyperparameters with metrics, and the decision boundary (2-D inputs, sigmoid output) or the
    confusion matrix (softmax output; confusion_image=False when the run wrote its own), into the
    run; close it."""
    tb.write_hparams(writer, {"impl": impl, **cfg.hparams()},
                     {"hp/train_cost": result.final_cost, "hp/train_acc": result.accuracy["train"],
                      "hp/dev_acc": result.accuracy["dev"]})
    step = cfg.num_steps(data.train[0].shape[1])
    if cfg.output == "sigmoid":
        tb.add_decision_boundary(writer, predict_proba, *data.train, step=step,
                                 title=f"{cfg.name} ({impl}): train acc {result.accuracy['train']:.3f}")
    elif confusion_image and result.confusion is not None:
        tb.add_confusion_matrix(writer, result.confusion, step=step,
                                title=f"{cfg.name} ({impl}): dev set, accuracy {result.accuracy['dev']:.3f}")
    writer.close()


def shared_dropout_masks(layer_dims, keep_probs, m, seed, mini_batch_size=None):
    """masks(step) -> the dropout masks D[1..L-1] of that step, bool (n[l], m_step), D[l] = rand < keep_prob[l],
    m_step = scratch.plan's Plan(m, 1, mini_batch_size).step_size(step) (m with full batch; the step's batch).

    Every implementation trains with these same masks (scratch.train, train_plain and the Lightning
    module all take `masks`, shaped for the step's batch), so a dropout run is the same run three times
    and its curves overlay. Each step draws from its own Generator seeded by (seed, step): the masks
    do not depend on who asks first or how often. None without dropout."""
    if not keep_probs:
        return None
    dims, keep_probs = list(layer_dims[1:-1]), list(keep_probs)
    plan = Plan(m, 1, mini_batch_size)

    def masks(step):
        rng = np.random.default_rng([seed, step])
        size = plan.step_size(step)
        return [rng.random((n, size)) < kp for n, kp in zip(dims, keep_probs)]
    return masks


def train_kwargs(cfg, masks=None):
    """The keyword arguments that scratch.train, train_plain and train_lightning share, from cfg: the
    one place where a Config becomes a training call (each runner adds what is its own: θ_0 or the
    model, dev data, callbacks, device)."""
    return dict(learning_rate=cfg.learning_rate, num_iterations=cfg.num_iterations, num_epochs=cfg.num_epochs,
                mini_batch_size=cfg.mini_batch_size, seed=cfg.seed, optimizer=cfg.optimizer, beta=cfg.beta,
                beta1=cfg.beta1, beta2=cfg.beta2, epsilon=cfg.epsilon,
                lr_schedule=None if cfg.lr_schedule is None else (cfg.lr_schedule[0], dict(cfg.lr_schedule[1])),
                lambd=cfg.lambd, masks=masks, log_every=cfg.log_every)


def bn_kwargs(cfg):
    """The batch-norm arguments of scratch.train and train_lightning (whether a layer has batch norm
    comes with θ_0: its "gamma{l}", "beta{l}"; the plain loop's DeepNet takes them when it is built)."""
    return dict(bn_beta=cfg.bn_beta, bn_eps=cfg.bn_eps)


def _write_earlier(writer, resume):
    """A resumed run's records before its first new step (TrainState.history), so its TensorBoard
    curves are the whole run's."""
    for record in (resume.history or []) if resume is not None else []:
        if record["step"] < resume.step:
            tb.write_record(writer, record)


def _model(cfg, data, impl, params, bn_stats, state, bn_unbiased=False):
    """The scratch.model_file.Model of a run (what run(save=...) writes)."""
    from scratch.model_file import Model
    return Model(params=params, layer_dims=list(cfg.layer_dims), activations=list(cfg.activations),
                 keep_probs=cfg.keep_probs and list(cfg.keep_probs), bn_stats=bn_stats, bn_eps=cfg.bn_eps,
                 bn_beta=cfg.bn_beta, bn_unbiased=bn_unbiased, preprocess=data.preprocess, state=state,
                 config=cfg.to_dict(), impl=impl)


def run_scratch(cfg, data, params0, path, device=None, masks=None, resume=None):
    """scratch.train (NumPy) from params0, or continuing the TrainState `resume`; history records
    written as they come."""
    from scratch.train import train
    writer, bar = tb.open_writer(path), Progress("scratch", cfg.num_steps(data.train[0].shape[1]))
    trajectory = Trajectory()
    _write_earlier(writer, resume)

    def log(step, record, params):               # params: θ_step, before update `step`
        trajectory.add(step, record["cost"], params)
        tb.write_record(writer, record)
        bar.update(step, record["cost"])

    start = time.perf_counter()
    res = train(*data.train, list(cfg.layer_dims), list(cfg.activations), params=params0 if resume is None else None,
                rng=cfg.seed, keep_probs=cfg.keep_probs and list(cfg.keep_probs), X_dev=data.dev[0],
                Y_dev=data.dev[1], callback=log, resume=resume, **train_kwargs(cfg, masks), **bn_kwargs(cfg))
    wall, params = time.perf_counter() - start, res.final_params
    bar.close()
    acts, stats = list(cfg.activations), dict(bn_stats=res.bn_stats, bn_eps=cfg.bn_eps)

    def predict(X):                                # batch norm: the running statistics
        return network.predict(X, params, acts, **stats)
    # J(θ_N): batch norm with the training set's own statistics (no bn_stats), as the torch evaluator
    final_cost = network.model_cost(*data.train, params, acts, lambd=cfg.lambd, bn_eps=cfg.bn_eps)
    result = RunResult("scratch", params, final_cost, _accuracies(predict, data), wall, path,
                       *trajectory.arrays(), confusion=_confusion(cfg, predict, data), bn_stats=res.bn_stats,
                       model=_model(cfg, data, "scratch", params, res.bn_stats, res.state))
    proba = lambda X: network.model_forward(X, params, acts, **stats)[0]           # noqa: E731
    _finish(writer, cfg, "scratch", result, proba, data)
    return result


def _torch_evaluator(model):
    """cost(X, Y, lambd) = J(θ) (+ L2 when lambd), no dropout, batch norm with the statistics of X
    itself (the running ones untouched), as scratch's model_cost without bn_stats; predict(X) (1, m):
    0/1 or class indices; proba(X): ŷ (n[L], m); the last two no dropout and the running statistics
    (DeepNet.predict). Course layout in, floats / NumPy out."""
    import torch
    from torch_ref import convert, functional

    def tensor(A):
        first = next(model.parameters())
        return convert.to_torch(A, dtype=first.dtype, device=first.device)

    @torch.no_grad()
    def cost(X, Y, lambd=0.0):
        logits = model.layer_outputs(tensor(X), dropout=False, stats="batch")[-1][0]
        data_cost = functional.data_cost(logits, tensor(Y), model.activations[-1])
        return float(functional.training_cost(data_cost, model, lambd, X.shape[1])[1])

    @torch.no_grad()
    def proba(X):
        return convert.to_numpy(model.predict_proba(tensor(X)))

    return cost, (lambda X: convert.to_numpy(model.predict(tensor(X)))), proba


def _torch_device(device):
    import torch
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    return device


def run_torch(cfg, data, params0, path, device=None, masks=None, resume=None):
    """torch_ref.train_loop.train_plain on a DeepNet holding params0 (or continuing the TrainState
    `resume`); dev metrics at logged steps."""
    import torch
    from torch_ref import convert, functional
    from torch_ref.models import DeepNet
    from torch_ref.train_loop import train_plain
    torch.manual_seed(cfg.seed)                              # nn.Dropout's masks when none are shared
    model = DeepNet.from_params(params0, list(cfg.activations), keep_probs=cfg.keep_probs and list(cfg.keep_probs),
                                **bn_kwargs(cfg))
    model.to(_torch_device(device))
    cost, predict, proba = _torch_evaluator(model)

    @torch.no_grad()
    def dev_cost(X, Y):                      # dev cost as scratch's: no L2, running statistics (BN)
        first = next(model.parameters())
        x, y = (convert.to_torch(A, dtype=first.dtype, device=first.device) for A in (X, Y))
        return float(functional.data_cost(model.layer_outputs(x, dropout=False, stats="running")[-1][0], y,
                                          model.activations[-1]))
    writer, bar = tb.open_writer(path), Progress("torch", cfg.num_steps(data.train[0].shape[1]))
    trajectory = Trajectory()
    _write_earlier(writer, resume)
    records = [r for r in (resume.history or []) if r["step"] < resume.step] if resume is not None else []

    def log(step, record, model):            # model holds θ_step; dev cost without L2, as scratch's
        trajectory.add(step, record["cost"], model.to_params())
        record.update(dev_cost=dev_cost(*data.dev),
                      dev_acc=float(np.mean(predict(data.dev[0]) == labels(data.dev[1]))))
        tb.write_record(writer, record)
        records.append(record)
        bar.update(step, record["cost"])

    start = time.perf_counter()
    _, state = train_plain(model, *data.train, callback=log, resume=resume, return_state=True,
                           **train_kwargs(cfg, masks))
    state.history = records                  # with the dev metrics, for the curves of a resumed run
    wall = time.perf_counter() - start
    bar.close()
    model.eval()
    result = RunResult("torch", model.to_params(), cost(*data.train, cfg.lambd), _accuracies(predict, data),
                       wall, path, *trajectory.arrays(), confusion=_confusion(cfg, predict, data),
                       bn_stats=model.to_bn_stats(),
                       model=_model(cfg, data, "torch", model.to_params(), model.to_bn_stats(), state, True))
    _finish(writer, cfg, "torch", result, proba, data)
    return result


def _lightning_recorder(trajectory, log_every):
    """A Lightning Callback adding (i, J_i, θ_i) to `trajectory` at the logged steps i % log_every == 0,
    as scratch's and train_plain's callbacks see them: θ_i in on_train_batch_start (global_step = i,
    before update i), J_i in on_train_batch_end from callback_metrics["train/cost"], which the
    module's training_step logged on θ_i (float64, "64-true")."""
    import lightning.pytorch as pl

    class Recorder(pl.Callback):
        pending = None                                    # (i, θ_i) until J_i is known

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            step = pl_module.step                         # the run's step (a resumed run's too)
            new = step >= pl_module.first                 # not a step a resumed run skips
            self.pending = (step, pl_module.model.to_params()) if new and step % log_every == 0 else None

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if self.pending is not None:
                step, params = self.pending
                trajectory.add(step, float(trainer.callback_metrics["train/cost"]), params)
                self.pending = None
    return Recorder()


def _progress_callback(bar):
    """A Lightning Callback feeding the same one-line Progress as scratch and torch (not Lightning's
    tqdm bar: it writes to stdout, amid the report, and draws nothing on a terminal of unknown width).
    The cost shown is the last logged J_i; it is read only when the line is redrawn."""
    import lightning.pytorch as pl

    class ProgressLine(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if bar.due():
                cost = trainer.callback_metrics.get("train/cost")
                bar.update(trainer.global_step - 1, float(cost) if cost is not None else float("nan"))
    return ProgressLine()


def lightning_accelerator(device):
    """Lightning's accelerator for the command line's --device (None/"auto", "cpu", "cuda"), with
    Lightning's INFO banners and a harmless warning of Lightning 2.6 under torch 2.13 silenced: what
    every experiment that trains through Lightning calls first."""
    import warnings
    import lightning.pytorch  # noqa: F401 - its import sets its loggers to INFO: quiet them after
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    return {None: "auto", "auto": "auto", "cpu": "cpu", "cuda": "gpu"}[device]


def run_lightning(cfg, data, params0, path, device=None, masks=None, resume=None):
    """torch_ref.lightning.train_lightning (one Lightning epoch of all N update steps, precision "64-true")
    from params0, its TensorBoardLogger writing `path`; then trainer.test when there is a test set."""
    from lightning.pytorch.loggers import TensorBoardLogger
    from torch_ref.lightning import train_lightning
    accelerator = lightning_accelerator(device)
    tb.clear_run(path)
    logger = TensorBoardLogger(save_dir=os.path.dirname(path), name="", version=os.path.basename(path),
                               default_hp_metric=False)
    test = data.test or (None, None)
    trajectory, bar = Trajectory(), Progress("lightning", cfg.num_steps(data.train[0].shape[1]))
    if resume is not None:
        earlier = tb.open_writer(path)
        _write_earlier(earlier, resume)
        earlier.close()
    start = time.perf_counter()
    res = train_lightning(*data.train, list(cfg.layer_dims), list(cfg.activations),
                          params=params0 if resume is None else None, resume=resume,
                          keep_probs=cfg.keep_probs and list(cfg.keep_probs),
                          X_dev=data.dev[0], Y_dev=data.dev[1], X_test=test[0], Y_test=test[1],
                          logger=logger, accelerator=accelerator, precision="64-true",
                          callbacks=[_lightning_recorder(trajectory, cfg.log_every), _progress_callback(bar)],
                          **train_kwargs(cfg, masks), **bn_kwargs(cfg))
    wall = time.perf_counter() - start
    bar.close()
    if data.test is not None:
        res.trainer.test(res.module, datamodule=res.trainer.datamodule, verbose=False)
    model = res.module.model.eval()
    cost, predict, proba = _torch_evaluator(model)
    result = RunResult("lightning", res.params, cost(*data.train, cfg.lambd), _accuracies(predict, data), wall, path,
                       *trajectory.arrays(), confusion=_confusion(cfg, predict, data), bn_stats=res.bn_stats,
                       model=_model(cfg, data, "lightning", res.params, res.bn_stats, res.state, True))
    # train_lightning wrote the confusion matrix itself (torch_ref.lightning.log_confusion_matrix)
    _finish(logger.experiment, cfg, "lightning", result, proba, data, confusion_image=False)
    return result


RUNNERS = {"scratch": run_scratch, "torch": run_torch, "lightning": run_lightning}


SMALL_LAYER = 65536   # entries of the largest W[l] below which torch runs on one thread


@contextlib.contextmanager
def threads_for(cfg):
    """One intra-op thread for small networks, restored afterwards: tensors of a few hundred entries
    gain nothing from a thread pool, and on a busy 2-core machine its waits made the flower's plain
    loop 10-100× slower (measured: 1000 steps in 0.2 s on one thread, 3-30 s on two). The same for
    NumPy's BLAS (scratch), through threadpoolctl (scikit-learn's dependency) when it is there: 300
    steps of batchnorm.toml's plain net on digits took 6.1 s with OpenBLAS's two threads on a busy
    2-core machine, 1.2 s with one."""
    import torch
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                      # pragma: no cover - installed with scikit-learn
        threadpool_limits = None
    before = torch.get_num_threads()
    small = max(a * b for a, b in zip(cfg.layer_dims, cfg.layer_dims[1:])) < SMALL_LAYER
    if small:
        torch.set_num_threads(1)
    blas = threadpool_limits(1, user_api="blas") if small and threadpool_limits else contextlib.nullcontext()
    try:
        with blas:
            yield
    finally:
        torch.set_num_threads(before)


def experiment_dir(logdir, cfg):
    """<logdir>/<experiment>, the directory that holds every run of cfg. Refuses a config name
    that would point elsewhere ("", ".", "..", a path): the directory is cleared before a run."""
    name = cfg.name
    if name in ("", ".", "..") or any(sep and sep in name for sep in (os.sep, os.altsep)):
        raise ValueError(f"experiment name must be a plain directory name (it names <logdir>/<name>, "
                         f"cleared before each run); got {name!r}")
    return os.path.join(logdir, name)


def clear_experiment(logdir, cfg):
    """Remove <logdir>/<experiment> (experiment_dir) and everything in it, so that a re-run replaces
    the experiment's runs: no run of an implementation or variant that did not run this time is left
    to be read as current. Nothing outside that directory is touched, logdir itself included."""
    path = experiment_dir(logdir, cfg)
    if os.path.islink(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    return path


def _check_data_paths(cfg, data_paths):
    """--data belongs to catvnoncat: refuse it (ValueError) for a config none of whose runs read it."""
    if data_paths and not any(vcfg.dataset == "catvnoncat" for _, vcfg in cfg.runs()):
        datasets = sorted({vcfg.dataset for _, vcfg in cfg.runs()})
        raise ValueError(f"--data is read by the catvnoncat dataset only; experiment {cfg.name!r} uses "
                         f"{', '.join(datasets)}, which needs no files (drop --data)")


def write_parity(comparisons, results):
    """Each comparison's curves (parity/max_rel_param_diff, parity/cost_rel_diff per logged step)
    into its implementation's TensorBoard run, next to what that run wrote."""
    dirs = {r.impl: r.run_dir for r in results}
    for c in comparisons:
        if len(c.steps):
            tb.write_parity(dirs[c.impl], c.steps, c.param_rel_diff, c.cost_rel_diff)


def save_paths(path, runs):
    """Where run(save=path) writes each model: path itself when one implementation trained one run,
    else <stem>-<variant>-<impl><ext> (without variants <stem>-<impl><ext>). [(variant, RunResult, path)]."""
    results = [(vr.variant, r) for vr in runs for r in vr.results]
    if len(results) == 1:
        return [(*results[0], os.fspath(path))]
    stem, ext = os.path.splitext(os.fspath(path))
    return [(variant, r, f"{stem}{'-' + variant if variant else ''}-{r.impl}{ext or '.npz'}") for variant, r in results]


def check_save_path(path):
    """--save PATH: its directory exists and PATH is not a directory (checked before training)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"--save {path}: is a directory; give a file name such as {os.path.join(path, 'model.npz')}")
    if not os.path.isdir(directory):
        raise ValueError(f"--save {path}: directory {directory!r} does not exist")
    return path


def save_models(runs, path):
    """Write each run's model file (save_paths; atomic). Returns the paths written."""
    from scratch.model_file import save_model
    return [save_model(target, r.model) for _, r, target in save_paths(path, runs)]


def initial_params(cfg):
    """θ_0 of a (variant's) config, the one every implementation starts from: initialize_parameters
    (layer_dims, init, scale, batch norm) in float64 from init_seed, or seed when init_seed is None."""
    seed = cfg.seed if cfg.init_seed is None else cfg.init_seed
    return initialize_parameters(list(cfg.layer_dims), cfg.init, rng=seed, scale=cfg.scale, batchnorm=cfg.batchnorm)


def run(cfg, impls=None, logdir="logs", device=None, data_paths=None, resume=None):
    """Train every variant of cfg with every implementation in impls (default cfg.impls), all from
    the θ_0 that initialize_parameters(layer_dims, init, rng=seed, scale) draws in float64, with the
    same optimization arguments (train_kwargs: optimizer, mini-batches of the same order, lr_schedule),
    and with dropout all with the same masks (shared_dropout_masks). Steps are update steps.
    Everything that can be refused is refused before anything trains or is removed (the device,
    --data, the data sets and their n_x); then <logdir>/<experiment> is cleared (clear_experiment).
    resume: a scratch.model_file.Model with a TrainState (a run's model file): every implementation
    continues that run from its step (cfg must be a single run, the file's config with the new length).
    Returns a list of VariantRuns, one per variant (one in all without variants), each with its
    implementations compared with the first one (compare; their curves written by write_parity)."""
    impls = list(impls or cfg.impls)
    if device == "cuda" and set(impls) & {"torch", "lightning"}:
        _torch_device(device)                                    # fail before anything trains
    _check_data_paths(cfg, data_paths)
    experiment_dir(logdir, cfg)
    datasets, plan = {}, []
    for variant, vcfg in cfg.runs():
        key = (vcfg.dataset, vcfg.m, vcfg.noise, vcfg.standardize, vcfg.ratios, vcfg.seed, vcfg.augment)
        if key not in datasets:                                  # variants usually share the data
            datasets[key] = load_data(vcfg, data_paths)
        elif datasets[key].train[0].shape[0] != vcfg.layer_dims[0]:
            load_data(vcfg, data_paths)                          # raises the n_x error
        plan.append((variant, vcfg, datasets[key]))
    if resume is not None:
        if cfg.variants:
            raise ValueError("a model file continues one run; its config has no variants")
        if resume.state is None:
            raise ValueError(f"{resume.path}: holds no training state (saved without one), so it cannot be resumed")
        total = cfg.num_steps(plan[0][2].train[0].shape[1])
        if resume.state.step >= total:
            raise ValueError(f"{resume.path}: the run has already trained {resume.state.step} steps; ask for more "
                             f"(--steps: with full batch the total number of steps, with mini-batches of epochs; "
                             f"now {total} steps)")
    clear_experiment(logdir, cfg)
    out = []
    for variant, vcfg, data in plan:
        params0 = initial_params(vcfg)
        masks = shared_dropout_masks(vcfg.layer_dims, vcfg.keep_probs, data.train[0].shape[1], vcfg.seed,
                                     vcfg.mini_batch_size)
        with threads_for(vcfg):
            results = [RUNNERS[impl](vcfg, data, params0, tb.run_dir(logdir, cfg.name, impl, variant),
                                     device, masks, resume=resume and resume.state) for impl in impls]
        comparisons = compare_variant(results)
        write_parity(comparisons, results)
        sizes = {k: (p[0].shape[1] if p is not None else 0) for k, p in vars(data).items() if k != "preprocess"}
        out.append(VariantRuns(variant, vcfg, sizes, results, comparisons, data))
    return out
