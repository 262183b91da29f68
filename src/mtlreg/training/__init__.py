"""Full-batch weight-decay training: one batched engine, several recipes.

Every recipe minimises ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` with the
weight decay as penalty (docs/theory.md §1). :func:`train_many` trains many problems
(x restarts) at once on the batched engine; :func:`train` is its one-problem case.
Recipes live in :data:`RECIPES` (``auto``, ``exact``, ``continuation``, ``adam``);
:func:`register_recipe` adds one.

>>> import numpy as np
>>> from mtlreg.training import train
>>> res = train(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 0.0]), width=4, lam=1e-3,
...             seed=0, max_steps=200)
>>> res.net.width
4
"""

from mtlreg.training._base import (
    RECIPES,
    Problem,
    Recipe,
    TrainingError,
    TrainOptions,
    register_recipe,
)
from mtlreg.training._gradient import GradientRecipe
from mtlreg.training._history import TrainHistory, TrainResult
from mtlreg.training._setup import initial_network, objective_terms
from mtlreg.training._train import train, train_many

__all__ = [
    "RECIPES",
    "GradientRecipe",
    "Problem",
    "Recipe",
    "TrainHistory",
    "TrainOptions",
    "TrainResult",
    "TrainingError",
    "initial_network",
    "objective_terms",
    "register_recipe",
    "train",
    "train_many",
]
