"""Certified multi-task optima: the exact dual oracle, agreement with independent exact
answers (1-D optimum, the pattern program), weak duality against every network tried,
invariances, the result contract and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlreg import ShallowReLUNet
from mtlreg._result import SolverResult
from mtlreg.convex import (
    EXACT_DIMS,
    CertifiedSolution,
    certificate,
    dual_lower_bound,
    dual_norm,
    network_objective,
    solve,
)
from mtlreg.tasks import aux_tasks
from mtlreg.univariate import weight_decay_optimum

TWO_SQUARES = np.array(
    [[1, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]], dtype=float
)
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float)


def _grid_sup(x: np.ndarray, z: np.ndarray, n_angles: int = 20001) -> float:
    """Independent estimate of Lambda(Z): every data point as the breakpoint, a dense
    grid of directions (a lower estimate that converges to the sup)."""
    th = np.linspace(0.0, 2 * np.pi, n_angles)
    w = np.column_stack([np.cos(th), np.sin(th)])
    best = 0.0
    for i in range(len(x)):
        feats = np.maximum((x - x[i]) @ w.T, 0.0)  # (N, angles)
        best = max(best, float(np.linalg.norm(feats.T @ z, axis=1).max()))
    # the all-active atom relu(X w + b), b large (constant part removed by z)
    best = max(best, float(np.linalg.norm(w @ (x.T @ z), axis=1).max()))
    return best


@pytest.mark.parametrize(("n", "t"), [(7, 1), (10, 3), (6, 5)])
def test_oracle_is_the_sup_over_all_neurons(n: int, t: int) -> None:
    rng = np.random.default_rng(n + t)
    x = rng.standard_normal((n, 2))
    z = rng.standard_normal((n, t))
    z -= z.mean(axis=0)
    orc = dual_norm(x, z)
    grid = _grid_sup(x, z)
    assert orc.exact
    # at least the dense grid's value, and attained by the atom it returns
    assert orc.value >= grid * (1 - 1e-12)
    assert orc.value <= grid * (1 + 1e-6)
    w = orc.directions[0]
    feats = np.maximum((x - x[orc.pivots[0]]) @ w, 0.0)
    assert np.linalg.norm(feats @ z) == pytest.approx(orc.value, rel=1e-12)


def test_oracle_on_degenerate_two_squares() -> None:
    # many differences are axis-aligned: breakpoints coincide exactly
    rng = np.random.default_rng(3)
    z = rng.standard_normal((8, 2))
    z -= z.mean(axis=0)
    orc = dual_norm(TWO_SQUARES, z)
    grid = _grid_sup(TWO_SQUARES, z)
    assert grid * (1 - 1e-12) <= orc.value <= grid * (1 + 1e-6)


@pytest.mark.parametrize("skip", [True, False])
def test_one_dimension_matches_the_exact_univariate_optimum(skip: bool) -> None:
    rng = np.random.default_rng(11)
    x = np.sort(rng.standard_normal(12))
    Y = rng.standard_normal((12, 3))
    lam = 1e-2
    sol = solve(x, Y, lam, skip=skip, method="cg")
    assert sol.exact and sol.converged
    assert sol.relative_gap <= 1e-6
    if skip:  # weight_decay_optimum has a free skip connection
        ref = weight_decay_optimum(x, Y, lam)
        assert sol.objective == pytest.approx(ref.objective, rel=1e-6)
        assert sol.lower_bound <= ref.objective * (1 + 1e-12)
    else:  # without skip the optimum can only be worse
        ref = weight_decay_optimum(x, Y, lam)
        assert sol.objective >= ref.objective * (1 - 1e-9)


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize(("d", "n"), [(2, 10), (3, 9)])
def test_one_output_matches_the_pattern_program(d: int, n: int, skip: bool) -> None:
    rng = np.random.default_rng(21)
    x = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    lam = 1e-2
    cg = solve(x, y, lam, skip=skip, method="cg")
    ref = solve(x, y, lam, skip=skip, method="patterns")
    assert cg.exact and cg.converged and cg.relative_gap <= 1e-6
    assert ref.exact
    assert cg.objective == pytest.approx(ref.objective, rel=1e-6)
    # each lower bound is below the other solver's objective (weak duality)
    assert cg.lower_bound <= ref.objective * (1 + 1e-12)
    assert ref.lower_bound <= cg.objective * (1 + 1e-12)


def test_two_squares_single_output_value() -> None:
    sol = solve(TWO_SQUARES, LABELS, 1e-3, method="cg")
    assert isinstance(sol, CertifiedSolution)
    assert sol.objective == pytest.approx(1.996e-3, rel=5e-4)
    assert sol.exact and sol.converged
    assert -1e-12 <= sol.relative_gap <= 1e-6


def test_two_squares_hundred_bernoulli_tasks_is_certified() -> None:
    Y = aux_tasks(LABELS, n_aux=100, dist="bernoulli", p=0.5, seed=0)
    sol = solve(TWO_SQUARES, Y, 1e-3)
    assert isinstance(sol, CertifiedSolution)
    assert sol.exact and sol.converged
    assert -1e-12 <= sol.relative_gap <= 1e-6
    # the single task's optimum is cheaper than the 101-task optimum per output
    assert sol.objective > solve(TWO_SQUARES, LABELS, 1e-3).objective


def _random_net(d: int, t: int, width: int, seed: int, skip: bool = False) -> ShallowReLUNet:
    return ShallowReLUNet(d, t, width, skip=skip, seed=seed)


def _descend(net: ShallowReLUNet, x: np.ndarray, Y: np.ndarray, lam: float, steps: int) -> None:
    """A short full-batch Adam run on fit + lam * weight decay (a 'trained' network)."""
    xt, yt = torch.as_tensor(x), torch.as_tensor(Y)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(xt) - yt) ** 2).sum() / len(x) + lam * net.weight_decay()
        loss.backward()
        opt.step()


def test_lower_bound_never_exceeds_any_network() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, 2))
    Y = rng.standard_normal((9, 3))
    lam = 1e-2
    sol = solve(x, Y, lam)
    nets = [_random_net(2, 3, 6, s) for s in range(3)]
    trained = _random_net(2, 3, 16, 7)
    _descend(trained, x, Y, lam, 300)
    nets.append(trained)
    opt_net = sol.to_network()
    for s in range(3):
        pert = opt_net.copy()
        with torch.no_grad():
            gen = torch.Generator().manual_seed(s)
            pert.w.add_(1e-2 * torch.randn(pert.w.shape, generator=gen, dtype=pert.w.dtype))
            pert.v.add_(1e-2 * torch.randn(pert.v.shape, generator=gen, dtype=pert.v.dtype))
        nets.append(pert)
    for net in nets:
        obj, _, _ = network_objective(net, x, Y, lam, task=None)
        assert sol.lower_bound <= obj * (1 + 1e-12)
        cert = certificate(net, x, Y, lam, solution=sol)
        assert cert.exact
        assert cert.gap >= 0.0
        assert cert.lower_bound >= sol.lower_bound
        # the bound from the network's own residual is valid too
        res = certificate(net, x, Y, lam, bound="residual")
        assert res.lower_bound <= sol.objective * (1 + 1e-12)


def test_suboptimal_network_shows_a_positive_gap() -> None:
    Y = np.column_stack([LABELS, 1.0 - LABELS, LABELS])
    lam = 1e-3
    sol = solve(TWO_SQUARES, Y, lam)
    net = sol.to_network()
    with torch.no_grad():
        net.v.mul_(0.8)
    cert = certificate(net, TWO_SQUARES, Y, lam, solution=sol)
    assert cert.relative_gap > 1e-2
    assert cert.suboptimality > 0.0
    assert cert.gap >= cert.suboptimality - 1e-12 * cert.objective
    opt = certificate(sol.to_network(), TWO_SQUARES, Y, lam, solution=sol)
    assert -1e-12 <= opt.relative_gap <= 1e-6  # zero up to rounding


def test_symmetries_change_nothing() -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 2))
    Y = rng.standard_normal((8, 2))
    lam = 1e-2
    net = _random_net(2, 2, 5, 3)
    base = certificate(net, x, Y, lam, bound="residual")
    perm = torch.as_tensor(rng.permutation(5))
    pnet = net.copy()
    scaled = net.copy()
    a = torch.as_tensor(rng.uniform(0.3, 3.0, 5))
    with torch.no_grad():
        for p in ("w", "b", "v"):
            getattr(pnet, p).copy_(getattr(net, p)[perm])
        scaled.w.mul_(a[:, None])
        scaled.b.mul_(a)
        scaled.v.div_(a[:, None])
    order = rng.permutation(8)
    for other, xx, yy in ((pnet, x, Y), (scaled, x, Y), (net, x[order], Y[order])):
        cert = certificate(other, xx, yy, lam, bound="residual")
        assert cert.objective == pytest.approx(base.objective, rel=1e-12)
        assert cert.lower_bound == pytest.approx(base.lower_bound, rel=1e-9)
    sol = solve(x, Y, lam)
    sol_p = solve(x[order], Y[order], lam)
    assert sol_p.objective == pytest.approx(sol.objective, rel=2e-6)


def _check_contract(res: SolverResult, x: np.ndarray, Y: np.ndarray, lam: float) -> None:
    """The result protocol: objective = fit + lam * penalty, gap = objective - bound >= 0,
    to_network reproduces the predictions with a balanced network of that objective."""
    assert isinstance(res, SolverResult)
    assert res.objective == pytest.approx(res.fit + lam * res.penalty, rel=1e-12)
    assert res.gap == pytest.approx(res.objective - res.lower_bound, rel=1e-12, abs=1e-18)
    assert res.gap >= -1e-12 * abs(res.objective)  # zero up to rounding at the optimum
    net = res.to_network()
    pred = res.predict(x)
    assert np.allclose(net.predict(x), pred, atol=1e-9)
    obj, _fit, penalty = network_objective(net, x, Y, lam, task=None)
    assert obj == pytest.approx(res.objective, rel=1e-9)
    with torch.no_grad():
        wn, vn = net.w.norm(dim=1), net.v.norm(dim=1)
        moving = wn > 0
        assert torch.allclose(wn[moving], vn[moving], rtol=1e-9)
        assert float(net.weight_decay()) == pytest.approx(penalty, rel=1e-6)


@pytest.mark.parametrize("skip", [False, True])
def test_result_contract(skip: bool) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 2))
    Y = rng.standard_normal((9, 3))
    lam = 3e-2
    res = solve(x, Y, lam, skip=skip)
    _check_contract(res, x, Y, lam)
    assert res.n_iter >= 1 and res.seconds > 0.0
    assert isinstance(res, CertifiedSolution)
    wide = res.to_network(width=res.to_network().width + 5)
    assert np.allclose(wide.predict(x), res.predict(x), atol=1e-12)
    with pytest.raises(ValueError, match="Parameter `width`"):
        res.to_network(width=0)
    # the gap bounds the distance to an independent reference (the pattern program,
    # task by task, is an upper bound on the joint optimum's... single-task parts)
    single = solve(x, Y[:, 0], lam, skip=skip, method="patterns")
    _check_contract(single, x, Y[:, :1], lam)
    cg_single = solve(x, Y[:, 0], lam, skip=skip, method="cg")
    assert cg_single.objective - single.objective <= cg_single.gap + 1e-12 * single.objective


def test_task_reduction_mean_is_the_sum_problem_at_lam_times_t() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 2))
    Y = rng.standard_normal((8, 4))
    mean = solve(x, Y, 1e-3, task_reduction="mean")
    total = solve(x, Y, 4e-3)
    assert mean.objective == pytest.approx(total.objective / 4, rel=2e-6)
    assert mean.fit == pytest.approx(((Y - mean.predict(x)) ** 2).mean(), rel=1e-12)


def test_dual_lower_bound_from_any_fit_is_below_the_optimum() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 2))
    Y = rng.standard_normal((8, 2))
    lam = 1e-2
    sol = solve(x, Y, lam)
    for s in range(3):
        f = np.random.default_rng(s).standard_normal(Y.shape)
        bound, exact = dual_lower_bound(x, Y, f, lam)
        assert exact
        assert bound <= sol.objective * (1 + 1e-12)
    at_opt, _ = dual_lower_bound(x, Y, sol.predictions, lam)
    assert at_opt == pytest.approx(sol.objective, rel=1e-6)


@pytest.mark.parametrize("skip", [False, True])
def test_targets_in_the_free_part_need_no_neuron(skip: bool) -> None:
    rng = np.random.default_rng(13)
    x = rng.standard_normal((6, 2))
    Y = x @ rng.standard_normal((2, 3)) + 1.0 if skip else np.ones((6, 3))
    sol = solve(x, Y, 1e-2, skip=skip)
    assert sol.converged and sol.n_neurons == 0
    assert np.allclose(sol.predict(x), Y, atol=1e-12)
    assert sol.objective <= 1e-24


def test_network_objective_reads_the_column_of_its_task() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 2))
    Y = rng.standard_normal((6, 3))
    net = _random_net(2, 3, 4, 0)
    pred = net.predict(x)
    for task in range(3):
        _, fit, penalty = network_objective(net, x, Y, 0.1, task=task)
        assert fit == pytest.approx(np.mean((Y[:, task] - pred[:, task]) ** 2), rel=1e-12)
        with torch.no_grad():
            ref = float((net.w.norm(dim=1) * net.v[:, task].abs()).sum())
        assert penalty == pytest.approx(ref, rel=1e-12)
        # a single column is that task's labels
        _, fit1, _ = network_objective(net, x, Y[:, task], 0.1, task=task)
        assert fit1 == pytest.approx(fit, rel=1e-12)


def test_higher_dimension_is_sampled_not_certified() -> None:
    # d = 3 is exact (tests/convex/test_convex_oracle3d.py); d = 4 is the first sampled one
    assert max(EXACT_DIMS) == 3
    rng = np.random.default_rng(12)
    x = rng.standard_normal((7, 4))
    Y = rng.standard_normal((7, 2))
    res = solve(x, Y, 1e-1, max_seconds=5.0, seed=0)
    assert not res.exact
    assert not res.converged
    with pytest.raises(ValueError, match=r"Parameter `X`.*exact"):
        solve(x, Y, 1e-1, require_exact=True)
    cert = certificate(_random_net(4, 2, 4, 0), x, Y, 1e-1, bound="residual", seed=0)
    assert not cert.exact
    _, exact = dual_lower_bound(x, Y, np.zeros_like(Y), 1e-1, seed=0)
    assert not exact


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.zeros((4, 2)), np.zeros((3, 2)), 1.0), {}, ValueError, "Parameter `Y`"),
        ((np.zeros((4, 2)), np.full((4, 2), np.nan), 1.0), {}, ValueError, "Parameter `Y`"),
        (([[0.0, np.nan], [1.0, 0.0]], np.zeros((2, 2)), 1.0), {}, ValueError, "Parameter `X`"),
        ((np.ones((4, 2)), np.ones((4, 2)), 0.0), {}, ValueError, "Parameter `lam`"),
        ((np.ones((4, 2)), np.ones((4, 2)), -1.0), {}, ValueError, "Parameter `lam`"),
        ((np.ones((4, 2)), np.ones((4, 2)), 1.0), {"method": "newton"}, ValueError, "`method`"),
        (
            (np.ones((4, 2)), np.ones((4, 2)), 1.0),
            {"method": "patterns"},
            ValueError,
            "Parameter `method`",
        ),
        ((np.ones((4, 2)), np.ones((4, 2)), 1.0), {"skip": 1}, TypeError, "Parameter `skip`"),
    ],
)
def test_bad_input(args: tuple, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        solve(*args, **kwargs)


def test_certificate_bad_input() -> None:
    x = np.zeros((4, 2))
    net = _random_net(2, 3, 4, 0)
    with pytest.raises(ValueError, match="Parameter `Y`"):
        certificate(net, x, np.zeros((4, 2)), 1.0)
    with pytest.raises(ValueError, match="Parameter `lam`"):
        certificate(net, x, np.zeros((4, 3)), 0.0)
    with pytest.raises(ValueError, match="Parameter `skip`"):
        certificate(_random_net(2, 3, 4, 0, skip=True), x, np.zeros((4, 3)), 1.0, skip=False)
    with pytest.raises(TypeError, match="Parameter `net`"):
        certificate("net", x, np.zeros((4, 3)), 1.0)  # type: ignore[arg-type]


def test_train_certified_recipe_returns_the_certified_optimum() -> None:
    import mtlreg

    Y = np.column_stack([LABELS, 1.0 - LABELS])
    lam = 1e-3
    sol = solve(TWO_SQUARES, Y, lam)
    for skip in (False, True):
        res = mtlreg.train(TWO_SQUARES, Y, width=16, lam=lam, skip=skip, method="certified")
        assert res.net.width == 16
        assert res.converged
        assert res.lower_bound <= res.objective
        assert res.objective == pytest.approx(res.fit + lam * res.penalty, rel=1e-12)
        if not skip:
            assert res.objective == pytest.approx(sol.objective, rel=1e-6)
    d = max(EXACT_DIMS) + 1  # the first dimension without an exact oracle
    with pytest.raises(ValueError, match="Parameter `method`"):
        mtlreg.train(np.zeros((4, d)), np.zeros(4), width=4, lam=lam, method="certified")
    with pytest.raises(ValueError, match="Parameter `width`"):
        mtlreg.train(TWO_SQUARES, Y, width=1, lam=lam, skip=False, method="certified")


def test_atom_at_an_arc_start_stays_there() -> None:
    """A best direction at the start of its arc that rounds to just below the start
    must snap to the start, not wrap to the arc's other end (a bug that stalled column
    generation at relative gaps ~1e-4 on random d = 2 problems)."""
    from mtlreg.convex._certified import _Atoms
    from mtlreg.convex._oracle import OracleResult

    x = np.random.default_rng(0).standard_normal((6, 2))
    lo, hi = 1.0, 1.7
    for theta in (lo - 1e-15, lo, 0.5 * (lo + hi), hi, hi + 1e-15):
        orc = OracleResult(
            value=1.0,
            exact=True,
            directions=np.array([[np.cos(theta), np.sin(theta)]]),
            values=np.ones(1),
            pivots=np.zeros(1, dtype=np.intp),
            arcs=np.array([[lo, hi]]),
            interior=np.array([False]),
        )
        atoms = _Atoms.empty(6, 2).extend(x, orc, np.ones(1, dtype=bool))
        assert lo <= atoms.theta[0] <= hi
        assert abs(atoms.theta[0] - np.clip(theta, lo, hi)) <= 1e-12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_two_dimensional_multi_task_problems_certify(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((10, 2))
    Y = rng.standard_normal((10, 51))
    sol = solve(x, Y, 1e-4, method="cg", tol=1e-5, max_seconds=60)
    assert sol.exact and sol.converged
    assert -1e-12 <= sol.relative_gap <= 1e-5
    assert sol.lower_bound <= sol.objective


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_random_issue_size_problems_certify_within_thirty_seconds(seed: int) -> None:
    """The issue's size: d = 2, N = 20, T = 51, lam = 1e-4, gap 1e-5 in under 30 s."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((20, 2))
    Y = rng.standard_normal((20, 51))
    sol = solve(x, Y, 1e-4, method="cg", tol=1e-5, max_seconds=30)
    assert sol.exact and sol.converged
    assert sol.relative_gap <= 1e-5


@pytest.mark.parametrize("d", [1, 2, 3])
def test_oracle_is_shift_invariant_and_homogeneous(d: int) -> None:
    """Lambda(s X + m, c Z) = s c Lambda(X, Z), for magnitudes that overflow squares."""
    rng = np.random.default_rng(d)
    x = rng.standard_normal((9, d))
    z = rng.standard_normal((9, 3))
    z -= z.mean(axis=0)
    ref = dual_norm(x, z).value
    for s, c in [(1e200, 1.0), (1e-150, 1e100), (1.0, 1e-200), (3.0, 2.0)]:
        got = dual_norm(s * x + 7.0 * s, c * z).value
        assert got == pytest.approx(s * c * ref, rel=1e-9)


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("scale", [1e-150, 1e100, 1e200])
def test_certified_solve_is_scale_equivariant(scale: float, skip: bool) -> None:
    """Scaling the inputs by s and lam by s is the same problem (same optimum); at
    extreme s the solver must neither overflow nor claim a false certificate."""
    ref = solve(TWO_SQUARES, LABELS, 1e-3, skip=skip, method="cg")
    sol = solve(TWO_SQUARES * scale, LABELS, 1e-3 * scale, skip=skip, method="cg")
    assert sol.exact and sol.converged
    assert sol.objective == pytest.approx(ref.objective, rel=1e-6)
    assert sol.lower_bound <= sol.objective * (1 + 1e-12)
    assert sol.objective == pytest.approx(sol.fit + sol.lam * sol.penalty, rel=1e-12)
    net = sol.to_network()
    np.testing.assert_allclose(net.predict(TWO_SQUARES * scale), sol.predictions, atol=1e-9)
    # labels scaled by c (and lam by c): the optimum scales by c^2 (c^2 kept finite)
    c = scale**0.5
    big = solve(TWO_SQUARES, LABELS * c, 1e-3 * c, skip=skip, method="cg")
    assert big.converged
    assert big.objective == pytest.approx(ref.objective * c**2, rel=1e-6)
