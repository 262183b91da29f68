"""The certified recipe: the global optimum of the multi-task problem for d <= 3.

``train(..., method="certified")`` returns the network of :func:`mtlreg.convex.solve`
(column generation with the exact dual oracle, docs/theory.md §4 and
docs/certified.md) padded to ``width``, with its certified lower bound. The objective
and the gap are measured again on the original data and the returned network;
``converged`` is claimed only when that measured relative gap is at most
``max(tol, 1e-9)`` and the oracle was exact.

The solver works at unit input and label scale itself (an exact symmetry; the
solution maps back exactly, and :meth:`~mtlreg.convex.CertifiedSolution.to_network`
balances each neuron without forming the product of its norms), so the problem is
handed over as given. The solver's neurons are first *compacted*: neurons with the
same activation pattern on the data and parallel output weights (same direction) are
merged into one, which leaves the predictions on the data unchanged and never raises
the penalty (the merged input weight is a convex combination of unit vectors, so its
norm is at most 1). On a random d = 2, N = 20, one-output problem near interpolation
this takes the solver's 102 neurons to 25, so the optimum fits much narrower networks.

``method="auto"`` uses the same solve under a time budget (:data:`AUTO_MAX_SECONDS`)
for problems of at most :data:`AUTO_MAX_SAMPLES` samples (:func:`auto_certified_applies`);
see :class:`mtlreg.training._exact.AutoRecipe`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mtlreg._result import relative_gap, row_norms
from mtlreg.training._base import Checked, Outcome, Recipe, TrainOptions
from mtlreg.training._history import TrainHistory, TrainResult
from mtlreg.training._setup import objective_terms

if TYPE_CHECKING:
    from mtlreg.convex import CertifiedSolution

#: Smallest stopping tolerance of the certified solver (rounding sets the floor): the
#: certified recipes stop at a certified relative gap of ``max(tol, CERTIFIED_TOL_FLOOR)``.
CERTIFIED_TOL_FLOOR = 1e-9
#: ``method="auto"`` tries the certified solver only up to this many samples, by input
#: dimension (dimensions not listed: never). The exact oracle costs O(N T) per call in
#: d = 1, O(N^2 T) in d = 2 and O(N^3 T) in d = 3, and column generation needs tens of
#: calls. Measured (CPU seconds, one thread, random Gaussian inputs, labels sin(x . u) +
#: 0.1 noise, T = 1 and 5, lam = 1e-2 and 1e-3, tol 1e-7, all certified): d = 2 with
#: skip: N = 20 0.1-3.5 s, N = 50 0.2-4.7 s, N = 100 0.8-14 s, N = 200 0.8-21 s; d = 1
#: without skip: N = 200 0.4-3.2 s, N = 1000 23-26 s (T = 1); d = 3 with skip: N = 20
#: 0.6-3.1 s, N = 30 1.2-5.0 s, N = 50 3.6-18 s. With many tasks d = 3 is the limit:
#: N = 30, T = 51 certifies in 6-12 s since the finite group lasso is solved by smoothing
#: and low-rank Newton steps (random labels lam = 1e-4 without skip: 6.2-8.1 s; sin labels
#: with skip: 6.0-11.6 s; before: not within 60 s), N = 50, T = 51 in 47 s, so d = 3 stops
#: at N = 30. Larger problems go straight to gradient training.
AUTO_MAX_SAMPLES: dict[int, int] = {1: 200, 2: 100, 3: 30}
#: Wall-clock budget (seconds) of ``method="auto"``'s certified solve of one problem.
#: Past it the solver stops with its best certified bound and auto also trains by
#: gradient, returning the better network. ``method="certified"`` keeps the solver's own
#: budget (60 s).
AUTO_MAX_SECONDS = 30.0
#: A measured objective below the certified bound by more than this relative amount is a
#: measurement failure (weights outside float64), never a certificate.
ROUNDING_RTOL = 1e-12


def certified_applies(p: Checked) -> bool:
    """Whether the certified solver answers this problem exactly (d <= 3, no start net)."""
    from mtlreg.convex import EXACT_DIMS

    return p.x.shape[1] in EXACT_DIMS and p.net is None


def auto_certified_applies(p: Checked) -> bool:
    """Whether ``method="auto"`` tries the certified solver on this problem.

    The input dimension is in :data:`mtlreg.convex.EXACT_DIMS`, no start network is
    given, ``lam > 0`` and ``N <= AUTO_MAX_SAMPLES[d]``.
    """
    limit = AUTO_MAX_SAMPLES.get(p.x.shape[1], 0)
    return certified_applies(p) and p.lam > 0.0 and p.x.shape[0] <= limit


def certified_tol(options: TrainOptions) -> float:
    """The certified solver's stopping tolerance for ``options.tol``."""
    return max(options.tol, CERTIFIED_TOL_FLOOR)


def solve_certified(
    p: Checked, options: TrainOptions, *, max_seconds: float | None = None
) -> CertifiedSolution:
    """:func:`mtlreg.convex.solve` (column generation, exact oracle) on one problem."""
    from mtlreg.convex import CertifiedSolution, solve

    budget: dict[str, Any] = {} if max_seconds is None else {"max_seconds": max_seconds}
    sol = solve(
        p.x,
        p.y,
        p.lam,
        skip=p.skip,
        method="cg",
        tol=certified_tol(options),
        task_reduction=p.task_reduction,
        require_exact=True,
        **budget,
    )
    if not isinstance(sol, CertifiedSolution):  # method="cg" always returns one
        raise TypeError(f"mtlreg.convex.solve(method='cg') returned {type(sol)!r}.")
    return sol


def compact(sol: CertifiedSolution, x: np.ndarray) -> CertifiedSolution:
    """Merge neurons with one activation pattern on ``x`` and parallel output weights.

    For unit directions ``w_k`` (``||w_k|| = 1``), biases ``b_k`` and output weights
    ``V_k = s_k u`` (``s_k > 0``, one unit vector ``u``) whose neurons are active on the
    same data points, ``sum_k V_k relu(w_k . x + b_k)`` equals ``(sum_k s_k) u
    relu(a . x + c)`` on the data, with ``(a, c)`` the ``s``-weighted mean of the
    ``(w_k, b_k)`` (the activation pattern is a convex cone). Renormalised to ``||a|| =
    1``, the merged neuron costs ``||a|| sum_k s_k <= sum_k s_k``. The result keeps the
    solver's bound and is re-measured by the caller.
    """
    vn = row_norms(sol.V)
    keep = vn > 0.0
    w, b, v, vn = sol.weights[keep], sol.biases[keep], sol.V[keep], vn[keep]
    if len(w) < 2:
        return sol
    active = (x @ w.T + b) > 0.0
    u = v / vn[:, None]
    groups: dict[bytes, list[list[int]]] = {}
    for k in range(len(w)):
        clusters = groups.setdefault(active[:, k].tobytes(), [])
        for cluster in clusters:
            if float(u[cluster[0]] @ u[k]) >= 1.0 - 1e-12:
                cluster.append(k)
                break
        else:
            clusters.append([k])
    rows_w: list[Any] = []
    rows_b: list[Any] = []
    rows_v: list[Any] = []
    for clusters in groups.values():
        for cluster in clusters:
            s = vn[cluster]
            a = (s[:, None] * w[cluster]).sum(axis=0) / s.sum()
            c = float((s * b[cluster]).sum() / s.sum())
            norm = float(np.linalg.norm(a))
            if len(cluster) == 1 or norm < 1e-8:
                rows_w.extend(w[cluster])
                rows_b.extend(b[cluster])
                rows_v.extend(v[cluster])
                continue
            rows_w.append(a / norm)
            rows_b.append(c / norm)
            rows_v.append(v[cluster].sum(axis=0) * norm)
    if len(rows_w) == len(w):
        return sol
    return replace(
        sol,
        weights=np.asarray(rows_w, dtype=np.float64).reshape(-1, w.shape[1]),
        biases=np.asarray(rows_b, dtype=np.float64),
        V=np.asarray(rows_v, dtype=np.float64).reshape(-1, v.shape[1]),
    )


def _required_width(sol: CertifiedSolution) -> int:
    """Neurons of ``sol.to_network()`` (the free constant without skip is one more)."""
    n = int((row_norms(sol.V) > 0.0).sum())
    if not sol.skip and np.any(sol.skip_bias != 0.0):
        n += 1
    return max(n, 1)


def _measure(p: Checked, model: Any) -> tuple[float, float, float, float]:
    """(objective, fit, WD, VV) of ``model`` on the original data, in float64."""
    xt = torch.as_tensor(p.x, dtype=torch.float64)
    yt = torch.as_tensor(p.y, dtype=torch.float64)
    with torch.no_grad():
        obj, fit, wd = (float(t) for t in objective_terms(model, xt, yt, p.lam, p.task_reduction))
        vv = float(model.vv_norm())
    return obj, fit, wd, vv


def certified_result(
    p: Checked,
    sol: CertifiedSolution,
    options: TrainOptions,
    method: str,
    seconds: float,
) -> TrainResult | None:
    """The (compacted) certified solution as a :class:`TrainResult` of width ``p.width``.

    ``None`` when ``width`` cannot hold its neurons. Objective and gap are measured on the
    original data; ``converged`` needs the oracle exact and the measured relative gap at
    most :func:`certified_tol` and not below ``-ROUNDING_RTOL`` (a network measured below
    the proven bound was measured wrongly, e.g. weights outside float64). The compacted
    network is used unless it measures worse than the solver's own (rounding).
    """
    tol = certified_tol(options)
    lower = sol.lower_bound
    small = compact(sol, p.x)
    candidates = [small] if small is sol else [small, sol]
    best: tuple[float, float, float, float, Any, CertifiedSolution] | None = None
    for cand in candidates:
        if _required_width(cand) > p.width:
            continue
        model = cand.to_network(width=p.width)
        terms = _measure(p, model)
        if best is None or terms[0] < best[0]:
            best = (*terms, model, cand)
    if best is None:
        return None
    obj, fit, wd, vv, model, used = best
    gap = obj - lower
    rel = relative_gap(gap, obj)
    converged = bool(sol.exact and math.isfinite(rel) and -ROUNDING_RTOL <= rel <= tol)
    history = TrainHistory(
        step=np.array([sol.n_iter], dtype=np.int64),
        objective=np.array([obj]),
        fit=np.array([fit]),
        penalty=np.array([wd]),
        vv_norm=np.array([vv]),
        active=np.array([_required_width(used)], dtype=np.int64),
        phase=("certified",),
    )
    config: dict[str, Any] = {
        "width": p.width,
        "lam": p.lam,
        "skip": p.skip,
        "method": method,
        "solver": "certified-cg",
        "tol": tol,
        "task_reduction": p.task_reduction,
        "duality_gap": gap,
        "relative_gap": rel,
        "certified": converged,
        "exact_bound": bool(sol.exact),
        "neurons": _required_width(used),
        "solver_neurons": _required_width(sol),
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
        seconds=seconds,
        config=config,
        lower_bound=lower,
    )


def solve_certified_problem(p: Checked, options: TrainOptions, method: str) -> TrainResult:
    """The certified optimum of one problem as a :class:`TrainResult`."""
    t0 = time.perf_counter()
    sol = solve_certified(p, options)
    res = certified_result(p, sol, options, method, time.perf_counter() - t0)
    if res is None:
        small = compact(sol, p.x)
        raise ValueError(
            f"Parameter `width` should hold the certified optimum's {_required_width(small)} "
            f"neurons for method='certified'. Found width {p.width}; use a wider network "
            "(or method='auto', which falls back to gradient training)."
        )
    return res


@dataclass(frozen=True)
class CertifiedRecipe(Recipe):
    """``method="certified"``: the certified global optimum (d <= 3); refuses others."""

    name: str = "certified"

    def run(self, problems: Sequence[Checked], options: TrainOptions) -> list[Outcome]:
        out: list[Outcome] = []
        for p in problems:
            if not certified_applies(p):
                from mtlreg.convex import EXACT_DIMS

                raise ValueError(
                    "Parameter `method` should be 'certified' only for inputs of dimension "
                    f"in {EXACT_DIMS} and no start network. Found d={p.x.shape[1]}, "
                    f"net={'given' if p.net is not None else None}."
                )
            res = solve_certified_problem(p, options, self.name)
            if options.callback is not None:
                options.callback(p.index, res.n_iter, res.objective)
            out.append(res)
        return out
