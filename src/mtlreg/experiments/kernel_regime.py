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
T in {2, 11, 101}), default (the issue's grid, 3 seeds), ``--full`` (the paper's width
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

from mtlreg._io import prepare_out, save_figure, use_agg, write_json
from mtlreg._validation import check_choice, check_int, check_number
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
    "steps", "seconds",
)  # fmt: skip


@dataclass(frozen=True)
class KernelRegimeConfig:
    """The grid and the training recipe (defaults: the issue's grid)."""

    tasks: tuple[int, ...] = (2, 5, 11, 26, 51, 101)
    seeds: tuple[int, ...] = (0, 1, 2)
    datasets: tuple[str, ...] = DATASETS
    aux: str = "paper"
    width_squares: int = 32
    width_random: int = 32
    lam: float = 1e-2
    max_steps: int = 10000
    n_test: int = 2000


QUICK = KernelRegimeConfig(tasks=(2, 101), max_steps=8000)
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
    return cfg


def run(out: str | Path, *, quick: bool = False, full: bool = False, **options: Any) -> dict:
    """Train the grid, measure the kernel regime, write CSVs, figures and metrics.json."""
    path = prepare_out(out)
    cfg = _config(quick, full, options)
    rows: list[dict[str, Any]] = []
    surfaces: dict[int, dict[str, NDArray[np.float64]]] = {}
    t_start, cpu_start = time.perf_counter(), time.process_time()
    csv_path = path / "kernel_regime_runs.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for dataset in cfg.datasets:
            data = _dataset(dataset, cfg.n_test)
            width = cfg.width_squares if dataset == "two_squares" else cfg.width_random
            for aux in _aux_list(cfg, dataset):
                for n_tasks in cfg.tasks:
                    for seed in cfg.seeds:
                        row, net_out = _one_run(data, dataset, aux, n_tasks, seed, width, cfg)
                        rows.append(row)
                        writer.writerow(row)
                        fh.flush()
                        if (
                            dataset == "two_squares"
                            and aux == PAPER_AUX[dataset]
                            and seed == cfg.seeds[0]
                            and n_tasks in (min(cfg.tasks), max(cfg.tasks))
                        ):
                            surfaces[n_tasks] = net_out
    summary = _summary(rows)
    _write_summary(path / "kernel_regime_summary.csv", summary)
    use_agg()
    _plot_convergence(path, summary)
    if surfaces:
        _plot_surfaces(path, surfaces)
    metrics = _metrics(cfg, rows, summary)
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
    result = train(
        X, Y, width=width, lam=cfg.lam, skip=data["skip"], seed=seed,
        max_steps=cfg.max_steps, progress=False,
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
        "steps": result.steps,
        "seconds": result.seconds,
    }
    scalars = diag.as_dict()
    row.update({k: scalars[k] for k in COLUMNS if k in scalars})
    surface: dict[str, NDArray[np.float64]] = {}
    if dataset == "two_squares":
        grid, _ = _grid(61, 2.5)
        surface = {
            "network": result.net.predict(grid)[:, 0],
            "rkhs": diag.rkhs.predict(grid),
        }
    return row, surface


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = sorted({(r["dataset"], r["aux"], r["T"]) for r in rows})
    out = []
    for dataset, aux, n_tasks in keys:
        sel = [r for r in rows if (r["dataset"], r["aux"], r["T"]) == (dataset, aux, n_tasks)]
        entry: dict[str, Any] = {"dataset": dataset, "aux": aux, "T": n_tasks, "n_seeds": len(sel)}
        for field in (
            "rkhs_max_distance", "rkhs_rms_distance", "exact_max_distance",
            "kernel_max_distance", "gap",
            "gap_bound", "weight_spread",
        ):  # fmt: skip
            vals = np.array([r[field] for r in sel], dtype=float)
            entry[f"median_{field}"] = float(np.median(vals))
            entry[f"min_{field}"] = float(vals.min())
            entry[f"max_{field}"] = float(vals.max())
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
                "all_bounds_hold": all(s["all_bounds_hold"] for s in sel),
            }
        main = PAPER_AUX[dataset] if PAPER_AUX[dataset] in by_aux else next(iter(by_aux))
        metrics[dataset] = {"aux": main, **by_aux[main], "by_aux": by_aux}
    return metrics


def _plot_convergence(path: Path, summary: list[dict[str, Any]]) -> None:
    import matplotlib.pyplot as plt

    panels = (
        ("rkhs_max_distance", "max |f_1 - RKHS| (dotted: f_1 - exact, dashed: RKHS - exact)"),
        ("gap", "objective gap (markers) and bound (dashed)"),
        ("weight_spread", "spread of c_ks across tasks"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    groups = sorted({(s["dataset"], s["aux"]) for s in summary})
    for i, (dataset, aux) in enumerate(groups):
        sel = [s for s in summary if (s["dataset"], s["aux"]) == (dataset, aux)]
        T = np.array([s["T"] for s in sel], dtype=float)
        color = f"C{i}"
        for ax, (field, title) in zip(axes, panels, strict=True):
            med = np.array([s[f"median_{field}"] for s in sel])
            lo = np.array([s[f"min_{field}"] for s in sel])
            hi = np.array([s[f"max_{field}"] for s in sel])
            ax.errorbar(
                T, med, yerr=[med - lo, hi - med], marker="o", capsize=3, color=color,
                label=f"{dataset} ({aux})",
            )  # fmt: skip
            if field == "gap":
                bound = np.array([s["median_gap_bound"] for s in sel])
                ax.plot(T, bound, "--", color=color)
            if field == "rkhs_max_distance":
                exact = np.array([s["median_exact_max_distance"] for s in sel])
                ax.plot(T, exact, ":", color=color)
                approx = np.array([s["median_kernel_max_distance"] for s in sel])
                ax.plot(T, approx, "--", color=color, alpha=0.6)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("number of tasks T")
            ax.set_title(title, fontsize=10)
    note = "median, min-max over seeds"
    axes[0].legend(fontsize=8, title=note, title_fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, "kernel_regime_convergence")


def _plot_surfaces(path: Path, surfaces: dict[int, dict[str, NDArray[np.float64]]]) -> None:
    import matplotlib.pyplot as plt

    _, g = _grid(61, 2.5)
    X, y = two_squares()
    gx, gy = np.meshgrid(g, g)
    fig = plt.figure(figsize=(9, 4.3 * len(surfaces)))
    for r, n_tasks in enumerate(sorted(surfaces)):
        for c, key in enumerate(("network", "rkhs")):
            ax = fig.add_subplot(len(surfaces), 2, 2 * r + c + 1, projection="3d")
            z = surfaces[n_tasks][key].reshape(gx.shape)
            ax.plot_surface(gx, gy, z, cmap="viridis", alpha=0.8, linewidth=0)
            ax.scatter(X[:, 0], X[:, 1], y, color="red", s=20, depthshade=False)
            label = "network output 1" if key == "network" else "RKHS solution, own neurons"
            ax.set_title(f"T = {n_tasks}: {label}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, "kernel_regime_two_squares")
