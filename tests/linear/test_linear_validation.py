"""Bad input raises clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from mtlreg.linear import (
    fit_multitask,
    generalization_error,
    sample_multitask,
    simulate_error,
    theory_error,
)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n": 0}, ValueError, "`n`"),
        ({"n": [3, 0]}, ValueError, "`n`"),
        ({"d": 0}, ValueError, "`d`"),
        ({"T": 0}, ValueError, "`T`"),
        ({"phi": "tanh"}, ValueError, "`phi`"),
        ({"sigma": -1.0}, ValueError, "`sigma`"),
        ({"n": 2.5}, TypeError, "`n`"),
    ],
)
def test_sampling_rejects_bad_input(kwargs, exc, match):
    args = {"n": [3, 4], "d": 5, "T": 2, "sigma": 0.5, "phi": "sign"} | kwargs
    with pytest.raises(exc, match=match):
        sample_multitask(**args)


def test_estimator_rejects_bad_input():
    data = sample_multitask(4, 6, 2, 0.5, seed=0)
    with pytest.raises(ValueError, match="`lambda0`"):
        fit_multitask(data.A, data.y, -1.0, 1.0)
    with pytest.raises(ValueError, match="`lambda_t`"):
        fit_multitask(data.A, data.y, 1.0, -1.0)
    with pytest.raises(ValueError, match="`lambda_t`"):
        fit_multitask(data.A, data.y, 1.0, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="`method`"):
        fit_multitask(data.A, data.y, 1.0, 1.0, method="cholesky")
    with pytest.raises(ValueError, match="`method`"):
        fit_multitask(data.A, data.y, 0.0, 1.0, method="dual")
    with pytest.raises(ValueError, match="T >= 1"):
        fit_multitask([], [], 1.0, 1.0)
    with pytest.raises(ValueError, match="`y"):
        fit_multitask(data.A, [data.y[0][:-1], data.y[1]], 1.0, 1.0)
    with pytest.raises(ValueError, match="`A"):
        fit_multitask([data.A[0], np.ones((4, 3))], data.y, 1.0, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, "`alpha`"),
        ({"T": 0}, "`T`"),
        ({"l0": -0.1}, "`l0`"),
        ({"l": -0.1}, "`l`"),
        ({"phi": "softplus"}, "`phi`"),
        ({"sigma": -0.5}, "`sigma`"),
    ],
)
def test_theory_rejects_bad_input(kwargs, match):
    args = {"alpha": 0.5, "T": 2, "sigma": 0.5, "l0": 0.1, "l": 0.1, "phi": "sign"} | kwargs
    with pytest.raises(ValueError, match=match):
        theory_error(**args)


def test_monte_carlo_and_error_reject_bad_input():
    with pytest.raises(ValueError, match="`d`"):
        simulate_error(3, 0, 2, 0.5, 0.1, 0.1)
    with pytest.raises(ValueError, match="`l`"):
        simulate_error(3, 4, 2, 0.5, 0.1, 0.0)
    with pytest.raises(ValueError, match="`trials`"):
        simulate_error(3, 4, 2, 0.5, 0.1, 0.1, trials=0)
    with pytest.raises(TypeError, match="`T`"):
        theory_error(0.5, 2.0, 0.5, 0.1, 0.1)
    with pytest.raises(ValueError, match="`w`"):
        generalization_error(np.ones(3), np.ones(4))
