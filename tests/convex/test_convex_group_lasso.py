"""Group lasso over ReLU atoms: optimality conditions, cvxpy agreement, paths, read-back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlreg.convex import (
    group_lasso,
    group_lasso_path,
    lam_max,
    relu_dictionary,
    relu_features,
)


def problem(n: int = 60, p: int = 150, t: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    y = np.column_stack([np.sin(2 * x[:, 0]), rng.standard_normal((n, t - 1))])
    w, b = relu_dictionary(x, p, seed=seed)
    return x, y, w, b, relu_features(x, w, b)


def assert_kkt(phi: np.ndarray, y: np.ndarray, v: np.ndarray, lam: float, tol: float) -> None:
    """Stationarity: Phi_k^T R / N = lam V_k / ||V_k|| on the support, norm <= lam off it."""
    n = phi.shape[0]
    corr = phi.T @ (y - phi @ v) / n
    norms = np.linalg.norm(v, axis=1)
    on = norms > 1e-10 * norms.max(initial=1.0)
    assert np.all(np.linalg.norm(corr[~on], axis=1) <= lam * (1 + tol))
    expected = lam * v[on] / norms[on, None]
    assert np.allclose(corr[on], expected, atol=tol * lam)


@pytest.mark.parametrize("frac", [0.5, 0.1, 0.02])
def test_kkt_conditions_hold(frac: float) -> None:
    _, y, _, _, phi = problem()
    lam = frac * lam_max(phi, y)
    res = group_lasso(phi, y, lam, tol=1e-10)
    assert res.converged
    assert 0 <= res.gap <= 1e-10 * res.objective
    assert_kkt(phi, y, res.V, lam, tol=1e-4)


def test_agrees_with_cvxpy_reference() -> None:
    _, y, _, _, phi = problem(n=40, p=60, t=3, seed=1)
    lam = 0.05 * lam_max(phi, y)
    fast = group_lasso(phi, y, lam, tol=1e-10)
    ref = group_lasso(phi, y, lam, solver="cvxpy")
    assert fast.objective == pytest.approx(ref.objective, rel=1e-7)
    # the certificate bounds the true suboptimality
    assert fast.objective - ref.objective <= fast.gap + 1e-12


def test_zero_above_lam_max() -> None:
    _, y, _, _, phi = problem()
    res = group_lasso(phi, y, 1.001 * lam_max(phi, y))
    assert not res.V.any()
    assert res.gap <= 1e-12


def test_path_matches_cold_solves() -> None:
    _, y, _, _, phi = problem(seed=2)
    top = lam_max(phi, y)
    lams = [0.3 * top, 0.1 * top, 0.03 * top]
    path = group_lasso_path(phi, y, lams, tol=1e-10)
    for lam, res in zip(lams, path):
        cold = group_lasso(phi, y, lam, tol=1e-10)
        assert res.lam == lam
        assert res.objective == pytest.approx(cold.objective, rel=1e-8)


def test_network_read_back() -> None:
    x, y, w, b, phi = problem(seed=3)
    lam = 0.05 * lam_max(phi, y)
    res = group_lasso(phi, y, lam, tol=1e-10)
    net = res.to_network(w, b)
    assert net.width == len(res.support)
    assert np.allclose(net.predict(x), phi @ res.V, atol=1e-9)
    # package convention: (1/N)||Y - f||^2 + (2 lam) WD equals twice the group-lasso objective
    fit = np.mean(np.sum((y - net.predict(x)) ** 2, axis=1))
    wd = float(net.weight_decay().detach())
    assert fit + 2 * lam * wd == pytest.approx(2 * res.objective, rel=1e-9)


def test_torch_input_and_single_output() -> None:
    _, y, _, _, phi = problem(seed=4)
    lam = 0.1 * lam_max(phi, y[:, 0])
    a = group_lasso(torch.as_tensor(phi), y[:, 0], lam, tol=1e-10)
    b = group_lasso(phi, y[:, :1], lam, tol=1e-10)
    assert a.V.shape == (phi.shape[1], 1)
    assert a.objective == pytest.approx(b.objective, rel=1e-10)


@pytest.mark.parametrize(
    ("phi", "y", "lam", "match"),
    [
        (np.ones((3, 2)), np.ones(3), 0.0, "Parameter `lam`"),
        (np.ones((3, 2)), np.ones(3), -1.0, "Parameter `lam`"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), np.ones(2), 1.0, "Parameter `Phi`"),
        (np.ones((3, 2)), np.ones(4), 1.0, "Parameter `Y`"),
        (np.ones((3, 2)), np.array([1.0, np.nan, 0.0]), 1.0, "Parameter `Y`"),
        (np.zeros((0, 2)), np.zeros(0), 1.0, "Parameter `Phi`"),
    ],
)
def test_bad_input(phi: np.ndarray, y: np.ndarray, lam: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        group_lasso(phi, y, lam)
