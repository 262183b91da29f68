"""The shallow vector-valued ReLU network of docs/theory.md §1."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from mtlreg._validation import (
    check_choice,
    check_device,
    check_dtype,
    check_inputs,
    check_int,
    check_number,
    check_seed,
)


class ShallowReLUNet(nn.Module):
    r"""Shallow ReLU network with several outputs and an optional skip connection.

    .. math:: f(x) = \sum_{k=1}^K v_k\,\mathrm{relu}(w_k^\top x + b_k) + A x + c

    Parameters are stored neuron-major: ``w`` (K, d), ``b`` (K,), ``v`` (K, T),
    ``A`` (T, d) and ``c`` (T,). Only ``w`` and ``v`` are regularised.

    ``init="uniform"`` (default) draws ``w``, ``b`` and ``v`` as PyTorch's ``nn.Linear``
    does, from a generator seeded with ``seed`` (from torch's global generator when
    ``seed`` is None); ``init="zeros"`` starts every parameter at zero and draws nothing.
    The skip connection ``A``, ``c`` starts at zero. :meth:`from_weights` builds a network
    from given parameters.

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
        init: str = "uniform",
    ) -> None:
        super().__init__()
        init = check_choice(init, "init", ("uniform", "zeros"))
        self.in_dim = check_int(in_dim, "in_dim", low=1)
        self.out_dim = check_int(out_dim, "out_dim", low=1)
        width = check_int(width, "width", low=1)
        if not isinstance(skip, bool):
            raise TypeError(f"Parameter `skip` should be a bool. Found {skip!r}.")
        self.skip = skip
        dtype = check_dtype(dtype)
        seed = check_seed(seed)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        # PyTorch's default nn.Linear initialisation, written out so it is seedable.
        bound_in = 1.0 / math.sqrt(self.in_dim)
        bound_out = 1.0 / math.sqrt(width)
        if init == "zeros":  # no random numbers drawn (the caller sets the weights)
            self.w = nn.Parameter(torch.zeros(width, self.in_dim, dtype=dtype))
            self.b = nn.Parameter(torch.zeros(width, dtype=dtype))
            self.v = nn.Parameter(torch.zeros(width, self.out_dim, dtype=dtype))
        else:
            self.w = nn.Parameter(_uniform((width, self.in_dim), bound_in, gen, dtype))
            self.b = nn.Parameter(_uniform((width,), bound_in, gen, dtype))
            self.v = nn.Parameter(_uniform((width, self.out_dim), bound_out, gen, dtype))
        if skip:
            self.A = nn.Parameter(torch.zeros(self.out_dim, self.in_dim, dtype=dtype))
            self.c = nn.Parameter(torch.zeros(self.out_dim, dtype=dtype))
        else:
            self.A = None
            self.c = None

    @classmethod
    def from_weights(
        cls,
        w: ArrayLike | Tensor,
        b: ArrayLike | Tensor,
        v: ArrayLike | Tensor,
        A: ArrayLike | Tensor | None = None,
        c: ArrayLike | Tensor | None = None,
        *,
        dtype: torch.dtype = torch.float64,
    ) -> ShallowReLUNet:
        """The network with these parameters (copied; no random numbers are drawn).

        ``w`` (K, d), ``b`` (K,), ``v`` (K, T); ``A`` (T, d) and ``c`` (T,) give the
        skip connection (both or neither).

        >>> import numpy as np
        >>> net = ShallowReLUNet.from_weights(np.ones((2, 1)), np.array([0.0, -1.0]),
        ...                                   np.array([[1.0], [-2.0]]))
        >>> net.predict(np.array([[0.5], [2.0]]))[:, 0].tolist()
        [0.5, 0.0]
        """
        dtype = check_dtype(dtype)

        def arr(a: ArrayLike | Tensor, name: str, ndim: int) -> Tensor:
            t = torch.as_tensor(a.detach().cpu() if isinstance(a, Tensor) else np.asarray(a))
            if t.ndim != ndim:
                raise ValueError(
                    f"Parameter `{name}` should be {ndim}-D. Found shape {tuple(t.shape)}."
                )
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"Parameter `{name}` should be finite. Found NaN or infinity.")
            return t.to(dtype)

        wt, bt, vt = arr(w, "w", 2), arr(b, "b", 1), arr(v, "v", 2)
        k, d = wt.shape
        if k == 0 or d == 0 or vt.shape[1] == 0:
            raise ValueError(
                f"Parameter `w` should have shape (K, d) with K, d >= 1. Found {(k, d)}."
            )
        if bt.shape != (k,) or vt.shape[0] != k:
            raise ValueError(
                f"Parameters `b` and `v` should have {k} rows, one per neuron of `w`. "
                f"Found shapes {tuple(bt.shape)} and {tuple(vt.shape)}."
            )
        if (A is None) != (c is None):
            raise ValueError(
                "Parameters `A` and `c` should be given together (skip) or not at all."
            )
        t_out = vt.shape[1]
        net = cls(d, t_out, k, A is not None, dtype=dtype, init="zeros")
        with torch.no_grad():
            net.w.copy_(wt)
            net.b.copy_(bt)
            net.v.copy_(vt)
            if A is not None and c is not None and net.A is not None and net.c is not None:
                at, ct = arr(A, "A", 2), arr(c, "c", 1)
                if at.shape != (t_out, d) or ct.shape != (t_out,):
                    raise ValueError(
                        f"Parameters `A` and `c` should have shapes {(t_out, d)} and {(t_out,)}. "
                        f"Found {tuple(at.shape)} and {tuple(ct.shape)}."
                    )
                net.A.copy_(at)
                net.c.copy_(ct)
        return net

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
        new = ShallowReLUNet(
            self.in_dim, self.out_dim, self.width, self.skip, dtype=self.w.dtype, init="zeros"
        )
        new.load_state_dict(self.state_dict())
        return new.to(self.w.device)

    # -------------------------------------------------------------- file I/O
    def save(self, path: str | Path) -> None:
        """Write the parameters to a ``.safetensors`` file (no pickle), atomically.

        The metadata holds the format tag, the shapes and a SHA-256 checksum of the
        parameters, which :meth:`load` verifies. The file's mode follows the umask.
        """
        from mtlreg._io import atomic_write_bytes

        target = Path(path)
        if target.is_dir():
            raise ValueError(
                f"Parameter `path` should be a file name. Found a folder {str(target)!r}."
            )
        if not target.parent.is_dir():
            raise ValueError(
                f"Parameter `path`: folder {str(target.parent)!r} does not exist; create it first."
            )
        atomic_write_bytes(target, self.to_bytes())

    def to_bytes(self) -> bytes:
        """The network as safetensors bytes (no pickle): what :meth:`save` writes.

        The metadata holds the format tag, the shapes and a SHA-256 checksum of the
        parameters, which :meth:`from_bytes` verifies.
        """
        from safetensors.torch import save

        tensors = {k: t.detach().cpu().contiguous() for k, t in self.state_dict().items()}
        meta = {
            "in_dim": str(self.in_dim),
            "out_dim": str(self.out_dim),
            "width": str(self.width),
            "skip": str(self.skip),
            "format": FORMAT,
            "sha256": _checksum(tensors),
        }
        return _canonical_header(bytes(save(tensors, metadata=meta)))

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "<bytes>") -> ShallowReLUNet:
        """Read bytes written by :meth:`to_bytes`, with the checks of :meth:`load`.

        ``source`` names the bytes' origin in error messages.
        """
        return _network_from(*_read_safetensors(bytes(data), source), source)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> ShallowReLUNet:
        """Read a network written by :meth:`save`, checking it before use.

        The file must be a safetensors file with the mtlreg format tag, exactly the
        parameters its metadata announces (shapes, one float dtype), finite values and,
        when present, a matching checksum. Anything else raises one ``ValueError``
        that names the file and what is wrong.
        """
        device = check_device(device)
        source = Path(path)
        if source.is_dir():
            raise ValueError(f"Network file {str(source)!r} is a folder, not a file.")
        if not source.is_file():
            raise FileNotFoundError(f"Network file {str(source)!r} does not exist.")
        return cls.from_bytes(source.read_bytes(), source=repr(str(source))).to(device)

    def _task_index(self, task: int) -> int:
        return check_int(task, "task", low=0, high=self.out_dim - 1)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, width={self.width}, skip={self.skip}"


def _uniform(
    shape: tuple[int, ...], bound: float, gen: torch.Generator | None, dtype: torch.dtype
) -> Tensor:
    return (torch.rand(shape, generator=gen, dtype=dtype) * 2.0 - 1.0) * bound


#: Format tag written into every saved network's metadata.
FORMAT = "mtlreg.ShallowReLUNet/1"
_DTYPES = (torch.float32, torch.float64)


def _checksum(tensors: dict[str, Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    import hashlib

    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _canonical_header(data: bytes) -> bytes:
    """The same safetensors bytes with the JSON header's keys sorted.

    safetensors writes its metadata in hash-map order, which changes from process to
    process; sorting makes equal networks give equal bytes (stored blobs compare equal
    and resumed sweeps are bit-identical). The header keeps its length and padding.
    """
    import json

    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    if len(text) > n:  # never expected: keep the original bytes
        return data
    return data[:8] + text + b" " * (n - len(text)) + data[8 + n :]


def _read_safetensors(data: bytes, source: str) -> tuple[dict[str, str], dict[str, Tensor]]:
    import json

    from safetensors.torch import load

    def refuse(reason: str) -> ValueError:
        return ValueError(f"File {source} is not a readable mtlreg network: {reason}.")

    if data[:4] == b"PK\x03\x04" or data[:2] == b"\x80\x02":
        raise refuse("it looks like a PyTorch .pt (pickle) file; save networks with net.save()")
    if len(data) < 8:
        raise refuse(f"the file has {len(data)} bytes, too short for a safetensors header")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise refuse(
            f"its header announces {n} bytes but the file has {len(data)} "
            "(truncated, or not a safetensors file)"
        )
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, ValueError):
        raise refuse(
            "its header is not valid JSON (corrupted, or not a safetensors file)"
        ) from None
    if not isinstance(header, dict):
        raise refuse("its header is not a mapping")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"File {source} is not an mtlreg network (missing metadata).")
    try:
        state = load(data)
    except Exception as exc:  # safetensors raises its own error types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise refuse(f"its tensors cannot be read ({reason[:80]})") from None
    return {str(k): str(v) for k, v in meta.items()}, state


def _network_from(meta: dict[str, str], state: dict[str, Tensor], source: str) -> ShallowReLUNet:
    def refuse(reason: str) -> ValueError:
        return ValueError(f"File {source} is not a valid mtlreg network: {reason}.")

    try:
        in_dim, out_dim, width = (int(meta[k]) for k in ("in_dim", "out_dim", "width"))
        skip = {"True": True, "False": False}[meta["skip"]]
    except (KeyError, ValueError):
        raise refuse("its metadata lacks in_dim, out_dim, width or skip") from None
    if min(in_dim, out_dim, width) < 1:
        raise refuse(f"its metadata gives in_dim={in_dim}, out_dim={out_dim}, width={width}")
    shapes = {"w": (width, in_dim), "b": (width,), "v": (width, out_dim)}
    if skip:
        shapes.update({"A": (out_dim, in_dim), "c": (out_dim,)})
    if set(state) != set(shapes):
        raise refuse(f"it holds tensors {sorted(state)}, expected {sorted(shapes)}")
    for key, shape in shapes.items():
        if tuple(state[key].shape) != shape:
            raise refuse(f"tensor {key!r} has shape {tuple(state[key].shape)}, expected {shape}")
    dtypes = {t.dtype for t in state.values()}
    if len(dtypes) != 1 or next(iter(dtypes)) not in _DTYPES:
        raise refuse(
            f"its tensors should all be float32 or float64; found {sorted(map(str, dtypes))}"
        )
    if "sha256" in meta and meta["sha256"] != _checksum(state):
        raise refuse("its checksum does not match its contents (the file was altered)")
    for key, t in state.items():
        if not bool(torch.isfinite(t).all()):
            raise refuse(f"tensor {key!r} holds NaN or infinite values")
    net = ShallowReLUNet(in_dim, out_dim, width, skip, dtype=next(iter(dtypes)), init="zeros")
    net.load_state_dict(state)
    return net
