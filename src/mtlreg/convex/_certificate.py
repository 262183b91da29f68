"""How far a trained network is from the global optimum (single output)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import ArrayLike

from mtlreg._validation import check_inputs, check_int, check_number
from mtlreg.convex._single import ConvexSolution, solve
from mtlreg.model import ShallowReLUNet


@dataclass(frozen=True)
class Certificate:
    """Optimality certificate of one output of a network.

    ``gap = objective - optimal_objective`` compares the network's objective
    ``fit + lam * VV`` (VV of that output, i.e. weight decay after balancing) with the
    exact convex optimum; ``gap_bound = objective - lower_bound`` is a rigorous upper
    bound on the suboptimality (the convex solver's dual bound). Both are >= 0 up to
    solver accuracy when the patterns are exact.
    """

    objective: float
    fit: float
    penalty: float
    optimal_objective: float
    lower_bound: float
    solution: ConvexSolution = field(repr=False)

    @property
    def gap(self) -> float:
        """Network objective minus the convex optimum."""
        return self.objective - self.optimal_objective

    @property
    def relative_gap(self) -> float:
        """``gap / optimal_objective``."""
        return self.gap / max(abs(self.optimal_objective), 1e-300)

    @property
    def gap_bound(self) -> float:
        """Network objective minus the certified lower bound (>= the true suboptimality)."""
        return self.objective - self.lower_bound


def network_objective(
    net: ShallowReLUNet, X: ArrayLike, y: ArrayLike, lam: float, *, task: int = 0
) -> tuple[float, float, float]:
    """(objective, fit, VV) of output ``task`` of ``net``: ``fit + lam * VV`` with
    ``fit = (1/N) sum_i (y_i - f_task(x_i))^2`` and ``VV = sum_k ||w_k|| |v_k,task|``."""
    x = check_inputs(X, "X")
    if x.shape[1] != net.in_dim:
        raise ValueError(
            f"Parameter `X` should have {net.in_dim} column(s). Found shape {x.shape}."
        )
    yv = np.asarray(y, dtype=np.float64).reshape(x.shape[0], -1)[:, 0]
    if not np.all(np.isfinite(yv)):
        raise ValueError("Parameter `y` should contain only finite values (no NaN or inf).")
    task = check_int(task, "task", low=0, high=net.out_dim - 1)
    pred = net.predict(x)[:, task]
    fit = float(np.mean((yv - pred) ** 2))
    with torch.no_grad():
        vv = float(net.vv_norm(task))
    return fit + lam * vv, fit, vv


def certificate(
    net: ShallowReLUNet,
    X: ArrayLike,
    y: ArrayLike,
    lam: float,
    *,
    task: int = 0,
    solution: ConvexSolution | None = None,
    **solve_options: object,
) -> Certificate:
    """Compare output ``task`` of a trained network with the exact convex optimum.

    Parameters
    ----------
    net
        A trained network (its skip setting decides the convex problem's).
    X, y
        The training inputs and the labels of that output.
    lam
        The regularisation strength, objective ``(1/N)||y - f||^2 + lam * VV``.
    task
        Which output of ``net`` to certify (for multi-output networks the certificate
        is for that output's single-task problem).
    solution
        A precomputed :func:`solve` result for the same data (skips the solve).
    solve_options
        Passed to :func:`solve` (e.g. ``patterns="sample"``).

    Example
    -------
    >>> from mtlreg.convex import solve
    >>> sol = solve([0.0, 1.0, 2.0], [0.0, 1.0, 0.0], lam=1e-3)
    >>> cert = certificate(sol.to_network(), [0.0, 1.0, 2.0], [0.0, 1.0, 0.0], 1e-3)
    >>> abs(cert.gap) < 1e-9
    True
    """
    if not isinstance(net, ShallowReLUNet):
        raise TypeError(f"Parameter `net` should be a ShallowReLUNet. Found {type(net)!r}.")
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    obj, fit, vv = network_objective(net, X, y, lam, task=task)
    if solution is None:
        yv = np.asarray(y, dtype=np.float64).reshape(len(np.asarray(y)), -1)[:, 0]
        solution = solve(X, yv, lam, skip=net.skip, **solve_options)  # type: ignore[arg-type]
    elif solution.lam != lam or solution.skip != net.skip:
        raise ValueError(
            "Parameter `solution` should solve the same problem (lam and skip). "
            f"Found lam={solution.lam}, skip={solution.skip}."
        )
    return Certificate(
        objective=obj,
        fit=fit,
        penalty=vv,
        optimal_objective=solution.objective,
        lower_bound=solution.lower_bound,
        solution=solution,
    )


__all__ = ["Certificate", "certificate", "network_objective"]
