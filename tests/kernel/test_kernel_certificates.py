"""The kernel solvers' certificates on degenerate data (docs/theory.md §5.2-§5.3).

Properties, each against an independent least-squares solution of the same data:
``lower_bound <= objective``, no objective below the optimum, a bound below the value
of an independent point, and ``converged`` only with a verified gap. Degenerate cases:
a neuron active on every point (its feature is affine on the data: with a skip
connection it is invisible to the fit), duplicate neurons, a neuron dead on every
point, more neurons than points, and lam = 0, 1e-12, 1e-9.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from mtlreg.kernel import InducedKernel, exact_subproblem, rkhs_solve, task_weights
from mtlreg.kernel._dualpoint import AffineProjection

KINDS = ("random", "all_active", "duplicate", "dead", "all_active_and_duplicate")
LAMS = (0.0, 1e-12, 1e-9)
SHAPES = ((15, 6), (8, 12))  # more points than neurons; more neurons than points


def _case(
    kind: str, *, skip: bool, n: int, n_neurons: int, seed: int = 0
) -> tuple[InducedKernel, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    d, n_tasks = 2, 3
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((n_neurons, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = rng.uniform(-0.5, 0.5, n_neurons)
    V = rng.standard_normal((n_neurons, n_tasks))
    if kind in ("all_active", "all_active_and_duplicate"):
        b[0] = 10.0  # relu(w.x + 10) = w.x + 10 on every data point
    if kind in ("duplicate", "all_active_and_duplicate"):
        W[1], b[1] = W[2], b[2]
    if kind == "dead":
        b[0] = -10.0
    if kind == "private":
        V[0, 1:] = 0.0  # c_0 = 0: the neuron is this task's only
    A, c = (np.zeros((n_tasks, d)), np.zeros(n_tasks)) if skip else (None, None)
    kernel = InducedKernel(W, b, V, task_weights(V)[:, 0], 0, A, c)
    return kernel, X, rng.standard_normal(n)


def _design(kernel: InducedKernel, X: np.ndarray, columns: np.ndarray) -> np.ndarray:
    n = X.shape[0]
    phi = kernel.features(X)[:, columns]
    return np.hstack([phi, X, np.ones((n, 1))]) if kernel.skip else phi


def _least_squares(
    kernel: InducedKernel, X: np.ndarray, y: np.ndarray, columns: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """numpy's lstsq on [features, X, 1]: optimum, fitted values and feature weights."""
    Z = _design(kernel, X, columns)
    theta = np.linalg.lstsq(Z, y, rcond=None)[0]
    fitted = Z @ theta
    r = y - fitted
    return float(r @ r) / len(y), fitted, theta[: int(columns.sum())]


def _ridge_optimum(kernel: InducedKernel, X: np.ndarray, y: np.ndarray, lam: float) -> float:
    """The RKHS problem as one stacked least squares, solved by numpy's lstsq."""
    n, c = len(y), kernel.weights
    act = c > 0
    Z = _design(kernel, X, act)
    k, m = int(act.sum()), Z.shape[1]
    damp = np.hstack([np.diag(np.sqrt(lam / (2.0 * c[act]))), np.zeros((k, m - k))])
    theta = np.linalg.lstsq(
        np.vstack([Z / np.sqrt(n), damp]), np.r_[y / np.sqrt(n), np.zeros(k)], rcond=None
    )[0]
    r = y - Z @ theta
    return float(r @ r) / n + lam * (float(c.sum()) + 0.5 * float((theta[:k] ** 2 / c[act]).sum()))


@pytest.mark.parametrize("lam", LAMS)
@pytest.mark.parametrize(("n", "n_neurons"), SHAPES)
@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_rkhs_certificate_against_least_squares(
    kind: str, skip: bool, n: int, n_neurons: int, lam: float
) -> None:
    kernel, X, y = _case(kind, skip=skip, n=n, n_neurons=n_neurons)
    scale = float(y @ y) / n  # the objective of f = 0: where rounding lives
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        sol = rkhs_solve(kernel, X, y, lam)
    ref = _ridge_optimum(kernel, X, y, lam) if lam > 0 else None
    if lam == 0:
        ref, fitted, _ = _least_squares(kernel, X, y, kernel.weights > 0)
        # least-squares fitted values are unique: the same function on the data
        np.testing.assert_allclose(sol.predict(X), fitted, atol=1e-8 * np.sqrt(scale))
    assert sol.lower_bound <= sol.objective + 1e-12 * scale
    assert sol.lower_bound <= ref + 1e-12 * scale
    # no objective below the optimum (rounding-level features would allow that)
    assert abs(sol.objective - ref) <= 1e-9 * scale
    assert sol.converged
    assert abs(sol.gap) <= 1e-9 * max(sol.objective, scale)


@pytest.mark.parametrize("lam", LAMS[1:])
@pytest.mark.parametrize(("n", "n_neurons"), SHAPES)
@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_exact_certificate_against_least_squares(
    kind: str, skip: bool, n: int, n_neurons: int, lam: float
) -> None:
    """The least-squares weights are a feasible point (the optimum is below their
    objective) and least squares bounds the optimum from below (fit >= its optimum,
    penalty >= sum_k c_k)."""
    kernel, X, y = _case(kind, skip=skip, n=n, n_neurons=n_neurons)
    c = kernel.weights
    ls, _, v_ls = _least_squares(kernel, X, y, np.ones(kernel.n_neurons, dtype=bool))
    upper = ls + lam * float(np.hypot(v_ls, c).sum())
    floor = ls + lam * float(c.sum())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        sol = exact_subproblem(kernel, X, y, lam)
    assert sol.lower_bound <= sol.objective * (1 + 1e-12)
    assert sol.lower_bound <= upper * (1 + 1e-12)
    assert sol.objective >= floor * (1 - 1e-12)
    assert sol.converged
    assert abs(sol.relative_gap) <= 1e-9
    assert sol.objective <= upper * (1 + 1e-9)


def test_the_all_active_neuron_reproduction() -> None:
    """The reported case: skip connection, neuron 0 active on every point. rkhs_solve at
    lam = 0 returned v ~ 3e12, an objective below the least-squares optimum, a bound
    above it and converged=True; exact_subproblem at lam = 1e-12 a gap of 0.32 with
    converged=True."""
    kernel, X, y = _case("all_active", skip=True, n=15, n_neurons=6)
    ls, _, _ = _least_squares(kernel, X, y, np.ones(6, dtype=bool))
    for lam in LAMS:
        sol = rkhs_solve(kernel, X, y, lam)
        assert sol.lower_bound <= ls * (1 + 1e-12) + lam * sol.penalty
        assert sol.objective >= ls * (1 - 1e-12)
        assert np.abs(sol.v).max() < 1e3
        assert sol.converged
        if lam > 0:
            exact = exact_subproblem(kernel, X, y, lam)
            assert exact.objective >= ls * (1 - 1e-12)
            assert exact.converged and abs(exact.relative_gap) <= 1e-9


@pytest.mark.parametrize("lam", [1e-12, 1e-9])
def test_unconverged_proximal_solve_says_so_and_keeps_a_valid_bound(lam: float) -> None:
    """A private neuron (c_0 = 0, proximal path), more neurons than points and tiny lam:
    200 proximal steps do not reach the optimum. The result must not claim convergence,
    must warn with its gap, and its bound must stay below an independent feasible value."""
    kernel, X, y = _case("private", skip=True, n=8, n_neurons=12)
    ls, _, v_ls = _least_squares(kernel, X, y, np.ones(12, dtype=bool))
    upper = ls + lam * float(np.hypot(v_ls, kernel.weights).sum())
    with pytest.warns(ConvergenceWarning, match=r"relative duality gap \S+"):
        sol = exact_subproblem(kernel, X, y, lam, max_iter=2)
    assert sol.method == "proximal"
    assert not sol.converged
    assert sol.relative_gap > 1e-9
    assert sol.lower_bound <= upper * (1 + 1e-12)
    assert sol.objective >= (ls + lam * float(kernel.weights.sum())) * (1 - 1e-12)


@pytest.mark.parametrize("gap_tol", [1e-9, 0.5])
def test_converged_means_the_relative_gap_is_within_gap_tol(gap_tol: float) -> None:
    """One Newton step from the RKHS start at moderate lam: converged exactly when the
    verified relative gap is within gap_tol (not when the Newton rule was met)."""
    kernel, X, y = _case("random", skip=True, n=15, n_neurons=6, seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = exact_subproblem(kernel, X, y, 0.3, tol=0.0, max_iter=1, gap_tol=gap_tol)
    assert sol.converged == (abs(sol.relative_gap) <= gap_tol)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert warned == (not sol.converged)


def test_a_dual_point_with_an_affine_component_fails_the_check() -> None:
    """Why the check exists: a point off the features but not off the affine part has
    a dual value above the optimum (an invalid bound); the check rejects it."""
    kernel, X, y = _case("all_active", skip=True, n=15, n_neurons=6)
    n = len(y)
    proj = AffineProjection.of(X, True)
    ls, fitted, _ = _least_squares(kernel, X, y, np.ones(6, dtype=bool))
    good = (2.0 / n) * (y - fitted)
    assert proj.feasible(good, (2.0 / n) * float(np.linalg.norm(y)))
    bad = good + 0.05 * (2.0 / n) * np.ones(n)  # plus a constant: not orthogonal to 1
    value = float(bad @ y) - n / 4.0 * float(bad @ bad)
    assert value > ls  # the invalid "bound" is above the optimum...
    assert not proj.feasible(bad, (2.0 / n) * float(np.linalg.norm(y)))  # ...and is rejected


@pytest.mark.parametrize("lam", [0.0, 1e-9, 1e-3])
def test_ill_conditioned_affine_part_never_overclaims(lam: float) -> None:
    """Inputs offset by 1e3 with one coordinate squashed to 1e-6 (cond [X, 1] ~ 2e12):
    the fit is computed to ~1e-8 only. Whatever is reported, the bound stays below the
    objective and ``converged`` comes only with a gap at rounding."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 2))
    X[:, 1] *= 1e-6
    X += 1e3
    W = rng.standard_normal((6, 2))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = -(W @ X.mean(axis=0)) + rng.uniform(-0.5, 0.5, 6)
    V = rng.standard_normal((6, 3))
    kernel = InducedKernel(W, b, V, task_weights(V)[:, 0], 0, np.zeros((3, 2)), np.zeros(3))
    y = rng.standard_normal(12)
    scale = float(y @ y) / len(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sols = [rkhs_solve(kernel, X, y, lam)]
        if lam > 0:
            sols.append(exact_subproblem(kernel, X, y, lam))
    for sol in sols:
        assert sol.lower_bound <= sol.objective + 1e-12 * scale
        if sol.converged:
            assert abs(sol.gap) <= 1e-9 * max(sol.objective, scale)
