"""Guards of sweep specs that pydantic's coercion would let through.

* :func:`yaml_load`: YAML with duplicate keys refused (PyYAML keeps the last one);
* :func:`reject_bools`: ``true``/``false`` refused where a number goes (pydantic
  reads ``width: [true]`` as width 1);
* :func:`check_name`: a spec name must be a safe file name (it names ``spec-NAME.yaml``);
* :func:`check_sizes`: memory of one batch estimated before anything is allocated.
"""

from __future__ import annotations

import os
import re
import typing
from typing import Any

import yaml
from pydantic import BaseModel

#: Characters allowed in a spec name (it becomes part of a file name).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Largest grid accepted (runs after expansion is cheaper to bound before it).
MAX_RUNS = 1_000_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping with the same key twice."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue  # pyyaml raises its own clear error for unhashable keys
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key] + 1}, again on line "
                f"{key_node.start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def yaml_load(text: str) -> Any:
    """Parse YAML like ``yaml.safe_load`` but refuse duplicate keys."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass


def _args(annotation: Any) -> list[Any]:
    """Every type named inside an annotation (unions, lists, Annotated, Literal)."""
    out = [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return out
    for arg in typing.get_args(annotation):
        out.extend(_args(arg))
    return out


def _allows_bool(annotation: Any) -> bool:
    return any(a is bool for a in _args(annotation))


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [a for a in _args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]


def _pick(models: list[type[BaseModel]], value: dict[str, Any]) -> type[BaseModel] | None:
    if len(models) == 1:
        return models[0]
    for model in models:  # a tagged union: the model whose `name` literal matches
        field = model.model_fields.get("name")
        if field is not None and value.get("name") in typing.get_args(field.annotation):
            return model
    return None


def reject_bools(data: Any, model: type[BaseModel], where: str = "") -> list[str]:
    """Locations in ``data`` holding a boolean where ``model`` expects a number or text."""
    found: list[str] = []
    if not isinstance(data, dict):
        return found
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        loc = f"{where}.{key}" if where else str(key)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            at = loc if i is None else f"{loc}[{i}]"
            if isinstance(item, bool) and not _allows_bool(field.annotation):
                found.append(f"{at}: should be a number, not a boolean. Found {item!r}")
            elif isinstance(item, dict):
                sub = _pick(_models(field.annotation), item)
                if sub is not None:
                    found.extend(reject_bools(item, sub, at))
    return found


def check_name(value: str) -> str:
    """A spec name must be a safe file name: no path separators, no leading dot."""
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            "should be a safe file name: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/' or '..')"
        )
    return value


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def memory_limit() -> int:
    """Bytes a sweep may plan for: the machine's physical memory (64 GiB if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 64 * 1024**3


def _data_shape(ds: Any) -> tuple[int, int]:
    n, d = getattr(ds, "n", None), getattr(ds, "d", None)
    if isinstance(n, int) and isinstance(d, int):
        return n, d
    x, _ = ds.load()
    return int(x.shape[0]), int(x.shape[1])


def check_sizes(spec: Any, source: str, limit: int | None = None) -> None:
    """Refuse a spec whose grid or one batch would not fit in memory, before allocating.

    One batch holds, per network, the data (N x (d + T)), the hidden activations and
    their gradient (2 N K), the parameters with their gradient and two Adam moments
    (4 K (d + T + 1)) and the test points' activations (P K), in ``dtype``.
    """
    limit = memory_limit() if limit is None else limit
    g, t = spec.grid, spec.training
    n_runs = 1
    for axis in (g.dataset, g.n_aux, g.aux_dist, g.aux_scale, g.width, g.lam, g.seed, g.lr):
        n_runs *= len(axis)
    n_runs *= len(g.skip)
    if n_runs > MAX_RUNS:
        raise ValueError(
            f"Invalid sweep spec {source}: grid: {n_runs} runs is too large "
            f"(at most {MAX_RUNS}); split it into several sweeps."
        )
    item = 4 if t.dtype == "float32" else 8
    batch = min(spec.execution.batch_size, n_runs)
    width, tasks = max(g.width), 1 + max(g.n_aux)
    points = spec.measure.test_points
    for i, ds in enumerate(g.dataset):
        n, d = _data_shape(ds)
        per_net = n * (d + tasks) + 2 * n * width + 4 * width * (d + tasks + 1) + points * width
        need = float(batch) * per_net * item
        if need > limit:
            raise ValueError(
                f"Invalid sweep spec {source}: width {width} with {tasks} task(s) on "
                f"grid.dataset[{i}] (N={n}, d={d}) is too large: one batch of {batch} "
                f"network(s) would need about {_bytes(need)} of memory, more than the "
                f"{_bytes(limit)} available. Lower grid.width, grid.n_aux or "
                "execution.batch_size."
            )
