"""How far a network is from the global optimum, for any number of outputs
(docs/theory.md §4)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from mtlreg._result import GapFromBound
from mtlreg._validation import (
    check_choice,
    check_inputs,
    check_int,
    check_number,
    check_targets,
)
from mtlreg.convex._certified import CertifiedSolution, _bound_from_residual, _Free, _rng
from mtlreg.convex._oracle import EXACT_DIMS
from mtlreg.convex._single import ConvexSolution
from mtlreg.model import ShallowReLUNet

BOUNDS: tuple[str, ...] = ("optimum", "residual")


@dataclass(frozen=True)
class Certificate(GapFromBound):
    """Optimality certificate of a network for the multi-task weight-decay problem.

    ``objective = fit + lam * penalty`` is the network's value of
    ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` with ``penalty = sum_k ||w_k||
    ||v_k||`` (its weight decay after balancing). ``lower_bound`` is a lower bound on
    the global optimum over networks of any width: rigorous when ``exact`` (d <= 3, or
    the exact pattern program), a *sampled, not certified* estimate otherwise. ``gap =
    objective - lower_bound`` (never clipped) bounds the network's suboptimality.
    ``optimal_objective`` is the objective of the certified solution when one was
    computed (``nan`` otherwise).
    """

    objective: float
    fit: float
    penalty: float
    lower_bound: float
    exact: bool
    optimal_objective: float = math.nan
    solution: CertifiedSolution | ConvexSolution | None = field(default=None, repr=False)

    @property
    def gap_bound(self) -> float:
        """Alias of :attr:`gap` (kept for the single-output certificate's users)."""
        return self.gap

    @property
    def suboptimality(self) -> float:
        """``objective - optimal_objective`` (``nan`` without a solution)."""
        return self.objective - self.optimal_objective


def network_objective(
    net: ShallowReLUNet,
    X: ArrayLike,
    Y: ArrayLike,
    lam: float,
    *,
    task: int | None = 0,
) -> tuple[float, float, float]:
    """``(objective, fit, penalty)`` of a network on ``(1/N) sum_i ||y_i - f(x_i)||^2 +
    lam * penalty``, ``penalty = sum_k ||w_k|| ||v_k||`` (docs/theory.md §1).

    ``task=t`` scores output ``t`` alone against column ``t`` of ``Y`` (or against ``Y``
    itself when it has one column) with ``penalty = sum_k ||w_k|| |v_kt|``;
    ``task=None`` scores all outputs against all columns of ``Y``.
    """
    x, y, sel = _problem(net, X, Y, task)
    lam = check_number(lam, "lam", low=0.0)
    pred = net.predict(x)[:, sel]
    fit = float(((y - pred) ** 2).sum()) / x.shape[0]
    with torch.no_grad():
        w_norm = net.w.norm(dim=1)
        v = net.v[:, sel]
        penalty = float((w_norm * v.norm(dim=1)).sum())
    return fit + lam * penalty, fit, penalty


def _problem(
    net: ShallowReLUNet, X: ArrayLike, Y: ArrayLike, task: int | None
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    if not isinstance(net, ShallowReLUNet):
        raise TypeError(f"Parameter `net` should be a ShallowReLUNet. Found {type(net)!r}.")
    x = check_inputs(X, "X")
    if x.shape[1] != net.in_dim:
        raise ValueError(
            f"Parameter `X` should have {net.in_dim} column(s). Found shape {x.shape}."
        )
    y = check_targets(Y, x.shape[0], "Y")
    if task is None:
        if y.shape[1] != net.out_dim:
            raise ValueError(
                f"Parameter `Y` should have {net.out_dim} column(s), one per output of `net`. "
                f"Found shape {y.shape}."
            )
        return x, y, list(range(net.out_dim))
    task = check_int(task, "task", low=0, high=net.out_dim - 1)
    if y.shape[1] == 1:
        return x, y, [task]
    if y.shape[1] != net.out_dim:
        raise ValueError(
            f"Parameter `Y` should have one column or {net.out_dim} (one per output of "
            f"`net`). Found shape {y.shape}."
        )
    return x, y[:, [task]], [task]


def certificate(
    net: ShallowReLUNet,
    X: ArrayLike,
    Y: ArrayLike,
    lam: float,
    *,
    skip: bool | None = None,
    task: int | None = None,
    bound: str = "optimum",
    solution: CertifiedSolution | ConvexSolution | None = None,
    task_reduction: str = "sum",
    seed: int | np.random.Generator | None = None,
    **solve_options: Any,
) -> Certificate:
    """Certify a network on the multi-task problem (docs/theory.md §4).

    The problem is ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` over shallow ReLU
    networks of any width, ``penalty = sum_k ||w_k|| ||v_k||`` (weight decay at
    balance), biases free, skip connection free when ``skip``.

    Parameters
    ----------
    net
        The network; all its outputs are certified together (``task=None``) or output
        ``task`` alone.
    X, Y
        Inputs (N, d) and labels (N, T) (T = the network's outputs), or (N,) / one column
        for a single ``task``.
    lam
        Regularisation strength, > 0.
    skip
        Whether the problem has a free skip connection (default: the network's own).
    bound
        ``"optimum"``: the lower bound of the certified global solution
        (:func:`mtlreg.convex.solve`; tight, so ``gap`` is the suboptimality up to the
        solver's tolerance). ``"residual"``: the dual point built from the network's own
        residual (no solve; tight only near the optimum). The better of the two bounds
        is always reported when a ``solution`` is given.
    solution
        A precomputed :func:`mtlreg.convex.solve` result for the same problem.
    task_reduction
        ``"sum"`` (default) or ``"mean"`` (fit divided by N T, the authors' convention).
    seed
        Random directions of the sampled oracle (d >= 4 only).
    solve_options
        Passed to :func:`mtlreg.convex.solve`.

    Returns
    -------
    :class:`Certificate` with ``objective``, ``lower_bound``, ``gap``, ``relative_gap``
    and ``exact`` (``False``: the bound is sampled, not certified).

    Example
    -------
    >>> import numpy as np
    >>> from mtlreg.convex import solve
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> Y = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> net = solve(X, Y, lam=1e-2).to_network()
    >>> cert = certificate(net, X, Y, 1e-2)
    >>> cert.exact, cert.relative_gap < 1e-6
    (True, True)
    """
    x, y, sel = _problem(net, X, Y, task)
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    bound = check_choice(bound, "bound", BOUNDS)
    task_reduction = check_choice(task_reduction, "task_reduction", ("sum", "mean"))
    if skip is None:
        skip = net.skip
    if not isinstance(skip, bool):
        raise TypeError(f"Parameter `skip` should be a bool or None. Found {skip!r}.")
    if net.skip and not skip:
        raise ValueError(
            "Parameter `skip` should be True (or None) for a network with a skip connection: "
            "its affine part is not available in the problem without skip. Found False."
        )
    d = x.shape[1]
    t = y.shape[1]
    div = float(t) if task_reduction == "mean" else 1.0
    obj, fit, penalty = network_objective(net, x, y, lam, task=task)
    fit /= div
    obj = fit + lam * penalty
    pred = net.predict(x)[:, sel]
    resid_bound, _ = _bound_from_residual(_Free(x, skip), x, y, y - pred, lam * div, _rng(seed))
    candidates = [(resid_bound / div, d in EXACT_DIMS)]
    optimal = math.nan
    if solution is None and bound == "optimum":
        from mtlreg.convex._solve import solve

        solution = solve(
            x, y, lam, skip=skip, task_reduction=task_reduction, seed=seed, **solve_options
        )
    if solution is not None:
        _check_solution(solution, lam, skip, t)
        optimal = solution.objective
        candidates.append((solution.lower_bound, bool(solution.exact)))
    rigorous = [value for value, ok in candidates if ok]
    exact = bool(rigorous)
    lower = max(rigorous) if rigorous else max(value for value, _ in candidates)
    return Certificate(
        objective=obj,
        fit=fit,
        penalty=penalty,
        lower_bound=lower,
        exact=exact,
        optimal_objective=optimal,
        solution=solution,
    )


def _check_solution(
    solution: CertifiedSolution | ConvexSolution, lam: float, skip: bool, t: int
) -> None:
    if not isinstance(solution, (CertifiedSolution, ConvexSolution)):
        raise TypeError(
            "Parameter `solution` should be a result of `mtlreg.convex.solve`. "
            f"Found {type(solution)!r}."
        )
    n_out = solution.V.shape[1] if isinstance(solution, CertifiedSolution) else 1
    if solution.lam != lam or solution.skip != skip or n_out != t:
        raise ValueError(
            "Parameter `solution` should solve the same problem (lam, skip and number of "
            f"outputs). Found lam={solution.lam}, skip={solution.skip}, outputs={n_out}."
        )


__all__ = ["BOUNDS", "Certificate", "certificate", "network_objective"]
