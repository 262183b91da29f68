"""The documentation stays in step with the code (no mkdocs needed: ``make docs`` builds it).

- ``docs/theory.md`` keeps its eight numbered sections; every ``docs/theory.md §N`` (or
  ``§N.M``) cited in src/ and docs/ names a section that exists.
- Every ``mtlreg.`` name that ``docs/theory.md`` and ``CONTRIBUTING.md`` mention exists.
- Every public package has an API-reference page, and the navigation of ``mkdocs.yml``
  lists exactly the pages under ``docs/``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

import mtlreg
from mtlreg._result import OBJECTIVE

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
THEORY = DOCS / "theory.md"
SECTIONS = [
    "Model",
    "Auxiliary tasks",
    "Univariate exact results",
    "Convex formulation",
    "Kernel regime",
    "Measures",
    "Experiments",
    "Linear multi-task theory",
]
_CITATION = re.compile(r"docs/theory\.md\s+§(\d+(?:\.\d+)*)((?:\s*(?:,|and)\s*§\d+(?:\.\d+)*)*)")
_NAME = re.compile(r"`(mtlreg(?:\.[A-Za-z_]\w*)+)")


def theory_numbers() -> set[str]:
    """Section numbers of docs/theory.md: "1", "1.3", ..."""
    heads = re.findall(r"^#{2,4} (\d+(?:\.\d+)*)\.? ", THEORY.read_text(encoding="utf-8"), re.M)
    return set(heads)


def citations(text: str) -> list[str]:
    """Every section number cited as ``docs/theory.md §N`` (also "§1 and §3")."""
    out = []
    for match in _CITATION.finditer(text):
        out.append(match.group(1))
        out += re.findall(r"§(\d+(?:\.\d+)*)", match.group(2))
    return out


def resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted`` and get the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def nav_files(nav: object) -> list[str]:
    """Every page path in an mkdocs ``nav`` tree."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [f for item in nav for f in nav_files(item)]
    if isinstance(nav, dict):
        return [f for value in nav.values() for f in nav_files(value)]
    return []


def load_config() -> dict[str, object]:
    class Loader(yaml.SafeLoader):
        pass

    # mkdocs configs may carry python tags (``!!python/name:``); none are needed here.
    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)


def test_theory_keeps_its_eight_sections() -> None:
    text = THEORY.read_text(encoding="utf-8")
    found = re.findall(r"^## (\d+)\. (.+)$", text, re.M)
    assert found == [(str(i), title) for i, title in enumerate(SECTIONS, start=1)]
    assert OBJECTIVE in text, "theory.md should quote the package objective verbatim"


def test_every_citation_names_an_existing_section() -> None:
    numbers = theory_numbers()
    assert {"1", "4", "4.3", "8"} <= numbers
    bad = []
    for path in sorted([*(ROOT / "src").rglob("*.py"), *DOCS.rglob("*.md"), ROOT / "README.md"]):
        if not path.is_file():
            continue
        for number in citations(path.read_text(encoding="utf-8")):
            if number not in numbers:
                bad.append(f"{path.relative_to(ROOT)} cites §{number}")
    assert not bad, "citations of missing theory sections:\n" + "\n".join(bad)


def test_citation_parser_reads_every_form() -> None:
    text = "see docs/theory.md §1 and §3, docs/theory.md §4.3. and docs/theory.md §12"
    assert citations(text) == ["1", "3", "4.3", "12"]


@pytest.mark.parametrize("page", ["theory.md", "../CONTRIBUTING.md", "index.md"])
def test_names_in_the_docs_exist(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    names = sorted(set(_NAME.findall(text)))
    assert names or page == "index.md"
    missing = []
    for name in names:
        try:
            resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"{page} mentions names that do not exist: {missing}"


def test_resolve_fails_on_a_missing_name() -> None:
    assert resolve("mtlreg.univariate.min_norm") is mtlreg.univariate.min_norm
    with pytest.raises(AttributeError):
        resolve("mtlreg.univariate.no_such_function")


def test_every_public_package_has_a_reference_page() -> None:
    src = ROOT / "src" / "mtlreg"
    packages = sorted(
        p.name for p in src.iterdir() if (p / "__init__.py").is_file() and p.name[0] != "_"
    )
    assert "training" in packages
    for package in ["mtlreg", *packages]:
        page = DOCS / "reference" / f"{package}.md"
        module = "mtlreg" if package == "mtlreg" else f"mtlreg.{package}"
        assert page.is_file(), f"no API reference page for {module}"
        assert re.search(rf"^::: {re.escape(module)}\s*$", page.read_text(), re.M), page


def test_navigation_lists_every_page() -> None:
    config = load_config()
    listed = nav_files(config["nav"])
    excluded = str(config.get("exclude_docs", "")).split()
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if p.name not in excluded)
    assert sorted(listed) == pages


def test_the_first_run_example_runs_and_shows_what_it_says() -> None:
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    assert blocks, "docs/index.md should have a Python example"
    namespace: dict[str, object] = {"print": lambda *args, **kwargs: None}
    for block in blocks:
        exec(compile(block, "docs/index.md", "exec"), namespace)
    res, f_D, grid = namespace["res"], namespace["f_D"], namespace["grid"]
    # the claim of the example: a certified optimum, close to f_D at small lam
    assert res.relative_gap < 1e-6  # type: ignore[attr-defined]
    assert abs(res.predict(grid) - f_D(grid)).max() < 1e-3  # type: ignore[attr-defined, operator]
