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
from numpy.typing import ArrayLike, NDArray
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
from mtlreg.training._engine import adam_step, objective, stack, unstack
from mtlreg.training._history import TrainHistory, TrainResult

METHODS: tuple[str, ...] = ("auto", "continuation", "adam")
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
    tol: float = 1e-7,
    init: str = "data",
    task_reduction: str = "sum",
    lam_start: float | None = None,
    restarts: int | None = None,
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
    decayed). At the optimum WD equals the VV norm; the returned network is balanced.

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
        ``"auto"`` (default): for 1-D inputs with the skip connection, the exact
        global minimiser (:func:`mtlreg.univariate.weight_decay_optimum`, a convex
        problem in the fitted values, certified by a duality gap; milliseconds),
        provided ``width`` holds its knots; otherwise ``"continuation"``. The exact
        solution does not depend on ``seed``, and the step, learning-rate, restart
        and init options do not apply to it (``callback`` is called once).
        ``"continuation"``: gradient training. The problem is first rescaled to unit
        input and label scale (an exact symmetry of the objective at balanced
        points), then Adam runs with a continuation in lam (from ``lam_start`` down
        to ``lam`` over the first half of the steps) and a learning rate held, then
        decayed 100-fold. This reaches the near-interpolation regime (lam ~ 1e-5) in
        seconds, but, like any local method, may stop in a local minimum.
        ``"adam"``: the papers' recipe, Adam with a fixed learning rate (default
        1e-3) on the raw problem for ``max_steps`` steps (default 100000).
    max_steps
        Number of Adam steps (default 20000 for ``continuation``), which may stop
        early once converged in its final phase.
    lr
        Learning rate (default 1e-2 for ``continuation`` in rescaled units, 1e-3 for
        ``adam``).
    tol
        ``converged`` is set (and ``continuation`` stops) when the relative objective
        change over a window of 1000 steps in the final phase is below ``tol``; for
        the exact 1-D solution, when the relative duality gap is below ``tol``.
    init
        ``"data"``: hyperplanes through random training inputs or random points of
        the data's bounding box (our choice); ``"torch"``: PyTorch's default init.
    task_reduction
        ``"sum"`` over tasks (our convention) or ``"mean"`` (the authors' code).
    lam_start
        Start of the lam continuation of ``continuation``, in rescaled units (default 1e-3,
        never below the rescaled lam).
    restarts
        Number of initialisations trained together as one batch (default 4 for
        ``continuation``, 1 for ``adam``); the run with the lowest final objective is
        returned. Restart 0 starts from ``seed`` itself, so ``restarts=1`` is a
        plain single run; with ``continuation``, odd-numbered restarts start from the
        exact output layer of their hidden units. Costs little extra time on small problems.
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
    if not isinstance(skip, bool):
        raise TypeError(f"Parameter `skip` should be a bool. Found {skip!r}.")
    if method == "auto" and net is None and skip and x_np.shape[1] == 1:
        exact = _train_exact(x_np, y_np, width, lam, tol, task_reduction, device, dtype)
        if exact is not None:
            if callback is not None:
                callback(exact.steps, exact.objective)
            return exact
    if method == "auto":
        method = "continuation"
    if max_steps is None:
        max_steps = 20_000 if method == "continuation" else 100_000
    max_steps = check_int(max_steps, "max_steps", low=1)
    if lr is None:
        lr = 1e-2 if method == "continuation" else 1e-3
    lr = check_number(lr, "lr", low=0.0, low_inclusive=False)
    if lam_start is not None:
        lam_start = check_number(lam_start, "lam_start", low=0.0)
    if restarts is None:
        restarts = 4 if method == "continuation" else 1
    restarts = check_int(restarts, "restarts", low=1)
    if net is not None:
        restarts = 1
    if net is not None:
        if not isinstance(net, ShallowReLUNet):
            raise TypeError(f"Parameter `net` should be a ShallowReLUNet. Found {type(net)!r}.")
        if net.in_dim != x_np.shape[1] or net.out_dim != y_np.shape[1]:
            raise ValueError(
                f"Parameter `net` should map {x_np.shape[1]} inputs to {y_np.shape[1]} "
                f"outputs. Found {net.in_dim} -> {net.out_dim}."
            )
    device = torch.device(device)

    scaling = (
        Scaling.fit(x_np, y_np, skip)
        if method == "continuation"
        else Scaling.identity(x_np.shape[1])
    )
    xs, ys = scaling.forward(x_np, y_np)
    lam_s = lam * scaling.lam_factor
    if net is None:
        starts = [
            initial_network(xs, ys, width, skip=skip, seed=sd, init=init, dtype=dtype)
            for sd in restart_seeds(seed, restarts)
        ]
        if method == "continuation":
            # Odd restarts start from the exact output layer for their hidden units:
            # it rescues kinks that clustered inputs need, while the even restarts'
            # small random output layer finds sparser solutions; the lowest final
            # objective wins.
            for start in starts[1::2]:
                fit_output_layer(start, xs, ys, lam_s, error_scale(xs, ys, task_reduction))
    else:
        starts = [scaling.net_forward(net.copy().to(dtype=dtype))]
    state = stack(starts, device=device, dtype=dtype)
    B = len(starts)
    x = torch.as_tensor(xs, dtype=dtype, device=device)[None].expand(B, -1, -1)
    y = torch.as_tensor(ys, dtype=dtype, device=device)[None].expand(B, -1, -1)
    n_tasks = y.shape[2]
    fit_scale = torch.full((B,), error_scale(xs, ys, task_reduction), dtype=dtype, device=device)
    schedule = _Schedule.make(method, max_steps, lr, lam_s, lam_start)

    if progress is None:
        progress = sys.stderr.isatty()
    bar = _make_bar(max_steps, progress)
    log = _Log([], [], [], [], [], [], [])
    to_orig = scaling.objective_factor
    t0 = time.perf_counter()
    converged = False
    ref = math.inf
    lam_t = torch.empty(B, dtype=dtype, device=device)
    lr_t = torch.empty(B, dtype=dtype, device=device)
    best = 0

    def record(step: int, phase: str) -> float:
        nonlocal best
        obj, fit, wd = objective(state, x, y, lam_t, fit_scale)
        vvs = (state.W.norm(dim=2) * state.V.norm(dim=2)).sum(dim=1) * scaling.vv_factor
        values = fit * to_orig + lam * vvs if method == "continuation" else obj
        finite = torch.isfinite(values) & torch.isfinite(wd)
        if not bool(finite.any()):
            raise TrainingError(
                f"Training diverged at step {step}: the objective is {float(values[0])}. "
                "Lower the learning rate `lr` or rescale the data."
            )
        best = int(torch.where(finite, values, torch.inf).argmin())
        value = float(values[best])
        vv = float(vvs[best])
        fit_o = float(fit[best]) * to_orig
        mass = state.W[best].norm(dim=1) * state.V[best].norm(dim=1)
        active = int((mass > 1e-6 * max(float(mass.max()), 1e-300)).sum())
        log.step.append(step)
        log.objective.append(value)
        log.fit.append(fit_o)
        log.penalty.append(vv if method == "continuation" else float(wd[best]))
        log.vv.append(vv)
        log.active.append(active)
        log.phase.append(phase)
        if callback is not None:
            callback(step, value)
        if bar is not None:
            bar.set_postfix(objective=f"{value:.4g}", fit=f"{fit_o:.2g}", refresh=False)
        return value

    step = 0
    try:
        with torch.no_grad():
            for step in range(1, max_steps + 1):
                lr_now, lam_now, phase = schedule(step - 1)
                lr_t.fill_(lr_now)
                lam_t.fill_(lam_now)
                adam_step(state, x, y, lam_t, fit_scale, lr_t)
                if bar is not None:
                    bar.update(1)
                if step % log_every == 0 or step == max_steps:
                    record(step, phase)
                if step % _WINDOW == 0 and phase == "final" and tol > 0:
                    value = float(objective(state, x, y, lam_t, fit_scale)[0].min())
                    if abs(ref - value) <= tol * max(abs(value), 1e-300):
                        converged = True
                        if method == "continuation":
                            break
                    ref = value
    finally:
        if bar is not None:
            bar.close()
    if not log.step or log.step[-1] != step:
        with torch.no_grad():
            record(step, "final")
    model = scaling.net_backward(unstack(state, best)).balance()
    with torch.no_grad():
        xt = torch.as_tensor(x_np, dtype=dtype, device=device)
        yt = torch.as_tensor(y_np, dtype=dtype, device=device)
        obj_f, fit_f, wd_f = objective_terms(model, xt, yt, lam, task_reduction)
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
        "lam_start": schedule.lam_start,
        "restarts": restarts,
        "best_restart": best,
        "n_samples": int(x_np.shape[0]),
        "in_dim": int(x_np.shape[1]),
        "n_tasks": int(n_tasks),
    }
    return TrainResult(
        net=model,
        history=log.freeze(),
        converged=converged,
        objective=float(obj_f),
        fit=float(fit_f),
        penalty=float(wd_f),
        steps=step,
        seconds=time.perf_counter() - t0,
        config=config,
    )


_WINDOW = 1000


def _train_exact(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    width: int,
    lam: float,
    tol: float,
    task_reduction: str,
    device: str | torch.device,
    dtype: torch.dtype,
) -> TrainResult | None:
    """The exact 1-D optimum as a TrainResult; ``None`` if ``width`` is too small."""
    from mtlreg.univariate import weight_decay_optimum

    t0 = time.perf_counter()
    n_tasks = y.shape[1]
    # (1/(N T)) ||.||^2 + lam WD is (1/T) times the "sum" objective at lam * T.
    lam_sum = lam * n_tasks if task_reduction == "mean" else lam
    opt = weight_decay_optimum(x[:, 0], y, lam_sum, tol=min(tol, 1e-10))
    if opt.n_knots > width:
        return None
    model = opt.to_network(width).to(device=torch.device(device), dtype=dtype)
    xt = torch.as_tensor(x, dtype=dtype, device=model.w.device)
    yt = torch.as_tensor(y, dtype=dtype, device=model.w.device)
    with torch.no_grad():
        obj, fit, wd = objective_terms(model, xt, yt, lam, task_reduction)
    history = TrainHistory(
        step=np.array([opt.n_iter], dtype=np.int64),
        objective=np.array([float(obj)]),
        fit=np.array([float(fit)]),
        penalty=np.array([float(wd)]),
        vv_norm=np.array([opt.penalty]),
        active=np.array([opt.n_knots], dtype=np.int64),
        phase=("exact",),
    )
    factor = 1.0 / n_tasks if task_reduction == "mean" else 1.0
    config: dict[str, Any] = {
        "width": width,
        "lam": lam,
        "skip": True,
        "method": "auto",
        "solver": "exact-1d",
        "tol": tol,
        "task_reduction": task_reduction,
        "duality_gap": opt.gap * factor,
        "relative_gap": opt.relative_gap,
        "n_samples": int(x.shape[0]),
        "in_dim": 1,
        "n_tasks": int(n_tasks),
    }
    return TrainResult(
        net=model,
        history=history,
        converged=opt.relative_gap <= tol,
        objective=float(obj),
        fit=float(fit),
        penalty=float(wd),
        steps=opt.n_iter,
        seconds=time.perf_counter() - t0,
        config=config,
    )


def error_scale(x: np.ndarray, y: np.ndarray, task_reduction: str) -> float:
    """The factor of the summed squared error: 1/N, or 1/(N T) for ``"mean"``."""
    return 1.0 / (x.shape[0] * (y.shape[1] if task_reduction == "mean" else 1))


def restart_seeds(seed: int | None, restarts: int) -> list[int | None]:
    """Restart 0 uses ``seed``; the others derive independent seeds from it."""
    if seed is None:
        return [None] * restarts
    extra = np.random.SeedSequence([seed, 0x5EED]).generate_state(restarts)
    seeds: list[int | None] = [seed]
    seeds.extend(int(s) for s in extra[1:])
    return seeds


@dataclass(frozen=True)
class _Schedule:
    """Learning rate and lam as functions of the step."""

    method: str
    steps: int
    lr: float
    lam: float
    lam_start: float

    @classmethod
    def make(
        cls, method: str, steps: int, lr: float, lam: float, lam_start: float | None
    ) -> _Schedule:
        if method == "adam":
            return cls(method, steps, lr, lam, lam)
        start = 1e-3 if lam_start is None else lam_start
        return cls(method, steps, lr, lam, max(start, lam))

    def __call__(self, i: int) -> tuple[float, float, str]:
        if self.method == "adam":
            return self.lr, self.lam, "final"
        frac = i / self.steps
        if frac < 0.5:
            lam = (
                self.lam_start * (self.lam / self.lam_start) ** (2.0 * frac)
                if self.lam > 0
                else (self.lam_start * (1e-6) ** (2.0 * frac))
            )
            return self.lr, lam, "continuation"
        return self.lr * 0.01 ** (2.0 * (frac - 0.5)), self.lam, "final"


@dataclass(frozen=True)
class Scaling:
    """x -> (x - mx) / sx and y -> y / sy: an exact symmetry of the problem.

    With f(x) = sy g((x - mx) / sx), fit_f = sy^2 fit_g and VV_f = (sy / sx) VV_g,
    so minimising fit_g + (lam / (sx sy)) VV_g is the original problem divided by
    sy^2; biases absorb the shift. Only isotropic scalars keep the group norms.
    """

    mx: NDArray[np.float64]
    sx: float
    sy: float

    @classmethod
    def identity(cls, d: int) -> Scaling:
        return cls(np.zeros(d), 1.0, 1.0)

    @classmethod
    def fit(cls, x: NDArray[np.float64], y: NDArray[np.float64], skip: bool) -> Scaling:
        mx = x.mean(axis=0)
        sx = float(np.sqrt(((x - mx) ** 2).sum(axis=1).mean()))
        yc = y - y.mean(axis=0) if skip else y
        sy = float(np.sqrt((yc**2).sum(axis=1).mean()))
        return cls(mx, sx if sx > 0 else 1.0, sy if sy > 0 else 1.0)

    @property
    def lam_factor(self) -> float:
        return 1.0 / (self.sx * self.sy)

    @property
    def objective_factor(self) -> float:
        return self.sy**2

    @property
    def vv_factor(self) -> float:
        return self.sy / self.sx

    def forward(
        self, x: NDArray[np.float64], y: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return (x - self.mx) / self.sx, y / self.sy

    def net_forward(self, net: ShallowReLUNet) -> ShallowReLUNet:
        """g(z) = f(mx + sx z) / sy, as a network."""
        mx = torch.as_tensor(self.mx, dtype=net.w.dtype, device=net.w.device)
        with torch.no_grad():
            net.b.add_(net.w @ mx)
            net.w.mul_(self.sx)
            net.v.div_(self.sy)
            if net.A is not None and net.c is not None:
                net.c.add_(net.A @ mx).div_(self.sy)
                net.A.mul_(self.sx / self.sy)
        return net

    def net_backward(self, net: ShallowReLUNet) -> ShallowReLUNet:
        """f(x) = sy g((x - mx) / sx), as a network."""
        mx = torch.as_tensor(self.mx, dtype=net.w.dtype, device=net.w.device)
        with torch.no_grad():
            net.w.div_(self.sx)
            net.b.sub_(net.w @ mx)
            net.v.mul_(self.sy)
            if net.A is not None and net.c is not None:
                net.A.mul_(self.sy / self.sx)
                net.c.mul_(self.sy).sub_(net.A @ mx)
        return net


def initial_network(
    X: ArrayLike,
    Y: ArrayLike,
    width: int,
    *,
    skip: bool = True,
    seed: int | None = None,
    init: str = "data",
    dtype: torch.dtype = torch.float64,
) -> ShallowReLUNet:
    """The network :func:`train` starts from for these data, width and seed.

    Exposed so that other engines (e.g. batched sweeps) start from exactly the same
    point as a single call to :func:`train` with the same seed.
    """
    x_np = check_inputs(X, "X")
    y_np = check_targets(Y, x_np.shape[0], "Y")
    init = check_choice(init, "init", INITS)
    net = ShallowReLUNet(x_np.shape[1], y_np.shape[1], width, skip, seed=seed, dtype=dtype)
    if init == "data":
        _data_init(net, x_np, y_np, seed)
    return net


def fit_output_layer(
    net: ShallowReLUNet, x: np.ndarray, y: np.ndarray, lam: float, fit_scale: float
) -> None:
    """Solve the output layer exactly for the given hidden layer, then balance.

    ``fit_scale`` multiplies the squared error (1/N, or 1/(N T) for ``"mean"``).

    For fixed (w, b) the objective is a ridge regression in (v, A, c) with penalty
    lam/2 ||v||^2 (A and c free); solving it puts every neuron to use at once, so
    kinks that the data need where the initial features are tiny (clustered inputs)
    start at the right size instead of growing from a small random init.
    """
    with torch.no_grad():
        w = net.w.detach().cpu().double().numpy()
        b = net.b.detach().cpu().double().numpy()
    n, k = x.shape[0], w.shape[0]
    parts = [np.maximum(x @ w.T + b, 0.0)]
    if net.A is not None:
        parts += [x, np.ones((n, 1))]
    design = np.concatenate(parts, axis=1)
    penalty = np.zeros((k, design.shape[1]))
    penalty[:, :k] = np.sqrt(lam / 2.0) * np.eye(k)
    lhs = np.concatenate([np.sqrt(fit_scale) * design, penalty])
    rhs = np.concatenate([np.sqrt(fit_scale) * y, np.zeros((k, y.shape[1]))])
    coef, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    with torch.no_grad():
        net.v.copy_(torch.as_tensor(coef[:k]))
        if net.A is not None and net.c is not None:
            net.A.copy_(torch.as_tensor(coef[k:-1].T))
            net.c.copy_(torch.as_tensor(coef[-1]))
    net.balance()


def _data_init(net: ShallowReLUNet, x: np.ndarray, y: np.ndarray, seed: int | None) -> None:
    """Place each neuron's hyperplane through a training input or a point of the data box.

    Directions w_k are uniform on the sphere, scaled like PyTorch's default init
    (1/sqrt(d)). The first half of the neurons pass through the training inputs in
    a random order, cycling so that every input gets one (as the width allows), each
    shifted by a tiny margin so that the input itself is active; the other half pass
    through uniform points of the bounding box [min x, max x]^d. Output weights keep
    their small uniform init; the skip connection starts at the least-squares affine
    fit, which the penalty never touches.
    """
    rng = np.random.default_rng(None if seed is None else seed + 7919)
    k, d = net.w.shape
    n = x.shape[0]
    dirs = rng.standard_normal((k, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    lo, hi = x.min(axis=0), x.max(axis=0)
    points = lo + (hi - lo) * rng.random((k, d))
    n_data = (k + 1) // 2
    order = np.concatenate([rng.permutation(n) for _ in range(n_data // n + 1)])[:n_data]
    spread = float(np.sqrt(((x - x.mean(axis=0)) ** 2).sum(axis=1).mean())) or 1.0
    margin = np.zeros(k)
    points[:n_data] = x[order]
    margin[:n_data] = 1e-3 * spread
    w = dirs / math.sqrt(d)
    b = -(w * points).sum(axis=1) + margin / math.sqrt(d)
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
