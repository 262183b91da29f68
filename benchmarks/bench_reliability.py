"""How often does default training reach the connect-the-dots interpolant?

Issue 2's acceptance check: 20 random univariate datasets (N in 5..12, x ~ U(-2, 2)
sorted, y ~ N(0, 1), two Gaussian auxiliary tasks), ``mtlreg.train(x, Y, width=32,
lam=1e-5, seed=s)``; a dataset passes when output 1 is within 2% of the label range
of f_D on [x_1, x_N]. Runs the default trainer (``method="auto"``: in 1-D the exact,
certified global optimum) and the gradient trainer (``method="continuation"``), and
prints for each dataset its smallest input gap, the uniqueness margin, both
deviations, and the gradient run's objective excess over the certified optimum
(which separates local minima from the regularisation's own bias), then the pass
counts and the times.

Run: ``python benchmarks/bench_reliability.py [--datasets 20]``

``--prune-check`` (issue 16) instead validates the default pruning of restarts of
``method="continuation"``: on the 20 datasets above, the paper's five points (+ 2
Gaussian tasks, seeds 0-4, width 32, lam 1e-5) and the two-squares data with 100
Bernoulli auxiliary tasks (T = 101, lam 1e-3, width 64, no skip, seeds 0-5), it trains
each problem with the default (4 restarts, pruned to the best at 70% of the steps) and
with ``prune=False`` (4 full restarts), and prints the default's relative objective
excess over the full run, both times (CPU seconds) and, for two squares, the excess over
the certified optimum (``mtlreg.convex.solve``). ``--first`` selects the first datasets
of each set.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import mtlreg
from mtlreg.univariate import connect_the_dots, is_unique, weight_decay_optimum

FIVE_X = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
FIVE_Y = np.array([0.7, -0.5, -0.5, 0.5, 0.2])


def random_1d(s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dataset ``s`` of the reliability check: (x, y, Y with two Gaussian tasks)."""
    rng = np.random.default_rng(1000 + s)
    n = int(rng.integers(5, 13))
    x = np.sort(rng.uniform(-2, 2, n))
    y = rng.standard_normal(n)
    return x, y, mtlreg.aux_tasks(y, 2, seed=s)


def prune_check(first: int) -> None:
    """The default (pruned) restarts against 4 full restarts on three sets."""
    from mtlreg.convex import solve

    corners = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    squares = np.concatenate([corners, 2 * corners])
    labels = np.concatenate([np.ones(4), np.zeros(4)])
    cases: list[tuple[str, np.ndarray, np.ndarray, dict[str, object]]] = []
    for s in range(min(first, 20)):
        x, _, Y = random_1d(s)
        cases.append((f"random 1-D {s:2d}", x, Y, {"width": 32, "lam": 1e-5, "seed": s}))
    five = mtlreg.aux_tasks(FIVE_Y, 2, seed=0)
    for s in range(min(first, 5)):
        cases.append((f"five points {s}", FIVE_X, five, {"width": 32, "lam": 1e-5, "seed": s}))
    for s in range(min(first, 6)):
        Y = mtlreg.aux_tasks(labels, 100, dist="bernoulli", seed=s)
        kw = {"width": 64, "lam": 1e-3, "seed": s, "skip": False}
        cases.append((f"two squares {s}", squares, Y, kw))
    excess = []
    cpu = {"default": 0.0, "full": 0.0}
    for name, x, Y, kw in cases:
        line = [f"{name}:"]
        res = {}
        for label, prune in (("default", None), ("full", False)):
            c0 = time.process_time()
            res[label] = mtlreg.train(x, Y, method="continuation", prune=prune, **kw)  # type: ignore[arg-type]
            seconds = time.process_time() - c0
            cpu[label] += seconds
            line.append(f"{label} {res[label].objective:.6e} ({seconds:.1f} s CPU)")
        ex = res["default"].objective / res["full"].objective - 1
        excess.append(ex)
        line.append(f"excess {ex:+.1e}")
        if x.ndim == 2:
            opt = solve(x, Y, float(kw["lam"])).objective  # type: ignore[arg-type]
            line.append(f"vs certified {res['default'].objective / opt - 1:+.1e}")
        print(" | ".join(line), flush=True)
    ex = np.array(excess)
    print(f"{len(ex)} problems: default within 0.1% of 4 full restarts on {(ex <= 1e-3).sum()}, "
          f"within 1% on {(ex <= 1e-2).sum()}; largest excess {ex.max():+.1e}; "
          f"CPU default / full {cpu['default'] / cpu['full']:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--prune-check", action="store_true", help="validate restart pruning")
    parser.add_argument("--first", type=int, default=20, help="--prune-check: cases per set")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.prune_check:
        prune_check(args.first)
        return
    methods = ("auto", "continuation")
    passed = dict.fromkeys(methods, 0)
    times: dict[str, list[float]] = {m: [] for m in methods}
    for s in range(args.datasets):
        x, y, Y = random_1d(s)
        n = len(x)
        f_d = connect_the_dots(x, Y)
        grid = np.linspace(x[0], x[-1], 2001)
        optimum = weight_decay_optimum(x, Y, 1e-5)
        line = [f"dataset {s:2d}: N={n:2d} min gap {np.diff(x).min():.3f}"]
        line.append(f"margin {is_unique(x, Y).margin:.1e}")
        for method in methods:
            t0 = time.perf_counter()
            res = mtlreg.train(x, Y, width=32, lam=1e-5, seed=s, method=method)
            times[method].append(time.perf_counter() - t0)
            dev = np.abs(res.net.predict(grid)[:, 0] - f_d(grid)[:, 0]).max() / np.ptp(y)
            passed[method] += dev < 0.02
            line.append(f"{method} dev {dev:.4f} {times[method][-1]:.2f} s")
            if method != "auto":
                excess = (res.objective - optimum.objective) / optimum.objective
                line.append(f"excess {excess:.1e}")
        print(" | ".join(line))
    for method in methods:
        t = times[method]
        print(
            f"{method}: passed {passed[method]}/{args.datasets}; "
            f"median {np.median(t):.3f} s, max {max(t):.3f} s"
        )


if __name__ == "__main__":
    main()
