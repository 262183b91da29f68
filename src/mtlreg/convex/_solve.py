"""One entry point for the global solvers of the weight-decay problem (docs/theory.md §4)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mtlreg._validation import (
    check_choice,
    check_inputs,
    check_int,
    check_number,
    check_targets,
)
from mtlreg.convex._certified import CertifiedSolution, solve_certified
from mtlreg.convex._patterns import MAX_PATTERNS, count_patterns_bound
from mtlreg.convex._single import ConvexSolution, solve_patterns

METHODS: tuple[str, ...] = ("auto", "cg", "patterns")


def solve(
    X: ArrayLike,
    Y: ArrayLike,
    lam: float,
    *,
    skip: bool = False,
    method: str = "auto",
    tol: float = 1e-6,
    max_iter: int = 200,
    max_seconds: float = 60.0,
    task_reduction: str = "sum",
    require_exact: bool = False,
    seed: int | np.random.Generator | None = None,
    **pattern_options: Any,
) -> CertifiedSolution | ConvexSolution:
    """Globally optimal shallow ReLU network, with a certificate (docs/theory.md §4).

    Minimises ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` over shallow ReLU
    networks of any width, ``penalty = sum_k ||w_k|| ||v_k||`` (the weight decay at
    balance; biases unpenalised, the skip connection ``A x + c`` free when ``skip``).

    Parameters
    ----------
    X, Y
        Inputs (N,) or (N, d); labels (N,) or (N, T).
    lam
        Regularisation strength, > 0.
    skip
        Include the free skip connection.
    method
        ``"cg"``: column generation with the exact dual oracle (any T; certified for
        d <= 3, *sampled, not certified* for d >= 4 unless ``require_exact``).
        ``"patterns"``: the convex program over all activation patterns (one output,
        small N; options ``patterns``, ``n_patterns``, ``max_patterns``, ``solver``,
        ``solver_options``). ``"auto"``: ``"patterns"`` for one output when the
        patterns can be enumerated (d >= 3, or at most ``max_patterns`` of them),
        ``"cg"`` otherwise.
    tol
        ``"cg"`` stops at a certified relative gap ``<= tol``.
    max_iter, max_seconds
        ``"cg"`` budget (column generation rounds, wall-clock seconds).
    task_reduction
        ``"sum"`` or ``"mean"`` (fit divided by N T, the authors' convention; ``"cg"``).
    require_exact
        Refuse (``ValueError``) where the certificate cannot be exact (d >= 4 with cg).
    seed
        Random directions of the sampled oracle (d >= 4) and pattern sampling.

    Returns
    -------
    A result with ``objective``, ``fit``, ``penalty``, ``lower_bound``, ``gap``,
    ``relative_gap``, ``n_iter``, ``converged``, ``seconds``, ``exact``, ``predict`` and
    ``to_network()``: :class:`CertifiedSolution` (cg) or :class:`ConvexSolution`.

    Example
    -------
    >>> import numpy as np
    >>> X = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]])
    >>> y = np.array([1.0, 1, 1, 1, 0, 0, 0, 0])
    >>> Y = np.column_stack([y, 1 - y, y])
    >>> sol = solve(X, Y, lam=1e-3)
    >>> sol.exact, sol.converged, sol.relative_gap <= 1e-6
    (True, True, True)
    """
    method = check_choice(method, "method", METHODS)
    x = check_inputs(X, "X")
    y = check_targets(Y, x.shape[0], "Y")
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    n, d = x.shape
    t = y.shape[1]
    if method == "auto":
        limit = check_int(pattern_options.get("max_patterns", MAX_PATTERNS), "max_patterns", low=1)
        enumerable = d >= 3 or count_patterns_bound(n, d) - 1 <= limit
        custom = "patterns" in pattern_options
        method = "patterns" if t == 1 and (enumerable or custom) else "cg"
    # The pattern program is solved at unit label scale: with Y = s Y', f = s f' the
    # objective is s^2 times the objective of (Y', lam / s), and the solution scales
    # back exactly (docs/certified.md). Column generation (solve_certified) works at unit
    # input and label scale itself.
    spread = float(np.sqrt(np.mean((y - y.mean(axis=0)) ** 2)))
    s = spread if spread > 0.0 and not 1e-3 <= spread <= 1e3 else 1.0
    if method == "patterns" and s != 1.0:
        res = solve(
            x,
            y / s,
            lam / s,
            skip=skip,
            method=method,
            tol=tol,
            max_iter=max_iter,
            max_seconds=max_seconds,
            task_reduction=task_reduction,
            require_exact=require_exact,
            seed=seed,
            **pattern_options,
        )
        if not isinstance(res, ConvexSolution):  # method="patterns" always returns one
            raise TypeError(f"solve(method='patterns') returned {type(res)!r}.")
        return _rescaled(res, s, lam)
    if method == "patterns":
        if t != 1:
            raise ValueError(
                "Parameter `method` should be 'cg' or 'auto' for several outputs: the "
                f"pattern program handles one output. Found method='patterns' with T={t}."
            )
        if task_reduction not in ("sum", "mean"):
            check_choice(task_reduction, "task_reduction", ("sum", "mean"))
        seed_int = seed if not isinstance(seed, np.random.Generator) else None
        return solve_patterns(x, y[:, 0], lam, skip=skip, seed=seed_int, **pattern_options)
    if pattern_options:
        raise TypeError(
            "Parameters "
            + ", ".join(f"`{k}`" for k in sorted(pattern_options))
            + " only apply to method='patterns'."
        )
    return solve_certified(
        x,
        y,
        lam,
        skip=skip,
        tol=tol,
        max_iter=max_iter,
        max_seconds=max_seconds,
        task_reduction=task_reduction,
        require_exact=require_exact,
        seed=seed,
    )


def _rescaled(res: ConvexSolution, s: float, lam: float) -> ConvexSolution:
    """The pattern solution of the problem with labels and ``lam`` multiplied by ``s``."""
    s2 = s * s
    return replace(
        res,
        objective=res.objective * s2,
        fit=res.fit * s2,
        penalty=res.penalty * s,
        lower_bound=res.lower_bound * s2,
        gap=res.gap * s2,
        lam=lam,
        U=res.U * s,
        U_neg=res.U_neg * s,
        skip_weight=res.skip_weight * s,
        skip_bias=res.skip_bias * s,
        predictions=res.predictions * s,
    )


__all__ = ["METHODS", "solve"]
