"""The multi-task estimator: forms agree, optimality, special cases, ridgeless limits."""

from __future__ import annotations

import numpy as np
import pytest

from mtlreg.linear import (
    fit_multitask,
    fit_multitask_ridgeless,
    fit_ridge,
    sample_multitask,
)


def _data(n, d=30, T=3, seed=0):
    return sample_multitask(n, d, T, sigma=0.7, phi="relu", noise=0.1, seed=seed)


def _fit(data, lambda0, lambda_t, **kwargs):
    """fit_multitask at the unnormalised strengths lambda = N lam of docs/theory.md §8."""
    n = sum(len(y) for y in data.y)
    lam_task = np.asarray(lambda_t, dtype=float) / n
    return fit_multitask(data.A, data.y, lam_shared=lambda0 / n, lam_task=lam_task, **kwargs)


@pytest.mark.parametrize("n", [5, 12, 40, (3, 20, 50)])
def test_three_forms_agree(n):
    data = _data(n)
    lam = [0.5, 2.0, 7.0]
    fits = [_fit(data, 3.0, lam, method=m) for m in ("primal", "reduced", "dual")]
    for fit in fits[1:]:
        np.testing.assert_allclose(fit.W, fits[0].W, atol=1e-10)
        np.testing.assert_allclose(fit.w0, fits[0].w0, atol=1e-10)


def test_auto_picks_dual_when_few_samples():
    few, many = _data(5), _data(40)
    assert _fit(few, 1.0, 1.0).method == "dual"
    assert _fit(many, 1.0, 1.0).method == "reduced"


def test_task_predictor_is_ridge_towards_shared_part():
    data = _data((4, 25, 60))
    lam = np.array([0.3, 1.0, 4.0])
    fit = _fit(data, 2.0, lam)
    d = data.dim
    for t, (A, y) in enumerate(zip(data.A, data.y)):
        w = np.linalg.solve(A.T @ A + lam[t] * np.eye(d), A.T @ y + lam[t] * fit.w0)
        np.testing.assert_allclose(fit.W[t], w, atol=1e-12)


def test_first_order_conditions():
    data = _data(12)
    lam0, lam = 1.5, np.array([0.5, 1.0, 2.0])
    fit = _fit(data, lam0, lam)
    residuals = [y - A @ w for A, y, w in zip(data.A, data.y, fit.W)]
    grad0 = lam0 * fit.w0 - sum(A.T @ r for A, r in zip(data.A, residuals))
    np.testing.assert_allclose(grad0, 0.0, atol=1e-10)
    for A, r, v, lt in zip(data.A, residuals, fit.V, lam):
        np.testing.assert_allclose(lt * v - A.T @ r, 0.0, atol=1e-10)


@pytest.mark.parametrize("n", [10, 50])
def test_single_task_is_ridge_with_harmonic_penalty(n):
    data = _data(n, T=1)
    lam0, lam1 = 2.0, 3.0
    fit = _fit(data, lam0, lam1)
    w = fit_ridge(data.A[0], data.y[0], lam=lam0 * lam1 / (lam0 + lam1) / len(data.y[0]))
    np.testing.assert_allclose(fit.W[0], w, atol=1e-12)


@pytest.mark.parametrize("n", [4, 8, 20, (3, 15, 40)])
def test_shared_limit_matches_small_lambda0(n):
    data = _data(n)
    exact = _fit(data, 0.0, 2.0)
    near = _fit(data, 1e-8, 2.0, method="primal")
    assert exact.method == "lstsq"
    np.testing.assert_allclose(exact.W, near.W, atol=1e-5)


def test_shared_part_interpolates_when_few_samples():
    data = _data(8)  # N = 24 < d = 30
    fit = _fit(data, 0.0, 2.0)
    np.testing.assert_allclose(fit.V, 0.0, atol=1e-10)
    for A, y in zip(data.A, data.y):
        np.testing.assert_allclose(A @ fit.w0, y, atol=1e-10)


@pytest.mark.parametrize("n", [6, 20, (5, 45, 30)])
def test_ridgeless_limit_matches_small_lambdas(n):
    data = _data(n)
    exact = fit_multitask_ridgeless(data.A, data.y, lam_ratio=0.5)
    near = _fit(data, 0.5e-8, 1e-8, method="primal")
    np.testing.assert_allclose(exact.W, near.W, atol=1e-5)


def test_ridgeless_limit_interpolates_or_is_least_squares():
    data = _data((10, 45), T=2)
    fit = fit_multitask_ridgeless(data.A, data.y)
    np.testing.assert_allclose(data.A[0] @ fit.W[0], data.y[0], atol=1e-10)
    ols = np.linalg.lstsq(data.A[1], data.y[1], rcond=None)[0]
    np.testing.assert_allclose(fit.W[1], ols, atol=1e-10)


def test_single_task_ridgeless_is_min_norm():
    data = _data(10, T=1)
    fit = fit_multitask_ridgeless(data.A, data.y, lam_ratio=3.0)
    np.testing.assert_allclose(fit.W[0], np.linalg.pinv(data.A[0]) @ data.y[0], atol=1e-10)
    np.testing.assert_allclose(fit_ridge(data.A[0], data.y[0], lam=0.0), fit.W[0], atol=1e-10)


def test_objective_is_the_package_objective_and_minimal():
    """objective = (1/N) sum of squared residuals + lam_shared ||w0||^2 + sum lam_t ||v_t||^2,
    and perturbing the solution never lowers it (it is the exact minimiser)."""
    data = _data((4, 25, 60))
    lam_task = np.array([0.01, 0.03, 0.1])
    fit = fit_multitask(data.A, data.y, lam_shared=0.02, lam_task=lam_task)
    n = sum(len(y) for y in data.y)

    def objective(w0, V):
        sq = sum(((y - A @ (w0 + v)) ** 2).sum() for A, y, v in zip(data.A, data.y, V))
        return sq / n + 0.02 * w0 @ w0 + (lam_task * (V**2).sum(axis=1)).sum()

    assert fit.objective == pytest.approx(objective(fit.w0, fit.V), rel=1e-12)
    assert fit.objective == pytest.approx(fit.fit + fit.penalty, rel=1e-12)
    assert fit.converged and fit.n_iter == 0 and np.isnan(fit.gap)
    rng = np.random.default_rng(0)
    for _ in range(5):
        dw, dV = 1e-3 * rng.standard_normal(fit.w0.shape), 1e-3 * rng.standard_normal(fit.V.shape)
        assert objective(fit.w0 + dw, fit.V + dV) > fit.objective
    np.testing.assert_allclose(fit.predict(data.A[2], task=2), data.A[2] @ fit.W[2])
    with pytest.raises(TypeError, match="to_network"):
        fit.to_network()


def test_fit_ridge_minimises_the_package_objective():
    data = _data(20, T=1)
    A, y = data.A[0], data.y[0]
    w = fit_ridge(A, y, lam=0.05)
    grad = -2.0 / len(y) * A.T @ (y - A @ w) + 2.0 * 0.05 * w
    np.testing.assert_allclose(grad, 0.0, atol=1e-10)


def test_deprecated_strengths_give_the_same_fit():
    data = _data(12)
    n = sum(len(y) for y in data.y)
    new = fit_multitask(data.A, data.y, lam_shared=3.0 / n, lam_task=1.5 / n)
    with pytest.warns(DeprecationWarning, match="lambda0"):
        old = fit_multitask(data.A, data.y, lambda0=3.0, lambda_t=1.5)
    np.testing.assert_allclose(old.W, new.W, atol=1e-12)
    with pytest.raises(TypeError, match="both"):
        fit_multitask(data.A, data.y, lam_shared=1.0, lambda0=1.0, lam_task=1.0)
    with pytest.raises(TypeError):
        fit_multitask(data.A, data.y, 3.0, 1.5)  # old positional strengths fail loudly
    with pytest.warns(DeprecationWarning, match="ratio"):
        old_r = fit_multitask_ridgeless(data.A, data.y, ratio=0.5)
    np.testing.assert_allclose(old_r.W, fit_multitask_ridgeless(data.A, data.y, lam_ratio=0.5).W)
