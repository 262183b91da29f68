"""Certified global optima of shallow ReLU networks (docs/theory.md §4, docs/certified.md).

Every solver here minimises the package objective
``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``, penalty = the weight decay at
balance ``sum_k ||w_k|| ||v_k||`` (biases free, the skip connection free when ``skip``).

- :func:`solve`: the global optimum for any number of outputs, with a certified
  lower bound. ``method="cg"``: column generation over the continuous set of ReLU
  atoms with the exact dual oracle (:func:`dual_norm`; exact for d <= 3, sampled and
  flagged ``exact=False`` above). ``method="patterns"``: the Pilanci–Ergen program
  over all activation patterns (one output; :func:`enumerate_patterns`).
- :func:`certificate`: a network's objective, a lower bound on the global optimum,
  their gap, and whether the bound is exact; :func:`network_objective`;
  :func:`dual_lower_bound` from any fitted values.
- :func:`group_lasso`: the multi-output group lasso over a fixed dictionary of ReLU
  atoms, with a duality-gap certificate and warm-started paths.

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
>>> cg = convex.solve(X, y, lam=1e-3, method="cg")
>>> abs(cg.objective - sol.objective) < 1e-6 * sol.objective
True
"""

from mtlreg.convex._certificate import Certificate, certificate, network_objective
from mtlreg.convex._certified import CertifiedSolution, dual_lower_bound
from mtlreg.convex._group_lasso import (
    GroupLassoResult,
    group_lasso,
    group_lasso_path,
    lam_max,
    relu_dictionary,
    relu_features,
)
from mtlreg.convex._oracle import EXACT_DIMS, OracleResult, dual_norm
from mtlreg.convex._patterns import (
    MAX_PATTERNS,
    count_patterns_bound,
    enumerate_patterns,
    sample_patterns,
)
from mtlreg.convex._single import ConvexSolution, dual_bound
from mtlreg.convex._solve import METHODS, solve

__all__ = [
    "EXACT_DIMS",
    "MAX_PATTERNS",
    "METHODS",
    "Certificate",
    "CertifiedSolution",
    "ConvexSolution",
    "GroupLassoResult",
    "OracleResult",
    "certificate",
    "count_patterns_bound",
    "dual_bound",
    "dual_lower_bound",
    "dual_norm",
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
