"""Full-batch weight-decay training of shallow multi-output ReLU networks."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from mtlreg._validation import (
    check_choice,
    check_inputs,
    check_int,
    check_number,
    check_seed,
    check_targets,
)
from mtlreg.model import ShallowReLUNet
from mtlreg.training._history import TrainHistory, TrainResult

METHODS: tuple[str, ...] = ("auto", "adam")
INITS: tuple[str, ...] = ("data", "torch")
TASK_REDUCTIONS: tuple[str, ...] = ("sum", "mean")


class TrainingError(RuntimeError):
    """Training diverged (the objective became NaN/inf or exploded)."""


@dataclass
class _Log:
    step: list[int]
    objective: list[float]
    fit: list[float]
    penalty: list[float]
    vv: list[float]
    active: list[int]
    phase: list[str]

    def freeze(self) -> TrainHistory:
        return TrainHistory(
            step=np.asarray(self.step, dtype=np.int64),
            objective=np.asarray(self.objective),
            fit=np.asarray(self.fit),
            penalty=np.asarray(self.penalty),
            vv_norm=np.asarray(self.vv),
            active=np.asarray(self.active, dtype=np.int64),
            phase=tuple(self.phase),
        )


def objective_terms(
    net: ShallowReLUNet, x: Tensor, y: Tensor, lam: float, task_reduction: str = "sum"
) -> tuple[Tensor, Tensor, Tensor]:
    """Return (objective, fit, WD) with fit = (1/N) sum_i ||y_i - f(x_i)||^2.

    With ``task_reduction="mean"`` the fit is divided by T as well (the authors'
    convention, whose effective per-task lam changes with T).
    """
    resid = net(x) - y
    fit = resid.pow(2).sum() / x.shape[0]
    if task_reduction == "mean":
        fit = fit / y.shape[1]
    wd = net.weight_decay()
    return fit + lam * wd, fit, wd


def train(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    width: int,
    lam: float,
    skip: bool = True,
    seed: int | None = None,
    method: str = "auto",
    max_steps: int | None = None,
    lr: float | None = None,
    tol: float = 1e-12,
    init: str = "data",
    task_reduction: str = "sum",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    net: ShallowReLUNet | None = None,
    progress: bool | None = None,
    log_every: int = 100,
    callback: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a shallow ReLU network by full-batch weight decay.

    Minimises ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * WD`` where WD is
    ``1/2 sum_k ||w_k||^2 + ||v_k||^2`` (biases and the skip connection are never
    decayed). At the optimum WD equals the VV norm.

    Parameters
    ----------
    X
        Inputs, shape (N,) for 1-D data or (N, d).
    Y
        Targets, shape (N,) or (N, T): task 1 first, then any auxiliary tasks
        (see :func:`mtlreg.aux_tasks`).
    width
        Number of hidden neurons K.
    lam
        Weight-decay strength (>= 0).
    skip
        Include the unregularised skip connection ``A x + c``.
    seed
        Seed of the initialisation (``None``: fresh entropy).
    method
        ``"auto"`` (default): Adam with a decaying learning rate followed by an L-BFGS
        polish; reaches the near-interpolation regime (lam ~ 1e-5) in seconds.
        ``"adam"``: the papers' recipe, Adam with a fixed learning rate (default 1e-3)
        for ``max_steps`` steps (default 100000).
    max_steps
        Step budget (Adam steps plus L-BFGS iterations).
    lr
        Learning rate of the Adam phase (default 1e-2 for ``auto``, 1e-3 for ``adam``).
    tol
        Stop when the relative objective change over a window is below ``tol``.
    init
        ``"data"``: hidden units' knots placed through random points of the data's
        bounding box (our choice); ``"torch"``: PyTorch's default uniform init.
    task_reduction
        ``"sum"`` over tasks (our convention) or ``"mean"`` (the authors' code).
    device, dtype
        Where and in which precision to train (float64 on CPU by default).
    net
        Start from this network instead of a fresh one (it is copied, not modified).
    progress
        Show a progress bar (default: when stderr is a terminal).
    log_every
        Steps between history entries.
    callback
        Called as ``callback(step, objective)`` at every logged step.

    Raises
    ------
    ValueError
        On bad input (NaN, mismatched lengths, negative lam, width < 1, ...).
    TrainingError
        When the objective becomes NaN/inf.
    """
    x_np = check_inputs(X, "X")
    y_np = check_targets(Y, x_np.shape[0], "Y")
    width = check_int(width, "width", low=1)
    lam = check_number(lam, "lam", low=0.0)
    seed = check_seed(seed)
    method = check_choice(method, "method", METHODS)
    init = check_choice(init, "init", INITS)
    task_reduction = check_choice(task_reduction, "task_reduction", TASK_REDUCTIONS)
    tol = check_number(tol, "tol", low=0.0)
    log_every = check_int(log_every, "log_every", low=1)
    if max_steps is None:
        max_steps = 20_000 if method == "auto" else 100_000
    max_steps = check_int(max_steps, "max_steps", low=1)
    if lr is None:
        lr = 1e-2 if method == "auto" else 1e-3
    lr = check_number(lr, "lr", low=0.0, low_inclusive=False)
    if not isinstance(skip, bool):
        raise TypeError(f"Parameter `skip` should be a bool. Found {skip!r}.")
    device = torch.device(device)

    x = torch.as_tensor(x_np, dtype=dtype, device=device)
    y = torch.as_tensor(y_np, dtype=dtype, device=device)
    if net is None:
        model = ShallowReLUNet(x.shape[1], y.shape[1], width, skip, seed=seed, dtype=dtype)
        if init == "data":
            _data_init(model, x_np, y_np, seed)
        model = model.to(device)
    else:
        if not isinstance(net, ShallowReLUNet):
            raise TypeError(f"Parameter `net` should be a ShallowReLUNet. Found {type(net)!r}.")
        if net.in_dim != x.shape[1] or net.out_dim != y.shape[1]:
            raise ValueError(
                f"Parameter `net` should map {x.shape[1]} inputs to {y.shape[1]} outputs. "
                f"Found {net.in_dim} -> {net.out_dim}."
            )
        model = net.copy().to(device=device, dtype=dtype)

    if progress is None:
        progress = sys.stderr.isatty()
    log = _Log([], [], [], [], [], [], [])
    bar = _make_bar(max_steps, progress)
    t0 = time.perf_counter()
    state = _RunState(model, x, y, lam, task_reduction, log, log_every, bar, callback)
    try:
        if method == "adam":
            converged = _adam_phase(state, lr, max_steps, tol, decay=False)
        else:
            n_adam = max(1, int(0.75 * max_steps))
            _adam_phase(state, lr, n_adam, tol=0.0, decay=True)
            converged = _lbfgs_phase(state, max_steps - n_adam, tol)
    finally:
        if bar is not None:
            bar.close()
    model.balance()
    with torch.no_grad():
        obj, fit, wd = objective_terms(model, x, y, lam, task_reduction)
    state.record("final", force=True)
    seconds = time.perf_counter() - t0
    config: dict[str, Any] = {
        "width": width,
        "lam": lam,
        "skip": skip,
        "seed": seed,
        "method": method,
        "lr": lr,
        "max_steps": max_steps,
        "tol": tol,
        "init": init,
        "task_reduction": task_reduction,
        "n_samples": int(x.shape[0]),
        "in_dim": int(x.shape[1]),
        "n_tasks": int(y.shape[1]),
    }
    return TrainResult(
        net=model,
        history=log.freeze(),
        converged=converged,
        objective=float(obj),
        fit=float(fit),
        penalty=float(wd),
        steps=state.step,
        seconds=seconds,
        config=config,
    )


@dataclass
class _RunState:
    net: ShallowReLUNet
    x: Tensor
    y: Tensor
    lam: float
    task_reduction: str
    log: _Log
    log_every: int
    bar: Any
    callback: Callable[[int, float], None] | None
    step: int = 0
    last_logged: int = -1

    def terms(self) -> tuple[Tensor, Tensor, Tensor]:
        return objective_terms(self.net, self.x, self.y, self.lam, self.task_reduction)

    def check_finite(self, value: float) -> None:
        if not math.isfinite(value):
            raise TrainingError(
                f"Training diverged at step {self.step}: the objective is {value}. "
                "Lower the learning rate `lr` or rescale the data."
            )

    def record(self, phase: str, force: bool = False) -> None:
        if not force and self.step - self.last_logged < self.log_every:
            return
        with torch.no_grad():
            obj, fit, wd = self.terms()
            vv = float(self.net.vv_norm())
            active = int(self.net.active(1e-6).sum())
        value = float(obj)
        self.check_finite(value)
        self.last_logged = self.step
        self.log.step.append(self.step)
        self.log.objective.append(value)
        self.log.fit.append(float(fit))
        self.log.penalty.append(float(wd))
        self.log.vv.append(vv)
        self.log.active.append(active)
        self.log.phase.append(phase)
        if self.callback is not None:
            self.callback(self.step, value)
        if self.bar is not None:
            self.bar.set_postfix(objective=f"{value:.4g}", fit=f"{float(fit):.2g}", refresh=False)


def _adam_phase(state: _RunState, lr: float, steps: int, tol: float, decay: bool) -> bool:
    """Adam on the full objective; with ``decay`` the lr falls geometrically 1000-fold."""
    opt = torch.optim.Adam(state.net.parameters(), lr=lr)
    gamma = (1e-3) ** (1.0 / max(steps, 1)) if decay else 1.0
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    window = max(1000, steps // 20)
    ref = math.inf
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        obj, _, _ = state.terms()
        obj.backward()
        opt.step()
        sched.step()
        state.step += 1
        if state.bar is not None:
            state.bar.update(1)
        state.record("adam")
        if tol > 0 and (i + 1) % window == 0:
            value = float(obj.detach())
            state.check_finite(value)
            if abs(ref - value) <= tol * max(abs(value), 1e-300):
                return True
            ref = value
    with torch.no_grad():
        value = float(state.terms()[0])
    state.check_finite(value)
    return False


def _lbfgs_phase(state: _RunState, iters: int, tol: float) -> bool:
    """L-BFGS with strong-Wolfe line search until the objective stalls."""
    if iters <= 0:
        return False
    params = [p for p in state.net.parameters() if p.requires_grad]
    chunk = 50
    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=chunk,
        history_size=50,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        obj, _, _ = state.terms()
        obj.backward()
        return obj

    with torch.no_grad():
        prev = float(state.terms()[0])
    done = 0
    stalls = 0
    while done < iters:
        opt.step(closure)
        n_iter = int(opt.state[opt._params[0]].get("n_iter", 0))  # type: ignore[attr-defined]
        taken = max(1, n_iter - done) if n_iter > done else chunk
        done += taken
        state.step += taken
        if state.bar is not None:
            state.bar.update(taken)
        with torch.no_grad():
            value = float(state.terms()[0])
        state.check_finite(value)
        state.record("lbfgs")
        if abs(prev - value) <= tol * max(abs(value), 1e-300):
            stalls += 1
            if stalls >= 2:
                return True
        else:
            stalls = 0
        prev = value
    return False


def _data_init(net: ShallowReLUNet, x: np.ndarray, y: np.ndarray, seed: int | None) -> None:
    """Place each neuron's hyperplane through a random point of the data's bounding box.

    Directions w_k are uniform on the sphere with the default init's scale; b_k is
    set so the knot passes through a uniform point of the box [min x, max x]^d. The
    output weights keep their default small uniform init; the skip connection starts
    at the least-squares affine fit, which the penalty never touches.
    """
    rng = np.random.default_rng(None if seed is None else seed + 7919)
    k, d = net.w.shape
    dirs = rng.standard_normal((k, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    scale = 1.0 / math.sqrt(d)
    lo, hi = x.min(axis=0), x.max(axis=0)
    points = lo + (hi - lo) * rng.random((k, d))
    w = dirs * scale
    b = -(w * points).sum(axis=1)
    with torch.no_grad():
        net.w.copy_(torch.as_tensor(w))
        net.b.copy_(torch.as_tensor(b))
        if net.A is not None and net.c is not None:
            design = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            net.A.copy_(torch.as_tensor(coef[:-1].T))
            net.c.copy_(torch.as_tensor(coef[-1]))


def _make_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="train", unit="step", leave=False)
