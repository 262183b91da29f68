"""The multi-task ridge estimator with a shared part, in three exact forms.

It minimises the package objective (docs/theory.md §1)::

    (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty

over ``w_0, v_1, ..., v_T``, where sample i of task t has ``f(x_i) = a_i . (w_0 + v_t)``,
``N = sum_t n_t`` and the penalty term is ``lam_shared ||w_0||^2 + sum_t lam_task_t
||v_t||^2`` (two strengths). Internally the forms below use the unnormalised
strengths ``lambda_0 = N lam_shared`` and ``lambda_t = N lam_task_t`` of
``sum_t 1/2 ||y_t - A_t w_t||^2 + lambda_0/2 ||w_0||^2 + sum_t lambda_t/2 ||v_t||^2``
(the same problem, divided by 2/N). The forms (docs/theory.md §8):

- ``"primal"``: the block normal equations of size ``(T+1) d``;
- ``"reduced"``: ``S_t = (A_t'A_t + lambda_t I)^-1``,
  ``w_0 = (lambda_0 I + sum_t lambda_t A_t'A_t S_t)^-1 sum_t lambda_t S_t A_t' y_t``,
  ``w_t = S_t (A_t' y_t + lambda_t w_0)`` (size ``d``);
- ``"dual"``: kernel ridge in the lifted space, size ``N = sum_t n_t``.

``method="auto"`` picks the dual form when ``N <= d`` and the reduced one otherwise.
The ridgeless limits are computed exactly from SVDs and least squares:
``lam_shared = 0`` in :func:`fit_multitask` is the limit ``lam_shared -> 0`` with
``lam_task`` fixed (``w_0`` is the minimum-norm weighted least-squares solution, so
it interpolates all the data when ``N < d``), and :func:`fit_multitask_ridgeless` is
the limit of both going to 0 at a fixed ratio.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike, NDArray

from mtlreg._result import GapFromBound
from mtlreg._validation import check_array, check_choice, check_int, check_number
from mtlreg.linear._compat import renamed

METHODS: tuple[str, ...] = ("auto", "primal", "reduced", "dual")

Designs = Sequence[ArrayLike]
Arr = NDArray[np.float64]


@dataclass(frozen=True)
class MultiTaskFit(GapFromBound):
    """The fitted multi-task estimator (an exact, direct solve).

    Follows the package's result protocol where it applies: ``objective = fit +
    penalty`` of the package objective::

        (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty

    where ``penalty`` holds the whole penalty term ``lam_shared ||w_0||^2 +
    sum_t lam_task_t ||v_t||^2`` (two strengths, so no single ``lam`` factors out).
    The solve is direct, so ``n_iter`` is 0 and ``converged`` is True; no lower bound
    is computed, so ``lower_bound``, ``gap`` and ``relative_gap`` are nan. A linear
    model is not a ReLU network: :meth:`to_network` raises ``TypeError``.

    Attributes:
        w0: shared part, shape ``(d,)``.
        V: task-specific parts ``v_t``, shape ``(T, d)``.
        method: the form that computed it (``"primal"``, ``"reduced"``, ``"dual"``,
            ``"lstsq"`` for the ridgeless limits).
        objective, fit, penalty: the package objective and its two terms at the
            returned weights (``fit`` = (1/N) sum over every task's samples).
        seconds: wall time of the solve.
    """

    w0: NDArray[np.float64]
    V: NDArray[np.float64]
    method: str
    objective: float = math.nan
    fit: float = math.nan
    penalty: float = math.nan
    seconds: float = 0.0
    lower_bound: float = math.nan
    n_iter: int = 0
    converged: bool = True

    @property
    def W(self) -> NDArray[np.float64]:
        """Task predictors ``w_t = w_0 + v_t``, shape ``(T, d)``."""
        return self.w0[None, :] + self.V

    def predict(self, X: ArrayLike, task: int = 0) -> NDArray[np.float64]:
        """Predictions ``X @ w_task`` of task ``task`` (0-based) for inputs (n, d)."""
        task = check_int(task, "task", low=0, high=self.V.shape[0] - 1)
        x = check_array(X, "X", ndim=(2,))
        if x.shape[1] != self.w0.shape[0]:
            raise ValueError(
                f"Parameter `X` should have {self.w0.shape[0]} columns. Found {x.shape[1]}."
            )
        return np.asarray(x @ self.W[task])

    def to_network(self) -> None:
        """Not applicable: a linear model is not a ShallowReLUNet."""
        raise TypeError("A linear multi-task fit has no ReLU network (to_network does not apply).")


def _with_objective(
    fit: MultiTaskFit, As: list[Arr], ys: list[Arr], lam_shared: float, lam: Arr, t0: float
) -> MultiTaskFit:
    """``fit`` with the package objective's terms filled in."""
    n = sum(a.shape[0] for a in As)
    W = fit.W
    sq = sum(float(((v - a @ w) ** 2).sum()) for a, v, w in zip(As, ys, W))
    penalty = lam_shared * float(fit.w0 @ fit.w0) + float((lam * (fit.V**2).sum(axis=1)).sum())
    return MultiTaskFit(
        w0=fit.w0,
        V=fit.V,
        method=fit.method,
        objective=sq / n + penalty,
        fit=sq / n,
        penalty=penalty,
        seconds=time.perf_counter() - t0,
    )


def _check_problem(
    A: Designs, y: Sequence[ArrayLike]
) -> tuple[list[NDArray[np.float64]], list[NDArray[np.float64]]]:
    if isinstance(A, np.ndarray) and A.ndim == 2:
        A, y = [A], [np.asarray(y)]
    if len(A) < 1:
        raise ValueError("Parameter `A` should hold at least one task (T >= 1). Found 0 tasks.")
    if len(y) != len(A):
        raise ValueError(
            f"Parameter `y` should have one label vector per task ({len(A)}). Found {len(y)}."
        )
    As = [check_array(a, f"A[{t}]", ndim=(2,)) for t, a in enumerate(A)]
    ys = [check_array(v, f"y[{t}]", ndim=(1,)) for t, v in enumerate(y)]
    d = As[0].shape[1]
    if d < 1:
        raise ValueError(f"Parameter `A` should have at least one column (d >= 1). Found d = {d}.")
    for t, (a, v) in enumerate(zip(As, ys)):
        if a.shape[1] != d:
            raise ValueError(f"Parameter `A[{t}]` should have {d} columns. Found {a.shape[1]}.")
        if v.shape[0] != a.shape[0]:
            raise ValueError(
                f"Parameter `y[{t}]` should have {a.shape[0]} entries. Found {v.shape[0]}."
            )
    return As, ys


def _check_task_lambdas(lambda_t: float | ArrayLike, T: int, name: str) -> NDArray[np.float64]:
    arr = np.atleast_1d(np.asarray(lambda_t, dtype=float))
    if arr.ndim != 1 or arr.size not in (1, T):
        raise ValueError(
            f"Parameter `{name}` should be a number or one per task ({T}). Found shape {arr.shape}."
        )
    for value in arr:
        check_number(float(value), name, low=0.0, low_inclusive=False)
    return np.broadcast_to(arr, (T,)).copy()


def _primal(As: list[Arr], ys: list[Arr], lambda0: float, lam: Arr) -> tuple[Arr, Arr]:
    T, d = len(As), As[0].shape[1]
    H = np.zeros(((T + 1) * d, (T + 1) * d))
    b = np.zeros((T + 1) * d)
    H[:d, :d] = lambda0 * np.eye(d)
    for t, (a, v) in enumerate(zip(As, ys)):
        G, r = a.T @ a, a.T @ v
        s = slice((t + 1) * d, (t + 2) * d)
        H[:d, :d] += G
        H[:d, s] = G
        H[s, :d] = G
        H[s, s] = G + lam[t] * np.eye(d)
        b[:d] += r
        b[s] = r
    x = sla.solve(H, b, assume_a="pos")
    return x[:d], x[d:].reshape(T, d)


def _reduced(As: list[Arr], ys: list[Arr], lambda0: float, lam: Arr) -> tuple[Arr, Arr]:
    d = As[0].shape[1]
    eye = np.eye(d)
    M = lambda0 * eye
    rhs = np.zeros(d)
    St, ry = [], []
    for a, v, lt in zip(As, ys, lam):
        S = sla.cho_solve(sla.cho_factor(a.T @ a + lt * eye), eye)
        r = a.T @ v
        M += lt * (eye - lt * S)  # lambda_t A'A S_t = lambda_t (I - lambda_t S_t)
        rhs += lt * (S @ r)
        St.append(S)
        ry.append(r)
    w0 = sla.solve(M, rhs, assume_a="pos")
    W = np.stack([S @ (r + lt * w0) for S, r, lt in zip(St, ry, lam)])
    return w0, W - w0


def _dual(As: list[Arr], ys: list[Arr], lambda0: float, lam: Arr) -> tuple[Arr, Arr]:
    A = np.vstack(As)
    K = (A @ A.T) / lambda0
    bounds = np.cumsum([0] + [a.shape[0] for a in As])
    for t, a in enumerate(As):
        s = slice(bounds[t], bounds[t + 1])
        K[s, s] += (a @ a.T) / lam[t]
    K[np.diag_indices_from(K)] += 1.0
    alpha = sla.solve(K, np.concatenate(ys), assume_a="pos")
    w0 = A.T @ alpha / lambda0
    V = np.stack([As[t].T @ alpha[bounds[t] : bounds[t + 1]] / lam[t] for t in range(len(As))])
    return w0, V


def _svd(a: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Thin SVD ``a = U diag(s) Vt`` from the smaller Gram matrix (faster than LAPACK's
    SVD for the tall and wide matrices here), keeping the numerically non-zero part."""
    n, d = a.shape
    gram = a.T @ a if n >= d else a @ a.T
    evals, evecs = np.linalg.eigh(gram)
    keep = evals > evals[-1] * max(n, d) * np.finfo(float).eps
    s = np.sqrt(evals[keep])
    if n >= d:
        Vt = evecs[:, keep].T
        return (a @ Vt.T) / s, s, Vt
    U = evecs[:, keep]
    return U, s, (U.T @ a) / s[:, None]


def _min_norm_lstsq(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Minimum-norm least squares through the smaller Gram matrix's eigendecomposition."""
    n, d = a.shape
    gram = a @ a.T if n <= d else a.T @ a
    evals, evecs = np.linalg.eigh(gram)
    keep = evals > evals[-1] * max(n, d) * np.finfo(float).eps
    evals, evecs = evals[keep], evecs[:, keep]
    if n <= d:
        return np.asarray(a.T @ (evecs @ ((evecs.T @ b) / evals)))
    return np.asarray(evecs @ ((evecs.T @ (a.T @ b)) / evals))


def _shared_limit(As: list[Arr], ys: list[Arr], lam: Arr) -> tuple[Arr, Arr]:
    """lambda_0 -> 0: w_0 is the minimum-norm solution of the profiled least squares."""
    svds = [_svd(a) for a in As]
    rows, rhs = [], []
    for (U, s, Vt), v, lt in zip(svds, ys, lam):
        rows.append(np.sqrt(lt * s**2 / (lt + s**2))[:, None] * Vt)
        rhs.append(np.sqrt(lt / (lt + s**2)) * (U.T @ v))
    w0 = _min_norm_lstsq(np.vstack(rows), np.concatenate(rhs))
    V = np.stack(
        [
            Vt.T @ ((s / (s**2 + lt)) * (U.T @ (v - a @ w0)))
            for (U, s, Vt), a, v, lt in zip(svds, As, ys, lam)
        ]
    )
    return w0, V


def fit_multitask(
    A: Designs,
    y: Sequence[ArrayLike],
    *,
    lam_shared: float | None = None,
    lam_task: float | ArrayLike | None = None,
    method: str = "auto",
    lambda0: float | None = None,
    lambda_t: float | ArrayLike | None = None,
) -> MultiTaskFit:
    """Fit the shared + task-specific ridge estimator.

    Minimises the package objective ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``
    with ``f(x_i) = a_i . (w_0 + v_t)`` for sample i of task t, ``N = sum_t n_t`` and
    ``lam * penalty = lam_shared ||w_0||^2 + sum_t lam_task_t ||v_t||^2``
    (docs/theory.md §8).

    Args:
        A: one design matrix ``(n_t, d)`` per task (a single 2-D array is one task).
        y: one label vector ``(n_t,)`` per task.
        lam_shared: strength of the shared part, ``>= 0``; ``0`` means the exact limit
            ``lam_shared -> 0`` (minimum-norm, computed by least squares).
        lam_task: strength of the task-specific parts, ``> 0``, scalar or one per task.
        method: ``"auto"``, ``"primal"``, ``"reduced"`` or ``"dual"``.
        lambda0, lambda_t: deprecated: the unnormalised strengths of
            ``sum_t 1/2 ||y_t - A_t w_t||^2 + lambda_0/2 ||w_0||^2 + ...``, i.e.
            ``N lam_shared`` and ``N lam_task``.
    """
    As, ys = _check_problem(A, y)
    n = sum(a.shape[0] for a in As)
    old0 = None if lambda0 is None else check_number(lambda0, "lambda0", low=0.0) / n
    oldt = None if lambda_t is None else np.asarray(lambda_t, dtype=float) / n
    note = " (the package objective's strength: lam_shared = lambda0 / N)"
    lam_shared = renamed(lam_shared, old0, "lam_shared", "lambda0", note=note)
    lam_task = renamed(lam_task, oldt, "lam_task", "lambda_t", note=" (lam_task = lambda_t / N)")
    lam_shared = check_number(lam_shared, "lam_shared", low=0.0)
    lam = _check_task_lambdas(lam_task, len(As), "lam_task")
    method = check_choice(method, "method", METHODS)
    t0 = time.perf_counter()
    if lam_shared == 0.0:
        if method != "auto":
            raise ValueError(
                "Parameter `method` should be 'auto' when `lam_shared` is 0 (the ridgeless "
                f"limit is computed by least squares). Found {method!r}."
            )
        w0, V = _shared_limit(As, ys, n * lam)
        return _with_objective(MultiTaskFit(w0=w0, V=V, method="lstsq"), As, ys, 0.0, lam, t0)
    if method == "auto":
        method = "dual" if n <= As[0].shape[1] else "reduced"
    solver = {"primal": _primal, "reduced": _reduced, "dual": _dual}[method]
    w0, V = solver(As, ys, n * lam_shared, n * lam)
    return _with_objective(MultiTaskFit(w0=w0, V=V, method=method), As, ys, lam_shared, lam, t0)


def fit_multitask_ridgeless(
    A: Designs,
    y: Sequence[ArrayLike],
    *,
    lam_ratio: float | ArrayLike | None = None,
    ratio: float | ArrayLike | None = None,
) -> MultiTaskFit:
    """The limit ``lam_shared, lam_task -> 0`` with ``lam_shared / lam_task = lam_ratio``.

    The limit of the minimisers of the package objective of :func:`fit_multitask`::

        (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty

    Each ``w_t`` minimises task t's squared loss (it interpolates when ``n_t <= d``, it
    is least squares when ``n_t > d``); among those, the split minimises
    ``||w_0||^2 + sum_t ||v_t||^2 / r_t`` with ``r_t = lam_ratio_t``. Exactly:
    ``w_0 = (I + sum_t P_t / r_t)^-1 sum_t A_t^+ y_t / r_t`` and
    ``w_t = A_t^+ y_t + (I - P_t) w_0`` with ``P_t = A_t^+ A_t``. The returned
    ``objective`` is the fit (both strengths are 0).

    Args:
        lam_ratio: ``lam_shared / lam_task`` (default 1), scalar or one per task.
        ratio: deprecated name of ``lam_ratio``.
    """
    As, ys = _check_problem(A, y)
    if lam_ratio is None and ratio is None:
        lam_ratio = 1.0
    lam_ratio = renamed(lam_ratio, ratio, "lam_ratio", "ratio")
    r = 1.0 / _check_task_lambdas(lam_ratio, len(As), "lam_ratio")
    t0 = time.perf_counter()
    d = As[0].shape[1]
    M = np.eye(d)
    rhs = np.zeros(d)
    parts = []
    for a, v, rt in zip(As, ys, r):
        U, s, Vt = _svd(a)
        pinv_y = Vt.T @ ((U.T @ v) / s)
        M += rt * (Vt.T @ Vt)
        rhs += rt * pinv_y
        parts.append((Vt, pinv_y))
    w0 = sla.solve(M, rhs, assume_a="pos")
    W = np.stack([p + w0 - Vt.T @ (Vt @ w0) for Vt, p in parts])
    fit = MultiTaskFit(w0=w0, V=W - w0, method="lstsq")
    return _with_objective(fit, As, ys, 0.0, np.zeros(len(As)), t0)


def fit_ridge(A: ArrayLike, y: ArrayLike, *, lam: float) -> NDArray[np.float64]:
    """Single-task ridge: ``argmin_w (1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``.

    With ``f(x_i) = a_i . w`` and penalty ``||w||^2`` (the package objective,
    docs/theory.md §1); ``lam = 0`` is the minimum-norm least-squares solution.
    ``lam`` is keyword-only: it used to be the unnormalised strength of
    ``1/2 ||y - A w||^2 + lam/2 ||w||^2``, which is ``N`` times the present one.
    """
    (a,), (v,) = _check_problem([A], [y])
    lam = check_number(lam, "lam", low=0.0)
    n, d = a.shape
    lam_n = n * lam
    if lam == 0.0:
        return np.asarray(np.linalg.lstsq(a, v, rcond=None)[0])
    if n < d:
        return np.asarray(a.T @ sla.solve(a @ a.T + lam_n * np.eye(n), v, assume_a="pos"))
    return np.asarray(sla.solve(a.T @ a + lam_n * np.eye(d), a.T @ v, assume_a="pos"))
