"""The trainer's gradient recipe for many problems at once.

:func:`mtlreg.train`'s gradient recipe (its default for inputs of dimension d >= 2)
rescales each problem to unit input and
label scale, trains ``restarts`` initialisations together with a continuation in
lam (first half of the steps) and a 100-fold learning-rate decay (second half),
and returns the restart with the lowest objective. :func:`train_auto_batched` runs
the same recipe for many problems (data sets, task counts, lam, seeds) in one batch
of ``len(runs) * restarts`` networks on the batched engine, which amortises the
per-step overhead that dominates small problems. It never stops early: every run
takes ``steps`` steps (``train`` may stop once its objective settles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from mtlreg._validation import check_int, check_number
from mtlreg.model import ShallowReLUNet
from mtlreg.sweep._batched import BatchedResult, BatchedRun, _check_run
from mtlreg.training import initial_network, objective_terms
from mtlreg.training._engine import BatchState, adam_step, objective, stack, unstack
from mtlreg.training._train import Scaling, error_scale, fit_output_layer, restart_seeds

_WINDOW = 1000


@dataclass(frozen=True)
class AutoBatchedResult(BatchedResult):
    """A :class:`BatchedResult` with the stationarity of the returned restart.

    ``rel_change`` is the relative change of its objective over the last
    ``min(1000, steps // 2)`` steps (the criterion of ``train``'s ``converged``);
    ``best_restart`` is the index of the returned restart.
    """

    rel_change: float = math.nan
    best_restart: int = 0


def train_auto_batched(
    runs: Sequence[BatchedRun],
    *,
    steps: int,
    restarts: int = 4,
    lam_start: float = 1e-3,
    dtype: torch.dtype = torch.float64,
) -> list[AutoBatchedResult]:
    """``train(X, Y, method="continuation", restarts=restarts, ...)`` per run, batched.

    Each run's ``lr`` is the learning rate in rescaled units (``train``'s default for
    this recipe is 1e-2, not BatchedRun's 1e-3); ``init`` must be ``"data"`` for parity
    with ``train``. All runs share N and d. Results are in the original units, balanced.

    Example
    -------
    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0]); y = np.array([0.0, 1.0, 0.0])
    >>> runs = [BatchedRun(x, y, width=4, lam=1e-3, seed=s, lr=1e-2) for s in range(2)]
    >>> [r.net.width for r in train_auto_batched(runs, steps=50)]
    [4, 4]
    """
    if len(runs) == 0:
        raise ValueError("Parameter `runs` should contain at least one run. Found 0.")
    steps = check_int(steps, "steps", low=1)
    restarts = check_int(restarts, "restarts", low=1)
    lam_start = check_number(lam_start, "lam_start", low=0.0)
    data = [_check_run(run, i) for i, run in enumerate(runs)]
    n, d = data[0][0].shape
    if any(x.shape != (n, d) for x, _ in data):
        raise ValueError("Parameter `runs` should hold data sets of one shape (N, d).")

    scalings = [Scaling.fit(x, y, r.skip) for r, (x, y) in zip(runs, data)]
    scaled = [((x - s.mx) / s.sx, y / s.sy) for (x, y), s in zip(data, scalings)]
    lam_s = [r.lam / (s.sx * s.sy) for r, s in zip(runs, scalings)]
    fscale = [error_scale(x, y, r.task_reduction) for r, (x, y) in zip(runs, data)]
    nets: list[ShallowReLUNet] = []
    for r, (xs, ys), lam, fs in zip(runs, scaled, lam_s, fscale):
        for j, sd in enumerate(restart_seeds(int(r.seed), restarts)):
            net = initial_network(xs, ys, r.width, skip=r.skip, seed=sd, init=r.init, dtype=dtype)
            if j % 2 == 1:
                fit_output_layer(net, xs, ys, lam, fs)
            nets.append(net)
    state = stack(nets, dtype=dtype)
    T = state.V.shape[2]
    X = torch.as_tensor(np.stack([xs for xs, _ in scaled]), dtype=dtype)
    Y = torch.zeros((len(runs), n, T), dtype=dtype)
    for i, (_, ys) in enumerate(scaled):
        Y[i, :, : ys.shape[1]] = torch.as_tensor(ys, dtype=dtype)
    X = X.repeat_interleave(restarts, dim=0)
    Y = Y.repeat_interleave(restarts, dim=0)

    def per_net(values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype).repeat_interleave(restarts)

    fit_scale, lam_end = per_net(fscale), per_net(lam_s)
    lam_begin = torch.maximum(per_net([lam_start] * len(runs)), lam_end)
    # lam_end = 0: the continuation falls six decades below lam_begin, as in ``train``
    ratio = torch.where(lam_end > 0, lam_end / lam_begin, torch.full_like(lam_end, 1e-6))
    lr0 = per_net([float(r.lr) for r in runs])
    window = min(_WINDOW, max(steps // 2, 1))
    ref = torch.full((len(nets),), math.nan, dtype=dtype)
    with torch.no_grad():
        for i in range(steps):
            frac = i / steps
            if frac < 0.5:
                lam_t, lr_t = lam_begin * ratio ** (2.0 * frac), lr0
            else:
                lam_t, lr_t = lam_end, lr0 * 0.01 ** (2.0 * (frac - 0.5))
            adam_step(state, X, Y, lam_t, fit_scale, lr_t)
            if i == steps - 1 - window:
                ref = objective(state, X, Y, lam_end, fit_scale)[0].clone()
        obj, fit, _ = objective(state, X, Y, lam_end, fit_scale)
        vv = (state.W.norm(dim=2) * state.V.norm(dim=2)).sum(dim=1)
    rel = ((ref - obj).abs() / obj.abs().clamp_min(1e-300)).numpy()
    results = []
    for i, (run, (x, y), s) in enumerate(zip(runs, data, scalings)):
        block = slice(i * restarts, (i + 1) * restarts)
        values = fit[block] * s.sy**2 + run.lam * vv[block] * (s.sy / s.sx)
        values = torch.where(torch.isfinite(values), values, torch.inf)
        best = int(values.argmin())
        j = i * restarts + best
        results.append(_result(state, j, run, x, y, s, float(rel[j]), best))
    return results


def _result(
    state: BatchState,
    j: int,
    run: BatchedRun,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    scaling: Scaling,
    rel: float,
    best: int,
) -> AutoBatchedResult:
    net = scaling.net_backward(unstack(state, j).cpu()).balance()
    with torch.no_grad():
        xt, yt = torch.as_tensor(x, dtype=net.w.dtype), torch.as_tensor(y, dtype=net.w.dtype)
        obj, fit, wd = objective_terms(net, xt, yt, float(run.lam), run.task_reduction)
        vv = float(net.vv_norm())
        active = int(net.active(1e-6).sum())
    return AutoBatchedResult(
        net=net,
        objective=float(obj),
        fit=float(fit),
        penalty=float(wd),
        vv_norm=vv,
        active=active,
        steps=state.step,
        diverged=not math.isfinite(float(obj)),
        rel_change=rel,
        best_restart=best,
    )
