"""The sweep subcommands of ``mtlreg``: ``sweep``, ``results export`` and ``report``.

:func:`register` adds them to the main parser's subcommands; each sets a
``handler(args) -> int`` that :func:`mtlreg.cli.main` calls.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], helps: dict[str, str]
) -> None:
    """Add ``sweep``, ``results`` and ``report`` (one-line helps in ``helps``) to ``mtlreg``."""
    p = subparsers.add_parser(
        "sweep",
        help=helps["sweep"],
        description="Run every unfinished run of a sweep spec and store it in "
        "OUT/results.sqlite. Interrupted sweeps resume where they stopped.",
    )
    p.add_argument("spec", type=Path, help="sweep spec (YAML), e.g. examples/sweeps/small.yaml")
    p.add_argument("--out", type=Path, required=True, help="sweep folder (created if missing)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler, e.g. tcp://HOST:8786")
    where.add_argument(
        "--local-cluster", type=int, metavar="N", help="start a local Dask cluster of N workers"
    )
    p.add_argument("--batch-size", type=int, help="networks per batch (overrides the spec)")
    p.add_argument("--device", help="torch device, e.g. cpu or cuda (overrides the spec)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=_sweep)

    r = subparsers.add_parser("results", help=helps["results"], description=helps["results"])
    actions = r.add_subparsers(dest="action", metavar="ACTION", parser_class=type(r))
    actions.required = True
    e = actions.add_parser("export", help="write DIR/results.csv or DIR/results.parquet")
    e.add_argument("dir", type=Path, help="sweep folder")
    e.add_argument("--format", choices=["csv", "parquet"], default="csv", help="file format")
    e.set_defaults(handler=_export)

    rep = subparsers.add_parser("report", help=helps["report"], description=helps["report"])
    rep.add_argument("dir", type=Path, help="sweep folder")
    rep.set_defaults(handler=_report)


def _sweep(args: argparse.Namespace) -> int:
    from mtlreg.sweep._runner import run_sweep

    summary = run_sweep(
        args.spec,
        args.out,
        scheduler=args.scheduler,
        local_cluster=args.local_cluster,
        batch_size=args.batch_size,
        device=args.device,
        progress=False if args.no_progress else None,
    )
    print(
        f"[sweep] {summary.total} runs: {summary.already_done} already done, "
        f"{summary.computed} computed in {summary.seconds:.1f} s -> {summary.out}"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from mtlreg.sweep._store import export_results

    path = export_results(args.dir, args.format)
    print(f"[results] wrote {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from mtlreg.sweep._report import write_report

    path = write_report(args.dir)
    print(f"[report] wrote {path}")
    return 0
