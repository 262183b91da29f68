"""Double descent of multi-task linear models, Monte Carlo against theory (docs/theory.md §8).

Test error (and classification error for ``phi = sign``) of the shared + task-specific
ridge estimator against n/d and d/n, for several numbers of tasks T and task
similarities rho, in three regularisation regimes:

- ``lambda0_to_0``: ``lambda_0 -> 0`` with ``lambda_t = d * lam_task`` fixed; the shared
  part interpolates while ``T n < d``, so the peak sits at ``n/d = 1/T``;
- ``both_to_0``: both -> 0 at ratio 1; every task interpolates up to ``n = d``;
- ``both_small``: ``lambda_0 = lambda_t = d * lam_small``; the peak at ``n/d = 1``
  is damped, more so with more tasks.

Monte-Carlo points (exact errors, mean +- standard error over trials) and the
asymptotic theory (:func:`mtlreg.linear.theory_error`) as lines. Writes
``errors.csv`` (tidy), ``peaks.csv``, ``metrics.json`` and one figure per regime,
link and error (PNG + PDF). ``metrics.json`` holds the measured peak n/d and height
per T, and the theory-vs-Monte-Carlo discrepancy (relative and in standard errors)
over the points farther than 10% (and 25%) from the ridgeless singularity.
``--quick`` runs d = 100, 5 trials, rho = 0.8, sign (about 30 CPU-seconds).
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from mtlreg import _style
from mtlreg._io import prepare_out, write_json
from mtlreg._validation import check_choice, check_int, check_number, check_seed
from mtlreg.experiments._report import progress
from mtlreg.linear import LINKS, sigma_from_rho, simulate_error, theory_error

Row = dict[str, Any]

NAME = "double-descent"
HELP = "multi-task linear models: double descent vs n/d, Monte Carlo and asymptotic theory"

REGIMES: tuple[str, ...] = ("lambda0_to_0", "both_to_0", "both_small")

_CLAIM = (
    "Monte-Carlo test errors of the multi-task linear estimator lie on the asymptotic "
    "theory curves, and the double-descent peak sits where theory puts it (n/d = 1/T when "
    "lambda_0 -> 0, n/d = 1 otherwise), damped by more tasks when both penalties are small "
    "(docs/theory.md §8)."
)
#: Claim tested by each figure (one per regime, link and error).
FIGURE_CLAIMS: dict[str, str] = {
    f"double_descent_{regime}_{phi}_{kind}": _CLAIM
    for regime in REGIMES
    for phi in ("sign", "relu", "linear", "tanh")
    for kind in ("mse", "classification")
}

CSV_COLUMNS: dict[str, dict[str, str]] = {
    "errors.csv": {
        "source": "`monte_carlo` (exact errors averaged over trials) or `theory` (asymptotic)",
        "regime": "regularisation regime: `lambda0_to_0`, `both_to_0` or `both_small`",
        "phi": "link function of the labels",
        "rho": "task similarity (correlation of the task vectors, unitless)",
        "T": "number of tasks",
        "d": "dimension (Monte Carlo only)",
        "n": "samples per task (Monte Carlo only)",
        "alpha": "n / d, samples per task over dimension (unitless)",
        "d_over_n": "d / n (unitless)",
        "l0": "shared penalty lambda_0 / d",
        "l": "task-specific penalty lambda_t / d",
        "metric": "`mse` (test mean squared error) or `classification_error` (sign links)",
        "value": "the error (label units squared for mse; a fraction for classification)",
        "se": "standard error over Monte-Carlo trials (same units; empty for theory)",
        "trials": "Monte-Carlo trials (empty for theory)",
    },
    "peaks.csv": {
        "regime": "regularisation regime",
        "phi": "link function",
        "rho": "task similarity",
        "T": "number of tasks",
        "measured_peak_alpha": "n/d of the largest Monte-Carlo test MSE (unitless)",
        "measured_peak_mse": "that largest Monte-Carlo test MSE (label units squared)",
        "measured_peak_mse_se": "its standard error (label units squared)",
        "theory_peak_alpha": "n/d of the largest theoretical test MSE on the theory grid",
        "theory_peak_mse": "largest theoretical test MSE; `inf` in the ridgeless regimes, "
        "where the theory diverges at its peak (only `both_small` has a finite height)",
        "expected_peak_alpha": "where theory puts the singularity: 1/T when lambda_0 -> 0, else 1",
    },
}


def verdicts(metrics: dict[str, Any]) -> dict[str, str]:
    """Measured verdict of each figure."""
    out = {}
    for stem in metrics.get("figures", []):
        name = Path(stem).stem
        if not stem.endswith(".png"):
            continue
        regime = next(r for r in REGIMES if name.startswith(f"double_descent_{r}_"))
        disc = metrics["theory_vs_mc"].get(regime, {})
        peaks = [p for p in metrics["peaks"] if p["regime"] == regime]
        located = ", ".join(
            f"T={p['T']}: {p['measured_peak_alpha']:.2g} (expected {p['expected_peak_alpha']:.2g})"
            for p in peaks
        )
        frac = disc.get("fraction_within_3pct_or_2se", float("nan"))
        out[name] = (
            f"{100 * frac:.0f}% of the Monte-Carlo points farther than 10% from the singularity "
            f"are within 3% or 2 s.e. of theory (max relative discrepancy "
            f"{disc.get('max_relative_discrepancy', float('nan')):.3g}); measured peak n/d: "
            f"{located}"
        )
    return out


_LABELS = {
    "lambda0_to_0": r"$\lambda_0 \to 0$, $\lambda_t$ fixed",
    "both_to_0": r"$\lambda_0, \lambda_t \to 0$",
    "both_small": r"$\lambda_0 = \lambda_t$ small",
}


@dataclass(frozen=True)
class Config:
    """Resolved options of one run (presets filled in, validated)."""

    d: int
    trials: int
    tasks: tuple[int, ...]
    rho: tuple[float, ...]
    phi: tuple[str, ...]
    regimes: tuple[str, ...]
    points: int
    theory_points: int
    alpha_range: tuple[float, float]
    lam_task: float
    lam_small: float
    seed: int
    jobs: int


COMMON: dict[str, Any] = {
    "tasks": (1, 2, 5, 10, 20),
    "regimes": REGIMES,
    "lam_task": 1.0,
    "lam_small": 0.01,
    "seed": 0,
    "jobs": 1,
}
QUICK: dict[str, Any] = {
    "d": 100,
    "trials": 5,
    "rho": (0.8,),
    "phi": ("sign",),
    "points": 32,
    "theory_points": 120,
}
# About 80 CPU-minutes (use --jobs); --d 400 matches the acceptance grid but costs ~8x.
FULL: dict[str, Any] = {
    "d": 200,
    "trials": 20,
    "rho": (0.5, 0.8, 0.95),
    "phi": ("sign", "relu"),
    "points": 36,
    "theory_points": 300,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--d", type=int, default=None, help="dimension (quick 100, full 200)")
    parser.add_argument("--trials", type=int, default=None, help="Monte-Carlo trials per point")
    parser.add_argument("--tasks", type=int, nargs="+", default=None, help="numbers of tasks T")
    parser.add_argument("--rho", type=float, nargs="+", default=None, help="task similarities")
    parser.add_argument("--phi", nargs="+", choices=LINKS, default=None, help="link functions")
    parser.add_argument(
        "--regimes",
        nargs="+",
        choices=REGIMES,
        default=None,
        help="regularisation regimes: lambda0_to_0 (shared part ridgeless), both_to_0 "
        "(both ridgeless), both_small (both small); default all three",
    )
    parser.add_argument("--points", type=int, default=None, help="n/d grid points")
    parser.add_argument("--theory-points", type=int, default=None, help="theory grid points")
    parser.add_argument(
        "--lam-task", type=float, default=1.0, help="lambda_t / d when lambda_0 -> 0"
    )
    parser.add_argument("--lam-small", type=float, default=0.01, help="lambda / d, 'both small'")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")


def _config(quick: bool, **options: Any) -> Config:
    preset = COMMON | (QUICK if quick else FULL)
    opt: dict[str, Any] = {k: (preset.get(k) if v is None else v) for k, v in options.items()}
    tasks = tuple(check_int(T, "tasks", low=1) for T in opt["tasks"])
    rho = tuple(check_number(r, "rho", low=0.0, high=1.0, low_inclusive=False) for r in opt["rho"])
    phi = tuple(check_choice(p, "phi", LINKS) for p in opt["phi"])
    regimes = tuple(check_choice(r, "regimes", REGIMES) for r in opt["regimes"])
    return Config(
        d=check_int(opt["d"], "d", low=2),
        trials=check_int(opt["trials"], "trials", low=2),
        tasks=tasks,
        rho=rho,
        phi=phi,
        regimes=regimes,
        points=check_int(opt["points"], "points", low=3),
        theory_points=check_int(opt["theory_points"], "theory_points", low=3),
        alpha_range=(0.02, 4.0),
        lam_task=check_number(opt["lam_task"], "lam_task", low=0.0, low_inclusive=False),
        lam_small=check_number(opt["lam_small"], "lam_small", low=0.0, low_inclusive=False),
        seed=check_seed(opt["seed"]) or 0,
        jobs=check_int(opt["jobs"], "jobs", low=1),
    )


def _penalties(regime: str, cfg: Config) -> tuple[float, float]:
    return {
        "lambda0_to_0": (0.0, cfg.lam_task),
        "both_to_0": (0.0, 0.0),
        "both_small": (cfg.lam_small, cfg.lam_small),
    }[regime]


def _singular(regime: str, T: int) -> float:
    """n/d of the ridgeless singularity (smoothed, not removed, in 'both_small')."""
    return 1.0 / T if regime == "lambda0_to_0" else 1.0


def _select(rows: list[Row], regime: str, phi: str, rho: float, T: int) -> list[Row]:
    return [r for r in rows if (r["regime"], r["phi"], r["rho"], r["T"]) == (regime, phi, rho, T)]


def _sample_sizes(cfg: Config) -> list[int]:
    lo, hi = cfg.alpha_range
    grid = np.geomspace(lo * cfg.d, hi * cfg.d, cfg.points).round().astype(int)
    return sorted({max(1, int(n)) for n in grid})


def _simulate_curve(cfg: Config, curve: tuple[str, str, float, int]) -> tuple[list[Row], list[Row]]:
    """Monte Carlo and theory along n/d for one (regime, phi, rho, T)."""
    regime, phi, rho, T = curve
    l0, l = _penalties(regime, cfg)
    sigma = sigma_from_rho(rho)
    key = {"regime": regime, "phi": phi, "rho": rho, "T": T, "l0": l0, "l": l}
    th_rows = []
    for alpha in np.geomspace(*cfg.alpha_range, cfg.theory_points):
        per_n = T * float(alpha)  # the package strengths are lambda / N, N = T n = T alpha d
        th = theory_error(
            float(alpha), T, sigma, lam_shared=l0 / per_n, lam_task=l / per_n, phi=phi
        )
        th_rows.append(key | {"alpha": alpha, "mse": th.mse, "cls": th.classification_error})
    mc_rows = []
    ids = [cfg.seed, REGIMES.index(regime), LINKS.index(phi), round(rho * 1e6), T]
    for n in _sample_sizes(cfg):
        seed = int(np.random.SeedSequence([*ids, n]).generate_state(1)[0])
        lam_shared, lam_task = l0 * cfg.d / (T * n), l * cfg.d / (T * n)  # lambda / N
        mc = simulate_error(
            n, cfg.d, T, sigma, lam_shared=lam_shared, lam_task=lam_task, phi=phi,
            trials=cfg.trials, seed=seed,
        )  # fmt: skip
        th = theory_error(n / cfg.d, T, sigma, lam_shared=lam_shared, lam_task=lam_task, phi=phi)
        mc_rows.append(
            key
            | {
                "n": n,
                "alpha": n / cfg.d,
                "mse": mc.mse,
                "mse_se": mc.mse_se,
                "cls": mc.classification_error,
                "cls_se": mc.classification_error_se,
                "theory_mse": th.mse,
                "theory_cls": th.classification_error,
            }
        )
    return mc_rows, th_rows


def _simulate(cfg: Config) -> tuple[list[Row], list[Row]]:
    """Every curve, in ``cfg.jobs`` processes (seeds depend on the point, not the order)."""
    curves = _curves(cfg)
    if cfg.jobs == 1:
        results = [
            _simulate_curve(cfg, c) for c in progress(curves, desc=f"{NAME}: curves", unit="curve")
        ]
    else:
        with ProcessPoolExecutor(max_workers=cfg.jobs) as pool:
            results = list(pool.map(partial(_simulate_curve, cfg), curves))
    mc_rows = [r for mc, _ in results for r in mc]
    th_rows = [r for _, th in results for r in th]
    return mc_rows, th_rows


def _write_tables(out: Path, cfg: Config, mc_rows: list[Row], th_rows: list[Row]) -> None:
    fields = [
        "source",
        "regime",
        "phi",
        "rho",
        "T",
        "d",
        "n",
        "alpha",
        "d_over_n",
        "l0",
        "l",
        "metric",
        "value",
        "se",
        "trials",
    ]
    with (out / "errors.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for source, rows in (("monte_carlo", mc_rows), ("theory", th_rows)):
            for row in rows:
                for metric in ("mse", "cls"):
                    if row[metric] is None:
                        continue
                    mc = source == "monte_carlo"
                    writer.writerow(
                        {k: row[k] for k in ("regime", "phi", "rho", "T", "l0", "l", "alpha")}
                        | {
                            "source": source,
                            "d": cfg.d if mc else "",
                            "n": row["n"] if mc else "",
                            "d_over_n": 1.0 / row["alpha"],
                            "metric": "classification_error" if metric == "cls" else "mse",
                            "value": row[metric],
                            "se": row[f"{metric}_se"] if mc else "",
                            "trials": cfg.trials if mc else "",
                        }
                    )


def _curves(cfg: Config) -> list[tuple[str, str, float, int]]:
    """Every (regime, phi, rho, T) curve of the experiment."""
    return [
        (regime, phi, rho, T)
        for regime in cfg.regimes
        for phi in cfg.phi
        for rho in cfg.rho
        for T in cfg.tasks
    ]


def _peak(curve: tuple[str, str, float, int], mc: list[Row], th: list[Row]) -> Row:
    regime, phi, rho, T = curve
    i = int(np.argmax([r["mse"] for r in mc]))
    j = int(np.argmax([r["mse"] for r in th]))
    return {
        "regime": regime,
        "phi": phi,
        "rho": rho,
        "T": T,
        "measured_peak_alpha": mc[i]["alpha"],
        "measured_peak_mse": mc[i]["mse"],
        "measured_peak_mse_se": mc[i]["mse_se"],
        "theory_peak_alpha": th[j]["alpha"],
        # ridgeless theory diverges at its peak: only the 'both_small' height is finite
        "theory_peak_mse": th[j]["mse"] if regime == "both_small" else math.inf,
        "expected_peak_alpha": _singular(regime, T),
    }


def _discrepancy(rows: list[Row]) -> Row:
    """Theory vs Monte Carlo over the given points (both errors, relative and in SEs)."""
    rel, z = [], []
    for r in rows:
        for m in ("mse", "cls"):
            if r[m] is not None:
                gap = abs(r[m] - r[f"theory_{m}"])
                rel.append(gap / r[f"theory_{m}"])
                z.append(gap / max(r[f"{m}_se"], 1e-300))
    if not rel:
        return {"points": 0}
    ok = [(a <= 0.03) or (b <= 2.0) for a, b in zip(rel, z)]
    return {
        "max_relative_discrepancy": max(rel),
        "median_relative_discrepancy": float(np.median(rel)),
        "max_abs_z": max(z),
        "fraction_within_3pct_or_2se": float(np.mean(ok)),
        "points": len(rel),
    }


def _summaries(cfg: Config, mc_rows: list[Row], th_rows: list[Row]) -> Row:
    peaks = [_peak(c, _select(mc_rows, *c), _select(th_rows, *c)) for c in _curves(cfg)]
    discrepancy = {}
    for margin in (0.1, 0.25):
        far: dict[str, list[Row]] = {regime: [] for regime in cfg.regimes}
        for r in mc_rows:
            singular = _singular(r["regime"], r["T"])
            if abs(r["alpha"] - singular) > margin * singular:
                far[r["regime"]].append(r)
        discrepancy[margin] = {k: _discrepancy(v) for k, v in far.items()}
    return {"peaks": peaks, "discrepancy": discrepancy[0.1], "discrepancy_far": discrepancy[0.25]}


def _peak_summary(peaks: list[Row]) -> dict[str, dict[str, Row]]:
    """Measured peak n/d and height against T, per regime and (phi, rho)."""
    out: dict[str, dict[str, Row]] = {}
    for p in peaks:
        entry = out.setdefault(p["regime"], {}).setdefault(
            f"{p['phi']}, rho={p['rho']}", {"T": [], "peak_alpha": [], "peak_mse": []}
        )
        entry["T"].append(p["T"])
        entry["peak_alpha"].append(p["measured_peak_alpha"])
        entry["peak_mse"].append(p["measured_peak_mse"])
    return out


def _plot(out: Path, cfg: Config, mc_rows: list[Row], th_rows: list[Row]) -> list[str]:
    """Top: error against n/d, theory lines and Monte-Carlo points; bottom: the relative
    discrepancy of each Monte-Carlo point from theory, in standard errors."""
    files: list[str] = []
    colors = _style.colors(len(cfg.tasks))
    for regime, phi in ((r, p) for r in cfg.regimes for p in cfg.phi):
        for metric in ("mse", "cls") if phi == "sign" else ("mse",):
            with _style.context():
                fig, axes = _style.subplots(
                    2, len(cfg.rho), width=max(3.6 * len(cfg.rho), 4.8), sharex=True,
                    gridspec_kw={"height_ratios": [2.2, 1.0]},
                )  # fmt: skip
                for col, rho in enumerate(cfg.rho):
                    top, bottom = axes[0, col], axes[1, col]
                    for i, (color, T) in enumerate(zip(colors, cfg.tasks)):
                        mc = _select(mc_rows, regime, phi, rho, T)
                        th = _select(th_rows, regime, phi, rho, T)
                        a_mc = np.array([r["alpha"] for r in mc])
                        y_mc = np.array([r[metric] for r in mc], dtype=float)
                        e_mc = np.array([r[f"{metric}_se"] for r in mc], dtype=float)
                        t_mc = np.array([r[f"theory_{metric}"] for r in mc], dtype=float)
                        a_th = np.array([r["alpha"] for r in th])
                        y_th = np.array([r[metric] for r in th], dtype=float)
                        top.plot(a_th, y_th, color=color, lw=1.1, label=f"T = {T}: theory")
                        top.errorbar(
                            a_mc, y_mc, yerr=e_mc, fmt=_style.marker(i), ms=3, color=color,
                            capsize=1.5, label=f"T = {T}: Monte Carlo",
                        )  # fmt: skip
                        with np.errstate(divide="ignore", invalid="ignore"):
                            z = (y_mc - t_mc) / np.where(e_mc > 0, e_mc, np.nan)
                        bottom.plot(a_mc, z, _style.marker(i), ms=3, color=color)
                        top.axvline(_singular(regime, T), color=color, ls=":", lw=0.8)
                    bottom.axhspan(-2, 2, color="0.85", lw=0, zorder=0)
                    bottom.axhline(0, color="black", lw=0.6)
                    top.set_xscale("log")
                    if metric == "mse":
                        top.set_yscale("log")
                    ylabel = "test MSE" if metric == "mse" else "classification error"
                    _style.label(
                        top, "", ylabel, yunit="label units$^2$" if metric == "mse" else None,
                        title=f"rho = {rho}",
                    )  # fmt: skip
                    top.set_xlabel("n / d (samples per task / dimension)")
                    _style.label(
                        bottom, "n / d (samples per task / dimension)",
                        "(MC - theory) / s.e.",
                    )  # fmt: skip
                    _style.plain_ticks(top)
                    _style.plain_ticks(bottom, "x")
                _style.legend_outside(fig, axes)
                _style.note(
                    fig,
                    f"{_LABELS[regime]}, link {phi}, d = {cfg.d}, {cfg.trials} trials per point. "
                    "Dotted verticals: where theory puts the peak (n/d = 1/T when lambda_0 -> 0, "
                    "else 1). Bottom: grey band = within 2 standard errors of theory.",
                )
                kind = "mse" if metric == "mse" else "classification"
                stem = f"double_descent_{regime}_{phi}_{kind}"
                files += [p.name for p in _style.save(fig, out, stem)]
    return files


def run(
    out: str | Path,
    *,
    quick: bool = False,
    d: int | None = None,
    trials: int | None = None,
    tasks: list[int] | None = None,
    rho: list[float] | None = None,
    phi: list[str] | None = None,
    regimes: list[str] | None = None,
    points: int | None = None,
    theory_points: int | None = None,
    lam_task: float = 1.0,
    lam_small: float = 0.01,
    seed: int | None = 0,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run the experiment into ``out``; return the metrics written to ``metrics.json``."""
    cfg = _config(
        quick,
        d=d,
        trials=trials,
        tasks=tasks,
        rho=rho,
        phi=phi,
        regimes=regimes,
        points=points,
        theory_points=theory_points,
        lam_task=lam_task,
        lam_small=lam_small,
        seed=seed,
        jobs=jobs,
    )
    path = prepare_out(out)
    t0 = time.perf_counter()
    mc_rows, th_rows = _simulate(cfg)
    _write_tables(path, cfg, mc_rows, th_rows)
    summary = _summaries(cfg, mc_rows, th_rows)
    with (path / "peaks.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(summary["peaks"][0]))
        writer.writeheader()
        writer.writerows(summary["peaks"])
    figures = _plot(path, cfg, mc_rows, th_rows)
    rel = [v.get("max_relative_discrepancy") for v in summary["discrepancy"].values()]
    metrics = {
        "config": cfg.__dict__,
        "peak_summary": _peak_summary(summary["peaks"]),
        "peaks": summary["peaks"],
        "theory_vs_mc": summary["discrepancy"],
        "theory_vs_mc_beyond_25pct_of_singular": summary["discrepancy_far"],
        "max_relative_discrepancy_excluding_singular": max(
            (r for r in rel if r is not None), default=math.nan
        ),
        "runtime_s": time.perf_counter() - t0,
        "figures": figures,
        "tables": ["errors.csv", "peaks.csv"],
    }
    write_json(path / "metrics.json", metrics)
    return metrics
