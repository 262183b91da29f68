"""The exact 1-D weight-decay optimum, lam > 0 (docs/theory.md §1 and §3).

With a free skip connection, every global minimiser of

    F = (1/N) sum_i ||y_i - f(x_i)||^2 + lam * VV

over univariate networks of any width can put its knots at the data points: between
two consecutive inputs a neuron's features on the data are affine in its knot
position, so a knot there splits into knots at the two inputs with the same VV cost,
and knots outside [x_1, x_N] are affine on the data and absorbed by the skip
connection. The optimum is therefore the connect-the-dots interpolant of fitted
values Z, and F is a strictly convex function of Z:

    F(Z) = (1/N) ||Y - Z||_F^2 + lam * sum_k ||(L Z)_k||_2

with L the (N-2) x N slope-change operator. This is solved by Newton's method on
the smoothed penalty sum_k sqrt(||(L Z)_k||^2 + eps^2), with eps driven to ~0, and
certified by the dual problem

    max_{||U_k|| <= 1}  lam <L^T U, Y> - (N lam^2 / 4) ||L^T U||_F^2,

whose feasible point U_k = (L Z)_k / sqrt(||(L Z)_k||^2 + eps^2) comes for free from
the smoothed optimality condition. Its value is the result's ``lower_bound`` (the
package result protocol, :mod:`mtlreg._result`); the duality gap bounds F(Z) - min F.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import ConvergenceWarning

from mtlreg._result import GapFromBound
from mtlreg._validation import check_inputs, check_int, check_number
from mtlreg.model import ShallowReLUNet
from mtlreg.univariate._connect_the_dots import (
    ConnectTheDots,
    check_univariate,
    connect_the_dots,
    hinge_network,
    power_of_two_scale,
)


@dataclass(frozen=True)
class WeightDecayOptimum(GapFromBound):
    """The global minimiser of the 1-D weight-decay objective (see module docstring).

    It minimises the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``
    with penalty the weight decay (VV norm) over univariate networks of any width with a
    free skip connection, and follows the package result protocol
    (:class:`mtlreg._result.SolverResult`).

    ``predict(x_new)`` (or calling it, ``f(x_new)``) gives shape (M, T); ``interpolant``
    is the connect-the-dots function of the fitted values ``Z``.

    Attributes
    ----------
    objective, fit, penalty
        Of the returned function: ``objective = fit + lam * penalty``.
    lower_bound
        The value of a feasible point of the dual problem (module docstring), at least
        0: a proven lower bound on the optimum over all networks (up to rounding).
        ``gap = objective - lower_bound`` is never clipped, so rounding can make it
        slightly negative.
    n_iter
        Newton steps over all smoothing levels and the polish (0 where the optimum is
        exact: ``lam = 0`` or N <= 2).
    converged
        Whether the measured relative duality gap is at most the ``tol`` asked for.
    seconds
        Wall-clock seconds of the solve.
    """

    x: NDArray[np.float64]
    Y: NDArray[np.float64]
    lam: float
    Z: NDArray[np.float64] = field(repr=False)
    interpolant: ConnectTheDots = field(repr=False)
    objective: float
    fit: float
    penalty: float
    lower_bound: float
    n_iter: int
    converged: bool
    seconds: float
    knots_mask: NDArray[np.bool_] = field(repr=False)
    history: tuple[float, ...] = field(default=(), repr=False)

    @property
    def dual_objective(self) -> float:
        """Deprecated alias of :attr:`lower_bound` (the dual value of the certificate)."""
        warnings.warn(
            "WeightDecayOptimum.dual_objective is deprecated; use `lower_bound` (the "
            "package result protocol). It will be removed in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.lower_bound

    @property
    def n_knots(self) -> int:
        """Number of interior data points where the optimum bends (nonzero slope change)."""
        return int(np.count_nonzero(self.knots_mask))

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """The optimum at inputs ``X`` of shape (M,) or (M, 1); returns (M, T)."""
        arr = check_inputs(X, "X")
        if arr.shape[1] != 1:
            raise ValueError(
                f"Parameter `X` should be univariate, shape (M,) or (M, 1). Found {arr.shape}."
            )
        return self.interpolant(arr[:, 0])

    def __call__(self, x_new: ArrayLike) -> NDArray[np.float64]:
        """Same as :meth:`predict`."""
        return self.predict(x_new)

    def to_network(
        self, width: int | None = None, *, dtype: torch.dtype = torch.float64
    ) -> ShallowReLUNet:
        """The balanced network of the optimum: one neuron per bending data point.

        ``width`` (default: the number of knots, at least 1) pads with zero neurons;
        it must be at least :attr:`n_knots`.
        """
        d = self.interpolant.slope_changes
        keep = np.flatnonzero(self.knots_mask)
        width = max(keep.size, 1) if width is None else check_int(width, "width", low=1)
        if width < keep.size:
            raise ValueError(
                f"Parameter `width` should be at least {keep.size}, the number of knots of "
                f"the optimum. Found {width}."
            )
        f = self.interpolant
        return hinge_network(
            self.x[0], self.Z[0], f.slopes[0], f.knots[keep], d[keep], width, dtype
        )


def _active(d: NDArray[np.float64], scale: float, rtol: float = 1e-9) -> NDArray[np.bool_]:
    """Slope changes that are not zero up to ``rtol`` times the labels' own ``scale``."""
    return np.linalg.norm(d, axis=1) > rtol * max(scale, 1e-300)


def slope_change_operator(x: NDArray[np.float64]) -> sp.csr_matrix:
    """L, shape (N-2, N): ``(L z)_k = s_{k+1} - s_k`` with s the slopes of z on x."""
    n = x.shape[0]
    inv_h = 1.0 / np.diff(x)
    rows = np.repeat(np.arange(n - 1), 2)
    cols = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1).ravel()
    vals = np.stack([-inv_h, inv_h], axis=1).ravel()
    d1 = sp.csr_matrix((vals, (rows, cols)), shape=(n - 1, n))
    diff = sp.diags([-np.ones(n - 2), np.ones(n - 2)], [0, 1], shape=(n - 2, n - 1))
    return sp.csr_matrix(diff @ d1)


def weight_decay_optimum(
    x: ArrayLike,
    Y: ArrayLike,
    lam: float,
    *,
    tol: float = 1e-12,
    max_iter: int = 500,
) -> WeightDecayOptimum:
    """Exact global minimiser of the weight-decay objective in 1-D.

    Minimises the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``
    with penalty = VV (the weight decay of a balanced network) over univariate networks
    of any width with a free skip connection (see the module docstring for why knots at
    the data points suffice). Solved by Newton's method with a vanishing smoothing of
    the group norms and certified by a dual point: ``lower_bound`` is its value and
    ``converged`` says whether the measured relative duality gap reached ``tol``; a
    ``ConvergenceWarning`` states the gap reached when it did not.

    Parameters
    ----------
    x
        Distinct inputs, shape (N,), N >= 2 (any order; the result is sorted).
    Y
        Labels, shape (N,) or (N, T).
    lam
        Weight-decay strength >= 0 (``lam = 0`` gives f_D, the minimum-norm
        interpolant).
    tol
        Target relative duality gap.
    max_iter
        Budget of Newton steps over all smoothing levels.

    Returns
    -------
    WeightDecayOptimum
        The optimum, on the package result protocol (:mod:`mtlreg._result`).

    Example
    -------
    >>> opt = weight_decay_optimum([-1.5, -1.0, 0.0, 0.2, 2.0],
    ...                            [[0.7, 1], [-0.5, 0], [-0.5, 2], [0.5, 1], [0.2, 0]], 1e-3)
    >>> opt.relative_gap < 1e-9, opt.converged, opt.n_knots
    (True, True, 3)
    """
    t0 = time.perf_counter()
    xs, ys = check_univariate(x, Y)
    lam = check_number(lam, "lam", low=0.0)
    tol = check_number(tol, "tol", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    res = _solve_scaled(xs, ys, lam, tol, max_iter)
    # the bound is the dual value, or 0 (objective >= 0 always): never above the optimum
    lower = max(res.lower_bound, 0.0)
    res = replace(res, lower_bound=lower)
    converged = bool(res.relative_gap <= tol)
    if not converged:
        warnings.warn(
            f"weight_decay_optimum stopped after {res.n_iter} Newton steps at relative "
            f"duality gap {res.relative_gap:.3g} (objective {res.objective:.6g}, lower bound "
            f"{lower:.6g}), above tol={tol:.3g}; raise max_iter or loosen tol.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return replace(res, converged=converged, seconds=time.perf_counter() - t0)


def _solve_scaled(
    xs: NDArray[np.float64], ys: NDArray[np.float64], lam: float, tol: float, max_iter: int
) -> WeightDecayOptimum:
    """Solve on validated data in a well-scaled space and map the result back."""
    # Solve in a well-scaled space (x / a, Y / c, lam / (a c), a and c powers of two)
    # and map back: f(x) = c g(x / a), fit * c^2, penalty * c / a (docs/theory.md §3).
    a, c = power_of_two_scale(xs), power_of_two_scale(ys)
    if a == 1.0 and c == 1.0:
        return _solve(xs, ys, lam, tol, max_iter)
    lam_s = lam / a / c
    if not np.isfinite(lam_s):
        raise ValueError(
            f"Parameter `lam` = {lam!r} is out of range for data of scale x ~ {a:.3g}, "
            f"Y ~ {c:.3g} (lam / (x scale * Y scale) overflows)."
        )
    res = _solve(xs / a, ys / c, lam_s, tol, max_iter)
    c2 = c * c
    with np.errstate(over="ignore"):
        objective, dual = res.objective * c2, res.lower_bound * c2
        penalty = res.penalty * c / a
    if not (np.isfinite(objective) and np.isfinite(penalty)):
        raise ValueError(
            f"Parameter `Y`: the objective at this label scale (~{c:.3g}) exceeds the "
            "float64 range; rescale Y."
        )
    z = res.Z * c
    return replace(
        res,
        x=xs,
        Y=ys,
        lam=lam,
        Z=z,
        interpolant=connect_the_dots(xs, z),
        objective=objective,
        fit=res.fit * c2,
        penalty=penalty,
        lower_bound=dual,
        history=tuple(h * c2 for h in res.history),
    )


def _solve(
    xs: NDArray[np.float64], ys: NDArray[np.float64], lam: float, tol: float, max_iter: int
) -> WeightDecayOptimum:
    """:func:`weight_decay_optimum` on validated, well-scaled data."""
    n, t = ys.shape
    if n <= 2 or lam == 0.0:
        return _finish(xs, ys, lam, ys.copy(), None, None, 0, ())
    op = slope_change_operator(xs)
    big = sp.csr_matrix(sp.kron(op, sp.identity(t)))
    scale = float(np.linalg.norm(op @ ys, axis=1).max()) or 1.0
    z = ys.copy()
    eps = 1e-1 * scale
    eps_min = 1e-13 * scale
    history: list[float] = []
    n_iter = 0
    while True:
        z, used = _newton(z, ys, op, big, lam, eps, max_iter - n_iter, history)
        n_iter += used
        u = _dual_point(op @ z, eps)
        result = _finish(xs, ys, lam, z, op, u, n_iter, tuple(history))
        if result.relative_gap <= tol or eps <= eps_min or n_iter >= max_iter:
            break
        eps = max(eps * 1e-2, eps_min)
    # Active-set polish: drop the knots the smoothing drove to ~0 and solve the rest
    # (a smooth problem once every remaining slope change is nonzero) exactly.
    active = _active(op @ result.Z, scale, rtol=1e-8)
    polished = _polish(xs, ys, lam, active, (op @ result.Z)[active], max_iter - n_iter, history)
    if polished is not None:
        z_p, used = polished
        u = _dual_point(op @ z_p, eps)
        candidate = _finish(xs, ys, lam, z_p, op, u, n_iter + used, (), active)
        if candidate.objective <= result.objective:
            dual = max(candidate.lower_bound, result.lower_bound)
            return replace(candidate, lower_bound=dual, history=tuple(history))
    return result


def _polish(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    lam: float,
    active: NDArray[np.bool_],
    v: NDArray[np.float64],
    budget: int,
    history: list[float],
) -> tuple[NDArray[np.float64], int] | None:
    """Newton on min (1/N)||P(Y - Phi V)||^2 + lam sum ||V_k|| over the active knots.

    ``Phi`` holds relu(x - x_k) for the active interior knots and P projects out the
    free affine part. Returns (fitted values, steps), or None when the problem is
    too large for dense Newton or a slope change reaches zero.
    """
    n, t = y.shape
    m = int(active.sum())
    if m * t > 2000:
        return None
    knots = x[1:-1][active]
    q, _ = np.linalg.qr(np.column_stack([np.ones(n), x]))
    phi = np.maximum(x[:, None] - knots[None, :], 0.0)
    mat = phi - q @ (q.T @ phi)
    yp = y - q @ (q.T @ y)
    if m == 0:
        return y - yp, 0
    gram = (2.0 / n) * np.kron(mat.T @ mat, np.eye(t))

    def value(vv: NDArray[np.float64]) -> float:
        penalty = float(np.linalg.norm(vv, axis=1).sum())
        return float(((yp - mat @ vv) ** 2).sum()) / n + lam * penalty

    current = value(v)
    for step in range(budget):
        norms = np.linalg.norm(v, axis=1)
        if norms.min() <= 0.0:
            return None
        grad = (2.0 / n) * (mat.T @ (mat @ v - yp)) + lam * v / norms[:, None]
        blocks = [(np.eye(t) - np.outer(a, a) / r**2) / r for a, r in zip(v, norms, strict=True)]
        hess = gram + lam * scipy.linalg.block_diag(*blocks)
        try:
            delta = np.linalg.solve(hess, grad.ravel()).reshape(m, t)
        except np.linalg.LinAlgError:
            return None
        decrement = float((grad * delta).sum())
        if decrement <= 1e-15 * max(abs(current), 1e-300):
            return y - (yp - mat @ v), step
        size = 1.0
        while size >= 1e-10:
            cand = v - size * delta
            new = value(cand)
            if new <= current - 0.25 * size * decrement:
                break
            size *= 0.5
        else:
            return y - (yp - mat @ v), step
        v, current = cand, new
        history.append(current)
    return y - (yp - mat @ v), budget


def _smoothed(
    z: NDArray[np.float64],
    y: NDArray[np.float64],
    op: sp.csr_matrix,
    lam: float,
    eps: float,
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    g = op @ z
    r = np.sqrt((g**2).sum(axis=1) + eps**2)
    n = y.shape[0]
    value = float(((y - z) ** 2).sum()) / n + lam * float(r.sum())
    return value, g, r


def _newton(
    z: NDArray[np.float64],
    y: NDArray[np.float64],
    op: sp.csr_matrix,
    big: sp.csr_matrix,
    lam: float,
    eps: float,
    budget: int,
    history: list[float],
) -> tuple[NDArray[np.float64], int]:
    """Damped Newton on the eps-smoothed objective; returns (z, steps used)."""
    n, t = y.shape
    value, g, r = _smoothed(z, y, op, lam, eps)
    for step in range(budget):
        grad = (2.0 / n) * (z - y) + lam * (op.T @ (g / r[:, None]))
        blocks = [(np.eye(t) - np.outer(gk, gk) / rk**2) / rk for gk, rk in zip(g, r, strict=True)]
        hess = (2.0 / n) * sp.identity(n * t) + lam * (big.T @ sp.block_diag(blocks) @ big)
        delta = spla.spsolve(sp.csc_matrix(hess), grad.ravel()).reshape(n, t)
        decrement = float((grad * delta).sum())
        if not np.isfinite(decrement) or decrement <= 1e-15 * max(abs(value), 1e-300):
            return z, step
        size = 1.0
        while True:
            cand = z - size * delta
            new_value, new_g, new_r = _smoothed(cand, y, op, lam, eps)
            if new_value <= value - 0.25 * size * decrement or size < 1e-10:
                break
            size *= 0.5
        if new_value >= value:
            return z, step + 1
        z, value, g, r = cand, new_value, new_g, new_r
        history.append(value)
    return z, budget


def _dual_point(g: NDArray[np.float64], eps: float) -> NDArray[np.float64]:
    """U_k = g_k / sqrt(||g_k||^2 + eps^2): dual feasible (||U_k|| < 1)."""
    return g / np.sqrt((g**2).sum(axis=1) + eps**2)[:, None]


def _dual_value(
    op: sp.csr_matrix, u: NDArray[np.float64], y: NDArray[np.float64], lam: float
) -> float:
    ltu = op.T @ u
    return lam * float((ltu * y).sum()) - y.shape[0] * lam**2 / 4.0 * float((ltu**2).sum())


def _finish(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    lam: float,
    z: NDArray[np.float64],
    op: sp.csr_matrix | None,
    u: NDArray[np.float64] | None,
    n_iter: int,
    history: tuple[float, ...],
    active: NDArray[np.bool_] | None = None,
) -> WeightDecayOptimum:
    """Assemble the result; ``active`` marks the knots of a polished solution (the
    others are zero up to rounding and carry no neuron). The dual point ``u`` (for
    the slope-change operator ``op``) certifies it; without one the result is exact."""
    n = y.shape[0]
    f = connect_the_dots(x, z)
    fit = float(((y - z) ** 2).sum()) / n
    norms = np.linalg.norm(f.slope_changes, axis=1)
    if active is None:
        active = norms > 0.0
    penalty = float(norms[active].sum())
    objective = fit + lam * penalty
    dual = objective
    if op is not None and u is not None:
        # The smoothed optimality condition gives a feasible u; least squares on
        # L^T U = (2 / (N lam)) (Y - Z), clipped into the balls, is exact at the
        # optimum (L^T is injective) and sharper where groups vanish.
        target = (2.0 / (n * lam)) * (y - z)
        u_ls = np.linalg.lstsq(op.T.toarray(), target, rcond=None)[0]
        u_ls /= np.maximum(np.linalg.norm(u_ls, axis=1), 1.0)[:, None]
        dual = max(_dual_value(op, u, y, lam), _dual_value(op, u_ls, y, lam))
    return WeightDecayOptimum(
        x=x,
        Y=y,
        lam=lam,
        Z=z,
        interpolant=f,
        objective=objective,
        fit=fit,
        penalty=penalty,
        lower_bound=dual,
        n_iter=n_iter,
        converged=False,  # set by weight_decay_optimum from the measured gap
        seconds=0.0,
        knots_mask=active,
        history=history,
    )
