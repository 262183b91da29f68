"""Where training starts: the well-scaled space, the initial networks, restart seeds.

Every gradient recipe of :mod:`mtlreg.training` starts from :func:`initial_network`
(optionally with the exact output layer of its hidden units, :func:`fit_output_layer`)
and may train in the rescaled space of :class:`Scaling` (docs/theory.md §1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from mtlreg._validation import check_choice, check_inputs, check_targets
from mtlreg.model import ShallowReLUNet

INITS: tuple[str, ...] = ("data", "torch")
TASK_REDUCTIONS: tuple[str, ...] = ("sum", "mean")


def objective_terms(
    net: ShallowReLUNet, x: Tensor, y: Tensor, lam: float, task_reduction: str = "sum"
) -> tuple[Tensor, Tensor, Tensor]:
    """Return (objective, fit, WD) of ``(1/N) sum_i ||y_i - f(x_i)||^2 + lam * penalty``.

    The penalty is the weight decay WD = 1/2 sum_k ||w_k||^2 + ||v_k||^2. With
    ``task_reduction="mean"`` the fit is divided by T as well (the authors'
    convention, whose effective per-task lam changes with T; docs/theory.md §1).
    """
    resid = net(x) - y
    fit = resid.pow(2).sum() / x.shape[0]
    if task_reduction == "mean":
        fit = fit / y.shape[1]
    wd = net.weight_decay()
    return fit + lam * wd, fit, wd


def check_label_scale(y: NDArray[np.float64], name: str) -> None:
    """Refuse labels whose squared error cannot be represented in float64."""
    scale = _rms(y - _safe_mean(y))
    if scale > 1e150 or 0.0 < scale < 1e-150:
        raise ValueError(
            f"Parameter `{name}` should have a spread between 1e-150 and 1e150, so that its "
            f"squared error is a float64 number. Found a root-mean-square spread of "
            f"{scale:.3g}; rescale the labels."
        )


def error_scale(x: np.ndarray, y: np.ndarray, task_reduction: str) -> float:
    """The factor of the summed squared error: 1/N, or 1/(N T) for ``"mean"``."""
    return 1.0 / (x.shape[0] * (y.shape[1] if task_reduction == "mean" else 1))


def restart_seeds(seed: int | None, restarts: int) -> list[int | None]:
    """Restart 0 uses ``seed``; the others derive independent seeds from it."""
    if seed is None:
        return [None] * restarts
    extra = np.random.SeedSequence([seed, 0x5EED]).generate_state(restarts)
    seeds: list[int | None] = [seed]
    seeds.extend(int(s) for s in extra[1:])
    return seeds


@dataclass(frozen=True)
class Scaling:
    """x -> (x - mx) / sx and y -> y / sy: an exact symmetry of the problem.

    With f(x) = sy g((x - mx) / sx), fit_f = sy^2 fit_g and VV_f = (sy / sx) VV_g,
    so minimising fit_g + (lam / (sx sy)) VV_g is the original problem divided by
    sy^2; biases absorb the shift. Only isotropic scalars keep the group norms.
    """

    mx: NDArray[np.float64]
    sx: float
    sy: float

    @classmethod
    def identity(cls, d: int) -> Scaling:
        return cls(np.zeros(d), 1.0, 1.0)

    @classmethod
    def fit(cls, x: NDArray[np.float64], y: NDArray[np.float64], skip: bool) -> Scaling:
        """Unit root-mean-square input spread and label size (overflow-safe)."""
        mx = _safe_mean(x)
        sx = _rms(x - mx)
        yc = y - _safe_mean(y) if skip else y
        sy = _rms(yc)
        return cls(mx, sx if sx > 0 else 1.0, sy if sy > 0 else 1.0)

    @property
    def lam_factor(self) -> float:
        return 1.0 / (self.sx * self.sy)

    @property
    def objective_factor(self) -> float:
        return self.sy**2

    @property
    def vv_factor(self) -> float:
        return self.sy / self.sx

    def forward(
        self, x: NDArray[np.float64], y: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return (x - self.mx) / self.sx, y / self.sy

    def net_forward(self, net: ShallowReLUNet) -> ShallowReLUNet:
        """g(z) = f(mx + sx z) / sy, as a network."""
        mx = torch.as_tensor(self.mx, dtype=net.w.dtype, device=net.w.device)
        with torch.no_grad():
            net.b.add_(net.w @ mx)
            net.w.mul_(self.sx)
            net.v.div_(self.sy)
            if net.A is not None and net.c is not None:
                net.c.add_(net.A @ mx).div_(self.sy)
                net.A.mul_(self.sx / self.sy)
        return net

    def net_backward(self, net: ShallowReLUNet) -> ShallowReLUNet:
        """f(x) = sy g((x - mx) / sx), as a network."""
        mx = torch.as_tensor(self.mx, dtype=net.w.dtype, device=net.w.device)
        with torch.no_grad():
            net.w.div_(self.sx)
            net.b.sub_(net.w @ mx)
            net.v.mul_(self.sy)
            if net.A is not None and net.c is not None:
                net.A.mul_(self.sy / self.sx)
                net.c.mul_(self.sy).sub_(net.A @ mx)
        return net

    def balanced_backward(self, net: ShallowReLUNet) -> ShallowReLUNet:
        """:meth:`net_backward` of the balanced ``net``, balanced without any norm.

        Balanced in the scaled space, every neuron of the mapped-back network needs
        the same factor sqrt(sx sy) to be balanced again; applying it directly avoids
        norms of weights near the float64 limits (whose squares underflow).
        """
        net = self.net_backward(net.balance())
        a = math.sqrt(self.sx) * math.sqrt(self.sy)
        with torch.no_grad():
            net.w.mul_(a)
            net.b.mul_(a)
            net.v.div_(a)
        return net

    def trivial_network(
        self,
        xs: NDArray[np.float64],
        ys: NDArray[np.float64],
        width: int,
        skip: bool,
        dtype: torch.dtype,
    ) -> ShallowReLUNet:
        """The network with no active neuron and the least-squares affine part (if skip)."""
        net = ShallowReLUNet(xs.shape[1], ys.shape[1], width, skip, dtype=dtype, init="zeros")
        with torch.no_grad():
            if net.A is not None and net.c is not None:
                design = np.concatenate([xs, np.ones((xs.shape[0], 1))], axis=1)
                coef, *_ = np.linalg.lstsq(design, ys, rcond=None)
                net.A.copy_(torch.as_tensor(coef[:-1].T))
                net.c.copy_(torch.as_tensor(coef[-1]))
        return self.net_backward(net)


def _safe_mean(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Column means that do not overflow for entries near the float64 limit."""
    big = float(np.abs(a).max()) if a.size else 0.0
    if not math.isfinite(big) or big == 0.0:
        return np.zeros(a.shape[1])
    return np.asarray((a / big).mean(axis=0) * big)


def _rms(a: NDArray[np.float64]) -> float:
    """sqrt(mean_i ||a_i||^2), computed without overflow or underflow."""
    big = float(np.abs(a).max()) if a.size else 0.0
    if not math.isfinite(big) or big == 0.0:
        return 0.0
    return big * float(np.sqrt(((a / big) ** 2).sum(axis=1).mean()))


def initial_network(
    X: ArrayLike,
    Y: ArrayLike,
    width: int,
    *,
    skip: bool = True,
    seed: int | None = None,
    init: str = "data",
    dtype: torch.dtype = torch.float64,
) -> ShallowReLUNet:
    """The network :func:`train` starts from for these data, width and seed.

    Exposed so that other engines (e.g. batched sweeps) start from exactly the same
    point as a single call to :func:`train` with the same seed.
    """
    x_np = check_inputs(X, "X")
    y_np = check_targets(Y, x_np.shape[0], "Y")
    init = check_choice(init, "init", INITS)
    net = ShallowReLUNet(x_np.shape[1], y_np.shape[1], width, skip, seed=seed, dtype=dtype)
    if init == "data":
        _data_init(net, x_np, y_np, seed)
    return net


#: Above this many floating-point operations the exact output-layer start is skipped.
_OUTPUT_LAYER_FLOPS = 2e10


def fit_output_layer(
    net: ShallowReLUNet, x: np.ndarray, y: np.ndarray, lam: float, fit_scale: float
) -> bool:
    """Solve the output layer exactly for the given hidden layer, then balance.

    ``fit_scale`` multiplies the squared error (1/N, or 1/(N T) for ``"mean"``).

    For fixed (w, b) the objective is a ridge regression in (v, A, c) with penalty
    lam/2 ||v||^2 (A and c free); solving it puts every neuron to use at once, so
    kinks that the data need where the initial features are tiny (clustered inputs)
    start at the right size instead of growing from a small random init.

    The affine part is projected out first; the ridge in v is then solved in its
    primal form (a K x K system) or, for width K above N, in its dual form (an
    N x N system), whichever is cheaper, so a wide network never pays O(K^3). When
    even the cheaper form would cost more than about 2e10 floating-point operations,
    the network is left unchanged and ``False`` is returned.
    """
    with torch.no_grad():
        w = net.w.detach().cpu().double().numpy()
        b = net.b.detach().cpu().double().numpy()
    n, k = x.shape[0], w.shape[0]
    if min(n * k * k + k**3, n * n * k + n**3) > _OUTPUT_LAYER_FLOPS:
        return False
    H = np.maximum(x @ w.T + b, 0.0)
    if net.A is not None:
        P = np.concatenate([x, np.ones((n, 1))], axis=1)
        Q, _ = np.linalg.qr(P)

        def project(M: np.ndarray) -> np.ndarray:
            return np.asarray(M - Q @ (Q.T @ M))
    else:

        def project(M: np.ndarray) -> np.ndarray:
            return M

    A = np.sqrt(fit_scale) * project(H)
    rhs = np.sqrt(fit_scale) * project(y)
    ridge = lam / 2.0
    if k <= n:
        lhs = np.concatenate([A, np.sqrt(ridge) * np.eye(k)])
        padded = np.concatenate([rhs, np.zeros((k, rhs.shape[1]))])
        v = np.linalg.lstsq(lhs, padded, rcond=None)[0]
    else:
        v = A.T @ _solve_psd(A @ A.T + ridge * np.eye(n), rhs)
    with torch.no_grad():
        net.v.copy_(torch.as_tensor(v))
        if net.A is not None and net.c is not None:
            P = np.concatenate([x, np.ones((n, 1))], axis=1)
            coef, *_ = np.linalg.lstsq(P, y - H @ v, rcond=None)
            net.A.copy_(torch.as_tensor(coef[:-1].T))
            net.c.copy_(torch.as_tensor(coef[-1]))
    net.balance()
    return True


def _solve_psd(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a symmetric positive semi-definite system (minimum-norm if singular)."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    try:
        return np.asarray(cho_solve(cho_factor(lhs), rhs))
    except LinAlgError:
        return np.asarray(np.linalg.lstsq(lhs, rhs, rcond=None)[0])


def _data_init(net: ShallowReLUNet, x: np.ndarray, y: np.ndarray, seed: int | None) -> None:
    """Place each neuron's hyperplane through a training input or a point of the data box.

    Directions w_k are uniform on the sphere, scaled like PyTorch's default init
    (1/sqrt(d)). The first half of the neurons pass through the training inputs in
    a random order, cycling so that every input gets one (as the width allows), each
    shifted by a tiny margin so that the input itself is active; the other half pass
    through uniform points of the bounding box [min x, max x]^d. Output weights keep
    their small uniform init; the skip connection starts at the least-squares affine
    fit, which the penalty never touches.
    """
    rng = np.random.default_rng(None if seed is None else seed + 7919)
    k, d = net.w.shape
    n = x.shape[0]
    dirs = rng.standard_normal((k, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    lo, hi = x.min(axis=0), x.max(axis=0)
    points = lo + (hi - lo) * rng.random((k, d))
    n_data = (k + 1) // 2
    order = np.concatenate([rng.permutation(n) for _ in range(n_data // n + 1)])[:n_data]
    spread = _rms(x - _safe_mean(x)) or 1.0
    margin = np.zeros(k)
    points[:n_data] = x[order]
    margin[:n_data] = 1e-3 * spread
    w = dirs / math.sqrt(d)
    b = -(w * points).sum(axis=1) + margin / math.sqrt(d)
    with torch.no_grad():
        net.w.copy_(torch.as_tensor(w))
        net.b.copy_(torch.as_tensor(b))
        if net.A is not None and net.c is not None:
            design = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            net.A.copy_(torch.as_tensor(coef[:-1].T))
            net.c.copy_(torch.as_tensor(coef[-1]))
