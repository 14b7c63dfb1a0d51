"""The runtime lock holds what the code imports, and nothing only the tests need.

The image installs ``requirements.lock`` alone, so an import that is only satisfied by a test tool
(or by a package some other dependency happens to pull in today) would break in production first.
Checked by reading the sources (AST) and the installed distributions' metadata: offline and fast.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.conftest import REPO

CODE_ROOTS = ("include", "dags", "plugins")
RUNTIME_EXTRAS = ("distributed",)
# Test, lint and benchmark tools (declared in the dev group), and what only they bring: never in the image.
DEV_TOOLS = {"pandas", "pytest", "pytest-timeout", "ruff", "mypy", "pre-commit", "selenium", "moto", "polars"}
DEV_ONLY = DEV_TOOLS | {"cfn-lint"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)", re.M)


def norm(name: str) -> str:
    """PEP 503 name: what a lock file and pyproject.toml compare on."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return norm(re.split(r"[\s\[<>=!~;]", spec.strip(), maxsplit=1)[0])


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def runtime_declared() -> set[str]:
    project = pyproject()["project"]
    specs = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        specs += project["optional-dependencies"][extra]
    return {requirement_name(s) for s in specs}


def pins(lock: Path) -> dict[str, str]:
    return {norm(name): version for name, version in PIN.findall(lock.read_text(encoding="utf-8"))}


def third_party_imports(files: Iterable[Path]) -> dict[str, set[str]]:
    """Dotted module -> files importing it, for every absolute import outside the stdlib and feedmon."""
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top != "feedmon":
                    found.setdefault(module, set()).add(str(path.relative_to(REPO)))
    return found


def undeclared(imports: dict[str, set[str]], declared: set[str]) -> dict[str, set[str]]:
    """Imports no declared distribution provides (``airflow.providers.x`` needs its provider)."""
    providers = packages_distributions()
    missing: dict[str, set[str]] = {}
    for module, where in imports.items():
        parts = module.split(".")
        if parts[:2] == ["airflow", "providers"] and len(parts) > 2:
            needed = {norm(f"apache-airflow-providers-{parts[2]}")}
        elif parts[0] == "airflow":
            needed = {"apache-airflow"}
        else:
            needed = {norm(d) for d in providers.get(parts[0], [parts[0]])}
        if not needed & declared:
            missing[module] = where
    return missing


def code_files() -> list[Path]:
    return sorted(p for root in CODE_ROOTS for p in (REPO / root).rglob("*.py"))


def test_every_third_party_import_is_a_declared_runtime_dependency() -> None:
    assert undeclared(third_party_imports(code_files()), runtime_declared()) == {}


def test_the_check_finds_an_undeclared_import() -> None:
    """The check above can fail: pandas is installed (dev lock) but not a runtime dependency."""
    source = REPO / "include" / "probe_undeclared.py"
    imports = {"pandas": {str(source)}, "numpy.typing": {str(source)}, "airflow.providers.http.hooks.http": set()}
    assert set(undeclared(imports, runtime_declared())) == {"pandas"}
    assert set(undeclared(imports, runtime_declared() - {"apache-airflow-providers-http"})) == {
        "pandas",
        "airflow.providers.http.hooks.http",
    }


def test_runtime_lock_holds_no_test_tools_and_every_runtime_dependency() -> None:
    runtime = pins(REPO / "requirements.lock")
    assert DEV_ONLY & runtime.keys() == set()
    assert runtime_declared() - runtime.keys() == set()
    dev_group = {requirement_name(s) for s in pyproject()["dependency-groups"]["dev"]}
    assert dev_group >= DEV_TOOLS


def test_dev_lock_agrees_with_the_runtime_lock() -> None:
    """One venv installs both: every package pinned in both must have one version."""
    runtime, dev = pins(REPO / "requirements.lock"), pins(REPO / "requirements-dev.lock")
    assert dev.keys() >= DEV_ONLY
    assert {n: (runtime[n], dev[n]) for n in runtime.keys() & dev.keys() if runtime[n] != dev[n]} == {}


def test_locks_are_hashed_and_name_no_index() -> None:
    for lock in ("requirements.lock", "requirements-dev.lock"):
        text = (REPO / lock).read_text(encoding="utf-8")
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        unhashed = [b.split()[0] for b in blocks if PIN.match(b) and "--hash=sha256:" not in b]
        assert unhashed == [], lock
        assert "://" not in text, f"{lock} must not record index URLs"
