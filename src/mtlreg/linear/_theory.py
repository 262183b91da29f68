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
   ``2 f(h) - f(2h)`` with a relative step ``h = 1e-6`` (error O(h^2)). At an
   interpolation peak the variance (and bias) grow like ``h^-1/2``; this is detected
   from ``f(4h)`` and the limit is reported as ``inf``.

Here ``l0 = lambda_0 / d`` and ``l = lambda_t / d`` are the unnormalised strengths over
d; the public strengths are the package's, ``lam_shared = l0 / (T alpha)`` and
``lam_task = l / (T alpha)`` (``lambda = N lam`` with ``N = T n_t = T alpha d``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from mtlreg._validation import check_int, check_number
from mtlreg.linear._compat import renamed
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
    sample_ratio: float | None = None,
    T: int = 1,
    sigma: float = 0.0,
    *,
    lam_shared: float | None = None,
    lam_task: float | None = None,
    phi: Link = "sign",
    noise: float = 0.0,
    lam_ratio: float | None = None,
    alpha: float | None = None,
    l0: float | None = None,
    l: float | None = None,
    ratio: float | None = None,
) -> TheoryError:
    """Asymptotic error of the multi-task estimator with ``n_t = sample_ratio * d`` per task.

    The estimator minimises the package objective::

        (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty

    with ``lam * penalty = lam_shared ||w_0||^2 + sum_t lam_task
    ||v_t||^2`` and ``N = T n_t`` (:func:`~mtlreg.linear.fit_multitask`;
    docs/theory.md §8). Where the limit of the error is infinite (the interpolation
    peak of a ridgeless limit: ``n_t = d`` when both strengths go to 0, ``N = d``
    when only ``lam_shared`` does) ``mse``, ``norm2`` and the diverging parts are
    ``inf`` (and the classification error of ``sign`` is 1/2).

    Args:
        sample_ratio: samples per task over dimension, ``n_t / d > 0``.
        T: number of tasks (``T = 1`` is ridge with strength ``lam_shared lam_task /
            (lam_shared + lam_task)``).
        sigma: task-specific scale; the task similarity is ``1 / (1 + sigma^2)``.
        lam_shared: strength of the shared part, ``>= 0``; ``0`` is the limit ``-> 0``.
        lam_task: strength of the task parts, ``>= 0``; ``0`` is the limit ``-> 0``.
        phi: ``"sign"``, ``"relu"``, ``"identity"`` or a callable link.
        noise: standard deviation of the label noise.
        lam_ratio: ``lam_shared / lam_task`` kept fixed in the limit where both are 0
            (default 1).
        alpha, l0, l, ratio: deprecated: ``alpha`` is ``sample_ratio``; ``l0`` and ``l``
            are the strengths over d of the unnormalised objective (``lambda_0 = d l0``,
            i.e. ``lam_shared = l0 / (T sample_ratio)``); ``ratio`` is ``lam_ratio``.
    """
    sample_ratio = renamed(sample_ratio, alpha, "sample_ratio", "alpha")
    sample_ratio = check_number(sample_ratio, "sample_ratio", low=0.0, low_inclusive=False)
    T = check_int(T, "T", low=1)
    per_d = T * sample_ratio  # lambda_0 / d = lam_shared * N / d
    note = " (lam_shared = l0 / (T sample_ratio))"
    old0 = None if l0 is None else check_number(l0, "l0", low=0.0) / per_d
    oldt = None if l is None else check_number(l, "l", low=0.0) / per_d
    lam_shared = renamed(lam_shared, old0, "lam_shared", "l0", note=note)
    lam_task = renamed(lam_task, oldt, "lam_task", "l", note=" (lam_task = l / (T sample_ratio))")
    if lam_ratio is None and ratio is None:
        lam_ratio = 1.0
    lam_ratio = renamed(lam_ratio, ratio, "lam_ratio", "ratio")
    sigma = check_number(sigma, "sigma", low=0.0)
    lam0 = check_number(lam_shared, "lam_shared", low=0.0) * per_d
    lam1 = check_number(lam_task, "lam_task", low=0.0) * per_d
    phi = check_link(phi)
    noise = check_number(noise, "noise", low=0.0)
    lam_ratio = check_number(lam_ratio, "lam_ratio", low=0.0, low_inclusive=False)
    s2 = 1.0 + sigma**2
    moments = link_moments(phi, math.sqrt(s2))
    kappa, second = float(moments.kappa1), float(moments.second) + noise**2
    tau2 = second - kappa**2 * s2

    def at(h: float) -> NDArray[np.float64]:
        if lam0 > 0 and lam1 > 0:
            pair = (lam0, lam1)
        elif lam0 == 0 and lam1 == 0:
            pair = (lam_ratio * h, h)
        else:
            pair = (h * lam1, lam1) if lam0 == 0 else (lam0, h * lam0)
        lam = np.r_[pair[0], np.full(T, pair[1])]
        return np.array(_finite(sample_ratio, lam, sigma, kappa, tau2))

    if lam0 > 0 and lam1 > 0:
        bias, variance, overlap = at(0.0)
    else:
        f1, f2, f4 = at(_STEP), at(2.0 * _STEP), at(4.0 * _STEP)
        bias, variance, overlap = 2.0 * f1 - f2
        diverging = _diverging(f1, f2, f4)
        bias = math.inf if diverging[0] else bias
        variance = math.inf if diverging[1] else variance
    mse = tau2 + bias + variance
    norm2 = mse - second + 2.0 * kappa * overlap
    cls = None
    if phi == "sign":
        cos = overlap / math.sqrt(s2 * max(norm2, 1e-300)) if math.isfinite(norm2) else 0.0
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


#: (f(h) - f(2h)) / (f(2h) - f(4h)) is ~1/2 for a smooth function of the step h and
#: 2**p for one that diverges like h**-p (1.41 at the interpolation peaks).
_DIVERGENCE_RATIO = 1.3


def _diverging(
    f1: NDArray[np.float64], f2: NDArray[np.float64], f4: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Components whose values at steps h, 2h, 4h grow like a negative power of h."""
    d12, d24 = f1 - f2, f2 - f4
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(d24 != 0, d12 / d24, 0.0)
    visible = np.abs(d12) > 1e-9 * np.maximum(1.0, np.abs(f1))
    return np.asarray((growth > _DIVERGENCE_RATIO) & visible & (d12 > 0))
