"""Batched training equals training each network alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mtlreg
from mtlreg.sweep import BatchedRun, train_batched


def _runs(lr: float) -> list[BatchedRun]:
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
    runs = []
    for seed, (data, n_aux, width, lam, skip, red) in enumerate(settings):
        x, y = ((x1, y1), (x2, y2))[data]
        Y = mtlreg.aux_tasks(y, n_aux, dist="bernoulli" if n_aux > 50 else "gaussian", seed=seed)
        runs.append(BatchedRun(x, Y, width, lam, seed, skip=skip, lr=lr, task_reduction=red))
    return runs


def _single(run: BatchedRun, steps: int, dtype: torch.dtype) -> mtlreg.ShallowReLUNet:
    return mtlreg.train(
        run.X,
        run.Y,
        width=run.width,
        lam=run.lam,
        skip=run.skip,
        seed=run.seed,
        method="adam",
        max_steps=steps,
        lr=run.lr,
        tol=0.0,
        task_reduction=run.task_reduction,
        dtype=dtype,
        progress=False,
    ).net


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize(
    ("dtype", "steps", "tol"), [(torch.float32, 200, 1e-5), (torch.float64, 600, 1e-10)]
)
def test_batched_predictions_equal_single_runs(
    dtype: torch.dtype, steps: int, tol: float, fused: bool
) -> None:
    runs = _runs(lr=1e-3)
    batched = train_batched(runs, steps=steps, dtype=dtype, fused=fused)
    for run, res in zip(runs, batched):
        single = _single(run, steps, dtype)
        diff = np.abs(single.predict(run.X) - res.net.predict(run.X)).max()
        assert diff < tol, (run.width, run.Y.shape, diff)
        assert res.net.width == run.width
        assert res.net.out_dim == run.Y.shape[1]
        assert res.steps == steps


def test_unpadded_batch_is_bitwise_the_single_run() -> None:
    """With the engine's update, batch mates do not change a network's rounding at all."""
    x = np.linspace(-1.0, 1.0, 6)
    runs = [
        BatchedRun(x, mtlreg.aux_tasks(np.abs(x), 2, seed=s), width=6, lam=1e-3, seed=s, lr=1e-2)
        for s in range(4)
    ]
    batched = train_batched(runs, steps=300, dtype=torch.float32, fused=False)
    for run, res in zip(runs, batched):
        alone = train_batched([run], steps=300, dtype=torch.float32, fused=False)[0]
        np.testing.assert_array_equal(alone.net.predict(x), res.net.predict(x))


def test_terms_are_those_of_the_returned_network() -> None:
    runs = _runs(lr=1e-2)[:3]
    for run, res in zip(runs, train_batched(runs, steps=50)):
        x = torch.as_tensor(np.asarray(run.X))
        y = torch.as_tensor(np.asarray(run.Y))
        with torch.no_grad():
            obj, _, _ = mtlreg.training.objective_terms(res.net, x, y, run.lam, run.task_reduction)
        assert res.objective == pytest.approx(float(obj), rel=1e-12)
        assert res.penalty == pytest.approx(res.vv_norm, rel=1e-9)  # balanced: WD = VV
        assert not res.diverged


def test_batch_must_share_samples_and_dimension() -> None:
    a = BatchedRun(np.zeros((4, 2)), np.zeros(4), width=2, lam=0.0, seed=0)
    b = BatchedRun(np.zeros((5, 2)), np.zeros(5), width=2, lam=0.0, seed=0)
    with pytest.raises(ValueError, match=r"runs\[1\]\.X"):
        train_batched([a, b], steps=1)
    with pytest.raises(ValueError, match="at least one run"):
        train_batched([], steps=1)
    with pytest.raises(ValueError, match=r"runs\[0\]\.lam"):
        train_batched([BatchedRun(np.zeros(3), np.zeros(3), width=2, lam=-1.0, seed=0)], steps=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_gpu_equals_cpu() -> None:  # pragma: no cover - needs a GPU
    runs = _runs(lr=1e-3)
    cpu = train_batched(runs, steps=100, dtype=torch.float64)
    gpu = train_batched(runs, steps=100, dtype=torch.float64, device="cuda")
    for run, a, b in zip(runs, cpu, gpu):
        assert np.abs(a.net.predict(run.X) - b.net.predict(run.X)).max() < 1e-9
