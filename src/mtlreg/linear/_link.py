"""Link functions of the misspecified perceptron and their Gaussian moments.

For u ~ N(0, s^2) the squared error of a linear predictor only needs two moments of
the link: ``E[phi(u)^2]`` and ``kappa_1 = E[g phi(s g)] / s`` (g ~ N(0, 1)), the
slope of the best linear approximation of ``phi`` (Stein's lemma). They are closed
forms for the named links and 1-D Gauss-Hermite quadrature for a callable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_choice

LINKS: tuple[str, ...] = ("sign", "relu", "identity")

Link = str | Callable[[NDArray[np.float64]], NDArray[np.float64]]

_GH_ORDER = 80


def check_link(phi: Any, name: str = "phi") -> Link:
    """A link name from :data:`LINKS` or a vectorised callable."""
    if callable(phi):
        return phi
    return check_choice(phi, name, LINKS)


def apply_link(phi: Link, u: NDArray[np.float64]) -> NDArray[np.float64]:
    """``phi(u)`` elementwise (``sign(0) = 1`` so labels are never 0)."""
    if callable(phi):
        return np.asarray(phi(np.asarray(u, dtype=float)), dtype=float)
    if phi == "sign":
        return np.where(u >= 0.0, 1.0, -1.0)
    if phi == "relu":
        return np.maximum(u, 0.0)
    return np.asarray(u, dtype=float)


@dataclass(frozen=True)
class LinkMoments:
    """Moments of ``phi(s g)``, g ~ N(0, 1), broadcast over ``s``.

    Attributes:
        second: ``E[phi(s g)^2]``.
        kappa1: ``E[g phi(s g)] / s``, the slope of the linear part of ``phi``.
    """

    second: NDArray[np.float64]
    kappa1: NDArray[np.float64]


def link_moments(phi: Link, s: ArrayLike) -> LinkMoments:
    """Closed-form (named links) or Gauss-Hermite (callables) moments at scale ``s > 0``."""
    s_arr = np.asarray(s, dtype=float)
    if phi == "sign":
        return LinkMoments(np.ones_like(s_arr), np.sqrt(2.0 / np.pi) / s_arr)
    if phi == "relu":
        return LinkMoments(s_arr**2 / 2.0, np.full_like(s_arr, 0.5))
    if phi == "identity":
        return LinkMoments(s_arr**2, np.ones_like(s_arr))
    nodes, weights = np.polynomial.hermite_e.hermegauss(_GH_ORDER)
    weights = weights / weights.sum()
    values = apply_link(phi, s_arr[..., None] * nodes)
    second = values**2 @ weights
    kappa1 = (values * nodes) @ weights / s_arr
    return LinkMoments(np.asarray(second), np.asarray(kappa1))
