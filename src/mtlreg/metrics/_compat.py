"""The deprecated ``output=`` keyword of the measures (renamed ``task=``; one release)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def accepts_output_keyword(func: Callable[P, R]) -> Callable[P, R]:
    """Let ``func(..., output=k)`` mean ``func(..., task=k)``, with a DeprecationWarning."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if "output" in kwargs:
            if "task" in kwargs:
                raise TypeError("Give `task` only (`output` is its deprecated name). Found both.")
            warnings.warn(
                f"`{func.__name__}(output=...)` is deprecated and will be removed in the next "
                "release; use `task=`.",
                DeprecationWarning,
                stacklevel=2,
            )
            kwargs["task"] = kwargs.pop("output")
        return func(*args, **kwargs)

    return wrapper
