"""train(method="auto") returns the certified optimum where it can (issue #12).

Properties: auto equals method="certified" where the certified network fits; where it
does not, auto trains by gradient but carries the certified bound (which never exceeds
any network's objective); outside the exact dimensions or the size rule it is plain
gradient training; every result obeys the result protocol.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mtlreg
from mtlreg._result import SolverResult
from mtlreg.convex import EXACT_DIMS, CertifiedSolution, solve
from mtlreg.training import RECIPES, Problem, train, train_many
from mtlreg.training._base import TrainOptions, check_problem
from mtlreg.training._certified import AUTO_MAX_SAMPLES, compact
from mtlreg.training._exact import AutoRecipe

SQ_X = np.array(
    [[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]], dtype=np.float64
)
SQ_Y = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=np.float64)
LAM = 1e-3


def _squares(n_tasks: int) -> np.ndarray:
    if n_tasks == 1:
        return SQ_Y
    return mtlreg.aux_tasks(SQ_Y, n_tasks - 1, dist="bernoulli", p=0.5, seed=12345)


def _protocol(res: mtlreg.TrainResult, lam: float) -> None:
    assert isinstance(res, SolverResult)
    assert res.objective == pytest.approx(res.fit + lam * res.penalty, rel=1e-12)
    if math.isfinite(res.lower_bound):
        assert res.gap == res.objective - res.lower_bound
        assert res.gap >= -1e-12 * res.objective
    else:
        assert math.isnan(res.gap)
    if res.converged and res.config["solver"] != "continuation":
        assert res.relative_gap <= max(res.config["tol"], 1e-9)


@pytest.mark.parametrize("n_tasks", [1, 101])
def test_auto_is_the_certified_optimum_on_two_squares(n_tasks: int) -> None:
    Y = _squares(n_tasks)
    auto = train(SQ_X, Y, width=32, lam=LAM, skip=False, seed=0)
    cert = train(SQ_X, Y, width=32, lam=LAM, skip=False, method="certified")
    assert auto.config["solver"] == "certified-cg" and auto.config["method"] == "auto"
    assert auto.converged and auto.config["certified"]
    assert auto.objective == pytest.approx(cert.objective, rel=1e-9)
    assert auto.lower_bound == pytest.approx(cert.lower_bound, rel=1e-9)
    assert auto.net.width == 32
    _protocol(auto, LAM)
    # the compacted optimum fits exactly its own neuron count
    assert auto.config["neurons"] <= auto.config["solver_neurons"]
    tight = train(SQ_X, Y, width=auto.config["neurons"], lam=LAM, skip=False)
    assert tight.config["solver"] == "certified-cg" and tight.objective == auto.objective
    # the returned network is the optimum of the problem itself, not of a rescaled one
    ref = solve(SQ_X, Y, LAM, method="cg", tol=1e-9)
    assert auto.objective <= ref.objective * (1 + 1e-6)
    assert auto.lower_bound <= ref.objective * (1 + 1e-12)


@pytest.mark.parametrize("n_tasks", [1, 101])
def test_auto_too_narrow_trains_but_keeps_the_certified_bound(n_tasks: int) -> None:
    Y = _squares(n_tasks)
    cert = train(SQ_X, Y, width=32, lam=LAM, skip=False, method="certified")
    width = cert.config["neurons"] - 1  # one neuron short of the optimum
    res = train(SQ_X, Y, width=width, lam=LAM, skip=False, seed=0, max_steps=1500)
    assert res.config["solver"] == "continuation" and res.net.width == width
    assert res.config["certified_attempt"]["reason"] == "width"
    # the bound is proven for every network of the problem: the certified one's or better
    assert res.lower_bound >= cert.lower_bound * (1 - 1e-12)
    assert res.lower_bound <= cert.objective * (1 + 1e-12)
    assert res.lower_bound <= res.objective
    assert not res.config["certified"]  # a too-narrow network is above the optimum
    _protocol(res, LAM)
    # the network itself is what continuation trains (the attempt only adds the bound)
    plain = train(SQ_X, Y, width=width, lam=LAM, skip=False, seed=0, max_steps=1500,
                  method="continuation")  # fmt: skip
    assert res.objective == plain.objective and res.converged == plain.converged
    assert math.isnan(plain.lower_bound)


def test_auto_outside_the_exact_dimensions_is_continuation() -> None:
    d = max(EXACT_DIMS) + 1
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((12, d)), rng.standard_normal((12, 2))
    res = train(X, Y, width=6, lam=1e-2, seed=0, max_steps=400)
    plain = train(X, Y, width=6, lam=1e-2, seed=0, max_steps=400, method="continuation")
    assert res.config["solver"] == "continuation" and "certified_attempt" not in res.config
    assert res.objective == plain.objective and math.isnan(res.lower_bound)
    _protocol(res, 1e-2)


def test_auto_on_large_problems_is_continuation() -> None:
    n = AUTO_MAX_SAMPLES[2] + 1
    rng = np.random.default_rng(1)
    X, y = rng.uniform(-1, 1, (n, 2)), rng.standard_normal(n)
    res = train(X, y, width=4, lam=1e-2, seed=0, max_steps=200)
    assert res.config["solver"] == "continuation" and "certified_attempt" not in res.config
    assert math.isnan(res.lower_bound)
    # lam = 0 has no certified solver either
    zero = train(X[:20], y[:20], width=4, lam=0.0, seed=0, max_steps=200)
    assert zero.config["solver"] == "continuation" and math.isnan(zero.lower_bound)


def test_auto_over_budget_returns_the_better_network_with_a_valid_bound() -> None:
    """A certified solve stopped by its budget is compared with gradient training."""
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((20, 2)), rng.standard_normal((20, 3))
    lam = 1e-3
    recipe = AutoRecipe(fallback=RECIPES["continuation"], max_seconds=1e-3)  # type: ignore[arg-type]
    checked = [check_problem(Problem(X, Y, 200, lam, seed=0), 0, "")]
    res = recipe.run(checked, TrainOptions(max_steps=600))[0]
    assert isinstance(res, mtlreg.TrainResult)
    assert res.config["certified_attempt"]["reason"] == "budget"
    plain = train(X, Y, width=200, lam=lam, seed=0, max_steps=600, method="continuation")
    assert res.objective <= plain.objective
    optimum = train(X, Y, width=200, lam=lam, method="certified")
    assert res.lower_bound <= optimum.objective * (1 + 1e-12)
    assert res.objective >= optimum.lower_bound
    _protocol(res, lam)
    if res.config["solver"] == "certified-cg":  # converged only where the gap is certified
        assert res.converged == (res.relative_gap <= 1e-7)
    else:  # the trained network keeps its stopping rule; the bound is extra
        assert res.config["solver"] == "continuation" and res.converged == plain.converged


def test_auto_mean_convention_and_one_dimension_without_skip() -> None:
    Y = _squares(5)
    mean = train(SQ_X, Y, width=32, lam=LAM, skip=False, task_reduction="mean")
    total = train(SQ_X, Y, width=32, lam=5 * LAM, skip=False)  # "mean" is "sum" at T lam, / T
    assert mean.config["solver"] == "certified-cg" and mean.converged
    assert mean.objective == pytest.approx(total.objective / 5, rel=1e-8)
    _protocol(mean, LAM)
    narrow = train(SQ_X, Y, width=2, lam=LAM, skip=False, task_reduction="mean", max_steps=300)
    assert narrow.config["solver"] == "continuation"
    assert mean.lower_bound * (1 - 1e-12) <= narrow.lower_bound <= narrow.objective
    # 1-D without skip: the univariate exact solver does not apply, the certified one does
    x = np.linspace(-1, 1, 9)
    one = train(x, np.abs(x) + x**2, width=16, lam=1e-3, skip=False)
    ref = train(x, np.abs(x) + x**2, width=16, lam=1e-3, skip=False, method="certified")
    assert one.config["solver"] == "certified-cg"
    assert one.objective == pytest.approx(ref.objective, rel=1e-9)


def test_auto_one_dimension_too_narrow_keeps_the_exact_bound() -> None:
    rng = np.random.default_rng(13)
    x = np.sort(rng.uniform(-2, 2, 9))
    Y = mtlreg.aux_tasks(rng.standard_normal(9), 2, seed=1)
    wide = train(x, Y, width=16, lam=1e-4)
    assert wide.config["solver"] == "exact-1d"
    res = train(x, Y, width=3, lam=1e-4, seed=0, max_steps=500)
    assert res.config["solver"] == "continuation" and res.net.width == 3
    assert res.lower_bound == pytest.approx(wide.lower_bound, rel=1e-12)
    assert res.lower_bound <= res.objective
    _protocol(res, 1e-4)


def test_train_many_auto_equals_train() -> None:
    Y = _squares(3)
    rng = np.random.default_rng(4)
    X3 = rng.standard_normal((10, max(EXACT_DIMS) + 1))
    batch = train_many(
        [Problem(SQ_X, Y, 32, LAM, seed=0, skip=False), Problem(X3, X3[:, :1], 4, 1e-2, seed=1)],
        max_steps=300,
    )
    alone = train(SQ_X, Y, width=32, lam=LAM, seed=0, skip=False, max_steps=300)
    other = train(X3, X3[:, :1], width=4, lam=1e-2, seed=1, max_steps=300)
    first, second = batch
    assert isinstance(first, mtlreg.TrainResult) and isinstance(second, mtlreg.TrainResult)
    assert first.objective == alone.objective and first.config["solver"] == "certified-cg"
    assert second.objective == other.objective and second.config["solver"] == "continuation"
    for a, b in ((first, alone), (second, other)):  # the same networks, bit for bit
        sa, sb = a.net.state_dict(), b.net.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_compact_merges_neurons_without_changing_the_data_fit() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    y = np.sin(X @ [1.0, 2.0]) + 0.1 * rng.standard_normal(20)
    sol = solve(X, y, 1e-3, skip=True, method="cg", tol=1e-6)
    assert isinstance(sol, CertifiedSolution)
    small = compact(sol, X)
    assert small.n_neurons < sol.n_neurons
    np.testing.assert_allclose(small.predict(X), sol.predict(X), atol=1e-9)
    assert np.allclose(np.linalg.norm(small.weights, axis=1), 1.0)
    assert np.linalg.norm(small.V, axis=1).sum() <= np.linalg.norm(sol.V, axis=1).sum() + 1e-12


@pytest.mark.parametrize("scale", [1e200, 1e-150])
def test_auto_and_certified_are_scale_equivariant(scale: float) -> None:
    """(s X, Y, s lam) is the problem (X, Y, lam) with the first layer scaled by 1/s: the
    certified answer has the same objective and bound (each certified to 1e-7, so they
    agree to about that) and the same fitted values (unique at the optimum)."""
    Y = _squares(3)
    ref = train(SQ_X, Y, width=32, lam=LAM, skip=False)
    for method in ("auto", "certified"):
        res = train(SQ_X * scale, Y, width=32, lam=LAM * scale, skip=False, method=method)
        assert res.config["solver"] == "certified-cg" and res.converged
        assert res.objective == pytest.approx(ref.objective, rel=2e-7)
        assert res.lower_bound <= ref.objective * (1 + 1e-12)
        assert ref.lower_bound <= res.objective * (1 + 1e-12)
        np.testing.assert_allclose(res.predict(SQ_X * scale), ref.predict(SQ_X), atol=1e-3)


def test_auto_returns_networks_in_the_requested_dtype() -> None:
    """The bound is computed in float64 without touching the returned float32 network."""
    for width in (32, 3):  # the certified network, then a too-narrow trained one
        res = train(SQ_X, SQ_Y, width=width, lam=LAM, skip=False, seed=0, max_steps=300,
                    dtype=torch.float32)  # fmt: skip
        assert all(p.dtype == torch.float32 for p in res.net.parameters())
        assert math.isfinite(res.lower_bound) and res.lower_bound <= res.objective
