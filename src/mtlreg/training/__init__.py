"""Full-batch weight-decay training.

>>> import numpy as np
>>> from mtlreg.training import train
>>> res = train(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 0.0]), width=4, lam=1e-3,
...             seed=0, max_steps=200)
>>> res.net.width
4
"""

from mtlreg.training._history import TrainHistory, TrainResult
from mtlreg.training._train import TrainingError, initial_network, objective_terms, train

__all__ = [
    "TrainHistory",
    "TrainResult",
    "TrainingError",
    "initial_network",
    "objective_terms",
    "train",
]
