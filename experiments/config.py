"""One experiment's settings: a frozen dataclass read from experiments/configs/<name>.toml.

The field names are the hyperparameter names shared by scratch.train, torch_ref.train_loop and
torch_ref.lightning (layer_dims, activations, keep_probs, init, lambd, learning_rate,
num_iterations, seed), so one Config drives all three implementations. A TOML file holds these
keys at the top level, and optionally [[variants]]: each a `name` plus the keys it changes
(the classic experiments: one run per variant, everything else equal).
"""
import dataclasses
import os
from dataclasses import dataclass, field

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10: the same parser as the tomli package
    import tomli as tomllib

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "configs")
IMPLS = ("scratch", "torch", "lightning")
DATASETS = ("flower", "moons", "circles", "blobs", "digits", "breast_cancer", "catvnoncat")


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
    m: int = 400                       # examples generated (flower, moons, circles, blobs)
    noise: float = 0.2                 # moons, circles, blobs
    standardize: bool = False          # F23, with the training set's μ and σ
    ratios: tuple = (0.6, 0.2, 0.2)    # train/dev/test split (F24)
    # the network and its training: the shared hyperparameter names
    layer_dims: tuple = (2, 4, 1)
    activations: tuple = ("tanh", "sigmoid")
    keep_probs: tuple = None
    init: str = "random"
    scale: float = 0.01                # std of init="random" (the course's × 0.01)
    lambd: float = 0.0
    learning_rate: float = 1.2
    num_iterations: int = 10000
    seed: int = 0                      # data, split, θ_0 and dropout masks
    log_every: int = 10                # TensorBoard writes every k steps
    impls: tuple = IMPLS               # which implementations run by default
    variants: tuple = field(default=())

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"{self.name}: dataset must be one of {list(DATASETS)}; got {self.dataset!r}")
        bad = [i for i in self.impls if i not in IMPLS]
        if bad or not self.impls:
            raise ValueError(f"{self.name}: impls must be a non-empty list from {list(IMPLS)}; got {list(self.impls)}")
        for key in ("num_iterations", "log_every"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{self.name}: {key} must be a positive int; got {value!r}")
        if not isinstance(self.learning_rate, (int, float)) or not self.learning_rate > 0:
            raise ValueError(f"{self.name}: learning_rate must be a positive number; got {self.learning_rate!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"{self.name}: seed must be a non-negative int; got {self.seed!r}")

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

    def runs(self):
        """[(variant name or None, Config)]: the base config alone, or one Config per variant."""
        if not self.variants:
            return [(None, self)]
        return [(v.name, self.replace(variants=(), **v.overrides)) for v in self.variants]

    def hparams(self):
        """The hyperparameters as TensorBoard wants them: flat str/int/float values."""
        keys = ("dataset", "layer_dims", "activations", "keep_probs", "init", "scale", "lambd",
                "learning_rate", "num_iterations", "seed")
        return {k: v if isinstance(v, (int, float, str)) else str(list(v) if v is not None else None)
                for k, v in ((k, getattr(self, k)) for k in keys)}


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
    return Config(name=name, variants=tuple(parsed), **{k: _freeze(v) for k, v in table.items()})
