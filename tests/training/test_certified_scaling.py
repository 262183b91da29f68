"""The certified recipes hand the problem to the certified solver as given (the solver
works at unit scale itself): the returned network measures the certified objective at
extreme input and label scales, and nothing unrepresentable is claimed certified."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import mtlreg
from mtlreg.convex import CertifiedSolution, solve
from mtlreg.training import train
from mtlreg.training._certified import _required_width, compact

SQ_X = np.array(
    [[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]], dtype=np.float64
)
SQ_Y = mtlreg.aux_tasks(
    np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=np.float64), 2, dist="bernoulli", p=0.5, seed=12345
)
LAM = 1e-3


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize(("a", "c"), [(1e-150, 1e100), (1e200, 1e100), (1.0, 1e-140)])
def test_certified_recipe_is_scale_equivariant_in_inputs_and_labels(
    a: float, c: float, skip: bool
) -> None:
    ref = train(SQ_X, SQ_Y, width=32, lam=LAM, skip=skip, method="certified")
    res = train(SQ_X * a, SQ_Y * c, width=32, lam=LAM * a * c, skip=skip, method="certified")
    assert res.converged and res.config["certified"]
    assert res.objective == pytest.approx(ref.objective * c * c, rel=1e-7)
    assert res.lower_bound <= res.objective * (1 + 1e-12)
    assert res.objective == pytest.approx(res.fit + LAM * a * c * res.penalty, rel=1e-12)
    np.testing.assert_allclose(res.predict(SQ_X * a) / c, ref.predict(SQ_X), atol=1e-6)


def test_unrepresentable_network_is_not_certified() -> None:
    """Inputs at 1e200, labels at 1e-140: output weights ~1e-340 leave float64. The
    network measured 0.0055 of the bound and was claimed certified (relative gap -182)."""
    a, c = 1e200, 1e-140
    res = train(SQ_X * a, SQ_Y * c, width=32, lam=LAM * a * c, skip=False, method="certified")
    assert not res.converged and not res.config["certified"]


def test_auto_fallback_below_the_bound_is_not_certified() -> None:
    """The same scale through ``auto``: it falls back to continuation, whose network
    measured a relative gap of -493 against the bound and was reported certified."""
    a, c = 1e200, 1e-140
    res = train(SQ_X * a, SQ_Y * c, width=32, lam=LAM * a * c, skip=False, method="auto")
    rel = res.config.get("relative_gap", float("nan"))
    assert not res.config["certified"] or rel >= -1e-12
    assert not (res.converged and res.config["certified"] and rel < -1e-12)


def test_neuron_norms_survive_tiny_output_weights() -> None:
    """Output weights of size 1e-200 (inputs at 1e200) have squares that underflow; the
    norms that prune and count neurons must not (compaction used to do nothing there and
    the width check counted no neuron)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 2))
    y = np.sin(x @ [1.0, 2.0]) + 0.1 * rng.standard_normal(20)
    sol = solve(x, y, 1e-3, skip=True, method="cg", tol=1e-6)
    assert isinstance(sol, CertifiedSolution)
    tiny = replace(sol, V=sol.V * 1e-200)
    assert _required_width(tiny) == _required_width(sol) > 1
    assert compact(tiny, x).n_neurons == compact(sol, x).n_neurons < sol.n_neurons
