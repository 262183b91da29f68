"""Properties of the exact univariate results: f_D, R*, Theorem 3.1 and the band."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import mtlreg
from mtlreg.univariate import (
    AmbiguityBand,
    ambiguity_band,
    connect_the_dots,
    is_unique,
    min_norm,
)

PAPER_X = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
PAPER_Y = np.array([0.7, -0.5, -0.5, 0.5, 0.2])
paper_grid = np.linspace(-2.0, 2.5, 451)
inside = (paper_grid >= PAPER_X.min()) & (paper_grid <= PAPER_X.max())
ambiguous = (paper_grid > -1.0) & (paper_grid < 0.0)


def _random_data(seed: int, n: int = 7, t: int = 3):
    rng = np.random.default_rng(seed)
    return rng.permutation(np.linspace(-2.0, 2.0, n) + rng.uniform(0, 0.1, n)), rng.standard_normal(
        (n, t)
    )


@pytest.mark.parametrize("seed", range(4))
def test_connect_the_dots_interpolates_any_order(seed: int) -> None:
    x, Y = _random_data(seed)
    f = connect_the_dots(x, Y)
    np.testing.assert_allclose(f(x), Y, atol=1e-12)
    # linear between the data: the midpoints are the chord midpoints
    mid = 0.5 * (f.x[1:] + f.x[:-1])
    np.testing.assert_allclose(f(mid), 0.5 * (f.Y[1:] + f.Y[:-1]), atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_to_network_is_f_d_with_weight_decay_r_star(seed: int) -> None:
    x, Y = _random_data(seed)
    f = connect_the_dots(x, Y)
    net = f.to_network()
    grid = np.linspace(-3.0, 3.0, 301)
    np.testing.assert_allclose(net.predict(grid[:, None]), f(grid), atol=1e-12)
    r_star = min_norm(x, Y)
    with torch.no_grad():
        assert float(net.weight_decay()) == pytest.approx(r_star, rel=1e-12)
        assert float(net.vv_norm()) == pytest.approx(r_star, rel=1e-12)
        # balanced: ||w_k|| = ||v_k|| for every neuron
        np.testing.assert_allclose(net.w.norm(dim=1), net.v.norm(dim=1), rtol=1e-12)


def test_paper_data_r_star_and_alignment() -> None:
    assert min_norm(PAPER_X, PAPER_Y) == pytest.approx(12.566666666666, abs=1e-9)
    rep = is_unique(PAPER_X, PAPER_Y)
    assert not rep.unique
    assert rep.aligned == (0,)  # D at x = -1 and at x = 0 (2.4 and 5)


def test_paper_single_task_band() -> None:
    band = ambiguity_band(PAPER_X, PAPER_Y, paper_grid)
    assert band.width[ambiguous].max() > 0.1
    assert band.width[inside & ~ambiguous].max() < 1e-3
    lower, upper = ambiguity_band(PAPER_X, PAPER_Y, [-0.5])
    # lowest: the line through (-1.5, 0.7), (-1, -0.5) extended; highest: the chord
    assert lower[0] == pytest.approx(-1.7, abs=1e-5)
    assert upper[0] == pytest.approx(-0.5, abs=1e-5)
    # deepest point: where the two extended end lines meet, x = -12/37
    lo = ambiguity_band(PAPER_X, PAPER_Y, [-12 / 37]).lower[0]
    assert lo == pytest.approx(-0.5 - 5 * 12 / 37, abs=1e-5)


def test_two_gaussian_aux_tasks_far_from_aligned_give_a_point_band() -> None:
    checked = 0
    for aux_seed in range(6):
        Y = mtlreg.aux_tasks(PAPER_Y, 2, seed=aux_seed)
        rep = is_unique(PAPER_X, Y)
        if rep.max_cosine > 0.95:
            continue
        band = ambiguity_band(PAPER_X, Y, paper_grid[inside])
        assert band.max_width < 1e-3, (aux_seed, rep.max_cosine, band.max_width)
        checked += 1
    assert checked >= 3


# Clarabel may reach only reduced accuracy on nearly aligned data (it says so).
@pytest.mark.filterwarnings("ignore:ambiguity_band:RuntimeWarning")
def test_nearly_aligned_draw_widens_the_band() -> None:
    # Bend the auxiliary task so (D_2, D_3) are nearly parallel: the band widens
    # continuously as the cosine goes to 1 (it is exactly the single-task band at 1).
    widths = []
    for c in (0.5, 0.99, 0.99999):
        d_aux = np.array([1.0, 1.0, 0.0])
        d_aux[1] = (5 / 2.4) * d_aux[0] * c + np.sqrt(max(1 - c**2, 0.0)) * 3.0
        Y = np.column_stack([PAPER_Y, _aux_with_slope_changes(d_aux)])
        widths.append(ambiguity_band(PAPER_X, Y, paper_grid[ambiguous]).max_width)
    assert widths[0] < 1e-3 < widths[2]
    assert widths[0] <= widths[1] <= widths[2]


def _aux_with_slope_changes(d: np.ndarray) -> np.ndarray:
    relu = np.maximum(PAPER_X[:, None] - PAPER_X[None, 1:-1], 0.0)
    return 0.1 + 0.3 * (PAPER_X - PAPER_X[0]) + relu @ d


@pytest.mark.parametrize("task", [0, 1, 2])
def test_band_contains_f_d_and_grows_with_rtol(task: int) -> None:
    x, Y = _random_data(7, n=6)
    grid = np.linspace(-2.5, 2.5, 41)
    bands = [ambiguity_band(x, Y, grid, task=task, rtol=r) for r in (1e-8, 1e-6, 1e-4)]
    f_task = connect_the_dots(x, Y)(grid)[:, task]
    for band in bands:
        assert np.all(band.lower <= f_task) and np.all(f_task <= band.upper)
        np.testing.assert_allclose(band.reference, f_task, atol=1e-12)
    for small, big in itertools.pairwise(bands):
        assert np.all(big.lower <= small.lower + 1e-9)
        assert np.all(big.upper >= small.upper - 1e-9)


def test_band_on_data_points_and_outside() -> None:
    rtol = 1e-4
    band = ambiguity_band(PAPER_X, PAPER_Y, np.r_[PAPER_X, -2.5, 3.0], rtol=rtol)
    np.testing.assert_array_equal(band.width[:5], 0.0)
    np.testing.assert_array_equal(band.lower[:5], PAPER_Y)
    # outside [x_1, x_N]: every interpolant of norm (1 + rtol) R* stays within
    # rtol R* * distance of the end line, on either side
    eps = rtol * min_norm(PAPER_X, PAPER_Y)
    np.testing.assert_allclose(band.width[5:], 2 * eps * np.array([1.0, 1.0]), rtol=1e-12)


def test_band_result_object() -> None:
    band = ambiguity_band(PAPER_X, PAPER_Y, [-0.5, 1.0])
    assert isinstance(band, AmbiguityBand)
    lower, upper = band
    np.testing.assert_array_equal(band.width, upper - lower)
    assert band.method == "closed_form" and band.task == 0
    assert band.r_star == pytest.approx(min_norm(PAPER_X, PAPER_Y))
    assert ambiguity_band(PAPER_X, PAPER_Y, []).max_width == 0.0
    with pytest.raises(AttributeError):
        band.rtol = 1.0  # type: ignore[misc]


def test_collinear_data_has_zero_band_for_any_method() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0])
    Y = np.column_stack([2 * x + 1, -x])
    band = ambiguity_band(x, Y, np.linspace(-1, 4, 11), rtol=0.1)
    np.testing.assert_array_equal(band.width, 0.0)
