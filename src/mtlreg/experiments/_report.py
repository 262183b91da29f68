"""What every experiment reports besides its numbers: convergence flags, progress, README.

- :func:`stationarity` and :func:`network_counts`: each gradient-trained network is
  marked ``converged`` or not, with a stationarity measure (the relative decrease of its
  objective over the last tenth of its steps); every experiment's ``metrics.json``
  carries ``networks = {"trained", "not_converged", "certified", ...}`` and
  :func:`summary_line` prints it.
- :func:`progress`: a tqdm bar on a terminal, silent otherwise.
- :func:`write_results_readme`: ``results/README.md``, with each figure, the claim it
  tests and the measured verdict, and every column of every CSV written, with its
  meaning and units.

An experiment module declares ``FIGURE_CLAIMS`` (figure stem -> the claim it tests),
``verdicts(metrics)`` (figure stem -> the measured verdict) and ``CSV_COLUMNS`` (CSV
file name -> column -> meaning and units; a ``"*"`` entry applies to every CSV).
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from mtlreg._io import atomic_write_text

T = TypeVar("T")


def stationarity(result: Any) -> float:
    """Relative decrease of the objective over the last tenth of the logged steps.

    ``(objective 10% of the steps before the end - final objective) / |final objective|``
    from the run's history (``nan`` when fewer than two entries were logged); 0 for the
    exact 1-D path, which logs its certified optimum only.
    """
    history = getattr(result, "history", None)
    if history is None or len(history) < 2:
        return math.nan
    steps = [float(s) for s in history.step]
    objective = [float(v) for v in history.objective]
    last = steps[-1]
    cut = last - 0.1 * max(last - steps[0], 1.0)
    # the last logged objective at least a tenth of the steps before the end
    before = objective[0]
    for s, v in zip(steps, objective):
        if s <= cut:
            before = v
    final = objective[-1]
    return (before - final) / abs(final) if final != 0 else math.inf


def network_counts(
    rows: Iterable[Mapping[str, Any]],
    *,
    certified: int = 0,
    measure: str = "rel_change: relative objective decrease over the last 10% of steps",
) -> dict[str, Any]:
    """``{"trained", "not_converged", "certified", "stationarity_measure", "worst"}``.

    ``rows``: one mapping per gradient-trained network with ``converged`` (or its own
    ``flagged`` verdict) and ``rel_change``; ``certified``: networks that come from a
    certified solver instead.
    """
    rows = list(rows)
    flagged = [r for r in rows if _is_flagged(r)]
    measured = [r.get("rel_change") for r in flagged]
    worst = max((float(v) for v in measured if v is not None), default=math.nan)
    return {
        "trained": len(rows),
        "not_converged": len(flagged),
        "certified": int(certified),
        "stationarity_measure": measure,
        "worst_rel_change": worst,
    }


def _is_flagged(row: Mapping[str, Any]) -> bool:
    """A row's own ``flagged`` verdict when it has one, else ``not converged``."""
    if "flagged" in row:
        return _truthy(row["flagged"])
    return not _truthy(row.get("converged"))


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def summary_line(name: str, metrics: Mapping[str, Any], seconds: float, out: Path) -> str:
    """``[name] done in 12.3 s -> out; 5 networks trained, 2 not converged, 1 certified``."""
    line = f"[{name}] done in {seconds:.1f} s -> {out}"
    counts = metrics.get("networks") if isinstance(metrics, Mapping) else None
    if isinstance(counts, Mapping):
        line += (
            f"; {counts.get('trained', 0)} networks trained, "
            f"{counts.get('not_converged', 0)} not converged (flagged)"
        )
        if counts.get("certified"):
            line += f", {counts['certified']} certified optima"
    return line


def flagged_total(results: Mapping[str, Mapping[str, Any]]) -> tuple[int, int]:
    """(flagged, trained) summed over experiments' metrics."""
    flagged = trained = 0
    for metrics in results.values():
        counts = metrics.get("networks") if isinstance(metrics, Mapping) else None
        if isinstance(counts, Mapping):
            flagged += int(counts.get("not_converged", 0))
            trained += int(counts.get("trained", 0))
    return flagged, trained


def progress(
    iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """Iterate with a tqdm progress bar on stderr when it is a terminal; silent otherwise."""
    from tqdm.auto import tqdm

    return iter(
        tqdm(
            iterable,
            desc=desc,
            total=total,
            unit=unit,
            disable=not sys.stderr.isatty(),
            leave=False,
            file=sys.stderr,
        )
    )


# --------------------------------------------------------------------------- README


def _columns_doc(module: Any, name: str) -> dict[str, dict[str, str]]:
    doc = getattr(module, "CSV_COLUMNS", None)
    if isinstance(doc, Mapping):
        return {str(k): dict(v) for k, v in doc.items()}
    return {}


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="") as fh:
        return next(csv.reader(fh), [])


def column_docs(module: Any, name: str, csv_name: str) -> dict[str, str]:
    """Meaning and units of every documented column of ``csv_name`` (``*`` entries apply
    to every CSV of the experiment)."""
    docs = _columns_doc(module, name)
    merged = dict(docs.get("*", {}))
    merged.update(docs.get(csv_name, {}))
    return merged


def undocumented_columns(module: Any, name: str, folder: Path) -> dict[str, list[str]]:
    """CSV file -> its columns without an entry in the experiment's column dictionary."""
    missing: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.csv")):
        docs = column_docs(module, name, path.name)
        lost = [c for c in _csv_header(path) if c not in docs]
        if lost:
            missing[path.name] = lost
    return missing


def _verdicts(module: Any, metrics: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    claims: Mapping[str, str] = getattr(module, "FIGURE_CLAIMS", {}) or {}
    verdict_fn = getattr(module, "verdicts", None)
    verdicts: Mapping[str, str] = {}
    if callable(verdict_fn):
        try:
            verdicts = verdict_fn(metrics)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            verdicts = dict.fromkeys(claims, f"(verdict not computed: {exc})")
    return {k: (claims[k], verdicts.get(k, "see metrics.json")) for k in claims}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def experiment_section(name: str, module: Any, folder: Path, metrics: Mapping[str, Any]) -> str:
    """The README section of one experiment (figures, verdicts, networks, CSV columns)."""
    lines = [f"## {name}", ""]
    first = (module.__doc__ or "").strip().splitlines()
    if first:
        lines += [first[0], ""]
    counts = metrics.get("networks")
    if isinstance(counts, Mapping):
        lines += [
            f"Networks: {counts.get('trained', 0)} gradient-trained, "
            f"{counts.get('not_converged', 0)} not converged (flagged in the CSVs, column "
            f"`converged`), {counts.get('certified', 0)} certified optima. Stationarity "
            f"measure: {counts.get('stationarity_measure', 'n/a')}.",
            "",
        ]
    figures = sorted(p.name for p in folder.glob("*.png"))
    claims = _verdicts(module, metrics)
    if figures:
        lines += ["| figure | claim it tests | measured verdict |", "| --- | --- | --- |"]
        for fig in figures:
            claim, verdict = claims.get(Path(fig).stem, ("(no claim recorded)", "-"))
            lines.append(f"| [{fig}]({name}/{fig}) | {_cell(claim)} | {_cell(verdict)} |")
        lines.append("")
    for path in sorted(folder.glob("*.csv")):
        docs = column_docs(module, name, path.name)
        lines += [f"### `{name}/{path.name}`", "", "| column | meaning (units) |", "| --- | --- |"]
        for col in _csv_header(path):
            lines.append(f"| `{col}` | {_cell(docs.get(col, 'UNDOCUMENTED'))} |")
        lines.append("")
    return "\n".join(lines)


def write_results_readme(
    out: Path,
    results: Mapping[str, Mapping[str, Any]],
    modules: Mapping[str, Any],
    *,
    quick: bool,
) -> Path:
    """Write ``out/README.md`` for the experiments in ``results`` (name -> metrics)."""
    flagged, trained = flagged_total(results)
    lines = [
        "# mtlreg results",
        "",
        f"Written by `mtlreg reproduce{' --quick' if quick else ''}`. Each folder holds one "
        "experiment: figures (PNG and PDF), tidy CSV tables and `metrics.json`.",
        "Objective everywhere: `(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty` "
        "(docs/theory.md §1).",
        "",
        f"Gradient-trained networks: {trained}, of which {flagged} did not converge and are "
        "flagged (`converged = False`, with their stationarity measure).",
    ]
    if quick:
        lines += [
            "",
            "Quick mode: small grids, so the verdicts below are smoke-test numbers, not "
            "measurements; run `mtlreg reproduce --out DIR` for the full versions.",
        ]
    lines.append("")
    for name, metrics in results.items():
        lines.append(experiment_section(name, modules[name], out / name, metrics))
    path = out / "README.md"
    atomic_write_text(path, "\n".join(lines).rstrip() + "\n")
    return path


__all__ = [
    "column_docs",
    "experiment_section",
    "flagged_total",
    "network_counts",
    "progress",
    "stationarity",
    "summary_line",
    "undocumented_columns",
    "write_results_readme",
]
