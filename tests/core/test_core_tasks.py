"""Auxiliary labels: layout, seeding, distributions, validation."""

from __future__ import annotations

import numpy as np
import pytest

from mtlreg import aux_tasks
from mtlreg.tasks import AUX_DISTRIBUTIONS


def test_real_labels_come_first_and_shape() -> None:
    y = np.arange(6.0).reshape(3, 2)
    Y = aux_tasks(y, n_aux=4, seed=0)
    assert Y.shape == (3, 6)
    np.testing.assert_array_equal(Y[:, :2], y)
    assert aux_tasks(np.arange(3.0), 0, seed=0).shape == (3, 1)


@pytest.mark.parametrize("dist", AUX_DISTRIBUTIONS)
def test_same_seed_same_labels_different_seed_different(dist: str) -> None:
    y = np.zeros(200)
    a = aux_tasks(y, 3, dist=dist, seed=7)
    np.testing.assert_array_equal(a, aux_tasks(y, 3, dist=dist, seed=7))
    assert not np.array_equal(a, aux_tasks(y, 3, dist=dist, seed=8))


def test_distribution_moments() -> None:
    y = np.zeros(200_000)
    g = aux_tasks(y, 1, dist="gaussian", scale=3.0, seed=1)[:, 1]
    assert abs(g.mean()) < 0.03 and g.std() == pytest.approx(3.0, rel=0.01)
    b = aux_tasks(y, 1, dist="bernoulli", p=0.3, seed=1)[:, 1]
    assert set(np.unique(b)) == {0.0, 1.0} and b.mean() == pytest.approx(0.3, abs=0.005)
    r = aux_tasks(y, 1, dist="rademacher", scale=2.0, seed=1)[:, 1]
    assert set(np.unique(r)) == {-2.0, 2.0}
    u = aux_tasks(y, 1, dist="uniform", scale=2.0, seed=1)[:, 1]
    assert u.std() == pytest.approx(2.0, rel=0.01) and np.abs(u).max() <= 2.0 * np.sqrt(3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_aux": -1}, "n_aux"),
        ({"n_aux": 1, "scale": -1.0}, "scale"),
        ({"n_aux": 1, "dist": "cauchy"}, "dist"),
        ({"n_aux": 1, "p": 1.5}, "p"),
        ({"n_aux": 1, "seed": -3}, "seed"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        aux_tasks(np.zeros(4), **kwargs)


def test_nan_labels_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        aux_tasks([0.0, np.nan], 1)
