"""The induced kernel of one task of a trained multi-task network (docs/theory.md §5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_inputs, check_int, check_number
from mtlreg.model import ShallowReLUNet


@dataclass(frozen=True)
class InducedKernel:
    r"""Neurons and per-neuron weights of task ``task``'s induced kernel.

    .. math:: K_s(x, x') = \sum_k c_{ks}\, \phi_k(x) \phi_k(x'), \qquad
              \phi_k(x) = \mathrm{relu}(w_k^\top x + b_k),\ \|w_k\| = 1,

    with :math:`c_{ks} = \|V_{k,-s}\|` the norm of neuron k's output weights over
    the other tasks. ``V`` holds the output weights after the rescaling to unit
    input weights, so the network is ``features(X) @ V + X @ A.T + c``.

    A kernel, not a solver result: the solver results built on it are
    :class:`RKHSSolution` and :class:`SubproblemSolution`.

    Attributes
    ----------
    W, b
        Unit input weights (K, d) and biases (K,).
    V
        Output weights (K, T) of the rescaled network.
    weights
        The kernel weights c_ks of this task, shape (K,).
    task
        The task s (0 is task 1).
    A, c
        The network's skip connection (T, d) and (T,), or ``None`` without one.
    """

    W: NDArray[np.float64]
    b: NDArray[np.float64]
    V: NDArray[np.float64]
    weights: NDArray[np.float64]
    task: int
    A: NDArray[np.float64] | None
    c: NDArray[np.float64] | None

    @property
    def skip(self) -> bool:
        """Whether the network (and hence both problems) has a free affine part."""
        return self.A is not None

    @property
    def n_neurons(self) -> int:
        """Number of neurons K."""
        return int(self.W.shape[0])

    def features(self, X: ArrayLike) -> NDArray[np.float64]:
        """Feature matrix Phi with Phi_ik = relu(w_k . x_i + b_k), shape (N, K)."""
        x = self._inputs(X, "X")
        return np.maximum(x @ self.W.T + self.b, 0.0)

    def gram(self, X: ArrayLike, X2: ArrayLike | None = None) -> NDArray[np.float64]:
        """Gram matrix K_s(x_i, x'_j) = sum_k c_ks phi_k(x_i) phi_k(x'_j), shape (N, M)."""
        phi = self.features(X)
        phi2 = phi if X2 is None else self.features(X2)
        return (phi * self.weights) @ phi2.T

    def network_output(self, X: ArrayLike) -> NDArray[np.float64]:
        """Output ``task`` of the (rescaled) network at X, shape (N,)."""
        x = self._inputs(X, "X")
        out = self.features(x) @ self.V[:, self.task]
        if self.A is not None and self.c is not None:
            out = out + x @ self.A[self.task] + self.c[self.task]
        return out

    def evaluate(
        self, X: ArrayLike, v: NDArray[np.float64], a: NDArray[np.float64], intercept: float
    ) -> NDArray[np.float64]:
        """sum_k v_k phi_k(x) + a . x + intercept at X, shape (N,)."""
        x = self._inputs(X, "X")
        return self.features(x) @ v + x @ a + intercept

    def network(
        self,
        v: NDArray[np.float64],
        a: NDArray[np.float64],
        intercept: float,
        *,
        dtype: torch.dtype = torch.float64,
    ) -> ShallowReLUNet:
        """The balanced one-output network of :meth:`evaluate` (same predictions).

        One neuron per nonzero ``v_k`` (a single zero neuron if there is none), balanced
        to ||w_k|| = ||v_k||, so its weight decay is ``sum_k |v_k|``; the affine part
        goes into the skip connection (a network without one when the kernel has none).
        """
        keep = np.flatnonzero(v != 0.0)
        width = max(keep.size, 1)
        net = ShallowReLUNet(self.W.shape[1], 1, width, skip=self.skip, dtype=dtype, init="zeros")
        w = np.zeros((width, self.W.shape[1]))
        b = np.zeros(width)
        out = np.zeros((width, 1))
        w[: keep.size] = self.W[keep]
        b[: keep.size] = self.b[keep]
        out[: keep.size, 0] = v[keep]
        with torch.no_grad():
            net.w.copy_(torch.as_tensor(w))
            net.b.copy_(torch.as_tensor(b))
            net.v.copy_(torch.as_tensor(out))
            if net.A is not None and net.c is not None:
                net.A.copy_(torch.as_tensor(np.asarray(a, dtype=np.float64)[None, :]))
                net.c.copy_(torch.tensor([float(intercept)], dtype=torch.float64))
        return net.balance()

    def _inputs(self, X: ArrayLike, name: str) -> NDArray[np.float64]:
        x = check_inputs(X, name)
        if x.shape[1] != self.W.shape[1]:
            raise ValueError(
                f"Parameter `{name}` should have {self.W.shape[1]} column(s). "
                f"Found shape {x.shape}."
            )
        return x


def task_weights(V: ArrayLike) -> NDArray[np.float64]:
    """All kernel weights c_ks = ||V_{k,-s}||, shape (K, T), from output weights (K, T).

    Computed as sqrt(||V_k||^2 - V_ks^2), clipped at 0.
    """
    v = np.asarray(V, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"Parameter `V` should have 2 dimension(s). Found shape {v.shape}.")
    total = (v**2).sum(axis=1, keepdims=True)
    return np.sqrt(np.maximum(total - v**2, 0.0))


def weight_spread(V: ArrayLike) -> float:
    """How far the kernel weights are from being common to all tasks.

    The mean over neurons of std_s(c_ks) / mean_s(c_ks) (coefficient of variation
    across tasks; 0 when every task sees the same kernel). Neurons whose weights are
    all zero are skipped; NaN when there are none.
    """
    C = task_weights(V)
    mean = C.mean(axis=1)
    ok = mean > 0
    if not ok.any():
        return float("nan")
    return float((C[ok].std(axis=1) / mean[ok]).mean())


def induced_kernel(net: ShallowReLUNet, task: int = 0, *, prune_tol: float = 1e-6) -> InducedKernel:
    """The induced kernel of output ``task`` of a trained network.

    The network is copied, balanced and pruned (neurons with ||w_k|| ||v_k|| below
    ``prune_tol`` times the largest are dropped; ``net`` is not modified), then each
    neuron is rescaled to ||w_k|| = 1, its output weights absorbing the scale, which
    leaves the function unchanged.

    Parameters
    ----------
    net
        A trained :class:`~mtlreg.ShallowReLUNet`.
    task
        The task s (0-based; 0 is task 1).
    prune_tol
        Relative tolerance of :meth:`~mtlreg.ShallowReLUNet.prune`.
    """
    if not isinstance(net, ShallowReLUNet):
        raise TypeError(f"Parameter `net` should be a ShallowReLUNet. Found {type(net)!r}.")
    task = check_int(task, "task", low=0, high=net.out_dim - 1)
    prune_tol = check_number(prune_tol, "prune_tol", low=0.0)
    model = net.copy().double().cpu()
    model.balance()
    model.prune(prune_tol)
    w = model.w.detach().numpy().astype(np.float64)
    b = model.b.detach().numpy().astype(np.float64)
    v = model.v.detach().numpy().astype(np.float64)
    scale = np.linalg.norm(w, axis=1)
    keep = scale > 0
    w, b, v, scale = w[keep], b[keep], v[keep], scale[keep]
    W = w / scale[:, None]
    bias = b / scale
    V = v * scale[:, None]
    A = None if model.A is None else model.A.detach().numpy().astype(np.float64).copy()
    c = None if model.c is None else model.c.detach().numpy().astype(np.float64).copy()
    return InducedKernel(W=W, b=bias, V=V, weights=task_weights(V)[:, task], task=task, A=A, c=c)
