"""Poster Fig. 2: do random Gaussian auxiliary tasks make task 1 smoother?

Synthetic data with a known smooth ground truth f* (inputs uniform in [-1, 1]^d,
f* normalised to unit standard deviation, Gaussian label noise), task 1 trained
alone (weight decay, ``method="single"``) or with ``n_aux`` Gaussian N(0, s^2)
auxiliary tasks (``method="aux"``). Measured on task 1 (docs/theory.md §6): average and
maximum input-gradient norm at uniform test points, nearest-neighbour deviation and
test error against f*.

Matched training fit (our choice, configurable with ``match``):

- ``"interpolation"`` (default): every network is trained at the same small lam
  (1e-4, sum-over-tasks objective), the interpolation regime of the theory, so task 1
  is fit to train MSE ~1e-5 in every configuration; both methods are then compared as
  (near) minimum-norm interpolants. ``train_mse`` is recorded to show the match.
- ``"fit"``: lam is calibrated per configuration by bisection in log10(lam) so that
  task 1's train MSE hits ``target_mse`` (default 0.01, the noise variance), which
  matches the fit level away from interpolation (about 7x the cost).

``task_reduction="mean"`` with a fixed lam reproduces the authors' convention (fit
divided by T), in which adding tasks also strengthens the regularization: a confound
that the matched comparisons remove.

Batched training (``batch_size``, default 5): with ``match="interpolation"`` the
configurations of one (d, N, n_aux) are trained ``batch_size`` at a time by
:func:`mtlreg.sweep.train_auto_batched`, which runs ``train``'s recipe (rescaling, lam
continuation, learning-rate decay, 4 restarts) exactly, without early stopping; on
one CPU core about 5 configurations per batch was fastest (larger batches leave the
cache). ``rel_change`` records the relative objective change over the last 1000
steps of the returned restart (``converged``: below 1e-4).

Optimisation budget matters: with large auxiliary labels (scale 10) networks trained
for 2000 steps were still far from stationary and their task 1 was markedly rougher
than after 8000 steps (the default), which would reverse the conclusion. Check a few
configurations with a larger ``max_steps`` before trusting a new grid. ``--quick``
(1000 steps, 10 networks) is a smoke run, not a measurement.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtlreg._io import prepare_out, save_figure, use_agg, write_json
from mtlreg._validation import check_choice, check_int, check_number
from mtlreg.metrics import gradient_norm, nn_deviation
from mtlreg.model import ShallowReLUNet
from mtlreg.sweep import BatchedRun, train_auto_batched
from mtlreg.tasks import aux_tasks
from mtlreg.training import TrainResult, train

NAME = "smoothness"
HELP = "Poster Fig. 2: smoothness of task 1 with random Gaussian auxiliary tasks."

TARGETS: tuple[str, ...] = ("bumps", "ridge")
MATCHES: tuple[str, ...] = ("interpolation", "fit")
COLUMNS: tuple[str, ...] = (
    "method", "target", "match", "d", "n", "n_aux", "aux_scale", "seed", "width", "lam",
    "train_mse", "avg_grad_norm", "max_grad_norm", "nn_deviation_mean", "nn_deviation_max",
    "test_mse", "truth_avg_grad_norm", "converged", "rel_change", "seconds",
)  # fmt: skip


@dataclass(frozen=True)
class SmoothnessConfig:
    """The grid and the training recipe (defaults: the issue's full grid)."""

    dims: tuple[int, ...] = (2, 5, 10)
    sizes: tuple[int, ...] = (20, 50, 200)
    n_aux: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 50, 100)
    scales: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    target: str = "bumps"
    noise: float = 0.1
    match: str = "interpolation"
    lam: float = 1e-4
    target_mse: float = 0.01
    task_reduction: str = "sum"
    width: int | None = None  # None: max(64, 2 n)
    max_steps: int = 8000
    n_test: int = 2000
    batch_size: int = 5


QUICK = SmoothnessConfig(
    dims=(2,), sizes=(20,), n_aux=(0, 5, 50), scales=(1.0, 10.0), seeds=(0, 1),
    width=64, max_steps=1000, n_test=1000,
)  # fmt: skip


# ----------------------------------------------------------------------------- data
def ground_truth(target: str, d: int, seed: int) -> Callable[[NDArray], NDArray]:
    """A smooth f*: R^d -> R with unit standard deviation on [-1, 1]^d.

    ``"bumps"``: four Gaussian bumps (width 0.5) with random centres and signed
    heights; ``"ridge"``: sin(2 u.x) + 0.5 cos(3 u'.x) for random unit u, u'.
    """
    rng = np.random.default_rng([seed, d, 17])
    if target == "bumps":
        centres = rng.uniform(-1, 1, (4, d))
        heights = rng.choice([-1.0, 1.0], 4) * rng.uniform(0.5, 1.5, 4)

        def raw(x: NDArray) -> NDArray:
            sq = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
            return np.exp(-sq / (2 * 0.5**2)) @ heights

    else:
        u = rng.standard_normal((2, d))
        u /= np.linalg.norm(u, axis=1, keepdims=True)

        def raw(x: NDArray) -> NDArray:
            return np.sin(2 * x @ u[0]) + 0.5 * np.cos(3 * x @ u[1])

    probe = raw(rng.uniform(-1, 1, (20_000, d)))
    mean, std = float(probe.mean()), float(probe.std())
    return lambda x: (raw(x) - mean) / std


def make_data(
    cfg: SmoothnessConfig, d: int, n: int, seed: int
) -> tuple[NDArray, NDArray, NDArray, NDArray, float]:
    """Training (X, y), test (X, f*(X)) and the average gradient norm of f* itself."""
    f = ground_truth(cfg.target, d, seed)
    rng = np.random.default_rng([seed, d, n])
    X = rng.uniform(-1, 1, (n, d))
    y = f(X) + cfg.noise * rng.standard_normal(n)
    X_test = rng.uniform(-1, 1, (cfg.n_test, d))
    h = 1e-5  # central differences of the known f*
    grads = [(f(X_test + h * e) - f(X_test - h * e)) / (2 * h) for e in np.eye(d)]
    truth_grad = float(np.linalg.norm(np.stack(grads), axis=0).mean())
    return X, y, X_test, f(X_test), truth_grad


# ------------------------------------------------------------------------- training
def _fit(cfg: SmoothnessConfig, X: NDArray, Y: NDArray, lam: float, seed: int) -> TrainResult:
    width = cfg.width if cfg.width is not None else max(64, 2 * X.shape[0])
    return train(
        X, Y, width=width, lam=lam, seed=seed, max_steps=cfg.max_steps,
        task_reduction=cfg.task_reduction, progress=False,
    )  # fmt: skip


def _task1_mse(res: TrainResult, X: NDArray, y: NDArray) -> float:
    return float(np.mean((res.net.predict(X)[:, 0] - y) ** 2))


def fit_matched(
    cfg: SmoothnessConfig, X: NDArray, Y: NDArray, seed: int, steps: int = 7
) -> tuple[TrainResult, float]:
    """Bisection in log10(lam) in [1e-7, 1] for task-1 train MSE = ``target_mse``."""
    lo, hi = -7.0, 0.0
    best: tuple[float, TrainResult, float] | None = None
    for _ in range(steps):
        lam = 10 ** ((lo + hi) / 2)
        res = _fit(cfg, X, Y, lam, seed)
        mse = _task1_mse(res, X, Y[:, 0])
        gap = abs(math.log(max(mse, 1e-300) / cfg.target_mse))
        if best is None or gap < best[0]:
            best = (gap, res, lam)
        if mse > cfg.target_mse:
            hi = (lo + hi) / 2
        else:
            lo = (lo + hi) / 2
    assert best is not None
    return best[1], best[2]


Config = tuple[int, int, int, float, int]  # d, n, n_aux, aux_scale, seed
STATIONARY = 1e-4  # ``converged``: relative objective change over 1000 steps below this


def _configs(cfg: SmoothnessConfig) -> Iterator[Config]:
    for d in cfg.dims:
        for n in cfg.sizes:
            for n_aux in cfg.n_aux:
                for scale in (0.0,) if n_aux == 0 else cfg.scales:
                    for seed in cfg.seeds:
                        yield d, n, n_aux, scale, seed


def _problem(
    cfg: SmoothnessConfig, c: Config
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray, float]:
    """Training inputs, labels (task 1 first), task-1 labels, test set, f* gradient."""
    d, n, n_aux, scale, seed = c
    X, y, X_test, y_test, truth_grad = make_data(cfg, d, n, seed)
    aux_rng = np.random.default_rng([seed, d, n, n_aux, 99])
    Y = aux_tasks(y, n_aux, dist="gaussian", scale=scale, seed=aux_rng)
    return X, Y, y, X_test, y_test, truth_grad


def _width(cfg: SmoothnessConfig, n: int) -> int:
    return cfg.width if cfg.width is not None else max(64, 2 * n)


def _history_rel_change(res: TrainResult) -> float:
    steps, obj = res.history.step, res.history.objective
    back = int(np.searchsorted(steps, steps[-1] - 1000))
    return float(abs(obj[back] - obj[-1]) / max(abs(obj[-1]), 1e-300))


def run_one(
    cfg: SmoothnessConfig, d: int, n: int, n_aux: int, scale: float, seed: int
) -> dict[str, Any]:
    """Train one configuration with :func:`mtlreg.train` and measure task 1."""
    t0 = time.perf_counter()
    c = (d, n, n_aux, scale, seed)
    X, Y, *_ = _problem(cfg, c)
    if cfg.match == "fit":
        res, lam = fit_matched(cfg, X, Y, seed)
    else:
        lam = cfg.lam
        res = _fit(cfg, X, Y, lam, seed)
    rel = _history_rel_change(res)
    return _measure(cfg, c, res.net, lam, rel, time.perf_counter() - t0)


def run_batch(cfg: SmoothnessConfig, configs: list[Config]) -> list[dict[str, Any]]:
    """Train configurations of one (d, N, n_aux) together (``match="interpolation"``)."""
    t0 = time.perf_counter()
    runs = []
    for c in configs:
        X, Y, *_ = _problem(cfg, c)
        runs.append(BatchedRun(X, Y, width=_width(cfg, c[1]), lam=cfg.lam, seed=c[4], lr=1e-2,
                               task_reduction=cfg.task_reduction))  # fmt: skip
    results = train_auto_batched(runs, steps=cfg.max_steps)
    seconds = (time.perf_counter() - t0) / len(configs)
    return [
        _measure(cfg, c, r.net, cfg.lam, r.rel_change, seconds) for c, r in zip(configs, results)
    ]


def _measure(
    cfg: SmoothnessConfig, c: Config, net: ShallowReLUNet, lam: float, rel: float, seconds: float
) -> dict[str, Any]:
    d, n, n_aux, scale, seed = c
    X, _, y, X_test, y_test, truth_grad = _problem(cfg, c)
    grad = gradient_norm(net, X_test)
    pred = net.predict(X_test)[:, 0]
    dev = nn_deviation(net, X, y, X_test)
    return {
        "method": "single" if n_aux == 0 else "aux",
        "target": cfg.target,
        "match": cfg.match,
        "d": d,
        "n": n,
        "n_aux": n_aux,
        "aux_scale": scale,
        "seed": seed,
        "width": net.width,
        "lam": lam,
        "train_mse": float(np.mean((net.predict(X)[:, 0] - y) ** 2)),
        "avg_grad_norm": grad.mean,
        "max_grad_norm": grad.max,
        "nn_deviation_mean": dev.mean,
        "nn_deviation_max": dev.max,
        "test_mse": float(np.mean((pred - y_test) ** 2)),
        "truth_avg_grad_norm": truth_grad,
        "converged": bool(rel < STATIONARY),
        "rel_change": rel,
        "seconds": seconds,
    }


# ------------------------------------------------------------------------- analysis
def with_ratios(df: Any) -> Any:
    """Add ``*_ratio`` columns: each row divided by single-task WD on the same data."""
    keys = ["d", "n", "seed"]
    base = df[df["method"] == "single"].set_index(keys)
    out = df.copy()
    for col in ("avg_grad_norm", "max_grad_norm", "nn_deviation_mean", "test_mse"):
        ref = base[col].reindex(list(zip(*(out[k] for k in keys)))).to_numpy()
        out[f"{col}_ratio"] = out[col].to_numpy() / ref
    return out


def summarize(df: Any, cfg: SmoothnessConfig) -> dict[str, Any]:
    """Spearman correlations with n_aux per scale, ratios to single-task, fit match."""
    from scipy.stats import spearmanr

    df = with_ratios(df)
    single = df[df["method"] == "single"]
    per_scale: dict[str, Any] = {}
    for scale in sorted(set(df.loc[df["method"] == "aux", "aux_scale"])):
        rows = df[(df["aux_scale"] == scale) | (df["method"] == "single")]
        med = rows.groupby("n_aux")[["avg_grad_norm", "avg_grad_norm_ratio"]].median()
        rho = spearmanr(med.index, med["avg_grad_norm_ratio"]).statistic if len(med) > 2 else None
        rho_raw = spearmanr(med.index, med["avg_grad_norm"]).statistic if len(med) > 2 else None
        aux = rows[rows["method"] == "aux"]
        top = aux[aux["n_aux"] == aux["n_aux"].max()]
        per_scale[f"{scale:g}"] = {
            "spearman_ratio_medians_vs_n_aux": rho,
            "spearman_raw_medians_vs_n_aux": rho_raw,
            "median_ratio_by_n_aux": med["avg_grad_norm_ratio"].to_dict(),
            "median_avg_grad_norm_by_n_aux": med["avg_grad_norm"].to_dict(),
            "largest_n_aux": int(top["n_aux"].max()) if len(top) else None,
            "median_grad_ratio_at_largest_n_aux": float(top["avg_grad_norm_ratio"].median()),
            "median_test_mse_ratio_at_largest_n_aux": float(top["test_mse_ratio"].median()),
            "fraction_smoother_than_single": float((aux["avg_grad_norm_ratio"] < 1).mean()),
            "decreasing_and_below_single": bool(
                rho is not None and rho <= -0.8 and float(top["avg_grad_norm_ratio"].median()) < 1
            ),
        }
    aux = df[df["method"] == "aux"]
    return {
        "config": asdict(cfg),
        "n_rows": len(df),
        "per_scale": per_scale,
        "per_dim_and_scale": _per_dim(df),
        "median_avg_grad_norm_single": float(single["avg_grad_norm"].median()),
        "median_avg_grad_norm_aux": float(aux["avg_grad_norm"].median()),
        "median_truth_avg_grad_norm": float(df["truth_avg_grad_norm"].median()),
        "train_mse": {
            "single_median": float(single["train_mse"].median()),
            "single_max": float(single["train_mse"].max()),
            "aux_median": float(aux["train_mse"].median()),
            "aux_max": float(aux["train_mse"].max()),
        },
        "converged_fraction": float(df["converged"].astype(bool).mean()),
        "rel_change_median": float(df["rel_change"].median()) if "rel_change" in df else None,
    }


def _per_dim(df: Any) -> dict[str, Any]:
    """Spearman of the median ratio vs n_aux, and the ratio at the largest n_aux, per d."""
    from scipy.stats import spearmanr

    out: dict[str, Any] = {}
    for d in sorted(set(df["d"])):
        sub = df[df["d"] == d]
        for scale in sorted(set(sub.loc[sub["method"] == "aux", "aux_scale"])):
            rows = sub[(sub["aux_scale"] == scale) | (sub["method"] == "single")]
            med = rows.groupby("n_aux")["avg_grad_norm_ratio"].median()
            rho = spearmanr(med.index, med.to_numpy()).statistic if len(med) > 2 else None
            out[f"d={d}, scale={scale:g}"] = {
                "spearman_ratio_medians_vs_n_aux": rho,
                "median_ratio_at_largest_n_aux": float(med.iloc[-1]),
                "median_ratio_by_n_aux": med.to_dict(),
            }
    return out


def plot(df: Any, out: Path) -> list[Path]:
    """Curves of the median ratio to single-task WD against n_aux; heatmap."""
    use_agg()
    import matplotlib.pyplot as plt

    df = with_ratios(df)
    aux = df[df["method"] == "aux"]
    scales = sorted(set(aux["aux_scale"]))
    dims = sorted(set(df["d"]))
    metrics = [
        ("avg_grad_norm_ratio", "avg |grad f1| / single"),
        ("test_mse_ratio", "test MSE / single"),
    ]
    fig, axes = plt.subplots(len(metrics), len(dims), figsize=(4 * len(dims), 6.5), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for j, d in enumerate(dims):
        for i, (col, label) in enumerate(metrics):
            ax = axes[i, j]
            for k, scale in enumerate(scales):
                sub = aux[(aux["d"] == d) & (aux["aux_scale"] == scale)]
                g = sub.groupby("n_aux")[col]
                med, q1, q3 = g.median(), g.quantile(0.25), g.quantile(0.75)
                x = np.concatenate([[0], med.index.to_numpy()])
                ymed = np.concatenate([[1.0], med.to_numpy()])
                err = np.stack([np.r_[0, med - q1], np.r_[0, q3 - med]])
                color = cmap(k / max(len(scales) - 1, 1))
                ax.errorbar(x, ymed, yerr=err, marker="o", ms=3, capsize=2, color=color,
                            label=f"scale {scale:g}")  # fmt: skip
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(-0.3, 1.5 * max(aux["n_aux"].max(), 1))
            ax.set_yscale("log")
            ax.set_xlabel("number of auxiliary tasks")
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(f"d = {d} (median, IQR over n and seeds)")
    axes[0, 0].legend(fontsize=7)
    paths = save_figure(fig, out, "smoothness_curves")

    table = aux.groupby(["aux_scale", "n_aux"])["avg_grad_norm_ratio"].median().unstack()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    logs = np.log2(table.to_numpy())
    lim = max(float(np.nanmax(np.abs(logs))), 1e-3)
    im = ax.imshow(logs, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [f"{s:g}" for s in table.index])
    for (r, c), value in np.ndenumerate(table.to_numpy()):
        ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xlabel("number of auxiliary tasks")
    ax.set_ylabel("auxiliary label scale")
    ax.set_title("median avg |grad f1|, ratio to single-task WD")
    fig.colorbar(im, ax=ax, label="log2 ratio (blue: smoother)")
    return paths + save_figure(fig, out, "smoothness_heatmap")


# ------------------------------------------------------------------------------ run
def _read_done(path: Path) -> set[tuple[Any, ...]]:
    if not path.exists():
        return set()
    with path.open() as fh:
        return {
            (int(r["d"]), int(r["n"]), int(r["n_aux"]), float(r["aux_scale"]), int(r["seed"]))
            for r in csv.DictReader(fh)
        }


def _batches(cfg: SmoothnessConfig, todo: list[Config]) -> Iterator[list[Config]]:
    """Consecutive configurations with the same (d, N, n_aux), ``batch_size`` at a time."""
    size = max(cfg.batch_size, 1)
    batch: list[Config] = []
    for c in todo:
        if batch and (len(batch) == size or batch[0][:3] != c[:3]):
            yield batch
            batch = []
        batch.append(c)
    if batch:
        yield batch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    ints = lambda s: tuple(int(v) for v in s.split(","))  # noqa: E731
    floats = lambda s: tuple(float(v) for v in s.split(","))  # noqa: E731
    parser.add_argument("--dims", type=ints, help="comma-separated input dimensions")
    parser.add_argument("--sizes", type=ints, help="comma-separated sample sizes N")
    parser.add_argument("--n-aux", type=ints, help="comma-separated numbers of aux tasks")
    parser.add_argument("--scales", type=floats, help="comma-separated aux label scales")
    parser.add_argument("--seeds", type=ints, help="comma-separated seeds")
    parser.add_argument("--target", choices=TARGETS, help="ground truth family")
    parser.add_argument("--match", choices=MATCHES, help="how the training fit is matched")
    parser.add_argument("--lam", type=float, help="lam for match=interpolation")
    parser.add_argument("--target-mse", type=float, help="task-1 train MSE for match=fit")
    parser.add_argument("--task-reduction", choices=("sum", "mean"), help="objective convention")
    parser.add_argument("--width", type=int, help="hidden width (default max(64, 2N))")
    parser.add_argument("--max-steps", type=int, help="training steps per network")
    parser.add_argument("--batch-size", type=int, help="configurations trained together")
    parser.add_argument("--resume", action="store_true", help="keep rows already in the CSV")


def run(out: str | Path, *, quick: bool = False, resume: bool = False, **options: Any) -> dict:
    """Run the grid, appending each row to ``smoothness.csv`` as it finishes."""
    import pandas as pd

    path = prepare_out(out)
    cfg = QUICK if quick else SmoothnessConfig()
    unknown = sorted(set(options) - set(cfg.__dataclass_fields__))
    if unknown:
        raise TypeError(f"Unknown option(s) {unknown}; known: {sorted(cfg.__dataclass_fields__)}.")
    fields = {k: v for k, v in options.items() if v is not None}
    cfg = replace(cfg, **fields)
    check_choice(cfg.match, "match", MATCHES)
    check_choice(cfg.target, "target", TARGETS)
    check_number(cfg.lam, "lam", low=0.0)
    check_int(cfg.batch_size, "batch_size", low=1)
    csv_path = path / "smoothness.csv"
    done = _read_done(csv_path) if resume else set()
    if not resume or not csv_path.exists():
        with csv_path.open("w", newline="") as fh:
            csv.writer(fh).writerow(COLUMNS)
    t0 = time.perf_counter()
    todo = [c for c in _configs(cfg) if (c[0], c[1], c[2], float(c[3]), c[4]) not in done]
    for batch in _batches(cfg, todo):
        if cfg.match == "fit" or cfg.batch_size <= 1:
            rows = [run_one(cfg, *c) for c in batch]
        else:
            rows = run_batch(cfg, batch)
        with csv_path.open("a", newline="") as fh:
            csv.writer(fh).writerows([row[c] for c in COLUMNS] for row in rows)
    df = pd.read_csv(csv_path)
    metrics = summarize(df, cfg)
    metrics["seconds"] = time.perf_counter() - t0
    metrics["figures"] = [p.name for p in plot(df, path)]
    write_json(path / "metrics.json", metrics)
    return metrics
