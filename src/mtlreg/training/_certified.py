"""The certified recipe: the global optimum of the multi-task problem for d <= 2.

``train(..., method="certified")`` returns the network of :func:`mtlreg.convex.solve`
(column generation with the exact dual oracle, docs/theory.md §4 and
docs/certified.md) padded to ``width``, with its certified lower bound. The objective
and the gap are measured again on the original data and the returned network;
``converged`` is claimed only when that measured relative gap is at most ``tol``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtlreg._result import relative_gap
from mtlreg.training._base import Checked, Outcome, Recipe, TrainOptions
from mtlreg.training._history import TrainHistory, TrainResult
from mtlreg.training._setup import objective_terms


def certified_applies(p: Checked) -> bool:
    """Whether the certified solver answers this problem exactly (d <= 2, no start net)."""
    from mtlreg.convex import EXACT_DIMS

    return p.x.shape[1] in EXACT_DIMS and p.net is None


def solve_certified_problem(p: Checked, options: TrainOptions, method: str) -> TrainResult:
    """The certified optimum of one problem as a :class:`TrainResult`."""
    from mtlreg.convex import CertifiedSolution, solve

    t0 = time.perf_counter()
    tol = max(options.tol, 1e-9)
    sol = solve(
        p.x,
        p.y,
        p.lam,
        skip=p.skip,
        method="cg",
        tol=tol,
        task_reduction=p.task_reduction,
        require_exact=True,
    )
    if not isinstance(sol, CertifiedSolution):  # method="cg" always returns one
        raise TypeError(f"mtlreg.convex.solve(method='cg') returned {type(sol)!r}.")
    model = sol.to_network(width=p.width)
    xt = torch.as_tensor(p.x, dtype=torch.float64)
    yt = torch.as_tensor(p.y, dtype=torch.float64)
    with torch.no_grad():
        obj, fit, wd = (float(t) for t in objective_terms(model, xt, yt, p.lam, p.task_reduction))
        vv = float(model.vv_norm())
    gap = obj - sol.lower_bound
    rel = relative_gap(gap, obj)
    converged = sol.exact and math.isfinite(rel) and rel <= tol
    history = TrainHistory(
        step=np.array([sol.n_iter], dtype=np.int64),
        objective=np.array([obj]),
        fit=np.array([fit]),
        penalty=np.array([wd]),
        vv_norm=np.array([vv]),
        active=np.array([sol.n_neurons], dtype=np.int64),
        phase=("certified",),
    )
    config = {
        "width": p.width,
        "lam": p.lam,
        "skip": p.skip,
        "method": method,
        "solver": "certified-cg",
        "tol": tol,
        "task_reduction": p.task_reduction,
        "duality_gap": gap,
        "relative_gap": rel,
        "n_samples": int(p.x.shape[0]),
        "in_dim": int(p.x.shape[1]),
        "n_tasks": int(p.y.shape[1]),
    }
    return TrainResult(
        net=model.to(device=options.device, dtype=options.dtype),
        history=history,
        converged=converged,
        objective=obj,
        fit=fit,
        penalty=wd,
        n_iter=sol.n_iter,
        seconds=time.perf_counter() - t0,
        config=config,
        lower_bound=sol.lower_bound,
    )


@dataclass(frozen=True)
class CertifiedRecipe(Recipe):
    """``method="certified"``: the certified global optimum (d <= 2); refuses others."""

    name: str = "certified"

    def run(self, problems: Sequence[Checked], options: TrainOptions) -> list[Outcome]:
        out: list[Outcome] = []
        for p in problems:
            if not certified_applies(p):
                raise ValueError(
                    "Parameter `method` should be 'certified' only for inputs of dimension 1 "
                    f"or 2 and no start network. Found d={p.x.shape[1]}, "
                    f"net={'given' if p.net is not None else None}."
                )
            res = solve_certified_problem(p, options, self.name)
            if options.callback is not None:
                options.callback(p.index, res.n_iter, res.objective)
            out.append(res)
        return out
