"""The papers' experiments, one module each.

Each experiment module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` (its own
options; ``--out`` and ``--quick`` are added for every experiment) and
``run(out, *, quick=False, **options) -> dict`` which writes figures, tables and
``metrics.json`` into ``out`` and returns the metrics. ``mtlreg reproduce`` runs
every module listed in :data:`REGISTRY`, each into its own subfolder.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: experiment name -> module path (imported lazily so the CLI starts fast).
REGISTRY: dict[str, str] = {
    "smoothness": "mtlreg.experiments.smoothness",
    "real-data": "mtlreg.experiments.real_data",
    "univariate": "mtlreg.experiments.univariate",
    "two-squares": "mtlreg.experiments.two_squares",
    "double-descent": "mtlreg.experiments.double_descent",
    "kernel-regime": "mtlreg.experiments.kernel_regime",
}


def load(name: str) -> ModuleType:
    """Import the experiment module registered under ``name``."""
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"Unknown experiment {name!r}; known experiments: {known}.")
    return importlib.import_module(REGISTRY[name])


__all__ = ["REGISTRY", "load"]
