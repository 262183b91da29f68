"""Every experiment's figures are labelled and every CSV column it writes is documented.

One tiny run per experiment (shared by the tests of this module, ~1 min in all) writes
into a temporary folder while :func:`mtlreg._style.save` is wrapped to keep the
matplotlib figures, which are then checked through matplotlib's API.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtlreg import _style
from mtlreg.experiments import load, write_results_readme
from mtlreg.experiments._report import (
    network_counts,
    stationarity,
    summary_line,
    undocumented_columns,
)

#: Options of a tiny but complete run of each experiment.
TINY: dict[str, dict[str, Any]] = {
    "univariate": {"max_steps": 250},
    "two-squares": {"steps": 60, "seeds": 2, "width_multi": 8, "n_aux": 4, "grid": 15},
    "kernel-regime": {"tasks": (2, 3, 5), "seeds": (0,), "max_steps": 250},
    "double-descent": {
        "d": 20,
        "trials": 2,
        "points": 4,
        "theory_points": 12,
        "regimes": ["lambda0_to_0"],
        "tasks": [1, 2],
    },
    "real-data": {"max_iter": 60, "n_splits": 2, "methods": ("wd", "krr")},
    "smoothness": {},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("results")
    figures: dict[str, list[Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    original = _style.save

    def keep(fig: Any, folder: Path, stem: str) -> list[Path]:
        figures.setdefault(folder.name, []).append((stem, fig))
        return original(fig, folder, stem)

    mp = pytest.MonkeyPatch()
    mp.setattr(_style, "save", keep)
    try:
        for name, options in TINY.items():
            results[name] = load(name).run(out / name, quick=True, **options)
    finally:
        mp.undo()
    readme, flagged, trained = write_results_readme(out, results, quick=True)
    return {
        "out": out,
        "figures": figures,
        "results": results,
        "readme": readme,
        "counts": (flagged, trained),
    }


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_axis_of_every_figure_is_labelled(runs: dict[str, Any], name: str) -> None:
    figs = runs["figures"].get(name, [])
    assert figs, f"{name} made no figure through mtlreg._style.save"
    for stem, fig in figs:
        assert _style.unlabelled_axes(fig) == [], stem
        assert (runs["out"] / name / f"{stem}.png").stat().st_size > 0
        assert (runs["out"] / name / f"{stem}.pdf").stat().st_size > 0


@pytest.mark.parametrize("name", sorted(TINY))
def test_legends_sit_outside_the_data(runs: dict[str, Any], name: str) -> None:
    # a legend placed inside an axes could hide data: figures use figure legends only
    for stem, fig in runs["figures"].get(name, []):
        for ax in fig.axes:
            assert ax.get_legend() is None, f"{stem}: a legend inside axes {ax.get_title()!r}"


def test_compared_heat_maps_share_one_colour_scale(runs: dict[str, Any]) -> None:
    for name in ("two-squares", "kernel-regime"):
        for stem, fig in runs["figures"][name]:
            images = [im for ax in fig.axes for im in ax.get_images()]
            seq = [im for im in images if im.get_cmap().name == _style.SEQUENTIAL]
            if len(seq) > 1:
                limits = {(im.norm.vmin, im.norm.vmax) for im in seq}
                assert len(limits) == 1, stem


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_csv_column_is_documented(runs: dict[str, Any], name: str) -> None:
    folder = runs["out"] / name
    assert list(folder.glob("*.csv")), name
    assert undocumented_columns(load(name), name, folder) == {}


def test_results_readme_lists_every_figure_csv_and_the_flag_count(runs: dict[str, Any]) -> None:
    text = runs["readme"].read_text()
    assert "UNDOCUMENTED" not in text
    flagged, trained = runs["counts"]
    assert f"Gradient-trained networks: {trained}, of which {flagged}" in text
    for name in TINY:
        for png in (runs["out"] / name).glob("*.png"):
            assert f"({name}/{png.name})" in text
        for path in (runs["out"] / name).glob("*.csv"):
            assert f"`{name}/{path.name}`" in text
    assert "(no claim recorded)" not in text


def test_trained_networks_are_counted_and_flagged(runs: dict[str, Any]) -> None:
    import pandas as pd

    # each trained network is counted once and carries its stationarity measure
    for name, table in (("univariate", "runs.csv"), ("kernel-regime", "kernel_regime_runs.csv")):
        frame = pd.read_csv(runs["out"] / name / table)
        counts = runs["results"][name]["networks"]
        assert counts["trained"] == len(frame)
        assert counts["not_converged"] == int(frame["flagged"].sum())
        assert frame["rel_change"].notna().all()
    squares = pd.read_csv(runs["out"] / "two-squares" / "runs.csv")
    trained = squares[squares["source"] == "trained"]
    assert runs["results"]["two-squares"]["networks"]["trained"] == len(trained)
    # multi-task runs are never measured against the single-task optimum
    multi = trained[trained["kind"] == "multi"]
    assert not (multi["baseline"] == "single-task optimum").any()
    single = trained[trained["kind"] == "single"]
    assert (single["gap"] >= -1e-9).all()  # the certified optimum bounds every network
    # trained rows are gradient-trained networks (the requested Adam steps), not the
    # optimum train(method="auto") would return; each is at or above its own optimum
    assert (trained["steps"] == TINY["two-squares"]["steps"]).all()
    certified = squares[squares["source"] == "certified"]
    assert set(certified["run"]) == {"certified_single", "certified_multi"}
    assert certified["converged"].all() and (certified["relative_gap"] <= 1e-6).all()
    assert (multi["relative_gap"] >= -1e-6).all()
    line = summary_line("x", runs["results"]["kernel-regime"], 1.0, Path("out"))
    assert f"{counts['trained']} networks trained" in line


class _History:
    def __init__(self, step: list[int], objective: list[float]) -> None:
        self.step = np.array(step)
        self.objective = np.array(objective)

    def __len__(self) -> int:
        return len(self.step)


class _Result:
    def __init__(self, history: _History | None) -> None:
        self.history = history


def test_stationarity_is_the_relative_decrease_over_the_last_tenth() -> None:
    steps = list(range(0, 1001, 100))
    flat = _Result(_History(steps, [2.0] * len(steps)))
    assert stationarity(flat) == 0.0
    falling = _Result(_History(steps, [2.0 - 0.1 * i for i in range(len(steps))]))
    # 900 -> 1000: 1.1 -> 1.0
    assert stationarity(falling) == pytest.approx(0.1)
    assert math.isnan(stationarity(_Result(None)))


def test_network_counts_use_each_rows_own_flag() -> None:
    rows: list[dict[str, Any]] = [
        {"converged": True, "rel_change": 0.0},
        {"converged": False, "rel_change": 0.3},
        {"converged": False, "flagged": False, "rel_change": 0.2},  # certified near-optimal
        {"converged": "False", "rel_change": 0.1},
        {"converged": False, "rel_change": None},  # no stationarity measure (MLPRegressor)
    ]
    counts = network_counts(rows, certified=2)
    assert counts["trained"] == 5
    assert counts["not_converged"] == 3
    assert counts["worst_rel_change"] == pytest.approx(0.3)
    assert counts["certified"] == 2


def test_the_label_check_catches_a_missing_label() -> None:
    with _style.context():
        fig, axes = _style.subplots(1, 2)
        _style.label(axes[0, 0], "x", "y", yunit="s")
        axes[0, 1].set_xlabel("x")
        image = axes[0, 1].imshow(np.eye(3))
        cbar = fig.colorbar(image, ax=axes[0, 1])
        missing = _style.unlabelled_axes(fig)
        assert len(missing) == 2  # axes 1 has no y label, the colour bar no label
        cbar.set_label("value")
        axes[0, 1].set_ylabel("y")
        assert _style.unlabelled_axes(fig) == []
        assert axes[0, 0].get_ylabel() == "y (s)"


def test_plain_ticks_and_shared_scales() -> None:
    with _style.context():
        fig, axes = _style.subplots(1, 2)
        axes[0, 0].plot([1, 10, 100], [1.125, 2, 3])
        axes[0, 1].plot([1, 2], [10, 20])
        axes[0, 0].set_xscale("log")
        _style.plain_ticks(axes[0, 0])
        fig.canvas.draw()
        labels = [t.get_text() for t in axes[0, 0].get_xticklabels() if t.get_text()]
        assert "10" in labels and not any("times" in t or "^" in t for t in labels)
        lo, hi = _style.share_limits(axes.flat, "y")
        assert axes[0, 0].get_ylim() == axes[0, 1].get_ylim() == (lo, hi)
        norm = _style.shared_norm([np.array([0.0, 1.0]), np.array([-2.0, 5.0])])
        assert (norm.vmin, norm.vmax) == (-2.0, 5.0)
        centred = _style.shared_norm([np.array([-1.0, 3.0])], center=0.0)
        assert (centred.vmin, centred.vmax) == (-3.0, 3.0)
        assert _style.text_color((0.0, 0.0, 0.2, 1.0)) == "white"
        assert _style.text_color((1.0, 1.0, 0.9, 1.0)) == "black"
