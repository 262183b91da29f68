"""AuxTaskRegressor: the regularizer's semantics, sklearn composition, input errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from mtlreg import train
from mtlreg.sklearn import AuxTaskRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = {"width": 12, "max_iter": 120, "random_state": 0}


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (40, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    return X, y


def test_net_has_real_plus_aux_outputs_and_predicts_real_only(data) -> None:
    X, y = data
    reg = AuxTaskRegressor(n_aux_tasks=4, **FAST).fit(X, np.c_[y, -y])
    assert reg.net_.out_dim == 2 + 4
    assert reg.n_outputs_ == 2
    assert reg.predict(X).shape == (40, 2)


def test_zero_aux_tasks_is_plain_weight_decay(data) -> None:
    """n_aux_tasks=0, standardize=False equals mtlreg.train on the raw data."""
    X, y = data
    reg = AuxTaskRegressor(n_aux_tasks=0, standardize=False, alpha=1e-3, **FAST).fit(X, y)
    seed = int(np.random.RandomState(0).randint(0, 2**31 - 1, size=2)[1])
    ref = train(
        X, y, width=12, lam=1e-3, seed=seed, method="continuation", max_steps=120, restarts=1
    )
    np.testing.assert_allclose(reg.predict(X), ref.net.predict(X)[:, 0], rtol=1e-10, atol=1e-12)


def test_aux_labels_follow_aux_scale_in_standardised_units(data) -> None:
    """With a tiny alpha the auxiliary outputs fit their N(0, aux_scale^2) labels."""
    X, y = data
    reg = AuxTaskRegressor(
        n_aux_tasks=3, aux_scale=2.0, alpha=1e-6, width=40, max_iter=600, random_state=1
    ).fit(X, y)
    xs = (X - reg.x_mean_) / reg.x_scale_
    aux_out = reg.net_.predict(xs)[:, 1:]
    assert 1.0 < aux_out.std() < 3.0


def test_standardize_makes_fit_invariant_to_target_units(data) -> None:
    X, y = data
    a = AuxTaskRegressor(**FAST).fit(X, y)
    b = AuxTaskRegressor(**FAST).fit(1000.0 * X, 50.0 * y + 7.0)
    np.testing.assert_allclose(50.0 * a.predict(X) + 7.0, b.predict(1000.0 * X), rtol=1e-6)


def test_random_state_reproducible_and_clone_unfitted(data) -> None:
    X, y = data
    reg = AuxTaskRegressor(n_aux_tasks=3, **FAST)
    p1 = reg.fit(X, y).predict(X)
    twin = clone(reg)
    assert not hasattr(twin, "net_")
    np.testing.assert_array_equal(twin.fit(X, y).predict(X), p1)


def test_pickle_roundtrip(data) -> None:
    X, y = data
    reg = AuxTaskRegressor(n_aux_tasks=2, **FAST).fit(X, y)
    back = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(back.predict(X), reg.predict(X))


def test_pipeline_and_grid_search_over_alpha_and_n_aux(data) -> None:
    X, y = data
    pipe = make_pipeline(StandardScaler(), AuxTaskRegressor(**FAST))
    grid = GridSearchCV(
        pipe,
        {"auxtaskregressor__alpha": [1e-3, 1e-1], "auxtaskregressor__n_aux_tasks": [0, 5]},
        cv=2,
        scoring="neg_mean_squared_error",
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.predict(X).shape == (40,)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"alpha": -1.0}, "alpha"),
        ({"aux_dist": "cauchy"}, "aux_dist"),
        ({"n_aux_tasks": -2}, "n_aux_tasks"),
        ({"width": 0}, "width"),
        ({"aux_scale": -0.5}, "aux_scale"),
    ],
)
def test_bad_hyperparameters_raise_invalid_parameter_error(data, params, match) -> None:
    X, y = data
    with pytest.raises(InvalidParameterError, match=match):
        AuxTaskRegressor(**params).fit(X, y)


def test_bad_inputs_raise_sklearn_errors(data) -> None:
    X, y = data
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AuxTaskRegressor(**FAST).fit(bad, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        AuxTaskRegressor(**FAST).fit(X, y[:-1])
    with pytest.raises(ValueError, match="2D array"):
        AuxTaskRegressor(**FAST).fit(X[:, 0], y)
    reg = AuxTaskRegressor(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        reg.predict(X[:, :2])


def test_device_parameter_accepts_torch_device(data) -> None:
    X, y = data
    reg = AuxTaskRegressor(device=torch.device("cpu"), **FAST).fit(X, y)
    assert reg.net_.w.device.type == "cpu"
