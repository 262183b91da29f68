"""Certified global optima of the multi-task weight-decay problem (docs/theory.md §4).

The network problem

    (1/N) sum_i ||y_i - f(x_i)||^2 + lam * sum_k ||w_k|| ||v_k||

(weight decay at balance; biases and the optional skip connection free) equals the
infinite group lasso over the atoms ``relu(X w + b)``, ``||w|| = 1``, with vector
coefficients ``V_k`` in R^T and penalty ``lam sum_k ||V_k||``. Its dual is

    max  <Z, Y> - (N/4) ||Z||_F^2   s.t.  Lambda(Z) <= lam,  Z orthogonal to the free part,

so any residual gives a lower bound (:func:`dual_lower_bound`) once the oracle
``Lambda`` (:mod:`mtlreg.convex._oracle`) is exact, i.e. for d <= 3.
:func:`solve_certified` is column generation on this pair: add the oracle's atom,
solve the finite group lasso over the active atoms by block coordinate descent, let
the active neurons slide (L-BFGS on their directions and coefficients with their
pivot data point fixed), prune, and stop when the certified relative gap is <= tol.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from mtlreg._result import GapFromBound, row_norms
from mtlreg._validation import check_inputs, check_int, check_number, check_targets
from mtlreg.convex._oracle import EXACT_DIMS, OracleResult, dual_norm
from mtlreg.model import ShallowReLUNet


@dataclass(frozen=True)
class CertifiedSolution(GapFromBound):
    """A shallow ReLU network with a certified lower bound on the global optimum.

    Satisfies :class:`mtlreg._result.SolverResult`: ``objective = fit + lam * penalty``
    with ``penalty = sum_k ||V_k||`` (``||w_k|| = 1``), ``lower_bound`` a dual value
    (rigorous when ``exact``; only a sampled estimate otherwise), ``gap = objective -
    lower_bound`` (never clipped). The network is ``f(x) = sum_k V_k relu(w_k . x +
    b_k) + A x + c`` with ``A = 0`` without skip.
    """

    objective: float
    fit: float
    penalty: float
    lower_bound: float
    lam: float
    skip: bool
    exact: bool
    n_iter: int
    converged: bool
    seconds: float
    weights: NDArray[np.float64] = field(repr=False)
    biases: NDArray[np.float64] = field(repr=False)
    V: NDArray[np.float64] = field(repr=False)
    skip_weight: NDArray[np.float64] = field(repr=False)
    skip_bias: NDArray[np.float64] = field(repr=False)
    predictions: NDArray[np.float64] = field(repr=False)
    dual_value: float = field(default=float("nan"), repr=False)
    history: tuple[tuple[float, float], ...] = field(default=(), repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_neurons(self) -> int:
        """Number of neurons of the solution."""
        return int(self.weights.shape[0])

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Evaluate the solution on inputs (M,) or (M, d); returns (M, T)."""
        x = check_inputs(X, "X")
        d = self.weights.shape[1]
        if x.shape[1] != d:
            raise ValueError(f"Parameter `X` should have {d} column(s). Found shape {x.shape}.")
        feats = np.maximum(x @ self.weights.T + self.biases, 0.0)
        return feats @ self.V + x @ self.skip_weight.T + self.skip_bias

    def to_network(
        self, width: int | None = None, *, dtype: torch.dtype = torch.float64
    ) -> ShallowReLUNet:
        """The balanced network (``||w_k|| = ||v_k||``), same predictions and VV penalty.

        Each neuron is balanced at ``sqrt(||w_k|| ||V_k||)``, computed from the two norms
        separately (never their product), so the network stays representable whenever
        the solution is, for inputs and labels of any magnitude. Without skip the free
        constant ``c`` becomes a neuron with ``w = 0`` (VV cost 0), a large bias ``B`` and
        the output weight ``c / B``; its weight decay ``||c||^2 / (2 B^2)`` is set to
        ``1e-16`` times ``objective / lam`` (the scale of the penalty, so it stays
        negligible however the inputs and labels are scaled). ``width`` (default: as many
        neurons as the solution needs) pads with zero neurons; it must be at least that
        number.
        """
        d = self.weights.shape[1]
        t = self.V.shape[1]
        vn = row_norms(self.V)
        wn = row_norms(self.weights)
        keep = vn > 0
        # w_k / ||w_k|| * sqrt(||w_k|| ||V_k||) = w_k * sqrt(||V_k||) / sqrt(||w_k||)
        a = np.sqrt(vn[keep]) / np.sqrt(np.where(wn[keep] > 0, wn[keep], vn[keep]))
        w = self.weights[keep] * a[:, None]
        b = self.biases[keep] * a
        v = self.V[keep] / a[:, None]
        const = self.skip_bias
        if not self.skip and np.any(const != 0.0):
            big = _constant_bias(float(row_norms(const[None, :])[0]), self.objective, self.lam)
            w = np.concatenate([w, np.zeros((1, d))])
            b = np.concatenate([b, [big]])
            v = np.concatenate([v, (const / big)[None, :]])
        if width is not None:
            width = check_int(width, "width", low=max(len(w), 1))
            pad = width - len(w)
            w = np.concatenate([w, np.zeros((pad, d))])
            b = np.concatenate([b, np.zeros(pad)])
            v = np.concatenate([v, np.zeros((pad, t))])
        if len(w) == 0:
            w, b, v = np.zeros((1, d)), np.zeros(1), np.zeros((1, t))
        net = ShallowReLUNet(d, t, len(w), skip=self.skip, dtype=dtype, init="zeros")
        with torch.no_grad():
            net.w.copy_(torch.as_tensor(w))
            net.b.copy_(torch.as_tensor(b))
            net.v.copy_(torch.as_tensor(v))
            if net.A is not None and net.c is not None:
                net.A.copy_(torch.as_tensor(self.skip_weight))
                net.c.copy_(torch.as_tensor(self.skip_bias))
        return net


#: Weight decay of the constant neuron of :meth:`CertifiedSolution.to_network` (without
#: skip), relative to ``objective / lam``: far below the rounding of the objective.
_CONSTANT_WD = 1e-16


def _constant_bias(norm: float, objective: float, lam: float) -> float:
    """Bias ``B`` of a neuron ``relu(B) c / B`` whose output ``c`` has norm ``norm > 0``.

    Its weight decay ``norm^2 / (2 B^2)`` is ``_CONSTANT_WD * objective / lam``, solved
    in logarithms (``objective / lam`` may lie far outside float64). A zero or
    non-finite objective keeps ``B = 1e6 norm``; ``B`` stays within [1e-300, 1e300].
    """
    if objective > 0.0 and math.isfinite(objective):
        log_v = 0.5 * (math.log(2.0 * _CONSTANT_WD) + math.log(objective) - math.log(lam))
        log_b = math.log(norm) - log_v
    else:
        log_b = math.log(norm) + math.log(1e6)
    return math.exp(min(max(log_b, math.log(1e-300)), math.log(1e300)))


# ----------------------------------------------------------------------------- duality
class _Free:
    """Projection onto the complement of the free part (constants, or [X, 1] with skip)."""

    def __init__(self, x: NDArray[np.float64], skip: bool) -> None:
        n = x.shape[0]
        basis = np.column_stack([x, np.ones(n)]) if skip else np.ones((n, 1))
        q, r = np.linalg.qr(basis)
        rank = int((np.abs(np.diag(r)) > 1e-12 * max(np.abs(r).max(), 1e-300)).sum())
        self.q = q[:, :rank] if rank < q.shape[1] else q
        self.basis = basis

    def __call__(self, a: NDArray[np.float64]) -> NDArray[np.float64]:
        return a - self.q @ (self.q.T @ a)

    def affine(self, a: NDArray[np.float64]) -> NDArray[np.float64]:
        """Coefficients (p, T) of the least-squares free part of ``a`` in ``basis``."""
        coef = np.asarray(np.linalg.lstsq(self.basis, a, rcond=None)[0], dtype=np.float64)
        return coef


def _bound_from_residual(
    free: _Free,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    resid: NDArray[np.float64],
    lam: float,
    rng: np.random.Generator | None,
) -> tuple[float, OracleResult]:
    """Dual value of the best multiple of ``(2/N) P resid`` that is feasible.

    ``<Z, Y>`` is taken as ``<Z, P Y>`` (equal for the exactly projected ``Z`` that the
    dual requires): with ``Y`` in the free part up to rounding, ``<Z, Y>`` of the rounded
    ``Z`` would be O(eps |Y|) against ``||Z||^2`` = O(eps^2) and give a spurious bound.
    """
    n = y.shape[0]
    z0 = (2.0 / n) * free(resid)
    orc = dual_norm(x, z0, rng=rng)
    zy = float((z0 * free(y)).sum())
    zz = float((z0 * z0).sum())
    if zz == 0.0:
        return 0.0, orc
    s = max(zy / (0.5 * n * zz), 0.0)
    if orc.value > 0.0:
        s = min(s, lam / orc.value)
    return s * zy - 0.25 * n * s * s * zz, orc


def dual_lower_bound(
    X: ArrayLike,
    Y: ArrayLike,
    predictions: ArrayLike,
    lam: float,
    *,
    skip: bool = False,
    seed: int | np.random.Generator | None = None,
) -> tuple[float, bool]:
    """A lower bound on the global optimum from any fitted values (docs/theory.md §4).

    The optimum of ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` (penalty = weight
    decay at balance, biases and skip free) is at least ``<Z, Y> - (N/4)||Z||_F^2`` for
    every ``Z`` orthogonal to the free part with ``Lambda(Z) <= lam``. We take ``Z`` the
    best feasible multiple of ``(2/N) P (Y - predictions)``. Returns ``(bound, exact)``:
    ``exact`` is True when Lambda was computed exactly (d <= 3); otherwise the bound is
    only *sampled* (not certified).
    """
    x = check_inputs(X, "X")
    y = _targets(Y, x.shape[0])
    f = np.asarray(predictions, dtype=np.float64).reshape(y.shape)
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    bound, orc = _bound_from_residual(_Free(x, skip), x, y, y - f, lam, _rng(seed))
    return bound, orc.exact


# ----------------------------------------------------------------------- finite problem
#: largest number of coefficients (atoms x outputs) handed to the interior point solver
#: when the smoothed Newton solve fails
_CONIC_SIZE = 2500
#: L-BFGS iterations of one sliding step
_SLIDE_ITER = 50


def _features(
    x: NDArray[np.float64], piv: NDArray[np.intp], dirs: NDArray[np.float64]
) -> NDArray[np.float64]:
    """relu(w_k . (x_j - x_{p_k})), shape (N, K)."""
    return np.maximum(x @ dirs.T - (x[piv] * dirs).sum(axis=1)[None, :], 0.0)


def _group_lasso_bcd(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    v: NDArray[np.float64],
    lam: float,
    *,
    sweeps: int,
    tol: float,
) -> NDArray[np.float64]:
    """Block coordinate descent on (1/N)||b - a v||^2 + lam sum_k ||v_k|| (exact block steps)."""
    n = a.shape[0]
    sq = (a * a).sum(axis=0)
    resid = b - a @ v
    thr = 0.5 * lam * n
    for _ in range(sweeps):
        change = 0.0
        for k in range(a.shape[1]):
            if sq[k] <= 0.0:
                v[k] = 0.0
                continue
            c = a[:, k] @ resid + sq[k] * v[k]
            cn = float(np.sqrt(c @ c))
            new = (max(0.0, 1.0 - thr / cn) / sq[k]) * c if cn > 0 else 0.0 * c
            delta = new - v[k]
            step = float(np.sqrt(delta @ delta))
            if step > 0.0:
                resid -= a[:, k, None] * delta[None, :]
                change = max(change, step * np.sqrt(sq[k]))
                v[k] = new
        if change <= tol:
            break
    return v


def _gl_value(
    a: NDArray[np.float64], b: NDArray[np.float64], v: NDArray[np.float64], lam: float
) -> float:
    r = b - a @ v
    return float((r * r).sum()) / a.shape[0] + lam * float(np.linalg.norm(v, axis=1).sum())


def _group_lasso_newton(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    v: NDArray[np.float64],
    lam: float,
    max_steps: int = 50,
) -> NDArray[np.float64]:
    """Damped Newton on the blocks of ``v`` (all nonzero), where the objective is smooth.

    Stops (returning the last iterate) when a block would reach zero: block coordinate
    descent then decides whether it leaves the support.
    """
    n = a.shape[0]
    k = v.shape[0]
    if k == 0:
        return v
    gram = (2.0 / n) * (a.T @ a)
    atb = (2.0 / n) * (a.T @ b)
    current = _gl_value(a, b, v, lam)
    for _ in range(max_steps):
        norms = np.linalg.norm(v, axis=1)
        if norms.min() <= 0.0:
            return v
        u = v / norms[:, None]
        grad = gram @ v - atb + lam * u
        delta = _newton_step(gram, u, lam / norms, grad, a)
        if delta is None:
            return v
        decrement = float((grad * delta).sum())
        if not np.isfinite(decrement) or decrement <= 1e-16 * max(abs(current), 1e-300):
            return v
        size = 1.0
        while size >= 1e-8:
            cand = v - size * delta
            new = _gl_value(a, b, cand, lam)
            if new <= current - 0.25 * size * decrement:
                break
            size *= 0.5
        else:
            return v
        v, current = cand, new
    return v


def _group_lasso_conic(
    a: NDArray[np.float64], b: NDArray[np.float64], lam: float
) -> NDArray[np.float64] | None:
    """The finite group lasso as a second-order cone program, solved by Clarabel.

    Variables ``(V, s, r)``: minimise ``(1/N)||r||^2 + lam sum_k s_k`` subject to
    ``r + A V = b`` and ``||V_k|| <= s_k``. Returns ``None`` if the solver fails.
    """
    import clarabel

    n, k = a.shape
    t = b.shape[1]
    nv, nr = k * t, n * t
    nx = nv + k + nr
    p_mat = sp.csc_matrix(
        (np.full(nr, 2.0 / n), (np.arange(nv + k, nx), np.arange(nv + k, nx))), shape=(nx, nx)
    )
    q = np.concatenate([np.zeros(nv), np.full(k, lam), np.zeros(nr)])
    # r + (A kron I) vec(V) = vec(b), row-major vec
    eq = sp.hstack(
        [sp.kron(sp.csr_matrix(a), sp.identity(t)), sp.csr_matrix((nr, k)), sp.identity(nr)]
    )
    rows, cols = [], []
    for j in range(k):
        rows.append(j * (t + 1))
        cols.append(nv + j)
        rows.extend(range(j * (t + 1) + 1, (j + 1) * (t + 1)))
        cols.extend(range(j * t, (j + 1) * t))
    soc = sp.csc_matrix(
        (-np.ones(len(rows)), (np.array(rows), np.array(cols))), shape=(k * (t + 1), nx)
    )
    a_mat = sp.csc_matrix(sp.vstack([eq, soc]))
    rhs = np.concatenate([b.ravel(), np.zeros(k * (t + 1))])
    cones = [clarabel.ZeroConeT(nr)] + [clarabel.SecondOrderConeT(t + 1)] * k
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = 1e-12
    settings.tol_gap_rel = 1e-12
    settings.tol_feas = 1e-12
    settings.max_iter = 200
    settings.max_threads = 1
    sol = clarabel.DefaultSolver(p_mat, q, a_mat, rhs, cones, settings).solve()
    if "Solved" not in str(sol.status):
        return None
    return np.asarray(sol.x)[:nv].reshape(k, t)


def _newton_step(
    gram: NDArray[np.float64],
    u: NDArray[np.float64],
    c: NDArray[np.float64],
    grad: NDArray[np.float64],
    a: NDArray[np.float64] | None = None,
) -> NDArray[np.float64] | None:
    """Solve ``H delta = grad`` with ``H = gram kron I + blockdiag(c_k (I - u_k u_k^T))``.

    Dense for small systems. Otherwise, given the features ``a`` (N, K) with ``gram =
    (2/N) a^T a``, exactly through the low rank of ``gram`` (:func:`_newton_lowrank`),
    which costs O(K^3 + K^2 (N + T) + K N T) instead of O((K T)^3); conjugate gradients
    with the exact block-diagonal preconditioner if that solve is singular."""
    k, t = u.shape
    if k * t <= 400:
        hess = np.kron(gram, np.eye(t))
        for j in range(k):
            sl = slice(j * t, (j + 1) * t)
            hess[sl, sl] += c[j] * (np.eye(t) - np.outer(u[j], u[j]))
        try:
            return np.asarray(np.linalg.solve(hess, grad.ravel()), dtype=np.float64).reshape(k, t)
        except np.linalg.LinAlgError:
            return None
    if a is not None:
        step = _newton_lowrank(a, u, c, grad)
        if step is not None:
            return step
    diag = np.diag(gram).copy()
    inv_a = 1.0 / (diag + c)
    ratio = c / np.maximum(diag, 1e-300)

    def matvec(z: NDArray[np.float64]) -> NDArray[np.float64]:
        m = z.reshape(k, t)
        out = gram @ m + c[:, None] * (m - u * (u * m).sum(axis=1, keepdims=True))
        return np.asarray(out.ravel(), dtype=np.float64)

    def precond(z: NDArray[np.float64]) -> NDArray[np.float64]:
        m = z.reshape(k, t)
        out = inv_a[:, None] * (m + ratio[:, None] * u * (u * m).sum(axis=1, keepdims=True))
        return np.asarray(out.ravel(), dtype=np.float64)

    op = spla.LinearOperator((k * t, k * t), matvec=matvec, dtype=np.float64)
    pre = spla.LinearOperator((k * t, k * t), matvec=precond, dtype=np.float64)
    sol, _ = spla.cg(op, grad.ravel(), rtol=1e-10, atol=0.0, maxiter=60, M=pre)
    if not np.all(np.isfinite(sol)):
        return None
    return np.asarray(sol, dtype=np.float64).reshape(k, t)


def _newton_lowrank(
    a: NDArray[np.float64],
    u: NDArray[np.float64],
    c: NDArray[np.float64],
    grad: NDArray[np.float64],
    extra: NDArray[np.float64] | None = None,
    *,
    shift: bool = False,
) -> NDArray[np.float64] | None:
    """The Newton system of :func:`_newton_step` solved exactly by Woodbury.

    With ``s_k = 1 / c_k``, ``h = sqrt(2/N)`` and ``c_k (I - u_k u_k^T) = c_k I - c_k u_k
    u_k^T``, the Hessian is ``diag(c) kron I + W S W^T``, ``W = [h (a kron I)^T, U]``
    (``U = blockdiag(u_k)``) and ``S = diag(I, -diag(c))``. Its capacitance matrix is the
    saddle-point system ``[[M, Q], [Q^T, 0]]`` with ``M = I + h^2 a diag(s) a^T`` (N x N,
    acting on N x T matrices from the left) and ``Q z = h sum_k s_k z_k a_k u_k^T``; the
    Schur complement ``Q^T M^-1 Q = h^2 (s s^T) * (a^T M^-1 a) * (u u^T)`` (elementwise)
    is K x K. ``extra`` (K,) >= 0 is added to its diagonal: the Hessian of the smoothed
    penalty (:func:`_group_lasso_smooth`), whose blocks are ``c_k (I - alpha_k u_k
    u_k^T)``, has ``extra_k = s_k (1 - alpha_k) / alpha_k`` (``alpha_k = 1``: the exact
    norm; a block with ``u_k = 0`` decouples). Returns ``None`` when that system is
    singular to working precision, unless ``shift``: rounding can leave the PSD Schur
    complement (a Hadamard product of Gram matrices) slightly indefinite when it is
    nearly singular, and a diagonal shift of 1e-13 of its largest entry (up to 1e-7)
    then gives the Newton step of a slightly larger Hessian (smaller ``alpha_k``), still a
    descent direction.
    """
    n = a.shape[0]
    s = 1.0 / c
    h2 = 2.0 / n
    sg = s[:, None] * grad  # Lambda^-1 grad, (K, T)
    p = a @ sg  # h^-1 B Lambda^-1 grad, (N, T)
    q = s * (u * grad).sum(axis=1)  # U^T Lambda^-1 grad, (K,)
    m1 = np.eye(n) + h2 * (a * s[None, :]) @ a.T
    try:
        chol = np.linalg.cholesky(m1)
        mi_a = _cho_solve(chol, a)  # M^-1 a, (N, K)
        mi_p = _cho_solve(chol, p)
    except np.linalg.LinAlgError:
        return None
    schur = h2 * np.outer(s, s) * (a.T @ mi_a) * (u @ u.T)
    if extra is not None:
        schur[np.diag_indices_from(schur)] += extra
    # right-hand side Q^T M^-1 (h p) - q, with (Q^T y)_k = h s_k a_k^T y u_k
    rhs = h2 * s * ((mi_a.T @ p) * u).sum(axis=1) - q
    jitter = 0.0
    for _ in range(4 if shift else 1):
        try:
            lo = np.linalg.cholesky(schur + jitter * np.eye(len(s)) if jitter else schur)
            break
        except np.linalg.LinAlgError:
            jitter = max(100.0 * jitter, 1e-13 * max(float(np.diag(schur).max()), 1e-300))
    else:
        return None
    z = _cho_solve(lo, rhs[:, None])[:, 0]
    # y = M^-1 (h p - Q z), and delta = Lambda^-1 (grad - h a^T y - U z)
    hy = h2 * (mi_p - mi_a @ ((s * z)[:, None] * u))
    delta = s[:, None] * (grad - a.T @ hy - z[:, None] * u)
    if not np.all(np.isfinite(delta)):
        return None
    return np.asarray(delta, dtype=np.float64)


def _group_lasso_smooth(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    v: NDArray[np.float64],
    lam: float,
    *,
    shrink: float = 0.1,
    rel_eps: float = 1e-10,
    max_steps: int = 40,
    shift: bool = False,
) -> NDArray[np.float64] | None:
    """The finite group lasso through its smoothing.

    Damped Newton on ``(1/N)||b - a v||^2 + lam sum_k sqrt(||v_k||^2 + eps^2)``, which
    is smooth and exceeds the group lasso by at most ``lam K eps``, with ``eps`` divided
    by 10 from the size of the coefficients down to ``rel_eps`` times it; each Newton
    system is solved exactly by :func:`_newton_lowrank` (O(K^3 + K^2 (N + T))). The
    blocks that stay at the smoothing's scale are returned as zero; the caller polishes
    the support (Newton on the nonzero blocks, block coordinate descent for the rest).
    Returns ``None`` if a Newton system is singular to working precision (unless
    ``shift``, see :func:`_newton_lowrank`).

    Measured on a finite problem of random d = 3 column generation (N = 30, r = 29
    outputs, K = 202 atoms, lam 1.1e-5): the same optimum as Clarabel to 2e-16 relative
    and the same 116 nonzero blocks, in 0.11 s instead of 16 s.
    """
    n, k = a.shape
    if k == 0:
        return v
    h2 = 2.0 / n
    gram = h2 * (a.T @ a)
    atb = h2 * (a.T @ b)
    v = v.copy()
    top = float(np.linalg.norm(v, axis=1).max(initial=0.0))
    if top <= 0.0:  # one block coordinate sweep for the scale of the coefficients
        v = _group_lasso_bcd(a, b, v, lam, sweeps=1, tol=0.0)
        top = float(np.linalg.norm(v, axis=1).max(initial=0.0))
        if top <= 0.0:
            return v
    eps = top
    final = rel_eps * top

    def value(w: NDArray[np.float64], e: float) -> float:
        r = b - a @ w
        rho = np.sqrt((w * w).sum(axis=1) + e * e)
        return float((r * r).sum()) / n + lam * float(rho.sum())

    while True:
        current = value(v, eps)
        for _ in range(max_steps):
            sq = (v * v).sum(axis=1)
            rho = np.sqrt(sq + eps * eps)
            c = lam / rho
            grad = gram @ v - atb + c[:, None] * v
            norms = np.sqrt(sq)
            # a block far below eps has a negligible rank-one term: it decouples
            on = norms > 1e-6 * eps
            u = np.zeros_like(v)
            u[on] = v[on] / norms[on, None]
            extra = np.ones(k)
            extra[on] = (1.0 / c[on]) * (eps * eps) / sq[on]  # s (1 - alpha) / alpha
            delta = _newton_lowrank(a, u, c, grad, extra, shift=shift)
            if delta is None:
                return None
            decrement = float((grad * delta).sum())
            if not np.isfinite(decrement) or decrement <= 1e-15 * max(abs(current), 1e-300):
                break
            size = 1.0
            while size >= 1e-10:
                cand = v - size * delta
                new = value(cand, eps)
                if new <= current - 0.25 * size * decrement:
                    break
                size *= 0.5
            else:
                break
            v, current = cand, new
            if decrement <= 1e-13 * max(abs(current), 1e-300):
                break
        if eps <= final:
            break
        eps = max(eps * shrink, final)
    norms = np.linalg.norm(v, axis=1)
    if not np.all(np.isfinite(norms)):
        return None
    v[norms <= 1e3 * eps] = 0.0
    return v


def _cho_solve(low: NDArray[np.float64], rhs: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(L L^T)^-1 rhs`` from the lower Cholesky factor ``L``."""
    out: NDArray[np.float64] = scipy.linalg.cho_solve((low, True), rhs, check_finite=False)
    return out


def _group_lasso(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    v: NDArray[np.float64],
    lam: float,
    tol: float,
    *,
    conic: bool = True,
) -> NDArray[np.float64]:
    """The finite group lasso over fixed atoms: smoothing and Newton
    (:func:`_group_lasso_smooth`; if a Newton system is singular, the interior point
    solver Clarabel when atoms x outputs <= ``_CONIC_SIZE``, else the same with shifted
    Newton systems), its negligible blocks set to zero, then Newton
    and block coordinate descent to polish. Falls back to block coordinate descent alone
    if both fail."""
    ipm = None
    if conic:
        ipm = _group_lasso_smooth(a, b, v, lam)
        if ipm is None and a.shape[1] * b.shape[1] <= _CONIC_SIZE:
            ipm = _group_lasso_conic(a, b, lam)
        elif ipm is None:
            ipm = _group_lasso_smooth(a, b, v, lam, shift=True)
    if ipm is not None:
        norms = np.linalg.norm(ipm, axis=1)
        ipm[norms <= 1e-9 * max(float(norms.max(initial=0.0)), 1e-300)] = 0.0
        if _gl_value(a, b, ipm, lam) <= _gl_value(a, b, v, lam):
            v = ipm
    v = _group_lasso_bcd(a, b, v, lam, sweeps=30, tol=tol)
    for _ in range(5):
        on = np.linalg.norm(v, axis=1) > 0
        v[on] = _group_lasso_newton(a[:, on], b, v[on], lam)
        before = on.copy()
        v = _group_lasso_bcd(a, b, v, lam, sweeps=3, tol=tol)
        if np.array_equal(np.linalg.norm(v, axis=1) > 0, before):
            break
    return v


def _slide(
    x: NDArray[np.float64],
    b: NDArray[np.float64],
    piv: NDArray[np.intp],
    dirs: NDArray[np.float64],
    v: NDArray[np.float64],
    lam: float,
    free: _Free,
    maxiter: int,
    mov: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """L-BFGS on the directions and coefficients of neurons with fixed pivots.

    Only the directions of the neurons in ``mov`` (default: all) move; every
    coefficient does.
    """
    n, d = x.shape
    k, t = v.shape
    idx = np.arange(k) if mov is None else np.flatnonzero(mov)
    m = len(idx)
    diff = x[None, :, :] - x[piv][:, None, :]  # (K, N, d)

    def unpack(theta: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        w = dirs.copy()
        w[idx] = theta[: m * d].reshape(m, d)
        return w, theta[m * d :].reshape(k, t)

    def fun(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        w, vv = unpack(theta)
        wn = np.maximum(np.linalg.norm(w, axis=1), 1e-300)
        u = w / wn[:, None]
        pre = np.einsum("knd,kd->nk", diff, u)
        phi = np.maximum(pre, 0.0)
        r = free(b - phi @ vv)
        vn = np.maximum(np.linalg.norm(vv, axis=1), 1e-300)
        val = float((r * r).sum()) / n + lam * float(vn.sum())
        gv = -(2.0 / n) * (phi.T @ r) + lam * vv / vn[:, None]
        gphi = -(2.0 / n) * (r @ vv[idx].T) * (pre[:, idx] > 0)  # (N, m)
        gu = np.einsum("nk,knd->kd", gphi, diff[idx])
        gu -= (gu * u[idx]).sum(axis=1, keepdims=True) * u[idx]
        gw = gu / wn[idx, None]
        return val, np.concatenate([gw.ravel(), gv.ravel()])

    theta0 = np.concatenate([dirs[idx].ravel(), v.ravel()])
    res = scipy.optimize.minimize(
        fun,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": maxiter, "ftol": 1e-16, "gtol": 1e-13, "maxcor": 30},
    )
    w, vv = unpack(res.x)
    w = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-300)
    return w, vv.copy()


def _targets(Y: ArrayLike, n: int) -> NDArray[np.float64]:
    return check_targets(Y, n, "Y")


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"Parameter `seed` should be an int or a numpy Generator. Found {seed!r}.")
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------ solver
def solve_certified(
    X: ArrayLike,
    Y: ArrayLike,
    lam: float,
    *,
    skip: bool = False,
    tol: float = 1e-6,
    max_iter: int = 200,
    max_seconds: float = 60.0,
    task_reduction: str = "sum",
    require_exact: bool = False,
    seed: int | np.random.Generator | None = None,
) -> CertifiedSolution:
    """Certified global minimiser of the multi-task weight-decay problem.

    Minimises ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty`` over shallow ReLU networks
    of any width, ``penalty = sum_k ||w_k|| ||v_k||`` (weight decay at balance; biases and
    the optional skip connection free), by column generation with the exact dual oracle
    (docs/theory.md §4). See :func:`mtlreg.convex.solve` (``method="cg"``) for the
    parameters.
    """
    start = time.perf_counter()
    x = check_inputs(X, "X")
    y = _targets(Y, x.shape[0])
    lam = check_number(lam, "lam", low=0.0, low_inclusive=False)
    tol = check_number(tol, "tol", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    max_seconds = check_number(max_seconds, "max_seconds", low=0.0, low_inclusive=False)
    if not isinstance(skip, bool):
        raise TypeError(f"Parameter `skip` should be a bool. Found {skip!r}.")
    if task_reduction not in ("sum", "mean"):
        raise ValueError(
            f"Parameter `task_reduction` should be 'sum' or 'mean'. Found {task_reduction!r}."
        )
    n, d = x.shape
    exact = d in EXACT_DIMS
    if require_exact and not exact:
        raise ValueError(
            f"Parameter `X` should have at most {max(EXACT_DIMS)} columns for an exact "
            f"certificate (the dual oracle is exact only for d in {EXACT_DIMS}). Found "
            f"d={d}; pass "
            "require_exact=False for a sampled, not certified, bound."
        )
    rng = _rng(seed)
    t = y.shape[1]
    # the "mean" convention (fit / (N T)) is the "sum" problem at lam * T, divided by T
    div = float(t) if task_reduction == "mean" else 1.0
    # Solve at unit input spread and label size, an exact symmetry (docs/certified.md):
    # with x' = (x - m) / sx and y' = y / sy the problem at lam' = lam / (sx sy) has the
    # optimum OPT / sy^2, and a neuron relu(u . (x' - x'_p)) v' is relu(u . (x - x_p))
    # (sy / sx) v'. Inputs or labels of any magnitude then neither overflow nor underflow.
    mean_x = x.mean(axis=0)
    sx = float(np.abs(x - mean_x).max(initial=0.0)) or 1.0
    sy = float(np.abs(y).max(initial=0.0)) or 1.0
    xu = (x - mean_x) / sx
    yu = y / sy
    lam_s = lam * div / (sx * sy)
    free = _Free(xu, skip)
    # The optimal output weights lie in the row space of P Y (projecting them onto it
    # lowers both terms), so the problem is solved in r = rank(P Y) <= N coordinates.
    bfull = free(yu)
    _, sv, vt = np.linalg.svd(bfull, full_matrices=False)
    rank = int((sv > 1e-14 * max(float(np.linalg.norm(yu)), 1e-300)).sum())
    basis = vt[:rank].T  # (T, r)
    b = bfull @ basis  # (N, r)
    scale = float(np.sqrt((b * b).sum() / n)) or 1.0
    with threadpool_limits(1):
        atoms, vr, best_lb, history, converged, it = _column_generation(
            xu, b, lam_s, free, tol, max_iter, max_seconds, start, rng, scale
        )
        piv, dirs = atoms.piv, atoms.dirs
        v = vr @ basis.T
        core = _features(xu, piv, dirs) @ v
        # the bound once more, in all T coordinates (the same value up to rounding)
        lb_full, _ = _bound_from_residual(free, xu, yu, yu - core, lam_s, rng)
    best_lb = max(best_lb, lb_full)
    sq = sy * sy
    history = [(o * sq / div, lb * sq / div) for o, lb in history]
    coef = free.affine(yu - core)  # the free part at unit scale: A' x' + c'
    if skip:
        a_unit, c_unit = coef[:d].T, coef[d]
    else:
        a_unit, c_unit = np.zeros((t, d)), coef[0]
    pred_unit = core + xu @ a_unit.T + c_unit
    skip_w = (sy / sx) * a_unit
    skip_b = sy * (c_unit - a_unit @ mean_x / sx)
    pred = sy * pred_unit
    fit = sq * float(((yu - pred_unit) ** 2).sum()) / (n * div)
    penalty = (sy / sx) * float(np.linalg.norm(v, axis=1).sum())
    v = (sy / sx) * v
    objective = fit + lam * penalty
    lower = sq * float(best_lb) / div
    # The certificate holds at unit scale; it is claimed for the mapped-back solution
    # only if that is representable in float64 (output weights and skip slopes scale by
    # sy / sx, which may under- or overflow for extreme input and label scales).
    converged = converged and _maps_back(objective, lower, penalty, v, skip_w, a_unit)
    return CertifiedSolution(
        objective=objective,
        fit=fit,
        penalty=penalty,
        lower_bound=lower,
        lam=lam,
        skip=skip,
        exact=exact,
        n_iter=it,
        converged=converged,
        seconds=time.perf_counter() - start,
        weights=dirs.copy(),
        biases=-(x[piv] * dirs).sum(axis=1),
        V=v.copy(),
        skip_weight=np.ascontiguousarray(skip_w),
        skip_bias=np.ascontiguousarray(skip_b),
        predictions=pred,
        history=tuple(history),
        info={"task_reduction": task_reduction, "oracle": "exact" if exact else "sampled"},
    )


def _maps_back(
    objective: float,
    lower: float,
    penalty: float,
    v: NDArray[np.float64],
    skip_w: NDArray[np.float64],
    a_unit: NDArray[np.float64],
) -> bool:
    """Whether the solution mapped back from unit scale is representable in float64.

    The output weights must reproduce the penalty (none lost to underflow or overflow),
    nonzero skip slopes must stay nonzero and the objective must not fall below the
    bound by more than rounding (a penalty that underflowed to zero would).
    """
    if not all(np.isfinite([objective, lower, penalty])) or not np.all(np.isfinite(v)):
        return False
    if not np.all(np.isfinite(skip_w)):
        return False
    if np.any(a_unit != 0.0) and not np.any(np.abs(skip_w) >= np.finfo(np.float64).tiny):
        return False
    if v.size and penalty > 0.0:
        if abs(float(row_norms(v).sum()) - penalty) > 1e-9 * penalty:
            return False
    elif v.size and np.any(v != 0.0):
        return False
    return objective - lower >= -1e-12 * abs(objective)


def _slide_2d(
    x: NDArray[np.float64],
    b: NDArray[np.float64],
    atoms: _Atoms,
    v: NDArray[np.float64],
    lam: float,
    free: _Free,
    maxiter: int,
) -> NDArray[np.float64]:
    """L-BFGS-B on the angles (each kept inside its arc) and the coefficients.

    Inside its arc a neuron's activation pattern is fixed, so its features are linear in
    its direction and the objective is smooth there; neurons at an arc end (through two
    data points) stay fixed. Updates ``atoms.theta`` in place and returns the new ``v``.
    """
    n = x.shape[0]
    k, t = v.shape
    mov = np.flatnonzero(atoms.slide)
    m = len(mov)
    diff = x[None, :, :] - x[atoms.piv][:, None, :]  # (K, N, 2)
    mask = atoms.masks.T.astype(np.float64)  # (N, K)

    def unpack(z: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        th = atoms.theta.copy()
        th[mov] = z[:m]
        return th, z[m:].reshape(k, t)

    def fun(z: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        th, vv = unpack(z)
        w = np.column_stack([np.cos(th), np.sin(th)])
        dw = np.column_stack([-np.sin(th), np.cos(th)])
        phi = mask * np.einsum("knd,kd->nk", diff, w)
        r = free(b - phi @ vv)
        vn = np.maximum(np.linalg.norm(vv, axis=1), 1e-300)
        val = float((r * r).sum()) / n + lam * float(vn.sum())
        gv = -(2.0 / n) * (phi.T @ r) + lam * vv / vn[:, None]
        gphi = -(2.0 / n) * (r @ vv.T)  # (N, K)
        dphi = mask * np.einsum("knd,kd->nk", diff, dw)
        gth = (gphi * dphi).sum(axis=0)
        return val, np.concatenate([gth[mov], gv.ravel()])

    z0 = np.concatenate([atoms.theta[mov], v.ravel()])
    bounds = [(atoms.lo[j], atoms.hi[j]) for j in mov] + [(None, None)] * (k * t)
    res = scipy.optimize.minimize(
        fun,
        z0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": maxiter, "ftol": 1e-16, "gtol": 1e-14, "maxcor": 30},
    )
    th, vv = unpack(res.x)
    atoms.theta[:] = th
    span = atoms.hi - atoms.lo
    at_end = (th - atoms.lo <= 1e-11 * span) | (atoms.hi - th <= 1e-11 * span)
    atoms.slide &= ~at_end
    return vv.copy()


@dataclass
class _Atoms:
    """Active atoms: pivot data point, direction, and (d = 2) angle, arc, pattern."""

    piv: NDArray[np.intp]
    dirs: NDArray[np.float64]
    theta: NDArray[np.float64]
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]
    slide: NDArray[np.bool_]
    masks: NDArray[np.bool_]

    @classmethod
    def empty(cls, n: int, d: int) -> _Atoms:
        z = np.zeros(0)
        return cls(
            np.zeros(0, dtype=np.intp),
            np.zeros((0, d)),
            z,
            z,
            z,
            z.astype(bool),
            np.zeros((0, n), dtype=bool),
        )

    def take(self, keep: NDArray[np.bool_] | NDArray[np.intp]) -> _Atoms:
        return _Atoms(
            self.piv[keep],
            self.dirs[keep],
            self.theta[keep],
            self.lo[keep],
            self.hi[keep],
            self.slide[keep],
            self.masks[keep],
        )

    def extend(self, x: NDArray[np.float64], orc: OracleResult, sel: NDArray[np.bool_]) -> _Atoms:
        piv, dirs = orc.pivots[sel], orc.directions[sel]
        n = x.shape[0]
        if orc.arcs is not None and orc.interior is not None:
            lo, hi = orc.arcs[sel, 0], orc.arcs[sel, 1]
            # the angle inside [lo, hi]; a direction at an arc end may round to just
            # outside it, and must then snap to that end, not wrap to the other one
            off = (np.arctan2(dirs[:, 1], dirs[:, 0]) - lo) % (2 * np.pi)
            span = hi - lo
            off = np.where(off <= span, off, np.where(off - span < 2 * np.pi - off, span, 0.0))
            theta = lo + off
            slide = orc.interior[sel].copy()
            mid = 0.5 * (lo + hi)
            wm = np.column_stack([np.cos(mid), np.sin(mid)])
            masks = np.einsum("knd,kd->kn", x[None, :, :] - x[piv][:, None, :], wm) > 0
        else:
            lo = hi = theta = np.zeros(len(piv))
            # d = 3: a direction on a great circle (through a second data point) sits at
            # a kink and stays; d >= 4 (sampled): every direction slides
            slide = (
                orc.interior[sel].copy()
                if orc.interior is not None
                else np.ones(len(piv), dtype=bool)
            )
            masks = np.zeros((len(piv), n), dtype=bool)
        return _Atoms(
            np.concatenate([self.piv, piv]),
            np.concatenate([self.dirs, dirs]),
            np.concatenate([self.theta, theta]),
            np.concatenate([self.lo, lo]),
            np.concatenate([self.hi, hi]),
            np.concatenate([self.slide, slide]),
            np.concatenate([self.masks, masks]),
        )

    def sync(self) -> None:
        """Directions from the angles (d = 2)."""
        if self.dirs.shape[1] == 2 and len(self.theta):
            self.dirs = np.column_stack([np.cos(self.theta), np.sin(self.theta)])


def _merge_duplicates(
    x: NDArray[np.float64], atoms: _Atoms, v: NDArray[np.float64]
) -> tuple[_Atoms, NDArray[np.float64]]:
    """Merge atoms with the same features on the data (summing their coefficients)."""
    phi = _features(x, atoms.piv, atoms.dirs)
    k = phi.shape[1]
    if k < 2:
        return atoms, v
    tol = 1e-12 * max(float(np.abs(phi).max()), 1e-300)
    keep = np.ones(k, dtype=bool)
    v = v.copy()
    for j in range(k):
        if not keep[j]:
            continue
        same = np.abs(phi[:, j + 1 :] - phi[:, j, None]).max(axis=0) <= tol
        same &= keep[j + 1 :]
        idx = np.flatnonzero(same) + j + 1
        if idx.size:
            v[j] += v[idx].sum(axis=0)
            keep[idx] = False
            atoms.slide[j] = atoms.slide[j] and bool(atoms.slide[idx].all())
    return atoms.take(keep), v[keep]


def _column_generation(
    x: NDArray[np.float64],
    b: NDArray[np.float64],
    lam: float,
    free: _Free,
    tol: float,
    max_iter: int,
    max_seconds: float,
    start: float,
    rng: np.random.Generator,
    scale: float,
) -> tuple[_Atoms, NDArray[np.float64], float, list[tuple[float, float]], bool, int]:
    """Column generation with sliding on ``min (1/N)||b - P Phi V||^2 + lam sum ||V_k||``."""
    n, d = x.shape
    t = b.shape[1]
    atoms = _Atoms.empty(n, d)
    v = np.zeros((0, t))
    best_lb = -np.inf
    history: list[tuple[float, float]] = []
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        resid = b - free(_features(x, atoms.piv, atoms.dirs) @ v)
        objective = float((resid * resid).sum()) / n + lam * float(np.linalg.norm(v, axis=1).sum())
        lb, orc = _bound_from_residual(free, x, b, resid, lam, rng)
        best_lb = max(best_lb, lb)
        history.append((objective, best_lb))
        if objective - best_lb <= tol * abs(objective):
            converged = orc.exact
            break
        if time.perf_counter() - start > max_seconds:
            break
        # add every pivot's best atom that violates the dual constraint
        sel = orc.values > lam
        if not sel.any():
            sel[:1] = True
        atoms = atoms.extend(x, orc, sel)
        v = np.concatenate([v, np.zeros((int(sel.sum()), t))])
        atoms, v = _merge_duplicates(x, atoms, v)
        v = _group_lasso(free(_features(x, atoms.piv, atoms.dirs)), b, v, lam, 1e-12 * scale)
        keep = np.linalg.norm(v, axis=1) > 0
        atoms, v = atoms.take(keep), v[keep]
        if len(atoms.piv) == 0:
            continue
        if d == 2 and atoms.slide.any():
            before = _gl_value(free(_features(x, atoms.piv, atoms.dirs)), b, v, lam)
            saved = (atoms.theta.copy(), atoms.slide.copy(), atoms.dirs.copy())
            v_slid = _slide_2d(x, b, atoms, v, lam, free, maxiter=_SLIDE_ITER)
            atoms.sync()
            if _gl_value(free(_features(x, atoms.piv, atoms.dirs)), b, v_slid, lam) <= before:
                v = v_slid
            else:  # never accept a slide that the true features say made things worse
                atoms.theta, atoms.slide, atoms.dirs = saved
        elif d >= 3:
            atoms.dirs, v = _slide(
                x, b, atoms.piv, atoms.dirs, v, lam, free, maxiter=_SLIDE_ITER, mov=atoms.slide
            )
        atoms, v = _merge_duplicates(x, atoms, v)
        a = free(_features(x, atoms.piv, atoms.dirs))
        v = _group_lasso(a, b, v, lam, 1e-13 * scale, conic=False)
        keep = np.linalg.norm(v, axis=1) > 0
        atoms, v = atoms.take(keep), v[keep]
    return atoms, v, best_lb, history, converged, it


__all__ = ["CertifiedSolution", "dual_lower_bound", "solve_certified"]
