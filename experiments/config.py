"""One experiment's settings: a frozen dataclass read from experiments/configs/<name>.toml.

The field names are the hyperparameter names shared by scratch.train, torch_ref.train_loop and
torch_ref.lightning (layer_dims, activations, keep_probs, init, lambd, learning_rate,
num_iterations, seed, and the optimization arguments optimizer, beta, beta1, beta2, epsilon,
mini_batch_size, num_epochs, lr_schedule), so one Config drives all three implementations.
A TOML file holds these keys at the top level, and optionally [[variants]]: each a `name` plus
the keys it changes (the classic experiments: one run per variant, everything else equal).

How long a run trains:
    full batch (no mini_batch_size): num_iterations steps (default 10000); num_epochs is refused.
    mini-batches (mini_batch_size = B): num_epochs passes over the training set, each of
        ceil(m_train / B) steps in the order of scratch.optimizers.epoch_permutations(m_train, seed);
        num_iterations is refused in the same table (top level or one variant). A variant that sets
        mini_batch_size trains by epochs and does not inherit the top level's num_iterations.
lr_schedule: a table naming a schedule of scratch.optimizers.LR_SCHEDULES and its keywords,
    `lr_schedule = {name = "inverse_time", decay_rate = 1.0}`, or only a name, `lr_schedule =
    "exponential"` (its default keywords). Config keeps it as (name, {keywords}), the form the three
    training functions take; the rate moves once per epoch (a full-batch step is an epoch).
Dropout with mini-batches is allowed: the shared masks of each step are drawn for that step's
batch (experiments.runner.shared_dropout_masks).
Many classes (F39, F43): activations[-1] = "softmax" with layer_dims[-1] = C, on a data set of C
classes ("digits10": the ten digits, "blobs3": three Gaussian blobs), whose labels are one-hot (C, m).
Batch norm (F40, F41): batchnorm = true puts it on every hidden layer (b[l] dropped, γ[l], β[l]
learned), with bn_beta (the running statistics' β; torch's momentum is 1 - β) and bn_eps.
target_cost: report, per variant, the first logged step whose training cost J_i is at most this.
"""
import dataclasses
import math
import os
from dataclasses import dataclass, field

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10: the same parser as the tomli package
    import tomli as tomllib

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "configs")
IMPLS = ("scratch", "torch", "lightning")
DATASETS = ("flower", "moons", "circles", "blobs", "digits", "breast_cancer", "catvnoncat", "digits10", "blobs3")
# classes of the multi-class data sets (one-hot labels, a softmax output with layer_dims[-1] = C);
# every other data set has 0/1 labels (1, m) and a sigmoid output with one unit
CLASSES = {"digits10": 10, "blobs3": 3}
OUTPUTS = ("sigmoid", "softmax")                          # scratch.network.OUTPUTS (no NumPy import here)
OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")        # scratch.plan.OPTIMIZERS (no NumPy import here)
DEFAULT_ITERATIONS = 10000                                 # full-batch steps when num_iterations is not given


@dataclass(frozen=True)
class Variant:
    """One run of a sweep: a name and the Config fields it overrides."""
    name: str
    overrides: dict


@dataclass(frozen=True)
class Config:
    """Settings of one experiment (see the TOML files for commented examples)."""
    name: str
    description: str = ""
    # data: built-in sets need no download; catvnoncat needs the course's HDF5 files (--data)
    dataset: str = "flower"
    m: int = 400                       # examples generated (flower, moons, circles, blobs, blobs3)
    noise: float = 0.2                 # moons, circles, blobs, blobs3
    standardize: bool = False          # F23, with the training set's μ and σ
    ratios: tuple = (0.6, 0.2, 0.2)    # train/dev/test split (F24)
    # the network and its training: the shared hyperparameter names
    layer_dims: tuple = (2, 4, 1)
    activations: tuple = ("tanh", "sigmoid")
    keep_probs: tuple = None
    init: str = "random"
    scale: float = 0.01                # std of init="random" (the course's × 0.01)
    lambd: float = 0.0
    learning_rate: float = 1.2         # α₀ when lr_schedule is given
    num_iterations: int = None         # full-batch steps (DEFAULT_ITERATIONS when not given)
    seed: int = 0                      # data, split, θ_0, dropout masks and the mini-batch order
    # optimization (scratch.train's arguments of the same names)
    optimizer: str = "gd"              # "gd", "momentum" (beta), "rmsprop" (beta2, epsilon), "adam" (beta1, beta2, epsilon)
    beta: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    mini_batch_size: int = None        # None: full batch
    num_epochs: int = None             # with mini_batch_size: passes over the training set
    lr_schedule: tuple = None          # None or (name, {keywords}) of scratch.optimizers.LR_SCHEDULES
    # batch norm on every hidden layer (scratch.train's arguments of the same names)
    batchnorm: bool = False
    bn_beta: float = 0.9               # running statistics μ = βμ + (1-β)μ_B (BatchNorm1d's momentum = 1 - β)
    bn_eps: float = 1e-5               # ε of z_norm = (z - μ)/√(σ² + ε)
    target_cost: float = None          # report the first logged step with J_i <= target_cost
    log_every: int = 10                # TensorBoard writes every k steps
    impls: tuple = IMPLS               # which implementations run by default
    variants: tuple = field(default=())

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"{self.name}: dataset must be one of {list(DATASETS)}; got {self.dataset!r}")
        bad = [i for i in self.impls if i not in IMPLS]
        if bad or not self.impls:
            raise ValueError(f"{self.name}: impls must be a non-empty list from {list(IMPLS)}; got {list(self.impls)}")
        for key in ("num_iterations", "mini_batch_size", "num_epochs", "log_every"):
            value = getattr(self, key)
            if value is None and key != "log_every":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{self.name}: {key} must be a positive int; got {value!r}")
        if not _is_number(self.learning_rate) or not self.learning_rate > 0:
            raise ValueError(f"{self.name}: learning_rate must be a positive number; got {self.learning_rate!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"{self.name}: seed must be a non-negative int; got {self.seed!r}")
        if not isinstance(self.batchnorm, bool):
            raise ValueError(f"{self.name}: batchnorm must be true or false; got {self.batchnorm!r}")
        if not _is_number(self.bn_beta) or not 0 <= self.bn_beta < 1:
            raise ValueError(f"{self.name}: bn_beta must be a number in [0, 1); got {self.bn_beta!r}")
        if not _is_number(self.bn_eps) or not self.bn_eps > 0:
            raise ValueError(f"{self.name}: bn_eps must be a positive number; got {self.bn_eps!r}")
        if self.target_cost is not None and (not _is_number(self.target_cost) or not self.target_cost > 0):
            raise ValueError(f"{self.name}: target_cost must be a positive number; got {self.target_cost!r}")
        self._check_output()
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"{self.name}: optimizer must be one of {list(OPTIMIZERS)}; got {self.optimizer!r}")
        for key in ("beta", "beta1", "beta2"):
            value = getattr(self, key)
            if not _is_number(value) or not 0 <= value < 1:
                raise ValueError(f"{self.name}: {key} must be a number in [0, 1); got {value!r}")
        if not _is_number(self.epsilon) or not 0 < self.epsilon < math.inf:
            raise ValueError(f"{self.name}: epsilon must be a positive number; got {self.epsilon!r}")
        if self.mini_batch_size is None:
            if self.num_epochs is not None:
                raise ValueError(f"{self.name}: num_epochs counts passes of mini-batches: give mini_batch_size "
                                 f"too, or num_iterations for full-batch steps (got num_epochs = {self.num_epochs})")
            if self.num_iterations is None:
                object.__setattr__(self, "num_iterations", DEFAULT_ITERATIONS)
        else:
            if self.num_iterations is not None:
                raise ValueError(f"{self.name}: num_iterations (full-batch steps) conflicts with mini_batch_size = "
                                 f"{self.mini_batch_size}: with mini-batches give num_epochs instead "
                                 f"(got num_iterations = {self.num_iterations})")
            if self.num_epochs is None:
                raise ValueError(f"{self.name}: mini_batch_size = {self.mini_batch_size} needs num_epochs "
                                 "(passes over the training set)")
        object.__setattr__(self, "lr_schedule", normalize_lr_schedule(self.name, self.lr_schedule))

    def _check_output(self):
        """The output layer fits the data set: a softmax over C = CLASSES[dataset] units for a
        multi-class set, one sigmoid unit otherwise."""
        acts, dims = tuple(self.activations), tuple(self.layer_dims)
        if len(acts) != len(dims) - 1:
            raise ValueError(f"{self.name}: activations must have one name per layer, len(layer_dims) - 1 = "
                             f"{len(dims) - 1}; got {len(acts)}")
        if not acts or acts[-1] not in OUTPUTS:
            raise ValueError(f"{self.name}: activations[-1] must be one of {list(OUTPUTS)}; got {acts[-1:]!r}")
        C = CLASSES.get(self.dataset)
        if C is None and (acts[-1], dims[-1]) != ("sigmoid", 1):
            raise ValueError(f"{self.name}: dataset {self.dataset!r} has 0/1 labels: the output layer must be "
                             f"one 'sigmoid' unit (layer_dims[-1] = 1); got {dims[-1]} {acts[-1]!r}")
        if C is not None and (acts[-1], dims[-1]) != ("softmax", C):
            raise ValueError(f"{self.name}: dataset {self.dataset!r} has {C} classes: the output layer must be a "
                             f"'softmax' of layer_dims[-1] = {C} units; got {dims[-1]} {acts[-1]!r}")

    @property
    def output(self):
        """The output activation, "sigmoid" (0/1 labels) or "softmax" (one-hot labels)."""
        return self.activations[-1]

    def num_steps(self, m):
        """Update steps of a run on m training examples: num_iterations with full batch, else
        num_epochs · ceil(m / mini_batch_size)."""
        from scratch.plan import Plan                  # imported here only: NumPy is not loaded for --help
        if self.mini_batch_size is None:
            return self.num_iterations
        return Plan(m, self.num_epochs, self.mini_batch_size).num_steps

    def replace(self, **changes):
        """A copy with some fields changed (lists become tuples), validated again."""
        return dataclasses.replace(self, **{k: _freeze(v) for k, v in changes.items()})

    def override(self, **changes):
        """A copy with `changes` applied everywhere, the base config and every variant: a variant's
        own value of a changed key gives way, so a command-line value (--lr, --steps, ...) is what
        every run uses, also in a sweep whose variants set their own learning_rate."""
        variants = tuple(Variant(v.name, {k: val for k, val in v.overrides.items() if k not in changes})
                         for v in self.variants)
        return self.replace(variants=variants, **changes)

    def with_steps(self, n):
        """A copy in which every run trains n units of its own kind (the command line's --steps):
        n full-batch steps (num_iterations) for a full-batch run, n epochs (num_epochs) for a
        mini-batch run; a variant's own num_iterations / num_epochs give way."""
        own = {"num_iterations", "num_epochs"}
        base_key = "num_iterations" if self.mini_batch_size is None else "num_epochs"
        variants = []
        for v in self.variants:
            changes = {k: val for k, val in v.overrides.items() if k not in own}
            mini = v.overrides.get("mini_batch_size", self.mini_batch_size) is not None
            if mini != (self.mini_batch_size is not None):        # a full-batch top level, a mini-batch variant
                changes["num_epochs"] = n
            variants.append(Variant(v.name, changes))
        return self.replace(variants=tuple(variants), **{base_key: n})

    def runs(self):
        """[(variant name or None, Config)]: the base config alone, or one Config per variant. A variant
        that sets mini_batch_size trains by epochs: the top level's num_iterations does not apply to it.
        A variant's invalid combination raises ValueError naming the config and the variant."""
        if not self.variants:
            return [(None, self)]
        out = []
        for v in self.variants:
            changes = dict(v.overrides)
            if "mini_batch_size" in changes and "num_iterations" not in changes:
                changes["num_iterations"] = None
            try:
                out.append((v.name, self.replace(variants=(), **changes)))
            except ValueError as err:
                message = str(err)
                prefix = f"{self.name}: "
                if message.startswith(prefix):
                    message = message[len(prefix):]
                raise ValueError(f"{self.name}, variant {v.name!r}: {message}") from None
        return out

    def hparams(self):
        """The hyperparameters as TensorBoard wants them: flat str/int/float values."""
        keys = ("dataset", "layer_dims", "activations", "keep_probs", "init", "scale", "lambd",
                "learning_rate", "num_iterations", "seed", "optimizer", "beta", "beta1", "beta2", "epsilon",
                "mini_batch_size", "num_epochs", "batchnorm", "bn_beta", "bn_eps")
        out = {k: v if isinstance(v, (int, float, str)) else str(list(v) if v is not None else None)
               for k, v in ((k, getattr(self, k)) for k in keys)}
        out["lr_schedule"] = describe_lr_schedule(self.lr_schedule)
        return out


def describe_lr_schedule(lr_schedule):
    """"inverse_time(decay_rate=1.0)" for ("inverse_time", {"decay_rate": 1.0}); "None" for None."""
    if lr_schedule is None:
        return "None"
    name, kwargs = lr_schedule
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def normalize_lr_schedule(where, value):
    """The config's lr_schedule as the training functions take it: None or (name, {keywords}).
    value: None; a name; a TOML table {name = ..., keyword = value, ...}; or (name, {keywords}).
    The name, keywords and values are checked by scratch.plan.check_lr_schedule (imported here only:
    NumPy is not loaded for --help), which fills in the schedule's default keywords."""
    if value is None:
        return None
    from scratch.optimizers import LR_SCHEDULES
    from scratch.plan import check_lr_schedule
    form = ('a table such as lr_schedule = {name = "inverse_time", decay_rate = 1.0}, or a schedule name')
    if isinstance(value, str):
        name, kwargs = value, {}
    elif isinstance(value, dict):
        kwargs = dict(value)
        name = kwargs.pop("name", None)
        if name is None:
            raise ValueError(f"{where}: lr_schedule needs a name, one of {list(LR_SCHEDULES)}; got {value!r}; "
                             f"expected {form}")
    elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
        name, kwargs = value[0], dict(value[1])
    else:
        raise ValueError(f"{where}: lr_schedule must be {form}; got {value!r}")
    try:
        return check_lr_schedule((name, kwargs))
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: {err}") from None


def _freeze(value):
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


_FIELDS = {f.name for f in dataclasses.fields(Config)} - {"name", "variants"}


def _check_keys(where, table):
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(_FIELDS)}")


def list_experiments():
    """{name: description} of the TOML files in experiments/configs, sorted by name."""
    out = {}
    for fname in sorted(os.listdir(CONFIG_DIR)):
        if fname.endswith(".toml"):
            with open(os.path.join(CONFIG_DIR, fname), "rb") as f:
                out[fname[:-5]] = tomllib.load(f).get("description", "")
    return out


def load_config(name_or_path):
    """The Config of a built-in experiment name (experiments/configs/<name>.toml) or of a .toml path.

    Raises FileNotFoundError for an unknown name or path, ValueError for a malformed file.
    """
    path = name_or_path if name_or_path.endswith(".toml") else os.path.join(CONFIG_DIR, f"{name_or_path}.toml")
    if not os.path.isfile(path):
        known = ", ".join(list_experiments())
        raise FileNotFoundError(f"no experiment {name_or_path!r} (known: {known}; or give a path to a .toml file)")
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    variants = table.pop("variants", [])
    _check_keys(path, table)
    parsed = []
    for k, v in enumerate(variants):
        v = dict(v)
        vname = v.pop("name", None)
        if not isinstance(vname, str) or not vname:
            raise ValueError(f"{path}: variants[{k}] needs a name")
        _check_keys(f"{path}: variant {vname!r}", v)
        parsed.append(Variant(vname, {key: _freeze(val) for key, val in v.items()}))
    name = os.path.splitext(os.path.basename(path))[0]
    cfg = Config(name=name, variants=tuple(parsed), **{k: _freeze(v) for k, v in table.items()})
    cfg.runs()                                   # every variant checked now, before anything runs
    return cfg
