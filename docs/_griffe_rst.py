"""griffe extension: read the reST habits of the docstrings as Markdown.

The docstrings are written for ``help()`` and doctest: numpy sections, ``>>>`` examples
in module docstrings, literal blocks introduced by ``::`` and a few "Example" headers.
Before griffe parses a docstring this extension

- renames a singular "Example" section header to numpy's "Examples",
- fences ``>>>`` blocks as ``pycon`` code where the docstring has no Examples section
  (inside one, griffe does this itself), and
- turns the ``::`` that introduces a literal block into ``:``, and
- turns ``.. math::`` blocks and ``:math:`x``` roles into MathJax (``$$ ... $$``, ``$x$``).

The docstrings themselves are unchanged; only their rendering in ``make docs`` is.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_EXAMPLE = re.compile(r"^([ \t]*)Example[ \t]*\n([ \t]*)-+[ \t]*$", re.M)
_HAS_EXAMPLES = re.compile(r"^[ \t]*Examples[ \t]*\n[ \t]*-{3,}[ \t]*$", re.M)
_LITERAL = re.compile(r"(\S)::[ \t]*$", re.M)
_MATH_BLOCK = re.compile(r"^([ \t]*)\.\. math::[ \t]*(.*)\n((?:\1[ \t]+\S.*(?:\n|$))*)", re.M)
_MATH_ROLE = re.compile(r":math:`([^`]+)`")


def _math_block(match: re.Match[str]) -> str:
    indent = match.group(1)
    body = [match.group(2).strip()] + [s.strip() for s in match.group(3).splitlines()]
    lines = [indent + "$$", *(indent + s for s in body if s), indent + "$$"]
    return "\n".join(lines) + "\n"


def _fence_doctests(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            if out and out[-1].strip():
                out.append("")
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            out.append("")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with the three rewrites of the module docstring."""
    text = _EXAMPLE.sub(r"\1Examples\n\2--------", text)
    text = _MATH_BLOCK.sub(_math_block, text)
    text = _MATH_ROLE.sub(r"$\1$", text)
    text = _LITERAL.sub(r"\1:", text)
    if not _HAS_EXAMPLES.search(text):
        text = _fence_doctests(text)
    return text


class RstToMarkdown(Extension):
    """Rewrite every docstring once, when griffe creates its object."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
