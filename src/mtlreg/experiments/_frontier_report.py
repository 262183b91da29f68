"""Analysis of the smoothness study: distances from the frontier, verdicts, the figure.

Reads the tidy table of :mod:`mtlreg.experiments.smoothness` (one row per network) and
compares every auxiliary-task point with the single-task frontier of its own data set
(:class:`mtlreg.experiments._frontier.Frontier`, docs/theory.md §6).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from mtlreg.experiments._frontier import ON_FRONTIER_TOL, Frontier, verdict

CONVENTIONS: tuple[str, ...] = ("sum", "mean")
#: Methods whose points are trained networks (``convex`` and ``certified`` points are
#: solver optima).
TRAINED: tuple[str, ...] = ("continuation", "adam")


def with_frontier(df: Any) -> Any:
    """Add ``frontier_grad`` and ``frontier_distance`` (log10) from each data set's frontier."""
    df = df.copy()
    df["frontier_grad"] = np.nan
    df["frontier_distance"] = np.nan
    for _, sub in df.groupby(["d", "seed"]):
        single = sub[sub["series"] == "single"]
        front = Frontier.from_points(single["train_mse"], single["avg_grad_norm"])
        idx = sub.index
        df.loc[idx, "frontier_grad"] = front.grad_at(sub["train_mse"].to_numpy())
        df.loc[idx, "frontier_distance"] = front.distance(
            sub["train_mse"].to_numpy(), sub["avg_grad_norm"].to_numpy()
        )
    return df


def _ratio(num: Any, den: Any) -> float:
    return float(np.median(np.asarray(num, float) / np.asarray(den, float)))


def fixed_lam(df: Any, lam: float) -> dict[str, Any]:
    """Ratios to single-task weight decay at the same lam (per d, the largest n_aux).

    For each series and convention: median over seeds (and scales listed separately)
    of task 1's average gradient norm and train error divided by those of the
    single-task network at the same lam on the same data (the authors' series: by
    their own recipe without auxiliary tasks).
    """
    out: dict[str, Any] = {}
    for d in sorted(set(df["d"])):
        sub = df[df["d"] == d]
        base = sub[(sub["series"] == "single") & np.isclose(sub["lam"], lam)].set_index("seed")
        own = sub[(sub["series"] == "authors") & (sub["n_aux"] == 0)].set_index("seed")
        entry: dict[str, Any] = {}
        multi = sub[(sub["series"] != "single") & (sub["n_aux"] > 0)]
        for (series, conv, scale), grp in multi.groupby(["series", "convention", "aux_scale"]):
            top = grp[grp["n_aux"] == grp["n_aux"].max()].set_index("seed")
            ref = own if series == "authors" else base
            seeds = sorted(set(top.index) & set(ref.index))
            if not seeds:
                continue
            t, r = top.loc[seeds], ref.loc[seeds]
            entry[f"{series}, {conv}, scale={scale:g}, n_aux={int(top['n_aux'].iloc[0])}"] = {
                "grad_ratio_median": _ratio(t["avg_grad_norm"], r["avg_grad_norm"]),
                "grad_ratios": (t["avg_grad_norm"] / r["avg_grad_norm"]).round(4).tolist(),
                "train_mse_ratio_median": _ratio(t["train_mse"], r["train_mse"]),
                "test_mse_ratio_median": _ratio(t["test_mse"], r["test_mse"]),
                "reference": "authors, n_aux=0" if series == "authors" else "single, same lam",
            }
        out[f"d={d}"] = entry
    return out


def summarize(df: Any, lam: float) -> dict[str, Any]:
    """Verdicts per (d, convention, scale), per d for the authors, and fixed-lam ratios."""
    verdicts: dict[str, Any] = {}
    per_d: dict[str, Any] = {}
    aux = df[(df["series"] != "single") & (df["n_aux"] > 0)]
    for (series, d, conv, scale), grp in aux.groupby(["series", "d", "convention", "aux_scale"]):
        v = verdict(grp["frontier_distance"])
        v["median_by_n_aux"] = {
            int(k): float(np.nanmedian(g)) if np.isfinite(g).any() else None
            for k, g in grp.groupby("n_aux")["frontier_distance"]
        }
        verdicts[f"{series}: d={d}, convention={conv}, scale={scale:g}"] = v
    for d, grp in aux.groupby("d"):
        per_d[f"d={d}"] = {
            series: verdict(g["frontier_distance"])["verdict"]
            for series, g in grp.groupby("series")
        }
    single = df[df["series"] == "single"]
    cert = single[single["method"] == "convex"]
    multi_cert = df[df["method"] == "certified"]
    trained = df[df["method"].isin(TRAINED)]
    gaps = trained["gap_to_certified"].to_numpy(float)
    measured = gaps[np.isfinite(gaps)]
    return {
        "n_rows": len(df),
        "definition": (
            "frontier_distance = log10(avg |grad f1| of the point / single-task frontier at "
            "the point's task-1 train MSE); < 0: smoother than weight decay at that fit"
        ),
        "on_frontier_tolerance_log10": ON_FRONTIER_TOL,
        "verdicts": verdicts,
        "verdict_per_d": per_d,
        "fixed_lam": fixed_lam(df, lam),
        "frontier_monotone": _monotone(single),
        "certified": {
            "single_points": len(cert),
            "certified": int(cert["certified"].sum()),
            "max_relative_gap": float(cert["relative_gap"].max()) if len(cert) else None,
            "multi_points": len(multi_cert),
            "multi_certified": int(multi_cert["certified"].sum()),
            "multi_max_relative_gap": (
                float(multi_cert["relative_gap"].max()) if len(multi_cert) else None
            ),
            "not_certified": "every trained point (gradient recipes: "
            + ", ".join(sorted(set(trained["method"])))
            + ")"
            + ("" if not len(multi_cert) else "; multi-task points listed above are optima"),
        },
        "gap_to_certified": {
            "definition": "trained points: (objective - certified optimum of the same "
            "problem) / certified optimum, in the point's convention",
            "measured_points": len(measured),
            "trained_points": len(trained),
            "median": float(np.median(measured)) if len(measured) else None,
            "max": float(np.max(measured)) if len(measured) else None,
            "by_series": {
                str(series): [round(float(v), 6) for v in g if math.isfinite(v)]
                for series, g in trained.groupby("series")["gap_to_certified"]
            },
        },
        "stationarity": {
            "measure": "rel_change: relative objective decrease of further Adam steps",
            "median_rel_change": float(trained["rel_change"].median()) if len(trained) else None,
            "max_rel_change": float(trained["rel_change"].max()) if len(trained) else None,
            "not_converged": int((~trained["converged"].astype(bool)).sum()),
        },
    }


def _monotone(single: Any) -> dict[str, Any]:
    """Whether train error never falls as lam grows along each frontier."""
    worst = 0.0
    for _, grp in single.groupby(["d", "seed"]):
        err = grp.sort_values("lam")["train_mse"].to_numpy()
        if len(err) > 1:
            worst = max(worst, float(np.max(-np.diff(err) / np.maximum(err[:-1], 1e-300))))
    return {"largest_relative_drop": worst, "monotone": worst <= 1e-6}


# ------------------------------------------------------------------------- figures
def plot(df: Any, out: Path) -> list[Path]:
    """Train error and test error against task 1's average gradient norm, per d."""
    from mtlreg import _style

    dims = sorted(set(df["d"]))
    with _style.context():
        # page width even for one d: the panel titles and the legend need the room
        fig, axes = _style.subplots(
            2, len(dims), width=_style.PAGE_WIDTH, panel_height=2.6, sharey="col"
        )
        for j, d in enumerate(dims):
            sub = df[df["d"] == d]
            for i, xcol in enumerate(("train_mse", "test_mse")):
                _panel(axes[i, j], sub, xcol)
                xname = "task-1 train MSE" if i == 0 else "task-1 test MSE (vs f*)"
                _style.label(axes[i, j], xname, "avg |grad f1|",
                             title=_title(sub, d) if i == 0 else None)  # fmt: skip
        _style.legend_outside(fig, axes)
        _style.note(
            fig,
            "Lines: single-task weight decay over a lam path (solid: certified optima; dashed: "
            "trained). Filled markers: certified optima; hollow: not certified (gradient "
            "recipe). Marker size grows with the number of auxiliary tasks. Titles: the "
            "largest relative objective gap of a trained point to its certified optimum.",
        )
        return _style.save(fig, out, "smoothness_frontier")


def _title(sub: Any, d: int) -> str:
    """Panel title: d, and how far the trained points are from their certified optima."""
    trained = sub[sub["method"].isin(TRAINED)]
    gaps = trained["gap_to_certified"].to_numpy(float)
    ok = np.isfinite(gaps)
    if not ok.any():
        return f"d = {d}"
    worst = f"{gaps[ok].max():.1e}"
    return f"d = {d}\ntrained vs certified optimum: rel. gap <= {worst} ({ok.sum()}/{len(gaps)})"


def _panel(ax: Any, sub: Any, xcol: str) -> None:
    from mtlreg import _style

    for _, grp in sub[sub["series"] == "single"].groupby("seed"):
        grp = grp.sort_values("lam")
        certified = bool(grp["certified"].all())
        ax.plot(grp[xcol], grp["avg_grad_norm"], color=_style.color(6), lw=0.9,
                ls="-" if certified else "--", marker=".", ms=3,
                label="single-task, lam path" + (" (certified)" if certified else ""))  # fmt: skip
    multi = sub[sub["series"] == "multi"]
    scales = sorted(set(multi["aux_scale"]))
    for c, conv in enumerate(CONVENTIONS):
        for k, scale in enumerate(scales):
            grp = multi[(multi["convention"] == conv) & (multi["aux_scale"] == scale)]
            if grp.empty:
                continue
            col = _style.color(k + (0 if conv == "sum" else 3))
            _scatter(ax, grp, xcol, col, _style.marker(c), f"multi, {conv}, scale {scale:g}")
    auth = sub[(sub["series"] == "authors")]
    if not auth.empty:
        _scatter(ax, auth, xcol, _style.color(6), "X", "authors' Adam (mean)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _style.plain_ticks(ax)
    from matplotlib.ticker import LogLocator

    for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if 0 < lo < hi and math.log10(hi / lo) < 1.5:  # narrow range: label 1, 2, 5 x 10^k
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=10))
        else:  # wide range: a few labelled decades, so the labels do not overlap
            axis.set_major_locator(LogLocator(base=10, numticks=3))


def _scatter(ax: Any, grp: Any, xcol: str, color: str, mark: str, label: str) -> None:
    sizes = 8 + 6 * np.log1p(grp["n_aux"].to_numpy(float))
    ok = grp["certified"].to_numpy(bool)
    x, y = grp[xcol].to_numpy(float), grp["avg_grad_norm"].to_numpy(float)
    if ok.any():
        ax.scatter(x[ok], y[ok], s=sizes[ok], c=color, marker=mark, label=label, zorder=3)
    if (~ok).any():
        hollow = {"facecolors": "none", "edgecolors": color, "linewidths": 0.9}
        ax.scatter(x[~ok], y[~ok], s=sizes[~ok], marker=mark, label=f"{label} (not certified)",
                   zorder=3, **hollow)  # fmt: skip
