"""The module map of docs/architecture.md, checked: imports point down the layers, never in a circle.

Reads the package's source (no imports): every ``import``/``from`` of a feedmon module, also inside
functions, except those under ``if TYPE_CHECKING:`` (annotations only, never executed).
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "include" / "feedmon"
#: docs/architecture.md's rows, bottom first: a module may import its own row and the rows before it.
LAYERS = [
    {"vocab", "ids", "sniff", "timeutil", "models", "urls", "storage", "pool"},
    {"schema", "config", "feeds", "archive"},
    {"fetch", "parse", "clean", "dedup", "textsig", "tag", "gazetteer", "language", "keyforms"},
    {"outputs"},
    {"pipeline", "report", "alerts", "monitor"},
    {"cli", "demo", "airflow"},
]
#: Upward imports that are deferred on purpose, each with its reason in the code.
DEFERRED_UP = {("ids", "textsig")}  # content hashes use textsig's word normalisation; numpy stays unloaded


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            lines |= {n.lineno for body in node.body for n in ast.walk(body) if hasattr(n, "lineno")}
    return lines


def _imports() -> dict[str, set[str]]:
    """Module -> the feedmon modules it imports at run time."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        deps: set[str] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "feedmon":
                names = [f"feedmon.{a.name}" for a in node.names] if node.module == "feedmon" else [node.module]
                # `from feedmon import __version__`: a name of the package root, not a module
                deps.update(n if _is_module(n) else "feedmon" for n in names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.split(".")[0] == "feedmon")
        graph[_module(path)] = deps - {_module(path)}
    return graph


def _top(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _layer(module: str) -> int:
    if module == "feedmon":  # the package root: a docstring and the version, below everything
        return -1
    return next(i for i, row in enumerate(LAYERS) if _top(module) in row)


def test_every_module_has_a_layer() -> None:
    tops = {_top(m) for m in _imports()} - {""}
    assert tops == set().union(*LAYERS)


def test_imports_point_down_the_layers() -> None:
    upward = sorted(
        (m, d)
        for m, deps in _imports().items()
        if m != "feedmon"
        for d in deps
        if _layer(d) > _layer(m) and (_top(m), _top(d)) not in DEFERRED_UP
    )
    assert upward == []


def test_no_import_cycle() -> None:
    graph = _imports()
    # a package's __init__ re-exporting its submodules is not a cycle with them
    edges = {
        m: {d for d in deps if not m.startswith(d + ".") and not d.startswith(m + ".")} for m, deps in graph.items()
    }
    try:
        TopologicalSorter(edges).prepare()
    except CycleError as exc:  # pragma: no cover - the failure message is the cycle
        raise AssertionError(f"import cycle: {exc.args[1]}") from None
