"""The data model: T related misspecified perceptrons with Gaussian features.

Task t has parameter ``xi_t = sigma v_t + v_0`` with ``v_0, ..., v_T ~ N(0, I/d)``
independent, so ``||xi_t||^2 -> 1 + sigma^2`` and the cosine between two tasks is
``rho = 1 / (1 + sigma^2)``. Its ``n_t`` samples are ``a ~ N(0, I_d)`` with labels
``y = phi(a . xi_t) + noise * eps``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mtlreg._validation import check_int, check_number, check_seed
from mtlreg.linear._link import Link, apply_link, check_link


def sigma_from_rho(rho: float) -> float:
    """Task-specific scale ``sigma`` giving task similarity ``rho = 1 / (1 + sigma^2)``."""
    rho = check_number(rho, "rho", low=0.0, high=1.0, low_inclusive=False)
    return math.sqrt(1.0 / rho - 1.0)


def check_sizes(n: int | Sequence[int], T: int | None = None) -> tuple[int, ...]:
    """Per-task sample sizes: one integer (repeated ``T`` times) or one per task."""
    if isinstance(n, Sequence) and not isinstance(n, str):
        sizes = tuple(check_int(k, "n", low=1) for k in n)
        if not sizes:
            raise ValueError("Parameter `n` should list at least one sample size. Found [].")
        if T is not None and len(sizes) != T:
            raise ValueError(
                f"Parameter `n` should have one size per task ({T}). Found {len(sizes)}."
            )
        return sizes
    T = 1 if T is None else T
    return (check_int(n, "n", low=1),) * T


@dataclass(frozen=True)
class MultiTaskData:
    """One draw of the multi-task data model.

    Attributes:
        A: the design matrices, one ``(n_t, d)`` array per task.
        y: the labels, one ``(n_t,)`` array per task.
        xi: the task parameters, shape ``(T, d)``.
    """

    A: tuple[NDArray[np.float64], ...]
    y: tuple[NDArray[np.float64], ...]
    xi: NDArray[np.float64]

    @property
    def n_tasks(self) -> int:
        return len(self.A)

    @property
    def dim(self) -> int:
        return int(self.xi.shape[1])


def sample_task_parameters(
    d: int, T: int, sigma: float, *, seed: int | np.random.Generator | None = None
) -> NDArray[np.float64]:
    """Task parameters ``xi_t = sigma v_t + v_0``, shape ``(T, d)``."""
    d = check_int(d, "d", low=1)
    T = check_int(T, "T", low=1)
    sigma = check_number(sigma, "sigma", low=0.0)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))
    v = rng.standard_normal((T + 1, d)) / math.sqrt(d)
    return sigma * v[1:] + v[0]


def sample_multitask(
    n: int | Sequence[int],
    d: int,
    T: int,
    sigma: float,
    phi: Link = "sign",
    *,
    noise: float = 0.0,
    seed: int | np.random.Generator | None = None,
) -> MultiTaskData:
    """Draw task parameters, Gaussian designs and labels ``phi(a . xi_t) + noise * eps``."""
    T = check_int(T, "T", low=1)
    sizes = check_sizes(n, T)
    d = check_int(d, "d", low=1)
    phi = check_link(phi)
    noise = check_number(noise, "noise", low=0.0)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))
    xi = sample_task_parameters(d, T, sigma, seed=rng)
    A = tuple(rng.standard_normal((k, d)) for k in sizes)
    y = tuple(
        apply_link(phi, A_t @ xi_t) + noise * rng.standard_normal(A_t.shape[0])
        for A_t, xi_t in zip(A, xi)
    )
    return MultiTaskData(A=A, y=y, xi=xi)
