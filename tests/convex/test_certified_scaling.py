"""The certified solver at extreme input and label scales: one place (the solver itself)
works at unit scale, the mapped-back solution and its network measure the same objective,
and a solution that float64 cannot represent is never claimed certified."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlreg.convex import CertifiedSolution, solve
from mtlreg.tasks import aux_tasks

TWO_SQUARES = np.array(
    [[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]], dtype=float
)
LABELS = aux_tasks(
    np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float), 2, dist="bernoulli", p=0.5, seed=12345
)
LAM = 1e-3


def _network_objective(sol: CertifiedSolution, x: np.ndarray, y: np.ndarray) -> float:
    """(1/N) ||Y - f(X)||^2 + lam * weight decay of ``sol.to_network()``, in float64."""
    net = sol.to_network(width=32)
    with torch.no_grad():
        resid = net(torch.as_tensor(x)) - torch.as_tensor(y)
        fit = float(resid.pow(2).sum()) / x.shape[0]
        return fit + sol.lam * float(net.weight_decay())


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize(
    ("a", "c"), [(1e200, 1.0), (1e-150, 1.0), (1.0, 1e-140), (1.0, 1e140), (1e200, 1e100)]
)
def test_network_measures_the_solution_objective_at_any_scale(
    a: float, c: float, skip: bool
) -> None:
    """Inputs by a, labels by c, lam by a c: the optimum scales by c^2, and the balanced
    network of the solution measures that objective (its weight decay included). Without
    skip the constant neuron's weight decay used to be 5e-13 ||c||^2 whatever lam: at
    a = 1e200 (lam = 1e197) the network measured 8e184 instead of 5.8e-3."""
    ref = solve(TWO_SQUARES, LABELS, LAM, skip=skip, method="cg", tol=1e-7)
    x, y = TWO_SQUARES * a, LABELS * c
    sol = solve(x, y, LAM * a * c, skip=skip, method="cg", tol=1e-7)
    assert isinstance(sol, CertifiedSolution) and sol.exact and sol.converged
    assert sol.objective == pytest.approx(ref.objective * c * c, rel=1e-9)
    assert sol.lower_bound <= sol.objective * (1 + 1e-12)
    assert _network_objective(sol, x, y) == pytest.approx(sol.objective, rel=1e-12)
    np.testing.assert_allclose(sol.to_network().predict(x), sol.predictions, rtol=0, atol=1e-9 * c)


def test_constant_neuron_costs_nothing_measurable() -> None:
    """Without skip the free constant is a neuron with w = 0; its weight decay is 1e-16
    of objective / lam (was 5e-13 ||c||^2, 1.4e-13 of this objective)."""
    sol = solve(TWO_SQUARES, LABELS, LAM, skip=False, method="cg", tol=1e-7)
    assert isinstance(sol, CertifiedSolution) and np.any(sol.skip_bias != 0.0)
    net = sol.to_network()
    with torch.no_grad():
        wd, vv = float(net.weight_decay()), float(net.vv_norm())
    assert abs(wd - vv) <= 1e-15 * sol.objective / LAM
    assert (net.w.norm(dim=1) == 0).sum() == 1


def test_unrepresentable_solution_is_not_certified() -> None:
    """Inputs at 1e200 and labels at 1e-140: output weights of size 1e-340 underflow, so
    the mapped-back penalty is 0 and the objective falls 180x below the bound. The solver
    used to claim it certified; it must not."""
    ref = solve(TWO_SQUARES, LABELS, LAM, skip=False, method="cg", tol=1e-7)
    a, c = 1e200, 1e-140
    sol = solve(TWO_SQUARES * a, LABELS * c, LAM * a * c, skip=False, method="cg", tol=1e-7)
    assert isinstance(sol, CertifiedSolution)
    assert sol.lower_bound == pytest.approx(ref.lower_bound * c * c, rel=1e-6)
    assert not sol.converged


@pytest.mark.parametrize("skip", [False, True])
def test_labels_in_the_free_part_give_no_bound_above_the_objective(skip: bool) -> None:
    """A residual that is zero up to rounding gave a dual value of order one from <Z, Y>
    (O(eps)) against ||Z||^2 (O(eps^2)): the bound was 4.9e-3 above an objective 1.7e-29
    (skip) and still certified. The bound uses <Z, P Y>."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((6, 2))
    y = x @ rng.standard_normal((2, 3)) + 1.0 if skip else np.ones((6, 3))
    sol = solve(x, y, 1e-2, skip=skip, method="cg")
    assert sol.converged
    assert sol.lower_bound <= sol.objective + 1e-12 * float(np.mean(y**2))
