"""The results store: an embedded SQLite database, one row per finished run.

Rows are keyed by the run id (a hash of the canonical configuration and the
package version). A batch of finished runs is written in one transaction, so a
sweep killed at any moment leaves only whole rows; ``INSERT OR IGNORE`` makes
writing a run twice harmless. The database runs in WAL mode with full
synchronisation, so a committed run survives the process being killed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlreg.sweep._execute import EXECUTION_COLUMNS, METRICS, network_from_blob

if TYPE_CHECKING:
    import pandas as pd

    from mtlreg.model import ShallowReLUNet

DB_NAME = "results.sqlite"
FORMATS: tuple[str, ...] = ("csv", "parquet")

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
    params BLOB NOT NULL
);
"""


def store_path(path: str | Path) -> Path:
    """The database file of a sweep folder (or the file itself)."""
    p = Path(path)
    return p / DB_NAME if p.is_dir() or p.suffix != ".sqlite" else p


class ResultStore:
    """Open (creating if needed) the results database of a sweep folder.

    Use as a context manager; ``with ResultStore(out) as store: store.add(rows)``.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = store_path(path)
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"No results store at {str(self.path)!r}.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=FULL")
        self._con.executescript(_SCHEMA)

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

    # ------------------------------------------------------------- writing
    def add(self, rows: Iterable[dict[str, Any]]) -> int:
        """Write finished runs in one transaction; runs already stored are left as they are.

        Returns the number of new rows.
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
                    con.execute(
                        "INSERT OR REPLACE INTO networks (run_id, params) VALUES (?, ?)",
                        (row["run_id"], row["network"]),
                    )
        return new

    # ------------------------------------------------------------- reading
    def run_ids(self) -> set[str]:
        """Ids of every stored run."""
        return {r[0] for r in self._con.execute("SELECT run_id FROM runs")}

    def __len__(self) -> int:
        return int(self._con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def network(self, run_id: str) -> ShallowReLUNet:
        """The trained network of a run."""
        row = self._con.execute(
            "SELECT params FROM networks WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"No run {run_id!r} in {str(self.path)!r}.")
        return network_from_blob(row[0])

    def frame(self) -> pd.DataFrame:
        """One row per run: id, version, configuration columns, metrics, execution."""
        import pandas as pd

        cur = self._con.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs ORDER BY run_id")
        records = []
        for values in cur:
            rec = dict(zip(_COLUMNS, values))
            config = json.loads(rec.pop("config"))
            flat = {"run_id": rec.pop("run_id"), "version": rec.pop("version")}
            flat.update(_flatten(config))
            flat.update(rec)
            records.append(flat)
        frame = pd.DataFrame.from_records(records)
        if frame.empty:
            frame = pd.DataFrame(columns=list(_COLUMNS))
        return frame


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
