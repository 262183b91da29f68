"""The ambiguity band: every value a minimum-norm interpolant can take (Theorem 3.1).

Reduction (exact, no knot dictionary needed). An interpolant f of the data that
takes the value u in R^T at a grid point g also interpolates the data with
(g, u) added, so its VV norm is at least R*(data + (g, u)), which by Theorem 3.1
is the connect-the-dots norm of the N + 1 points; and that connect-the-dots
interpolant attains it. Hence, with R* the data's own minimal norm,

    band(g) = { u_task : R*(data + (g, u)) <= (1 + rtol) R* }.

Adding g between x_L and x_R changes only three slope changes, all affine in u
and equal to (D_L, 0, D_R) at u = f_D(g). Writing u = f_D(g) + z / H with
H = 1/(g - x_L) + 1/(x_R - g) and l = (x_R - g) / (x_R - x_L) the condition reads

    ||D_L + l z|| + ||z|| + ||D_R + (1 - l) z|| <= ||D_L|| + ||D_R|| + rtol R*

(a term is absent where x_L or x_R is an end point of the data). Outside
[x_1, x_N] it is ||z|| <= rtol R* with z = (u - f_D(g)) / (distance to the data).
For one task the left side is a sum of absolute values, i.e. the maximum of
eight affine functions of z, so the band is exact in closed form; for several
tasks the projection of this sublevel set on coordinate ``task`` is a small
second-order cone program per grid point, solved for all grid points at once
with cvxpy + Clarabel.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_array, check_choice, check_int, check_number
from mtlreg.univariate._connect_the_dots import (
    check_univariate,
    connect_the_dots,
    power_of_two_scale,
)

BAND_METHODS: tuple[str, ...] = ("auto", "closed_form", "socp")


@dataclass(frozen=True)
class AmbiguityBand:
    """Lowest and highest value of output ``task`` over all minimum-norm interpolants.

    Unpacks as ``lower, upper = ambiguity_band(...)``.

    Attributes
    ----------
    grid
        The evaluation points, shape (M,), in the order given.
    lower, upper
        Band edges at ``grid``, shape (M,); ``lower <= reference <= upper``.
    reference
        Output ``task`` of the connect-the-dots interpolant f_D at ``grid``.
    task
        The output the band describes.
    rtol
        Interpolants with VV norm up to ``(1 + rtol) R*`` were allowed.
    r_star
        The minimal VV norm R* of the data (all tasks).
    method
        ``"closed_form"`` (one task, exact) or ``"socp"`` (cvxpy + Clarabel).
    """

    grid: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    reference: NDArray[np.float64]
    task: int
    rtol: float
    r_star: float
    method: str

    @property
    def width(self) -> NDArray[np.float64]:
        """upper - lower at each grid point."""
        return self.upper - self.lower

    @property
    def max_width(self) -> float:
        """Largest width over the grid (0 for an empty grid)."""
        return float(self.width.max()) if self.width.size else 0.0

    def __iter__(self) -> Iterator[NDArray[np.float64]]:
        return iter((self.lower, self.upper))


@dataclass(frozen=True)
class _Local:
    """Per-grid-point data of the reduced problem (inside (x_1, x_N), off the data)."""

    idx: NDArray[np.intp]  # positions in the grid
    d_left: NDArray[np.float64]  # (m, T) D_L, zero where x_L is the first point
    d_right: NDArray[np.float64]  # (m, T) D_R, zero where x_R is the last point
    l: NDArray[np.float64]  # (m,) weight of z in the left term (0 if absent)
    lr: NDArray[np.float64]  # (m,) weight of z in the right term (0 if absent)
    h: NDArray[np.float64]  # (m,) H = 1/(g - x_L) + 1/(x_R - g)
    level: NDArray[np.float64]  # (m,) ||D_L|| + ||D_R|| + eps
    eps: float  # rtol * R*


def ambiguity_band(
    x: ArrayLike,
    Y: ArrayLike,
    grid: ArrayLike,
    task: int = 0,
    *,
    rtol: float = 1e-7,
    method: str = "auto",
    solver_options: dict[str, Any] | None = None,
) -> AmbiguityBand:
    """Range of output ``task`` over every minimum-norm interpolant of all of Y's columns.

    At each grid point g the band is [min f_task(g), max f_task(g)] over all
    networks (free skip connection) that interpolate every task of (x, Y) with VV
    norm at most ``(1 + rtol) R*``. It has zero width (up to ``rtol``) where the
    solution is unique (Theorem 3.1) and is wide between two aligned slope changes.

    Parameters
    ----------
    x, Y
        Univariate data, shapes (N,) and (N,) or (N, T); distinct x, any order.
    grid
        Points where the band is evaluated, shape (M,), any finite values (outside
        [x_1, x_N] every minimum-norm interpolant is the same straight line, so the
        width there is only the tolerance, growing like ``2 rtol R*`` per unit of
        distance to the data).
    task
        Which output (column of Y) to describe.
    rtol
        Relative slack on the norm. The band of exact minimisers is the limit
        ``rtol -> 0``; a small positive value keeps the cone program well posed and
        shows how *nearly* non-unique the data is (near-aligned slope changes widen
        the band like ``rtol / (1 - cosine)``).
    method
        ``"auto"``: exact closed form for one task, ``"socp"`` otherwise.
        ``"closed_form"`` needs T = 1; ``"socp"`` works for any T (one Clarabel
        solve for all grid points).
    solver_options
        Clarabel settings to override, e.g. ``{"tol_feas": 1e-10}`` (``"socp"`` only).

    Returns
    -------
    AmbiguityBand
        Unpacks as ``(lower, upper)``.

    Example
    -------
    >>> x = [-1.5, -1.0, 0.0, 0.2, 2.0]
    >>> y = [0.7, -0.5, -0.5, 0.5, 0.2]
    >>> lower, upper = ambiguity_band(x, y, [-0.5, 1.0])
    >>> lower.round(4).tolist(), upper.round(4).tolist()
    ([-1.7, 0.3667], [-0.5, 0.3667])
    """
    xs, ys = check_univariate(x, Y)
    g = check_array(grid, "grid", ndim=(1,), min_rows=0)
    n_tasks = ys.shape[1]
    task = check_int(task, "task", low=0, high=n_tasks - 1)
    rtol = check_number(rtol, "rtol", low=0.0)
    method = check_choice(method, "method", BAND_METHODS)
    if method == "closed_form" and n_tasks != 1:
        raise ValueError(
            f"Parameter `method` should be 'auto' or 'socp' for {n_tasks} tasks "
            "('closed_form' needs a single task). Found 'closed_form'."
        )
    if method == "auto":
        method = "closed_form" if n_tasks == 1 else "socp"
    # The band is scale-covariant: compute it on (x / a, Y / c), a and c powers of two
    # (exact), and map back, so extreme-but-finite data neither overflows nor underflows.
    a, c = power_of_two_scale(xs), power_of_two_scale(ys)
    if a != 1.0 or c != 1.0:
        band = ambiguity_band(
            xs / a,
            ys / c,
            g / a,
            task=task,
            rtol=rtol,
            method=method,
            solver_options=solver_options,
        )
        with np.errstate(over="ignore"):
            lower, upper, r_star = band.lower * c, band.upper * c, band.r_star * c / a
        if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
            raise ValueError(
                "Parameter `grid`: the band at these grid points exceeds the float64 range "
                "(grid far outside the data for labels this large)."
            )
        return replace(
            band, grid=g, lower=lower, upper=upper, reference=band.reference * c, r_star=r_star
        )

    f = connect_the_dots(xs, ys)
    r_star = f.norm()
    ref = f(g)[:, task] if g.size else np.zeros(0)
    pos = np.minimum(np.searchsorted(xs, g), xs.shape[0] - 1)
    on_data = xs[pos] == g
    ref[on_data] = ys[pos[on_data], task]  # exactly the label, no round-off
    eps = rtol * r_star
    lower, upper = ref.copy(), ref.copy()

    # Outside [x_1, x_N]: ||u - f_D(g)|| <= eps * distance (a ball; its shadow is +-).
    dist = np.maximum(xs[0] - g, 0.0) + np.maximum(g - xs[-1], 0.0)
    lower -= eps * dist
    upper += eps * dist

    if method == "socp" and rtol == 0.0 and r_star > 0.0:
        raise ValueError(
            "Parameter `rtol` should be > 0 for the 'socp' method (several tasks): the cone "
            "program needs a positive slack. Found 0."
        )
    local = _local_problems(xs, ys, g, eps)
    if local.idx.size and r_star > 0.0:  # R* = 0: the only interpolant of norm 0 is f_D
        if method == "closed_form":
            z_lo, z_hi = _closed_form(local)
        else:
            z_lo, z_hi = _socp(local, task, solver_options)
        lower[local.idx] += z_lo / local.h
        upper[local.idx] += z_hi / local.h
    # f_D itself is always a minimiser: keep it inside despite solver round-off.
    lower, upper = np.minimum(lower, ref), np.maximum(upper, ref)
    return AmbiguityBand(
        grid=g,
        lower=lower,
        upper=upper,
        reference=ref,
        task=task,
        rtol=rtol,
        r_star=r_star,
        method=method,
    )


def _local_problems(
    xs: NDArray[np.float64], ys: NDArray[np.float64], g: NDArray[np.float64], eps: float
) -> _Local:
    """Set up the reduced three-term problem at every grid point strictly inside a gap."""
    n = xs.shape[0]
    s = np.diff(ys, axis=0) / np.diff(xs)[:, None]  # (N-1, T)
    d_full = np.zeros_like(ys)  # slope change at every data point, 0 at the ends
    d_full[1:-1] = np.diff(s, axis=0)
    right = np.searchsorted(xs, g, side="left")  # index of the first x >= g
    on_data = (right < n) & (xs[np.minimum(right, n - 1)] == g)
    inside = (g > xs[0]) & (g < xs[-1]) & ~on_data
    idx = np.flatnonzero(inside)
    r = right[idx]
    left = r - 1
    h_left = g[idx] - xs[left]
    h_right = xs[r] - g[idx]
    d_left, d_right = d_full[left], d_full[r]
    level = np.linalg.norm(d_left, axis=1) + np.linalg.norm(d_right, axis=1) + eps
    # The slope change at x_L (x_R) exists only if x_L (x_R) is not an end point.
    has_left, has_right = left >= 1, r <= n - 2
    return _Local(
        idx=idx,
        d_left=d_left,
        d_right=d_right,
        l=np.where(has_left, h_right / (h_left + h_right), 0.0),
        lr=np.where(has_right, h_left / (h_left + h_right), 0.0),
        h=1.0 / h_left + 1.0 / h_right,
        level=level,
        eps=eps,
    )


def _closed_form(local: _Local) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One task: |a + l z| + |z| + |b + lr z| <= level is an interval in z.

    The left side equals max over signs (sa, sz, sb) of the affine function
    sa (a + l z) + sz z + sb (b + lr z), so the sublevel set is the
    intersection of eight half-lines.
    """
    a, b, l, lr = local.d_left[:, 0], local.d_right[:, 0], local.l, local.lr
    z_lo = np.full(l.shape, -np.inf)
    z_hi = np.full(l.shape, np.inf)
    for sa, sz, sb in itertools.product((-1.0, 1.0), repeat=3):
        offset = sa * a + sb * b
        slope = sa * l + sz + sb * lr
        bound = (local.level - offset) / np.where(slope == 0.0, 1.0, slope)
        z_hi = np.where(slope > 0.0, np.minimum(z_hi, bound), z_hi)
        z_lo = np.where(slope < 0.0, np.maximum(z_lo, bound), z_lo)
    # slope(+,+,+) >= 1 > 0 and slope(-,-,-) <= -1 < 0, so both ends are finite.
    return z_lo, z_hi


def _socp(
    local: _Local, task: int, solver_options: dict[str, Any] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Several tasks: min and max of z_task over the sublevel set, all grid points at once.

    The sublevel set is tiny (size about eps) next to ||D_L|| and ||D_R||, so the
    norms are not written as cones ||a + l z|| <= s (a solver would have to resolve
    them far below its tolerance) but through their *excess* over ||a||. With
    z = rho y (rho: the block's size, see :func:`_block_scale`), y1 = (a/|a|) . y
    and y_perp the rest of y,

        ||a + l z|| - ||a|| <= rho t   <=>   p q >= (rho / k) l^2 ||y_perp||^2,
        p = t - l y1 >= 0,  q = (2 ||a|| + rho (t + l y1)) / k >= 0,  k = 2 ||a|| + rho,

    a rotated cone whose entries are all of order one (for a = 0 it reads
    t >= l ||y||; an absent term has l = 0). The budget is
    t_L + ||y|| + t_R <= eps / rho. The grid points are independent, so one
    Clarabel cone program holds a lower and an upper copy of each (a block
    diagonal problem assembled directly, without a modelling layer).
    """
    import clarabel
    import scipy.sparse as sp

    m, n_tasks = local.d_left.shape
    rho = np.tile(_block_scale(local), 2)  # blocks 0..m-1: lower, m..2m-1: upper
    n_var = n_tasks + 3  # y (T), t_L, t_R, s = ||y||
    t_idx = (n_tasks, n_tasks + 1)
    s_idx = n_tasks + 2
    n_row = 1 + (n_tasks + 1) + 2 * (n_tasks + 2)
    blocks = 2 * m
    A = np.zeros((blocks, n_row, n_var))
    b = np.zeros((blocks, n_row))
    # budget t_L + t_R + s <= eps / rho (nonnegative slack)
    A[:, 0, [t_idx[0], t_idx[1], s_idx]] = 1.0
    b[:, 0] = local.eps / rho
    # ||y|| <= s
    A[:, 1, s_idx] = -1.0
    A[:, 2 : 2 + n_tasks, :n_tasks] = -np.eye(n_tasks)
    row = 2 + n_tasks
    for side, (d, weight) in enumerate(((local.d_left, local.l), (local.d_right, local.lr))):
        d2 = np.tile(d, (2, 1))
        w = np.tile(weight, 2)[:, None]
        norm_d = np.linalg.norm(d2, axis=1)
        unit = np.divide(d2, norm_d[:, None], out=np.zeros_like(d2), where=norm_d[:, None] > 0)
        unit[norm_d == 0, 0] = 1.0  # any unit vector works when d = 0
        k = 2.0 * norm_d + rho
        a = (rho / k)[:, None]
        c = 2.0 * norm_d / k
        wu = w * unit  # (blocks, T): y1 * l = wu . y
        t = t_idx[side]
        # head p + q = (1 + a) t + (a - 1) l y1 + c
        A[:, row, t] = -(1.0 + a[:, 0])
        A[:, row, :n_tasks] = -(a - 1.0) * wu
        b[:, row] = c
        # tail 2 sqrt(a) l y_perp
        proj = np.eye(n_tasks)[None] - unit[:, :, None] * unit[:, None, :]
        A[:, row + 1 : row + 1 + n_tasks, :n_tasks] = -2.0 * (np.sqrt(a) * w)[:, :, None] * proj
        # p - q = (1 - a) t - (1 + a) l y1 - c
        last = row + 1 + n_tasks
        A[:, last, t] = -(1.0 - a[:, 0])
        A[:, last, :n_tasks] = (1.0 + a) * wu
        b[:, last] = -c
        row = last + 1
    blk, rr, cc = np.nonzero(A)
    A_sp = sp.csc_matrix(
        (A[blk, rr, cc], (blk * n_row + rr, blk * n_var + cc)),
        shape=(blocks * n_row, blocks * n_var),
    )
    q = np.zeros((blocks, n_var))
    q[:m, task] = 1.0  # minimise y_task for the lower copies
    q[m:, task] = -1.0  # maximise it for the upper copies
    cones = [
        clarabel.NonnegativeConeT(1),
        clarabel.SecondOrderConeT(n_tasks + 1),
        clarabel.SecondOrderConeT(n_tasks + 2),
        clarabel.SecondOrderConeT(n_tasks + 2),
    ] * blocks
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    # The blocks are scaled by construction; Clarabel's own equilibration only
    # hurts here (it ends "almost solved" on aligned blocks, whose budget is tiny).
    settings.equilibrate_enable = False
    for key, value in (solver_options or {}).items():
        setattr(settings, key, value)
    n = blocks * n_var
    solver = clarabel.DefaultSolver(
        sp.csc_matrix((n, n)), q.ravel(), A_sp, b.ravel(), cones, settings
    )
    solution = solver.solve()
    status = str(solution.status)
    reduced = ("AlmostSolved", "InsufficientProgress")
    if status != "Solved" and not (status in reduced and np.all(np.isfinite(solution.x))):
        raise RuntimeError(f"The ambiguity-band cone program failed (Clarabel status {status}).")
    if status in reduced:
        warnings.warn(
            "ambiguity_band: the cone program reached only reduced accuracy (typically "
            "nearly aligned slope changes); the band edges may be slightly off.",
            RuntimeWarning,
            stacklevel=3,
        )
    y = np.asarray(solution.x, dtype=np.float64).reshape(blocks, n_var)[:, task] * rho
    return y[:m], y[m:]


def _block_scale(local: _Local) -> NDArray[np.float64]:
    """An upper bound on the radius of each grid point's set {z : F(z) <= F(0) + eps}.

    By convexity F(z) >= F(0) + ||z|| + g . z with g = l a/|a| + lr b/|b|, so the
    radius is at most eps / (1 - ||g||). When the slope changes are (nearly)
    aligned, ||g|| -> 1 and the set is instead bounded by the data: the
    minimum-norm interpolants then move by at most about ||a|| + ||b||.
    """

    def unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return np.divide(v, n, out=np.zeros_like(v), where=n > 0)

    g = local.l[:, None] * unit(local.d_left) + local.lr[:, None] * unit(local.d_right)
    growth = np.maximum(1.0 - np.linalg.norm(g, axis=1), 0.0)
    cap = 2.0 * local.level
    radius = np.divide(local.eps, growth, out=cap.copy(), where=growth * cap > local.eps)
    return np.asarray(np.minimum(radius, cap), dtype=np.float64)
