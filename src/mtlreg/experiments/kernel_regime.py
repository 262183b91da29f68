"""Paper Sec. 4 / Fig. 5: with many tasks, each output is kernel ridge regression.

For each dataset, number of tasks T and seed, a network is trained on task 1 plus
T - 1 random auxiliary tasks (sum-over-tasks objective, docs/theory.md §1); its task-1
output is then compared with the RKHS problem over the network's own neurons
(:mod:`mtlreg.kernel`): the max and RMS distance on test points, the measured gap
between the RKHS and exact subproblem optima against the bound
(lam/8) sum_k v_k^4 / c_k^3, and the spread of the kernel weights across tasks.
The distance splits into two parts (triangle inequality): ``exact_max_distance``
(network vs the exact subproblem over its own neurons: unfinished training, zero for a
network at a stationary point) and ``kernel_max_distance`` (RKHS vs exact solution:
the kernel approximation itself, which the theory says vanishes as T grows).

Datasets (our choices where the paper is silent):

- ``two_squares``: inputs (+-1, +-1) label 1 and (+-2, +-2) label 0, no skip
  connection, Bernoulli(1/2) auxiliary labels (paper Fig. 5); test points: a 41 x 41
  grid on [-2, 2]^2.
- ``random``: N = 20 inputs N(0, I_3), labels N(0, 1) (data seed 0), skip connection,
  Gaussian N(0, 1) auxiliary labels (the poster); test points: 2000 fresh N(0, I_3)
  draws.

lam (sum convention) is 1e-2 by default, chosen so that training converges in the
budget: the directions of task 1's output weights that the data do not pin down have
curvature only lam / c_k (c_k ~ ||V_k|| grows with T), so off the data a network at
T = 101 approaches its own optimum slowly; at lam = 1e-2 and 10000 steps it is within
~1e-2 (two squares) on the test points. ``--full`` uses the paper's lam = 1e-3 and
width 64 with a 40000-step budget. Presets: ``--quick`` (smoke run,
T in {2, 11, 101}, one seed), default (the issue's grid, 3 seeds), ``--full`` (the paper's width
64 for two squares, lam 1e-3, both auxiliary distributions on both datasets, 5 seeds).
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtlreg import _style
from mtlreg._io import prepare_out, write_json
from mtlreg._validation import check_choice, check_int, check_number
from mtlreg.experiments._report import network_counts, progress, stationarity
from mtlreg.kernel import kernel_diagnostics
from mtlreg.tasks import aux_tasks
from mtlreg.training import train

NAME = "kernel-regime"
HELP = "Paper Sec. 4: many tasks make each output kernel ridge regression (two squares, random)."

DATASETS: tuple[str, ...] = ("two_squares", "random")
AUX_MODES: tuple[str, ...] = ("paper", "bernoulli", "gaussian", "both")
PAPER_AUX: dict[str, str] = {"two_squares": "bernoulli", "random": "gaussian"}
COLUMNS: tuple[str, ...] = (
    "dataset", "aux", "T", "seed", "width", "lam", "n_neurons", "rkhs_max_distance",
    "rkhs_rms_distance", "exact_max_distance", "exact_rms_distance", "kernel_max_distance",
    "gap", "gap_bound",
    "gap_lower", "rkhs_gap_bound", "bound_holds", "weight_spread", "network_suboptimality",
    "rkhs_objective", "exact_objective", "train_objective", "train_fit", "converged",
    "rel_change", "flagged", "steps", "seconds", "certified_objective",
    "certified_relative_gap", "relative_gap_to_certified", "certified_rkhs_max_distance",
)  # fmt: skip

FIGURE_CLAIMS: dict[str, str] = {
    "kernel_regime_convergence": (
        "As the number of tasks T grows, output 1 of a trained network approaches the "
        "kernel ridge regression (RKHS) solution over the network's own neurons, and the "
        "kernel weights become common to all tasks (docs/theory.md §5)."
    ),
    "kernel_regime_two_squares": (
        "On two squares the network's output 1 and the RKHS solution differ visibly at "
        "small T and coincide at large T."
    ),
}

_RUN_COLUMNS: dict[str, str] = {
    "dataset": "`two_squares` (8 points in 2-D, no skip) or `random` (N = 20, d = 3, skip)",
    "aux": "distribution of the auxiliary labels (`bernoulli` or `gaussian`)",
    "T": "number of tasks (task 1 plus T - 1 auxiliary tasks)",
    "seed": "seed of the initialisation and of the auxiliary labels",
    "width": "hidden neurons",
    "lam": "weight decay strength lam (sum-over-tasks objective)",
    "n_neurons": "active neurons after pruning",
    "rkhs_max_distance": "max over test points of |f_1 - RKHS solution| (label units)",
    "rkhs_rms_distance": "RMS over test points of f_1 - RKHS solution (label units)",
    "exact_max_distance": "max over test points of |f_1 - exact subproblem solution| "
    "(label units; training error, 0 at a stationary point)",
    "exact_rms_distance": "RMS of f_1 - exact subproblem solution (label units)",
    "kernel_max_distance": "max over test points of |RKHS - exact subproblem solution| "
    "(label units; the kernel approximation alone)",
    "gap": "RKHS objective minus exact subproblem objective (label units squared)",
    "gap_bound": "upper bound (lam/8) sum_k v_k^4 / c_k^3 on gap (label units squared)",
    "gap_lower": "lower bound on gap (label units squared)",
    "rkhs_gap_bound": "the bound evaluated at the RKHS solution (label units squared)",
    "bound_holds": "gap_lower <= gap <= gap_bound (up to rounding)",
    "weight_spread": "mean over neurons of std_s(c_ks) / mean_s(c_ks): how much the kernel "
    "weights differ across tasks (unitless; 0: one kernel for all)",
    "network_suboptimality": "exact subproblem objective at the network's own output "
    "weights minus its optimum (label units squared)",
    "rkhs_objective": "optimal value of the RKHS problem (label units squared)",
    "exact_objective": "optimal value of the exact subproblem (label units squared)",
    "train_objective": "training objective of the network, all tasks (label units squared)",
    "train_fit": "data term of the training objective (label units squared)",
    "converged": "whether the trainer's stopping test passed",
    "rel_change": "stationarity: relative objective decrease over the last 10% of the "
    "steps (unitless)",
    "flagged": "True when the network did not converge",
    "steps": "optimiser steps",
    "seconds": "training wall-clock time (s)",
    "certified_objective": "certified global optimum of the same multi-task problem "
    "(mtlreg.convex.solve; d in --certified-dims, default d <= 2, and certified only; "
    "empty otherwise; label units squared)",
    "certified_relative_gap": "the solver's certified relative duality gap (unitless; also "
    "filled when the solve stopped uncertified, then the other certified columns are empty)",
    "relative_gap_to_certified": "(train_objective - certified_objective) / "
    "certified_objective: how far the trained network is from the optimum (unitless)",
    "certified_rkhs_max_distance": "max over test points of |output 1 of the certified "
    "optimum - RKHS solution over its own neurons| (label units)",
}
_SUMMARY_COLUMNS: dict[str, str] = {
    "dataset": _RUN_COLUMNS["dataset"],
    "aux": _RUN_COLUMNS["aux"],
    "T": _RUN_COLUMNS["T"],
    "n_seeds": "networks (seeds) summarised in the row",
    "all_bounds_hold": "the gap bounds hold for every seed",
}
for _field in (
    "rkhs_max_distance", "rkhs_rms_distance", "exact_max_distance", "kernel_max_distance",
    "gap", "gap_bound", "weight_spread", "certified_rkhs_max_distance",
    "relative_gap_to_certified",
):  # fmt: skip
    for _stat in ("median", "min", "max"):
        _SUMMARY_COLUMNS[f"{_stat}_{_field}"] = f"{_stat} over seeds of `{_field}` (same units)"

CSV_COLUMNS: dict[str, dict[str, str]] = {
    "kernel_regime_runs.csv": _RUN_COLUMNS,
    "kernel_regime_summary.csv": _SUMMARY_COLUMNS,
}


def fitted_rate(T: Any, distance: Any) -> float:
    """Slope of log(distance) against log(T) by least squares (``nan`` with < 2 points)."""
    t = np.asarray(T, dtype=float)
    d = np.asarray(distance, dtype=float)
    ok = (t > 0) & (d > 0) & np.isfinite(d)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(t[ok]), np.log(d[ok]), 1)[0])


def verdicts(metrics: dict[str, Any]) -> dict[str, str]:
    """Measured verdict of each figure."""
    parts = []
    for dataset in DATASETS:
        m = metrics.get(dataset)
        if not m:
            continue
        parts.append(
            f"{dataset}: median distance {m['median_rkhs_distance'][0]:.3g} at T = {m['T'][0]} "
            f"-> {m['median_rkhs_distance'][-1]:.3g} at T = {m['T'][-1]}, fitted rate "
            f"T^{m['fitted_rate']:.2f}"
        )
    text = "; ".join(parts)
    return {"kernel_regime_convergence": text, "kernel_regime_two_squares": text}


@dataclass(frozen=True)
class KernelRegimeConfig:
    """The grid and the training recipe (defaults: the issue's grid).

    ``certified_dims``: input dimensions whose problems are also solved to their
    certified optimum (only those in :data:`mtlreg.convex.EXACT_DIMS` can be). The
    default is d <= 2 (two squares: about a second per problem). The d = 3 ``random``
    data set can be added (``--certified-dims 1,2,3``) at 1.0 / 5.9 / 14 s CPU per
    problem for T = 2 / 11 / 101 at lam = 1e-2 (measured, one thread).
    """

    tasks: tuple[int, ...] = (2, 5, 11, 26, 51, 101)
    seeds: tuple[int, ...] = (0, 1, 2)
    datasets: tuple[str, ...] = DATASETS
    aux: str = "paper"
    width_squares: int = 32
    width_random: int = 32
    lam: float = 1e-2
    max_steps: int = 10000
    n_test: int = 2000
    certified_dims: tuple[int, ...] = (1, 2)


QUICK = KernelRegimeConfig(tasks=(2, 11, 101), seeds=(0,), max_steps=8000)
FULL = KernelRegimeConfig(
    seeds=(0, 1, 2, 3, 4), aux="both", width_squares=64, width_random=64, lam=1e-3,
    max_steps=40000,
)  # fmt: skip


def two_squares() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The paper's 2-D data: (+-1, +-1) with label 1 and (+-2, +-2) with label 0."""
    corners = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    X = np.vstack([corners, 2.0 * corners])
    return X, np.r_[np.ones(4), np.zeros(4)]


def random_data(
    n: int = 20, d: int = 3, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inputs N(0, I_d) and labels N(0, 1), from ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal(n)


def _grid(n: int = 41, half: float = 2.0) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    g = np.linspace(-half, half, n)
    gx, gy = np.meshgrid(g, g)
    return np.column_stack([gx.ravel(), gy.ravel()]), g


def _dataset(name: str, n_test: int) -> dict[str, Any]:
    if name == "two_squares":
        X, y = two_squares()
        return {"X": X, "y": y, "skip": False, "X_test": _grid()[0]}
    X, y = random_data()
    X_test = np.random.default_rng(12345).standard_normal((n_test, X.shape[1]))
    return {"X": X, "y": y, "skip": True, "X_test": X_test}


def _aux_list(cfg: KernelRegimeConfig, dataset: str) -> list[str]:
    if cfg.aux == "paper":
        return [PAPER_AUX[dataset]]
    if cfg.aux == "both":
        return ["bernoulli", "gaussian"]
    return [cfg.aux]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    ints = lambda s: tuple(int(v) for v in s.split(","))  # noqa: E731
    parser.add_argument("--full", action="store_true", help="the paper's scale (slow)")
    parser.add_argument("--tasks", type=ints, help="comma-separated numbers of tasks T")
    parser.add_argument("--seeds", type=ints, help="comma-separated seeds")
    parser.add_argument("--datasets", type=lambda s: tuple(s.split(",")), help="two_squares,random")
    parser.add_argument("--aux", choices=AUX_MODES, help="auxiliary label distribution(s)")
    parser.add_argument("--width-squares", type=int, help="hidden width on two squares")
    parser.add_argument("--width-random", type=int, help="hidden width on the random data")
    parser.add_argument("--lam", type=float, help="weight decay (sum-over-tasks convention)")
    parser.add_argument("--max-steps", type=int, help="training steps per network")
    parser.add_argument(
        "--certified-dims", type=ints,
        help="input dimensions also solved to the certified optimum (default 1,2; 3 is slower)",
    )  # fmt: skip


def _config(quick: bool, full: bool, options: dict[str, Any]) -> KernelRegimeConfig:
    if quick and full:
        raise ValueError("Parameters `quick` and `full` should not both be set.")
    cfg = QUICK if quick else FULL if full else KernelRegimeConfig()
    fields = {k: v for k, v in options.items() if v is not None and k in cfg.__dataclass_fields__}
    cfg = replace(cfg, **fields)
    check_choice(cfg.aux, "aux", AUX_MODES)
    for name in cfg.datasets:
        check_choice(name, "datasets", DATASETS)
    for t in cfg.tasks:
        check_int(t, "tasks", low=2)
    check_number(cfg.lam, "lam", low=0.0, low_inclusive=False)
    check_int(cfg.max_steps, "max_steps", low=1)
    check_int(cfg.width_squares, "width_squares", low=1)
    check_int(cfg.width_random, "width_random", low=1)
    for d in cfg.certified_dims:
        check_int(d, "certified_dims", low=1)
    return cfg


def run(out: str | Path, *, quick: bool = False, full: bool = False, **options: Any) -> dict:
    """Train the grid, measure the kernel regime, write CSVs, figures and metrics.json."""
    path = prepare_out(out)
    cfg = _config(quick, full, options)
    rows: list[dict[str, Any]] = []
    surfaces: dict[int, dict[str, NDArray[np.float64]]] = {}
    t_start, cpu_start = time.perf_counter(), time.process_time()
    csv_path = path / "kernel_regime_runs.csv"
    jobs = [
        (dataset, aux, n_tasks, seed)
        for dataset in cfg.datasets
        for aux in _aux_list(cfg, dataset)
        for n_tasks in cfg.tasks
        for seed in cfg.seeds
    ]
    datasets = {name: _dataset(name, cfg.n_test) for name in cfg.datasets}
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for dataset, aux, n_tasks, seed in progress(jobs, desc=f"{NAME}: training", unit="net"):
            data = datasets[dataset]
            width = cfg.width_squares if dataset == "two_squares" else cfg.width_random
            row, net_out = _one_run(data, dataset, aux, n_tasks, seed, width, cfg)
            rows.append(row)
            writer.writerow(row)
            fh.flush()
            if dataset == "two_squares" and aux == PAPER_AUX[dataset] and seed == cfg.seeds[0]:
                surfaces[n_tasks] = net_out
    summary = _summary(rows)
    _write_summary(path / "kernel_regime_summary.csv", summary)
    _plot_convergence(path, summary)
    if surfaces:
        _plot_surfaces(path, {t: surfaces[t] for t in (min(surfaces), max(surfaces))})
    metrics = _metrics(cfg, rows, summary)
    metrics["networks"] = network_counts(rows)
    metrics["seconds"] = time.perf_counter() - t_start
    metrics["cpu_seconds"] = time.process_time() - cpu_start
    write_json(path / "metrics.json", metrics)
    return metrics


def _one_run(
    data: dict[str, Any],
    dataset: str,
    aux: str,
    n_tasks: int,
    seed: int,
    width: int,
    cfg: KernelRegimeConfig,
) -> tuple[dict[str, Any], dict[str, NDArray[np.float64]]]:
    X, y = data["X"], data["y"]
    Y = aux_tasks(y, n_tasks - 1, dist=aux, seed=1000 * seed + n_tasks)
    # a trained network: method="auto" would return the certified optimum in d <= 3
    result = train(
        X, Y, width=width, lam=cfg.lam, skip=data["skip"], seed=seed,
        method="continuation", max_steps=cfg.max_steps, progress=False,
    )  # fmt: skip
    diag = kernel_diagnostics(result.net, X, Y, cfg.lam, data["X_test"], task=0)
    row: dict[str, Any] = {
        "dataset": dataset,
        "aux": aux,
        "T": n_tasks,
        "seed": seed,
        "width": width,
        "lam": cfg.lam,
        "train_objective": result.objective,
        "train_fit": result.fit,
        "converged": result.converged,
        "rel_change": stationarity(result),
        "flagged": not result.converged,
        "steps": result.steps,
        "seconds": result.seconds,
    }
    scalars = diag.as_dict()
    row.update({k: scalars[k] for k in COLUMNS if k in scalars})
    dims = cfg.certified_dims
    row.update(_certified(X, Y, cfg.lam, data["skip"], data["X_test"], result.objective, dims))
    surface: dict[str, NDArray[np.float64]] = {}
    if dataset == "two_squares":
        grid, _ = _grid(61, 2.5)
        surface = {
            "network": result.net.predict(grid)[:, 0],
            "rkhs": diag.rkhs.predict(grid),
        }
    return row, surface


def _certified(
    X: NDArray[np.float64],
    Y: NDArray[np.float64],
    lam: float,
    skip: bool,
    X_test: NDArray[np.float64],
    train_objective: float,
    dims: tuple[int, ...] = (1, 2),
) -> dict[str, float]:
    """The certified optimum of the same problem (d in ``dims``), its distance to its own
    RKHS solution, and how far the trained network's objective is from it.

    ``nan`` for other d (and where no exact oracle exists) and where the solve stopped
    uncertified (then only ``certified_relative_gap``, the gap it reached, is filled).
    """
    from mtlreg.convex import EXACT_DIMS, solve

    nan = float("nan")
    out = {k: nan for k in COLUMNS if k.startswith("certified") or k.endswith("_certified")}
    if X.shape[1] not in dims or X.shape[1] not in EXACT_DIMS:
        return out

    try:
        sol = solve(X, Y, lam, skip=skip, require_exact=True)
    except (ValueError, TypeError):  # no certified solver for this problem
        return out
    if not (np.isfinite(sol.gap) and sol.converged):  # not certified: no optimum to report
        return {**out, "certified_relative_gap": float(sol.relative_gap)}
    diag = kernel_diagnostics(sol.to_network(), X, Y, lam, X_test, task=0)
    return {
        "certified_objective": float(sol.objective),
        "certified_relative_gap": float(sol.relative_gap),
        "relative_gap_to_certified": (train_objective - sol.objective) / abs(sol.objective),
        "certified_rkhs_max_distance": float(diag.rkhs_max_distance),
    }


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = sorted({(r["dataset"], r["aux"], r["T"]) for r in rows})
    out = []
    for dataset, aux, n_tasks in keys:
        sel = [r for r in rows if (r["dataset"], r["aux"], r["T"]) == (dataset, aux, n_tasks)]
        entry: dict[str, Any] = {"dataset": dataset, "aux": aux, "T": n_tasks, "n_seeds": len(sel)}
        for field in (
            "rkhs_max_distance", "rkhs_rms_distance", "exact_max_distance",
            "kernel_max_distance", "gap",
            "gap_bound", "weight_spread", "certified_rkhs_max_distance",
            "relative_gap_to_certified",
        ):  # fmt: skip
            vals = np.array([r[field] for r in sel], dtype=float)
            if np.isnan(vals).all():
                entry.update({f"{stat}_{field}": float("nan") for stat in ("median", "min", "max")})
                continue
            entry[f"median_{field}"] = float(np.nanmedian(vals))
            entry[f"min_{field}"] = float(np.nanmin(vals))
            entry[f"max_{field}"] = float(np.nanmax(vals))
        entry["all_bounds_hold"] = all(bool(r["bound_holds"]) for r in sel)
        out.append(entry)
    return out


def _write_summary(path: Path, summary: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)


def _metrics(
    cfg: KernelRegimeConfig, rows: list[dict[str, Any]], summary: list[dict[str, Any]]
) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "config": asdict(cfg),
        "objective_convention": "(1/N) sum_i ||y_i - f(x_i)||^2 + lam * WD, sum over tasks",
        "distance": "max over test points of |f_1(x) - RKHS solution(x)|",
        "all_bounds_hold": all(bool(r["bound_holds"]) for r in rows),
        "n_runs": len(rows),
    }
    for dataset in cfg.datasets:
        by_aux: dict[str, Any] = {}
        for aux in _aux_list(cfg, dataset):
            sel = [s for s in summary if s["dataset"] == dataset and s["aux"] == aux]
            med = [s["median_rkhs_max_distance"] for s in sel]
            by_aux[aux] = {
                "T": [s["T"] for s in sel],
                "median_rkhs_distance": med,
                "median_rkhs_rms_distance": [s["median_rkhs_rms_distance"] for s in sel],
                "median_exact_distance": [s["median_exact_max_distance"] for s in sel],
                "median_kernel_distance": [s["median_kernel_max_distance"] for s in sel],
                "median_gap": [s["median_gap"] for s in sel],
                "median_gap_bound": [s["median_gap_bound"] for s in sel],
                "median_weight_spread": [s["median_weight_spread"] for s in sel],
                "ratio_last_to_first": med[-1] / med[0] if med and med[0] > 0 else None,
                "fitted_rate": fitted_rate([s["T"] for s in sel], med),
                "all_bounds_hold": all(s["all_bounds_hold"] for s in sel),
            }
        main = PAPER_AUX[dataset] if PAPER_AUX[dataset] in by_aux else next(iter(by_aux))
        metrics[dataset] = {"aux": main, **by_aux[main], "by_aux": by_aux}
    return metrics


def _plot_convergence(path: Path, summary: list[dict[str, Any]]) -> Any:
    """Distance to the RKHS solution against T (log-log, fitted rate) and its two parts."""
    panels = (
        ("rkhs_max_distance", "max |$f_1$ - RKHS solution|", "label units"),
        ("exact_max_distance", "max |$f_1$ - exact subproblem|\n(training error)", "label units"),
        ("kernel_max_distance", "max |RKHS - exact subproblem|\n(kernel approximation)",
         "label units"),
        ("weight_spread", "kernel-weight spread across tasks", None),
    )  # fmt: skip
    groups = sorted({(s["dataset"], s["aux"]) for s in summary})
    with _style.context():
        fig, axes = _style.subplots(1, len(panels), width=_style.PAGE_WIDTH * 1.25)
        for i, (dataset, aux) in enumerate(groups):
            sel = [s for s in summary if (s["dataset"], s["aux"]) == (dataset, aux)]
            T = np.array([s["T"] for s in sel], dtype=float)
            for ax, (field, _, _) in zip(axes[0], panels, strict=True):
                med = np.array([s[f"median_{field}"] for s in sel], dtype=float)
                lo = np.array([s[f"min_{field}"] for s in sel], dtype=float)
                hi = np.array([s[f"max_{field}"] for s in sel], dtype=float)
                label = "_nolegend_"
                if field == "rkhs_max_distance":
                    rate = fitted_rate(T, med)
                    label = (
                        f"{dataset.replace('_', ' ')} ({aux} aux): fitted rate $T^{{{rate:.2f}}}$"
                    )
                ax.errorbar(
                    T, med, yerr=[med - lo, hi - med], marker=_style.marker(i), capsize=2,
                    color=_style.color(i), label=label,
                )  # fmt: skip
                cert = np.array([s["median_certified_rkhs_max_distance"] for s in sel], float)
                if field == "rkhs_max_distance" and np.isfinite(cert).any():
                    ax.plot(
                        T, cert, marker=_style.marker(i), mfc="white", ls="--",
                        color=_style.color(i),
                        label=f"{dataset.replace('_', ' ')}: certified optimum",
                    )  # fmt: skip
                if field == "rkhs_max_distance" and np.isfinite(rate) and len(T) > 1:
                    ok = med > 0
                    coef = np.polyfit(np.log(T[ok]), np.log(med[ok]), 1)
                    ax.plot(T, np.exp(np.polyval(coef, np.log(T))), ls=":", color=_style.color(i))
        for ax, (_, name, unit) in zip(axes[0], panels, strict=True):
            ax.set_xscale("log")
            ax.set_yscale("log")
            _style.label(ax, "number of tasks T", name, yunit=unit)
            _style.plain_ticks(ax)
            ticks = sorted({float(s["T"]) for s in summary})
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_formatter("")
        _style.legend_outside(fig, axes, loc="outside upper center", ncol=2)
        _style.note(
            fig,
            "Median over seeds, bars: min-max. Distances: max over test points. Open markers: "
            "output 1 of the certified global optimum (d <= 2 unless --certified-dims says "
            "otherwise) against its own RKHS solution. "
            "Dotted: "
            "least-squares fit of log distance against log T. Kernel-weight spread: mean over "
            "neurons of std/mean across tasks of each neuron's kernel weight (0 = one kernel "
            "shared by all tasks).",
        )
        _style.save(fig, path, "kernel_regime_convergence")
    return fig


def _plot_surfaces(path: Path, surfaces: dict[int, dict[str, NDArray[np.float64]]]) -> Any:
    """Network output 1, RKHS solution and their difference as heat maps, per T."""
    _, g = _grid(61, 2.5)
    X, y = two_squares()
    order = sorted(surfaces)
    with _style.context():
        fig, axes = _style.subplots(
            len(order), 3, width=_style.PAGE_WIDTH, panel_height=2.3, sharex=True, sharey=True
        )
        norm = _style.shared_norm([surfaces[t][k] for t in order for k in ("network", "rkhs")])
        diffs = [surfaces[t]["network"] - surfaces[t]["rkhs"] for t in order]
        dnorm = _style.shared_norm(diffs, center=0.0)
        extent = (g[0], g[-1], g[0], g[-1])
        images = []
        for r, n_tasks in enumerate(order):
            fields = (
                (surfaces[n_tasks]["network"], norm, _style.SEQUENTIAL, "network, output 1"),
                (surfaces[n_tasks]["rkhs"], norm, _style.SEQUENTIAL, "RKHS solution"),
                (diffs[r], dnorm, _style.DIVERGING, "difference"),
            )
            for c, (z, nrm, cmap, title) in enumerate(fields):
                ax = axes[r, c]
                images.append(
                    ax.imshow(
                        z.reshape(len(g), len(g)), origin="lower", extent=extent, cmap=cmap,
                        norm=nrm, aspect="equal",
                    )
                )  # fmt: skip
                if c < 2:
                    ax.scatter(
                        X[:, 0], X[:, 1], c=y, cmap=cmap, norm=nrm, edgecolors="white", s=22,
                        zorder=3,
                    )  # fmt: skip
                else:
                    ax.scatter(X[:, 0], X[:, 1], color="black", s=8, zorder=3)
                    diff = float(np.max(np.abs(diffs[r])))
                    title += f" (max {diff:.2g})"
                ax.set_title(f"T = {n_tasks}: {title}", fontsize=7)
                ax.grid(False)
                _style.label(ax, "$x_1$", "$x_2$")
        _style.colorbar(fig, images[0], axes[:, :2], "output 1 (label units)")
        _style.colorbar(fig, images[2], axes[:, 2], "difference (label units)")
        _style.note(
            fig,
            "Two squares; dots: the data. Difference: network output 1 - RKHS solution. "
            "One colour scale for all outputs, one for all differences.",
        )
        _style.save(fig, path, "kernel_regime_two_squares")
    return fig
