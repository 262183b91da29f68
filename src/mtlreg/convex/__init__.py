"""Exact convex solvers and optimality certificates (docs/theory.md §4).

- :func:`solve`: the Pilanci–Ergen convex program of the single-output weight-decay
  problem, exact over all activation patterns (:func:`enumerate_patterns`), with a
  dual lower bound that certifies the answer and :meth:`ConvexSolution.to_network`.
- :func:`certificate`: a trained network's objective minus the exact optimum.
- :func:`group_lasso`: the multi-output group lasso over a dictionary of ReLU atoms
  (sklearn ``MultiTaskLasso`` scaling), working sets + Anderson-accelerated block
  coordinate descent in torch/numpy, with a duality-gap certificate and warm-started
  paths (:func:`group_lasso_path`).

Conventions: ``solve`` and ``certificate`` use the package objective
``(1/N) sum_i (y_i - f(x_i))^2 + lam * VV``; ``group_lasso`` minimises
``1/(2N)||Y - Phi V||^2 + lam sum_k ||V_k||`` (half of the package objective at
``2 * lam``).

>>> import numpy as np
>>> from mtlreg import convex
>>> X = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]])
>>> y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
>>> sol = convex.solve(X, y, lam=1e-3)
>>> round(sol.penalty, 3), f"{sol.fit:.1e}", sol.relative_gap < 1e-6
(1.992, '4.0e-06', True)
>>> net = sol.to_network()
>>> bool(np.allclose(net.predict(X)[:, 0], sol.predictions, atol=1e-7))
True
"""

from mtlreg.convex._certificate import Certificate, certificate, network_objective
from mtlreg.convex._group_lasso import (
    GroupLassoResult,
    group_lasso,
    group_lasso_path,
    lam_max,
    relu_dictionary,
    relu_features,
)
from mtlreg.convex._patterns import (
    MAX_PATTERNS,
    count_patterns_bound,
    enumerate_patterns,
    sample_patterns,
)
from mtlreg.convex._single import ConvexSolution, dual_bound, solve

__all__ = [
    "MAX_PATTERNS",
    "Certificate",
    "ConvexSolution",
    "GroupLassoResult",
    "certificate",
    "count_patterns_bound",
    "dual_bound",
    "enumerate_patterns",
    "group_lasso",
    "group_lasso_path",
    "lam_max",
    "network_objective",
    "relu_dictionary",
    "relu_features",
    "sample_patterns",
    "solve",
]
