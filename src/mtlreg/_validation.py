"""Eager input validation with one message style.

Every public function validates its arguments before doing any work and raises a
``ValueError`` (or ``TypeError``) whose message names the argument and what was
wrong, e.g. "Parameter `lam` should be a non-negative number. Found -1."
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    import torch


def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_array(
    value: ArrayLike,
    name: str,
    *,
    ndim: tuple[int, ...] = (1, 2),
    min_rows: int = 1,
    dtype: type = np.float64,
) -> NDArray[np.float64]:
    """Convert ``value`` to a finite float array with an allowed number of dimensions.

    Complex and boolean values are refused (never silently truncated or read as 0/1).
    """
    try:
        raw = np.asarray(value)
        kind = raw.dtype.kind
        if kind == "O" and raw.size:
            kinds = {np.asarray(v).dtype.kind for v in raw.ravel()[:1000]}
            kind = "c" if "c" in kinds else "b" if kinds == {"b"} else kind
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(
            f"Parameter `{name}` should be a numeric array. Found {_fmt(value)}."
        ) from exc
    if kind == "c":
        raise TypeError(
            f"Parameter `{name}` should hold real numbers. Found complex values "
            "(pass the real part explicitly if that is what you mean)."
        )
    if kind == "b":
        raise TypeError(f"Parameter `{name}` should hold numbers. Found booleans.")
    if kind in "mM":
        raise TypeError(f"Parameter `{name}` should hold numbers. Found dates or times.")
    try:
        arr: NDArray[np.float64] = np.asarray(raw, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(
            f"Parameter `{name}` should be a numeric array. Found {_fmt(value)}."
        ) from exc
    if arr.ndim not in ndim:
        allowed = " or ".join(str(n) for n in ndim)
        raise ValueError(
            f"Parameter `{name}` should have {allowed} dimension(s). Found shape {arr.shape}."
        )
    if arr.shape[0] < min_rows:
        raise ValueError(
            f"Parameter `{name}` should have at least {min_rows} row(s). Found shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"Parameter `{name}` should contain only finite values (no NaN or inf).")
    return arr


def check_inputs(X: ArrayLike, name: str = "X", *, min_rows: int = 1) -> NDArray[np.float64]:
    """Inputs of shape (N,) (1-D data) or (N, d), returned as (N, d)."""
    arr = check_array(X, name, ndim=(1, 2), min_rows=min_rows)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[1] < 1:
        raise ValueError(
            f"Parameter `{name}` should have at least one column. Found shape {arr.shape}."
        )
    return arr


def check_targets(Y: ArrayLike, n_rows: int, name: str = "Y") -> NDArray[np.float64]:
    """Targets of shape (N,) or (N, T), returned as (N, T); N must equal ``n_rows``."""
    arr = check_array(Y, name, ndim=(1, 2))
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] != n_rows:
        raise ValueError(
            f"Parameter `{name}` should have {n_rows} rows, one per input. Found {arr.shape[0]}."
        )
    if arr.shape[1] < 1:
        raise ValueError(
            f"Parameter `{name}` should have at least one column. Found shape {arr.shape}."
        )
    return arr


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """A finite real number in the given interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Parameter `{name}` should be a real number. Found {_fmt(value)}.")
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"Parameter `{name}` should be a finite number. Found {_fmt(value)}.")
    if low is not None and (out < low or (out == low and not low_inclusive)):
        bound = ">=" if low_inclusive else ">"
        raise ValueError(f"Parameter `{name}` should be {bound} {low}. Found {_fmt(value)}.")
    if high is not None and (out > high or (out == high and not high_inclusive)):
        bound = "<=" if high_inclusive else "<"
        raise ValueError(f"Parameter `{name}` should be {bound} {high}. Found {_fmt(value)}.")
    return out


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in the given closed interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"Parameter `{name}` should be an integer. Found {_fmt(value)}.")
    out = int(value)
    if low is not None and out < low:
        raise ValueError(f"Parameter `{name}` should be an integer >= {low}. Found {_fmt(value)}.")
    if high is not None and out > high:
        raise ValueError(f"Parameter `{name}` should be an integer <= {high}. Found {_fmt(value)}.")
    return out


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of strings; the message lists them."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"Parameter `{name}` should be one of {listed}. Found {_fmt(value)}.")
    return value


#: Largest seed accepted: seeds are passed to torch, whose generators take 64-bit ints.
MAX_SEED = 2**63 - 1


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """``None`` or an integer seed in ``[0, 2**63 - 1]``."""
    if seed is None:
        return None
    return check_int(seed, name, low=0, high=MAX_SEED)


def check_dtype(dtype: object, name: str = "dtype") -> torch.dtype:
    """A floating torch dtype the package computes in: torch.float32 or torch.float64."""
    import torch

    if not isinstance(dtype, torch.dtype) or dtype not in (torch.float32, torch.float64):
        raise TypeError(
            f"Parameter `{name}` should be torch.float32 or torch.float64. Found {dtype!r}."
        )
    return dtype


def check_device(device: object, name: str = "device") -> torch.device:
    """A torch device that can allocate here (e.g. ``"cpu"``, or ``"cuda"`` with a GPU)."""
    import torch

    try:
        dev = torch.device(device)  # type: ignore[call-overload]
        torch.empty(0, device=dev)
    except (RuntimeError, TypeError, ValueError, AssertionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(
            f"Parameter `{name}` should be an available torch device such as 'cpu'. "
            f"Found {device!r} ({reason[:80]})."
        ) from None
    return dev
