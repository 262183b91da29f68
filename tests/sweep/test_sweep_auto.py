"""The batched gradient recipe equals ``train`` (d >= 2) run after run."""

from __future__ import annotations

import numpy as np
import pytest

import mtlreg
from mtlreg.sweep import AutoBatchedResult, BatchedRun, train_auto_batched


def _runs() -> list[BatchedRun]:
    """Problems differing in data, seed, tasks, width, lam, skip and loss convention."""
    rng = np.random.default_rng(0)
    settings = [  # (n_aux, scale, width, lam, skip, reduction)
        (0, 1.0, 8, 1e-4, True, "sum"),
        (3, 2.0, 16, 1e-3, True, "sum"),
        (5, 0.5, 12, 0.0, False, "mean"),
        (1, 10.0, 6, 1e-2, True, "sum"),
    ]
    runs = []
    for seed, (n_aux, scale, width, lam, skip, red) in enumerate(settings):
        x = rng.uniform(-1.0, 1.0, (10, 3))
        y = np.sin(2 * x.sum(axis=1))
        Y = mtlreg.aux_tasks(y, n_aux, scale=scale, seed=seed)
        runs.append(BatchedRun(x, Y, width, lam, seed, skip=skip, lr=1e-2, task_reduction=red))
    return runs


def test_equals_train_for_every_problem() -> None:
    runs = _runs()
    steps = 300  # train checks convergence every 1000 steps: no early stop here
    results = train_auto_batched(runs, steps=steps)
    for run, res in zip(runs, results, strict=True):
        ref = mtlreg.train(run.X, run.Y, width=run.width, lam=run.lam, skip=run.skip,
                           seed=run.seed, max_steps=steps, task_reduction=run.task_reduction,
                           progress=False)  # fmt: skip
        assert isinstance(res, AutoBatchedResult)
        assert res.best_restart == ref.config["best_restart"]
        assert res.steps == steps
        assert res.objective == pytest.approx(ref.objective, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(res.net.predict(run.X), ref.net.predict(run.X), atol=1e-9)
        assert res.penalty == pytest.approx(res.vv_norm, rel=1e-9)  # balanced
        assert res.rel_change >= 0.0


def test_validation() -> None:
    with pytest.raises(ValueError, match="at least one run"):
        train_auto_batched([], steps=10)
    runs = _runs()
    short = BatchedRun(np.zeros((4, 3)), np.zeros(4), width=2, lam=0.1, seed=0)
    with pytest.raises(ValueError, match="one shape"):
        train_auto_batched([runs[0], short], steps=10)
    with pytest.raises(ValueError, match="restarts"):
        train_auto_batched(runs, steps=10, restarts=0)
