"""Activation patterns: exact enumeration is complete and every pattern is realisable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from mtlreg.convex import count_patterns_bound, enumerate_patterns, sample_patterns

TWO_SQUARES = np.array(
    [[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]], dtype=float
)


def realisable(x: np.ndarray, pattern: np.ndarray) -> bool:
    """Strict feasibility of s_i (w . x_i + b) >= 1 by linear programming."""
    xb = np.column_stack([x, np.ones(len(x))])
    s = np.where(pattern, 1.0, -1.0)
    res = linprog(
        np.zeros(xb.shape[1]),
        A_ub=-(s[:, None] * xb),
        b_ub=-np.ones(len(x)),
        bounds=[(None, None)] * xb.shape[1],
        method="highs",
    )
    return bool(res.status == 0)


def brute_force(x: np.ndarray) -> set[bytes]:
    """All 2^N dichotomies checked one by one (independent exact enumeration)."""
    out = set()
    for bits in itertools.product((False, True), repeat=len(x)):
        pat = np.array(bits)
        if pat.any() and realisable(x, pat):
            out.add(pat.tobytes())
    return out


@pytest.mark.parametrize(
    "x",
    [
        TWO_SQUARES,
        np.random.default_rng(0).standard_normal((7, 2)),
        np.random.default_rng(1).standard_normal((6, 3)),
        np.array([0.0, 1.0, 1.0, 2.0, 5.0, 5.0]),  # 1-D with repeated points
        np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [0.0, 1.0], [1.0, 0.0]]),
    ],
)
def test_enumeration_equals_brute_force(x: np.ndarray) -> None:
    pats = enumerate_patterns(x)
    x2 = x if x.ndim == 2 else x[:, None]
    assert {p.tobytes() for p in pats} == brute_force(x2)
    assert len({p.tobytes() for p in pats}) == len(pats)


def test_general_position_count_matches_cover_bound() -> None:
    x = np.random.default_rng(2).standard_normal((12, 3))
    assert len(enumerate_patterns(x)) == count_patterns_bound(12, 3) - 1


def test_two_squares_count() -> None:
    assert len(enumerate_patterns(TWO_SQUARES)) == 45


def test_sampling_gives_realisable_subset() -> None:
    x = np.random.default_rng(3).standard_normal((10, 2))
    exact = {p.tobytes() for p in enumerate_patterns(x)}
    sampled = sample_patterns(x, 40, seed=0)
    assert len(sampled) == 40
    assert {p.tobytes() for p in sampled} <= exact
    assert sampled.all(axis=1).any()  # the free constant is always there


def test_too_many_patterns_is_a_clear_error() -> None:
    x = np.random.default_rng(4).standard_normal((200, 5))
    with pytest.raises(ValueError, match=r"up to \d+ patterns.*sample_patterns"):
        enumerate_patterns(x, max_patterns=10_000)


@pytest.mark.parametrize("bad", [np.zeros((0, 2)), np.array([[0.0, np.nan]]), [[1.0, np.inf]]])
def test_bad_inputs(bad: object) -> None:
    with pytest.raises(ValueError, match="Parameter `X`"):
        enumerate_patterns(bad)  # type: ignore[arg-type]
