"""relunet against PyTorch (CPU) and scikit-learn's MLPRegressor, side by side in one process.

    python benchmarks/run.py --out runs/benchmark                      # a new folder
    python benchmarks/run.py --out benchmarks/results --force          # replace the committed results

Every workload runs its implementations on the same data from the same initial weights. Before
anything is timed, each workload checks that the implementations compute the same thing (the
same loss after the same steps, within float tolerance). Timing then interleaves them (A B C, B C
A, C A B, …) after a warm-up, ``--repeats`` times (W1, a near tie, three times that), and reports
the median, min and max of each and the ratio of medians against the reference (below 1: relunet is
faster). W1 and W2 also report the median of the rounds' own ratios ("paired"), not judged. After timing, the
loss each implementation reached is compared again. relunet runs through its real API: ``rn.fit``
with ``rn.SGD`` for training steps, and for W4 the forward and backward passes a fit runs (the fast
engine's, ``relunet._fast.Engine``, without the update). PyTorch runs as ordinary code: ``nn.Sequential`` of ``nn.Linear`` + ``nn.ReLU``,
``torch.optim.SGD``, ``zero_grad``/``backward``/``step``, at its default thread count.

Workloads (float32 unless said; ReLU hidden layers, identity output, squared error, plain SGD):

- W1 wide: 256 inputs, 4 hidden layers of 1024, 1 output, batch 256 — per training step, also as
  GFLOP/s and as a fraction of the numpy float32 matrix-product peak (2048³).
- W2 deep and narrow: 32 inputs, 1000 hidden layers of 32, 1 output, batch 64 — per step.
- W3 scikit-learn scale: make_regression(20000, 50, noise=1, random_state=0), hidden (100, 100),
  batch 200, SGD lr 1e-3, no shuffling — per epoch, relunet float64 and float32 against
  MLPRegressor(solver="sgd", momentum=0, alpha=0, shuffle=False) in float64 (and PyTorch).
- W4 very deep: 16 inputs, 5000 hidden layers of 16, batch 32 — one forward + backward.
- W5 deep at width: 4 inputs, 10,000 hidden layers of 64, 1 output, batch 256 — per training
  step, also as a fraction of the numpy float32 matrix-product peak (2048³, same rounds), and
  the same fit with the compiled layer loop switched off (``python_loop()``) in the same rounds.
- Deep nets (W2, W4, W5) start near the identity so that they are alive: hidden-to-hidden
  W[k] = I + 0.01·N(0, 2/m) (first and last layer He), biases 0. He or orthogonal init alone
  dies at width 16–32 long before 1000 layers (every unit of the last hidden layer is 0).
- ReLU's passes (2) and (4) on one thread at the layer shapes of W1, W2 and W3, compiled
  (relunet._fast._relu_passes) against the textbook rn.ReLU's numpy, on z of random signs.
- Peak memory of one W1 training step, relunet and PyTorch measured the same way: a fresh
  subprocess builds the model and data, resets the kernel's resident-set high-water mark
  (/proc/self/clear_refs), takes one step, and reports peak RSS minus the RSS before the step.
- Subnormal floats: W4's forward + backward when every activation is subnormal (inputs scaled by
  1e-40) and with He init (the signal dies through the subnormal range), against the alive net;
  relunet plain and inside ``rn.flush_subnormals()``, PyTorch plain and with
  ``torch.set_flush_denormal(True)``.

The run records the machine (lscpu), load averages before and after, thread counts, the BLAS and
kernels in use (threadpoolctl, ``torch.__config__.show()``, numpy's build config) and any
OpenBLAS/OMP/MKL environment variables, and writes ``benchmark.json`` and ``benchmark.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

TARGETS = {  # workload row -> (compared pair, rule, bound)
    "W1": ("relunet / torch", "<=", 0.95),
    "W1 peak": ("fraction of numpy f32 peak", ">=", 0.75),
    "W2": ("relunet / torch", "<=", 0.35),
    "W3 f64": ("relunet f64 / MLP f64", "<=", 0.65),
    "W3 f32": ("relunet f32 / MLP f64", "<=", 0.45),
    "W4": ("relunet / torch", "<=", 0.25),
    "W5": ("relunet / torch", "<=", 0.5),
    "W5 peak": ("fraction of numpy f32 peak", ">=", 0.40),
    "memory": ("relunet / torch peak RSS", "<=", 1.0),
}


# ============================================================================ the environment
def environment() -> dict:
    import threadpoolctl
    import torch

    import relunet as rn

    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_", "MKL_", "GOTO", "KMP_"))},
        "relunet_blas": rn.blas_info(),
        "threadpools": threadpoolctl.threadpool_info(),
        "torch_num_threads": torch.get_num_threads(),
        "torch_num_interop_threads": torch.get_num_interop_threads(),
        "torch_config": torch.__config__.show(),
        "torch_parallel_info": torch.__config__.parallel_info(),
    }
    try:
        import sklearn

        env["sklearn"] = sklearn.__version__
    except ImportError:  # pragma: no cover
        env["sklearn"] = None
    try:
        env["numpy_config"] = np.show_config(mode="dicts")
    except TypeError:  # numpy < 1.25
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            np.show_config()
        env["numpy_config"] = buf.getvalue()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        env["cpu_model"] = fields.get("Model name")
        env["lscpu"] = {
            k: fields.get(k)
            for k in ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "Socket(s)",
                      "L1d cache", "L2 cache", "L3 cache", "Hypervisor vendor", "Flags")
        }
    except (OSError, subprocess.SubprocessError):
        env["cpu_model"] = platform.processor()
    return env


# ============================================================================ timing
PAUSE = float(os.environ.get("BENCH_PAUSE", "0.25"))  # seconds between timed calls; see interleaved()


def interleaved(impls: dict[str, Callable[[], None]], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each implementation, run A B C, B C A, … after ``warmup`` rounds.

    Each timed call starts after a pause of PAUSE seconds: OpenBLAS's worker threads keep
    spinning for about 0.1 s after numpy's last product (and OpenMP's briefly after PyTorch's),
    and without the pause they take a core from whichever library runs next (measured here:
    PyTorch's products ran 2× slower right after numpy's)."""
    names = list(impls)
    for _ in range(warmup):
        for name in names:
            impls[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        k = rep % len(names)
        for name in names[k:] + names[:k]:
            time.sleep(PAUSE)
            t0 = time.perf_counter()
            impls[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def summary(seconds: list[float], per: int = 1) -> dict:
    s = np.asarray(seconds) / per
    return {"median": float(np.median(s)), "min": float(s.min()), "max": float(s.max()), "n": int(s.size)}


# ============================================================================ networks
def alive_deep_net(sizes, dtype, seed=0):
    """He init, then hidden-to-hidden W[k] = I + 0.01·He noise: a deep ReLU net that stays alive."""
    import relunet as rn

    net = rn.Network(sizes, dtype=dtype, seed=seed, init="he")
    rng = np.random.default_rng(seed + 1)
    for k in range(1, net.L - 1):
        m_in, m_out = net.W[k].shape
        if m_in == m_out:
            net.W[k][...] = np.eye(m_in) + 0.01 * rng.standard_normal((m_in, m_out)) * math.sqrt(2.0 / m_in)
    return net


def torch_copy(net, dtype=None):
    """nn.Sequential(Linear, ReLU, …, Linear) holding the same weights (W^T in torch's layout)."""
    import torch
    from torch import nn

    dt = {np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dtype or net.dtype).type]
    layers: list[nn.Module] = []
    for k, (W, b) in enumerate(zip(net.W, net.b)):
        lin = nn.Linear(W.shape[0], W.shape[1], bias=b is not None, dtype=dt)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            if b is not None:
                lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if k < net.L - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def torch_loss(model, X, Y):
    """C = ½ Σ_outputs (y − ŷ)², averaged over rows: relunet's squared_error."""
    return 0.5 * ((model(X) - Y) ** 2).sum(dim=1).mean()


def regression_data(n, m_in, m_out, dtype, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m_in)).astype(dtype)
    V = rng.standard_normal((m_in, m_out)) / math.sqrt(m_in)
    Y = (np.tanh(X @ V) + 0.1 * rng.standard_normal((n, m_out))).astype(dtype)
    return X, Y


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


# ============================================================================ W1, W2: training steps
DIAG = "relunet forward/backward + SGD.step, no fit (diagnostic)"


LOOP = "relunet, layer loop in Python (python_loop(), not judged)"


def training_steps(name, net, n, steps_per_call, lr, repeats, warmup, rtol, with_peak=False, python_loop_too=False):
    """relunet (rn.fit, rn.SGD) and torch (nn.Sequential, optim.SGD): ``steps_per_call`` steps per
    timed call, on the same batches in the same order. For relunet that is one ``rn.fit`` call of
    one epoch of ``steps_per_call`` batches, so its per-call setup (validating X and Y, allocating
    the step's buffers) is spread over an epoch as in real use."""
    import torch

    import relunet as rn

    X, Y = regression_data(n * steps_per_call, net.sizes[0], net.sizes[-1], net.dtype, seed=1)
    Xe, Ye = regression_data(n, net.sizes[0], net.sizes[-1], net.dtype, seed=2)
    Xt, Yt, Xet, Yet = (torch.from_numpy(a) for a in (X, Y, Xe, Ye))

    def make():
        r_net = net.copy()
        r_opt = rn.SGD(lr=lr)
        model = torch_copy(net)
        t_opt = torch.optim.SGD(model.parameters(), lr=lr)

        def relunet_call():
            rn.fit(r_net, X, Y, optimizer=r_opt, epochs=1, batch_size=n, shuffle=False)

        def torch_call():
            for i in range(0, X.shape[0], n):
                t_opt.zero_grad(set_to_none=True)
                loss = torch_loss(model, Xt[i : i + n], Yt[i : i + n])
                loss.backward()
                t_opt.step()

        def losses():
            with torch.no_grad():
                return {"relunet": r_net.loss(Xe, Ye), "torch": float(torch_loss(model, Xet, Yet))}

        return relunet_call, torch_call, losses

    # the same thing? a few steps from the same weights, on fresh copies
    r_call, t_call, losses = make()
    before = losses()
    r_call()
    t_call()
    check = {"steps": steps_per_call, "loss_before": before, "loss_after": losses()}
    check["rel_diff"] = relative(*check["loss_after"].values())
    check["passed"] = check["rel_diff"] <= rtol and relative(*before.values()) <= rtol
    if not check["passed"]:
        raise RuntimeError(f"{name}: relunet and torch disagree before timing: {check}")

    r_call, t_call, losses = make()
    impls = {"relunet": r_call, "torch": t_call}

    # diagnostic, not judged: the same steps through the public forward/backward and SGD.step,
    # without fit's checks and without its folded SGD step (gradient written, then the update)
    d_net, d_opt, bufs = net.copy(), rn.SGD(lr=lr), {}

    def core_call():
        for i in range(0, X.shape[0], n):
            bufs["t"] = d_net.forward(X[i : i + n], trace=bufs.get("t"))
            bufs["g"] = d_net.backward(bufs["t"], Y[i : i + n], grads=bufs.get("g"))
            d_opt.step(d_net.parameters(), bufs["g"].parameters())

    impls[DIAG] = core_call
    if python_loop_too:  # the same fit with the compiled layer loop switched off, in the same rounds
        from relunet._fast.chain import python_loop

        p_net, p_opt = net.copy(), rn.SGD(lr=lr)

        def loop_call():
            with python_loop():
                rn.fit(p_net, X, Y, optimizer=p_opt, epochs=1, batch_size=n, shuffle=False)

        impls[LOOP] = loop_call
    if with_peak:  # numpy's float32 2048³ product, timed in the same rounds as the steps
        A = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
        C = np.empty_like(A)
        impls["numpy 2048³ f32 product"] = lambda: np.matmul(A, A, out=C)
    times = interleaved(impls, repeats, warmup)
    after = losses()
    total_steps = (repeats + warmup) * steps_per_call
    peak = times.pop("numpy 2048³ f32 product", None)
    return {
        "unit": "s per step",
        "impls": {k: summary(v, steps_per_call) for k, v in times.items()},
        "peak_in_same_rounds": None if peak is None else {**summary(peak), "gflops_at_median": 2 * 2048**3 / np.median(peak) / 1e9},
        "ratio": float(np.median(times["relunet"]) / np.median(times["torch"])),
        # each round's relunet/torch, both timed within a second or two: less exposed to the
        # machine's slow drifts than the ratio of medians (reported, not judged)
        "ratio_paired_median": float(np.median(np.divide(times["relunet"], times["torch"]))),
        "ratio_diagnostic_no_fit": float(np.median(times[DIAG]) / np.median(times["torch"])),
        "check_before": check,
        "check_after": {"steps": total_steps, "loss": after, "rel_diff": relative(*after.values()),
                        "passed": relative(*after.values()) <= 10 * rtol},
    }


def matmul_flops(sizes, n):
    """Multiply-adds ×2 of one step: forward (1), dC_dW (6) for every layer, dC_dr (5) for k ≥ 1."""
    pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * n * (2 * sum(pairs) + sum(pairs[1:]))


def matmul_peak(repeats):
    import torch

    out = {}
    rng = np.random.default_rng(0)
    for dt in (np.float32, np.float64):
        A = rng.standard_normal((2048, 2048)).astype(dt)
        B = rng.standard_normal((2048, 2048)).astype(dt)
        C = np.empty_like(A)
        At, Bt = torch.from_numpy(A), torch.from_numpy(B)
        Ct = torch.empty_like(At)
        times = interleaved(
            {"numpy": lambda: np.matmul(A, B, out=C), "torch": lambda: torch.mm(At, Bt, out=Ct)},
            repeats, 1,
        )
        flops = 2 * 2048**3
        out[np.dtype(dt).name] = {
            k: {**summary(v), "gflops_at_median": flops / np.median(v) / 1e9, "gflops_best": flops / min(v) / 1e9}
            for k, v in times.items()
        }
    return out


def w1_products(repeats):
    """The three products of a W1 hidden layer (256 × 1024 × 1024, float32) through relunet's
    product (MKL where installed), numpy and PyTorch's kernels, timed the same way: the
    matrix-product speed each brings to W1, before any framework code."""
    import torch

    rng = np.random.default_rng(0)
    r, dz = (rng.standard_normal((256, 1024)).astype(np.float32) for _ in range(2))
    W = rng.standard_normal((1024, 1024)).astype(np.float32)
    out, dW = np.empty((256, 1024), np.float32), np.empty((1024, 1024), np.float32)
    rt, dzt = torch.from_numpy(r), torch.from_numpy(dz)
    Wt = torch.from_numpy(np.ascontiguousarray(W.T))  # nn.Linear's (out, in) layout
    from relunet._fast.blas import product

    impls = {
        "relunet z = r @ W": lambda: product(r, W, out),
        "relunet dW = r.T @ dz": lambda: product(r.T, dz, dW),
        "relunet dr = dz @ W.T": lambda: product(dz, W.T, out),
        "numpy z = r @ W": lambda: np.dot(r, W, out=out),
        "torch z = F.linear(x, W)": lambda: torch.nn.functional.linear(rt, Wt),
        "numpy dW = r.T @ dz": lambda: np.dot(r.T, dz, out=dW),
        "torch dW = dz.T @ x": lambda: torch.mm(dzt.T, rt),
        "numpy dr = dz @ W.T": lambda: np.dot(dz, W.T, out=out),
        "torch dx = dz @ W": lambda: torch.mm(dzt, Wt),
    }
    times = interleaved({k: (lambda f=f: [f() for _ in range(5)]) for k, f in impls.items()}, repeats, 1)
    flops = 2 * 256 * 1024 * 1024
    return {k: {**summary(v, 5), "gflops_at_median": flops * 5 / np.median(v) / 1e9} for k, v in times.items()}


def relu_passes(repeats):
    """ReLU's passes (2) r = max(z, 0) and (4) dC_dz = dC_dr * Step(z): compiled
    (relunet._fast.passes, as training runs them) against the textbook ``rn.ReLU``'s numpy, on one
    thread, at the layer shapes of W2, W3 and W1. Each call runs a pass over 16 different z of
    random signs, so that a branch predictor cannot learn them: a pass left scalar shows as a ratio."""
    import relunet as rn
    from relunet._fast import passes

    f = rn.ReLU()
    rng = np.random.default_rng(0)
    out = {}
    for label, shape, dt in (("W2", (64, 32), np.float32), ("W3", (200, 100), np.float64),
                             ("W3", (200, 100), np.float32), ("W1", (256, 1024), np.float32)):
        zs = [rng.standard_normal(shape).astype(dt) for _ in range(16)]
        d, o = rng.standard_normal(shape).astype(dt), np.empty(shape, dt)
        sweeps = max(1, (1 << 22) // (len(zs) * d.size))  # about 2²² entries per timed call

        def sweep(one_pass):
            def call():
                for _ in range(sweeps):
                    for z in zs:
                        one_pass(z)
            return call

        for which, compiled, numpy_pass in (
            ("forward", lambda z: passes.relu(z, o), lambda z: f(z, out=o)),
            ("backward", lambda z: passes.step_times(d, z, 1.0, o), lambda z: f.backprop(d, z, None, out=o)),
        ):
            times = interleaved({"compiled": sweep(compiled), "numpy": sweep(numpy_pass)}, repeats, 1)
            key = f"{which} {label} {shape[0]}×{shape[1]} {np.dtype(dt).name}"
            out[key] = {k: summary(v, sweeps * len(zs)) for k, v in times.items()}
            out[key]["ratio"] = out[key]["compiled"]["median"] / out[key]["numpy"]["median"]
    return out


def engine_pass(net, X, Y):
    """relunet's forward + backward as a fit runs them (the fast engine's (1)–(6), no update), as a
    function of no arguments that leaves the last Trace and Gradients in its ``result`` dict."""
    import dataclasses

    import relunet as rn
    from relunet import _fast

    plan = dataclasses.replace(_fast.plan(net, rn.Adam(), X.shape[0]), fold=False)
    engine = _fast.Engine(net, plan, observed=False)
    result: dict = {}

    def call():
        with _fast.exclusive(plan.mkl):
            result["t"] = engine.forward(X)
            result["g"] = engine.gradient(result["t"], Y, 1.0 / X.shape[0])

    call.result = result
    return call


# ============================================================================ W3: scikit-learn scale
def sklearn_scale(repeats, warmup):
    import torch
    from sklearn.datasets import make_regression
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    import relunet as rn

    X, y = make_regression(n_samples=20000, n_features=50, noise=1.0, random_state=0)
    Y = y[:, None]
    bs, lr, hidden = 200, 1e-3, (100, 100)
    E = 2  # epochs per timed call
    net64 = rn.Network([50, *hidden, 1], seed=0, dtype=np.float64)

    def make_mlp():
        mlp = MLPRegressor(hidden_layer_sizes=hidden, activation="relu", solver="sgd", alpha=0.0,
                           batch_size=bs, learning_rate="constant", learning_rate_init=lr, momentum=0.0,
                           shuffle=False, max_iter=1, tol=0.0, n_iter_no_change=10**9,
                           warm_start=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(X[:bs], y[:bs])  # creates its attributes; the weights are replaced next
        mlp.coefs_ = [W.copy() for W in net64.W]
        mlp.intercepts_ = [b.copy() for b in net64.b]
        mlp.t_ = 0
        mlp.loss_curve_ = []
        mlp.set_params(max_iter=E)
        return mlp

    def make():
        impl, state = {}, {}
        for dt in (np.float64, np.float32):
            r_net = net64.copy(dt)
            r_opt = rn.SGD(lr=lr)
            Xd, Yd = X.astype(dt), Y.astype(dt)
            state[f"relunet {np.dtype(dt).name}"] = (r_net, Xd, Yd)

            def call(r_net=r_net, r_opt=r_opt, Xd=Xd, Yd=Yd):
                rn.fit(r_net, Xd, Yd, optimizer=r_opt, epochs=E, batch_size=bs, shuffle=False)

            impl[f"relunet {np.dtype(dt).name}"] = call
        mlp = make_mlp()

        def mlp_call():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                mlp.fit(X, y)

        impl["MLPRegressor float64"] = mlp_call
        for dt in (np.float64, np.float32):
            model = torch_copy(net64, dt)
            opt = torch.optim.SGD(model.parameters(), lr=lr)
            Xt, Yt = torch.from_numpy(X.astype(dt)), torch.from_numpy(Y.astype(dt))

            def t_call(model=model, opt=opt, Xt=Xt, Yt=Yt):
                for _ in range(E):
                    for i in range(0, Xt.shape[0], bs):
                        opt.zero_grad(set_to_none=True)
                        torch_loss(model, Xt[i : i + bs], Yt[i : i + bs]).backward()
                        opt.step()

            impl[f"torch {np.dtype(dt).name}"] = t_call
            state[f"torch {np.dtype(dt).name}"] = (model, Xt, Yt)

        def losses():
            out = {}
            for k, (obj, Xd, Yd) in state.items():
                if k.startswith("relunet"):
                    out[k] = obj.loss(Xd, Yd)
                else:
                    with torch.no_grad():
                        out[k] = float(torch_loss(obj, Xd, Yd))
            out["MLPRegressor float64"] = float(0.5 * np.mean((mlp.predict(X) - y) ** 2))
            return out

        return impl, losses, state, mlp

    # the same thing? float64: two epochs from the same weights give MLPRegressor's parameters and
    # loss. float32 cannot follow float64 for long (SGD on these noisy targets amplifies rounding),
    # so it is compared over the first 5 steps, against relunet float64.
    impl, losses, state, mlp = make()
    for f in impl.values():
        f()  # E = 2 epochs
    after = losses()
    r64 = state["relunet float64"][0]
    param_rel = max(
        float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        for a, b in zip(r64.parameters(), [p for W, c in zip(mlp.coefs_, mlp.intercepts_) for p in (W, c)])
    )
    ref = after["MLPRegressor float64"]
    first5 = {}
    for dt in (np.float64, np.float32):
        r = net64.copy(dt)
        rn.fit(r, X[: 5 * bs].astype(dt), Y[: 5 * bs].astype(dt), optimizer=rn.SGD(lr=lr), epochs=1, batch_size=bs, shuffle=False)
        first5[np.dtype(dt).name] = r
    f32_rel = max(
        float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        for a, b in zip(first5["float32"].parameters(), first5["float64"].parameters())
    )
    check = {
        "epochs": 2,
        "loss": after,
        "rel_diff_vs_MLP": {k: relative(v, ref) for k, v in after.items()},
        "relunet_f64_vs_MLP_params_max_rel": param_rel,
        "relunet_f32_vs_f64_params_after_5_steps_max_rel": f32_rel,
    }
    check["passed"] = (
        param_rel <= 1e-9
        and f32_rel <= 1e-5
        and all(d <= 1e-9 for k, d in check["rel_diff_vs_MLP"].items() if "float64" in k)
    )
    if not check["passed"]:
        raise RuntimeError(f"W3: implementations disagree before timing: {check}")

    impl, losses, state, mlp = make()
    times = interleaved(impl, repeats, warmup)
    after = losses()
    ref = after["MLPRegressor float64"]
    med = {k: float(np.median(v)) for k, v in times.items()}
    return {
        "unit": "s per epoch (100 steps)",
        "epochs_per_timed_call": E,
        "impls": {k: summary(v, E) for k, v in times.items()},
        "ratio_f64": med["relunet float64"] / med["MLPRegressor float64"],
        "ratio_f32": med["relunet float32"] / med["MLPRegressor float64"],
        "check_before": check,
        "check_after": {
            "epochs": E * (repeats + warmup),
            "loss": after,
            "rel_diff_vs_MLP": {k: relative(v, ref) for k, v in after.items()},
            "passed": all(relative(v, ref) <= 1e-8 for k, v in after.items() if "float64" in k),
            "note": "float32 losses are reported, not judged: their trajectories drift from float64",
        },
    }


def deep_at_width(repeats, warmup, depth=10_000):
    """W5: training steps of a 4 → depth × 64 → 1 alive net on batches of 256, float32, with the
    numpy 2048³ float32 product timed in the same rounds for the fraction of peak."""
    import relunet as rn
    from relunet._fast import plan

    sizes, n = [4] + [64] * depth + [1], 256
    net = alive_deep_net(sizes, np.float32)
    w = training_steps("W5", net, n, steps_per_call=2, lr=1e-7, repeats=repeats, warmup=warmup, rtol=1e-3,
                       with_peak=True, python_loop_too=True)
    w["init"] = "He; hidden-to-hidden W[k] = I + 0.01·N(0, 2/64); biases 0"
    w["plan"] = str(plan(net, rn.SGD(lr=1e-7), n))
    w["flops_per_step"] = matmul_flops(sizes, n)
    w["gflops_at_median"] = {k: w["flops_per_step"] / s["median"] / 1e9 for k, s in w["impls"].items()}
    w["fraction_of_numpy_f32_peak"] = w["gflops_at_median"]["relunet"] / w["peak_in_same_rounds"]["gflops_at_median"]
    return w


def very_deep(repeats, warmup):
    import torch

    sizes = [16] + [16] * 5000 + [1]
    n = 32
    net = alive_deep_net(sizes, np.float32)
    X, Y = regression_data(n, 16, 1, np.float32, seed=3)
    model = torch_copy(net)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    relunet_call = engine_pass(net, X, Y)
    bufs = relunet_call.result

    def torch_call():
        model.zero_grad(set_to_none=True)
        bufs["loss"] = torch_loss(model, Xt, Yt)
        bufs["loss"].backward()

    # the same thing? loss and the gradient of the first and last weights
    relunet_call()
    torch_call()
    g = bufs["g"]
    r_loss = float(net.cost_of(bufs["t"], Y))
    lin = [m for m in model if isinstance(m, torch.nn.Linear)]
    gW0 = relative(float(np.linalg.norm(g.dC_dW[0])), float(lin[0].weight.grad.norm()))
    gWL = relative(float(np.linalg.norm(g.dC_dW[-1])), float(lin[-1].weight.grad.norm()))
    last = bufs["t"].r[net.L - 1]
    check = {
        "loss": {"relunet": r_loss, "torch": bufs["loss"].item()},
        "rel_diff_loss": relative(r_loss, bufs["loss"].item()),
        "rel_diff_norm_dC_dW0": gW0,
        "rel_diff_norm_dC_dW_last": gWL,
        "alive_fraction_last_hidden": float(np.mean(last > 0)),
        "norm_last_hidden": float(np.linalg.norm(last)),
        "norm_dC_dW0": float(np.linalg.norm(g.dC_dW[0])),
        "init": "He; hidden-to-hidden W[k] = I + 0.01·N(0, 2/16); biases 0",
    }
    check["passed"] = max(check["rel_diff_loss"], gW0, gWL) <= 1e-3 and check["alive_fraction_last_hidden"] > 0.25
    if not check["passed"]:
        raise RuntimeError(f"W4: relunet and torch disagree before timing: {check}")
    from relunet._fast.chain import python_loop

    with python_loop():  # the engine as it runs without the compiled layer loop, in the same rounds
        loop_call = engine_pass(net, X, Y)
    times = interleaved({"relunet": relunet_call, "torch": torch_call, LOOP: loop_call}, repeats, warmup)
    return {
        "unit": "s per forward + backward",
        "impls": {k: summary(v) for k, v in times.items()},
        "ratio": float(np.median(times["relunet"]) / np.median(times["torch"])),
        "check_before": check,
    }


def subnormals(repeats):
    """W4's forward + backward when activations pass through or live in the subnormal range.

    relunet uses ReLU(step_at_zero=0) here, PyTorch's convention: in the dead layers of the He
    network z is exactly 0, and with Step(0) = 1 the gradient would instead flow (and grow)
    through all of them, a different computation from PyTorch's."""
    import torch

    import relunet as rn

    sizes = [16] + [16] * 5000 + [1]
    n = 32
    X, Y = regression_data(n, 16, 1, np.float32, seed=3)
    cases = {
        "alive (identity-like init)": (alive_deep_net(sizes, np.float32), X),
        "all activations subnormal (X·1e-40)": (alive_deep_net(sizes, np.float32), X * np.float32(1e-40)),
        "He init (signal dies through subnormals)": (rn.Network(sizes, dtype=np.float32, seed=0), X),
    }
    for net, _ in cases.values():
        net.activations[1:-1] = [rn.ReLU(step_at_zero=0)] * (net.L - 1)
    out = {}
    impls = {}
    for label, (net, Xc) in cases.items():
        passes = engine_pass(net, Xc, Y)

        def call(passes=passes):
            with np.errstate(all="ignore"):
                passes()

        def flushed(call=call):
            with rn.flush_subnormals():
                call()

        impls[label] = call
        impls[f"relunet flush_subnormals: {label}"] = flushed
        call()
        tiny = np.finfo(np.float32).tiny
        count = sum(int(np.count_nonzero((r != 0) & (np.abs(r) < tiny))) for r in passes.result["t"].r[1:])
        out[label] = {"subnormal_activations": count, "entries": sum(r.size for r in passes.result["t"].r[1:])}
        model = torch_copy(net)
        Xt, Yt = torch.from_numpy(Xc), torch.from_numpy(Y)
        for flush in (False, True):
            def t_call(model=model, Xt=Xt, Yt=Yt, flush=flush):
                torch.set_flush_denormal(flush)
                try:
                    model.zero_grad(set_to_none=True)
                    torch_loss(model, Xt, Yt).backward()
                finally:
                    torch.set_flush_denormal(False)

            impls[f"torch{' flush_denormal' if flush else ''}: {label}"] = t_call
    times = interleaved(impls, repeats, 1)
    base = float(np.median(times["alive (identity-like init)"]))
    tbase = float(np.median(times["torch: alive (identity-like init)"]))
    bases = {"relunet flush_subnormals": base, "torch": tbase, "torch flush_denormal": tbase}
    for label in cases:
        out[label]["relunet"] = summary(times[label])
        out[label]["relunet_vs_alive"] = float(np.median(times[label])) / base
        for prefix in ("relunet flush_subnormals", "torch", "torch flush_denormal"):
            t = times[f"{prefix}: {label}"]
            out[label][prefix] = summary(t)
            out[label][f"{prefix}_vs_alive"] = float(np.median(t)) / bases[prefix]
    return out


# ============================================================================ memory
def memory_probe(which: str) -> dict:
    """Peak RSS growth of two W1 training steps, run in this (fresh) process."""

    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(field)

    import relunet as rn

    def make_steps(sizes, n, steps):
        net = rn.Network(sizes, dtype=np.float32, seed=0)
        X, Y = regression_data(n * steps, sizes[0], sizes[-1], np.float32, seed=1)
        if which == "torch":
            import torch

            model = torch_copy(net)
            opt = torch.optim.SGD(model.parameters(), lr=1e-4)
            Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)

            def run():
                for i in range(0, n * steps, n):
                    opt.zero_grad(set_to_none=True)
                    torch_loss(model, Xt[i : i + n], Yt[i : i + n]).backward()
                    opt.step()
        else:
            opt = rn.SGD(lr=1e-4)

            def run():
                rn.fit(net, X, Y, optimizer=opt, epochs=1, batch_size=n, shuffle=False)

        return run

    # a small network's steps first: the library's one-time start-up (thread pools, kernel
    # buffers, autograd engine) is not a cost of the W1 step
    make_steps([256, 64, 64, 1], 16, 2)()
    run = make_steps([256, 1024, 1024, 1024, 1024, 1], 256, 2)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM, the peak resident set, to the current RSS
    before = status("VmRSS")
    run()
    return {"peak_growth_MB": (status("VmHWM") - before) / 2**20, "kept_MB": (status("VmRSS") - before) / 2**20}


def memory(repeats: int = 3) -> dict:
    out: dict = {"method": "fresh subprocess per run; two steps of a small network first (library "
                 "start-up), then the W1 model, data (2 batches) and optimizer are built; "
                 "/proc/self/clear_refs ← 5 resets VmHWM; two training steps (relunet: one rn.fit call "
                 "over the 2 batches; torch: zero_grad/backward/step twice); peak growth = VmHWM after − "
                 "VmRSS before (kept = VmRSS after − before). Median over 3 runs each."}
    runs: dict = {"relunet": [], "torch": []}
    for _ in range(repeats):
        for which in ("relunet", "torch"):
            res = subprocess.run([sys.executable, __file__, "--memory-probe", which],
                                 capture_output=True, text=True, timeout=600, check=True)
            runs[which].append(json.loads(res.stdout.strip().splitlines()[-1]))
    for which, rs in runs.items():
        out[which] = {key: float(np.median([r[key] for r in rs])) for key in rs[0]}
        out[which]["runs"] = rs
    out["ratio"] = out["relunet"]["peak_growth_MB"] / out["torch"]["peak_growth_MB"]
    return out


# ============================================================================ report
def verdict(value: float, rule: str, bound: float) -> str:
    ok = value <= bound if rule == "<=" else value >= bound
    return "met" if ok else "NOT met"


def blas_line(info: dict) -> str:
    relu = info.get("relu_passes") or {}
    if relu.get("built"):
        passes = (f"ReLU's passes compiled (relunet._fast._relu_passes), on MKL's OpenMP threads from "
                  f"{relu['min_threaded']} entries inside rn.fit." if relu.get("openmp") else
                  "ReLU's passes compiled (relunet._fast._relu_passes), without OpenMP.")
    else:
        passes = "ReLU's passes through numpy (the C extension is not built)."
    if info.get("backend") != "mkl":
        return f"numpy's BLAS for all of them (MKL not in use: {info.get('mkl_unavailable') or info.get('choice')}). {passes}"
    return (f"{info['version']}, {info['threads']} threads ({info.get('threading')} OpenMP), for products of at "
            f"least {info['min_work']} multiply-adds or {info.get('min_out')} results; numpy's BLAS "
            f"(single-threaded inside rn.fit where MKL runs) for the rest. {passes}")


def markdown(res: dict) -> str:
    env = res["environment"]
    lines = [
        "# relunet benchmark",
        "",
        f"`python benchmarks/run.py --out {res['args']['out']}{' --force' * bool(res['args'].get('force'))}` (repeats {res['args']['repeats']}, W1 "
        f"{3 * res['args']['repeats']}; warm-up {res['args']['warmup']})",
        "",
        f"Machine: {env.get('cpu_model')}, {env['cpu_count']} CPUs; load average before "
        f"{tuple(round(x, 2) for x in env['loadavg'])}, after {tuple(round(x, 2) for x in res['loadavg_after'])}.",
        f"numpy {env['numpy']} ({', '.join(sorted({p.get('internal_api', '?') + ' ' + str(p.get('version')) for p in env['threadpools'] if p.get('user_api') == 'blas'}))}), "
        f"torch {env['torch']} ({env['torch_num_threads']} threads), scikit-learn {env['sklearn']}; "
        f"env: {env['env'] or 'no OPENBLAS/OMP/MKL variables set'}.",
        "",
        "relunet's products: " + blas_line(env.get("relunet_blas") or {}),
        "",
        "| workload | implementation | median | min | max | ratio of medians | target |",
        "|---|---|---|---|---|---|---|",
    ]

    def ms(x):
        return f"{x * 1e3:.2f} ms" if x < 10 else f"{x:.2f} s"

    def rows(key, label, ratio_key, ref, target_key):
        w = res["workloads"].get(key)
        if not w:
            return
        for i, (impl, s) in enumerate(w["impls"].items()):
            ratio = target = ""
            if i == 0:
                ratio = f"{w[ratio_key]:.3f} (vs {ref})"
                if "ratio_paired_median" in w:
                    ratio += f"; paired {w['ratio_paired_median']:.3f}"
                t = TARGETS[target_key]
                target = f"{t[0]} {t[1]} {t[2]}: **{verdict(w[ratio_key], t[1], t[2])}**"
            if impl == DIAG:
                ratio = f"{w['ratio_diagnostic_no_fit']:.3f} (vs {ref})"
            if impl == LOOP:
                ratio = f"{s['median'] / w['impls']['torch']['median']:.3f} (vs {ref})"
            lines.append(f"| {label if i == 0 else ''} | {impl} | {ms(s['median'])} | {ms(s['min'])} | {ms(s['max'])} | {ratio} | {target} |")

    rows("W1", "W1 wide, f32, per step", "ratio", "torch", "W1")
    rows("W2", "W2 deep-narrow, f32, per step", "ratio", "torch", "W2")
    w3 = res["workloads"].get("W3")
    if w3:
        for i, (impl, s) in enumerate(w3["impls"].items()):
            ratio = target = ""
            if impl == "relunet float64":
                ratio, t = f"{w3['ratio_f64']:.3f} (vs MLP f64)", TARGETS["W3 f64"]
                target = f"{t[0]} {t[1]} {t[2]}: **{verdict(w3['ratio_f64'], t[1], t[2])}**"
            if impl == "relunet float32":
                ratio, t = f"{w3['ratio_f32']:.3f} (vs MLP f64)", TARGETS["W3 f32"]
                target = f"{t[0]} {t[1]} {t[2]}: **{verdict(w3['ratio_f32'], t[1], t[2])}**"
            lines.append(f"| {'W3 sklearn scale, per epoch' if i == 0 else ''} | {impl} | {ms(s['median'])} | {ms(s['min'])} | {ms(s['max'])} | {ratio} | {target} |")
    rows("W4", "W4 very deep, f32, fwd+bwd", "ratio", "torch", "W4")
    rows("W5", "W5 10,000 × 64, f32, per step", "ratio", "torch", "W5")
    lines.append("")
    if "W5" in res["workloads"]:
        w5 = res["workloads"]["W5"]
        lines += [
            f"W5 matrix products: {w5['flops_per_step'] / 1e9:.1f} GFLOP per step → relunet "
            f"{w5['gflops_at_median']['relunet']:.1f} GFLOP/s, torch {w5['gflops_at_median']['torch']:.1f} GFLOP/s; "
            f"numpy 2048³ f32 product in the same rounds {w5['peak_in_same_rounds']['gflops_at_median']:.1f} GFLOP/s. "
            f"relunet reaches **{w5['fraction_of_numpy_f32_peak']:.0%}** of it (target ≥ 40%: "
            f"**{verdict(w5['fraction_of_numpy_f32_peak'], '>=', 0.40)}**). Plan: {w5['plan']}",
            "",
        ]
    if "W1" in res["workloads"] and "peak" in res:
        w1 = res["workloads"]["W1"]
        gf = w1["gflops_at_median"]
        lines += [
            f"W1 matrix products: {w1['flops_per_step'] / 1e9:.2f} GFLOP per step → relunet "
            f"{gf['relunet']:.1f} GFLOP/s, torch {gf['torch']:.1f} GFLOP/s; numpy 2048³ f32 product timed in the "
            f"same rounds {w1['peak_in_same_rounds']['gflops_at_median']:.1f} GFLOP/s (separately: f32 "
            f"{res['peak']['float32']['numpy']['gflops_at_median']:.1f}, f64 "
            f"{res['peak']['float64']['numpy']['gflops_at_median']:.1f}; torch f32 "
            f"{res['peak']['float32']['torch']['gflops_at_median']:.1f}). relunet reaches "
            f"**{w1['fraction_of_numpy_f32_peak']:.0%}** of the numpy f32 peak (target ≥ 75%: "
            f"**{verdict(w1['fraction_of_numpy_f32_peak'], '>=', 0.75)}**).",
            "",
        ]
    if "products" in res:
        lines += ["| one W1 hidden-layer product (256×1024×1024 f32) | median | GFLOP/s |", "|---|---|---|"]
        for k, v in res["products"].items():
            lines.append(f"| {k} | {ms(v['median'])} | {v['gflops_at_median']:.0f} |")
        lines.append("")
    if "passes" in res:
        built = (res["environment"].get("relunet_blas") or {}).get("relu_passes", {}).get("built")
        lines += ["| ReLU pass, one thread, per array | compiled | numpy | ratio |", "|---|---|---|---|"]
        for k, v in res["passes"].items():
            lines.append(f"| {k} | {v['compiled']['median'] * 1e6:.1f} µs | {v['numpy']['median'] * 1e6:.1f} µs "
                         f"| {v['ratio']:.2f} |")
        lines += ["", "z of random signs: each timed call sweeps 16 arrays until about 2²² entries." + ("" if built else
                  " The extension is not built: both columns ran numpy."), ""]
    if "memory" in res:
        m = res["memory"]
        lines += [
            "| W1 training, 2 steps | relunet | torch | ratio | target |",
            "|---|---|---|---|---|",
            f"| peak RSS growth | {m['relunet']['peak_growth_MB']:.1f} MB | {m['torch']['peak_growth_MB']:.1f} MB "
            f"| {m['ratio']:.2f} | ≤ 1: **{verdict(m['ratio'], '<=', 1.0)}** |",
            f"| kept after | {m['relunet']['kept_MB']:.1f} MB | {m['torch']['kept_MB']:.1f} MB | | |",
            "",
            f"Memory method: {m['method']}",
            "",
        ]
    if "subnormals" in res:
        cols = ("relunet", "relunet flush_subnormals", "torch", "torch flush_denormal")
        lines += ["| W4 fwd+bwd, subnormals | subnormal activations | " + " | ".join(f"{c} | vs alive" for c in cols) + " |",
                  "|---" * (2 + 2 * len(cols)) + "|"]
        for label, s in res["subnormals"].items():
            cells = " | ".join(f"{ms(s[c]['median'])} | {s[c + '_vs_alive']:.2f}" for c in cols)
            lines.append(f"| {label} | {s['subnormal_activations']} of {s['entries']} | {cells} |")
        lines += ["", "vs alive: against the same library's alive network without flushing (relunet's flushed "
                  "rows against relunet's plain alive row).", ""]
    checks = []
    for key, w in res["workloads"].items():
        for when in ("check_before", "check_after"):
            if when in w:
                checks.append(f"{key} {when.split('_')[1]}: {'passed' if w[when]['passed'] else 'FAILED'}")
    if checks:
        lines += ["Same-computation checks: " + "; ".join(checks) + ".", ""]
    return "\n".join(lines)


# ============================================================================ main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="folder for benchmark.json and benchmark.md: new or empty, or with --force "
                   "one whose results are to be replaced (required)")
    p.add_argument("--force", action="store_true", help="replace benchmark.json and benchmark.md in a non-empty --out")
    p.add_argument("--repeats", type=int, default=15, help="timed rounds per workload (≥ 5; W1 takes three times as many)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    p.add_argument("--only", default="W1,W2,W3,W4,W5,peak,products,passes,memory,subnormals",
                   help="comma-separated subset of W1,W2,W3,W4,W5,peak,products,passes,memory,subnormals")
    p.add_argument("--memory-probe", choices=["relunet", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe)))
        return 0
    if args.out is None:
        p.error("--out DIR is required (a new or empty folder, or --force to replace the results in one)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        p.error(f"--out {out} is not a folder")
    if out.exists() and any(out.iterdir()) and not args.force:
        p.error(f"--out {out} holds {', '.join(sorted(f.name for f in out.iterdir()))}; give a new folder, "
                "or --force to replace its benchmark.json and benchmark.md")
    if args.repeats < 5:
        p.error(f"--repeats must be at least 5 (got {args.repeats})")
    only = set(args.only.split(","))
    res: dict = {"args": vars(args), "environment": environment(), "workloads": {}}
    if res["environment"]["relunet_blas"]["relu_passes"]["current"] is False:
        p.error("the compiled ReLU passes are a stale build of src/relunet/_fast/_relu_passes.c: "
                "rebuild them (python -m pip install -e .) before timing")
    if res["environment"]["relunet_blas"]["layer_loop"]["current"] is False:
        p.error("the compiled layer loop is a stale build of src/relunet/_fast/_chain.c: "
                "rebuild it (python -m pip install -e .) before timing")
    print(f"load average before: {res['environment']['loadavg']}", flush=True)
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", flush=True)

    if "peak" in only or "W1" in only:
        res["peak"] = matmul_peak(args.repeats)
        log(f"peak: numpy f32 {res['peak']['float32']['numpy']['gflops_at_median']:.1f} GFLOP/s")
    if "W1" in only:
        import relunet as rn

        sizes, n = [256, 1024, 1024, 1024, 1024, 1], 256
        net = rn.Network(sizes, dtype=np.float32, seed=0)
        # W1 is decided by a few percent, and a step's time here spreads from −25% to +45% of its median within one run:
        # three times the rounds, for a steadier median
        w = training_steps("W1", net, n, steps_per_call=10, lr=1e-4, repeats=3 * args.repeats, warmup=args.warmup,
                           rtol=1e-4, with_peak=True)
        w["flops_per_step"] = matmul_flops(sizes, n)
        w["gflops_at_median"] = {k: w["flops_per_step"] / s["median"] / 1e9 for k, s in w["impls"].items()}
        w["fraction_of_numpy_f32_peak"] = w["gflops_at_median"]["relunet"] / w["peak_in_same_rounds"]["gflops_at_median"]
        res["workloads"]["W1"] = w
        log(f"W1: ratio {w['ratio']:.3f} (paired {w['ratio_paired_median']:.3f}), "
            f"{w['fraction_of_numpy_f32_peak']:.0%} of peak")
    if "products" in only:
        res["products"] = w1_products(args.repeats)
        log("products done")
    if "passes" in only:
        res["passes"] = relu_passes(args.repeats)
        log("passes done")
    if "W2" in only:
        net = alive_deep_net([32] + [32] * 1000 + [1], np.float32)
        w = training_steps("W2", net, 64, steps_per_call=30, lr=1e-3, repeats=args.repeats, warmup=args.warmup, rtol=1e-4,
                           python_loop_too=True)
        w["init"] = "He; hidden-to-hidden W[k] = I + 0.01·N(0, 2/32); biases 0"
        res["workloads"]["W2"] = w
        log(f"W2: ratio {w['ratio']:.3f} (paired {w['ratio_paired_median']:.3f})")
    if "W3" in only:
        w = sklearn_scale(args.repeats, args.warmup)
        res["workloads"]["W3"] = w
        log(f"W3: f64 {w['ratio_f64']:.3f}, f32 {w['ratio_f32']:.3f}")
    if "W4" in only:
        w = very_deep(args.repeats, args.warmup)
        res["workloads"]["W4"] = w
        log(f"W4: ratio {w['ratio']:.3f}")
    if "W5" in only:
        w = deep_at_width(args.repeats, args.warmup)
        res["workloads"]["W5"] = w
        log(f"W5: ratio {w['ratio']:.3f}, {w['fraction_of_numpy_f32_peak']:.0%} of peak")
    if "memory" in only:
        res["memory"] = memory()
        log(f"memory: ratio {res['memory']['ratio']:.2f}")
    if "subnormals" in only:
        res["subnormals"] = subnormals(max(3, args.repeats // 2))
        log("subnormals done")
    res["loadavg_after"] = os.getloadavg()
    res["seconds"] = time.perf_counter() - t_start
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.json").write_text(json.dumps(res, indent=2, default=str))
    md = markdown(res)
    (out / "benchmark.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
