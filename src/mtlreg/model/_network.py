"""The shallow vector-valued ReLU network of docs/theory.md §1."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from mtlreg._validation import check_inputs, check_int, check_number


class ShallowReLUNet(nn.Module):
    r"""Shallow ReLU network with several outputs and an optional skip connection.

    .. math:: f(x) = \sum_{k=1}^K v_k\,\mathrm{relu}(w_k^\top x + b_k) + A x + c

    Parameters are stored neuron-major: ``w`` (K, d), ``b`` (K,), ``v`` (K, T),
    ``A`` (T, d) and ``c`` (T,). Only ``w`` and ``v`` are regularised.

    Example
    -------
    >>> import torch
    >>> net = ShallowReLUNet(1, 2, width=8, seed=0)
    >>> net(torch.zeros(3, 1)).shape
    torch.Size([3, 2])
    """

    w: nn.Parameter
    b: nn.Parameter
    v: nn.Parameter
    A: nn.Parameter | None
    c: nn.Parameter | None

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        width: int,
        skip: bool = True,
        *,
        seed: int | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.in_dim = check_int(in_dim, "in_dim", low=1)
        self.out_dim = check_int(out_dim, "out_dim", low=1)
        width = check_int(width, "width", low=1)
        if not isinstance(skip, bool):
            raise TypeError(f"Parameter `skip` should be a bool. Found {skip!r}.")
        self.skip = skip
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        # PyTorch's default nn.Linear initialisation, written out so it is seedable.
        bound_in = 1.0 / math.sqrt(self.in_dim)
        bound_out = 1.0 / math.sqrt(width)
        self.w = nn.Parameter(_uniform((width, self.in_dim), bound_in, gen, dtype))
        self.b = nn.Parameter(_uniform((width,), bound_in, gen, dtype))
        self.v = nn.Parameter(_uniform((width, self.out_dim), bound_out, gen, dtype))
        if skip:
            self.A = nn.Parameter(torch.zeros(self.out_dim, self.in_dim, dtype=dtype))
            self.c = nn.Parameter(torch.zeros(self.out_dim, dtype=dtype))
        else:
            self.A = None
            self.c = None

    # ------------------------------------------------------------------ basics
    @property
    def width(self) -> int:
        """Number of hidden neurons K."""
        return int(self.w.shape[0])

    def features(self, x: Tensor) -> Tensor:
        """Hidden activations relu(x w^T + b), shape (N, K)."""
        return torch.relu(x @ self.w.T + self.b)

    def forward(self, x: Tensor) -> Tensor:
        """Evaluate f on inputs of shape (N, d) (cast to the network's dtype)."""
        x = x.to(dtype=self.w.dtype)
        out = self.features(x) @ self.v
        if self.A is not None:
            out = out + x @ self.A.T
        if self.c is not None:
            out = out + self.c
        return out

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Evaluate on numpy inputs of shape (N,) or (N, d); returns (N, T)."""
        arr = check_inputs(X, "X")
        if arr.shape[1] != self.in_dim:
            raise ValueError(
                f"Parameter `X` should have {self.in_dim} column(s). Found shape {arr.shape}."
            )
        with torch.no_grad():
            x = torch.as_tensor(arr, dtype=self.w.dtype, device=self.w.device)
            return self(x).detach().cpu().double().numpy()

    # --------------------------------------------------------------- penalties
    def weight_decay(self) -> Tensor:
        """WD = 1/2 sum_k (||w_k||^2 + ||v_k||^2); b, A and c are never included."""
        return 0.5 * (self.w.pow(2).sum() + self.v.pow(2).sum())

    def vv_norm(self, task: int | None = None) -> Tensor:
        """VV = sum_k ||w_k|| ||v_k|| over all outputs, or over output ``task`` alone."""
        v = self.v if task is None else self.v[:, self._task_index(task)]
        v_norm = v.norm(dim=1) if v.ndim == 2 else v.abs()
        return (self.w.norm(dim=1) * v_norm).sum()

    def active(self, tol: float = 1e-8) -> Tensor:
        """Boolean mask of neurons with ||w_k|| ||v_k|| > tol (relative to the largest)."""
        mass = self.w.norm(dim=1) * self.v.norm(dim=1)
        scale = float(mass.max()) if mass.numel() else 0.0
        return mass > tol * max(scale, 1e-300)

    # ------------------------------------------------------------ symmetries
    @torch.no_grad()
    def balance(self) -> ShallowReLUNet:
        """Rescale each neuron to ||w_k|| = ||v_k|| in place; f is unchanged.

        Uses relu's positive homogeneity: (w, b, v) -> (a w, a b, v / a), a > 0.
        Neurons with w = 0 or v = 0 contribute a constant or nothing; they are left as is.
        """
        wn = self.w.norm(dim=1)
        vn = self.v.norm(dim=1)
        ok = (wn > 0) & (vn > 0)
        a = torch.ones_like(wn)
        a[ok] = torch.sqrt(vn[ok] / wn[ok])
        self.w.mul_(a[:, None])
        self.b.mul_(a)
        self.v.div_(a[:, None])
        return self

    @torch.no_grad()
    def prune(self, tol: float = 1e-6) -> ShallowReLUNet:
        """Drop neurons whose contribution ||w_k|| ||v_k|| is below ``tol`` times the largest.

        A dropped neuron with ||v_k|| > 0 but w_k = 0 adds the constant v_k relu(b_k);
        it is folded into c when the net has a skip connection, so f is unchanged.
        Returns ``self`` (modified in place).
        """
        tol = check_number(tol, "tol", low=0.0)
        keep = self.active(tol)
        if self.c is not None:
            const = (self.w.norm(dim=1) == 0) & ~keep
            if bool(const.any()):
                self.c.add_((torch.relu(self.b[const])[:, None] * self.v[const]).sum(0))
        if not bool(keep.any()):
            keep[torch.argmax(self.w.norm(dim=1) * self.v.norm(dim=1))] = True
        self.w = nn.Parameter(self.w[keep].clone())
        self.b = nn.Parameter(self.b[keep].clone())
        self.v = nn.Parameter(self.v[keep].clone())
        return self

    def copy(self) -> ShallowReLUNet:
        """An independent deep copy."""
        new = ShallowReLUNet(self.in_dim, self.out_dim, self.width, self.skip, dtype=self.w.dtype)
        new.load_state_dict(self.state_dict())
        return new.to(self.w.device)

    # -------------------------------------------------------------- file I/O
    def save(self, path: str | Path) -> None:
        """Write the parameters to a ``.safetensors`` file (no pickle)."""
        from safetensors.torch import save_file

        tensors = {k: t.detach().cpu().contiguous() for k, t in self.state_dict().items()}
        meta = {
            "in_dim": str(self.in_dim),
            "out_dim": str(self.out_dim),
            "width": str(self.width),
            "skip": str(self.skip),
            "format": "mtlreg.ShallowReLUNet/1",
        }
        save_file(tensors, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> ShallowReLUNet:
        """Read a network written by :meth:`save`."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") != "mtlreg.ShallowReLUNet/1":
                raise ValueError(f"File {str(path)!r} is not an mtlreg network (missing metadata).")
            state = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        net = cls(
            int(meta["in_dim"]),
            int(meta["out_dim"]),
            int(meta["width"]),
            meta["skip"] == "True",
            dtype=state["w"].dtype,
        )
        net.load_state_dict(state)
        return net.to(device)

    def _task_index(self, task: int) -> int:
        return check_int(task, "task", low=0, high=self.out_dim - 1)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, width={self.width}, skip={self.skip}"


def _uniform(
    shape: tuple[int, ...], bound: float, gen: torch.Generator | None, dtype: torch.dtype
) -> Tensor:
    return (torch.rand(shape, generator=gen, dtype=dtype) * 2.0 - 1.0) * bound
