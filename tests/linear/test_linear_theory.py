"""Asymptotic theory: closed-form special cases, Monte-Carlo agreement, peaks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from mtlreg.linear import sigma_from_rho, simulate_error, theory_error

SIGMA = sigma_from_rho(0.8)


def theory(alpha, T, sigma, l0, l, phi, **kwargs):
    """theory_error at strengths over d (lambda = d l, docs/theory.md §8): lam = l / (T alpha)."""
    per_n = T * alpha
    return theory_error(
        alpha, T, sigma, lam_shared=l0 / per_n, lam_task=l / per_n, phi=phi, **kwargs
    )


def simulate(n, d, T, sigma, l0, l, phi, **kwargs):
    """simulate_error at strengths over d: lam = d l / N with N = T n."""
    lam_shared, lam_task = l0 * d / (T * n), l * d / (T * n)
    return simulate_error(
        n, d, T, sigma, lam_shared=lam_shared, lam_task=lam_task, phi=phi, **kwargs
    )


@pytest.mark.parametrize("alpha", [0.3, 0.7, 1.5, 3.0])
def test_single_task_ridgeless_matches_closed_form(alpha):
    # Hastie et al. (2019): min-norm least squares with signal r^2 and noise tau^2.
    noise, r2 = 0.5, 1.0 + SIGMA**2
    excess = (
        r2 * (1 - alpha) + noise**2 * alpha / (1 - alpha) if alpha < 1 else noise**2 / (alpha - 1)
    )
    th = theory(alpha, 1, SIGMA, 0.0, 0.0, "identity", noise=noise)
    assert th.mse == pytest.approx(noise**2 + excess, rel=1e-8)
    assert th.tau2 == pytest.approx(noise**2)


@pytest.mark.parametrize("phi", ["sign", "relu"])
def test_single_task_depends_on_harmonic_penalty_only(phi):
    a = theory(0.6, 1, SIGMA, 0.1, 0.4, phi)
    b = theory(0.6, 1, SIGMA, 0.16, 0.16, phi)  # 0.1 * 0.4 / 0.5 = 0.08 = harmonic
    assert a.mse == pytest.approx(b.mse, rel=1e-10)
    assert a.overlap == pytest.approx(b.overlap, rel=1e-10)


def test_ridgeless_tasks_are_independent_least_squares_when_overdetermined():
    ref = theory(2.5, 1, SIGMA, 0.0, 0.0, "relu").mse
    for T in (2, 5, 20):
        assert theory(2.5, T, SIGMA, 0.0, 0.0, "relu").mse == pytest.approx(ref, rel=1e-8)


def test_limits_are_continuous():
    exact = theory(0.4, 3, SIGMA, 0.0, 0.5, "sign")
    near = theory(0.4, 3, SIGMA, 1e-9, 0.5, "sign")
    assert exact.mse == pytest.approx(near.mse, rel=1e-6)
    both = theory(0.4, 3, SIGMA, 0.0, 0.0, "sign", lam_ratio=2.0)
    near = theory(0.4, 3, SIGMA, 2e-9, 1e-9, "sign")
    assert both.mse == pytest.approx(near.mse, rel=1e-6)


def test_classification_error_consistent_with_overlap_and_norm():
    th = theory(0.8, 4, SIGMA, 0.05, 0.05, "sign")
    s = np.sqrt(1 + SIGMA**2)
    assert th.classification_error == pytest.approx(
        np.arccos(th.overlap / (s * np.sqrt(th.norm2))) / np.pi
    )
    assert theory(0.8, 4, SIGMA, 0.05, 0.05, "relu").classification_error is None


@pytest.mark.parametrize(
    ("T", "alpha", "l0", "l", "phi"),
    [
        (1, 0.5, 0.05, 0.05, "sign"),
        (3, 0.6, 0.0, 1.0, "sign"),
        (3, 1.5, 0.0, 1.0, "relu"),
        (4, 0.5, 0.02, 0.02, "relu"),
        (2, 0.7, 0.0, 0.0, "sign"),
    ],
)
def test_theory_matches_small_monte_carlo(T, alpha, l0, l, phi):
    d = 150
    mc = simulate(int(alpha * d), d, T, SIGMA, l0, l, phi, trials=6, seed=11)
    th = theory(alpha, T, SIGMA, l0, l, phi)
    assert abs(mc.mse - th.mse) <= max(0.05 * th.mse, 3 * mc.mse_se)
    if phi == "sign":
        assert abs(mc.classification_error - th.classification_error) <= max(
            0.05 * th.classification_error, 3 * mc.classification_error_se
        )


@pytest.mark.parametrize("T", [1, 2, 5, 10, 20])
def test_theory_peak_moves_to_one_over_T_when_shared_penalty_vanishes(T):
    alphas = np.geomspace(0.02, 4.0, 400)
    mse = [theory(a, T, SIGMA, 0.0, 1.0, "sign").mse for a in alphas]
    assert alphas[int(np.argmax(mse))] == pytest.approx(1.0 / T, rel=0.02)


@pytest.mark.parametrize("T", [1, 3])
def test_measured_peak_moves_to_one_over_T(T):
    d = 60
    ns = np.unique(np.geomspace(2, 3 * d, 30).round().astype(int))
    mse = [simulate(int(n), d, T, SIGMA, 0.0, 1.0, "sign", trials=3, seed=5).mse for n in ns]
    peak = ns[int(np.argmax(mse))] / d
    assert peak == pytest.approx(1.0 / T, rel=0.1)


def test_peak_height_decreases_with_T_when_both_penalties_small():
    alphas = np.geomspace(0.5, 2.0, 121)
    heights = [
        max(theory(a, T, SIGMA, 0.01, 0.01, "sign").mse for a in alphas) for T in (1, 2, 5, 10, 20)
    ]
    assert np.all(np.diff(heights) < 0)
    d = 100
    ns = range(80, 126, 5)
    measured = [
        max(simulate(n, d, T, SIGMA, 0.01, 0.01, "sign", trials=4, seed=3).mse for n in ns)
        for T in (1, 5)
    ]
    assert measured[1] < measured[0]


@pytest.mark.parametrize(
    ("alpha", "T", "l0", "l"),
    [(1.0, 1, 0.0, 0.0), (1.0, 3, 0.0, 0.0), (0.5, 2, 0.0, 1.0), (1.0 / 3.0, 3, 0.0, 1.0)],
)
def test_interpolation_peak_of_a_ridgeless_limit_is_infinite(alpha, T, l0, l):
    """issue 14: at n_t = d (both strengths -> 0) or N = d (lam_shared -> 0) the limit of
    the error is infinite, never a finite number such as 332; next to it it is finite
    and large, and it grows towards the peak."""
    peak = theory(alpha, T, SIGMA, l0, l, "sign")
    assert math.isinf(peak.mse) and math.isinf(peak.variance)
    assert peak.classification_error == pytest.approx(0.5)
    near = [theory(alpha * (1 + eps), T, SIGMA, l0, l, "sign").mse for eps in (0.1, 0.03)]
    assert all(math.isfinite(m) for m in near) and near[1] > near[0] > 1.0


def test_deprecated_argument_names_give_the_same_numbers():
    ref = theory(0.4, 5, 0.5, 0.0, 1.0, "sign")
    with pytest.warns(DeprecationWarning, match="`alpha`"):
        old = theory_error(alpha=0.4, T=5, sigma=0.5, l0=0.0, l=1.0, phi="sign")
    assert old.mse == pytest.approx(ref.mse, rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert math.isinf(theory_error(alpha=1.0, T=1, sigma=1.0, l0=0.0, l=0.0).mse)
        both = theory_error(0.4, 3, SIGMA, lam_shared=0.0, lam_task=0.0, ratio=2.0)
    assert both.mse == pytest.approx(
        theory_error(0.4, 3, SIGMA, lam_shared=0.0, lam_task=0.0, lam_ratio=2.0).mse
    )
    d, n = 40, 30
    new = simulate(n, d, 2, SIGMA, 0.05, 0.05, "sign", trials=2, seed=1)
    with pytest.warns(DeprecationWarning, match="`l0`"):
        old_mc = simulate_error(n, d, 2, SIGMA, l0=0.05, l=0.05, phi="sign", trials=2, seed=1)
    assert old_mc.mse == pytest.approx(new.mse, rel=1e-12)
