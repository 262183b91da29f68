"""A catalogue of bad inputs (issue 14): each ends in a clear error or a correct result.

API cases assert the exception type and that the message names the argument; CLI cases
run ``mtlreg.cli.main(argv)`` in-process and assert exit status 2 with one line on
stderr (``mtlreg: error: ...``) and no traceback; a few run the real command in a
subprocess.
"""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import mtlreg
from mtlreg import ShallowReLUNet, aux_tasks, convex, train, univariate
from mtlreg.cli import main

X1 = np.array([-1.5, -1.0, 0.0, 0.2, 2.0])
Y1 = np.array([0.7, -0.5, -0.5, 0.5, 0.2])
X2 = np.array([[1.0, 1], [1, -1], [-1, 1], [-1, -1], [2, 2], [2, -2], [-2, 2], [-2, -2]])
Y2 = np.array([1.0, 1, 1, 1, 0, 0, 0, 0])


def _net() -> ShallowReLUNet:
    return ShallowReLUNet(2, 2, 4, seed=0)


def _tiny_train(**kw: Any) -> Any:
    args: dict[str, Any] = {"width": 4, "lam": 1e-3, "seed": 0, "max_steps": 5}
    args.update(kw)
    X = args.pop("X", X2)
    Y = args.pop("Y", Y2)
    return train(X, Y, **args)


# (id, call, exception type, regex the message must match: it names the argument)
API_ERRORS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("train-X-complex", lambda: _tiny_train(X=X2 + 1j), TypeError, "`X`.*complex"),
    ("train-X-nan", lambda: _tiny_train(X=np.where(X2 > 1, np.nan, X2)), ValueError, "`X`"),
    ("train-X-inf", lambda: _tiny_train(X=X2 * np.inf), ValueError, "`X`"),
    ("train-X-bool", lambda: _tiny_train(X=X2 > 0), TypeError, "`X`.*boolean"),
    ("train-X-3d", lambda: _tiny_train(X=np.zeros((2, 2, 2))), ValueError, "`X`"),
    ("train-X-empty", lambda: _tiny_train(X=np.zeros((0, 2)), Y=np.zeros(0)), ValueError, "`X`"),
    ("train-X-text", lambda: _tiny_train(X="abc"), (TypeError, ValueError), "`X`"),  # type: ignore[list-item]
    ("train-Y-rows", lambda: _tiny_train(Y=Y2[:5]), ValueError, "`Y`"),
    ("train-Y-complex", lambda: _tiny_train(Y=Y2 * 1j), TypeError, "`Y`.*complex"),
    ("train-Y-nan", lambda: _tiny_train(Y=np.full(8, np.nan)), ValueError, "`Y`"),
    ("train-width-0", lambda: _tiny_train(width=0), ValueError, "`width`"),
    ("train-width-bool", lambda: _tiny_train(width=True), TypeError, "`width`"),
    ("train-width-float", lambda: _tiny_train(width=2.5), TypeError, "`width`"),
    ("train-lam-negative", lambda: _tiny_train(lam=-1.0), ValueError, "`lam`"),
    ("train-lam-nan", lambda: _tiny_train(lam=math.nan), ValueError, "`lam`"),
    ("train-lam-text", lambda: _tiny_train(lam="1"), TypeError, "`lam`"),
    ("train-lam-bool", lambda: _tiny_train(lam=True), TypeError, "`lam`"),
    ("train-seed-2**70", lambda: _tiny_train(seed=2**70), ValueError, "`seed`"),
    ("train-seed-negative", lambda: _tiny_train(seed=-1), ValueError, "`seed`"),
    ("train-method", lambda: _tiny_train(method="sgd"), ValueError, "`method`"),
    ("train-dtype", lambda: _tiny_train(dtype=torch.int64), (TypeError, ValueError), "`dtype`"),  # type: ignore[list-item]
    ("train-device", lambda: _tiny_train(device="tpu:3"), ValueError, "`device`"),
    ("aux-n_aux-negative", lambda: aux_tasks(Y1, -1), ValueError, "`n_aux`"),
    ("aux-n_aux-bool", lambda: aux_tasks(Y1, True), TypeError, "`n_aux`"),
    ("aux-dist", lambda: aux_tasks(Y1, 2, dist="cauchy"), ValueError, "`dist`"),
    ("aux-p", lambda: aux_tasks(Y1, 2, dist="bernoulli", p=1.5), ValueError, "`p`"),
    ("aux-scale", lambda: aux_tasks(Y1, 2, scale=-1.0), ValueError, "`scale`"),
    ("aux-y-complex", lambda: aux_tasks(Y1 + 2j, 2), TypeError, "`y`.*complex"),
    ("aux-seed-2**70", lambda: aux_tasks(Y1, 2, seed=2**70), ValueError, "`seed`"),
    ("net-in_dim", lambda: ShallowReLUNet(0, 1, 3), ValueError, "`in_dim`"),
    ("net-width-bool", lambda: ShallowReLUNet(1, 1, True), TypeError, "`width`"),
    ("net-skip", lambda: ShallowReLUNet(1, 1, 3, skip="yes"), TypeError, "`skip`"),  # type: ignore[arg-type]
    ("net-dtype", lambda: ShallowReLUNet(1, 1, 3, dtype=torch.int32), TypeError, "`dtype`"),
    ("net-seed-2**70", lambda: ShallowReLUNet(1, 1, 3, seed=2**70), ValueError, "`seed`"),
    ("net-predict-cols", lambda: _net().predict(np.zeros((3, 5))), ValueError, "`X`"),
    ("net-predict-complex", lambda: _net().predict(np.zeros((3, 2)) + 1j), TypeError, "`X`"),
    ("net-task", lambda: _net().vv_norm(task=5), ValueError, "`task`"),
    ("net-prune-tol", lambda: _net().prune(tol=-1.0), ValueError, "`tol`"),
    ("uni-x-duplicate", lambda: univariate.min_norm([0, 0, 1], [1, 2, 3]), ValueError, "`x`"),
    ("uni-x-one-point", lambda: univariate.min_norm([0.0], [1.0]), ValueError, "`x`"),
    ("uni-Y-complex", lambda: univariate.min_norm(X1, Y1 + 1j), TypeError, "`Y`"),
    ("uni-Y-rows", lambda: univariate.slopes(X1, Y1[:3]), ValueError, "`Y`"),
    (
        "uni-slopes-overflow",
        lambda: univariate.min_norm(X1 * 1e-160, Y1 * 1e160),
        ValueError,
        "`Y`.*float64 range",
    ),
    ("uni-wd-lam", lambda: univariate.weight_decay_optimum(X1, Y1, -1.0), ValueError, "`lam`"),
    (
        "uni-wd-max_iter",
        lambda: univariate.weight_decay_optimum(X1, Y1, 1e-3, max_iter=0),
        ValueError,
        "`max_iter`",
    ),
    (
        "uni-band-task",
        lambda: univariate.ambiguity_band(X1, Y1, [0.5], task=3),
        ValueError,
        "`task`",
    ),
    (
        "uni-band-method",
        lambda: univariate.ambiguity_band(X1, Y1, [0.5], method="magic"),
        ValueError,
        "`method`",
    ),
    (
        "uni-band-rtol",
        lambda: univariate.ambiguity_band(X1, Y1, [0.5], rtol=-1.0),
        ValueError,
        "`rtol`",
    ),
    ("uni-unique-atol", lambda: univariate.is_unique(X1, Y1, atol=-1.0), ValueError, "`atol`"),
    (
        "uni-ctd-x_new-nan",
        lambda: univariate.connect_the_dots(X1, Y1)([np.nan]),
        ValueError,
        "`x_new`",
    ),
    ("convex-lam", lambda: convex.solve(X2, Y2, lam=-1.0), ValueError, "`lam`"),
    ("convex-X-nan", lambda: convex.solve(X2 * np.nan, Y2, lam=1e-3), ValueError, "`X`"),
    ("convex-X-complex", lambda: convex.solve(X2 + 1j, Y2, lam=1e-3), TypeError, "`X`"),
    (
        "group-lasso-lam",
        lambda: convex.group_lasso(np.ones((3, 2)), np.ones(3), lam=-1.0),
        ValueError,
        "`lam`",
    ),
]


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [pytest.param(c, e, m, id=i) for i, c, e, m in API_ERRORS],
)
def test_api_bad_input_gives_a_clear_error(
    call: Callable[[], Any], exc: type[Exception], match: str
) -> None:
    with pytest.raises(exc, match=match) as info:
        call()
    assert "\n" not in str(info.value).strip()


# ------------------------------------------------------------ file-based API cases
def test_network_files_are_checked(tmp_path: Path) -> None:
    net = _net()
    path = tmp_path / "net.safetensors"
    net.save(path)
    good = path.read_bytes()
    cases = {
        "random": np.random.default_rng(0).bytes(300),
        "truncated": good[: len(good) - 7],
        "pt": b"PK\x03\x04" + good,
        "empty": b"",
    }
    for name, data in cases.items():
        bad = tmp_path / f"{name}.safetensors"
        bad.write_bytes(data)
        with pytest.raises(ValueError, match="network") as info:
            ShallowReLUNet.load(bad)
        assert str(bad) in str(info.value), name
    with pytest.raises(ValueError, match="does not exist") as missing:
        net.save(tmp_path / "nope" / "net.safetensors")
    assert str(tmp_path / "nope") in str(missing.value)
    with pytest.raises(ValueError, match="`device`"):
        ShallowReLUNet.load(path, device="tpu:0")


def test_results_store_readers_refuse_broken_files(tmp_path: Path) -> None:
    from mtlreg.sweep import export_results, load_results

    (tmp_path / "results.sqlite").write_bytes(b"\x00" * 1000)
    with pytest.raises(ValueError, match=r"results\.sqlite"):
        load_results(tmp_path)
    with pytest.raises(ValueError, match="`format`"):
        export_results(tmp_path, "xlsx")


# ------------------------------------------------- cases owned by other engineers
def test_train_on_inputs_scaled_by_1e200_is_right_or_refused() -> None:
    """Issue 14: 1-D inputs scaled by 1e200 must not return a false certificate.

    The exact optimum (:func:`mtlreg.univariate.weight_decay_optimum`, same problem)
    is the independent answer: no network beats it, and a result that claims
    convergence or a small gap must match it.
    """
    x = X1 * 1e200
    exact = univariate.weight_decay_optimum(x, Y1, 1e-3).objective
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = train(x, Y1, width=8, lam=1e-3, seed=0, max_steps=200)
    except (ValueError, mtlreg.TrainingError):
        return
    assert res.objective >= exact * (1 - 1e-9)
    if math.isfinite(res.lower_bound):
        assert res.lower_bound <= exact * (1 + 1e-9)
    if res.converged or (math.isfinite(res.relative_gap) and res.relative_gap <= 1e-6):
        assert res.objective == pytest.approx(exact, rel=1e-4)


def test_adam_with_a_huge_learning_rate_raises_training_error() -> None:
    with pytest.raises(mtlreg.TrainingError):
        train(X2, Y2, width=8, lam=1e-3, seed=0, method="adam", lr=1e6, max_steps=300)


def test_theory_error_limit_is_not_a_finite_number() -> None:
    from mtlreg import linear

    try:
        value = linear.theory_error(1.0, T=1, sigma=1.0, lam_shared=0.0, lam_task=0.0)
    except ValueError as exc:  # a clear error naming the limit's arguments is fine too
        message = str(exc)
    else:
        message = ""
        assert not math.isfinite(value.mse)
    assert not message or "`lam" in message or "sample_ratio" in message


def test_group_lasso_with_tol_zero_stops_at_max_iter_with_a_warning() -> None:
    rng = np.random.default_rng(0)
    Phi, Y = rng.standard_normal((30, 40)), rng.standard_normal((30, 2))
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = convex.group_lasso(Phi, Y, lam=0.05, tol=0.0, max_iter=50)
    assert time.perf_counter() - t0 < 60.0
    assert res.n_iter <= 50
    assert any("gap" in str(w.message) for w in caught)


# --------------------------------------------------------------------------- CLI
def _spec(tmp_path: Path, text: str | bytes, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


GOOD_SPEC: dict[str, Any] = {
    "name": "fuzz",
    "grid": {
        "dataset": [{"name": "two_squares"}],
        "width": [4],
        "lam": [1e-3],
        "seed": [0],
        "skip": [False],
    },
    "training": {"steps": 5},
}


def _yaml(**changes: Any) -> str:
    spec = yaml.safe_load(yaml.safe_dump(GOOD_SPEC))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            spec[section][field] = value
        else:
            spec[section] = value
    return yaml.safe_dump(spec)


def _store(tmp_path: Path, content: bytes | None, name: str = "store") -> str:
    folder = tmp_path / name
    folder.mkdir()
    if content is not None:
        (folder / "results.sqlite").write_bytes(content)
    return str(folder)


def _foreign(tmp_path: Path) -> str:
    folder = tmp_path / "foreign"
    folder.mkdir()
    with sqlite3.connect(folder / "results.sqlite") as con:
        con.execute("CREATE TABLE runs (x INTEGER)")
    return str(folder)


HEADER = b"SQLite format 3\x00" + bytes(84)

# (id, argv builder given tmp_path, regex expected in the one-line error)
CLI_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("no-command", lambda t: [], "required"),
    ("unknown-command", lambda t: ["frobnicate"], "invalid choice"),
    ("bad-int-option", lambda t: ["univariate", "--out", str(t), "--width", "ten"], "ten"),
    ("missing-out", lambda t: ["two-squares"], "--out"),
    ("only-unknown", lambda t: ["reproduce", "--out", str(t), "--only", "x"], "invalid choice"),
    ("out-is-file", lambda t: ["reproduce", "--out", _spec(t, "x"), "--only", "univariate"], ""),
    ("spec-missing", lambda t: ["sweep", str(t / "nope.yaml"), "--out", str(t)], "does not exist"),
    ("spec-directory", lambda t: ["sweep", str(t), "--out", str(t / "o")], "is a directory"),
    ("spec-binary", lambda t: ["sweep", _spec(t, bytes(range(256))), "--out", str(t)], "spec"),
    ("spec-bad-yaml", lambda t: ["sweep", _spec(t, "grid: [1, 2"), "--out", str(t)], "YAML"),
    ("spec-list", lambda t: ["sweep", _spec(t, "- 1\n- 2\n"), "--out", str(t)], "mapping"),
    (
        "spec-width-true",
        lambda t: ["sweep", _spec(t, _yaml(grid__width=[True])), "--out", str(t)],
        "not a boolean",
    ),
    (
        "spec-duplicate-key",
        lambda t: ["sweep", _spec(t, _yaml() + "training:\n  steps: 9\n"), "--out", str(t)],
        "duplicate key",
    ),
    (
        "spec-name-escape",
        lambda t: ["sweep", _spec(t, _yaml(name="../../escape")), "--out", str(t / "o")],
        "safe file name",
    ),
    (
        "spec-width-1e9",
        lambda t: ["sweep", _spec(t, _yaml(grid__width=[10**9])), "--out", str(t)],
        "memory",
    ),
    (
        "spec-unknown-key",
        lambda t: ["sweep", _spec(t, _yaml(grid__widht=[4])), "--out", str(t)],
        "did you mean",
    ),
    (
        "sweep-batch-size-0",
        lambda t: ["sweep", _spec(t, _yaml()), "--out", str(t / "o"), "--batch-size", "0"],
        "`batch_size`",
    ),
    (
        "sweep-device",
        lambda t: ["sweep", _spec(t, _yaml()), "--out", str(t / "o"), "--device", "tpu:9"],
        "`device`",
    ),
    (
        "sweep-random-store",
        lambda t: ["sweep", _spec(t, _yaml()), "--out", _store(t, b"\x13" * 5000)],
        "results.sqlite",
    ),
    (
        "sweep-header-only-store",
        lambda t: ["sweep", _spec(t, _yaml()), "--out", _store(t, HEADER)],
        "results.sqlite",
    ),
    (
        "sweep-foreign-store",
        lambda t: ["sweep", _spec(t, _yaml()), "--out", _foreign(t)],
        "foreign schema",
    ),
    ("report-random", lambda t: ["report", _store(t, b"garbage" * 300)], "not an SQLite"),
    ("report-header-only", lambda t: ["report", _store(t, HEADER)], "results.sqlite"),
    ("report-empty-file", lambda t: ["report", _store(t, b"")], "results.sqlite"),
    ("report-foreign", lambda t: ["report", _foreign(t)], "foreign schema"),
    ("report-missing", lambda t: ["report", _store(t, None)], "No results store"),
    ("export-random", lambda t: ["results", "export", _store(t, b"\xff" * 4096)], "results.sqlite"),
    ("export-missing-dir", lambda t: ["results", "export", str(t / "none")], "No results store"),
    (
        "export-format",
        lambda t: ["results", "export", str(t), "--format", "xlsx"],
        "invalid choice",
    ),
    (
        "smoothness-corrupted-store",
        lambda t: ["smoothness", "--quick", "--out", _store(t, HEADER + b"\x07" * 5000)],
        "results.sqlite",
    ),
    ("two-squares-lam", lambda t: ["two-squares", "--out", str(t), "--lam", "-1"], "`lam`"),
    ("two-squares-grid-1", lambda t: ["two-squares", "--out", str(t), "--grid", "1"], "`grid`"),
]


@pytest.mark.parametrize(
    ("build", "match"),
    [pytest.param(b, m, id=i) for i, b, m in CLI_CASES],
)
def test_cli_failure_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    build: Callable[[Path], list[str]],
    match: str,
) -> None:
    argv = build(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith("mtlreg: error:")
    assert len(err.splitlines()) <= 3  # argparse may print its usage line first
    if match:
        import re

        assert re.search(match, last), last


def test_cli_spec_name_cannot_escape_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    assert main(["sweep", _spec(tmp_path, _yaml(name="../../escape")), "--out", str(out)]) == 2
    assert not list(tmp_path.rglob("*escape*"))


def test_cli_huge_grid_reports_the_memory_it_would_need(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["two-squares", "--out", str(tmp_path), "--grid", "100000"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "GiB" in err  # what memory it would need


def test_cli_sweep_on_a_corrupted_store_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mtlreg.sweep import run_sweep

    run_sweep(GOOD_SPEC, tmp_path, progress=False)
    db = tmp_path / "results.sqlite"
    raw = bytearray(db.read_bytes())
    page = int.from_bytes(raw[16:18], "big")
    raw[page : 2 * page] = np.random.default_rng(3).bytes(page)  # page 2: the runs table
    db.write_bytes(bytes(raw))
    spec = _spec(tmp_path, _yaml(), "again.yaml")
    code = main(["sweep", spec, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        assert "results.sqlite" in err
    else:  # the damage was found row by row: the run was recomputed, not counted done
        assert code == 0
        assert "recomputed" in err or "1 computed" in capsys.readouterr().out


def test_cli_help_imports_no_experiment() -> None:
    code = (
        "import sys, io, contextlib, mtlreg; before = set(sys.modules);"
        "from mtlreg.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): rc = main(['--help'])\n"
        "new = set(sys.modules) - before;"
        "heavy = sorted(m for m in new if m.split('.')[0] in "
        "{'matplotlib', 'pandas', 'sklearn', 'cvxpy', 'scipy', 'distributed', 'dask', 'pydantic'}"
        " or m.startswith('mtlreg.experiments.') or m.startswith('mtlreg.sweep'));"
        "print(rc, heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "0 []"


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["report", "/nonexistent/dir/"], 2),
    ],
    ids=["report-missing"],
)
def test_cli_subprocess(argv: list[str], expect: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mtlreg.cli", *argv], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == expect
    assert "Traceback" not in proc.stderr
    if expect == 2:
        assert len(proc.stderr.strip().splitlines()) <= 3
        assert proc.stderr.strip().splitlines()[-1].startswith("mtlreg: error:")
    else:
        assert "default" in proc.stdout or "COMMAND" in proc.stdout


def test_catalogue_size() -> None:
    assert len(API_ERRORS) + len(CLI_CASES) >= 60


def test_a_wide_network_starts_without_a_dense_k_cubed_solve() -> None:
    """Issue 14: train(width=10**4) spent minutes in an O(K^3) start-up solve."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((50, 2)), rng.standard_normal(50)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(X, Y, width=10**4, lam=1e-3, seed=0, max_steps=2, method="continuation")
    assert time.perf_counter() - t0 < 60.0
    assert np.isfinite(res.objective)


def test_a_diverging_sweep_stores_failed_rows_not_ok(tmp_path: Path) -> None:
    """Issue 14: a sweep with lr 1e12 stored status=ok rows with fit 7.5e47."""
    from mtlreg.sweep import load_network, load_results, run_sweep

    spec = yaml.safe_load(_yaml(grid__lr=[1e12], training={"steps": 200, "method": "adam"}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_sweep(spec, tmp_path, progress=False)
    frame = load_results(tmp_path)
    assert len(frame) == 1
    assert (frame["status"] != "ok").all()
    row = frame.iloc[0]
    try:
        net = load_network(tmp_path, row["run_id"])
    except ValueError as exc:  # no network stored for a failed run: a clear error
        message, net = str(exc), None
    else:
        message = row["run_id"]
    assert row["run_id"] in message
    if net is not None:
        assert all(bool(torch.isfinite(p).all()) for p in net.parameters())


def test_every_cli_option_has_a_description_and_shows_its_default() -> None:
    import argparse

    from mtlreg.cli import build_parser
    from mtlreg.experiments import REGISTRY

    undocumented = []
    for name in [*REGISTRY, "reproduce", "sweep", "report"]:
        parser = build_parser(name)
        subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub = subs.choices[name]
        for action in sub._actions:
            if action.option_strings and action.dest != "help" and not action.help:
                undocumented.append(f"{name} {action.option_strings[0]}")
        text = sub.format_help()
        for action in sub._actions:
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                assert "default" in text, (name, action.dest)
    assert not undocumented, undocumented


def test_train_on_2d_inputs_scaled_by_1e200_is_the_unscaled_problem() -> None:
    """Issue 14: the 2-D gradient path returned a constant prediction at 1e200.

    (a X, Y, lam a) is the problem (X, Y, lam) with the first layer scaled by 1/a
    (docs/theory.md §1): the answer must be the same function of x / a, not a constant.
    """
    kw: dict[str, Any] = {"width": 16, "seed": 0, "max_steps": 300, "method": "continuation"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = train(X2, Y2, lam=1e-3, **kw)
        try:
            res = train(X2 * 1e200, Y2, lam=1e-3 * 1e200, **kw)
        except (ValueError, mtlreg.TrainingError):
            return
    assert res.objective == pytest.approx(ref.objective, rel=1e-4)
    np.testing.assert_allclose(res.predict(X2 * 1e200), ref.predict(X2), atol=1e-3)


def test_train_1d_scaled_by_1e200_certifies_the_exact_optimum() -> None:
    """(1e200 x, y, 1e200 lam) is the unscaled 1-D problem: a certified result must be
    the exact optimum of :func:`mtlreg.univariate.weight_decay_optimum`."""
    x, lam = X1 * 1e200, 1e-3 * 1e200
    exact = univariate.weight_decay_optimum(x, Y1, lam).objective
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(x, Y1, width=8, lam=lam, seed=0)
    assert res.objective >= exact * (1 - 1e-9)
    if res.converged:
        assert res.objective == pytest.approx(exact, rel=1e-6)
        assert res.relative_gap <= 1e-6


def test_train_on_tiny_labels_regression() -> None:
    """Found by the hypothesis property test: tiny labels, width 3, max_steps 3 once ended
    in a torch shape error inside the gradient recipe."""
    X = np.array([[0.34558419, 0.82161814], [0.33043708, -1.30315723], [0.90535587, 0.44637457]])
    Y = np.array([[-5.36953235e-09], [5.81118104e-09], [3.64572396e-09]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(X, Y, width=3, lam=1e-3, seed=0, max_steps=3)
    assert np.isfinite(res.objective)
