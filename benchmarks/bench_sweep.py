"""Batched engine vs a Python loop over single trainings (issue 6).

512 networks of the two-squares multi-task size (N = 8 points in 2-D, T = 101 tasks,
width 64, no skip) are trained for a fixed number of full-batch Adam steps:

- batched: one :func:`mtlreg.sweep.train_batched` call on all networks;
- loop: :func:`mtlreg.train` (``method="adam"``, same steps, ``tol=0``) once per network
  (over the first ``--loop-networks`` networks; rates are per network-step).

Prints networks-steps per second of both and their ratio, and the GFLOP/s the batched
engine achieves against a large matmul's GFLOP/s measured in the same run.

    python benchmarks/bench_sweep.py [--networks 512] [--steps 100] [--loop-networks 128]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

import mtlreg
from mtlreg.sweep import BatchedResult, BatchedRun, train_batched
from mtlreg.sweep._datasets import TwoSquaresData

N, D, T, K = 8, 2, 101, 64


def flops_per_network_step(n: int, d: int, t: int, k: int) -> float:
    """Floating-point operations of one engine step for one network.

    Matmuls of the forward pass and the closed-form gradients (2 flops per
    multiply-add: Z, F, A x; dV, dH, dW, dA), plus about 10 elementwise flops per
    parameter for Adam and weight decay. Elementwise ReLU/residual work is ignored.
    """
    matmul = 2.0 * n * (3 * k * t + 2 * k * d + 2 * t * d)
    params = k * d + k + k * t + t * d + t
    return matmul + 10.0 * params


def matmul_gflops(size: int, dtype: torch.dtype, repeats: int = 5) -> float:
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=512)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument(
        "--loop-networks",
        type=int,
        default=128,
        help="networks trained one by one (default 128; rates are per network-step)",
    )
    parser.add_argument(
        "--loop",
        choices=["train", "engine"],
        default="train",
        help="single trainings by mtlreg.train (default) or by the engine with one network",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    x, y = TwoSquaresData(name="two_squares").load()
    runs = [
        BatchedRun(
            x,
            mtlreg.aux_tasks(y, T - 1, dist="bernoulli", seed=s),
            width=K,
            lam=1e-3,
            seed=s,
            skip=False,
            lr=1e-3,
        )
        for s in range(args.networks)
    ]
    steps = args.steps
    n_loop = min(args.loop_networks, args.networks)
    train_batched(runs[:8], steps=5, dtype=dtype)  # warm-up

    results: dict[str, list[BatchedResult]] = {}
    timings: dict[str, tuple[float, float, int]] = {}
    for fused in (True, False):
        name = "batched, fused Adam" if fused else "batched, engine Adam"

        def batched(fused: bool = fused, name: str = name) -> None:
            results[name] = train_batched(runs, steps=steps, dtype=dtype, fused=fused)

        timings[name] = (*_timed(batched), len(runs))

    worst = [0.0]

    def loop() -> None:
        reference = results["batched, engine Adam"]
        for run, res in zip(runs[:n_loop], reference):
            if args.loop == "train":
                net = mtlreg.train(
                    run.X,
                    run.Y,
                    width=K,
                    lam=run.lam,
                    skip=False,
                    seed=run.seed,
                    method="adam",
                    max_steps=steps,
                    lr=run.lr,
                    tol=0.0,
                    dtype=dtype,
                    progress=False,
                    log_every=steps,
                ).net
            else:
                net = train_batched([run], steps=steps, dtype=dtype, fused=False)[0].net
            diff = float(np.abs(net.predict(x) - res.net.predict(x)).max())
            worst[0] = max(worst[0], diff)

    name_loop = f"loop over {args.loop}()" if args.loop == "train" else "loop over engine, B=1"
    timings[name_loop] = (*_timed(loop), n_loop)

    flops = flops_per_network_step(N, D, T, K)
    peak_wall = matmul_gflops(2048, dtype)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
        f"{args.threads} threads, {args.dtype}, no GPU; load average "
        f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )
    print(f"problem: {len(runs)} networks, N={N}, d={D}, T={T}, width={K}, {steps} Adam steps")
    print(f"{'':24s} {'wall s':>8s} {'net-steps/s':>12s} {'CPU s':>8s} {'net-steps/CPU-s':>16s}")
    rates = {}
    for name, (wall, cpu, count) in timings.items():
        rates[name] = (count * steps / wall, count * steps / cpu)
        print(f"{name:24s} {wall:8.2f} {rates[name][0]:12.0f} {cpu:8.2f} {rates[name][1]:16.0f}")
    for name in list(timings)[:2]:
        print(
            f"speedup {name:22s}: {rates[name][0] / rates[name_loop][0]:6.1f}x wall, "
            f"{rates[name][1] / rates[name_loop][1]:6.1f}x CPU (target >= 20x)"
        )
    print(f"max |single - batched (engine Adam)| prediction: {worst[0]:.2e}")
    for name in list(timings)[:2]:
        gflops = rates[name][0] * flops / 1e9
        print(
            f"{name:24s}: {gflops:6.2f} GFLOP/s achieved "
            f"({flops / 1e3:.0f} kflop per network-step), {100 * gflops / peak_wall:.1f}% of matmul"
        )
    print(f"matmul 2048x2048 ({args.dtype}, {args.threads} threads): {peak_wall:6.2f} GFLOP/s")


if __name__ == "__main__":
    main()
