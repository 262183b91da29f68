"""One engine: train() is train_many()'s one-problem case, for every recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mtlreg
from mtlreg._result import SolverResult
from mtlreg.training import (
    RECIPES,
    Problem,
    Recipe,
    TrainResult,
    register_recipe,
    train,
    train_many,
)


def _same_network(a: mtlreg.ShallowReLUNet, b: mtlreg.ShallowReLUNet) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _problem(seed: int, n: int = 6, d: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, 2))


@pytest.mark.parametrize("method", ["adam", "continuation"])
def test_train_is_train_many_at_the_default_step_counts(method: str) -> None:
    """Every default (max_steps, lr, restarts, schedule, stopping rule) unchanged."""
    X, Y = _problem(0)
    X2, Y2 = _problem(1)
    alone = train(X, Y, width=4, lam=1.0, seed=3, method=method)
    assert alone.converged and alone.n_iter < RECIPES[method].max_steps  # type: ignore[attr-defined]
    batch = train_many(
        [Problem(X, Y, 4, 1.0, seed=3), Problem(X2, Y2, 4, 0.5, seed=4)], method=method
    )
    first = batch[0]
    assert isinstance(first, TrainResult)
    _same_network(alone.net, first.net)
    assert first.n_iter == alone.n_iter and first.objective == alone.objective


def test_continuation_full_schedule_without_early_stop_is_identical() -> None:
    X, Y = _problem(2)
    alone = train(X, Y, width=4, lam=1e-2, seed=5, method="continuation", tol=0.0)
    assert alone.n_iter == 20_000
    batch = train_many([Problem(X, Y, 4, 1e-2, seed=5), Problem(X, Y, 4, 1e-3, seed=6)],
                       method="continuation", tol=0.0)  # fmt: skip
    _same_network(alone.net, batch[0].net)  # type: ignore[union-attr]


@pytest.mark.parametrize("method", ["auto", "exact"])
def test_exact_recipes_are_identical_in_a_batch(method: str) -> None:
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(-2, 2, 9))
    Y = mtlreg.aux_tasks(rng.standard_normal(9), 2, seed=1)
    alone = train(x, Y, width=16, lam=1e-4, method=method)
    batch = train_many([Problem(x, Y, 16, 1e-4), Problem(x, Y[:, :1], 16, 1e-3)], method=method)
    _same_network(alone.net, batch[0].net)  # type: ignore[union-attr]
    assert alone.config["solver"] == "exact-1d"


def test_result_protocol() -> None:
    X, Y = _problem(4)
    grad = train(X, Y, width=5, lam=1e-2, seed=0, max_steps=300, method="continuation")
    x = np.linspace(-1, 1, 7)
    exact = train(x, np.abs(x), width=8, lam=1e-3)
    for res, lam, XX in ((grad, 1e-2, X), (exact, 1e-3, x)):
        assert isinstance(res, SolverResult)
        assert res.objective == pytest.approx(res.fit + lam * res.penalty, rel=1e-12)
        assert res.n_iter == res.steps
        np.testing.assert_array_equal(res.to_network().predict(XX), res.predict(XX))
        assert res.to_network() is not res.net
    assert np.isnan(grad.lower_bound) and np.isnan(grad.gap) and np.isnan(grad.relative_gap)
    assert exact.gap == exact.objective - exact.lower_bound
    assert exact.converged and exact.relative_gap <= 1e-7
    # the bound is a lower bound: no network does better, e.g. a gradient-trained one
    other = train(x, np.abs(x), width=8, lam=1e-3, method="continuation", max_steps=2000)
    assert other.objective >= exact.lower_bound


def test_a_registered_recipe_is_one_call_away() -> None:
    class Zero(Recipe):
        name = "zero-test"

        def run(self, problems, options):  # type: ignore[no-untyped-def]
            return [RECIPES["adam"].run([p], options)[0] for p in problems]

    register_recipe(Zero())
    try:
        X, Y = _problem(5)
        a = train(X, Y, width=3, lam=1e-2, seed=0, method="zero-test", max_steps=50)
        b = train(X, Y, width=3, lam=1e-2, seed=0, method="adam", max_steps=50)
        _same_network(a.net, b.net)
    finally:
        RECIPES.pop("zero-test")


def test_pruning_decides_per_problem() -> None:
    """With prune=True a problem's surviving restart does not depend on its batch mates."""
    X, Y = _problem(6, n=10)
    X2, Y2 = _problem(7, n=10)
    kw = {"method": "continuation", "max_steps": 500, "tol": 0.0, "prune": True}
    alone = train_many([Problem(X, Y, 6, 1e-3, seed=1)], **kw)[0]  # type: ignore[arg-type]
    batch = train_many([Problem(X2, Y2, 6, 1e-2, seed=2), Problem(X, Y, 6, 1e-3, seed=1)], **kw)  # type: ignore[arg-type]
    _same_network(alone.net, batch[1].net)  # type: ignore[union-attr]
    assert alone.config["best_restart"] == batch[1].config["best_restart"]  # type: ignore[union-attr]
    # the survivor is one of the restarts the unpruned run trains: never a new start
    assert 0 <= alone.config["best_restart"] < 4  # type: ignore[union-attr]


def test_continuation_prunes_restarts_by_default() -> None:
    """The default keeps one restart at 70% of the steps; the others run to the end
    without it. Each restart trains as if alone, so the survivor ends exactly where it
    ends in the full run: never below the best of the full restarts, and equal to it
    when it is the full run's best."""
    X, Y = _problem(8, n=10)
    kw = {"width": 6, "lam": 1e-3, "seed": 2, "method": "continuation", "max_steps": 600,
          "tol": 0.0, "log_every": 1}  # fmt: skip
    default = train(X, Y, **kw)  # type: ignore[arg-type]
    pruned = train(X, Y, prune=True, **kw)  # type: ignore[arg-type]
    full = train(X, Y, prune=False, **kw)  # type: ignore[arg-type]
    _same_network(default.net, pruned.net)
    assert full.objective <= default.objective * (1 + 1e-12)
    if default.config["best_restart"] == full.config["best_restart"]:
        assert default.objective == full.objective
    else:
        assert default.objective > full.objective
    # until the cut the history logs the best of the same four restarts
    before = default.history.step <= int(0.7 * 600)
    assert before.sum() == 420
    np.testing.assert_array_equal(default.history.objective[before], full.history.objective[before])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_update_is_the_pytorch_update(
    dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled CPU update (weight decay + mask + Adam in one pass) and the PyTorch
    operations it replaces agree to rounding on a padded batch, and padding stays zero."""
    from mtlreg.training import _engine, initial_network

    X, Y = _problem(9, n=7)
    nets = [initial_network(X, Y, 5, seed=1, dtype=dtype),
            initial_network(X, Y[:, :1], 3, skip=False, seed=2, dtype=dtype)]  # fmt: skip
    x = torch.as_tensor(X, dtype=dtype)[None].expand(2, -1, -1).contiguous()
    y = torch.zeros(2, 7, 2, dtype=dtype)
    y[0], y[1, :, :1] = torch.as_tensor(Y, dtype=dtype), torch.as_tensor(Y[:, :1], dtype=dtype)
    args = (x, y, torch.tensor([1e-2, 3e-2], dtype=dtype), torch.full((2,), 1 / 7, dtype=dtype),
            torch.tensor([1e-2, 5e-3], dtype=dtype))  # fmt: skip
    states = []
    for kernel in ([], [None]):  # compiled; PyTorch operations
        monkeypatch.setattr(_engine, "_KERNEL", list(kernel))
        state = _engine.stack(nets)
        assert state.masked
        for _ in range(50):
            _engine.adam_step(state, *args)
        states.append(state)
    fused, plain = states
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for name in ("flat", "m", "s"):
        torch.testing.assert_close(getattr(fused, name), getattr(plain, name), rtol=tol, atol=tol)
    assert torch.all(fused.flat[fused.mask == 0] == 0)
    assert not torch.equal(fused.flat, _engine.stack(nets).flat)  # it did train
