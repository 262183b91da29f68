"""The fit–smoothness frontier of single-task weight decay, and distances from it.

Single-task weight decay traced over a lam path gives, for one data set, a curve of
(task-1 train error, task-1 average gradient norm) pairs: the smoothest function
weight decay buys at each level of fit (at certified optima, docs/theory.md §4 and
§6). A network trained with auxiliary tasks is a point on the same axes. Its signed
distance from the curve at matched train error is

    log10( grad(point) / grad_frontier(train error of the point) )

with the frontier interpolated linearly in (log train error, log gradient norm).
Negative: the point is smoother than weight decay can be at that fit (below the
curve, a better regulariser); zero or positive: on or above it (the auxiliary tasks
act at best as a lam knob). Points whose train error lies outside the range of the
lam path get ``nan`` (no extrapolation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Default band (in log10 units) inside which a median distance counts as "on" the
#: frontier: a factor 10**0.02 ~ 1.047 in gradient norm (our choice, stated in metrics).
ON_FRONTIER_TOL = 0.02


@dataclass(frozen=True)
class Frontier:
    """A single-task frontier: log10 train errors (increasing) and log10 gradient norms."""

    log_err: NDArray[np.float64]
    log_grad: NDArray[np.float64]

    @classmethod
    def from_points(cls, train_err: ArrayLike, grad: ArrayLike) -> Frontier:
        """Build the curve from (train error, gradient norm) pairs of a lam path.

        Non-positive or non-finite values are dropped; points are sorted by train
        error (equal errors are averaged in log space).
        """
        err = np.asarray(train_err, dtype=np.float64).ravel()
        g = np.asarray(grad, dtype=np.float64).ravel()
        if err.shape != g.shape:
            raise ValueError(
                "Parameters `train_err` and `grad` should have the same length. "
                f"Found {err.shape} and {g.shape}."
            )
        keep = np.isfinite(err) & np.isfinite(g) & (err > 0) & (g > 0)
        le, lg = np.log10(err[keep]), np.log10(g[keep])
        order = np.argsort(le, kind="stable")
        le, lg = le[order], lg[order]
        uniq, inverse = np.unique(le, return_inverse=True)
        mean_lg = np.bincount(inverse, weights=lg) / np.bincount(inverse)
        return cls(log_err=uniq, log_grad=mean_lg)

    def __len__(self) -> int:
        return int(self.log_err.size)

    def grad_at(self, train_err: ArrayLike) -> NDArray[np.float64]:
        """Frontier gradient norm at the given train errors (``nan`` outside its range)."""
        err = np.atleast_1d(np.asarray(train_err, dtype=np.float64))
        out = np.full(err.shape, np.nan)
        if len(self) < 2:
            return out
        with np.errstate(divide="ignore", invalid="ignore"):
            le = np.log10(err)
        inside = np.isfinite(le) & (le >= self.log_err[0]) & (le <= self.log_err[-1])
        out[inside] = 10 ** np.interp(le[inside], self.log_err, self.log_grad)
        return out

    def distance(self, train_err: ArrayLike, grad: ArrayLike) -> NDArray[np.float64]:
        """Signed distance log10(grad / frontier(train_err)); ``nan`` outside the range."""
        g = np.atleast_1d(np.asarray(grad, dtype=np.float64))
        ref = self.grad_at(train_err)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.log10(g) - np.log10(ref))


def verdict(distances: ArrayLike, tol: float = ON_FRONTIER_TOL) -> dict[str, object]:
    """Summarise signed distances: median, quartiles, share below, and a one-word verdict.

    ``"below"`` (a better regulariser than weight decay) when the median distance is
    below ``-tol``, ``"above"`` when above ``tol``, ``"on"`` otherwise; ``"undetermined"``
    when no point falls inside the frontier's range of train errors.
    """
    d = np.asarray(distances, dtype=np.float64).ravel()
    inside = d[np.isfinite(d)]
    out: dict[str, object] = {
        "n_points": int(d.size),
        "n_in_range": int(inside.size),
        "tolerance_log10": tol,
    }
    if inside.size == 0:
        out.update(median=math.nan, q25=math.nan, q75=math.nan, fraction_below=math.nan)
        out["verdict"] = "undetermined"
        return out
    med = float(np.median(inside))
    out.update(
        median=med,
        median_ratio=float(10**med),
        q25=float(np.quantile(inside, 0.25)),
        q75=float(np.quantile(inside, 0.75)),
        fraction_below=float(np.mean(inside < 0)),
    )
    out["verdict"] = "below" if med < -tol else "above" if med > tol else "on"
    return out
