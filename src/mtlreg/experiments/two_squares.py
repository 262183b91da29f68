"""Two squares (paper Fig. 5): single-task solutions vary, multi-task ones agree.

Inputs (+-1, +-1) have label 1 and (+-2, +-2) label 0; no skip connection. The exact
single-task optimum comes from the convex program (:func:`mtlreg.convex.solve`);
single-task networks trained from several seeds each get a certificate (their
objective minus that optimum); multi-task networks (task 1 plus ``n_aux``
Bernoulli(1/2) tasks) are trained from several seeds and their first outputs
compared on a grid over [-3, 4]^2.

Every run is measured against the certified optimum *of its own problem*: single-task
runs against the single-task optimum, multi-task runs against the certified
multi-task optimum (T = 1 + ``n_aux``) when :func:`mtlreg.convex.solve` accepts
several outputs, and against nothing otherwise (``baseline = "none"``, gap ``nan``),
never against the single-task optimum. Runs whose trainer did not converge are
flagged, with their stationarity measure ``rel_change``.
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

from mtlreg import _style
from mtlreg._io import prepare_out, write_json
from mtlreg.experiments._report import network_counts, progress, stationarity

NAME = "two-squares"
HELP = "Two squares (paper Fig. 5): exact convex optimum, certificates, multi-task agreement."

INPUTS = np.array(
    [[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]], dtype=np.float64
)
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=np.float64)
GRID_RANGE = (-3.0, 4.0)
AUX_SEED = 12345
#: Largest grid (points per axis): 2000^2 points x 8 runs is about 0.25 GiB of surfaces.
MAX_GRID = 2000
#: Training steps per network in ``--quick`` (the trainer's default otherwise).
QUICK_STEPS = 3000

FIGURE_CLAIMS: dict[str, str] = {
    "two_squares_surfaces": (
        "Single-task weight-decay networks trained from different seeds reach different "
        "functions; multi-task networks (Bernoulli auxiliary tasks) agree with each other on "
        "output 1 (paper Fig. 5)."
    ),
}

CSV_COLUMNS: dict[str, dict[str, str]] = {
    "runs.csv": {
        "run": "run name (`single_seedS`, `multi_seedS`, `certified_single`, `certified_multi`)",
        "kind": "`single` (task 1 alone) or `multi` (task 1 plus auxiliary tasks)",
        "source": "`trained` (gradient training), `certified` (convex solver, relative gap "
        "certified <= its tol) or `solver (not certified)` (stopped by its budget)",
        "seed": "seed of the network initialisation (empty for certified optima)",
        "n_tasks": "number of outputs T",
        "task_reduction": "`sum` (package objective) or `mean` (fit divided by T)",
        "objective": "objective of the run's own problem, (1/N) sum_i ||y_i - f(x_i)||^2 + "
        "lam * penalty (label units squared)",
        "baseline": "certified optimum the run is measured against: `single-task optimum`, "
        "`multi-task optimum`, or `none` (no certified solver for this problem)",
        "optimum": "objective of that certified optimum (label units squared; empty if none)",
        "gap": "objective - optimum (label units squared; empty if no baseline)",
        "relative_gap": "gap / optimum (unitless; empty if no baseline)",
        "output1_fit": "task-1 data term (1/N) sum_i (y_i - f_1(x_i))^2 (label units squared)",
        "output1_penalty": "VV norm of output 1, sum_k ||w_k|| |v_k1| (label / input units)",
        "converged": "whether the trainer's stopping test passed (for solver rows: whether "
        "the gap was certified)",
        "rel_change": "stationarity: relative objective decrease over the last 10% of the "
        "steps (unitless; 0 for certified optima)",
        "flagged": "True for a trained network that did not converge",
        "steps": "optimiser steps (solver iterations for certified optima)",
        "seconds": "wall-clock time of training or solving (s)",
    },
    "distances.csv": {
        "a": "first run",
        "b": "second run",
        "rms": "root mean square of output 1(a) - output 1(b) over the grid (label units)",
    },
}


def verdicts(metrics: dict[str, Any]) -> dict[str, str]:
    """Measured verdict of each figure."""
    single = metrics["mean_pairwise_rms_single"]
    multi = metrics["mean_pairwise_rms_multi"]
    word = "agree more closely" if multi < single else "do NOT agree more closely"
    return {
        "two_squares_surfaces": (
            f"mean pairwise RMS distance of output 1: single-task {single:.3g}, multi-task "
            f"{multi:.3g}: multi-task runs {word}"
        )
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this experiment (``--out`` and ``--quick`` are added by the CLI)."""
    parser.add_argument("--lam", type=float, default=1e-3, help="weight decay (default 1e-3)")
    parser.add_argument(
        "--seeds", type=int, default=None, help="runs per setting (default 3; quick: 2)"
    )
    parser.add_argument("--width-single", type=int, default=8, help="single-task width")
    parser.add_argument("--width-multi", type=int, default=64, help="multi-task width")
    parser.add_argument("--n-aux", type=int, default=100, help="Bernoulli(1/2) auxiliary tasks")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps per run (default: the trainer's, 20000; quick: 3000)",
    )
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
    seeds: int | None = None,
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
    from mtlreg.convex import certificate, network_objective, solve

    path = prepare_out(out)
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    seeds = check_int((2 if quick else 3) if seeds is None else seeds, "seeds", low=1)
    grid = check_int(grid, "grid", low=2)
    if grid > MAX_GRID:
        need = grid**2 * 8 * (2 * seeds + 2) / 2**30
        raise ValueError(
            f"Parameter `grid` should be at most {MAX_GRID} points per axis. Found {grid}: "
            f"its surfaces would need about {need:.3g} GiB of memory."
        )
    n_aux = check_int(n_aux, "n_aux", low=1)
    task_reduction = check_choice(task_reduction, "task_reduction", ("sum", "mean"))
    if steps is None and quick:
        steps = QUICK_STEPS  # a smoke run: unconverged networks are flagged, not hidden
    if steps is not None:
        steps = check_int(steps, "steps", low=1)

    sol = solve(INPUTS, LABELS, lam, skip=False)
    axis = np.linspace(*GRID_RANGE, grid)
    gx, gy = np.meshgrid(axis, axis)
    points = np.column_stack([gx.ravel(), gy.ravel()])
    surfaces: dict[str, np.ndarray] = {"certified_single": sol.to_network().predict(points)[:, 0]}
    n_tasks = 1 + n_aux
    targets = mtlreg.aux_tasks(LABELS, n_aux, dist="bernoulli", p=0.5, seed=AUX_SEED)
    runs: list[dict[str, Any]] = [
        _certified_row("certified_single", "single", 1, "sum", sol, sol.objective)
    ]
    multi_opt = _multi_optimum(solve, targets, lam, task_reduction)
    if multi_opt is not None:
        msol, mobj = multi_opt
        surfaces["certified_multi"] = msol.to_network().predict(points)[:, 0]
        runs.append(_certified_row("certified_multi", "multi", n_tasks, task_reduction, msol, mobj))

    jobs = [("single", s) for s in range(seeds)] + [("multi", s) for s in range(seeds)]
    for kind, seed in progress(jobs, desc=f"{NAME}: training", unit="net"):
        Y = LABELS if kind == "single" else targets
        res = mtlreg.train(
            INPUTS,
            Y,
            width=width_single if kind == "single" else width_multi,
            lam=lam,
            skip=False,
            seed=seed,
            method="continuation",  # trained networks (auto would return the optimum)
            max_steps=steps,
            task_reduction="sum" if kind == "single" else task_reduction,
            progress=False,
        )
        name = f"{kind}_seed{seed}"
        surfaces[name] = res.net.predict(points)[:, 0]
        if kind == "single":
            cert = certificate(res.net, INPUTS, LABELS, lam, solution=sol)
            baseline, optimum = "single-task optimum", cert.optimal_objective
            fit1, pen1 = cert.fit, cert.penalty
        else:
            _obj1, fit1, pen1 = network_objective(res.net, INPUTS, LABELS, lam, task=0)
            baseline = "multi-task optimum" if multi_opt is not None else "none"
            optimum = multi_opt[1] if multi_opt is not None else math.nan
        gap = res.objective - optimum
        runs.append(
            {
                "run": name,
                "kind": kind,
                "source": "trained",
                "seed": seed,
                "n_tasks": 1 if kind == "single" else n_tasks,
                "task_reduction": "sum" if kind == "single" else task_reduction,
                "objective": res.objective,
                "baseline": baseline,
                "optimum": optimum,
                "gap": gap,
                "relative_gap": gap / abs(optimum) if math.isfinite(optimum) else math.nan,
                "output1_fit": fit1,
                "output1_penalty": pen1,
                "converged": bool(res.converged),
                "rel_change": stationarity(res),
                "flagged": not bool(res.converged),
                "steps": int(res.steps),
                "seconds": float(res.seconds),
            }
        )

    distances = _pairwise(surfaces)
    trained = [r for r in runs if r["source"] == "trained"]
    metrics: dict[str, Any] = {
        "convention": "objective = (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty, each run "
        "on its own problem (single task, or all T tasks with its task_reduction)",
        "lam": lam,
        "optimal_objective": sol.objective,
        "optimal_fit": sol.fit,
        "optimal_penalty": sol.penalty,
        "optimal_lower_bound": sol.lower_bound,
        "optimal_gap": sol.gap,
        "multi_task_optimum": multi_opt[1] if multi_opt is not None else None,
        "multi_task_baseline": "certified" if multi_opt is not None else "none available",
        "n_patterns": len(getattr(sol, "patterns", ())),
        "authors_reported": {"penalty": 1.992, "fit": 4.0e-6, "objective": 1.996e-3},
        "runs": runs,
        "grid": {"range": list(GRID_RANGE), "points_per_axis": grid},
        "pairwise_rms_output1": distances,
        "mean_pairwise_rms_single": _mean_within(distances, "single"),
        "mean_pairwise_rms_multi": _mean_within(distances, "multi"),
        "networks": network_counts(
            trained, certified=sum(r["source"] == "certified" for r in runs)
        ),
        "settings": {
            "quick": quick,
            "steps": steps,
            "seeds": seeds,
            "width_single": width_single,
            "width_multi": width_multi,
            "n_aux": n_aux,
            "aux_seed": AUX_SEED,
            "task_reduction": task_reduction,
        },
    }
    _write_tables(path, runs, distances)
    _plot(path, axis, surfaces, grid, runs)
    write_json(path / "metrics.json", metrics)
    return metrics


def _multi_optimum(
    solve: Any, targets: np.ndarray, lam: float, task_reduction: str
) -> tuple[Any, float] | None:
    """Certified multi-task optimum of the run's problem, or ``None`` without a solver.

    The mean convention at ``lam`` is the sum convention at ``T * lam`` divided by T.
    """
    n_tasks = targets.shape[1]
    lam_sum = lam * n_tasks if task_reduction == "mean" else lam
    try:
        msol = solve(INPUTS, targets, lam_sum, skip=False)
    except (ValueError, TypeError):  # a single-output solver refuses (N, T) labels
        return None
    if not np.isfinite(getattr(msol, "gap", math.nan)):
        return None
    objective = float(msol.objective)
    return msol, objective / n_tasks if task_reduction == "mean" else objective


def _certified_row(
    name: str, kind: str, n_tasks: int, reduction: str, sol: Any, objective: float
) -> dict[str, Any]:
    pred = sol.to_network().predict(INPUTS)[:, 0]
    certified = bool(sol.converged)  # certified gap <= the solver's tol, exact oracle
    return {
        "run": name,
        "kind": kind,
        "source": "certified" if certified else "solver (not certified)",
        "seed": None,
        "n_tasks": n_tasks,
        "task_reduction": reduction,
        "objective": objective,
        "baseline": "certified lower bound",
        "optimum": objective,
        "gap": float(sol.gap) / (n_tasks if reduction == "mean" else 1),
        "relative_gap": float(sol.relative_gap),
        "output1_fit": float(np.mean((pred - LABELS) ** 2)),
        "output1_penalty": math.nan,
        "converged": certified,
        "rel_change": 0.0,
        "flagged": not certified,
        "steps": int(getattr(sol, "n_iter", 0)),
        "seconds": float(getattr(sol, "seconds", math.nan)),
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

    frame = pd.DataFrame(runs)
    frame["seed"] = frame["seed"].astype("Int64")
    frame.to_csv(path / "runs.csv", index=False)
    rows = [{"a": k.split("|")[0], "b": k.split("|")[1], "rms": v} for k, v in distances.items()]
    pd.DataFrame(rows).to_csv(path / "distances.csv", index=False)


def _panel_title(name: str, row: dict[str, Any] | None) -> str:
    if name.startswith("certified"):
        what = "single task" if name.endswith("single") else f"T = {row['n_tasks'] if row else '?'}"
        proof = "certified optimum" if row is None or row["converged"] else "NOT certified"
        return f"{proof}, {what}"
    kind, seed = name.split("_seed")
    title = f"{'single task' if kind == 'single' else 'multi-task, output 1'}, seed {seed}"
    if row is None:
        return title
    gap = row["relative_gap"]
    gap_text = f"rel. gap {gap:.1e}" if math.isfinite(gap) else "no certified baseline"
    flag = "" if row["converged"] else ", NOT converged"
    return f"{title}\n{gap_text}{flag}"


def _plot(
    path: Path,
    axis: np.ndarray,
    surfaces: dict[str, np.ndarray],
    grid: int,
    runs: list[dict[str, Any]],
) -> Any:
    """Output 1 as heat maps on one colour scale, the data on top, one panel per run."""
    by_name = {r["run"]: r for r in runs}
    single = [n for n in surfaces if n.startswith("single")]
    multi = [n for n in surfaces if n.startswith("multi")]
    rows = [
        [n for n in ("certified_single",) if n in surfaces] + single,
        [n for n in ("certified_multi",) if n in surfaces] + multi,
    ]
    ncol = max(len(r) for r in rows)
    with _style.context():
        fig, axes = _style.subplots(
            2, ncol, width=2.1 * ncol + 1.2, panel_height=2.2, sharex=True, sharey=True
        )
        norm = _style.shared_norm(surfaces.values())
        extent = (axis[0], axis[-1], axis[0], axis[-1])
        image = None
        for r, names in enumerate(rows):
            for c in range(ncol):
                ax = axes[r, c]
                if c >= len(names):
                    ax.set_axis_off()
                    continue
                name = names[c]
                z = surfaces[name].reshape(grid, grid)
                image = ax.imshow(
                    z, origin="lower", extent=extent, cmap=_style.SEQUENTIAL, norm=norm,
                    aspect="equal", interpolation="nearest",
                )  # fmt: skip
                ax.contour(axis, axis, z, levels=[0.5], colors="white", linewidths=0.8)
                ax.scatter(
                    INPUTS[:, 0], INPUTS[:, 1], c=LABELS, cmap=_style.SEQUENTIAL, norm=norm,
                    edgecolors="white", linewidths=1.0, s=28, zorder=3,
                    marker="o",
                )  # fmt: skip
                ax.set_title(_panel_title(name, by_name.get(name)), fontsize=7)
                ax.grid(False)
                _style.label(ax, "$x_1$", "$x_2$")
        _style.colorbar(fig, image, axes, "output 1, $f_1(x)$ (label units)")
        _style.note(
            fig,
            "Top: task 1 alone; bottom: output 1 of networks trained on task 1 plus Bernoulli(1/2) "
            "auxiliary tasks. Dots: the data (colour = label, same scale); white line: "
            "f_1 = 0.5. rel. gap: (objective - certified optimum of the run's own problem) / "
            "optimum.",
        )
        _style.save(fig, path, "two_squares_surfaces")
    return fig


__all__ = ["HELP", "NAME", "add_arguments", "run"]
