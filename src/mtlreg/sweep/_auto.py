"""Deprecated: :func:`train_auto_batched`, the ``continuation`` recipe for many runs.

Use :func:`mtlreg.training.train_many` with ``method="continuation"``; this thin
alias calls it and will be removed in the next release.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mtlreg._validation import check_int, check_number
from mtlreg.sweep._batched import BatchedResult, BatchedRun, _fields, _problems
from mtlreg.training import TrainResult, train_many


@dataclass(frozen=True)
class AutoBatchedResult(BatchedResult):
    """A :class:`BatchedResult` with the stationarity of the returned restart."""

    rel_change: float = math.nan
    best_restart: int = 0


def train_auto_batched(
    runs: Sequence[BatchedRun],
    *,
    steps: int,
    restarts: int = 4,
    lam_start: float = 1e-3,
    dtype: torch.dtype = torch.float64,
) -> list[AutoBatchedResult]:
    """Deprecated alias: ``train_many(..., method="continuation", max_steps=steps, tol=0)``.

    Minimises ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` for every run
    (docs/theory.md §1); each run's ``lr`` is in rescaled units, as for ``train``.
    """
    warnings.warn(
        "mtlreg.sweep.train_auto_batched is deprecated; use mtlreg.training.train_many("
        "problems, method='continuation').",
        DeprecationWarning,
        stacklevel=2,
    )
    steps = check_int(steps, "steps", low=1)
    restarts = check_int(restarts, "restarts", low=1)
    lam_start = check_number(lam_start, "lam_start", low=0.0)
    problems = _problems(runs)
    results = train_many(problems, method="continuation", max_steps=steps, tol=0.0,
                         restarts=restarts, lam_start=lam_start, dtype=dtype, prune=False,
                         on_error="return")  # fmt: skip
    out = []
    for r in results:
        extra = {"rel_change": math.nan, "best_restart": 0}
        if isinstance(r, TrainResult):
            window = min(1000, max(steps // 2, 1))
            extra = {"rel_change": r.history.rel_change(window),
                     "best_restart": int(r.config.get("best_restart", 0))}  # fmt: skip
        out.append(AutoBatchedResult(**_fields(r, steps), **extra))  # type: ignore[arg-type]
    return out
