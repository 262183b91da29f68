"""Deprecated argument names of :mod:`mtlreg.linear` (kept for one release)."""

from __future__ import annotations

import warnings
from typing import Any


def renamed(new_value: Any, old_value: Any, new: str, old: str, *, note: str = "") -> Any:
    """The value of argument ``new``, taking a deprecated ``old`` into account.

    ``old_value`` (already converted to the new convention by the caller) is used with
    a ``DeprecationWarning`` when given; giving both, or neither, is an error.
    """
    if old_value is not None:
        if new_value is not None:
            raise TypeError(f"Give `{new}` only (`{old}` is its deprecated name). Found both.")
        warnings.warn(
            f"`{old}` is deprecated and will be removed in the next release; use `{new}`{note}.",
            DeprecationWarning,
            stacklevel=3,
        )
        return old_value
    if new_value is None:
        raise TypeError(f"Parameter `{new}` is required.")
    return new_value
