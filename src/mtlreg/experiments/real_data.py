"""Random auxiliary tasks on real regression data: repeated K-fold CV, nested tuning.

Datasets ship inside scikit-learn (nothing is downloaded):

- ``diabetes``: 442 patients, 10 features, disease progression after one year.
- ``iris-petal``: petal width from the other three iris measurements (150 x 3).
- ``linnerud``: three physiological targets from three exercises (20 x 3, multi-output).

Methods (each tuned by an inner K-fold grid search on the outer training folds only):
``aux`` (:class:`~mtlreg.sklearn.AuxTaskRegressor`, tuned over alpha and the number of
auxiliary tasks), ``wd`` (the same network with ``n_aux_tasks=0``), ``mlp``
(scikit-learn's MLPRegressor, tuned over alpha), ``krr`` (KernelRidge, RBF kernel,
tuned over alpha and gamma) and ``induced`` (:class:`~mtlreg.sklearn.InducedKernelRidge`: ridge
regression in the RKHS of the kernel induced by an auxiliary-task network's own
neurons, docs/theory.md §5; the network is trained once with the largest number of
auxiliary tasks and the middle alpha, the ridge strength is tuned). Inputs and
targets are standardised inside every model.

Reported per dataset and method: test MSE on the outer folds in units of the target's
variance (mean and standard error over folds; the folds of repeated CV are correlated,
so the standard error is optimistic), and the average input-gradient norm of the
prediction at the test points (standardised inputs and targets; central differences).
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtlreg._io import (
    atomic_write_text,
    prepare_out,
    save_figure,
    use_agg,
    write_json,
)
from mtlreg.metrics import gradient_norm
from mtlreg.sklearn import InducedKernelRidge

NAME = "real-data"
HELP = "AuxTaskRegressor vs weight decay, MLP and kernel ridge on bundled real datasets."

DATASETS: tuple[str, ...] = ("diabetes", "iris-petal", "linnerud")
METHODS: tuple[str, ...] = ("aux", "wd", "mlp", "krr", "induced")


@dataclass(frozen=True)
class RealDataConfig:
    datasets: tuple[str, ...] = DATASETS
    methods: tuple[str, ...] = METHODS
    n_splits: int = 5
    n_repeats: int = 3
    inner_splits: int = 3
    width: int = 64
    max_iter: int = 1000
    alphas: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    n_aux: tuple[int, ...] = (5, 20, 100)
    aux_scale: float = 1.0
    seed: int = 0


QUICK = RealDataConfig(
    datasets=("diabetes",), n_splits=3, n_repeats=1, inner_splits=2, width=32,
    max_iter=200, alphas=(1e-2, 1e-1), n_aux=(20,),
)  # fmt: skip


def load(name: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(X, y) of a bundled dataset; y is (n,) or (n, k)."""
    from sklearn import datasets

    if name == "diabetes":
        X, y = datasets.load_diabetes(return_X_y=True)
    elif name == "iris-petal":
        data = datasets.load_iris().data
        X, y = data[:, [0, 1, 2]], data[:, 3]
    elif name == "linnerud":
        X, y = datasets.load_linnerud(return_X_y=True)
    else:
        raise ValueError(f"Parameter `dataset` should be one of {DATASETS}. Found {name!r}.")
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)


def make_search(method: str, cfg: RealDataConfig, seed: int) -> Any:
    """The method's estimator wrapped in its inner grid search."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mtlreg.sklearn import AuxTaskRegressor

    alphas = list(cfg.alphas)
    if method in ("aux", "wd"):
        est: Any = AuxTaskRegressor(
            n_aux_tasks=0, aux_scale=cfg.aux_scale, width=cfg.width, max_iter=cfg.max_iter,
            random_state=seed,
        )  # fmt: skip
        grid: dict[str, list[Any]] = {"alpha": alphas}
        if method == "aux":
            grid["n_aux_tasks"] = list(cfg.n_aux)
    elif method == "mlp":
        mlp = MLPRegressor(
            hidden_layer_sizes=(cfg.width,), max_iter=cfg.max_iter, random_state=seed
        )
        est = TransformedTargetRegressor(
            make_pipeline(StandardScaler(), mlp), transformer=StandardScaler()
        )
        grid = {"regressor__mlpregressor__alpha": alphas}
    elif method == "krr":
        krr = KernelRidge(kernel="rbf")
        est = TransformedTargetRegressor(
            make_pipeline(StandardScaler(), krr), transformer=StandardScaler()
        )
        grid = {
            "regressor__kernelridge__alpha": alphas,
            "regressor__kernelridge__gamma": [0.01, 0.1, 1.0],
        }
    elif method == "induced":
        est = InducedKernelRidge(
            n_aux_tasks=max(cfg.n_aux), aux_scale=cfg.aux_scale, width=cfg.width,
            alpha=alphas[len(alphas) // 2], max_iter=cfg.max_iter, random_state=seed,
        )  # fmt: skip
        grid = {"ridge": alphas}
    else:
        raise ValueError(f"Parameter `method` should be one of {METHODS}. Found {method!r}.")
    inner = KFold(cfg.inner_splits, shuffle=True, random_state=seed)
    return GridSearchCV(est, grid, cv=inner, scoring="neg_mean_squared_error")


class _Standardised:
    """``z -> (model(mean + std * z) - y_mean) / y_std``: gradients in unitless units."""

    def __init__(self, model: Any, X: NDArray, y: NDArray) -> None:
        self.model = model
        self.mean, self.std = X.mean(0), np.where(X.std(0) > 0, X.std(0), 1.0)
        targets = y.reshape(len(y), -1)
        self.y_mean, self.y_std = targets.mean(0), np.where(targets.std(0) > 0, targets.std(0), 1)

    def predict(self, Z: NDArray) -> NDArray:
        pred = np.asarray(self.model.predict(self.mean + self.std * Z))
        return (pred.reshape(len(Z), -1) - self.y_mean) / self.y_std


def evaluate_fold(
    method: str,
    cfg: RealDataConfig,
    X: NDArray,
    y: NDArray,
    train: NDArray,
    test: NDArray,
    seed: int,
) -> dict[str, Any]:
    """Tune on ``train`` (inner CV), refit, score on ``test``."""
    t0 = time.perf_counter()
    search = make_search(method, cfg, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of small budgets
        search.fit(X[train], y[train])
    pred = np.asarray(search.predict(X[test])).reshape(len(test), -1)
    truth = y[test].reshape(len(test), -1)
    var = y[train].reshape(len(train), -1).var(0)
    unit = _Standardised(search, X[train], y[train])
    z_test = (X[test] - unit.mean) / unit.std
    grads = [gradient_norm(unit, z_test, output=k).mean for k in range(truth.shape[1])]
    return {
        "test_mse": float(np.mean((pred - truth) ** 2)),
        "test_mse_rel": float(np.mean(((pred - truth) ** 2).mean(0) / var)),
        "avg_grad_norm": float(np.mean(grads)),
        "best_params": {k.split("__")[-1]: v for k, v in search.best_params_.items()},
        "seconds": time.perf_counter() - t0,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    strs = lambda s: tuple(s.split(","))  # noqa: E731
    parser.add_argument("--datasets", type=strs, help=f"comma-separated, from {DATASETS}")
    parser.add_argument("--methods", type=strs, help=f"comma-separated, from {METHODS}")
    parser.add_argument("--n-splits", type=int, help="outer folds K")
    parser.add_argument("--n-repeats", type=int, help="repetitions of the outer K-fold")
    parser.add_argument("--inner-splits", type=int, help="inner folds for tuning")
    parser.add_argument("--max-iter", type=int, help="training steps of the ReLU networks")


def run(out: str | Path, *, quick: bool = False, **options: Any) -> dict:
    """Nested repeated K-fold CV on each dataset; write tables, figure and metrics."""
    import pandas as pd
    from sklearn.model_selection import RepeatedKFold

    path = prepare_out(out)
    cfg = QUICK if quick else RealDataConfig()
    unknown = sorted(set(options) - set(cfg.__dataclass_fields__))
    if unknown:
        raise TypeError(f"Unknown option(s) {unknown}; known: {sorted(cfg.__dataclass_fields__)}.")
    fields = {k: v for k, v in options.items() if v is not None}
    cfg = replace(cfg, **fields)
    for name in cfg.datasets:
        if name not in DATASETS:
            raise ValueError(
                f"Parameter `datasets` should hold names from {DATASETS}. Found {name!r}."
            )
    t0 = time.perf_counter()
    rows = []
    for name in cfg.datasets:
        X, y = load(name)
        outer = RepeatedKFold(n_splits=cfg.n_splits, n_repeats=cfg.n_repeats, random_state=cfg.seed)
        for fold, (train, test) in enumerate(outer.split(X)):
            for method in cfg.methods:
                res = evaluate_fold(method, cfg, X, y, train, test, seed=cfg.seed + fold)
                rows.append({"dataset": name, "method": method, "fold": fold, **res})
        folds = pd.DataFrame(rows)
        folds.assign(best_params=folds["best_params"].astype(str)).to_csv(
            path / "real_data_folds.csv", index=False
        )
    folds = pd.DataFrame(rows)
    table = (
        folds.groupby(["dataset", "method"], sort=False)
        .agg(
            folds=("fold", "size"),
            test_mse_rel=("test_mse_rel", "mean"),
            test_mse_rel_se=("test_mse_rel", lambda s: s.std(ddof=1) / np.sqrt(len(s))),
            test_mse=("test_mse", "mean"),
            avg_grad_norm=("avg_grad_norm", "mean"),
            avg_grad_norm_se=("avg_grad_norm", lambda s: s.std(ddof=1) / np.sqrt(len(s))),
            seconds=("seconds", "sum"),
        )
        .reset_index()
    )
    table.to_csv(path / "real_data.csv", index=False)
    atomic_write_text(path / "real_data.md", _markdown(table, cfg))
    figures = _plot(table, path)
    metrics = {
        "config": asdict(cfg),
        "results": table.to_dict(orient="records"),
        "figures": [p.name for p in figures],
        "seconds": time.perf_counter() - t0,
    }
    write_json(path / "metrics.json", metrics)
    return metrics


def _markdown(table: Any, cfg: RealDataConfig) -> str:
    lines = [
        f"Nested CV: {cfg.n_repeats} x {cfg.n_splits}-fold outer, {cfg.inner_splits}-fold inner.",
        "Test MSE relative to the target variance (mean +- s.e. over folds); average",
        "gradient norm of the prediction in standardised units.",
        "",
        "| dataset | method | test MSE / var | avg grad norm | folds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.dataset} | {r.method} | {r.test_mse_rel:.3f} +- {r.test_mse_rel_se:.3f} "
            f"| {r.avg_grad_norm:.3f} +- {r.avg_grad_norm_se:.3f} | {r.folds} |"
        )
    return "\n".join(lines) + "\n"


def _plot(table: Any, out: Path) -> list[Path]:
    use_agg()
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(2, len(names), figsize=(3.6 * len(names), 5.5), squeeze=False)
    for j, name in enumerate(names):
        sub = table[table["dataset"] == name]
        x = np.arange(len(sub))
        for i, (col, label) in enumerate(
            [("test_mse_rel", "test MSE / var(y)"), ("avg_grad_norm", "avg |grad| (std. units)")]
        ):
            ax = axes[i, j]
            ax.bar(x, sub[col], yerr=sub[f"{col}_se"], capsize=3, color="C0")
            ax.set_xticks(x, list(sub["method"]))
            if j == 0:
                ax.set_ylabel(label)
        axes[0, j].set_title(name)
    return save_figure(fig, out, "real_data")
