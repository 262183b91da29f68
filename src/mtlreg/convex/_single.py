"""Exact convex reformulation of the single-output weight-decay problem (docs/theory.md §4).

With ``Xb = [X, 1]`` and activation patterns ``D_j`` the program

    min  (1/N) ||y - sum_j D_j Xb (u_j - u'_j) - (A x + c)||^2
         + lam * sum_j (||u_j[:d]|| + ||u'_j[:d]||)
    s.t. (2 D_j - I) Xb u_j >= 0,  (2 D_j - I) Xb u'_j >= 0

equals min (1/N) sum_i (y_i - f(x_i))^2 + lam * WD(theta) over shallow ReLU networks of
any width when all realisable patterns are used (biases are not penalised; the skip
connection ``A x + c`` is optional). It is solved with cvxpy + Clarabel, and the
answer comes with its own Lagrange-dual lower bound, so ``gap`` proves the accuracy.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from mtlreg._result import relative_gap as _relative_gap
from mtlreg._validation import check_choice, check_inputs, check_int, check_number, check_seed
from mtlreg.convex._patterns import MAX_PATTERNS, enumerate_patterns, sample_patterns
from mtlreg.model import ShallowReLUNet

PATTERN_MODES: tuple[str, ...] = ("exact", "sample")


@dataclass(frozen=True)
class ConvexSolution:
    """Solution of the convex single-output program.

    The program (module docstring) minimises the package objective
    ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` with one output
    ``f = sum_j D_j Xb (u_j - u'_j) + A x + c`` and ``penalty = sum_j (||u_j[:d]|| +
    ||u'_j[:d]||)``, the weight decay at balance of the network it defines (biases
    and the skip connection unpenalised). With every realisable pattern (``exact``)
    its optimum is that of the network problem.

    Attributes
    ----------
    objective, fit, penalty
        ``objective = fit + lam * penalty`` with ``fit = (1/N) ||y - f||^2`` and
        ``penalty`` the VV norm ``sum_j ||u_j[:d]|| + ||u'_j[:d]||`` of the solution.
    lower_bound
        Value of an explicitly constructed feasible point of the Lagrange dual: a
        certified lower bound on the optimum of the program (and, with ``exact``
        patterns, of the non-convex network problem).
    gap
        ``objective - lower_bound`` (>= 0 up to rounding): the certified accuracy.
    U, U_neg
        (P, d+1) arrays of the ``u_j`` and ``u'_j``; ``patterns`` the (P, N) booleans.
    skip_weight, skip_bias
        ``A`` (d,) and ``c`` of the skip connection (zeros without skip).
    exact
        Whether all realisable patterns were used (else the optimum is an upper bound).
    """

    objective: float
    fit: float
    penalty: float
    lower_bound: float
    gap: float
    lam: float
    skip: bool
    exact: bool
    U: NDArray[np.float64] = field(repr=False)
    U_neg: NDArray[np.float64] = field(repr=False)
    skip_weight: NDArray[np.float64] = field(repr=False)
    skip_bias: float = field(repr=False)
    patterns: NDArray[np.bool_] = field(repr=False)
    predictions: NDArray[np.float64] = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)
    n_iter: int = 0
    seconds: float = float("nan")

    @property
    def relative_gap(self) -> float:
        """``gap / |objective|``."""
        return _relative_gap(self.gap, self.objective)

    @property
    def converged(self) -> bool:
        """Every pattern was used and the certified relative gap is at most 1e-6.

        The gap is measured here (:func:`dual_bound`, weak duality for any multipliers),
        so it holds whatever status the conic solver reported (``info["status"]``; its
        ``"optimal_inaccurate"`` only means its own tolerances were not all met).
        """
        return self.exact and self.relative_gap <= 1e-6

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Evaluate the solution on inputs (M,) or (M, d); returns (M, 1)."""
        x = check_inputs(X, "X")
        d = self.U.shape[1] - 1
        if x.shape[1] != d:
            raise ValueError(f"Parameter `X` should have {d} column(s). Found shape {x.shape}.")
        xb = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
        out = np.maximum(xb @ self.U.T, 0.0).sum(axis=1) - np.maximum(xb @ self.U_neg.T, 0.0).sum(
            axis=1
        )
        return (out + x @ self.skip_weight + self.skip_bias)[:, None]

    def to_network(self, tol: float = 1e-9, dtype: torch.dtype = torch.float64) -> ShallowReLUNet:
        """An equivalent balanced :class:`~mtlreg.ShallowReLUNet` (same predictions).

        Each nonzero ``u = (w, b)`` gives the neuron ``(w, b) / sqrt(||w||)`` with output
        weight ``+-sqrt(||w||)``, so its VV norm is ``||w||``. Blocks with ``w = 0`` are
        constants: folded into ``c`` with a skip connection; without one they become
        a neuron ``w = 0`` with a tiny output weight and large bias (weight decay <= 1e-12,
        the infimum of that constant's cost being 0).
        """
        tol = check_number(tol, "tol", low=0.0)
        d = self.U.shape[1] - 1
        blocks = np.concatenate([self.U, self.U_neg])
        sign = np.concatenate([np.ones(len(self.U)), -np.ones(len(self.U_neg))])
        wn = np.linalg.norm(blocks[:, :d], axis=1)
        scale = max(float(np.abs(blocks).max(initial=0.0)), 1e-300)
        const = (wn <= tol * scale) & (np.abs(blocks[:, d]) > tol * scale)
        keep = wn > tol * scale
        const_value = float((sign[const] * np.maximum(blocks[const, d], 0.0)).sum())
        w_rows, b_rows, v_rows = [], [], []
        root = np.sqrt(wn[keep])
        w_rows.append(blocks[keep, :d] / root[:, None])
        b_rows.append(blocks[keep, d] / root)
        v_rows.append(sign[keep] * root)
        if not self.skip and const_value != 0.0:
            eps = 1e-6
            w_rows.append(np.zeros((1, d)))
            b_rows.append(np.array([abs(const_value) / eps]))
            v_rows.append(np.array([np.sign(const_value) * eps]))
        w = np.concatenate(w_rows)
        b = np.concatenate(b_rows)
        v = np.concatenate(v_rows)
        if len(w) == 0:  # the zero function
            w, b, v = np.zeros((1, d)), np.zeros(1), np.zeros(1)
        net = ShallowReLUNet(d, 1, len(w), skip=self.skip, dtype=dtype, init="zeros")
        with torch.no_grad():
            net.w.copy_(torch.as_tensor(w))
            net.b.copy_(torch.as_tensor(b))
            net.v.copy_(torch.as_tensor(v[:, None]))
            if net.A is not None and net.c is not None:
                net.A.copy_(torch.as_tensor(self.skip_weight[None, :]))
                net.c.fill_(self.skip_bias + const_value)
        return net


def solve_patterns(
    X: ArrayLike,
    y: ArrayLike,
    lam: float,
    *,
    skip: bool = False,
    patterns: str | ArrayLike = "exact",
    n_patterns: int = 2000,
    max_patterns: int = MAX_PATTERNS,
    seed: int | None = None,
    solver: str = "CLARABEL",
    solver_options: dict[str, Any] | None = None,
) -> ConvexSolution:
    """Globally optimal shallow ReLU network for one output, over all activation patterns.

    Minimises ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` (penalty = weight decay
    at balance) over networks of any width (bias unpenalised; with ``skip`` a free affine
    term ``A x + c``). This is :func:`mtlreg.convex.solve` with ``method="patterns"``.

    Parameters
    ----------
    X, y
        Inputs (N,) or (N, d) and labels (N,) (or (N, 1)).
    lam
        Regularisation strength, > 0.
    skip
        Include the unpenalised skip connection.
    patterns
        ``"exact"``: all realisable patterns (:func:`enumerate_patterns`, exact optimum);
        ``"sample"``: ``n_patterns`` random ones (an upper bound); or a (P, N) boolean array.
    n_patterns, max_patterns, seed
        Sample size, enumeration limit and sampling seed.
    solver, solver_options
        cvxpy solver name and options (default Clarabel with tight tolerances).

    Example
    -------
    >>> sol = solve_patterns([0.0, 1.0, 2.0], [0.0, 1.0, 0.0], lam=1e-3)
    >>> round(sol.penalty, 3), sol.gap < 1e-8
    (1.991, True)
    """
    import cvxpy as cp

    start = time.perf_counter()
    x = check_inputs(X, "X")
    yv = np.asarray(y, dtype=np.float64)
    if yv.ndim == 2 and yv.shape[1] == 1:
        yv = yv[:, 0]
    if yv.ndim != 1:
        raise ValueError(f"Parameter `y` should be one output, shape (N,). Found shape {yv.shape}.")
    if yv.shape[0] != x.shape[0]:
        raise ValueError(
            f"Parameter `y` should have {x.shape[0]} rows, one per input. Found {yv.shape[0]}."
        )
    if not np.all(np.isfinite(yv)):
        raise ValueError("Parameter `y` should contain only finite values (no NaN or inf).")
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    if not isinstance(skip, bool):
        raise TypeError(f"Parameter `skip` should be a bool. Found {skip!r}.")
    seed = check_seed(seed)
    n, d = x.shape
    exact = False
    if isinstance(patterns, str):
        mode = check_choice(patterns, "patterns", PATTERN_MODES)
        if mode == "exact":
            pats = enumerate_patterns(x, max_patterns=max_patterns)
            exact = True
        else:
            pats = sample_patterns(x, check_int(n_patterns, "n_patterns", low=1), seed=seed)
    else:
        pats = np.asarray(patterns, dtype=bool)
        if pats.ndim != 2 or pats.shape[1] != n or pats.shape[0] < 1:
            raise ValueError(
                f"Parameter `patterns` should be a (P, {n}) boolean array. "
                f"Found shape {pats.shape}."
            )
    xb = np.concatenate([x, np.ones((n, 1))], axis=1)
    dmat = pats.T.astype(np.float64)  # (N, P)
    sgn = 2.0 * dmat - 1.0
    n_pat = pats.shape[0]

    U = cp.Variable((n_pat, d + 1))
    Un = cp.Variable((n_pat, d + 1))
    pred = cp.sum(cp.multiply(dmat, xb @ (U - Un).T), axis=1)
    if skip:
        a = cp.Variable(d)
        c0 = cp.Variable()
        pred = pred + x @ a + c0
    fit = cp.sum_squares(yv - pred) / n
    pen = cp.sum(cp.norm(U[:, :d], 2, axis=1)) + cp.sum(cp.norm(Un[:, :d], 2, axis=1))
    cons = [cp.multiply(sgn, xb @ U.T) >= 0, cp.multiply(sgn, xb @ Un.T) >= 0]
    prob = cp.Problem(cp.Minimize(fit + lam * pen), cons)
    opts: dict[str, Any] = {}
    if solver.upper() == "CLARABEL":
        opts = {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11}
    opts.update(solver_options or {})
    with warnings.catch_warnings():
        # cvxpy warns "Solution may be inaccurate" at status optimal_inaccurate; the
        # certificate below measures the accuracy of the point itself
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        prob.solve(solver=solver, **opts)
    if U.value is None or prob.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"The convex solver failed (status {prob.status!r}).")
    u_pos = np.asarray(U.value)
    u_neg = np.asarray(Un.value)
    beta_pos = np.asarray(cons[0].dual_value).T  # (P, N)
    beta_neg = np.asarray(cons[1].dual_value).T
    A_val = np.asarray(a.value) if skip else np.zeros(d)
    c_val = float(np.asarray(c0.value)) if skip else 0.0

    # objective of the primal point, recomputed exactly from the pattern-free network
    act_pos = np.maximum(xb @ u_pos.T, 0.0)
    act_neg = np.maximum(xb @ u_neg.T, 0.0)
    predictions = (act_pos - act_neg).sum(axis=1) + x @ A_val + c_val
    fit_val = float(np.sum((yv - predictions) ** 2) / n)
    pen_val = float(
        np.linalg.norm(u_pos[:, :d], axis=1).sum() + np.linalg.norm(u_neg[:, :d], axis=1).sum()
    )
    objective = fit_val + lam * pen_val
    lower = dual_bound(x, yv, predictions, lam, pats, beta_pos, beta_neg, skip=skip)
    return ConvexSolution(
        objective=objective,
        fit=fit_val,
        penalty=pen_val,
        lower_bound=lower,
        gap=objective - lower,
        lam=lam,
        skip=skip,
        exact=exact,
        U=u_pos,
        U_neg=u_neg,
        skip_weight=A_val,
        skip_bias=c_val,
        patterns=pats,
        predictions=predictions,
        info={
            "status": prob.status,
            "solver": solver,
            "n_patterns": n_pat,
            "solver_time": prob.solver_stats.solve_time,
        },
        n_iter=int(prob.solver_stats.num_iters or 0),
        seconds=time.perf_counter() - start,
    )


def dual_bound(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    predictions: NDArray[np.float64],
    lam: float,
    pats: NDArray[np.bool_],
    beta_pos: NDArray[np.float64] | None = None,
    beta_neg: NDArray[np.float64] | None = None,
    *,
    skip: bool = False,
) -> float:
    """A certified lower bound on the convex program from a residual and multipliers.

    The Lagrange dual is ``max z.y - (N/4)||z||^2`` subject to ``Z^T z = 0`` (skip) and,
    for every pattern j and sign s, ``max {s z^T D_j Xb u : u in C_j, ||u[:d]|| <= 1} <= lam``
    with ``C_j`` the pattern's cone. For any multipliers ``beta >= 0`` whose bias entry
    of ``g = s Xb^T D_j z + Xb^T (2D_j - I) beta`` vanishes, that maximum is at most
    ``||g[:d]||`` (weak duality). We take ``z = 2 (y - f) / N`` projected as needed,
    bound each pattern, rescale ``z`` into the feasible set and return its dual value.
    Without multipliers (``beta = None``) zeros are used (looser bound).
    """
    n, d = x.shape
    xb = np.concatenate([x, np.ones((n, 1))], axis=1)
    z = 2.0 * (y - predictions) / n
    if skip:
        q, _ = np.linalg.qr(xb)
        z = z - q @ (q.T @ z)
    elif pats.all(axis=1).any():
        z = z - z.mean()
    p = pats.shape[0]
    if beta_pos is None:
        beta_pos = np.zeros((p, n))
    if beta_neg is None:
        beta_neg = np.zeros((p, n))
    sgn = 2.0 * pats - 1.0  # (P, N)
    scale = float(np.abs(z).sum() * np.abs(xb).max()) + 1e-300
    worst = 0.0
    for s, beta in ((1.0, beta_pos), (-1.0, beta_neg)):
        beta = np.maximum(beta, 0.0)
        # c_j = s Xb^T D_j z, as rows (P, d+1)
        c = s * (pats * z[None, :]) @ xb
        for j in range(p):
            m = _pattern_max(c[j], beta[j].copy(), sgn[j], xb, d, scale)
            worst = max(worst, m)
            if not np.isfinite(worst):
                break
    if not np.isfinite(worst):
        return -np.inf
    zy = float(z @ y)
    zz = float(z @ z)
    if zz == 0.0:
        return 0.0
    # scale t in [0, lam / worst] maximising t z.y - (N/4) t^2 ||z||^2
    t_max = lam / worst if worst > 0 else np.inf
    t = min(max(zy / (0.5 * n * zz), 0.0), t_max)
    return t * zy - 0.25 * n * t * t * zz


def _pattern_max(
    c: NDArray[np.float64],
    beta: NDArray[np.float64],
    sgn: NDArray[np.float64],
    xb: NDArray[np.float64],
    d: int,
    scale: float,
) -> float:
    """Upper bound on max {c.u : (sgn * xb) u >= 0, ||u[:d]|| <= 1} from multipliers beta."""
    e = c[d] + float(sgn @ beta)
    if e != 0.0:
        need = -np.sign(e)  # need a multiplier on a row with this sign to cancel e
        rows = np.flatnonzero(sgn == need)
        if rows.size:
            g_base = c + (sgn * beta) @ xb
            # pick the row whose addition increases ||g[:d]|| least
            cand = g_base[None, :d] + abs(e) * need * xb[rows, :d]
            best = rows[int(np.argmin(np.linalg.norm(cand, axis=1)))]
            beta[best] += abs(e)
        else:
            # only rows of the opposite sign: shrink their multipliers if possible
            # (the cone contains the direction (0, -need)); a remainder at rounding
            # level (relative 1e-12) is accepted
            total = float(beta.sum())
            if total >= abs(e):
                beta *= 1.0 - abs(e) / total
            elif abs(e - total * np.sign(e)) > 1e-10 * scale:
                return np.inf
            else:
                beta[:] = 0.0
    g = c + (sgn * beta) @ xb
    return float(np.linalg.norm(g[:d]))


__all__ = ["ConvexSolution", "dual_bound", "solve_patterns"]
