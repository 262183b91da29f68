"""Paper Fig. 4: single-task interpolants vary, multi-task interpolants are f_D.

Five points x = (-1.5, -1, 0, 0.2, 2), y = (0.7, -0.5, -0.5, 0.5, 0.2). Their slope
changes at x = -1 and x = 0 have the same sign (aligned), so the single-task
minimum-norm interpolant is not unique: its ambiguity band is wide on (-1, 0).
Adding Gaussian auxiliary tasks makes the solution unique (Theorem 3.1) unless the
draw happens to be nearly aligned, which the experiment measures and reports.

Several random initialisations of weight-decay training (lam small, near
interpolation) are run on the single task and on the multi-task data; the figure
shows output 1 of every run over f_D and the band, and ``metrics.json`` says how
far each run is from f_D, how far it leaves the band, its norm against R*, and how
much the runs of each group disagree. Training is gradient-based (``method=
"continuation"`` by default, or the papers' ``"adam"``): the point is which of the
many minimisers training from random initialisations lands on. ``mtlreg.train``'s
default for 1-D data is the exact global optimum instead, the same for every seed;
each group reports that certified optimum (``exact_objective``) and every run its
excess over it.

Convergence is reported honestly: a run is flagged (``flagged = True``) unless the
trainer's stopping test passed or its objective is within ``NEAR_OPTIMAL`` (relative)
of the certified global optimum, a verified statement on the original problem;
``rel_change`` is its stationarity measure (relative objective decrease over the
last tenth of the steps).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtlreg import _style
from mtlreg._io import prepare_out, write_json
from mtlreg._validation import check_choice, check_int, check_number, check_seed
from mtlreg.experiments._report import network_counts, progress, stationarity
from mtlreg.metrics import restart_spread
from mtlreg.model import ShallowReLUNet
from mtlreg.tasks import aux_tasks
from mtlreg.training import TrainResult, train
from mtlreg.univariate import (
    ambiguity_band,
    connect_the_dots,
    is_unique,
    weight_decay_optimum,
)

NAME = "univariate"
HELP = "paper Fig. 4: single- vs multi-task interpolation of 5 points, with the ambiguity band"

#: The paper's dataset.
X_DATA: tuple[float, ...] = (-1.5, -1.0, 0.0, 0.2, 2.0)
Y_DATA: tuple[float, ...] = (0.7, -0.5, -0.5, 0.5, 0.2)

DEFAULTS: dict[str, Any] = {
    "seeds": 5,
    "n_aux": 1,
    "aux_scale": 1.0,
    "aux_seed": 0,
    "width": 10,
    "lam": 1e-5,
    "method": "continuation",
    "max_steps": None,
    "rtol": 1e-7,
}
#: What ``--quick`` changes (unless the option is given explicitly).
QUICK: dict[str, Any] = {"seeds": 2}
GROUPS: tuple[str, ...] = ("single", "multi")
#: A run within this relative excess of the certified global optimum counts as converged.
NEAR_OPTIMAL = 1e-4

#: Claim tested by each figure (``results/README.md``).
FIGURE_CLAIMS: dict[str, str] = {
    "univariate": (
        "Single-task weight-decay training from different seeds lands on different "
        "minimum-norm interpolants (anywhere in the ambiguity band); with auxiliary tasks, "
        "output 1 of every run is the connect-the-dots interpolant f_D (Theorem 3.1)."
    ),
}

#: Meaning and units of every CSV column (``results/README.md``).
CSV_COLUMNS: dict[str, dict[str, str]] = {
    "runs.csv": {
        "group": "`single` (task 1 alone) or `multi` (task 1 plus Gaussian auxiliary tasks)",
        "seed": "seed of the network initialisation",
        "n_tasks": "number of outputs T",
        "max_dev_from_fD": "sup over [x_1, x_N] of |f_1 - f_D| (label units)",
        "max_outside_band": "largest distance of f_1 above or below the ambiguity band "
        "on [x_1, x_N] (label units; 0 inside)",
        "vv_norm_task1": "VV norm sum_k |w_k| |v_k1| of output 1 (label units / input units)",
        "r_star_task1": "minimum interpolation norm R* of task 1 alone (same units)",
        "vv_ratio_task1": "vv_norm_task1 / r_star_task1 (unitless; >= 1 for interpolants)",
        "vv_norm": "VV norm of the whole network, all outputs (label / input units)",
        "r_star": "minimum interpolation norm of all T tasks (label / input units)",
        "objective": "training objective (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty "
        "(label units squared)",
        "fit": "data term (1/N) sum_i ||y_i - f(x_i)||^2 (label units squared)",
        "penalty": "weight decay 1/2 sum_k (||w_k||^2 + ||v_k||^2) (label / input units)",
        "converged": "whether the trainer's stopping test passed",
        "steps": "optimiser steps taken",
        "seconds": "training wall-clock time (s)",
        "objective_excess": "objective minus the certified global optimum (label units squared)",
        "relative_excess": "objective_excess / certified optimum (unitless)",
        "rel_change": "stationarity: relative objective decrease over the last 10% of the "
        "steps (unitless)",
        "flagged": "True when neither converged nor within 1e-4 (relative) of the certified "
        "optimum",
    },
    "band.csv": {
        "group": "`single` or `multi`",
        "x": "input (input units)",
        "f_D": "connect-the-dots interpolant of task 1 (label units)",
        "lower": "lowest output 1 of any interpolant with norm <= (1 + rtol) R* (label units)",
        "upper": "highest such output 1 (label units)",
        "width": "upper - lower (label units)",
    },
}


def verdicts(metrics: dict[str, Any]) -> dict[str, str]:
    """The measured verdict of each figure, from ``metrics.json``."""
    groups = metrics["groups"]
    multi = [r for r in metrics["runs"] if r["group"] == "multi"]
    worst = max(r["max_dev_from_fD"] for r in multi)
    return {
        "univariate": (
            f"single task: runs differ by up to {groups['single']['spread_max_pairwise']:.3g} "
            f"(band up to {groups['single']['band_max_width']:.3g} wide); multi-task: runs "
            f"differ by {groups['multi']['spread_max_pairwise']:.3g} and stay within "
            f"{worst:.3g} of f_D (band {groups['multi']['band_max_width']:.3g} wide)"
        ),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The experiment's own options (``--out`` and ``--quick`` are added by the CLI)."""
    parser.add_argument(
        "--seeds", type=int, default=None, help="random initialisations per group (5; quick: 2)"
    )
    parser.add_argument("--n-aux", type=int, default=1, help="Gaussian auxiliary tasks (1)")
    parser.add_argument("--aux-scale", type=float, default=1.0, help="their std (1.0)")
    parser.add_argument("--aux-seed", type=int, default=0, help="seed of the auxiliary labels (0)")
    parser.add_argument("--width", type=int, default=10, help="hidden neurons (10, as the paper)")
    parser.add_argument("--lam", type=float, default=1e-5, help="weight decay strength (1e-5)")
    parser.add_argument(
        "--method",
        default="continuation",
        help="gradient trainer: 'continuation' (default) or 'adam' (the papers' recipe)",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="training step budget (default: the trainer's)",
    )
    parser.add_argument(
        "--rtol", type=float, default=1e-7, help="norm slack of the ambiguity band (1e-7)"
    )


def run(out: str | Path, *, quick: bool = False, **options: Any) -> dict[str, Any]:
    """Train, compare with f_D and the ambiguity band, write figure, CSVs and metrics."""
    cfg = _config(quick, options)
    out_dir = prepare_out(out)
    x = np.asarray(X_DATA)
    y = np.asarray(Y_DATA)
    data = {
        "single": y[:, None],
        "multi": aux_tasks(y, cfg["n_aux"], scale=cfg["aux_scale"], seed=cfg["aux_seed"]),
    }
    grid = np.union1d(np.linspace(x[0] - 0.25, x[-1] + 0.25, 451), np.append(x, -0.5))
    inside = (grid >= x[0]) & (grid <= x[-1])

    theory: dict[str, Any] = {}
    bands = {}
    for group, Y in progress(data.items(), desc=f"{NAME}: exact solutions", total=len(data)):
        t0 = time.perf_counter()
        bands[group] = ambiguity_band(x, Y, grid, task=0, rtol=cfg["rtol"])
        band_seconds = time.perf_counter() - t0
        rep = is_unique(x, Y)
        band = bands[group]
        exact = weight_decay_optimum(x, Y, cfg["lam"])
        theory[group] = {
            "n_tasks": int(Y.shape[1]),
            "exact_objective": exact.objective,
            "exact_relative_gap": exact.relative_gap,
            "r_star": connect_the_dots(x, Y).norm(),
            "r_star_task1": connect_the_dots(x, y).norm(),
            "unique": rep.unique,
            "slope_change_cosines": rep.cosines,
            "max_cosine": rep.max_cosine,
            "uniqueness_margin": rep.margin,
            "band_max_width": float(band.width[inside].max()),
            "band_max_width_outside_-1_0": float(
                band.width[inside & ((grid <= -1) | (grid >= 0))].max()
            ),
            "band_at_-0.5": _band_at(band, grid, -0.5),
            "band_seconds": band_seconds,
        }

    runs: list[dict[str, Any]] = []
    nets: dict[str, list[ShallowReLUNet]] = {g: [] for g in GROUPS}
    jobs = [(g, seed) for g in GROUPS for seed in range(cfg["seeds"])]
    for group, seed in progress(jobs, desc=f"{NAME}: training", unit="net"):
        Y = data[group]
        f_d = connect_the_dots(x, Y)
        result = train(
            x,
            Y,
            width=cfg["width"],
            lam=cfg["lam"],
            seed=seed,
            method=cfg["method"],
            max_steps=cfg["max_steps"],
            progress=False,
        )
        nets[group].append(result.net)
        row = _run_metrics(group, seed, result, f_d, bands[group], x, grid)
        excess = result.objective - theory[group]["exact_objective"]
        row["objective_excess"] = excess
        row["relative_excess"] = excess / abs(theory[group]["exact_objective"])
        row["rel_change"] = stationarity(result)
        row["flagged"] = not row["converged"] and not row["relative_excess"] <= NEAR_OPTIMAL
        runs.append(row)
    spread = {g: _spread(nets[g], grid[inside]) for g in GROUPS}
    for g in GROUPS:
        theory[g]["spread_max_pairwise"] = spread[g]

    _write_tables(out_dir, runs, bands, grid)
    _figure(out_dir, x, y, grid, bands, nets, data, theory, cfg)
    metrics: dict[str, Any] = {
        "experiment": NAME,
        "config": cfg,
        "data": {"x": x, "y": y, "Y_multi": data["multi"]},
        "loss_convention": "(1/N) sum_i ||y_i - f(x_i)||^2 + lam * WD, summed over tasks",
        "groups": theory,
        "runs": runs,
        "networks": network_counts(
            runs,
            certified=len(GROUPS),
            measure="rel_change (relative objective decrease over the last 10% of steps); "
            f"runs within {NEAR_OPTIMAL:g} of the certified optimum count as converged",
        ),
    }
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def _config(quick: bool, options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"Unknown option(s) for experiment {NAME!r}: {', '.join(unknown)}.")
    cfg = dict(DEFAULTS)
    if quick:
        cfg.update(QUICK)
    cfg.update({k: v for k, v in options.items() if v is not None})
    cfg["seeds"] = check_int(cfg["seeds"], "seeds", low=2)
    cfg["n_aux"] = check_int(cfg["n_aux"], "n_aux", low=1)
    cfg["aux_scale"] = check_number(cfg["aux_scale"], "aux_scale", low=0.0, low_inclusive=False)
    cfg["aux_seed"] = check_seed(cfg["aux_seed"], "aux_seed")
    cfg["width"] = check_int(cfg["width"], "width", low=1)
    cfg["lam"] = check_number(cfg["lam"], "lam", low=0.0)
    cfg["method"] = check_choice(cfg["method"], "method", ("continuation", "adam"))
    if cfg["max_steps"] is not None:
        cfg["max_steps"] = check_int(cfg["max_steps"], "max_steps", low=1)
    cfg["rtol"] = check_number(cfg["rtol"], "rtol", low=0.0, low_inclusive=False)
    cfg["quick"] = quick
    return cfg


def _band_at(band: Any, grid: NDArray[np.float64], point: float) -> list[float] | None:
    hit = np.flatnonzero(np.isclose(grid, point, rtol=0.0, atol=1e-12))
    if hit.size == 0:
        return None
    return [float(band.lower[hit[0]]), float(band.upper[hit[0]])]


def _output1(net: ShallowReLUNet, points: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(net.predict(points[:, None]), dtype=np.float64)[:, 0]


def _kinks(net: ShallowReLUNet, lo: float, hi: float) -> NDArray[np.float64]:
    w = net.w.detach().cpu().double().numpy()[:, 0]
    b = net.b.detach().cpu().double().numpy()
    nz = w != 0
    with np.errstate(over="ignore"):  # a tiny w puts its kink far away: dropped below
        kinks = -b[nz] / w[nz]
    return np.asarray(kinks[(kinks > lo) & (kinks < hi)], dtype=np.float64)


def _run_metrics(
    group: str,
    seed: int,
    result: TrainResult,
    f_d: Any,
    band: Any,
    x: NDArray[np.float64],
    grid: NDArray[np.float64],
) -> dict[str, Any]:
    net = result.net
    # f_1 - f_D is piecewise linear with kinks at the data and the network's kinks:
    # its maximum over [x_1, x_N] is attained at one of them (plus the grid).
    pts = np.union1d(
        np.union1d(x, _kinks(net, x[0], x[-1])), grid[(grid >= x[0]) & (grid <= x[-1])]
    )
    dev = float(np.max(np.abs(_output1(net, pts) - f_d(pts)[:, 0])))
    values = _output1(net, grid)
    inside = (grid >= x[0]) & (grid <= x[-1])
    outside_band = np.maximum(band.lower - values, values - band.upper)
    r_star_1 = float(np.abs(f_d.slope_changes[:, 0]).sum())
    vv1 = float(net.vv_norm(task=0).item())
    return {
        "group": group,
        "seed": seed,
        "n_tasks": int(f_d.n_tasks),
        "max_dev_from_fD": dev,
        "max_outside_band": float(max(outside_band[inside].max(), 0.0)),
        "vv_norm_task1": vv1,
        "r_star_task1": r_star_1,
        "vv_ratio_task1": vv1 / r_star_1 if r_star_1 > 0 else float("nan"),
        "vv_norm": float(net.vv_norm().item()),
        "r_star": float(f_d.norm()),
        "objective": result.objective,
        "fit": result.fit,
        "penalty": result.penalty,
        "converged": bool(result.converged),
        "steps": int(result.steps),
        "seconds": float(result.seconds),
    }


def _spread(nets: list[ShallowReLUNet], points: NDArray[np.float64]) -> float:
    """Largest sup-distance between output 1 of two runs on ``points`` (0 for one run)."""
    return restart_spread(nets, points, task=0).max_pairwise if len(nets) > 1 else 0.0


def _write_tables(
    out: Path, runs: list[dict[str, Any]], bands: dict[str, Any], grid: NDArray[np.float64]
) -> None:
    import pandas as pd

    pd.DataFrame(runs).to_csv(out / "runs.csv", index=False)
    rows = [
        pd.DataFrame(
            {
                "group": g,
                "x": grid,
                "f_D": bands[g].reference,
                "lower": bands[g].lower,
                "upper": bands[g].upper,
                "width": bands[g].width,
            }
        )
        for g in GROUPS
    ]
    pd.concat(rows, ignore_index=True).to_csv(out / "band.csv", index=False)


def _figure(
    out: Path,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    grid: NDArray[np.float64],
    bands: dict[str, Any],
    nets: dict[str, list[ShallowReLUNet]],
    data: dict[str, NDArray[np.float64]],
    theory: dict[str, Any],
    cfg: dict[str, Any],
) -> Any:
    """Output 1 of every run over the band and f_D: single task (left), multi-task (right)."""
    with _style.context():
        fig, axes = _style.subplots(1, 2, sharey=True, panel_height=2.8)
        for ax, group in zip(axes[0], GROUPS, strict=True):
            band = bands[group]
            t = theory[group]
            ax.fill_between(
                grid, band.lower, band.upper, color="0.75", alpha=0.6, lw=0,
                label=f"ambiguity band (norm <= (1 + {cfg['rtol']:g}) R*)",
            )  # fmt: skip
            ax.plot(grid, band.reference, color="black", ls="--", lw=1.0, label="$f_D$")
            for i, net in enumerate(nets[group]):
                ax.plot(
                    grid, _output1(net, grid), color=_style.color((0, 2, 3, 4, 5)[i % 5]), lw=1.2,
                    label=f"network, seed {i}",
                )  # fmt: skip
            ax.plot(x, y, "o", color="black", mec="white", ms=5, zorder=5, label="data (task 1)")
            verdict = "unique" if t["unique"] else "not unique"
            title = "single task" if group == "single" else f"T = {t['n_tasks']} tasks, output 1"
            ax.set_title(f"{title}\nmax cos = {t['max_cosine']:.3f} ({verdict})")
            _style.label(ax, "input x", "output 1, $f_1(x)$")
        _style.legend_outside(fig, axes)
        _style.note(
            fig,
            f"Width {cfg['width']}, lam = {cfg['lam']:g}, {cfg['method']} training. "
            "max cos: largest cosine between the slope changes of f_D at consecutive interior "
            "data points (all tasks); 1 = aligned, the minimum-norm interpolant is not unique "
            "(Theorem 3.1). Band: output 1 of every interpolant of norm <= (1 + rtol) R*.",
        )
        _style.save(fig, out, "univariate")
    return fig


__all__ = ["DEFAULTS", "HELP", "NAME", "QUICK", "X_DATA", "Y_DATA", "add_arguments", "run"]
