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

Every field's value is checked for its kind (FIELD_RULES), wherever it comes from (a TOML file, the
command line's --set, a model file's JSON): booleans are TOML's true/false only (standardize = "no"
is refused, not read as true), ints are not booleans, numbers are finite ints or floats, lists hold
the right kind. Config.to_dict / Config.from_dict turn a Config into plain JSON/TOML values and back
(validated as load_config validates a file); Config.to_toml writes a file that load_config reads
back to an equal Config; parse_setting reads the command line's --set KEY=VALUE.
"""
import dataclasses
import json
import math
import os
import re
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
# copies of scratch's names (tests/test_cli_config.py checks that they do not drift)
INIT_METHODS = ("zeros", "random", "xavier", "glorot", "he")           # scratch.initializers.INIT_METHODS
HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")  # scratch._checks.ACTIVATION_NAMES
# data augmentation of the training part (F27): "flip" adds each image's mirror image (scratch.data.augment_flip);
# the image shape of each data set that has images
AUGMENTATIONS = ("flip",)
IMAGE_SHAPES = {"digits": (8, 8), "digits10": (8, 8), "catvnoncat": (64, 64, 3)}


def _between(low, high):
    return lambda v: low <= v < high


def _positive(v):
    return v > 0


def _ratios(r):
    return len(r) == 3 and all(v > 0 for v in r) and math.isclose(sum(r), 1.0, abs_tol=1e-9)


# What each field holds (a TOML file, --set or a model file's JSON may give anything): its kind,
# then an optional test of the value, and the phrase of the message "<name>: <key> must be
# <phrase>; got <value>". Kinds: bool (true/false only), int (not a bool), number (int or float, not
# a bool, finite), str, and lists of int / number / str. lr_schedule and variants are checked apart.
FIELD_RULES = {
    "description": ("str", None, "a string"),
    "dataset": ("str", lambda v: v in DATASETS, f"one of {list(DATASETS)}"),
    "m": ("int", _positive, "a positive int"),
    "noise": ("number", lambda v: v >= 0, "a non-negative number"),
    "standardize": ("bool", None, "true or false"),
    "ratios": ("numbers", _ratios, "a list of 3 positive numbers summing to 1 (train, dev, test)"),
    "layer_dims": ("ints", lambda v: len(v) >= 2 and all(n >= 1 for n in v),
                   "a list of at least 2 positive ints [n_x, n[1], ..., n[L]]"),
    "activations": ("strs", None, "a list of activation names, one per layer"),
    "keep_probs": ("numbers", lambda v: all(0 < p <= 1 for p in v),
                   "a list of keep probabilities in (0, 1], one per hidden layer"),
    "init": ("str", lambda v: v in INIT_METHODS, f"one of {list(INIT_METHODS)}"),
    "scale": ("number", _positive, "a positive number"),
    "lambd": ("number", lambda v: v >= 0, "a non-negative number"),
    "learning_rate": ("number", _positive, "a positive number"),
    "num_iterations": ("int", _positive, "a positive int"),
    "seed": ("int", lambda v: v >= 0, "a non-negative int"),
    "optimizer": ("str", lambda v: v in OPTIMIZERS, f"one of {list(OPTIMIZERS)}"),
    "beta": ("number", _between(0, 1), "a number in [0, 1)"),
    "beta1": ("number", _between(0, 1), "a number in [0, 1)"),
    "beta2": ("number", _between(0, 1), "a number in [0, 1)"),
    "epsilon": ("number", _positive, "a positive number"),
    "mini_batch_size": ("int", _positive, "a positive int"),
    "num_epochs": ("int", _positive, "a positive int"),
    "batchnorm": ("bool", None, "true or false"),
    "bn_beta": ("number", _between(0, 1), "a number in [0, 1)"),
    "bn_eps": ("number", _positive, "a positive number"),
    "target_cost": ("number", _positive, "a positive number"),
    "log_every": ("int", _positive, "a positive int"),
    "impls": ("strs", lambda v: len(v) > 0 and all(i in IMPLS for i in v), f"a non-empty list from {list(IMPLS)}"),
    "claim": ("str", None, "a string"),
    "base_error": ("number", lambda v: 0 <= v <= 1, "a number in [0, 1] (the baseline error as a fraction)"),
    "init_seed": ("int", lambda v: v >= 0, "a non-negative int"),
    "augment": ("str", lambda v: v in AUGMENTATIONS, f"one of {list(AUGMENTATIONS)}"),
    "study": ("str", lambda v: re.fullmatch(r"[a-z][a-z0-9_]*", v) is not None,
              "the name of a module in experiments/studies (lower case, digits, _)"),
    "study_args": ("table", None, "a table of the study's own settings"),
}
_OPTIONAL = {"keep_probs", "num_iterations", "mini_batch_size", "num_epochs", "target_cost", "init_seed",
             "augment", "study", "study_args"}   # None allowed
_TUPLE_FIELDS = [k for k, (kind, _, _) in FIELD_RULES.items() if kind in ("numbers", "ints", "strs")]


def _has_kind(value, kind):
    """Whether value is of the FIELD_RULES kind: "bool", "int", "number", "str", or a list (or tuple)
    of the kind without its s ("ints", "numbers", "strs")."""
    if kind in ("ints", "numbers", "strs"):
        return isinstance(value, (list, tuple)) and all(_has_kind(v, kind[:-1]) for v in value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return _is_number(value)
    if kind == "table":
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return isinstance(value, str)


def _shown(value):
    """A value as the messages show it: tuples as lists (as the TOML file writes them), else repr."""
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


@dataclass(frozen=True)
class Variant:
    """One run of a sweep: a name and the Config fields it overrides (lists kept as tuples)."""
    name: str
    overrides: dict

    def __post_init__(self):
        object.__setattr__(self, "overrides", {k: _freeze(v) for k, v in self.overrides.items()})


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
    # what the experiment shows (experiments/studies, experiments/report.py)
    claim: str = ""                    # the course's claim, one sentence (results.md puts the measured outcome beside it)
    base_error: float = 0.0            # the baseline (human) error of the bias/variance diagnosis (F25)
    init_seed: int = None              # seed of θ_0 alone (default: seed); the data, split and masks keep seed
    augment: str = None                # "flip": the training part gets each image's mirror image too (F27)
    study: str = None                  # experiments/studies/<study>.py analyses the runs (default: the generic table)
    study_args: dict = None            # the study's own settings (a TOML table), read by that module
    variants: tuple = field(default=())

    def __post_init__(self):
        for key in _TUPLE_FIELDS:                     # lists (TOML, JSON, code) kept as tuples
            object.__setattr__(self, key, _freeze(getattr(self, key)))
        if not isinstance(self.name, str):
            raise ValueError(f"config name must be a string; got {self.name!r}")
        for key, (kind, ok, expected) in FIELD_RULES.items():
            value = getattr(self, key)
            if value is None and key in _OPTIONAL:
                continue
            if not (_has_kind(value, kind) and (ok is None or ok(value))):
                raise ValueError(f"{self.name}: {key} must be {expected}; got {_shown(value)}")
        if not isinstance(self.variants, tuple) or not all(isinstance(v, Variant) for v in self.variants):
            raise ValueError(f"{self.name}: variants must be a tuple of Variant; got {self.variants!r}")
        self._check_output()
        hidden = len(self.layer_dims) - 2
        for l, name in enumerate(self.activations[:-1], start=1):
            if name not in HIDDEN_ACTIVATIONS:
                raise ValueError(f"{self.name}: activations[{l - 1}] (hidden layer {l}) must be one of "
                                 f"{list(HIDDEN_ACTIVATIONS)}; got {name!r}")
        if self.keep_probs is not None and len(self.keep_probs) != hidden:
            raise ValueError(f"{self.name}: keep_probs must have one value per hidden layer, len(layer_dims) - 2 "
                             f"= {hidden}; got {len(self.keep_probs)}")
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
        if self.augment is not None and self.dataset not in IMAGE_SHAPES:
            raise ValueError(f"{self.name}: augment = {self.augment!r} needs a data set of images "
                             f"({list(IMAGE_SHAPES)}); got dataset {self.dataset!r}")
        if self.study_args is not None:
            object.__setattr__(self, "study_args", _FrozenTable(self.study_args))

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

    def only(self, *names):
        """A copy that keeps only the variants named (in the config's order). ValueError naming the
        known variants for a name the config does not have."""
        known = [v.name for v in self.variants]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"{self.name}: no variant(s) {unknown}; its variants are {known}")
        return self.replace(variants=tuple(v for v in self.variants if v.name in names))

    def hparams(self):
        """The hyperparameters as TensorBoard wants them: flat str/int/float values."""
        keys = ("dataset", "layer_dims", "activations", "keep_probs", "init", "scale", "lambd",
                "learning_rate", "num_iterations", "seed", "optimizer", "beta", "beta1", "beta2", "epsilon",
                "mini_batch_size", "num_epochs", "batchnorm", "bn_beta", "bn_eps")
        out = {k: v if isinstance(v, (int, float, str)) else str(list(v) if v is not None else None)
               for k, v in ((k, getattr(self, k)) for k in keys)}
        out["lr_schedule"] = describe_lr_schedule(self.lr_schedule)
        return out

    def to_dict(self):
        """Every field as a plain JSON- and TOML-able dict: {"name": ..., "description": ..., ...,
        "variants": [{"name": ..., <its overrides>}, ...]}, tuples as lists, lr_schedule as the table
        {"name": ..., <keywords>} (or None), None for an unset optional field. Config.from_dict(name,
        cfg.to_dict()) == cfg; model files keep it (scratch.model_file's Model.config)."""
        out = {"name": self.name}
        for f in dataclasses.fields(self):
            if f.name not in ("name", "variants"):
                out[f.name] = _plain(getattr(self, f.name))
        if self.lr_schedule is not None:
            out["lr_schedule"] = {"name": self.lr_schedule[0], **_plain(self.lr_schedule[1])}
        out["variants"] = [{"name": v.name, **_plain(v.overrides)} for v in self.variants]
        return out

    @classmethod
    def from_dict(cls, name, d, where=None):
        """The Config of a dict such as to_dict's or a TOML file's table, validated as load_config
        validates a file: unknown keys and every field's kind and value refused (ValueError), every
        variant checked. name: the config's name (a "name" key in d, to_dict's, gives way to it; with
        name None it is used); where: what the messages name (default: name)."""
        table = dict(d)
        own_name = table.pop("name", None)
        name = own_name if name is None else name
        where = where or name
        variants = table.pop("variants", [])
        if not isinstance(variants, (list, tuple)):
            raise ValueError(f"{where}: variants must be a list of tables ([[variants]]); got {variants!r}")
        _check_keys(where, table)
        parsed = []
        for k, v in enumerate(variants):
            if not isinstance(v, dict):
                raise ValueError(f"{where}: variants[{k}] must be a table; got {v!r}")
            v = dict(v)
            vname = v.pop("name", None)
            if not isinstance(vname, str) or not vname:
                raise ValueError(f"{where}: variants[{k}] needs a name")
            if vname in [p.name for p in parsed]:
                raise ValueError(f"{where}: two variants are named {vname!r} (each names its runs' directory)")
            _check_keys(f"{where}: variant {vname!r}", v)
            parsed.append(Variant(vname, v))
        cfg = cls(name=name, variants=tuple(parsed), **{k: _freeze(v) for k, v in table.items()})
        cfg.runs()                                   # every variant checked now, before anything runs
        return cfg

    def to_toml(self):
        """The config as the text of a TOML file that load_config reads back to an equal Config (when
        saved as <name>.toml): to_dict's keys at the top level (None ones left out: they are the
        defaults), then one [[variants]] table per variant."""
        table = self.to_dict()
        del table["name"]
        variants = table.pop("variants")
        lines = [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
        for v in variants:
            lines += ["", "[[variants]]"] + [f"{k} = {_toml_value(val)}" for k, val in v.items() if val is not None]
        return "\n".join(lines) + "\n"


def describe_lr_schedule(lr_schedule):
    """"inverse_time(decay_rate=1.0)" for ("inverse_time", {"decay_rate": 1.0}); "None" for None."""
    if lr_schedule is None:
        return "None"
    name, kwargs = lr_schedule
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def _is_number(value):
    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:                  # an int past float's range (a TOML integer of 400 digits)
        return False


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


class _FrozenTable(dict):
    """study_args: a dict that hashes (Config is frozen) and whose lists are tuples."""

    def __init__(self, table):
        super().__init__({k: _freeze(v) for k, v in table.items()})

    def __hash__(self):
        return hash(tuple(sorted((k, repr(v)) for k, v in self.items())))


def _freeze(value):
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _plain(value):
    """value with tuples as lists and dicts copied, all the way down (what JSON and TOML hold)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_string(text):
    """A TOML basic string: JSON's escapes are TOML's (\\" \\\\ \\n \\uXXXX); DEL is a control character too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value):
    """A TOML value: true/false, an int, a float in its shortest exact form (repr: 0.1, 1e-08, inf),
    a string, an array, an inline table (its None entries left out: the defaults)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = (k if _BARE_KEY.fullmatch(k) else _toml_string(k) for k in value)
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in zip(keys, value.values()) if v is not None) + "}"
    raise TypeError(f"no TOML form for {value!r} ({type(value).__name__})")


_FIELDS = {f.name for f in dataclasses.fields(Config)} - {"name", "variants"}
_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
NOT_SETTABLE = {
    "name": "the experiment's name is its file's name (it names <logdir>/<name>); copy the .toml file to rename it",
    "variants": "variants are the [[variants]] tables of a config file; --set KEY=VALUE sets KEY in the "
                "base config and in every variant",
}


def _check_keys(where, table):
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(_FIELDS)}")


def parse_setting(text):
    """The command line's --set KEY=VALUE as (key, value). VALUE is a TOML value (0.7, true, [2, 10, 1],
    "he", {name = "exponential"}); a bare word that is not one (he, moons, adam) is the string itself,
    so `init=he` needs no quotes. Whether the value fits the key is Config's check, as for a file: a
    bare word where a bool, number or list belongs (standardize=no) is refused there.
    ValueError for a text without "=", an unknown key (_check_keys' message), name or variants,
    or a VALUE that is neither."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise ValueError(f"expected KEY=VALUE, such as lambd=0.7; got {text!r}")
    if key in NOT_SETTABLE:
        raise ValueError(f"{text!r}: {key} cannot be set: {NOT_SETTABLE[key]}")
    _check_keys(repr(text), {key: None})
    try:
        table = tomllib.loads(f"value = {raw}")
    except tomllib.TOMLDecodeError:
        table = None
    if table is not None and list(table) == ["value"]:
        return key, table["value"]
    if _BARE_WORD.fullmatch(raw):
        return key, raw
    raise ValueError(f"{text!r}: VALUE must be a TOML value (a number such as 0.7, true or false, a list such as "
                     f"[2, 10, 1] or [\"relu\", \"sigmoid\"], a \"quoted string\") or a bare word (a string such as he); "
                     f"got {raw!r}")


def list_experiments():
    """{name: description} of the TOML files in experiments/configs, sorted by name."""
    out = {}
    for fname in sorted(os.listdir(CONFIG_DIR)):
        if fname.endswith(".toml"):
            with open(os.path.join(CONFIG_DIR, fname), "rb") as f:
                out[fname[:-5]] = tomllib.load(f).get("description", "")
    return out


def load_config(name_or_path):
    """The Config of a built-in experiment name (experiments/configs/<name>.toml) or of a .toml path
    (Config.from_dict of its table, named after the file).

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
    if "name" in table:
        raise ValueError(f"{path}: unknown key(s) ['name']; the experiment's name is the file's name")
    return Config.from_dict(os.path.splitext(os.path.basename(path))[0], table, where=path)
