"""The RKHS problem and the exact subproblem: closed forms vs iterative and convex solvers."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse.linalg
from sklearn.exceptions import ConvergenceWarning

from mtlreg.kernel import (
    InducedKernel,
    exact_objective,
    exact_subproblem,
    gap_bound,
    objective_gap,
    rkhs_solve,
    surrogate_excess,
    task_weights,
)


def _random_kernel(
    n_neurons: int, d: int, n_tasks: int, *, skip: bool, seed: int, task: int = 0
) -> InducedKernel:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_neurons, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = rng.uniform(-1.0, 1.0, n_neurons)
    V = rng.standard_normal((n_neurons, n_tasks)) / np.sqrt(n_tasks)
    A = rng.standard_normal((n_tasks, d)) if skip else None
    c = rng.standard_normal(n_tasks) if skip else None
    return InducedKernel(W, b, V, task_weights(V)[:, task], task, A, c)


def _data(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 100)
    return rng.standard_normal((n, d)), rng.standard_normal(n)


def _rkhs_objective(kernel: InducedKernel, X: np.ndarray, y: np.ndarray, lam: float):
    phi = kernel.features(X)
    c = kernel.weights
    d = X.shape[1]

    def obj(theta: np.ndarray) -> float:
        v, a, c0 = theta[: len(c)], theta[len(c) : len(c) + d], theta[-1]
        if not kernel.skip:
            a, c0 = np.zeros(d), 0.0
        r = y - phi @ v - X @ a - c0
        return float(r @ r) / len(y) + lam * float((c + v**2 / (2 * c)).sum())

    return obj


@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("lam", [1e-1, 1e-3])
def test_rkhs_closed_form_matches_iterative_solve(skip: bool, lam: float) -> None:
    """Closed form (SVD) vs LSQR (Golub-Kahan iterations) on the stacked least squares."""
    kernel = _random_kernel(12, 3, 5, skip=skip, seed=0)
    X, y = _data(15, 3, 0)
    n, k = X.shape[0], kernel.n_neurons
    sol = rkhs_solve(kernel, X, y, lam)
    Z = np.hstack([X, np.ones((n, 1))]) if skip else np.zeros((n, 0))
    top = np.hstack([kernel.features(X), Z]) / np.sqrt(n)
    damp = np.hstack([np.diag(np.sqrt(lam / (2 * kernel.weights))), np.zeros((k, Z.shape[1]))])
    theta = scipy.sparse.linalg.lsqr(
        np.vstack([top, damp]),
        np.r_[y / np.sqrt(n), np.zeros(k)],
        atol=1e-15,
        btol=1e-15,
        conlim=1e12,
        iter_lim=100_000,
    )[0]
    np.testing.assert_allclose(sol.v, theta[:k], rtol=1e-7, atol=1e-8)
    if skip:
        np.testing.assert_allclose(np.r_[sol.a, sol.intercept], theta[k:], rtol=1e-7, atol=1e-8)
    obj = _rkhs_objective(kernel, X, y, lam)
    assert sol.objective == pytest.approx(obj(np.r_[sol.v, sol.a, sol.intercept]), rel=1e-12)
    assert sol.objective <= obj(theta) * (1 + 1e-12)


@pytest.mark.parametrize("skip", [True, False])
def test_rkhs_primal_matches_kernel_form(skip: bool) -> None:
    """v from the feature form equals the representer form with the Gram matrix."""
    kernel = _random_kernel(10, 2, 4, skip=skip, seed=1)
    X, y = _data(14, 2, 1)
    lam = 1e-2
    n = len(y)
    sol = rkhs_solve(kernel, X, y, lam)
    G = kernel.gram(X)
    Z = np.hstack([X, np.ones((n, 1))]) if skip else np.zeros((n, 0))
    m = Z.shape[1]
    system = np.block([[G + n * lam / 2 * np.eye(n), Z], [Z.T, np.zeros((m, m))]])
    sol_dual = np.linalg.solve(system, np.r_[y, np.zeros(m)])
    alpha, beta = sol_dual[:n], sol_dual[n:]
    X_test, _ = _data(30, 2, 7)
    expected = kernel.gram(X_test, X) @ alpha + (
        np.hstack([X_test, np.ones((30, 1))]) @ beta if skip else 0.0
    )
    np.testing.assert_allclose(sol.predict(X_test), expected, atol=1e-9)
    # the representer v = diag(c) Phi^T alpha
    np.testing.assert_allclose(sol.v, kernel.weights * (kernel.features(X).T @ alpha), atol=1e-9)


def test_rkhs_min_norm_interpolation_is_the_ridgeless_limit() -> None:
    kernel = _random_kernel(40, 2, 3, skip=True, seed=2)
    X, y = _data(10, 2, 2)
    interp = rkhs_solve(kernel, X, y, 0.0)
    assert interp.fit < 1e-20
    ridge = rkhs_solve(kernel, X, y, 1e-9)
    np.testing.assert_allclose(interp.v, ridge.v, atol=1e-5)
    # minimum norm: any other interpolant (add a null-space direction) has a larger norm
    phi = kernel.features(X)
    Z = np.hstack([phi, X, np.ones((10, 1))])
    null = np.linalg.svd(Z)[2][-1]
    v2 = interp.v + 0.1 * null[:40]
    assert (v2**2 / kernel.weights).sum() > interp.rkhs_norm_sq


@pytest.mark.parametrize(("skip", "seed"), [(True, 0), (False, 1), (True, 2)])
@pytest.mark.parametrize("lam", [1e-1, 1e-3])
def test_exact_subproblem_matches_cvxpy(skip: bool, seed: int, lam: float) -> None:
    kernel = _random_kernel(12, 3, 3, skip=skip, seed=seed)
    X, y = _data(16, 3, seed)
    sol = exact_subproblem(kernel, X, y, lam)
    assert sol.method == "newton"
    assert sol.converged
    v = cp.Variable(kernel.n_neurons)
    phi = kernel.features(X)
    pred = phi @ v
    if skip:
        a, c0 = cp.Variable(3), cp.Variable()
        pred = pred + X @ a + c0
    pen = cp.sum(cp.norm(cp.vstack([v, kernel.weights]), 2, axis=0))
    prob = cp.Problem(cp.Minimize(cp.sum_squares(y - pred) / len(y) + lam * pen))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    assert sol.objective <= prob.value + 1e-9
    assert sol.objective == pytest.approx(prob.value, rel=1e-6)
    assert sol.objective == pytest.approx(exact_objective(kernel, X, y, lam, sol.v), rel=1e-13)
    # the dual bound: below Clarabel's optimum, and tight at the solution
    assert sol.lower_bound <= prob.value + 1e-9
    assert -1e-12 <= sol.relative_gap <= 1e-9
    np.testing.assert_allclose(phi @ sol.v, phi @ v.value, atol=1e-4)


def test_exact_subproblem_with_a_private_neuron_matches_cvxpy() -> None:
    """c_k = 0 (a neuron used only by this task) makes the term lam |v_k|: proximal path."""
    kernel = _random_kernel(8, 2, 3, skip=True, seed=3)
    V = kernel.V.copy()
    V[0, 1:] = 0.0
    kernel = InducedKernel(kernel.W, kernel.b, V, task_weights(V)[:, 0], 0, kernel.A, kernel.c)
    X, y = _data(12, 2, 3)
    lam = 1e-2
    sol = exact_subproblem(kernel, X, y, lam)
    assert sol.method == "proximal"
    v, a, c0 = cp.Variable(8), cp.Variable(2), cp.Variable()
    pen = cp.sum(cp.norm(cp.vstack([v, kernel.weights]), 2, axis=0))
    fit = cp.sum_squares(y - kernel.features(X) @ v - X @ a - c0) / 12
    prob = cp.Problem(cp.Minimize(fit + lam * pen))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    assert sol.objective == pytest.approx(prob.value, rel=1e-6)
    assert sol.lower_bound <= prob.value + 1e-9
    assert -1e-12 <= sol.relative_gap <= 1e-9
    rkhs = rkhs_solve(kernel, X, y, lam)
    assert rkhs.v[0] == 0.0
    # the network of the RKHS solution drops the neuron it does not use, and is balanced
    net = rkhs.to_network()
    assert net.width == int(np.count_nonzero(rkhs.v))
    np.testing.assert_allclose(net.predict(X)[:, 0], rkhs.predict(X), atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_gap_is_within_the_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_tasks = int(rng.choice([2, 3, 10, 50]))
    lam = float(10 ** rng.uniform(-4, -0.5))
    skip = bool(seed % 2)
    kernel = _random_kernel(10, 2, n_tasks, skip=skip, seed=seed)
    X, y = _data(12, 2, seed)
    rkhs = rkhs_solve(kernel, X, y, lam)
    exact = exact_subproblem(kernel, X, y, lam)
    gap = objective_gap(X, y, rkhs, exact)
    slack = 1e-12 * exact.objective
    # sandwich: Q(v_Q) - E(v_Q) <= Q(v_Q) - E(v_E) <= Q(v_E) - E(v_E) <= bound(v_E)
    lower = surrogate_excess(kernel, rkhs.v, lam)
    assert 0.0 <= lower <= gap + slack
    assert gap <= surrogate_excess(kernel, exact.v, lam) + slack
    assert gap <= gap_bound(kernel, exact.v, lam) + slack
    assert gap == pytest.approx(rkhs.objective - exact.objective, abs=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_surrogate_sandwich_holds_pointwise(seed: int) -> None:
    """0 <= Q(v) - E(v) <= (lam/8) sum v^4 / c^3 for arbitrary v."""
    kernel = _random_kernel(10, 2, 4, skip=True, seed=seed)
    lam = 0.1
    rng = np.random.default_rng(seed)
    c = kernel.weights
    for _ in range(20):
        v = rng.standard_normal(10) * rng.uniform(0.01, 3.0)
        quad = lam * (c + v**2 / (2 * c)).sum()
        exact = lam * np.hypot(v, c).sum()
        excess = surrogate_excess(kernel, v, lam)
        assert excess == pytest.approx(quad - exact, rel=1e-8, abs=1e-14)
        assert 0.0 <= excess <= gap_bound(kernel, v, lam) * (1 + 1e-12)


@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("lam", [1e-1, 1e-4, 0.0])
def test_rkhs_lower_bound_is_below_every_objective_and_tight(skip: bool, lam: float) -> None:
    """The kernel-ridge dual value is below the objective of any output weights (and
    affine part), and equals the closed form's objective up to rounding."""
    kernel = _random_kernel(12, 3, 5, skip=skip, seed=4)
    X, y = _data(15, 3, 4)
    sol = rkhs_solve(kernel, X, y, lam)
    assert sol.gap == sol.objective - sol.lower_bound
    assert sol.objective == pytest.approx(sol.fit + lam * sol.penalty, rel=1e-14)
    assert sol.penalty == pytest.approx(kernel.weights.sum() + sol.rkhs_norm_sq / 2, rel=1e-14)
    scale = float(y @ y) / len(y)  # the objective of f = 0: where rounding lives
    assert abs(sol.gap) <= 1e-12 * max(sol.objective, scale)
    assert sol.converged and sol.n_iter == 0 and sol.seconds >= 0.0
    obj = _rkhs_objective(kernel, X, y, lam) if lam > 0 else None
    rng = np.random.default_rng(0)
    for _ in range(20):
        theta = np.r_[sol.v, sol.a, sol.intercept] + rng.standard_normal(12 + 4) * 0.1
        if obj is not None:
            value = obj(theta)
        else:  # lam = 0: the fit alone
            r = y - kernel.evaluate(X, theta[:12], theta[12:15], theta[15]) if skip else (
                y - kernel.features(X) @ theta[:12])  # fmt: skip
            value = float(r @ r) / len(y)
        assert sol.lower_bound <= value + 1e-12 * scale


@pytest.mark.parametrize("skip", [True, False])
def test_exact_lower_bound_is_below_every_objective(skip: bool) -> None:
    kernel = _random_kernel(10, 2, 3, skip=skip, seed=6)
    X, y = _data(14, 2, 6)
    lam = 3e-2
    sol = exact_subproblem(kernel, X, y, lam)
    assert sol.gap == sol.objective - sol.lower_bound
    rng = np.random.default_rng(1)
    for _ in range(20):
        v = sol.v + rng.standard_normal(10) * rng.uniform(1e-3, 1.0)
        assert sol.lower_bound <= exact_objective(kernel, X, y, lam, v) * (1 + 1e-12)


@pytest.mark.parametrize("lam", [1e-9, 1e-12])
def test_exact_lower_bound_is_tight_for_tiny_lam(lam: float) -> None:
    """More samples than neurons, no skip, tiny lam: the bound stays tight (the residual
    alone, orthogonal to the features only to rounding times their conditioning, gave
    a gap of 92 % of the objective at lam = 1e-12)."""
    kernel = _random_kernel(12, 3, 5, skip=False, seed=1)
    X, y = _data(15, 3, 1)
    sol = exact_subproblem(kernel, X, y, lam)
    assert sol.converged
    assert abs(sol.relative_gap) <= 1e-9


def test_exact_subproblem_out_of_budget_warns_and_keeps_a_valid_bound() -> None:
    """One Newton step with tol=0 does not reach a relative gap of 1e-9: not converged,
    a ConvergenceWarning with the gap, and a bound still below the optimum."""
    kernel = _random_kernel(12, 3, 3, skip=True, seed=7)
    X, y = _data(16, 3, 7)
    lam = 1e-3
    with pytest.warns(ConvergenceWarning, match=r"duality gap \S+"):
        early = exact_subproblem(kernel, X, y, lam, tol=0.0, max_iter=1)
    full = exact_subproblem(kernel, X, y, lam)
    assert not early.converged and early.n_iter == 1
    assert early.lower_bound <= full.objective * (1 + 1e-12)
    assert early.objective - full.objective <= early.gap + 1e-12 * full.objective


def test_iterations_is_a_deprecated_alias_of_n_iter() -> None:
    kernel = _random_kernel(6, 2, 3, skip=True, seed=8)
    X, y = _data(10, 2, 8)
    sol = exact_subproblem(kernel, X, y, 1e-2)
    with pytest.warns(DeprecationWarning, match="n_iter"):
        iters = sol.iterations
    assert iters == sol.n_iter >= 1


def test_solvers_validate_input() -> None:
    kernel = _random_kernel(4, 2, 3, skip=True, seed=0)
    X, y = _data(6, 2, 0)
    with pytest.raises(ValueError, match="Parameter `lam`"):
        rkhs_solve(kernel, X, y, -1.0)
    with pytest.raises(ValueError, match="Parameter `lam`"):
        exact_subproblem(kernel, X, y, 0.0)
    with pytest.raises(ValueError, match="Parameter `X`"):
        rkhs_solve(kernel, X[:, :1], y, 1e-2)
    with pytest.raises(ValueError, match="Parameter `y`"):
        exact_subproblem(kernel, X, y[:-1], 1e-2)
    with pytest.raises(ValueError, match="Parameter `v`"):
        exact_objective(kernel, X, y, 1e-2, np.zeros(3))
