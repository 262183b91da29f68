"""The ``mtlreg univariate`` experiment (paper Fig. 4) through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mtlreg.cli import main

EXPECTED_FILES = ("metrics.json", "runs.csv", "band.csv", "univariate.png", "univariate.pdf")


def test_cli_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --quick with a tiny step budget: checks the plumbing, not the science.
    argv = ["univariate", "--quick", "--max-steps", "100", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "[univariate] done" in capsys.readouterr().out
    for name in EXPECTED_FILES:
        assert (tmp_path / name).stat().st_size > 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    single, multi = metrics["groups"]["single"], metrics["groups"]["multi"]
    assert single["unique"] is False and single["band_max_width"] > 0.1
    assert single["band_at_-0.5"] == pytest.approx([-1.7, -0.5], abs=1e-5)
    assert multi["n_tasks"] == 2 and 0.0 <= multi["uniqueness_margin"] <= 2.0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert sorted(runs["group"].unique()) == ["multi", "single"]
    assert len(runs) == 2 * metrics["config"]["seeds"]
    for column in ("max_dev_from_fD", "vv_norm_task1", "r_star_task1", "objective", "converged"):
        assert column in runs.columns


@pytest.mark.parametrize(
    "bad",
    [["--width", "0"], ["--lam", "-1"], ["--seeds", "1"], ["--aux-scale", "0"], ["--method", "x"]],
)
def test_cli_bad_option_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]
) -> None:
    assert main(["univariate", "--quick", "--out", str(tmp_path), *bad]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("mtlreg: error:") and "\n" not in err


def test_cli_unparsable_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["univariate", "--out", str(tmp_path), "--width", "ten"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mtlreg: error:") and "\n" not in err


@pytest.mark.slow
def test_quick_run_reproduces_fig4(tmp_path: Path) -> None:
    """Multi-task runs on well-conditioned labels land on f_D; single-task runs stay
    inside the band (as the papers' figure shows)."""
    assert main(["univariate", "--quick", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    multi = metrics["groups"]["multi"]
    assert multi["max_cosine"] <= 0.95
    label_range = 1.2
    for run in metrics["runs"]:
        if run["group"] == "multi":
            assert run["max_dev_from_fD"] < 0.02 * label_range
        assert run["max_outside_band"] < 0.02 * label_range
        assert run["vv_ratio_task1"] == pytest.approx(1.0, abs=0.02)
    assert multi["spread_max_pairwise"] < 0.04 * label_range
