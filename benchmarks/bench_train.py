"""Time until output 1 is within 1% of f_D: mtlreg.train vs a plain-PyTorch Adam loop.

``mtlreg.train``'s default (``method="auto"``) solves 1-D problems exactly (the
certified global optimum, :func:`mtlreg.univariate.weight_decay_optimum`); its
gradient trainer (``method="continuation"``, what ``auto`` uses in d > 1) is timed
too, so both ratios are printed.

Data: the paper's five univariate points plus two Gaussian auxiliary tasks (fixed
labels, seed 0, a well-conditioned draw). Reference: the papers' recipe written as
a plain PyTorch loop (Adam, lr 1e-3, weight decay 1e-4 on the hidden and output
weights, width 10, mean-squared error), checked every 250 steps. Both use one
thread. Prints each initialisation's time, the medians and their ratio.

Run: ``python benchmarks/bench_train.py [--inits 5] [--budget 300]``

``--per-step`` (issue 16) instead times the trainer's cost per step against a plain
PyTorch float64 loop (autograd + ``torch.optim.Adam``, the same network and
objective) at N = 100, 1,000 and 10,000 (d = 10, T = 11, width 64, 1,000 steps,
1 thread): ``train(method="continuation", restarts=1)``, the default (pruned) restarts,
``prune=False`` (4 full restarts) and ``dtype=float32``, in CPU seconds; it prints
same-run ratios and the growth from N = 1,000 to 10,000. ``--sizes`` and ``--steps``
shrink it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

import mtlreg
from mtlreg.univariate import connect_the_dots

X = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
Y1 = np.array([0.7, -0.5, -0.5, 0.5, 0.2])
TARGET = 0.01  # fraction of the label range, max norm on [x_1, x_N]


def deviation(predict, f_d, grid: np.ndarray) -> float:
    return float(np.abs(predict(grid) - f_d(grid)[:, 0]).max() / np.ptp(Y1))


def plain_adam(Y: np.ndarray, seed: int, budget: float, f_d, grid: np.ndarray) -> float:
    """The papers' recipe as a plain loop; returns seconds to reach TARGET (inf if not)."""
    torch.manual_seed(seed)
    hidden, out, skip = (
        nn.Linear(1, 10),
        nn.Linear(10, Y.shape[1], bias=False),
        nn.Linear(1, Y.shape[1]),
    )
    nn.init.zeros_(skip.weight)
    params = [
        {"params": [hidden.weight, out.weight], "weight_decay": 1e-4},
        {"params": [hidden.bias, skip.weight, skip.bias], "weight_decay": 0.0},
    ]
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.tensor(X, dtype=torch.float32)[:, None]
    y = torch.tensor(Y, dtype=torch.float32)
    g = torch.tensor(grid, dtype=torch.float32)[:, None]

    def f(z: torch.Tensor) -> torch.Tensor:
        return out(torch.relu(hidden(z))) + skip(z)

    t0 = time.perf_counter()
    step = 0
    while time.perf_counter() - t0 < budget:
        opt.zero_grad()
        loss = ((f(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        step += 1
        if step % 250 == 0:
            with torch.no_grad():
                dev = deviation(lambda _: f(g)[:, 0].numpy(), f_d, grid)
            if dev <= TARGET:
                return time.perf_counter() - t0
    return float("inf")


def mtlreg_trainer(
    Y: np.ndarray, seed: int, f_d, grid: np.ndarray, method: str
) -> tuple[float, float]:
    t0 = time.perf_counter()
    res = mtlreg.train(X, Y, width=32, lam=1e-5, seed=seed, method=method)
    seconds = time.perf_counter() - t0
    dev = deviation(lambda z: res.net.predict(z)[:, 0], f_d, grid)
    return (seconds if dev <= TARGET else float("inf")), dev


def plain_loop(
    X: np.ndarray, Y: np.ndarray, width: int, lam: float, steps: int
) -> tuple[float, float]:
    """(wall, CPU) seconds of ``steps`` plain float64 Adam steps (autograd), same objective."""
    net = mtlreg.training.initial_network(X, Y, width, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.as_tensor(X), torch.as_tensor(Y)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).sum() / len(x) + lam * net.weight_decay()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, time.process_time() - c0


def per_step(sizes: list[int], steps: int) -> None:
    """Trainer per-step cost vs the plain loop (issue 16's acceptance).

    Every entry is CPU seconds of this process (what the run costs on an idle core);
    the wall seconds of the plain loop are printed for reference.
    """
    import os

    d, t, width, lam = 10, 11, 64, 1e-3
    print(f"1 thread, float64 unless stated; d={d}, T={t}, width {width}, {steps} steps; "
          f"CPU seconds; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())} on "
          f"{os.cpu_count()} cpus")  # fmt: skip
    header = "N", "plain wall", "plain", "1 restart", "ratio", "default", "vs 1", "no prune", \
        "vs 1", "float32", "vs 1"  # fmt: skip
    print("{:>6s} {:>10s} {:>7s} {:>9s} {:>6s} {:>8s} {:>5s} {:>8s} {:>5s} {:>8s} {:>5s}"
          .format(*header))  # fmt: skip
    warm = np.random.default_rng(0).standard_normal((20, d))
    for dtype in (torch.float64, torch.float32):  # imports and compiled kernels, not timed
        mtlreg.train(warm, warm[:, :2], width=4, lam=lam, method="continuation", max_steps=2,
                     dtype=dtype, progress=False)  # fmt: skip
    ones = {}
    for n in sizes:
        rng = np.random.default_rng(n)
        X = rng.standard_normal((n, d))
        Y = mtlreg.aux_tasks(np.sin(X.sum(axis=1)), t - 1, seed=0)
        plain_wall, plain = plain_loop(X, Y, width, lam, steps)

        def ours(X: np.ndarray = X, Y: np.ndarray = Y, **kw: object) -> float:
            c0 = time.process_time()
            mtlreg.train(X, Y, width=width, lam=lam, seed=0, method="continuation",
                         max_steps=steps, tol=0.0, progress=False, **kw)  # type: ignore[arg-type]  # fmt: skip
            return time.process_time() - c0

        one = ours(restarts=1)
        default = ours()
        full = ours(prune=False)
        single = ours(restarts=1, dtype=torch.float32)
        ones[n] = one
        print(f"{n:6d} {plain_wall:10.2f} {plain:7.2f} {one:9.2f} {one / plain:6.2f} "
              f"{default:8.2f} {default / one:5.2f} {full:8.2f} {full / one:5.2f} "
              f"{single:8.2f} {single / one:5.2f}")  # fmt: skip
    if 1000 in ones and 10000 in ones:
        print(f"growth N 1,000 -> 10,000 (1 restart): {ones[10000] / ones[1000]:.1f}x "
              "(target <= 12x)")  # fmt: skip
    print("targets: 1 restart <= 1.2x plain at N = 10,000; default <= 2x one restart")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inits", type=int, default=5)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per plain run")
    parser.add_argument("--per-step", action="store_true", help="issue 16's per-step timing")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.per_step:
        per_step(args.sizes, args.steps)
        return
    Y = mtlreg.aux_tasks(Y1, n_aux=2, seed=0)
    rep = mtlreg.univariate.is_unique(X, Y)
    f_d = connect_the_dots(X, Y)
    grid = np.linspace(X[0], X[-1], 701)
    print(f"data: paper's 5 points + 2 Gaussian tasks (max cosine {rep.max_cosine:.3f})")
    ours, cont, plain = [], [], []
    for seed in range(args.inits):
        t_ours, dev = mtlreg_trainer(Y, seed, f_d, grid, "auto")
        t_cont, dev_cont = mtlreg_trainer(Y, seed, f_d, grid, "continuation")
        t_plain = plain_adam(Y, seed, args.budget, f_d, grid)
        ours.append(t_ours)
        cont.append(t_cont)
        plain.append(t_plain)
        print(f"init {seed}: default (exact) {t_ours:6.3f} s (dev {dev:.1e})", end="  ")
        print(f"continuation {t_cont:6.2f} s (dev {dev_cont:.1e})", end="  ")
        print(f"plain Adam {t_plain:7.2f} s")
    m_ours, m_cont = statistics.median(ours), statistics.median(cont)
    m_plain = statistics.median(plain)
    print(
        f"median: default {m_ours:.3f} s, continuation {m_cont:.2f} s, "
        f"plain Adam loop {m_plain:.2f} s"
    )
    print(f"speed-up of the default trainer (plain / default): {m_plain / m_ours:.0f}x")
    print(f"speed-up of the gradient trainer (plain / continuation): {m_plain / m_cont:.1f}x")


if __name__ == "__main__":
    main()
