"""The adam recipe on many problems equals training each network alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mtlreg
from mtlreg.sweep import BatchedRun, train_batched
from mtlreg.training import Problem, TrainingError, train_many


def _problems(lr: float) -> list[Problem]:
    """Networks differing in data, seed, tasks, width, lam, skip and loss convention."""
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((8, 2))
    x2 = rng.uniform(-1.0, 1.0, (8, 2))
    y1 = np.sign(x1[:, 0] * x1[:, 1])
    y2 = np.abs(x2).sum(axis=1)
    settings = [  # (data, n_aux, width, lam, skip, reduction)
        (0, 0, 8, 1e-3, False, "sum"),
        (1, 3, 16, 1e-2, True, "sum"),
        (0, 7, 5, 0.0, True, "mean"),
        (1, 1, 12, 1e-3, False, "sum"),
        (0, 100, 24, 1e-3, False, "sum"),
        (1, 0, 3, 1e-1, True, "mean"),
    ]
    problems = []
    for seed, (data, n_aux, width, lam, skip, red) in enumerate(settings):
        x, y = ((x1, y1), (x2, y2))[data]
        Y = mtlreg.aux_tasks(y, n_aux, dist="bernoulli" if n_aux > 50 else "gaussian", seed=seed)
        problems.append(Problem(x, Y, width, lam, seed, skip=skip, task_reduction=red, lr=lr))
    return problems


def _single(p: Problem, steps: int, dtype: torch.dtype) -> mtlreg.ShallowReLUNet:
    return mtlreg.train(
        p.X,
        p.Y,
        width=p.width,
        lam=p.lam,
        skip=p.skip,
        seed=p.seed,
        method="adam",
        max_steps=steps,
        lr=p.lr,
        tol=0.0,
        task_reduction=p.task_reduction,
        dtype=dtype,
        progress=False,
    ).net


@pytest.mark.parametrize(
    ("dtype", "steps", "tol"), [(torch.float32, 200, 1e-5), (torch.float64, 600, 1e-10)]
)
def test_padded_batch_predictions_equal_single_runs(
    dtype: torch.dtype, steps: int, tol: float
) -> None:
    problems = _problems(lr=1e-3)
    batched = train_many(problems, method="adam", max_steps=steps, dtype=dtype, tol=0.0)
    for p, res in zip(problems, batched, strict=True):
        assert isinstance(res, mtlreg.training.TrainResult)
        single = _single(p, steps, dtype)
        diff = np.abs(single.predict(p.X) - res.predict(p.X)).max()
        assert diff < tol, (p.width, diff)
        assert res.net.width == p.width
        assert res.net.out_dim == np.asarray(p.Y).reshape(len(p.X), -1).shape[1]
        assert res.n_iter == steps


def test_unpadded_batch_is_bitwise_the_single_run() -> None:
    """Batch mates of equal shape do not change a network's rounding at all."""
    x = np.linspace(-1.0, 1.0, 6)
    problems = [
        Problem(
            x,
            mtlreg.aux_tasks(np.abs(x), 2, seed=s),
            width=6,
            lam=1e-3 * (s + 1),
            seed=s,
            lr=1e-2 / (s + 1),
        )
        for s in range(4)
    ]
    batched = train_many(problems, method="adam", max_steps=300, dtype=torch.float32)
    for p, res in zip(problems, batched, strict=True):
        alone = train_many([p], method="adam", max_steps=300, dtype=torch.float32)[0]
        np.testing.assert_array_equal(alone.predict(x), res.predict(x))


def test_terms_are_those_of_the_returned_network() -> None:
    problems = _problems(lr=1e-2)[:3]
    for p, res in zip(problems, train_many(problems, method="adam", max_steps=50), strict=True):
        assert isinstance(res, mtlreg.training.TrainResult)
        x = torch.as_tensor(np.asarray(p.X))
        y = torch.as_tensor(np.asarray(p.Y)).reshape(len(x), -1)
        with torch.no_grad():
            obj, _, _ = mtlreg.training.objective_terms(res.net, x, y, p.lam, p.task_reduction)
            vv = float(res.net.vv_norm())
        assert res.objective == pytest.approx(float(obj), rel=1e-12)
        assert res.penalty == pytest.approx(vv, rel=1e-9)  # balanced: WD = VV


def test_a_diverging_problem_fails_alone() -> None:
    problems = _problems(lr=1e-3)[:3]
    bad = Problem(problems[1].X, problems[1].Y, 16, 1e-2, seed=1, lr=1e6)
    results = train_many(
        [problems[0], bad, problems[2]], method="adam", max_steps=300, on_error="return"
    )
    assert isinstance(results[1], TrainingError) and "diverged" in str(results[1])
    for p, res in zip([problems[0], problems[2]], [results[0], results[2]], strict=True):
        assert isinstance(res, mtlreg.training.TrainResult)
        np.testing.assert_allclose(
            res.predict(p.X), _single(p, 300, torch.float64).predict(p.X), atol=1e-10
        )
    with pytest.raises(TrainingError, match="diverged"):
        train_many([problems[0], bad], method="adam", max_steps=300)


def test_deprecated_alias_warns_and_matches() -> None:
    problems = _problems(lr=1e-3)[:2]
    runs = [
        BatchedRun(
            p.X,
            p.Y,
            p.width,
            p.lam,
            int(p.seed or 0),
            skip=p.skip,
            lr=1e-3,
            task_reduction=p.task_reduction,
        )
        for p in problems
    ]
    with pytest.warns(DeprecationWarning, match="train_many"):
        results = train_batched(runs, steps=100)
    for p, res in zip(problems, results, strict=True):
        np.testing.assert_allclose(
            res.net.predict(p.X), _single(p, 100, torch.float64).predict(p.X), atol=1e-10
        )
        assert res.steps == 100 and not res.diverged
    with (
        pytest.warns(DeprecationWarning, match="deprecated"),
        pytest.raises(ValueError, match="at least one run"),
    ):
        train_batched([], steps=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_gpu_equals_cpu() -> None:  # pragma: no cover - needs a GPU
    problems = _problems(lr=1e-3)
    cpu = train_many(problems, method="adam", max_steps=100)
    gpu = train_many(problems, method="adam", max_steps=100, device="cuda")
    for p, a, b in zip(problems, cpu, gpu, strict=True):
        assert np.abs(a.predict(p.X) - b.predict(p.X)).max() < 1e-9


def _spec(training: dict, lr: list | None = None) -> dict:
    grid = {"dataset": [{"name": "two_squares"}], "n_aux": [0, 2], "width": [6],
            "lam": [1e-3], "seed": [0, 1], "skip": [True]}  # fmt: skip
    if lr is not None:
        grid["lr"] = lr
    return {"grid": grid, "training": training, "measure": {"test_points": 0}}


def test_sweep_with_the_continuation_recipe_equals_train(tmp_path) -> None:
    from mtlreg.sweep import (
        build_problem,
        expand,
        load_network,
        load_results,
        parse_spec,
        run_sweep,
    )

    spec = _spec({"method": "continuation", "steps": 300, "restarts": 2})
    run_sweep(spec, tmp_path, progress=False)
    frame = load_results(tmp_path)
    assert set(frame["status"]) == {"ok"}
    for cfg in expand(parse_spec(spec)):
        x, Y = build_problem(cfg)
        ref = mtlreg.train(x, Y, width=6, lam=1e-3, seed=cfg.seed, method="continuation",
                           max_steps=300, restarts=2, tol=0.0)  # fmt: skip
        row = frame[frame["run_id"] == cfg.run_id()].iloc[0]
        net = load_network(tmp_path, row["run_id"])
        np.testing.assert_allclose(net.predict(x), ref.predict(x), atol=1e-9)
        assert row["objective"] == pytest.approx(ref.objective, rel=1e-9)


def test_sweep_records_a_diverging_run_as_failed(tmp_path) -> None:
    from mtlreg.sweep import load_results, run_sweep

    run_sweep(_spec({"steps": 200}, lr=[1e-3, 1e12]), tmp_path, progress=False)
    frame = load_results(tmp_path)
    lrs = frame["lr"]
    assert set(frame.loc[lrs == 1e12, "status"]) == {"failed"}
    assert frame.loc[lrs == 1e12, "error"].str.contains("diverged").all()
    assert set(frame.loc[lrs == 1e-3, "status"]) == {"ok"}


def test_spec_rejects_an_unknown_method() -> None:
    from mtlreg.sweep import SpecError, parse_spec

    with pytest.raises(SpecError, match=r"training\.method"):
        parse_spec(_spec({"method": "sgd", "steps": 5}))
