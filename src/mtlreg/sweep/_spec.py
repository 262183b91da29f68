"""Sweep specifications: a validated YAML grid and its canonical run configurations.

A spec names a grid (data sets x auxiliary tasks x widths x lam x seeds x ...) and
the training settings shared by every run. :func:`expand` turns it into one
:class:`RunConfig` per grid point; a run's id hashes its canonical configuration
together with the package version, so a results store recognises finished runs.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
)

from mtlreg.sweep._checks import check_name, check_sizes, reject_bools, yaml_load
from mtlreg.sweep._datasets import DatasetSpec, FileData

AuxDist = Literal["gaussian", "bernoulli", "rademacher", "uniform"]
DType = Literal["float32", "float64"]


class SpecError(ValueError):
    """A sweep specification is malformed; the message names the key and the value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Grid(_Strict):
    """The axes of the grid; every combination is one run. No axis may be empty."""

    dataset: list[DatasetSpec] = Field(min_length=1)
    n_aux: list[NonNegativeInt] = Field(default=[0], min_length=1)
    aux_dist: list[AuxDist] = Field(default=["gaussian"], min_length=1)
    aux_scale: list[NonNegativeFloat] = Field(default=[1.0], min_length=1)
    width: list[PositiveInt] = Field(min_length=1)
    lam: list[NonNegativeFloat] = Field(min_length=1)
    seed: list[NonNegativeInt] = Field(min_length=1)
    lr: list[PositiveFloat | None] = Field(default=[None], min_length=1)
    skip: list[bool] = Field(default=[True], min_length=1)


class Training(_Strict):
    """Settings shared by every run: the recipe of :func:`mtlreg.training.train_many`.

    ``method`` names a recipe of :data:`mtlreg.training.RECIPES` (default ``adam``, the
    papers' trained networks; ``auto`` returns the certified optimum, not a trained
    network, for small problems in :data:`mtlreg.convex.EXACT_DIMS`, and ``certified``
    always does); ``steps`` is its ``max_steps``. ``tol`` is the one stopping rule (0: every run
    takes ``steps`` steps). ``restarts``, ``lam_start`` and ``lr_decay`` (null: the
    recipe's default) and the grid's ``lr`` (null: the recipe's default) mean what
    they mean for :func:`mtlreg.train`.
    """

    method: str = "adam"
    steps: PositiveInt
    tol: NonNegativeFloat = 0.0
    restarts: PositiveInt | None = None
    lam_start: NonNegativeFloat | None = None
    lr_decay: PositiveFloat | None = None
    init: Literal["data", "torch"] = "data"
    task_reduction: Literal["sum", "mean"] = "sum"
    dtype: DType = "float64"

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from mtlreg.training import RECIPES

        if value not in RECIPES:
            raise ValueError(f"should be one of {', '.join(repr(m) for m in RECIPES)}")
        return value


class Aux(_Strict):
    """Auxiliary labels: Bernoulli's ``p``, and ``seed`` (null: each run's own seed)."""

    p: float = Field(default=0.5, ge=0.0, le=1.0)
    seed: NonNegativeInt | None = None


class Measure(_Strict):
    """Task-1 measures: gradient norms at ``test_points`` uniform points of the data's box."""

    test_points: NonNegativeInt = 256
    test_seed: NonNegativeInt = 0


class Execution(_Strict):
    """How runs are executed; never part of a run's identity."""

    batch_size: PositiveInt = 64
    device: str = "cpu"


class SweepSpec(_Strict):
    """A sweep: a grid of runs plus shared settings (see ``docs/sweeps.md``)."""

    name: str = "sweep"
    description: str = ""
    grid: Grid
    training: Training
    aux: Aux = Aux()
    measure: Measure = Measure()
    execution: Execution = Execution()


class RunConfig(_Strict):
    """The canonical configuration of one run (one grid point).

    Parameters that cannot matter are normalised (no auxiliary tasks: no
    distribution, scale or label seed), so equal runs get equal ids.
    """

    dataset: DatasetSpec
    n_aux: int
    aux_dist: str
    aux_scale: float
    aux_p: float
    aux_seed: int
    width: int
    lam: float
    seed: int
    lr: float | None
    skip: bool
    method: str
    steps: int
    tol: float
    restarts: int | None
    lam_start: float | None
    lr_decay: float | None
    init: str
    task_reduction: str
    dtype: str
    test_points: int
    test_seed: int

    def canonical(self) -> dict[str, Any]:
        """The configuration as plain JSON values (a file data set by content, not path)."""
        out = self.model_dump(mode="json")
        if isinstance(self.dataset, FileData):
            out["dataset"] = {"name": "file", "sha256": self.dataset.sha256}
        return out

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))

    def run_id(self, version: str | None = None) -> str:
        """SHA-256 (first 20 hex digits) of the canonical JSON and the package version."""
        if version is None:
            from mtlreg import __version__ as version
        text = f"{self.canonical_json()}|mtlreg {version}"
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def _describe(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in {"univariate", "two_squares", "teacher", "file"} and parts:
            continue  # the union tag pydantic inserts for the dataset kind
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "<spec>"


def _hint(loc: tuple[int | str, ...], model: type[BaseModel]) -> str:
    known: list[str] = []
    current: Any = model
    for item in loc[:-1]:
        field = getattr(current, "model_fields", {}).get(item)
        if field is None:
            return ""
        current = field.annotation
    known = list(getattr(current, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _format_errors(exc: ValidationError, source: str) -> str:
    messages = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        value = err.get("input")
        text = f"{_describe(loc)}: {err['msg']}"
        if err["type"] == "extra_forbidden":
            text = f"unknown key `{_describe(loc)}`{_hint(loc, SweepSpec)}"
        elif err["type"] == "missing":
            text = f"missing key `{_describe(loc)}`"
        elif err["type"] == "too_short" and loc[0] == "grid":
            text = f"{_describe(loc)}: empty axis, so the grid would have no runs"
        if err["type"] != "missing":
            shown = repr(value)
            text += f". Found {shown if len(shown) <= 60 else shown[:57] + '...'}"
        messages.append(text)
    return f"Invalid sweep spec {source}: " + "; ".join(messages) + "."


def parse_spec(data: Any, source: str = "<dict>", base: Path | None = None) -> SweepSpec:
    """Validate a spec given as a mapping; raise :class:`SpecError` naming every problem.

    Relative ``file`` data paths are resolved against ``base`` (the spec's folder).
    """
    if not isinstance(data, dict):
        raise SpecError(f"Invalid sweep spec {source}: should be a mapping. Found {data!r:.60}.")
    bools = reject_bools(data, SweepSpec)
    if bools:
        raise SpecError(f"Invalid sweep spec {source}: " + "; ".join(bools) + ".")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_errors(exc, source)) from None
    try:
        check_name(spec.name)
    except ValueError as exc:
        raise SpecError(f"Invalid sweep spec {source}: name: {exc}. Found {spec.name!r}.") from None
    datasets = []
    for i, ds in enumerate(spec.grid.dataset):
        if isinstance(ds, FileData):
            path = Path(ds.path)
            if base is not None and not path.is_absolute():
                path = base / path
            if not path.is_file():
                raise SpecError(
                    f"Invalid sweep spec {source}: grid.dataset[{i}].path: no such file. "
                    f"Found {ds.path!r}."
                )
            ds = FileData(name="file", path=str(path.resolve()))
        datasets.append(ds)
    grid = spec.grid.model_copy(update={"dataset": datasets})
    spec = spec.model_copy(update={"grid": grid})
    try:
        check_sizes(spec, source)
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    return spec


def load_spec(spec: str | Path | dict[str, Any] | SweepSpec) -> SweepSpec:
    """A validated :class:`SweepSpec` from a YAML file, a mapping or a spec."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, dict):
        return parse_spec(spec)
    path = Path(spec)
    if path.is_dir():
        raise SpecError(f"Sweep spec {str(path)!r} is a directory; give the YAML file.")
    if not path.is_file():
        raise FileNotFoundError(f"Sweep spec {str(path)!r} does not exist.")
    try:
        data = yaml_load(path.read_text())
    except UnicodeDecodeError:
        raise SpecError(f"Invalid sweep spec {str(path)!r}: not a text file.") from None
    except yaml.YAMLError as exc:
        first = str(exc).replace("\n", " ")
        raise SpecError(f"Invalid sweep spec {str(path)!r}: not valid YAML ({first}).") from None
    return parse_spec(data, repr(str(path)), base=path.parent)


def expand(spec: SweepSpec) -> list[RunConfig]:
    """Every run of the grid, in a fixed order, duplicates (equal ids) removed."""
    g, t = spec.grid, spec.training
    runs: dict[str, RunConfig] = {}
    axes = itertools.product(
        g.dataset, g.n_aux, g.aux_dist, g.aux_scale, g.width, g.lam, g.seed, g.lr, g.skip
    )
    for ds, n_aux, dist, scale, width, lam, seed, lr, skip in axes:
        has_aux = n_aux > 0
        cfg = RunConfig(
            dataset=ds,
            n_aux=n_aux,
            aux_dist=dist if has_aux else "none",
            aux_scale=scale if has_aux else 0.0,
            aux_p=spec.aux.p if has_aux and dist == "bernoulli" else 0.0,
            aux_seed=(seed if spec.aux.seed is None else spec.aux.seed) if has_aux else 0,
            width=width,
            lam=lam,
            seed=seed,
            lr=lr,
            skip=skip,
            method=t.method,
            steps=t.steps,
            tol=t.tol,
            restarts=t.restarts,
            lam_start=t.lam_start,
            lr_decay=t.lr_decay,
            init=t.init,
            task_reduction=t.task_reduction,
            dtype=t.dtype,
            test_points=spec.measure.test_points,
            test_seed=spec.measure.test_seed,
        )
        runs.setdefault(cfg.canonical_json(), cfg)
    return list(runs.values())
