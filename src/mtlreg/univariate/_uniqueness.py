"""Theorem 3.1: when is the minimum-norm interpolant unique?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_number
from mtlreg.univariate._connect_the_dots import connect_the_dots, row_norms


@dataclass(frozen=True)
class UniquenessReport:
    """Alignment of consecutive slope changes (D_i, D_{i+1}), i = 2..N-2.

    The solution of the interpolation problem is non-unique iff some pair is
    nonzero and aligned (cosine 1). Random auxiliary labels make exact alignment
    a probability-zero event, but a pair can be *nearly* aligned; ``margin`` says
    how close the data is to the degenerate case.

    Attributes
    ----------
    unique
        True when no consecutive pair is aligned (within ``atol``). Also ``bool(report)``.
    cosines
        Cosine between D_i and D_{i+1} for each consecutive pair (NaN if either is 0).
    aligned
        Indices ``j`` (into ``cosines``) of aligned pairs; pair j joins knots
        x[j+1] and x[j+2] of the sorted data.
    knots
        The interior data points x_2..x_{N-1}.
    max_cosine
        Largest finite cosine (-1 if there is no pair of nonzero slope changes).
    margin
        1 - max_cosine: 0 for degenerate data, larger is better conditioned.
    """

    unique: bool
    cosines: NDArray[np.float64]
    aligned: tuple[int, ...]
    knots: NDArray[np.float64]
    max_cosine: float
    margin: float

    def __bool__(self) -> bool:
        return self.unique


def is_unique(x: ArrayLike, Y: ArrayLike, atol: float = 1e-9) -> UniquenessReport:
    """Test Theorem 3.1's uniqueness condition on data (x, Y).

    Parameters
    ----------
    x, Y
        Univariate data, shapes (N,) and (N,) or (N, T).
    atol
        Pairs with cosine >= 1 - atol count as aligned; slope changes with norm
        below ``atol`` times the largest count as zero.

    Example
    -------
    >>> x = [-1.5, -1.0, 0.0, 0.2, 2.0]
    >>> y = [0.7, -0.5, -0.5, 0.5, 0.2]
    >>> rep = is_unique(x, y)
    >>> bool(rep), rep.aligned
    (False, (0,))
    """
    atol = check_number(atol, "atol", low=0.0)
    f = connect_the_dots(x, Y)
    D = f.slope_changes
    norms = row_norms(D)
    scale = float(norms.max()) if norms.size else 0.0
    nonzero = norms > atol * max(scale, 1e-300)
    n_pairs = max(len(D) - 1, 0)
    cos = np.full(n_pairs, np.nan)
    for j in range(n_pairs):
        if nonzero[j] and nonzero[j + 1]:
            cos[j] = float((D[j] / norms[j]) @ (D[j + 1] / norms[j + 1]))
    aligned = tuple(int(j) for j in np.flatnonzero(np.nan_to_num(cos, nan=-2.0) >= 1.0 - atol))
    finite = cos[np.isfinite(cos)]
    max_cos = float(finite.max()) if finite.size else -1.0
    return UniquenessReport(
        unique=not aligned,
        cosines=cos,
        aligned=aligned,
        knots=f.knots,
        max_cosine=max_cos,
        margin=1.0 - max_cos,
    )
