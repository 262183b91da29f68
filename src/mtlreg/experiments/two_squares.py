"""Two squares (paper Fig. 5): single-task solutions vary, multi-task ones agree.

Inputs (+-1, +-1) have label 1 and (+-2, +-2) label 0; no skip connection. The exact
single-task optimum comes from the convex program (:func:`mtlreg.convex.solve`);
single-task networks trained from several seeds each get a certificate (their
objective minus that optimum); multi-task networks (task 1 plus ``n_aux``
Bernoulli(1/2) tasks) are trained from several seeds and their first outputs
compared on a grid over [-3, 4]^2.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from mtlreg._io import prepare_out, save_figure, use_agg, write_json

NAME = "two-squares"
HELP = "Two squares (paper Fig. 5): exact convex optimum, certificates, multi-task agreement."

INPUTS = np.array(
    [[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]], dtype=np.float64
)
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=np.float64)
GRID_RANGE = (-3.0, 4.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this experiment (``--out`` and ``--quick`` are added by the CLI)."""
    parser.add_argument("--lam", type=float, default=1e-3, help="weight decay (default 1e-3)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per setting (default 3)")
    parser.add_argument("--width-single", type=int, default=8, help="single-task width")
    parser.add_argument("--width-multi", type=int, default=64, help="multi-task width")
    parser.add_argument("--n-aux", type=int, default=100, help="Bernoulli(1/2) auxiliary tasks")
    parser.add_argument("--steps", type=int, default=None, help="training steps per run")
    parser.add_argument(
        "--task-reduction",
        choices=("sum", "mean"),
        default="sum",
        help="multi-task fit summed over tasks (ours) or averaged (the authors' code)",
    )
    parser.add_argument("--grid", type=int, default=71, help="grid points per axis")


def run(
    out: str | Path,
    *,
    quick: bool = False,
    lam: float = 1e-3,
    seeds: int = 3,
    width_single: int = 8,
    width_multi: int = 64,
    n_aux: int = 100,
    steps: int | None = None,
    task_reduction: str = "sum",
    grid: int = 71,
    **_: Any,
) -> dict[str, Any]:
    """Run the experiment into ``out``; return the metrics written to ``metrics.json``."""
    import mtlreg
    from mtlreg._validation import check_choice, check_int, check_number
    from mtlreg.convex import certificate, solve

    path = prepare_out(out)
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    seeds = check_int(seeds, "seeds", low=1)
    grid = check_int(grid, "grid", low=2)
    task_reduction = check_choice(task_reduction, "task_reduction", ("sum", "mean"))
    if steps is None:
        steps = 3000 if quick else 20000
    steps = check_int(steps, "steps", low=1)

    sol = solve(INPUTS, LABELS, lam, skip=False)
    exact_net = sol.to_network()
    axis = np.linspace(*GRID_RANGE, grid)
    gx, gy = np.meshgrid(axis, axis)
    points = np.column_stack([gx.ravel(), gy.ravel()])
    surfaces: dict[str, np.ndarray] = {"exact": exact_net.predict(points)[:, 0]}
    runs: list[dict[str, Any]] = []

    for seed in range(seeds):
        res = mtlreg.train(
            INPUTS, LABELS, width=width_single, lam=lam, skip=False, seed=seed, max_steps=steps
        )
        cert = certificate(res.net, INPUTS, LABELS, lam, solution=sol)
        name = f"single_seed{seed}"
        surfaces[name] = res.net.predict(points)[:, 0]
        runs.append(_row(name, "single", seed, cert, res.objective))

    targets = mtlreg.aux_tasks(LABELS, n_aux, dist="bernoulli", p=0.5, seed=12345)
    for seed in range(seeds):
        res = mtlreg.train(
            INPUTS,
            targets,
            width=width_multi,
            lam=lam,
            skip=False,
            seed=seed,
            max_steps=steps,
            task_reduction=task_reduction,
        )
        # output 1's single-task objective compared with the single-task optimum
        cert = certificate(res.net, INPUTS, LABELS, lam, solution=sol, task=0)
        name = f"multi_seed{seed}"
        surfaces[name] = res.net.predict(points)[:, 0]
        runs.append(_row(name, "multi", seed, cert, res.objective))

    distances = _pairwise(surfaces)
    metrics: dict[str, Any] = {
        "convention": "objective = (1/N) sum_i ||y_i - f(x_i)||^2 + lam * VV (task 1 alone)",
        "lam": lam,
        "optimal_objective": sol.objective,
        "optimal_fit": sol.fit,
        "optimal_penalty": sol.penalty,
        "optimal_lower_bound": sol.lower_bound,
        "optimal_gap": sol.gap,
        "n_patterns": int(sol.patterns.shape[0]),
        "authors_reported": {"penalty": 1.992, "fit": 4.0e-6, "objective": 1.996e-3},
        "runs": runs,
        "grid": {"range": list(GRID_RANGE), "points_per_axis": grid},
        "pairwise_rms_output1": distances,
        "mean_pairwise_rms_single": _mean_within(distances, "single"),
        "mean_pairwise_rms_multi": _mean_within(distances, "multi"),
        "settings": {
            "quick": quick,
            "steps": steps,
            "seeds": seeds,
            "width_single": width_single,
            "width_multi": width_multi,
            "n_aux": n_aux,
            "aux_seed": 12345,
            "task_reduction": task_reduction,
        },
    }
    _write_tables(path, runs, distances)
    _plot(path, axis, surfaces, grid)
    write_json(path / "metrics.json", metrics)
    return metrics


def _row(name: str, kind: str, seed: int, cert: Any, train_objective: float) -> dict[str, Any]:
    return {
        "run": name,
        "kind": kind,
        "seed": seed,
        "train_objective": train_objective,
        "output1_objective": cert.objective,
        "output1_fit": cert.fit,
        "output1_penalty": cert.penalty,
        "gap": cert.gap,
        "relative_gap": cert.relative_gap,
    }


def _pairwise(surfaces: dict[str, np.ndarray]) -> dict[str, float]:
    out: dict[str, float] = {}
    for a, b in itertools.combinations(surfaces, 2):
        out[f"{a}|{b}"] = float(np.sqrt(np.mean((surfaces[a] - surfaces[b]) ** 2)))
    return out


def _mean_within(distances: dict[str, float], kind: str) -> float:
    vals = [v for k, v in distances.items() if all(part.startswith(kind) for part in k.split("|"))]
    return float(np.mean(vals)) if vals else float("nan")


def _write_tables(path: Path, runs: list[dict[str, Any]], distances: dict[str, float]) -> None:
    import pandas as pd

    pd.DataFrame(runs).to_csv(path / "runs.csv", index=False)
    rows = [{"a": k.split("|")[0], "b": k.split("|")[1], "rms": v} for k, v in distances.items()]
    pd.DataFrame(rows).to_csv(path / "distances.csv", index=False)


def _plot(path: Path, axis: np.ndarray, surfaces: dict[str, np.ndarray], grid: int) -> None:
    use_agg()
    import matplotlib.pyplot as plt

    names = list(surfaces)
    single = [n for n in names if n.startswith("single")]
    multi = [n for n in names if n.startswith("multi")]
    ncol = 1 + max(len(single), len(multi))
    fig = plt.figure(figsize=(3.2 * ncol, 6.4))
    gx, gy = np.meshgrid(axis, axis)
    layout = [["exact", *single], ["exact", *multi]]
    for r, row in enumerate(layout):
        for c, name in enumerate(row):
            if r == 1 and c == 0:
                continue
            ax = fig.add_subplot(2, ncol, r * ncol + c + 1, projection="3d")
            z = surfaces[name].reshape(grid, grid)
            ax.plot_surface(gx, gy, z, cmap="viridis", linewidth=0, antialiased=True)
            ax.scatter(INPUTS[:, 0], INPUTS[:, 1], LABELS, color="red", s=12, depthshade=False)
            ax.set_title(name.replace("_", " "), fontsize=9)
            ax.set_xlabel("x1", fontsize=7)
            ax.set_ylabel("x2", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.suptitle(
        "Two squares: exact optimum (left), single-task (top), multi-task output 1 (bottom)"
    )
    save_figure(fig, path, "two_squares_surfaces")


__all__ = ["HELP", "NAME", "add_arguments", "run"]
