"""The exact per-task subproblem over fixed neurons (docs/theory.md §5).

With the neurons and the other tasks' output weights fixed, task s's output weights
solve

    min_{v, a, c0}  (1/N) ||y - Phi v - X a - c0||^2 + lam * sum_k sqrt(v_k^2 + c_k^2),

(the affine part only with a skip connection). When every c_k > 0 the objective is
smooth and strictly convex in v and is minimised by damped Newton's method, started
from the RKHS solution (the Newton system is solved in the features' singular basis,
so the curvature lam c_k^2 / eta_k^3 of directions the fit does not see survives at
tiny lam); if some c_k = 0 (a neuron only this task uses) the term is lam |v_k| and
accelerated proximal gradient is used instead (slow at tiny lam: check ``converged``).

This is the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` of
one task with penalty = sum_k sqrt(v_k^2 + c_k^2) (the network's weight decay with the
other tasks' weights fixed). Its dual: with g = Phi^T alpha, for every alpha in R^N
orthogonal to the affine part (span[X, 1] with a skip connection) and |g_k| <= lam,

    D(alpha) = <alpha, y> - (N/4) ||alpha||^2 + lam sum_k c_k sqrt(1 - (g_k / lam)^2)

is a lower bound on the optimum (the conjugate of sqrt(v^2 + c^2) is
-c sqrt(1 - s^2) on |s| <= 1). The residual of the returned function times 2/N,
projected onto the affine part's complement (and moved to the g the optimality
condition gives, see ``_lower_bound``) and scaled into |g_k| <= lam, is dual optimal
at the optimum; the lam -> 0 limit (the least-squares residual's point) is tried too,
and the best value of the points orthogonal to the affine part to rounding is the
result's ``lower_bound`` (D(0) = lam sum_k c_k if none is). ``converged`` means the
verified relative gap is at most ``gap_tol``. Derivation: docs/theory.md §5.3.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import ConvergenceWarning

from mtlreg._result import GapFromBound, relative_gap
from mtlreg._validation import check_int, check_number, check_targets
from mtlreg.kernel._dualpoint import (
    AffineProjection,
    FeatureRange,
    fit_affine,
    rounding_scale,
    verified_bound,
)
from mtlreg.kernel._kernel import InducedKernel
from mtlreg.kernel._rkhs import rkhs_solve
from mtlreg.model import ShallowReLUNet


@dataclass(frozen=True)
class SubproblemSolution(GapFromBound):
    """Solution of the exact subproblem of one task (the package result protocol).

    The minimiser of ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` over
    f = sum_k v_k phi_k + affine part, with penalty = sum_k sqrt(v_k^2 + c_k^2)
    (module docstring); it follows :class:`mtlreg._result.SolverResult`.

    Attributes
    ----------
    v, a, intercept
        Output weights over the kernel's neurons (K,) and the unpenalised affine part
        (zeros without a skip connection).
    fit
        (1/N) ||y - prediction||^2 on the training data.
    penalty
        sum_k sqrt(v_k^2 + c_k^2).
    objective
        fit + lam * penalty.
    lower_bound
        The best dual value D(alpha) of the module docstring over the dual points of
        ``_lower_bound`` that pass the affine check: a proven lower bound on the
        optimum (up to rounding); ``gap = objective - lower_bound`` is never clipped.
    method
        ``"newton"`` or ``"proximal"``.
    n_iter
        Solver iterations (Newton steps or proximal steps).
    converged
        Whether the verified relative gap ``|relative_gap|`` is at most ``gap_tol``
        (the iteration itself stops on a Newton decrement, or a proximal step, below
        ``tol``; that rule alone is not a certificate).
    seconds
        Wall-clock seconds of the solve.
    """

    kernel: InducedKernel
    v: NDArray[np.float64]
    a: NDArray[np.float64]
    intercept: float
    lam: float
    fit: float
    penalty: float
    objective: float
    lower_bound: float
    method: str
    n_iter: int
    converged: bool
    seconds: float

    @property
    def iterations(self) -> int:
        """Deprecated alias of :attr:`n_iter`."""
        warnings.warn(
            "SubproblemSolution.iterations is deprecated; use `n_iter` (the package "
            "result protocol). It will be removed in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.n_iter

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """The fitted function at X, shape (N,)."""
        return self.kernel.evaluate(X, self.v, self.a, self.intercept)

    def to_network(self) -> ShallowReLUNet:
        """A balanced one-output network with the same predictions.

        Its weight decay is ``sum_k |v_k|``, not this problem's penalty (which also
        charges the other tasks' weights c_k): it reproduces the function only.
        """
        return self.kernel.network(self.v, self.a, self.intercept)


_Arr = NDArray[np.float64]


def _setup(
    kernel: InducedKernel, X: ArrayLike, y: ArrayLike, lam: float
) -> tuple[_Arr, _Arr, _Arr, _Arr, float]:
    x = kernel._inputs(X, "X")
    yy = check_targets(y, x.shape[0], "y")
    if yy.shape[1] != 1:
        raise ValueError(f"Parameter `y` should hold one task (shape (N,)). Found {yy.shape}.")
    lam = check_number(lam, "lam", low=0.0)
    proj = AffineProjection.of(x, kernel.skip)
    return x, yy[:, 0], proj.project(kernel.features(x)), proj.project(yy[:, 0]), lam


def exact_objective(
    kernel: InducedKernel, X: ArrayLike, y: ArrayLike, lam: float, v: ArrayLike
) -> float:
    """The exact subproblem's objective at output weights ``v`` (best affine part)."""
    _, _, phi_p, y_p, lam = _setup(kernel, X, y, lam)
    vv = np.asarray(v, dtype=np.float64)
    if vv.shape != (kernel.n_neurons,):
        raise ValueError(
            f"Parameter `v` should have shape ({kernel.n_neurons},). Found {vv.shape}."
        )
    r = y_p - phi_p @ vv
    return float(r @ r) / phi_p.shape[0] + lam * float(np.hypot(vv, kernel.weights).sum())


def exact_subproblem(
    kernel: InducedKernel,
    X: ArrayLike,
    y: ArrayLike,
    lam: float,
    *,
    tol: float = 1e-15,
    max_iter: int = 500,
    gap_tol: float = 1e-9,
) -> SubproblemSolution:
    """Solve task ``kernel.task``'s exact subproblem on (X, y).

    Minimises the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``
    with penalty = sum_k sqrt(v_k^2 + c_k^2) (module docstring) and certifies the result
    by a dual point (``lower_bound``, ``gap``); ``converged`` means the relative gap is
    at most ``gap_tol``, and a ``ConvergenceWarning`` states the gap reached otherwise.

    Parameters
    ----------
    kernel
        From :func:`~mtlreg.kernel.induced_kernel`.
    X, y
        Training inputs (N, d) and this task's labels (N,).
    lam
        Weight-decay strength (> 0), same convention as :func:`mtlreg.train`.
    tol
        Newton stops when half the squared Newton decrement (an estimate of the
        objective's distance to its minimum) is below ``tol`` times the objective.
    max_iter
        Iteration budget (Newton steps, or 100 times as many proximal steps).
    gap_tol
        ``converged`` is True exactly when the verified relative duality gap
        ``|objective - lower_bound| / objective`` is at most ``gap_tol``.

    Returns
    -------
    SubproblemSolution
        The solution, on the package result protocol (:mod:`mtlreg._result`).

    Warns
    -----
    ConvergenceWarning
        When the relative gap is above ``gap_tol``: the gap reached and whether the
        stopping rule was met within ``max_iter``.
    """
    t0 = time.perf_counter()
    x, yv, phi_p, y_p, lam = _setup(kernel, X, y, lam)
    if lam <= 0:
        raise ValueError(f"Parameter `lam` should be > 0. Found {lam!r}.")
    tol = check_number(tol, "tol", low=0.0)
    gap_tol = check_number(gap_tol, "gap_tol", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    c = kernel.weights
    n = x.shape[0]
    proj = AffineProjection.of(x, kernel.skip)
    phi = kernel.features(x)
    ones = np.ones(kernel.n_neurons)
    frange = FeatureRange.of(phi, proj, rounding_scale(x, kernel.W, kernel.b, ones))
    if np.all(c > 0):
        with warnings.catch_warnings():  # a warm start: its own certificate does not matter
            warnings.simplefilter("ignore", ConvergenceWarning)
            v0 = rkhs_solve(kernel, x, yv, lam).v
        v, iters, ok = _newton(phi_p, y_p, c, lam, v0, tol, max_iter, frange.s, frange.tol)
        method = "newton"
    else:
        v, iters, ok = _proximal(phi_p, y_p, c, lam, tol, 100 * max_iter)
        method = "proximal"
    a, intercept = fit_affine(x, yv - phi @ v, kernel.skip)
    resid = yv - phi @ v - x @ a - intercept
    fit = float(resid @ resid) / n
    penalty = float(np.hypot(v, c).sum())
    objective = fit + lam * penalty
    fallback = lam * float(c.sum())  # D_E(0): every point of the primal is above it
    lower = _lower_bound(resid, yv, phi, frange, proj, v, c, lam)
    scale = max(abs(objective), 1e-300)
    lower, verified = verified_bound(objective, lower, fallback, scale)
    rel = relative_gap(objective - lower, objective)
    converged = verified and abs(rel) <= gap_tol
    if not converged:
        rule = "met" if ok else f"not met after {iters} iterations (raise max_iter)"
        why = "" if verified else " (the dual bound exceeded the objective: bound at alpha = 0)"
        warnings.warn(
            f"exact_subproblem ({method}, lam={lam:.3g}): relative duality gap {rel:.3g} "
            f"(duality gap {objective - lower:.3g} on objective {objective:.6g}) is above "
            f"gap_tol={gap_tol:.3g}{why}; the stopping rule (tol={tol:.3g}) was {rule}.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return SubproblemSolution(
        kernel=kernel,
        v=v,
        a=a,
        intercept=intercept,
        lam=lam,
        fit=fit,
        penalty=penalty,
        objective=objective,
        lower_bound=lower,
        method=method,
        n_iter=iters,
        converged=converged,
        seconds=time.perf_counter() - t0,
    )


def _lower_bound(
    resid: NDArray[np.float64],
    y: NDArray[np.float64],
    phi: NDArray[np.float64],
    frange: FeatureRange,
    proj: AffineProjection,
    v: NDArray[np.float64],
    c: NDArray[np.float64],
    lam: float,
) -> float:
    """The best D_E value over three dual points (each scaled into |g_k| <= lam by
    ``_dual_value``), counting only those orthogonal to the affine part to rounding:

    1. the residual's point ``alpha = (2/N) P resid``;
    2. ``alpha`` moved by the least-norm step in the numerical range of P Phi to
       g_k = lam v_k / sqrt(v_k^2 + c_k^2), the value the optimality condition gives
       (the residual alone is orthogonal to the features only to rounding times their
       condition number, which is not enough when lam is tiny);
    3. the lam -> 0 limit: ``(2/N)`` times the least-squares residual of y on the
       affine part and the numerical range of the features (g = 0 to rounding), whose
       value is the least-squares optimum plus lam sum_k c_k.

    Without a feasible point the bound is D_E(0) = lam sum_k c_k.
    """
    n = y.shape[0]
    alpha = (2.0 / n) * proj.project(resid)
    g = phi.T @ alpha
    h = np.hypot(v, c)
    with np.errstate(invalid="ignore", divide="ignore"):
        target = np.where(h > 0, lam * v / np.where(h > 0, h, 1.0), np.clip(g, -lam, lam))
    moved = proj.project(alpha - frange.least_norm(g - target))
    limit = (2.0 / n) * frange.project_off(y)
    ref = (2.0 / n) * float(np.linalg.norm(y))
    points = (alpha, moved, limit)
    values = [_dual_value(p, y, phi, c, lam) for p in points if proj.feasible(p, ref)]
    return max([lam * float(c.sum()), *values])


def _dual_value(
    alpha: NDArray[np.float64],
    y: NDArray[np.float64],
    phi: NDArray[np.float64],
    c: NDArray[np.float64],
    lam: float,
) -> float:
    """D(alpha) of the module docstring after scaling ``alpha`` into |g_k| <= lam.

    ``alpha`` must be orthogonal to the affine part; ``phi`` are the features (N, K).
    """
    n = y.shape[0]
    g = phi.T @ alpha
    top = float(np.abs(g).max()) if g.size else 0.0
    if top > lam:
        alpha, g = alpha * (lam / top), g * (lam / top)
    s = np.clip(np.abs(g) / lam, 0.0, 1.0)
    root = np.sqrt((1.0 - s) * (1.0 + s))
    return float(alpha @ y) - n / 4.0 * float(alpha @ alpha) + lam * float((c * root).sum())


def _newton(
    phi: NDArray[np.float64],
    y: NDArray[np.float64],
    c: NDArray[np.float64],
    lam: float,
    v: NDArray[np.float64],
    tol: float,
    max_iter: int,
    s: NDArray[np.float64],
    rank_tol: float,
) -> tuple[NDArray[np.float64], int, bool]:
    """Damped Newton with Armijo backtracking on the smooth strictly convex objective.

    Unless ``phi`` (= P Phi) is well conditioned (its singular values ``s``, all above
    ``rank_tol``, within a factor 1e4), the Newton system is solved in the right
    singular basis of ``phi``, where the fit's Hessian is diag((2/N) s^2) with the
    singular values at or below ``rank_tol`` set to 0 (rounding, as in
    ``FeatureRange``), after a symmetric diagonal scaling. In the original basis a
    direction the fit does not see (duplicate features, more neurons than points) has
    curvature lam c_k^2 / eta_k^3 only, below the rounding of the Gram matrix when lam
    is tiny; a Cholesky or least-squares solve there loses it and Newton stops early
    (a gap of 23 % at lam = 1e-12 with a duplicate neuron).
    """
    n, k = phi.shape
    rot: NDArray[np.float64] | None = None  # the basis change (None: the original basis)
    if s.size == k and s[-1] > 1e-4 * s[0]:
        gram = (2.0 / n) * (phi.T @ phi)
    else:
        _, sv, rot = np.linalg.svd(phi, full_matrices=True)
        curv = np.zeros(k)
        curv[: sv.size] = np.where(sv > rank_tol, (2.0 / n) * sv**2, 0.0)
        gram = np.diag(curv)
        seen = curv > 0

    def value(u: NDArray[np.float64]) -> float:
        r = y - phi @ u
        return float(r @ r) / n + lam * float(np.hypot(u, c).sum())

    f = value(v)
    for it in range(1, max_iter + 1):
        eta = np.hypot(v, c)
        fit_grad = -(2.0 / n) * (phi.T @ (y - phi @ v))
        curvature = lam * c**2 / eta**3
        if rot is None:
            grad = fit_grad + lam * v / eta
            hess = gram + np.diag(curvature)
        else:
            grad = np.where(seen, rot @ fit_grad, 0.0) + rot @ (lam * v / eta)
            hess = gram + (rot * curvature) @ rot.T
            hess = 0.5 * (hess + hess.T)
        scale = 1.0 / np.sqrt(np.maximum(np.diag(hess), 1e-300))
        scaled = hess * scale[:, None] * scale[None, :]
        try:
            step = -scale * scipy.linalg.cho_solve(scipy.linalg.cho_factor(scaled), scale * grad)
        except np.linalg.LinAlgError:  # numerically singular (c_k << |v_k|): least squares
            step = -scale * np.linalg.lstsq(scaled, scale * grad, rcond=None)[0]
        decrement = float(-grad @ step)
        if rot is not None:
            step = rot.T @ step
        if decrement / 2.0 <= tol * max(abs(f), 1e-300):
            return v, it, True
        t = 1.0
        for _ in range(60):
            trial = v + t * step
            f_trial = value(trial)
            if f_trial <= f - 0.25 * t * decrement:
                break
            t *= 0.5
        else:
            # no decrease representable in floating point: at the numerical minimum
            return v, it, decrement / 2.0 <= 1e3 * tol * max(abs(f), 1e-300) + 1e-300
        v, f = trial, f_trial
    return v, max_iter, False


def _prox(z: NDArray[np.float64], c: NDArray[np.float64], t: float) -> NDArray[np.float64]:
    """argmin_u (u - z)^2 / 2 + t sqrt(u^2 + c^2), coordinate-wise (bisection)."""
    mag = np.abs(z)
    lo = np.zeros_like(mag)
    hi = mag.copy()
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        slope = mid - mag + t * mid / np.maximum(np.hypot(mid, c), 1e-300)
        up = slope > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    u = 0.5 * (lo + hi)
    u = np.where(c == 0, np.maximum(mag - t, 0.0), u)
    return np.sign(z) * u


def _proximal(
    phi: NDArray[np.float64],
    y: NDArray[np.float64],
    c: NDArray[np.float64],
    lam: float,
    tol: float,
    max_iter: int,
) -> tuple[NDArray[np.float64], int, bool]:
    """FISTA with adaptive restart for the non-smooth case (some c_k = 0)."""
    n = phi.shape[0]
    lip = 2.0 / n * float(np.linalg.norm(phi, 2) ** 2) if phi.size else 1.0
    step = 1.0 / max(lip, 1e-300)
    v = np.zeros(phi.shape[1])
    z = v.copy()
    mom = 1.0
    scale = max(float(np.abs(y).max()) if y.size else 0.0, 1e-300)
    for it in range(1, max_iter + 1):
        grad = -(2.0 / n) * (phi.T @ (y - phi @ z))
        v_new = _prox(z - step * grad, c, step * lam)
        if float((v_new - v) @ (z - v_new)) > 0:  # restart momentum when it points uphill
            mom = 1.0
        mom_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * mom**2))
        z = v_new + ((mom - 1.0) / mom_new) * (v_new - v)
        change = float(np.abs(v_new - v).max())
        v, mom = v_new, mom_new
        if change <= max(tol, 1e-14) * scale and it > 10:
            return v, it, True
    return v, max_iter, False
