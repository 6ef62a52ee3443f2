"""The Lightning training path: DeepNet in a LightningModule, course-layout NumPy data in a
LightningDataModule, and `train_lightning`, the twin of scratch.train.

Step i (0-based), the convention shared with scratch.train and torch_ref.train_loop:
    forward on θ_i -> J_i = data cost of the logits Z[L] + λ/(2m) Σ_l ‖W[l]‖²_F
                     (sigmoid output: cost_from_logits; softmax: F.cross_entropy on class indices)
    backward       -> dθ_i (autograd)
    update         -> θ_{i+1} = θ_i - α dθ_i   (torch.optim.SGD)
"train/cost" at step i is J_i, the cost BEFORE update i (Lightning calls training_step, then
the optimizer). Full batch by default, as in the course; mini-batches by option.

Lean by design (`python -m experiments bench` measures it against the plain loop, BENCHMARKS.md): a default
Trainer over a DataLoader re-collates the whole batch every step, saves a checkpoint every
epoch and flushes the event file whenever it logs. Here the batch lives in memory (on the
training device), training is ONE epoch of N steps over an iterable that yields that batch,
nothing is checkpointed unless asked, and Lightning writes every `log_every` steps.

Which steps are written: the same as scratch.train and train_plain, steps 0, k, 2k, ...
(k = log_every), each value labelled with the step whose parameters θ_i produced it. Lightning
itself writes step-level values only after batches k-1, 2k-1, ... (its log_every_n_steps rule)
and writes the values logged last: training_step logs at i = 0, k, 2k, ... with the label "step"
= i, so each record reaches the event file k-1 steps later under its own step (a last record that
no write follows is written at the end of training). Dev metrics are computed every k steps on
θ_s (after s updates) and written at step s, as scratch's dev_cost of step s; train_lightning
validates θ_0 before fitting, so the dev curve starts at step 0 as scratch's does.

Many classes (F39, F43): with activations[-1] = "softmax", Y is one-hot (C, m) in the course layout
(y = Yᵀ (m, C) here), the cost is F.cross_entropy on the logits and the class indices y.argmax(1),
the metrics are torchmetrics' MulticlassAccuracy (micro: the plain fraction of correct argmax, the
accuracy scratch computes) and MulticlassF1Score (macro) under the same tags as the binary ones, and
train_lightning ends by writing the confusion matrix as a TensorBoard image.
Batch norm (F40, F41): batchnorm=True gives every hidden layer nn.BatchNorm1d (DeepNet); training
steps normalize with the batch's statistics and update the running ones, validation and testing run
in eval mode, i.e. with the running statistics, as scratch's dev cost and predict.
"""
import contextlib
import logging
import math
import os
import warnings
from dataclasses import dataclass

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from torchmetrics import MetricCollection
from torchmetrics.classification import (BinaryAccuracy, BinaryAUROC, BinaryF1Score, MulticlassAccuracy,
                                         MulticlassConfusionMatrix, MulticlassF1Score)

from scratch._checks import (check_choice, check_count, check_labels, check_matrix, check_nonneg, check_one_hot,
                             check_positive)
from scratch.batchnorm import check_step_sizes
from scratch.initializers import initialize_parameters
from scratch.network import OUTPUTS, check_targets
from scratch.plan import check_lr_schedule, check_optimizer, make_plan

from . import convert, functional
from .divergence import CHECK_EVERY, DivergenceGuard, check_finite_parameters, parameter_names
from .models import DeepNet

L2_MODES = ("cost", "weight_decay")
# Lightning precision -> the dtype the parameters and the in-memory batches are kept in
# ("64-true" is the parity reference, DESIGN's float64).
PRECISION_DTYPES = {"64-true": torch.float64, "64": torch.float64, "32-true": torch.float32, "32": torch.float32}
MONITOR = "dev/cost"   # what checkpointing and early stopping watch (F26)
CONFUSION_TAG = "confusion_matrix"  # the TensorBoard image of a softmax net's confusion matrix


class RepeatedBatch:
    """An in-memory loader: yields the same (x, y) `steps` times, so one epoch is `steps` full-batch
    gradient-descent steps. Not a list on purpose: Lightning reads a list as several loaders."""

    def __init__(self, x, y, steps=1):
        self.x, self.y, self.steps = x, y, steps

    def __len__(self):
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            yield self.x, self.y


class PlannedBatches:
    """The training batches of a scratch.plan.Plan, from tensors kept on the device: each step yields
    (x_b, y_b, weight, m_b), the columns of that step (gathered once per step; full batch: the tensors
    themselves, never re-collated), m_b the examples of the whole step (the m of λ/(2m)‖W‖²) and the
    weight of this process's share of the cost (1 with one process; see CourseDataModule for DDP).

    DDP (world W > 1): process r takes every W-th column of each step, from the r-th: full batch
    pre-sharded once in CourseDataModule.setup (x, y are then the shard), mini-batches per step."""

    def __init__(self, x, y, plan, rank=0, world=1):
        self.x, self.y, self.plan, self.rank, self.world = x, y, plan, rank, world

    def __len__(self):
        return self.plan.num_steps

    def __iter__(self):
        for epoch in range(self.plan.num_epochs):
            for rows in convert.batch_rows(self.plan.batches(epoch), self.x.device):
                if rows is None:                                 # full batch (this process's shard)
                    yield self.x, self.y, self.x.shape[0] * self.world / self.plan.m, self.plan.m
                    continue
                mine = rows[self.rank::self.world]
                yield self.x[mine], self.y[mine], len(mine) * self.world / len(rows), len(rows)


class CourseDataModule(pl.LightningDataModule):
    """Train/dev/test sets given in the course layout, X (n_x, m) and Y (1, m) NumPy arrays, or Y
    one-hot (C, m) for a softmax network (C >= 2 rows: checked to be one-hot, every set with C rows).

    Each set is converted ONCE with convert.to_torch (x = Xᵀ (m, n_x), y = Yᵀ (m, 1)) in `dtype`
    (default: X's), on the device Lightning trains on, and kept there: no per-step collation.
    plan: the scratch.plan.Plan of the run (full batch or mini-batches, the batch order); or
    num_iterations: full-batch gradient descent for that many steps.

    Data parallel (DDP, world size W > 1): rank r takes the strided share r, r+W, r+2W, ... of the
    columns of each step (m_r of the step's m_b; full batch: the shard is cut once; dev and test stay
    whole on every rank). DDP averages the W ranks' gradients, so each rank's cost is weighted by
    m_r·W/m_b:
        (1/W) Σ_r (m_r W/m_b) ∇[(1/m_r) Σ_(i in share r) L_i] = (1/m_b) Σ_i ∇L_i,
    the gradient of the whole step exactly, whatever the share sizes. With one process the weight is 1.
    """

    def __init__(self, X, Y, X_dev=None, Y_dev=None, X_test=None, Y_test=None, *, num_iterations=None,
                 plan=None, dtype=None):
        super().__init__()
        check_matrix("X", X, layout="(n_x, m)")
        check_set_labels("Y", Y, m=X.shape[1])
        sets = {"train": (X, Y)}
        for name, (Xs, Ys) in {"dev": (X_dev, Y_dev), "test": (X_test, Y_test)}.items():
            if (Xs is None) != (Ys is None):
                raise ValueError(f"X_{name} and Y_{name} must be given together; got only one of them")
            if Xs is not None:
                check_matrix(f"X_{name}", Xs, rows=X.shape[0], layout=f"(n_x, m_{name})", why="(n_x = rows of X)")
                check_set_labels(f"Y_{name}", Ys, m=Xs.shape[1], C=Y.shape[0], why="(the rows of Y)")
                sets[name] = (Xs, Ys)
        if (plan is None) == (num_iterations is None):
            raise ValueError("give the CourseDataModule a plan or num_iterations (full batch), not both")
        self.plan = plan if plan is not None else make_plan(X.shape[1], num_iterations=num_iterations)
        self.num_iterations, self.m = self.plan.num_steps, X.shape[1]
        self.rank, self.world = 0, 1                      # this process and how many there are (DDP)
        self.dtype = convert.torch_dtype(dtype if dtype is not None else X.dtype)
        self._arrays, self._tensors = sets, None

    def has(self, name):
        """Whether the set `name` ("train", "dev", "test") was given."""
        return name in self._arrays

    def setup(self, stage=None):
        if self._tensors is not None:
            return                                       # converted once, reused by fit/validate/test
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        arrays = dict(self._arrays)
        world = self.trainer.world_size if self.trainer is not None else 1
        if world > 1:
            self.rank, self.world = self.trainer.global_rank, world
            smallest = self.plan.step_size(self.plan.steps_per_epoch - 1)   # the last step of an epoch
            if smallest < world:
                raise ValueError(f"DDP with {world} processes needs at least {world} examples in every step; "
                                 f"the smallest step has {smallest}")
            if self.plan.mini_batch_size is None:         # full batch: cut this process's shard once
                X, Y = arrays["train"]
                arrays["train"] = (X[:, self.rank::world], Y[:, self.rank::world])
        self._tensors = {name: (convert.to_torch(Xs, dtype=self.dtype, device=device),
                                convert.to_torch(Ys, dtype=self.dtype, device=device))
                         for name, (Xs, Ys) in arrays.items()}

    def train_dataloader(self):
        return PlannedBatches(*self._tensors["train"], self.plan, self.rank, self.world)

    def val_dataloader(self):
        return RepeatedBatch(*self._tensors["dev"]) if self.has("dev") else []

    def test_dataloader(self):
        return RepeatedBatch(*self._tensors["test"]) if self.has("test") else []


def check_set_labels(name, Y, m=None, C=None, why=""):
    """Labels in the course layout: (1, m) of 0/1 (a sigmoid output; scratch._checks.check_labels), or
    one-hot (C, m) with C >= 2 classes (a softmax output; check_one_hot). C: the rows Y must have, or
    None; why: where C comes from, for the message. Returns Y."""
    rows = np.shape(Y)[0] if np.ndim(Y) == 2 else None
    if C is not None and rows is not None and rows != C:
        what = "(1, m): 0/1 labels" if C == 1 else f"one-hot (C, m) with C = {C} classes"
        raise ValueError(f"{name} must be {what} {why}; got shape {np.shape(Y)}")
    if rows is not None and rows > 1:
        return check_one_hot(name, Y, m=m)
    return check_labels(name, Y, m=m)


def _metrics(prefix, num_classes=None):
    """torchmetrics objects under the same names for both outputs. Binary (num_classes None, F32):
    ŷ > 0.5 -> accuracy, F1; AUROC from ŷ. Softmax (num_classes = C, F43): the argmax class ->
    accuracy ("micro": the fraction of examples classified right, scratch's accuracy) and the
    macro F1 (the mean over the classes of each class's F1, so a rare class counts as much as a
    common one)."""
    if num_classes is None:
        return MetricCollection({"acc": BinaryAccuracy(), "auroc": BinaryAUROC(), "f1": BinaryF1Score()},
                                prefix=prefix)
    return MetricCollection({"acc": MulticlassAccuracy(num_classes, average="micro"),
                             "f1": MulticlassF1Score(num_classes, average="macro")}, prefix=prefix)


class DeepNetModule(pl.LightningModule):
    """A DeepNet trained by gradient descent, with the hyperparameter names of scratch.train.

    activations[-1]: "sigmoid" (Y (1, m) of 0/1) or "softmax" (C = layer_dims[-1] >= 2 classes, Y
        one-hot (C, m) in the course layout; the cost is F.cross_entropy on the logits).
    params: initial scratch params {"W1", "b1", ...} (take precedence over init/seed), so that
        scratch, the plain loop and Lightning can start from the same θ_0; a layer with "gamma{l}"
        has batch norm (then `batchnorm` is not used).
    batchnorm, bn_beta, bn_eps: batch norm on every hidden layer (DeepNet's; the running statistics
        are μ_run = β μ_run + (1-β) μ_B, BatchNorm1d's momentum = 1 - β).
    lambd, l2_mode: "cost" adds λ/(2m) Σ‖W‖² to the loss; "weight_decay" uses SGD(weight_decay=λ/m)
        on weights only (convert.sgd_for). The same update; the logged cost includes the L2 term
        either way. m: the number of training examples (default: the datamodule's).
    masks: None, or a callable step -> list of course-layout dropout masks (shared with scratch).
    Logs "train/cost", "train/{acc,auroc,f1}" per written step; "dev/cost" (cross-entropy, no L2,
    no dropout, as scratch's dev_cost) and "dev/{acc,auroc,f1}" per validation; "test/..." likewise.
    A softmax net logs acc (micro) and f1 (macro), no auroc. Accuracies of training steps use the
    batch's own statistics in batch-norm layers, as scratch.train's (without dropout: the forward
    pass of the step itself); dev and test the running statistics (eval mode).
    """

    def __init__(self, layer_dims, activations, *, learning_rate, keep_probs=None, init="he", seed=None,
                 lambd=0.0, l2_mode="cost", m=None, dtype="float64", alpha=0.01, scale=0.01,
                 params=None, masks=None, check_every=CHECK_EVERY, optimizer="gd", beta=0.9, beta1=0.9,
                 beta2=0.999, epsilon=1e-8, lr_schedule=None, batchnorm=False, bn_beta=0.9, bn_eps=1e-5):
        super().__init__()
        check_positive("learning_rate", learning_rate)
        check_count("check_every", check_every, minimum=1)
        if not list(activations) or list(activations)[-1] not in OUTPUTS:
            raise ValueError("activations[-1] must be 'sigmoid' or 'softmax' (the cost is the cross-entropy "
                             f"from the logits, dZ[L] = A - Y); got {list(activations)[-1:] or activations!r}")
        check_nonneg("lambd", lambd)
        check_choice("l2_mode", l2_mode, L2_MODES)
        check_optimizer(optimizer, beta, beta1, beta2, epsilon)
        check_lr_schedule(lr_schedule)
        if masks is not None and not callable(masks):
            raise TypeError(f"masks must be a callable step -> list of masks, or None; got {type(masks).__name__}")
        # hparams go to the checkpoint, not to the logger: hparams logged without metrics leave
        # TensorBoard's HPARAMS tab empty; log them with metrics after training (experiments.tb).
        self.save_hyperparameters(ignore=["params", "masks"], logger=False)
        if params is not None:
            self.model = DeepNet.from_params(params, list(activations), keep_probs=keep_probs, alpha=alpha,
                                             bn_eps=bn_eps, bn_beta=bn_beta)
            if self.model.layer_dims != list(layer_dims):
                raise ValueError(f"params must match layer_dims {list(layer_dims)}; got {self.model.layer_dims}")
            check_finite_parameters(self.model, "params")
        else:
            self.model = DeepNet(list(layer_dims), list(activations), keep_probs=keep_probs, init=init,
                                 seed=seed, dtype=getattr(torch, str(dtype)), alpha=alpha, scale=scale,
                                 batchnorm=batchnorm, bn_eps=bn_eps, bn_beta=bn_beta)
        self.masks, self.m = masks, m
        self.output = self.model.activations[-1]
        self.num_classes = self.model.layer_dims[-1] if self.output == "softmax" else None
        self.guard = DivergenceGuard(parameter_names(self.model), check_every)
        self._unwritten = None        # step of a logged record Lightning has not written yet
        self.train_metrics, self.dev_metrics, self.test_metrics = (
            _metrics(prefix, self.num_classes) for prefix in ("train/", "dev/", "test/"))

    def setup(self, stage=None):
        if self.m is None and self.trainer is not None and isinstance(self.trainer.datamodule, CourseDataModule):
            self.m = self.trainer.datamodule.m

    def forward(self, x, masks=None):
        """The logits Z[L] (m, n[L]), batch first ((m, 1) sigmoid, (m, C) softmax)."""
        return self.model(x, masks=masks)

    def _metric_inputs(self, z, y):
        """(preds, target) for the torchmetrics objects from the logits z and the labels y: binary,
        ŷ = σ(z) and y as ints; softmax, the logits (the metrics take their argmax) and the class
        indices y.argmax(1)."""
        if self.output == "softmax":
            return z, y.argmax(dim=1)
        return torch.sigmoid(z), y.int()

    def _check_m(self):
        """The L2 term λ/(2m)Σ‖W‖² and the decay λ/m need m, the number of training examples."""
        if self.hparams.lambd and self.m is None:
            raise ValueError("m (number of training examples) is needed when lambd > 0: give m= or use CourseDataModule")

    def _records(self):
        """Whether step i = global_step is a logged step: i % log_every == 0, as in scratch.train."""
        k = self.trainer.log_every_n_steps
        return k > 0 and self.global_step % k == 0

    def _data(self):
        """The CourseDataModule when training with one (its DDP shard and loss weight), else None."""
        dm = self.trainer.datamodule if self.trainer is not None else None
        return dm if isinstance(dm, CourseDataModule) else None

    def _log(self, name, value, **kwargs):
        """self.log, averaged over the DDP ranks when there are several (each rank holds a
        weighted share of the cost, or the same dev value)."""
        self.log(name, value, sync_dist=self.trainer.world_size > 1, **kwargs)

    def training_step(self, batch, batch_idx):
        if len(batch) == 2:                                      # a plain (x, y) loader: the full batch
            self._check_m()
        x, y, weight, m_step = batch if len(batch) == 4 else (*batch, 1.0, self.m)
        data = self._data()
        step_masks = None
        if self.masks is not None:
            masks = self.masks(self.global_step)                 # course layout, the step's m columns
            if data is not None and data.world > 1:
                masks = [D[:, data.rank::data.world] for D in masks]   # this rank's columns
            step_masks = convert.masks_to_torch(masks, device=x.device)
        z = self.model(x, masks=step_masks)
        data_cost = functional.data_cost(z, y, self.output)
        if weight != 1.0:                                        # DDP: see CourseDataModule
            data_cost = data_cost * weight
        if self._decay:                                          # weight_decay = λ/m of this step
            convert.set_weight_decay(self.optimizers(use_pl_optimizer=False), self.hparams.lambd, m_step)
        loss, cost = functional.training_cost(data_cost, self.model, self.hparams.lambd, m_step, self.hparams.l2_mode)
        self.guard.after_forward(self.global_step, cost)       # divergence check 1, on the device
        if self._records():
            self.guard.raise_if_diverged()                     # never log a diverged step
            with torch.no_grad():                              # accuracy of θ_i without dropout (scratch's rule)
                # with dropout a second forward pass: batch-norm layers take this batch's statistics
                # again ("batch"), without a second update of the running ones
                logits = z if self.model.keep_probs is None else \
                    self.model.layer_outputs(x, dropout=False, stats="batch")[-1][0]
            self.train_metrics(*self._metric_inputs(logits, y))
            self._log("train/cost", cost, prog_bar=True)
            self.log_dict(self.train_metrics)                  # metric objects: the value of this batch
            self._log("step", float(self.global_step))         # the label Lightning writes them under
            self._unwritten = self.global_step
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self._unwritten = None                             # Lightning writes the record after this batch
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        """After the optimizer step: divergence check 2 on θ_{i+1} (global_step is now i + 1)."""
        step = self.global_step - 1
        self.guard.after_update(step, self.model.parameters())
        if self.guard.due(step):
            self.guard.raise_if_diverged()

    def on_train_end(self):
        """Divergence in the last steps; then the last record, when no Lightning write followed it
        (num_iterations not a multiple of k)."""
        self.guard.raise_if_diverged()
        if self._unwritten is None or self.logger is None:
            return
        values = {k: float(v) for k, v in self.trainer.callback_metrics.items() if k.startswith("train/")}
        self.logger.log_metrics(values, step=self._unwritten)
        self.logger.save()
        self._unwritten = None

    def _evaluate(self, batch, metrics, prefix):
        self.guard.raise_if_diverged()                         # no dev metrics of diverged parameters
        x, y = batch
        z = self.model(x)                                      # eval mode: no dropout, running statistics
        self._log(f"{prefix}cost", functional.data_cost(z, y, self.output), prog_bar=prefix == "dev/")
        metrics(*self._metric_inputs(z, y))
        self.log_dict(metrics)
        # Lightning would label these values with the last training step i, but they are computed
        # on θ_{i+1}, the parameters of step global_step = i + 1: a logged "step" value is used
        # as the label instead (LoggerConnector.log_metrics), the step scratch gives its dev cost.
        self._log("step", float(self.global_step))

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, self.dev_metrics, "dev/")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, self.test_metrics, "test/")

    @property
    def _decay(self):
        return self.hparams.l2_mode == "weight_decay" and self.hparams.lambd > 0

    def configure_optimizers(self):
        """torch.optim's twin of the optimizer (convert.optimizer_for) and, with an lr_schedule, its
        lr_scheduler stepped once per course epoch: every steps_per_epoch training steps (one Lightning
        epoch holds the whole run, so Lightning's own "epoch" interval would step it once)."""
        hp = check_optimizer(self.hparams.optimizer, self.hparams.beta, self.hparams.beta1, self.hparams.beta2,
                             self.hparams.epsilon)
        if self._decay:
            self._check_m()
        opt = convert.optimizer_for(self.model, self.hparams.optimizer, self.hparams.learning_rate,
                                    lambd=self.hparams.lambd if self._decay else 0.0, m=self.m, **hp)
        schedule = check_lr_schedule(self.hparams.lr_schedule)
        if schedule is None:
            return opt
        data = self._data()
        every = data.plan.steps_per_epoch if data is not None else 1
        return {"optimizer": opt, "lr_scheduler": {"scheduler": convert.lr_scheduler_for(opt, *schedule),
                                                   "interval": "step", "frequency": every}}


class TrainingBar(TQDMProgressBar):
    """Lightning's progress bar for the training steps only: validation runs every log_every steps,
    and a bar per validation (or test) would flicker. No "v_num" (the run is named by its directory)."""

    def init_validation_tqdm(self):
        return Tqdm(disable=True)

    def init_test_tqdm(self):
        return Tqdm(disable=True)

    def get_metrics(self, trainer, pl_module):
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


@contextlib.contextmanager
def quiet_lightning(verbose=False):
    """Lightning's banners ("GPU available: ...", tips, "`Trainer(...)` was configured so ...") and the
    LeafSpec deprecation warning Lightning 2.6 triggers under torch >= 2.13 are silenced for the
    duration (verbose=True: left alone); the logging levels and warning filters are restored afterwards."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            for lg in loggers:
                lg.setLevel(logging.WARNING)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextlib.contextmanager
def restored_global_state():
    """Undo what Trainer(deterministic=True) and seed_everything change process-wide: deterministic
    algorithms, cuDNN flags, CUBLAS_WORKSPACE_CONFIG and PL_GLOBAL_SEED (not the RNG states)."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    env = {k: os.environ.get(k) for k in ("CUBLAS_WORKSPACE_CONFIG", "PL_GLOBAL_SEED", "PL_SEED_WORKERS")}
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def lean_trainer(num_iterations, *, log_every=1, val_every=None, logger=False, accelerator="auto", devices=1,
                 precision="64-true", deterministic=True, checkpoint_dir=None, early_stopping=None,
                 progress_bar=False, callbacks=(), validate=True, strategy="auto", sync_batchnorm=False):
    """A Trainer for ONE epoch of num_iterations steps, writing every log_every steps and validating
    every val_every steps (default log_every; validate=False: never). checkpoint_dir: keep the best θ by dev cost there
    (ModelCheckpoint, save_top_k=1). early_stopping: patience in validations (EarlyStopping, F26).
    devices, strategy: Lightning's; devices > 1 trains data-parallel (DDP; see CourseDataModule).
    sync_batchnorm: batch-norm layers take the statistics of the whole step across the DDP processes
    (SyncBatchNorm), not of each process's share (ignored with one process)."""
    num_iterations = check_count("num_iterations", num_iterations, minimum=1)
    log_every = min(check_count("log_every", log_every, minimum=1), num_iterations)
    val_every = min(check_count("val_every", val_every or log_every, minimum=1), num_iterations)
    check_choice("precision", precision, tuple(PRECISION_DTYPES))
    callbacks = list(callbacks)
    if early_stopping is not None:
        check_count("early_stopping", early_stopping, minimum=1)
        callbacks.append(EarlyStopping(monitor=MONITOR, mode="min", patience=early_stopping))
    if checkpoint_dir is not None:
        callbacks.append(ModelCheckpoint(dirpath=checkpoint_dir, monitor=MONITOR, mode="min", save_top_k=1,
                                         filename="best-step{step}", auto_insert_metric_name=False))
    if progress_bar:
        callbacks.append(TrainingBar(refresh_rate=max(1, num_iterations // 200)))
    return pl.Trainer(max_epochs=1, max_steps=num_iterations, accelerator=accelerator, devices=devices, strategy=strategy,
                      precision=precision, deterministic=deterministic, logger=logger, log_every_n_steps=log_every,
                      val_check_interval=val_every if validate else None, limit_val_batches=1.0 if validate else 0,
                      num_sanity_val_steps=0, callbacks=callbacks, sync_batchnorm=sync_batchnorm,
                      enable_checkpointing=checkpoint_dir is not None, enable_model_summary=False,
                      enable_progress_bar=progress_bar)


@dataclass
class LightningResult:
    """params: the final θ (the best by dev cost when early stopping), as scratch params;
    module, trainer: for metrics (trainer.callback_metrics) and testing; best_path: the checkpoint;
    bn_stats: the running statistics {"mu{l}", "var{l}"} (n[l], 1) of the batch-norm layers in the
    scratch layout (convert.state_dict_to_bn_stats: the variance as torch keeps it, an average of
    unbiased batch variances), None without batch norm; confusion: the (C, C) confusion matrix of a
    softmax net written at the end (rows: true class, columns: predicted), else None."""
    params: dict
    module: DeepNetModule
    trainer: pl.Trainer
    best_path: str = None
    stopped_early: bool = False
    bn_stats: dict = None
    confusion: np.ndarray = None


@torch.no_grad()
def confusion_matrix(model, x, y):
    """The (C, C) confusion matrix of a softmax DeepNet on (x, y) batch first, y one-hot (m, C): entry
    [k, j] counts the examples of true class k predicted as class j (torchmetrics
    MulticlassConfusionMatrix on model.predict, i.e. no dropout and the running statistics). int64."""
    C = model.layer_dims[-1]
    metric = MulticlassConfusionMatrix(num_classes=C).to(x.device)
    return metric(model.predict(x).view(-1), y.argmax(dim=1))


def log_confusion_matrix(loggers, matrix, step, title=""):
    """The confusion matrix (a (C, C) tensor) as an image under CONFUSION_TAG at `step`, into every
    logger that can take a figure (a TensorBoardLogger: its SummaryWriter's add_figure; on DDP ranks
    other than 0 its experiment is a no-op). Drawn by torchmetrics' plot on matplotlib's Agg backend.
    Returns the number of loggers written."""
    writers = [lg.experiment for lg in loggers if hasattr(getattr(lg, "experiment", None), "add_figure")]
    if not writers:
        return 0
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with warnings.catch_warnings():          # matplotlib asks the tensor for __array__(copy=...): harmless
        warnings.filterwarnings("ignore", message=".*__array__ implementation doesn't accept a copy.*")
        fig, ax = MulticlassConfusionMatrix(num_classes=matrix.shape[0]).plot(val=matrix.cpu())
    ax.set_title(title, fontsize=9)
    try:
        for writer in writers:
            writer.add_figure(CONFUSION_TAG, fig, global_step=step, close=False)
            writer.flush()
    finally:
        plt.close(fig)
    return len(writers)


def train_lightning(X, Y, layer_dims, activations, *, learning_rate, num_iterations=None, params=None, init="he",
                    seed=0, lambd=0.0, l2_mode="cost", keep_probs=None, masks=None, X_dev=None, Y_dev=None,
                    X_test=None, Y_test=None, optimizer="gd", beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8,
                    mini_batch_size=None, num_epochs=None, permutations=None, lr_schedule=None,
                    batchnorm=False, bn_beta=0.9, bn_eps=1e-5, early_stopping=None, checkpoint_dir=None,
                    log_every=None, logger=False, accelerator="auto", devices=1, precision="64-true",
                    deterministic=True, progress_bar=False, callbacks=(), strategy="auto",
                    check_every=CHECK_EVERY, verbose=False):
    """scratch.train's twin through Lightning: same arguments, same step convention.

    θ_0 = params, or initialize_parameters(layer_dims, init, rng=seed) as scratch.train draws it,
    so both give the same run for the same arguments. seed_everything(seed) and
    Trainer(deterministic=True) apply during the run; the process-wide flags they set are restored
    afterwards. precision: "64-true" (float64, the parity reference) or "32-true"; accelerator
    "auto" picks CUDA when present. log_every: Lightning writes every that many steps (and validates
    on the dev set as often); default ceil(num_iterations / 100), a hundred points per curve
    (log_every=1 writes and validates after every step, which costs more than the step).
    optimizer, beta, beta1, beta2, epsilon, mini_batch_size, num_epochs, permutations, lr_schedule: as
    scratch.train (the same scratch.plan batches; the batch order of the default permutations depends
    on seed, as scratch's). batchnorm, bn_beta, bn_eps: as scratch.train (batch norm on every hidden
    layer when params are drawn here; given params have it where they hold "gamma{l}"); with DDP the
    batch-norm layers are synchronized (sync_batchnorm, CUDA only: refused on the CPU), so each step
    normalizes with the statistics of its whole batch, as one process would. A softmax output
    (activations[-1] = "softmax", Y one-hot (C, m)) ends with its confusion matrix on the dev set (the
    training set without one) written as the TensorBoard image "confusion_matrix" when the logger is
    a TensorBoardLogger (LightningResult.confusion holds the counts). early_stopping:
    patience in validations; the best checkpoint is then reloaded (checkpoint_dir defaults to
    <logger dir or cwd>/checkpoints). callbacks: extra Lightning callbacks. devices > 1 (with
    strategy "ddp", or "ddp_spawn" from a notebook or a test) trains data-parallel, each process on
    its shard of the examples, with the same updates as one process (CourseDataModule). Returns a
    LightningResult.
    Divergence (a non-finite cost, or non-finite parameters after an update) raises scratch.train's
    FloatingPointError naming the first bad step; the flags stay on the device and are read every
    check_every steps (torch_ref.divergence). verbose=False (default) silences Lightning's banners.
    """
    dtype = PRECISION_DTYPES[check_choice("precision", precision, tuple(PRECISION_DTYPES))]
    if list(activations)[-1:] and list(activations)[-1] in OUTPUTS:   # the labels fit the output layer, first
        check_matrix("X", X, layout="(n_x, m)")
        check_targets("Y", Y, activations, C=list(layer_dims)[-1], m=X.shape[1])
    plan = make_plan(X.shape[1], num_iterations=num_iterations, num_epochs=num_epochs,
                     mini_batch_size=mini_batch_size, permutations=permutations, seed=seed)
    num_iterations = plan.num_steps
    if log_every is None:
        log_every = math.ceil(num_iterations / 100)
    if params is None:       # θ_0 exactly as scratch.train draws it from (init, rng=seed)
        params = initialize_parameters(list(layer_dims), init, rng=seed, dtype=convert.numpy_dtype(dtype),
                                       batchnorm=batchnorm)
    if any(f"gamma{l}" in params for l in range(1, len(layer_dims))):
        check_step_sizes(plan)             # before the Trainer starts (BatchNorm1d would raise mid-run)
    if early_stopping is not None and X_dev is None:
        raise ValueError("early_stopping needs dev data: give X_dev and Y_dev")
    if early_stopping is not None and checkpoint_dir is None:
        checkpoint_dir = os.path.join(getattr(logger, "log_dir", None) or os.getcwd(), "checkpoints")
    with restored_global_state(), quiet_lightning(verbose):
        pl.seed_everything(seed, verbose=False)
        data = CourseDataModule(X, Y, X_dev, Y_dev, X_test, Y_test, plan=plan, dtype=dtype)
        module = DeepNetModule(layer_dims, activations, learning_rate=learning_rate, keep_probs=keep_probs,
                               init=init, seed=seed, lambd=lambd, l2_mode=l2_mode, m=X.shape[1],
                               dtype=str(dtype).removeprefix("torch."), params=params, masks=masks,
                               check_every=check_every, optimizer=optimizer, beta=beta, beta1=beta1,
                               beta2=beta2, epsilon=epsilon, lr_schedule=lr_schedule, batchnorm=batchnorm,
                               bn_beta=bn_beta, bn_eps=bn_eps)
        trainer = lean_trainer(num_iterations, log_every=log_every, logger=logger, accelerator=accelerator,
                               devices=devices, precision=precision, deterministic=deterministic,
                               checkpoint_dir=checkpoint_dir, early_stopping=early_stopping, strategy=strategy,
                               progress_bar=progress_bar, callbacks=callbacks, validate=data.has("dev"),
                               sync_batchnorm=module.model.batchnorm)
        if module.model.batchnorm and trainer.world_size > 1 and trainer.strategy.root_device.type != "cuda":
            raise ValueError(f"batch norm with {trainer.world_size} DDP processes needs CUDA devices: each process "
                             "holds a share of the step's examples, and only torch's SyncBatchNorm (GPU only) "
                             "normalizes with the statistics of the whole step; on the CPU train in one process")
        if data.has("dev"):                   # dev metrics of θ_0 too, as scratch.train logs them at step 0
            trainer.validate(module, datamodule=data, verbose=False)
        trainer.fit(module, datamodule=data)
        best_path = trainer.checkpoint_callback.best_model_path if checkpoint_dir is not None else None
        if early_stopping is not None and best_path:
            state = torch.load(best_path, map_location=module.device, weights_only=True)["state_dict"]
            module.load_state_dict(state)
        stopped = early_stopping is not None and trainer.global_step < num_iterations
        confusion = None
        if module.output == "softmax":        # on the parameters returned (the best ones when early stopping)
            which = "dev" if data.has("dev") else "train"
            Xs, Ys = (X_dev, Y_dev) if which == "dev" else (X, Y)
            matrix = confusion_matrix(module.model, *(convert.to_torch(A, dtype=dtype, device=module.device)
                                                      for A in (Xs, Ys)))
            title = f"{which} set, step {trainer.global_step}: accuracy {float(matrix.trace()) / Xs.shape[1]:.3f}"
            log_confusion_matrix(trainer.loggers, matrix, trainer.global_step, title)
            confusion = matrix.cpu().numpy()
        return LightningResult(module.model.to_params(), module, trainer, best_path or None, stopped,
                               module.model.to_bn_stats(), confusion)
