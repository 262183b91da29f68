"""Exact univariate theory (docs/theory.md §3).

The connect-the-dots interpolant f_D always attains the minimal VV norm
R* = sum_i ||D_i||; it is the unique minimiser unless two consecutive slope-change
vectors are aligned (Theorem 3.1), which random auxiliary tasks almost surely
prevent. For lam > 0, :func:`weight_decay_optimum` gives the exact global minimiser
of the weight-decay objective (the connect-the-dots interpolant of fitted values).

>>> from mtlreg.univariate import connect_the_dots, min_norm, is_unique
>>> x = [-1.5, -1.0, 0.0, 0.2, 2.0]
>>> y = [0.7, -0.5, -0.5, 0.5, 0.2]
>>> round(min_norm(x, y), 3)
12.567
>>> bool(is_unique(x, y))
False
"""

from mtlreg.univariate._ambiguity import AmbiguityBand, ambiguity_band
from mtlreg.univariate._connect_the_dots import (
    ConnectTheDots,
    connect_the_dots,
    min_norm,
    slope_changes,
    slopes,
)
from mtlreg.univariate._regularized import (
    WeightDecayOptimum,
    slope_change_operator,
    weight_decay_optimum,
)
from mtlreg.univariate._uniqueness import UniquenessReport, is_unique

__all__ = [
    "AmbiguityBand",
    "ConnectTheDots",
    "UniquenessReport",
    "WeightDecayOptimum",
    "ambiguity_band",
    "connect_the_dots",
    "is_unique",
    "min_norm",
    "slope_change_operator",
    "slope_changes",
    "slopes",
    "weight_decay_optimum",
]
