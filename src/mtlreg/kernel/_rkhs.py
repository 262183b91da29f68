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
interpolant (minimum-norm least squares if the data cannot be interpolated). The
features are used through their numerical range: singular values of the projected
features at rounding relative to the magnitudes the features are computed from,
|x| |w_k| + |b_k| (``mtlreg.kernel._dualpoint.FeatureRange``), are dropped. A neuron active on every
data point has a feature that is affine on the data; with a skip connection its
projection is rounding, and inverting it gave weights ~1e12 and an objective below
the least-squares optimum.

This is the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` of
one task with penalty = sum_k c_k + ||f||_K^2 / 2 over the functions
f = sum_k v_k phi_k + affine part. Its dual: for every alpha in R^N orthogonal to the
affine part (span[X, 1] with a skip connection, no constraint without one),

    D(alpha) = <alpha, y> - (N/4) ||alpha||^2 - alpha^T G alpha / (2 lam) + lam sum_k c_k

with G the Gram matrix K(x_i, x_j) is a lower bound on the optimum (Fenchel-Young on
the squared loss; for lam = 0, alpha must also be orthogonal to the range of the
features, and D(alpha) = <alpha, y> - (N/4) ||alpha||^2). The point
alpha = (2/N) (residual of the returned function), projected onto these constraints
(at lam = 0 off one orthonormal basis of the affine part and the kept feature range),
is dual optimal in exact arithmetic, so the gap is zero up to rounding. Its
constraints are checked numerically before its value is reported; a point that fails
the check, or a value above the objective, is replaced by D(0) = lam sum_k c_k, and
the result is not converged. Derivation: docs/theory.md §5.2.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import ConvergenceWarning

from mtlreg._result import GapFromBound
from mtlreg._validation import check_number, check_targets
from mtlreg.kernel._dualpoint import (
    AffineProjection,
    FeatureRange,
    fit_affine,
    rounding_scale,
    verified_bound,
)
from mtlreg.kernel._kernel import InducedKernel
from mtlreg.model import ShallowReLUNet

#: ``converged`` of a closed-form solution: a measured duality gap at most this times
#: the larger of the objective and (1/N) ||y||^2 (the objective of f = 0; the scale of
#: rounding at an interpolating solution, whose objective is itself rounding)
CLOSED_FORM_RTOL = 1e-9


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
        The dual value D(alpha) of the module docstring at the residual's dual point,
        after checking its constraints to rounding (else D(0) = lam sum_k c_k): a
        proven lower bound on the optimum (up to rounding; at lam = 0, of least squares
        on the features' numerical range); ``gap = objective - lower_bound`` is never
        clipped.
    n_iter
        0 (closed form).
    converged
        Whether the dual point passed its feasibility check and ``|gap|`` is at most
        1e-9 times the larger of ``objective`` and (1/N) ||y||^2 (rounding: with
        lam = 0 an interpolating solution's objective and gap are both rounding, so
        ``relative_gap`` means little there). Otherwise a ``ConvergenceWarning``.
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
    decomposition of B truncated to the features' numerical range (a pseudo-inverse
    when lam = 0). The result carries the dual bound of the module docstring
    (``lower_bound``, ``gap``), checked before it is reported.

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

    Warns
    -----
    ConvergenceWarning
        When the gap is not verified (``converged`` is False): the measured gap and
        whether the dual point failed its check.
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
    # the numerical range of P Phi diag(sqrt c): singular values at the rounding of the
    # features and their projection (relative to the pre-activations) are not features
    scale = rounding_scale(x, kernel.W[act], kernel.b[act], c[act])
    rng_ = FeatureRange.of(phi[:, act] * root, proj, scale)
    yp = proj.project(yv)
    mu = n * lam / 2.0
    v = np.zeros(kernel.n_neurons)
    if rng_.s.size:
        gain = rng_.s / (rng_.s**2 + mu) if mu > 0 else 1.0 / rng_.s
        v[act] = root * (rng_.Vt.T @ (gain * (rng_.U.T @ yp)))
    a, intercept = fit_affine(x, yv - phi @ v, kernel.skip)
    resid = yv - phi @ v - x @ a - intercept
    fit = float(resid @ resid) / n
    norm_sq = float((v[act] ** 2 / c[act]).sum())
    c_sum = float(c.sum())
    penalty = c_sum + 0.5 * norm_sq
    objective = fit + lam * penalty
    # dual point: the residual, scaled by 2/N, orthogonal to the affine part (and, for
    # lam = 0, to the range of the features: only then is the dual value finite),
    # checked before its value is used; alpha = 0 (value lam sum_k c_k) always is
    ref = (2.0 / n) * float(np.linalg.norm(yv))
    if mu > 0:
        alpha = (2.0 / n) * proj.project(resid)
        feasible = proj.feasible(alpha, ref)
    else:
        alpha = (2.0 / n) * rng_.project_off(resid)
        feasible = proj.feasible(alpha, ref) and rng_.orthogonal(alpha, ref)
    fallback = lam * c_sum
    lower = _dual_value(alpha, yv, phi[:, act], c[act], lam, c_sum) if feasible else fallback
    scale = max(abs(objective), float(yv @ yv) / n)
    lower, valid = verified_bound(objective, lower, fallback, scale)
    verified = feasible and valid
    gap = objective - lower
    converged = verified and abs(gap) <= CLOSED_FORM_RTOL * scale
    if not converged:
        why = (
            ""
            if verified
            else " (dual point infeasible: the bound is its value at alpha = 0)"
            if not feasible
            else " (dual value above the objective: the bound is its value at alpha = 0)"
        )
        warnings.warn(
            f"rkhs_solve (lam={lam:.3g}): duality gap {gap:.3g} on objective {objective:.6g} "
            f"is not within {CLOSED_FORM_RTOL:.0e} of max(objective, (1/N)||y||^2) = "
            f"{scale:.3g}{why}; not certified.",
            ConvergenceWarning,
            stacklevel=2,
        )
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
        converged=converged,
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
