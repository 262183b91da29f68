"""The layering rules of CONTRIBUTING.md, checked statically on src/mtlreg.

- Only public names cross package boundaries: no ``mtlreg.<pkg>._<module>`` import
  outside ``<pkg>`` (the top-level private helpers ``mtlreg._validation``, ``_io``,
  ``_result``, ``_style`` are below every package and may be used everywhere).
- No import cycle between packages.
- Imports go one way, down the layers: model/tasks -> solvers and theory -> training ->
  sklearn -> sweep -> experiments -> cli (the top-level ``mtlreg/__init__.py`` re-exports
  from any layer). Imports under ``if TYPE_CHECKING:`` never run and are exempt.
- One Adam update in src/.

Each rule is also checked on small synthetic trees, so a check that could never fail
would be caught.
"""

from __future__ import annotations

import ast
import collections
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mtlreg"

#: Layer of every package (lower layers never import higher ones).
LAYERS: dict[str, int] = {
    "_validation": 0,
    "_io": 0,
    "_result": 0,
    "_style": 0,
    "model": 1,
    "tasks": 1,
    "univariate": 2,
    "convex": 2,
    "kernel": 2,
    "linear": 2,
    "metrics": 2,
    "training": 3,
    "sklearn": 4,
    "sweep": 5,
    "experiments": 6,
    "cli": 7,
    "__init__": 8,
}
#: Packages left out of the cycle check: the facade and the command line sit on top.
TOP = {"__init__", "cli"}


@dataclass(frozen=True)
class Import:
    """One ``import mtlreg...`` statement of a file of the source tree."""

    where: str  # "path:line"
    package: str  # the importing package (first path part, ".py" removed)
    module: str  # the absolute module imported, e.g. "mtlreg.training._engine"
    type_checking: bool  # inside an ``if TYPE_CHECKING:`` block


def _absolute(node: ast.ImportFrom, rel: Path) -> str:
    """The absolute module of a (possibly relative) ``from ... import``."""
    if node.level == 0:
        return node.module or ""
    parts = ["mtlreg", *rel.parts[:-1]]  # the package the file belongs to
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def iter_imports(root: Path) -> Iterator[Import]:
    """Every import of an ``mtlreg`` module in the tree under ``root`` (= src/mtlreg)."""
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        package = rel.parts[0].removesuffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                guarded.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
        for node in ast.walk(tree):
            modules: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = _absolute(node, rel)
                modules = [base]
                for alias in node.names:
                    if base == "mtlreg" and (root / alias.name).is_dir():
                        modules.append(f"mtlreg.{alias.name}")  # from mtlreg import convex
                    elif alias.name.startswith("_") and not alias.name.startswith("__"):
                        modules.append(f"{base}.{alias.name}")  # from mtlreg.pkg import _mod
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            for module in modules:
                if module.split(".")[0] == "mtlreg":
                    yield Import(f"{rel}:{node.lineno}", package, module, id(node) in guarded)


def private_imports(imports: list[Import]) -> list[str]:
    """Imports that reach a private module of another package."""
    bad = []
    for imp in imports:
        parts = imp.module.split(".")
        if len(parts) < 3 or parts[1] == imp.package:
            continue
        if any(p.startswith("_") for p in parts[2:]):
            bad.append(f"{imp.where} imports {imp.module}")
    return bad


def package_edges(imports: list[Import]) -> dict[str, set[str]]:
    """Package -> packages it imports at run time (TYPE_CHECKING imports left out)."""
    edges: dict[str, set[str]] = collections.defaultdict(set)
    for imp in imports:
        parts = imp.module.split(".")
        if len(parts) >= 2 and parts[1] != imp.package and not imp.type_checking:
            edges[imp.package].add(parts[1])
    return edges


def cycles(edges: dict[str, set[str]]) -> list[str]:
    """Every elementary cycle found by depth-first search, as "a -> b -> a"."""
    found: set[str] = set()
    state: dict[str, int] = {}

    def visit(u: str, stack: list[str]) -> None:
        state[u] = 1
        stack.append(u)
        for v in sorted(edges.get(u, ())):
            if v in TOP:
                continue
            if state.get(v) == 1:
                found.add(" -> ".join([*stack[stack.index(v) :], v]))
            elif v not in state:
                visit(v, stack)
        stack.pop()
        state[u] = 2

    for u in sorted(edges):
        if u not in state and u not in TOP:
            visit(u, [])
    return sorted(found)


def upward_imports(imports: list[Import]) -> list[str]:
    """Run-time imports from a package into a higher (or unknown) layer."""
    bad = []
    for imp in imports:
        parts = imp.module.split(".")
        if len(parts) < 2 or parts[1] == imp.package or imp.type_checking:
            continue
        src, dst = LAYERS.get(imp.package), LAYERS.get(parts[1])
        if src is None or dst is None:
            bad.append(f"{imp.where}: {imp.package} or {parts[1]} has no layer in LAYERS")
        elif dst > src:
            bad.append(f"{imp.where}: {imp.package} (layer {src}) imports {imp.module}")
    return bad


def adam_steps(root: Path) -> list[str]:
    """Functions whose name says they are an Adam step."""
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = node.name.lower()
                if "adam" in name and "step" in name:
                    out.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return out


# --- the rules on the real tree ------------------------------------------------------


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    found = list(iter_imports(SRC))
    assert len(found) > 20, "the source tree was not found or has no mtlreg imports"
    return found


def test_no_private_cross_package_imports(imports: list[Import]) -> None:
    bad = private_imports(imports)
    assert not bad, "private modules imported from another package:\n" + "\n".join(bad)


def test_no_package_cycles(imports: list[Import]) -> None:
    found = cycles(package_edges(imports))
    assert not found, "import cycles between packages:\n" + "\n".join(found)


def test_imports_go_down_the_layers(imports: list[Import]) -> None:
    packages = {p.name.removesuffix(".py") for p in SRC.iterdir() if p.name != "py.typed"}
    packages -= {"__pycache__"}
    assert packages <= set(LAYERS), f"packages without a layer: {sorted(packages - set(LAYERS))}"
    bad = upward_imports(imports)
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_one_adam_update() -> None:
    found = adam_steps(SRC)
    assert len(found) == 1, f"expected one Adam step in src/, found {found}"


# --- the checks themselves catch violations ------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "mtlreg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_checks_catch_a_private_import_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "model/__init__.py": "from mtlreg.training import train\n",
            "tasks/__init__.py": "from mtlreg import experiments\n",
            "experiments/__init__.py": "",
            "training/__init__.py": "from mtlreg.model._network import Net\n",
            "training/_engine.py": "from . import _train\nfrom ._train import x\n",
            "convex/__init__.py": "from mtlreg.univariate import _regularized\n",
            "univariate/__init__.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from mtlreg.training import train\n"
            ),
        },
    )
    found = list(iter_imports(root))
    private = private_imports(found)
    assert any("training/__init__.py" in p and "model._network" in p for p in private)
    assert any("convex/__init__.py" in p and "univariate._regularized" in p for p in private)
    # relative imports inside a package are the package's own business
    assert not any("training/_engine.py" in p for p in private)
    assert cycles(package_edges(found)) == ["model -> training -> model"]
    upward = upward_imports(found)
    assert any(u.startswith("model/__init__.py") for u in upward)
    assert any(u.startswith("tasks/__init__.py") and "experiments" in u for u in upward)
    # an import that only runs under TYPE_CHECKING is exempt
    assert not any(u.startswith("univariate/") for u in upward)


def test_checks_accept_a_clean_tree(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "model/__init__.py": "from mtlreg._validation import check_int\n",
            "convex/__init__.py": "from mtlreg.model import ShallowReLUNet\n",
            "training/__init__.py": "from mtlreg.convex import solve\nfrom mtlreg import model\n",
            "sweep/__init__.py": "from mtlreg import __version__, _io\n",
            "cli.py": "from mtlreg.training import train\n",
        },
    )
    found = list(iter_imports(root))
    assert not private_imports(found)
    assert not cycles(package_edges(found))
    assert not upward_imports(found)
