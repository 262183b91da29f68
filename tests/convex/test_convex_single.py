"""The exact convex program: the paper's value, agreement with an independent
cvxpy formulation, read-back networks and dual certificates."""

from __future__ import annotations

import itertools

import cvxpy as cp
import numpy as np
import pytest
import torch

import mtlreg
from mtlreg.convex import certificate, network_objective, solve

TWO_SQUARES = np.array(
    [[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]], dtype=float
)
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float)


def test_two_squares_matches_the_authors() -> None:
    sol = solve(TWO_SQUARES, LABELS, lam=1e-3)
    # authors: penalty 1.992, fit 4.0e-6, total 1.996e-3 (mean over 8 points, no skip)
    assert sol.penalty == pytest.approx(1.992, rel=5e-3)
    assert sol.fit == pytest.approx(4.0e-6, rel=5e-3)
    assert sol.objective == pytest.approx(1.996e-3, rel=5e-3)
    assert sol.objective == pytest.approx(sol.fit + 1e-3 * sol.penalty, rel=1e-12)
    assert sol.exact
    assert 0 <= sol.gap <= 1e-9 * sol.objective + 1e-15


def _independent_optimum(x: np.ndarray, y: np.ndarray, lam: float, skip: bool) -> float:
    """Same problem, written independently: patterns by checking every dichotomy with
    an LP, one cvxpy variable pair per pattern, penalty on the weights only."""
    from scipy.optimize import linprog

    n, d = x.shape
    xb = np.column_stack([x, np.ones(n)])
    pats = []
    for bits in itertools.product((0.0, 1.0), repeat=n):
        s = 2 * np.array(bits) - 1
        res = linprog(
            np.zeros(d + 1),
            A_ub=-(s[:, None] * xb),
            b_ub=-np.ones(n),
            bounds=[(None, None)] * (d + 1),
            method="highs",
        )
        if res.status == 0 and any(bits):
            pats.append(np.array(bits))
    pred = 0
    pen = 0
    cons = []
    for pat in pats:
        for sign in (1.0, -1.0):
            u = cp.Variable(d + 1)
            act = xb @ u
            pred = pred + sign * cp.multiply(pat, act)
            pen = pen + cp.norm(u[:d], 2)
            cons.append(cp.multiply(2 * pat - 1, act) >= 0)
    if skip:
        a = cp.Variable(d)
        c = cp.Variable()
        pred = pred + x @ a + c
    prob = cp.Problem(cp.Minimize(cp.sum_squares(y - pred) / n + lam * pen), cons)
    prob.solve(solver="CLARABEL")
    return float(prob.value)


@pytest.mark.parametrize(
    ("n", "d", "lam", "skip"),
    [
        (7, 1, 1e-2, False),
        (7, 2, 1e-3, False),
        (8, 2, 1e-1, True),
        (6, 3, 3e-2, False),
        (6, 3, 1e-2, True),
    ],
)
def test_agrees_with_independent_cvxpy(n: int, d: int, lam: float, skip: bool) -> None:
    rng = np.random.default_rng(n * 10 + d)
    x = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    sol = solve(x, y, lam, skip=skip)
    ref = _independent_optimum(x, y, lam, skip)
    assert sol.objective == pytest.approx(ref, rel=1e-4)
    assert sol.relative_gap <= 1e-6
    # the read-back network reproduces the predictions and the objective
    net = sol.to_network()
    assert np.allclose(net.predict(x)[:, 0], sol.predictions, atol=1e-7)
    obj, fit, _vv = network_objective(net, x, y, lam)
    assert obj == pytest.approx(sol.objective, rel=1e-6)
    wd = float(net.weight_decay().detach())
    assert fit + lam * wd == pytest.approx(sol.objective, rel=1e-6)


def test_univariate_limit_is_the_minimal_norm() -> None:
    x = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
    y = np.array([0.7, -0.5, -0.5, 0.5, 0.2])
    sol = solve(x, y, lam=1e-6, skip=True)
    r_star = mtlreg.univariate.min_norm(x, y)
    assert sol.penalty <= r_star * (1 + 1e-6)
    assert sol.penalty == pytest.approx(r_star, rel=1e-3)


def test_trained_networks_never_beat_the_certificate() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 2))
    y = rng.standard_normal(8)
    lam = 1e-2
    sol = solve(x, y, lam)
    for seed in range(2):
        res = mtlreg.train(
            x, y, width=6, lam=lam, skip=False, seed=seed, max_steps=150, method="continuation"
        )
        cert = certificate(res.net, x, y, lam, solution=sol)
        assert cert.gap >= -1e-9
        assert cert.gap_bound >= cert.gap
        assert cert.objective <= res.objective + 1e-12  # VV <= WD


def test_certificate_of_the_optimum_is_zero() -> None:
    sol = solve(TWO_SQUARES, LABELS, lam=1e-3)
    cert = certificate(sol.to_network(), TWO_SQUARES, LABELS, 1e-3)
    assert abs(cert.gap) <= 1e-8 * cert.optimal_objective
    assert cert.gap_bound <= 1e-8 * cert.optimal_objective


def test_certificate_of_one_output_of_a_multi_output_net() -> None:
    sol = solve(TWO_SQUARES, LABELS, lam=1e-3)
    single = sol.to_network()
    net = mtlreg.ShallowReLUNet(2, 2, single.width, skip=False)
    with torch.no_grad():
        net.w.copy_(single.w)
        net.b.copy_(single.b)
        net.v.copy_(torch.cat([torch.zeros_like(single.v), single.v], dim=1))
    cert = certificate(net, TWO_SQUARES, LABELS, 1e-3, solution=sol, task=1)
    assert abs(cert.relative_gap) <= 1e-8


def test_sampled_patterns_give_an_upper_bound() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((12, 2))
    y = rng.standard_normal(12)
    exact = solve(x, y, 1e-2)
    sampled = solve(x, y, 1e-2, patterns="sample", n_patterns=15, seed=0)
    assert not sampled.exact
    assert sampled.objective >= exact.objective * (1 - 1e-8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.zeros((0, 2)), "Y": np.zeros(0), "lam": 1.0}, "Parameter `X`"),
        ({"X": [[0.0], [np.nan]], "Y": [0.0, 1.0], "lam": 1.0}, "Parameter `X`"),
        ({"X": [[0.0], [1.0]], "Y": [0.0, np.nan], "lam": 1.0}, "Parameter `Y`"),
        ({"X": [[0.0], [1.0]], "Y": [0.0, 1.0, 2.0], "lam": 1.0}, "Parameter `Y`"),
        ({"X": [[0.0], [1.0]], "Y": [0.0, 1.0], "lam": 0.0}, "Parameter `lam`"),
        ({"X": [[0.0], [1.0]], "Y": [0.0, 1.0], "lam": -1.0}, "Parameter `lam`"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        solve(**kwargs)


def test_too_many_patterns_says_how_many() -> None:
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match=r"up to \d+ patterns"):
        solve(rng.standard_normal((300, 6)), rng.standard_normal(300), 1e-2)


def test_converged_is_the_verified_gap_whatever_the_conic_solver_status():
    """Clarabel's "optimal_inaccurate" says its own tolerances were not all met; the
    certificate measures the point itself, so it alone decides ``converged``."""
    from dataclasses import replace

    X = np.array([[-1.0], [0.0], [1.0], [2.0]])
    sol = solve(X, np.array([0.0, 1.0, 0.0, 1.0]), lam=1e-2, method="patterns")
    assert sol.converged and sol.relative_gap <= 1e-6
    inaccurate = replace(sol, info={**sol.info, "status": "optimal_inaccurate"})
    assert inaccurate.converged
    far = replace(sol, lower_bound=sol.objective * 0.5, gap=sol.objective * 0.5)
    assert not far.converged
