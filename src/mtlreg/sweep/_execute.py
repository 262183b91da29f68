"""Run one batch of grid points and turn each trained network into a result row.

:func:`run_batch` is what a worker executes (locally or on a Dask worker): it takes
canonical run configurations only, rebuilds every data set from them, trains the
batch with :func:`mtlreg.training.train_many` (the spec's recipe) and measures task 1
of each network. A run whose training diverges is stored with status ``failed`` and
the reason in ``error``, never as ``ok``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from mtlreg.metrics import box_points, gradient_norm
from mtlreg.model import ShallowReLUNet
from mtlreg.sweep._spec import RunConfig
from mtlreg.tasks import aux_tasks
from mtlreg.training import Problem, TrainingError, TrainResult, train_many

#: Result columns of a run, besides its id, version and configuration.
METRICS: tuple[str, ...] = (
    "status",
    "objective",
    "fit",
    "penalty",
    "vv_norm",
    "active",
    "steps",
    "task1_mse",
    "grad_mean",
    "grad_max",
    "error",
)
#: Columns that describe how a run was executed, not what it computed.
EXECUTION_COLUMNS: tuple[str, ...] = ("seconds", "host", "finished_at")


def build_problem(cfg: RunConfig) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inputs X (N, d) and targets Y (N, 1 + n_aux) of a run: real labels, then auxiliary."""
    x, y = cfg.dataset.load()
    if cfg.n_aux == 0:
        return x, y[:, None]
    p = cfg.aux_p if cfg.aux_dist == "bernoulli" else 0.5
    Y = aux_tasks(y, cfg.n_aux, dist=cfg.aux_dist, scale=cfg.aux_scale, p=p, seed=cfg.aux_seed)
    return x, Y


def batch_key(cfg: RunConfig) -> tuple[Any, ...]:
    """Runs with equal keys share a batch: same N, d, recipe and recipe options."""
    x, _ = cfg.dataset.load()
    return (
        x.shape,
        cfg.method,
        cfg.steps,
        cfg.tol,
        cfg.restarts,
        cfg.lam_start,
        cfg.lr_decay,
        cfg.dtype,
    )


def network_blob(net: ShallowReLUNet) -> bytes:
    """The network as stored in a results store: :meth:`ShallowReLUNet.to_bytes`."""
    return net.to_bytes()


def network_from_blob(blob: bytes) -> ShallowReLUNet:
    """Inverse of :func:`network_blob`, with the checks of :meth:`ShallowReLUNet.load`."""
    return ShallowReLUNet.from_bytes(blob, source="a stored network")


def _row(
    cfg: RunConfig, res: TrainResult | TrainingError, x: NDArray, Y: NDArray
) -> dict[str, Any]:
    nan = float("nan")
    if isinstance(res, TrainingError):
        return {
            "status": "failed",
            "objective": nan,
            "fit": nan,
            "penalty": nan,
            "vv_norm": nan,
            "active": 0,
            "steps": 0,
            "task1_mse": nan,
            "grad_mean": nan,
            "grad_max": nan,
            "error": str(res),
        }
    net = res.net
    with torch.no_grad():
        pred = net.predict(x)[:, 0]
        vv = float(net.vv_norm())
        active = int(net.active(1e-6).sum())
    task1_mse = float(np.mean((pred - Y[:, 0]) ** 2))
    grad_mean = grad_max = nan
    if cfg.test_points > 0:
        points = box_points(x, cfg.test_points, seed=cfg.test_seed)
        norms = gradient_norm(net, points, task=0)
        grad_mean, grad_max = norms.mean, norms.max
    return {
        "status": "ok",
        "objective": res.objective,
        "fit": res.fit,
        "penalty": res.penalty,
        "vv_norm": vv,
        "active": active,
        "steps": res.n_iter,
        "task1_mse": task1_mse,
        "grad_mean": grad_mean,
        "grad_max": grad_max,
        "error": "",
    }


def run_batch(
    configs: Sequence[RunConfig],
    version: str,
    device: str = "cpu",
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """Train ``configs`` (one batch: equal :func:`batch_key`) and return one row per run.

    Each row holds ``run_id``, ``version``, ``config`` (canonical JSON), the
    :data:`METRICS`, the :data:`EXECUTION_COLUMNS` and ``network`` (safetensors bytes).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    problems = [build_problem(cfg) for cfg in configs]
    first = configs[0]
    results = train_many(
        [
            Problem(
                x, Y, cfg.width, cfg.lam, cfg.seed, cfg.skip, cfg.init, cfg.task_reduction, cfg.lr
            )
            for cfg, (x, Y) in zip(configs, problems)
        ],
        method=first.method,
        max_steps=first.steps,
        tol=first.tol,
        restarts=first.restarts,
        lam_start=first.lam_start,
        lr_decay=first.lr_decay,
        device=device,
        dtype=torch.float32 if first.dtype == "float32" else torch.float64,
        on_error="return",
    )
    seconds = (time.perf_counter() - t0) / len(configs)
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    host = platform.node()
    rows = []
    for cfg, res, (x, Y) in zip(configs, results, problems):
        row: dict[str, Any] = {
            "run_id": cfg.run_id(version),
            "version": version,
            "config": json.dumps(cfg.canonical(), sort_keys=True, separators=(",", ":")),
        }
        row.update(_row(cfg, res, x, Y))
        row.update({"seconds": seconds, "host": host, "finished_at": finished})
        if isinstance(res, TrainResult):
            net = res.net.cpu()
        else:  # a failed run stores an empty placeholder network
            net = ShallowReLUNet(
                x.shape[1], Y.shape[1], 1, cfg.skip, dtype=torch.float64, init="zeros"
            )
        row["network"] = network_blob(net)
        rows.append(row)
    return rows
