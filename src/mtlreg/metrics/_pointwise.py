"""Evaluating a model on points, and the per-point summary every metric returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from mtlreg._validation import check_inputs, check_int, check_seed
from mtlreg.metrics._compat import accepts_output_keyword

#: A torch module (e.g. :class:`mtlreg.ShallowReLUNet`), an object with a
#: scikit-learn style ``predict``, or a function of a (M, d) torch tensor.
Model: TypeAlias = Any


@dataclass(frozen=True)
class Pointwise:
    """A measure evaluated at M points, with its mean and maximum.

    Attributes
    ----------
    values
        The measure at each point, shape (M,), in the order of the points.
    mean, max
        Their mean and maximum.
    """

    values: NDArray[np.float64]
    mean: float
    max: float

    @classmethod
    def of(cls, values: NDArray[np.float64]) -> Pointwise:
        vals = np.asarray(values, dtype=np.float64)
        return cls(values=vals, mean=float(vals.mean()), max=float(vals.max()))


def model_dtype(model: Model) -> torch.dtype:
    """The floating dtype of a module's parameters (float64 when it has none)."""
    if isinstance(model, nn.Module):
        for param in model.parameters():
            if param.is_floating_point():
                return param.dtype
    return torch.float64


def model_device(model: Model) -> torch.device:
    if isinstance(model, nn.Module):
        for param in model.parameters():
            return param.device
    return torch.device("cpu")


def check_model(model: Model, name: str = "model") -> Model:
    if not (callable(model) or hasattr(model, "predict")):
        raise TypeError(
            f"Parameter `{name}` should be a torch module, a callable or an object with "
            f"`predict`. Found {type(model).__name__}."
        )
    return model


def select_output(out: NDArray[np.float64], task: int, name: str = "task") -> NDArray[np.float64]:
    """Column ``task`` of a (M,) or (M, T) prediction array, as shape (M,)."""
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim == 1:
        check_int(task, name, low=0, high=0)
        return arr
    if arr.ndim != 2:
        raise ValueError(f"The model should return shape (M,) or (M, T). Found {arr.shape}.")
    task = check_int(task, name, low=0, high=arr.shape[1] - 1)
    return arr[:, task]


@accepts_output_keyword
def evaluate(model: Model, X: ArrayLike, task: int = 0) -> NDArray[np.float64]:
    """Output number ``task`` of ``model`` at the rows of ``X`` (shape (M,) or (M, d)), shape (M,).

    Torch modules and plain callables get a tensor in the module's dtype; objects that
    are not modules but have ``predict`` (scikit-learn estimators) get the numpy array.
    """
    model = check_model(model)
    x = check_inputs(X, "X")
    if not isinstance(model, nn.Module) and hasattr(model, "predict"):
        return select_output(np.asarray(model.predict(x), dtype=np.float64), task)
    with torch.no_grad():
        xt = torch.as_tensor(x, dtype=model_dtype(model), device=model_device(model))
        out = model(xt)
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().double().numpy()
    return select_output(np.asarray(out, dtype=np.float64), task)


def torch_function(model: Model, task: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> f_output(x)`` on tensors, shape (M,), for modules and torch callables."""

    def f(x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                "Parameter `model` should return a torch tensor for autograd; use "
                "method='finite_difference' for other models."
            )
        if out.ndim == 1:
            check_int(task, "task", low=0, high=0)
            return out
        return out[:, check_int(task, "task", low=0, high=out.shape[1] - 1)]

    return f


def box_points(
    X: ArrayLike, n_points: int, *, margin: float = 0.0, seed: int | None = None
) -> NDArray[np.float64]:
    """``n_points`` uniform points in the bounding box of ``X``, widened by ``margin``.

    ``margin`` is a fraction of each side's length added on both sides.

    Example
    -------
    >>> box_points([[0.0, 0.0], [1.0, 2.0]], 3, seed=0).shape
    (3, 2)
    """
    x = check_inputs(X, "X")
    n_points = check_int(n_points, "n_points", low=1)
    rng = np.random.default_rng(check_seed(seed))
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = margin * (hi - lo)
    return rng.uniform(lo - pad, hi + pad, size=(n_points, x.shape[1]))
