"""The exact per-task subproblem over fixed neurons (docs/theory.md §5).

With the neurons and the other tasks' output weights fixed, task s's output weights
solve

    min_{v, a, c0}  (1/N) ||y - Phi v - X a - c0||^2 + lam * sum_k sqrt(v_k^2 + c_k^2),

(the affine part only with a skip connection). When every c_k > 0 the objective is
smooth and strictly convex in v and is minimised by damped Newton's method to machine
precision, started from the RKHS solution; if some c_k = 0 (a neuron only this task
uses) the term is lam |v_k| and accelerated proximal gradient is used instead.

This is the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` of
one task with penalty = sum_k sqrt(v_k^2 + c_k^2) (the network's weight decay with the
other tasks' weights fixed). Its dual: with g = Phi^T alpha, for every alpha in R^N
orthogonal to the affine part (span[X, 1] with a skip connection) and |g_k| <= lam,

    D(alpha) = <alpha, y> - (N/4) ||alpha||^2 + lam sum_k c_k sqrt(1 - (g_k / lam)^2)

is a lower bound on the optimum (the conjugate of sqrt(v^2 + c^2) is
-c sqrt(1 - s^2) on |s| <= 1). The residual of the returned function times 2/N,
projected onto the affine part's complement (and moved to the g the optimality
condition gives, see ``_lower_bound``) and scaled into |g_k| <= lam, is dual optimal
at the optimum; its value is the result's ``lower_bound``. Derivation: docs/theory.md §5.3.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import ConvergenceWarning

from mtlreg._result import GapFromBound
from mtlreg._validation import check_int, check_number, check_targets
from mtlreg.kernel._kernel import InducedKernel
from mtlreg.kernel._rkhs import AffineProjection, fit_affine, rkhs_solve
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
        The dual value D(alpha) of the module docstring at the residual's dual point:
        a proven lower bound on the optimum (up to rounding); ``gap = objective -
        lower_bound`` is never clipped.
    method
        ``"newton"`` or ``"proximal"``.
    n_iter, converged
        Solver iterations and whether the stopping rule was met (a Newton decrement, or
        a proximal step, below ``tol``; the dual gap is measured, not used to stop).
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
) -> SubproblemSolution:
    """Solve task ``kernel.task``'s exact subproblem on (X, y).

    Minimises the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``
    with penalty = sum_k sqrt(v_k^2 + c_k^2) (module docstring) and certifies the result
    by a dual point (``lower_bound``, ``gap``). A ``ConvergenceWarning`` states the gap
    reached when the stopping rule is not met within ``max_iter``.

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

    Returns
    -------
    SubproblemSolution
        The solution, on the package result protocol (:mod:`mtlreg._result`).
    """
    t0 = time.perf_counter()
    x, yv, phi_p, y_p, lam = _setup(kernel, X, y, lam)
    if lam <= 0:
        raise ValueError(f"Parameter `lam` should be > 0. Found {lam!r}.")
    tol = check_number(tol, "tol", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    c = kernel.weights
    n = x.shape[0]
    if np.all(c > 0):
        v0 = rkhs_solve(kernel, x, yv, lam).v
        v, iters, ok = _newton(phi_p, y_p, c, lam, v0, tol, max_iter)
        method = "newton"
    else:
        v, iters, ok = _proximal(phi_p, y_p, c, lam, tol, 100 * max_iter)
        method = "proximal"
    phi = kernel.features(x)
    a, intercept = fit_affine(x, yv - phi @ v, kernel.skip)
    resid = yv - phi @ v - x @ a - intercept
    fit = float(resid @ resid) / n
    penalty = float(np.hypot(v, c).sum())
    objective = fit + lam * penalty
    proj = AffineProjection.of(x, kernel.skip)
    lower = _lower_bound(proj.project(resid) * (2.0 / n), yv, phi, phi_p, v, c, lam)
    if not ok:
        warnings.warn(
            f"exact_subproblem ({method}) stopped after {iters} iterations without meeting "
            f"its stopping rule (tol={tol:.3g}); objective {objective:.6g}, duality gap "
            f"{objective - lower:.3g}. Raise max_iter.",
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
        converged=ok,
        seconds=time.perf_counter() - t0,
    )


def _lower_bound(
    alpha: NDArray[np.float64],
    y: NDArray[np.float64],
    phi: NDArray[np.float64],
    phi_p: NDArray[np.float64],
    v: NDArray[np.float64],
    c: NDArray[np.float64],
    lam: float,
) -> float:
    """The better of two dual points: the residual's ``alpha`` and ``alpha`` moved by
    a least-norm step in range(P Phi) to g_k = lam v_k / sqrt(v_k^2 + c_k^2), the value
    the optimality condition gives (the residual alone is orthogonal to the features
    only to rounding times their condition number, which is not enough when lam is tiny).
    Both stay orthogonal to the affine part; ``phi_p`` is P Phi.
    """
    g = phi.T @ alpha
    h = np.hypot(v, c)
    with np.errstate(invalid="ignore", divide="ignore"):
        target = np.where(h > 0, lam * v / np.where(h > 0, h, 1.0), np.clip(g, -lam, lam))
    step = np.linalg.lstsq(phi_p.T, g - target, rcond=None)[0] if phi_p.size else 0.0
    moved = alpha - step
    return max(_dual_value(alpha, y, phi, c, lam), _dual_value(moved, y, phi, c, lam))


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
) -> tuple[NDArray[np.float64], int, bool]:
    """Damped Newton with Armijo backtracking on the smooth strictly convex objective."""
    n = phi.shape[0]
    gram = (2.0 / n) * (phi.T @ phi)

    def value(u: NDArray[np.float64]) -> float:
        r = y - phi @ u
        return float(r @ r) / n + lam * float(np.hypot(u, c).sum())

    f = value(v)
    for it in range(1, max_iter + 1):
        eta = np.hypot(v, c)
        grad = -(2.0 / n) * (phi.T @ (y - phi @ v)) + lam * v / eta
        hess = gram + np.diag(lam * c**2 / eta**3)
        try:
            step = -scipy.linalg.cho_solve(scipy.linalg.cho_factor(hess), grad)
        except np.linalg.LinAlgError:  # numerically singular (c_k << |v_k|): least squares
            step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
        decrement = float(-grad @ step)
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
