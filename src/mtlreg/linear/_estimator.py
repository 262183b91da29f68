"""The multi-task ridge estimator with a shared part, in three exact forms.

    min_{w_0, v_1..v_T}  sum_t 1/2 ||y_t - A_t (w_0 + v_t)||^2
                         + lambda_0/2 ||w_0||^2 + sum_t lambda_t/2 ||v_t||^2,

task t predicting with ``w_t = w_0 + v_t``. The forms (docs/theory.md §8):

- ``"primal"``: the block normal equations of size ``(T+1) d``;
- ``"reduced"``: ``S_t = (A_t'A_t + lambda_t I)^-1``,
  ``w_0 = (lambda_0 I + sum_t lambda_t A_t'A_t S_t)^-1 sum_t lambda_t S_t A_t' y_t``,
  ``w_t = S_t (A_t' y_t + lambda_t w_0)`` (size ``d``);
- ``"dual"``: kernel ridge in the lifted space, size ``N = sum_t n_t``.

``method="auto"`` picks the dual form when ``N <= d`` and the reduced one otherwise.
The ridgeless limits are computed exactly from SVDs and least squares:
``lambda_0 = 0`` in :func:`fit_multitask` is the limit ``lambda_0 -> 0`` with
``lambda_t`` fixed (``w_0`` is the minimum-norm weighted least-squares solution, so
it interpolates all the data when ``N < d``), and :func:`fit_multitask_ridgeless` is
the limit of both going to 0 at a fixed ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_array, check_choice, check_number

METHODS: tuple[str, ...] = ("auto", "primal", "reduced", "dual")

Designs = Sequence[ArrayLike]
Arr = NDArray[np.float64]


@dataclass(frozen=True)
class MultiTaskFit:
    """The fitted multi-task estimator.

    Attributes:
        w0: shared part, shape ``(d,)``.
        V: task-specific parts ``v_t``, shape ``(T, d)``.
        method: the form that computed it (``"primal"``, ``"reduced"``, ``"dual"``,
            ``"lstsq"`` for the ridgeless limits).
    """

    w0: NDArray[np.float64]
    V: NDArray[np.float64]
    method: str

    @property
    def W(self) -> NDArray[np.float64]:
        """Task predictors ``w_t = w_0 + v_t``, shape ``(T, d)``."""
        return self.w0[None, :] + self.V


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
    lambda0: float,
    lambda_t: float | ArrayLike,
    *,
    method: str = "auto",
) -> MultiTaskFit:
    """Fit the shared + task-specific ridge estimator.

    Args:
        A: one design matrix ``(n_t, d)`` per task (a single 2-D array is one task).
        y: one label vector ``(n_t,)`` per task.
        lambda0: penalty of the shared part, ``>= 0``; ``0`` means the exact limit
            ``lambda_0 -> 0`` (minimum-norm, computed by least squares).
        lambda_t: penalty of the task-specific parts, ``> 0``, scalar or one per task.
        method: ``"auto"``, ``"primal"``, ``"reduced"`` or ``"dual"``.
    """
    As, ys = _check_problem(A, y)
    lambda0 = check_number(lambda0, "lambda0", low=0.0)
    lam = _check_task_lambdas(lambda_t, len(As), "lambda_t")
    method = check_choice(method, "method", METHODS)
    if lambda0 == 0.0:
        if method != "auto":
            raise ValueError(
                "Parameter `method` should be 'auto' when `lambda0` is 0 (the ridgeless "
                f"limit is computed by least squares). Found {method!r}."
            )
        w0, V = _shared_limit(As, ys, lam)
        return MultiTaskFit(w0=w0, V=V, method="lstsq")
    if method == "auto":
        method = "dual" if sum(a.shape[0] for a in As) <= As[0].shape[1] else "reduced"
    solver = {"primal": _primal, "reduced": _reduced, "dual": _dual}[method]
    w0, V = solver(As, ys, lambda0, lam)
    return MultiTaskFit(w0=w0, V=V, method=method)


def fit_multitask_ridgeless(
    A: Designs, y: Sequence[ArrayLike], *, ratio: float | ArrayLike = 1.0
) -> MultiTaskFit:
    """The limit ``lambda_0, lambda_t -> 0`` with ``lambda_0 / lambda_t = ratio`` fixed.

    Each ``w_t`` minimises task t's squared loss (it interpolates when ``n_t <= d``,
    it is least squares when ``n_t > d``); among those, the split minimises
    ``||w_0||^2 + sum_t ||v_t||^2 / ratio_t``. Exactly:
    ``w_0 = (I + sum_t P_t / ratio_t)^-1 sum_t A_t^+ y_t / ratio_t`` and
    ``w_t = A_t^+ y_t + (I - P_t) w_0`` with ``P_t = A_t^+ A_t``.
    """
    As, ys = _check_problem(A, y)
    r = 1.0 / _check_task_lambdas(ratio, len(As), "ratio")
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
    return MultiTaskFit(w0=w0, V=W - w0, method="lstsq")


def fit_ridge(A: ArrayLike, y: ArrayLike, lam: float) -> NDArray[np.float64]:
    """Single-task ridge ``argmin 1/2||y - A w||^2 + lam/2 ||w||^2``; ``lam = 0`` is min-norm."""
    (a,), (v,) = _check_problem([A], [y])
    lam = check_number(lam, "lam", low=0.0)
    n, d = a.shape
    if lam == 0.0:
        return np.asarray(np.linalg.lstsq(a, v, rcond=None)[0])
    if n < d:
        return np.asarray(a.T @ sla.solve(a @ a.T + lam * np.eye(n), v, assume_a="pos"))
    return np.asarray(sla.solve(a.T @ a + lam * np.eye(d), a.T @ v, assume_a="pos"))
