"""Exact error formulas against large Monte-Carlo test sets."""

from __future__ import annotations

import numpy as np
import pytest

from mtlreg.linear import generalization_error, link_moments


@pytest.mark.parametrize(
    ("phi", "noise"), [("sign", 0.0), ("relu", 0.0), ("identity", 0.3), (np.tanh, 0.2)]
)
def test_squared_error_matches_test_set(phi, noise):
    rng = np.random.default_rng(0)
    d, n_test = 20, 400_000
    xi = rng.standard_normal(d) / np.sqrt(d) * 1.3
    w = 0.6 * xi + rng.standard_normal(d) / np.sqrt(d) * 0.5
    a = rng.standard_normal((n_test, d))
    u = a @ xi
    labels = {"sign": np.where(u >= 0, 1.0, -1.0), "relu": np.maximum(u, 0.0), "identity": u}
    y = (labels[phi] if isinstance(phi, str) else phi(u)) + noise * rng.standard_normal(n_test)
    sq = (y - a @ w) ** 2
    err = generalization_error(xi, w, phi, noise=noise)
    assert abs(err.mse - sq.mean()) < 4 * sq.std() / np.sqrt(n_test)
    if phi == "sign":
        miss = np.sign(a @ w) != np.sign(u)
        assert abs(err.classification_error - miss.mean()) < 4 * miss.std() / np.sqrt(n_test)
    else:
        assert err.classification_error is None


def test_identity_error_is_distance_plus_noise():
    rng = np.random.default_rng(1)
    xi, w = rng.standard_normal((2, 7, 15))
    err = generalization_error(xi, w, "identity", noise=0.5)
    np.testing.assert_allclose(err.mse, ((xi - w) ** 2).sum(-1) + 0.25)


@pytest.mark.parametrize("phi", ["sign", "relu", "identity"])
def test_quadrature_matches_closed_forms(phi):
    s = np.array([0.5, 1.0, 2.3])
    closed = link_moments(phi, s)
    fn = {"sign": lambda u: np.where(u >= 0, 1.0, -1.0), "relu": lambda u: np.maximum(u, 0.0)}
    quad = link_moments(fn.get(phi, lambda u: u), s)
    tol = 2e-2 if phi == "sign" else 1e-10  # the sign jump limits Gauss-Hermite accuracy
    np.testing.assert_allclose(quad.second, closed.second, rtol=tol)
    np.testing.assert_allclose(quad.kappa1, closed.kappa1, rtol=tol)


def test_batched_shapes():
    rng = np.random.default_rng(2)
    xi, w = rng.standard_normal((2, 4, 3, 10))
    err = generalization_error(xi, w, "sign")
    assert err.mse.shape == (4, 3)
    assert err.classification_error is not None
    assert np.all((err.classification_error >= 0) & (err.classification_error <= 1))
