"""Acceptance grid of issue 7: theory vs Monte Carlo at d = 400 with 20 trials (slow)."""

from __future__ import annotations

import itertools

import pytest

from mtlreg.linear import sigma_from_rho, simulate_error, theory_error

D, TRIALS = 400, 40  # >= 20 trials; 40 keeps the 2-SE band from being pure luck
REGIMES = {"both_small": (0.01, 0.01), "lambda0_to_0": (0.0, 1.0)}


def _singular(regime: str, T: int) -> tuple[float, ...]:
    # lambda_0 -> 0: the shared part interpolates up to T n = d; both small: n = d.
    return (1.0 / T,) if regime == "lambda0_to_0" else (1.0,)


@pytest.mark.slow
def test_theory_matches_monte_carlo_on_acceptance_grid():
    sigma = sigma_from_rho(0.8)
    failures, worst = [], 0.0
    for (regime, (l0, l)), T, alpha, phi in itertools.product(
        REGIMES.items(), (1, 2, 5), (0.3, 0.5, 2.0), ("sign", "relu")
    ):
        if any(abs(alpha - a) <= 0.1 * a for a in _singular(regime, T)):
            continue
        n = int(alpha * D)  # package strengths: lambda / N with lambda = D l, N = T n
        lams = {"lam_shared": l0 * D / (T * n), "lam_task": l * D / (T * n)}
        mc = simulate_error(n, D, T, sigma, **lams, phi=phi, trials=TRIALS, seed=2026)
        th = theory_error(alpha, T, sigma, **lams, phi=phi)
        pairs = [("mse", mc.mse, mc.mse_se, th.mse)]
        if phi == "sign":
            pairs.append(
                (
                    "cls",
                    mc.classification_error,
                    mc.classification_error_se,
                    th.classification_error,
                )
            )
        for name, mean, se, ref in pairs:
            rel = abs(mean - ref) / ref
            worst = max(worst, rel)
            if rel > 0.03 and abs(mean - ref) > 2 * se:
                failures.append(
                    f"{regime} T={T} n/d={alpha} {phi} {name}: {mean:.4f}±{se:.4f} vs {ref:.4f}"
                )
    print(f"max relative discrepancy {worst:.4f}")
    assert not failures, failures
