"""Multi-output group lasso over a dictionary of ReLU atoms (docs/theory.md §4).

``group_lasso`` minimises the package objective
``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` with ``f = Phi V`` and
``penalty = sum_k ||V_k||_2`` (``V_k`` = row k of V)::

    min_V  (1/N) ||Y - Phi V||_F^2 + lam * sum_k ||V_k||_2

With unit-norm atoms ``phi_k(x) = relu(w_k . x + b_k)`` the balanced network read back
from ``V`` has weight decay ``VV = sum_k ||V_k||``, so the objective is the network
objective of :func:`mtlreg.train` at the same ``lam``. scikit-learn's
``MultiTaskLasso`` (and celer, skglm) minimise ``1/(2N)||Y - Phi V||^2 + alpha sum_k
||V_k||``: the same problem at ``alpha = lam / 2``.

Solver (CPU): the data are rescaled by powers of two (exact in floating point), then
working sets (the atoms closest to violating the dual constraints, at least twice the
support, grown when they repeat) are solved by block coordinate descent on the working
set's Gram matrix (compiled with numba when it is installed), Anderson extrapolation
of the iterates, and Newton steps on a stable support (where the objective is
smooth). Gram columns are computed once and cached across working sets. Every outer
step checks the duality gap of the full problem at the best of the current and
extrapolated dual points; the returned ``lower_bound`` and ``gap`` are that
certificate, computed on the full problem. On a GPU the working sets are solved by
Anderson-accelerated proximal gradient in torch.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import ConvergenceWarning
from torch import Tensor

from mtlreg._result import GapFromBound
from mtlreg._result import relative_gap as _relative_gap
from mtlreg._validation import check_array, check_choice, check_int, check_number
from mtlreg.convex._threads import blas_threads_for
from mtlreg.model import ShallowReLUNet

SOLVERS: tuple[str, ...] = ("auto", "cvxpy")
_ANDERSON = 5  # epochs between Anderson extrapolations
_NEWTON_MAX = 60_000  # largest support size * T for Newton polishing
_NEWTON_GAP = 1e-2  # Newton is tried below this relative gap of the subproblem
_INNER = 0.3  # working-set subproblems are solved to this fraction of the outer gap


@dataclass(frozen=True)
class GroupLassoResult(GapFromBound):
    """Solution of :func:`group_lasso` (the package result protocol).

    The problem solved is the package objective
    ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` with ``f(x_i) = Phi_i V`` and
    ``penalty = sum_k ||V_k||_2`` (``V_k`` = row k of V). ``objective = fit + lam *
    penalty`` with ``fit = (1/N)||Y - Phi V||_F^2``; ``lower_bound`` is the value of a
    feasible dual point of the full problem, so ``gap = objective - lower_bound``
    bounds the suboptimality (never clipped: rounding can make it slightly negative).
    """

    V: NDArray[np.float64] = field(repr=False)
    objective: float
    fit: float
    penalty: float
    lower_bound: float
    lam: float
    n_iter: int
    converged: bool
    seconds: float
    weights: NDArray[np.float64] | None = field(default=None, repr=False)
    biases: NDArray[np.float64] | None = field(default=None, repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def dual_objective(self) -> float:
        """Alias of ``lower_bound`` (the dual value of the certificate)."""
        return self.lower_bound

    @property
    def support(self) -> NDArray[np.intp]:
        """Indices of the atoms with nonzero rows."""
        return np.flatnonzero(np.linalg.norm(self.V, axis=1) > 0)

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predictions ``relu_features(X, weights, biases) @ V`` (N, T).

        With the dictionary given to :func:`group_lasso` (``dictionary=``), ``X`` are
        inputs (N, d); without it, ``X`` are features (N, P) and the result is ``X @ V``.
        """
        if self.weights is not None and self.biases is not None:
            return relu_features(X, self.weights, self.biases) @ self.V
        feats = check_array(X, "X", ndim=(2,))
        if feats.shape[1] != self.V.shape[0]:
            raise ValueError(
                f"Parameter `X` should be features with {self.V.shape[0]} columns, one per "
                f"atom (no dictionary was given to group_lasso). Found shape {feats.shape}."
            )
        return feats @ self.V

    def to_network(
        self,
        weights: ArrayLike | None = None,
        biases: ArrayLike | None = None,
        *,
        dtype: torch.dtype = torch.float64,
    ) -> ShallowReLUNet:
        """The balanced network ``sum_k V_k relu(w_k . x + b_k)`` of the active atoms.

        ``weights`` (P, d) and ``biases`` (P,) are the dictionary the features came
        from (see :func:`relu_dictionary`; default: the ``dictionary`` given to
        :func:`group_lasso`); its weight decay equals ``penalty`` when the rows of
        ``weights`` have unit norm.
        """
        if weights is None:
            weights = self.weights
        if biases is None:
            biases = self.biases
        if weights is None or biases is None:
            raise ValueError(
                "Parameters `weights` and `biases` should be given: no dictionary was "
                "passed to group_lasso. Found None."
            )
        w = check_array(weights, "weights", ndim=(2,))
        b = check_array(biases, "biases", ndim=(1,))
        if w.shape[0] != self.V.shape[0] or b.shape[0] != self.V.shape[0]:
            raise ValueError(
                f"Parameters `weights` and `biases` should have {self.V.shape[0]} rows, one per "
                f"atom. Found {w.shape[0]} and {b.shape[0]}."
            )
        keep = self.support
        if keep.size == 0:
            keep = np.array([0])
        net = ShallowReLUNet(
            w.shape[1], self.V.shape[1], int(keep.size), skip=False, dtype=dtype, init="zeros"
        )
        with torch.no_grad():
            net.w.copy_(torch.as_tensor(w[keep]))
            net.b.copy_(torch.as_tensor(b[keep]))
            net.v.copy_(torch.as_tensor(self.V[keep]))
        return net.balance()


def relu_dictionary(
    X: ArrayLike, n_atoms: int, *, seed: int | np.random.Generator | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Random unit-norm ReLU atoms whose knots pass through the data's bounding box.

    Returns ``(weights (P, d), biases (P,))``; features are
    ``relu_features(X, weights, biases)``.
    """
    from mtlreg._validation import check_inputs, check_seed

    x = check_inputs(X, "X")
    n_atoms = check_int(n_atoms, "n_atoms", low=1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))
    d = x.shape[1]
    w = rng.standard_normal((n_atoms, d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    lo, hi = x.min(axis=0), x.max(axis=0)
    points = lo + (hi - lo) * rng.random((n_atoms, d))
    b = -(w * points).sum(axis=1)
    return w, b


def relu_features(X: ArrayLike, weights: ArrayLike, biases: ArrayLike) -> NDArray[np.float64]:
    """``Phi[i, k] = relu(w_k . x_i + b_k)``, shape (N, P)."""
    from mtlreg._validation import check_inputs

    x = check_inputs(X, "X")
    w = check_array(weights, "weights", ndim=(2,))
    b = check_array(biases, "biases", ndim=(1,))
    if w.shape[1] != x.shape[1] or b.shape[0] != w.shape[0]:
        raise ValueError(
            f"Parameters `weights` and `biases` should have shapes (P, {x.shape[1]}) and (P,). "
            f"Found {w.shape} and {b.shape}."
        )
    return np.maximum(x @ w.T + b, 0.0)


def lam_max(Phi: ArrayLike | Tensor, Y: ArrayLike | Tensor) -> float:
    """Smallest ``lam`` for which ``V = 0`` minimises the package objective
    ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` of :func:`group_lasso`:
    ``(2/N) max_k ||Phi_k^T Y||``."""
    phi, y = _as_arrays(Phi, Y)
    cphi, cy = _pow2_scale(phi), _pow2_scale(y)
    top = float(np.linalg.norm((phi / cphi).T @ (y / cy), axis=1).max())
    return 2.0 * top / phi.shape[0] * cphi * cy


def group_lasso(
    Phi: ArrayLike | Tensor,
    Y: ArrayLike | Tensor,
    lam: float,
    *,
    tol: float = 1e-8,
    max_iter: int = 5_000,
    V0: ArrayLike | None = None,
    dictionary: tuple[ArrayLike, ArrayLike] | None = None,
    solver: str = "auto",
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
    ws_start: int = 100,
    verbose: bool = False,
) -> GroupLassoResult:
    """Multi-output group lasso to a certified relative duality gap ``tol``.

    Minimises the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``
    with ``f(x_i) = Phi_i V`` and ``penalty = sum_k ||V_k||_2``, that is
    ``(1/N)||Y - Phi V||_F^2 + lam sum_k ||V_k||_2`` (docs/theory.md §4). This is
    scikit-learn's ``MultiTaskLasso`` at ``alpha = lam / 2``.

    Parameters
    ----------
    Phi
        Features (N, P) (numpy array or torch tensor).
    Y
        Targets (N,) or (N, T).
    lam
        Penalty strength > 0 (:func:`lam_max` gives the smallest ``lam`` with ``V = 0``).
    tol
        Stop when ``gap <= tol * objective`` (relative duality gap).
    max_iter
        Budget of inner epochs (all working sets together). When it runs out before
        ``tol`` is reached, a ``ConvergenceWarning`` states the gap reached and the
        result has ``converged=False``.
    V0
        Warm start (P, T).
    dictionary
        ``(weights, biases)`` the features came from (:func:`relu_dictionary`); kept in
        the result for ``predict(X)`` on inputs and ``to_network()``.
    solver
        ``"auto"`` (working sets, see the module docstring) or ``"cvxpy"`` (Clarabel
        interior point, a slow reference; its gap is certified like the others).
    device, dtype
        ``device`` other than the CPU: solve in torch there, in ``dtype``. On the CPU
        the solver works in float64 numpy, with one BLAS thread when ``N * P <= 4e6``
        (its many small products are faster on one thread than spread over several).
    ws_start
        Size of the first working set.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 2)); Y = rng.standard_normal((50, 3))
    >>> W, b = relu_dictionary(X, 200, seed=0)
    >>> res = group_lasso(relu_features(X, W, b), Y, lam=0.1, dictionary=(W, b))
    >>> bool(res.relative_gap <= 1e-8), res.to_network().width == len(res.support)
    (True, True)
    """
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    tol = check_number(tol, "tol", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    ws_start = check_int(ws_start, "ws_start", low=1)
    solver = check_choice(solver, "solver", SOLVERS)
    if not isinstance(verbose, bool):
        raise TypeError(f"Parameter `verbose` should be a bool. Found {verbose!r}.")
    phi_dev = None
    if device is not None and torch.device(device).type != "cpu":
        phi_dev = torch.device(device)
    elif isinstance(Phi, Tensor) and device is None and Phi.device.type != "cpu":
        phi_dev = Phi.device
    phi, y = _as_arrays(Phi, Y)
    n, p = phi.shape
    t = y.shape[1]
    weights = biases = None
    if dictionary is not None:
        if not isinstance(dictionary, tuple | list) or len(dictionary) != 2:
            raise TypeError(
                "Parameter `dictionary` should be a pair (weights, biases). "
                f"Found {type(dictionary).__name__}."
            )
        weights = check_array(dictionary[0], "dictionary", ndim=(2,))
        biases = check_array(dictionary[1], "dictionary", ndim=(1,))
        if weights.shape[0] != p or biases.shape[0] != p:
            raise ValueError(
                f"Parameter `dictionary` should hold {p} atoms, one per column of `Phi`. "
                f"Found {weights.shape[0]} weights and {biases.shape[0]} biases."
            )
    # exact power-of-two rescaling: solve a well-scaled problem, map back
    cphi, cy = _pow2_scale(phi), _pow2_scale(y)
    phi_s = np.ascontiguousarray(phi / cphi)
    y_s = y / cy
    lam_s = lam / (cphi * cy)
    alpha = 0.5 * n * lam_s  # internal problem: 1/2||Y - Phi V||^2 + alpha sum_k ||V_k||
    v0 = None
    if V0 is not None:
        v0_np = check_array(V0, "V0", ndim=(1, 2), min_rows=0)
        v0_np = v0_np.reshape(p, -1) if v0_np.size == p * t else v0_np
        if v0_np.shape != (p, t):
            raise ValueError(f"Parameter `V0` should have shape {(p, t)}. Found {v0_np.shape}.")
        v0 = np.ascontiguousarray(v0_np * (cphi / cy))
    t0 = time.perf_counter()
    if solver == "cvxpy":
        v = _solve_cvxpy(phi_s, y_s, alpha)
        n_iter, info, dual_best = 0, {"solver": "cvxpy"}, -math.inf
    elif phi_dev is not None:
        v, n_iter, info, dual_best = _solve_torch(
            phi_s, y_s, alpha, tol, max_iter, v0, ws_start, verbose, phi_dev, dtype
        )
    else:
        with blas_threads_for(n * p):  # small products: one thread is faster
            v, n_iter, info, dual_best = _solve_numpy(
                phi_s, y_s, alpha, tol, max_iter, v0, ws_start, verbose
            )
    _, rr, pen, dual = _certify(phi_s, y_s, v, alpha)
    dual = max(dual, dual_best)
    seconds = time.perf_counter() - t0
    scale_obj = cy * cy  # objective units of the original problem
    fit = scale_obj * rr / n
    penalty = pen * cy / cphi
    objective = fit + lam * penalty
    lower = scale_obj * 2.0 * dual / n
    converged = (objective - lower) <= tol * abs(objective)
    if not converged:
        warnings.warn(
            f"group_lasso stopped after {n_iter} epochs (max_iter={max_iter}) at relative "
            f"duality gap {_relative_gap(objective - lower, objective):.3e}, above "
            f"tol={tol:g}. Increase `max_iter` or `tol`.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return GroupLassoResult(
        V=v * (cy / cphi),
        objective=objective,
        fit=fit,
        penalty=penalty,
        lower_bound=lower,
        lam=lam,
        n_iter=n_iter,
        converged=bool(converged),
        seconds=seconds,
        weights=weights,
        biases=biases,
        info=info,
    )


def group_lasso_path(
    Phi: ArrayLike | Tensor,
    Y: ArrayLike | Tensor,
    lams: Sequence[float] | NDArray[np.float64],
    **options: Any,
) -> list[GroupLassoResult]:
    """:func:`group_lasso` for each ``lam`` (largest first), each warm-started from the
    previous solution.

    Each solve minimises the package objective
    ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` (``penalty = sum_k ||V_k||``);
    ``options`` are passed to :func:`group_lasso`. Results are returned in the order of
    ``lams``.
    """
    values = [check_number(v, "lams", low=0.0, low_inclusive=False) for v in lams]
    if not values:
        raise ValueError("Parameter `lams` should contain at least one value. Found [].")
    if "V0" in options:
        raise TypeError("Parameter `V0` is not accepted by group_lasso_path (it warm-starts).")
    phi, y = _as_arrays(Phi, Y)
    order = np.argsort(values)[::-1]
    out: dict[int, GroupLassoResult] = {}
    prev: NDArray[np.float64] | None = None
    for i in order:
        res = group_lasso(phi, y, values[i], V0=prev, **options)
        out[int(i)] = res
        prev = res.V
    return [out[i] for i in range(len(values))]


# --------------------------------------------------------------------- internals
def _as_arrays(Phi: ArrayLike | Tensor, Y: ArrayLike | Tensor) -> tuple[NDArray, NDArray]:
    """Validated float64 numpy copies: Phi (N, P), Y (N, T)."""
    if isinstance(Phi, Tensor):
        Phi = Phi.detach().cpu().double().numpy()
    if isinstance(Y, Tensor):
        Y = Y.detach().cpu().double().numpy()
    phi = check_array(Phi, "Phi", ndim=(2,))
    if phi.shape[1] < 1:
        raise ValueError(
            f"Parameter `Phi` should have at least one column. Found shape {phi.shape}."
        )
    y = check_array(Y, "Y", ndim=(1, 2))
    if y.ndim == 1:
        y = y[:, None]
    if y.shape[0] != phi.shape[0]:
        raise ValueError(
            f"Parameter `Y` should have {phi.shape[0]} rows, one per row of `Phi`. "
            f"Found {y.shape[0]}."
        )
    if y.shape[1] < 1:
        raise ValueError(f"Parameter `Y` should have at least one column. Found shape {y.shape}.")
    return phi, y


def _pow2_scale(a: NDArray[np.float64]) -> float:
    """The power of two nearest ``max |a|`` (1 for a zero array): dividing by it is exact."""
    top = float(np.abs(a).max()) if a.size else 0.0
    if top == 0.0:
        return 1.0
    return math.ldexp(1.0, math.frexp(top)[1])


def _dual_value(yr: float, rr: float, cmax: float, alpha: float) -> float:
    """Best value of the dual ``<Y, theta> - ||theta||^2 / 2`` along the ray
    ``theta = s R``, ``s`` in ``[0, alpha / cmax]`` (the feasible part)."""
    if rr <= 0.0:
        return 0.0
    s = yr / rr
    if cmax > 0:
        s = min(s, alpha / cmax)
    s = max(s, 0.0)
    return s * yr - 0.5 * s * s * rr


def _certify(
    phi: NDArray, y: NDArray, v: NDArray, alpha: float
) -> tuple[float, float, float, float]:
    """(primal, ||R||^2, penalty, dual value) of ``v`` on the full internal problem."""
    rows = np.linalg.norm(v, axis=1)
    supp = rows > 0
    r = y - phi[:, supp] @ v[supp]
    rr = float((r * r).sum())
    cmax = float(np.linalg.norm(phi.T @ r, axis=1).max())
    pen = float(rows.sum())
    return 0.5 * rr + alpha * pen, rr, pen, _dual_value(float((y * r).sum()), rr, cmax, alpha)


class _GramCache:
    """Entries of ``Phi^T Phi`` computed once, for the atoms seen in any working set
    (stored in a buffer whose capacity doubles, so growing it copies little)."""

    def __init__(self, phi: NDArray[np.float64]) -> None:
        self.phi_t = np.ascontiguousarray(phi.T)  # rows = atoms: cheap row gathers
        self.pos = np.full(phi.shape[1], -1, dtype=np.intp)
        self.seen = np.zeros(0, dtype=np.intp)
        self.buf = np.zeros((0, 0))

    def block(self, ws: NDArray[np.intp]) -> NDArray[np.float64]:
        new = ws[self.pos[ws] < 0]
        k = self.seen.size
        if new.size:
            total = k + new.size
            if total > self.buf.shape[0]:
                cap = min(self.pos.size, max(total, 2 * self.buf.shape[0]))
                grown = np.empty((cap, cap))
                grown[:k, :k] = self.buf[:k, :k]
                self.buf = grown
            rows_new = self.phi_t[new]
            if k:
                cross = rows_new @ self.phi_t[self.seen].T
                self.buf[k:total, :k] = cross
                self.buf[:k, k:total] = cross.T
            self.buf[k:total, k:total] = rows_new @ rows_new.T
            self.seen = np.concatenate([self.seen, new])
            self.pos[new] = np.arange(k, total)
            k = total
        idx = self.pos[ws]
        if idx.size == k and np.array_equal(idx, np.arange(k)):
            return np.ascontiguousarray(self.buf[:k, :k])
        return self.buf[np.ix_(idx, idx)]


def _select_ws(
    cn: NDArray, col_norm: NDArray, alpha: float, supp: NDArray, size: int
) -> NDArray[np.intp]:
    """The support plus the atoms closest to violating their dual constraint."""
    p = cn.size
    scale = max(alpha, float(cn.max()))
    score = (1.0 - cn / scale) / np.maximum(col_norm, 1e-300)
    score[supp] = -np.inf
    size = min(p, size)
    if size >= p:
        return np.arange(p)
    return np.sort(np.argpartition(score, size - 1)[:size])


def _solve_numpy(
    phi: NDArray[np.float64],
    y: NDArray[np.float64],
    alpha: float,
    tol: float,
    max_iter: int,
    v0: NDArray[np.float64] | None,
    ws_start: int,
    verbose: bool,
) -> tuple[NDArray[np.float64], int, dict[str, Any], float]:
    p, t = phi.shape[1], y.shape[1]
    col_norm = np.linalg.norm(phi, axis=0)
    yy = float((y * y).sum())
    v = np.zeros((p, t)) if v0 is None else v0.copy()
    cache = _GramCache(phi)
    phi_t = cache.phi_t
    pty = phi.T @ y
    n = phi.shape[0]
    ws = np.zeros(0, dtype=np.intp)
    ws_size = ws_start
    n_iter = 0
    dual_best = 0.0
    history: list[tuple[int, int, float]] = []
    while True:
        rows = np.linalg.norm(v, axis=1)
        supp = rows > 0
        r = y - phi @ v
        cn = np.linalg.norm(phi.T @ r, axis=1)
        rr = float((r * r).sum())
        primal = 0.5 * rr + alpha * float(rows.sum())
        dual_best = max(dual_best, _dual_value(float((y * r).sum()), rr, float(cn.max()), alpha))
        gap = primal - dual_best
        history.append((n_iter, int(ws.size), gap / max(primal, 1e-300)))
        if verbose:
            print(
                f"[group_lasso] it={n_iter} ws={ws.size} supp={int(supp.sum())} "
                f"rel_gap={gap / max(primal, 1e-300):.2e}"
            )
        if gap <= tol * primal or n_iter >= max_iter:
            break
        target = max(ws_size, 2 * int(supp.sum()))
        new_ws = _select_ws(cn, col_norm, alpha, supp, target)
        if np.array_equal(new_ws, ws):
            ws_size = min(p, 2 * target)
            new_ws = _select_ws(cn, col_norm, alpha, supp, ws_size)
        ws = new_ws
        ops: _GramOps | _DataOps
        if 2 * n < ws.size:  # few samples: epochs in data space cost less than in Gram space
            ops = _DataOps(phi_t[ws], y, alpha)
        else:
            ops = _GramOps(cache.block(ws), pty[ws], yy, alpha)
        inner_tol = max(_INNER * gap, _INNER * tol * primal)
        v_ws, v_dual, used = _inner_bcd(
            ops, np.ascontiguousarray(v[ws]), inner_tol, max_iter - n_iter
        )
        n_iter += used
        v = np.zeros((p, t))
        v[ws] = v_ws
        if v_dual is not v_ws:
            # dual extrapolation: the subproblem's best dual point, checked on all atoms
            v_full = np.zeros((p, t))
            v_full[ws] = v_dual
            r_d = y - phi @ v_full
            cmax = float(np.linalg.norm(phi.T @ r_d, axis=1).max())
            val = _dual_value(float((y * r_d).sum()), float((r_d * r_d).sum()), cmax, alpha)
            dual_best = max(dual_best, val)
    info = {"solver": "working_set", "history": history, "ws_final": int(ws.size)}
    return v, n_iter, info, dual_best


def _bcd_epoch(
    g: NDArray[np.float64],
    bt: NDArray[np.float64],
    v: NDArray[np.float64],
    qt: NDArray[np.float64],
    alpha: float,
    diag: NDArray[np.float64],
    z: NDArray[np.float64],
) -> None:
    """One cyclic pass of block coordinate descent on ``1/2 V'GV - <B, V> + alpha
    sum_k ||V_k||``, in place, keeping ``Q = G V`` up to date (compiled by numba).

    ``v`` is (m, T); ``bt = B^T`` and ``qt = Q^T`` are (T, m) so that the update of
    ``Q`` after a group changes is a contiguous axpy per task.
    """
    m, t = v.shape
    for k in range(m):
        dk = diag[k]
        if dk <= 0.0:
            continue
        nrm2 = 0.0
        for j in range(t):
            zj = v[k, j] - (qt[j, k] - bt[j, k]) / dk
            z[j] = zj
            nrm2 += zj * zj
        thr = alpha / dk
        scale = 0.0 if nrm2 <= thr * thr else 1.0 - thr / math.sqrt(nrm2)
        for j in range(t):
            new = scale * z[j]
            z[j] = new - v[k, j]
            v[k, j] = new
        for j in range(t):
            dj = z[j]
            if dj != 0.0:
                for i in range(m):
                    qt[j, i] += g[k, i] * dj


def _bcd_epoch_data(
    phi_t: NDArray[np.float64],
    v: NDArray[np.float64],
    rt: NDArray[np.float64],
    alpha: float,
    diag: NDArray[np.float64],
    z: NDArray[np.float64],
) -> None:
    """One cyclic pass of block coordinate descent on ``1/2 ||Y - Phi V||^2 + alpha
    sum_k ||V_k||``, in place, keeping the residual ``rt = (Y - Phi V)^T`` (T, N) up to
    date; ``phi_t = Phi^T`` (m, N) (compiled by numba)."""
    m, t = v.shape
    n = phi_t.shape[1]
    for k in range(m):
        dk = diag[k]
        if dk <= 0.0:
            continue
        nrm2 = 0.0
        for j in range(t):
            acc = 0.0
            for i in range(n):
                acc += phi_t[k, i] * rt[j, i]
            zj = v[k, j] + acc / dk
            z[j] = zj
            nrm2 += zj * zj
        thr = alpha / dk
        scale = 0.0 if nrm2 <= thr * thr else 1.0 - thr / math.sqrt(nrm2)
        for j in range(t):
            new = scale * z[j]
            z[j] = new - v[k, j]
            v[k, j] = new
        for j in range(t):
            dj = z[j]
            if dj != 0.0:
                for i in range(n):
                    rt[j, i] -= phi_t[k, i] * dj


_KERNELS: dict[str, Callable[..., None]] = {}


def _epoch_kernel(kind: str = "gram") -> Callable[..., None]:
    """The epoch of ``kind`` (``"gram"`` or ``"data"``) compiled by numba (cached on
    disk), or plain Python without numba."""
    if kind not in _KERNELS:
        func = _bcd_epoch if kind == "gram" else _bcd_epoch_data
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            _KERNELS[kind] = func
        else:
            # fastmath lets the data-space dot products vectorise (inputs are finite)
            _KERNELS[kind] = numba.njit(cache=True, nogil=True, fastmath=True)(func)
    return _KERNELS[kind]


class _GramOps:
    """Working-set subproblem in Gram space: state ``aux = (G V)^T``."""

    def __init__(self, g: NDArray, b: NDArray, yy: float, alpha: float) -> None:
        self.g, self.b, self.yy, self.alpha = g, b, yy, alpha
        self.bt = np.ascontiguousarray(b.T)
        self.diag = np.ascontiguousarray(np.diag(g))
        self.kernel = _epoch_kernel("gram")

    def aux(self, v: NDArray) -> NDArray:
        return np.ascontiguousarray((self.g @ v).T)

    def epoch(self, v: NDArray, aux: NDArray, z: NDArray) -> None:
        self.kernel(self.g, self.bt, v, aux, self.alpha, self.diag, z)

    def values(self, v: NDArray, aux: NDArray, dual: bool = True) -> tuple[float, float]:
        return _sub_values(self.b, self.yy, self.alpha, v, aux.T)

    def system(self, idx: NDArray[np.intp]) -> tuple[NDArray, NDArray]:
        return np.ascontiguousarray(self.g[np.ix_(idx, idx)]), self.b[idx]


class _DataOps:
    """Working-set subproblem in data space: state ``aux = (Y - Phi V)^T``."""

    def __init__(self, phi_t: NDArray, y: NDArray, alpha: float) -> None:
        self.phi_t, self.y, self.alpha = np.ascontiguousarray(phi_t), y, alpha
        self.yt = np.ascontiguousarray(y.T)
        self.diag = np.einsum("ij,ij->i", self.phi_t, self.phi_t)
        self.kernel = _epoch_kernel("data")

    def aux(self, v: NDArray) -> NDArray:
        return np.ascontiguousarray(self.yt - v.T @ self.phi_t)

    def epoch(self, v: NDArray, aux: NDArray, z: NDArray) -> None:
        self.kernel(self.phi_t, v, aux, self.alpha, self.diag, z)

    def values(self, v: NDArray, aux: NDArray, dual: bool = True) -> tuple[float, float]:
        rr = float((aux * aux).sum())
        primal = 0.5 * rr + self.alpha * float(np.linalg.norm(v, axis=1).sum())
        if not dual:  # the dual needs Phi^T R, as dear as an epoch
            return primal, -math.inf
        cmax = float(np.linalg.norm(self.phi_t @ aux.T, axis=1).max())
        return primal, _dual_value(float((self.yt * aux).sum()), rr, cmax, self.alpha)

    def system(self, idx: NDArray[np.intp]) -> tuple[NDArray, NDArray]:
        rows = self.phi_t[idx]
        return rows @ rows.T, rows @ self.y


def _sub_values(b: NDArray, yy: float, alpha: float, v: NDArray, q: NDArray) -> tuple[float, float]:
    """(primal, dual) of the working-set subproblem at ``v`` with ``q = G v``."""
    bv = float((b * v).sum())
    rr = max(yy - 2.0 * bv + float((v * q).sum()), 0.0)
    primal = 0.5 * rr + alpha * float(np.linalg.norm(v, axis=1).sum())
    cmax = float(np.linalg.norm(b - q, axis=1).max())
    return primal, _dual_value(yy - bv, rr, cmax, alpha)


def _inner_bcd(
    ops: _GramOps | _DataOps,
    v: NDArray[np.float64],
    abs_tol: float,
    budget: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Block coordinate descent with Anderson extrapolation and Newton polishing.

    Solves the working-set subproblem ``1/2 ||Y - Phi V||^2 + alpha sum_k ||V_k||`` to a
    duality gap ``abs_tol`` (or ``budget`` epochs), in Gram or data space (``ops``).
    Every ``_ANDERSON`` epochs the last iterates are extrapolated (Bertrand & Massias
    2021) and the extrapolation kept when it lowers the objective; when the support has
    not changed over such a cycle, damped Newton steps on the support (where the
    objective is smooth) are tried once per support. Returns ``(V, V_dual, epochs)``,
    ``V_dual`` the iterate whose residual gave the best dual value (``V`` itself when no
    other did better).
    """
    aux = ops.aux(v)
    z = np.empty(v.shape[1])
    past: list[NDArray[np.float64]] = [v.copy()]
    past_aux: list[NDArray[np.float64]] = [aux.copy()]
    dual_best, v_dual = -math.inf, v
    last_supp: NDArray[np.bool_] | None = None
    tried: set[bytes] = set()
    n_done = 0
    while n_done < budget:
        ops.epoch(v, aux, z)
        n_done += 1
        primal, dual = ops.values(v, aux, dual=len(past) == _ANDERSON or n_done == budget)
        if dual > dual_best:
            dual_best, v_dual = dual, v.copy()
        if primal - dual_best <= abs_tol:
            break
        past.append(v.copy())
        past_aux.append(aux.copy())
        if len(past) < _ANDERSON + 1:
            continue
        coef = _anderson_weights(past)
        if coef is not None:
            # aux is affine in V and the weights sum to 1: no product needed
            acc = np.tensordot(coef, np.stack(past[1:]), axes=1)
            aux_acc = np.tensordot(coef, np.stack(past_aux[1:]), axes=1)
            p_acc, d_acc = ops.values(acc, aux_acc)
            if d_acc > dual_best:
                dual_best, v_dual = d_acc, acc.copy()
            if p_acc < primal:
                v, aux, primal = acc, aux_acc, p_acc
        past, past_aux = [v.copy()], [aux.copy()]
        if primal - dual_best <= abs_tol:
            break
        supp = np.linalg.norm(v, axis=1) > 0
        key = supp.tobytes()
        if (
            last_supp is not None
            and np.array_equal(supp, last_supp)
            and key not in tried
            and 0 < supp.sum() * v.shape[1] <= _NEWTON_MAX
            and primal - dual_best <= _NEWTON_GAP * primal
        ):
            tried.add(key)
            idx = np.flatnonzero(supp)
            gs, bs = ops.system(idx)
            v_new = v.copy()
            v_new[idx] = _newton_support(gs, bs, ops.alpha, v[idx], 0.1 * abs_tol)
            aux_new = ops.aux(v_new)
            p_new, d_new = ops.values(v_new, aux_new)
            if d_new > dual_best:
                dual_best, v_dual = d_new, v_new.copy()
            if p_new < primal:
                v, aux, primal = v_new, aux_new, p_new
                past, past_aux = [v.copy()], [aux.copy()]
            if primal - dual_best <= abs_tol:
                break
        last_supp = supp
    if np.array_equal(v_dual, v):
        v_dual = v
    return v, v_dual, n_done


def _newton_support(
    gs: NDArray[np.float64],
    bs: NDArray[np.float64],
    alpha: float,
    x: NDArray[np.float64],
    enough: float,
    iters: int = 12,
) -> NDArray[np.float64]:
    """Damped Newton on ``1/2 X'GX - <B, X> + alpha sum_k ||X_k||`` over the groups of a
    support (all nonzero in ``x``; there the objective is smooth); returns the new rows.

    Stops when the Newton decrement falls below ``enough`` (a full step then gains
    less than that), or after two damped steps in a row (the support is wrong: some
    group is heading to zero, which block coordinate descent handles).
    """
    x = x.copy()

    def value(u: NDArray[np.float64]) -> float:
        return float(
            0.5 * (u * (gs @ u)).sum() - (bs * u).sum() + alpha * np.linalg.norm(u, axis=1).sum()
        )

    f = value(x)
    damped = 0
    for _ in range(iters):
        norms = np.linalg.norm(x, axis=1)
        if np.any(norms <= 0):
            break
        u = x / norms[:, None]
        grad = gs @ x - bs + alpha * u
        # Hessian = kron(G + diag(c), I_T) - blockdiag(c_k u_k u_k^T), c_k = alpha/||x_k||:
        # solved with the Woodbury identity in O(s^3 + s^2 T) instead of O((s T)^3)
        c = alpha / norms
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
                m_inv = scipy.linalg.inv(gs + np.diag(c), check_finite=False)
                z0 = m_inv @ grad
                small = np.diag(1.0 / c) - m_inv * (u @ u.T)
                w = scipy.linalg.solve(small, (u * z0).sum(axis=1), check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            break
        step = z0 + m_inv @ (w[:, None] * u)
        if not np.all(np.isfinite(step)):
            break
        dec = float((grad * step).sum())
        if dec <= 1e-18 * max(abs(f), 1.0):
            break
        a = 1.0
        while a > 1e-8:
            cand = x - a * step
            fc = value(cand)
            if fc <= f - 1e-4 * a * dec:
                break
            a *= 0.5
        else:
            break
        x, f = cand, fc
        damped = damped + 1 if a < 1.0 else 0
        if damped >= 2 or (a == 1.0 and 0.5 * dec <= enough):
            break
    return x


def _anderson_weights(past: list[NDArray[np.float64]]) -> NDArray[np.float64] | None:
    """Weights ``c`` (summing to 1) of the Anderson extrapolation ``sum_i c_i x_{i+1}``
    of the iterates ``past = [x_0, ..., x_K]`` (Bertrand & Massias 2021)."""
    stack = np.stack([a.ravel() for a in past])  # (K+1, m)
    u = np.diff(stack, axis=0)  # (K, m)
    gram = u @ u.T
    reg = 1e-12 * float(np.trace(gram))
    try:
        z = np.linalg.solve(gram + reg * np.eye(gram.shape[0]), np.ones(gram.shape[0]))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(z)) or float(z.sum()) == 0.0:
        return None
    out: NDArray[np.float64] = z / z.sum()
    return out


# ----------------------------------------------------------------- torch (GPU) path
def _solve_torch(
    phi_np: NDArray[np.float64],
    y_np: NDArray[np.float64],
    alpha: float,
    tol: float,
    max_iter: int,
    v0: NDArray[np.float64] | None,
    ws_start: int,
    verbose: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[NDArray[np.float64], int, dict[str, Any], float]:
    """Working sets solved by Anderson-accelerated proximal gradient in torch."""
    phi = torch.as_tensor(phi_np, dtype=dtype, device=device)
    y = torch.as_tensor(y_np, dtype=dtype, device=device)
    p, t = phi.shape[1], y.shape[1]
    col_norm = phi.norm(dim=0)
    yy = float((y * y).sum())
    if v0 is None:
        v = torch.zeros(p, t, dtype=dtype, device=device)
    else:
        v = torch.as_tensor(v0, dtype=dtype, device=device)
    ws = torch.zeros(0, dtype=torch.long, device=device)
    ws_size, n_iter, dual_best = ws_start, 0, 0.0
    while True:
        rows = v.norm(dim=1)
        supp = rows > 0
        r = y - phi[:, supp] @ v[supp]
        cn = (phi.T @ r).norm(dim=1)
        rr = float((r * r).sum())
        primal = 0.5 * rr + alpha * float(rows.sum())
        dual_best = max(dual_best, _dual_value(float((y * r).sum()), rr, float(cn.max()), alpha))
        gap = primal - dual_best
        if verbose:
            print(f"[group_lasso] it={n_iter} ws={ws.numel()} rel_gap={gap / primal:.2e}")
        if gap <= tol * primal or n_iter >= max_iter:
            break
        scale = max(alpha, float(cn.max()))
        score = (1.0 - cn / scale) / torch.clamp(col_norm, min=1e-300)
        score[supp] = -math.inf
        target = min(p, max(ws_size, 2 * int(supp.sum())))
        new_ws = torch.sort(torch.topk(score, target, largest=False).indices).values
        if new_ws.numel() == ws.numel() and bool((new_ws == ws).all()):
            ws_size = min(p, 2 * target)
            new_ws = torch.sort(torch.topk(score, ws_size, largest=False).indices).values
        ws = new_ws
        phi_ws = phi[:, ws]
        v_ws, used = _fista_gram(
            phi_ws.T @ phi_ws,
            phi_ws.T @ y,
            yy,
            alpha,
            v[ws],
            max(0.3 * gap, 0.3 * tol * primal),
            max_iter - n_iter,
        )
        n_iter += used
        v = torch.zeros_like(v)
        v[ws] = v_ws
    v_out = v.detach().cpu().double().numpy()
    return v_out, n_iter, {"solver": "working_set_torch", "ws_final": int(ws.numel())}, 0.0


def _fista_gram(
    gram: Tensor,
    b: Tensor,
    yy: float,
    alpha: float,
    v: Tensor,
    abs_tol: float,
    budget: int,
    check_every: int = 10,
) -> tuple[Tensor, int]:
    """Proximal gradient with Anderson extrapolation on ``1/2 V'GV - <B, V> + alpha
    sum ||V_k||``, stopped at duality gap ``abs_tol`` or after ``budget`` steps."""
    lip = float(torch.linalg.matrix_norm(gram, ord=2)) * (1 + 1e-10) + 1e-300
    step = 1.0 / lip
    past: list[Tensor] = [v]
    dual_best = -math.inf
    n_done = 0

    def values(x: Tensor) -> tuple[float, float]:
        gx = gram @ x
        bx = float((b * x).sum())
        rr = max(yy - 2.0 * bx + float((x * gx).sum()), 0.0)
        cmax = float((b - gx).norm(dim=1).max())
        return 0.5 * rr + alpha * float(x.norm(dim=1).sum()), _dual_value(yy - bx, rr, cmax, alpha)

    while n_done < budget:
        z = v - step * (gram @ v - b)
        norms = z.norm(dim=1, keepdim=True)
        v = z * torch.clamp(1.0 - alpha * step / torch.clamp(norms, min=1e-300), min=0.0)
        n_done += 1
        past.append(v)
        if len(past) == _ANDERSON + 2:
            iterates = past[1:]
            coef = _anderson_weights([a.detach().cpu().numpy() for a in iterates])
            past = [v]
            if coef is not None:
                c_t = torch.as_tensor(coef, dtype=v.dtype, device=v.device)
                acc = torch.tensordot(c_t, torch.stack(iterates[1:]), dims=1)
                if values(acc)[0] < values(v)[0]:
                    v = acc
                    past = [v]
        if n_done % check_every == 0 or n_done >= budget:
            primal, dual = values(v)
            dual_best = max(dual_best, dual)
            if primal - dual_best <= abs_tol:
                break
    return v, n_done


def _solve_cvxpy(phi: NDArray, y: NDArray, alpha: float) -> NDArray[np.float64]:
    import cvxpy as cp

    var = cp.Variable((phi.shape[1], y.shape[1]))
    obj = 0.5 * cp.sum_squares(y - phi @ var) + alpha * cp.sum(cp.norm(var, 2, axis=1))
    prob = cp.Problem(cp.Minimize(obj))
    with warnings.catch_warnings():  # the duality gap is certified by the caller
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    if var.value is None:
        raise RuntimeError(f"The cvxpy solver failed (status {prob.status!r}).")
    return np.asarray(var.value, dtype=np.float64)


__all__ = [
    "GroupLassoResult",
    "group_lasso",
    "group_lasso_path",
    "lam_max",
    "relu_dictionary",
    "relu_features",
]
