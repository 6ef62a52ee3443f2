"""Behaviour of scratch.optimizers (F33-F38): mini-batches, weighted averages, momentum,
RMSprop, Adam, learning-rate decay, and their bad-input errors.

Expected values never come from the code under test: each formula is written again here
as a plain loop or a one-line expression, or given as exact hand-computed numbers.
"""
import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import PARITY, copy_params, dtypes, random_params
from scratch import optimizers as opt

# DESIGN's tolerances. float64: the hand formulas below do the same operations as the code,
# so only rounding order can differ. float32 results are compared with the float64 formula
# applied to the same float32 inputs: float32 rounding (2^-24 ≈ 6e-8 a step, a few steps).
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}

layer_dims = st.lists(st.integers(1, 5), min_size=2, max_size=4)      # [n_x, n[1], ..., n[L]]
seeds = st.integers(0, 2**32 - 1)


def grads_like(rng, params, dtype, scale=1.0):
    """Random gradients {"dW1", "db1", ...} shaped like params (never from backprop)."""
    return {"d" + k: (scale * rng.standard_normal(v.shape)).astype(dtype) for k, v in params.items()}


def state_like(rng, params, dtype, positive=False):
    """A random non-zero optimizer state (v, or s >= 0 with positive=True)."""
    return {"d" + k: (np.abs(a) if positive else a).astype(dtype)
            for k, a in ((k, rng.standard_normal(v.shape)) for k, v in params.items())}


def f64(d):
    return {k: v.astype(np.float64) for k, v in d.items()}


def assert_dicts(mine, gold, dtype, name):
    """Same keys, each entry of dtype `dtype` and within TOL[dtype] of gold."""
    assert sorted(mine) == sorted(gold), f"{name}: keys {sorted(mine)} != {sorted(gold)}"
    for k in gold:
        assert mine[k].dtype == dtype, f"{name}[{k!r}]: dtype {mine[k].dtype}, expected {np.dtype(dtype)}"
        np.testing.assert_allclose(mine[k], gold[k], err_msg=f"{name}[{k!r}]", **TOL[dtype])


def assert_unchanged(before, after, what):
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=f"{what}[{k!r}] was modified")


# ---------------------------------------------------------------- mini-batches

def id_problem(rng, n_x, m, C):
    """X (n_x + 1, m) whose row 0 is the example's id 0..m-1, and Y (C, m) whose entries
    encode the same id (Y[c, j] = 1000 j + c), so every column can be traced back."""
    X = np.vstack([np.arange(m, dtype=float), rng.standard_normal((n_x, m))])
    Y = 1000.0 * np.arange(m) + np.arange(C)[:, None]
    return X, Y


def expected_sizes(m, size):
    return [size] * (m // size) + ([m % size] if m % size else [])


@PARITY
@given(seed=seeds, n_x=st.integers(1, 4), m=st.integers(1, 40), size=st.integers(1, 50),
       C=st.integers(1, 3))
def test_an_epoch_visits_every_example_once(seed, n_x, m, size, C):
    X, Y = id_problem(np.random.default_rng(seed), n_x, m, C)
    X0, Y0 = X.copy(), Y.copy()
    batches = opt.random_mini_batches(X, Y, size, rng=seed)
    ids = np.concatenate([Xk[0] for Xk, _ in batches]).astype(int)
    assert sorted(ids.tolist()) == list(range(m))                       # each once, none missing
    assert [Xk.shape[1] for Xk, _ in batches] == expected_sizes(m, size)
    for Xk, Yk in batches:
        k = Xk[0].astype(int)
        np.testing.assert_array_equal(Xk, X0[:, k])                       # whole columns moved
        np.testing.assert_array_equal(Yk, Y0[:, k])                       # y stays with its x
        assert Yk.shape == (C, len(k))
        assert not np.shares_memory(Xk, X) and not np.shares_memory(Yk, Y)
    np.testing.assert_array_equal(ids, np.random.default_rng(seed).permutation(m))  # rng.permutation(m)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


@pytest.mark.parametrize("m, size, sizes", [
    (1, 1, [1]), (1, 64, [1]),                  # m = 1
    (5, 64, [5]),                               # size > m: one batch of everything
    (7, 7, [7]),                                # size == m
    (12, 4, [4, 4, 4]),                         # size divides m: no last smaller batch
    (10, 4, [4, 4, 2]), (148, 64, [64, 64, 20]),
])
def test_batch_sizes(m, size, sizes):
    X, Y = id_problem(np.random.default_rng(0), 2, m, 1)
    assert [Xk.shape[1] for Xk, _ in opt.random_mini_batches(X, Y, size, rng=1)] == sizes


def test_the_given_permutation_is_used_exactly():
    X = np.array([[0.0, 1, 2, 3, 4], [10, 11, 12, 13, 14]])
    Y = np.array([[0.0, 1, 1, 0, 1]])
    rng = np.random.default_rng(3)
    state = copy.deepcopy(rng.bit_generator.state)
    batches = opt.random_mini_batches(X, Y, 2, rng=rng, permutation=[3, 0, 4, 1, 2])
    expected = [([[3, 0], [13, 10]], [[0, 0]]), ([[4, 1], [14, 11]], [[1, 1]]), ([[2], [12]], [[1]])]
    assert len(batches) == 3
    for (Xk, Yk), (Xe, Ye) in zip(batches, expected):
        np.testing.assert_array_equal(Xk, Xe)
        np.testing.assert_array_equal(Yk, Ye)
    assert rng.bit_generator.state == state                   # the Generator was not drawn from


def test_seeds_are_reproducible_and_differ():
    X, Y = id_problem(np.random.default_rng(0), 3, 50, 2)
    order = lambda rng: np.concatenate([Xk[0] for Xk, _ in opt.random_mini_batches(X, Y, 8, rng=rng)])  # noqa: E731
    np.testing.assert_array_equal(order(7), order(7))
    np.testing.assert_array_equal(order(np.random.default_rng(7)), order(7))
    assert not np.array_equal(order(7), order(8))


def test_float32_and_one_hot_Y_keep_their_dtype():
    X = np.random.default_rng(0).standard_normal((3, 9)).astype(np.float32)
    Y = np.eye(4, dtype=np.float32)[:, [0, 1, 2, 3, 0, 1, 2, 3, 0]]
    for Xk, Yk in opt.random_mini_batches(X, Y, 4, rng=0):
        assert Xk.dtype == Yk.dtype == np.float32
        assert Yk.shape[0] == 4 and (Yk.sum(axis=0) == 1).all()


@pytest.mark.parametrize("m, seed", [(1, 0), (13, 5), (100, 2**31)])
def test_epoch_permutations(m, seed):
    order = opt.epoch_permutations(m, seed)
    for epoch in (0, 1, 7):
        np.testing.assert_array_equal(order(epoch), np.random.default_rng([seed, epoch]).permutation(m))
        np.testing.assert_array_equal(order(epoch), order(epoch))            # depends on (seed, e) only
        assert sorted(order(epoch).tolist()) == list(range(m))
    if m > 10:
        assert not np.array_equal(order(0), order(1))
    X, Y = id_problem(np.random.default_rng(0), 1, m, 1)
    ids = np.concatenate([Xk[0] for Xk, _ in opt.random_mini_batches(X, Y, 4, permutation=order(3))])
    np.testing.assert_array_equal(ids, order(3))


# -------------------------------------------------------------------- updates

def gd_by_hand(p, g, lr):
    return {k: p[k] - lr * g["d" + k] for k in p}


def momentum_by_hand(p, g, v, beta, lr):
    v = {k: beta * v[k] + (1 - beta) * g[k] for k in v}
    return {k: p[k] - lr * v["d" + k] for k in p}, v


def rmsprop_by_hand(p, g, s, beta2, lr, eps):
    s = {k: beta2 * s[k] + (1 - beta2) * g[k] * g[k] for k in s}
    return {k: p[k] - lr * g["d" + k] / (np.sqrt(s["d" + k]) + eps) for k in p}, s


def adam_by_hand(p, g, v, s, t, lr, b1, b2, eps):
    v = {k: b1 * v[k] + (1 - b1) * g[k] for k in v}
    s = {k: b2 * s[k] + (1 - b2) * g[k] * g[k] for k in s}
    return {k: p[k] - lr * (v["d" + k] / (1 - b1 ** t)) / (np.sqrt(s["d" + k] / (1 - b2 ** t)) + eps)
            for k in p}, v, s


def run_steps(rule, seed, dims, dtype, steps=4):
    """`steps` updates with fresh random grads through opt and through the hand formula
    (in float64); every step compares params and state, and checks nothing was mutated."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, dims, dtype)
    lr = float(rng.uniform(1e-3, 0.5))
    beta1, beta2 = float(rng.uniform(0, 0.99)), float(rng.uniform(0, 0.9999))
    mine_p, mine_state = params, rule["init"](params)
    gold_p, gold_state = f64(params), tuple(f64(x) for x in rule["init"](params))
    for t in range(1, steps + 1):
        grads = grads_like(rng, params, dtype)
        before = (copy_params(mine_p), copy_params(grads), [copy_params(x) for x in mine_state])
        out = rule["opt"](mine_p, grads, mine_state, t, lr, beta1, beta2)
        gold = rule["hand"](gold_p, f64(grads), gold_state, t, lr, beta1, beta2)
        assert_unchanged(before[0], mine_p, "params")
        assert_unchanged(before[1], grads, "grads")
        for old, now in zip(before[2], mine_state):
            assert_unchanged(old, now, "state")
        mine_p, mine_state = out[0], out[1:]
        gold_p, gold_state = gold[0], gold[1:]
        assert_dicts(mine_p, gold_p, dtype, f"params after step {t}")
        for i, (m_s, g_s) in enumerate(zip(mine_state, gold_state)):
            assert_dicts(m_s, g_s, dtype, f"state {i} after step {t}")
    return params, mine_p


RULES = {
    "gd": dict(init=lambda p: (),
               opt=lambda p, g, st, t, lr, b1, b2: (opt.update_parameters_with_gd(p, g, lr),),
               hand=lambda p, g, st, t, lr, b1, b2: (gd_by_hand(p, g, lr),)),
    "momentum": dict(init=lambda p: (opt.initialize_velocity(p),),
                     opt=lambda p, g, st, t, lr, b1, b2: opt.update_parameters_with_momentum(p, g, st[0], b1, lr),
                     hand=lambda p, g, st, t, lr, b1, b2: momentum_by_hand(p, g, st[0], b1, lr)),
    "rmsprop": dict(init=lambda p: (opt.initialize_rmsprop(p),),
                    opt=lambda p, g, st, t, lr, b1, b2: opt.update_parameters_with_rmsprop(p, g, st[0], b2, lr, 1e-8),
                    hand=lambda p, g, st, t, lr, b1, b2: rmsprop_by_hand(p, g, st[0], b2, lr, 1e-8)),
    "adam": dict(init=opt.initialize_adam,
                 opt=lambda p, g, st, t, lr, b1, b2: opt.update_parameters_with_adam(
                     p, g, st[0], st[1], t, learning_rate=lr, beta1=b1, beta2=b2, epsilon=1e-8),
                 hand=lambda p, g, st, t, lr, b1, b2: adam_by_hand(p, g, st[0], st[1], t, lr, b1, b2, 1e-8)),
}


@pytest.mark.parametrize("rule", list(RULES))
@dtypes
@PARITY
@given(seed=seeds, dims=layer_dims)
def test_update_matches_the_formula_over_several_steps(rule, dtype, seed, dims):
    params, new = run_steps(RULES[rule], seed, dims, dtype)
    assert new is not params and all(not np.shares_memory(new[k], params[k]) for k in params)


@dtypes
def test_initial_state_is_zeros_keyed_like_grads(dtype):
    params = random_params(np.random.default_rng(0), [3, 4, 1], dtype)
    v, s = opt.initialize_adam(params)
    for state in (opt.initialize_velocity(params), opt.initialize_rmsprop(params), v, s):
        assert sorted(state) == ["dW1", "dW2", "db1", "db2"]
        for k, a in state.items():
            assert a.shape == params[k[1:]].shape and a.dtype == dtype and not a.any()
    assert all(not np.shares_memory(v[k], s[k]) for k in v)               # two separate states


@dtypes
@pytest.mark.parametrize("beta1", [0.9, 0.5])
def test_adam_bias_correction_at_t_1(dtype, beta1):
    """From v = s = 0, at t = 1: v = (1-β₁)g, but v̂ = g. With β₂ = 0 (ŝ = s = g²) the
    corrected step is exactly 1/(1-β₁) times the uncorrected one α v/(√s + ε)."""
    rng = np.random.default_rng(1)
    params = random_params(rng, [4, 3, 1], dtype)
    grads = grads_like(rng, params, dtype)
    v, s = opt.initialize_adam(params)
    lr, eps = 0.01, 1e-8
    new, v1, _ = opt.update_parameters_with_adam(params, grads, v, s, 1, lr, beta1=beta1, beta2=0.0, epsilon=eps)
    for k in params:
        g = grads["d" + k].astype(np.float64)
        np.testing.assert_allclose(v1["d" + k], (1 - beta1) * g, **TOL[dtype])
        step = params[k].astype(np.float64) - new[k]
        uncorrected = lr * (1 - beta1) * g / (np.abs(g) + eps)
        np.testing.assert_allclose(step, uncorrected / (1 - beta1), rtol=1e-4, atol=1e-7)
        assert np.all(np.abs(step) > 1.5 * np.abs(uncorrected))          # v̂ = v would fail here


def test_adam_first_step_is_alpha_times_the_sign():
    """Default β₁ = 0.9, β₂ = 0.999 at t = 1: v̂ = g, ŝ = g², so Δθ = α g/(|g| + ε) ≈ α sign(g);
    without the correction it would be α (1-β₁)/√(1-β₂) ≈ 3.16 α."""
    params = {"W1": np.array([[1.0, -2.0]]), "b1": np.array([[0.5]])}
    grads = {"dW1": np.array([[3.0, -0.25]]), "db1": np.array([[1e-3]])}
    v, s = opt.initialize_adam(params)
    new, _, _ = opt.update_parameters_with_adam(params, grads, v, s, 1, learning_rate=0.1)
    np.testing.assert_allclose(new["W1"], [[1.0 - 0.1, -2.0 + 0.1]], rtol=1e-7)
    np.testing.assert_allclose(new["b1"], [[0.5 - 0.1 * 1e-3 / (1e-3 + 1e-8)]], rtol=1e-12)


@dtypes
def test_adam_at_large_t(dtype):
    """t = 10_000: β₁ᵗ underflows to ~0, β₂ᵗ = 0.999^10000 ≈ 4.5e-5 still corrects ŝ slightly."""
    rng = np.random.default_rng(2)
    params = random_params(rng, [3, 2, 1], dtype)
    grads = grads_like(rng, params, dtype)
    v, s = state_like(rng, params, dtype), state_like(rng, params, dtype, positive=True)
    mine = opt.update_parameters_with_adam(params, grads, v, s, 10_000)
    gold = adam_by_hand(f64(params), f64(grads), f64(v), f64(s), 10_000, 0.01, 0.9, 0.999, 1e-8)
    for name, m_d, g_d in zip(("params", "v", "s"), mine, gold):
        assert_dicts(m_d, g_d, dtype, name)
    t2 = opt.update_parameters_with_adam(params, grads, v, s, 2)[0]
    assert not np.allclose(t2["W1"], mine[0]["W1"], rtol=1e-6)             # t is really used


@dtypes
def test_zero_beta(dtype):
    """β = 0 keeps no memory: momentum is plain GD, RMSprop and Adam step α g/(|g| + ε)."""
    rng = np.random.default_rng(4)
    params = random_params(rng, [2, 3, 1], dtype)
    grads = grads_like(rng, params, dtype)
    v, s = state_like(rng, params, dtype), state_like(rng, params, dtype, positive=True)
    lr = 0.3
    gd = {k: params[k].astype(np.float64) - lr * grads["d" + k] for k in params}
    normed = {k: params[k].astype(np.float64) - lr * grads["d" + k] / (np.abs(grads["d" + k]) + 1e-8)
              for k in params}
    assert_dicts(opt.update_parameters_with_momentum(params, grads, v, 0.0, lr)[0], gd, dtype, "momentum")
    assert_dicts(opt.update_parameters_with_rmsprop(params, grads, s, 0.0, lr)[0], normed, dtype, "rmsprop")
    assert_dicts(opt.update_parameters_with_adam(params, grads, v, s, 5, lr, 0.0, 0.0)[0], normed, dtype, "adam")


# -------------------------------------------------------- weighted averages

@PARITY
@given(seed=seeds, T=st.integers(1, 60), beta=st.floats(0, 0.99), correct=st.booleans())
def test_ewa_matches_a_loop(seed, T, beta, correct):
    x = np.random.default_rng(seed).normal(10, 5, size=T)
    expected, v = [], 0.0
    for t in range(1, T + 1):
        v = beta * v + (1 - beta) * x[t - 1]
        expected.append(v / (1 - beta ** t) if correct else v)
    got = opt.exponentially_weighted_average(list(x), beta, bias_correction=correct)
    assert got.shape == (T,) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, **TOL[np.float64])


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.98])
def test_ewa_bias_correction_fixes_the_start(beta):
    c = 25.0
    plain = opt.exponentially_weighted_average(np.full(100, c), beta)
    corrected = opt.exponentially_weighted_average(np.full(100, c), beta, bias_correction=True)
    assert plain[0] == pytest.approx((1 - beta) * c, rel=1e-15)
    assert plain[1] == pytest.approx((1 - beta ** 2) * c, rel=1e-14)
    np.testing.assert_allclose(corrected, c, rtol=1e-12)


def test_ewa_hand_values_and_dtypes():
    # β = 0.5 on 1, 2, 3: v = 0.5, 1.25, 2.125; corrected by 1 - 0.5ᵗ = 0.5, 0.75, 0.875.
    np.testing.assert_allclose(opt.exponentially_weighted_average([1, 2, 3], 0.5), [0.5, 1.25, 2.125])
    np.testing.assert_allclose(opt.exponentially_weighted_average([1, 2, 3], 0.5, bias_correction=True),
                               [1.0, 5 / 3, 17 / 7], rtol=1e-15)
    np.testing.assert_array_equal(opt.exponentially_weighted_average([4.0, -1.0], 0.0), [4.0, -1.0])
    assert opt.exponentially_weighted_average([1, 2], 0.9).dtype == np.float64        # ints -> float
    assert opt.exponentially_weighted_average(np.ones(3, np.float32), 0.9).dtype == np.float32


# ---------------------------------------------------------- learning-rate decay

@pytest.mark.parametrize("fn, args, expected", [
    (opt.update_lr, (0.5, 2, 1), 0.5 / 3),
    (opt.update_lr, (0.2, 0, 5), 0.2),
    (opt.update_lr, (1.0, 10, 0.1), 0.5),
    (opt.update_lr, (0.3, 7, 0), 0.3),
    (opt.schedule_lr_decay, (0.5, 999, 1, 1000), 0.5),
    (opt.schedule_lr_decay, (0.5, 1000, 1, 1000), 0.25),
    (opt.schedule_lr_decay, (0.5, 1999, 1, 1000), 0.25),
    (opt.schedule_lr_decay, (0.5, 2000, 1, 1000), 0.5 / 3),
    (opt.schedule_lr_decay, (0.5, 2, 1, 1), 0.5 / 3),
    (opt.schedule_lr_decay, (0.5, 10, 1), 0.5),                              # default interval 1000
    (opt.exponential_lr_decay, (1.0, 0), 1.0),
    (opt.exponential_lr_decay, (1.0, 2), 0.9025),
    (opt.exponential_lr_decay, (0.1, 3, 0.5), 0.0125),
    (opt.inverse_sqrt_lr_decay, (1.0, 4), 0.5),
    (opt.inverse_sqrt_lr_decay, (0.3, 9, 2.0), 0.2),
    (opt.inverse_sqrt_lr_decay, (0.5, 1), 0.5),
    (opt.inverse_sqrt_lr_decay, (0.3, 0), 0.3),                               # α₀ at epoch 0
    (opt.inverse_sqrt_lr_decay, (0.3, 0, 2.0), 0.3),                          # whatever k
])
def test_lr_decay_hand_values(fn, args, expected):
    got = fn(*args)
    assert type(got) is float
    assert got == pytest.approx(expected, rel=1e-14)


@given(alpha0=st.floats(1e-4, 1.0), rate=st.floats(0, 5), interval=st.integers(1, 50), j=st.integers(0, 20))
@PARITY
def test_staircase_is_constant_between_multiples_of_time_interval(alpha0, rate, interval, j):
    values = {opt.schedule_lr_decay(alpha0, e, rate, interval) for e in range(j * interval, (j + 1) * interval)}
    assert values == {alpha0 / (1 + rate * j)}


def test_lr_schedules_names():
    assert opt.LR_SCHEDULES == {"inverse_time": opt.update_lr, "staircase": opt.schedule_lr_decay,
                                "exponential": opt.exponential_lr_decay, "inverse_sqrt": opt.inverse_sqrt_lr_decay}


# ------------------------------------------------------------------ bad input

def good():
    """A fresh valid problem: params of a [3, 4, 1] net, grads, v, s, X (3, 5), Y (1, 5), a Generator."""
    rng = np.random.default_rng(0)
    params = random_params(rng, [3, 4, 1], np.float64)
    v, s = state_like(rng, params, np.float64), state_like(rng, params, np.float64, positive=True)
    return dict(params=params, grads=grads_like(rng, params, np.float64), v=v, s=s,
                X=rng.standard_normal((3, 5)), Y=np.array([[0.0, 1, 1, 0, 1]]), rng=np.random.default_rng(1))


def without(d, key):
    return {k: a for k, a in d.items() if k != key}


def plus(d, key, value):
    return {**d, key: value}


def gd(g, **kw):
    return opt.update_parameters_with_gd(kw.get("params", g["params"]), kw.get("grads", g["grads"]),
                                         kw.get("learning_rate", 0.1))


def momentum(g, **kw):
    return opt.update_parameters_with_momentum(g["params"], kw.get("grads", g["grads"]), kw.get("v", g["v"]),
                                               kw.get("beta", 0.9), kw.get("learning_rate", 0.1))


def rmsprop(g, **kw):
    return opt.update_parameters_with_rmsprop(g["params"], kw.get("grads", g["grads"]), kw.get("s", g["s"]),
                                              kw.get("beta2", 0.999), kw.get("learning_rate", 0.1),
                                              kw.get("epsilon", 1e-8))


def adam(g, **kw):
    return opt.update_parameters_with_adam(
        g["params"], kw.get("grads", g["grads"]), kw.get("v", g["v"]), kw.get("s", g["s"]), kw.get("t", 3),
        learning_rate=kw.get("learning_rate", 0.01), beta1=kw.get("beta1", 0.9), beta2=kw.get("beta2", 0.999),
        epsilon=kw.get("epsilon", 1e-8))


def batches(g, **kw):
    return opt.random_mini_batches(kw.get("X", g["X"]), kw.get("Y", g["Y"]), kw.get("mini_batch_size", 2),
                                   rng=g["rng"], permutation=kw.get("permutation"))


ewa, inv_time, staircase = opt.exponentially_weighted_average, opt.update_lr, opt.schedule_lr_decay
exp_decay, inv_sqrt = opt.exponential_lr_decay, opt.inverse_sqrt_lr_decay

# id -> (call g -> result, exception, regex the message must match)
CASES = {
    # β outside [0, 1)
    "momentum-beta-1": (lambda g: momentum(g, beta=1.0), ValueError, r"beta must be in \[0, 1\); got 1.0"),
    "momentum-beta-neg": (lambda g: momentum(g, beta=-0.1), ValueError, r"beta must be in \[0, 1\); got -0.1"),
    "momentum-beta-str": (lambda g: momentum(g, beta="0.9"), TypeError, r"beta must be a real number; got str"),
    "rmsprop-beta2-1": (lambda g: rmsprop(g, beta2=1), ValueError, r"beta2 must be in \[0, 1\)"),
    "adam-beta1-1.5": (lambda g: adam(g, beta1=1.5), ValueError, r"beta1 must be in \[0, 1\); got 1.5"),
    "adam-beta2-neg": (lambda g: adam(g, beta2=-0.5), ValueError, r"beta2 must be in \[0, 1\)"),
    "ewa-beta-1": (lambda g: ewa(g["X"][0], 1.0), ValueError, r"beta must be in \[0, 1\)"),
    # ε <= 0
    "rmsprop-eps-0": (lambda g: rmsprop(g, epsilon=0.0), ValueError, r"epsilon must be > 0; got 0.0"),
    "adam-eps-neg": (lambda g: adam(g, epsilon=-1e-8), ValueError, r"epsilon must be > 0"),
    # t < 1 or not an int
    "adam-t-0": (lambda g: adam(g, t=0), ValueError, r"t must be an int >= 1; got 0"),
    "adam-t-neg": (lambda g: adam(g, t=-2), ValueError, r"t must be an int >= 1; got -2"),
    "adam-t-float": (lambda g: adam(g, t=1.0), TypeError, r"t must be an int; got float"),
    "adam-t-bool": (lambda g: adam(g, t=True), TypeError, r"t must be an int; got bool"),
    # learning_rate <= 0
    "gd-lr-0": (lambda g: gd(g, learning_rate=0), ValueError, r"learning_rate must be > 0; got 0.0"),
    "momentum-lr-neg": (lambda g: momentum(g, learning_rate=-0.1), ValueError, r"learning_rate must be > 0"),
    "rmsprop-lr-0": (lambda g: rmsprop(g, learning_rate=0.0), ValueError, r"learning_rate must be > 0"),
    "adam-lr-nan": (lambda g: adam(g, learning_rate=float("nan")), ValueError, r"learning_rate must be a finite"),
    # grads / v / s that do not match params
    "gd-grads-missing": (lambda g: gd(g, grads=without(g["grads"], "db2")), ValueError,
                         r"grads must have exactly the keys \['dW1', 'db1', 'dW2', 'db2'\].*got keys"),
    "momentum-grads-extra": (lambda g: momentum(g, grads=plus(g["grads"], "dW3", np.zeros((1, 1)))), ValueError,
                             r"grads must have exactly the keys"),
    "adam-grads-shape": (lambda g: adam(g, grads=plus(g["grads"], "dW1", g["grads"]["dW1"].T)), ValueError,
                         r"grads\['dW1'\] must have shape \(4, 3\) with 4 rows \(the shape of W1\); "
                         r"got shape \(3, 4\)"),
    "gd-grads-rank1": (lambda g: gd(g, grads=plus(g["grads"], "db1", g["grads"]["db1"].ravel())), ValueError,
                       r"grads\['db1'\] must be 2-D"),
    "gd-grads-list": (lambda g: gd(g, grads=list(g["grads"].values())), TypeError, r"grads must be a dict"),
    "momentum-v-shape": (lambda g: momentum(g, v=plus(g["v"], "db2", np.zeros((2, 1)))), ValueError,
                         r"v\['db2'\] must have shape \(1, 1\)"),
    "adam-v-missing": (lambda g: adam(g, v=without(g["v"], "dW2")), ValueError, r"v must have exactly the keys"),
    "rmsprop-s-keys": (lambda g: rmsprop(g, s={k[1:]: a for k, a in g["s"].items()}), ValueError,
                       r"s must have exactly the keys \['dW1'.*got keys \['W1'"),
    "adam-s-shape": (lambda g: adam(g, s=plus(g["s"], "dW2", np.zeros((1, 5)))), ValueError,
                     r"s\['dW2'\] must have shape \(1, 4\) with 4 columns"),
    "gd-params-bad": (lambda g: gd(g, params=without(g["params"], "b1")), ValueError, r"params must have key 'b1'"),
    # mini-batches: size, X/Y, permutation
    "batch-size-0": (lambda g: batches(g, mini_batch_size=0), ValueError,
                     r"mini_batch_size must be an int >= 1; got 0"),
    "batch-size-float": (lambda g: batches(g, mini_batch_size=2.0), TypeError, r"mini_batch_size must be an int"),
    "batch-m-mismatch": (lambda g: batches(g, Y=g["Y"][:, :4]), ValueError,
                         r"Y must have shape \(C, m\) with 5 columns \(m = columns of X\); got shape \(1, 4\)"),
    "batch-m-0": (lambda g: batches(g, X=g["X"][:, :0], Y=g["Y"][:, :0]), ValueError,
                  r"X must have at least one example \(m >= 1\); got shape \(3, 0\)"),
    "batch-X-rank1": (lambda g: batches(g, X=g["X"][0]), ValueError, r"X must be 2-D \(n_x, m\); got shape \(5,\)"),
    "batch-Y-rank1": (lambda g: batches(g, Y=g["Y"][0]), ValueError, r"Y must be 2-D \(C, m\)"),
    "perm-short": (lambda g: batches(g, permutation=[0, 1, 2, 3]), ValueError,
                   r"permutation must be 1-D of length m = 5 \(columns of X\); got shape \(4,\)"),
    "perm-repeat": (lambda g: batches(g, permutation=[0, 1, 1, 3, 4]), ValueError,
                    r"permutation must hold each of 0..4 exactly once; got repeated values \[1\]"),
    "perm-out-of-range": (lambda g: batches(g, permutation=[0, 1, 2, 3, 5]), ValueError,
                          r"permutation must hold each of 0..4 exactly once; got values out of range \[5\]"),
    "perm-negative": (lambda g: batches(g, permutation=[0, 1, 2, 3, -1]), ValueError, r"out of range \[-1\]"),
    "perm-float": (lambda g: batches(g, permutation=np.arange(5.0)), TypeError,
                   r"permutation must hold integers.*got dtype float64"),
    "perm-2d": (lambda g: batches(g, permutation=np.arange(5)[None]), ValueError, r"permutation must be 1-D"),
    "epochs-m-0": (lambda g: opt.epoch_permutations(0, 1), ValueError, r"m must be an int >= 1; got 0"),
    "epochs-seed-neg": (lambda g: opt.epoch_permutations(5, -1), ValueError, r"seed must be an int >= 0"),
    "epochs-epoch-neg": (lambda g: opt.epoch_permutations(5, 1)(-1), ValueError, r"epoch must be an int >= 0"),
    # weighted average input
    "ewa-x-2d": (lambda g: ewa(g["X"], 0.9), ValueError, r"x must be 1-D"),
    "ewa-x-nan": (lambda g: ewa([1.0, np.nan], 0.9), ValueError, r"x must be finite"),
    "ewa-x-str": (lambda g: ewa(["a"], 0.9), TypeError, r"x must hold real numbers"),
    # learning-rate decay
    "update_lr-decay-neg": (lambda g: inv_time(0.1, 3, -1.0), ValueError, r"decay_rate must be >= 0; got -1.0"),
    "staircase-decay-neg": (lambda g: staircase(0.1, 3, -0.5), ValueError, r"decay_rate must be >= 0"),
    "update_lr-epoch-neg": (lambda g: inv_time(0.1, -1, 1.0), ValueError, r"epoch_num must be an int >= 0; got -1"),
    "staircase-epoch-neg": (lambda g: staircase(0.1, -5, 1.0), ValueError, r"epoch_num must be an int >= 0"),
    "exponential-epoch-neg": (lambda g: exp_decay(0.1, -1), ValueError, r"epoch_num must be an int >= 0"),
    "inverse_sqrt-epoch-neg": (lambda g: inv_sqrt(0.1, -1), ValueError, r"epoch_num must be an int >= 0"),
    "update_lr-epoch-float": (lambda g: inv_time(0.1, 1.5, 1.0), TypeError, r"epoch_num must be an int; got float"),
    "staircase-interval-0": (lambda g: staircase(0.1, 3, 1.0, time_interval=0), ValueError,
                             r"time_interval must be an int >= 1; got 0"),
    "update_lr-lr0-0": (lambda g: inv_time(0.0, 3, 1.0), ValueError, r"learning_rate0 must be > 0"),
    "exponential-base-0": (lambda g: exp_decay(0.1, 3, base=0.0), ValueError, r"base must be in \(0, 1\]"),
    "exponential-base-big": (lambda g: exp_decay(0.1, 3, base=1.05), ValueError, r"base must be in \(0, 1\]"),
    "inverse_sqrt-k-0": (lambda g: inv_sqrt(0.1, 3, k=0.0), ValueError, r"k must be > 0"),
}


def snapshot(g):
    return {k: (v.bit_generator.state if isinstance(v, np.random.Generator) else copy.deepcopy(v))
            for k, v in g.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_rejected_and_changes_nothing(case):
    call, exc, message = CASES[case]
    g = good()
    before = snapshot(g)
    with pytest.raises(exc, match=message):
        call(g)
    after = snapshot(g)
    assert after["rng"] == before["rng"], "the Generator was drawn from"
    for key in ("params", "grads", "v", "s"):
        assert sorted(after[key]) == sorted(before[key])
        assert_unchanged(before[key], g[key], key)
    np.testing.assert_array_equal(g["X"], before["X"])
    np.testing.assert_array_equal(g["Y"], before["Y"])
