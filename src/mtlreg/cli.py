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

#: The sweep commands (defined in ``mtlreg.sweep``, imported only when one runs).
SWEEP_COMMANDS: dict[str, str] = {
    "sweep": "run a grid of trainings from a YAML spec (resumable)",
    "results": "work with a sweep's results store (export to CSV or Parquet)",
    "report": "write DIR/report/report.md and figures summarising a sweep",
}


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
    if command in SWEEP_COMMANDS:
        from mtlreg.sweep._cli import register

        register(sub, SWEEP_COMMANDS)  # type: ignore[arg-type]
    else:  # listed in the help; their options are added only when one of them runs
        for name, text in SWEEP_COMMANDS.items():
            sub.add_parser(name, help=text, description=text)
    return parser


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
