"""The infinite-width kernel of random ReLU features (arc-cosine kernel of degree 1)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_inputs


def arccos_kernel(X: ArrayLike, X2: ArrayLike | None = None) -> NDArray[np.float64]:
    r"""E over (w, b) ~ N(0, I_{d+1}) of relu(w.x + b) relu(w.x' + b), shape (N, M).

    With x~ = (x, 1) and theta the angle between x~ and x~' (Cho & Saul, 2009),

    .. math:: k(x, x') = \frac{\|\tilde x\| \|\tilde x'\|}{2\pi}
              \left(\sin\theta + (\pi - \theta)\cos\theta\right).

    It is the limit of :meth:`InducedKernel.gram` divided by K for K random Gaussian
    neurons with equal weights: the kernel a network starts from, against which the
    learned kernels of :func:`induced_kernel` can be compared.
    """
    a = check_inputs(X, "X")
    b = a if X2 is None else check_inputs(X2, "X2")
    if b.shape[1] != a.shape[1]:
        raise ValueError(
            f"Parameter `X2` should have {a.shape[1]} column(s). Found shape {b.shape}."
        )
    at = np.hstack([a, np.ones((a.shape[0], 1))])
    bt = np.hstack([b, np.ones((b.shape[0], 1))])
    na = np.linalg.norm(at, axis=1)
    nb = np.linalg.norm(bt, axis=1)
    cos = np.clip((at @ bt.T) / np.outer(na, nb), -1.0, 1.0)
    theta = np.arccos(cos)
    return np.outer(na, nb) / (2.0 * np.pi) * (np.sin(theta) + (np.pi - theta) * cos)
