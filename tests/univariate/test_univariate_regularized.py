"""The exact 1-D weight-decay optimum: agreement with independent solvers, certificates."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import mtlreg
from mtlreg import convex
from mtlreg.univariate import (
    connect_the_dots,
    slope_change_operator,
    slope_changes,
    weight_decay_optimum,
)

PAPER_X = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
PAPER_Y = np.array([0.7, -0.5, -0.5, 0.5, 0.2])


def _data(seed: int, n_aux: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 13))
    x = np.sort(rng.uniform(-2, 2, n))
    return x, mtlreg.aux_tasks(rng.standard_normal(n), n_aux, seed=seed)


def _cvxpy_optimum(x: np.ndarray, Y: np.ndarray, lam: float) -> float:
    """Independent formulation: f(x) = A x + c + sum_k V_k relu(x - x_k) at every data knot."""
    n, t = Y.shape
    feats = np.maximum(x[:, None] - x[None, :], 0.0)
    V, A, c = cp.Variable((n, t)), cp.Variable((1, t)), cp.Variable((1, t))
    pred = feats @ V + x[:, None] @ A + np.ones((n, 1)) @ c
    obj = cp.sum_squares(Y - pred) / n + lam * cp.sum(cp.norm(V, 2, axis=1))
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver=cp.CLARABEL, tol_gap_rel=1e-11, tol_gap_abs=1e-13, tol_feas=1e-11)
    return float(prob.value)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lam", [1e-4, 1e-2, 0.5])
@pytest.mark.parametrize("n_aux", [0, 2])
def test_matches_cvxpy_and_is_certified(seed: int, lam: float, n_aux: int) -> None:
    x, Y = _data(seed, n_aux)
    opt = weight_decay_optimum(x, Y, lam)
    ref = _cvxpy_optimum(x, Y, lam)
    assert opt.objective == pytest.approx(ref, rel=1e-6)
    assert opt.relative_gap <= 1e-9
    assert opt.lower_bound <= ref * (1 + 1e-6)  # a valid lower bound
    assert opt.objective == pytest.approx(opt.fit + lam * opt.penalty, rel=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_single_output_matches_the_pilanci_ergen_program(seed: int) -> None:
    x, Y = _data(seed, 0)
    lam = 1e-2
    sol = convex.solve(x, Y[:, 0], lam, skip=True)
    opt = weight_decay_optimum(x, Y, lam)
    assert opt.objective == pytest.approx(sol.objective, rel=1e-5)


def test_network_reproduces_the_optimum_and_its_norm() -> None:
    x, Y = _data(5)
    opt = weight_decay_optimum(x, Y, 1e-3)
    net = opt.to_network(width=20)
    grid = np.linspace(x[0] - 1, x[-1] + 1, 301)
    np.testing.assert_allclose(net.predict(grid), opt(grid), atol=1e-10)
    assert float(net.weight_decay()) == pytest.approx(opt.penalty, rel=1e-10)
    assert net.width == 20
    assert opt.n_knots >= 2
    with pytest.raises(ValueError, match="width"):
        opt.to_network(width=opt.n_knots - 1)


def test_small_lam_approaches_connect_the_dots() -> None:
    x, Y = _data(6)
    f_d = connect_the_dots(x, Y)
    grid = np.linspace(x[0], x[-1], 401)
    devs = [
        np.abs(weight_decay_optimum(x, Y, lam)(grid) - f_d(grid)).max()
        for lam in (1e-3, 1e-5, 1e-7)
    ]
    assert devs[0] > devs[1] > devs[2] and devs[2] < 1e-4
    # lam = 0 is the minimum-norm interpolant itself
    np.testing.assert_allclose(weight_decay_optimum(x, Y, 0.0).Z, f_d.Y)


def test_large_lam_gives_the_affine_fit() -> None:
    x, Y = _data(7)
    opt = weight_decay_optimum(x, Y, 1e6)
    assert opt.n_knots == 0
    design = np.column_stack([x, np.ones_like(x)])
    affine = design @ np.linalg.lstsq(design, Y, rcond=None)[0]
    np.testing.assert_allclose(opt.Z, affine, atol=1e-8)


def test_knots_only_at_data_points_is_no_restriction() -> None:
    """A dense dictionary of knots between the data cannot beat the data-knot optimum."""
    x, Y = _data(8)
    lam = 1e-2
    knots = np.linspace(x[0] - 0.5, x[-1] + 0.5, 400)
    n = len(x)
    feats = np.concatenate(
        [
            np.maximum(x[:, None] - knots[None, :], 0.0),
            np.maximum(knots[None, :] - x[:, None], 0.0),
        ],
        axis=1,
    )
    V, A, c = cp.Variable((feats.shape[1], Y.shape[1])), cp.Variable((1, 3)), cp.Variable((1, 3))
    pred = feats @ V + x[:, None] @ A + np.ones((n, 1)) @ c
    prob = cp.Problem(
        cp.Minimize(cp.sum_squares(Y - pred) / n + lam * cp.sum(cp.norm(V, 2, axis=1)))
    )
    prob.solve(solver=cp.CLARABEL)
    assert weight_decay_optimum(x, Y, lam).objective <= prob.value * (1 + 1e-6)


def test_slope_change_operator_matches_slope_changes() -> None:
    x, Y = _data(9)
    np.testing.assert_allclose(slope_change_operator(x) @ Y, slope_changes(x, Y), atol=1e-12)


def test_invariant_to_order_and_affine_label_shifts() -> None:
    x, Y = _data(10)
    lam = 1e-2
    base = weight_decay_optimum(x, Y, lam)
    perm = np.random.default_rng(0).permutation(len(x))
    shuffled = weight_decay_optimum(x[perm], Y[perm], lam)
    assert shuffled.objective == pytest.approx(base.objective, rel=1e-10)
    shifted = weight_decay_optimum(x, Y + 3.0 * x[:, None] - 1.0, lam)
    assert shifted.objective == pytest.approx(base.objective, rel=1e-8)


def test_gradient_training_never_beats_the_certified_optimum() -> None:
    x, Y = _data(11)
    lam = 1e-3
    opt = weight_decay_optimum(x, Y, lam)
    res = mtlreg.train(x, Y, width=16, lam=lam, seed=0, method="continuation", max_steps=3000)
    assert res.objective >= opt.lower_bound * (1 - 1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_protocol_gap_is_unclipped_and_converged_is_measured(seed: int) -> None:
    """gap = objective - lower_bound exactly (never clipped), the bound is the dual value
    (>= 0, below the independent cvxpy optimum) and ``converged`` is the measured gap."""
    x, Y = _data(seed + 20)
    lam = 1e-2
    opt = weight_decay_optimum(x, Y, lam, tol=1e-10)
    ref = _cvxpy_optimum(x, Y, lam)
    assert opt.gap == opt.objective - opt.lower_bound
    assert 0.0 <= opt.lower_bound <= ref * (1 + 1e-9)
    assert opt.converged == (opt.relative_gap <= 1e-10)
    assert opt.converged and opt.seconds >= 0.0 and opt.n_iter > 0
    # a tolerance below rounding: whatever is reported matches the measured gap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        strict = weight_decay_optimum(x, Y, lam, tol=0.0)
    assert strict.converged == (strict.relative_gap <= 0.0)


def test_small_budget_is_not_converged_and_warns_with_the_gap() -> None:
    """One Newton step does not reach the gap: converged is False, a ConvergenceWarning
    states the gap, and the bound is still below the optimum."""
    x, Y = _data(13)
    lam = 1e-3
    with pytest.warns(ConvergenceWarning, match=r"relative duality gap \S+"):
        early = weight_decay_optimum(x, Y, lam, max_iter=1)
    full = weight_decay_optimum(x, Y, lam)
    assert not early.converged and early.n_iter == 1
    assert early.relative_gap > 1e-12
    assert early.lower_bound <= full.objective * (1 + 1e-12)
    assert early.objective >= full.lower_bound * (1 - 1e-12)
    assert early.objective - full.objective <= early.gap * (1 + 1e-9)


@pytest.mark.parametrize(("x", "Y", "lam"), [([0.0, 1.0], [1.0, 3.0], 0.1),
                                             ([0.0, 1.0, 2.0, 4.0], [1.0, 2.0, 3.0, 5.0], 0.1),
                                             ([0.0, 1.0, 2.0], [0.0, 1.0, 0.0], 0.0)])  # fmt: skip
def test_exact_cases_are_certified_at_zero(x: list[float], Y: list[float], lam: float) -> None:
    """N = 2, affine labels, lam = 0: the optimum is the data itself (objective 0) and
    the bound is 0, so the gap is 0 and the result is converged."""
    opt = weight_decay_optimum(x, Y, lam)
    assert opt.objective == 0.0 and opt.lower_bound == 0.0 and opt.gap == 0.0
    assert opt.converged and opt.relative_gap == 0.0


def test_predict_accepts_a_column_and_matches_the_interpolant() -> None:
    x, Y = _data(14)
    opt = weight_decay_optimum(x, Y, 1e-2)
    grid = np.linspace(x[0] - 1, x[-1] + 1, 50)
    np.testing.assert_array_equal(opt.predict(grid), opt.interpolant(grid))
    np.testing.assert_array_equal(opt.predict(grid[:, None]), opt.predict(grid))
    np.testing.assert_array_equal(opt(grid), opt.predict(grid))
    assert opt.predict(grid).shape == (50, Y.shape[1])
    with pytest.raises(ValueError, match="`X`"):
        opt.predict(np.ones((3, 2)))


def test_dual_objective_is_a_deprecated_alias_of_lower_bound() -> None:
    opt = weight_decay_optimum(PAPER_X, PAPER_Y, 1e-2)
    with pytest.warns(DeprecationWarning, match="lower_bound"):
        value = opt.dual_objective
    assert value == opt.lower_bound


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="lam"):
        weight_decay_optimum(PAPER_X, PAPER_Y, -1.0)
    with pytest.raises(ValueError, match="distinct"):
        weight_decay_optimum([0.0, 1.0, 1.0], [0.0, 1.0, 2.0], 0.1)
    with pytest.raises(ValueError, match="finite"):
        weight_decay_optimum([0.0, np.nan, 1.0], [0.0, 1.0, 2.0], 0.1)
