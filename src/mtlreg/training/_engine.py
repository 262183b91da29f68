"""Batched full-batch Adam with closed-form gradients.

The engine trains B independent shallow ReLU networks at once, stacked along a
leading batch axis and padded to common shapes: widths up to ``K`` and task counts
up to ``T`` are masked, so a padded neuron or task stays exactly zero and changes
nothing. Gradients of ``fit + lam * WD`` are written out by hand (no autograd),
which makes a step several times cheaper than autograd for the small networks of
this science, and makes every network's trajectory independent of its batch
mates: Adam acts elementwise, so training B networks together equals training
each alone (to floating-point rounding).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from mtlreg.model import ShallowReLUNet


@dataclass
class BatchState:
    """Stacked parameters (padded) and Adam moments of B networks.

    Shapes: ``W`` (B, K, d), ``b`` (B, K), ``V`` (B, K, T), ``A`` (B, T, d), ``c`` (B, T).
    ``neuron_mask`` (B, K) and ``task_mask`` (B, T) are 1 for real entries; ``skip``
    (B,) is 1 where the network has the skip connection ``A x + c``.

    All parameters live in one flat buffer ``flat`` (B, P) laid out as
    ``[W, V, b, A, c]`` (the decayed weights first), and so do their gradients and
    Adam moments: an Adam step is a handful of operations on one tensor, whatever
    the number of parameter groups.
    """

    W: Tensor
    b: Tensor
    V: Tensor
    A: Tensor
    c: Tensor
    neuron_mask: Tensor
    task_mask: Tensor
    skip: Tensor
    step: int = 0

    def __post_init__(self) -> None:
        B, K, d = self.W.shape
        T = self.V.shape[2]
        self.shape = (K, d, T)
        self.sizes = [K * d, K * T, K, T * d, T]
        self.n_decay = K * d + K * T
        parts = [self.W, self.V, self.b, self.A, self.c]
        masks = [
            self.neuron_mask[:, :, None].expand(B, K, d),
            self.neuron_mask[:, :, None] * self.task_mask[:, None, :],
            self.neuron_mask,
            (self.task_mask[:, :, None] * self.skip[:, None, None]).expand(B, T, d),
            self.task_mask * self.skip[:, None],
        ]
        self.flat = torch.cat([p.reshape(B, n) for p, n in zip(parts, self.sizes)], dim=1)
        self.mask = torch.cat([m.reshape(B, n) for m, n in zip(masks, self.sizes)], dim=1)
        self.masked = not bool((self.mask == 1).all())
        self.flat.mul_(self.mask)
        self.W, self.V, self.b, self.A, self.c = self._views(self.flat)
        self.grad = torch.zeros_like(self.flat)
        self.gW, self.gV, self.gb, self.gA, self.gc = self._views(self.grad)
        self.m = torch.zeros_like(self.flat)
        self.s = torch.zeros_like(self.flat)

    def _views(self, buf: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        B = buf.shape[0]
        K, d, T = self.shape
        W, V, b, A, c = torch.split(buf, self.sizes, dim=1)
        return W.view(B, K, d), V.view(B, K, T), b, A.view(B, T, d), c

    @property
    def params(self) -> list[Tensor]:
        """Views of the parameters ``[W, b, V, A, c]``."""
        return [self.W, self.b, self.V, self.A, self.c]

    @property
    def grads(self) -> list[Tensor]:
        """Views of the gradients, in the order of ``params``."""
        return [self.gW, self.gb, self.gV, self.gA, self.gc]

    @property
    def _masks(self) -> list[Tensor]:
        """Masks of ``params``, in the same order and shapes."""
        mW, mV, mb, mA, mc = self._views(self.mask)
        return [mW, mb, mV, mA, mc]


def forward(state: BatchState, X: Tensor) -> tuple[Tensor, Tensor]:
    """Pre-activations Z (B, N, K) and outputs F (B, N, T)."""
    Z = torch.baddbmm(state.b[:, None, :], X, state.W.transpose(1, 2))
    F = torch.bmm(Z.clamp_min(0.0), state.V)
    F = torch.baddbmm(F, X, state.A.transpose(1, 2)).add_(state.c[:, None, :])
    return Z, F


def objective(
    state: BatchState, X: Tensor, Y: Tensor, lam: Tensor, fit_scale: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(objective, fit, WD), each of shape (B,).

    fit = fit_scale * sum_{i,t} (f_t(x_i) - y_it)^2 with fit_scale = 1/N (sum over
    tasks) or 1/(N T) (mean over tasks), per network.
    """
    _, F = forward(state, X)
    fit = (F - Y).pow(2).sum(dim=(1, 2)) * fit_scale
    wd = 0.5 * state.flat[:, : state.n_decay].pow(2).sum(dim=1)
    return fit + lam * wd, fit, wd


def fit_gradients(state: BatchState, X: Tensor, Y: Tensor, fit_scale: Tensor) -> list[Tensor]:
    """d(fit)/d(params) as ``[gW, gV, gb, gA, gc]``, each (B, n) contiguous (unmasked).

    Listed in the order of the flat buffer; the weight decay is not included.
    """
    Z = torch.baddbmm(state.b[:, None, :], X, state.W.transpose(1, 2))
    H = Z.clamp_min(0.0)
    F = torch.baddbmm(state.c[:, None, :], X, state.A.transpose(1, 2))
    F.baddbmm_(H, state.V)
    R = F.sub_(Y).mul_((2.0 * fit_scale)[:, None, None])  # dfit/dF
    gV = torch.bmm(H.transpose(1, 2), R)
    gH = torch.ops.aten.threshold_backward(torch.bmm(R, state.V.transpose(1, 2)), Z, 0.0)
    gW = torch.bmm(gH.transpose(1, 2), X)
    gA = torch.bmm(R.transpose(1, 2), X)
    B = Z.shape[0]
    return [gW.view(B, -1), gV.view(B, -1), gH.sum(dim=1), gA.view(B, -1), R.sum(dim=1)]


def gradients(state: BatchState, X: Tensor, Y: Tensor, lam: Tensor, fit_scale: Tensor) -> None:
    """Write d(fit + lam WD)/d(params) into ``state.grads`` (masked)."""
    torch.cat(fit_gradients(state, X, Y, fit_scale), dim=1, out=state.grad)
    n = state.n_decay
    state.grad[:, :n].addcmul_(state.flat[:, :n], lam[:, None])
    if state.masked:
        state.grad.mul_(state.mask)


def adam_step(
    state: BatchState,
    X: Tensor,
    Y: Tensor,
    lam: Tensor,
    fit_scale: Tensor,
    lr: Tensor,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> None:
    """One Adam step (PyTorch's update rule) for every network; ``lr`` has shape (B,).

    The only Adam update of the package: every recipe of :mod:`mtlreg.training`
    steps through it. On the CPU (float32 or float64) the weight decay, the mask and
    the Adam update are one compiled pass over the parameters (:func:`_fused_update`)
    that reads the fit gradients where the matrix products left them; elsewhere the
    same arithmetic runs as PyTorch operations on the flat buffer. Either way every
    entry is updated on its own, so a network's trajectory does not depend on its
    batch mates.
    """
    state.step += 1
    b1, b2 = betas
    bc1 = 1.0 - b1**state.step
    bc2_sqrt = math.sqrt(1.0 - b2**state.step)
    tiny = torch.finfo(state.flat.dtype).tiny
    kernel = _kernel() if _fusable(state.flat) else None
    if kernel is not None:
        pieces = fit_gradients(state, X, Y, fit_scale)
        consts = np.array(
            [1.0 - b1, b2, 1.0 - b2, bc2_sqrt, eps, tiny, -1.0 / bc1],
            dtype=np.float32 if state.flat.dtype == torch.float32 else np.float64,
        )
        kernel(
            state.flat.numpy(),
            state.m.numpy(),
            state.s.numpy(),
            state.mask.numpy(),
            *(p.numpy() for p in pieces),
            lam.contiguous().numpy(),
            lr.contiguous().numpy(),
            consts,
            state.n_decay,
            state.masked,
        )
        return
    gradients(state, X, Y, lam, fit_scale)
    g, m, s = state.grad, state.m, state.s
    m.lerp_(g, 1.0 - b1)
    s.mul_(b2).addcmul_(g, g, value=1.0 - b2)
    # moments below the smallest normal number (their square roots are far below eps,
    # so the update is the same) would make sqrt crawl through subnormal arithmetic
    denom = s.clamp_min(tiny).sqrt_().div_(bc2_sqrt).add_(eps)
    state.flat.addcdiv_(m * (lr / -bc1)[:, None], denom)


def _fusable(flat: Tensor) -> bool:
    return flat.device.type == "cpu" and flat.dtype in (torch.float32, torch.float64)


def _fused_update(
    flat: NDArray[np.floating[Any]],
    m: NDArray[np.floating[Any]],
    s: NDArray[np.floating[Any]],
    mask: NDArray[np.floating[Any]],
    gW: NDArray[np.floating[Any]],
    gV: NDArray[np.floating[Any]],
    gb: NDArray[np.floating[Any]],
    gA: NDArray[np.floating[Any]],
    gc: NDArray[np.floating[Any]],
    lam: NDArray[np.floating[Any]],
    lr: NDArray[np.floating[Any]],
    consts: NDArray[np.floating[Any]],
    n_decay: int,
    masked: bool,
) -> None:  # pragma: no cover - compiled by numba
    """Weight decay + mask + Adam, one pass over (B, P) buffers, in place.

    ``consts`` = (1 - b1, b2, 1 - b2, sqrt(1 - b2^t), eps, tiny, -1 / (1 - b1^t)) in
    the buffers' dtype, so float32 buffers are updated in float32 arithmetic. The
    fit gradient of the flat layout ``[W, V, b, A, c]`` is read from the five pieces
    where the matrix products left it (no copy into one buffer).
    """
    zero = consts[0] - consts[0]
    for i in range(flat.shape[0]):
        step = lr[i] * consts[6]
        off = 0
        for piece in (gW, gV, gb, gA, gc):
            end = off + piece.shape[1]
            decay = lam[i] if off < n_decay else zero
            _segment(flat[i, off:end], m[i, off:end], s[i, off:end], piece[i],
                     mask[i, off:end], decay, masked, consts, step)  # fmt: skip
            off = end


def _segment(
    w: NDArray[np.floating[Any]],
    m: NDArray[np.floating[Any]],
    s: NDArray[np.floating[Any]],
    g: NDArray[np.floating[Any]],
    mask: NDArray[np.floating[Any]],
    decay: float,
    masked: bool,
    consts: NDArray[np.floating[Any]],
    step: float,
) -> None:  # pragma: no cover - compiled by numba
    """The update of one contiguous run of parameters (a loop the compiler vectorises).

    Moments below the smallest normal number (``consts[5]``; their square roots are far
    below eps, so the update is the same) would make sqrt crawl through subnormal
    arithmetic, hence the clamp.
    """
    one_m_b1, b2, one_m_b2, bc2_sqrt, eps, tiny = (
        consts[0], consts[1], consts[2], consts[3], consts[4], consts[5]
    )  # fmt: skip
    for j in range(w.shape[0]):
        gj = g[j] + decay * w[j]
        if masked:
            gj = gj * mask[j]
        mj = m[j] + one_m_b1 * (gj - m[j])
        sj = s[j] * b2 + one_m_b2 * gj * gj
        m[j] = mj
        s[j] = sj
        w[j] = w[j] + (mj * step) / (np.sqrt(max(sj, tiny)) / bc2_sqrt + eps)


#: The compiled :func:`_fused_update` once built (an entry ``None`` selects the PyTorch
#: operations instead, as tests do to compare the two).
_KERNEL: list[Callable[..., None] | None] = []


def _kernel() -> Callable[..., None] | None:
    """:func:`_fused_update` compiled by numba (cached on disk); ``None`` without numba."""
    if not _KERNEL:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            return None
        global _segment  # compiled in place: the kernel calls it by its global name
        plain = getattr(_segment, "py_func", _segment)
        _segment = numba.njit(inline="always", error_model="numpy")(plain)
        _KERNEL.append(numba.njit(cache=True, nogil=True, error_model="numpy")(_fused_update))
    return _KERNEL[0]


def stack(
    nets: list[ShallowReLUNet],
    *,
    width: int | None = None,
    n_tasks: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> BatchState:
    """Stack networks with the same input dimension into a padded :class:`BatchState`."""
    if not nets:
        raise ValueError("Parameter `nets` should hold at least one network. Found none.")
    d = nets[0].in_dim
    if any(n.in_dim != d for n in nets):
        raise ValueError("Parameter `nets` should hold networks with the same input dimension.")
    K = width if width is not None else max(n.width for n in nets)
    T = n_tasks if n_tasks is not None else max(n.out_dim for n in nets)
    dt = dtype or nets[0].w.dtype
    dev = torch.device(device) if device is not None else nets[0].w.device
    B = len(nets)

    def zeros(*shape: int) -> Tensor:
        return torch.zeros(*shape, dtype=dt, device=dev)

    W, b, V = zeros(B, K, d), zeros(B, K), zeros(B, K, T)
    A, c = zeros(B, T, d), zeros(B, T)
    nmask, tmask, skip = zeros(B, K), zeros(B, T), zeros(B)
    with torch.no_grad():
        for i, net in enumerate(nets):
            k, t = net.width, net.out_dim
            if k > K or t > T:
                raise ValueError(
                    f"Network {i} has width {k} and {t} tasks; the batch allows {K}, {T}."
                )
            W[i, :k] = net.w.to(device=dev, dtype=dt)
            b[i, :k] = net.b.to(device=dev, dtype=dt)
            V[i, :k, :t] = net.v.to(device=dev, dtype=dt)
            nmask[i, :k] = 1.0
            tmask[i, :t] = 1.0
            if net.A is not None and net.c is not None:
                A[i, :t] = net.A.to(device=dev, dtype=dt)
                c[i, :t] = net.c.to(device=dev, dtype=dt)
                skip[i] = 1.0
    return BatchState(W, b, V, A, c, nmask, tmask, skip)


def unstack(state: BatchState, i: int) -> ShallowReLUNet:
    """Network ``i`` of the batch, without its padding."""
    k = int(state.neuron_mask[i].sum())
    t = int(state.task_mask[i].sum())
    d = int(state.W.shape[2])
    skip = bool(state.skip[i] > 0)
    net = ShallowReLUNet(d, t, k, skip, dtype=state.W.dtype, init="zeros").to(state.W.device)
    with torch.no_grad():
        net.w.copy_(state.W[i, :k])
        net.b.copy_(state.b[i, :k])
        net.v.copy_(state.V[i, :k, :t])
        if net.A is not None and net.c is not None:
            net.A.copy_(state.A[i, :t])
            net.c.copy_(state.c[i, :t])
    return net


def select(state: BatchState, keep: Tensor) -> BatchState:
    """The networks ``keep`` (indices) of a batch, with their Adam moments and step count."""
    new = BatchState(
        state.W[keep],
        state.b[keep],
        state.V[keep],
        state.A[keep],
        state.c[keep],
        state.neuron_mask[keep],
        state.task_mask[keep],
        state.skip[keep],
        state.step,
    )
    new.m = state.m[keep]
    new.s = state.s[keep]
    return new
