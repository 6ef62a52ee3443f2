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
nothing is checkpointed unless asked, and Lightning writes every `log_every` steps. With one
process the steps are fused: one training_step trains the log_every steps between two logged
steps (manual optimization, DeepNetModule.fuse_steps), so Lightning's own per-batch work (hooks,
loops, the logger connector: about 0.5 ms on a CPU, more than a small net's whole step) is paid
once per log_every steps, while every step stays what it was, bit for bit.

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

Checkpoints and resuming: with checkpoint_dir, last.ckpt always holds the run's latest state (and,
with dev data, best-step{s}.ckpt the θ of the lowest dev cost). Each checkpoint carries, besides
Lightning's state_dict and optimizer state, a "torch_ref" entry (the run's step, torch's RNG state,
the history, the plan, callback states) and a SHA-256 over all of it; load_checkpoint reads it with
weights_only=True and refuses, with one ModelFileError naming the file, anything damaged or pickled.
train_lightning(resume=...) continues a run from a TrainState, a model file or a checkpoint, bit
for bit as if never interrupted; Lightning's trainer.fit(ckpt_path=...) is not used, because it
restarts the loader at batch 0 (other mini-batches) and trains nothing past a finished epoch.
A fresh module and Trainer get the saved state, and the module counts the run's step
i = global_step + offset; the fit starts at step k0 = k - k % log_every and skips its first k - k0
batches, so that Lightning's writes and validations, which it counts from the fit's first batch,
fall on the same steps as in the uninterrupted run (DeepNetModule.resume_from).
"""
import contextlib
import hashlib
import logging
import math
import os
import pickle
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
                             check_positive, check_training_memory)
from scratch.batchnorm import check_step_sizes
from scratch.initializers import initialize_parameters
from scratch.model_file import Model, ModelFileError, TrainState, check_file, load_model
from scratch.network import OUTPUTS, check_targets
from scratch.plan import check_lr_schedule, check_optimizer, make_plan
from scratch.train import check_resume

from . import convert, functional
from .divergence import CHECK_EVERY, DivergenceGuard, check_finite_parameters, parameter_names
from .models import DeepNet
from .model_file import load_optimizer_state, model_from_deepnet, set_torch_rng_state, train_state

L2_MODES = ("cost", "weight_decay")
# Lightning precision -> the dtype the parameters and the in-memory batches are kept in
# ("64-true" is the parity reference, DESIGN's float64).
PRECISION_DTYPES = {"64-true": torch.float64, "64": torch.float64, "32-true": torch.float32, "32": torch.float32}
MONITOR = "dev/cost"   # what checkpointing and early stopping watch (F26)
CONFUSION_TAG = "confusion_matrix"  # the TensorBoard image of a softmax net's confusion matrix
CHECKPOINT_KEY = "torch_ref"        # a train_lightning checkpoint's own entry (DeepNetModule.on_save_checkpoint)
CHECKPOINT_FORMAT, CHECKPOINT_VERSION = "torch-ref-lightning-checkpoint", 1
LAST_NAME = "last"                  # checkpoint_dir/last.ckpt, the latest state of the run


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


class StepChunk:
    """The items of consecutive training steps, as one Lightning batch (fused steps). Not a list on
    purpose: Lightning walks a list's every tensor to move it to the device and convert its precision
    (about 40 µs a step); these tensors are already on the device, in the run's dtype."""

    def __init__(self, items):
        self.items = list(items)

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


class PlannedBatches:
    """The training batches of a scratch.plan.Plan, from tensors kept on the device: each step yields
    (x_b, y_b, weight, m_b), the columns of that step (gathered once per step; full batch: the tensors
    themselves, never re-collated), m_b the examples of the whole step (the m of λ/(2m)‖W‖²) and the
    weight of this process's share of the cost (1 with one process; see CourseDataModule for DDP).

    DDP (world W > 1): process r takes every W-th column of each step, from the r-th: full batch
    pre-sharded once in CourseDataModule.setup (x, y are then the shard), mini-batches per step.
    start: the first step yielded, so that a resumed run sees the batches of steps start, start+1, ...
    of the same plan (the epoch's order, then the rest of the epochs).
    chunk: None, one step per item; or k, each item a StepChunk of the items of consecutive steps, cut
    at the run's steps that are multiples of k (a resumed run's first list may be shorter, and so
    may the last): what DeepNetModule's fused steps train in one training_step."""

    def __init__(self, x, y, plan, rank=0, world=1, start=0, chunk=None):
        self.x, self.y, self.plan, self.rank, self.world = x, y, plan, rank, world
        self.start = check_count("start", start, minimum=0)     # the first step yielded (a resumed run)
        self.chunk = None if chunk is None else check_count("chunk", chunk, minimum=1)

    def __len__(self):
        if self.chunk is None:
            return self.plan.num_steps - self.start
        k = self.chunk
        return -(-self.plan.num_steps // k) - self.start // k          # chunks ending after `start`

    def __iter__(self):
        if self.chunk is None:
            yield from self._steps()
            return
        step, chunk = self.start, []
        for item in self._steps():
            chunk.append(item)
            step += 1
            if step % self.chunk == 0:
                yield StepChunk(chunk)
                chunk = []
        if chunk:
            yield StepChunk(chunk)

    def _steps(self):
        per_epoch = self.plan.steps_per_epoch
        for epoch in range(self.start // per_epoch, self.plan.num_epochs):
            skip = self.start - epoch * per_epoch if epoch == self.start // per_epoch else 0
            for rows in convert.batch_rows(self.plan.batches(epoch), self.x.device)[skip:]:
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
    num_iterations: full-batch gradient descent for that many steps. start_step: the training loader
    begins at that step of the plan (train_lightning's resume).

    Data parallel (DDP, world size W > 1): rank r takes the strided share r, r+W, r+2W, ... of the
    columns of each step (m_r of the step's m_b; full batch: the shard is cut once; dev and test stay
    whole on every rank). DDP averages the W ranks' gradients, so each rank's cost is weighted by
    m_r·W/m_b:
        (1/W) Σ_r (m_r W/m_b) ∇[(1/m_r) Σ_(i in share r) L_i] = (1/m_b) Σ_i ∇L_i,
    the gradient of the whole step exactly, whatever the share sizes. With one process the weight is 1.
    """

    def __init__(self, X, Y, X_dev=None, Y_dev=None, X_test=None, Y_test=None, *, num_iterations=None,
                 plan=None, dtype=None, start_step=0):
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
        self.start_step = check_count("start_step", start_step, minimum=0)   # first training step (resume)
        self.rank, self.world = 0, 1                      # this process and how many there are (DDP)
        self.chunk = None                                 # steps per training batch (fused steps: see PlannedBatches)
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
        return PlannedBatches(*self._tensors["train"], self.plan, self.rank, self.world, start=self.start_step,
                              chunk=self.chunk)

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
        has batch norm (then `batchnorm` is not used). bn_stats: their running statistics (a resumed
        run's), or None for μ = 0, σ² = 1.
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

    Steps: `step` is the run's step i = global_step + offset (offset 0 unless resumed: see
    resume_from); masks, the logged "step" labels, the divergence guard, the history and the lr
    schedule all count in it. history() holds the logged records, kept on the device until read.
    """

    def __init__(self, layer_dims, activations, *, learning_rate, keep_probs=None, init="he", seed=None,
                 lambd=0.0, l2_mode="cost", m=None, dtype="float64", alpha=0.01, scale=0.01,
                 params=None, masks=None, check_every=CHECK_EVERY, optimizer="gd", beta=0.9, beta1=0.9,
                 beta2=0.999, epsilon=1e-8, lr_schedule=None, batchnorm=False, bn_beta=0.9, bn_eps=1e-5,
                 bn_stats=None):
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
        self.save_hyperparameters(ignore=["params", "masks", "bn_stats"], logger=False)
        if params is not None:
            self.model = DeepNet.from_params(params, list(activations), keep_probs=keep_probs, alpha=alpha,
                                             bn_stats=bn_stats, bn_eps=bn_eps, bn_beta=bn_beta)
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
        self.log_every = None         # the run's logging interval (None: the trainer's log_every_n_steps)
        self.offset, self.first = 0, 0   # step of global_step 0; steps before `first` are already done
        self.scheduler = None         # the lr schedule's torch scheduler, stepped here (optimizer_step)
        self.last_checkpoint = None   # path of last.ckpt, written at the end of training (train_lightning)
        self._resume = None           # the TrainState a resumed run continues
        self._history = {}            # step -> logged record (values: 0-d tensors until history() reads them)
        self._saved_step = None       # the step of the last checkpoint written
        self.fused = None             # k steps per training_step (fuse_steps), or None: one
        self._val_batches = None      # the Trainer's limit_val_batches while the last chunk holds it at 0

    @property
    def step(self):
        """The run's step i: updates done so far, counted from the run's start (global_step + offset)."""
        return self.global_step + self.offset

    def resume_from(self, state, offset):
        """Continue the run `state` (a TrainState after k = state.step updates; the module already holds
        its θ_k and running statistics): the fit's batch 0 is step `offset` <= k, and its batches of steps
        offset..k-1 are skipped (training_step returns None, Lightning's documented skip: no forward,
        no update, no log), so that Lightning's own counters, which restart at 0 in a new fit, keep the
        uninterrupted run's rhythm when offset is a multiple of log_every (see train_lightning).
        configure_optimizers loads the optimizer state, on_train_start torch's RNG state."""
        k = int(state.step)
        if not 0 <= offset <= k:
            raise ValueError(f"offset must be in [0, {k}] (the saved step); got {offset}")
        self._resume, self.offset, self.first = state, int(offset), k
        if state.last_finite is not None:      # the guard's last finite (step, J) read, for its error message
            self.guard = DivergenceGuard(self.guard.names, self.guard.check_every,
                                         (int(state.last_finite[0]), float(state.last_finite[1])))
        self._history = {int(r["step"]): dict(r) for r in (state.history or []) if r["step"] <= k}

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
        """Whether step i is a logged step: i % log_every == 0, as in scratch.train."""
        k = self.log_every or self.trainer.log_every_n_steps
        return k > 0 and self.step % k == 0

    def _data(self):
        """The CourseDataModule when training with one (its DDP shard and loss weight), else None."""
        dm = self.trainer.datamodule if self._trainer is not None else None
        return dm if isinstance(dm, CourseDataModule) else None

    def _steps_per_epoch(self):
        data = self._data()
        return data.plan.steps_per_epoch if data is not None else 1

    def _log(self, name, value, **kwargs):
        """self.log, averaged over the DDP ranks when there are several (each rank holds a
        weighted share of the cost, or the same dev value)."""
        self.log(name, value, sync_dist=self.trainer.world_size > 1, **kwargs)

    def _record(self, step, **values):
        """Add values (0-d tensors, not read here: no synchronisation) to the history record of `step`."""
        record = self._history.setdefault(step, {"step": step, "epoch": step // self._steps_per_epoch()})
        record.update({k: v.detach() for k, v in values.items()})

    def history(self):
        """The logged records so far, by step: {"step", "epoch", "cost", "train_acc"} of the training
        steps i % log_every == 0 (J_i before update i, as scratch's history) and {"dev_cost", "dev_acc"}
        of the validations (θ_s, under step s), merged by step; a resumed run's records include the
        saved ones. Values not read yet are read here, in one transfer. Returns new dicts of floats."""
        pending = [(r, k) for r in self._history.values() for k, v in r.items() if isinstance(v, torch.Tensor)]
        if pending:
            values = torch.stack([r[k].to(torch.float64).reshape(()).cpu() for r, k in pending]).tolist()
            for (r, k), v in zip(pending, values):
                r[k] = v
        return [dict(self._history[i]) for i in sorted(self._history)]

    def fuse_steps(self, k):
        """Train k consecutive steps in one training_step (manual optimization), k = the run's
        log_every: the loader then yields lists of the steps between two logged steps
        (PlannedBatches(chunk=k)), and Lightning's per-batch machinery (hooks, loops, the logger
        connector: about 0.5 ms on the CPU) runs once per k steps instead of once per step. Each step
        is the same as one step per training_step, bit for bit: the same forward pass, cost, check 1,
        record, backward, update (the LightningOptimizer, which counts global_step), lr schedule and
        check 2, in the same order. One process only (DDP synchronises gradients once per
        training_step). train_lightning sets the Trainer's rhythm to one write and one validation per
        batch, i.e. per k steps, at the same steps as before."""
        self.fused = check_count("k", k, minimum=1)
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        if self.fused is None:
            i = self.step
            if i < self.first:                                   # a resumed run's steps already in θ_k
                return None
            loss = self._step_loss(i, batch)
            if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
                self._unwritten = None                           # Lightning writes the record after this batch
            return loss
        opt = self.optimizers()                                  # LightningOptimizer: counts global_step
        for item in batch:                                       # the steps i, i+1, ... of this chunk
            i = self.step
            loss = self._step_loss(i, item)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self._after_update(i)
        if self.step % self.fused:                              # the run's last, shorter chunk: no validation
            self._val_batches, self.trainer.limit_val_batches = self.trainer.limit_val_batches, 0
        return None

    def _step_loss(self, i, batch):
        """Step i up to its loss: the forward pass on θ_i, the cost J_i, divergence check 1 and, at a
        logged step, the record (train/cost, the metrics, the "step" label)."""
        if len(batch) == 2:                                      # a plain (x, y) loader: the full batch
            self._check_m()
        x, y, weight, m_step = batch if len(batch) == 4 else (*batch, 1.0, self.m)
        data = self._data()
        step_masks = None
        if self.masks is not None:
            masks = self.masks(i)                                # course layout, the step's m columns
            if data is not None and data.world > 1:
                masks = [D[:, data.rank::data.world] for D in masks]   # this rank's columns
            step_masks = convert.masks_to_torch(masks, device=x.device)
        # DeepNet.forward called directly: without nn.Module's hook dispatch, which DeepNet does not use
        # (its checks of x and masks are shapes only: no scan of x, which the entry checked)
        z = self.model.forward(x, masks=step_masks)
        data_cost = functional.data_cost(z, y, self.output)
        if weight != 1.0:                                        # DDP: see CourseDataModule
            data_cost = data_cost * weight
        if self._decay:                                          # weight_decay = λ/m of this step
            convert.set_weight_decay(self.optimizers(use_pl_optimizer=False), self.hparams.lambd, m_step)
        loss, cost = functional.training_cost(data_cost, self.model, self.hparams.lambd, m_step, self.hparams.l2_mode)
        self.guard.after_forward(i, cost)                        # divergence check 1, on the device
        if self._records():
            self.guard.raise_if_diverged()                     # never log a diverged step
            with torch.no_grad():                              # accuracy of θ_i without dropout (scratch's rule)
                # with dropout a second forward pass: batch-norm layers take this batch's statistics
                # again ("batch"), without a second update of the running ones
                logits = z if self.model.keep_probs is None else \
                    self.model.layer_outputs(x, dropout=False, stats="batch")[-1][0]
            values = self.train_metrics(*self._metric_inputs(logits, y))
            self._log("train/cost", cost, prog_bar=True)
            self.log_dict(self.train_metrics)                  # metric objects: the value of this batch
            self._log("step", float(i))                        # the label Lightning writes them under
            if self.fused is None:
                self._unwritten = i
            if self.trainer.world_size > 1:                  # the logged value: the mean of the ranks' shares
                cost = self.trainer.strategy.reduce(cost.detach(), reduce_op="mean")
            self._record(i, cost=cost, train_acc=values["train/acc"])
        return loss

    def _after_update(self, i):
        """After update i: the lr schedule, whose scheduler moves once per course epoch, after the last
        step of each epoch ((i + 1) % steps_per_epoch == 0, counted in the run's steps i: Lightning's own
        "step" interval would count this fit's batches, which restart at 0 in a resumed fit); then
        divergence check 2 on θ_{i+1}, read every check_every steps."""
        if self.scheduler is not None and (i + 1) % self._steps_per_epoch() == 0:
            self.scheduler.step()
        self.guard.after_update(i, self._guarded)
        if self.guard.due(i):
            self.guard.raise_if_diverged()

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        """One step per training_step (automatic optimization): the update, then _after_update."""
        i = self.step
        optimizer.step(closure=optimizer_closure)
        if i >= self.first:                                     # not a skipped step of a resumed run
            self._after_update(i)

    def on_train_start(self):
        """The parameters divergence check 2 watches, detached once the Trainer has put them on their
        device and dtype (views of θ: they see every update, without a walk of the module per step).
        A resumed run: torch's RNG where the saved run left it (nn.Dropout's masks), on the CPU and,
        when saved, on the CUDA device."""
        self._guarded = [p.detach() for p in self.model.parameters()]
        if self._resume is None:
            return
        set_torch_rng_state(self._resume.torch_rng)
        cuda = (self._resume.extra or {}).get("cuda_rng")
        if cuda is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(torch.tensor(cuda, dtype=torch.uint8), self.device)

    def on_train_end(self):
        """Divergence in the last steps; last.ckpt at the last step (when asked and not written there
        yet); then the last record, when no Lightning write followed it (num_iterations not a
        multiple of k)."""
        self.guard.raise_if_diverged()
        if self._val_batches is not None:                      # see training_step
            self.trainer.limit_val_batches, self._val_batches = self._val_batches, None
        if self.last_checkpoint is not None and self._saved_step != self.step:
            self.trainer.save_checkpoint(self.last_checkpoint)
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
        cost = functional.data_cost(z, y, self.output)
        self._log(f"{prefix}cost", cost, prog_bar=prefix == "dev/")
        values = metrics(*self._metric_inputs(z, y))
        self.log_dict(metrics)
        # Lightning would label these values with the last training step i, but they are computed
        # on θ_{i+1}, the parameters of step global_step = i + 1: a logged "step" value is used
        # as the label instead (LoggerConnector.log_metrics), the step scratch gives its dev cost.
        self._log("step", float(self.step))
        return cost, values

    def validation_step(self, batch, batch_idx):
        cost, values = self._evaluate(batch, self.dev_metrics, "dev/")
        self._record(self.step, dev_cost=cost, dev_acc=values["dev/acc"])

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, self.test_metrics, "test/")

    @property
    def _decay(self):
        return self.hparams.l2_mode == "weight_decay" and self.hparams.lambd > 0

    def configure_optimizers(self):
        """torch.optim's twin of the optimizer (convert.optimizer_for), with a resumed run's state
        (load_optimizer_state: momentum's v, RMSprop's s, Adam's v, s and t), and, with an lr_schedule,
        its lr_scheduler (convert.lr_scheduler_for), kept in self.scheduler and stepped once per course
        epoch by optimizer_step; a resumed run's scheduler is first moved to the epoch of its step k."""
        if self._decay:
            self._check_m()
        opt = make_optimizer(self.model, self.hparams, self.m)
        if self._resume is not None and self._resume.opt_state:
            load_optimizer_state(opt, self.model, self._resume.opt_state)
        schedule = check_lr_schedule(self.hparams.lr_schedule)
        self.scheduler = None
        if schedule is not None:
            self.scheduler = convert.lr_scheduler_for(opt, *schedule)
            with warnings.catch_warnings():                   # "lr_scheduler.step() before optimizer.step()"
                warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
                for _ in range(self.first // self._steps_per_epoch()):
                    self.scheduler.step()                      # exactly as the run that was not interrupted
        return opt

    # ------------------------------------------------------------------ the state a resume needs

    def _plan(self):
        data = self._data()
        if data is None:
            return None
        return {"m": data.plan.m, "mini_batch_size": data.plan.mini_batch_size, "seed": self.hparams.seed}

    def _extra(self):
        extra = {"callbacks": callback_states(self.trainer) if self._trainer is not None else {}}
        if self.device.type == "cuda":
            extra["cuda_rng"] = torch.cuda.get_rng_state(self.device).tolist()
        return extra

    def train_state(self):
        """The scratch.model_file.TrainState after the last update: step, θ (exact), the running
        statistics, the optimizer's state in the course's names, torch's RNG state, the history, the
        plan, the last finite cost, and in extra the early-stopping and best-checkpoint states.
        None when this process holds no optimizer (the parent process of DDP spawn)."""
        if self._trainer is None or not self.trainer.optimizers:
            return None
        last = self.guard.last_finite
        return train_state(self.model, self.step, self.trainer.optimizers[0], self.hparams.optimizer,
                           history=self.history(), last_finite=None if last is None else tuple(last),
                           plan=self._plan(), extra=self._extra())

    def on_save_checkpoint(self, checkpoint):
        """What an exact resume needs, under checkpoint["torch_ref"] (the rest is Lightning's: the
        state_dict, the optimizer's state_dict, the hyperparameters): the run's step, torch's RNG
        state, the history, the plan, the last finite cost, extra (callback states), and a SHA-256
        of all that, the weights and the optimizer's tensors (checkpoint_digest), which
        load_checkpoint verifies."""
        self.guard.raise_if_diverged()                         # no checkpoint of a diverged run
        last = self.guard.last_finite
        entry = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": self.step,
                 "optimizer": self.hparams.optimizer, "torch_rng": torch.get_rng_state(),
                 "history": self.history(), "plan": self._plan(),
                 "last_finite": None if last is None else [int(last[0]), float(last[1])], "extra": self._extra()}
        checkpoint[CHECKPOINT_KEY] = entry
        entry["sha256"] = checkpoint_digest(checkpoint)
        self._saved_step = self.step


def make_optimizer(model, hparams, m):
    """The torch optimizer of a DeepNetModule's hyperparameters (convert.optimizer_for; weight decay
    λ/m on the weights with l2_mode "weight_decay")."""
    hp = check_optimizer(hparams["optimizer"], hparams["beta"], hparams["beta1"], hparams["beta2"],
                         hparams["epsilon"])
    decay = hparams["l2_mode"] == "weight_decay" and hparams["lambd"] > 0
    return convert.optimizer_for(model, hparams["optimizer"], hparams["learning_rate"],
                                 lambd=hparams["lambd"] if decay else 0.0, m=m, **hp)


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


class DevEarlyStopping(EarlyStopping):
    """Lightning's EarlyStopping on dev/cost (F26), checked after every validation (also when
    log_every = 1, where Lightning's default would check once, at the end of the single epoch)."""

    def __init__(self, patience):
        super().__init__(monitor=MONITOR, mode="min", patience=patience, check_on_train_epoch_end=False)


class BestCheckpoint(ModelCheckpoint):
    """best-step{step}.ckpt: the θ with the lowest dev cost so far (save_top_k=1), after each validation."""

    def __init__(self, dirpath):
        super().__init__(dirpath=dirpath, monitor=MONITOR, mode="min", save_top_k=1, filename="best-step{step}",
                         auto_insert_metric_name=False, save_on_train_epoch_end=False)


class LastCheckpoint(ModelCheckpoint):
    """last.ckpt, the latest state of the run (overwritten, never versioned): after each validation
    with dev data, else every `every` steps (θ_s, s a multiple of every); DeepNetModule.on_train_end
    adds the last step. (Lightning's save_last=True writes "last" only at steps where another
    checkpoint was written: with save_top_k=1 on dev/cost, only when the dev cost improved.)"""

    def __init__(self, dirpath, every=None):
        super().__init__(dirpath=dirpath, monitor=None, save_top_k=1, filename=LAST_NAME,
                         enable_version_counter=False, every_n_train_steps=every,
                         every_n_epochs=None if every else 1, save_on_train_epoch_end=False)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        # With fused steps (manual optimization) Lightning warns that the checkpoint holds the state
        # after the batch's updates: θ_s after s updates, s a multiple of `every`, which is what is wanted.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*manual optimization and every_n_train_steps.*")
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


def lean_trainer(num_iterations, *, log_every=1, val_every=None, logger=False, accelerator="auto", devices=1,
                 precision="64-true", deterministic=True, checkpoint_dir=None, early_stopping=None,
                 progress_bar=False, callbacks=(), validate=True, strategy="auto", sync_batchnorm=False, start=0,
                 fused=False):
    """A Trainer for ONE epoch of num_iterations - start steps, writing every log_every steps and
    validating every val_every steps (default log_every; validate=False: never); log_every and
    val_every are capped at num_iterations, the length of the whole run. start: the run's step
    of the fit's first batch (a resumed run; a multiple of log_every, see train_lightning).
    checkpoint_dir: keep last.ckpt there (LastCheckpoint), and with validation the best θ by
    dev cost (BestCheckpoint). early_stopping: patience in validations (DevEarlyStopping, F26).
    devices, strategy: Lightning's; devices > 1 trains data-parallel (DDP; see CourseDataModule).
    sync_batchnorm: batch-norm layers take the statistics of the whole step across the DDP processes
    (SyncBatchNorm), not of each process's share (ignored with one process).
    fused: each training batch holds the log_every steps between two logged steps (DeepNetModule.
    fuse_steps, one process): Lightning then writes, validates and keeps last.ckpt after every batch,
    which ends at a multiple of log_every (the module skips the validation after the run's last,
    shorter batch), and `start` may be any step."""
    num_iterations = check_count("num_iterations", num_iterations, minimum=1)
    start = check_count("start", start, minimum=0)
    if start >= num_iterations:
        raise ValueError(f"start must be less than num_iterations ({num_iterations}); got {start}")
    steps = num_iterations - start                      # the steps of this fit
    log_every = min(check_count("log_every", log_every, minimum=1), num_iterations)
    val_every = min(check_count("val_every", val_every or log_every, minimum=1), num_iterations)
    per_batch = log_every if fused else 1               # steps per training batch
    if fused:                                           # Lightning's rhythm in batches of log_every steps
        if val_every != log_every:
            raise ValueError(f"fused steps validate every log_every steps; got val_every {val_every}")
        log_every = val_every = 1
    validate = validate and val_every <= steps          # Lightning refuses an interval past the fit's end
    check_choice("precision", precision, tuple(PRECISION_DTYPES))
    callbacks = list(callbacks)
    if early_stopping is not None:
        check_count("early_stopping", early_stopping, minimum=1)
        callbacks.append(DevEarlyStopping(early_stopping))
    if checkpoint_dir is not None:
        if validate:
            callbacks.append(BestCheckpoint(checkpoint_dir))
        callbacks.append(LastCheckpoint(checkpoint_dir, every=None if validate else log_every))
    if progress_bar:
        callbacks.append(TrainingBar(refresh_rate=max(1, -(-steps // per_batch) // 200)))
    return pl.Trainer(max_epochs=1, max_steps=steps, accelerator=accelerator, devices=devices, strategy=strategy,
                      precision=precision, deterministic=deterministic, logger=logger, log_every_n_steps=log_every,
                      val_check_interval=val_every if validate else None, limit_val_batches=1.0 if validate else 0,
                      num_sanity_val_steps=0, callbacks=callbacks, sync_batchnorm=sync_batchnorm,
                      enable_checkpointing=checkpoint_dir is not None, enable_model_summary=False,
                      enable_progress_bar=progress_bar)


def _scalar_out(t):
    """A 0-d tensor (or number) as JSON: [value, dtype name or None]; None stays None."""
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return [float(t), str(t.dtype).removeprefix("torch.")]
    return [float(t), None]


def _scalar_in(v):
    if v is None:
        return None
    return torch.tensor(v[0], dtype=getattr(torch, v[1])) if v[1] else v[0]


def callback_states(trainer):
    """The JSON-able states of train_lightning's early stopping and best checkpoint (TrainState.extra
    ["callbacks"]): EarlyStopping's wait count and best dev cost, ModelCheckpoint's best path and score."""
    out = {}
    for cb in trainer.callbacks:
        if isinstance(cb, DevEarlyStopping):
            out["early_stopping"] = {"wait_count": int(cb.wait_count), "stopped_epoch": int(cb.stopped_epoch),
                                     "best_score": _scalar_out(cb.best_score)}
        elif isinstance(cb, BestCheckpoint):
            out["best_checkpoint"] = {"dirpath": cb.dirpath, "best_model_path": cb.best_model_path,
                                      "best_model_score": _scalar_out(cb.best_model_score),
                                      "kth_best_model_path": cb.kth_best_model_path,
                                      "kth_value": _scalar_out(cb.kth_value),
                                      "best_k_models": {p: _scalar_out(v) for p, v in cb.best_k_models.items()},
                                      "last_model_path": cb.last_model_path}
    return out


def restore_callback_states(trainer, extra):
    """Put callback_states' states (from TrainState.extra) back into the trainer's early stopping and
    best checkpoint, through their load_state_dict; the best checkpoint's only when it keeps the
    same directory (its best file is there)."""
    states = (extra or {}).get("callbacks") or {}
    for cb in trainer.callbacks:
        if isinstance(cb, DevEarlyStopping) and "early_stopping" in states:
            s = states["early_stopping"]
            cb.load_state_dict({"wait_count": s["wait_count"], "stopped_epoch": s["stopped_epoch"],
                                "best_score": _scalar_in(s["best_score"]), "patience": cb.patience})
        elif isinstance(cb, BestCheckpoint) and "best_checkpoint" in states:
            s = states["best_checkpoint"]
            if s["dirpath"] != cb.dirpath:
                continue
            cb.load_state_dict({"dirpath": s["dirpath"], "best_model_path": s["best_model_path"],
                                "best_model_score": _scalar_in(s["best_model_score"]),
                                "kth_best_model_path": s["kth_best_model_path"],
                                "kth_value": _scalar_in(s["kth_value"]),
                                "best_k_models": {p: _scalar_in(v) for p, v in s["best_k_models"].items()},
                                "last_model_path": s["last_model_path"]})


@dataclass
class LightningResult:
    """params: the final θ (the best by dev cost when early stopping), as scratch params;
    module, trainer: for metrics (trainer.callback_metrics) and testing; best_path: the checkpoint;
    bn_stats: the running statistics {"mu{l}", "var{l}"} (n[l], 1) of the batch-norm layers in the
    scratch layout (convert.state_dict_to_bn_stats: the variance as torch keeps it, an average of
    unbiased batch variances), None without batch norm; confusion: the (C, C) confusion matrix of a
    softmax net written at the end (rows: true class, columns: predicted), else None; state: the
    scratch.model_file.TrainState after the last update (θ_N even when params are the best ones),
    to resume from (train_lightning(resume=...)) or to save (model_from_result, save_model)."""
    params: dict
    module: DeepNetModule
    trainer: pl.Trainer
    best_path: str = None
    stopped_early: bool = False
    bn_stats: dict = None
    confusion: np.ndarray = None
    state: TrainState = None


# ------------------------------------------------------------------------------ checkpoints

def _feed(h, obj):
    """Feed obj to the hash h in a canonical form: tensors by dtype, shape and bytes; dicts by sorted key."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(b"{")
        for key in sorted(obj, key=repr):
            h.update(repr(key).encode() + b":")
            _feed(h, obj[key])
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for v in obj:
            _feed(h, v)
            h.update(b",")
        h.update(b"]")
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def checkpoint_digest(checkpoint):
    """SHA-256 (hex) of what resuming reads from a train_lightning checkpoint: the state_dict's tensors
    (weights, running statistics), the optimizer's state (its tensors and param groups), the
    hyperparameters and the torch_ref entry (without its sha256)."""
    h = hashlib.sha256()
    entry = {k: v for k, v in checkpoint.get(CHECKPOINT_KEY, {}).items() if k != "sha256"}
    for key, value in (("state_dict", checkpoint.get("state_dict")),
                       ("optimizer_states", checkpoint.get("optimizer_states")),
                       ("hyper_parameters", checkpoint.get("hyper_parameters")), (CHECKPOINT_KEY, entry)):
        h.update(key.encode())
        _feed(h, value)
    return h.hexdigest()


def _unpickler_says(err):
    """The line of torch's weights_only error that says what was refused."""
    lines = [ln.strip() for ln in str(err).splitlines()]
    said = [ln for ln in lines if ln and not ln.startswith(("Weights only load failed", "Check the documentation",
                                                             "Please file an issue"))]
    return " ".join(said)[:200] or type(err).__name__


def load_checkpoint(path):
    """The dict of a checkpoint train_lightning wrote, read with torch.load(path, map_location="cpu",
    weights_only=True) only: tensors, numbers, strings and containers, never pickled objects (no code
    runs). FileNotFoundError when path does not exist; scratch.model_file.ModelFileError ("<path>:
    what is wrong") when it is a directory, empty, truncated or corrupted, not a checkpoint (random
    bytes, another kind of file), a pickle stream or an archive holding pickled objects (refused),
    a checkpoint without train_lightning's "torch_ref" entry, or one whose SHA-256 (checkpoint_digest)
    does not match: a weight, the optimizer's state or the training state changed after saving."""
    path = check_file(path, "checkpoint")
    with open(path, "rb") as f:
        head = f.read(2)
    try:
        with warnings.catch_warnings():                   # torch's note on the pickle protocol of a refused file
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        said = _unpickler_says(err)
        if head[:1] == b"\x80" or "GLOBAL" in said or "class" in said or "reduce" in said:
            raise ModelFileError(path, f"refused: pickled objects are not loaded (torch.load with weights_only=True: "
                                       f"{said})") from None
        if head == b"PK":
            raise ModelFileError(path, f"truncated or corrupted: its archive's records cannot be read "
                                       f"({said})") from None
        raise ModelFileError(path, f"not a checkpoint: neither a torch zip archive nor a pickle (random or "
                                   f"corrupted bytes, or another kind of file; {said})") from None
    except Exception as err:          # whatever torch's readers raise on a damaged archive
        first = str(err).splitlines()[0][:200] if str(err) else ""
        raise ModelFileError(path, f"truncated or corrupted (torch.load: {type(err).__name__}: {first})") from None
    if not isinstance(ckpt, dict) or CHECKPOINT_KEY not in ckpt:
        found = sorted(map(str, ckpt))[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelFileError(path, f"not a train_lightning checkpoint (no {CHECKPOINT_KEY!r} entry; found {found})")
    entry = ckpt[CHECKPOINT_KEY]
    if not isinstance(entry, dict) or entry.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(path, f"not a train_lightning checkpoint (format "
                                   f"{entry.get('format') if isinstance(entry, dict) else entry!r})")
    if entry.get("version") != CHECKPOINT_VERSION:
        raise ModelFileError(path, f"checkpoint version {entry.get('version')!r}; this torch-ref reads version "
                                   f"{CHECKPOINT_VERSION}")
    missing = [k for k in ("state_dict", "hyper_parameters") if k not in ckpt]
    if missing:
        raise ModelFileError(path, f"not a train_lightning checkpoint (no {missing} entry)")
    if entry.get("sha256") != checkpoint_digest(ckpt):
        raise ModelFileError(path, "checksum mismatch (SHA-256): its weights, optimizer state or training state "
                                   "were changed or corrupted after it was saved")
    return ckpt


def _checkpoint_parts(path):
    """(DeepNet, TrainState) of a train_lightning checkpoint: the net of its state_dict and
    hyperparameters, and the state to resume from (the optimizer's state in the course's names)."""
    ckpt = load_checkpoint(path)
    entry, hp = ckpt[CHECKPOINT_KEY], ckpt["hyper_parameters"]
    try:
        sd = ckpt["state_dict"]
        net = DeepNet.from_params(convert.state_dict_to_params(sd), list(hp["activations"]),
                                  keep_probs=hp["keep_probs"], alpha=hp["alpha"],
                                  bn_stats=convert.state_dict_to_bn_stats(sd), bn_eps=hp["bn_eps"],
                                  bn_beta=hp["bn_beta"])
        opt = None
        if entry["optimizer"] != "gd" and ckpt.get("optimizer_states"):
            opt = make_optimizer(net, hp, hp["m"])
            opt.load_state_dict(ckpt["optimizer_states"][0])
        state = train_state(net, entry["step"], opt, entry["optimizer"], history=entry["history"],
                            last_finite=None if entry["last_finite"] is None else tuple(entry["last_finite"]),
                            plan=entry["plan"], extra=entry["extra"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ModelFileError(path, f"holds a state that does not fit its hyperparameters ({err})") from None
    state.torch_rng = entry["torch_rng"].numpy().copy()
    return net, state


def checkpoint_state(path):
    """The TrainState saved in a train_lightning checkpoint (load_checkpoint's checks apply)."""
    return _checkpoint_parts(path)[1]


def checkpoint_to_model(path):
    """A train_lightning checkpoint as a scratch.model_file.Model (impl "lightning"): its parameters,
    running statistics and architecture, with the TrainState to resume from, so that
    save_model(out, checkpoint_to_model(ckpt)) writes a model file scratch and torch read."""
    net, state = _checkpoint_parts(path)
    return model_from_deepnet(net, state=state, impl="lightning")


def model_from_result(result, config=None, preprocess=None):
    """A LightningResult as a scratch.model_file.Model (impl "lightning"): the parameters it returns
    (the best ones when early stopping) with their running statistics, and result.state (θ_N) to
    resume from. config, preprocess: as the Model's."""
    return model_from_deepnet(result.module.model, state=result.state, config=config, preprocess=preprocess,
                              impl="lightning")


def resume_state(resume):
    """The TrainState train_lightning(resume=...) continues: a TrainState; a Model (its .state); or a
    path: a train_lightning checkpoint (.ckpt: checkpoint_state) or a model file (load_model).
    None for None. A model saved without its state raises ValueError (ModelFileError for a file)."""
    if resume is None or isinstance(resume, TrainState):
        return resume
    if isinstance(resume, Model):
        if resume.state is None:
            where = f" ({resume.path})" if resume.path else ""
            raise ValueError(f"resume: the model{where} holds no training state (it was saved without one); "
                             "it can predict, not continue training")
        return resume.state
    if isinstance(resume, (str, os.PathLike)):
        path = os.fspath(resume)
        if path.endswith(".ckpt"):
            return checkpoint_state(path)
        model = load_model(path)
        if model.state is None:
            raise ModelFileError(path, "holds no training state (saved without one): it cannot be resumed")
        return model.state
    raise TypeError(f"resume must be a TrainState, a Model, or the path of a model file (.npz) or a checkpoint "
                    f"(.ckpt); got {type(resume).__name__}")


@contextlib.contextmanager
def _resume_warnings(resuming):
    """Warnings a resumed fit triggers on purpose: its skipped batches (training_step returns None),
    a checkpoint directory that holds the saved run's files, a log interval longer than the fit."""
    if not resuming:
        yield
        return
    with warnings.catch_warnings():
        for message in (".*`training_step` returned `None`.*", ".*Checkpoint directory .* exists and is not empty.*",
                        ".*smaller than the logging interval.*"):
            warnings.filterwarnings("ignore", message=message)
        yield


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
                    check_every=CHECK_EVERY, verbose=False, resume=None, fuse_steps=None):
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
    <logger dir or cwd>/checkpoints). checkpoint_dir: last.ckpt there, always: after each validation
    (every log_every steps) with dev data, else at the steps s % log_every == 0, and at the last step;
    with dev data also best-step{s}.ckpt, the θ_s of the lowest dev cost. callbacks: extra Lightning
    callbacks. devices > 1 (with
    strategy "ddp", or "ddp_spawn" from a notebook or a test) trains data-parallel, each process on
    its shard of the examples, with the same updates as one process (CourseDataModule). Returns a
    LightningResult; its .state is the TrainState after the last update (not with ddp_spawn, whose
    workers keep it: resume from their last.ckpt).
    Divergence (a non-finite cost, or non-finite parameters after an update) raises scratch.train's
    FloatingPointError naming the first bad step; the flags stay on the device and are read every
    check_every steps (torch_ref.divergence). verbose=False (default) silences Lightning's banners.

    resume: continue a run where it stopped: a TrainState (LightningResult.state), a Model with its
    state, a model file (.npz, e.g. save_model(path, model_from_result(result))) or a checkpoint
    (.ckpt, e.g. checkpoint_dir/last.ckpt). Training goes on from its step k until num_iterations
    (or num_epochs) IN TOTAL, with the same arguments (the same X, Y, mini_batch_size and seed:
    refused otherwise, as is a total <= k), and gives the run that was never interrupted, bit for
    bit: the same parameters and running statistics, the same logged values under the same steps,
    the same dev validations, optimizer state (Adam's t included), learning rates, dropout (torch's
    RNG state is restored after seed_everything; shared masks are masks(i) of the run's step i) and,
    from a .ckpt or a state with extra["callbacks"], early stopping's wait and best. params must be None.
    How (Lightning's own trainer.fit(ckpt_path=...) restarts the loader at batch 0 and trains nothing
    past a finished epoch): a fresh module and Trainer hold θ_k, the optimizer state and the RNG
    state; the fit starts at step k0 = k - k % log_every, the last multiple of log_every, and skips its
    first k - k0 batches (training_step returns None), so that Lightning's logging and validation
    rhythm, counted from the fit's start, stays on the steps of the run (DeepNetModule.resume_from).
    With DDP (which cannot skip a batch) k must be a multiple of log_every.

    fuse_steps: train the log_every steps between two logged steps in one training_step
    (DeepNetModule.fuse_steps), so that Lightning's per-batch work is paid once per log_every steps;
    None (default): with one process (devices=1), not with DDP. The run is the same, bit for bit, as
    with fuse_steps=False (one step per training_step): the same θ, history, logged values, dev
    validations and checkpoints at the same steps. What changes is what a callback sees: Lightning's
    per-batch hooks (on_train_batch_start/end, on_before/after_backward, ...) run once per log_every
    steps, at the logged steps (on_train_batch_start before the logged step i, on_train_batch_end after
    the update of step i + log_every - 1), and a resumed run starts at its own step k, whatever k.
    """
    dtype = PRECISION_DTYPES[check_choice("precision", precision, tuple(PRECISION_DTYPES))]
    if list(activations)[-1:] and list(activations)[-1] in OUTPUTS:   # the labels fit the output layer, first
        check_matrix("X", X, layout="(n_x, m)")
        check_targets("Y", Y, activations, C=list(layer_dims)[-1], m=X.shape[1])
    plan = make_plan(X.shape[1], num_iterations=num_iterations, num_epochs=num_epochs,
                     mini_batch_size=mini_batch_size, permutations=permutations, seed=seed)
    num_iterations = plan.num_steps
    if isinstance(layer_dims, (list, tuple)) and len(layer_dims) >= 2:   # else DeepNet's own message
        check_training_memory("train_lightning", layer_dims, X.shape[1], dtype.itemsize, optimizer, keep_probs,
                              batchnorm or (params is not None and "gamma1" in params), mini_batch_size)
    if log_every is None:
        log_every = math.ceil(num_iterations / 100)
    log_every = min(check_count("log_every", log_every, minimum=1), num_iterations)
    if fuse_steps is None:
        fuse_steps = devices == 1
    elif fuse_steps and devices != 1:
        raise ValueError(f"fuse_steps needs one process (devices=1): DDP synchronises the gradients once per "
                         f"training_step; got devices={devices!r}")
    saved, start, bn_stats = resume_state(resume), 0, None
    if saved is not None:
        k = check_resume(saved, params, optimizer, plan, seed)
        # the fit's first step: fused, k itself; else a logging/validation boundary (steps k0..k-1 skipped)
        start = k if fuse_steps else k - k % log_every
        np_dtype = convert.numpy_dtype(dtype)
        params = {name: np.asarray(v, dtype=np_dtype) for name, v in saved.params.items()}
        if saved.bn_stats is not None:
            bn_stats = {name: np.asarray(v, dtype=np_dtype) for name, v in saved.bn_stats.items()}
    if params is None:       # θ_0 exactly as scratch.train draws it from (init, rng=seed)
        params = initialize_parameters(list(layer_dims), init, rng=seed, dtype=convert.numpy_dtype(dtype),
                                       batchnorm=batchnorm)
    if any(f"gamma{l}" in params for l in range(1, len(layer_dims))):
        check_step_sizes(plan)             # before the Trainer starts (BatchNorm1d would raise mid-run)
    if early_stopping is not None and X_dev is None:
        raise ValueError("early_stopping needs dev data: give X_dev and Y_dev")
    if early_stopping is not None and checkpoint_dir is None:
        checkpoint_dir = os.path.join(getattr(logger, "log_dir", None) or os.getcwd(), "checkpoints")
    with restored_global_state(), quiet_lightning(verbose), _resume_warnings(saved is not None):
        pl.seed_everything(seed, verbose=False)
        data = CourseDataModule(X, Y, X_dev, Y_dev, X_test, Y_test, plan=plan, dtype=dtype, start_step=start)
        module = DeepNetModule(layer_dims, activations, learning_rate=learning_rate, keep_probs=keep_probs,
                               init=init, seed=seed, lambd=lambd, l2_mode=l2_mode, m=X.shape[1],
                               dtype=str(dtype).removeprefix("torch."), params=params, masks=masks,
                               check_every=check_every, optimizer=optimizer, beta=beta, beta1=beta1,
                               beta2=beta2, epsilon=epsilon, lr_schedule=lr_schedule, batchnorm=batchnorm,
                               bn_beta=bn_beta, bn_eps=bn_eps, bn_stats=bn_stats)
        module.log_every = log_every
        if fuse_steps:
            module.fuse_steps(log_every)
            data.chunk = log_every
        if saved is not None:
            module.resume_from(saved, offset=start)
        trainer = lean_trainer(num_iterations, log_every=log_every, logger=logger, accelerator=accelerator,
                               devices=devices, precision=precision, deterministic=deterministic,
                               checkpoint_dir=checkpoint_dir, early_stopping=early_stopping, strategy=strategy,
                               progress_bar=progress_bar, callbacks=callbacks, validate=data.has("dev"),
                               sync_batchnorm=module.model.batchnorm, start=start, fused=bool(fuse_steps))
        if module.model.batchnorm and trainer.world_size > 1 and trainer.strategy.root_device.type != "cuda":
            raise ValueError(f"batch norm with {trainer.world_size} DDP processes needs CUDA devices: each process "
                             "holds a share of the step's examples, and only torch's SyncBatchNorm (GPU only) "
                             "normalizes with the statistics of the whole step; on the CPU train in one process")
        if saved is not None and trainer.world_size > 1 and module.first > start:
            raise ValueError(f"resume with {trainer.world_size} DDP processes needs the saved step "
                             f"({module.first}) to be a multiple of log_every ({log_every}): DDP cannot skip "
                             "batches to keep the logging rhythm; resume in one process, or from a checkpoint "
                             "written at a logged step")
        if checkpoint_dir is not None:
            module.last_checkpoint = os.path.join(checkpoint_dir, f"{LAST_NAME}.ckpt")
        if saved is not None:
            restore_callback_states(trainer, saved.extra)
        elif data.has("dev"):                 # dev metrics of θ_0 too, as scratch.train logs them at step 0
            trainer.validate(module, datamodule=data, verbose=False)
        trainer.fit(module, datamodule=data)
        final = module.train_state()          # θ_N, before the best parameters are loaded
        best = next((cb for cb in trainer.callbacks if isinstance(cb, BestCheckpoint)), None)
        best_path = best.best_model_path if best is not None else None
        if early_stopping is not None and best_path:
            module.load_state_dict(load_checkpoint(best_path)["state_dict"])
        stopped = early_stopping is not None and module.step < num_iterations
        confusion = None
        if module.output == "softmax":        # on the parameters returned (the best ones when early stopping)
            which = "dev" if data.has("dev") else "train"
            Xs, Ys = (X_dev, Y_dev) if which == "dev" else (X, Y)
            matrix = confusion_matrix(module.model, *(convert.to_torch(A, dtype=dtype, device=module.device)
                                                      for A in (Xs, Ys)))
            title = f"{which} set, step {module.step}: accuracy {float(matrix.trace()) / Xs.shape[1]:.3f}"
            log_confusion_matrix(trainer.loggers, matrix, module.step, title)
            confusion = matrix.cpu().numpy()
        return LightningResult(module.model.to_params(), module, trainer, best_path or None, stopped,
                               module.model.to_bn_stats(), confusion, final)
