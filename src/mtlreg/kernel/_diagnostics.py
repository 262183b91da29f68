"""How close one task of a trained network is to kernel ridge regression."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_inputs, check_int, check_number, check_targets
from mtlreg.kernel._kernel import InducedKernel, induced_kernel, weight_spread
from mtlreg.kernel._rkhs import RKHSSolution, rkhs_solve
from mtlreg.kernel._subproblem import SubproblemSolution, exact_objective, exact_subproblem
from mtlreg.model import ShallowReLUNet


def gap_bound(kernel: InducedKernel, v: ArrayLike, lam: float) -> float:
    """(lam / 8) sum_k v_k^4 / c_k^3 over neurons with c_k > 0 (v_k = 0 where c_k = 0).

    For every v, 0 <= Q(v) - E(v) <= this bound, where
    Q(v) - E(v) = lam sum_k (c_k + v_k^2 / (2 c_k) - sqrt(v_k^2 + c_k^2)) is the
    difference of the RKHS (quadratic) and exact objectives. Hence, at the exact
    subproblem's solution v_E, it bounds the gap of optimal values:
    Q(v_Q) - E(v_E) <= Q(v_E) - E(v_E) <= bound(v_E), while
    Q(v_Q) - E(v_Q) <= Q(v_Q) - E(v_E) gives a lower bound at the RKHS solution v_Q.
    """
    lam = check_number(lam, "lam", low=0.0)
    vv = np.asarray(v, dtype=np.float64)
    c = kernel.weights
    act = c > 0
    return lam / 8.0 * float((vv[act] ** 4 / c[act] ** 3).sum())


def surrogate_excess(kernel: InducedKernel, v: ArrayLike, lam: float) -> float:
    """Q(v) - E(v) = lam sum_k (c_k + v_k^2 / (2 c_k) - sqrt(v_k^2 + c_k^2)), stably (>= 0).

    Neurons with c_k = 0 contribute -lam |v_k| (Q forces v_k = 0 there).
    """
    lam = check_number(lam, "lam", low=0.0)
    vv = np.asarray(v, dtype=np.float64)
    c = kernel.weights
    act = c > 0
    u, w = vv[act], c[act]
    # c + u^2/(2c) - sqrt(u^2 + c^2) = u^4 / (2c (c + sqrt(u^2 + c^2))^2)
    terms = u**4 / (2.0 * w * (w + np.hypot(u, w)) ** 2)
    return lam * (float(terms.sum()) - float(np.abs(vv[~act]).sum()))


def objective_gap(
    X: NDArray[np.float64], y: NDArray[np.float64], rkhs: RKHSSolution, exact: SubproblemSolution
) -> float:
    """RKHS optimum minus exact optimum, computed without cancellation (>= 0 in theory)."""
    n = X.shape[0]
    r_q = y - rkhs.predict(X)
    r_e = y - exact.predict(X)
    fit_diff = float((r_q - r_e) @ (r_q + r_e)) / n
    c = rkhs.kernel.weights
    act = c > 0
    vq, ve = rkhs.v, exact.v
    pen = float((vq[act] ** 2 / (2.0 * c[act])).sum())
    pen -= float((ve[act] ** 2 / (c[act] + np.hypot(ve[act], c[act]))).sum())
    pen -= float(np.abs(ve[~act]).sum())
    return fit_diff + rkhs.lam * pen


@dataclass(frozen=True)
class KernelDiagnostics:
    """The kernel-regime measurements of one task of one trained network.

    A measurement, not a solver result (not on the package result protocol): its
    ``gap`` is the RKHS optimum minus the exact subproblem's optimum, not a duality
    gap. The two solver results it compares are ``rkhs`` and ``exact``, each with its
    own ``lower_bound`` and duality ``gap``.

    Attributes
    ----------
    task, n_tasks, n_neurons
        The task s (0-based), T, and the number of neurons after pruning.
    gap
        Measured optimal-value gap: RKHS objective minus exact subproblem objective.
    gap_bound
        (lam/8) sum_k v_k^4 / c_ks^3 at the exact solution; ``gap <= gap_bound``.
    gap_lower
        Q(v_Q) - E(v_Q) at the RKHS solution v_Q: ``0 <= gap_lower <= gap``.
    rkhs_gap_bound
        (lam/8) sum_k v_k^4 / c_ks^3 at the RKHS solution (computable without the exact
        solve; equal to ``gap_bound`` to first order when the two solutions agree).
    bound_holds
        ``gap_lower <= gap <= gap_bound`` up to rounding (1e-12 of the objective).
    rkhs_max_distance, rkhs_rms_distance
        Max and RMS over test points of |f_s(x) - RKHS solution(x)|.
    exact_max_distance, exact_rms_distance
        The same against the exact subproblem's solution (0 for a network that is
        exactly optimal in its output weights: a convergence check of training).
    kernel_max_distance
        Max over test points of |RKHS solution(x) - exact solution(x)|: the error of
        the kernel approximation alone, independent of how well the network trained.
    network_suboptimality
        Exact objective at the network's own output weights minus the exact optimum.
    weight_spread
        Mean over neurons of std_s(c_ks) / mean_s(c_ks) (0: one kernel for all tasks).
    rkhs_objective, exact_objective
        The two optimal values.
    """

    task: int
    n_tasks: int
    n_neurons: int
    gap: float
    gap_bound: float
    gap_lower: float
    rkhs_gap_bound: float
    bound_holds: bool
    rkhs_max_distance: float
    rkhs_rms_distance: float
    exact_max_distance: float
    exact_rms_distance: float
    kernel_max_distance: float
    network_suboptimality: float
    weight_spread: float
    rkhs_objective: float
    exact_objective: float
    rkhs: RKHSSolution
    exact: SubproblemSolution

    def as_dict(self) -> dict[str, float | int | bool]:
        """The scalar fields (for tables)."""
        skip = {"rkhs", "exact"}
        return {k: v for k, v in self.__dict__.items() if k not in skip}


def kernel_diagnostics(
    net: ShallowReLUNet,
    X: ArrayLike,
    Y: ArrayLike,
    lam: float,
    X_test: ArrayLike,
    *,
    task: int = 0,
    prune_tol: float = 1e-6,
) -> KernelDiagnostics:
    """Compare output ``task`` of a trained network with its RKHS and exact subproblems.

    Parameters
    ----------
    net
        Trained network (e.g. ``mtlreg.train(...).net``); not modified.
    X, Y
        Its training data: inputs (N, d) and all tasks' labels (N, T).
    lam
        The weight-decay strength it was trained with (``task_reduction="sum"``; for
        the authors' ``"mean"`` convention pass ``lam * T``).
    X_test
        Points where the functions are compared.
    task
        Which output (0 is task 1).
    prune_tol
        Relative pruning tolerance (see :func:`induced_kernel`).
    """
    x = check_inputs(X, "X")
    yy = check_targets(Y, x.shape[0], "Y")
    if not isinstance(net, ShallowReLUNet):
        raise TypeError(f"Parameter `net` should be a ShallowReLUNet. Found {type(net)!r}.")
    if yy.shape[1] != net.out_dim:
        raise ValueError(
            f"Parameter `Y` should have {net.out_dim} columns, one per task. Found {yy.shape[1]}."
        )
    task = check_int(task, "task", low=0, high=net.out_dim - 1)
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    kernel = induced_kernel(net, task, prune_tol=prune_tol)
    x_test = kernel._inputs(X_test, "X_test")
    y = yy[:, task]
    rkhs = rkhs_solve(kernel, x, y, lam)
    exact = exact_subproblem(kernel, x, y, lam)
    f_net = net.predict(x_test)[:, task]
    d_rkhs = f_net - rkhs.predict(x_test)
    g_exact = exact.predict(x_test)
    d_exact = f_net - g_exact
    gap = objective_gap(x, y, rkhs, exact)
    bound = gap_bound(kernel, exact.v, lam)
    lower = surrogate_excess(kernel, rkhs.v, lam)
    slack = 1e-12 * max(abs(exact.objective), 1e-300)
    sub = exact_objective(kernel, x, y, lam, kernel.V[:, task]) - exact.objective
    return KernelDiagnostics(
        task=task,
        n_tasks=net.out_dim,
        n_neurons=kernel.n_neurons,
        gap=gap,
        gap_bound=bound,
        gap_lower=lower,
        rkhs_gap_bound=gap_bound(kernel, rkhs.v, lam),
        bound_holds=bool(-slack <= lower - slack <= gap <= bound + slack),
        rkhs_max_distance=float(np.abs(d_rkhs).max()),
        rkhs_rms_distance=float(np.sqrt(np.mean(d_rkhs**2))),
        exact_max_distance=float(np.abs(d_exact).max()),
        exact_rms_distance=float(np.sqrt(np.mean(d_exact**2))),
        kernel_max_distance=float(np.abs(rkhs.predict(x_test) - g_exact).max()),
        network_suboptimality=sub,
        weight_spread=weight_spread(kernel.V),
        rkhs_objective=rkhs.objective,
        exact_objective=exact.objective,
        rkhs=rkhs,
        exact=exact,
    )
