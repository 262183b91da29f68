"""The solver contract (CONTRIBUTING.md, ``mtlreg._result``), one mix-in for every solver.

A solver's test class inherits :class:`SolverContract` and implements ``make_case``:
a small problem, the solver's result on it and the optimum of the same problem from an
independent method. The contract checks that the result follows the protocol, that
``objective = fit + lam * penalty``, that ``gap = objective - lower_bound`` (never
clipped) is >= 0 and bounds the distance to the reference optimum, that no objective
lies below a certified optimum, and that ``to_network()`` reproduces ``predict`` with a
balanced network whose objective is the result's.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
import torch

import mtlreg
from mtlreg import convex
from mtlreg import kernel as kernel_pkg
from mtlreg._result import OBJECTIVE, SolverResult, relative_gap
from mtlreg.tasks import aux_tasks


@dataclass(frozen=True)
class Case:
    """A solved problem and the independent reference optimum of the same problem."""

    X: np.ndarray  # inputs the predictions are compared on
    Y: np.ndarray  # targets (N, T)
    lam: float
    result: Any
    reference: float  # optimum from an independent method
    reference_gap: float  # its certified accuracy (>= 0)
    network_problem: bool = True  # the result's penalty is the network's VV at balance
    global_rng_untouched: bool = True  # set by the fixture: solving drew no global numbers


class SolverContract:
    """Properties every solver result must have (inherit and implement ``make_case``;
    list the solver's public function and result class in ``documented``)."""

    #: public objects whose docstrings must quote the package objective verbatim
    documented: tuple[Any, ...] = ()

    def make_case(self) -> Case:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def case(cls) -> Case:
        before = _global_rng_states()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case = cls().make_case()
        return replace(case, global_rng_untouched=_global_rng_states() == before)

    def test_leaves_the_global_random_generators_alone(self, case: Case) -> None:
        # randomness comes from `seed` only: solving, predicting and building the network
        # draw nothing from torch's or numpy's global generator (a user's own stream)
        assert case.global_rng_untouched, "solving drew from a global random generator"
        before = _global_rng_states()
        case.result.predict(case.X)
        case.result.to_network()
        assert _global_rng_states() == before, "predict/to_network drew global random numbers"

    def test_docstrings_quote_the_objective(self) -> None:
        assert self.documented, "name the solver's public function in `documented`"
        for obj in self.documented:
            assert OBJECTIVE in (obj.__doc__ or ""), f"{obj!r} does not quote {OBJECTIVE!r}"

    def test_follows_the_protocol(self, case: Case) -> None:
        res = case.result
        assert isinstance(res, SolverResult)
        assert isinstance(res.n_iter, int) and res.n_iter >= 0
        assert isinstance(res.converged, bool)
        assert res.seconds >= 0.0

    def test_objective_is_fit_plus_lam_penalty(self, case: Case) -> None:
        res = case.result
        assert res.fit >= 0.0 and res.penalty >= 0.0
        assert res.objective == pytest.approx(res.fit + case.lam * res.penalty, rel=1e-10)

    def test_gap_is_objective_minus_lower_bound(self, case: Case) -> None:
        res = case.result
        if math.isnan(res.lower_bound):
            assert math.isnan(res.gap) and math.isnan(res.relative_gap)
            return
        assert res.gap == res.objective - res.lower_bound  # never clipped
        assert res.gap >= -1e-9 * abs(res.objective)
        assert res.relative_gap == relative_gap(res.gap, res.objective)

    def test_gap_bounds_the_distance_to_the_reference(self, case: Case) -> None:
        res = case.result
        tol = 1e-9 * abs(case.reference) + case.reference_gap
        # no function beats the certified optimum of its own problem
        assert res.objective >= case.reference - tol
        if not math.isnan(res.gap):
            assert res.objective - case.reference <= res.gap + tol
            assert res.lower_bound <= case.reference + tol

    def test_to_network_reproduces_predictions_balanced(self, case: Case) -> None:
        res = case.result
        net = res.to_network()
        pred = np.asarray(res.predict(case.X), dtype=float).reshape(len(case.X), -1)
        # float64 throughout: a parameter that went through float32 (~1e-8) is caught
        assert np.allclose(net.predict(case.X), pred, atol=1e-9 * (1 + np.abs(pred).max()))
        with torch.no_grad():
            # a neuron with w = 0 is a constant (VV cost 0) and cannot be balanced
            wn, vn = net.w.norm(dim=1), net.v.norm(dim=1)
            moving = wn > 0
            assert torch.allclose(wn[moving], vn[moving], rtol=1e-6, atol=1e-12), "unbalanced"
        if case.network_problem:
            obj, _, _ = convex.network_objective(net, case.X, case.Y, case.lam, task=None)
            assert obj == pytest.approx(res.objective, rel=1e-6)


def _global_rng_states() -> tuple[bytes, str]:
    """Torch's and numpy's global generator states, comparable with ``==``."""
    return bytes(torch.random.get_rng_state().numpy()), repr(np.random.get_state())  # noqa: NPY002


def _two_squares(n_aux: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]])
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float)
    return X.astype(float), aux_tasks(y, n_aux=n_aux, seed=seed)


def _line(n: int = 7, n_aux: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2.0, 2.0, n))
    return x[:, None], aux_tasks(rng.standard_normal(n), n_aux=n_aux, seed=seed + 1)


def _certified(X: np.ndarray, Y: np.ndarray, lam: float, skip: bool) -> tuple[float, float]:
    ref = convex.solve(X, Y, lam, skip=skip, method="cg")
    assert ref.gap <= 1e-6 * ref.objective, "reference not certified"
    return ref.objective, max(ref.gap, 0.0)


class TestTrainExact(SolverContract):
    """``train`` on 1-D data (the exact recipe) against the certified column generation."""

    documented = (mtlreg.train, mtlreg.TrainResult)

    def make_case(self) -> Case:
        X, Y = _line(n_aux=1)
        lam = 1e-2
        res = mtlreg.train(X[:, 0], Y, width=12, lam=lam, seed=0)
        return Case(X, Y, lam, res, *_certified(X, Y, lam, skip=True))


class TestTrainContinuation(SolverContract):
    """``train``'s gradient recipe in 2-D (no bound) against the certified optimum."""

    documented = (mtlreg.train, mtlreg.training.train_many)

    def make_case(self) -> Case:
        X, Y = _two_squares(n_aux=2)
        lam = 1e-2
        res = mtlreg.train(
            X, Y, width=16, lam=lam, skip=False, seed=0, method="continuation", max_steps=4000
        )
        return Case(X, Y, lam, res, *_certified(X, Y, lam, skip=False))


class TestTrainAutoCertified(SolverContract):
    """``train(method="auto")`` in 2-D: the certified optimum (column generation, the
    default there), against the convex program over all activation patterns."""

    documented = (mtlreg.train,)

    def make_case(self) -> Case:
        X, Y = _two_squares(n_aux=0)
        lam = 1e-3
        res = mtlreg.train(X, Y, width=16, lam=lam, skip=False)
        assert res.config["solver"] == "certified-cg"
        ref = convex.solve(X, Y[:, 0], lam, skip=False, method="patterns")
        return Case(X, Y, lam, res, ref.objective, max(ref.gap, 0.0))


class TestTrainAutoTooNarrow(SolverContract):
    """``train(method="auto")`` in 2-D with a width below the optimum's: gradient training,
    carrying the certified lower bound of the problem."""

    documented = (mtlreg.train,)

    def make_case(self) -> Case:
        X, Y = _two_squares(n_aux=2)
        lam = 1e-2
        res = mtlreg.train(X, Y, width=3, lam=lam, skip=False, seed=0, max_steps=2000)
        assert res.config["solver"] == "continuation" and math.isfinite(res.lower_bound)
        return Case(X, Y, lam, res, *_certified(X, Y, lam, skip=False))


class TestTrainAdam(SolverContract):
    """The authors' recipe (plain Adam): a valid result, never below the optimum."""

    documented = (mtlreg.train,)

    def make_case(self) -> Case:
        X, Y = _two_squares(n_aux=2)
        lam = 1e-2
        res = mtlreg.train(
            X, Y, width=16, lam=lam, skip=False, seed=0, method="adam", max_steps=2000
        )
        return Case(X, Y, lam, res, *_certified(X, Y, lam, skip=False))


class TestConvexPatterns(SolverContract):
    """The single-output pattern program against column generation (independent code)."""

    documented = (convex.solve, convex.ConvexSolution)

    def make_case(self) -> Case:
        X, Y = _two_squares(n_aux=0)
        lam = 1e-3
        res = convex.solve(X, Y, lam, skip=False, method="patterns")
        return Case(X, Y, lam, res, *_certified(X, Y, lam, skip=False))


class TestConvexColumnGeneration(SolverContract):
    """Column generation with several outputs, in 1-D, against the exact 1-D optimum."""

    documented = (convex.solve,)

    def make_case(self) -> Case:
        X, Y = _line(n=8, n_aux=2, seed=3)
        lam = 1e-2
        res = convex.solve(X, Y, lam, skip=True, method="cg")
        ref = mtlreg.univariate.weight_decay_optimum(X[:, 0], Y, lam)
        return Case(X, Y, lam, res, ref.objective, max(ref.gap, 0.0))


class TestWeightDecayOptimum(SolverContract):
    """The exact 1-D optimum (Newton on the fitted values) against column generation."""

    documented = (mtlreg.univariate.weight_decay_optimum, mtlreg.univariate.WeightDecayOptimum)

    def make_case(self) -> Case:
        X, Y = _line(n=9, n_aux=2, seed=4)
        lam = 1e-2
        res = mtlreg.univariate.weight_decay_optimum(X[:, 0], Y, lam)
        return Case(X, Y, lam, res, *_certified(X, Y, lam, skip=True))


def _kernel_case(seed: int, *, skip: bool) -> tuple[Any, np.ndarray, np.ndarray]:
    """A random induced kernel (all c_k > 0) and one task's data."""
    rng = np.random.default_rng(seed)
    K, d, T, n = 12, 2, 4, 15
    W = rng.standard_normal((K, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    V = rng.standard_normal((K, T)) / np.sqrt(T)
    A, c = (rng.standard_normal((T, d)), rng.standard_normal(T)) if skip else (None, None)
    b = rng.uniform(-1.0, 1.0, K)
    kernel = kernel_pkg.InducedKernel(W, b, V, kernel_pkg.task_weights(V)[:, 0], 0, A, c)
    X = rng.standard_normal((n, d))
    return kernel, X, np.sin(2.0 * X[:, 0]) + 0.3 * rng.standard_normal(n)


def _affine_projector(X: np.ndarray, skip: bool) -> np.ndarray:
    """Orthogonal projector onto the complement of span[X, 1] (identity without skip)."""
    n = len(X)
    if not skip:
        return np.eye(n)
    Z = np.hstack([X, np.ones((n, 1))])
    return np.eye(n) - Z @ np.linalg.pinv(Z)


class TestRKHSSolve(SolverContract):
    """Kernel ridge in closed form (SVD of the features) against the representer system.

    The reference solves the bordered Gram system [[G + (N lam/2) I, Z], [Z^T, 0]] and
    is certified by the kernel ridge dual, written here from the Gram matrix:
    <alpha, y> - (N/4)|alpha|^2 - alpha^T G alpha / (2 lam) + lam sum_k c_k at
    alpha = (2/N) P (residual).
    """

    documented = (kernel_pkg.rkhs_solve, kernel_pkg.RKHSSolution)

    def make_case(self) -> Case:
        kernel, X, y = _kernel_case(11, skip=True)
        lam, n = 1e-2, len(y)
        res = kernel_pkg.rkhs_solve(kernel, X, y, lam)
        G = kernel.gram(X)
        Z = np.hstack([X, np.ones((n, 1))])
        m = Z.shape[1]
        system = np.block([[G + n * lam / 2 * np.eye(n), Z], [Z.T, np.zeros((m, m))]])
        sol = np.linalg.solve(system, np.r_[y, np.zeros(m)])
        coef = sol[:n]
        r = y - G @ coef - Z @ sol[n:]
        c = kernel.weights
        # f = sum_k v_k phi_k with v = c * Phi^T coef: ||f||_K^2 = coef^T G coef
        ref = float(r @ r) / n + lam * (c.sum() + 0.5 * float(coef @ G @ coef))
        alpha = (2.0 / n) * _affine_projector(X, True) @ r
        dual = alpha @ y - n / 4 * alpha @ alpha - alpha @ G @ alpha / (2 * lam) + lam * c.sum()
        return Case(X, y[:, None], lam, res, ref, max(ref - float(dual), 0.0), False)


class TestExactSubproblem(SolverContract):
    """The exact per-task subproblem (Newton) against Clarabel through cvxpy.

    The reference is certified by the subproblem's dual, written here from the
    conjugate of sqrt(v^2 + c^2): <alpha, y> - (N/4)|alpha|^2 +
    lam sum_k c_k sqrt(1 - (phi_k . alpha / lam)^2) at alpha = (2/N) P (residual),
    scaled into |phi_k . alpha| <= lam.
    """

    documented = (kernel_pkg.exact_subproblem, kernel_pkg.SubproblemSolution)

    def make_case(self) -> Case:
        import cvxpy as cp

        kernel, X, y = _kernel_case(12, skip=False)
        lam, n = 1e-2, len(y)
        res = kernel_pkg.exact_subproblem(kernel, X, y, lam)
        phi, c = kernel.features(X), kernel.weights
        v = cp.Variable(kernel.n_neurons)
        pen = cp.sum(cp.norm(cp.vstack([v, c]), 2, axis=0))
        prob = cp.Problem(cp.Minimize(cp.sum_squares(y - phi @ v) / n + lam * pen))
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        vr = np.asarray(v.value)
        r = y - phi @ vr
        ref = float(r @ r) / n + lam * float(np.hypot(vr, c).sum())
        alpha = (2.0 / n) * _affine_projector(X, False) @ r
        alpha *= min(1.0, lam / np.abs(phi.T @ alpha).max())
        s = np.abs(phi.T @ alpha) / lam
        dual = alpha @ y - n / 4 * alpha @ alpha + lam * float((c * np.sqrt(1 - s**2)).sum())
        return Case(X, y[:, None], lam, res, ref, max(ref - float(dual), 0.0), False)


class TestGroupLasso(SolverContract):
    """The group lasso over a fixed dictionary against scikit-learn's MultiTaskLasso."""

    documented = (convex.group_lasso, convex.GroupLassoResult)

    def make_case(self) -> Case:
        from sklearn.linear_model import MultiTaskLasso

        rng = np.random.default_rng(5)
        X = rng.standard_normal((30, 2))
        Y = aux_tasks(np.sin(X[:, 0]), n_aux=2, seed=6)
        W, b = convex.relu_dictionary(X, 40, seed=7)
        Phi = convex.relu_features(X, W, b)
        lam = 0.1 * convex.lam_max(Phi, Y)
        res = convex.group_lasso(Phi, Y, lam, tol=1e-10, dictionary=(W, b))
        sk = MultiTaskLasso(
            alpha=lam / 2, fit_intercept=False, tol=1e-12, max_iter=50_000, random_state=0
        )  # sklearn draws its seed from numpy's global generator unless given one
        V = sk.fit(Phi, Y).coef_.T
        ref = ((Y - Phi @ V) ** 2).sum() / len(Y) + lam * np.linalg.norm(V, axis=1).sum()
        # sklearn has no certificate; its objective is an upper bound on the optimum
        gap = max(ref - res.lower_bound, 0.0)
        return Case(X, Y, lam, res, float(ref), gap)


def test_the_contract_catches_a_wrong_result() -> None:
    """Each property fails on a result that breaks it (the contract can fail)."""
    X, Y = _line(n=6)
    lam = 1e-2
    good = mtlreg.train(X[:, 0], Y, width=8, lam=lam, seed=0)
    reference, ref_gap = _certified(X, Y, lam, skip=True)
    contract = SolverContract()
    unbalanced = good.to_network()
    with torch.no_grad():  # same function (relu is positively homogeneous), not balanced
        unbalanced.w.mul_(2.0)
        unbalanced.b.mul_(2.0)
        unbalanced.v.div_(2.0)
    shifted = good.to_network()
    with torch.no_grad():  # balanced, but another function
        assert shifted.c is not None
        shifted.c.add_(0.5)
    rounded = good.to_network()
    with torch.no_grad():  # the function up to a float32 round trip of its parameters
        for param in rounded.parameters():
            param.copy_(param.float().double())

    @dataclass(frozen=True)
    class Wrong:
        objective: float
        fit: float
        penalty: float
        lower_bound: float
        gap: float
        relative_gap: float
        n_iter: int = 1
        converged: bool = True
        seconds: float = 0.0
        net: Any = None

        def predict(self, X: Any) -> np.ndarray:
            return good.predict(X)

        def to_network(self) -> Any:
            return good.to_network() if self.net is None else self.net

    o, f, p = good.objective, good.fit, good.penalty
    lb = good.lower_bound
    rel = relative_gap(o - lb, o)
    broken = {
        "protocol": Wrong(o, f, p, lb, o - lb, rel, n_iter=-1),
        "objective": Wrong(o * 1.1, f, p, lb, o * 1.1 - lb, 0.0),
        "clipped gap": Wrong(o, f, p, o * 1.01, 0.0, 0.0),
        "below optimum": Wrong(0.5 * o, 0.5 * o - lam * p, p, lb, 0.5 * o - lb, 0.0),
        "unbalanced network": Wrong(o, f, p, lb, o - lb, rel, net=unbalanced),
        "network of another function": Wrong(o, f, p, lb, o - lb, rel, net=shifted),
        "network through float32": Wrong(o, f, p, lb, o - lb, rel, net=rounded),
    }
    checks = {
        "protocol": contract.test_follows_the_protocol,
        "objective": contract.test_objective_is_fit_plus_lam_penalty,
        "clipped gap": contract.test_gap_is_objective_minus_lower_bound,
        "below optimum": contract.test_gap_bounds_the_distance_to_the_reference,
        "unbalanced network": contract.test_to_network_reproduces_predictions_balanced,
        "network of another function": contract.test_to_network_reproduces_predictions_balanced,
        "network through float32": contract.test_to_network_reproduces_predictions_balanced,
    }
    for name, res in broken.items():
        case = Case(X, Y, lam, res, reference, ref_gap)
        with pytest.raises(AssertionError):
            checks[name](case)
    # the genuine result passes all of them
    case = Case(X, Y, lam, good, reference, ref_gap)
    for check in checks.values():
        check(case)

    def undocumented() -> None:
        """Minimises (1/N) sum ||y - f||^2 + lam * WD (not the package's wording)."""

    class Undocumented(SolverContract):
        documented = (undocumented,)

    with pytest.raises(AssertionError):
        Undocumented().test_docstrings_quote_the_objective()
    with pytest.raises(AssertionError):
        SolverContract().test_docstrings_quote_the_objective()  # nothing named


def test_the_contract_catches_a_clipped_weight_decay_optimum() -> None:
    """The univariate optimum's former clipped gap (max(objective - bound, 0)) with a
    bound above the objective fails the gap check; the genuine result passes it."""
    X, Y = _line(n=6)
    lam = 1e-2
    opt = mtlreg.univariate.weight_decay_optimum(X[:, 0], Y, lam)
    reference, ref_gap = _certified(X, Y, lam, skip=True)

    @dataclass(frozen=True)
    class Clipped(mtlreg.univariate.WeightDecayOptimum):
        @property
        def gap(self) -> float:
            return max(self.objective - self.lower_bound, 0.0)

    fields = {k: getattr(opt, k) for k in opt.__dataclass_fields__}
    fields["lower_bound"] = opt.objective * (1 + 1e-6)  # a bound above the objective
    contract = SolverContract()
    with pytest.raises(AssertionError):
        contract.test_gap_is_objective_minus_lower_bound(
            Case(X, Y, lam, Clipped(**fields), reference, ref_gap)
        )
    contract.test_gap_is_objective_minus_lower_bound(Case(X, Y, lam, opt, reference, ref_gap))
