"""Batched engine vs a Python loop over single trainings (issue 6).

512 networks of the two-squares multi-task size (N = 8 points in 2-D, T = 101 tasks,
width 64, no skip) are trained for a fixed number of full-batch Adam steps:

- batched: one :func:`mtlreg.training.train_many` call (``method="adam"``) on all
  networks;
- loop: :func:`mtlreg.train` (``method="adam"``, same steps, ``tol=0``) once per network
  (over the first ``--loop-networks`` networks; rates are per network-step).

Both run the same code (``train`` is ``train_many``'s one-problem case). ``--repeats 3``
(default) times each side three times and reports medians.

Prints networks-steps per second of both and their ratio, and the GFLOP/s the batched
engine achieves against a large matmul's GFLOP/s measured in the same run.

    python benchmarks/bench_sweep.py [--networks 512] [--steps 100] [--loop-networks 128]
        [--tasks 101] [--width 64]
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
from mtlreg.training import Problem, TrainResult, train_many

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


def matmul_gflops(size: int, dtype: torch.dtype, repeats: int = 5, device: str = "cpu") -> float:
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    a @ b  # warm-up
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    import statistics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=512)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument(
        "--loop-networks",
        type=int,
        default=64,
        help="networks trained one by one (default 64; rates are per network-step)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", default="cpu", help="e.g. cuda (both sides train there)")
    parser.add_argument("--tasks", type=int, default=T, help=f"T, tasks per network ({T})")
    parser.add_argument("--width", type=int, default=K, help=f"hidden width ({K})")
    args = parser.parse_args()
    n_tasks, width = args.tasks, args.width
    torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    corners = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    x = np.concatenate([corners, 2.0 * corners])  # the two-squares data
    y = np.concatenate([np.ones(4), np.zeros(4)])
    problems = [
        Problem(
            x,
            mtlreg.aux_tasks(y, n_tasks - 1, dist="bernoulli", seed=s),
            width=width,
            lam=1e-3,
            seed=s,
            skip=False,
            lr=1e-3,
        )
        for s in range(args.networks)
    ]
    steps = args.steps
    n_loop = min(args.loop_networks, args.networks)
    opts = {"method": "adam", "max_steps": steps, "tol": 0.0, "dtype": dtype, "log_every": steps,
            "device": args.device}  # fmt: skip
    train_many(problems[:8], **opts)  # type: ignore[arg-type]  # warm-up

    results: list[TrainResult] = []
    worst = [0.0]

    def batched() -> None:
        results[:] = train_many(problems, **opts)  # type: ignore[arg-type]

    def loop() -> None:
        for p, res in zip(problems[:n_loop], results, strict=False):
            net = mtlreg.train(p.X, p.Y, width=width, lam=p.lam, skip=False, seed=p.seed,
                               method="adam", max_steps=steps, lr=p.lr, tol=0.0, dtype=dtype,
                               progress=False, log_every=steps, device=args.device).net  # fmt: skip
            worst[0] = max(worst[0], float(np.abs(net.predict(x) - res.predict(x)).max()))

    walls: dict[str, list[float]] = {"batched": [], "loop": []}
    cpus: dict[str, list[float]] = {"batched": [], "loop": []}
    for _ in range(args.repeats):
        for name, fn in (("batched", batched), ("loop", loop)):
            wall, cpu = _timed(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)
    flops = flops_per_network_step(N, D, n_tasks, width)
    peak = matmul_gflops(2048, dtype, device=args.device)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
        f"{args.threads} thread(s), {args.dtype}, device {args.device}; load average "
        f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )
    print(f"problem: {len(problems)} networks, N={N}, d={D}, T={n_tasks}, width={width}, "
          f"{steps} Adam steps; median of {args.repeats}")  # fmt: skip
    med = {k: statistics.median(v) for k, v in walls.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpus.items()}
    rate_b = len(problems) * steps / med["batched"]
    rate_l = n_loop * steps / med["loop"]
    print(f"batched: {med['batched']:.2f} s wall ({med_cpu['batched']:.2f} s CPU), "
          f"{rate_b:.0f} net-steps/s")  # fmt: skip
    print(f"loop of train() over {n_loop}: {med['loop']:.2f} s wall ({med_cpu['loop']:.2f} s CPU), "
          f"{rate_l:.0f} net-steps/s")  # fmt: skip
    cpu_ratio = (len(problems) / med_cpu["batched"]) / (n_loop / med_cpu["loop"])
    print(f"speed-up: {rate_b / rate_l:.1f}x wall (target >= 20x); per repeat: "
          + ", ".join(f"{(len(problems) / b) / (n_loop / l):.1f}x"
                      for b, l in zip(walls["batched"], walls["loop"], strict=True))
          + f"; CPU seconds: {cpu_ratio:.1f}x")  # fmt: skip
    print(f"max |single - batched| prediction: {worst[0]:.2e}")
    gflops = rate_b * flops / 1e9
    gflops_cpu = len(problems) * steps / med_cpu["batched"] * flops / 1e9
    print(f"batched: {gflops:.2f} GFLOP/s ({flops / 1e3:.0f} kflop per network-step), "
          f"{100 * gflops / peak:.1f}% of a 2048x2048 matmul's {peak:.2f} GFLOP/s "
          f"({gflops_cpu:.2f} GFLOP/s per CPU second)")  # fmt: skip


if __name__ == "__main__":
    main()
