"""Exact generalization error of a linear predictor, with no test set.

For a test point ``a ~ N(0, I_d)`` of task t, ``(u, v) = (a . xi_t, a . w)`` is a centred
Gaussian pair with ``Var u = s^2 = ||xi_t||^2``, ``Var v = q = ||w||^2`` and
``Cov(u, v) = m = xi_t . w``. Hence, with label noise of standard deviation ``noise``,

    E[(phi(u) + noise * eps - v)^2] = E[phi(u)^2] + noise^2 - 2 kappa_1 m + q,

(Stein's lemma; ``kappa_1`` from :func:`~mtlreg.linear.link_moments`) and, for
``phi = sign``, ``P(sign(v) != sign(u)) = arccos(m / (s sqrt(q))) / pi``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_array, check_number
from mtlreg.linear._link import Link, check_link, link_moments


@dataclass(frozen=True)
class GeneralizationError:
    """Exact test errors, broadcast over the leading axes of ``xi`` and ``w``.

    Attributes:
        mse: expected squared error on a fresh (noisy) label.
        classification_error: probability that ``sign(a . w)`` misses ``sign(a . xi)``
            (``None`` unless ``phi == "sign"``).
    """

    mse: NDArray[np.float64]
    classification_error: NDArray[np.float64] | None


def generalization_error(
    xi: ArrayLike, w: ArrayLike, phi: Link = "sign", *, noise: float = 0.0
) -> GeneralizationError:
    """Exact error of the linear predictor(s) ``w`` for the task(s) ``xi`` (last axis ``d``)."""
    xi_arr = check_array(xi, "xi", ndim=(1, 2, 3))
    w_arr = check_array(w, "w", ndim=(1, 2, 3))
    if xi_arr.shape[-1] != w_arr.shape[-1]:
        raise ValueError(
            f"Parameter `w` should have last dimension {xi_arr.shape[-1]} like `xi`. "
            f"Found {w_arr.shape[-1]}."
        )
    phi = check_link(phi)
    noise = check_number(noise, "noise", low=0.0)
    s = np.sqrt(np.sum(xi_arr**2, axis=-1))
    if np.any(s == 0.0):
        raise ValueError("Parameter `xi` should have non-zero rows. Found a zero task parameter.")
    q = np.sum(w_arr**2, axis=-1)
    m = np.sum(xi_arr * w_arr, axis=-1)
    moments = link_moments(phi, s)
    mse = moments.second + noise**2 - 2.0 * moments.kappa1 * m + q
    cls = None
    if phi == "sign":
        cos = np.divide(m, s * np.sqrt(q), out=np.zeros_like(m), where=q > 0)
        cls = np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi
    return GeneralizationError(mse=np.asarray(mse), classification_error=cls)
