"""The continuation recipe on many problems equals ``train`` problem by problem."""

from __future__ import annotations

import numpy as np
import pytest

import mtlreg
from mtlreg.sweep import AutoBatchedResult, BatchedRun, train_auto_batched
from mtlreg.training import Problem, train_many


def _problems() -> list[Problem]:
    """Problems differing in data, seed, tasks, width, lam, skip and loss convention."""
    rng = np.random.default_rng(0)
    settings = [  # (n_aux, scale, width, lam, skip, reduction)
        (0, 1.0, 8, 1e-4, True, "sum"),
        (3, 2.0, 16, 1e-3, True, "sum"),
        (5, 0.5, 12, 0.0, False, "mean"),
        (1, 10.0, 6, 1e-2, True, "sum"),
    ]
    problems = []
    for seed, (n_aux, scale, width, lam, skip, red) in enumerate(settings):
        x = rng.uniform(-1.0, 1.0, (10, 3))
        y = np.sin(2 * x.sum(axis=1))
        Y = mtlreg.aux_tasks(y, n_aux, scale=scale, seed=seed)
        problems.append(Problem(x, Y, width, lam, seed, skip=skip, task_reduction=red))
    return problems


def _alone(p: Problem, steps: int) -> mtlreg.training.TrainResult:
    return mtlreg.train(
        p.X,
        p.Y,
        width=p.width,
        lam=p.lam,
        skip=p.skip,
        seed=p.seed,
        max_steps=steps,
        task_reduction=p.task_reduction,
        tol=0.0,
        method="continuation",
        progress=False,
    )


def test_padded_batch_equals_train_for_every_problem() -> None:
    problems = _problems()
    steps = 300
    results = train_many(problems, method="continuation", max_steps=steps, tol=0.0)
    for p, res in zip(problems, results, strict=True):
        ref = _alone(p, steps)
        assert isinstance(res, mtlreg.training.TrainResult)
        assert res.config["best_restart"] == ref.config["best_restart"]
        assert res.n_iter == steps == res.steps
        assert res.objective == pytest.approx(ref.objective, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(res.predict(p.X), ref.predict(p.X), atol=1e-9)
        assert res.penalty == pytest.approx(float(res.net.vv_norm().detach()), rel=1e-9)  # balanced


def test_problems_of_different_sizes_train_in_one_call() -> None:
    rng = np.random.default_rng(1)
    problems = [
        Problem(rng.standard_normal((n, d)), rng.standard_normal((n, 2)), 6, 1e-3, seed=n)
        for n, d in [(7, 2), (12, 2), (7, 3)]
    ]
    results = train_many(problems, method="continuation", max_steps=200, tol=0.0)
    for p, res in zip(problems, results, strict=True):
        ref = _alone(p, 200)
        np.testing.assert_array_equal(res.predict(p.X), ref.predict(p.X))


def test_deprecated_alias_calls_the_engine() -> None:
    problems = _problems()[:2]
    runs = [
        BatchedRun(
            p.X,
            p.Y,
            p.width,
            p.lam,
            int(p.seed or 0),
            skip=p.skip,
            lr=1e-2,
            task_reduction=p.task_reduction,
        )
        for p in problems
    ]
    with pytest.warns(DeprecationWarning, match="train_many"):
        results = train_auto_batched(runs, steps=200)
    for p, res in zip(problems, results, strict=True):
        ref = _alone(p, 200)
        assert isinstance(res, AutoBatchedResult)
        assert res.best_restart == ref.config["best_restart"]
        np.testing.assert_allclose(res.net.predict(p.X), ref.predict(p.X), atol=1e-9)
        assert res.rel_change >= 0.0


def test_validation() -> None:
    with pytest.raises(ValueError, match="problems"):
        train_many([], method="continuation")
    problems = _problems()
    with pytest.raises(ValueError, match="restarts"):
        train_many(problems, method="continuation", max_steps=10, restarts=0)
    with pytest.raises(TypeError, match=r"problems\[1\]"):
        train_many([problems[0], "x"], max_steps=10)  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"problems\[0\]\.lam"):
        train_many([Problem(np.zeros((3, 2)), np.zeros(3), 2, -1.0)], max_steps=10)
    with (
        pytest.warns(DeprecationWarning, match="deprecated"),
        pytest.raises(ValueError, match="at least one run"),
    ):
        train_auto_batched([], steps=10)
