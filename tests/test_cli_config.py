"""The experiments' config (experiments/config.py) and its command line (experiments/cli.py):
--set KEY=VALUE, --print-config, the kind of every field, to_dict / from_dict, and --logdir.

Everything runs in-process through cli.main(argv) (capsys) and --print-config, so nothing trains:
the resolved config is printed, saved as <name>.toml and read back with load_config."""
import json
import os

import pytest

from experiments import config
from experiments.cli import build_parser, main, resolve_config
from experiments.config import FIELD_RULES, Config, Variant, list_experiments, load_config


def run(capsys, *argv):
    """main(argv) in this process: (status, stdout, stderr)."""
    try:
        status = main(list(argv))
    except SystemExit as exc:                    # argparse: --help, a bad option
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def resolved(capsys, tmp_path, *argv):
    """The config `python -m experiments ARGV` would run, through --print-config: printed, saved as
    <name>.toml, read back by load_config."""
    status, out, err = run(capsys, *argv, "--print-config")
    assert status == 0, err
    name = next(line for line in out.splitlines() if line.startswith("# the resolved config of"))
    name = name.split("'")[1]
    path = tmp_path / f"{name}.toml"
    path.write_text(out, encoding="utf-8")
    return load_config(str(path))


def one_line_error(status, err, expected_status):
    assert status == expected_status, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "error:" in err, err


# ------------------------------------------------------------------------------ --set

def test_set_a_float_reaches_the_base_and_every_variant(capsys, tmp_path):
    cfg = resolved(capsys, tmp_path, "l2", "--set", "lambd=0.25")          # l2's variants set lambd themselves
    assert cfg.lambd == 0.25 and all("lambd" not in v.overrides for v in cfg.variants)
    assert [c.lambd for _, c in cfg.runs()] == [0.25] * 3
    assert [name for name, _ in cfg.runs()] == ["none", "lambd-0.7", "lambd-3"]


def test_set_a_list_a_bool_and_strings(capsys, tmp_path):
    cfg = resolved(capsys, tmp_path, "flower", "--set", "layer_dims=[2, 10, 1]", "--set", "standardize=true",
                   "--set", "init=he", "--set", 'optimizer="adam"', "--set", "description=tiny")
    assert cfg.layer_dims == (2, 10, 1) and cfg.standardize is True
    assert (cfg.init, cfg.optimizer, cfg.description) == ("he", "adam", "tiny")   # bare words are strings
    base = load_config("flower")
    assert cfg == base.replace(layer_dims=[2, 10, 1], standardize=True, init="he", optimizer="adam",
                               description="tiny")                               # nothing else moved


def test_set_a_table_and_repeated_keys(capsys, tmp_path):
    cfg = resolved(capsys, tmp_path, "flower", "--set", "learning_rate=0.5", "--set", "learning_rate=0.25",
                   "--set", 'lr_schedule={name = "inverse_time", decay_rate = 0.5}')
    assert cfg.learning_rate == 0.25                                             # the last one wins
    assert cfg.lr_schedule == ("inverse_time", {"decay_rate": 0.5})


def test_set_in_a_sweep_replaces_each_variants_own_value(capsys, tmp_path):
    cfg = resolved(capsys, tmp_path, "init", "--set", "init=xavier", "--set", "scale=0.5", "--set", "seed=7")
    runs = dict(cfg.runs())
    assert list(runs) == ["zeros", "random", "random-0.01", "xavier", "he"]
    assert {(c.init, c.scale, c.seed) for c in runs.values()} == {("xavier", 0.5, 7)}


def test_set_mini_batch_size_trains_by_epochs(capsys, tmp_path):
    cfg = resolved(capsys, tmp_path, "flower", "--set", "mini_batch_size=32", "--set", "num_epochs=3")
    assert (cfg.mini_batch_size, cfg.num_epochs, cfg.num_iterations) == (32, 3, None)
    cfg = resolved(capsys, tmp_path, "flower", "--set", "mini_batch_size=32", "--steps", "4")
    assert (cfg.mini_batch_size, cfg.num_epochs, cfg.num_iterations) == (32, 4, None)


def test_set_with_the_dedicated_options(capsys, tmp_path):
    cfg = resolved(capsys, tmp_path, "depth", "--set", "lambd=0.1", "--lr", "0.02", "--seed", "5", "--steps", "7",
                   "--log-every", "3", "--impl", "scratch,torch")
    for _, c in cfg.runs():
        assert (c.lambd, c.learning_rate, c.seed, c.num_iterations, c.log_every) == (0.1, 0.02, 5, 7, 3)
        assert c.impls == ("scratch", "torch")


@pytest.mark.parametrize("argv, message", [
    (["--lr", "0.1", "--set", "learning_rate=0.2"], "--lr and --set learning_rate=... both set learning_rate"),
    (["--seed", "1", "--set", "seed=2"], "--seed and --set seed=... both set seed"),
    (["--log-every", "1", "--set", "log_every=2"], "--log-every and --set log_every=... both set log_every"),
    (["--impl", "scratch", "--set", 'impls=["torch"]'], "--impl and --set impls=... both set impls"),
    (["--steps", "3", "--set", "num_iterations=2"], "--steps and --set num_iterations=... both set"),
])
def test_a_key_set_twice_by_set_and_its_option_is_refused(capsys, argv, message):
    status, _, err = run(capsys, "flower", *argv, "--print-config")
    one_line_error(status, err, 2)
    assert message in err


def test_set_an_unknown_key_lists_the_known_ones_as_the_toml_loader_does(capsys, tmp_path):
    status, out, err = run(capsys, "flower", "--set", "lamda=0.7", "--print-config")
    one_line_error(status, err, 2)
    assert not out
    path = tmp_path / "typo.toml"
    path.write_text("lamda = 0.7\n")
    with pytest.raises(ValueError) as file_err:
        load_config(str(path))
    loader_message = str(file_err.value).split(": ", 1)[1]        # after the file's name
    assert "unknown key(s) ['lamda']; known keys are ['activations'," in loader_message
    assert loader_message in err


WRONG = [               # --set KEY=VALUE, the same in a TOML file, the message of both
    ("standardize=no", 'standardize = "no"', "standardize must be true or false; got 'no'"),
    ("standardize=1", "standardize = 1", "standardize must be true or false; got 1"),
    ("lambd=abc", 'lambd = "abc"', "lambd must be a non-negative number; got 'abc'"),
    ("lambd=true", "lambd = true", "lambd must be a non-negative number; got True"),
    ("layer_dims=5", "layer_dims = 5", "layer_dims must be a list of at least 2 positive ints"),
    ('layer_dims=[2, "4", 1]', 'layer_dims = [2, "4", 1]', "layer_dims must be a list of at least 2 positive ints"),
    ("seed=1.5", "seed = 1.5", "seed must be a non-negative int; got 1.5"),
    ("m=many", 'm = "many"', "m must be a positive int; got 'many'"),
    ("init=hee", 'init = "hee"', "init must be one of ['zeros', 'random', 'xavier', 'glorot', 'he']; got 'hee'"),
    ("impls=scratch", 'impls = "scratch"',
     "impls must be a non-empty list from ['scratch', 'torch', 'lightning']; got 'scratch'"),
]


@pytest.mark.parametrize("setting, toml, message", WRONG, ids=[s for s, _, _ in WRONG])
def test_set_a_value_of_the_wrong_kind_is_refused_with_the_loaders_message(capsys, tmp_path, setting, toml, message):
    status, out, err = run(capsys, "flower", "--set", setting, "--print-config")
    one_line_error(status, err, 2)
    assert message in err and not out
    path = tmp_path / "flower.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ValueError) as file_err:
        load_config(str(path))
    assert message in str(file_err.value)


@pytest.mark.parametrize("setting, message", [
    ("variants=[]", "variants cannot be set"),
    ("name=other", "name cannot be set"),
    ("lambd", "expected KEY=VALUE"),
    ("=3", "expected KEY=VALUE"),
    ("lambd=.5", "VALUE must be a TOML value"),
    ("activations=[relu, sigmoid]", "VALUE must be a TOML value"),
    ("description=two words", "VALUE must be a TOML value"),
])
def test_set_usage_errors(capsys, setting, message):
    status, _, err = run(capsys, "flower", "--set", setting)
    one_line_error(status, err, 2)
    assert message in err


def test_set_errors_in_a_variant_name_it(capsys):
    status, _, err = run(capsys, "depth", "--set", "layer_dims=[2, 8, 1]")     # L3's activations no longer fit
    one_line_error(status, err, 2)
    assert "depth, variant 'L3': activations must have one name per layer" in err


# ------------------------------------------------------------------------------ --print-config

@pytest.mark.parametrize("argv", [
    ["flower"],
    ["optimizers", "--set", "beta=0.8"],                                         # lr_schedule tables, epochs
    ["l2", "--set", "lambd=0.30000000000000004", "--set", "bn_eps=1.2345678901234567e-7"],   # every digit kept
    ["depth", "--set", "keep_probs=[0.5]", "--set", 'activations=["relu", "sigmoid"]', "--set",
     "layer_dims=[2, 8, 1]", "--steps", "9", "--lr", "0.125"],
    ["multiclass", "--set", 'description="quotes \\" and a\ttab and ünïcode"', "--set", "epsilon=1e-10"],
])
def test_print_config_round_trips_and_does_not_train(capsys, tmp_path, argv):
    logdir = tmp_path / "logs"
    cfg = resolved(capsys, tmp_path, *argv, "--logdir", str(logdir))
    assert not logdir.exists()                                                   # nothing ran
    args = build_parser().parse_args(argv)
    assert cfg == resolve_config(load_config(argv[0]), args)                    # what a run would use


def test_print_config_of_every_shipped_config_reads_back(capsys, tmp_path):
    for name in list_experiments():
        assert resolved(capsys, tmp_path, name) == load_config(name), name


# ------------------------------------------------------------------------------ Config

def test_every_shipped_config_loads_and_round_trips_through_to_dict():
    names = list_experiments()
    assert {"flower", "init", "l2", "dropout", "depth", "hidden", "optimizers", "multiclass", "batchnorm"} <= set(names)
    for name in names:
        cfg = load_config(name)
        d = cfg.to_dict()
        assert d["name"] == name and isinstance(d["variants"], list)
        assert json.loads(json.dumps(d)) == d                                   # plain JSON values
        assert Config.from_dict(name, json.loads(json.dumps(d))) == cfg
        assert Config.from_dict(None, d) == cfg                                 # the dict's own name


def test_from_dict_validates_as_the_loader():
    d = load_config("optimizers").to_dict()
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lamda'\]"):
        Config.from_dict("x", {**d, "lamda": 1})
    with pytest.raises(ValueError, match="x: standardize must be true or false; got 'no'"):
        Config.from_dict("x", {**d, "standardize": "no"})
    with pytest.raises(ValueError, match=r"variants\[1\] needs a name"):
        Config.from_dict("x", {**d, "variants": [{"name": "a"}, {"optimizer": "adam"}]})
    with pytest.raises(ValueError, match="variant 'a': unknown key"):
        Config.from_dict("x", {**d, "variants": [{"name": "a", "lamda": 1}]})
    with pytest.raises(ValueError, match="x, variant 'a': optimizer must be one of"):
        Config.from_dict("x", {**d, "variants": [{"name": "a", "optimizer": "sgd"}]})
    with pytest.raises(ValueError, match="two variants are named 'a'"):
        Config.from_dict("x", {**d, "variants": [{"name": "a"}, {"name": "a"}]})


def test_a_toml_string_is_not_a_boolean(capsys, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('layer_dims = [2, 4, 1]\nstandardize = "no"\n')
    with pytest.raises(ValueError, match="mine: standardize must be true or false; got 'no'"):
        load_config(str(path))
    status, _, err = run(capsys, str(path), "--print-config")
    one_line_error(status, err, 1)                                              # the file is the error
    path.write_text('[[variants]]\nname = "v"\nbatchnorm = "yes"\n')
    with pytest.raises(ValueError, match="mine, variant 'v': batchnorm must be true or false; got 'yes'"):
        load_config(str(path))


# a value of the wrong kind for each kind of field
BAD_VALUES = {
    "bool": [1, "true", None],
    "int": [True, 2.0, "3", None],
    "number": [True, "0.1", float("nan"), float("inf")],
    "str": [3, True, ["he"]],
    "ints": [5, [2, "4", 1], [2, 4.0, 1], [2, True, 1]],
    "numbers": [0.5, ["0.5"], [True], [float("nan")]],
    "strs": ["relu", [1], ["relu", None]],
    "table": [3, "a = 1", [["a", 1]], {1: 2}],
}
OPTIONAL = {"keep_probs", "num_iterations", "mini_batch_size", "num_epochs", "target_cost", "init_seed", "augment",
            "study", "study_args"}
CASES = [(key, value) for key, (kind, _, _) in FIELD_RULES.items() for value in BAD_VALUES[kind]
         if not (value is None and key in OPTIONAL)]


def test_every_field_has_a_rule():
    import dataclasses
    fields = {f.name for f in dataclasses.fields(Config)}
    assert set(FIELD_RULES) == fields - {"name", "variants", "lr_schedule"}     # lr_schedule: its own check


@pytest.mark.parametrize("key, value", CASES, ids=[f"{k}={v!r}" for k, v in CASES])
def test_every_field_refuses_a_value_of_another_kind(key, value):
    with pytest.raises(ValueError, match=rf"^t: {key} must be .*; got "):
        Config(name="t", **{key: value})


def test_number_fields_take_ints_and_lists_are_kept_as_tuples():
    cfg = Config(name="t", learning_rate=1, lambd=0, layer_dims=[2, 3, 1], ratios=[0.5, 0.25, 0.25])
    assert cfg.learning_rate == 1 and cfg.layer_dims == (2, 3, 1) and cfg.ratios == (0.5, 0.25, 0.25)
    assert Variant("v", {"layer_dims": [2, 3, 1]}).overrides == {"layer_dims": (2, 3, 1)}


def test_the_config_readers_copies_of_scratch_names_match():
    from scratch._checks import ACTIVATION_NAMES
    from scratch.initializers import INIT_METHODS
    assert config.INIT_METHODS == INIT_METHODS and config.HIDDEN_ACTIVATIONS == ACTIVATION_NAMES


def test_hidden_activations_and_keep_probs_are_checked():
    with pytest.raises(ValueError, match=r"activations\[0\] \(hidden layer 1\) must be one of"):
        Config(name="t", activations=("relux", "sigmoid"))
    with pytest.raises(ValueError, match="keep_probs must have one value per hidden layer"):
        Config(name="t", keep_probs=(0.5, 0.5))


# ------------------------------------------------------------------------------ --logdir

@pytest.mark.parametrize("where", ["file", "under a file", "experiment dir a file"])
def test_logdir_that_is_a_file_is_one_line_before_training(capsys, tmp_path, where):
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    logdir = {"file": afile, "under a file": afile / "logs", "experiment dir a file": tmp_path}[where]
    if where == "experiment dir a file":
        (tmp_path / "flower").write_text("keep me too")
    status, out, err = run(capsys, "--logdir", str(logdir), "--steps", "1", "--impl", "scratch")
    one_line_error(status, err, 1)
    assert f"--logdir {logdir}:" in err and "not a directory" in err
    assert afile.read_text() == "keep me" and not out
    assert sorted(os.listdir(tmp_path)) == sorted(["notes.txt"] + (["flower"] if where.startswith("exp") else []))


def test_help_shows_set_print_config_and_predict(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for text in ("--set KEY=VALUE", "--print-config", "--set init=he", "predict --model", "applied in this order"):
        assert text in out, text
