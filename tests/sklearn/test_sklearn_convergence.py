"""``AuxTaskRegressor`` warns only when its objective was still falling materially."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from mtlreg.sklearn import AuxTaskRegressor
from mtlreg.sklearn._estimator import MATERIAL_DECREASE, final_decrease


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (30, 2))
    return X, np.sin(2 * X[:, 0]) + X[:, 1]


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
    reg = AuxTaskRegressor(n_aux_tasks=3, width=16, max_iter=1000, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"still falling .*by [0-9.e-]+% over the last"):
        reg.fit(X, y)
    assert reg.final_decrease_ > MATERIAL_DECREASE


def test_silent_when_the_objective_settled() -> None:
    X, y = _data()
    reg = AuxTaskRegressor(n_aux_tasks=3, width=16, alpha=1e-2, max_iter=1000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.fit(X, y)
    assert abs(reg.final_decrease_) < MATERIAL_DECREASE
