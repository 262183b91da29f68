"""Command-line interface: ``mtlreg <experiment> --out DIR`` and ``mtlreg reproduce``.

Errors in user input print one line (``mtlreg: error: ...``) and exit with status 2;
no traceback is shown. Results already written stay on disk.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from mtlreg.experiments import REGISTRY, load


class _Parser(argparse.ArgumentParser):
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
    p.add_argument("--quick", action="store_true", help="small, fast version of the experiment")


def build_parser() -> argparse.ArgumentParser:
    from mtlreg import __version__

    parser = _Parser(
        prog="mtlreg",
        description="Multi-task learning as a regularizer of shallow ReLU networks.",
    )
    parser.add_argument("--version", action="version", version=f"mtlreg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    rep = sub.add_parser("reproduce", help="run every experiment of the papers")
    _add_common(rep)
    rep.add_argument(
        "--only",
        nargs="+",
        choices=sorted(REGISTRY),
        help="run only these experiments",
    )
    for name in REGISTRY:
        module = load(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        _add_common(p)
        module.add_arguments(p)
    from mtlreg.sweep._cli import register

    register(sub)  # type: ignore[arg-type]
    return parser


def _run_experiment(name: str, out: Path, quick: bool, options: dict[str, Any]) -> dict[str, Any]:
    module = load(name)
    t0 = time.perf_counter()
    metrics: dict[str, Any] = module.run(out, quick=quick, **options)
    print(f"[{name}] done in {time.perf_counter() - t0:.1f} s -> {out}")
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mtlreg`` command."""
    from mtlreg.training import TrainingError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if hasattr(args, "handler"):
            return int(args.handler(args))
        if args.command == "reproduce":
            names = args.only or list(REGISTRY)
            for name in names:
                _run_experiment(name, args.out / name, args.quick, {})
        else:
            options = {k: v for k, v in vars(args).items() if k not in {"command", "out", "quick"}}
            _run_experiment(args.command, args.out, args.quick, options)
    except (ValueError, TypeError, TrainingError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"mtlreg: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mtlreg: interrupted; results written so far are kept.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
