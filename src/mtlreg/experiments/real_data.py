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

from mtlreg import _style
from mtlreg._io import atomic_write_text, prepare_out, write_json
from mtlreg.experiments._report import network_counts, progress
from mtlreg.metrics import gradient_norm
from mtlreg.sklearn import InducedKernelRidge

NAME = "real-data"
HELP = "AuxTaskRegressor vs weight decay, MLP and kernel ridge on bundled real datasets."

DATASETS: tuple[str, ...] = ("diabetes", "iris-petal", "linnerud")
METHODS: tuple[str, ...] = ("aux", "wd", "mlp", "krr", "induced")
#: What each method code stands for (figure, tables and results/README.md).
METHOD_NAMES: dict[str, str] = {
    "aux": "AuxTaskRegressor: ReLU network, weight decay + random auxiliary tasks",
    "wd": "the same network with weight decay only (n_aux_tasks = 0)",
    "mlp": "scikit-learn MLPRegressor (Adam, L2 penalty)",
    "krr": "kernel ridge regression, RBF kernel",
    "induced": "ridge regression with the kernel induced by an auxiliary-task network",
}

FIGURE_CLAIMS: dict[str, str] = {
    "real_data": (
        "Random auxiliary tasks (aux) regularise a ReLU network on real data: its test error "
        "and input-gradient norm compared with weight decay alone (wd), an MLP and kernel "
        "ridge regression, each tuned by nested cross-validation."
    ),
}

_COMMON_COLUMNS = {
    "dataset": "bundled scikit-learn dataset (`diabetes`, `iris-petal`, `linnerud`)",
    "method": "method code: " + "; ".join(f"`{k}` = {v}" for k, v in METHOD_NAMES.items()),
}
CSV_COLUMNS: dict[str, dict[str, str]] = {
    "real_data_folds.csv": {
        **_COMMON_COLUMNS,
        "fold": "outer fold index (repeats x splits)",
        "test_mse": "test mean squared error on the outer fold (target units squared)",
        "test_mse_rel": "test MSE / variance of the training targets (unitless)",
        "avg_grad_norm": "mean input-gradient norm of the prediction at the test points, "
        "standardised inputs and targets (unitless)",
        "best_params": "hyper-parameters chosen by the inner grid search",
        "seconds": "wall-clock time of tuning, refitting and scoring (s)",
        "converged": "whether the refitted network converged (aux, wd, induced: "
        "AuxTaskRegressor.converged_; mlp: stopped before max_iter; krr: empty, closed form)",
        "rel_change": "stationarity of the refitted network: relative objective decrease "
        "over the last tenth of its steps (unitless; empty for mlp and krr)",
        "flagged": "True when the refitted network did not converge",
    },
    "real_data.csv": {
        **_COMMON_COLUMNS,
        "folds": "outer folds averaged",
        "test_mse_rel": "mean over folds of test MSE / target variance (unitless)",
        "test_mse_rel_se": "its standard error over folds (optimistic: folds are correlated)",
        "test_mse": "mean over folds of the test MSE (target units squared)",
        "avg_grad_norm": "mean over folds of the average input-gradient norm (unitless)",
        "avg_grad_norm_se": "its standard error over folds",
        "seconds": "total wall-clock time over folds (s)",
        "not_converged": "refitted networks that did not converge (flagged)",
    },
}


def verdicts(metrics: dict[str, Any]) -> dict[str, str]:
    """Measured verdict of the figure: aux against wd, per dataset."""
    parts = []
    by = {(r["dataset"], r["method"]): r for r in metrics["results"]}
    for dataset in dict.fromkeys(r["dataset"] for r in metrics["results"]):
        aux, wd = by.get((dataset, "aux")), by.get((dataset, "wd"))
        if aux is None or wd is None:
            continue
        diff = aux["test_mse_rel"] - wd["test_mse_rel"]
        se = float(np.hypot(aux["test_mse_rel_se"], wd["test_mse_rel_se"]))
        parts.append(
            f"{dataset}: test MSE/var aux {aux['test_mse_rel']:.3f} vs wd {wd['test_mse_rel']:.3f} "
            f"(difference {diff:+.3f}, combined s.e. {se:.3f}); gradient norm aux "
            f"{aux['avg_grad_norm']:.3g} vs wd {wd['avg_grad_norm']:.3g}"
        )
    return {"real_data": "; ".join(parts) or "aux or wd not run"}


@dataclass(frozen=True)
class RealDataConfig:
    datasets: tuple[str, ...] = DATASETS
    methods: tuple[str, ...] = METHODS
    n_splits: int = 5
    n_repeats: int = 3
    inner_splits: int = 3
    width: int = 64
    max_iter: int | None = None
    alphas: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    n_aux: tuple[int, ...] = (5, 20, 100)
    aux_scale: float = 1.0
    seed: int = 0


QUICK = RealDataConfig(
    datasets=("diabetes",), n_splits=3, n_repeats=1, inner_splits=2, width=32,
    alphas=(1e-2, 1e-1), n_aux=(20,),
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
            n_aux_tasks=0, aux_scale=cfg.aux_scale, width=cfg.width, random_state=seed,
            **_budget(cfg),
        )  # fmt: skip
        grid: dict[str, list[Any]] = {"alpha": alphas}
        if method == "aux":
            grid["n_aux_tasks"] = list(cfg.n_aux)
    elif method == "mlp":
        mlp = MLPRegressor(
            hidden_layer_sizes=(cfg.width,), max_iter=cfg.max_iter or 1000, random_state=seed
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
            alpha=alphas[len(alphas) // 2], random_state=seed, **_budget(cfg),
        )  # fmt: skip
        grid = {"ridge": alphas}
    else:
        raise ValueError(f"Parameter `method` should be one of {METHODS}. Found {method!r}.")
    inner = KFold(cfg.inner_splits, shuffle=True, random_state=seed)
    return GridSearchCV(est, grid, cv=inner, scoring="neg_mean_squared_error")


def _budget(cfg: RealDataConfig) -> dict[str, Any]:
    """``max_iter`` for the mtlreg estimators (their own default when not set)."""
    return {} if cfg.max_iter is None else {"max_iter": int(cfg.max_iter)}


def _convergence(method: str, search: Any) -> tuple[bool | None, float | None]:
    """(converged, stationarity) of the refitted model (None where it does not apply)."""
    est = search.best_estimator_
    if method in ("aux", "wd", "induced"):
        net = est.network_ if method == "induced" else est
        return bool(net.converged_), float(getattr(net, "final_decrease_", float("nan")))
    if method == "mlp":
        mlp = est.regressor_[-1]
        return bool(mlp.n_iter_ < mlp.max_iter), None
    return None, None


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
    grads = [gradient_norm(unit, z_test, task=k).mean for k in range(truth.shape[1])]
    converged, rel_change = _convergence(method, search)
    return {
        "test_mse": float(np.mean((pred - truth) ** 2)),
        "test_mse_rel": float(np.mean(((pred - truth) ** 2).mean(0) / var)),
        "avg_grad_norm": float(np.mean(grads)),
        "best_params": {k.split("__")[-1]: v for k, v in search.best_params_.items()},
        "seconds": time.perf_counter() - t0,
        "converged": converged,
        "rel_change": rel_change,
        "flagged": converged is False,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    strs = lambda s: tuple(s.split(","))  # noqa: E731
    parser.add_argument("--datasets", type=strs, help=f"comma-separated, from {DATASETS}")
    parser.add_argument("--methods", type=strs, help=f"comma-separated, from {METHODS}")
    parser.add_argument("--n-splits", type=int, help="outer folds K")
    parser.add_argument("--n-repeats", type=int, help="repetitions of the outer K-fold")
    parser.add_argument("--inner-splits", type=int, help="inner folds for tuning")
    parser.add_argument(
        "--max-iter", type=int, help="training steps of the ReLU networks (their default)"
    )


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
    jobs = []
    for name in cfg.datasets:
        X, y = load(name)
        outer = RepeatedKFold(n_splits=cfg.n_splits, n_repeats=cfg.n_repeats, random_state=cfg.seed)
        for fold, (train, test) in enumerate(outer.split(X)):
            jobs += [(name, X, y, fold, train, test, method) for method in cfg.methods]
    for name, X, y, fold, train, test, method in progress(
        jobs, desc=f"{NAME}: nested CV", unit="fit"
    ):
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
            not_converged=("flagged", "sum"),
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
        "method_names": METHOD_NAMES,
        "networks": network_counts(
            [r for r in rows if r["method"] in ("aux", "wd", "induced", "mlp")],
            measure="rel_change: relative objective decrease over the last tenth of the steps "
            "of each refitted AuxTaskRegressor (one per outer fold and method); MLPRegressor: "
            "converged when it stopped before max_iter",
        ),
        "seconds": time.perf_counter() - t0,
    }
    write_json(path / "metrics.json", metrics)
    return metrics


def _markdown(table: Any, cfg: RealDataConfig) -> str:
    lines = [
        f"Nested CV: {cfg.n_repeats} x {cfg.n_splits}-fold outer, {cfg.inner_splits}-fold inner.",
        "Test MSE relative to the target variance (mean +- s.e. over folds); average",
        "gradient norm of the prediction in standardised units. Methods:",
        *[f"- `{k}`: {v}" for k, v in METHOD_NAMES.items()],
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
    """Bars per method: test MSE / var (top) and gradient norm (bottom), one column per dataset."""
    names = list(dict.fromkeys(table["dataset"]))
    with _style.context():
        fig, axes = _style.subplots(
            2, len(names), width=max(2.6 * len(names), 3.6), panel_height=2.0, sharey="row"
        )
        rows = (
            ("test_mse_rel", "test MSE / var(y)", None),
            ("avg_grad_norm", "mean input-gradient norm", "standardised units"),
        )
        for j, name in enumerate(names):
            sub = table[table["dataset"] == name]
            x = np.arange(len(sub))
            for i, (col, label, unit) in enumerate(rows):
                ax = axes[i, j]
                colors = [
                    _style.color(METHODS.index(m) if m in METHODS else 6) for m in sub["method"]
                ]
                ax.bar(x, sub[col], yerr=sub[f"{col}_se"], capsize=2, color=colors)
                ax.set_xticks(x, list(sub["method"]))
                _style.label(ax, "method", label, yunit=unit)
            axes[0, j].set_title(name)
        _style.note(
            fig,
            "Mean over outer folds, bars: standard error. "
            + "; ".join(f"{k}: {v}" for k, v in METHOD_NAMES.items())
            + ".",
        )
        return _style.save(fig, out, "real_data")
