"""Properties of the function measures: exact values, invariances, agreement of methods."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlreg import ShallowReLUNet
from mtlreg.metrics import (
    box_points,
    gradient_norm,
    held_out_mse,
    max_deviation,
    nn_deviation,
    restart_spread,
    second_order_tv,
)
from mtlreg.univariate import connect_the_dots


def _linear(slope: np.ndarray, bias: float = 0.3) -> torch.nn.Linear:
    lin = torch.nn.Linear(len(slope), 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(slope)[None, :])
        lin.bias.fill_(bias)
    return lin


class _Predictor:
    """A scikit-learn style object with only ``predict`` (exercises finite differences)."""

    def __init__(self, net: ShallowReLUNet) -> None:
        self.net = net

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.net.predict(X)


@pytest.fixture
def net() -> ShallowReLUNet:
    return ShallowReLUNet(3, 2, width=20, seed=1)


def test_gradient_norm_of_linear_function_is_slope_norm() -> None:
    slope = np.array([1.0, -2.0, 2.0])
    X = np.random.default_rng(0).normal(size=(257, 3))
    for method in ("autograd", "finite_difference"):
        res = gradient_norm(_linear(slope), X, method=method)
        np.testing.assert_allclose(res.values, 3.0, rtol=1e-8)
        assert res.mean == pytest.approx(3.0)
        assert res.max == pytest.approx(3.0)


def test_gradient_norm_of_net_equals_closed_form_and_picks_output(net) -> None:
    X = np.random.default_rng(1).normal(size=(50, 3))
    w, b, v, A = (t.detach().numpy() for t in (net.w, net.b, net.v, net.A))
    for out in (0, 1):
        active = (X @ w.T + b) > 0
        grad = (active * v[:, out]) @ w + A[out]
        expected = np.linalg.norm(grad, axis=1)
        np.testing.assert_allclose(gradient_norm(net, X, task=out).values, expected, rtol=1e-12)


def test_autograd_and_finite_differences_agree_away_from_kinks(net) -> None:
    X = np.random.default_rng(2).normal(size=(200, 3))
    auto = gradient_norm(net, X).values
    fd = gradient_norm(_Predictor(net), X).values  # auto -> finite differences
    np.testing.assert_allclose(np.median(np.abs(auto - fd)), 0.0, atol=1e-7)


def test_gradient_norm_batching_and_permutation_invariance(net) -> None:
    X = np.random.default_rng(3).normal(size=(101, 3))
    perm = np.random.default_rng(4).permutation(101)
    full = gradient_norm(net, X)
    small = gradient_norm(net, X, batch_size=7)
    shuffled = gradient_norm(net, X[perm])
    np.testing.assert_allclose(small.values, full.values, rtol=1e-14)
    np.testing.assert_allclose(shuffled.values, full.values[perm], rtol=1e-14)
    assert shuffled.mean == pytest.approx(full.mean)
    assert shuffled.max == full.max


def test_gradient_norm_invariant_under_rescaling_symmetry_and_rotation(net) -> None:
    X = np.random.default_rng(5).normal(size=(64, 3))
    base = gradient_norm(net, X).values
    twin = net.copy()
    with torch.no_grad():  # (w, b, v) -> (a w, a b, v / a): same function
        a = torch.linspace(0.5, 3.0, twin.width)
        twin.w.mul_(a[:, None])
        twin.b.mul_(a)
        twin.v.div_(a[:, None])
    np.testing.assert_allclose(gradient_norm(twin, X).values, base, rtol=1e-10)
    # f(Q^T x) evaluated at Q x has the same gradient norm: rotation equivariance.
    q, _ = np.linalg.qr(np.random.default_rng(6).normal(size=(3, 3)))
    rotated = net.copy()
    with torch.no_grad():
        rotated.w.copy_(rotated.w @ torch.as_tensor(q.T))
        rotated.A.copy_(rotated.A @ torch.as_tensor(q.T))
    np.testing.assert_allclose(gradient_norm(rotated, X @ q.T).values, base, rtol=1e-10)


def test_gradient_norm_scales_linearly_with_output_and_input_units() -> None:
    X = np.random.default_rng(7).normal(size=(30, 2))
    f = lambda x: torch.sin(x[:, 0]) * x[:, 1]  # noqa: E731
    base = gradient_norm(f, X).values
    np.testing.assert_allclose(gradient_norm(lambda x: 4 * f(x), X).values, 4 * base)
    # g(x) = f(x / 2) at 2X: gradient halves.
    np.testing.assert_allclose(gradient_norm(lambda x: f(x / 2), 2 * X).values, base / 2)


def test_nn_deviation_zero_at_training_points_for_interpolant() -> None:
    x = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
    y = np.array([0.7, -0.5, -0.5, 0.5, 0.2])
    fd = connect_the_dots(x, y).to_network()
    dev = nn_deviation(fd, x, y, x)
    assert dev.max == pytest.approx(0.0, abs=1e-12)
    # Between two points: the interpolant is linear, the nearest label is an endpoint.
    mid = nn_deviation(fd, x, y, np.array([0.05]))
    assert mid.mean == pytest.approx(abs((-0.5 + 0.25 * 1.0) - (-0.5)), abs=1e-12)


def test_nn_deviation_permutation_invariance_and_constant_model() -> None:
    rng = np.random.default_rng(8)
    Xtr, ytr, Xte = rng.normal(size=(20, 2)), rng.normal(size=20), rng.normal(size=(30, 2))
    f = lambda x: x[:, 0] ** 2  # noqa: E731
    base = nn_deviation(f, Xtr, ytr, Xte)
    p_tr, p_te = rng.permutation(20), rng.permutation(30)
    again = nn_deviation(f, Xtr[p_tr], ytr[p_tr], Xte[p_te])
    np.testing.assert_allclose(again.values, base.values[p_te])
    zero = nn_deviation(lambda x: 0 * x[:, 0], Xtr, ytr, Xte)
    nearest = np.argmin(((Xte[:, None] - Xtr[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(zero.values, np.abs(ytr[nearest]))


def test_held_out_mse_and_max_deviation() -> None:
    X = np.linspace(-1, 1, 11)[:, None]
    lin = _linear(np.array([2.0]), bias=0.0)
    assert held_out_mse(lin, X, 2 * X[:, 0]) == pytest.approx(0.0)
    assert held_out_mse(lin, X, 2 * X[:, 0] + 0.5) == pytest.approx(0.25)
    assert max_deviation(lin, 2 * X[:, 0] - 0.1 * X[:, 0] ** 2, X) == pytest.approx(0.1)


def test_second_order_tv_of_connect_the_dots_is_min_norm() -> None:
    x = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
    y = np.array([0.7, -0.5, -0.5, 0.5, 0.2])
    f = connect_the_dots(x, y)
    net = f.to_network()
    exact = float(np.abs(f.slope_changes).sum())
    assert second_order_tv(net, (-3.0, 3.0)) == pytest.approx(exact, rel=1e-12)
    assert exact == pytest.approx(12.567, abs=1e-3)
    # A generic callable on a fine grid gets close; an interval without kinks gives 0.
    assert second_order_tv(lambda t: net(t), (-3.0, 3.0), n_grid=20001) == pytest.approx(
        exact, rel=1e-3
    )
    assert second_order_tv(net, (0.5, 1.5)) == pytest.approx(0.0, abs=1e-12)


def test_restart_spread_zero_for_identical_models_and_positive_otherwise(net) -> None:
    X = box_points(np.random.default_rng(9).normal(size=(10, 3)), 50, seed=0)
    same = restart_spread([net, net.copy()], X)
    assert same.max_pairwise == 0.0
    assert same.mean_std == 0.0
    other = ShallowReLUNet(3, 2, width=20, seed=2)
    diff = restart_spread([net, other], X, task=1)
    gap = np.abs(net.predict(X)[:, 1] - other.predict(X)[:, 1])
    assert diff.max_pairwise == pytest.approx(gap.max())
    np.testing.assert_allclose(diff.pointwise_std, gap / 2)


def test_box_points_inside_box_and_seeded() -> None:
    X = np.array([[0.0, -1.0], [2.0, 3.0]])
    pts = box_points(X, 500, seed=3)
    assert np.all(pts >= X.min(axis=0))
    assert np.all(pts <= X.max(axis=0))
    np.testing.assert_array_equal(pts, box_points(X, 500, seed=3))
    wide = box_points(X, 500, margin=0.5, seed=3)
    assert wide[:, 0].min() < 0.0
    assert wide[:, 0].max() > 2.0


def test_bad_arguments_raise_clear_errors(net) -> None:
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match="`task`"):
        gradient_norm(net, X, task=2)
    with pytest.raises(ValueError, match="method"):
        gradient_norm(net, X, method="spline")
    with pytest.raises(ValueError, match="finite"):
        gradient_norm(net, np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="X_test"):
        nn_deviation(net, X, np.zeros(4), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="models"):
        restart_spread([net], X)
    with pytest.raises(TypeError, match="model"):
        gradient_norm(3.0, X)


def test_deprecated_output_keyword_is_task() -> None:
    """``output=`` (renamed ``task=``) still works for one release, with a warning."""
    net = ShallowReLUNet(2, 3, 5, seed=0)
    X = np.random.default_rng(0).standard_normal((7, 2))
    with pytest.warns(DeprecationWarning, match="task="):
        old = gradient_norm(net, X, output=2).values
    np.testing.assert_array_equal(old, gradient_norm(net, X, task=2).values)
    with pytest.raises(TypeError, match="`task` only"):
        gradient_norm(net, X, task=1, output=1)
