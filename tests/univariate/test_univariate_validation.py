"""Bad input to the univariate functions raises a clear ValueError."""

from __future__ import annotations

import numpy as np
import pytest

from mtlreg.univariate import ambiguity_band, connect_the_dots, is_unique, min_norm

X = [-1.5, -1.0, 0.0, 0.2, 2.0]
Y = [0.7, -0.5, -0.5, 0.5, 0.2]

BAD_DATA = [
    pytest.param([0.0, np.nan, 1.0], [1.0, 2.0, 3.0], "finite", id="nan-x"),
    pytest.param([0.0, 1.0, 2.0], [1.0, np.inf, 3.0], "finite", id="inf-y"),
    pytest.param([0.0, 1.0, 2.0], [1.0, 2.0], "rows", id="mismatched"),
    pytest.param([0.0], [1.0], "at least 2", id="one-point"),
    pytest.param([0.0, 1.0, 1.0], [1.0, 2.0, 3.0], "distinct", id="duplicate-x"),
    pytest.param([[0.0, 1.0], [1.0, 2.0]], [1.0, 2.0], "dimension", id="2d-x"),
]


@pytest.mark.parametrize("func", [connect_the_dots, min_norm, is_unique])
@pytest.mark.parametrize(("x", "y", "match"), BAD_DATA)
def test_bad_data_raises(func, x, y, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        func(x, y)


@pytest.mark.parametrize(("x", "y", "match"), BAD_DATA)
def test_band_bad_data_raises(x, y, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ambiguity_band(x, y, [0.5])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid": [0.0, np.nan]}, "finite"),
        ({"grid": [[0.0, 1.0]]}, "dimension"),
        ({"task": 1}, "task"),
        ({"task": -1}, "task"),
        ({"rtol": -1e-3}, "rtol"),
        ({"rtol": np.inf}, "rtol"),
        ({"method": "lp"}, "method"),
        ({"method": "closed_form", "Y": np.column_stack([Y, Y])}, "closed_form"),
        ({"rtol": 0.0, "Y": np.column_stack([Y, np.arange(5.0) ** 2])}, "rtol"),
    ],
)
def test_band_bad_options_raise(kwargs: dict, match: str) -> None:
    args = {"x": X, "Y": Y, "grid": [0.5]} | kwargs
    with pytest.raises(ValueError, match=match):
        ambiguity_band(**args)


def test_band_task_must_be_an_integer() -> None:
    with pytest.raises(TypeError, match="task"):
        ambiguity_band(X, Y, [0.5], task=0.5)  # type: ignore[arg-type]


def test_unsorted_input_is_fine() -> None:
    order = [3, 0, 4, 2, 1]
    a = ambiguity_band(np.array(X)[order], np.array(Y)[order], [-0.5])
    b = ambiguity_band(X, Y, [-0.5])
    np.testing.assert_array_equal(a.lower, b.lower)
    np.testing.assert_array_equal(a.upper, b.upper)
