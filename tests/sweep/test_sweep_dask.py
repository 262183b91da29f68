"""A real Dask scheduler and workers (separate processes, loopback) give the local results."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mtlreg.sweep import load_results, run_sweep
from mtlreg.sweep._execute import EXECUTION_COLUMNS

pytest.importorskip("distributed")

SPEC: dict[str, Any] = {
    "name": "dask",
    "grid": {
        "dataset": [{"name": "univariate"}],
        "n_aux": [0, 2],
        "width": [6, 10],
        "lam": [1e-3],
        "seed": [0, 1, 2],
        "lr": [1e-2],
    },
    "training": {"steps": 200},
    "measure": {"test_points": 32},
    "execution": {"batch_size": 3},
}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process we started, and its children (it leads its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    else:  # the leader exited: make sure no child of its group survives
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    """Address of a scheduler on 127.0.0.1 with two single-threaded worker processes."""
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    common: dict[str, Any] = {
        "env": env,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "start_new_session": True,
    }
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(sched_file),
                ],
                **common,
            )
        )
        deadline = time.monotonic() + 90.0
        while not sched_file.exists() and time.monotonic() < deadline:
            assert procs[0].poll() is None, "the scheduler exited"
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ],
                **common,
            )
        )
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _comparable(out: Path) -> pd.DataFrame:
    frame = load_results(out).drop(columns=list(EXECUTION_COLUMNS))
    return frame.sort_values("run_id").reset_index(drop=True)


def test_dask_scheduler_results_equal_local_backend(scheduler: str, tmp_path: Path) -> None:
    on_dask = run_sweep(SPEC, tmp_path / "dask", scheduler=scheduler, progress=False)
    assert on_dask.computed == on_dask.total == 12
    local = run_sweep(SPEC, tmp_path / "local", progress=False)
    pd.testing.assert_frame_equal(_comparable(tmp_path / "dask"), _comparable(tmp_path / "local"))
    again = run_sweep(SPEC, tmp_path / "dask", scheduler=scheduler, progress=False)
    assert (again.already_done, again.computed) == (local.total, 0)
