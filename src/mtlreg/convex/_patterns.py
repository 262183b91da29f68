"""Activation patterns of the hyperplane arrangement of the data (docs/theory.md §4).

A pattern is the set of data points a ReLU neuron ``relu(w . x + b)`` is active on,
i.e. the sign vector of ``Xb u`` with ``Xb = [X, 1]`` and ``u = (w, b)``. The
realisable patterns are the cells of the central arrangement of the hyperplanes
``{u : xb_i . u = 0}`` in R^(d+1). Patterns are returned as a boolean array of
shape (P, N), one row per pattern (``True`` = active), the empty pattern left out.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtlreg._validation import check_inputs, check_int, check_seed

#: default limit on the number of patterns :func:`enumerate_patterns` may produce.
MAX_PATTERNS = 20_000


def count_patterns_bound(n_samples: int, dim: int) -> int:
    """Number of cells of a central arrangement of ``n_samples`` hyperplanes in general
    position in R^(dim+1): ``2 sum_{k<=dim} C(n-1, k)``, an upper bound on the number of
    activation patterns of n points in R^dim (Cover's counting function)."""
    n = check_int(n_samples, "n_samples", low=1)
    d = check_int(dim, "dim", low=1)
    return 2 * sum(math.comb(n - 1, k) for k in range(d + 1))


def enumerate_patterns(
    X: ArrayLike, *, max_patterns: int = MAX_PATTERNS, tol: float = 1e-9
) -> NDArray[np.bool_]:
    """All realisable activation patterns of ReLU neurons (with bias) on the inputs.

    Exact: every cell of the arrangement is found through one of its extreme rays,
    which lies on ``d`` of the hyperplanes; points exactly on a ray (degenerate data,
    e.g. collinear points) are handled by recursing into the lower-dimensional
    arrangement at that ray. The cost grows like ``C(N, d) 2^d``.

    Parameters
    ----------
    X
        Inputs, shape (N,) or (N, d).
    max_patterns
        Refuse (``ValueError``) when the general-position bound on the number of
        patterns exceeds this; use :func:`sample_patterns` then.
    tol
        Relative tolerance for a point to lie on a hyperplane.

    Returns
    -------
    Boolean array (P, N), rows sorted lexicographically, the all-inactive row omitted.

    Example
    -------
    >>> enumerate_patterns([0.0, 1.0, 2.0]).astype(int).tolist()
    [[0, 0, 1], [0, 1, 1], [1, 0, 0], [1, 1, 0], [1, 1, 1]]
    """
    x = check_inputs(X, "X")
    max_patterns = check_int(max_patterns, "max_patterns", low=1)
    n, d = x.shape
    bound = count_patterns_bound(n, d)
    if bound - 1 > max_patterns:
        raise ValueError(
            f"Enumerating the activation patterns of {n} points in dimension {d} could give "
            f"up to {bound - 1} patterns (more than `max_patterns`={max_patterns}). "
            "Use `sample_patterns(X, n_patterns)` (or `patterns='sample'`) for an upper "
            "bound, or raise `max_patterns`."
        )
    xb = np.concatenate([x, np.ones((n, 1))], axis=1)
    xb = xb / np.linalg.norm(xb, axis=1, keepdims=True)
    signs = _cells(xb, tol)
    pats = np.unique(signs, axis=0)
    pats = pats[pats.any(axis=1)]
    return _sort_rows(pats)


def sample_patterns(
    X: ArrayLike, n_patterns: int, *, seed: int | None = None, max_tries: int = 50
) -> NDArray[np.bool_]:
    """Up to ``n_patterns`` distinct patterns of random neurons (an inner approximation).

    Directions are Gaussian; each hyperplane passes through a random convex combination
    of two data points, so every sampled neuron splits the data. The all-active
    pattern (a free constant) is always included.
    """
    x = check_inputs(X, "X")
    n_patterns = check_int(n_patterns, "n_patterns", low=1)
    rng = np.random.default_rng(check_seed(seed))
    n, d = x.shape
    found = {np.ones(n, dtype=bool).tobytes()}
    out = [np.ones(n, dtype=bool)]
    for _ in range(max_tries):
        if len(out) >= n_patterns:
            break
        m = 2 * n_patterns
        w = rng.standard_normal((m, d))
        i, j = rng.integers(0, n, m), rng.integers(0, n, m)
        t = rng.random((m, 1))
        points = t * x[i] + (1 - t) * x[j]
        b = -(w * points).sum(axis=1)
        pats = (x @ w.T + b) >= 0
        for row in pats.T:
            key = row.tobytes()
            if row.any() and key not in found:
                found.add(key)
                out.append(row.copy())
                if len(out) >= n_patterns:
                    break
    return _sort_rows(np.array(out))


def _sort_rows(pats: NDArray[np.bool_]) -> NDArray[np.bool_]:
    order = np.lexsort(pats.T[::-1])
    return pats[order]


def _cells(a: NDArray[np.float64], tol: float) -> NDArray[np.bool_]:
    """Sign patterns (True = positive side) of the cells of the central arrangement
    with normals ``a`` (n, m). Works in the row space of ``a``."""
    n = a.shape[0]
    # reduce to the row space: cells of a rank-r arrangement are products of a
    # lineality space with the cells of an essential arrangement in R^r
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    rank = int((s > tol * s[0]).sum())
    a = a @ vt[:rank].T
    m = rank
    if m == 1:
        pos = a[:, 0] > 0
        return np.stack([pos, ~pos])
    found: list[NDArray[np.bool_]] = []
    seen_rays: set[bytes] = set()
    subsets = np.array(list(itertools.combinations(range(n), m - 1)), dtype=np.intp)
    sub = a[subsets]  # (S, m-1, m)
    _, sv, vts = np.linalg.svd(sub, full_matrices=True)
    ok = sv[:, -1] > tol * np.maximum(sv[:, 0], 1e-300)
    rays = vts[ok, -1, :]  # null vectors (S', m)
    vals = rays @ a.T  # (S', n)
    on = np.abs(vals) <= tol
    n_on = on.sum(axis=1)
    generic = n_on == m - 1
    # general position: the m-1 points on the ray take all 2^(m-1) sign combinations
    if generic.any():
        combos = np.array(list(itertools.product((False, True), repeat=m - 1)), dtype=bool)
        for sgn in (1.0, -1.0):
            base = (sgn * vals[generic]) > 0  # (G, n)
            idx = subsets[ok][generic]  # (G, m-1)
            pats = np.repeat(base[:, None, :], len(combos), axis=1)  # (G, C, n)
            rows = np.arange(len(idx))[:, None, None]
            cidx = np.arange(len(combos))[None, :, None]
            pats[rows, cidx, idx[:, None, :]] = combos[None, :, :]
            found.append(pats.reshape(-1, n))
    # degenerate rays: recurse into the arrangement of the points on the ray
    for row in np.flatnonzero(~generic):
        key = on[row].tobytes()
        if key in seen_rays:
            continue
        seen_rays.add(key)
        on_idx = np.flatnonzero(on[row])
        ray = rays[row]
        basis = np.linalg.svd(ray[None, :])[2][1:]  # orthonormal basis of ray^perp
        sub_cells = _cells(a[on_idx] @ basis.T, tol)
        for sgn in (1.0, -1.0):
            base = (sgn * vals[row]) > 0
            pats = np.repeat(base[None, :], len(sub_cells), axis=0)
            pats[:, on_idx] = sub_cells
            found.append(pats)
    return np.concatenate(found, axis=0)


__all__ = ["MAX_PATTERNS", "count_patterns_bound", "enumerate_patterns", "sample_patterns"]
