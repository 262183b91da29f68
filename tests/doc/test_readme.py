"""Every code block of README.md runs.

Python blocks are executed as written (in a temporary working directory). Shell blocks
run line by line, unless an HTML comment right above the block says how to exercise it
without its full cost:

- ``<!-- readme-test: run CMD -->``: run CMD in the repository root instead (for example
  ``make -n demo``: the targets exist and expand to commands);
- ``<!-- readme-test: help -->``: every ``mtlreg ...`` line is run as
  ``mtlreg <subcommand> --help`` (the command and subcommand exist).

Blocks in any other language are refused, so no block escapes the test.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(
    r"(?:<!-- readme-test: (?P<directive>[^\n]*?) -->\n)?```(?P<lang>[\w-]*)\n(?P<body>.*?)```",
    re.S,
)


def _blocks() -> list[tuple[str, str | None, str]]:
    return [
        (m["lang"], m["directive"], m["body"]) for m in BLOCK.finditer(README.read_text("utf-8"))
    ]


def _ids(kind: str) -> list[tuple[int, str | None, str]]:
    return [(i, d, b) for i, (lang, d, b) in enumerate(_blocks()) if lang == kind]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    return env


def test_every_block_is_python_or_shell() -> None:
    langs = {lang for lang, _, _ in _blocks()}
    assert langs <= {"python", "bash"}, f"blocks the test would not run: {langs}"
    assert _ids("python") and _ids("bash")


def test_no_placeholder_is_left() -> None:
    assert not re.search(r"\b(DEMO|TEST)_MINUTES\b|\bSKLEARN_BEST_\w+", README.read_text("utf-8"))


@pytest.mark.parametrize(("index", "directive", "body"), _ids("python"))
def test_python_block_runs(
    index: int, directive: str | None, body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert directive is None, f"python block {index} should run as written"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    code = compile(body, f"README.md block {index}", "exec")
    exec(code, {"__name__": f"readme_block_{index}"})


def _commands(body: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in body.splitlines())
    return [line for line in lines if line]


def _help_argv(line: str) -> list[str]:
    words = shlex.split(line)
    assert words[0] == "mtlreg", line
    sub = [w for w in words[1:3] if re.fullmatch(r"[a-z][a-z-]*", w)]
    if sub and sub[0] != "results":
        sub = sub[:1]  # only `results` has sub-subcommands
    return [*sub, "--help"]


@pytest.mark.parametrize(("index", "directive", "body"), _ids("bash"))
def test_shell_block_runs(index: int, directive: str | None, body: str, tmp_path: Path) -> None:
    if directive == "help":
        from mtlreg.cli import main

        for line in _commands(body):
            assert main(_help_argv(line)) == 0, line
        return
    if directive is not None:
        assert directive.startswith("run "), directive
        commands, cwd = [directive.removeprefix("run ")], ROOT
    else:
        commands, cwd = _commands(body), tmp_path
    for command in commands:
        done = subprocess.run(
            command, shell=True, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
