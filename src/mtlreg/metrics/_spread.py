"""Spread of the learned functions across random restarts (docs/theory.md §6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_inputs
from mtlreg.metrics._compat import accepts_output_keyword
from mtlreg.metrics._pointwise import Model, evaluate


@dataclass(frozen=True)
class RestartSpread:
    """How much R restarts of one training recipe disagree on task ``task``.

    Attributes
    ----------
    values
        Predictions, shape (R, M): restart r at point m.
    pointwise_std
        Standard deviation across restarts at each point, shape (M,).
    mean_std, max_std
        Mean and maximum of ``pointwise_std``.
    max_pairwise
        Largest sup-distance max_m |f_r(x_m) - f_s(x_m)| between two restarts.
    """

    values: NDArray[np.float64]
    pointwise_std: NDArray[np.float64]
    mean_std: float
    max_std: float
    max_pairwise: float


@accepts_output_keyword
def restart_spread(models: Sequence[Model], X: ArrayLike, *, task: int = 0) -> RestartSpread:
    """Compare task ``task`` of several trained models on the rows of ``X``.

    "Single-task solutions vary, multi-task solutions are nearly identical": a small
    spread means the recipe lands on the same function from every initialisation.

    Example
    -------
    >>> s = restart_spread([lambda x: 0 * x[:, 0], lambda x: 1 + 0 * x[:, 0]], [[0.0], [1.0]])
    >>> (s.mean_std, s.max_pairwise)
    (0.5, 1.0)
    """
    if isinstance(models, str) or not isinstance(models, Sequence) or len(models) < 2:
        raise ValueError("Parameter `models` should be a sequence of at least two models.")
    x = check_inputs(X, "X")
    values = np.stack([evaluate(m, x, task) for m in models])
    std = values.std(axis=0)
    gaps = np.abs(values[:, None, :] - values[None, :, :]).max(axis=2)
    return RestartSpread(
        values=values,
        pointwise_std=std,
        mean_std=float(std.mean()),
        max_std=float(std.max()),
        max_pairwise=float(gaps.max()),
    )
