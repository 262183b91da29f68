"""Sweep specs: malformed specs fail before any work, naming the key and the value."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtlreg.cli import main
from mtlreg.sweep import SpecError, expand, load_spec, parse_spec, run_sweep

ROOT = Path(__file__).resolve().parents[2]

GOOD: dict[str, Any] = {
    "name": "t",
    "grid": {
        "dataset": [{"name": "two_squares"}],
        "n_aux": [0, 2],
        "aux_dist": ["gaussian", "rademacher"],
        "width": [4],
        "lam": [1e-3, 1e-2],
        "seed": [0, 1],
    },
    "training": {"steps": 5},
}


def _with(path: str, value: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = copy.deepcopy(GOOD if data is None else data)
    *parents, last = path.split(".")
    node = spec
    for key in parents:
        node = node[key]
    node[last] = value
    return spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (_with("grid.widht", [8]), ["unknown key `grid.widht`", "did you mean 'width'", "[8]"]),
        (_with("trainig", {"steps": 5}), ["unknown key `trainig`", "'training'"]),
        (_with("grid.width", ["eight"]), ["grid.width[0]", "'eight'"]),
        (_with("training.steps", "many"), ["training.steps", "'many'"]),
        (_with("grid.seed", []), ["grid.seed", "empty axis", "Found []"]),
        (_with("grid.dataset", [{"name": "teacher", "n": 10}]), ["missing key", "dataset[0].d"]),
        (_with("grid.dataset", [{"name": "mnist"}]), ["grid.dataset[0]", "'mnist'"]),
        (_with("grid.lam", [-1.0]), ["grid.lam[0]", "-1.0"]),
        (_with("grid.aux_dist", ["cauchy"]), ["grid.aux_dist[0]", "'cauchy'"]),
    ],
)
def test_malformed_spec_names_key_and_value(spec: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


def test_missing_section_and_non_mapping() -> None:
    spec = copy.deepcopy(GOOD)
    del spec["training"]
    with pytest.raises(SpecError, match="missing key `training`"):
        parse_spec(spec)
    with pytest.raises(SpecError, match="should be a mapping"):
        parse_spec([1, 2])


def test_bad_spec_fails_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(yaml.safe_dump(_with("grid.width", [])))
    out = tmp_path / "out"
    assert main(["sweep", str(spec_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mtlreg: error: Invalid sweep spec")
    assert "grid.width" in err
    assert len(err.splitlines()) == 1
    assert not out.exists()
    spec_file.write_text("grid: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        run_sweep(spec_file, out)
    assert not out.exists()


def test_missing_data_file_fails_early(tmp_path: Path) -> None:
    spec = _with("grid.dataset", [{"name": "file", "path": "nope.npz"}])
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"grid\.dataset\[0\]\.path.*'nope\.npz'"):
        load_spec(spec_file)


def test_expand_is_canonical() -> None:
    runs = expand(parse_spec(GOOD))
    # n_aux = 0 makes the auxiliary distribution irrelevant: those runs appear once.
    assert len(runs) == (1 + 2) * 2 * 2
    assert len({r.run_id() for r in runs}) == len(runs)
    reordered = {"training": GOOD["training"], "grid": dict(reversed(GOOD["grid"].items()))}
    assert {r.run_id() for r in expand(parse_spec(reordered))} == {r.run_id() for r in runs}
    assert runs[0].run_id("0.1.0") != runs[0].run_id("9.9.9")  # the version is part of the id
    assert all(r.aux_dist == "none" for r in runs if r.n_aux == 0)


def test_example_spec_is_valid() -> None:
    spec = load_spec(ROOT / "examples" / "sweeps" / "small.yaml")
    assert len(expand(spec)) >= 24


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (_with("grid.width", [True]), ["grid.width[0]", "not a boolean", "True"]),
        (_with("grid.lam", [False, 0.1]), ["grid.lam[0]", "not a boolean"]),
        (_with("training.steps", True), ["training.steps", "not a boolean"]),
        (_with("measure", {"test_points": True}), ["measure.test_points", "not a boolean"]),
        (
            _with("grid.dataset", [{"name": "teacher", "n": True, "d": 2}]),
            ["grid.dataset[0].n", "not a boolean"],
        ),
    ],
)
def test_booleans_are_refused_where_numbers_go(spec: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    for part in expected:
        assert part in str(info.value)


def test_booleans_are_accepted_where_booleans_go() -> None:
    spec = parse_spec(_with("grid.skip", [True, False]))
    assert {c.skip for c in expand(spec)} == {True, False}


@pytest.mark.parametrize("name", ["../../escape", "/abs", "a/b", ".hidden", "", "x" * 65, "a b"])
def test_names_are_safe_file_names(name: str) -> None:
    with pytest.raises(SpecError, match="safe file name"):
        parse_spec(_with("name", name))


def test_a_safe_name_is_kept() -> None:
    assert parse_spec(_with("name", "run-1.v2_a")).name == "run-1.v2_a"


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(yaml.safe_dump(GOOD) + "training:\n  steps: 7\n")
    with pytest.raises(SpecError, match="duplicate key 'training'"):
        load_spec(path)
    nested = tmp_path / "nested.yaml"
    nested.write_text(yaml.safe_dump(GOOD).replace("steps: 5", "steps: 5\n  steps: 9"))
    with pytest.raises(SpecError, match="duplicate key 'steps'"):
        load_spec(nested)


def test_directory_and_binary_spec_paths(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)
    binary = tmp_path / "spec.yaml"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(SpecError):
        load_spec(binary)


def test_sizes_are_bounded_before_allocating() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(_with("grid.width", [10**9]))
    message = str(info.value)
    assert "width 1000000000" in message
    assert "TiB" in message  # the memory it would need is stated
    with pytest.raises(SpecError, match="runs is too large"):
        parse_spec(_with("grid.seed", list(range(10**6 + 1))))
    # a teacher data set of 1e9 points is refused from its declared size, not loaded
    with pytest.raises(SpecError, match="N=1000000000"):
        parse_spec(_with("grid.dataset", [{"name": "teacher", "n": 10**9, "d": 10**3}]))
