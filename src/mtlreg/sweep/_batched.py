"""Deprecated: :func:`train_batched`, the ``adam`` recipe for many runs.

Use :func:`mtlreg.training.train_many` with ``method="adam"``; this thin alias calls
it and will be removed in the next release.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from numpy.typing import ArrayLike

from mtlreg._validation import check_int, check_number
from mtlreg.model import ShallowReLUNet
from mtlreg.training import Problem, TrainingError, TrainResult, train_many


@dataclass(frozen=True)
class BatchedRun:
    """One network of a batch (deprecated: use :class:`mtlreg.training.Problem`)."""

    X: ArrayLike
    Y: ArrayLike
    width: int
    lam: float
    seed: int
    skip: bool = True
    lr: float = 1e-3
    init: str = "data"
    task_reduction: str = "sum"

    def problem(self) -> Problem:
        """The same run as a :class:`mtlreg.training.Problem`."""
        return Problem(
            self.X,
            self.Y,
            self.width,
            self.lam,
            self.seed,
            self.skip,
            self.init,
            self.task_reduction,
            self.lr,
        )


@dataclass(frozen=True)
class BatchedResult:
    """Outcome of one run of :func:`train_batched` (deprecated)."""

    net: ShallowReLUNet
    objective: float
    fit: float
    penalty: float
    vv_norm: float
    active: int
    steps: int
    diverged: bool


def _problems(runs: Sequence[BatchedRun]) -> list[Problem]:
    if len(runs) == 0:
        raise ValueError("Parameter `runs` should contain at least one run. Found 0.")
    out = []
    for i, run in enumerate(runs):
        if not isinstance(run, BatchedRun):
            raise TypeError(f"Parameter `runs[{i}]` should be a BatchedRun. Found {type(run)!r}.")
        out.append(run.problem())
    return out


def _fields(res: TrainResult | TrainingError, steps: int) -> dict[str, object]:
    if isinstance(res, TrainingError):
        nan = math.nan
        net = ShallowReLUNet(1, 1, 1, dtype=torch.float64, init="zeros")
        return {
            "net": net,
            "objective": nan,
            "fit": nan,
            "penalty": nan,
            "vv_norm": nan,
            "active": 0,
            "steps": steps,
            "diverged": True,
        }
    with torch.no_grad():
        vv = float(res.net.vv_norm())
        active = int(res.net.active(1e-6).sum())
    return {
        "net": res.net,
        "objective": res.objective,
        "fit": res.fit,
        "penalty": res.penalty,
        "vv_norm": vv,
        "active": active,
        "steps": res.n_iter,
        "diverged": not math.isfinite(res.objective),
    }


def train_batched(
    runs: Sequence[BatchedRun],
    *,
    steps: int,
    lr_decay: float = 1.0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    **_ignored: object,
) -> list[BatchedResult]:
    """Deprecated alias: ``train_many(..., method="adam", max_steps=steps, tol=0)``.

    Minimises ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` for every run
    (docs/theory.md §1). A diverged run is returned with ``diverged=True``.
    """
    warnings.warn(
        "mtlreg.sweep.train_batched is deprecated; use mtlreg.training.train_many("
        "problems, method='adam').",
        DeprecationWarning,
        stacklevel=2,
    )
    steps = check_int(steps, "steps", low=1)
    lr_decay = check_number(lr_decay, "lr_decay", low=0.0, low_inclusive=False)
    problems = _problems(runs)
    results = train_many(problems, method="adam", max_steps=steps, tol=0.0, restarts=1,
                         lr_decay=lr_decay, device=device, dtype=dtype,
                         on_error="return")  # fmt: skip
    return [BatchedResult(**_fields(r, steps)) for r in results]  # type: ignore[arg-type]
