"""Inventory rows about optimization (F33-F38): scratch.optimizers against torch.optim through
convert.optimizer_for / lr_scheduler_for, step by step. See torch_ref.inventory.
"""
import numpy as np
import torch

from . import convert
from .inventory import labels
from .inventory_nets import random_params
from .models import DeepNet
from .parity import EXACT, Tolerance, compare


def _grads(rng, params, dtype):
    """dθ shaped like θ: N(0, 1) with exact zeros (15 %) and tiny values 1e-6·N(0, 1) (10 %, where ε
    matters against √s); float64 also gets ±1e3 (10 %). Not in float32: v = βv + (1-β)dθ cancelling
    two terms of 1e3 leaves a few ulps of 1e3 (6e-5) on a result near 0, past F32's atol."""
    out = {}
    for k, W in params.items():
        kind = rng.choice(4, size=W.shape, p=[0.65, 0.15, 0.1, 0.1])
        g = rng.standard_normal(W.shape)
        g = np.where(kind == 1, 0.0, np.where(kind == 2, 1e-6 * g, g))
        if np.dtype(dtype) == np.float64:
            g = np.where(kind == 3, 1e3 * np.sign(g + 0.5), g)
        out["d" + k] = g.astype(dtype)
    return out


def f33(dtype, rng):
    """random_mini_batches(permutation=π) against batch-first tensors indexed by the same π and cut by
    torch.split, and by a DataLoader whose sampler is π: exact (copies, no arithmetic)."""
    from scratch.optimizers import random_mini_batches
    out = []
    for m, size in ((1, 64), (7, 7), (10, 3), (148, 64)):
        X, Y = rng.standard_normal((3, m)).astype(dtype), labels(rng, m, dtype)
        perm = rng.permutation(m)
        batches = random_mini_batches(X, Y, size, permutation=perm)
        x, y = convert.to_torch(X), convert.to_torch(Y)
        split = list(zip(torch.split(x[perm], size), torch.split(y[perm], size)))
        loader = list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=size,
                                                  sampler=perm.tolist()))
        sizes = [b[0].shape[1] for b in batches]
        out.append(compare(f"batch sizes m={m} size={size}", np.array(sizes),
                           np.array([len(b[0]) for b in split]), EXACT))
        for k, ((Xk, Yk), (xs, ys), (xl, yl)) in enumerate(zip(batches, split, loader), 1):
            out += [compare(f"X_{k} torch.split m={m} size={size}", Xk, convert.to_numpy(xs), EXACT),
                    compare(f"Y_{k} torch.split m={m} size={size}", Yk, convert.to_numpy(ys), EXACT),
                    compare(f"X_{k} DataLoader m={m} size={size}", Xk, convert.to_numpy(xl), EXACT),
                    compare(f"Y_{k} DataLoader m={m} size={size}", Yk, convert.to_numpy(yl), EXACT)]
    return out


def f34(dtype, rng):
    """exponentially_weighted_average against a loop of torch ops, v = torch.lerp(v, θ_t, 1-β)
    (= v + (1-β)(θ_t - v), the op of Adam's exp_avg): torch has no EWA of a plain series (swa_utils
    averages model parameters), so the torch side is this loop, in its own order of operations."""
    from scratch.optimizers import exponentially_weighted_average
    out = []
    x = (10 + 5 * rng.standard_normal(100)).astype(dtype)             # the course's temperatures
    t = torch.tensor(x)
    for beta in (0.5, 0.9, 0.98):
        v, vs = torch.zeros((), dtype=t.dtype), []
        for theta in t:
            v = torch.lerp(v, theta, 1 - beta)
            vs.append(v)
        gold = torch.stack(vs)
        corrected = gold / (1 - beta ** torch.arange(1, len(x) + 1, dtype=torch.float64)).to(t.dtype)
        out += [compare(f"v_t β={beta}", exponentially_weighted_average(x, beta), gold),
                compare(f"v_t/(1-βᵗ) β={beta}", exponentially_weighted_average(x, beta, bias_correction=True),
                        corrected)]
    return out


_OPT_CASES = (([4, 5, 3, 1], 6), ([2, 1], 3))


def _optimizer_steps(dtype, rng, name, hyper, steps, at=None):
    """scratch's update against optimizer_for's torch.optim step, on θ, v, s after each step in `at`
    (default all); a new random dθ each step. hyper: scratch's keyword names."""
    from scratch import optimizers as so
    out = []
    for dims, n in _OPT_CASES:
        p = random_params(rng, dims, dtype)
        net = DeepNet.from_params(p, ["tanh"] * (len(dims) - 2) + ["sigmoid"])
        lr = hyper["learning_rate"]
        kw = {"beta": hyper.get("beta", 0.9), "beta1": hyper.get("beta1", 0.9),
              "beta2": hyper.get("beta2", 0.999), "epsilon": hyper.get("epsilon", 1e-8)}
        optimizer = convert.optimizer_for(net, name, lr, **kw)
        v = s = so.initialize_velocity(p)
        for t in range(1, (steps or n) + 1):
            grads = _grads(rng, p, dtype)
            if name == "momentum":
                p, v = so.update_parameters_with_momentum(p, grads, v, kw["beta"], lr)
                state = {"v": v}
            elif name == "rmsprop":
                p, s = so.update_parameters_with_rmsprop(p, grads, s, kw["beta2"], lr, kw["epsilon"])
                state = {"s": s}
            else:
                p, v, s = so.update_parameters_with_adam(p, grads, v, s, t, lr, kw["beta1"], kw["beta2"],
                                                         kw["epsilon"])
                state = {"v": v, "s": s}
            convert.set_grads(net, grads)
            optimizer.step()
            if at is None or t in at:
                gold, gstate = net.to_params(), convert.optimizer_state(optimizer, net)
                out += [compare(f"{k} t={t} {dims}", p[k], gold[k]) for k in p]
                out += [compare(f"{sn}[{k}] t={t} {dims}", d[k], gstate[sn][k]) for sn, d in state.items() for k in d]
    return out


def f35(dtype, rng):
    """Momentum against SGD(momentum=β, dampening=β) with a zero momentum_buffer (optimizer_for), t = 1..6;
    and plain SGD(momentum=β, dampening=β) without it: θ_1 = the course's θ_1 - αβ dθ_1, exactly
    torch moving by α dθ_1 where the course moves by α(1-β) dθ_1."""
    from scratch import optimizers as so
    out = _optimizer_steps(dtype, rng, "momentum", {"learning_rate": 0.1, "beta": 0.9}, None)
    p, lr, beta = random_params(rng, [4, 3, 1], dtype), 0.1, 0.9
    grads = _grads(rng, p, dtype)
    mine, _ = so.update_parameters_with_momentum(p, grads, so.initialize_velocity(p), beta, lr)
    net = DeepNet.from_params(p, ["tanh", "sigmoid"])
    plain = torch.optim.SGD(net.parameters(), lr=lr, momentum=beta, dampening=beta)
    convert.set_grads(net, grads)
    plain.step()
    gold = net.to_params()
    out += [compare(f"plain SGD {k}_1 = course {k}_1 - αβ d{k}_1", mine[k] - lr * beta * grads["d" + k], gold[k])
            for k in p]
    return out


def f36(dtype, rng):
    """RMSprop against RMSprop(alpha=β₂, eps=ε), t = 1..6 (β₂ = 0.9 and 0.999)."""
    return (_optimizer_steps(dtype, rng, "rmsprop", {"learning_rate": 0.01, "beta2": 0.9}, None)
            + _optimizer_steps(dtype, rng, "rmsprop", {"learning_rate": 0.01, "beta2": 0.999}, None))


def f37(dtype, rng):
    """Adam against Adam(betas=(β₁, β₂), eps=ε): t = 1, 2, 10, 50, 200 of 200 steps (bias correction
    1 - β₂ᵗ from 0.001 to 0.18)."""
    return _optimizer_steps(dtype, rng, "adam", {"learning_rate": 0.01}, 200, at={1, 2, 10, 50, 200})


_SCHEDULE_CASES = (("inverse_time", {"decay_rate": 0.3}), ("staircase", {"decay_rate": 1.0, "time_interval": 7}),
                   ("exponential", {"base": 0.95}), ("inverse_sqrt", {"k": 0.5}))


def f38(dtype, rng):
    """Each LR_SCHEDULES entry against lr_scheduler_for, stepped once per epoch, epochs 0..50: LambdaLR
    within 1e-15 relative (lr0·(1/(1+…)) against lr0/(1+…)); ExponentialLR is recursive (lr ← base·lr,
    one rounding per epoch), within 51·2⁻⁵³. Then 8 epochs × 3 updates of gd at the scheduled rate."""
    from scratch import optimizers as so
    out = []
    for schedule, kw in _SCHEDULE_CASES:
        lr0 = float(rng.uniform(0.01, 1.0))
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
        scheduler = convert.lr_scheduler_for(optimizer, schedule, **kw)
        gold = []
        for _ in range(51):
            gold.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        mine = np.array([so.LR_SCHEDULES[schedule](lr0, e, **kw) for e in range(51)])
        rtol = 51 * 2.0 ** -53 if schedule == "exponential" else 1e-15
        out.append(compare(f"{schedule} α_e, e = 0..50", mine, np.array(gold), Tolerance(rtol, 0.0)))

        p = random_params(rng, [3, 4, 1], dtype)
        net = DeepNet.from_params(p, ["tanh", "sigmoid"])
        optimizer = convert.optimizer_for(net, "gd", lr0)
        scheduler = convert.lr_scheduler_for(optimizer, schedule, **kw)
        for epoch in range(8):
            for _ in range(3):
                grads = _grads(rng, p, dtype)
                p = so.update_parameters_with_gd(p, grads, so.LR_SCHEDULES[schedule](lr0, epoch, **kw))
                convert.set_grads(net, grads)
                optimizer.step()
            scheduler.step()
        gold = net.to_params()
        out += [compare(f"{schedule} gd {k} after 8 epochs", p[k], gold[k]) for k in p]
    return out


# --------------------------------------- F42: mini-batch training, F44: log-scale search

def f42(dtype, rng):
    """scratch.train against train_plain from the same θ_0 on the same mini-batches (the last one
    smaller), 3 epochs with each optimizer and an lr schedule: J_i at every step."""
    from scratch.train import train
    from .inventory_nets import _costs, _trajectory_tol
    from .train_loop import train_plain
    X, Y = rng.standard_normal((3, 50)).astype(dtype), labels(rng, 50, dtype)
    acts, out = ["tanh", "relu", "sigmoid"], []
    for name, hp in (("gd", {"learning_rate": 0.3}), ("momentum", {"learning_rate": 0.3, "beta": 0.8}),
                     ("rmsprop", {"learning_rate": 0.01}), ("adam", {"learning_rate": 0.01})):
        p = random_params(rng, [3, 4, 3, 1], dtype)
        kw = dict(optimizer=name, mini_batch_size=16, num_epochs=3, seed=int(rng.integers(1000)),
                  lr_schedule=("inverse_time", {"decay_rate": 0.5}), **hp)
        ref = train(X, Y, [3, 4, 3, 1], acts, params=p, **kw)
        net = DeepNet.from_params(p, acts)
        gold = train_plain(net, X, Y, **kw)
        out.append(compare(f"J {name}", _costs(ref.history), _costs(gold), _trajectory_tol(dtype)))
        out += [compare(f"{k} {name}", v, net.to_params()[k], _trajectory_tol(dtype) if np.dtype(dtype) == np.float64
                        else None) for k, v in ref.final_params.items()]
    return out


def f44(dtype, rng):
    """α = 10^r and β = 1 - 10^r for the same exponents r (torch.pow against NumPy), and the share of
    samples per decade: each of the 4 decades of [1e-4, 1] holds 1/4 of 40 000 draws (within 5
    standard errors, 5·√(pq/n) = 0.011)."""
    from scratch.search import sample_beta, sample_log_uniform
    seed = int(rng.integers(2**31))
    alpha = sample_log_uniform(seed, -4, 0, size=40_000)
    r = torch.from_numpy(np.random.default_rng(seed).uniform(-4, 0, 40_000))
    beta = sample_beta(seed, -3, -1, size=1000)
    r_beta = torch.from_numpy(np.random.default_rng(seed).uniform(-3, -1, 1000))
    shares = np.histogram(np.log10(alpha), bins=[-4, -3, -2, -1, 0])[0] / alpha.size
    out = [compare("α = 10^r", alpha.astype(dtype), torch.pow(10.0, r).to(convert.torch_dtype(dtype))),
           compare("β = 1 - 10^r", beta.astype(dtype), (1 - torch.pow(10.0, r_beta)).to(convert.torch_dtype(dtype))),
           compare("share per decade", shares, np.full(4, 0.25), Tolerance(0.0, 0.011))]
    return out, ("F44's largest error is a statistic: the share of 40 000 draws of α in each decade of "
                 "[1e-4, 1] minus 1/4 (5 standard errors: 1.1e-2); α and β themselves agree to rounding")
