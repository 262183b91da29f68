"""Training: validation, exactness of the engine, agreement with theory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mtlreg
from mtlreg.training import TrainingError, initial_network, objective_terms, train
from mtlreg.training._engine import gradients, objective, stack, unstack
from mtlreg.univariate import connect_the_dots, is_unique

PAPER_X = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
PAPER_Y = np.array([0.7, -0.5, -0.5, 0.5, 0.2])


def _problem(seed: int, n: int = 9, d: int = 2, t: int = 3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, t))


def test_engine_gradients_match_finite_differences() -> None:
    X, Y = _problem(0)
    nets = [initial_network(X, Y, 6, seed=1), initial_network(X, Y[:, :2], 4, skip=False, seed=2)]
    for net in nets:
        with torch.no_grad():
            net.v.normal_(generator=torch.Generator().manual_seed(3))
    state = stack(nets)
    x = torch.as_tensor(X)[None].expand(2, -1, -1)
    y = torch.zeros(2, 9, 3, dtype=torch.float64)
    y[0] = torch.as_tensor(Y)
    y[1, :, :2] = torch.as_tensor(Y[:, :2])
    lam = torch.tensor([0.1, 0.3], dtype=torch.float64)
    fs = torch.tensor([1 / 9, 1 / 9], dtype=torch.float64)
    gradients(state, x, y, lam, fs)
    h = 1e-6
    for p, g, mask in zip(state.params, state.grads, state._masks, strict=True):
        real = [tuple(i) for i in torch.nonzero(mask.expand_as(p)).tolist()]
        for j in real[:: max(1, len(real) // 12)]:
            old = float(p[j])
            p[j] = old + h
            up = objective(state, x, y, lam, fs)[0].sum()
            p[j] = old - h
            down = objective(state, x, y, lam, fs)[0].sum()
            p[j] = old
            assert float(g[j]) == pytest.approx(float(up - down) / (2 * h), abs=1e-6)


def test_padding_changes_nothing() -> None:
    X, Y = _problem(1)
    small = initial_network(X, Y[:, :2], 5, seed=4)
    big = initial_network(X, Y, 9, seed=5)
    state = stack([small, big])
    torch.testing.assert_close(unstack(state, 0)(torch.as_tensor(X)), small(torch.as_tensor(X)))
    assert unstack(state, 0).width == 5 and unstack(state, 0).out_dim == 2


def test_adam_method_equals_plain_pytorch_adam_loop() -> None:
    X, Y = _problem(2)
    lam, lr, steps = 1e-2, 1e-2, 300
    res = train(X, Y, width=8, lam=lam, seed=6, method="adam", lr=lr, max_steps=steps)
    net = initial_network(X, Y, 8, seed=6)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x, y = torch.as_tensor(X), torch.as_tensor(Y)
    for _ in range(steps):
        opt.zero_grad()
        obj, _, _ = objective_terms(net, x, y, lam)
        obj.backward()
        opt.step()
    np.testing.assert_allclose(res.net.predict(X), net.predict(X), atol=1e-9)
    net.balance()  # train returns the balanced network (same function, WD = VV)
    assert res.objective == pytest.approx(float(objective_terms(net, x, y, lam)[0]), rel=1e-9)


def test_result_is_balanced_and_history_is_tidy() -> None:
    X, Y = _problem(3)
    res = train(
        X, Y, width=6, lam=1e-3, seed=0, max_steps=2000, log_every=500, method="continuation"
    )
    assert res.penalty == pytest.approx(float(res.net.vv_norm()), rel=1e-9)
    assert res.objective == pytest.approx(res.fit + 1e-3 * res.penalty, rel=1e-9)
    frame = res.history.to_frame()
    assert list(frame.columns) == [
        "step",
        "phase",
        "objective",
        "fit",
        "penalty",
        "vv_norm",
        "active",
    ]
    assert frame["step"].is_monotonic_increasing and len(frame) == 4
    with pytest.raises(AttributeError):
        res.converged = True  # type: ignore[misc]


def test_same_seed_same_result() -> None:
    X, Y = _problem(4)
    a = train(X, Y, width=5, lam=1e-3, seed=11, max_steps=500, method="continuation")
    b = train(X, Y, width=5, lam=1e-3, seed=11, max_steps=500, method="continuation")
    np.testing.assert_array_equal(a.net.predict(X), b.net.predict(X))


def test_restarts_return_the_best_objective() -> None:
    X, Y = _problem(5)
    kw = {"width": 5, "lam": 1e-2, "max_steps": 1500, "method": "continuation"}
    runs = [train(X, Y, seed=s, restarts=1, **kw) for s in (0,)]  # type: ignore[arg-type]
    best = train(X, Y, seed=0, restarts=3, prune=False, **kw)  # type: ignore[arg-type]
    assert best.objective <= runs[0].objective * (1 + 1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": -1.0}, "lam"),
        ({"width": 0}, "width"),
        ({"method": "sgd"}, "method"),
        ({"task_reduction": "max"}, "task_reduction"),
        ({"lr": 0.0}, "lr"),
        ({"max_steps": 0}, "max_steps"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    X, Y = _problem(6)
    args = {"width": 4, "lam": 1e-3} | kwargs
    with pytest.raises(ValueError, match=match):
        train(X, Y, **args)


def test_bad_data() -> None:
    with pytest.raises(ValueError, match="finite"):
        train([0.0, np.inf, 1.0], [0.0, 1.0, 2.0], width=2, lam=0.1)
    with pytest.raises(ValueError, match="rows"):
        train([0.0, 1.0, 2.0], [0.0, 1.0], width=2, lam=0.1)


def test_divergence_raises_training_error() -> None:
    X, Y = _problem(7)
    with pytest.raises(TrainingError, match="diverged"):
        train(
            X,
            Y,
            width=4,
            lam=0.1,
            method="adam",
            lr=1e30,
            max_steps=50,
            log_every=1,
            dtype=torch.float32,
        )


@pytest.mark.parametrize("method", ["auto", "continuation"])
def test_multitask_training_reaches_connect_the_dots_on_paper_data(method: str) -> None:
    Y = mtlreg.aux_tasks(PAPER_Y, n_aux=2, seed=0)
    assert is_unique(PAPER_X, Y).max_cosine <= 0.95  # well-conditioned draw
    res = train(PAPER_X, Y, width=32, lam=1e-5, seed=0, method=method)
    grid = np.linspace(PAPER_X[0], PAPER_X[-1], 701)
    dev = np.abs(res.net.predict(grid)[:, 0] - connect_the_dots(PAPER_X, Y)(grid)[:, 0]).max()
    assert dev <= 0.02 * np.ptp(PAPER_Y)
    # the trained network's norm is within a whisker of the theoretical minimum R*
    assert res.penalty == pytest.approx(mtlreg.univariate.min_norm(PAPER_X, Y), rel=0.01)


def test_auto_is_the_certified_exact_optimum_in_1d() -> None:
    rng = np.random.default_rng(12)
    x = np.sort(rng.uniform(-2, 2, 9))
    Y = mtlreg.aux_tasks(rng.standard_normal(9), 2, seed=1)
    lam = 1e-4
    exact = train(x, Y, width=16, lam=lam, seed=0)
    assert exact.config["solver"] == "exact-1d" and exact.converged
    assert exact.net.width == 16
    opt = mtlreg.univariate.weight_decay_optimum(x, Y, lam)
    assert exact.objective == pytest.approx(opt.objective, rel=1e-9)
    grad = train(x, Y, width=16, lam=lam, seed=0, method="continuation", max_steps=3000)
    assert grad.objective >= exact.objective - exact.config["duality_gap"]
    # the "mean" convention is the same problem at lam * T, divided by T
    mean = train(x, Y, width=16, lam=lam, seed=0, task_reduction="mean")
    ref = mtlreg.univariate.weight_decay_optimum(x, Y, lam * 3)
    assert mean.objective == pytest.approx(ref.objective / 3, rel=1e-9)


def test_auto_falls_back_to_gradient_training_when_too_narrow() -> None:
    rng = np.random.default_rng(13)
    x = np.sort(rng.uniform(-2, 2, 9))
    Y = mtlreg.aux_tasks(rng.standard_normal(9), 2, seed=1)
    res = train(x, Y, width=3, lam=1e-4, seed=0, max_steps=500)
    assert res.config["solver"] == "continuation" and res.net.width == 3
    assert res.lower_bound <= res.objective  # the exact optimum's bound is kept
    # 1-D without skip: not the univariate solver's problem, the certified solver's
    no_skip = train(x, Y, width=16, lam=1e-4, skip=False, seed=0, max_steps=500)
    assert no_skip.config["solver"] in ("certified-cg", "continuation")
    assert no_skip.lower_bound <= no_skip.objective
