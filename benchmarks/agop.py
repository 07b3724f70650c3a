"""Benchmark: AGOP of every layer, the usual way vs equinotes.dnfa, on the paper's MLP.

The usual way computes, for each layer l, the per-sample Jacobian of the sub-network that maps the
layer's input to the output with ``torch.func.vmap(jacrev(...))`` and averages ``JᵀJ``. Ours runs one
forward pass and one batched backward pass per output, keeps the per-sample gradients w.r.t. every
pre-activation, forms ``K_l`` and ``AGOP_l = W_lᵀ K_l W_l`` (``equinotes.dnfa.moments_and_agops``).

Both run in this process on the same model and data: width 1024, 3 hidden layers, bias-free ReLU,
input dimension 100, n = 2000, scalar output. We print the agreement (max relative Frobenius error over
layers), the speed ratio, the peak memory allocated by torch during each method (from the profiler's
memory events), and our time divided by one plain forward+backward pass (the floor).

Run: ``python benchmarks/agop.py [--repeats 5] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from equinotes import dnfa
from equinotes.utils import seed_everything


def usual(model, x):
    return [
        dnfa.agop_jacobian(model, x, layer)
        for layer in range(len(dnfa.linear_layers(model)))
    ]


def ours(model, x):
    return dnfa.moments_and_agops(model, x)[1]  # computes every K_l too


def floor(model, x):
    """One plain forward + backward pass (all weight gradients), the cost no method can go below."""
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    return None


def timed(fn, model, x, repeats):
    fn(model, x)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(model, x)
        times.append(time.perf_counter() - t)
    return times


def peak_memory_mb(fn, model, x):
    """Peak of the bytes torch holds allocated during ``fn`` (cumulative profiler memory events)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn(model, x)
        del out
    events = sorted(
        (e for e in prof.events() if e.cpu_memory_usage != 0),
        key=lambda e: e.time_range.start,
    )
    level = peak = 0
    for e in events:
        level += e.cpu_memory_usage
        peak = max(peak, level)
    return peak / 2**20


def multiply_adds(dims, n):
    """Multiply-add counts (scalar output) of each method, from the layer sizes: the ceiling of
    the speed-up."""
    mm = [
        n * a * b for a, b in zip(dims[:-1], dims[1:])
    ]  # one batched product with each W_l
    L = len(mm)
    fwd = sum(mm)
    floor = (
        fwd + sum(mm[1:]) + sum(mm)
    )  # forward, input gradients below the top, weight gradients
    ours = (
        fwd
        + sum(mm[1:])
        + sum(n * b * b + b * b * a + a * a * b for a, b in zip(dims[:-1], dims[1:]))
    )
    usual = sum(sum(mm[:l]) + 2 * sum(mm[l:]) + n * dims[l] ** 2 for l in range(L))
    # Any method needs the forward pass and the backward pass down to the first layer's input gradients.
    pass_pair = fwd + sum(mm[1:])
    return {
        "usual": usual,
        "ours": ours,
        "floor": floor,
        "forward+input-gradient backward": pass_pair,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--width", type=int, default=1024)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    model = dnfa.relu_mlp(100, args.width, 3, d_out=1, generator=g)
    x = torch.randn(args.n, 100, generator=g)

    ref, new = usual(model, x), ours(model, x)
    errors = [float((a - b).norm() / b.norm()) for a, b in zip(new, ref)]
    agree = max(errors) <= 1e-5
    print(
        f"model: 100 -> {args.width} x 3 hidden -> 1, n = {args.n}, float32, "
        f"{torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"agreement: max relative error over layers = {max(errors):.2e}  "
        f"({'OK' if agree else 'FAIL'}, threshold 1e-5); per layer {[f'{e:.1e}' for e in errors]}"
    )

    t_usual = timed(usual, model, x, args.repeats)
    t_ours = timed(ours, model, x, args.repeats)
    t_floor = timed(floor, model, x, args.repeats)
    med = {
        k: statistics.median(v)
        for k, v in (("usual", t_usual), ("ours", t_ours), ("floor", t_floor))
    }
    best = {
        k: min(v) for k, v in (("usual", t_usual), ("ours", t_ours), ("floor", t_floor))
    }
    for k in med:
        print(
            f"time {k:>5}: median {med[k] * 1e3:8.1f} ms, best {best[k] * 1e3:8.1f} ms "
            f"over {args.repeats} runs"
        )
    speedup = med["usual"] / med["ours"]
    over_floor = med["ours"] / med["floor"]
    ops = multiply_adds([100] + [args.width] * 3 + [1], args.n)
    print(
        "multiply-adds (G): "
        + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in ops.items())
        + f"; by this count usual/ours = {ops['usual'] / ops['ours']:.2f}x, "
        + f"ours/floor = {ops['ours'] / ops['floor']:.2f}x"
    )
    needed = ops["usual"] / 5
    print(
        f"a 5x speed-up needs <= {needed / 1e9:.1f} G multiply-adds; "
        f"a forward pass plus the backward pass that every "
        f"method needs costs {ops['forward+input-gradient backward'] / 1e9:.1f} G"
        + (
            " -> 5x is out of reach for this model by arithmetic alone"
            if needed < ops["forward+input-gradient backward"]
            else ""
        )
    )
    print(
        f"speed-up usual / ours          : {speedup:.2f}x (median), "
        f"{best['usual'] / best['ours']:.2f}x (best)  target >= 5x"
        f" -> {'met' if speedup >= 5 else 'NOT met'}"
    )
    print(
        f"ours / forward+backward floor  : {over_floor:.2f}x (median), "
        f"{best['ours'] / best['floor']:.2f}x (best)  target <= 2x"
        f" -> {'met' if over_floor <= 2 else 'NOT met'}"
    )
    mem = {
        k: peak_memory_mb(f, model, x)
        for k, f in (("usual", usual), ("ours", ours), ("floor", floor))
    }
    print(
        "peak torch memory during the call: "
        + ", ".join(f"{k} {v:.1f} MiB" for k, v in mem.items())
    )
    print(
        "note: the machine may be shared; timings are wall-clock medians and inflate under load."
    )
    if not agree:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
