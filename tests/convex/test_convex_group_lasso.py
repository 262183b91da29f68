"""Group lasso over ReLU atoms: the package objective, optimality conditions, agreement
with scikit-learn / celer / cvxpy at the matching alpha, paths, read-back, guards."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import MultiTaskLasso

from mtlreg._result import SolverResult, relative_gap
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


def package_objective(phi: np.ndarray, y: np.ndarray, v: np.ndarray, lam: float) -> float:
    """(1/N)||Y - Phi V||_F^2 + lam sum_k ||V_k||, written out independently."""
    r = y - phi @ v
    return float((r * r).sum() / phi.shape[0] + lam * np.linalg.norm(v, axis=1).sum())


def assert_kkt(phi: np.ndarray, y: np.ndarray, v: np.ndarray, lam: float, tol: float) -> None:
    """Stationarity of the package objective: (2/N) Phi_k^T R = lam V_k / ||V_k|| on the
    support, norm <= lam off it."""
    n = phi.shape[0]
    corr = 2.0 * phi.T @ (y - phi @ v) / n
    norms = np.linalg.norm(v, axis=1)
    on = norms > 1e-10 * norms.max(initial=1.0)
    assert np.all(np.linalg.norm(corr[~on], axis=1) <= lam * (1 + tol))
    expected = lam * v[on] / norms[on, None]
    assert np.allclose(corr[on], expected, atol=tol * lam)


@pytest.mark.parametrize("frac", [0.5, 0.1, 0.01])
def test_kkt_conditions_hold(frac: float) -> None:
    _, y, _, _, phi = problem()
    lam = frac * lam_max(phi, y)
    res = group_lasso(phi, y, lam, tol=1e-10)
    assert res.converged
    assert res.gap <= 1e-10 * res.objective
    assert res.objective == pytest.approx(package_objective(phi, y, res.V, lam), rel=1e-12)
    assert_kkt(phi, y, res.V, lam, tol=1e-4)


def test_result_protocol() -> None:
    x, y, w, b, phi = problem(seed=5)
    lam = 0.05 * lam_max(phi, y)
    res = group_lasso(phi, y, lam, tol=1e-9, dictionary=(w, b))
    assert isinstance(res, SolverResult)
    assert res.objective == pytest.approx(res.fit + lam * res.penalty, rel=1e-14)
    assert res.fit == pytest.approx(np.mean(np.sum((y - phi @ res.V) ** 2, axis=1)), rel=1e-12)
    assert res.gap == res.objective - res.lower_bound
    assert res.relative_gap == relative_gap(res.gap, res.objective)
    assert res.n_iter >= 1 and res.seconds >= 0.0
    assert np.allclose(res.predict(x), phi @ res.V, atol=1e-12)


def test_matches_sklearn_multitask_lasso_at_half_lam() -> None:
    """sklearn minimises 1/(2N)||Y - Phi V||^2 + alpha sum||V_k||: alpha = lam / 2."""
    _, y, _, _, phi = problem(n=50, p=80, t=3, seed=1)
    lam = 0.1 * lam_max(phi, y)
    res = group_lasso(phi, y, lam, tol=1e-12)
    est = MultiTaskLasso(alpha=lam / 2, fit_intercept=False, tol=1e-14, max_iter=200_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        v_sk = est.fit(phi, y).coef_.T
    obj_sk = package_objective(phi, y, v_sk, lam)
    # ours is certified optimal: sklearn cannot be lower by more than our gap
    assert res.objective <= obj_sk + res.gap
    assert obj_sk == pytest.approx(res.objective, rel=1e-7)
    assert np.allclose(phi @ v_sk, phi @ res.V, atol=1e-3)


def test_matches_celer_at_half_lam() -> None:
    homotopy = pytest.importorskip("celer.homotopy")
    _, y, _, _, phi = problem(n=50, p=80, t=3, seed=6)
    lam = 0.05 * lam_max(phi, y)
    res = group_lasso(phi, y, lam, tol=1e-12)
    _, coefs, _ = homotopy.mtl_path(
        np.asfortranarray(phi), np.asfortranarray(y), alphas=[lam / 2], tol=1e-12
    )
    obj_celer = package_objective(phi, y, coefs[:, :, 0].T, lam)
    assert res.objective <= obj_celer + res.gap
    assert obj_celer == pytest.approx(res.objective, rel=1e-7)


def test_agrees_with_cvxpy_reference() -> None:
    _, y, _, _, phi = problem(n=40, p=60, t=3, seed=1)
    lam = 0.05 * lam_max(phi, y)
    fast = group_lasso(phi, y, lam, tol=1e-10)
    ref = group_lasso(phi, y, lam, solver="cvxpy")
    assert fast.objective == pytest.approx(ref.objective, rel=1e-7)
    # the certificate bounds the true suboptimality
    assert fast.objective - ref.objective <= fast.gap + 1e-12


def test_lam_max_is_the_threshold() -> None:
    _, y, _, _, phi = problem()
    top = lam_max(phi, y)
    above = group_lasso(phi, y, 1.001 * top)
    assert not above.V.any()
    assert above.gap <= 1e-12 * above.objective
    below = group_lasso(phi, y, 0.99 * top, tol=1e-10)
    assert below.V.any()


def test_path_matches_cold_solves() -> None:
    _, y, _, _, phi = problem(seed=2)
    top = lam_max(phi, y)
    lams = [0.3 * top, 0.1 * top, 0.03 * top]
    path = group_lasso_path(phi, y, lams, tol=1e-10)
    for lam, res in zip(lams, path):
        cold = group_lasso(phi, y, lam, tol=1e-10)
        assert res.lam == lam
        assert res.objective == pytest.approx(cold.objective, rel=1e-8)


def test_network_read_back_is_the_package_objective() -> None:
    x, y, w, b, phi = problem(seed=3)
    lam = 0.05 * lam_max(phi, y)
    res = group_lasso(phi, y, lam, tol=1e-10, dictionary=(w, b))
    net = res.to_network()
    assert net.width == len(res.support)
    assert np.allclose(net.predict(x), phi @ res.V, atol=1e-9)
    # unit-norm atoms: (1/N)||Y - f||^2 + lam * WD of the balanced network is the objective
    fit = np.mean(np.sum((y - net.predict(x)) ** 2, axis=1))
    wd = float(net.weight_decay().detach())
    assert fit + lam * wd == pytest.approx(res.objective, rel=1e-9)
    assert np.allclose(res.to_network(w, b).predict(x), net.predict(x))


def test_torch_input_and_single_output() -> None:
    _, y, _, _, phi = problem(seed=4)
    lam = 0.1 * lam_max(phi, y[:, 0])
    a = group_lasso(torch.as_tensor(phi), y[:, 0], lam, tol=1e-10)
    b = group_lasso(phi, y[:, :1], lam, tol=1e-10)
    assert a.V.shape == (phi.shape[1], 1)
    assert a.objective == pytest.approx(b.objective, rel=1e-10)


@pytest.mark.parametrize(("s_phi", "s_y"), [(1e150, 1e-150), (1e-120, 1e100), (3.7, 1e-7)])
def test_scale_equivariance(s_phi: float, s_y: float) -> None:
    """Phi -> s_phi Phi, Y -> s_y Y, lam -> lam s_phi s_y maps V to V s_y / s_phi and the
    objective to s_y^2 times it, down to extreme but finite scales."""
    _, y, _, _, phi = problem(n=40, p=60, seed=7)
    lam = 0.05 * lam_max(phi, y)
    base = group_lasso(phi, y, lam, tol=1e-10)
    big = group_lasso(phi * s_phi, y * s_y, lam * s_phi * s_y, tol=1e-10)
    assert big.converged
    assert big.relative_gap <= 1e-10
    assert np.allclose(big.V * (s_phi / s_y), base.V, rtol=1e-5, atol=1e-8 * np.abs(base.V).max())
    assert big.objective / (s_y * s_y) == pytest.approx(base.objective, rel=1e-9)


def test_tol_zero_stops_at_max_iter_with_warning() -> None:
    _, y, _, _, phi = problem(seed=8)
    lam = 0.01 * lam_max(phi, y)
    with pytest.warns(ConvergenceWarning, match=r"relative duality gap \S+e-?\d+"):
        res = group_lasso(phi, y, lam, tol=0.0, max_iter=30)
    assert not res.converged
    assert res.n_iter <= 30
    assert res.gap >= 0.0
    # the default budget is bounded too (the old solver ran 100k epochs, minutes)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = group_lasso(phi, y, lam, tol=0.0)
    assert res.n_iter <= 5_000
    assert time.perf_counter() - t0 < 120.0


def test_compiled_epochs_match_python_and_each_other() -> None:
    """The numba kernels and their Python source do the same block coordinate pass, in
    Gram space and in data space."""
    from mtlreg.convex._group_lasso import _bcd_epoch, _bcd_epoch_data, _epoch_kernel

    rng = np.random.default_rng(9)
    a = rng.standard_normal((30, 12))
    y = rng.standard_normal((30, 3))
    g, b = a.T @ a, a.T @ y
    outs = []
    for kernel in (_bcd_epoch, _epoch_kernel("gram")):
        v, qt = np.zeros((12, 3)), np.zeros((3, 12))
        for _ in range(3):
            kernel(g, np.ascontiguousarray(b.T), v, qt, 2.0, np.diag(g).copy(), np.empty(3))
        assert np.allclose(qt, (g @ v).T)
        outs.append(v)
    for kernel in (_bcd_epoch_data, _epoch_kernel("data")):
        v, rt = np.zeros((12, 3)), np.ascontiguousarray(y.T)
        for _ in range(3):
            kernel(np.ascontiguousarray(a.T), v, rt, 2.0, np.diag(g).copy(), np.empty(3))
        assert np.allclose(rt, (y - a @ v).T)
        outs.append(v)
    for v in outs[1:]:
        assert np.allclose(v, outs[0], atol=1e-12)


def test_data_space_and_gram_space_agree() -> None:
    """Few samples and many atoms (data-space epochs) give the certified optimum too."""
    _, y, _, _, phi = problem(n=25, p=300, t=3, seed=11)
    lam = 0.05 * lam_max(phi, y)
    res = group_lasso(phi, y, lam, tol=1e-10)
    ref = group_lasso(phi, y, lam, solver="cvxpy")
    assert res.converged
    assert res.objective - ref.objective <= res.gap + 1e-12
    assert res.objective == pytest.approx(ref.objective, rel=1e-7)
    assert_kkt(phi, y, res.V, lam, tol=1e-4)


@pytest.mark.parametrize(
    ("phi", "y", "kwargs", "match"),
    [
        (np.ones((3, 2)), np.ones(3), {"lam": 0.0}, "Parameter `lam`"),
        (np.ones((3, 2)), np.ones(3), {"lam": -1.0}, "Parameter `lam`"),
        (np.ones((3, 2)), np.ones(3), {"lam": float("nan")}, "Parameter `lam`"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), np.ones(2), {"lam": 1.0}, "Parameter `Phi`"),
        (np.ones((3, 2)), np.ones(4), {"lam": 1.0}, "Parameter `Y`"),
        (np.ones((3, 2)), np.array([1.0, np.nan, 0.0]), {"lam": 1.0}, "Parameter `Y`"),
        (np.zeros((0, 2)), np.zeros(0), {"lam": 1.0}, "Parameter `Phi`"),
        (np.ones((3, 2)), np.ones(3), {"lam": 1.0, "tol": -1.0}, "Parameter `tol`"),
        (np.ones((3, 2)), np.ones(3), {"lam": 1.0, "max_iter": 0}, "Parameter `max_iter`"),
        (np.ones((3, 2)), np.ones(3), {"lam": 1.0, "V0": np.ones((3, 1))}, "Parameter `V0`"),
        (
            np.ones((3, 2)),
            np.ones(3),
            {"lam": 1.0, "dictionary": (np.ones((3, 2)), np.ones(3))},
            "Parameter `dictionary`",
        ),
        (np.ones((3, 2)), np.ones(3), {"lam": 1.0, "solver": "fista"}, "Parameter `solver`"),
    ],
)
def test_bad_input(phi: np.ndarray, y: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        group_lasso(phi, y, **kwargs)


def test_read_back_without_dictionary_is_refused_clearly() -> None:
    _, y, _, _, phi = problem(n=20, p=30, seed=10)
    res = group_lasso(phi, y, 0.1 * lam_max(phi, y))
    with pytest.raises(ValueError, match="Parameters `weights` and `biases`"):
        res.to_network()
    assert np.allclose(res.predict(phi), phi @ res.V)
    with pytest.raises(ValueError, match="Parameter `X`"):
        res.predict(phi[:, :5])


def test_small_problems_run_blas_on_one_thread_and_large_keep_the_default():
    from threadpoolctl import threadpool_info

    from mtlreg.convex._threads import SMALL_PROBLEM, blas_threads_for

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas_threads()
    with blas_threads_for(SMALL_PROBLEM):
        assert blas_threads() <= {1}
    assert blas_threads() == before  # restored on exit
    with blas_threads_for(SMALL_PROBLEM + 1):
        assert blas_threads() == before
