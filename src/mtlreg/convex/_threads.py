"""One BLAS thread for small problems (private to :mod:`mtlreg.convex`).

The coordinate-descent solvers make many small BLAS calls (products with a few hundred
columns). Spread over several threads, each call costs more in synchronisation than it
saves, and much more when the cores are shared with other processes: on the 2-core
development machine with two other busy processes, the group lasso of
``benchmarks/bench_convex.py`` at N = 100 (P = 2000 atoms, T = 11) took 1.06 s of wall
time with the default two OpenBLAS threads and 0.21 s with one (benchmarks/README.md).
Large problems keep the default, where each product is big enough to share.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Any

from threadpoolctl import ThreadpoolController

#: Up to this many entries of the matrix the solver multiplies with (N x P), BLAS runs
#: on one thread.
SMALL_PROBLEM = 4_000_000


@cache
def _controller() -> ThreadpoolController:
    # inspecting the loaded libraries costs milliseconds: once per process
    return ThreadpoolController()


def blas_threads_for(size: int) -> AbstractContextManager[Any]:
    """A context that runs BLAS on one thread when ``size <= SMALL_PROBLEM``."""
    if size > SMALL_PROBLEM:
        return nullcontext()
    return _controller().limit(limits=1, user_api="blas")
