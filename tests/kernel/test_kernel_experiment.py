"""Smoke test of the ``kernel-regime`` experiment (tiny grid) and its acceptance (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mtlreg.experiments import kernel_regime


def test_smoke(tmp_path: Path) -> None:
    metrics = kernel_regime.run(
        tmp_path, tasks=(2, 3), seeds=(0,), max_steps=60, width_squares=6, width_random=6,
        n_test=50,
    )  # fmt: skip
    for name in (
        "kernel_regime_runs.csv", "kernel_regime_summary.csv", "metrics.json",
        "kernel_regime_convergence.png", "kernel_regime_convergence.pdf",
        "kernel_regime_two_squares.png",
    ):  # fmt: skip
        assert (tmp_path / name).exists(), name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for dataset in ("two_squares", "random"):
        assert saved[dataset]["T"] == [2, 3]
        assert len(saved[dataset]["median_rkhs_distance"]) == 2
        assert all(np.isfinite(saved[dataset]["median_rkhs_distance"]))
    assert saved["all_bounds_hold"] is True
    assert metrics["n_runs"] == 4


def test_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Parameter `datasets`"):
        kernel_regime.run(tmp_path, datasets=("moons",))
    with pytest.raises(ValueError, match="Parameter `tasks`"):
        kernel_regime.run(tmp_path, tasks=(1, 2))
    with pytest.raises(ValueError, match="`quick` and `full`"):
        kernel_regime.run(tmp_path, quick=True, full=True)


def test_two_squares_data() -> None:
    X, y = kernel_regime.two_squares()
    assert X.shape == (8, 2)
    np.testing.assert_array_equal(np.abs(X).max(axis=1), np.r_[np.ones(4), 2 * np.ones(4)])
    np.testing.assert_array_equal(y, np.r_[np.ones(4), np.zeros(4)])


@pytest.mark.slow
def test_acceptance_default_grid(tmp_path: Path) -> None:
    """The issue's acceptance: distance at T = 101 <= 1/4 of T = 2; every bound holds."""
    metrics = kernel_regime.run(tmp_path)
    assert metrics["all_bounds_hold"]
    for dataset in ("two_squares", "random"):
        med = metrics[dataset]["median_rkhs_distance"]
        assert metrics[dataset]["T"][0] == 2
        assert metrics[dataset]["T"][-1] == 101
        assert med[-1] <= med[0] / 4
