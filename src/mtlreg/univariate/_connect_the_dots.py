"""The connect-the-dots interpolant f_D and its norm R* (docs/theory.md §3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_array, check_targets
from mtlreg.model import ShallowReLUNet


def check_univariate(x: ArrayLike, Y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate 1-D data; return (x sorted, Y (N, T) in the same order).

    Raises ``ValueError`` for fewer than 2 points, duplicate x, NaN/inf or
    mismatched lengths.
    """
    x_arr = check_array(x, "x", ndim=(1,), min_rows=2)
    y_arr = check_targets(Y, x_arr.shape[0], "Y")
    order = np.argsort(x_arr, kind="stable")
    x_arr, y_arr = x_arr[order], y_arr[order]
    gaps = np.diff(x_arr)
    if np.any(gaps <= 0):
        dup = x_arr[1:][gaps <= 0][0]
        raise ValueError(f"Parameter `x` should hold distinct values. Found {dup!r} twice.")
    return x_arr, y_arr


def slopes(x: ArrayLike, Y: ArrayLike) -> NDArray[np.float64]:
    """Slopes s_i = (y_{i+1} - y_i) / (x_{i+1} - x_i), shape (N-1, T)."""
    xs, ys = check_univariate(x, Y)
    return np.diff(ys, axis=0) / np.diff(xs)[:, None]


def slope_changes(x: ArrayLike, Y: ArrayLike) -> NDArray[np.float64]:
    """Slope changes D_i = s_i - s_{i-1} at the interior points x_2..x_{N-1}, shape (N-2, T)."""
    return np.diff(slopes(x, Y), axis=0)


@dataclass(frozen=True)
class ConnectTheDots:
    """The connect-the-dots interpolant f_D of univariate multi-task data.

    Each output is the piecewise-linear interpolant of its own labels, extended
    linearly outside [x_1, x_N] with the end slopes. Call it on new inputs:
    ``f(x_new)`` returns shape (M, T).

    A function, not a solver result: the same interpolant on the package result
    protocol (objective, bound, ``to_network``) is ``weight_decay_optimum(x, Y, 0.0)``.

    Attributes
    ----------
    x, Y
        The sorted data, shapes (N,) and (N, T).
    slopes
        s_1..s_{N-1}, shape (N-1, T).
    slope_changes
        D_2..D_{N-1} at the knots ``x[1:-1]``, shape (N-2, T).
    """

    x: NDArray[np.float64]
    Y: NDArray[np.float64]
    slopes: NDArray[np.float64]
    slope_changes: NDArray[np.float64]

    @property
    def knots(self) -> NDArray[np.float64]:
        """The interior data points x_2..x_{N-1}, where f_D may bend."""
        return self.x[1:-1]

    @property
    def n_tasks(self) -> int:
        return int(self.Y.shape[1])

    def __call__(self, x_new: ArrayLike) -> NDArray[np.float64]:
        xn = check_array(x_new, "x_new", ndim=(1,))
        relu = np.maximum(xn[:, None] - self.knots[None, :], 0.0)
        return self.Y[0] + np.outer(xn - self.x[0], self.slopes[0]) + relu @ self.slope_changes

    def norm(self) -> float:
        """R* = sum_i ||D_i||_2, the VV norm of f_D (minimal over all interpolants)."""
        return float(row_norms(self.slope_changes).sum())

    def to_network(self, dtype: torch.dtype = torch.float64) -> ShallowReLUNet:
        """The equivalent balanced network with N-2 neurons and a skip connection.

        f_D(x) = y_1 + s_1 (x - x_1) + sum_i D_i relu(x - x_i): neuron i has w = 1,
        b = -x_i, v = D_i, then balanced to ||w|| = ||v||, so its WD equals R*.
        A dataset with N = 2 gives a network of width 1 with a zero neuron.
        """
        width = max(len(self.knots), 1)
        return hinge_network(
            self.x[0], self.Y[0], self.slopes[0], self.knots, self.slope_changes, width, dtype
        )


def hinge_network(
    x0: float,
    y0: NDArray[np.float64],
    s0: NDArray[np.float64],
    knots: NDArray[np.float64],
    changes: NDArray[np.float64],
    width: int,
    dtype: torch.dtype = torch.float64,
) -> ShallowReLUNet:
    """The balanced network ``y0 + s0 (x - x0) + sum_k changes_k relu(x - knots_k)``.

    One neuron per knot (w = 1, b = -knot, v = its slope change), padded with zero
    neurons up to ``width`` (>= the number of knots); the skip connection carries the
    affine part. Balancing makes its weight decay the sum of the changes' norms.
    """
    m, n_tasks = changes.shape
    net = ShallowReLUNet(1, n_tasks, width, skip=True, dtype=dtype, init="zeros")
    w = np.zeros((width, 1))
    b = np.zeros(width)
    v = np.zeros((width, n_tasks))
    w[:m, 0] = 1.0
    b[:m] = -knots
    v[:m] = changes
    with torch.no_grad():
        net.w.copy_(torch.as_tensor(w))
        net.b.copy_(torch.as_tensor(b))
        net.v.copy_(torch.as_tensor(v))
        assert net.A is not None and net.c is not None
        net.A.copy_(torch.as_tensor(s0[:, None]))
        net.c.copy_(torch.as_tensor(y0 - s0 * x0))
    return net.balance()


def connect_the_dots(x: ArrayLike, Y: ArrayLike) -> ConnectTheDots:
    """Build the connect-the-dots interpolant f_D of data (x, Y).

    Parameters
    ----------
    x
        Distinct inputs, shape (N,), N >= 2 (any order).
    Y
        Labels, shape (N,) or (N, T).

    Example
    -------
    >>> f = connect_the_dots([0.0, 1.0, 2.0], [0.0, 1.0, 0.0])
    >>> f([0.5, 3.0]).ravel().tolist()
    [0.5, -1.0]
    """
    xs, ys = check_univariate(x, Y)
    with np.errstate(over="ignore", invalid="ignore"):
        s = np.diff(ys, axis=0) / np.diff(xs)[:, None]
        d = np.diff(s, axis=0)
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(d))):
        raise ValueError(
            "Parameter `Y` (with `x`): the slopes of the data exceed the float64 range "
            "(labels too large for the spacing of the inputs); rescale x or Y."
        )
    return ConnectTheDots(x=xs, Y=ys, slopes=s, slope_changes=d)


def row_norms(D: NDArray[np.float64]) -> NDArray[np.float64]:
    """Euclidean norm of each row without overflow or underflow (rows scaled first)."""
    D = np.asarray(D, dtype=np.float64)
    if D.size == 0:
        return np.zeros(D.shape[0])
    m = np.abs(D).max(axis=1)
    safe = np.where(m > 0.0, m, 1.0)
    return np.asarray(m * np.linalg.norm(D / safe[:, None], axis=1))


def min_norm(x: ArrayLike, Y: ArrayLike) -> float:
    """R* = sum_{i=2}^{N-1} ||D_i||_2: the minimal VV norm of any interpolant of (x, Y).

    With a free skip connection this is the optimal value of the interpolation
    problem (Theorem 3.1: f_D attains it).
    """
    return connect_the_dots(x, Y).norm()


def power_of_two_scale(values: NDArray[np.float64]) -> float:
    """A power of two close to ``max |values|`` (1 for all zeros).

    Dividing by it is exact in floating point, so a scale-covariant computation done
    on the rescaled data and mapped back gives the same digits as on the original
    (where that does not overflow) and stays finite where the original would not.
    """
    m = float(np.max(np.abs(values))) if values.size else 0.0
    if m == 0.0 or not np.isfinite(m):
        return 1.0
    return float(np.ldexp(1.0, int(np.frexp(m)[1]) - 1))
