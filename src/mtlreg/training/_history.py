"""Records of a training run: its logged history and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._result import GapFromBound
from mtlreg.model import ShallowReLUNet

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TrainHistory:
    """Objective terms logged during training, one entry per logged step.

    ``objective = fit + lam * penalty`` with ``penalty`` the weight decay WD.
    """

    step: NDArray[np.int64]
    objective: NDArray[np.float64]
    fit: NDArray[np.float64]
    penalty: NDArray[np.float64]
    vv_norm: NDArray[np.float64]
    active: NDArray[np.int64]
    phase: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """The history as a tidy pandas DataFrame (one row per logged step)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "step": self.step,
                "phase": list(self.phase),
                "objective": self.objective,
                "fit": self.fit,
                "penalty": self.penalty,
                "vv_norm": self.vv_norm,
                "active": self.active,
            }
        )

    def rel_change(self, window: int = 1000) -> float:
        """Relative change of the logged objective over the last ``window`` steps.

        ``nan`` with fewer than two entries. This is the quantity the stopping rule
        compares with ``tol`` (docs/theory.md §1).
        """
        if len(self.step) < 2:
            return float("nan")
        back = int(np.searchsorted(self.step, self.step[-1] - window))
        back = min(back, len(self.step) - 2)
        last = float(self.objective[-1])
        return abs(float(self.objective[back]) - last) / max(abs(last), 1e-300)

    def __len__(self) -> int:
        return len(self.step)


@dataclass(frozen=True)
class TrainResult(GapFromBound):
    """Outcome of :func:`mtlreg.train` or one problem of :func:`mtlreg.training.train_many`.

    Follows the package's result protocol (:class:`mtlreg._result.SolverResult`) for
    the objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` (the fit divided
    by T as well with ``task_reduction="mean"``), with ``penalty`` the weight decay WD
    of the returned, balanced network (so WD equals its VV norm; docs/theory.md §1).

    Attributes
    ----------
    net
        The trained network (balanced).
    history
        Logged objective, fit, penalty, VV norm and active neurons.
    converged
        Exact 1-D and certified paths: the relative gap to a proven lower bound,
        measured on the original problem, is at most ``tol`` (``max(tol, 1e-9)`` for
        the certified solver). Gradient recipes: the stopping rule held (relative
        objective change over 1000 steps of the final phase at most ``tol``); this is
        stationarity, not a certificate. Under ``auto`` such a network may still carry
        a proven ``lower_bound`` (``config["certified"]`` says whether its gap is
        certified).
    objective, fit, penalty
        Final objective = fit + lam * penalty, measured on the original data.
    lower_bound
        A proven lower bound on the optimum over all networks (exact 1-D and
        certified paths, and ``auto``'s gradient fallback where a bound was
        computed); ``nan`` otherwise.
    n_iter, seconds
        Iterations taken (optimiser steps, or the exact solver's iterations) and
        wall-clock time. ``steps`` is an alias of ``n_iter``.
    config
        The settings of the run (lam, width, method, loss convention, ...).
    """

    net: ShallowReLUNet
    history: TrainHistory
    converged: bool
    objective: float
    fit: float
    penalty: float
    n_iter: int
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)
    lower_bound: float = float("nan")

    @property
    def steps(self) -> int:
        """Alias of :attr:`n_iter`."""
        return self.n_iter

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """The trained network on inputs of shape (M,) or (M, d); returns (M, T)."""
        return self.net.predict(X)

    def to_network(self) -> ShallowReLUNet:
        """An independent copy of the trained (balanced) network."""
        return self.net.copy()
