"""mkdocs hook: render the reST roles of the docstrings (``:func:`name```).

The docstrings are read by Python users in ``help()`` and use Sphinx-style roles such
as ``:func:`solve``` or ``:class:`~mtlreg.ShallowReLUNet```. mkdocstrings renders them
as ``:func:<code>solve</code>``; this hook drops the role, shortens ``~a.b.C`` to
``C`` and links fully qualified ``mtlreg.`` names to their reference entry (an optional
cross-reference: no warning when the target is not documented).
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj|py:\w+):<code>(~?)([^<]+)</code>")


def _replace(match: re.Match[str]) -> str:
    tilde, target = match.group(1), match.group(2).strip()
    shown = target.rsplit(".", 1)[-1] if tilde else target
    code = f"<code>{shown}</code>"
    if target.startswith("mtlreg."):
        return f'<autoref identifier="{target}" optional>{code}</autoref>'
    return code


def on_page_content(html: str, **kwargs: Any) -> str:
    """Rewrite the roles left in a page's HTML."""
    return _ROLE.sub(_replace, html)
