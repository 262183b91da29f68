r"""Asymptotic test error of the multi-task estimator (d, n_t -> infinity, n_t/d = alpha).

Derivation (see also :mod:`mtlreg.linear` for the notation).

1. Gaussian equivalence. With ``s^2 = ||xi_t||^2 -> 1 + sigma^2`` and the link moments
   ``kappa_1``, ``E[phi^2]``, labels behave like ``y = a . beta_t + z`` with
   ``beta_t = kappa_1 xi_t`` and noise variance ``tau^2 = E[phi^2] + noise^2 -
   kappa_1^2 s^2`` (a link mean, as for relu, is part of ``tau^2``: the estimator has no
   intercept). The error of ``w_t`` is then ``tau^2 + ||beta_t - w_t||^2``.
2. Lifting. In ``omega = (w_0, v_1, ..., v_T)`` sample (t, i) has feature
   ``f_t (x) a_{t,i}`` with ``f_t = e_0 + e_t``, the penalty is
   ``d * omega' (Lambda (x) I) omega`` with ``Lambda = diag(l0, l, ..., l)``, and the
   target is ``omega* = kappa_1 (v_0, sigma v_1, ..., sigma v_T)`` ~
   ``N(0, kappa_1^2 P (x) I/d)``, ``P = diag(1, sigma^2, ..., sigma^2)``: a well-specified
   ridge regression whose samples come in T groups with covariances ``f_t f_t' (x) I``.
   Equivalently, up to the scaling ``sqrt(lambda)``, it is ridge in the lifted
   ``(T+1) d`` space with features ``u_t (x) a`` (docs/theory.md §8).
3. Deterministic equivalent. ``R = (X'X/d + Lambda (x) I)^-1`` behaves like ``G (x) I``
   with ``G = (Lambda + alpha sum_t c_t f_t f_t')^-1``, ``c_t = 1/(1 + delta_t)``,
   ``delta_t = f_t' G f_t`` (samples with different covariances; e.g. Couillet & Liao,
   *Random Matrix Methods for Machine Learning*, 2022) — a scalar fixed point ``c`` by
   symmetry of the tasks, solved by bracketing. For ``T = 1`` it is the Marchenko-Pastur
   equation of ridge with ``l0 l / (l0 + l)`` (Hastie, Montanari, Rosset & Tibshirani).
4. Errors. With ``S = f_1 f_1'`` and ``G'[N]`` the derivative of ``G`` when ``Lambda``
   moves along ``N`` (implicit differentiation of the fixed point, a T x T solve):
   ``bias = -kappa_1^2 tr(Lambda P Lambda G'[S])``,
   ``variance = tau^2 (tr(S G) + tr(S G'[Lambda]))``,
   ``m = xi_t . w_t = kappa_1 (s^2 - tr(Lambda P S G))``,
   and ``q = ||w_t||^2`` follows from ``mse = E[phi^2] + noise^2 - 2 kappa_1 m + q``.
5. Ridgeless limits (``l0 = 0`` and/or ``l = 0``) are the limits of these smooth
   functions of the penalties; they are evaluated by Richardson extrapolation
   ``2 f(h) - f(2h)`` with a relative step ``h = 1e-6`` (error O(h^2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from mtlreg._validation import check_int, check_number
from mtlreg.linear._link import Link, check_link, link_moments

_STEP = 1e-6


@dataclass(frozen=True)
class TheoryError:
    """Asymptotic errors of one task of the multi-task estimator.

    Attributes:
        mse: squared test error (on a fresh noisy label).
        classification_error: ``P(sign(a.w_t) != sign(a.xi_t))`` (``None`` unless sign).
        overlap: limit of ``xi_t . w_t``.
        norm2: limit of ``||w_t||^2``.
        bias: ``||beta_t - w_t||^2`` part due to the prior on the task parameters.
        variance: part due to the effective noise.
        tau2: effective noise variance of the Gaussian-equivalent linear model.
    """

    mse: float
    classification_error: float | None
    overlap: float
    norm2: float
    bias: float
    variance: float
    tau2: float


def _fixed_point(alpha: float, lam: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    T = lam.size - 1
    F = np.zeros((T + 1, T))
    F[0, :] = 1.0
    F[np.arange(1, T + 1), np.arange(T)] = 1.0
    FF = F @ F.T
    l0, l = float(lam[0]), float(lam[1])

    def excess(c: float) -> float:
        # f_1' G f_1 in closed form: G is [[l0 + alpha c T, alpha c 1'], [alpha c 1,
        # (l + alpha c) I]]^-1, inverted through the Schur complement of its corner.
        b, e = alpha * c, l + alpha * c
        schur = l0 + T * b * l / e  # = l0 + b T - T b^2 / e, without cancellation
        delta = (1.0 - 2.0 * b / e + b**2 / e**2) / schur + 1.0 / e
        return c * (1.0 + delta) - 1.0

    c = brentq(excess, 0.0, 1.0, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return np.linalg.inv(np.diag(lam) + alpha * c * FF), float(c)


def _derivative(
    G: NDArray[np.float64], c: float, alpha: float, N: NDArray[np.float64]
) -> NDArray[np.float64]:
    """dG when Lambda moves along N, through the fixed point of every delta_t."""
    T = G.shape[0] - 1
    F = np.zeros((T + 1, T))
    F[0, :] = 1.0
    F[np.arange(1, T + 1), np.arange(T)] = 1.0
    GF = G @ F
    K = (F.T @ GF) ** 2
    e = np.einsum("it,ij,jt->t", GF, N, GF)
    ddelta = np.linalg.solve(np.eye(T) - alpha * c**2 * K, -e)
    dF = alpha * c**2 * (F * ddelta) @ F.T
    return -G @ (N - dF) @ G


def _finite(
    alpha: float, lam: NDArray[np.float64], sigma: float, kappa: float, tau2: float
) -> tuple[float, float, float]:
    """(bias, variance, overlap) at strictly positive penalties."""
    T = lam.size - 1
    G, c = _fixed_point(alpha, lam)
    Lam = np.diag(lam)
    P = np.diag(np.r_[1.0, np.full(T, sigma**2)])  # prior of omega* / kappa_1
    f1 = np.zeros(T + 1)
    f1[[0, 1]] = 1.0
    S = np.outer(f1, f1)
    bias = -(kappa**2) * np.trace(Lam @ P @ Lam @ _derivative(G, c, alpha, S))
    variance = tau2 * (np.trace(S @ G) + np.trace(S @ _derivative(G, c, alpha, Lam)))
    overlap = kappa * (1.0 + sigma**2 - np.trace(Lam @ P @ S @ G))
    return float(bias), float(variance), float(overlap)


def theory_error(
    alpha: float,
    T: int,
    sigma: float,
    l0: float,
    l: float,
    phi: Link = "sign",
    *,
    noise: float = 0.0,
    ratio: float = 1.0,
) -> TheoryError:
    """Asymptotic error of the multi-task estimator with ``n_t = alpha d`` per task.

    Args:
        alpha: samples per task over dimension, ``n_t / d > 0``.
        T: number of tasks (``T = 1`` is ridge with ``lambda = lambda_0 lambda_1 /
            (lambda_0 + lambda_1)``).
        sigma: task-specific scale; the task similarity is ``1 / (1 + sigma^2)``.
        l0: shared penalty over d (``lambda_0 = d l0``); ``0`` is the limit ``-> 0``.
        l: task penalty over d (``lambda_t = d l``); ``0`` is the limit ``-> 0``.
        phi: ``"sign"``, ``"relu"``, ``"identity"`` or a callable link.
        noise: standard deviation of the label noise.
        ratio: ``l0 / l`` kept fixed in the limit where both are 0.
    """
    alpha = check_number(alpha, "alpha", low=0.0, low_inclusive=False)
    T = check_int(T, "T", low=1)
    sigma = check_number(sigma, "sigma", low=0.0)
    l0 = check_number(l0, "l0", low=0.0)
    l = check_number(l, "l", low=0.0)
    phi = check_link(phi)
    noise = check_number(noise, "noise", low=0.0)
    ratio = check_number(ratio, "ratio", low=0.0, low_inclusive=False)
    s2 = 1.0 + sigma**2
    moments = link_moments(phi, math.sqrt(s2))
    kappa, second = float(moments.kappa1), float(moments.second) + noise**2
    tau2 = second - kappa**2 * s2

    def at(h: float) -> NDArray[np.float64]:
        if l0 > 0 and l > 0:
            pair = (l0, l)
        elif l0 == 0 and l == 0:
            pair = (ratio * h, h)
        else:
            pair = (h * l, l) if l0 == 0 else (l0, h * l0)
        lam = np.r_[pair[0], np.full(T, pair[1])]
        return np.array(_finite(alpha, lam, sigma, kappa, tau2))

    if l0 > 0 and l > 0:
        bias, variance, overlap = at(0.0)
    else:
        bias, variance, overlap = 2.0 * at(_STEP) - at(2.0 * _STEP)
    mse = tau2 + bias + variance
    norm2 = mse - second + 2.0 * kappa * overlap
    cls = None
    if phi == "sign":
        cos = overlap / math.sqrt(s2 * max(norm2, 1e-300))
        cls = math.acos(min(1.0, max(-1.0, cos))) / math.pi
    return TheoryError(
        mse=float(mse),
        classification_error=cls,
        overlap=float(overlap),
        norm2=float(norm2),
        bias=float(bias),
        variance=float(variance),
        tau2=float(tau2),
    )
