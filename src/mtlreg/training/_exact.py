"""The exact 1-D recipe, and ``auto``: exact where it applies, continuation elsewhere.

For 1-D inputs with the skip connection the weight-decay problem is a convex
problem in the fitted values (docs/theory.md §3), solved by
:func:`mtlreg.univariate.weight_decay_optimum` with a duality-gap certificate. The
recipe solves it in the well-scaled space of :class:`~mtlreg.training._setup.Scaling`
(unit input spread and label size), maps the network back, and measures objective
and gap again on the original data: ``converged`` is claimed only when that
measured relative gap is at most ``tol``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mtlreg._result import relative_gap
from mtlreg.training._base import Checked, Outcome, Recipe, TrainOptions
from mtlreg.training._gradient import GradientRecipe
from mtlreg.training._history import TrainHistory, TrainResult
from mtlreg.training._setup import Scaling, objective_terms


class _OutOfRange(ValueError):
    """The exact solver cannot represent this problem in float64."""


def applies(p: Checked) -> bool:
    """Whether the exact 1-D solution answers this problem (1-D, skip, no start net)."""
    return p.x.shape[1] == 1 and p.skip and p.net is None


def solve_exact(p: Checked, options: TrainOptions, method: str) -> TrainResult | None:
    """The certified exact optimum as a TrainResult; ``None`` if ``width`` is too small."""
    from mtlreg.univariate import weight_decay_optimum

    t0 = time.perf_counter()
    tol = options.tol
    n_tasks = p.y.shape[1]
    mean = p.task_reduction == "mean"
    scaling = Scaling.fit(p.x, p.y, skip=True)
    xs, ys = scaling.forward(p.x, p.y)
    # (1/(N T)) ||.||^2 + lam WD is (1/T) times the "sum" objective at lam * T.
    lam_sum = p.lam * n_tasks if mean else p.lam
    lam_s = lam_sum * scaling.lam_factor
    try:
        with np.errstate(over="raise", invalid="raise"):
            opt = weight_decay_optimum(xs[:, 0], ys, lam_s, tol=min(tol, 1e-10))
    except (OverflowError, FloatingPointError) as exc:
        raise _OutOfRange(
            f"Parameter `lam` should be within float64 range of the data's scale: in unit "
            f"scale it is {lam_s:.3g}, which overflows the exact 1-D solver ({exc}). "
            "Lower lam or rescale the data."
        ) from None
    if opt.n_knots > p.width:
        return None
    bound = getattr(opt, "lower_bound", None)
    lower_s = float(opt.dual_objective if bound is None else bound)
    factor = (1.0 / n_tasks if mean else 1.0) * scaling.objective_factor
    lower = lower_s * factor
    model = scaling.balanced_backward(opt.to_network(p.width).double())
    # measure on the original data, in float64, whatever the training dtype
    xt = torch.as_tensor(p.x, dtype=torch.float64)
    yt = torch.as_tensor(p.y, dtype=torch.float64)
    with torch.no_grad():
        obj, fit, wd = (float(t) for t in objective_terms(model, xt, yt, p.lam, p.task_reduction))
    gap = obj - lower
    rel = relative_gap(gap, obj)
    converged = math.isfinite(rel) and rel <= max(tol, 0.0)
    history = TrainHistory(
        step=np.array([opt.n_iter], dtype=np.int64),
        objective=np.array([obj]),
        fit=np.array([fit]),
        penalty=np.array([wd]),
        vv_norm=np.array([float(model.vv_norm().detach())]),
        active=np.array([opt.n_knots], dtype=np.int64),
        phase=("exact",),
    )
    config: dict[str, Any] = {
        "width": p.width,
        "lam": p.lam,
        "skip": True,
        "method": method,
        "solver": "exact-1d",
        "tol": tol,
        "task_reduction": p.task_reduction,
        "duality_gap": gap,
        "relative_gap": rel,
        "n_samples": int(p.x.shape[0]),
        "in_dim": 1,
        "n_tasks": int(n_tasks),
    }
    net = model.to(device=options.device, dtype=options.dtype)
    return TrainResult(
        net=net,
        history=history,
        converged=converged,
        objective=obj,
        fit=fit,
        penalty=wd,
        n_iter=opt.n_iter,
        seconds=time.perf_counter() - t0,
        config=config,
        lower_bound=lower,
    )


@dataclass(frozen=True)
class ExactRecipe(Recipe):
    """``method="exact"``: the certified 1-D optimum; refuses other problems."""

    name: str = "exact"

    def run(self, problems: Sequence[Checked], options: TrainOptions) -> list[Outcome]:
        out: list[Outcome] = []
        for p in problems:
            if not applies(p):
                raise ValueError(
                    "Parameter `method` should be 'exact' only for 1-D inputs with the skip "
                    f"connection and no start network. Found d={p.x.shape[1]}, "
                    f"skip={p.skip}, net={'given' if p.net is not None else None}."
                )
            res = solve_exact(p, options, self.name)
            if res is None:
                raise ValueError(
                    f"Parameter `width` should hold the exact solution's knots for "
                    f"method='exact'. Found width {p.width}; use a wider network."
                )
            out.append(res)
        return out


@dataclass(frozen=True)
class AutoRecipe(Recipe):
    """``method="auto"``: the exact 1-D optimum where it applies, else ``fallback``."""

    name: str = "auto"
    fallback: GradientRecipe = field(default_factory=GradientRecipe)

    def run(self, problems: Sequence[Checked], options: TrainOptions) -> list[Outcome]:
        out: dict[int, Outcome] = {}
        rest: list[Checked] = []
        for p in problems:
            try:
                res = solve_exact(p, options, self.name) if applies(p) else None
            except _OutOfRange:  # the gradient recipe trains in its own well-scaled space
                res = None
            if res is None:
                rest.append(p)
            else:
                out[p.index] = res
                if options.callback is not None:
                    options.callback(p.index, res.n_iter, res.objective)
        if rest:
            for p, r in zip(rest, self.fallback.run(rest, options), strict=True):
                out[p.index] = r
        return [out[p.index] for p in problems]
