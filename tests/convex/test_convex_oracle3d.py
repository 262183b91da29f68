"""The exact dual oracle in d = 3 (docs/certified.md, "Exact oracle in three dimensions").

Properties: never below a dense independent search of the sphere at any pivot and equal
to its local refinement; every returned atom attains its value; invariance to rotations,
translations and permutations of the samples; agreement with the exact lower-dimensional
oracles on coplanar and collinear data and with the deduplicated problem on duplicated
points; and a certified column-generation solve in d = 3 that lies below trained networks
and agrees with the single-output pattern program.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

import mtlreg
from mtlreg.convex import (
    EXACT_DIMS,
    CertifiedSolution,
    certificate,
    dual_lower_bound,
    dual_norm,
    network_objective,
    solve,
)


def _fibonacci_sphere(k: int) -> np.ndarray:
    """``k`` nearly uniform unit vectors (the Fibonacci lattice), independent of the oracle."""
    i = np.arange(k) + 0.5
    polar = np.arccos(1.0 - 2.0 * i / k)
    azimuth = np.pi * (1.0 + np.sqrt(5.0)) * i
    return np.column_stack(
        [np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)]
    )


GRID = _fibonacci_sphere(200_000)


def _atom(x: np.ndarray, z: np.ndarray, pivot: int, w: np.ndarray) -> float:
    """``||relu((X - x_pivot) w)^T Z||`` at the unit vector along ``w``."""
    w = w / np.linalg.norm(w)
    return float(np.linalg.norm(np.maximum((x - x[pivot]) @ w, 0.0) @ z))


def _grid_search(x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pivot: the best value over the dense grid and the grid direction attaining it."""
    values = np.empty(len(x))
    dirs = np.empty((len(x), 3))
    for p in range(len(x)):
        feats = np.maximum((x - x[p]) @ GRID.T, 0.0)  # (N, grid)
        vals = np.linalg.norm(feats.T @ z, axis=1)
        best = int(np.argmax(vals))
        values[p], dirs[p] = vals[best], GRID[best]
    return values, dirs


def _refined(x: np.ndarray, z: np.ndarray, pivot: int, start: np.ndarray) -> float:
    """A derivative-free local refinement (Nelder-Mead) of the grid's best direction."""
    res = scipy.optimize.minimize(
        lambda w: -_atom(x, z, pivot, w),
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 4000},
    )
    return max(-float(res.fun), _atom(x, z, pivot, start))


def _per_pivot(orc: mtlreg.convex.OracleResult, n: int) -> np.ndarray:
    values = np.empty(n)
    values[orc.pivots] = orc.values
    return values


def _check_against_sphere_search(x: np.ndarray, z: np.ndarray) -> None:
    orc = dual_norm(x, z)
    assert orc.exact
    exact = _per_pivot(orc, len(x))
    grid, start = _grid_search(x, z)
    # never below the search at any pivot (the exact sup is an upper bound of every
    # direction), and not far above the dense grid
    assert np.all(exact >= grid * (1 - 1e-12))
    assert np.all(exact <= grid * (1 + 2e-3) + 1e-12 * grid.max())
    # the refined search from the grid's best direction reaches the exact value
    p = int(np.argmax(grid))
    assert orc.value >= _refined(x, z, p, start[p]) * (1 - 1e-12)
    assert orc.value == pytest.approx(_refined(x, z, p, start[p]), rel=1e-8)
    # every returned atom attains its value
    for pivot, w, value in zip(orc.pivots, orc.directions, orc.values, strict=True):
        assert np.linalg.norm(w) == pytest.approx(1.0, abs=1e-12)
        assert _atom(x, z, int(pivot), w) == pytest.approx(value, rel=1e-9, abs=1e-14)


def _dual(rng: np.random.Generator, n: int, t: int) -> np.ndarray:
    z = rng.standard_normal((n, t))
    return z - z.mean(axis=0)


def test_three_dimensions_are_exact() -> None:
    assert 3 in EXACT_DIMS


@pytest.mark.parametrize(("n", "t"), [(8, 1), (10, 3), (7, 20)])
def test_oracle_agrees_with_a_dense_sphere_search(n: int, t: int) -> None:
    rng = np.random.default_rng(100 + n + t)
    _check_against_sphere_search(rng.standard_normal((n, 3)), _dual(rng, n, t))


@pytest.mark.parametrize("kind", ["duplicates", "coplanar", "lattice", "collinear"])
def test_degenerate_inputs_agree_with_the_sphere_search(kind: str) -> None:
    rng = np.random.default_rng(7)
    if kind == "duplicates":
        x = rng.standard_normal((7, 3))
        x = np.vstack([x, x[:3]])
    elif kind == "coplanar":  # a plane through the data: all circles share two points
        x = rng.standard_normal((9, 3))
        x[:, 2] = 0.5 * x[:, 0] - x[:, 1]
    elif kind == "lattice":  # two cubes: many coplanar quadruples and collinear triples
        cube = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], float)
        x = np.vstack([cube, 2 * cube])
    else:
        x = np.outer(rng.standard_normal(7), [1.0, 2.0, -1.0])
    _check_against_sphere_search(x, _dual(rng, len(x), 2))


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))


def test_invariant_to_rotations_translations_and_permutations() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 3))
    z = _dual(rng, 12, 4)
    base = dual_norm(x, z)
    values = _per_pivot(base, 12)
    for _ in range(3):
        q = _rotation(rng)
        if rng.random() < 0.5:
            q[:, 0] *= -1.0  # a reflection too
        moved = dual_norm(x @ q.T + rng.standard_normal(3), z)
        assert moved.value == pytest.approx(base.value, rel=1e-10)
        np.testing.assert_allclose(_per_pivot(moved, 12), values, rtol=1e-10)
        # the best direction rotates with the data
        w = moved.directions[0]
        assert _atom(x @ q.T, z, int(moved.pivots[0]), w) == pytest.approx(moved.value, rel=1e-9)
    order = rng.permutation(12)
    perm = dual_norm(x[order], z[order])
    assert perm.value == pytest.approx(base.value, rel=1e-12)
    np.testing.assert_allclose(_per_pivot(perm, 12), values[order], rtol=1e-10)
    # homogeneity: scaling the inputs by c > 0 scales every value by c
    scaled = dual_norm(2.5 * x, z)
    np.testing.assert_allclose(_per_pivot(scaled, 12), 2.5 * values, rtol=1e-10)


@pytest.mark.parametrize(("cx", "cz"), [(1e150, 1.0), (1e-160, 1.0), (1.0, 1e-200), (1e120, 1e120)])
def test_extreme_scales_are_homogeneous(cx: float, cz: float) -> None:
    # Lambda(c X, s Z) = c s Lambda(X, Z): no overflow or underflow of squared lengths
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 3))
    z = _dual(rng, 9, 2)
    base = dual_norm(x, z)
    far = dual_norm(cx * x, cz * z)
    assert far.value == pytest.approx(cx * cz * base.value, rel=1e-12)
    np.testing.assert_allclose(_per_pivot(far, 9), cx * cz * _per_pivot(base, 9), rtol=1e-10)


def test_coplanar_data_equals_the_exact_two_dimensional_oracle() -> None:
    # in a plane the value depends on w's projection only, so the sup over the sphere is
    # the sup over the plane's unit circle: the d = 2 oracle (an independent code path)
    rng = np.random.default_rng(5)
    for t in (1, 3):
        flat = rng.standard_normal((11, 2))
        z = _dual(rng, 11, t)
        q = _rotation(rng)
        x = np.column_stack([flat, np.zeros(11)]) @ q.T + rng.standard_normal(3)
        three, two = dual_norm(x, z), dual_norm(flat, z)
        assert three.value == pytest.approx(two.value, rel=1e-10)
        np.testing.assert_allclose(_per_pivot(three, 11), _per_pivot(two, 11), rtol=1e-10)


def test_collinear_data_equals_the_exact_one_dimensional_oracle() -> None:
    rng = np.random.default_rng(6)
    s = rng.standard_normal(9)
    u = rng.standard_normal(3)
    x = np.outer(s, u / np.linalg.norm(u)) + rng.standard_normal(3)
    z = _dual(rng, 9, 2)
    three, one = dual_norm(x, z), dual_norm(s[:, None], z)
    assert three.value == pytest.approx(one.value, rel=1e-10)
    np.testing.assert_allclose(_per_pivot(three, 9), _per_pivot(one, 9), rtol=1e-10)


def test_duplicated_points_equal_the_merged_problem() -> None:
    # duplicates have identical features, so they act as one point with summed rows of Z
    rng = np.random.default_rng(8)
    x = rng.standard_normal((8, 3))
    z = _dual(rng, 11, 3)
    dup = np.vstack([x, x[[1, 4, 4]]])
    merged = z[:8].copy()
    merged[1] += z[8]
    merged[4] += z[9] + z[10]
    a, b = dual_norm(dup, z), dual_norm(x, merged)
    assert a.value == pytest.approx(b.value, rel=1e-10)
    va, vb = _per_pivot(a, 11), _per_pivot(b, 8)
    np.testing.assert_allclose(va[:8], vb, rtol=1e-10)
    np.testing.assert_allclose(va[[8, 9, 10]], vb[[1, 4, 4]], rtol=1e-10)


def test_tiny_problems() -> None:
    z = np.array([[1.0, -2.0], [-1.0, 2.0]])
    x = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    orc = dual_norm(x, z)
    # one neuron through either point, pointing at the other: |x_1 - x_0| |z_j|
    assert orc.value == pytest.approx(3.0 * np.sqrt(5.0), rel=1e-12)
    assert dual_norm(np.zeros((1, 3)), np.zeros((1, 2))).value == 0.0
    same = dual_norm(np.ones((4, 3)), _dual(np.random.default_rng(0), 4, 2))
    assert same.value == 0.0  # all points equal: every atom is zero


def test_column_generation_certifies_in_three_dimensions() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 3))
    Y = rng.standard_normal((10, 3))
    lam = 1e-2
    sol = solve(x, Y, lam, method="cg")
    assert isinstance(sol, CertifiedSolution)
    assert sol.exact and sol.converged
    assert -1e-12 <= sol.relative_gap <= 1e-6
    assert sol.info["oracle"] == "exact"
    # weak duality: no trained network is below the certified lower bound
    for seed in range(2):
        res = mtlreg.train(
            x,
            Y,
            width=32,
            lam=lam,
            skip=False,
            method="continuation",
            seed=seed,
            max_steps=1500,
            progress=False,
        )
        obj, _, _ = network_objective(res.net, x, Y, lam, task=None)
        assert sol.lower_bound <= obj * (1 + 1e-12)
        assert sol.lower_bound <= res.objective * (1 + 1e-12)
        cert = certificate(res.net, x, Y, lam, solution=sol)
        assert cert.exact and cert.gap >= 0.0
    # the bound from any fit is exact in d = 3 and below the optimum
    bound, exact = dual_lower_bound(x, Y, np.zeros_like(Y), lam)
    assert exact and bound <= sol.objective * (1 + 1e-12)
    # solving the rotated problem gives the same optimum
    q = _rotation(rng)
    turned = solve(x @ q.T, Y, lam, method="cg")
    assert turned.converged
    assert turned.objective == pytest.approx(sol.objective, rel=2e-6)


def _dense_newton(
    a: np.ndarray, u: np.ndarray, c: np.ndarray, g: np.ndarray, extra: np.ndarray | None
) -> np.ndarray:
    """The Newton system of the finite group lasso, formed and solved densely."""
    n, k = a.shape
    t = u.shape[1]
    hess = np.kron((2.0 / n) * a.T @ a, np.eye(t))
    for j in range(k):
        alpha = 1.0 if extra is None else 1.0 / (1.0 + c[j] * extra[j])
        sl = slice(j * t, (j + 1) * t)
        hess[sl, sl] += c[j] * (np.eye(t) - alpha * np.outer(u[j], u[j]))
    return np.linalg.solve(hess, g.ravel()).reshape(k, t)


@pytest.mark.parametrize(("n", "k", "t"), [(30, 120, 29), (10, 40, 5), (20, 5, 51)])
@pytest.mark.parametrize("smoothed", [False, True])
def test_low_rank_newton_step_equals_the_dense_solve(
    n: int, k: int, t: int, smoothed: bool
) -> None:
    """The Woodbury Newton step (K > N: the Gram matrix is singular) is the exact one."""
    from mtlreg.convex._certified import _newton_lowrank

    rng = np.random.default_rng(n + k + t)
    a = rng.standard_normal((n, k))
    u = rng.standard_normal((k, t))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    c = np.exp(2.0 * rng.standard_normal(k))
    g = rng.standard_normal((k, t))
    # smoothed blocks c (I - alpha u u^T), alpha = 1 / (1 + c extra) in (0, 1)
    extra = np.exp(rng.standard_normal(k)) if smoothed else None
    ref = _dense_newton(a, u, c, g, extra)
    step = _newton_lowrank(a, u, c, g, extra)
    assert step is not None
    assert np.abs(step - ref).max() <= 1e-8 * np.abs(ref).max()


@pytest.mark.parametrize("seed", [0, 1])
def test_smoothed_finite_group_lasso_equals_the_conic_solve(seed: int) -> None:
    """Many atoms (K > N, near interpolation): the smoothed Newton solve reaches the
    interior point optimum and satisfies the optimality conditions of every block."""
    from mtlreg.convex._certified import (
        _gl_value,
        _group_lasso,
        _group_lasso_conic,
        _group_lasso_smooth,
    )

    rng = np.random.default_rng(seed)
    n, k, t, lam = 12, 60, 6, 1e-3
    a = np.maximum(rng.standard_normal((n, k)), 0.0)
    a -= a.mean(axis=0)
    b = rng.standard_normal((n, t))
    b -= b.mean(axis=0)
    ref = _group_lasso_conic(a, b, lam)
    assert ref is not None
    v = _group_lasso_smooth(a, b, np.zeros((k, t)), lam)
    assert v is not None
    assert _gl_value(a, b, v, lam) == pytest.approx(_gl_value(a, b, ref, lam), rel=1e-9)
    v = _group_lasso(a, b, np.zeros((k, t)), lam, 1e-14)
    best = _gl_value(a, b, v, lam)
    assert best <= _gl_value(a, b, ref, lam) * (1 + 1e-10)
    # optimality: gradient of the fit g_k = -(2/N) a_k^T r; ||g_k|| <= lam on zero blocks,
    # g_k = -lam v_k / ||v_k|| on the others
    grad = -(2.0 / n) * a.T @ (b - a @ v)
    norms = np.linalg.norm(v, axis=1)
    on = norms > 0
    assert 0 < on.sum() < k
    assert np.all(np.linalg.norm(grad[~on], axis=1) <= lam * (1 + 1e-6))
    resid = grad[on] + lam * v[on] / norms[on, None]
    assert np.abs(resid).max() <= 1e-6 * lam


def test_three_dimensional_many_task_problem_certifies() -> None:
    """d = 3, N = 30, T = 51, lam = 1e-4 (about 200 neurons, r = 29 output coordinates):
    stopped at 60 s with a gap of 0.15 before the smoothed finite solve; now certified."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 3))
    Y = rng.standard_normal((30, 51))
    sol = solve(x, Y, 1e-4, method="cg", tol=1e-5, max_seconds=120)
    assert sol.exact and sol.converged
    assert -1e-12 <= sol.relative_gap <= 1e-5
    assert sol.n_neurons > 100


def test_three_dimensional_skip_problem_certifies() -> None:
    """With skip the features span only N - 4 dimensions and the Newton system's K x K
    Schur complement came out indefinite by rounding (min eigenvalue -4e-14): the
    smoothed solve gave up, block coordinate descent left the finite problem 3e-4 from
    its optimality conditions and the gap stalled at 1.2e-4 after 60 s. Now certified."""
    n, t = 30, 51
    rng = np.random.default_rng(n + t)
    x = rng.standard_normal((n, 3))
    Y = np.sin(x @ rng.standard_normal((3, t))) + 0.1 * rng.standard_normal((n, t))
    sol = solve(x, Y, 1e-2, skip=True, method="cg", tol=1e-6, max_seconds=120)
    assert sol.exact and sol.converged
    assert -1e-12 <= sol.relative_gap <= 1e-6
