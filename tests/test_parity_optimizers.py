"""F33-F38: scratch.optimizers against torch.optim, step by step.

Each update is written twice: scratch's function on params/grads in the course layout, and one
optimizer.step() of the torch.optim optimizer that torch_ref.convert.optimizer_for builds, on a
DeepNet holding the same θ with p.grad set to the same dθ (convert.set_grads). After every step
the parameters AND the optimizer state (v, s, t under the course's names: convert.optimizer_state)
agree within the dtype's tolerance (torch_ref.parity.F64 / F32), from t = 1 on:

    momentum  v = βv + (1-β)dθ; θ -= αv                  SGD(momentum=β, dampening=β) + zero buffer
    RMSprop   s = β₂s + (1-β₂)dθ²; θ -= α dθ/(√s + ε)     RMSprop(alpha=β₂, eps=ε)
    Adam      v̂ = v/(1-β₁ᵗ), ŝ = s/(1-β₂ᵗ); θ -= α v̂/(√ŝ + ε)   Adam(betas=(β₁, β₂), eps=ε)

Each convention has a test that fails if it is got wrong: torch's first momentum step without
the zero buffer (the exact offset it leaves), Adam without bias correction, RMSprop with
alpha = 1 - β₂. The learning-rate schedules (convert.lr_scheduler_for, stepped once per epoch)
against scratch's LR_SCHEDULES for epochs 0..50. Mini-batches (F33) and the exponentially
weighted average (F34) by value.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import PARITY, copy_params, dtypes, nets, random_params, seeds, tol_for
from scratch import optimizers as opt
from torch_ref import convert
from torch_ref.models import DeepNet
from torch_ref.parity import EXACT, Tolerance, compare

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")
learning_rates = st.sampled_from([1e-3, 0.01, 0.1, 0.7])
betas = st.sampled_from([0.0, 0.5, 0.9, 0.99])                 # momentum's β and Adam's β₁
betas2 = st.sampled_from([0.5, 0.9, 0.999])                    # β₂ (0.5 would hide alpha = 1 - β₂)
epsilons = st.sampled_from([1e-8, 1e-4])
# RMSprop and Adam move every θ by up to α/√(1-β₂) per step whatever the size of dθ (22α at t = 1 for
# β₂ = 0.999). At α = 0.7 in float32 that is ±15 a step, and θ landing near 0.1 after such steps
# carries a few ulps of 15 (~2e-6, over F32's atol) from either side's order of operations: the
# course's rates for these optimizers (1e-3 to 1e-2) are used in float32, all rates in float64.
ADAPTIVE_F32_MAX_LR = 0.01


def random_grads(rng, params, dtype, big=None):
    """dθ shaped like θ: N(0, 1) mixed with exact zeros (15 %), tiny values 1e-6·N(0, 1) (10 %, where
    ε matters against √s) and, when `big` is given, ±big (10 %). float32 gets no `big`: in
    v = βv + (1-β)dθ two large terms of opposite sign cancel, leaving an absolute rounding error of
    a few ulps of |dθ| (6e-5 at 1e3 in float32, 1e-13 in float64) on a result near 0."""
    out = {}
    for k, W in params.items():
        kind = rng.choice(4, size=W.shape, p=[0.65, 0.15, 0.1, 0.1])
        g = rng.standard_normal(W.shape)
        g = np.where(kind == 1, 0.0, np.where(kind == 2, 1e-6 * g, g))
        if big is not None:
            g = np.where(kind == 3, big * np.sign(g + 0.5), g)
        out["d" + k] = g.astype(dtype)
    return out


def big_for(dtype):
    return 1e3 if np.dtype(dtype) == np.float64 else None


def model_for(params):
    L = len(params) // 2
    return DeepNet.from_params(params, ["tanh"] * (L - 1) + ["sigmoid"])


def scratch_init(name, params):
    if name == "momentum":
        return {"v": opt.initialize_velocity(params)}
    if name == "rmsprop":
        return {"s": opt.initialize_rmsprop(params)}
    if name == "adam":
        v, s = opt.initialize_adam(params)
        return {"v": v, "s": s}
    return {}


def scratch_step(name, params, grads, state, t, h):
    """One update of scratch.optimizers; h holds every hyperparameter, each uses its own."""
    lr = h["learning_rate"]
    if name == "gd":
        return opt.update_parameters_with_gd(params, grads, lr), {}
    if name == "momentum":
        p, v = opt.update_parameters_with_momentum(params, grads, state["v"], h["beta"], lr)
        return p, {"v": v}
    if name == "rmsprop":
        p, s = opt.update_parameters_with_rmsprop(params, grads, state["s"], h["beta2"], lr, h["epsilon"])
        return p, {"s": s}
    p, v, s = opt.update_parameters_with_adam(params, grads, state["v"], state["s"], t, lr, h["beta1"],
                                              h["beta2"], h["epsilon"])
    return p, {"v": v, "s": s}


def assert_agree(where, mine, gold, dtype, tol=None):
    """Every key of the scratch dict `mine` against `gold` (torch, course layout)."""
    tol = tol or tol_for(dtype)
    for k in mine:
        report = compare(f"{where} {k}", mine[k], gold[k], tol)
        assert report.passed, report.message


def assert_state_agrees(where, state, optimizer, net, dtype, t=None):
    gold = convert.optimizer_state(optimizer, net)
    for name, d in state.items():
        assert_agree(f"{where} {name}", d, gold[name], dtype)
    if t is not None:
        assert gold["t"] == t, f"{where}: torch's step is {gold['t']}, t is {t}"


def run_both(name, params, grads_seq, h, dtype, lambd=0.0, m=None, foreach=None):
    """scratch and torch through the same sequence of gradients; compared after every step.
    With lambd, scratch's gradient is dθ + (λ/m)W (the course's L2 gradient), torch's is dθ with
    weight_decay = λ/m (optimizer_for). foreach=True: torch's multi-tensor implementation."""
    net = model_for(params)
    optimizer = convert.optimizer_for(net, name, h["learning_rate"], beta=h["beta"], beta1=h["beta1"],
                                      beta2=h["beta2"], epsilon=h["epsilon"], lambd=lambd, m=m)
    for group in optimizer.param_groups:
        group["foreach"] = foreach
    state = scratch_init(name, params)
    for t, grads in enumerate(grads_seq, start=1):
        course = {k: g + (lambd / m) * params[k[1:]] if lambd and k.startswith("dW") else g
                  for k, g in grads.items()}
        given = (params, course, *state.values())
        copies = [copy_params(d) for d in given]
        params, state = scratch_step(name, params, course, state, t, h)
        for d, c in zip(given, copies):                                  # scratch changed nothing given
            assert all(np.array_equal(d[k], c[k]) for k in c), f"{name} step {t}: an input was modified"
        convert.set_grads(net, grads)
        optimizer.step()
        assert_agree(f"{name} step {t}", params, net.to_params(), dtype)
        if name == "momentum" and h["beta"] == 0:       # v = dθ: torch's momentum = 0 is SGD, no buffer
            assert "v" not in convert.optimizer_state(optimizer, net)
            assert all(np.array_equal(state["v"][k], course[k]) for k in course)
            continue
        assert_state_agrees(f"{name} step {t}", state, optimizer, net, dtype,
                            t=t if name in ("rmsprop", "adam") else None)
    return params, net


def hyper(lr=0.01, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8):
    return {"learning_rate": lr, "beta": beta, "beta1": beta1, "beta2": beta2, "epsilon": epsilon}


# ------------------------------------------------------------ F35-F37 step by step

@pytest.mark.parametrize("name", OPTIMIZERS)
@dtypes
@PARITY
@given(net=nets(), seed=seeds, lr=learning_rates, beta=betas, beta2=betas2, epsilon=epsilons,
       steps=st.integers(min_value=1, max_value=6))
def test_F35_F37_each_update_equals_its_torch_optimizer_step_by_step(name, dtype, net, seed, lr, beta, beta2,
                                                                     epsilon, steps):
    """t = 1, 2, ..., steps with a new random dθ each step; θ, v, s and t agree after every step."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, net["layer_dims"], dtype)
    grads_seq = [random_grads(rng, params, dtype, big_for(dtype)) for _ in range(steps)]
    if name in ("rmsprop", "adam") and np.dtype(dtype) == np.float32:
        lr = min(lr, ADAPTIVE_F32_MAX_LR)
    run_both(name, params, grads_seq, hyper(lr, beta, beta, beta2, epsilon), dtype)


@pytest.mark.parametrize("name", OPTIMIZERS)
@dtypes
def test_F35_F37_the_multi_tensor_implementation_agrees_too(name, dtype):
    """On CUDA torch.optim defaults to its foreach (multi-tensor) code, another order of operations,
    and SGD's takes the buffers only when EVERY parameter has one (the zero buffers do): run here on
    CPU with foreach=True, 8 steps."""
    rng = np.random.default_rng(4)
    params = random_params(rng, [4, 5, 3, 1], dtype)
    grads_seq = [random_grads(rng, params, dtype, big_for(dtype)) for _ in range(8)]
    run_both(name, params, grads_seq, hyper(lr=0.01, beta2=0.9), dtype, lambd=0.3, m=7, foreach=True)


@pytest.mark.parametrize("name", OPTIMIZERS)
@dtypes
@PARITY
@given(net=nets(max_layers=3), seed=seeds, lambd=st.sampled_from([0.1, 0.7, 5.0]),
       m=st.integers(min_value=1, max_value=50))
def test_F20_l2_is_weight_decay_on_weights_for_every_optimizer(name, dtype, net, seed, lambd, m):
    """The course adds (λ/m)W to dW before the optimizer sees it; torch's weight_decay = λ/m (weights
    only) does the same inside SGD, RMSprop and Adam (not AdamW's decoupled decay): 4 steps agree."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, net["layer_dims"], dtype)
    grads_seq = [random_grads(rng, params, dtype) for _ in range(4)]
    run_both(name, params, grads_seq, hyper(lr=0.05, beta2=0.9), dtype, lambd=lambd, m=m)


@pytest.mark.parametrize("seed", [0, 1, 2])
@dtypes
def test_F37_adam_agrees_for_200_steps(dtype, seed):
    """t = 1..200: the bias corrections 1 - β₁ᵗ, 1 - β₂ᵗ go from 0.1, 0.001 to ~1, 0.18."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, [4, 5, 3, 1], dtype)
    grads_seq = [random_grads(rng, params, dtype, big_for(dtype)) for _ in range(200)]
    run_both("adam", params, grads_seq, hyper(lr=0.01), dtype)


@dtypes
@PARITY
@given(net=nets(max_layers=3), seed=seeds, t=st.sampled_from([2, 10, 1000, 10**6]), beta2=betas2)
def test_F37_adam_at_a_large_t_from_a_loaded_state(dtype, net, seed, t, beta2):
    """torch keeps t in state["step"], a 0-d float tensor (float32 unless float64 is torch's default
    dtype; exact up to 2**24), counting the steps TAKEN: its step() adds 1 first, then uses it. So a
    state loaded with step = t - 1, exp_avg = v, exp_avg_sq = s takes scratch's update number t."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, net["layer_dims"], dtype)
    v = random_grads(rng, params, dtype)
    s = {k: (rng.standard_normal(g.shape) ** 2).astype(dtype) for k, g in v.items()}
    grads = random_grads(rng, params, dtype)
    h = hyper(lr=0.05, beta2=beta2)
    mine, v1, s1 = opt.update_parameters_with_adam(params, grads, v, s, t, 0.05, 0.9, beta2, 1e-8)

    net_ = model_for(params)
    optimizer = convert.optimizer_for(net_, "adam", h["learning_rate"], beta2=beta2)
    for l, lin in enumerate(net_.linears, start=1):
        for key, p in ((f"dW{l}", lin.weight), (f"db{l}", lin.bias)):
            optimizer.state[p] = {"step": torch.tensor(float(t - 1)),
                                  "exp_avg": torch.tensor(v[key].reshape(p.shape)),
                                  "exp_avg_sq": torch.tensor(s[key].reshape(p.shape))}
    convert.set_grads(net_, grads)
    optimizer.step()
    assert_agree(f"t={t}", mine, net_.to_params(), dtype)
    assert_state_agrees(f"t={t}", {"v": v1, "s": s1}, optimizer, net_, dtype, t=t)


@pytest.mark.parametrize("name", OPTIMIZERS)
@dtypes
def test_F20_set_weight_decay_follows_the_batch_size(dtype, name):
    """Mini-batches of m_k examples: the course's gradient is dW + (λ/m_k)W, m_k changing at the last
    batch; set_weight_decay(opt, λ, m_k) before each step gives weights λ/m_k, biases 0, and the same θ."""
    rng = np.random.default_rng(9)
    params = random_params(rng, [3, 4, 2, 1], dtype)
    net = model_for(params)
    optimizer = convert.optimizer_for(net, name, 0.05, beta2=0.9)           # made without L2: decay 0
    state, mine, lambd = scratch_init(name, params), params, 0.7
    for t, m_k in enumerate((64, 64, 20, 64, 1), start=1):
        grads = random_grads(rng, params, dtype)
        course = {k: g + (lambd / m_k) * mine[k[1:]] if k.startswith("dW") else g for k, g in grads.items()}
        mine, state = scratch_step(name, mine, course, state, t, hyper(lr=0.05, beta2=0.9))
        assert convert.set_weight_decay(optimizer, lambd, m_k) is optimizer
        decays = {p.ndim: g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
        assert decays == {2: lambd / m_k, 1: 0.0}
        convert.set_grads(net, grads)
        optimizer.step()
        assert_agree(f"{name} step {t} m={m_k}", mine, net.to_params(), dtype)


def test_set_weight_decay_rejects_a_mixed_group_and_bad_m():
    net = _net()
    with pytest.raises(ValueError, match="mixes weights and biases"):
        convert.set_weight_decay(torch.optim.SGD(net.parameters(), lr=0.1), 0.7, 10)
    with pytest.raises(ValueError, match="m must be a positive int"):
        convert.set_weight_decay(convert.optimizer_for(net, "gd", 0.1), 0.7, 0)


@dtypes
def test_F35_F37_a_list_or_dict_of_tensors_works_like_the_model(dtype):
    """optimizer_for takes the tensors themselves too, in torch's layout: weights (n[l], n[l-1]) are the
    tensors with ndim >= 2 (decayed under L2), biases (n[l],) the others, as nn.Linear holds them."""
    rng = np.random.default_rng(7)
    params = random_params(rng, [3, 4, 1], dtype)
    grads_seq = [random_grads(rng, params, dtype) for _ in range(3)]
    for name in OPTIMIZERS:
        for as_dict in (True, False):
            state, mine = scratch_init(name, params), params
            leaves = {k: torch.tensor(v if k[0] == "W" else v.reshape(-1), requires_grad=True)
                      for k, v in params.items()}
            given = leaves if as_dict else list(leaves.values())
            optimizer = convert.optimizer_for(given, name, 0.1, lambd=0.3, m=5)
            for t, grads in enumerate(grads_seq, start=1):
                course = {k: g + (0.3 / 5) * mine[k[1:]] if k.startswith("dW") else g for k, g in grads.items()}
                mine, state = scratch_step(name, mine, course, state, t, hyper(lr=0.1))
                for k, p in leaves.items():
                    p.grad = torch.tensor(grads["d" + k].reshape(p.shape))
                optimizer.step()
                gold = {k: p.detach().numpy().reshape(mine[k].shape) for k, p in leaves.items()}
                assert_agree(f"{name} step {t}", mine, gold, dtype)


# ------------------------------------------------ each convention, and what breaks it

@dtypes
@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_F35_plain_torch_momentum_is_off_by_the_first_gradient(dtype, beta):
    """SGD(momentum=β, dampening=β) WITHOUT a zero buffer starts buf_1 = dθ_1, the course v_1 = (1-β)dθ_1.
    From then on both follow buf_k = β buf_{k-1} + (1-β) dθ_k, so the offset only decays:

        buf_k = v_k + βᵏ dθ_1
        θ_k(torch) = θ_k(course) - α dθ_1 (β + β² + ... + βᵏ) = θ_k(course) - αβ (1 - βᵏ)/(1 - β) dθ_1

    after one step torch has moved by α dθ_1, the course by α(1-β)dθ_1: a difference of αβ dθ_1,
    which grows towards αβ/(1-β) dθ_1 (9α dθ_1 for β = 0.9). optimizer_for's zero buffer removes it."""
    rng = np.random.default_rng(11)
    lr, params = 0.1, random_params(rng, [3, 4, 1], dtype)
    grads_seq = [random_grads(rng, params, dtype) for _ in range(6)]
    net = model_for(params)
    plain = torch.optim.SGD(net.parameters(), lr=lr, momentum=beta, dampening=beta)
    mine, v = params, opt.initialize_velocity(params)
    g1 = grads_seq[0]
    for k, grads in enumerate(grads_seq, start=1):
        mine, v = opt.update_parameters_with_momentum(mine, grads, v, beta, lr)
        convert.set_grads(net, grads)
        plain.step()
        offset = sum(beta ** j for j in range(1, k + 1))
        expected = {p: mine[p] - lr * offset * g1["d" + p] for p in mine}
        assert_agree(f"θ_{k} = θ_{k}(course) - α dθ_1 Σβʲ", expected, net.to_params(), dtype)
        buf = {key: v[key] + beta ** k * g1[key] for key in v}
        assert_agree(f"buf_{k} = v_{k} + βᵏ dθ_1", buf, convert.optimizer_state(plain, net)["v"], dtype)
        if k == 1:
            moved = {p: params[p] - lr * g1["d" + p] for p in params}         # torch moved by α dθ_1
            assert_agree("θ_1(torch) = θ_0 - α dθ_1", moved, net.to_params(), dtype)
            assert not compare("θ_1", mine["W1"], net.to_params()["W1"], tol_for(dtype)).passed


def test_F35_optimizer_for_puts_a_zero_buffer_before_the_first_step():
    net = model_for(random_params(np.random.default_rng(0), [3, 2, 1], np.float64))
    optimizer = convert.optimizer_for(net, "momentum", 0.1, beta=0.9)
    assert optimizer.defaults["momentum"] == 0.9 and optimizer.defaults["dampening"] == 0.9
    for p in net.parameters():
        buf = optimizer.state[p]["momentum_buffer"]
        assert buf.shape == p.shape and buf.dtype == p.dtype and not buf.any()
    plain = convert.optimizer_for(net, "momentum", 0.1, beta=0.0)      # β = 0: torch's plain SGD, no buffer
    assert plain.defaults["momentum"] == 0.0 and len(plain.state) == 0


@dtypes
@PARITY
@given(net=nets(max_layers=2), seed=seeds, beta1=st.sampled_from([0.5, 0.9]))
def test_F37_bias_correction_is_what_torch_does(dtype, net, seed, beta1):
    """At t = 1 scratch (v̂ = v/(1-β₁), ŝ = s/(1-β₂)) equals torch's Adam, and the same update
    without the correction, θ - α v/(√s + ε), does not: a dropped correction fails here."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, net["layer_dims"], dtype)
    grads = {k: g + np.where(g == 0, 0.5, 0.0).astype(dtype) for k, g in random_grads(rng, params, dtype).items()}
    lr = 0.1
    v, s = opt.initialize_adam(params)
    mine, v1, s1 = opt.update_parameters_with_adam(params, grads, v, s, 1, lr, beta1, 0.999, 1e-8)
    torch_net = model_for(params)
    optimizer = convert.optimizer_for(torch_net, "adam", lr, beta1=beta1, beta2=0.999)
    convert.set_grads(torch_net, grads)
    optimizer.step()
    gold = torch_net.to_params()
    assert_agree("Adam t=1", mine, gold, dtype)
    uncorrected = {p: params[p] - lr * v1["d" + p] / (np.sqrt(s1["d" + p]) + 1e-8) for p in params}
    for p in params:
        assert not compare(p, uncorrected[p], gold[p], tol_for(dtype)).passed, f"{p}: the correction did nothing"


@dtypes
def test_F36_torch_alpha_is_beta2_not_one_minus_beta2(dtype):
    """torch's RMSprop alpha weighs the PAST (square_avg = α·square_avg + (1-α)dθ²): alpha = β₂.
    alpha = 1 - β₂ would weigh dθ² by β₂ and gives another θ."""
    rng = np.random.default_rng(5)
    params = random_params(rng, [4, 3, 1], dtype)
    grads_seq = [random_grads(rng, params, dtype) for _ in range(3)]
    beta2, lr = 0.9, 0.01
    optimizer = convert.optimizer_for(model_for(params), "rmsprop", lr, beta2=beta2)
    assert optimizer.defaults["alpha"] == beta2 and optimizer.defaults["momentum"] == 0
    assert optimizer.defaults["centered"] is False and optimizer.defaults["eps"] == 1e-8
    mine, _ = run_both("rmsprop", params, grads_seq, hyper(lr=lr, beta2=beta2), dtype)
    wrong_net = model_for(params)
    wrong = torch.optim.RMSprop(wrong_net.parameters(), lr=lr, alpha=1 - beta2, eps=1e-8)
    for grads in grads_seq:
        convert.set_grads(wrong_net, grads)
        wrong.step()
    assert not compare("W1", mine["W1"], wrong_net.to_params()["W1"], tol_for(dtype)).passed


# ------------------------------------------------------------------- F38 schedules

SCHEDULE_CASES = [("inverse_time", {"decay_rate": 1.0}), ("inverse_time", {"decay_rate": 0.3}),
                  ("inverse_time", {"decay_rate": 0.0}),
                  ("staircase", {"decay_rate": 0.5, "time_interval": 7}), ("staircase", {"decay_rate": 1.0}),
                  ("staircase", {"decay_rate": 2.0, "time_interval": 1}),
                  ("exponential", {}), ("exponential", {"base": 0.9}), ("exponential", {"base": 0.999}),
                  ("exponential", {"base": 1.0}),
                  ("inverse_sqrt", {}), ("inverse_sqrt", {"k": 0.5}), ("inverse_sqrt", {"k": 3.0})]
# LambdaLR: lr0·(1/(1 + …)) against lr0/(1 + …), a rounding or two: 1e-15 relative (4.5 ulps).
# ExponentialLR is recursive, lr_e = lr_{e-1}·base, one rounding (<= 2⁻⁵³ relative) per epoch against
# scratch's closed form baseᵉ·α₀: (e + 2)·2⁻⁵³ at epoch e (5.8e-15 at e = 50).
LAMBDA_RTOL = 1e-15


@pytest.mark.parametrize("lr0", [0.1, 0.0123, 1.3])
@pytest.mark.parametrize("schedule,kw", SCHEDULE_CASES, ids=[f"{s}-{kw}" for s, kw in SCHEDULE_CASES])
def test_F38_each_schedule_equals_LR_SCHEDULES_for_epochs_0_to_50(schedule, kw, lr0):
    """scheduler.step() once per epoch: during epoch e the optimizer's lr is schedule(lr0, e)."""
    optimizer = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=lr0)
    scheduler = convert.lr_scheduler_for(optimizer, schedule, **kw)
    for epoch in range(51):
        course = opt.LR_SCHEDULES[schedule](lr0, epoch, **kw)
        rtol = (epoch + 2) * 2.0 ** -53 if schedule == "exponential" else LAMBDA_RTOL
        report = compare(f"{schedule} lr at epoch {epoch}", float(course), optimizer.param_groups[0]["lr"],
                         Tolerance(rtol, 0.0))
        assert report.passed, report.message
        optimizer.step()                                       # the epoch's updates (no grads here)
        scheduler.step()                                       # then the end of the epoch


def test_F38_keywords_may_come_as_one_dict():
    """scratch.plan's lr_schedule is (name, kwargs): lr_scheduler_for(opt, *lr_schedule) works too."""
    rates = []
    for args, kw in ((("staircase", {"decay_rate": 1.0, "time_interval": 3}), {}),
                     (("staircase",), {"decay_rate": 1.0, "time_interval": 3})):
        optimizer = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
        scheduler = convert.lr_scheduler_for(optimizer, *args, **kw)
        rates.append([])
        for _ in range(10):
            rates[-1].append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    assert rates[0] == rates[1]
    optimizer = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="decay_rate given twice"):
        convert.lr_scheduler_for(optimizer, "inverse_time", {"decay_rate": 1.0}, decay_rate=2.0)


def test_F38_stepping_per_batch_would_decay_per_step():
    """With 4 mini-batches an epoch, scheduler.step() after each batch counts updates: at the start
    of epoch e the rate would be schedule(lr0, 4e), not schedule(lr0, e)."""
    optimizer = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    scheduler = convert.lr_scheduler_for(optimizer, "inverse_time", decay_rate=1.0)
    for epoch in range(5):
        lr = optimizer.param_groups[0]["lr"]
        assert math.isclose(lr, opt.update_lr(0.1, 4 * epoch, 1.0), rel_tol=LAMBDA_RTOL)
        assert epoch == 0 or not math.isclose(lr, opt.update_lr(0.1, epoch, 1.0), rel_tol=1e-3)
        for _ in range(4):
            optimizer.step()
            scheduler.step()


@pytest.mark.parametrize("schedule,kw", [("inverse_time", {"decay_rate": 0.5}), ("exponential", {"base": 0.9}),
                                         ("staircase", {"decay_rate": 1.0, "time_interval": 2}),
                                         ("inverse_sqrt", {"k": 1.0})])
@dtypes
def test_F38_training_at_the_scheduled_rate(dtype, schedule, kw):
    """8 epochs of 3 Adam updates each: scratch at α_e = schedule(α₀, e); torch's Adam with its
    scheduler stepped at the end of each epoch. θ agrees after every epoch."""
    rng = np.random.default_rng(3)
    params = random_params(rng, [3, 4, 1], dtype)
    net = model_for(params)
    optimizer = convert.optimizer_for(net, "adam", 0.05)
    scheduler = convert.lr_scheduler_for(optimizer, schedule, **kw)
    v, s, t = *opt.initialize_adam(params), 0
    for epoch in range(8):
        lr = opt.LR_SCHEDULES[schedule](0.05, epoch, **kw)
        for _ in range(3):
            grads = random_grads(rng, params, dtype)
            t += 1
            params, v, s = opt.update_parameters_with_adam(params, grads, v, s, t, lr)
            convert.set_grads(net, grads)
            optimizer.step()
        scheduler.step()
        assert_agree(f"epoch {epoch}", params, net.to_params(), dtype)


# ------------------------------------------------------------- F33, F34 by value

@dtypes
@PARITY
@given(n_x=st.integers(1, 5), C=st.integers(1, 3), m=st.integers(1, 40), size=st.integers(1, 16), seed=seeds)
def test_F33_mini_batches_equal_torch_split_and_a_dataloader_of_the_same_permutation(dtype, n_x, C, m, size,
                                                                                     seed):
    """Columns shuffled by one permutation and cut: scratch's random_mini_batches against the same
    permutation indexing batch-first tensors, cut by torch.split and by a DataLoader whose sampler is
    the permutation; exact (a copy, no arithmetic). The last batch holds m mod size (never empty)."""
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((n_x, m)).astype(dtype), rng.integers(0, 2, (C, m)).astype(dtype)
    perm = rng.permutation(m)
    X0, Y0 = X.copy(), Y.copy()
    batches = opt.random_mini_batches(X, Y, size, permutation=perm)
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)
    x, y = convert.to_torch(X), convert.to_torch(Y)
    split = list(zip(torch.split(x[perm], size), torch.split(y[perm], size)))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=size,
                                         sampler=perm.tolist())
    assert len(batches) == len(split) == len(loader) == math.ceil(m / size)
    assert [b[0].shape[1] for b in batches] == [size] * (m // size) + ([m % size] if m % size else [])
    for k, ((Xk, Yk), (xs, ys), (xl, yl)) in enumerate(zip(batches, split, loader)):
        for where, got in (("torch.split", (xs, ys)), ("DataLoader", (xl, yl))):
            for name, mine, gold in (("X", Xk, got[0]), ("Y", Yk, got[1])):
                report = compare(f"{where} {name}_{k + 1}", mine, convert.to_numpy(gold), EXACT)
                assert report.passed, report.message


def torch_ewa(x, beta, bias_correction):
    """v_t = β v_{t-1} + (1-β) θ_t as a loop of torch ops: v.lerp(θ_t, 1-β) = v + (1-β)(θ_t - v),
    the update torch itself uses for Adam's exp_avg (a different order of operations from scratch).
    torch has no such function for a plain series: swa_utils' EMA averages model parameters."""
    v, out = torch.zeros((), dtype=x.dtype), []
    for theta in x:
        v = torch.lerp(v, theta, 1 - beta)
        out.append(v)
    out = torch.stack(out)
    if bias_correction:
        out = out / (1 - beta ** torch.arange(1, len(x) + 1, dtype=torch.float64)).to(x.dtype)
    return out


@dtypes
@PARITY
@given(T=st.integers(1, 200), beta=st.sampled_from([0.0, 0.5, 0.9, 0.98]), bias_correction=st.booleans(),
       seed=seeds)
def test_F34_exponentially_weighted_average_equals_a_torch_loop(dtype, T, beta, bias_correction, seed):
    """The course's temperatures: θ_t around 10 ± 5; v_1 = (1-β)θ_1 without correction, θ_1 with it."""
    rng = np.random.default_rng(seed)
    x = (10 + 5 * rng.standard_normal(T)).astype(dtype)
    mine = opt.exponentially_weighted_average(x, beta, bias_correction=bias_correction)
    gold = torch_ewa(torch.tensor(x), beta, bias_correction)
    report = compare("v", mine, gold, tol_for(dtype))
    assert report.passed, report.message
    first = x[0] if bias_correction else (1 - beta) * x[0]
    assert compare("v_1", mine[0], np.asarray(first, dtype), tol_for(dtype)).passed


# ------------------------------------------------------------------- bad arguments

def _net():
    return model_for(random_params(np.random.default_rng(0), [2, 1], np.float64))


@pytest.mark.parametrize("kwargs,match", [
    (dict(optimizer="sgd"), "optimizer must be one of"),
    (dict(optimizer="momentum", beta=1.0), "beta must be in"),
    (dict(optimizer="momentum", beta=-0.1), "beta must be in"),
    (dict(optimizer="adam", beta1=1.5), "beta1 must be in"),
    (dict(optimizer="adam", beta2=1.0), "beta2 must be in"),
    (dict(optimizer="rmsprop", beta2=-1), "beta2 must be in"),
    (dict(optimizer="adam", epsilon=0.0), "epsilon must be > 0"),
    (dict(optimizer="rmsprop", epsilon=-1e-8), "epsilon must be > 0"),
    (dict(optimizer="gd", learning_rate=0.0), "learning_rate must be > 0"),
    (dict(optimizer="adam", lambd=-1.0), "lambd must be >= 0"),
    (dict(optimizer="rmsprop", lambd=0.7), "m .* is required"),
    (dict(optimizer="adam", lambd=0.7, m=0), "m must be a positive int"),
])
def test_optimizer_for_rejects_bad_arguments(kwargs, match):
    kwargs = {"learning_rate": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        convert.optimizer_for(_net(), **kwargs)


def test_optimizer_for_rejects_what_is_not_parameters():
    for bad in (torch.zeros(2), "W1", 3, []):
        with pytest.raises(TypeError, match="model_or_params"):
            convert.optimizer_for(bad, "gd", 0.1)


@pytest.mark.parametrize("schedule,kw,match", [
    ("cosine", {}, "lr_schedule name must be one of"),
    ("inverse_time", {}, r"needs the key\(s\) \['decay_rate'\]"),
    ("inverse_time", {"decay_rate": -1.0}, "decay_rate must be >= 0"),
    ("inverse_time", {"decay_rate": 1.0, "base": 0.9}, r"unknown key\(s\) \['base'\]"),
    ("staircase", {"decay_rate": 1.0, "time_interval": 0}, "time_interval must be an int >= 1"),
    ("exponential", {"base": 1.5}, r"base must be in \(0, 1\]"),
    ("exponential", {"base": 0.0}, r"base must be in \(0, 1\]"),
    ("inverse_sqrt", {"k": 0.0}, "k must be > 0"),
])
def test_lr_scheduler_for_rejects_bad_arguments(schedule, kw, match):
    optimizer = convert.optimizer_for(_net(), "gd", 0.1)
    with pytest.raises(ValueError, match=match):
        convert.lr_scheduler_for(optimizer, schedule, **kw)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        convert.lr_scheduler_for(_net(), "exponential")
