"""Command-line interface: ``mtlreg <experiment> --out DIR`` and ``mtlreg reproduce``.

Every failure prints one line (``mtlreg: error: ...``) and exits with status 2; no
traceback is shown (set ``MTLREG_DEBUG=1`` to see one). Results already written stay
on disk. Experiment modules are imported only when their command runs (or its
``--help`` is asked for), so ``mtlreg --help`` costs about an ``import mtlreg``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from mtlreg.experiments import REGISTRY, load, summary, summary_line, write_results_readme


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written and appends each option's default to its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" not in text
            and default not in (None, False, argparse.SUPPRESS)
            and action.option_strings
            and action.nargs != 0
        ):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"mtlreg: error: {message}\n")


def _add_common(p: argparse.ArgumentParser, out_default: str | None = None) -> None:
    p.add_argument(
        "--out",
        type=Path,
        required=out_default is None,
        default=out_default,
        help="output folder (created if missing)",
    )
    p.add_argument(
        "--quick", action="store_true", help="small, fast version of the experiment (minutes)"
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``mtlreg`` parser; only the experiment ``command`` (if any) is imported."""
    from mtlreg import __version__

    parser = _Parser(
        prog="mtlreg",
        description="Multi-task learning as a regularizer of shallow ReLU networks.\n\n"
        "Each experiment writes figures (PNG, PDF), tidy CSV tables and metrics.json "
        "into --out.\nErrors print one line and exit with status 2.",
    )
    parser.add_argument("--version", action="version", version=f"mtlreg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    rep = sub.add_parser(
        "reproduce",
        help="run every experiment of the papers, each into OUT/<experiment>",
        description="Run every experiment of the papers (or those given with --only), "
        "each into its own subfolder of --out.",
    )
    _add_common(rep)
    rep.add_argument(
        "--only",
        nargs="+",
        choices=sorted(REGISTRY),
        metavar="EXPERIMENT",
        help=f"run only these experiments, from: {', '.join(sorted(REGISTRY))} (default: all)",
    )
    for name in REGISTRY:
        text = summary(name)
        p = sub.add_parser(name, help=text, description=text)
        _add_common(p)
        if name == command:
            load(name).add_arguments(p)
    _add_sweep_commands(sub)
    return parser


def _add_sweep_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``sweep``, ``results export`` and ``report`` (:mod:`mtlreg.sweep`, imported on use)."""
    text = "run a grid of trainings from a YAML spec (resumable)"
    p = sub.add_parser(
        "sweep",
        help=text,
        description="Run every unfinished run of a sweep spec and store it in "
        "OUT/results.sqlite. Interrupted sweeps resume where they stopped; a second sweep "
        "with a different spec into the same folder is refused while the first runs.",
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

    text = "work with a sweep's results store (export to CSV or Parquet)"
    r = sub.add_parser("results", help=text, description=text)
    actions = r.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    text = "write DIR/results.csv or DIR/results.parquet, one row per run"
    e = actions.add_parser("export", help=text, description=text)
    e.add_argument("dir", type=Path, help="sweep folder")
    e.add_argument("--format", choices=["csv", "parquet"], default="csv", help="file format")
    e.set_defaults(handler=_export)

    text = "write DIR/report/report.md and figures summarising a sweep"
    rep = sub.add_parser("report", help=text, description=text)
    rep.add_argument("dir", type=Path, help="sweep folder")
    rep.set_defaults(handler=_report)


def _sweep(args: argparse.Namespace) -> int:
    from mtlreg.sweep import run_sweep

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
    from mtlreg.sweep import export_results

    print(f"[results] wrote {export_results(args.dir, args.format)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from mtlreg.sweep import write_report

    print(f"[report] wrote {write_report(args.dir)}")
    return 0


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _run_experiment(name: str, out: Path, quick: bool, options: dict[str, Any]) -> dict[str, Any]:
    module = load(name)
    t0 = time.perf_counter()
    metrics: dict[str, Any] = module.run(out, quick=quick, **options)
    print(summary_line(name, metrics, time.perf_counter() - t0, out))
    return metrics


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = f"missing key {exc.args[0]!r}"
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, ValueError | TypeError | OSError) and first:
        return first
    if isinstance(exc, MemoryError):
        return f"out of memory: {first or 'an allocation failed'}; try smaller sizes"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Warnings of a command run print as one line, like errors."""
    text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
    print(f"mtlreg: warning: {text}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mtlreg`` command; returns the exit status."""
    import warnings

    argv = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():
        if not os.environ.get("MTLREG_DEBUG"):
            warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str]) -> int:
    try:
        parser = build_parser(_command(argv))
        args = parser.parse_args(argv)
        if hasattr(args, "handler"):
            return int(args.handler(args))
        if args.command == "reproduce":
            names = args.only or list(REGISTRY)
            results = {n: _run_experiment(n, args.out / n, args.quick, {}) for n in names}
            readme, flagged, trained = write_results_readme(args.out, results, quick=args.quick)
            print(
                f"[reproduce] {trained} gradient-trained networks, {flagged} not converged "
                f"(flagged in the CSVs); figures, claims and verdicts: {readme}"
            )
        else:
            options = {k: v for k, v in vars(args).items() if k not in {"command", "out", "quick"}}
            _run_experiment(args.command, args.out, args.quick, options)
    except KeyboardInterrupt:
        print("mtlreg: interrupted; results written so far are kept.", file=sys.stderr)
        return 130
    except SystemExit as exc:  # argparse: --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except Exception as exc:
        if os.environ.get("MTLREG_DEBUG"):
            raise
        print(f"mtlreg: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
