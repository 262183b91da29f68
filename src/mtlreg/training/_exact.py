"""The exact 1-D recipe, and ``auto``: the certified optimum where it can, else training.

For 1-D inputs with the skip connection the weight-decay problem is a convex
problem in the fitted values (docs/theory.md §3), solved by
:func:`mtlreg.univariate.weight_decay_optimum` with a duality-gap certificate. The
recipe solves it in the well-scaled space of :class:`~mtlreg.training._setup.Scaling`
(unit input spread and label size), maps the network back, and measures objective
and gap again on the original data: ``converged`` is claimed only when that
measured relative gap is at most ``tol``.

:class:`AutoRecipe` (``method="auto"``) returns this exact optimum in 1-D, the
certified multi-task optimum of :func:`mtlreg.convex.solve` for small problems whose
input dimension is in :data:`mtlreg.convex.EXACT_DIMS` (see
:mod:`mtlreg.training._certified`), and gradient training elsewhere, with the best
proven lower bound attached wherever one was computed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from mtlreg._result import relative_gap
from mtlreg.training._base import Checked, Outcome, Recipe, TrainingError, TrainOptions
from mtlreg.training._certified import (
    AUTO_MAX_SECONDS,
    ROUNDING_RTOL,
    auto_certified_applies,
    certified_result,
    certified_tol,
    solve_certified,
)
from mtlreg.training._gradient import GradientRecipe
from mtlreg.training._history import TrainHistory, TrainResult
from mtlreg.training._setup import Scaling, objective_terms


class _OutOfRange(ValueError):
    """The exact solver cannot represent this problem in float64."""


def applies(p: Checked) -> bool:
    """Whether the exact 1-D solution answers this problem (1-D, skip, no start net)."""
    return p.x.shape[1] == 1 and p.skip and p.net is None


def solve_exact(p: Checked, options: TrainOptions, method: str) -> tuple[TrainResult | None, float]:
    """The certified exact optimum as a TrainResult, and its lower bound on the problem.

    The result is ``None`` if ``width`` cannot hold the optimum's knots; the lower bound
    (valid for every network of the problem) is returned either way.
    """
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
    bound = getattr(opt, "lower_bound", None)
    lower_s = float(opt.dual_objective if bound is None else bound)
    factor = (1.0 / n_tasks if mean else 1.0) * scaling.objective_factor
    lower = lower_s * factor
    if opt.n_knots > p.width:
        return None, lower
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
        "certified": converged,
        "n_samples": int(p.x.shape[0]),
        "in_dim": 1,
        "n_tasks": int(n_tasks),
    }
    net = model.to(device=options.device, dtype=options.dtype)
    result = TrainResult(
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
    return result, lower


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
            res, _lower = solve_exact(p, options, self.name)
            if res is None:
                raise ValueError(
                    f"Parameter `width` should hold the exact solution's knots for "
                    f"method='exact'. Found width {p.width}; use a wider network."
                )
            out.append(res)
        return out


@dataclass(frozen=True)
class _Attempt:
    """What ``auto`` learned before gradient training: a bound, maybe a network."""

    lower_bound: float
    result: TrainResult | None
    info: dict[str, Any]
    seconds: float


#: Errors of the certified attempt that make ``auto`` fall back to gradient training
#: (recorded in ``config["certified_attempt"]``); input errors are raised before.
_SOLVER_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError)


@dataclass(frozen=True)
class AutoRecipe(Recipe):
    """``method="auto"``: the certified optimum where it can, else ``fallback``.

    Per problem, in order:

    1. 1-D inputs with the skip connection and no start network: the exact univariate
       optimum (:func:`solve_exact`), if ``width`` holds its knots.
    2. Input dimension in :data:`mtlreg.convex.EXACT_DIMS`, no start network, ``lam >
       0`` and at most ``AUTO_MAX_SAMPLES[d]`` samples: the certified column-generation
       solve (:func:`mtlreg.convex.solve`) under a ``max_seconds`` budget; returned if it
       is certified (relative gap at most ``max(tol, 1e-9)``) and ``width`` holds its
       (compacted) neurons.
    3. Otherwise ``fallback`` (gradient training). Where step 1 or 2 ran, the returned
       network is the one of lower objective among the gradient network and the
       certified network (if it fits ``width``), and ``lower_bound`` is the best proven
       bound: the certified solver's, or the dual bound from the gradient network's
       residual (exact oracle), whichever is higher. Both bound every network of the
       problem, of any width.

    ``config["solver"]`` names what produced the network (``"exact-1d"``,
    ``"certified-cg"`` or the fallback's name), ``config["certified"]`` whether its
    measured relative gap to a proven bound is at most ``max(tol, 1e-9)``, and
    ``config["certified_attempt"]`` what steps 1-2 found when they did not answer.
    ``converged`` keeps the meaning of the solver that produced the network (certified
    gap for the exact solvers, the stopping rule for gradient training).
    """

    name: str = "auto"
    fallback: GradientRecipe = field(default_factory=GradientRecipe)
    max_seconds: float = AUTO_MAX_SECONDS

    def run(self, problems: Sequence[Checked], options: TrainOptions) -> list[Outcome]:
        out: dict[int, Outcome] = {}
        rest: list[Checked] = []
        attempts: dict[int, _Attempt] = {}
        for p in problems:
            res, attempt = self._certified_first(p, options)
            if res is not None:
                out[p.index] = res
                if options.callback is not None:
                    options.callback(p.index, res.n_iter, res.objective)
                continue
            rest.append(p)
            if attempt is not None:
                attempts[p.index] = attempt
        if rest:
            for p, r in zip(rest, self.fallback.run(rest, options), strict=True):
                out[p.index] = self._combine(p, r, attempts.get(p.index), options)
        return [out[p.index] for p in problems]

    def _certified_first(
        self, p: Checked, options: TrainOptions
    ) -> tuple[TrainResult | None, _Attempt | None]:
        """The exact or certified answer if it is final, else what it found."""
        t0 = time.perf_counter()
        if applies(p):
            try:
                res, lower = solve_exact(p, options, self.name)
            except _OutOfRange:  # the gradient recipe trains in its own well-scaled space
                return None, None
            if res is not None:
                return res, None
            info = {"solver": "exact-1d", "reason": "width", "lower_bound": lower}
            return None, _Attempt(lower, None, info, time.perf_counter() - t0)
        if not auto_certified_applies(p):
            return None, None
        try:
            sol = solve_certified(p, options, max_seconds=self.max_seconds)
            res = certified_result(p, sol, options, self.name, time.perf_counter() - t0)
        except _SOLVER_ERRORS as exc:
            info = {"solver": "certified-cg", "reason": f"error: {exc}"}
            return None, _Attempt(math.nan, None, info, time.perf_counter() - t0)
        if res is not None and res.converged:
            return res, None
        lower = sol.lower_bound if sol.exact else math.nan
        info = {
            "solver": "certified-cg",
            "reason": "width" if res is None else "budget",
            "converged": bool(sol.converged),
            "relative_gap": float(sol.relative_gap),
            "lower_bound": lower,
            "solver_neurons": int(sol.n_neurons),  # before compaction, without the constant
            "seconds": float(sol.seconds),
        }
        return None, _Attempt(lower, res, info, time.perf_counter() - t0)

    def _combine(
        self, p: Checked, r: Outcome, attempt: _Attempt | None, options: TrainOptions
    ) -> Outcome:
        """The better of the gradient and certified networks, with the best bound."""
        if attempt is None:
            if isinstance(r, TrainingError):
                return r
            config = {**r.config, "method": self.name, "solver": self.fallback.name}
            config["certified"] = False
            return replace(r, config=config)
        if isinstance(r, TrainingError):
            return r if attempt.result is None else attempt.result
        lower = attempt.lower_bound
        if attempt.info["solver"] == "certified-cg":
            lower = _max_bound(lower, _residual_bound(p, r))
        chosen, solver = r, self.fallback.name
        if attempt.result is not None and attempt.result.objective < r.objective:
            chosen, solver = attempt.result, "certified-cg"
        gap = chosen.objective - lower
        rel = relative_gap(gap, chosen.objective)
        # a gap below -ROUNDING_RTOL: the bound or the objective was not measured exactly
        certified = math.isfinite(rel) and -ROUNDING_RTOL <= rel <= certified_tol(options)
        converged = certified if solver == "certified-cg" else chosen.converged
        config = {
            **chosen.config,
            "method": self.name,
            "solver": solver,
            "duality_gap": gap,
            "relative_gap": rel,
            "certified": certified,
            "certified_attempt": attempt.info,
        }
        return replace(
            chosen,
            converged=converged,
            lower_bound=lower,
            seconds=r.seconds + attempt.seconds,
            config=config,
        )


def _max_bound(a: float, b: float) -> float:
    """The larger of two lower bounds, ignoring ``nan`` (no bound)."""
    finite = [v for v in (a, b) if math.isfinite(v)]
    return max(finite) if finite else math.nan


def _residual_bound(p: Checked, r: TrainResult) -> float:
    """The dual bound from ``r``'s residual (exact oracle only; else ``nan``).

    Computed at unit input spread and label size (:class:`Scaling`, an exact symmetry),
    like the certified solve, and mapped back.
    """
    from mtlreg.convex import dual_lower_bound

    n_tasks = p.y.shape[1]
    mean = p.task_reduction == "mean"
    scaling = Scaling.fit(p.x, p.y, skip=p.skip)
    xs, ys = scaling.forward(p.x, p.y)
    lam = p.lam * scaling.lam_factor
    lam = lam * n_tasks if mean else lam  # "mean" is the "sum" problem at lam T, / T
    try:
        fitted = r.net.copy().double().predict(p.x) / scaling.sy  # never alters r.net
        bound, exact = dual_lower_bound(xs, ys, fitted, lam, skip=p.skip)
    except _SOLVER_ERRORS:
        return math.nan
    if not exact or not math.isfinite(bound):
        return math.nan
    bound *= scaling.objective_factor
    return bound / n_tasks if mean else bound
