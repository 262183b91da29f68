"""Second-order total variation of a univariate function (docs/theory.md §6)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mtlreg._validation import check_int, check_number
from mtlreg.metrics._compat import accepts_output_keyword
from mtlreg.metrics._pointwise import Model, evaluate
from mtlreg.model import ShallowReLUNet


@accepts_output_keyword
def second_order_tv(
    model: Model,
    interval: tuple[float, float],
    *,
    task: int = 0,
    n_grid: int = 4001,
) -> float:
    """TV^2 = integral of |f''| over ``interval``: the sum of |slope changes| of f.

    For a one-input :class:`~mtlreg.ShallowReLUNet` the kinks -b_k / w_k are added to
    the grid, so the value is exact for the piecewise-linear function (coinciding
    kinks are merged, so cancelling neurons count once). For other models f is
    evaluated on ``n_grid`` equispaced points and its piecewise-linear interpolant is
    measured, which is exact when each grid cell holds at most one kink.

    Example
    -------
    >>> from mtlreg.univariate import connect_the_dots
    >>> net = connect_the_dots([0.0, 1.0, 2.0], [0.0, 1.0, 0.0]).to_network()
    >>> round(second_order_tv(net, (-1.0, 3.0)), 12)
    2.0
    """
    lo = check_number(interval[0], "interval[0]")
    hi = check_number(interval[1], "interval[1]", low=lo, low_inclusive=False)
    n_grid = check_int(n_grid, "n_grid", low=3)
    grid = _grid(model, lo, hi, n_grid)
    values = evaluate(model, grid[:, None], task)
    slopes = np.diff(values) / np.diff(grid)
    return float(np.abs(np.diff(slopes)).sum())


def _grid(model: Model, lo: float, hi: float, n_grid: int) -> NDArray[np.float64]:
    if isinstance(model, ShallowReLUNet) and model.in_dim == 1:
        w = model.w.detach().cpu().double().numpy()[:, 0]
        b = model.b.detach().cpu().double().numpy()
        nz = w != 0
        kinks = -b[nz] / w[nz]
        kinks = kinks[(kinks > lo) & (kinks < hi)]
        # The kinks and one point between consecutive kinks: exact for ReLU nets.
        pts = np.unique(np.concatenate([[lo, hi], kinks]))
        mids = 0.5 * (pts[:-1] + pts[1:])
        return np.unique(np.concatenate([pts, mids]))
    return np.linspace(lo, hi, n_grid)
