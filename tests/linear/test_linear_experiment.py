"""Smoke test of the ``double-descent`` experiment on a tiny grid."""

from __future__ import annotations

import argparse
import csv
import json

import pytest

from mtlreg.experiments import REGISTRY, double_descent


def test_registered():
    assert REGISTRY["double-descent"] == "mtlreg.experiments.double_descent"


def test_tiny_run_writes_tables_figures_and_metrics(tmp_path):
    parser = argparse.ArgumentParser()
    double_descent.add_arguments(parser)
    args = parser.parse_args(
        [
            "--d",
            "30",
            "--trials",
            "2",
            "--tasks",
            "1",
            "3",
            "--points",
            "6",
            "--theory-points",
            "20",
            "--regimes",
            "lambda0_to_0",
        ]
    )
    metrics = double_descent.run(tmp_path, quick=True, **vars(args))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert set(saved["theory_vs_mc"]) == {"lambda0_to_0"}
    assert len(saved["peaks"]) == 2
    assert len(metrics["figures"]) == 4  # mse and classification error, PNG + PDF
    assert metrics["max_relative_discrepancy_excluding_singular"] >= 0
    for name in metrics["figures"] + metrics["tables"]:
        assert (tmp_path / name).stat().st_size > 0
    with (tmp_path / "errors.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["source"] for r in rows} == {"monte_carlo", "theory"}
    assert {r["metric"] for r in rows} == {"mse", "classification_error"}


def test_bad_options():
    with pytest.raises(ValueError, match="`tasks`"):
        double_descent.run("unused", quick=True, tasks=[0])
    with pytest.raises(ValueError, match="`regimes`"):
        double_descent.run("unused", quick=True, regimes=["ridge"])


def test_full_preset_is_complete_and_jobs_do_not_change_results():
    full = double_descent._config(False, **dict.fromkeys(_OPTIONS))
    assert full.d >= 200 and full.trials >= 20 and full.tasks == (1, 2, 5, 10, 20)
    tiny = {"d": 20, "trials": 2, "tasks": [2], "points": 4, "theory_points": 3}
    serial = double_descent._config(True, **(dict.fromkeys(_OPTIONS) | tiny | {"jobs": 1}))
    parallel = double_descent._config(True, **(dict.fromkeys(_OPTIONS) | tiny | {"jobs": 2}))
    assert double_descent._simulate(serial) == double_descent._simulate(parallel)


_OPTIONS = (
    "d", "trials", "tasks", "rho", "phi", "regimes", "points", "theory_points",
    "lam_task", "lam_small", "seed", "jobs",
)  # fmt: skip
