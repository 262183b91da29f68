"""Numerical guards: extreme scales, divergence, wide networks (issue 14)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import mtlreg
from mtlreg.training import TrainingError, initial_network, train
from mtlreg.training._setup import fit_output_layer


def _objective(net: mtlreg.ShallowReLUNet, x: np.ndarray, y: np.ndarray, lam: float) -> float:
    """The package objective of ``net``, recomputed in numpy on the original data."""
    x = x.reshape(len(x), -1)
    y = y.reshape(len(x), -1)
    fit = float(((net.predict(x) - y) ** 2).sum() / len(x))
    with torch.no_grad():
        wd = float(net.weight_decay())
    return fit + lam * wd


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e100])
def test_exact_1d_is_scale_equivariant_and_verified(scale: float) -> None:
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-1, 1, 12))
    Y = mtlreg.aux_tasks(np.sin(3 * x), 2, seed=0)
    ref = train(x, Y, width=32, lam=1e-3)
    # scaling x by s and lam by s is the same problem (VV scales by 1/s)
    res = train(x * scale, Y, width=32, lam=1e-3 * scale)
    assert res.config["solver"] == "exact-1d" and res.converged
    np.testing.assert_allclose(res.predict(x * scale), ref.predict(x), atol=1e-9)
    assert res.objective == pytest.approx(ref.objective, rel=1e-9)
    assert res.objective == pytest.approx(_objective(res.net, x * scale, Y, 1e-3 * scale), rel=1e-9)
    assert res.relative_gap <= 1e-7


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_extreme_inputs_never_claim_an_unverified_certificate(scale: float) -> None:
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-1, 1, 10))
    y = np.sin(3 * x)
    res = train(x * scale, y, width=32, lam=1e-3, max_steps=2000)
    assert np.isfinite(res.objective)
    assert res.objective == pytest.approx(_objective(res.net, x * scale, y, 1e-3), rel=1e-6)
    if res.config.get("solver") == "exact-1d" and res.converged:
        assert res.relative_gap <= 1e-7 and res.lower_bound <= res.objective
    elif res.converged:  # a gradient recipe: stationarity only, and no certificate
        assert np.isnan(res.relative_gap)
    # never worse than the best affine function (a feasible network with no neuron)
    design = np.stack([x * scale, np.ones_like(x)], axis=1)
    resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    assert res.objective <= float((resid**2).mean()) * (1 + 1e-9)


def test_2d_gradient_path_is_scale_equivariant() -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 2))
    y = np.sin(X.sum(axis=1))
    kw = {"width": 16, "seed": 0, "max_steps": 1000, "method": "continuation"}
    ref = train(X, y, lam=1e-3, **kw)  # type: ignore[arg-type]
    big = train(X * 1e200, y, lam=1e-3 * 1e200, **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(big.predict(X * 1e200), ref.predict(X), atol=1e-8)
    assert big.objective == pytest.approx(ref.objective, rel=1e-8)
    assert np.isnan(big.relative_gap)


@pytest.mark.parametrize("method", ["adam", "continuation"])
@pytest.mark.parametrize("lr", [1e6, 1e12])
def test_a_diverging_objective_raises_whatever_the_method(method: str, lr: float) -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 2))
    y = np.sin(X.sum(axis=1))
    with pytest.raises(TrainingError, match="diverged"):
        train(X, y, width=16, lam=1e-3, seed=0, method=method, lr=lr, max_steps=400)


def test_unrepresentable_data_give_clear_errors() -> None:
    rng = np.random.default_rng(4)
    X = rng.standard_normal((20, 2))
    y = np.sin(X.sum(axis=1))
    with pytest.raises(ValueError, match="`Y`"):
        train(X, y * 1e200, width=4, lam=1e-3, max_steps=10)
    with pytest.raises(TrainingError, match="rescale"):  # the raw recipe overflows
        train(X * 1e200, y, width=4, lam=1e-3, method="adam", max_steps=10)


def test_wide_network_starts_in_seconds() -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((20, 2))
    y = np.sin(X.sum(axis=1))
    t0 = time.perf_counter()
    res = train(X, y, width=10**4, lam=1e-3, seed=0, max_steps=5, restarts=2, method="continuation")
    assert time.perf_counter() - t0 < 60.0  # minutes before (an O(K^3) solve)
    assert res.config["output_layer_start"] and res.net.width == 10**4


@pytest.mark.parametrize(("n", "k", "skip"), [(12, 5, True), (12, 30, True), (12, 30, False)])
def test_output_layer_start_is_the_ridge_solution(n: int, k: int, skip: bool) -> None:
    """Primal (K <= N) and dual (K > N) forms solve the same ridge regression."""
    rng = np.random.default_rng(6)
    x, y, lam = rng.standard_normal((n, 2)), rng.standard_normal((n, 3)), 1e-2
    net = initial_network(x, y, k, skip=skip, seed=0)
    w0 = net.w.detach().numpy().copy()
    assert fit_output_layer(net, x, y, lam, 1.0 / n)
    with torch.no_grad():
        w, b, v = net.w.numpy(), net.b.numpy(), net.v.numpy()
        resid = net.predict(x) - y
    # back to the hidden units it was solved for (balancing rescaled each neuron by a)
    a = np.linalg.norm(w, axis=1) / np.linalg.norm(w0, axis=1)
    H = np.maximum(x @ w.T + b, 0.0) / a
    grad_v = 2.0 / n * H.T @ resid + lam * v * a[:, None]
    assert np.abs(grad_v).max() < 1e-8
    if skip:
        design = np.concatenate([x, np.ones((n, 1))], 1)
        np.testing.assert_allclose(design.T @ resid, 0, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"dtype": torch.int32}, TypeError, "`dtype`"),
        ({"dtype": "float64"}, TypeError, "`dtype`"),
        ({"device": "tpu"}, ValueError, "`device`"),
        ({"on_error": "ignore"}, ValueError, "`on_error`"),
        ({"lr_decay": 2.0}, ValueError, "`lr_decay`"),
    ],
)
def test_bad_engine_options_name_the_argument(
    kwargs: dict, error: type[Exception], match: str
) -> None:
    X = np.random.default_rng(7).standard_normal((6, 2))
    problems = [mtlreg.training.Problem(X, X.sum(axis=1), 3, 1e-3, seed=0)]
    with pytest.raises(error, match=match):
        mtlreg.training.train_many(problems, max_steps=5, **kwargs)


def test_tiny_labels_and_huge_lam_are_not_divergence() -> None:
    """Regression (hypothesis): labels of scale 1e-8 made early Adam steps look like a
    blow-up relative to a near-zero start, and the batch then lost shape."""
    X = np.array([[0.34558419, 0.82161814], [0.33043708, -1.30315723], [0.90535587, 0.44637457]])
    Y = np.array([[-5.36953235e-09], [5.81118104e-09], [3.64572396e-09]])
    for steps in (3, 300):
        res = train(X, Y, width=3, lam=1e-3, seed=0, max_steps=steps)
        # three points in 2-D: the affine part interpolates, the optimum has no neuron
        assert np.isfinite(res.objective) and res.objective <= 1e-30
    rng = np.random.default_rng(8)
    Xr = rng.standard_normal((12, 2))
    res = train(Xr, np.sin(Xr.sum(axis=1)), width=6, lam=1e3, seed=0, max_steps=300)
    assert np.isfinite(res.objective)
