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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

import mtlreg
from mtlreg import convex
from mtlreg._result import SolverResult, relative_gap
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


class SolverContract:
    """Properties every solver result must have (inherit and implement ``make_case``)."""

    def make_case(self) -> Case:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def case(cls) -> Case:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls().make_case()

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
        assert np.allclose(net.predict(case.X), pred, atol=1e-8 * (1 + np.abs(pred).max()))
        with torch.no_grad():
            # a neuron with w = 0 is a constant (VV cost 0) and cannot be balanced
            wn, vn = net.w.norm(dim=1), net.v.norm(dim=1)
            moving = wn > 0
            assert torch.allclose(wn[moving], vn[moving], rtol=1e-6, atol=1e-12), "unbalanced"
        if case.network_problem:
            obj, _, _ = convex.network_objective(net, case.X, case.Y, case.lam, task=None)
            assert obj == pytest.approx(res.objective, rel=1e-6)


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

    def make_case(self) -> Case:
        X, Y = _line(n_aux=1)
        lam = 1e-2
        res = mtlreg.train(X[:, 0], Y, width=12, lam=lam, seed=0)
        return Case(X, Y, lam, res, *_certified(X, Y, lam, skip=True))


class TestTrainContinuation(SolverContract):
    """``train``'s gradient recipe in 2-D (no bound) against the certified optimum."""

    def make_case(self) -> Case:
        X, Y = _two_squares(n_aux=2)
        lam = 1e-2
        res = mtlreg.train(
            X, Y, width=16, lam=lam, skip=False, seed=0, method="continuation", max_steps=4000
        )
        return Case(X, Y, lam, res, *_certified(X, Y, lam, skip=False))


class TestTrainAdam(SolverContract):
    """The authors' recipe (plain Adam): a valid result, never below the optimum."""

    def make_case(self) -> Case:
        X, Y = _two_squares(n_aux=2)
        lam = 1e-2
        res = mtlreg.train(
            X, Y, width=16, lam=lam, skip=False, seed=0, method="adam", max_steps=2000
        )
        return Case(X, Y, lam, res, *_certified(X, Y, lam, skip=False))


class TestConvexPatterns(SolverContract):
    """The single-output pattern program against column generation (independent code)."""

    def make_case(self) -> Case:
        X, Y = _two_squares(n_aux=0)
        lam = 1e-3
        res = convex.solve(X, Y, lam, skip=False, method="patterns")
        return Case(X, Y, lam, res, *_certified(X, Y, lam, skip=False))


class TestConvexColumnGeneration(SolverContract):
    """Column generation with several outputs, in 1-D, against the exact 1-D optimum."""

    def make_case(self) -> Case:
        X, Y = _line(n=8, n_aux=2, seed=3)
        lam = 1e-2
        res = convex.solve(X, Y, lam, skip=True, method="cg")
        ref = mtlreg.univariate.weight_decay_optimum(X[:, 0], Y, lam)
        return Case(X, Y, lam, res, ref.objective, max(ref.objective - ref.dual_objective, 0))


class TestGroupLasso(SolverContract):
    """The group lasso over a fixed dictionary against scikit-learn's MultiTaskLasso."""

    def make_case(self) -> Case:
        from sklearn.linear_model import MultiTaskLasso

        rng = np.random.default_rng(5)
        X = rng.standard_normal((30, 2))
        Y = aux_tasks(np.sin(X[:, 0]), n_aux=2, seed=6)
        W, b = convex.relu_dictionary(X, 40, seed=7)
        Phi = convex.relu_features(X, W, b)
        lam = 0.1 * convex.lam_max(Phi, Y)
        res = convex.group_lasso(Phi, Y, lam, tol=1e-10, dictionary=(W, b))
        sk = MultiTaskLasso(alpha=lam / 2, fit_intercept=False, tol=1e-12, max_iter=50_000)
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

        def predict(self, X: Any) -> np.ndarray:
            return good.predict(X)

        def to_network(self) -> Any:
            return good.to_network()

    o, f, p = good.objective, good.fit, good.penalty
    lb = good.lower_bound
    broken = {
        "objective": Wrong(o * 1.1, f, p, lb, o * 1.1 - lb, 0.0),
        "clipped gap": Wrong(o, f, p, o * 1.01, 0.0, 0.0),
        "below optimum": Wrong(0.5 * o, 0.5 * o - lam * p, p, lb, 0.5 * o - lb, 0.0),
    }
    checks = {
        "objective": contract.test_objective_is_fit_plus_lam_penalty,
        "clipped gap": contract.test_gap_is_objective_minus_lower_bound,
        "below optimum": contract.test_gap_bounds_the_distance_to_the_reference,
    }
    for name, res in broken.items():
        case = Case(X, Y, lam, res, reference, ref_gap)
        with pytest.raises(AssertionError):
            checks[name](case)
    # the genuine result passes all of them
    case = Case(X, Y, lam, good, reference, ref_gap)
    for check in checks.values():
        check(case)
