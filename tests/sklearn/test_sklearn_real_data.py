"""The real-data experiment (nested CV of AuxTaskRegressor and baselines), tiny config."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtlreg.experiments import REGISTRY
from mtlreg.experiments import real_data as rd

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.mark.parametrize("name", rd.DATASETS)
def test_bundled_datasets_load_offline(name: str) -> None:
    X, y = rd.load(name)
    assert X.shape[0] == y.shape[0] >= 20


def test_run_writes_table_markdown_figure(tmp_path) -> None:
    assert REGISTRY["real-data"] == "mtlreg.experiments.real_data"
    rd.run(
        tmp_path, datasets=("linnerud",), n_splits=2, n_repeats=1, inner_splits=2, width=8,
        max_iter=40, alphas=(0.1,), n_aux=(3,),
    )  # fmt: skip
    table = pd.read_csv(tmp_path / "real_data.csv")
    assert list(table["method"]) == list(rd.METHODS)
    assert (table["folds"] == 2).all()
    assert table["test_mse_rel"].notna().all()
    assert (table["avg_grad_norm"] > 0).all()
    assert "| linnerud | aux |" in (tmp_path / "real_data.md").read_text()
    assert (tmp_path / "real_data.png").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["n_splits"] == 2


def test_unknown_dataset_raises(tmp_path) -> None:
    with pytest.raises(ValueError, match="datasets"):
        rd.run(tmp_path, datasets=("boston",))


def test_induced_kernel_ridge_approaches_its_network_with_many_tasks() -> None:
    """SPEC section 5: with many tasks output 1 is close to the induced-kernel ridge fit."""
    X, y = rd.load("diabetes")
    X, y = X[:80], y[:80]
    gaps = []
    for n_aux in (2, 100):
        model = rd.InducedKernelRidge(
            width=32, n_aux_tasks=n_aux, alpha=1e-2, ridge=1e-2, max_iter=1000, random_state=0
        ).fit(X, y)
        gaps.append(np.abs(model.predict(X) - model.network_.predict(X)).max() / y.std())
    assert gaps[1] < gaps[0] and gaps[1] < 0.15


def test_induced_kernel_ridge_is_a_scikit_learn_regressor() -> None:
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    X, y = rd.load("linnerud")
    est = rd.InducedKernelRidge(width=16, n_aux_tasks=5, max_iter=100, random_state=0)
    search = GridSearchCV(clone(est), {"ridge": [1e-2, 1e-1]}, cv=2).fit(X, y)
    assert search.predict(X).shape == y.shape
