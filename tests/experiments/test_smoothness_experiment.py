"""The smoothness experiment: data, the frontier, conventions, the store (tiny, seconds)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mtlreg import train
from mtlreg.experiments import REGISTRY, load
from mtlreg.experiments import smoothness as sm
from mtlreg.experiments._frontier import Frontier, verdict
from mtlreg.model import ShallowReLUNet
from mtlreg.sweep import load_results
from mtlreg.tasks import aux_tasks
from mtlreg.training import objective_terms

TINY = {
    "dims": (2,),
    "n": 8,
    "seeds": (0,),
    "lams": (1e-3, 1e-1),
    "lam": 1e-2,
    "n_aux": (2,),
    "scales": (1.0,),
    "width": 8,
    "max_steps": 60,
    "authors_steps": 60,
    "n_test": 40,
}


@pytest.mark.parametrize("target", sm.TARGETS)
def test_ground_truth_is_normalised_smooth_and_seeded(target: str) -> None:
    f = sm.ground_truth(target, 3, seed=1)
    x = np.random.default_rng(0).uniform(-1, 1, (20_000, 3))
    assert abs(f(x).mean()) < 0.05
    assert f(x).std() == pytest.approx(1.0, abs=0.05)
    np.testing.assert_array_equal(f(x[:5]), sm.ground_truth(target, 3, seed=1)(x[:5]))
    assert not np.allclose(f(x[:5]), sm.ground_truth(target, 3, seed=2)(x[:5]))


def test_registered() -> None:
    assert REGISTRY["smoothness"] == "mtlreg.experiments.smoothness"
    assert load("smoothness") is sm


# --------------------------------------------------------------------- the frontier
def test_frontier_distance_sign_interpolation_and_range() -> None:
    # gradient norm falls as train error grows: 10 at err 1e-4, 1 at err 1e-2
    front = Frontier.from_points([1e-2, 1e-4, 1e-3], [1.0, 10.0, np.sqrt(10.0)])
    assert front.grad_at(1e-3)[0] == pytest.approx(np.sqrt(10.0))
    # log-log interpolation halfway between 1e-4 and 1e-3
    assert front.grad_at(10**-3.5)[0] == pytest.approx(10**0.75)
    below, on, above, outside = front.distance(
        [1e-3, 1e-3, 1e-3, 1.0], [1.0, np.sqrt(10.0), 10.0, 0.1]
    )
    assert below == pytest.approx(-0.5)
    assert on == pytest.approx(0.0, abs=1e-12)
    assert above == pytest.approx(0.5)
    assert np.isnan(outside)  # no extrapolation beyond the lam path
    assert verdict([-0.5, -0.4, 0.1])["verdict"] == "below"
    assert verdict([0.01, -0.01])["verdict"] == "on"
    assert verdict([0.3, 0.2, np.nan])["verdict"] == "above"
    assert verdict([np.nan])["verdict"] == "undetermined"


def test_single_task_frontier_is_monotone_at_certified_optima(tmp_path: Path) -> None:
    """A larger lam never gives a smaller train error (nor a larger penalty) at the optimum."""
    cfg = sm.SmoothnessConfig(
        dims=(2,), n=10, seeds=(3,), lams=(1e-4, 1e-3, 1e-2, 1e-1, 1.0), n_aux=(), n_test=50
    )
    points = [p for p in sm.plan(cfg, tmp_path).points if p.series == "single"]
    assert [p.method for p in points] == ["convex"] * 5
    values = [sm.solve_exact(cfg, p)[1] for p in points]
    assert all(v["status"] == "certified" for v in values)
    fits = np.array([v["task1_mse"] for v in values])
    pens = np.array([v["penalty"] for v in values])
    assert np.all(np.diff(fits) >= -1e-7 * fits[:-1] - 1e-12)
    assert np.all(np.diff(pens) <= 1e-7 * pens[:-1] + 1e-12)
    assert fits[-1] > 10 * fits[0]  # the path really moves along the frontier


# ------------------------------------------------------------------ the conventions
def test_mean_at_lam_is_sum_at_T_lam_as_objectives() -> None:
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.uniform(-1, 1, (9, 2)))
    y = torch.as_tensor(rng.standard_normal((9, 6)))
    for seed in range(3):
        net = ShallowReLUNet(2, 6, 7, seed=seed, dtype=torch.float64)
        with torch.no_grad():
            obj_mean, fit_mean, wd_mean = objective_terms(net, x, y, 0.01, "mean")
            obj_sum, fit_sum, wd_sum = objective_terms(net, x, y, 0.06, "sum")
        assert float(obj_sum) == pytest.approx(6 * float(obj_mean), rel=1e-12)
        assert float(fit_sum) == pytest.approx(6 * float(fit_mean), rel=1e-12)
        assert float(wd_sum) == float(wd_mean)
    # the stationarity check (Adam, nearly scale-free) sees the same problem, and only then
    X, Yn = x.numpy(), y.numpy()
    mean = sm.rel_change(net, X, Yn, 1.0, "mean")
    assert mean == pytest.approx(sm.rel_change(net, X, Yn, 6.0, "sum"), rel=1e-5)
    assert mean != pytest.approx(sm.rel_change(net, X, Yn, 1.0, "sum"), rel=1e-2)


def test_mean_at_lam_is_sum_at_T_lam_as_optimal_and_trained_networks() -> None:
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-1, 1, 10))
    Y = aux_tasks(np.sin(3 * x), 3, dist="gaussian", scale=1.0, seed=2)
    T, lam = Y.shape[1], 1e-2
    # exact 1-D optima (certified by a duality gap)
    mean = train(x, Y, width=40, lam=lam, task_reduction="mean")
    total = train(x, Y, width=40, lam=T * lam, task_reduction="sum")
    other = train(x, Y, width=40, lam=lam, task_reduction="sum")
    grid = np.linspace(-1.2, 1.2, 101)
    np.testing.assert_allclose(mean.net.predict(grid), total.net.predict(grid), atol=1e-6)
    assert T * mean.objective == pytest.approx(total.objective, rel=1e-8)
    assert np.abs(mean.net.predict(grid) - other.net.predict(grid)).max() > 1e-3
    # the authors' recipe (plain Adam): the same trajectory up to Adam's epsilon
    opts = {"width": 8, "seed": 0, "method": "adam", "init": "torch", "max_steps": 300}
    a = train(x, Y, lam=lam, task_reduction="mean", **opts)
    b = train(x, Y, lam=T * lam, task_reduction="sum", **opts)
    np.testing.assert_allclose(a.net.predict(grid), b.net.predict(grid), atol=1e-4)


# ---------------------------------------------------------------- runs and the store
def test_run_writes_tidy_csv_metrics_and_figure_and_resumes(tmp_path: Path) -> None:
    metrics = sm.run(tmp_path, **TINY)
    df = pd.read_csv(tmp_path / "smoothness_frontier.csv")
    assert list(df.columns) == list(sm.COLUMNS)
    plan = sm.plan(sm._config(False, TINY), tmp_path).points
    assert len(df) == len(plan) == metrics["n_rows"] == metrics["computed"]
    assert set(df["series"]) == {"single", "multi", "authors"}
    assert set(df.loc[df["series"] == "multi", "convention"]) == {"sum", "mean"}
    single = df[df["series"] == "single"]
    assert single["certified"].all() and (single["relative_gap"] <= sm.CERTIFIED_GAP).all()
    assert not df.loc[df["series"] != "single", "certified"].any()  # gradient recipes
    # the authors' single-task point has the problem of the certified point at its lam
    auth0 = df[(df["series"] == "authors") & (df["n_aux"] == 0)].iloc[0]
    ref = single[np.isclose(single["lam"], auth0["lam"])]["objective"].iloc[0]
    assert auth0["gap_to_certified"] == pytest.approx((auth0["objective"] - ref) / ref)
    assert auth0["gap_to_certified"] >= -sm.CERTIFIED_GAP
    assert df.loc[df["series"] == "multi", "gap_to_certified"].isna().all()  # none solved
    trained = df[df["series"] != "single"]
    assert trained["rel_change"].notna().all()
    assert (trained["converged"] == (trained["rel_change"] < sm.CONVERGED_DECREASE)).all()
    assert metrics["networks"]["trained"] == len(trained)
    assert metrics["networks"]["certified"] == len(single)
    assert sm.verdicts(metrics)["smoothness_frontier"].startswith("d=2: ")
    mean = df[(df["series"] == "multi") & (df["convention"] == "mean")]
    np.testing.assert_allclose(mean["lam_sum_equivalent"], mean["lam"] * 3)
    assert (df["max_grad_norm"] >= df["avg_grad_norm"]).all()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert "multi: d=2, convention=mean, scale=1" in saved["verdicts"]
    assert saved["frontier_monotone"]["monotone"]
    for ext in ("png", "pdf"):
        assert (tmp_path / f"smoothness_frontier.{ext}").exists()
    again = sm.run(tmp_path, **TINY)  # everything is in the store already
    assert again["computed"] == 0 and again["missing"] == 0
    assert len(load_results(tmp_path)) == len(plan)
    pd.testing.assert_frame_equal(df, pd.read_csv(tmp_path / "smoothness_frontier.csv"))


def test_certified_solver_gives_certified_multi_task_points(tmp_path: Path) -> None:
    """``--solver certified``: multi-task points in d = 2 are certified optima (re-checked
    on the stored network), and every trained point is measured against the certified
    optimum of its own problem (never below it)."""
    metrics = sm.run(tmp_path, solver="certified", **TINY)
    df = pd.read_csv(tmp_path / "smoothness_frontier.csv")
    assert list(df.columns) == list(sm.COLUMNS)
    multi = df[df["series"] == "multi"]
    assert set(multi["method"]) == {"certified"} and set(multi["convention"]) == {"sum", "mean"}
    assert multi["certified"].all() and (multi["relative_gap"] <= sm.CERTIFIED_GAP).all()
    assert multi["rel_change"].isna().all() and multi["gap_to_certified"].isna().all()
    trained = df[df["method"].isin(["continuation", "adam"])]
    assert len(trained) == 2 and not trained["certified"].any()
    # the authors' points have the problems of a certified point (same data, lam, convention)
    gaps = trained["gap_to_certified"].to_numpy(float)
    assert np.isfinite(gaps).all() and (gaps >= -sm.CERTIFIED_GAP).all()
    best = multi[multi["convention"] == "mean"]["objective"].iloc[0]
    auth = trained[trained["n_aux"] == 2].iloc[0]
    assert auth["gap_to_certified"] == pytest.approx((auth["objective"] - best) / best)
    assert metrics["certified"]["multi_certified"] == len(multi) == 2
    assert metrics["networks"]["trained"] == 2
    assert metrics["networks"]["certified"] == len(multi) + 3
    assert metrics["gap_to_certified"]["measured_points"] == 2
    # the default solver: the same study with trained multi-task points, a separate store
    other = tmp_path / "trained"
    sm.run(other, **TINY)
    plain = pd.read_csv(other / "smoothness_frontier.csv")
    assert set(plain.loc[plain["series"] == "multi", "method"]) == {"continuation"}
    assert not plain.loc[plain["series"] == "multi", "certified"].any()
    # certified optima are never worse than the trained networks of the same problems
    for conv in ("sum", "mean"):
        opt = multi.loc[multi["convention"] == conv, "objective"].iloc[0]
        net = plain[(plain["series"] == "multi") & (plain["convention"] == conv)]
        assert net["objective"].iloc[0] >= opt * (1 - sm.CERTIFIED_GAP)
    with pytest.raises(ValueError, match="solver"):
        sm.run(tmp_path / "bad", solver="exact", **TINY)


def test_single_series_grid_works(tmp_path: Path) -> None:
    """``mtlreg smoothness --n-aux 0``: only the frontier (and the authors' single task)."""
    from mtlreg.cli import main

    args = ["smoothness", "--out", str(tmp_path), "--dims", "2", "--n", "8", "--seeds", "0",
            "--lams", "1e-3,1e-1", "--lam", "1e-2", "--n-aux", "0", "--width", "8",
            "--authors-steps", "40"]  # fmt: skip
    assert main(args) == 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["verdicts"] == {}
    assert saved["n_rows"] == 4  # three lams on the path, the authors' single task
    assert (tmp_path / "smoothness_frontier.png").exists()


def test_bad_options_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="No finished run"):
        sm.run(tmp_path, analyse_only=True, **TINY)
    with pytest.raises(ValueError, match="conventions"):
        sm.run("unused-dir-never-created", conventions=("median",), **TINY)
    with pytest.raises(TypeError, match="Unknown option"):
        sm.run("unused-dir-never-created", match="fit")


KILLED = {**TINY, "n_aux": (1, 2), "scales": (0.5, 1.0), "max_steps": 300}


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _execute(out: Path) -> int:
    cfg = sm._config(False, KILLED)
    return sm.execute(cfg, out, sm.plan(cfg, out))


def test_resumes_after_sigkill_without_losing_or_repeating_rows(tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    code = (
        "from pathlib import Path; from mtlreg.experiments import smoothness as sm; "
        f"cfg = sm._config(False, {KILLED!r}); out = Path({str(killed)!r}); "
        "sm.execute(cfg, out, sm.plan(cfg, out))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    db = killed / "results.sqlite"
    deadline = time.time() + 600
    # 3 certified points, then the first sweep batch (2 runs); killed inside the next one
    while _count(db) < 5 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _count(db)
    total = len(sm.plan(sm._config(False, KILLED), killed).points)
    assert 0 < partial < total, "the run should be killed mid-way"
    seen = sm.run(killed, analyse_only=True, **KILLED)  # what is there, nothing computed
    assert seen["computed"] == 0 and seen["n_rows"] == partial
    assert seen["missing"] == total - partial
    assert _execute(killed) == total - partial
    assert _execute(killed) == 0
    assert _execute(clean) == total
    a, b = load_results(killed), load_results(clean)
    assert len(a) == total and a["run_id"].is_unique
    assert set(a["run_id"]) == set(b["run_id"])
    cols = ["task1_mse", "objective", "penalty"]
    pd.testing.assert_frame_equal(
        a.set_index("run_id").sort_index()[cols], b.set_index("run_id").sort_index()[cols]
    )
