"""Affine part, numerical feature range, verified dual points (docs/theory.md §5.2-§5.3).

Both kernel duals need a dual point alpha orthogonal to the affine part span[X, 1]
(with a skip connection), and the kernel ridge dual at lam = 0 needs it orthogonal to
the features too. In floating point these constraints hold only to rounding, and a
rounding-level direction must not be mistaken for a feature: an affine feature (a
neuron active on every data point) projected off span[X, 1] leaves a vector of size
~eps times the feature, and inverting it (weights ~1e12) or keeping its singular
vector (which is not orthogonal to the affine part) breaks both the solution and the
bound. So:

- :class:`AffineProjection` projects off the affine part twice (reorthogonalised),
  with a basis computed from the standardised [X, 1] (same span, no needless
  conditioning from offsets or scales of the inputs), and checks
  ``||Z^T alpha|| <= tol ||Z|| ||alpha||``;
- :class:`FeatureRange` keeps the singular values of the projected features above a
  cutoff relative to the scale at which the features were computed (the
  pre-activations |x| |w_k| + |b_k|: the rounding of an affine feature and of its
  projection lives there, not at the projected features' scale), and projects off
  span[affine part, kept range] with one orthonormal basis, so the result is
  orthogonal to both to rounding.

A solver reports a dual value only for a point that passes these checks; otherwise
it falls back to a weaker bound it can prove (the value at alpha = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Machine epsilon of float64.
EPS = float(np.finfo(np.float64).eps)

_Arr = NDArray[np.float64]


def _two_pass(basis: _Arr, M: _Arr) -> _Arr:
    """``M`` minus its projection on the orthonormal ``basis``, twice (reorthogonalised)."""
    if basis.shape[1] == 0:
        return M.copy()
    out = M - basis @ (basis.T @ M)
    return out - basis @ (basis.T @ out)


@dataclass(frozen=True)
class AffineProjection:
    """Orthonormal basis ``Q`` of the numerical range of Z = [X, 1] (empty without a skip).

    ``Q`` comes from the SVD of [(X - mean) / std, 1], which spans the same space as Z;
    a backward-stable basis leaves ``(I - Q Q^T) Z`` at rounding of Z whatever Z's
    conditioning, so the checks below need no condition number.
    """

    Q: _Arr
    Z: _Arr

    def project(self, M: _Arr) -> _Arr:
        """Component of ``M`` (N,) or (N, k) orthogonal to the affine functions."""
        return _two_pass(self.Q, M)

    @property
    def tolerance(self) -> float:
        """Largest relative violation ``||Z^T alpha|| / (||Z|| ||alpha||)`` taken as rounding."""
        return 100.0 * max(self.Z.shape) * EPS

    def violation(self, alpha: _Arr, ref: float = 0.0) -> float:
        """``||Z^T alpha|| / (||Z||_2 max(||alpha||, ref))`` (0 without a skip or for 0).

        ``ref`` is the size of the vector ``alpha`` was projected from (e.g.
        ``(2/N) ||y||``): a point that is itself rounding (y in the range) is judged
        against the rounding of the computation, not against its own size.
        """
        size = max(float(np.linalg.norm(alpha)), ref)
        if self.Z.shape[1] == 0 or size == 0.0:
            return 0.0
        scale = float(np.linalg.norm(self.Z, 2))
        return float(np.linalg.norm(self.Z.T @ alpha)) / (scale * size)

    def feasible(self, alpha: _Arr, ref: float = 0.0) -> bool:
        """Whether ``alpha`` is orthogonal to the affine part to rounding (see ``violation``)."""
        return bool(np.isfinite(alpha).all()) and self.violation(alpha, ref) <= self.tolerance

    @classmethod
    def of(cls, X: _Arr, skip: bool) -> AffineProjection:
        """The projection for inputs ``X`` (N, d), with or without a skip connection."""
        n = X.shape[0]
        if not skip:
            return cls(np.zeros((n, 0)), np.zeros((n, 0)))
        Z = np.hstack([X, np.ones((n, 1))])
        spread = X.std(axis=0)
        spread = np.where(spread > 0, spread, 1.0)
        U, s, _ = np.linalg.svd(np.hstack([(X - X.mean(axis=0)) / spread, Z[:, -1:]]), False)
        rank = int((s > s[0] * max(Z.shape) * EPS).sum()) if s.size else 0
        return cls(U[:, :rank], Z)


def fit_affine(X: _Arr, r: _Arr, skip: bool) -> tuple[_Arr, float]:
    """Least-squares affine fit (a, c0) of the residual r (zeros without a skip)."""
    d = X.shape[1]
    if not skip:
        return np.zeros(d), 0.0
    Z = np.hstack([X, np.ones((X.shape[0], 1))])
    beta = np.asarray(np.linalg.lstsq(Z, r, rcond=None)[0], dtype=np.float64)
    return beta[:d], float(beta[d])


@dataclass(frozen=True)
class FeatureRange:
    """The numerical range of the projected features P M (M: raw feature columns, N x k).

    The SVD ``P M = U diag(s) Vt`` keeps the singular values above
    ``tol = max(N, k) * eps * scale``, ``scale`` the Frobenius norm of the magnitudes
    the features were computed from (``rounding_scale``): the rounding of the
    features and of their projection is relative to those, not to the largest
    projected singular value. ``basis`` is an orthonormal basis of
    span[Q, U], built with Q first, so projecting off it leaves a vector orthogonal to
    the affine part and to the kept range to rounding.
    """

    U: _Arr
    s: _Arr
    Vt: _Arr
    tol: float
    basis: _Arr
    M: _Arr

    @classmethod
    def of(cls, M: _Arr, proj: AffineProjection, scale: float) -> FeatureRange:
        """The numerical range of ``proj.project(M)``, rounding relative to ``scale``."""
        n, k = M.shape
        if M.size == 0:
            return cls(np.zeros((n, 0)), np.zeros(0), np.zeros((0, k)), 0.0, proj.Q, M)
        tol = max(n, k) * EPS * max(scale, float(np.linalg.norm(M, 2)))
        U, s, Vt = np.linalg.svd(proj.project(M), full_matrices=False)
        keep = s > tol
        U, s, Vt = U[:, keep], s[keep], Vt[keep]
        stacked = np.hstack([proj.Q, U])
        basis = np.linalg.qr(stacked)[0] if stacked.shape[1] else stacked
        return cls(U, s, Vt, tol, basis, M)

    def project_off(self, a: _Arr) -> _Arr:
        """Component of ``a`` orthogonal to the affine part and to the kept range."""
        return _two_pass(self.basis, a)

    def least_norm(self, r: _Arr) -> _Arr:
        """Least-norm ``x`` in the kept range with ``(P M)^T x = r`` (least squares)."""
        return np.asarray(self.U @ ((self.Vt @ r) / self.s), dtype=np.float64)

    def orthogonal(self, alpha: _Arr, ref: float = 0.0) -> bool:
        """Whether ``M^T alpha`` is rounding: ``||M^T alpha|| <= 4 tol max(||alpha||, ref)``
        (``ref`` as in :meth:`AffineProjection.violation`).

        A point from :meth:`project_off` meets it by construction up to the dropped
        singular values (each at most ``tol``); the check catches a point that is not
        orthogonal to the affine part or to the kept range.
        """
        if not np.isfinite(alpha).all():
            return False
        size = max(float(np.linalg.norm(alpha)), ref)
        return float(np.linalg.norm(self.M.T @ alpha)) <= 4.0 * self.tol * size


def rounding_scale(X: _Arr, W: _Arr, b: _Arr, weights: _Arr) -> float:
    """Frobenius norm of ``(|X| |W|^T + |b|) * sqrt(weights)``: the magnitudes the
    (weighted) features relu(X W^T + b) are computed from, an upper bound on them."""
    pre = np.abs(X) @ np.abs(W).T + np.abs(b)
    return float(np.linalg.norm(pre * np.sqrt(weights)))


#: A dual value above the objective of a computed function by more than this times the
#: problem's scale is not rounding: the point or the objective is wrong.
ROUNDING_RTOL = 1e-12


def verified_bound(
    objective: float, lower: float, fallback: float, scale: float
) -> tuple[float, bool]:
    """The bound to report and whether it was verified.

    ``lower`` (a dual value at a feasible point) is kept unless it exceeds
    ``objective`` by more than ``ROUNDING_RTOL * scale``; a bound above the objective
    of a computed function is not a lower bound, and ``fallback`` (a weaker bound
    proven without rounding-sensitive constraints) is reported instead, unverified.
    """
    if np.isfinite(lower) and lower <= objective + ROUNDING_RTOL * scale:
        return lower, True
    return fallback, False
