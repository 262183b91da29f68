"""kernel-regime at certified optima: which dimensions are solved, and the gap columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtlreg.convex import EXACT_DIMS
from mtlreg.experiments import load

TINY = {"tasks": (2,), "seeds": (0,), "max_steps": 100, "datasets": ("random",), "n_test": 50}


def _runs(out: Path, **options: object) -> pd.DataFrame:
    load("kernel-regime").run(out, **TINY, **options)
    return pd.read_csv(out / "kernel_regime_runs.csv")


def test_certified_columns_follow_certified_dims(tmp_path: Path) -> None:
    plain = _runs(tmp_path / "default")  # d = 3 data: not solved by default
    cert_cols = ["certified_objective", "certified_relative_gap", "relative_gap_to_certified",
                 "certified_rkhs_max_distance"]  # fmt: skip
    assert plain[cert_cols].isna().all().all()
    if 3 not in EXACT_DIMS:
        pytest.skip("no exact oracle in d = 3")
    solved = _runs(tmp_path / "d3", certified_dims=(1, 2, 3))
    row = solved.iloc[0]
    assert row["certified_relative_gap"] <= 1e-6  # certified, on the problem trained
    # the trained network (same seed: same network as the default run) never beats it
    assert row["train_objective"] == plain.iloc[0]["train_objective"]
    gap = (row["train_objective"] - row["certified_objective"]) / row["certified_objective"]
    assert row["relative_gap_to_certified"] == pytest.approx(gap) and gap >= -1e-6
    assert np.isfinite(row["certified_rkhs_max_distance"])


def test_bad_certified_dims_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="certified_dims"):
        load("kernel-regime").run(tmp_path, **TINY, certified_dims=(0,))
