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
    lams = {"lam_shared": 1.0, "lam_task": 1.0}
    with pytest.raises(ValueError, match="`lam_shared`"):
        fit_multitask(data.A, data.y, lam_shared=-1.0, lam_task=1.0)
    with pytest.raises(ValueError, match="`lam_task`"):
        fit_multitask(data.A, data.y, lam_shared=1.0, lam_task=-1.0)
    with pytest.raises(ValueError, match="`lam_task`"):
        fit_multitask(data.A, data.y, lam_shared=1.0, lam_task=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="`method`"):
        fit_multitask(data.A, data.y, **lams, method="cholesky")
    with pytest.raises(ValueError, match="`method`"):
        fit_multitask(data.A, data.y, lam_shared=0.0, lam_task=1.0, method="dual")
    with pytest.raises(ValueError, match="T >= 1"):
        fit_multitask([], [], **lams)
    with pytest.raises(ValueError, match="`y"):
        fit_multitask(data.A, [data.y[0][:-1], data.y[1]], **lams)
    with pytest.raises(ValueError, match="`A"):
        fit_multitask([data.A[0], np.ones((4, 3))], data.y, **lams)
    with pytest.raises(TypeError, match="`lam_task`"):
        fit_multitask(data.A, data.y, lam_shared=1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample_ratio": 0.0}, "`sample_ratio`"),
        ({"T": 0}, "`T`"),
        ({"lam_shared": -0.1}, "`lam_shared`"),
        ({"lam_task": -0.1}, "`lam_task`"),
        ({"phi": "softplus"}, "`phi`"),
        ({"sigma": -0.5}, "`sigma`"),
    ],
)
def test_theory_rejects_bad_input(kwargs, match):
    args = {"sample_ratio": 0.5, "T": 2, "sigma": 0.5, "lam_shared": 0.1, "lam_task": 0.1}
    args = args | {"phi": "sign"} | kwargs
    with pytest.raises(ValueError, match=match):
        theory_error(**args)


def test_monte_carlo_and_error_reject_bad_input():
    lams = {"lam_shared": 0.1, "lam_task": 0.1}
    with pytest.raises(ValueError, match="`d`"):
        simulate_error(3, 0, 2, 0.5, **lams)
    with pytest.raises(ValueError, match="`lam_task`"):
        simulate_error(3, 4, 2, 0.5, lam_shared=0.1, lam_task=0.0)
    with pytest.raises(ValueError, match="`trials`"):
        simulate_error(3, 4, 2, 0.5, **lams, trials=0)
    with pytest.raises(TypeError, match="`T`"):
        theory_error(0.5, 2.0, 0.5, **lams)
    with pytest.raises(ValueError, match="`w`"):
        generalization_error(np.ones(3), np.ones(4))
