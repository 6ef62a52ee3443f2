"""The size guard: entry points that allocate from user-given sizes refuse, before allocating, what
would exceed the memory budget (MemoryBudgetError, a ValueError naming the budget and its variable).

No test here can allocate much even if a guard were missing: each entry point is first tried with
sizes one byte over a small budget (set_memory_budget), and only then with the terabyte request."""
import tracemalloc

import numpy as np
import pytest
import torch

from scratch import _checks, data, logistic, losses
from scratch._checks import (MEMORY_BUDGET_ENV, MemoryBudgetError, check_memory, estimate_training_bytes,
                             format_bytes, memory_budget, parameter_count, parse_bytes, set_memory_budget)
from scratch.initializers import initialize_bytes, initialize_parameters
from torch_ref.models import DeepNet, construction_bytes


@pytest.fixture(autouse=True)
def no_budget_settings(monkeypatch):
    """Each test starts from the default budget (no variable, no override) and leaves it so."""
    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    previous = set_memory_budget(None)
    yield
    set_memory_budget(previous)


def _generated(m, C=0):
    """What a planar generator of m points declares: GENERATED_COPIES arrays of m·(2 + 1) float64 + Y (C, m)."""
    return 8 * m * (data.GENERATED_COPIES * 3 + C)


# (name, call(size), size just fitting a small budget, its bytes, a terabyte size)
DIMS = [30, 20, 1]
ENTRY_POINTS = [
    ("initialize_parameters", lambda n: initialize_parameters([n, n, 1], "he", rng=0),
     100, initialize_bytes([100, 100, 1]), 10**6),
    ("initialize_parameters", lambda n: initialize_parameters([n, n, 1], "he", 0, dtype=np.float32, batchnorm=True),
     100, initialize_bytes([100, 100, 1], np.float32, True), 10**6),
    ("initialize_with_zeros", logistic.initialize_with_zeros, 1000, 8000, 10**12),
    ("load_flower", data.load_flower, 1000, _generated(1000), 10**12),
    ("make_circles", data.make_circles, 1000, _generated(1000), 10**12),
    ("make_moons", data.make_moons, 1000, _generated(1000), 10**12),
    ("make_blobs", data.make_blobs, 1000, _generated(1000), 10**12),
    ("make_blobs_multiclass", lambda m: data.make_blobs_multiclass(m, C=4), 1000, _generated(1000, 4), 10**12),
    ("one_hot", lambda C: losses.one_hot(np.arange(100) % 2, C), 50, 50 * 100 * 8, 10**12),
    ("DeepNet", lambda n: DeepNet([n, n, 1], ["relu", "sigmoid"], seed=0), 100,
     construction_bytes([100, 100, 1]), 10**6),
    ("DeepNet", lambda n: DeepNet([n, n, 2], ["relu", "softmax"], dtype=torch.float32, batchnorm=True), 100,
     construction_bytes([100, 100, 2], torch.float32, True), 10**6),
]
IDS = [f"{e[0]}-{i}" for i, e in enumerate(ENTRY_POINTS)]


@pytest.mark.parametrize("name, call, size, nbytes, huge", ENTRY_POINTS, ids=IDS)
def test_each_entry_point_refuses_what_exceeds_the_budget(name, call, size, nbytes, huge):
    set_memory_budget(nbytes)
    call(size)                                      # exactly at the budget: passes
    set_memory_budget(nbytes - 1)                   # one byte under what it needs: refused
    with pytest.raises(MemoryBudgetError, match=f"^{name}.*needs {format_bytes(nbytes)}.*memory budget"):
        call(size)
    set_memory_budget("64GiB")                      # the terabyte request, refused at once
    with pytest.raises(MemoryBudgetError) as info:
        call(huge)
    message = str(info.value)
    assert message.startswith(name) and "TiB" in message and "memory budget of 64.00 GiB" in message
    assert MEMORY_BUDGET_ENV in message and "\n" not in message


@pytest.mark.parametrize("name, call, size, nbytes, huge", ENTRY_POINTS, ids=IDS)
def test_the_default_budget_refuses_a_petabyte(name, call, size, nbytes, huge):
    with pytest.raises(MemoryBudgetError, match=f"^{name}.*needs .* over the memory budget of .*{MEMORY_BUDGET_ENV}"):
        call(huge * 1000)                           # PiB: over the default budget of any machine


def test_the_error_is_a_value_error_with_the_stated_message():
    set_memory_budget(4 * 2**30)
    with pytest.raises(MemoryBudgetError) as info:
        check_memory("initialize_parameters: layer_dims [1000000, 1000000, 1]", 8 * 10**9, "the parameters")
    assert isinstance(info.value, ValueError)      # the CLI prints a ValueError as one line
    assert str(info.value) == ("initialize_parameters: layer_dims [1000000, 1000000, 1] needs 7.45 GiB for the "
                               "parameters, over the memory budget of 4.00 GiB (set by set_memory_budget) "
                               f"(set {MEMORY_BUDGET_ENV} to change it)")
    assert check_memory("x", 4 * 2**30) == 4 * 2**30


def test_a_long_layer_dims_is_shortened_in_the_message():
    with pytest.raises(MemoryBudgetError, match=r"layer_dims \[1, 1000000, 1000000, 1000000, \.\.\., "
                                                r"1000000, 1\] \(100 entries\)"):
        initialize_parameters([1] + [10**6] * 98 + [1], "he")


@pytest.mark.parametrize("call, nbytes", [
    (lambda: initialize_parameters([300, 200, 1], "he", 0), initialize_bytes([300, 200, 1])),
    (lambda: initialize_parameters([300, 200, 10], "zeros", dtype=np.float32, batchnorm=True),
     initialize_bytes([300, 200, 10], np.float32, True)),
    (lambda: data.make_moons(20000), _generated(20000)),
    (lambda: data.load_flower(20000), _generated(20000)),
    (lambda: data.make_blobs_multiclass(20000, C=5), _generated(20000, 5)),
])
def test_the_estimates_cover_what_the_call_allocates(call, nbytes):
    tracemalloc.start()
    try:
        call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= nbytes


# ---------------------------------------------------------------- the budget and its variable
@pytest.mark.parametrize("text, nbytes", [
    ("8GiB", 8 * 2**30), ("512MiB", 512 * 2**20), ("2e9", 2 * 10**9), ("1.5GB", 1.5e9), ("4096", 4096),
    ("16 kib", 16 * 1024), ("3KB", 3000), ("2 mb", 2 * 10**6), ("1tib", 2**40), (" 7 B ", 7), (".5GiB", 2**29),
])
def test_the_variable_takes_sizes_with_units(monkeypatch, text, nbytes):
    assert parse_bytes(text) == nbytes
    monkeypatch.setenv(MEMORY_BUDGET_ENV, text)
    assert memory_budget() == nbytes


@pytest.mark.parametrize("text", ["lots", "8G", "8 GiBs", "-1GiB", "0", "0.1", "1e400", "nan", "inf", "GiB", "1,5GB"])
def test_a_bad_variable_is_a_value_error_naming_it(monkeypatch, text):
    monkeypatch.setenv(MEMORY_BUDGET_ENV, text)
    with pytest.raises(ValueError, match=f"^{MEMORY_BUDGET_ENV} must be .*{text!r}"):
        memory_budget()
    with pytest.raises(ValueError, match=MEMORY_BUDGET_ENV):
        data.make_moons(10)                         # an entry point reports it too


def test_the_variable_and_the_override_set_the_budget(monkeypatch):
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1KiB")
    with pytest.raises(MemoryBudgetError, match="over the memory budget of 1.00 KiB"):
        data.make_moons(100)
    assert set_memory_budget("1MiB") is None        # the override wins over the variable...
    data.make_moons(100)
    assert set_memory_budget(None) == 2**20         # ...until None gives the variable back
    assert memory_budget() == 1024
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "  ")     # blank: as if unset
    assert memory_budget() == _checks.memory_budget() > 1024


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-5, ValueError), ("big", ValueError), (1.5, TypeError),
                                        (True, TypeError)])
def test_set_memory_budget_refuses_bad_values(bad, error):
    with pytest.raises(error, match="nbytes"):
        set_memory_budget(bad)
    assert _checks._override is None


def test_the_default_is_half_the_machine_and_passes_the_course_on_16_gib(monkeypatch):
    machine = _checks._machine_memory()
    assert memory_budget() == (machine // 2 if machine else _checks.FALLBACK_MEMORY_BUDGET)
    monkeypatch.setattr(_checks, "_machine_memory", lambda: 16 * 2**30)
    assert memory_budget() == 8 * 2**30
    monkeypatch.setattr(_checks, "_machine_memory", lambda: None)
    assert memory_budget() == _checks.FALLBACK_MEMORY_BUDGET == 8 * 2**30
    # the course's networks and data on a 16 GiB machine: all well under its 8 GiB
    for dims, m, batch in (([12288, 20, 7, 5, 1], 209, None), ([2, 4, 1], 400, None), ([2, 5, 2, 1], 300, 64),
                           ([100, 20, 7, 5, 1], 10**6, None), ([100, 64, 32, 10], 10**6, 1024)):
        check_memory("training", estimate_training_bytes(dims, m, 8, "adam", [0.8] * (len(dims) - 2), True,
                                                         mini_batch_size=batch))
        check_memory("initialize_parameters", initialize_bytes(dims))
    check_memory("make_moons", _generated(10**6))
    check_memory("X", 10**6 * 100 * 8)


def test_format_bytes():
    assert [format_bytes(n) for n in (0, 1023, 1024, 1536, 8 * 10**9, 4 * 2**30, 15 * 2**40, 2**70)] == [
        "0 B", "1023 B", "1.00 KiB", "1.50 KiB", "7.45 GiB", "4.00 GiB", "15.00 TiB", "1024.00 EiB"]


# ---------------------------------------------------------------- sizes
def test_parameter_count():
    assert parameter_count([2, 3, 1]) == 2 * 3 + 3 + 3 * 1 + 1
    assert parameter_count([2, 3, 1], batchnorm=True) == 2 * 3 + 2 * 3 + 3 * 1 + 1
    assert parameter_count([10**6, 10**6, 1]) == 10**12 + 2 * 10**6 + 1      # Python ints: no overflow
    assert parameter_count([4, 5, 6, 1], [True, False]) == 20 + 10 + 30 + 6 + 6 + 1
    params = initialize_parameters([4, 5, 6, 1], "he", 0, batchnorm=True)
    assert sum(p.size for p in params.values()) == parameter_count([4, 5, 6, 1], True)
    net = DeepNet([4, 5, 6, 1], ["relu", "relu", "sigmoid"], batchnorm=[True, False])
    assert sum(p.numel() for p in net.parameters()) == parameter_count([4, 5, 6, 1], [True, False])


def test_estimate_training_bytes_by_hand():
    # [2, 3, 1], m = 10, float64, gd: data (2 + 1)(10 + 10) = 60, caches 10 (3·3 + 2·1) = 110 (Z, A and
    # the kept dA of the hidden layer; Z, A of the output), transients 4·10·3 = 120, parameters 13·4 = 52
    # -> 342 entries of 8 bytes
    assert estimate_training_bytes([2, 3, 1], 10, 8) == 342 * 8
    assert estimate_training_bytes([2, 3, 1], 10, 4, "adam") == (342 + 13 * 4) * 4
    assert estimate_training_bytes([2, 3, 1], 10, 8, keep_probs=[0.5]) == (342 + 3 * 10) * 8
    assert estimate_training_bytes([2, 3, 1], 10, 8, keep_probs=[1.0]) == 342 * 8        # no dropout
    assert estimate_training_bytes([2, 3, 1], 10, 8, batchnorm=True) == (342 + 2 * 3 * 10 + 3 * 4) * 8
    # mini-batches of 2: data (2 + 1)(10 + 2) = 36, caches 2·11 = 22, transients 4·2·3 = 24, parameters 52
    # (+ the permutation and its check's copies, 6 · 10 int64)
    assert estimate_training_bytes([2, 3, 1], 10, 8, mini_batch_size=2) == (36 + 22 + 24 + 52) * 8 + 6 * 10 * 8
    assert estimate_training_bytes([2, 3, 1], 10, 8, mini_batch_size=64) == 342 * 8 + 6 * 10 * 8   # b capped at m
    huge = estimate_training_bytes([10**6, 10**6, 1], 10**9, 8, "momentum")
    assert isinstance(huge, int) and huge > 2**55    # 32 PiB
    with pytest.raises(MemoryBudgetError, match="over the memory budget"):
        check_memory("train", huge)


@pytest.mark.parametrize("kwargs, match", [
    ({"layer_dims": [3]}, "at least 2"), ({"layer_dims": 3}, "layer_dims"), ({"m": 0}, "m must be"),
    ({"itemsize": 0}, "itemsize"), ({"optimizer": "sgd"}, "optimizer"), ({"keep_probs": [0.5, 0.5]}, "L-1 = 1"),
    ({"keep_probs": [0.0]}, "keep_probs"), ({"batchnorm": [True, True]}, "L-1 = 1"),
    ({"mini_batch_size": 0}, "mini_batch_size"),
])
def test_estimate_training_bytes_checks_its_arguments(kwargs, match):
    args = {"layer_dims": [2, 3, 1], "m": 10, "itemsize": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        estimate_training_bytes(**args)


def test_the_training_estimate_covers_a_scratch_training_run():
    """scratch.train's real peak (tracemalloc sees NumPy's allocations) with X and Y stays under
    estimate_training_bytes, full batch and mini-batches."""
    from scratch.train import train
    rng = np.random.default_rng(0)
    m, dims = 4000, [20, 64, 32, 1]
    X, Y = rng.standard_normal((dims[0], m)), (rng.random((1, m)) < 0.5).astype(np.float64)
    for plan in ({"num_iterations": 2}, {"num_epochs": 1, "mini_batch_size": 500}):
        for keep_probs, batchnorm in (([0.8, 0.8], True), ([0.8, 0.8], False), (None, True), (None, False)):
            tracemalloc.start()
            try:
                train(X, Y, dims, ["relu", "relu", "sigmoid"], learning_rate=0.01, optimizer="adam",
                      keep_probs=keep_probs, batchnorm=batchnorm, rng=0, **plan)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert peak + X.nbytes + Y.nbytes <= estimate_training_bytes(
                dims, m, 8, "adam", keep_probs, batchnorm, mini_batch_size=plan.get("mini_batch_size"))


@pytest.mark.parametrize("entry", ["train", "train_plain", "train_lightning"])
def test_training_entry_points_refuse_a_step_over_the_budget_before_training(entry):
    """A width the user gives (here 20 000 hidden units on m = 500) is refused by its estimated step,
    before any parameter is drawn or any step runs; the same call under a large budget is not refused."""
    from scratch.train import train
    from torch_ref.lightning import train_lightning
    from torch_ref.train_loop import train_plain
    X, Y = np.zeros((2, 500)), np.zeros((1, 500))
    dims, acts = [2, 20000, 1], ["relu", "sigmoid"]
    calls = {"train": lambda: train(X, Y, dims, acts, learning_rate=0.1, num_iterations=1),
             "train_plain": lambda: train_plain(DeepNet(dims, acts), X, Y, learning_rate=0.1, num_iterations=1),
             "train_lightning": lambda: train_lightning(X, Y, dims, acts, learning_rate=0.1, num_iterations=1)}
    need = estimate_training_bytes(dims, 500, 8)
    set_memory_budget(need - 1)
    with pytest.raises(MemoryBudgetError, match=rf"{entry}: layer_dims \[2, 20000, 1\] on m = 500.*one training step"):
        calls[entry]()
    set_memory_budget(need)
    if entry != "train_lightning":          # under the budget it trains (Lightning's start-up is slow: skip it)
        calls[entry]()
