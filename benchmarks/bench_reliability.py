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
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import mtlreg
from mtlreg.univariate import connect_the_dots, is_unique, weight_decay_optimum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    methods = ("auto", "continuation")
    passed = dict.fromkeys(methods, 0)
    times: dict[str, list[float]] = {m: [] for m in methods}
    for s in range(args.datasets):
        rng = np.random.default_rng(1000 + s)
        n = int(rng.integers(5, 13))
        x = np.sort(rng.uniform(-2, 2, n))
        y = rng.standard_normal(n)
        Y = mtlreg.aux_tasks(y, 2, seed=s)
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
