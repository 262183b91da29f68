"""Batched engine vs a Python loop over single trainings (issue 6).

512 networks of the two-squares multi-task size (N = 8 points in 2-D, T = 101 tasks,
width 64, no skip) are trained for a fixed number of full-batch Adam steps:

- batched: one :func:`mtlreg.sweep.train_batched` call on all networks;
- loop: :func:`mtlreg.train` (``method="adam"``, same steps, ``tol=0``) once per network.

Prints networks-steps per second of both and their ratio, and the GFLOP/s the batched
engine achieves against a large matmul's GFLOP/s measured in the same run.

    python benchmarks/bench_sweep.py [--networks 512] [--steps 200] [--loop-networks 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

import mtlreg
from mtlreg.sweep import BatchedRun, train_batched
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=512)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument(
        "--loop-networks", type=int, default=None,
        help="networks in the single-training loop (default: all; the rate is per network-step)",
    )
    parser.add_argument(
        "--loop", choices=["train", "engine"], default="train",
        help="single trainings by mtlreg.train (default) or by the engine with one network",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    x, y = TwoSquaresData(name="two_squares").load()
    runs = [
        BatchedRun(x, mtlreg.aux_tasks(y, T - 1, dist="bernoulli", seed=s), width=K, lam=1e-3,
                   seed=s, skip=False, lr=1e-3)
        for s in range(args.networks)
    ]
    steps = args.steps
    train_batched(runs[:8], steps=5, dtype=dtype)  # warm-up

    t0 = time.perf_counter()
    batched = train_batched(runs, steps=steps, dtype=dtype)
    t_batched = time.perf_counter() - t0
    rate_batched = len(runs) * steps / t_batched

    n_loop = args.networks if args.loop_networks is None else args.loop_networks
    t0 = time.perf_counter()
    worst = 0.0
    for run, res in zip(runs[:n_loop], batched):
        if args.loop == "train":
            net = mtlreg.train(run.X, run.Y, width=K, lam=run.lam, skip=False, seed=run.seed,
                               method="adam", max_steps=steps, lr=run.lr, tol=0.0, dtype=dtype,
                               progress=False, log_every=steps).net
        else:
            net = train_batched([run], steps=steps, dtype=dtype)[0].net
        worst = max(worst, float(np.abs(net.predict(x) - res.net.predict(x)).max()))
    t_loop = time.perf_counter() - t0
    rate_loop = n_loop * steps / t_loop

    flops = flops_per_network_step(N, D, T, K)
    gflops = rate_batched * flops / 1e9
    peak = matmul_gflops(2048, dtype)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"torch {torch.__version__}, {args.threads} threads, {args.dtype}, no GPU")
    print(f"problem: {len(runs)} networks, N={N}, d={D}, T={T}, width={K}, {steps} Adam steps")
    print(f"batched : {t_batched:8.2f} s  {rate_batched:12.0f} network-steps/s")
    print(f"loop    : {t_loop:8.2f} s  {rate_loop:12.0f} network-steps/s  "
          f"({n_loop} networks, {args.loop})")
    print(f"speedup : {rate_batched / rate_loop:8.1f}x (target >= 20x)")
    print(f"max |batched - single| prediction: {worst:.2e}")
    print(f"batched engine: {gflops:6.2f} GFLOP/s ({flops / 1e3:.0f} kflop per network-step)")
    print(f"matmul 2048^2 : {peak:6.2f} GFLOP/s  -> engine at {100 * gflops / peak:.1f}% of it")


if __name__ == "__main__":
    main()
