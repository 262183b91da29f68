"""A Markdown report (with figures) summarising a sweep's results store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlreg._io import atomic_write_text, save_figure, use_agg
from mtlreg.sweep._store import ResultStore

if TYPE_CHECKING:
    import pandas as pd

#: Measures summarised over seeds, with their meaning.
MEASURES: dict[str, str] = {
    "fit": "fit term of the objective",
    "vv_norm": "VV norm (= weight decay after balancing)",
    "task1_mse": "task-1 training MSE",
    "grad_mean": "task-1 mean gradient norm",
    "active": "active neurons",
}
_NOT_AXES = {
    "run_id",
    "seed",
    "aux_seed",
    "version",
    "status",
    "objective",
    "penalty",
    "steps",
    "grad_max",
    "seconds",
    "host",
    "finished_at",
    *MEASURES,
}
_PREFERRED_X = ("n_aux", "lam", "aux_scale", "width", "lr")


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "nan" if not np.isfinite(value) else f"{value:.4g}"
    return str(value)


def _markdown_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def summarise(frame: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """The varying axes (besides seeds) and mean/std of every measure over seeds."""
    with_aux = frame[frame["n_aux"] > 0] if "n_aux" in frame else frame
    axes = []
    for c in frame.columns:
        # auxiliary-label settings are normalised away when a run has no auxiliary task
        rows = with_aux if c.startswith("aux_") and len(with_aux) else frame
        if c not in _NOT_AXES and rows[c].astype(str).nunique(dropna=False) > 1:
            axes.append(c)
    keys = axes or [frame["dataset"].astype(str)]
    grouped = frame.groupby(keys, dropna=False, sort=True)
    table = grouped.size().rename("runs").to_frame()
    for m in MEASURES:
        table[f"{m} mean"] = grouped[m].mean()
        table[f"{m} std"] = grouped[m].std(ddof=0)
    return axes, table.reset_index()


def shared_value(frame: pd.DataFrame, column: str) -> str:
    """What every run has in ``column``, computed over all rows (not read from the first).

    Auxiliary-label settings (``aux_*``) are normalised away for runs without auxiliary
    tasks, so they are stated for the runs that have them, and the others are counted.
    """
    rows = frame
    note = ""
    if column.startswith("aux_") and "n_aux" in frame:
        with_aux = frame[frame["n_aux"] > 0]
        if len(with_aux) and len(with_aux) < len(frame):
            rows = with_aux
            note = (
                f" (the {len(with_aux)} runs with auxiliary tasks; "
                f"not applicable to the {len(frame) - len(with_aux)} without)"
            )
    values = rows[column].drop_duplicates().tolist()
    if len(values) == 1:
        return _fmt(values[0]) + note
    shown = ", ".join(_fmt(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
    return f"varies: {shown}{note}"


def write_report(path: str | Path) -> Path:
    """Write ``DIR/report/report.md`` and its figures for the sweep folder ``DIR``.

    Returns the path of the Markdown file.
    """
    with ResultStore(path, create=False) as store:
        frame = store.frame()  # rows that fail their check are left out (with a warning)
        bad = store.verify()
    root = Path(path) if Path(path).is_dir() else Path(path).parent
    out = root / "report"
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Sweep report: {root.name}", ""]
    if bad:
        lines += [
            f"**{len(bad)} stored run(s) failed their integrity check and are left out** "
            "(rerun the sweep to recompute them): "
            + ", ".join(f"`{k}` ({v})" for k, v in sorted(bad.items())),
            "",
        ]
    if frame.empty:
        lines.append("The results store holds no runs yet.")
        target = out / "report.md"
        atomic_write_text(target, "\n".join(lines) + "\n")
        return target
    status = frame["status"].value_counts().to_dict()
    lines += [
        f"- runs: {len(frame)} ({', '.join(f'{v} {k}' for k, v in status.items())})",
        f"- package versions: {', '.join(sorted(frame['version'].unique()))}",
        f"- compute time: {frame['seconds'].sum():.1f} s of worker time",
        "- loss convention: fit = (1/N) sum_i ||y_i - f(x_i)||^2 summed over tasks "
        "(`task_reduction=sum`) or divided by T (`mean`), as listed below",
        "",
    ]
    axes, table = summarise(frame)
    fixed = [c for c in frame.columns if c not in _NOT_AXES and c not in axes]
    lines += ["## Settings shared by every run", ""]
    lines += [f"- `{c}`: {shared_value(frame, c)}" for c in fixed]
    lines += ["", "## Mean and standard deviation over seeds", ""]
    lines += [_markdown_table(table), ""]
    figures = _figures(frame, axes, out)
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{name}]({name}.png)" for name in figures]
        lines.append("")
    target = out / "report.md"
    atomic_write_text(target, "\n".join(lines))
    return target


def _figures(frame: pd.DataFrame, axes: list[str], out: Path) -> list[str]:
    """One figure per measure against the main numeric axis, one line per other setting."""
    numeric = [a for a in _PREFERRED_X if a in axes]
    if not numeric:
        return []
    use_agg()
    import matplotlib.pyplot as plt

    x = numeric[0]
    others = [a for a in axes if a != x]
    names = []
    for measure, label in MEASURES.items():
        fig, ax = plt.subplots(figsize=(5.0, 3.6))
        groups = frame.groupby(others, dropna=False) if others else [((), frame)]
        for i, (key, part) in enumerate(groups):
            if i >= 8:
                break
            stats = part.groupby(x)[measure].agg(["mean", "std"]).sort_index()
            key_t = key if isinstance(key, tuple) else (key,)
            name = ", ".join(f"{a}={_fmt(v)}" for a, v in zip(others, key_t)) or "all"
            ax.errorbar(
                stats.index,
                stats["mean"],
                yerr=stats["std"].fillna(0.0),
                marker="o",
                capsize=3,
                label=name,
            )
        if x in {"lam", "lr"}:
            ax.set_xscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
        stem = f"{measure}_vs_{x}"
        save_figure(fig, out, stem)
        names.append(stem)
    return names
