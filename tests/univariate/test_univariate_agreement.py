"""Agreement: the exact univariate results against independent convex programs.

The references solve the brief's formulation with cvxpy + Clarabel over a
dictionary of knots (data points, the evaluation point, a uniform grid) with a
free affine part; ``mtlreg.univariate`` never builds such a dictionary.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

import mtlreg
from mtlreg.univariate import ambiguity_band, connect_the_dots, is_unique, min_norm

PAPER_X = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
PAPER_Y = np.array([0.7, -0.5, -0.5, 0.5, 0.2])


def _design(x: NDArray[np.float64], knots: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.maximum(x[:, None] - knots[None, :], 0.0)


def dictionary_knots(x: NDArray[np.float64], extra: NDArray[np.float64], n_dense: int = 60):
    """Data points, extra points and a uniform grid of knots, all inside [x_1, x_N]."""
    dense = np.linspace(x.min(), x.max(), n_dense)
    knots = np.union1d(np.union1d(x, dense), extra)
    return knots[(knots >= x.min()) & (knots <= x.max())]


def dictionary_min_norm(x: NDArray[np.float64], Y: NDArray[np.float64], knots) -> float:
    """min sum_k ||V_k|| s.t. a + b x_i + sum_k V_k relu(x_i - t_k) = y_i (free affine part)."""
    import cvxpy as cp

    Y = Y.reshape(len(x), -1)
    phi = _design(x, knots)
    V = cp.Variable((len(knots), Y.shape[1]))
    a = cp.Variable(Y.shape[1])
    b = cp.Variable(Y.shape[1])
    fit = np.ones((len(x), 1)) @ cp.reshape(a, (1, Y.shape[1]), order="C")
    fit = fit + np.outer(x, np.ones(1)) @ cp.reshape(b, (1, Y.shape[1]), order="C") + phi @ V
    prob = cp.Problem(cp.Minimize(cp.sum(cp.norm(V, 2, axis=1))), [fit == Y])
    prob.solve(solver=cp.CLARABEL)
    return float(prob.value)


def dictionary_band(
    x: NDArray[np.float64],
    Y: NDArray[np.float64],
    points: NDArray[np.float64],
    r_star: float,
    rtol: float,
    task: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The brief's formulation: min / max of f_task(g) over dictionary networks of norm
    <= (1 + rtol) R*, one pair of solves per point (knots: data, g and a dense grid)."""
    import cvxpy as cp

    Y = Y.reshape(len(x), -1)
    T = Y.shape[1]
    lower, upper = [], []
    for g in points:
        knots = dictionary_knots(x, np.array([g]))
        V = cp.Variable((len(knots), T))
        a = cp.Variable(T)
        b = cp.Variable(T)
        pred = np.ones((len(x), 1)) @ cp.reshape(a, (1, T), order="C")
        pred = pred + x[:, None] @ cp.reshape(b, (1, T), order="C") + _design(x, knots) @ V
        value = a[task] + b[task] * g + _design(np.array([g]), knots)[0] @ V[:, task]
        cons = [pred == Y, cp.sum(cp.norm(V, 2, axis=1)) <= r_star * (1 + rtol)]
        out = []
        for sense in (cp.Minimize, cp.Maximize):
            prob = cp.Problem(sense(value), cons)
            prob.solve(solver=cp.CLARABEL)
            out.append(float(prob.value))
        lower.append(out[0])
        upper.append(out[1])
    return np.array(lower), np.array(upper)


def _random_data(rng: np.random.Generator, n: int, t: int):
    x = np.sort(rng.uniform(-2.0, 2.0, n))
    return x, rng.standard_normal((n, t))


@pytest.mark.parametrize(("n", "t", "seed"), [(5, 1, 0), (7, 1, 1), (6, 3, 2), (8, 2, 3)])
def test_min_norm_equals_dictionary_program(n: int, t: int, seed: int) -> None:
    x, Y = _random_data(np.random.default_rng(seed), n, t)
    r_star = min_norm(x, Y)
    reference = dictionary_min_norm(x, Y, dictionary_knots(x, np.array([])))
    assert r_star == pytest.approx(reference, rel=1e-6)


def test_paper_min_norm_equals_dictionary_program() -> None:
    reference = dictionary_min_norm(PAPER_X, PAPER_Y, dictionary_knots(PAPER_X, np.array([])))
    assert reference == pytest.approx(12.566666, abs=1e-5)
    assert min_norm(PAPER_X, PAPER_Y) == pytest.approx(reference, rel=1e-7)


# A loose slack, so the dictionary program (absolute solver tolerance ~1e-8) is
# accurate: the reduction used by ambiguity_band is exact for every rtol.
RTOL_AGREE = 1e-3


def test_single_task_band_equals_dictionary_program() -> None:
    points = np.array([-1.7, -1.25, -0.8, -0.5, -0.1, 0.1, 1.0, 2.2])
    r_star = min_norm(PAPER_X, PAPER_Y)
    lower, upper = ambiguity_band(PAPER_X, PAPER_Y, points, rtol=RTOL_AGREE)
    ref_lo, ref_hi = dictionary_band(PAPER_X, PAPER_Y, points, r_star, RTOL_AGREE)
    np.testing.assert_allclose(lower, ref_lo, atol=1e-5)
    np.testing.assert_allclose(upper, ref_hi, atol=1e-5)


@pytest.mark.parametrize("aux_seed", [1, 5])
def test_multi_task_band_equals_dictionary_program(aux_seed: int) -> None:
    Y = mtlreg.aux_tasks(PAPER_Y, 1, seed=aux_seed)
    points = np.array([-1.25, -0.9, -0.5, -0.02, 0.1, 1.0])
    r_star = min_norm(PAPER_X, Y)
    band = ambiguity_band(PAPER_X, Y, points, rtol=RTOL_AGREE)
    ref_lo, ref_hi = dictionary_band(PAPER_X, Y, points, r_star, RTOL_AGREE)
    np.testing.assert_allclose(band.lower, ref_lo, atol=1e-5)
    np.testing.assert_allclose(band.upper, ref_hi, atol=1e-5)


def test_socp_agrees_with_closed_form_on_one_task() -> None:
    grid = np.linspace(-2.0, 2.5, 181)
    for rtol in (1e-9, 1e-7, 1e-4):
        exact = ambiguity_band(PAPER_X, PAPER_Y, grid, rtol=rtol, method="closed_form")
        cone = ambiguity_band(PAPER_X, PAPER_Y, grid, rtol=rtol, method="socp")
        np.testing.assert_allclose(cone.lower, exact.lower, atol=1e-6)
        np.testing.assert_allclose(cone.upper, exact.upper, atol=1e-6)


def test_aligned_multi_task_data_has_the_single_task_band() -> None:
    # Y = (y, 2y): every slope-change vector points the same way, so Theorem 3.1's
    # ambiguity survives; (h, 2h) is optimal for every single-task optimum h.
    grid = np.linspace(-1.5, 2.0, 71)
    single = ambiguity_band(PAPER_X, PAPER_Y, grid)
    double = ambiguity_band(PAPER_X, np.column_stack([PAPER_Y, 2 * PAPER_Y]), grid)
    assert not is_unique(PAPER_X, np.column_stack([PAPER_Y, 2 * PAPER_Y]))
    np.testing.assert_allclose(double.lower, single.lower, atol=1e-5)
    np.testing.assert_allclose(double.upper, single.upper, atol=1e-5)


@pytest.mark.parametrize("seed", range(12))
def test_is_unique_iff_band_is_wide_single_task(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    x, y = _random_data(rng, int(rng.integers(4, 9)), 1)
    grid = np.linspace(x[0], x[-1], 400)
    band = ambiguity_band(x, y, grid)
    assert (not is_unique(x, y)) == (band.max_width > 1e-3)


@pytest.mark.parametrize("seed", range(3))
def test_is_unique_iff_band_is_wide_multi_task(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    x, Y = _random_data(rng, 6, 3)
    if seed == 0:  # make one consecutive pair exactly aligned: non-unique
        f = connect_the_dots(x, Y)
        d = f.slope_changes.copy()
        d[2] = 0.7 * d[1]
        Y = _from_slope_changes(f.x, f.Y[0], f.slopes[0], d)
    grid = np.linspace(x[0], x[-1], 60)
    band = ambiguity_band(x, Y, grid)
    rep = is_unique(x, Y)
    assert (not rep.unique) == (band.max_width > 1e-3)


def _from_slope_changes(
    x: NDArray[np.float64], y0: NDArray[np.float64], s0: NDArray[np.float64], d: NDArray[np.float64]
) -> NDArray[np.float64]:
    relu = np.maximum(x[:, None] - x[None, 1:-1], 0.0)
    return y0 + np.outer(x - x[0], s0) + relu @ d
