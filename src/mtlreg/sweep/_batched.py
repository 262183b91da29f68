"""Train B independent networks at once on the batched engine.

Networks may differ in seed, number of tasks, width, lam, learning rate, skip
connection and data set, as long as the data sets have the same number of samples
N and input dimension d. Smaller networks are padded to the largest width and task
count; the engine's masks keep padded entries exactly zero, and Adam acts
elementwise, so every network follows the trajectory it would follow alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import (
    check_choice,
    check_inputs,
    check_int,
    check_number,
    check_seed,
    check_targets,
)
from mtlreg.model import ShallowReLUNet
from mtlreg.training import initial_network, objective_terms
from mtlreg.training._engine import BatchState, adam_step, gradients, stack, unstack
from mtlreg.training._train import INITS, TASK_REDUCTIONS


@dataclass(frozen=True)
class BatchedRun:
    """One network of a batch: its data, architecture and optimiser settings.

    ``X`` has shape (N,) or (N, d) and ``Y`` shape (N,) or (N, T) (task 1 first);
    the other fields mean what they mean for :func:`mtlreg.train` with
    ``method="adam"``.
    """

    X: ArrayLike
    Y: ArrayLike
    width: int
    lam: float
    seed: int
    skip: bool = True
    lr: float = 1e-3
    init: str = "data"
    task_reduction: str = "sum"


@dataclass(frozen=True)
class BatchedResult:
    """Outcome of one network of :func:`train_batched`.

    ``net`` is balanced (WD equals the VV norm), as :func:`mtlreg.train` returns it;
    ``objective``, ``fit`` and ``penalty`` are measured on it. ``diverged`` is true
    when the objective is not finite.
    """

    net: ShallowReLUNet
    objective: float
    fit: float
    penalty: float
    vv_norm: float
    active: int
    steps: int
    diverged: bool


def _check_run(run: BatchedRun, i: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if not isinstance(run, BatchedRun):
        raise TypeError(f"Parameter `runs[{i}]` should be a BatchedRun. Found {type(run)!r}.")
    x = check_inputs(run.X, f"runs[{i}].X")
    y = check_targets(run.Y, x.shape[0], f"runs[{i}].Y")
    check_int(run.width, f"runs[{i}].width", low=1)
    check_number(run.lam, f"runs[{i}].lam", low=0.0)
    check_seed(run.seed, f"runs[{i}].seed")
    check_number(run.lr, f"runs[{i}].lr", low=0.0, low_inclusive=False)
    check_choice(run.init, f"runs[{i}].init", INITS)
    check_choice(run.task_reduction, f"runs[{i}].task_reduction", TASK_REDUCTIONS)
    if not isinstance(run.skip, bool):
        raise TypeError(f"Parameter `runs[{i}].skip` should be a bool. Found {run.skip!r}.")
    return x, y


def train_batched(
    runs: Sequence[BatchedRun],
    *,
    steps: int,
    lr_decay: float = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    fused: bool = True,
) -> list[BatchedResult]:
    """Train every network of ``runs`` for ``steps`` full-batch Adam steps, together.

    Each network starts from :func:`mtlreg.training.initial_network` with its own
    seed, exactly as :func:`mtlreg.train` does, and minimises
    ``fit + lam * WD`` in its own loss convention.

    Parameters
    ----------
    runs
        The networks to train; all data sets must share N and d.
    steps
        Number of Adam steps (the same for every network).
    lr_decay
        Final learning rate over initial learning rate; the rate falls geometrically
        (``lr * lr_decay ** (step / steps)``). 1.0 (default): constant, as
        ``train(method="adam")``.
    betas, eps
        Adam's constants (PyTorch's defaults).
    device, dtype
        Where and in which precision to train; results are returned on the CPU.
    fused
        When every run has the same learning rate, apply the Adam update with
        PyTorch's fused multi-tensor kernel (one pass over memory instead of about
        ten; the same update up to rounding). ``False``, or different learning
        rates: the engine's step, whose rounding equals :func:`mtlreg.train`'s.

    Returns
    -------
    One :class:`BatchedResult` per run, in order.

    Example
    -------
    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0]); y = np.array([0.0, 1.0, 0.0])
    >>> runs = [BatchedRun(x, y, width=4, lam=1e-3, seed=s) for s in range(3)]
    >>> [r.net.width for r in train_batched(runs, steps=50)]
    [4, 4, 4]
    """
    if len(runs) == 0:
        raise ValueError("Parameter `runs` should contain at least one run. Found 0.")
    steps = check_int(steps, "steps", low=1)
    lr_decay = check_number(lr_decay, "lr_decay", low=0.0, low_inclusive=False)
    device = torch.device(device)
    data = [_check_run(run, i) for i, run in enumerate(runs)]
    n, d = data[0][0].shape
    for i, (x, _) in enumerate(data):
        if x.shape != (n, d):
            raise ValueError(
                f"Parameter `runs[{i}].X` should have shape {(n, d)} like runs[0].X "
                f"(a batch shares N and d). Found {x.shape}."
            )

    state, X, Y, sizes = _stack(runs, data, dtype, device)
    lam = torch.tensor([float(r.lam) for r in runs], dtype=dtype, device=device)
    lr0 = torch.tensor([float(r.lr) for r in runs], dtype=dtype, device=device)
    fit_scale = torch.tensor(
        [1.0 / n if r.task_reduction == "sum" else 1.0 / (n * t) for r, (_, t) in zip(runs, sizes)],
        dtype=dtype,
        device=device,
    )
    gamma = lr_decay ** (1.0 / steps)
    uniform = len({float(r.lr) for r in runs}) == 1
    with torch.no_grad():
        if fused and uniform and hasattr(torch, "_fused_adam_"):
            _fused_steps(state, X, Y, lam, fit_scale, float(runs[0].lr), gamma, steps, betas, eps)
        else:
            for i in range(steps):
                lr = lr0 if gamma == 1.0 else lr0 * gamma**i
                adam_step(state, X, Y, lam, fit_scale, lr, betas=betas, eps=eps)
    return [_unstack(state, j, runs[j], data[j]) for j in range(len(runs))]


def _fused_steps(
    state: BatchState,
    X: torch.Tensor,
    Y: torch.Tensor,
    lam: torch.Tensor,
    fit_scale: torch.Tensor,
    lr: float,
    gamma: float,
    steps: int,
    betas: tuple[float, float],
    eps: float,
) -> None:
    """``steps`` Adam steps with the engine's gradients and PyTorch's fused update.

    The moments live in ``state.m`` and ``state.s`` as for the engine's step; padded
    entries have zero gradients and zero moments, so they stay zero.
    """
    counts = [torch.zeros((), dtype=torch.float32, device=p.device) for p in state.params]
    for i in range(steps):
        gradients(state, X, Y, lam, fit_scale)
        state.step += 1
        torch._foreach_add_(counts, 1.0)
        torch._fused_adam_(
            state.params,
            state.grads,
            state.m,
            state.s,
            [],
            counts,
            lr=lr * gamma**i,
            beta1=betas[0],
            beta2=betas[1],
            weight_decay=0.0,
            eps=eps,
            amsgrad=False,
            maximize=False,
        )


def _stack(
    runs: Sequence[BatchedRun],
    data: list[tuple[NDArray[np.float64], NDArray[np.float64]]],
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[BatchState, torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
    """The starting networks of ``runs`` as one padded BatchState, with padded X and Y."""
    nets = [
        initial_network(x, y, r.width, skip=r.skip, seed=r.seed, init=r.init, dtype=dtype)
        for r, (x, y) in zip(runs, data)
    ]
    state = stack(nets, device=device, dtype=dtype)
    sizes = [(net.width, net.out_dim) for net in nets]
    T = max(t for _, t in sizes)
    X = torch.as_tensor(np.stack([x for x, _ in data]), dtype=dtype)
    Y = torch.zeros((len(runs), X.shape[1], T), dtype=dtype)
    for j, ((_, y), (_, t)) in enumerate(zip(data, sizes)):
        Y[j, :, :t] = torch.as_tensor(y, dtype=dtype)
    return state, X.to(device), Y.to(device), sizes


def _unstack(
    state: BatchState,
    j: int,
    run: BatchedRun,
    data: tuple[NDArray[np.float64], NDArray[np.float64]],
) -> BatchedResult:
    """Network ``j`` of the batch as a balanced ShallowReLUNet on the CPU, with its terms."""
    x_np, y_np = data
    dtype = state.W.dtype
    net = unstack(state, j).cpu()
    with torch.no_grad():
        net.balance()
        x = torch.as_tensor(x_np, dtype=dtype)
        y = torch.as_tensor(y_np, dtype=dtype)
        obj, fit, wd = objective_terms(net, x, y, float(run.lam), run.task_reduction)
        vv = float(net.vv_norm())
        active = int(net.active(1e-6).sum())
    objective = float(obj)
    return BatchedResult(
        net=net,
        objective=objective,
        fit=float(fit),
        penalty=float(wd),
        vv_norm=vv,
        active=active,
        steps=state.step,
        diverged=not math.isfinite(objective),
    )
