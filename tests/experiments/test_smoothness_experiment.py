"""The smoothness experiment: data, bookkeeping, analysis (tiny grids, seconds)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtlreg.experiments import REGISTRY, load
from mtlreg.experiments import smoothness as sm

TINY = {
    "dims": (2,),
    "sizes": (8,),
    "n_aux": (0, 3),
    "scales": (1.0,),
    "seeds": (0,),
    "width": 8,
    "max_steps": 60,
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


def test_run_writes_tidy_csv_metrics_and_figures_and_resumes(tmp_path) -> None:
    metrics = sm.run(tmp_path, **TINY)
    df = pd.read_csv(tmp_path / "smoothness.csv")
    required = {"method", "d", "n", "n_aux", "aux_scale", "seed", "train_mse"}
    required |= {"avg_grad_norm", "max_grad_norm", "nn_deviation_mean", "test_mse"}
    assert required <= set(df.columns)
    assert sorted(df["method"]) == ["aux", "single"]
    assert (df["max_grad_norm"] >= df["avg_grad_norm"]).all()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert set(saved["per_scale"]) == {"1"}
    assert metrics["n_rows"] == 2
    for stem in ("smoothness_curves", "smoothness_heatmap"):
        assert (tmp_path / f"{stem}.png").exists()
        assert (tmp_path / f"{stem}.pdf").exists()
    again = sm.run(tmp_path, resume=True, **TINY)  # nothing left to train
    assert again["n_rows"] == 2
    assert len(pd.read_csv(tmp_path / "smoothness.csv")) == 2


def test_summary_spearman_and_ratios_on_a_known_table() -> None:
    base = {"method": "single", "d": 2, "n": 10, "n_aux": 0, "aux_scale": 0.0}
    base |= {"avg_grad_norm": 2.0, "max_grad_norm": 3.0, "nn_deviation_mean": 1.0}
    base |= {"test_mse": 1.0, "train_mse": 0.0, "truth_avg_grad_norm": 1.0, "converged": True}
    rows = [{**base, "seed": s} for s in (0, 1)]
    for s in (0, 1):
        for k, n_aux in enumerate((1, 5, 20)):
            rows.append({**rows[0], "method": "aux", "n_aux": n_aux, "aux_scale": 1.0, "seed": s,
                         "avg_grad_norm": 1.8 - 0.3 * k})  # fmt: skip
    out = sm.summarize(pd.DataFrame(rows), sm.SmoothnessConfig())
    scale = out["per_scale"]["1"]
    assert scale["spearman_ratio_medians_vs_n_aux"] == pytest.approx(-1.0)
    assert scale["median_grad_ratio_at_largest_n_aux"] == pytest.approx(1.2 / 2.0)
    assert scale["fraction_smoother_than_single"] == 1.0
    assert scale["decreasing_and_below_single"] is True
    by_dim = out["per_dim_and_scale"]["d=2, scale=1"]
    assert by_dim["spearman_ratio_medians_vs_n_aux"] == pytest.approx(-1.0)
    assert by_dim["median_ratio_at_largest_n_aux"] == pytest.approx(1.2 / 2.0)
    ratios = sm.with_ratios(pd.DataFrame(rows))
    assert (ratios.loc[ratios["method"] == "single", "avg_grad_norm_ratio"] == 1.0).all()


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="match"):
        sm.run("unused-dir-never-created", match="lagrange", **TINY)
