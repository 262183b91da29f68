"""Run a sweep: plan batches, skip finished runs, execute locally or on Dask, store.

The batches are a fixed function of the spec (runs grouped by what must be shared,
sorted by shape to limit padding, cut into ``batch_size`` chunks), so an interrupted
sweep resumes with the very same batches and reproduces an uninterrupted one
exactly. Results are committed in the calling process as batches finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from mtlreg._io import atomic_write_text, prepare_out
from mtlreg._validation import check_int
from mtlreg.sweep._execute import batch_key, run_batch
from mtlreg.sweep._spec import RunConfig, SweepSpec, expand, load_spec
from mtlreg.sweep._store import ResultStore, spec_fingerprint, writer_lock


@dataclass(frozen=True)
class SweepSummary:
    """What :func:`run_sweep` did: grid size, runs found finished, runs computed."""

    out: Path
    total: int
    already_done: int
    computed: int
    batches: int
    seconds: float


def plan_batches(configs: Sequence[RunConfig], batch_size: int) -> list[list[RunConfig]]:
    """Split runs into batches that can be trained together, deterministically."""
    batch_size = check_int(batch_size, "batch_size", low=1)
    groups: dict[tuple[Any, ...], list[RunConfig]] = {}
    for cfg in configs:
        groups.setdefault(batch_key(cfg), []).append(cfg)
    batches: list[list[RunConfig]] = []
    for members in groups.values():
        members = sorted(members, key=lambda c: (c.n_aux, c.width))
        batches.extend(members[i : i + batch_size] for i in range(0, len(members), batch_size))
    return batches


def run_sweep(
    spec: str | Path | dict[str, Any] | SweepSpec,
    out: str | Path,
    *,
    scheduler: str | None = None,
    local_cluster: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    progress: bool | None = None,
) -> SweepSummary:
    """Run every unfinished run of a sweep and store it in ``out/results.sqlite``.

    Parameters
    ----------
    spec
        A YAML file, a mapping or a :class:`SweepSpec`; validated before any work.
    out
        Sweep folder (created if missing). Runs already in its store are skipped.
    scheduler
        Address of a running Dask scheduler (``tcp://HOST:PORT``): batches run on its
        workers. ``local_cluster=N`` starts a local Dask cluster of N worker processes
        instead. Neither (default): batches run one after the other in this process.
    batch_size, device
        Override the spec's ``execution`` settings.
    progress
        Show a progress bar with ETA (default: when stderr is a terminal).
    """
    import sys

    t0 = time.perf_counter()
    sweep = load_spec(spec)
    configs = expand(sweep)
    batch_size = check_int(
        sweep.execution.batch_size if batch_size is None else batch_size, "batch_size", low=1
    )
    device = sweep.execution.device if device is None else device
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(f"Parameter `device` should be usable here. Found {device!r}.") from exc
    if scheduler is not None and local_cluster is not None:
        raise ValueError("Give at most one of `scheduler` and `local_cluster`.")
    if local_cluster is not None:
        check_int(local_cluster, "local_cluster", low=1)
    batches = plan_batches(configs, batch_size)  # loads every data set: fails early

    from mtlreg import __version__

    out = prepare_out(out)
    fingerprint = spec_fingerprint([c.run_id(__version__) for c in configs])
    with writer_lock(out, fingerprint), ResultStore(out) as store:
        atomic_write_text(
            out / f"spec-{sweep.name}.yaml", yaml.safe_dump(sweep.model_dump(mode="json"))
        )
        done = store.run_ids()
        pending = [b for b in batches if any(c.run_id(__version__) not in done for c in b)]
        already = sum(c.run_id(__version__) in done for c in configs)
        if progress is None:
            progress = sys.stderr.isatty()
        bar = _bar(len(configs), already, sweep.name, progress)
        computed = 0

        def commit(rows: list[dict[str, Any]]) -> None:
            nonlocal computed
            new = store.add(rows)
            computed += new
            if bar is not None:
                bar.update(new)

        try:
            if scheduler is None and local_cluster is None:
                for batch in pending:
                    commit(run_batch(batch, __version__, device))
            else:
                _run_dask(pending, __version__, device, scheduler, local_cluster, commit)
        finally:
            if bar is not None:
                bar.close()
    return SweepSummary(
        out=out,
        total=len(configs),
        already_done=already,
        computed=computed,
        batches=len(pending),
        seconds=time.perf_counter() - t0,
    )


def _bar(total: int, initial: int, name: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=name, unit="run", smoothing=0.1)


def _run_dask(
    batches: list[list[RunConfig]],
    version: str,
    device: str,
    scheduler: str | None,
    local_cluster: int | None,
    commit: Callable[[list[dict[str, Any]]], None],
) -> None:
    """Submit every batch to a Dask cluster; commit each one as it finishes."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    threads: int | None = None
    if local_cluster is not None:
        cluster = LocalCluster(
            n_workers=local_cluster,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        client = Client(cluster)
        threads = 1
    else:
        client = Client(scheduler, timeout="30s")
    futures = []
    try:
        for batch in batches:
            key = f"mtlreg-batch-{batch[0].run_id(version)}-{len(batch)}"
            futures.append(client.submit(run_batch, batch, version, device, threads, key=key))
        for future in as_completed(futures):
            commit(future.result())
    finally:
        if futures:
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()
