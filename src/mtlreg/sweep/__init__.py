"""Sweeps: many networks trained at once, a validated grid spec, a resumable store.

A sweep spec (YAML) describes a grid of runs and the training recipe
(``training: {method: adam|continuation|auto|exact, steps, tol, ...}``);
:func:`run_sweep` trains them in batches with :func:`mtlreg.training.train_many`,
locally or on a Dask cluster, and commits each finished run to
``out/results.sqlite``. Interrupted sweeps resume where they stopped. A run whose
training diverges is stored with status ``failed`` and its reason. See
``docs/sweeps.md``. (``train_batched`` and ``train_auto_batched`` are deprecated
aliases of ``train_many``.)

>>> import tempfile
>>> from mtlreg.sweep import load_results, run_sweep
>>> spec = {
...     "grid": {"dataset": [{"name": "two_squares"}], "n_aux": [0, 3], "width": [8],
...              "lam": [1e-3], "seed": [0, 1], "skip": [False]},
...     "training": {"steps": 20},
... }
>>> out = tempfile.mkdtemp()
>>> run_sweep(spec, out, progress=False).computed
4
>>> run_sweep(spec, out, progress=False).computed  # finished runs are not recomputed
0
>>> len(load_results(out))
4
"""

from mtlreg.sweep._auto import AutoBatchedResult, train_auto_batched
from mtlreg.sweep._batched import BatchedResult, BatchedRun, train_batched
from mtlreg.sweep._execute import build_problem
from mtlreg.sweep._report import write_report
from mtlreg.sweep._runner import SweepSummary, plan_batches, run_sweep
from mtlreg.sweep._spec import RunConfig, SpecError, SweepSpec, expand, load_spec, parse_spec
from mtlreg.sweep._store import ResultStore, export_results, load_network, load_results

__all__ = [
    "AutoBatchedResult",
    "BatchedResult",
    "BatchedRun",
    "ResultStore",
    "RunConfig",
    "SpecError",
    "SweepSpec",
    "SweepSummary",
    "build_problem",
    "expand",
    "export_results",
    "load_network",
    "load_results",
    "load_spec",
    "parse_spec",
    "plan_batches",
    "run_sweep",
    "train_auto_batched",
    "train_batched",
    "write_report",
]
