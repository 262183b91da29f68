"""Deviations of one task from data: test error, nearest-neighbour deviation.

See docs/theory.md §6.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from mtlreg._validation import check_array, check_inputs, check_targets
from mtlreg.metrics._compat import accepts_output_keyword
from mtlreg.metrics._pointwise import Model, Pointwise, evaluate


def _column(y: ArrayLike, n_rows: int, task: int, name: str) -> NDArray[np.float64]:
    arr = check_targets(y, n_rows, name)
    if arr.shape[1] == 1:
        return arr[:, 0]
    if not 0 <= task < arr.shape[1]:
        raise ValueError(
            f"Parameter `{name}` should have a column for task {task}. Found shape {arr.shape}."
        )
    return arr[:, task]


@accepts_output_keyword
def held_out_mse(model: Model, X: ArrayLike, y: ArrayLike, *, task: int = 0) -> float:
    """Mean squared error of task ``task`` against held-out labels ``y``.

    ``y`` is (M,) (the labels of that task) or (M, T) (column ``task`` is used).

    Example
    -------
    >>> held_out_mse(lambda x: 2 * x[:, 0], [[0.0], [1.0]], [0.0, 1.0])
    0.5
    """
    x = check_inputs(X, "X")
    target = _column(y, x.shape[0], task, "y")
    return float(np.mean((evaluate(model, x, task) - target) ** 2))


@accepts_output_keyword
def nn_deviation(
    model: Model,
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_test: ArrayLike,
    *,
    task: int = 0,
) -> Pointwise:
    """|f(x) - y of the nearest training input| at each test point x.

    Our reading of the poster's "distance between test and training data points":
    a function that stays close to the label of the nearest training point does not
    overshoot between the data. Nearest means Euclidean distance in input space; ties
    go to the training point listed first. An interpolant scores 0 at training inputs.

    Returns
    -------
    Pointwise
        ``values`` (M,), ``mean`` and ``max``.

    Example
    -------
    >>> dev = nn_deviation(lambda x: x[:, 0], [[0.0], [1.0]], [0.0, 1.0], [[0.25], [1.0]])
    >>> dev.values.tolist()
    [0.25, 0.0]
    """
    x_train = check_inputs(X_train, "X_train")
    labels = _column(y_train, x_train.shape[0], task, "y_train")
    x_test = check_inputs(X_test, "X_test")
    if x_test.shape[1] != x_train.shape[1]:
        raise ValueError(
            f"Parameter `X_test` should have {x_train.shape[1]} column(s), like `X_train`. "
            f"Found shape {x_test.shape}."
        )
    _, nearest = cKDTree(x_train).query(x_test, k=1)
    return Pointwise.of(np.abs(evaluate(model, x_test, task) - labels[nearest]))


@accepts_output_keyword
def max_deviation(model: Model, reference: ArrayLike, X: ArrayLike, *, task: int = 0) -> float:
    """sup over the rows of ``X`` of |f(x) - reference(x)|, e.g. the gap to f_D in 1-D.

    ``reference`` holds the reference values at the rows of ``X``, shape (M,).
    """
    x = check_inputs(X, "X")
    ref = check_array(reference, "reference", ndim=(1,))
    if ref.shape[0] != x.shape[0]:
        raise ValueError(
            f"Parameter `reference` should have {x.shape[0]} values. Found {ref.shape[0]}."
        )
    return float(np.max(np.abs(evaluate(model, x, task) - ref)))
