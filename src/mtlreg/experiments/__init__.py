"""The papers' experiments, one module each.

Each experiment module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` (its own
options; ``--out`` and ``--quick`` are added for every experiment) and
``run(out, *, quick=False, **options) -> dict`` which writes figures, tables and
``metrics.json`` into ``out`` and returns the metrics. ``mtlreg reproduce`` runs
every module listed in :data:`REGISTRY`, each into its own subfolder.

Nothing here imports an experiment module until it is needed: :func:`summary` reads
an experiment's ``HELP`` from its source, so ``mtlreg --help`` starts fast.

>>> summary("univariate") == load("univariate").HELP
True
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

#: experiment name -> module path (imported lazily so the CLI starts fast).
REGISTRY: dict[str, str] = {
    "smoothness": "mtlreg.experiments.smoothness",
    "real-data": "mtlreg.experiments.real_data",
    "univariate": "mtlreg.experiments.univariate",
    "two-squares": "mtlreg.experiments.two_squares",
    "double-descent": "mtlreg.experiments.double_descent",
    "kernel-regime": "mtlreg.experiments.kernel_regime",
}


def _check_name(name: str) -> str:
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"Unknown experiment {name!r}; known experiments: {known}.")
    return name


def load(name: str) -> ModuleType:
    """Import the experiment module registered under ``name``."""
    return importlib.import_module(REGISTRY[_check_name(name)])


@cache
def summary(name: str) -> str:
    """The one-line ``HELP`` of an experiment, read from its source without importing it."""
    spec = importlib.util.find_spec(REGISTRY[_check_name(name)])
    if spec is not None and spec.origin is not None:
        with open(spec.origin, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "HELP" for t in node.targets)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                return node.value.value
    return str(load(name).HELP)  # HELP is computed: import the module after all


def summary_line(name: str, metrics: dict[str, Any], seconds: float, out: str | Path) -> str:
    """``[name] done in S s -> out; N networks trained, K not converged (flagged)``."""
    from mtlreg.experiments._report import summary_line as line

    return line(name, metrics, seconds, Path(out))


def write_results_readme(
    out: str | Path, results: dict[str, dict[str, Any]], *, quick: bool
) -> tuple[Path, int, int]:
    """Write ``out/README.md`` (figures, claims, verdicts, every CSV column documented)
    for ``results`` (experiment name -> metrics); return (path, flagged, trained)."""
    from mtlreg.experiments._report import flagged_total
    from mtlreg.experiments._report import write_results_readme as write

    modules = {name: load(name) for name in results}
    path = write(Path(out), results, modules, quick=quick)
    flagged, trained = flagged_total(results)
    return path, flagged, trained


__all__ = ["REGISTRY", "load", "summary", "summary_line", "write_results_readme"]
