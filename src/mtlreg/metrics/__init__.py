"""Measures of learned functions (docs/theory.md §6).

Every measure looks at one task (``task=0`` is task 1) of a trained
:class:`~mtlreg.ShallowReLUNet`, any torch module or tensor function, or an object
with a scikit-learn ``predict``.

>>> import numpy as np
>>> import mtlreg
>>> from mtlreg.metrics import box_points, gradient_norm, nn_deviation
>>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
>>> y = np.array([0.0, 1.0, 1.0, 0.0])
>>> net = mtlreg.train(X, y, width=8, lam=1e-4, seed=0, max_steps=500).net
>>> grid = box_points(X, 200, seed=0)
>>> gradient_norm(net, grid).mean > 0
True
>>> round(nn_deviation(net, X, y, X).max, 2)
0.0
"""

from mtlreg.metrics._deviation import held_out_mse, max_deviation, nn_deviation
from mtlreg.metrics._gradient import GRADIENT_METHODS, gradient_norm
from mtlreg.metrics._pointwise import Pointwise, box_points, evaluate
from mtlreg.metrics._spread import RestartSpread, restart_spread
from mtlreg.metrics._univariate import second_order_tv

__all__ = [
    "GRADIENT_METHODS",
    "Pointwise",
    "RestartSpread",
    "box_points",
    "evaluate",
    "gradient_norm",
    "held_out_mse",
    "max_deviation",
    "nn_deviation",
    "restart_spread",
    "second_order_tv",
]
