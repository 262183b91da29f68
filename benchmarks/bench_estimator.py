"""AuxTaskRegressor against MLPRegressor and KernelRidge: time and test error (issue 16).

Every estimator runs at its defaults inside ``make_pipeline(StandardScaler(), ...)``,
as a user would write it (MLPRegressor and KernelRidge additionally get their targets
standardised by a ``TransformedTargetRegressor``, which AuxTaskRegressor does itself):

- ``aux``: ``AuxTaskRegressor(random_state=0)`` (10 Gaussian auxiliary tasks);
- ``wd``: the same network without auxiliary tasks (``n_aux_tasks=0``);
- ``mlp``: ``MLPRegressor(hidden_layer_sizes=(64,), random_state=0)`` (same width);
- ``krr``: ``KernelRidge(kernel="rbf")``.

Problems: ``diabetes`` (442 x 10, 5-fold CV) and ``synthetic-d10`` (x ~ N(0, I_10),
y = sin(2 x_1) + x_2 x_3 + relu(x_4) + 0.3 noise; 400 training and 2000 test points,
3 draws). Test error is the mean squared error over the test variance (mean and
standard error over folds/draws). The README's grid search
``GridSearchCV(AuxTaskRegressor(random_state=0), {"alpha": [1e-4, 1e-3],
"n_aux_tasks": [0, 10, 50]})`` on diabetes is timed as well. Wall and CPU seconds
of this process are both printed: CPU seconds are what the run would take alone on
an idle core. Ratios are against ``aux`` in the same run. One thread.

    python benchmarks/bench_estimator.py [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.kernel_ridge import KernelRidge  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from mtlreg.sklearn import AuxTaskRegressor  # noqa: E402

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def estimators() -> dict[str, Callable[[], Any]]:
    def scaled_y(est: Any) -> Any:
        return TransformedTargetRegressor(
            make_pipeline(StandardScaler(), est), transformer=StandardScaler()
        )

    return {
        "aux": lambda: make_pipeline(StandardScaler(), AuxTaskRegressor(random_state=0)),
        "wd": lambda: make_pipeline(
            StandardScaler(), AuxTaskRegressor(n_aux_tasks=0, random_state=0)
        ),
        "mlp": lambda: scaled_y(MLPRegressor(hidden_layer_sizes=(64,), random_state=0)),
        "krr": lambda: scaled_y(KernelRidge(kernel="rbf")),
    }


def synthetic_d10(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 10))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + np.maximum(X[:, 3], 0.0)
    return X, y + 0.3 * rng.standard_normal(n)


def splits(problem: str, quick: bool) -> Iterator[Split]:
    if problem == "diabetes":
        X, y = load_diabetes(return_X_y=True)
        folds = KFold(3 if quick else 5, shuffle=True, random_state=0).split(X)
        for tr, te in folds:
            yield X[tr], y[tr], X[te], y[te]
    else:
        for seed in range(1 if quick else 3):
            X, y = synthetic_d10(400 + 2000, seed)
            yield X[:400], y[:400], X[400:], y[400:]


def run_one(make: Callable[[], Any], data: list[Split]) -> dict[str, float]:
    errors, wall, cpu, warned = [], 0.0, 0.0, 0
    for Xtr, ytr, Xte, yte in data:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            w0, c0 = time.perf_counter(), time.process_time()
            model = make().fit(Xtr, ytr)
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
        warned += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        errors.append(float(np.mean((model.predict(Xte) - yte) ** 2) / np.var(yte)))
    err = np.array(errors)
    se = float(err.std(ddof=1) / np.sqrt(len(err))) if len(err) > 1 else float("nan")
    return {"mse": float(err.mean()), "se": se, "wall": wall, "cpu": cpu, "warn": warned}


def grid_search(quick: bool) -> dict[str, float]:
    X, y = load_diabetes(return_X_y=True)
    grid = {"alpha": [1e-4, 1e-3], "n_aux_tasks": [0, 10, 50]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        w0, c0 = time.perf_counter(), time.process_time()
        search = GridSearchCV(AuxTaskRegressor(random_state=0), grid, cv=2 if quick else 5)
        search.fit(X, y)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    warned = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    fits = len(search.cv_results_["params"]) * search.n_splits_ + 1
    return {"wall": wall, "cpu": cpu, "warn": warned, "fits": fits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 folds / 1 draw, 2-fold grid")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch threads {torch.get_num_threads()}, load average "
        f"{os.getloadavg()[0]:.1f} at start"
    )
    makers = estimators()
    print("problem        method  test MSE/var       wall s   CPU s  warnings  CPU/aux")
    for problem in ("diabetes", "synthetic-d10"):
        data = list(splits(problem, args.quick))
        rows = {name: run_one(make, data) for name, make in makers.items()}
        for name, r in rows.items():
            ratio = r["cpu"] / rows["aux"]["cpu"]
            print(
                f"{problem:<14} {name:<6} {r['mse']:.3f} +- {r['se']:.3f}   {r['wall']:7.2f} "
                f"{r['cpu']:7.2f}  {int(r['warn']):8d}  {ratio:7.2f}"
            )
        aux = rows["aux"]
        for name in ("mlp", "krr"):
            print(
                f"{problem}: aux/{name} test error {aux['mse'] / rows[name]['mse']:.2f}, "
                f"aux/{name} CPU time {aux['cpu'] / rows[name]['cpu']:.2f}"
            )
    g = grid_search(args.quick)
    print(
        f"README grid search on diabetes ({int(g['fits'])} fits): wall {g['wall']:.1f} s, "
        f"CPU {g['cpu']:.1f} s, ConvergenceWarnings {int(g['warn'])}"
    )
    print(f"# load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
