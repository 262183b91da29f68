"""The results store: resumable after SIGKILL/Ctrl-C, exports, loader."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from mtlreg import __version__
from mtlreg.sweep import (
    ResultStore,
    expand,
    export_results,
    load_network,
    load_results,
    parse_spec,
    run_sweep,
    write_report,
)
from mtlreg.sweep._execute import EXECUTION_COLUMNS, build_problem, run_batch

SPEC: dict[str, Any] = {
    "name": "resume",
    "grid": {
        "dataset": [{"name": "two_squares"}],
        "n_aux": [0, 3],
        "width": [4, 8],
        "lam": [1e-3, 1e-2],
        "seed": [0, 1, 2],
        "lr": [1e-2],
        "skip": [False],
    },
    "training": {"steps": 200},
    "measure": {"test_points": 64},
    "execution": {"batch_size": 2},
}


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5.0) as con:
            return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def _comparable(out: Path) -> pd.DataFrame:
    frame = load_results(out).drop(columns=list(EXECUTION_COLUMNS))
    return frame.sort_values("run_id").reset_index(drop=True)


def _networks(out: Path) -> dict[str, bytes]:
    with sqlite3.connect(out / "results.sqlite") as con:
        return dict(con.execute("SELECT run_id, params FROM networks"))


def test_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "killed"
    db = out / "results.sqlite"
    code = f"from mtlreg.sweep import run_sweep; run_sweep({str(spec_file)!r}, {str(out)!r})"
    cmd = [sys.executable, "-c", code]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = np.random.default_rng(6)
    counts = []
    # five SIGKILLs, then one Ctrl-C (SIGINT), each at a random moment after new progress
    for sig in [signal.SIGKILL] * 5 + [signal.SIGINT]:
        before = _count(db)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60.0
            while proc.poll() is None and _count(db) <= before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(float(rng.uniform(0.0, 0.3)))
            proc.send_signal(sig)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        counts.append(_count(db))
    assert counts == sorted(counts)
    n_runs = len(expand(parse_spec(SPEC)))
    assert counts[0] < n_runs  # the first kill interrupted the sweep

    summary = run_sweep(spec_file, out, progress=False)
    assert summary.already_done == counts[-1]
    assert summary.computed == n_runs - counts[-1]

    reference = tmp_path / "reference"
    run_sweep(spec_file, reference, progress=False)
    resumed, uninterrupted = _comparable(out), _comparable(reference)
    assert len(resumed) == n_runs
    assert resumed["run_id"].is_unique
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    assert _networks(out) == _networks(reference)


def test_store_is_idempotent_and_exports(tmp_path: Path) -> None:
    spec = {**SPEC, "execution": {"batch_size": 8}}
    spec["grid"] = {**SPEC["grid"], "seed": [0], "lam": [1e-3]}
    first = run_sweep(spec, tmp_path, progress=False)
    assert first.computed == first.total == 4
    again = run_sweep(spec, tmp_path, progress=False)
    assert (again.already_done, again.computed) == (4, 0)
    with ResultStore(tmp_path) as store:
        assert len(store) == 4
        cfg = expand(parse_spec(spec))[0]
        (row,) = run_batch([cfg], __version__)
        assert store.add([row]) == 0  # a run written twice is ignored
        assert len(store) == 4

    frame = load_results(tmp_path)
    csv = export_results(tmp_path, "csv")
    parquet = export_results(tmp_path, "parquet")
    assert csv == tmp_path / "results.csv"
    assert parquet == tmp_path / "results.parquet"
    from_csv = pd.read_csv(csv)
    from_parquet = pd.read_parquet(parquet)
    assert list(from_csv["run_id"]) == list(frame["run_id"])
    pd.testing.assert_frame_equal(from_parquet, frame)
    with pytest.raises(ValueError, match="format"):
        export_results(tmp_path, "xlsx")

    row = frame.iloc[0]
    net = load_network(tmp_path, row["run_id"])
    cfg = next(c for c in expand(parse_spec(spec)) if c.run_id() == row["run_id"])
    x, Y = build_problem(cfg)
    with torch.no_grad():
        pred = net(torch.as_tensor(x)).numpy()
    assert np.mean((pred[:, 0] - Y[:, 0]) ** 2) == pytest.approx(row["task1_mse"], rel=1e-9)

    report = write_report(tmp_path)
    text = report.read_text()
    assert "Mean and standard deviation over seeds" in text
    assert (tmp_path / "report" / "vv_norm_vs_n_aux.png").exists()


def test_loader_needs_a_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No results store"):
        load_results(tmp_path)


# ----------------------------------------------------------------- self-checks
SMALL: dict[str, Any] = {
    "name": "small",
    "grid": {
        "dataset": [{"name": "two_squares"}],
        "n_aux": [0, 2],
        "width": [4],
        "lam": [1e-3],
        "seed": [0, 1],
        "skip": [False],
    },
    "training": {"steps": 10},
    "measure": {"test_points": 8},
}


def _rows_and_networks(out: Path) -> tuple[pd.DataFrame, dict[str, bytes]]:
    return _comparable(out), _networks(out)


def test_corrupted_pages_are_detected_on_resume(tmp_path: Path) -> None:
    from mtlreg.sweep._store import StoreError

    reference = tmp_path / "reference"
    run_sweep(SMALL, reference, progress=False)
    ref_frame, ref_nets = _rows_and_networks(reference)
    raw = (reference / "results.sqlite").read_bytes()
    page = int.from_bytes(raw[16:18], "big")
    n_pages = len(raw) // page
    rng = np.random.default_rng(14)
    outcomes = []
    for trial in range(5):
        out = tmp_path / f"trial{trial}"
        out.mkdir()
        data = bytearray(raw)
        k = int(rng.integers(1, n_pages))  # any page but the first (its header is tested below)
        data[k * page : (k + 1) * page] = rng.bytes(page)
        (out / "results.sqlite").write_bytes(bytes(data))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                summary = run_sweep(SMALL, out, progress=False)
        except StoreError as exc:
            outcomes.append(f"refused: {exc}")
            continue
        warned = any("failed their check" in str(w.message) for w in caught)
        assert warned == (summary.computed > 0)
        outcomes.append(f"recomputed {summary.computed}")
        # whatever counts as done after the resume is exactly the uninterrupted result
        frame, nets = _rows_and_networks(out)
        pd.testing.assert_frame_equal(frame, ref_frame)
        assert nets == ref_nets
    assert len(outcomes) == 5
    refused = [o for o in outcomes if o.startswith("refused")]
    assert all("results.sqlite" in o and "\n" not in o for o in refused)


def test_an_altered_network_blob_is_recomputed_not_counted_done(tmp_path: Path) -> None:
    run_sweep(SMALL, tmp_path, progress=False)
    ref_frame, ref_nets = _rows_and_networks(tmp_path)
    db = tmp_path / "results.sqlite"
    victim, blob = sorted(ref_nets.items())[0]
    raw = bytearray(db.read_bytes())
    at = raw.find(blob)
    assert at > 0
    raw[at + len(blob) - 3] ^= 0xFF  # one byte inside the last stored float
    db.write_bytes(bytes(raw))
    from mtlreg.sweep._store import StoreError

    with pytest.raises(StoreError, match="corrupted"):
        load_network(tmp_path, victim)
    with pytest.warns(RuntimeWarning, match="left out"):
        assert victim not in set(load_results(tmp_path)["run_id"])
    with pytest.warns(RuntimeWarning, match="left out"):
        text = write_report(tmp_path).read_text()
    assert f"`{victim}` (checksum mismatch)" in text
    assert "- runs: 3 (" in text  # the corrupted run is not counted
    with pytest.warns(RuntimeWarning, match="recomputed"):
        summary = run_sweep(SMALL, tmp_path, progress=False)
    assert (summary.already_done, summary.computed) == (3, 1)
    frame, nets = _rows_and_networks(tmp_path)
    pd.testing.assert_frame_equal(frame, ref_frame)
    assert nets == ref_nets


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00" * 4096,
        b"not a database at all" * 100,
        b"SQLite format 3\x00",
        b"SQLite format 3\x00" + bytes(84),
    ],
    ids=["empty", "zeros", "text", "magic-only", "header-only"],
)
def test_unreadable_stores_are_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    from mtlreg.sweep._store import StoreError

    (tmp_path / "results.sqlite").write_bytes(content)
    with pytest.raises(StoreError) as info:
        load_results(tmp_path)
    assert "results.sqlite" in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_and_foreign_stores_are_refused(tmp_path: Path) -> None:
    from mtlreg.sweep._store import StoreError

    good = tmp_path / "good"
    run_sweep(SMALL, good, progress=False)
    raw = (good / "results.sqlite").read_bytes()
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "results.sqlite").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(StoreError):
        load_results(truncated)
    with pytest.raises(StoreError):
        run_sweep(SMALL, truncated, progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / "results.sqlite") as con:
        con.execute("CREATE TABLE runs (a INTEGER, b TEXT)")
    for call in (load_results, lambda p: run_sweep(SMALL, p, progress=False)):
        with pytest.raises(StoreError, match="foreign schema"):
            call(foreign)
    other = tmp_path / "other"
    other.mkdir()
    with sqlite3.connect(other / "results.sqlite") as con:
        con.execute("CREATE TABLE things (a INTEGER)")
    with pytest.raises(StoreError, match="another kind"):
        load_results(other)


def test_a_second_sweep_with_a_different_spec_is_refused(tmp_path: Path) -> None:
    from mtlreg.sweep._store import StoreError, spec_fingerprint, writer_lock

    ids = [c.run_id() for c in expand(parse_spec(SMALL))]
    other = {**SMALL, "grid": {**SMALL["grid"], "seed": [5]}}
    with (
        writer_lock(tmp_path, spec_fingerprint(ids)),
        pytest.raises(StoreError, match="different spec"),
    ):
        run_sweep(other, tmp_path, progress=False)
    assert not (tmp_path / "results.sqlite").exists()  # refused before touching the store
    assert run_sweep(other, tmp_path, progress=False).computed == 2  # free once released


def test_two_identical_sweeps_do_not_compute_rows_twice(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "out"
    code = (
        "from mtlreg.sweep import run_sweep; "
        f"print(run_sweep({str(spec_file)!r}, {str(out)!r}, progress=False).computed)"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    computed = [int(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(computed) == [0, 4]
    assert len(load_results(out)) == 4


def test_report_shared_settings_are_computed_over_all_rows(tmp_path: Path) -> None:
    from mtlreg.sweep._report import shared_value

    frame = pd.DataFrame(
        {
            "n_aux": [0] * 8 + [3] * 16,
            "aux_dist": ["none"] * 8 + ["bernoulli"] * 16,
            "width": [8] * 24,
            "lam": [1e-3] * 12 + [1e-2] * 12,
        }
    )
    assert shared_value(frame, "aux_dist").startswith("bernoulli (the 16 runs with auxiliary")
    assert shared_value(frame, "width") == "8"
    assert shared_value(frame, "lam") == "varies: 0.001, 0.01"

    spec = {**SMALL, "grid": {**SMALL["grid"], "aux_dist": ["bernoulli"]}}
    run_sweep(spec, tmp_path, progress=False)
    text = write_report(tmp_path).read_text()
    assert "- `aux_dist`: bernoulli" in text
    assert "- `aux_dist`: none" not in text


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    import stat

    from mtlreg._io import write_json

    old = os.umask(0o022)
    try:
        run_sweep(SMALL, tmp_path, progress=False)
        paths = [
            export_results(tmp_path, "csv"),
            export_results(tmp_path, "parquet"),
            write_report(tmp_path),
            write_json(tmp_path / "metrics.json", {"a": 1.0}),
        ]
    finally:
        os.umask(old)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert not list(tmp_path.rglob(".*.tmp"))


def test_rows_without_checksum_count_only_if_their_network_loads(tmp_path: Path) -> None:
    """Stores written before checksums: a row counts as done iff its network loads."""
    run_sweep(SMALL, tmp_path, progress=False)
    _, ref_nets = _rows_and_networks(tmp_path)
    victim = sorted(ref_nets)[0]
    with sqlite3.connect(tmp_path / "results.sqlite") as con:
        con.execute("UPDATE networks SET checksum = NULL")
        con.execute("UPDATE networks SET params = ? WHERE run_id = ?", (b"\x00" * 64, victim))
    with pytest.warns(RuntimeWarning, match="unreadable network"):
        summary = run_sweep(SMALL, tmp_path, progress=False)
    assert (summary.already_done, summary.computed) == (3, 1)
    assert _networks(tmp_path) == ref_nets


def test_an_identical_sweep_waits_for_the_lock_and_says_so(tmp_path: Path) -> None:
    import threading

    from mtlreg.sweep._store import spec_fingerprint, writer_lock

    ids = [c.run_id() for c in expand(parse_spec(SMALL))]
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_lock(tmp_path, spec_fingerprint(ids)):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(30)
    threading.Timer(1.0, release.set).start()
    t0 = time.monotonic()
    with pytest.warns(RuntimeWarning, match="Waiting for another copy of this sweep"):
        summary = run_sweep(SMALL, tmp_path, progress=False)
    holder.join()
    assert time.monotonic() - t0 >= 0.9  # it waited for the holder
    assert summary.computed == 4
