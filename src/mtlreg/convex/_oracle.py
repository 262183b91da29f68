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
- d = 3: for each pivot the great circles ``{w : w . (x_j - x_i) = 0}`` cut the sphere
  into cells of constant activation pattern, on each of which the squared value is a
  3 x 3 quadratic form. The maximum is on a circle (the d = 2 arc sweep in the circle's
  plane) or inside a cell at the top eigenvector of its form; sweeping every circle
  lists every cell (each borders an arc). Exact, O(N^3 (log N + min(N, T))), compiled
  by numba (docs/certified.md, "Exact oracle in three dimensions");
- d >= 4: the best of many random directions, refined by projected gradient ascent
  (a *sampled* value: a lower estimate of Lambda, not a certificate).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

#: input dimensions for which :func:`dual_norm` is exact
EXACT_DIMS: tuple[int, ...] = (1, 2, 3)

# largest number of float64 entries one vectorised block of the d = 2 sweep may hold
_BLOCK = 50_000


@dataclass(frozen=True)
class OracleResult:
    """Lambda(Z) and the atoms that attain it.

    ``value`` is the sup; ``exact`` says whether it was computed exactly (d <= 3) or
    only sampled (a lower estimate). ``pivots`` (P,), ``directions`` (P, d) and
    ``values`` (P,) give, for each pivot data point, its best unit direction and value
    (the atom ``relu(w . (x - x_pivot))``), sorted by decreasing value. In d = 2
    ``arcs`` (P, 2) is the angle interval of constant activation pattern holding each
    direction; in d = 2 and 3 ``interior`` says whether the direction is a top
    eigenvector inside such a region (False: on its boundary, i.e. the neuron passes
    through another data point besides its pivot, where the value has a kink).
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
    d <= 3 (:data:`EXACT_DIMS`; up to rounding, and never below the sup by more than
    rounding); for d >= 4 the best of ``n_directions`` random directions refined by
    ascent (``exact=False``, a lower estimate). ``n_directions`` and ``rng`` only
    matter for d >= 4. Cost: O(N^2 T) in d = 2; O(N^3 min(N, T)) in d = 3 (measured,
    one thread, T = 51: 7 ms at N = 20, 1 s at N = 100; the first call compiles the
    numba kernel, cached on disk).

    The sweep runs at unit scale (an exact symmetry: shifting the inputs changes
    nothing, scaling them by ``s`` scales Lambda by ``s``, and Lambda is positively
    homogeneous in ``Z``), so inputs or duals of any magnitude neither overflow nor
    underflow; the value is mapped back.
    """
    centred = x - x.mean(axis=0)
    sx = float(np.abs(centred).max(initial=0.0)) or 1.0
    sz = float(np.abs(z).max(initial=0.0)) or 1.0
    res = _dual_norm_unit(centred / sx, z / sz, n_directions=n_directions, rng=rng)
    factor = sx * sz
    return replace(res, value=res.value * factor, values=res.values * factor)


def _dual_norm_unit(
    x: NDArray[np.float64],
    z: NDArray[np.float64],
    *,
    n_directions: int,
    rng: np.random.Generator | None,
) -> OracleResult:
    """:func:`dual_norm` on inputs and duals of unit scale."""
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
    if d == 3:
        values3, dirs3, inner3 = _sweep_3d(x, z)
        res = _collect((values3, dirs3), exact=True)
        return OracleResult(
            res.value, True, res.pivots, res.directions, res.values, None, inner3[res.pivots]
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
        g = np.einsum("cmkt,cmlt->cmkl", mats, mats)  # (c, m, 2, 2)
        arc_best, theta, which = _arc_max(g, ang, end)
        a = np.argmax(arc_best, axis=1)
        rc = np.arange(c)
        val = np.sqrt(np.maximum(arc_best[rc, a], 0.0))
        th = theta[rc, a]
        best_val[piv] = val
        best_dir[piv] = np.column_stack([np.cos(th), np.sin(th)])
        best_arc[piv] = np.column_stack([ang[rc, a], end[rc, a]])
        best_int[piv] = which[rc, a] == 2
    return best_val, best_dir, best_arc, best_int


def _sweep_3d(
    x: NDArray[np.float64], z: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Exact best direction for every pivot in d = 3 (docs/certified.md, "Exact oracle
    in three dimensions").

    For a pivot ``x_p`` the great circles ``{w : w . d_k = 0}``, ``d_k = x_k - x_p``,
    cut the sphere into cells of constant activation pattern ``S``, where the squared
    value is the quadratic form ``w^T G_S w``. Its maximum is on one of the circles (a
    2-D problem on each, solved by the same arc sweep as in d = 2) or inside a cell, at
    a top eigenvector of ``G_S``. Every cell borders an arc of some circle, so sweeping
    every circle lists every cell: the arc's pattern plus the points whose circle it is
    (``d_k`` parallel to ``d_j``) on one side or the other.

    Returns the values (N,), unit directions (N, 3) and whether each best direction is a
    top eigenvector inside a cell (False: on a circle, i.e. through two data points).
    """
    n = x.shape[0]
    best_val = np.zeros(n)
    best_dir = np.tile(np.array([1.0, 0.0, 0.0]), (n, 1))
    best_int = np.zeros(n, dtype=bool)
    if n < 2:
        return best_val, best_dir, best_int
    # the value is positively homogeneous in the differences and in Z: work at unit
    # scale (no overflow or underflow of squared lengths) and scale back
    sx = float(np.abs(x - x.mean(axis=0)).max())
    sz = float(np.abs(z).max())
    if not (sx > 0.0 and sz > 0.0):
        return best_val, best_dir, best_int
    # Z enters only through Z Z^T: U S (N, min(N, T)) from its SVD gives the same norms
    u, sv, _ = np.linalg.svd(z / sz, full_matrices=False)
    zr = u * sv
    m = n - 1
    jdx = np.nonzero(~np.eye(n, dtype=bool))[1].reshape(n, m)  # the other points
    diff = np.ascontiguousarray((x[jdx] - x[:, None, :]) / sx)  # (N, m, 3)
    dn = np.linalg.norm(diff, axis=2)
    unit = diff / np.where(dn > 0, dn, 1.0)[..., None]
    unit[dn == 0] = np.array([1.0, 0.0, 0.0])
    basis = np.ascontiguousarray(_plane_basis(unit))  # (N, m, 3, 2): plane of circle k
    zj = np.ascontiguousarray(zr[jdx])
    _kernel3()(diff, zj, basis, _MEMBER_TOL, best_val, best_dir, best_int)
    return best_val * (sx * sz), best_dir, best_int


#: a top eigenvector within this (relative) distance of a cell's walls counts as inside
_MEMBER_TOL = 1e-8
#: top two eigenvalues of a cell closer than this (relative) make its eigenvector unsure
_EIG_GAP = 1e-6


def _sweep3_pivots(
    diff: NDArray[np.float64],
    zj: NDArray[np.float64],
    basis: NDArray[np.float64],
    tol: float,
    best_val: NDArray[np.float64],
    best_dir: NDArray[np.float64],
    best_int: NDArray[np.bool_],
) -> None:
    """The d = 3 sweep of every pivot (compiled by numba; see :func:`_sweep_3d`).

    ``diff`` (c, m, 3): ``x_k - x_p`` for the m other points of pivot p; ``zj`` (c, m, r)
    their rows of Z; ``basis`` (c, m, 3, 2) an orthonormal basis of each circle's plane.
    Writes the best squared value's root, its direction and whether it is inside a cell.
    """
    c, m, _ = diff.shape
    r = zj.shape[2]
    two_pi = 2.0 * math.pi
    half_pi = 0.5 * math.pi
    gap_tol = _EIG_GAP
    ang = np.empty(2 * m)
    sgn = np.empty(2 * m)
    rank = np.empty(2 * m, dtype=np.int64)
    par = np.empty(m, dtype=np.bool_)
    act = np.empty(m, dtype=np.bool_)
    side = np.empty(m)
    dn = np.empty(m)
    mat = np.empty((3, r))
    pmat = np.empty((2, 3, r))
    has = np.empty(2, dtype=np.bool_)
    ppt = np.empty((2, 3, 3))
    g = np.empty((3, 3))
    for i in range(c):
        d = diff[i]
        zz = zj[i]
        for k in range(m):
            dn[k] = math.sqrt(d[k, 0] ** 2 + d[k, 1] ** 2 + d[k, 2] ** 2)
        best = -1.0
        w0, w1, w2 = 1.0, 0.0, 0.0
        inner = False
        for j in range(m):
            if dn[j] == 0.0:
                continue  # a duplicate of the pivot: no circle, never active
            n0, n1, n2 = d[j, 0] / dn[j], d[j, 1] / dn[j], d[j, 2] / dn[j]
            e = basis[i, j]
            for k in range(m):
                q0 = e[0, 0] * d[k, 0] + e[1, 0] * d[k, 1] + e[2, 0] * d[k, 2]
                q1 = e[0, 1] * d[k, 0] + e[1, 1] * d[k, 1] + e[2, 1] * d[k, 2]
                par[k] = math.sqrt(q0 * q0 + q1 * q1) <= 1e-12 * dn[k]
                side[k] = n0 * d[k, 0] + n1 * d[k, 1] + n2 * d[k, 2]
                phi = math.atan2(q1, q0)
                ang[k] = (phi - half_pi) % two_pi  # enters
                ang[m + k] = (phi + half_pi) % two_pi  # leaves
                sgn[k] = 0.0 if par[k] else 1.0
                sgn[m + k] = 0.0 if par[k] else -1.0
            order = np.argsort(ang)
            for a in range(2 * m):
                rank[order[a]] = a
            mat[:, :] = 0.0
            pmat[:, :, :] = 0.0
            has[:] = False
            for k in range(m):
                # active before the first event iff its leave event comes first
                act[k] = (not par[k]) and rank[m + k] < rank[k]
                if act[k]:
                    for a in range(3):
                        for t in range(r):
                            mat[a, t] += d[k, a] * zz[k, t]
                elif par[k] and side[k] != 0.0:
                    h = 0 if side[k] > 0.0 else 1
                    has[h] = True
                    for a in range(3):
                        for t in range(r):
                            pmat[h, a, t] += d[k, a] * zz[k, t]
            for h in range(2):
                for a in range(3):
                    for b in range(3):
                        acc = 0.0
                        for t in range(r):
                            acc += pmat[h, a, t] * pmat[h, b, t]
                        ppt[h, a, b] = acc
            for ev in range(2 * m):
                idx = order[ev]
                k = idx if idx < m else idx - m
                s = sgn[idx]
                if s != 0.0:
                    for a in range(3):
                        for t in range(r):
                            mat[a, t] += s * d[k, a] * zz[k, t]
                    act[k] = s > 0.0
                lo = ang[idx]
                hi = ang[order[ev + 1]] if ev + 1 < 2 * m else ang[order[0]] + two_pi
                for a in range(3):
                    for b in range(a, 3):
                        acc = 0.0
                        for t in range(r):
                            acc += mat[a, t] * mat[b, t]
                        g[a, b] = acc
                        g[b, a] = acc
                # ---- the arc [lo, hi] of circle j: a 2 x 2 quadratic form
                p2 = 0.0
                q2 = 0.0
                r2 = 0.0
                for a in range(3):
                    for b in range(3):
                        p2 += e[a, 0] * g[a, b] * e[b, 0]
                        q2 += e[a, 0] * g[a, b] * e[b, 1]
                        r2 += e[a, 1] * g[a, b] * e[b, 1]
                top2 = 0.5 * (p2 + r2) + math.sqrt(0.25 * (p2 - r2) ** 2 + q2 * q2)
                psi = 0.5 * math.atan2(2.0 * q2, p2 - r2)
                th = lo
                cs, sn = math.cos(lo), math.sin(lo)
                val = p2 * cs * cs + 2.0 * q2 * cs * sn + r2 * sn * sn
                cs, sn = math.cos(hi), math.sin(hi)
                v_end = p2 * cs * cs + 2.0 * q2 * cs * sn + r2 * sn * sn
                if v_end > val:
                    val, th = v_end, hi
                off = (psi - lo) % math.pi
                if off <= hi - lo and top2 > val:
                    val, th = top2, lo + off
                if val > best:
                    best = val
                    cs, sn = math.cos(th), math.sin(th)
                    w0 = e[0, 0] * cs + e[0, 1] * sn
                    w1 = e[1, 0] * cs + e[1, 1] * sn
                    w2 = e[2, 0] * cs + e[2, 1] * sn
                    inner = False
                # ---- the cells on either side of the arc (h = 0: w . d_j > 0)
                for h in range(2):
                    a00, a01, a02 = g[0, 0], g[0, 1], g[0, 2]
                    a11, a12, a22 = g[1, 1], g[1, 2], g[2, 2]
                    if has[h]:
                        x00 = 0.0
                        x01 = 0.0
                        x02 = 0.0
                        x10 = 0.0
                        x11 = 0.0
                        x12 = 0.0
                        x20 = 0.0
                        x21 = 0.0
                        x22 = 0.0
                        for t in range(r):
                            x00 += mat[0, t] * pmat[h, 0, t]
                            x01 += mat[0, t] * pmat[h, 1, t]
                            x02 += mat[0, t] * pmat[h, 2, t]
                            x10 += mat[1, t] * pmat[h, 0, t]
                            x11 += mat[1, t] * pmat[h, 1, t]
                            x12 += mat[1, t] * pmat[h, 2, t]
                            x20 += mat[2, t] * pmat[h, 0, t]
                            x21 += mat[2, t] * pmat[h, 1, t]
                            x22 += mat[2, t] * pmat[h, 2, t]
                        a00 += 2.0 * x00 + ppt[h, 0, 0]
                        a11 += 2.0 * x11 + ppt[h, 1, 1]
                        a22 += 2.0 * x22 + ppt[h, 2, 2]
                        a01 += x01 + x10 + ppt[h, 0, 1]
                        a02 += x02 + x20 + ppt[h, 0, 2]
                        a12 += x12 + x21 + ppt[h, 1, 2]
                    # top eigenvalue of the symmetric 3 x 3 matrix (trigonometric form)
                    qm = (a00 + a11 + a22) / 3.0
                    off2 = a01 * a01 + a02 * a02 + a12 * a12
                    pv = (a00 - qm) ** 2 + (a11 - qm) ** 2 + (a22 - qm) ** 2 + 2.0 * off2
                    if pv <= 0.0:
                        l1 = qm
                        l2 = qm
                    else:
                        pp = math.sqrt(pv / 6.0)
                        b00, b11, b22 = (a00 - qm) / pp, (a11 - qm) / pp, (a22 - qm) / pp
                        b01, b02, b12 = a01 / pp, a02 / pp, a12 / pp
                        det = (
                            b00 * (b11 * b22 - b12 * b12)
                            - b01 * (b01 * b22 - b12 * b02)
                            + b02 * (b01 * b12 - b11 * b02)
                        )
                        rr = min(max(0.5 * det, -1.0), 1.0)
                        ph = math.acos(rr) / 3.0
                        l1 = qm + 2.0 * pp * math.cos(ph)
                        l3 = qm + 2.0 * pp * math.cos(ph + 2.0 * math.pi / 3.0)
                        l2 = 3.0 * qm - l1 - l3
                    if not l1 > best:
                        continue
                    # its eigenvector: the largest cross product of two rows of A - l1 I
                    r00, r01, r02 = a00 - l1, a01, a02
                    r11, r12 = a11 - l1, a12
                    r22 = a22 - l1
                    c0 = r01 * r12 - r02 * r11
                    c1 = r02 * r01 - r00 * r12
                    c2 = r00 * r11 - r01 * r01
                    cn = c0 * c0 + c1 * c1 + c2 * c2
                    d0 = r01 * r22 - r02 * r12
                    d1 = r02 * r02 - r00 * r22
                    d2 = r00 * r12 - r01 * r02
                    dd = d0 * d0 + d1 * d1 + d2 * d2
                    if dd > cn:
                        c0, c1, c2, cn = d0, d1, d2, dd
                    d0 = r11 * r22 - r12 * r12
                    d1 = r12 * r02 - r01 * r22
                    d2 = r01 * r12 - r11 * r02
                    dd = d0 * d0 + d1 * d1 + d2 * d2
                    if dd > cn:
                        c0, c1, c2, cn = d0, d1, d2, dd
                    unsure = l1 - l2 <= gap_tol * abs(l1) or cn <= 0.0
                    if unsure:
                        # a (near) double top eigenvalue: the eigenvector is not reliable,
                        # so take l1, an upper bound on the cell's value (never too small)
                        best = l1
                        if cn > 0.0:
                            cn = math.sqrt(cn)
                            w0, w1, w2 = c0 / cn, c1 / cn, c2 / cn
                        inner = True
                        continue
                    cn = math.sqrt(cn)
                    c0, c1, c2 = c0 / cn, c1 / cn, c2 / cn
                    for flip in range(2):
                        if flip == 1:
                            c0, c1, c2 = -c0, -c1, -c2
                        inside = True
                        for kk in range(m):
                            if dn[kk] == 0.0:
                                continue
                            tt = (c0 * d[kk, 0] + c1 * d[kk, 1] + c2 * d[kk, 2]) / dn[kk]
                            if par[kk]:
                                on = side[kk] > 0.0 if h == 0 else side[kk] < 0.0
                            else:
                                on = act[kk]
                            if (on and tt < -tol) or (not on and tt > tol):
                                inside = False
                                break
                        if inside:
                            best = l1
                            w0, w1, w2 = c0, c1, c2
                            inner = True
                            break
        best_val[i] = math.sqrt(max(best, 0.0))
        best_dir[i, 0] = w0
        best_dir[i, 1] = w1
        best_dir[i, 2] = w2
        best_int[i] = inner


_KERNEL3: list[Callable[..., None]] = []


def _kernel3() -> Callable[..., None]:
    """:func:`_sweep3_pivots` compiled by numba (cached on disk), or plain Python."""
    if not _KERNEL3:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            _KERNEL3.append(_sweep3_pivots)
        else:
            _KERNEL3.append(numba.njit(cache=True, nogil=True)(_sweep3_pivots))
    return _KERNEL3[0]


def _plane_basis(nrm: NDArray[np.float64]) -> NDArray[np.float64]:
    """An orthonormal basis (..., 3, 2) of the plane orthogonal to each unit vector."""
    axis = np.where(
        (np.abs(nrm[..., 0]) < 0.9)[..., None], np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    )
    e1 = axis - (axis * nrm).sum(axis=-1, keepdims=True) * nrm
    e1 /= np.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = np.cross(nrm, e1)
    return np.stack([e1, e2], axis=-1)


def _arc_max(
    g: NDArray[np.float64], ang: NDArray[np.float64], end: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.intp]]:
    """Maximum of ``w^T g w`` over the arcs ``[ang, end]`` of the unit circle.

    ``g`` (..., 2, 2) symmetric. Returns the maximum, the angle attaining it and where it
    is (0: the arc's start, 1: its end, 2: the top eigenvector, inside the arc).
    """
    p, q, r = g[..., 0, 0], g[..., 0, 1], g[..., 1, 1]
    lam_max = 0.5 * (p + r) + np.sqrt(0.25 * (p - r) ** 2 + q * q)
    psi = 0.5 * np.arctan2(2 * q, p - r)
    inside = ((psi - ang) % np.pi) <= end - ang
    v_start = _quad(p, q, r, ang)
    v_end = _quad(p, q, r, end)
    v_eig = np.where(inside, lam_max, -np.inf)
    stack = np.stack([v_start, v_end, v_eig], axis=-1)
    which = np.argmax(stack, axis=-1)
    best = np.max(stack, axis=-1)
    theta_eig = ang + ((psi - ang) % np.pi)
    theta = np.choose(which, [ang, end, theta_eig])
    return best, theta, which


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
