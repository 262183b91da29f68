"""The results store: an embedded SQLite database, one row per finished run.

Rows are keyed by the run id (a hash of the canonical configuration and the
package version). A batch of finished runs is written in one transaction, so a
sweep killed at any moment leaves only whole rows; ``INSERT OR IGNORE`` makes
writing a run twice harmless. The database runs in WAL mode with full
synchronisation, so a committed run survives the process being killed.

The store checks itself. Opening it runs SQLite's ``PRAGMA quick_check`` and
checks the schema, so a truncated, random, foreign or corrupted file is refused
with one clear :class:`StoreError`. Every row carries a SHA-256 checksum of its
stored values and network; a row whose checksum fails, or whose network cannot be
read, never counts as done: :meth:`ResultStore.run_ids` drops it (so a resumed
sweep recomputes it) and :meth:`ResultStore.frame` leaves it out, with a warning.
A sweep holds an advisory lock on its folder while it writes (:func:`writer_lock`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlreg.sweep._execute import EXECUTION_COLUMNS, METRICS, network_from_blob

if TYPE_CHECKING:
    import pandas as pd

    from mtlreg.model import ShallowReLUNet

DB_NAME = "results.sqlite"
LOCK_NAME = ".results.lock"
FORMATS: tuple[str, ...] = ("csv", "parquet")
_SQLITE_MAGIC = b"SQLite format 3\x00"

_TYPES = {"status": "TEXT", "active": "INTEGER", "steps": "INTEGER", "host": "TEXT"}
_COLUMNS = ("run_id", "version", "config", *METRICS, *EXECUTION_COLUMNS)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    config TEXT NOT NULL,
    {", ".join(f"{c} {_TYPES.get(c, 'REAL')}" for c in METRICS)},
    seconds REAL,
    host TEXT,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS networks (
    run_id TEXT PRIMARY KEY REFERENCES runs(run_id),
    params BLOB NOT NULL,
    checksum TEXT
);
"""


class StoreError(ValueError):
    """A results store cannot be used: not a database, corrupted, foreign, or locked."""


def store_path(path: str | Path) -> Path:
    """The database file of a sweep folder (or the file itself)."""
    p = Path(path)
    return p / DB_NAME if p.is_dir() or p.suffix != ".sqlite" else p


def spec_fingerprint(run_ids: Sequence[str]) -> str:
    """What identifies a sweep for the folder lock: a hash of its sorted run ids."""
    return hashlib.sha256("\n".join(sorted(run_ids)).encode()).hexdigest()[:16]


def _row_checksum(values: Sequence[Any], blob: bytes) -> str:
    """SHA-256 of a stored row's values (as SQLite returns them) and its network bytes."""
    head = json.dumps(list(values), default=repr, separators=(",", ":")).encode()
    return hashlib.sha256(head + b"\0" + bytes(blob)).hexdigest()


@contextmanager
def writer_lock(out: str | Path, fingerprint: str, *, wait: float = 3600.0) -> Iterator[None]:
    """Hold the advisory lock of a sweep folder (``fcntl.flock``) while writing.

    A second sweep of the *same* runs waits for the first to finish (then finds its
    runs done); a sweep of *different* runs is refused with a :class:`StoreError`.
    The lock is released when the block ends or the process dies.
    """
    import fcntl

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            holder = _read_lock(path)
            if holder and holder.get("fingerprint") != fingerprint:
                raise StoreError(
                    f"Sweep folder {str(folder)!r} is in use by another sweep with a different "
                    f"spec (pid {holder.get('pid')} on {holder.get('host')}); choose another "
                    "--out or wait until it finishes."
                )
            if holder and not told:
                warnings.warn(
                    f"Waiting for another copy of this sweep (pid {holder.get('pid')}) to finish "
                    f"writing to {str(folder)!r}; its finished runs will not be recomputed.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                told = True
            if time.monotonic() > deadline:
                raise StoreError(
                    f"Sweep folder {str(folder)!r} is still locked by the same sweep after "
                    f"{wait:.0f} s; is another copy of it stuck?"
                )
            time.sleep(0.2)
        import platform

        text = json.dumps(
            {"fingerprint": fingerprint, "pid": os.getpid(), "host": platform.node()}
        ).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)
        os.fsync(fd)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_lock(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class ResultStore:
    """Open (creating if needed) the results database of a sweep folder.

    Use as a context manager; ``with ResultStore(out) as store: store.add(rows)``.
    Raises :class:`StoreError` (one line) when the file is not a readable mtlreg
    results store, and ``FileNotFoundError`` when ``create=False`` and none exists.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = store_path(path)
        if self.path.is_dir():
            raise StoreError(f"Results store {str(self.path)!r} is a directory, not a file.")
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"No results store at {str(self.path)!r}.")
        self._check_magic()
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        self._has_checksum = False
        try:
            self._open(create)
        except sqlite3.Error as exc:
            self._con.close()
            raise self._error(exc) from None
        except BaseException:
            self._con.close()
            raise
        self._bad: dict[str, str] | None = None
        self._writable = create

    def _check_magic(self) -> None:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
        if head != _SQLITE_MAGIC:
            raise StoreError(
                f"Results store {str(self.path)!r} is not an SQLite database "
                "(wrong header); move it aside to start a fresh sweep."
            )

    def _error(self, exc: Exception) -> StoreError:
        return StoreError(
            f"Results store {str(self.path)!r} cannot be read ({exc}); it is truncated, "
            "corrupted or not an mtlreg store. Move it aside to recompute its runs."
        )

    def _open(self, create: bool) -> None:
        con = self._con
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        problems = [str(r[0]) for r in con.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            found = " ".join("; ".join(problems).replace("*** in database main ***", "").split())
            raise StoreError(
                f"Results store {str(self.path)!r} is corrupted (SQLite quick_check: "
                f"{found[:200]}). Move it aside to recompute its runs."
            )
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables & {"runs", "networks"}:
            if tables:
                raise StoreError(
                    f"Results store {str(self.path)!r} is an SQLite database of another kind "
                    f"(tables {', '.join(sorted(tables))}), not an mtlreg results store."
                )
            if not create:
                raise StoreError(f"Results store {str(self.path)!r} holds no mtlreg tables.")
            con.executescript(_SCHEMA)
            return
        for table, need in (("runs", set(_COLUMNS)), ("networks", {"run_id", "params"})):
            have = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
            missing = need - have
            if missing:
                raise StoreError(
                    f"Results store {str(self.path)!r} has a foreign schema: table `{table}` "
                    f"lacks column(s) {', '.join(sorted(missing))}."
                )
        cols = {r[1] for r in con.execute("PRAGMA table_info(networks)")}
        self._has_checksum = "checksum" in cols
        if not self._has_checksum and create:
            con.execute("ALTER TABLE networks ADD COLUMN checksum TEXT")
            self._has_checksum = True

    # -------------------------------------------------------------- basics
    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    # ------------------------------------------------------------ checking
    def verify(self) -> dict[str, str]:
        """Rows that cannot be trusted: run id -> reason (checksum, unreadable network).

        A row written by this version carries a checksum of its values and network; an
        older row without one counts as sound only if its network loads and is finite.
        """
        if self._bad is not None:
            return self._bad
        import math

        cols = ", ".join(f"r.{c}" for c in _COLUMNS)
        checksum = "n.checksum" if self._has_checksum else "NULL"
        query = (
            f"SELECT {cols}, n.params, {checksum}, n.run_id FROM runs r "
            "LEFT JOIN networks n ON n.run_id = r.run_id"
        )
        bad: dict[str, str] = {}
        try:
            for values in self._con.execute(query):
                row, blob, digest, net_id = (
                    values[: len(_COLUMNS)],
                    values[-3],
                    values[-2],
                    values[-1],
                )
                run_id = str(row[0])
                if net_id is None or blob is None:
                    bad[run_id] = "no stored network"
                elif digest is not None:
                    if digest != _row_checksum(row, blob):
                        bad[run_id] = "checksum mismatch"
                else:
                    try:
                        net = network_from_blob(bytes(blob))
                        finite = all(
                            math.isfinite(float(t.abs().max())) for t in net.state_dict().values()
                        )
                    except Exception:  # any failure means unreadable
                        finite = False
                    if not finite:
                        bad[run_id] = "unreadable network"
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        self._bad = bad
        return bad

    # ------------------------------------------------------------- writing
    def add(self, rows: Iterable[dict[str, Any]]) -> int:
        """Write finished runs in one transaction; runs already stored are left as they are.

        Each new row is stored with the checksum of its values (read back as SQLite
        stores them) and its network bytes. Returns the number of new rows.
        """
        rows = list(rows)
        marks = ", ".join("?" for _ in _COLUMNS)
        new = 0
        with self._transaction() as con:
            for row in rows:
                cur = con.execute(
                    f"INSERT OR IGNORE INTO runs ({', '.join(_COLUMNS)}) VALUES ({marks})",
                    [row[c] for c in _COLUMNS],
                )
                if cur.rowcount:
                    new += 1
                    stored = con.execute(
                        f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE run_id = ?",
                        (row["run_id"],),
                    ).fetchone()
                    blob = bytes(row["network"] or b"")
                    con.execute(
                        "INSERT OR REPLACE INTO networks (run_id, params, checksum) "
                        "VALUES (?, ?, ?)",
                        (row["run_id"], blob, _row_checksum(stored, blob)),
                    )
        self._bad = None
        return new

    # ------------------------------------------------------------- reading
    def run_ids(self) -> set[str]:
        """Ids of every stored run that passes its check (see :meth:`verify`).

        In a writable store, rows that fail are deleted (with a ``RuntimeWarning``
        naming them), so a resumed sweep computes them again.
        """
        bad = self.verify()
        ids = {r[0] for r in self._con.execute("SELECT run_id FROM runs")}
        if bad and self._writable:
            warnings.warn(
                f"{len(bad)} stored run(s) in {str(self.path)!r} failed their check and will "
                f"be recomputed: {_list_bad(bad)}.",
                RuntimeWarning,
                stacklevel=2,
            )
            with self._transaction() as con:
                for run_id in bad:
                    con.execute("DELETE FROM networks WHERE run_id = ?", (run_id,))
                    con.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            self._bad = None
        return ids - set(bad)

    def __len__(self) -> int:
        return int(self._con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def network(self, run_id: str) -> ShallowReLUNet:
        """The trained network of a run (a :class:`StoreError` if its row failed its check)."""
        bad = self.verify()
        if run_id in bad:
            raise StoreError(
                f"The stored network of run {run_id!r} in {str(self.path)!r} is corrupted "
                f"({bad[run_id]}); rerun the sweep to recompute it."
            )
        row = self._con.execute(
            "SELECT params FROM networks WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"No run {run_id!r} in {str(self.path)!r}.")
        if not row[0]:
            raise StoreError(
                f"Run {run_id!r} in {str(self.path)!r} has no stored network (it failed)."
            )
        return network_from_blob(row[0])

    def frame(self) -> pd.DataFrame:
        """One row per sound run: id, version, configuration columns, metrics, execution.

        Rows that fail their check are left out with a ``RuntimeWarning``.
        """
        import pandas as pd

        bad = self.verify()
        if bad:
            warnings.warn(
                f"{len(bad)} stored run(s) in {str(self.path)!r} failed their check and are "
                f"left out: {_list_bad(bad)}. Rerun the sweep to recompute them.",
                RuntimeWarning,
                stacklevel=2,
            )
        cur = self._con.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs ORDER BY run_id")
        records = []
        try:
            for values in cur:
                rec = dict(zip(_COLUMNS, values))
                if rec["run_id"] in bad:
                    continue
                config = json.loads(rec.pop("config"))
                flat = {"run_id": rec.pop("run_id"), "version": rec.pop("version")}
                flat.update(_flatten(config))
                flat.update(rec)
                records.append(flat)
        except (sqlite3.Error, ValueError) as exc:
            raise self._error(exc) from None
        frame = pd.DataFrame.from_records(records)
        if frame.empty:
            frame = pd.DataFrame(columns=list(_COLUMNS))
        return frame


def _list_bad(bad: dict[str, str]) -> str:
    shown = [f"{k} ({v})" for k, v in list(bad.items())[:5]]
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return ", ".join(shown) + more


def _flatten(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out[key] = value.get("name")
            for sub, v in value.items():
                if sub != "name":
                    out[f"{key}_{sub}"] = v
        else:
            out[key] = value
    return out


def load_results(path: str | Path) -> pd.DataFrame:
    """Load a sweep's results (its folder or database) as a pandas DataFrame.

    One row per run: ``run_id``, ``version``, one column per configuration entry
    (data set parameters as ``dataset_<name>``), the metrics and execution columns.
    """
    with ResultStore(path, create=False) as store:
        return store.frame()


def load_network(path: str | Path, run_id: str) -> ShallowReLUNet:
    """The trained network of run ``run_id`` in a sweep folder."""
    with ResultStore(path, create=False) as store:
        return store.network(run_id)


def export_results(path: str | Path, fmt: str = "csv") -> Path:
    """Write ``DIR/results.csv`` or ``DIR/results.parquet`` (one row per run); return it."""
    from mtlreg._io import atomic_write_text
    from mtlreg._validation import check_choice

    fmt = check_choice(fmt, "format", FORMATS)
    db = store_path(path)
    frame = load_results(db)
    target = db.parent / f"results.{fmt}"
    if fmt == "csv":
        atomic_write_text(target, frame.to_csv(index=False))
    else:
        tmp = target.with_name(f".{target.name}.tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(target)
    return target
