"""The one result protocol shared by every solver and trainer of mtlreg.

Every solver minimises the package objective (docs/theory.md §1)::

    (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty

and returns a frozen result that satisfies :class:`SolverResult`: ``objective =
fit + lam * penalty`` of the returned function, a ``lower_bound`` on the optimum of
the problem it solved (``nan`` where the method has none), ``gap = objective -
lower_bound`` (never clipped, ``nan`` without a bound), ``relative_gap``,
``n_iter``, ``converged``, ``seconds``, ``predict(X)`` and ``to_network()``.
Results that are measurements rather than minimisers of such a problem (e.g.
``mtlreg.kernel.KernelDiagnostics``, ``mtlreg.kernel.InducedKernel``) say so in their
docstring and are not on the protocol.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from mtlreg.model import ShallowReLUNet

#: The package objective, quoted verbatim in every solver's docstring.
OBJECTIVE = "(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty"


@runtime_checkable
class SolverResult(Protocol):
    """What every solver and trainer returns (see the module docstring)."""

    @property
    def objective(self) -> float: ...

    @property
    def fit(self) -> float: ...

    @property
    def penalty(self) -> float: ...

    @property
    def lower_bound(self) -> float: ...

    @property
    def gap(self) -> float: ...

    @property
    def relative_gap(self) -> float: ...

    @property
    def n_iter(self) -> int: ...

    @property
    def converged(self) -> bool: ...

    @property
    def seconds(self) -> float: ...

    def predict(self, X: ArrayLike) -> NDArray[np.float64]: ...

    def to_network(self) -> ShallowReLUNet: ...


class GapFromBound:
    """Mix-in for frozen result dataclasses: ``gap`` and ``relative_gap`` derived from
    their ``objective`` and ``lower_bound`` fields (never clipped; ``nan`` without a
    bound)."""

    objective: float
    lower_bound: float

    @property
    def gap(self) -> float:
        """``objective - lower_bound`` (never clipped; ``nan`` without a bound)."""
        return self.objective - self.lower_bound

    @property
    def relative_gap(self) -> float:
        """``gap / |objective|`` (``nan`` without a bound)."""
        return relative_gap(self.gap, self.objective)


def relative_gap(gap: float, objective: float) -> float:
    """``gap / |objective|`` (``nan`` when the gap is unknown; ``inf`` for a zero
    objective with a nonzero gap, ``0`` when both are zero)."""
    if math.isnan(gap) or math.isnan(objective):
        return math.nan
    if objective == 0.0:
        return 0.0 if gap == 0.0 else math.inf
    return gap / abs(objective)


def row_norms(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Euclidean norms of the rows, without underflow or overflow of the squares.

    Weights of a network fitted to inputs or labels far from unit scale may lie far from 1,
    where ``np.linalg.norm`` would underflow to zero or overflow.
    """
    big = np.abs(a).max(axis=1, initial=0.0)
    safe = np.where(big > 0, big, 1.0)
    out: NDArray[np.float64] = big * np.linalg.norm(a / safe[:, None], axis=1)
    return out


__all__ = ["OBJECTIVE", "GapFromBound", "SolverResult", "relative_gap", "row_norms"]
