"""Random auxiliary labels (docs/theory.md §2)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_array, check_choice, check_int, check_number, check_seed

AUX_DISTRIBUTIONS: tuple[str, ...] = ("gaussian", "bernoulli", "rademacher", "uniform")


def draw_labels(
    n: int,
    n_aux: int,
    dist: str = "gaussian",
    scale: float = 1.0,
    p: float = 0.5,
    seed: int | np.random.Generator | None = None,
) -> NDArray[np.float64]:
    """Draw an (n, n_aux) array of i.i.d. auxiliary labels.

    - ``gaussian``: N(0, scale^2)
    - ``bernoulli``: scale * Bernoulli(p), values in {0, scale}
    - ``rademacher``: scale * (+-1 with probability 1/2)
    - ``uniform``: Uniform(-scale * sqrt(3), scale * sqrt(3)) (variance scale^2)
    """
    n = check_int(n, "n", low=1)
    n_aux = check_int(n_aux, "n_aux", low=0)
    dist = check_choice(dist, "dist", AUX_DISTRIBUTIONS)
    scale = check_number(scale, "scale", low=0.0)
    p = check_number(p, "p", low=0.0, high=1.0)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))
    shape = (n, n_aux)
    if dist == "gaussian":
        return scale * rng.standard_normal(shape)
    if dist == "bernoulli":
        return scale * (rng.random(shape) < p).astype(np.float64)
    if dist == "rademacher":
        return scale * np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    half = scale * np.sqrt(3.0)
    return rng.uniform(-half, half, shape)


def aux_tasks(
    y: ArrayLike,
    n_aux: int,
    dist: str = "gaussian",
    scale: float = 1.0,
    p: float = 0.5,
    seed: int | np.random.Generator | None = None,
) -> NDArray[np.float64]:
    """Stack the real labels with ``n_aux`` columns of random auxiliary labels.

    Parameters
    ----------
    y
        Real labels, shape (N,) or (N, k).
    n_aux
        Number of auxiliary tasks (>= 0).
    dist
        ``"gaussian"`` (N(0, scale^2)), ``"bernoulli"`` (Bernoulli(p) in {0, 1}, times
        ``scale``), ``"rademacher"`` (+-scale) or ``"uniform"`` (variance scale^2).
    scale, p
        Distribution parameters (scale >= 0, 0 <= p <= 1).
    seed
        Seed or ``numpy.random.Generator``; the same seed gives the same labels.

    Returns
    -------
    ndarray of shape (N, k + n_aux): the k real label columns first.

    Example
    -------
    >>> Y = aux_tasks([0.0, 1.0, 0.5], n_aux=2, seed=0)
    >>> Y.shape
    (3, 3)
    """
    arr = check_array(y, "y", ndim=(1, 2))
    if arr.ndim == 1:
        arr = arr[:, None]
    extra = draw_labels(arr.shape[0], n_aux, dist=dist, scale=scale, p=p, seed=seed)
    return np.concatenate([arr, extra], axis=1)
