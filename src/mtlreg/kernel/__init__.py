"""Induced neural kernels and the RKHS problem (docs/theory.md §5).

Fix the neurons of a trained multi-task network (rescaled to ||w_k|| = 1). Task s's
output weights then solve an exact convex subproblem with penalty
lam sum_k sqrt(v_k^2 + c_ks^2), c_ks = ||V_{k,-s}||; its quadratic approximation is
kernel ridge regression with K_s(x, x') = sum_k c_ks relu(w_k.x + b_k) relu(w_k.x' + b_k).
With many tasks the two agree and every task sees the same kernel.

>>> import numpy as np
>>> import mtlreg
>>> from mtlreg.kernel import induced_kernel, kernel_diagnostics
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((10, 2))
>>> Y = mtlreg.aux_tasks(rng.standard_normal(10), n_aux=10, seed=1)
>>> net = mtlreg.train(X, Y, width=16, lam=1e-3, seed=0, max_steps=300).net
>>> K = induced_kernel(net, task=0)
>>> bool(np.linalg.eigvalsh(K.gram(X)).min() > -1e-10)
True
>>> diag = kernel_diagnostics(net, X, Y, 1e-3, X, task=0)
>>> diag.bound_holds
True

Both solvers return results on the package result protocol (``mtlreg._result``),
certified by their dual problems:

>>> from mtlreg.kernel import exact_subproblem, rkhs_solve
>>> ridge = rkhs_solve(K, X, Y[:, 0], 1e-3)
>>> exact = exact_subproblem(K, X, Y[:, 0], 1e-3)
>>> ridge.converged, exact.converged, abs(exact.relative_gap) < 1e-9
(True, True, True)
"""

from mtlreg.kernel._arccos import arccos_kernel
from mtlreg.kernel._diagnostics import (
    KernelDiagnostics,
    gap_bound,
    kernel_diagnostics,
    objective_gap,
    surrogate_excess,
)
from mtlreg.kernel._kernel import InducedKernel, induced_kernel, task_weights, weight_spread
from mtlreg.kernel._rkhs import RKHSSolution, rkhs_solve
from mtlreg.kernel._subproblem import SubproblemSolution, exact_objective, exact_subproblem

__all__ = [
    "InducedKernel",
    "KernelDiagnostics",
    "RKHSSolution",
    "SubproblemSolution",
    "arccos_kernel",
    "exact_objective",
    "exact_subproblem",
    "gap_bound",
    "induced_kernel",
    "kernel_diagnostics",
    "objective_gap",
    "rkhs_solve",
    "surrogate_excess",
    "task_weights",
    "weight_spread",
]
