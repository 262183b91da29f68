"""Property tests (hypothesis): random shapes, scales 1e-150..1e150, NaN positions and
dtypes through ``train``, ``aux_tasks``, ``univariate.*`` and ``convex.*``.

Every draw ends in one of two ways: a clear ``ValueError``/``TypeError`` (or
``TrainingError``) naming the argument, or a finite result that satisfies the
problem's own identities. Examples are derandomised and few, so the suite stays fast.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import mtlreg
from mtlreg import aux_tasks, convex, train, univariate

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
DTYPES = ["float64", "float32", "int64", "complex128", "bool"]
NAMED = re.compile(r"`(X|Y|x|y|lam)`")


@st.composite
def data(draw: Any, *, max_n: int = 7, max_d: int = 2, distinct_1d: bool = False) -> dict:
    n = draw(st.integers(3, max_n))
    d = draw(st.integers(1, max_d))
    t = draw(st.integers(1, 3))
    sx = 10.0 ** draw(st.integers(-150, 150))
    sy = 10.0 ** draw(st.integers(-150, 150))
    dtype = draw(st.sampled_from(DTYPES))
    nan_at = draw(st.one_of(st.none(), st.tuples(st.sampled_from("XY"), st.integers(0, n - 1))))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    if distinct_1d:
        X = (np.sort(rng.choice(10 * n, size=n, replace=False)) / n - 5.0) * sx
        X = X[:, None]
    else:
        X = rng.standard_normal((n, d)) * sx
    Y = rng.standard_normal((n, t)) * sy
    if nan_at is not None:
        which, i = nan_at
        (X if which == "X" else Y)[i, 0] = np.nan
    if dtype == "bool":
        X = X > 0
    elif dtype == "complex128":
        X = X + 1j
    elif dtype == "int64":
        if nan_at is not None and nan_at[0] == "X":
            nan_at = None  # an integer array holds no NaN
        X = np.round(np.nan_to_num(X / sx) * 3).astype(np.int64)  # small integers
    elif dtype == "float32":
        X = X.astype(np.float32)
    return {"X": X, "Y": Y, "dtype": dtype, "nan": nan_at, "sx": sx, "sy": sy}


def _bad(case: dict) -> bool:
    return case["dtype"] in {"bool", "complex128"} or case["nan"] is not None


def _float32_overflow(case: dict) -> bool:
    return case["dtype"] == "float32" and not np.all(np.isfinite(case["X"]))


def _check_error(exc: Exception, case: dict) -> None:
    message = str(exc)
    assert "\n" not in message.strip()
    if _bad(case) or _float32_overflow(case):
        assert NAMED.search(message), message
    else:  # a good input refused: only for a stated numerical reason, naming an argument
        assert "`" in message, message


@SETTINGS
@given(case=data())
def test_train_gives_a_clear_error_or_an_honest_result(case: dict) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = train(case["X"], case["Y"], width=3, lam=1e-3, seed=0, max_steps=3)
    except (ValueError, TypeError, mtlreg.TrainingError) as exc:
        _check_error(exc, case)
        return
    assert not _bad(case), "bad input accepted"
    assert np.isfinite(res.objective)
    assert res.objective >= 0.0
    pred = res.predict(np.asarray(case["X"], dtype=np.float64))
    assert pred.shape == (case["X"].shape[0], case["Y"].shape[1])


@SETTINGS
@given(case=data(), n_aux=st.integers(0, 4), dist=st.sampled_from(["gaussian", "bernoulli"]))
def test_aux_tasks_keep_the_labels_or_refuse(case: dict, n_aux: int, dist: str) -> None:
    y = case["X"][:, 0]  # the drawn inputs' first column serves as labels of any dtype
    nan_in_y = case["nan"] is not None and case["nan"][0] == "X"
    refused = case["dtype"] in {"bool", "complex128"} or nan_in_y or _float32_overflow(case)
    if refused:
        with pytest.raises((ValueError, TypeError), match="`y`"):
            aux_tasks(y, n_aux, dist=dist, seed=0)
        return
    out = aux_tasks(y, n_aux, dist=dist, seed=0)
    assert out.shape == (y.shape[0], 1 + n_aux)
    np.testing.assert_array_equal(out[:, 0], np.asarray(y, dtype=np.float64))
    assert np.all(np.isfinite(out))


@SETTINGS
@given(case=data(distinct_1d=True))
def test_univariate_results_are_right_or_refused(case: dict) -> None:
    x, Y = case["X"][:, 0], case["Y"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r_star = univariate.min_norm(x, Y)
            opt = univariate.weight_decay_optimum(x, Y, lam=1e-3 * case["sx"] * case["sy"])
    except (ValueError, TypeError) as exc:
        _check_error(exc, case)
        return
    assert not _bad(case)
    assert np.isfinite(r_star) and r_star >= 0.0
    # scale covariance against the same data brought back to unit scale
    xs, ys = np.asarray(x, dtype=np.float64), Y
    if case["dtype"] == "float64":
        unit = univariate.min_norm(xs / case["sx"], ys / case["sy"])
        np.testing.assert_allclose(r_star, unit * case["sy"] / case["sx"], rtol=1e-8)
    assert np.isfinite(opt.objective)
    assert opt.relative_gap <= 1e-6
    assert opt.penalty <= r_star * (1 + 1e-9) + 1e-300  # never more bending than f_D


@settings(SETTINGS, max_examples=6, phases=[Phase.explicit, Phase.generate])
@given(case=data(max_n=5, max_d=2))
def test_convex_solve_is_certified_or_refused(case: dict) -> None:
    y = case["Y"][:, 0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = convex.solve(case["X"], y, lam=1e-3 * case["sy"] ** 2)
    except (ValueError, TypeError) as exc:
        _check_error(exc, case)
        return
    assert not _bad(case)
    assert np.isfinite(sol.objective)
    assert sol.objective >= 0.0
    if getattr(sol, "converged", False):  # a claimed convergence must be certified
        assert sol.relative_gap <= 1e-3
