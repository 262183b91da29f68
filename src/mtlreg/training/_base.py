"""What every training recipe shares: the problem, the options, the recipe registry.

A recipe turns a list of :class:`Problem` into one :class:`TrainResult` (or one
:class:`TrainingError`) per problem. :func:`mtlreg.training.train_many` looks the
recipe up by name in :data:`RECIPES`; adding a recipe is one call to
:func:`register_recipe` (docs/theory.md §1).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from mtlreg.training._history import TrainResult
from mtlreg.training._setup import INITS, TASK_REDUCTIONS, check_label_scale


class TrainingError(RuntimeError):
    """Training diverged (the objective became NaN/inf or exploded)."""


@dataclass(frozen=True)
class Problem:
    """One training problem: data, architecture, penalty and seed.

    ``X`` has shape (N,) or (N, d) and ``Y`` shape (N,) or (N, T) (task 1 first). The
    fields mean what the arguments of :func:`mtlreg.train` of the same name mean;
    ``lr`` ``None`` takes the recipe's default, and ``net`` (optional) is a network to
    start from instead of a fresh one (copied, never modified).
    """

    X: ArrayLike
    Y: ArrayLike
    width: int
    lam: float
    seed: int | None = None
    skip: bool = True
    init: str = "data"
    task_reduction: str = "sum"
    lr: float | None = None
    net: ShallowReLUNet | None = None


@dataclass(frozen=True)
class Checked:
    """A validated :class:`Problem` (inputs as (N, d), targets as (N, T))."""

    index: int
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    width: int
    lam: float
    seed: int | None
    skip: bool
    init: str
    task_reduction: str
    lr: float | None
    net: ShallowReLUNet | None


def check_problem(problem: Any, index: int, name: str) -> Checked:
    """Validate one problem; messages name ``name`` (e.g. ``problems[3].lam``)."""
    if not isinstance(problem, Problem):
        raise TypeError(f"Parameter `{name}` should be a Problem. Found {type(problem)!r}.")
    prefix = f"{name}." if name != "" else ""
    x = check_inputs(problem.X, f"{prefix}X")
    y = check_targets(problem.Y, x.shape[0], f"{prefix}Y")
    check_label_scale(y, f"{prefix}Y")
    width = check_int(problem.width, f"{prefix}width", low=1)
    lam = check_number(problem.lam, f"{prefix}lam", low=0.0)
    seed = check_seed(problem.seed, f"{prefix}seed")
    init = check_choice(problem.init, f"{prefix}init", INITS)
    reduction = check_choice(problem.task_reduction, f"{prefix}task_reduction", TASK_REDUCTIONS)
    lr = problem.lr
    if lr is not None:
        lr = check_number(lr, f"{prefix}lr", low=0.0, low_inclusive=False)
    if not isinstance(problem.skip, bool):
        raise TypeError(f"Parameter `{prefix}skip` should be a bool. Found {problem.skip!r}.")
    net = problem.net
    if net is not None:
        if not isinstance(net, ShallowReLUNet):
            raise TypeError(
                f"Parameter `{prefix}net` should be a ShallowReLUNet. Found {type(net)!r}."
            )
        if net.in_dim != x.shape[1] or net.out_dim != y.shape[1]:
            raise ValueError(
                f"Parameter `{prefix}net` should map {x.shape[1]} inputs to {y.shape[1]} "
                f"outputs. Found {net.in_dim} -> {net.out_dim}."
            )
    return Checked(index, x, y, width, lam, seed, problem.skip, init, reduction, lr, net)


@dataclass(frozen=True)
class TrainOptions:
    """Settings shared by every problem of one :func:`train_many` call.

    ``None`` takes the recipe's default. See :func:`mtlreg.train` for their meaning.
    """

    max_steps: int | None = None
    tol: float = 1e-7
    restarts: int | None = None
    lam_start: float | None = None
    lr_decay: float | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float64
    log_every: int = 100
    progress: bool = False
    prune: bool | None = None
    callback: Callable[[int, int, float], None] | None = None


Outcome = TrainResult | TrainingError


class Recipe(ABC):
    """A training recipe: how a list of problems is solved.

    Subclasses implement :meth:`run`, which returns one :class:`TrainResult` or one
    :class:`TrainingError` per problem, in order, and never raises
    :class:`TrainingError` itself.
    """

    name: str = ""

    @abstractmethod
    def run(self, problems: Sequence[Checked], options: TrainOptions) -> list[Outcome]:
        """Solve every problem."""


#: The recipes :func:`train_many` knows, by name.
RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    """Make ``recipe`` available as ``train(..., method=recipe.name)``."""
    if not isinstance(recipe, Recipe) or not recipe.name:
        raise TypeError(f"Parameter `recipe` should be a named Recipe. Found {recipe!r}.")
    RECIPES[recipe.name] = recipe
    return recipe
