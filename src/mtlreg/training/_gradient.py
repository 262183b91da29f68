"""The gradient recipes (``adam`` and ``continuation``) over the one batched engine.

:func:`run_gradient` trains every problem x restart of a list at once on the
engine of :mod:`mtlreg.training._engine`: all networks of equal (N, d) share one
padded batch. The recipes differ only in their data (a :class:`GradientRecipe`):
whether the problem is rescaled, how lam and the learning rate move with the step
(:meth:`GradientRecipe.schedule`, the one continuation schedule of the package),
how many restarts, and whether odd restarts start from the exact output layer.

One stopping rule for every recipe: in the final phase, every 1000 steps, a problem
stops once the relative change of its best objective over those steps is at most
``tol`` (``tol=0``: never). A network whose objective becomes non-finite or grows
above 1e3 times its start is dropped; a problem whose restarts are all dropped ends
in :class:`TrainingError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from mtlreg.model import ShallowReLUNet
from mtlreg.training._base import Checked, Outcome, Recipe, TrainingError, TrainOptions
from mtlreg.training._engine import adam_step, objective, select, stack, unstack
from mtlreg.training._history import TrainHistory, TrainResult
from mtlreg.training._setup import (
    Scaling,
    error_scale,
    fit_output_layer,
    initial_network,
    objective_terms,
    restart_seeds,
)

#: Steps between two tests of the stopping rule.
WINDOW = 1000
#: A network whose objective exceeds this multiple of its start has diverged.
BLOWUP = 1e3
#: Fractions of the steps where dominated restarts stop (``prune=True``, and the
#: ``continuation`` recipe's default): at each fraction but the last the better half
#: of a problem's restarts survives, at the last the best one. Restarts are ranked by
#: the objective the result is judged by (at the target lam, on balanced weights).
#: The ranking predicts the final order only once the learning rate has decayed for a
#: while: on 37 validation problems (benchmarks/README.md, "Cost per step") the
#: restart ranked best at 70% of the steps ended within 0.1% of the best of all four
#: full restarts on every problem, while any cut early enough for 4 restarts to cost
#: at most 2 single runs missed by more than 1% on some.
PRUNE = (0.7,)


@dataclass(frozen=True)
class GradientRecipe(Recipe):
    """A full-batch Adam recipe on the batched engine (see the module docstring)."""

    name: str = "adam"
    lr: float = 1e-3
    max_steps: int = 100_000
    restarts: int = 1
    lr_decay: float = 1.0
    rescale: bool = False
    continuation: bool = False
    output_layer_start: bool = False
    prune: tuple[float, ...] = ()
    continuation_fraction: float = 0.5

    def schedule(self, i: int, steps: int, lr_decay: float) -> tuple[float, float, str]:
        """(learning-rate factor, lam exponent in [0, 1], phase) before step ``i + 1``.

        The lam of a network is ``lam_start * (lam / lam_start) ** exponent``: with
        continuation it falls geometrically from ``lam_start`` to ``lam`` over the first
        ``continuation_fraction`` of the steps (default half) while the learning rate is
        held, then the learning rate falls geometrically by ``lr_decay`` over the rest.
        Without continuation lam is fixed and the learning rate falls by ``lr_decay``
        over the whole run.
        """
        frac = i / steps
        if not self.continuation:
            return (lr_decay**frac if lr_decay != 1.0 else 1.0), 1.0, "final"
        cut = self.continuation_fraction
        if frac < cut:
            return 1.0, frac / cut, "continuation"
        return lr_decay ** ((frac - cut) / (1.0 - cut)), 1.0, "final"

    def run(self, problems: Sequence[Checked], options: TrainOptions) -> list[Outcome]:
        return run_gradient(self, problems, options)


@dataclass
class _Prepared:
    """One problem in the recipe's space: scaling, starts and its log."""

    problem: Checked
    scaling: Scaling
    xs: NDArray[np.float64]
    ys: NDArray[np.float64]
    lam_s: float
    fit_scale: float
    lr: float
    starts: list[ShallowReLUNet]
    output_layer: bool
    log: dict[str, list[Any]] = field(default_factory=dict)
    steps: int = 0
    converged: bool = False
    ref: float = math.inf
    error: TrainingError | None = None
    seconds: float = 0.0


def _prepare(
    recipe: GradientRecipe, p: Checked, restarts: int, lam_start: float, dtype: torch.dtype
) -> _Prepared:
    scaling = Scaling.fit(p.x, p.y, p.skip) if recipe.rescale else Scaling.identity(p.x.shape[1])
    xs, ys = scaling.forward(p.x, p.y)
    lam_s = p.lam * scaling.lam_factor
    fs = error_scale(xs, ys, p.task_reduction)
    output_layer = True
    if p.net is None:
        starts = [
            initial_network(xs, ys, p.width, skip=p.skip, seed=sd, init=p.init, dtype=dtype)
            for sd in restart_seeds(p.seed, restarts)
        ]
        if recipe.output_layer_start:
            # Odd restarts start from the exact output layer for their hidden units:
            # it rescues kinks that clustered inputs need, while the even restarts'
            # small random output layer finds sparser solutions; the lowest final
            # objective wins.
            for start in starts[1::2]:
                output_layer = fit_output_layer(start, xs, ys, lam_s, fs) and output_layer
    else:
        starts = [scaling.net_forward(p.net.copy().to(dtype=dtype))]
    lr = recipe.lr if p.lr is None else p.lr
    return _Prepared(p, scaling, xs, ys, lam_s, fs, lr, starts, output_layer)


def run_gradient(
    recipe: GradientRecipe, problems: Sequence[Checked], options: TrainOptions
) -> list[Outcome]:
    """Train every problem with ``recipe``; one batch per (N, d)."""
    groups: dict[tuple[int, int], list[Checked]] = {}
    for p in problems:
        groups.setdefault(p.x.shape, []).append(p)
    out: dict[int, Outcome] = {}
    for members in groups.values():
        out.update(_run_group(recipe, members, options))
    return [out[p.index] for p in problems]


def _run_group(
    recipe: GradientRecipe, problems: list[Checked], opts: TrainOptions
) -> dict[int, Outcome]:
    t0 = time.perf_counter()
    dtype, device = opts.dtype, opts.device
    steps = recipe.max_steps if opts.max_steps is None else opts.max_steps
    restarts = recipe.restarts if opts.restarts is None else opts.restarts
    lr_decay = recipe.lr_decay if opts.lr_decay is None else opts.lr_decay
    lam_start = 1e-3 if opts.lam_start is None else opts.lam_start
    prepared = [_prepare(recipe, p, restarts, lam_start, dtype) for p in problems]
    for pp in prepared:
        pp.log = {k: [] for k in ("step", "objective", "fit", "penalty", "vv", "active", "phase")}
    nets = [net for pp in prepared for net in pp.starts]
    owner = [i for i, pp in enumerate(prepared) for _ in pp.starts]
    restart = [j for pp in prepared for j in range(len(pp.starts))]
    state = stack(nets, device=device, dtype=dtype)
    B, T = len(nets), state.V.shape[2]

    def per_net(values: list[float]) -> Tensor:
        return torch.tensor([values[o] for o in owner], dtype=dtype, device=device)

    n = prepared[0].xs.shape[0]
    X = torch.stack([torch.as_tensor(prepared[o].xs, dtype=dtype) for o in owner]).to(device)
    Y = torch.zeros((B, n, T), dtype=dtype)
    for k, o in enumerate(owner):
        ys = prepared[o].ys
        Y[k, :, : ys.shape[1]] = torch.as_tensor(ys, dtype=dtype)
    Y = Y.to(device)
    fit_scale = per_net([pp.fit_scale for pp in prepared])
    lam_end = per_net([pp.lam_s for pp in prepared])
    to_orig = per_net([pp.scaling.objective_factor for pp in prepared])
    vv_factor = per_net([pp.scaling.vv_factor for pp in prepared])
    lam_orig = per_net([pp.problem.lam for pp in prepared])
    if recipe.continuation:
        lam_begin = torch.clamp_min(per_net([lam_start] * len(prepared)), 0.0)
        lam_begin = torch.maximum(lam_begin, lam_end)
    else:
        lam_begin = lam_end.clone()
    safe_begin = torch.where(lam_begin > 0, lam_begin, torch.ones_like(lam_begin))
    # lam = 0: the continuation falls six decades below its start.
    ratio = torch.where(lam_end > 0, lam_end / safe_begin, torch.full_like(lam_end, 1e-6))
    lr0 = per_net([pp.lr for pp in prepared])
    owner_t = torch.tensor(owner)
    restart_t = torch.tensor(restart)

    def values_now(lam_t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Objective on the original scale (balanced), fit, WD and VV, per network."""
        obj, fit, wd = objective(state, X, Y, lam_t, fit_scale)
        vvs = (state.W.norm(dim=2) * state.V.norm(dim=2)).sum(dim=1) * vv_factor
        if recipe.rescale:
            return fit * to_orig + lam_orig * vvs, fit * to_orig, vvs, vvs
        return obj, fit, wd, vvs

    with torch.no_grad():
        start_values = values_now(lam_end)[0]
        baseline = torch.tensor([_baseline(prepared[o]) for o in owner], dtype=dtype, device=device)
        blowup = BLOWUP * torch.maximum(
            torch.where(torch.isfinite(start_values), start_values, baseline), baseline
        ).clamp_min(1e-300)
        param_ref = BLOWUP * state.flat.abs().amax(dim=1).clamp_min(1.0)

    bar = _make_bar(steps, opts.progress)
    done: dict[int, Outcome] = {}
    for k in range(B):
        if not math.isfinite(float(start_values[k])) and prepared[owner[k]].error is None:
            prepared[owner[k]].error = TrainingError(
                "Training cannot start: the objective of the initial network is not finite "
                f"({float(start_values[k])}), so the data overflow float64 in the "
                f"`{recipe.name}` recipe. Rescale the data or use method='continuation', "
                "which trains in a rescaled space."
            )

    def record(step: int, phase: str, lam_t: Tensor, only: set[int] | None = None) -> None:
        """Log the best restart of problems (``only``: those); drop diverged networks."""
        values, fit, pen, vvs = values_now(lam_t)
        # diverged: not finite, or the objective 1e3 times its start while the weights
        # left their starting scale by 1e3 (a large lam can raise the objective that
        # much in Adam's first steps, but not the weights)
        far = state.flat.abs().amax(dim=1) > param_ref
        bad = ~torch.isfinite(values) | ~torch.isfinite(pen) | ((values > blowup) & far)
        mass = state.W.norm(dim=2) * state.V.norm(dim=2)
        active = (mass > 1e-6 * mass.max(dim=1).values.clamp_min(1e-300)[:, None]).sum(1)
        cols = [t.cpu().numpy() for t in (values, fit, pen, vvs, active, bad)]
        rows: dict[int, list[int]] = {}
        for k, o in enumerate(owner_t.tolist()):
            if only is None or o in only:
                rows.setdefault(o, []).append(k)
        dead: list[int] = []
        for o, ks in rows.items():
            pp = prepared[o]
            good = [k for k in ks if not cols[5][k]]
            dead.extend(k for k in ks if cols[5][k])
            if not good:
                if pp.error is None:
                    worst = ks[0]
                    pp.error = TrainingError(
                        f"Training diverged at step {step}: the objective is "
                        f"{float(cols[0][worst]):.6g} (it started at "
                        f"{float(start_values[worst]):.6g}). Lower the learning rate `lr` "
                        "or rescale the data."
                    )
                continue
            best = min(good, key=lambda k: cols[0][k])
            pp.log["step"].append(step)
            pp.log["objective"].append(float(cols[0][best]))
            pp.log["fit"].append(float(cols[1][best]))
            pp.log["penalty"].append(float(cols[2][best]))
            pp.log["vv"].append(float(cols[3][best]))
            pp.log["active"].append(int(cols[4][best]))
            pp.log["phase"].append(phase)
            pp.steps = step
            if opts.callback is not None:
                opts.callback(pp.problem.index, step, float(cols[0][best]))
        failed = {o for o in rows if prepared[o].error is not None}
        for o in failed:
            done[prepared[o].problem.index] = prepared[o].error  # type: ignore[assignment]
        if dead or failed:
            owners = owner_t.tolist()
            keep = [k for k in range(len(owners)) if k not in dead and owners[k] not in failed]
            compact(torch.tensor(keep, dtype=torch.long))

    def retire(problem_ids: set[int], lam_t: Tensor) -> None:
        """Finish problems: pick each one's best restart and build its result."""
        if not problem_ids:
            return
        values = values_now(lam_t)[0].cpu()
        owners = owner_t.tolist()
        for o in problem_ids:
            pp = prepared[o]
            ks = [k for k in range(len(owners)) if owners[k] == o]
            vals = torch.where(torch.isfinite(values[ks]), values[ks], torch.inf)
            best = ks[int(vals.argmin())]
            pp.seconds = time.perf_counter() - t0
            done[pp.problem.index] = _result(
                recipe, pp, unstack(state, best), steps, int(restart_t[best]), restarts
            )
        compact(torch.tensor([k for k in range(len(owners)) if owners[k] not in problem_ids]))

    def compact(keep: Tensor) -> None:
        nonlocal state, X, Y, fit_scale, lam_end, lam_begin, ratio, lr0, to_orig
        nonlocal vv_factor, lam_orig, owner_t, restart_t, blowup, start_values, param_ref
        if len(keep) == len(owner_t):
            return
        keep = keep.to(dtype=torch.long)
        dev = keep.to(device)
        state = select(state, dev)
        X, Y = X[dev], Y[dev]
        fit_scale, lam_end, lam_begin = fit_scale[dev], lam_end[dev], lam_begin[dev]
        ratio, lr0, to_orig, vv_factor = ratio[dev], lr0[dev], to_orig[dev], vv_factor[dev]
        lam_orig, blowup, start_values = lam_orig[dev], blowup[dev], start_values[dev]
        param_ref = param_ref[dev]
        owner_t, restart_t = owner_t[keep], restart_t[keep]

    failed0 = {o for o, pp in enumerate(prepared) if pp.error is not None}
    if failed0:
        for o in failed0:
            done[prepared[o].problem.index] = prepared[o].error  # type: ignore[assignment]
        compact(torch.tensor([k for k in range(B) if owner[k] not in failed0]))

    # stop dominated restarts early: at each fraction, keep the better half (the last: one)
    prune = recipe.prune if opts.prune is None else ((recipe.prune or PRUNE) if opts.prune else ())
    prune_at = [
        (int(frac * steps), 1 if j == len(prune) - 1 else 2) for j, frac in enumerate(prune)
    ]
    prune_at = [(i, div) for i, div in prune_at if i > 0]

    step = 0
    lam_t = lam_end
    try:
        with torch.no_grad():
            for step in range(1, steps + 1):
                if len(owner_t) == 0:
                    break
                lr_mult, mix, phase = recipe.schedule(step - 1, steps, lr_decay)
                lam_t = lam_end if mix >= 1.0 else lam_begin * ratio**mix
                if prune_at and step - 1 == prune_at[0][0]:
                    values, fit, _, vvs = values_now(lam_end)
                    rank = values if recipe.rescale else fit + lam_end * vvs  # balanced
                    keep = _survivors(rank, owner_t, prune_at[0][1])
                    compact(keep)
                    prune_at.pop(0)
                    lam_t = lam_end if mix >= 1.0 else lam_begin * ratio**mix
                adam_step(state, X, Y, lam_t, fit_scale, lr0 * lr_mult if lr_mult != 1 else lr0)
                if bar is not None:
                    bar.update(1)
                logged = step % opts.log_every == 0 or step == steps
                if logged:
                    record(step, phase, lam_t)
                    lam_t = lam_end if mix >= 1.0 else lam_begin * ratio**mix
                if step % WINDOW == 0 and phase == "final" and opts.tol > 0 and len(owner_t):
                    finished = _converged(
                        prepared, state, X, Y, lam_t, fit_scale, owner_t, opts.tol
                    )
                    if finished and not logged:
                        record(step, phase, lam_t, only=finished)
                        lam_t = lam_end if mix >= 1.0 else lam_begin * ratio**mix
                        finished = {o for o in finished if prepared[o].error is None}
                    retire(finished, lam_t)
                    lam_t = lam_end if mix >= 1.0 else lam_begin * ratio**mix
            if len(owner_t):
                retire(set(owner_t.tolist()), lam_t)
    finally:
        if bar is not None:
            bar.close()
    for pp in prepared:
        if pp.problem.index not in done:
            done[pp.problem.index] = pp.error or TrainingError("Training diverged.")
    return done


def _survivors(values: Tensor, owner_t: Tensor, divisor: int) -> Tensor:
    """Indices of the restarts to keep: per problem the best ceil(n / divisor) (1 if 1).

    ``values`` ranks the restarts (lower is better; non-finite values rank last, ties
    go to the lower index), so a problem's survivors do not depend on its batch mates.
    """
    obj = torch.where(torch.isfinite(values), values, torch.inf).cpu()
    owners = owner_t.tolist()
    keep: list[int] = []
    for o in dict.fromkeys(owners):
        ks = [k for k, oo in enumerate(owners) if oo == o]
        count = 1 if divisor == 1 else -(-len(ks) // divisor)
        keep.extend(sorted(sorted(ks, key=lambda k: (float(obj[k]), k))[:count]))
    return torch.tensor(sorted(keep), dtype=torch.long)


def _baseline(pp: _Prepared) -> float:
    """The objective of the best constant (skip: affine) predictor, in original units."""
    y = pp.problem.y
    resid = y - y.mean(axis=0) if pp.problem.skip else y
    return float(error_scale(pp.problem.x, y, pp.problem.task_reduction) * (resid**2).sum())


def _converged(
    prepared: list[_Prepared],
    state: Any,
    X: Tensor,
    Y: Tensor,
    lam_t: Tensor,
    fit_scale: Tensor,
    owner_t: Tensor,
    tol: float,
) -> set[int]:
    """Problems whose best objective moved by at most ``tol`` (relative) since the last test."""
    obj = objective(state, X, Y, lam_t, fit_scale)[0]
    obj = torch.where(torch.isfinite(obj), obj, torch.inf).cpu()
    out: set[int] = set()
    for o in set(owner_t.tolist()):
        pp = prepared[o]
        value = float(obj[owner_t == o].min())
        if abs(pp.ref - value) <= tol * max(abs(value), 1e-300):
            pp.converged = True
            out.add(o)
        pp.ref = value
    return out


def _result(
    recipe: GradientRecipe,
    pp: _Prepared,
    net: ShallowReLUNet,
    max_steps: int,
    best: int,
    restarts: int,
) -> Outcome:
    """The result of one problem: its best restart, mapped back and measured."""
    p = pp.problem
    cpu = net.cpu() if net.w.device.type != "cpu" else net
    model = pp.scaling.balanced_backward(cpu) if recipe.rescale else cpu.balance()
    with torch.no_grad():  # a neuron with v = 0 adds nothing to f: drop its weights too
        silent = model.v.abs().amax(dim=1) == 0
        model.w[silent] = 0.0
        model.b[silent] = 0.0
    dtype = model.w.dtype
    xt = torch.as_tensor(p.x, dtype=dtype)
    yt = torch.as_tensor(p.y, dtype=dtype)
    with torch.no_grad():
        obj, fit, wd = objective_terms(model, xt, yt, p.lam, p.task_reduction)
    trivial = False
    if recipe.rescale:
        # never return worse than the network with no active neuron (a feasible point)
        base = pp.scaling.trivial_network(pp.xs, pp.ys, p.width, p.skip, dtype)
        with torch.no_grad():
            terms = objective_terms(base, xt, yt, p.lam, p.task_reduction)
        if not float(obj) <= float(terms[0]):
            model, (obj, fit, wd), trivial = base, terms, True
    objective_value = float(obj)
    if not math.isfinite(objective_value):
        return TrainingError(
            f"Training diverged: the objective of the returned network on the original data "
            f"is {objective_value}. Lower the learning rate `lr` or rescale the data."
        )
    config: dict[str, Any] = {
        "width": p.width,
        "lam": p.lam,
        "skip": p.skip,
        "seed": p.seed,
        "method": recipe.name,
        "lr": pp.lr,
        "max_steps": max_steps,
        "init": p.init,
        "task_reduction": p.task_reduction,
        "restarts": restarts if p.net is None else 1,
        "best_restart": best,
        "trivial": trivial,
        "output_layer_start": pp.output_layer if recipe.output_layer_start else False,
        "n_samples": int(p.x.shape[0]),
        "in_dim": int(p.x.shape[1]),
        "n_tasks": int(p.y.shape[1]),
    }
    return TrainResult(
        net=model,
        history=_history(pp),
        converged=pp.converged,
        objective=objective_value,
        fit=float(fit),
        penalty=float(wd),
        n_iter=pp.steps,
        seconds=pp.seconds,
        config=config,
    )


def _history(pp: _Prepared) -> TrainHistory:
    log = pp.log
    return TrainHistory(
        step=np.asarray(log["step"], dtype=np.int64),
        objective=np.asarray(log["objective"], dtype=np.float64),
        fit=np.asarray(log["fit"], dtype=np.float64),
        penalty=np.asarray(log["penalty"], dtype=np.float64),
        vv_norm=np.asarray(log["vv"], dtype=np.float64),
        active=np.asarray(log["active"], dtype=np.int64),
        phase=tuple(log["phase"]),
    )


def _make_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="train", unit="step", leave=False)
