"""The dual oracle: the largest correlation of a ReLU atom with a dual matrix (docs/theory.md §4).

For a dual matrix ``Z`` (N, T) whose columns are orthogonal to the free part of the
model (the constants, or the affine functions with a skip connection) the oracle is

    Lambda(Z) = sup { ||relu(X w + b)^T Z||_2 : ||w|| = 1, b in R }.

For fixed ``w`` the atom's values on the data are affine in ``b`` between the
breakpoints ``b = -w . x_i``, so the convex function ``b -> ||relu(X w + b)^T Z||``
is maximal at a breakpoint (or as ``b -> +-inf``, where it tends to 0 or to the
all-active value, which equals the breakpoint value at the lowest data point). Every
candidate atom is therefore a neuron through a data point, the *pivot* ``x_i``:
``relu(w . (x_j - x_i))``. What remains is a sup over directions:

- d = 1: the two directions +-1 (exact);
- d = 2: for each pivot, the active set changes only at the 2(N-1) angles where
  ``w`` is orthogonal to some ``x_j - x_i``. On each arc the value is
  ``||M^T w||`` with a fixed 2 x T matrix ``M``, so its maximum over the arc is at an
  end or at the top eigenvector of the 2 x 2 matrix ``M M^T`` (exact, O(N^2 T));
- d >= 3: the best of many random directions, refined by projected gradient ascent
  (a *sampled* value: a lower estimate of Lambda, not a certificate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: input dimensions for which :func:`dual_norm` is exact
EXACT_DIMS: tuple[int, ...] = (1, 2)

# largest number of float64 entries one vectorised block of the d = 2 sweep may hold
_BLOCK = 50_000


@dataclass(frozen=True)
class OracleResult:
    """Lambda(Z) and the atoms that attain it.

    ``value`` is the sup; ``exact`` says whether it was computed exactly (d <= 2) or
    only sampled (a lower estimate). ``pivots`` (P,), ``directions`` (P, d) and
    ``values`` (P,) give, for each pivot data point, its best unit direction and value
    (the atom ``relu(w . (x - x_pivot))``), sorted by decreasing value.
    """

    value: float
    exact: bool
    pivots: NDArray[np.intp]
    directions: NDArray[np.float64]
    values: NDArray[np.float64]
    arcs: NDArray[np.float64] | None = None
    interior: NDArray[np.bool_] | None = None


def dual_norm(
    x: NDArray[np.float64],
    z: NDArray[np.float64],
    *,
    n_directions: int = 2000,
    rng: np.random.Generator | None = None,
) -> OracleResult:
    """Lambda(Z) = sup over unit w and all b of ``||relu(X w + b)^T Z||_2``.

    ``x`` is (N, d), ``z`` is (N, T) with columns orthogonal to the constants. Exact for
    d <= 2; for d >= 3 the best of ``n_directions`` random directions refined by ascent
    (``exact=False``).
    """
    d = x.shape[1]
    if d == 1:
        best = _directions_values(x, z, np.array([[1.0], [-1.0]]))
        return _collect(best, exact=True)
    if d == 2:
        values, dirs, arcs, interior = _sweep_2d(x, z)
        res = _collect((values, dirs), exact=True)
        order = res.pivots
        return OracleResult(
            res.value, True, order, res.directions, res.values, arcs[order], interior[order]
        )
    gen = rng if rng is not None else np.random.default_rng(0)
    w = gen.standard_normal((n_directions, d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    best = _directions_values(x, z, w)
    best = _ascent(x, z, *best)
    return _collect(best, exact=False)


def atom_values(
    x: NDArray[np.float64],
    z: NDArray[np.float64],
    pivots: NDArray[np.intp],
    directions: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``||relu((X - x_p) w)^T Z||`` for each (pivot, direction) pair."""
    feats = np.maximum(
        np.einsum("knd,kd->kn", x[None, :, :] - x[pivots][:, None, :], directions), 0
    )
    return np.linalg.norm(feats @ z, axis=1)


def _collect(best: tuple[NDArray[np.float64], NDArray[np.float64]], *, exact: bool) -> OracleResult:
    values, dirs = best
    order = np.argsort(-values, kind="stable")
    return OracleResult(
        value=float(values[order[0]]) if values.size else 0.0,
        exact=exact,
        pivots=order.astype(np.intp),
        directions=dirs[order],
        values=values[order],
    )


def _directions_values(
    x: NDArray[np.float64], z: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Best of the directions ``w`` (m, d) for every pivot: (values (N,), dirs (N, d))."""
    n = x.shape[0]
    proj = x @ w.T  # (N, m)
    best_val = np.full(n, -1.0)
    best_dir = np.zeros((n, x.shape[1]))
    chunk = max(1, _BLOCK // max(n * n, 1))
    for start in range(0, w.shape[0], chunk):
        p = proj[:, start : start + chunk]  # (N, c)
        feats = np.maximum(p[None, :, :] - p[:, None, :], 0.0)  # (pivot, j, c)
        vals = np.linalg.norm(np.einsum("ijc,jt->ict", feats, z), axis=2)  # (pivot, c)
        arg = np.argmax(vals, axis=1)
        top = vals[np.arange(n), arg]
        better = top > best_val
        best_val[better] = top[better]
        best_dir[better] = w[start + arg[better]]
    return np.maximum(best_val, 0.0), best_dir


def _ascent(
    x: NDArray[np.float64],
    z: NDArray[np.float64],
    values: NDArray[np.float64],
    dirs: NDArray[np.float64],
    steps: int = 50,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Projected gradient ascent on the sphere from each pivot's best sampled direction."""
    n = x.shape[0]
    diff = x[None, :, :] - x[:, None, :]  # (pivot, j, d)
    w = dirs.copy()
    val = values.copy()
    step = np.full(n, 0.5)
    for _ in range(steps):
        act = np.einsum("ijd,id->ij", diff, w)
        on = act > 0
        g = np.einsum("ij,jt->it", np.maximum(act, 0.0), z)  # (pivot, T)
        norm = np.maximum(np.linalg.norm(g, axis=1), 1e-300)
        grad = np.einsum("it,jt,ij,ijd->id", g / norm[:, None], z, on, diff)
        grad -= (grad * w).sum(axis=1, keepdims=True) * w
        cand = w + step[:, None] * grad / np.maximum(norm[:, None], 1e-300)
        cand /= np.maximum(np.linalg.norm(cand, axis=1, keepdims=True), 1e-300)
        new = np.linalg.norm(
            np.einsum("ij,jt->it", np.maximum(np.einsum("ijd,id->ij", diff, cand), 0.0), z),
            axis=1,
        )
        up = new > val
        w[up], val[up] = cand[up], new[up]
        step = np.where(up, step * 1.5, step * 0.3)
    return val, w


def _sweep_2d(
    x: NDArray[np.float64], z: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Exact best direction for every pivot in d = 2 (see the module docstring).

    Returns the values (N,), unit directions (N, 2), the angle interval (N, 2) of the
    arc holding each best direction (its activation pattern is constant inside) and
    whether the best direction is inside its arc (a top eigenvector) or at an end.
    """
    n, t = z.shape
    best_val = np.zeros(n)
    best_dir = np.tile(np.array([1.0, 0.0]), (n, 1))
    best_arc = np.tile(np.array([0.0, 2 * np.pi]), (n, 1))
    best_int = np.zeros(n, dtype=bool)
    if n < 2:
        return best_val, best_dir, best_arc, best_int
    m = 2 * (n - 1)
    chunk = max(1, _BLOCK // max(m * 2 * t, 1))
    others = ~np.eye(n, dtype=bool)
    for start in range(0, n, chunk):
        piv = np.arange(start, min(n, start + chunk))
        c = len(piv)
        jdx = np.nonzero(others[piv])[1].reshape(c, n - 1)  # (c, n-1) the other points
        diff = x[jdx] - x[piv][:, None, :]  # (c, n-1, 2)
        phi = np.arctan2(diff[..., 1], diff[..., 0])
        zero = (diff == 0).all(axis=2)  # duplicates of the pivot never activate
        # events: enter at phi - pi/2 (sign +1), leave at phi + pi/2 (sign -1)
        ang = np.concatenate([phi - np.pi / 2, phi + np.pi / 2], axis=1) % (2 * np.pi)
        sign = np.concatenate([np.ones((c, n - 1)), -np.ones((c, n - 1))], axis=1)
        sign[np.concatenate([zero, zero], axis=1)] = 0.0
        who = np.concatenate([np.arange(n - 1), np.arange(n - 1)])
        order = np.argsort(ang, axis=1, kind="stable")
        rows = np.arange(c)[:, None]
        ang = ang[rows, order]
        sign = sign[rows, order]
        who_s = who[order]  # (c, m) index into the n-1 others
        # a point is active before the first event iff its leave event comes first
        rank = np.empty_like(order)
        rank[rows, order] = np.arange(m)[None, :]
        active0 = (rank[:, n - 1 :] < rank[:, : n - 1]) & ~zero  # (c, n-1)
        zj = z[jdx]  # (c, n-1, t)
        outer = diff[..., :, None] * zj[..., None, :]  # (c, n-1, 2, t)
        m0 = np.einsum("cj,cjkt->ckt", active0.astype(float), outer)
        steps = sign[..., None, None] * outer[rows, who_s]  # (c, m, 2, t)
        mats = m0[:, None] + np.cumsum(steps, axis=1)  # active set just after each event
        # arc a runs from ang[a] to ang[a+1] (the last one wraps around)
        end = np.concatenate([ang[:, 1:], ang[:, :1] + 2 * np.pi], axis=1)
        length = end - ang
        g = np.einsum("cmkt,cmlt->cmkl", mats, mats)  # (c, m, 2, 2)
        p, q, r = g[..., 0, 0], g[..., 0, 1], g[..., 1, 1]
        lam_max = 0.5 * (p + r) + np.sqrt(0.25 * (p - r) ** 2 + q * q)
        psi = 0.5 * np.arctan2(2 * q, p - r)
        inside = ((psi - ang) % np.pi) <= length

        v_start = _quad(p, q, r, ang)
        v_end = _quad(p, q, r, end)
        v_eig = np.where(inside, lam_max, -np.inf)
        stack = np.stack([v_start, v_end, v_eig], axis=-1)  # (c, m, 3)
        which = np.argmax(stack, axis=-1)
        arc_best = np.max(stack, axis=-1)
        theta_eig = ang + ((psi - ang) % np.pi)
        theta = np.choose(which, [ang, end, theta_eig])
        a = np.argmax(arc_best, axis=1)
        rc = np.arange(c)
        val = np.sqrt(np.maximum(arc_best[rc, a], 0.0))
        th = theta[rc, a]
        best_val[piv] = val
        best_dir[piv] = np.column_stack([np.cos(th), np.sin(th)])
        best_arc[piv] = np.column_stack([ang[rc, a], end[rc, a]])
        best_int[piv] = which[rc, a] == 2
    return best_val, best_dir, best_arc, best_int


def _quad(
    p: NDArray[np.float64],
    q: NDArray[np.float64],
    r: NDArray[np.float64],
    theta: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``w^T [[p, q], [q, r]] w`` at ``w = (cos theta, sin theta)``."""
    cs, sn = np.cos(theta), np.sin(theta)
    out: NDArray[np.float64] = p * cs * cs + 2 * q * cs * sn + r * sn * sn
    return out


__all__ = ["EXACT_DIMS", "OracleResult", "atom_values", "dual_norm"]
