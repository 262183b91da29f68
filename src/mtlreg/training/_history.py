"""Records of a training run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

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

    def __len__(self) -> int:
        return len(self.step)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`mtlreg.train`.

    Attributes
    ----------
    net
        The trained network (balanced, so WD equals the VV norm).
    history
        Logged objective, fit, penalty, VV norm and active neurons.
    converged
        Whether the stopping test (relative objective change below ``tol``) passed.
    objective, fit, penalty
        Final objective = fit + lam * penalty, in the run's loss convention.
    steps, seconds
        Optimiser steps taken and wall-clock time.
    config
        The settings of the run (lam, width, method, loss convention, ...).
    """

    net: ShallowReLUNet
    history: TrainHistory
    converged: bool
    objective: float
    fit: float
    penalty: float
    steps: int
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)
