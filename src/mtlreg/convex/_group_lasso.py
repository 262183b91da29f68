"""Multi-output group lasso over a dictionary of ReLU atoms (docs/theory.md §4).

    min_V  1/(2N) ||Y - Phi V||_F^2 + lam * sum_k ||V_k||_2        (V_k = row k)

This is scikit-learn's ``MultiTaskLasso`` scaling (``alpha = lam``). With unit-norm
atoms ``phi_k(x) = relu(w_k . x + b_k)`` the network read back from ``V`` has
``VV = sum_k ||V_k||``, so ``2 * objective`` is the network objective
``(1/N)||Y - f||^2 + (2 lam) VV`` of this package's convention: solve with
``lam = lam_network / 2`` to match :func:`mtlreg.train`.

Solver: working sets (the atoms most violating the dual constraints, grown
geometrically) solved by accelerated proximal gradient with adaptive restarts on the
working set's Gram matrix, in torch (CPU or GPU). Each outer step checks the duality
gap of the full problem at an Anderson-extrapolated dual point; the returned ``gap``
is that certificate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from mtlreg._validation import check_array, check_choice, check_int, check_number
from mtlreg.model import ShallowReLUNet

SOLVERS: tuple[str, ...] = ("auto", "cvxpy")


@dataclass(frozen=True)
class GroupLassoResult:
    """Solution of :func:`group_lasso`.

    ``objective = fit + lam * penalty`` with ``fit = 1/(2N)||Y - Phi V||^2`` and
    ``penalty = sum_k ||V_k||``; ``dual_objective`` is the value of a feasible dual
    point, so ``gap = objective - dual_objective >= 0`` bounds the suboptimality.
    """

    V: NDArray[np.float64] = field(repr=False)
    objective: float
    fit: float
    penalty: float
    dual_objective: float
    lam: float
    n_iter: int
    converged: bool
    seconds: float
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def gap(self) -> float:
        """Duality gap (certified bound on ``objective - optimum``)."""
        return self.objective - self.dual_objective

    @property
    def relative_gap(self) -> float:
        """``gap / objective``."""
        return self.gap / max(abs(self.objective), 1e-300)

    @property
    def support(self) -> NDArray[np.intp]:
        """Indices of the atoms with nonzero rows."""
        return np.flatnonzero(np.linalg.norm(self.V, axis=1) > 0)

    def to_network(
        self, weights: ArrayLike, biases: ArrayLike, *, dtype: torch.dtype = torch.float64
    ) -> ShallowReLUNet:
        """The balanced network ``sum_k V_k relu(w_k . x + b_k)`` of the active atoms.

        ``weights`` (P, d) and ``biases`` (P,) are the dictionary the features came
        from (see :func:`relu_dictionary`); its VV norm equals ``penalty`` when the
        rows of ``weights`` have unit norm.
        """
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
        net = ShallowReLUNet(w.shape[1], self.V.shape[1], int(keep.size), skip=False, dtype=dtype)
        with torch.no_grad():
            net.w.copy_(torch.as_tensor(w[keep]))
            net.b.copy_(torch.as_tensor(b[keep]))
            net.v.copy_(torch.as_tensor(self.V[keep]))
        return net.balance()


def relu_dictionary(
    X: ArrayLike, n_atoms: int, *, seed: int | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Random unit-norm ReLU atoms whose knots pass through the data's bounding box.

    Returns ``(weights (P, d), biases (P,))``; features are
    ``relu_features(X, weights, biases)``.
    """
    from mtlreg._validation import check_inputs, check_seed

    x = check_inputs(X, "X")
    n_atoms = check_int(n_atoms, "n_atoms", low=1)
    rng = np.random.default_rng(check_seed(seed))
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
    return np.maximum(x @ w.T + b, 0.0)


def lam_max(Phi: ArrayLike | Tensor, Y: ArrayLike | Tensor) -> float:
    """Smallest ``lam`` for which ``V = 0`` is optimal: ``max_k ||Phi_k^T Y|| / N``."""
    phi, y = _as_tensors(Phi, Y, None, torch.float64)
    return float((phi.T @ y).norm(dim=1).max()) / phi.shape[0]


def group_lasso(
    Phi: ArrayLike | Tensor,
    Y: ArrayLike | Tensor,
    lam: float,
    *,
    tol: float = 1e-8,
    max_iter: int = 100_000,
    V0: ArrayLike | None = None,
    solver: str = "auto",
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
    ws_start: int = 100,
    verbose: bool = False,
) -> GroupLassoResult:
    """Solve the multi-output group lasso to a certified relative duality gap ``tol``.

    Parameters
    ----------
    Phi
        Features (N, P) (numpy array or torch tensor; kept on ``device``).
    Y
        Targets (N,) or (N, T).
    lam
        Penalty strength > 0 (sklearn's ``alpha``; see the module note on conventions).
    tol
        Stop when ``gap <= tol * objective``.
    max_iter
        Budget of inner proximal-gradient iterations (all working sets together).
    V0
        Warm start (P, T).
    solver
        ``"auto"`` (working-set accelerated proximal gradient) or ``"cvxpy"``
        (Clarabel interior point, a slow reference).
    device, dtype
        Where and in which precision to compute (default: ``Phi``'s device, float64).
    ws_start
        Size of the first working set.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 2)); Y = rng.standard_normal((50, 3))
    >>> W, b = relu_dictionary(X, 200, seed=0)
    >>> res = group_lasso(relu_features(X, W, b), Y, lam=0.05)
    >>> res.relative_gap <= 1e-8
    True
    """
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    tol = check_number(tol, "tol", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    ws_start = check_int(ws_start, "ws_start", low=1)
    solver = check_choice(solver, "solver", SOLVERS)
    phi, y = _as_tensors(Phi, Y, device, dtype)
    v0 = None
    if V0 is not None:
        v0_np = check_array(V0, "V0", ndim=(1, 2), min_rows=0)
        v0_np = v0_np.reshape(phi.shape[1], -1) if v0_np.size else v0_np
        if v0_np.shape != (phi.shape[1], y.shape[1]):
            raise ValueError(
                f"Parameter `V0` should have shape {(phi.shape[1], y.shape[1])}. "
                f"Found {v0_np.shape}."
            )
        v0 = torch.as_tensor(v0_np, dtype=dtype, device=phi.device)
    t0 = time.perf_counter()
    if solver == "cvxpy":
        v = _solve_cvxpy(phi, y, lam)
        n_iter, converged, info = 0, True, {"solver": "cvxpy"}
    else:
        v, n_iter, converged, info = _solve_working_set(
            phi, y, lam, tol, max_iter, v0, ws_start, verbose
        )
    seconds = time.perf_counter() - t0
    obj, fit, pen, dual = _certify(phi, y, v, lam)
    dual = max(dual, float(info.get("dual_objective", -np.inf)))
    return GroupLassoResult(
        V=v.detach().cpu().double().numpy(),
        objective=obj,
        fit=fit,
        penalty=pen,
        dual_objective=dual,
        lam=lam,
        n_iter=n_iter,
        converged=converged,
        seconds=seconds,
        info=info,
    )


def group_lasso_path(
    Phi: ArrayLike | Tensor,
    Y: ArrayLike | Tensor,
    lams: Sequence[float] | NDArray[np.float64],
    **options: Any,
) -> list[GroupLassoResult]:
    """Solve for each ``lam`` (largest first), warm-starting each from the previous one.

    Results are returned in the order of ``lams``.
    """
    values = [check_number(v, "lams", low=0.0, low_inclusive=False) for v in lams]
    if not values:
        raise ValueError("Parameter `lams` should contain at least one value. Found [].")
    device = options.pop("device", None)
    dtype = options.pop("dtype", torch.float64)
    phi, y = _as_tensors(Phi, Y, device, dtype)
    order = np.argsort(values)[::-1]
    out: dict[int, GroupLassoResult] = {}
    prev: NDArray[np.float64] | None = None
    for i in order:
        res = group_lasso(phi, y, values[i], V0=prev, **options)
        out[int(i)] = res
        prev = res.V
    return [out[i] for i in range(len(values))]


# --------------------------------------------------------------------- internals
def _as_tensors(
    Phi: ArrayLike | Tensor,
    Y: ArrayLike | Tensor,
    device: str | torch.device | None,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor]:
    if isinstance(Phi, Tensor):
        if not bool(torch.isfinite(Phi).all()):
            raise ValueError("Parameter `Phi` should contain only finite values (no NaN or inf).")
        if Phi.ndim != 2 or Phi.shape[0] < 1 or Phi.shape[1] < 1:
            raise ValueError(
                "Parameter `Phi` should be a non-empty (N, P) array. "
                f"Found shape {tuple(Phi.shape)}."
            )
        phi = Phi.to(device=device if device is not None else Phi.device, dtype=dtype)
    else:
        arr = check_array(Phi, "Phi", ndim=(2,))
        if arr.shape[1] < 1:
            raise ValueError(
                f"Parameter `Phi` should have at least one column. Found shape {arr.shape}."
            )
        phi = torch.as_tensor(arr, dtype=dtype, device=device)
    if isinstance(Y, Tensor):
        y_np = Y.detach().cpu().double().numpy()
    else:
        y_np = np.asarray(Y, dtype=np.float64) if not isinstance(Y, np.ndarray) else Y
    y_arr = check_array(y_np, "Y", ndim=(1, 2))
    if y_arr.ndim == 1:
        y_arr = y_arr[:, None]
    if y_arr.shape[0] != phi.shape[0]:
        raise ValueError(
            f"Parameter `Y` should have {phi.shape[0]} rows, one per row of `Phi`. "
            f"Found {y_arr.shape[0]}."
        )
    y = torch.as_tensor(y_arr, dtype=dtype, device=phi.device)
    return phi, y


def _group_shrink(z: Tensor, thresh: float) -> Tensor:
    norms = z.norm(dim=1, keepdim=True)
    return z * torch.clamp(1.0 - thresh / torch.clamp(norms, min=1e-300), min=0.0)


def _dual_value(yr: float, rr: float, cmax: float, alpha: float) -> float:
    """Best dual value along the ray t * R, t in [0, alpha / cmax] (N-scaled problem)."""
    if rr <= 0.0:
        return 0.0
    t = yr / rr
    if cmax > 0:
        t = min(t, alpha / cmax)
    t = max(t, 0.0)
    return t * yr - 0.5 * t * t * rr


def _certify(phi: Tensor, y: Tensor, v: Tensor, lam: float) -> tuple[float, float, float, float]:
    """(objective, fit, penalty, dual value) of ``v`` on the full problem (1/N scaling)."""
    n = phi.shape[0]
    alpha = n * lam
    rows = v.norm(dim=1)
    supp = rows > 0
    r = y - phi[:, supp] @ v[supp]
    c = phi.T @ r
    rr = float((r * r).sum())
    yr = float((y * r).sum())
    cmax = float(c.norm(dim=1).max())
    pen = float(rows.sum())
    dual = _dual_value(yr, rr, cmax, alpha)
    fit = 0.5 * rr / n
    return fit + lam * pen, fit, pen, dual / n


def _solve_working_set(
    phi: Tensor,
    y: Tensor,
    lam: float,
    tol: float,
    max_iter: int,
    v0: Tensor | None,
    ws_start: int,
    verbose: bool,
) -> tuple[Tensor, int, bool, dict[str, Any]]:
    n, p = phi.shape
    t = y.shape[1]
    alpha = n * lam
    col_norm = phi.norm(dim=0)
    yy = float((y * y).sum())
    v = torch.zeros(p, t, dtype=phi.dtype, device=phi.device) if v0 is None else v0.clone()
    ws = torch.zeros(0, dtype=torch.long, device=phi.device)
    gram = torch.zeros(0, 0, dtype=phi.dtype, device=phi.device)
    pty_ws = torch.zeros(0, t, dtype=phi.dtype, device=phi.device)
    n_iter = 0
    converged = False
    history: list[tuple[int, int, float]] = []
    ws_size = ws_start
    dual_best = 0.0
    while True:
        rows = v.norm(dim=1)
        supp = torch.nonzero(rows > 0).flatten()
        r = y - phi[:, supp] @ v[supp]
        c = phi.T @ r
        cn = c.norm(dim=1)
        rr = float((r * r).sum())
        yr = float((y * r).sum())
        primal = 0.5 * rr + alpha * float(rows.sum())
        dual_best = max(dual_best, _dual_value(yr, rr, float(cn.max()), alpha))
        gap = primal - dual_best
        history.append((n_iter, int(ws.numel()), gap / max(primal, 1e-300)))
        if verbose:
            print(
                f"[group_lasso] it={n_iter} ws={ws.numel()} supp={supp.numel()} "
                f"obj={primal / n:.10g} rel_gap={gap / max(primal, 1e-300):.2e}"
            )
        if gap <= tol * primal:
            converged = True
            break
        if n_iter >= max_iter:
            break
        # working set: the support plus the atoms closest to violating the dual
        # constraints, twice the support's size (celer's rule); doubled when it repeats
        scale = max(alpha, float(cn.max()))
        score = (1.0 - cn / scale) / torch.clamp(col_norm, min=1e-300)
        score[supp] = -np.inf
        target = min(p, max(ws_size, 2 * int(supp.numel())))
        new_ws = torch.sort(torch.topk(score, target, largest=False).indices).values
        if new_ws.numel() == ws.numel() and bool((new_ws == ws).all()):
            ws_size = min(p, 2 * target)
            target = ws_size
            new_ws = torch.sort(torch.topk(score, target, largest=False).indices).values
        ws = new_ws
        phi_ws = phi[:, ws]
        gram = phi_ws.T @ phi_ws
        pty_ws = phi_ws.T @ y
        inner_tol = max(0.3 * gap, 0.3 * tol * primal)
        inner = _bcd_gram if phi.device.type == "cpu" else _fista_gram
        v_ws, v_dual_ws, used = inner(gram, pty_ws, yy, alpha, v[ws], inner_tol, max_iter - n_iter)
        n_iter += used
        v = torch.zeros_like(v)
        v[ws] = v_ws
        # dual extrapolation: the subproblem's best dual point, checked on all atoms
        # (when it is the primal iterate itself, the next pass checks that point anyway
        # and a full product Phi^T R is saved)
        if torch.equal(v_dual_ws, v_ws):
            continue
        r_d = y - phi[:, ws] @ v_dual_ws
        dual_best = max(
            dual_best,
            _dual_value(
                float((y * r_d).sum()),
                float((r_d * r_d).sum()),
                float((phi.T @ r_d).norm(dim=1).max()),
                alpha,
            ),
        )
    info = {
        "solver": "working_set",
        "history": history,
        "ws_final": int(ws.numel()),
        "dual_objective": dual_best / n,
    }
    return v, n_iter, converged, info


def _lipschitz(gram: Tensor) -> float:
    m = gram.shape[0]
    if m <= 1500:
        return float(torch.linalg.eigvalsh(gram)[-1]) * (1 + 1e-10) + 1e-300
    x = torch.randn(m, 1, dtype=gram.dtype, device=gram.device, generator=None)
    for _ in range(60):
        x = gram @ x
        x = x / x.norm()
    return float((x.T @ gram @ x).item()) * 1.05 + 1e-300


def _fista_gram(
    gram: Tensor,
    b: Tensor,
    yy: float,
    alpha: float,
    v: Tensor,
    abs_tol: float,
    budget: int,
    check_every: int = 10,
    anderson: int = 5,
) -> tuple[Tensor, Tensor, int]:
    """Proximal gradient with Anderson acceleration on
    1/2 V'GV - <b,V> + alpha sum ||V_k|| (+ yy/2), stopped at duality gap <= abs_tol.

    Every ``anderson + 1`` steps the last iterates are extrapolated (Bertrand & Massias
    2021) and the extrapolation is kept when it lowers the objective; with a fixed
    support this behaves like a Krylov method, far faster than FISTA on the
    ill-conditioned Gram matrices of ReLU features.
    """
    lip = _lipschitz(gram)
    step = 1.0 / lip
    n_done = 0
    past: list[Tensor] = [v]
    dual_best = 0.0
    while n_done < budget:
        grad = gram @ v - b
        v = _group_shrink(v - step * grad, alpha * step)
        n_done += 1
        past.append(v)
        if len(past) == anderson + 2:
            v_acc = _anderson(past[1:])
            past = [v]
            if v_acc is not None:
                p_cur, d_cur = _gram_gap(gram, b, yy, alpha, v)
                p_acc, d_acc = _gram_gap(gram, b, yy, alpha, v_acc)
                dual_best = max(dual_best, d_cur, d_acc)
                if p_acc < p_cur:
                    v = v_acc
                    past = [v]
        if n_done % check_every == 0 or n_done >= budget:
            primal, dual = _gram_gap(gram, b, yy, alpha, v)
            dual_best = max(dual_best, dual)
            if primal - dual_best <= abs_tol:
                break
    return v, v, n_done


def _bcd_gram(
    gram: Tensor,
    b: Tensor,
    yy: float,
    alpha: float,
    v: Tensor,
    abs_tol: float,
    budget: int,
    anderson: int = 5,
    newton_max: int = 200_000,
) -> tuple[Tensor, Tensor, int]:
    """Cyclic block coordinate descent with Anderson acceleration (CPU, numpy).

    Minimises 1/2 V'GV - <b,V> + alpha sum ||V_k|| group by group, keeping Q = G V
    up to date; every ``anderson`` epochs the last iterates are extrapolated and the
    extrapolation is kept when it lowers the objective (Bertrand & Massias 2021).
    Once the support is stable, Newton steps on the support (where the objective is
    smooth) polish the solution to machine precision, which makes the duality gap
    collapse. ``budget`` counts epochs. Stops at duality gap <= abs_tol.
    """
    g = gram.detach().cpu().numpy()
    bn = b.detach().cpu().numpy()
    vn = v.detach().cpu().numpy().copy()
    diag = np.diag(g).copy()
    q = g @ vn
    past: list[NDArray[np.float64]] = [vn.copy()]
    dual_best = 0.0
    v_dual = vn.copy()
    last_supp: NDArray[np.bool_] | None = None
    n_done = 0
    while n_done < budget:
        # groups at zero that satisfy their optimality condition are skipped this epoch;
        # (G V)_k is computed from the nonzero rows only
        at_zero = ~vn.any(axis=1)
        viol = np.linalg.norm(q - bn, axis=1) > alpha
        nz = np.flatnonzero(~at_zero)
        for k in np.flatnonzero(~at_zero | viol):
            dk = diag[k]
            if dk <= 0.0:
                continue
            old = vn[k]
            qk = g[k, nz] @ vn[nz]
            z = old - (qk - bn[k]) / dk
            nz2 = float(z @ z)
            shrink = 1.0 - alpha / dk / np.sqrt(nz2) if nz2 > 0 else 0.0
            if shrink <= 0.0:
                if not old.any():
                    continue
                vn[k] = 0.0
            else:
                if not old.any():
                    nz = np.append(nz, k)
                vn[k] = shrink * z
        q = g[:, nz] @ vn[nz]
        n_done += 1
        past.append(vn.copy())
        if len(past) == anderson + 1:
            v_acc = _anderson([torch.as_tensor(a) for a in past])
            past = [vn.copy()]
            if v_acc is not None:
                va = v_acc.numpy()
                qa = g @ va
                d_acc = _np_dual(bn, yy, alpha, va, qa)
                if d_acc > dual_best:
                    dual_best, v_dual = d_acc, va.copy()
                if _np_primal(bn, yy, alpha, va, qa) < _np_primal(bn, yy, alpha, vn, q):
                    vn, q = va.copy(), qa
                    past = [vn.copy()]
        primal = _np_primal(bn, yy, alpha, vn, q)
        dual = _np_dual(bn, yy, alpha, vn, q)
        if dual > dual_best:
            dual_best, v_dual = dual, vn.copy()
        if primal - dual_best <= abs_tol:
            break
        supp = np.linalg.norm(vn, axis=1) > 0
        close = primal - dual_best <= 1e-2 * abs(primal)
        if (
            close
            and n_done % anderson == 0
            and supp.any()
            and supp.sum() * vn.shape[1] <= newton_max
        ):
            if last_supp is not None and np.array_equal(supp, last_supp):
                vn_new = _newton_support(g, bn, alpha, vn, supp)
                q_new = g @ vn_new
                if _np_primal(bn, yy, alpha, vn_new, q_new) < primal:
                    vn, q = vn_new, q_new
                    past = [vn.copy()]
                    primal = _np_primal(bn, yy, alpha, vn, q)
                    dual = _np_dual(bn, yy, alpha, vn, q)
                    if dual > dual_best:
                        dual_best, v_dual = dual, vn.copy()
                    if primal - dual_best <= abs_tol:
                        break
            last_supp = supp
    out = torch.as_tensor(vn, dtype=v.dtype, device=v.device)
    return out, torch.as_tensor(v_dual, dtype=v.dtype, device=v.device), n_done


def _newton_support(
    g: NDArray[np.float64],
    b: NDArray[np.float64],
    alpha: float,
    v: NDArray[np.float64],
    supp: NDArray[np.bool_],
    iters: int = 20,
) -> NDArray[np.float64]:
    """Damped Newton on 1/2 V'GV - <b,V> + alpha sum ||V_k|| restricted to a support
    whose groups stay nonzero (there the objective is smooth)."""
    idx = np.flatnonzero(supp)
    gs = g[np.ix_(idx, idx)]
    bs = b[idx]
    x = v[idx].copy()

    def value(z: NDArray[np.float64]) -> float:
        return float(
            0.5 * (z * (gs @ z)).sum() - (bs * z).sum() + alpha * np.linalg.norm(z, axis=1).sum()
        )

    f = value(x)
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
            m_inv = scipy.linalg.inv(gs + np.diag(c), check_finite=False)
            z0 = m_inv @ grad
            small = np.diag(1.0 / c) - m_inv * (u @ u.T)
            w = np.linalg.solve(small, (u * z0).sum(axis=1))
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
    out = v.copy()
    out[idx] = x
    return out


def _np_dual(
    b: NDArray[np.float64], yy: float, alpha: float, v: NDArray[np.float64], q: NDArray[np.float64]
) -> float:
    bv = float((b * v).sum())
    rr = max(yy - 2.0 * bv + float((v * q).sum()), 0.0)
    cmax = float(np.linalg.norm(b - q, axis=1).max())
    return _dual_value(yy - bv, rr, cmax, alpha)


def _np_primal(
    b: NDArray[np.float64], yy: float, alpha: float, v: NDArray[np.float64], q: NDArray[np.float64]
) -> float:
    rr = yy - 2.0 * float((b * v).sum()) + float((v * q).sum())
    return 0.5 * rr + alpha * float(np.linalg.norm(v, axis=1).sum())


def _gram_gap(gram: Tensor, b: Tensor, yy: float, alpha: float, v: Tensor) -> tuple[float, float]:
    gv = gram @ v
    bv = float((b * v).sum())
    rr = max(yy - 2.0 * bv + float((v * gv).sum()), 0.0)
    yr = yy - bv
    cmax = float((b - gv).norm(dim=1).max())
    primal = 0.5 * rr + alpha * float(v.norm(dim=1).sum())
    return primal, _dual_value(yr, rr, cmax, alpha)


def _anderson(past: list[Tensor]) -> Tensor | None:
    """Anderson extrapolation of the last iterates (Bertrand & Massias 2021)."""
    stack = torch.stack([p.flatten() for p in past])  # (K+1, m)
    u = stack[1:] - stack[:-1]  # (K, m)
    gram = u @ u.T
    ones = torch.ones(gram.shape[0], 1, dtype=gram.dtype, device=gram.device)
    try:
        z = torch.linalg.solve(
            gram
            + 1e-12
            * torch.trace(gram)
            * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device),
            ones,
        )
    except RuntimeError:
        return None
    if not bool(torch.isfinite(z).all()) or float(z.sum()) == 0.0:
        return None
    c = z / z.sum()
    return (c.T @ stack[1:]).reshape(past[0].shape)


def _solve_cvxpy(phi: Tensor, y: Tensor, lam: float) -> Tensor:
    import cvxpy as cp

    a = phi.detach().cpu().double().numpy()
    yv = y.detach().cpu().double().numpy()
    n, p = a.shape
    var = cp.Variable((p, yv.shape[1]))
    obj = cp.sum_squares(yv - a @ var) / (2 * n) + lam * cp.sum(cp.norm(var, 2, axis=1))
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    if var.value is None:
        raise RuntimeError(f"The cvxpy solver failed (status {prob.status!r}).")
    return torch.as_tensor(np.asarray(var.value), dtype=phi.dtype, device=phi.device)


__all__ = [
    "GroupLassoResult",
    "group_lasso",
    "group_lasso_path",
    "lam_max",
    "relu_dictionary",
    "relu_features",
]
