"""How often does default training reach the connect-the-dots interpolant?

Issue 2's acceptance check: 20 random univariate datasets (N in 5..12, x ~ U(-2, 2)
sorted, y ~ N(0, 1), two Gaussian auxiliary tasks), ``mtlreg.train(x, Y, width=32,
lam=1e-5, seed=s)``; a dataset passes when output 1 is within 2% of the label range
of f_D on [x_1, x_N]. Prints each dataset (with its smallest input gap and the
uniqueness margin, which explain most failures), the pass count and the times.

Run: ``python benchmarks/bench_reliability.py [--datasets 20]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import mtlreg
from mtlreg.univariate import connect_the_dots, is_unique


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    passed, times = 0, []
    for s in range(args.datasets):
        rng = np.random.default_rng(1000 + s)
        n = int(rng.integers(5, 13))
        x = np.sort(rng.uniform(-2, 2, n))
        y = rng.standard_normal(n)
        Y = mtlreg.aux_tasks(y, 2, seed=s)
        t0 = time.perf_counter()
        res = mtlreg.train(x, Y, width=32, lam=1e-5, seed=s)
        times.append(time.perf_counter() - t0)
        f_d = connect_the_dots(x, Y)
        grid = np.linspace(x[0], x[-1], 2001)
        dev = np.abs(res.net.predict(grid)[:, 0] - f_d(grid)[:, 0]).max() / np.ptp(y)
        passed += dev < 0.02
        margin = is_unique(x, Y).margin
        print(
            f"dataset {s:2d}: N={n:2d} min gap {np.diff(x).min():.3f} margin {margin:.2e} "
            f"VV/R* {res.penalty / f_d.norm():.4f} deviation {dev:.4f} {times[-1]:.1f} s"
        )
    print(
        f"passed {passed}/{args.datasets}; median {np.median(times):.1f} s, max {max(times):.1f} s"
    )


if __name__ == "__main__":
    main()
