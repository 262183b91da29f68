"""The README's table of public entry points lists every public name exactly once."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
PACKAGES = [
    "model",
    "tasks",
    "training",
    "univariate",
    "convex",
    "kernel",
    "metrics",
    "linear",
    "sklearn",
    "sweep",
    "experiments",
]


def _table() -> dict[str, list[str]]:
    text = README.read_text()
    section = text[text.index("## Public entry points") :]
    section = section[: section.index("\n## ", 3)]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"\| `mtlreg\.(\w+)` \| (.*) \|$", line)
        if match:
            cell = re.sub(r"\([^)]*\)", "", match.group(2))  # drop parenthesised remarks
            rows[match.group(1)] = re.findall(r"`(\w+)`", cell)
    return rows


def test_every_public_name_is_listed_once_at_its_home() -> None:
    rows = _table()
    assert sorted(rows) == sorted(PACKAGES)
    for pkg in PACKAGES:
        exported = set(importlib.import_module(f"mtlreg.{pkg}").__all__)
        listed = rows[pkg]
        assert len(listed) == len(set(listed)), f"mtlreg.{pkg}: a name is listed twice"
        assert set(listed) == exported, (
            f"mtlreg.{pkg}: missing {sorted(exported - set(listed))}, "
            f"not exported {sorted(set(listed) - exported)}"
        )


def test_top_level_reexports_are_named() -> None:
    import mtlreg

    text = README.read_text()
    section = text[text.index("## Public entry points") :]
    intro = section[: section.index("| package |")]
    for name in mtlreg.__all__:
        assert f"`{name}`" in intro, name
