"""The RKHS problem of one task, in closed form (docs/theory.md §5).

For the induced kernel of task s, the quadratic approximation of the task's exact
subproblem is

    min_{v, a, c0}  (1/N) ||y - Phi v - X a - c0||^2 + lam * sum_k (c_k + v_k^2 / (2 c_k)),

kernel ridge regression with K(x, x') = sum_k c_k phi_k(x) phi_k(x') and ridge
N lam / 2 (the constant lam sum_k c_k is kept so the objective is directly
comparable with the exact subproblem's). The affine part (a, c0) is present exactly
when the network has a skip connection and is never penalised; it is eliminated by
projecting onto the orthogonal complement of span[X, 1]. Neurons with c_k = 0 carry
an infinite penalty and get v_k = 0. With lam = 0 the solution is the minimum-RKHS-norm
interpolant (minimum-norm least squares if the data cannot be interpolated).

This is the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` of
one task with penalty = sum_k c_k + ||f||_K^2 / 2 over the functions
f = sum_k v_k phi_k + affine part. Its dual: for every alpha in R^N orthogonal to the
affine part (span[X, 1] with a skip connection, no constraint without one),

    D(alpha) = <alpha, y> - (N/4) ||alpha||^2 - alpha^T G alpha / (2 lam) + lam sum_k c_k

with G the Gram matrix K(x_i, x_j) is a lower bound on the optimum (Fenchel-Young on
the squared loss; for lam = 0, alpha must also be orthogonal to the range of the
features, and D(alpha) = <alpha, y> - (N/4) ||alpha||^2). The point
alpha = (2/N) (residual of the returned function), projected onto these constraints,
is dual optimal in exact arithmetic, so the gap is zero up to rounding. Derivation:
docs/theory.md §5.2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._result import GapFromBound
from mtlreg._validation import check_number, check_targets
from mtlreg.kernel._kernel import InducedKernel
from mtlreg.model import ShallowReLUNet

#: ``converged`` of a closed-form solution: a measured duality gap at most this times
#: the larger of the objective and (1/N) ||y||^2 (the objective of f = 0; the scale of
#: rounding at an interpolating solution, whose objective is itself rounding)
CLOSED_FORM_RTOL = 1e-9


@dataclass(frozen=True)
class AffineProjection:
    """Orthonormal basis ``Q`` of span[X, 1] (or an empty basis without a skip)."""

    Q: NDArray[np.float64]

    def project(self, M: NDArray[np.float64]) -> NDArray[np.float64]:
        """Component of ``M`` (N,) or (N, k) orthogonal to the affine functions."""
        return M - self.Q @ (self.Q.T @ M)

    @classmethod
    def of(cls, X: NDArray[np.float64], skip: bool) -> AffineProjection:
        n = X.shape[0]
        if not skip:
            return cls(np.zeros((n, 0)))
        Z = np.hstack([X, np.ones((n, 1))])
        U, s, _ = np.linalg.svd(Z, full_matrices=False)
        rank = int((s > s[0] * max(Z.shape) * np.finfo(float).eps).sum()) if s.size else 0
        return cls(U[:, :rank])


def fit_affine(
    X: NDArray[np.float64], r: NDArray[np.float64], skip: bool
) -> tuple[NDArray[np.float64], float]:
    """Least-squares affine fit (a, c0) of the residual r (zeros without a skip)."""
    d = X.shape[1]
    if not skip:
        return np.zeros(d), 0.0
    Z = np.hstack([X, np.ones((X.shape[0], 1))])
    beta = np.asarray(np.linalg.lstsq(Z, r, rcond=None)[0], dtype=np.float64)
    return beta[:d], float(beta[d])


@dataclass(frozen=True)
class RKHSSolution(GapFromBound):
    """Solution of the RKHS problem of one task (the package result protocol).

    The minimiser of ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` over
    f = sum_k v_k phi_k + affine part, with penalty = sum_k (c_k + v_k^2 / (2 c_k))
    (module docstring); it follows :class:`mtlreg._result.SolverResult`.

    Attributes
    ----------
    v
        Output weights over the kernel's neurons (K,); the RKHS function is
        ``features(x) @ v`` with squared RKHS norm ``sum_k v_k^2 / c_k``.
    a, intercept
        The unpenalised affine part (zeros without a skip connection).
    lam
        Regularisation strength.
    fit
        (1/N) ||y - prediction||^2 on the training data.
    rkhs_norm_sq
        sum_k v_k^2 / c_k over neurons with c_k > 0.
    objective
        fit + lam * penalty: the quadratic surrogate of the exact subproblem's
        objective.
    penalty
        sum_k (c_k + v_k^2 / (2 c_k)) = sum_k c_k + rkhs_norm_sq / 2.
    lower_bound
        The dual value D(alpha) of the module docstring at the residual's dual point:
        a proven lower bound on the optimum (up to rounding); ``gap = objective -
        lower_bound`` is never clipped.
    n_iter
        0 (closed form).
    converged
        Whether the measured gap is at most 1e-9 times the larger of ``objective`` and
        (1/N) ||y||^2 (rounding: with lam = 0 an interpolating solution's objective and
        gap are both rounding, so ``relative_gap`` means little there).
    seconds
        Wall-clock seconds of the solve.
    """

    kernel: InducedKernel
    v: NDArray[np.float64]
    a: NDArray[np.float64]
    intercept: float
    lam: float
    fit: float
    rkhs_norm_sq: float
    objective: float
    penalty: float
    lower_bound: float
    n_iter: int
    converged: bool
    seconds: float

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """The fitted function at X, shape (N,)."""
        return self.kernel.evaluate(X, self.v, self.a, self.intercept)

    def to_network(self) -> ShallowReLUNet:
        """A balanced one-output network with the same predictions.

        Its weight decay is ``sum_k |v_k|``, not this problem's penalty (which charges
        the kernel weights c_k): the network reproduces the function, not the objective.
        """
        return self.kernel.network(self.v, self.a, self.intercept)


def rkhs_solve(kernel: InducedKernel, X: ArrayLike, y: ArrayLike, lam: float) -> RKHSSolution:
    """Solve the RKHS problem of ``kernel``'s task on (X, y) in closed form.

    Minimises the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``
    with penalty = sum_k (c_k + v_k^2 / (2 c_k)) (kernel ridge regression with ridge
    N lam / 2; module docstring). With B = P Phi diag(sqrt(c)) (P: projection removing
    the affine part) and mu = N lam / 2, the weights are
    v = sqrt(c) * B^T (B B^T + mu I)^+ P y, computed from a singular value
    decomposition of B (a pseudo-inverse when lam = 0). The result carries the dual
    bound of the module docstring (``lower_bound``, ``gap``).

    Parameters
    ----------
    kernel
        From :func:`~mtlreg.kernel.induced_kernel`.
    X, y
        Training inputs (N, d) and this task's labels (N,).
    lam
        The network's weight-decay strength (>= 0), same convention as :func:`mtlreg.train`.

    Returns
    -------
    RKHSSolution
        The solution, on the package result protocol (:mod:`mtlreg._result`).
    """
    t0 = time.perf_counter()
    x = kernel._inputs(X, "X")
    yy = check_targets(y, x.shape[0], "y")
    if yy.shape[1] != 1:
        raise ValueError(f"Parameter `y` should hold one task (shape (N,)). Found {yy.shape}.")
    yv = yy[:, 0]
    lam = check_number(lam, "lam", low=0.0)
    n = x.shape[0]
    c = kernel.weights
    act = c > 0
    proj = AffineProjection.of(x, kernel.skip)
    phi = kernel.features(x)
    root = np.sqrt(c[act])
    B = proj.project(phi[:, act]) * root
    yp = proj.project(yv)
    mu = n * lam / 2.0
    v = np.zeros(kernel.n_neurons)
    U = np.zeros((n, 0))
    if B.size:
        U, s, Vt = np.linalg.svd(B, full_matrices=False)
        if mu > 0:
            gain = s / (s**2 + mu)
        else:
            cut = s > (s[0] if s.size else 0.0) * max(B.shape) * np.finfo(float).eps
            gain = np.where(cut, 1.0 / np.where(cut, s, 1.0), 0.0)
        v[act] = root * (Vt.T @ (gain * (U.T @ yp)))
    a, intercept = fit_affine(x, yv - phi @ v, kernel.skip)
    resid = yv - phi @ v - x @ a - intercept
    fit = float(resid @ resid) / n
    norm_sq = float((v[act] ** 2 / c[act]).sum())
    penalty = float(c.sum()) + 0.5 * norm_sq
    objective = fit + lam * penalty
    # dual point: the residual, scaled by 2/N, orthogonal to the affine part (and, for
    # lam = 0, to the range of the features: only then is the dual value finite)
    alpha = (2.0 / n) * proj.project(resid)
    if mu == 0:
        alpha = alpha - U @ (U.T @ alpha)
    lower = _dual_value(alpha, yv, phi[:, act], c[act], lam, float(c.sum()))
    gap = objective - lower
    return RKHSSolution(
        kernel=kernel,
        v=v,
        a=a,
        intercept=intercept,
        lam=lam,
        fit=fit,
        rkhs_norm_sq=norm_sq,
        objective=objective,
        penalty=penalty,
        lower_bound=lower,
        n_iter=0,
        converged=bool(gap <= CLOSED_FORM_RTOL * max(abs(objective), float(yv @ yv) / n)),
        seconds=time.perf_counter() - t0,
    )


def _dual_value(
    alpha: NDArray[np.float64],
    y: NDArray[np.float64],
    phi: NDArray[np.float64],
    c: NDArray[np.float64],
    lam: float,
    c_sum: float,
) -> float:
    """D(alpha) of the module docstring (``phi``, ``c``: the neurons with c_k > 0)."""
    n = y.shape[0]
    value = float(alpha @ y) - n / 4.0 * float(alpha @ alpha)
    if lam > 0:
        g = phi.T @ alpha
        value += lam * c_sum - float((c * g**2).sum()) / (2.0 * lam)
    return value
