"""Gradient norms of one task: the poster's smoothness measure (docs/theory.md §6)."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from mtlreg._validation import check_choice, check_inputs, check_int, check_number
from mtlreg.metrics._compat import accepts_output_keyword
from mtlreg.metrics._pointwise import (
    Model,
    Pointwise,
    check_model,
    evaluate,
    model_device,
    model_dtype,
    torch_function,
)

GRADIENT_METHODS: tuple[str, ...] = ("auto", "autograd", "finite_difference")


@accepts_output_keyword
def gradient_norm(
    model: Model,
    X: ArrayLike,
    *,
    task: int = 0,
    method: str = "auto",
    step: float | None = None,
    batch_size: int = 4096,
) -> Pointwise:
    """Euclidean norm of the input gradient of task ``task`` at each row of ``X``.

    Parameters
    ----------
    model
        A torch module (e.g. :class:`mtlreg.ShallowReLUNet`) or a function of tensors
        (autograd), or an object with ``predict`` such as a scikit-learn estimator
        (central finite differences).
    X
        Evaluation points, shape (M,) or (M, d): a held-out set or uniform points
        of the data's bounding box (:func:`box_points`).
    task
        Which output to differentiate (its task index); 0 is task 1.
    method
        ``"auto"``: autograd for modules and plain callables, finite differences for
        objects with ``predict``. The autograd path assumes the model acts row by row
        (no batch statistics), which holds for every model of this library.
    step
        Finite-difference step (default: 1e-5 times the largest coordinate spread,
        small enough that a piecewise-linear model is exact away from its kinks).
    batch_size
        Points per autograd batch.

    Returns
    -------
    Pointwise
        ``values`` (M,), ``mean`` (the average gradient norm) and ``max``.

    Example
    -------
    >>> import torch
    >>> lin = torch.nn.Linear(2, 1).double()
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[3.0, 4.0]]))
    >>> round(gradient_norm(lin, [[0.0, 0.0], [1.0, -2.0]]).mean, 12)
    5.0
    """
    model = check_model(model)
    x = check_inputs(X, "X")
    method = check_choice(method, "method", GRADIENT_METHODS)
    batch_size = check_int(batch_size, "batch_size", low=1)
    if method == "auto":
        numeric = not isinstance(model, nn.Module) and hasattr(model, "predict")
        method = "finite_difference" if numeric else "autograd"
    if method == "autograd":
        values = _autograd_norms(model, x, task, batch_size)
    else:
        if step is None:
            spread = float(np.ptp(x, axis=0).max()) if x.shape[0] > 1 else 1.0
            step = 1e-5 * (spread if spread > 0 else 1.0)
        step = check_number(step, "step", low=0.0, low_inclusive=False)
        values = _finite_difference_norms(model, x, task, step)
    return Pointwise.of(values)


def _autograd_norms(model: Model, x: NDArray[np.float64], task: int, batch: int) -> NDArray:
    f = torch_function(model, task)
    dtype, device = model_dtype(model), model_device(model)
    norms = []
    for start in range(0, x.shape[0], batch):
        xt = torch.as_tensor(x[start : start + batch], dtype=dtype, device=device)
        xt.requires_grad_(True)
        (grad,) = torch.autograd.grad(f(xt).sum(), xt)
        norms.append(grad.detach().norm(dim=1).cpu().double().numpy())
    return np.concatenate(norms)


def _finite_difference_norms(
    model: Model, x: NDArray[np.float64], task: int, step: float
) -> NDArray:
    m, d = x.shape
    # One stacked call: rows x + h e_j then x - h e_j for every coordinate j.
    shifts = step * np.eye(d)
    plus = (x[None, :, :] + shifts[:, None, :]).reshape(d * m, d)
    minus = (x[None, :, :] - shifts[:, None, :]).reshape(d * m, d)
    values = evaluate(model, np.concatenate([plus, minus]), task)
    grad = (values[: d * m] - values[d * m :]).reshape(d, m) / (2.0 * step)
    return np.linalg.norm(grad, axis=0)
