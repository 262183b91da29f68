"""The induced kernel of a trained network: invariances, PSD Gram matrices, diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mtlreg
from mtlreg import ShallowReLUNet
from mtlreg.kernel import (
    InducedKernel,
    KernelDiagnostics,
    arccos_kernel,
    induced_kernel,
    kernel_diagnostics,
    task_weights,
    weight_spread,
)


@pytest.fixture(scope="module")
def trained() -> tuple[ShallowReLUNet, np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    Y = mtlreg.aux_tasks(rng.standard_normal(12), n_aux=6, seed=1)
    lam = 1e-2
    net = mtlreg.train(
        X, Y, width=16, lam=lam, seed=0, max_steps=600, progress=False, method="continuation"
    ).net
    return net, X, Y, lam


def _random_net(skip: bool, seed: int) -> ShallowReLUNet:
    net = ShallowReLUNet(3, 4, width=10, skip=skip, seed=seed)
    with torch.no_grad():
        net.b.mul_(5.0)  # several neurons active on the data
        if net.A is not None and net.c is not None:
            net.A.normal_(generator=torch.Generator().manual_seed(seed))
            net.c.fill_(0.3)
    return net


@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("task", [0, 3])
def test_induced_kernel_preserves_the_function(skip: bool, task: int) -> None:
    net = _random_net(skip, seed=task)
    before = {k: t.clone() for k, t in net.state_dict().items()}
    kernel = induced_kernel(net, task, prune_tol=0.0)
    X = np.random.default_rng(1).standard_normal((25, 3))
    np.testing.assert_allclose(kernel.network_output(X), net.predict(X)[:, task], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(kernel.W, axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(kernel.weights, task_weights(kernel.V)[:, task])
    others = np.delete(kernel.V, task, axis=1)
    np.testing.assert_allclose(kernel.weights, np.linalg.norm(others, axis=1), atol=1e-14)
    assert kernel.skip is skip
    for k, t in net.state_dict().items():  # the caller's network is untouched
        assert torch.equal(t, before[k])


def test_induced_kernel_is_invariant_to_neuron_rescaling() -> None:
    net = _random_net(True, seed=0)
    scaled = net.copy()
    with torch.no_grad():
        a = torch.linspace(0.2, 5.0, net.width, dtype=torch.float64)
        scaled.w.mul_(a[:, None])
        scaled.b.mul_(a)
        scaled.v.div_(a[:, None])
    k1, k2 = induced_kernel(net, 1), induced_kernel(scaled, 1)
    X = np.random.default_rng(2).standard_normal((20, 3))
    np.testing.assert_allclose(k1.gram(X), k2.gram(X), atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_gram_matrices_are_psd(seed: int) -> None:
    net = _random_net(bool(seed % 2), seed)
    X = np.random.default_rng(seed).standard_normal((30, 3))
    for task in range(net.out_dim):
        G = induced_kernel(net, task).gram(X)
        np.testing.assert_allclose(G, G.T, atol=1e-12)
        eig = np.linalg.eigvalsh(G)
        assert eig.min() >= -1e-10 * max(eig.max(), 1.0)


def test_gram_is_a_kernel_matrix_across_sets() -> None:
    kernel = induced_kernel(_random_net(True, 0), 0)
    rng = np.random.default_rng(3)
    X1, X2 = rng.standard_normal((5, 3)), rng.standard_normal((7, 3))
    full = kernel.gram(np.vstack([X1, X2]))
    np.testing.assert_allclose(kernel.gram(X1, X2), full[:5, 5:], atol=1e-12)


def test_weight_spread_vanishes_for_a_common_kernel() -> None:
    rng = np.random.default_rng(0)
    col = rng.standard_normal((6, 1))
    assert weight_spread(np.repeat(col, 5, axis=1)) == pytest.approx(0.0, abs=1e-14)
    assert weight_spread(rng.standard_normal((6, 5))) > 0.05
    # with many i.i.d. tasks the weights concentrate
    few = weight_spread(rng.standard_normal((20, 3)))
    many = weight_spread(rng.standard_normal((20, 300)))
    assert many < few / 5


def test_diagnostics_of_a_trained_network(
    trained: tuple[ShallowReLUNet, np.ndarray, np.ndarray, float],
) -> None:
    net, X, Y, lam = trained
    X_test = np.random.default_rng(5).uniform(X.min(0), X.max(0), (200, 2))
    diag = kernel_diagnostics(net, X, Y, lam, X_test)
    assert isinstance(diag, KernelDiagnostics)
    assert diag.bound_holds
    assert 0.0 <= diag.gap_lower <= diag.gap <= diag.gap_bound
    assert diag.network_suboptimality >= -1e-12
    assert diag.rkhs_rms_distance <= diag.rkhs_max_distance
    # triangle inequality: network-RKHS, network-exact and RKHS-exact distances
    assert diag.kernel_max_distance <= diag.rkhs_max_distance + diag.exact_max_distance + 1e-12
    assert diag.n_tasks == Y.shape[1]
    assert diag.exact.converged
    row = diag.as_dict()
    assert "rkhs" not in row
    assert row["gap"] == diag.gap
    # the surrogate's optimum lies above the exact one, by exactly the measured gap
    assert diag.exact_objective <= diag.rkhs_objective
    assert diag.rkhs_objective - diag.exact_objective == pytest.approx(diag.gap, abs=1e-12)


def test_network_weights_solve_its_own_subproblem_after_polishing(
    trained: tuple[ShallowReLUNet, np.ndarray, np.ndarray, float],
) -> None:
    """Setting task 1's output weights to the exact solution makes the gap to it zero."""
    net, X, Y, lam = trained
    kernel = induced_kernel(net, 0)
    diag = kernel_diagnostics(net, X, Y, lam, X)
    polished = ShallowReLUNet(2, Y.shape[1], kernel.n_neurons, skip=True)
    with torch.no_grad():
        polished.w.copy_(torch.as_tensor(kernel.W))
        polished.b.copy_(torch.as_tensor(kernel.b))
        V = kernel.V.copy()
        V[:, 0] = diag.exact.v
        polished.v.copy_(torch.as_tensor(V))
        assert kernel.A is not None
        assert kernel.c is not None
        A, c = kernel.A.copy(), kernel.c.copy()
        A[0], c[0] = diag.exact.a, diag.exact.intercept
        polished.A.copy_(torch.as_tensor(A))  # type: ignore[union-attr]
        polished.c.copy_(torch.as_tensor(c))  # type: ignore[union-attr]
    again = kernel_diagnostics(polished, X, Y, lam, X, prune_tol=0.0)
    assert again.exact_max_distance < 1e-8
    assert abs(again.network_suboptimality) < 1e-12


def test_validation() -> None:
    net = _random_net(True, 0)
    X = np.zeros((4, 3))
    with pytest.raises(TypeError, match="Parameter `net`"):
        induced_kernel("net", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Parameter `task`"):
        induced_kernel(net, 4)
    with pytest.raises(ValueError, match="Parameter `Y`"):
        kernel_diagnostics(net, X, np.zeros((4, 2)), 1e-2, X)
    with pytest.raises(ValueError, match="Parameter `X_test`"):
        kernel_diagnostics(net, X, np.zeros((4, 4)), 1e-2, np.zeros((3, 2)))


def test_arccos_kernel_matches_monte_carlo() -> None:
    """The analytic infinite-width kernel vs the mean of many random ReLU features."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    n_feat = 400_000
    Wb = rng.standard_normal((n_feat, 4))
    phi = np.maximum(X @ Wb[:, :3].T + Wb[:, 3], 0.0)
    mc = phi @ phi.T / n_feat
    exact = arccos_kernel(X)
    np.testing.assert_allclose(mc, exact, rtol=0.02, atol=0.01)
    # the same through InducedKernel with equal weights 1/K over unit-norm neurons
    scale = np.linalg.norm(Wb[:, :3], axis=1)
    V = np.zeros((n_feat, 2))
    V[:, 1] = scale**2 / n_feat  # c_k1 = ||V_k,-1|| absorbs ||w_k||^2
    kernel = InducedKernel(
        Wb[:, :3] / scale[:, None], Wb[:, 3] / scale, V, V[:, 1].copy(), 0, None, None
    )
    np.testing.assert_allclose(kernel.gram(X), mc, rtol=1e-10)
    eig = np.linalg.eigvalsh(exact)
    assert eig.min() > -1e-12
    np.testing.assert_allclose(arccos_kernel(X[:2], X), exact[:2], atol=1e-14)
