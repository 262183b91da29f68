"""``AuxTaskRegressor`` converges at its defaults, and ``tol`` decides for every ``max_iter``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mtlreg.sklearn import AuxTaskRegressor
from mtlreg.sklearn._estimator import final_decrease


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (30, 2))
    return X, np.sin(2 * X[:, 0]) + X[:, 1]


def synthetic_d10(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic d = 10 problem of benchmarks/bench_estimator.py."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 10))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + np.maximum(X[:, 3], 0.0)
    return X, y + 0.3 * rng.standard_normal(n)


def test_final_decrease_over_the_last_tenth() -> None:
    steps = np.arange(10, 101, 10)
    flat = np.full(10, 2.0)
    assert final_decrease(steps, flat) == (0.0, 10)
    falling = np.linspace(3.0, 1.0, 10)  # falls by 2/9 per entry
    decrease, window = final_decrease(steps, falling)
    assert window == 10
    assert decrease == pytest.approx((falling[-2] - 1.0) / 1.0)
    assert final_decrease(steps, falling[::-1])[0] < 0  # rising
    assert final_decrease(np.array([5]), np.array([1.0])) == (0.0, 0)


def test_warns_with_the_amount_when_still_falling() -> None:
    X, y = _data()
    reg = AuxTaskRegressor(n_aux_tasks=3, width=16, alpha=1e-4, max_iter=200, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"still falling .*by [0-9.e-]+, relative"):
        reg.fit(X, y)
    assert not reg.converged_
    assert reg.final_decrease_ > reg.tol


def test_tol_decides_convergence_for_short_runs() -> None:
    """max_iter <= 4000 (the default included): ``converged_`` is final_decrease_ <= tol,
    and ``tol`` does not change the trained network."""
    X, y = _data()
    base = {"n_aux_tasks": 3, "width": 16, "alpha": 1e-4, "max_iter": 200, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        strict = AuxTaskRegressor(tol=0.0, **base).fit(X, y)
    decrease = strict.final_decrease_
    assert decrease > 0 and not strict.converged_
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        loose = AuxTaskRegressor(tol=2 * decrease, **base).fit(X, y)
    assert loose.converged_
    np.testing.assert_array_equal(loose.predict(X), strict.predict(X))


@pytest.mark.parametrize("problem", ["diabetes", "synthetic_d10"])
def test_defaults_converge_without_warnings(problem: str) -> None:
    """issue 16: the defaults converge on diabetes (standardised in a Pipeline, as a user
    would) and on a synthetic d = 10 problem, and the objective has settled."""
    X, y = load_diabetes(return_X_y=True) if problem == "diabetes" else synthetic_d10()
    model = make_pipeline(StandardScaler(), AuxTaskRegressor(random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y)
    reg = model[-1]
    assert reg.converged_
    assert 0 <= reg.final_decrease_ <= reg.tol or abs(reg.final_decrease_) <= reg.tol
    assert reg.score(model[0].transform(X), y) > 0.4


def test_default_convergence_on_diabetes_is_close_to_a_long_run() -> None:
    """converged_ at the defaults is not only a flat end: four times the steps lower the
    objective by less than 0.1 % (relative)."""
    X, y = load_diabetes(return_X_y=True)
    short = AuxTaskRegressor(random_state=0).fit(X, y)
    long = AuxTaskRegressor(max_iter=4 * short.max_iter, random_state=0).fit(X, y)
    assert short.converged_ and long.converged_
    assert short.objective_ - long.objective_ <= 1e-3 * long.objective_
