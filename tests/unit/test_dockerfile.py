"""The production image, checked without Docker (no engine on our machines or CI): the Dockerfile is
parsed and held to what the image must be, the build context to what the Dockerfile copies.

The official Airflow image of the pinned version; the hashed runtime lock and nothing of the dev lock;
the package without unlocked dependencies; a build context without the venv, data or tests.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    op: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined, comments and blank lines dropped."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        op, _, args = (pending + line).partition(" ")
        out.append(Instruction(op.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule for one context path: the last matching pattern decides."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.removeprefix("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, pat) for p in prefixes) or (
            pat.startswith("**/") and any(fnmatch.fnmatchcase(part, pat[3:]) for part in parts)
        ):
            verdict = not negate
    return verdict


def dockerignore() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def copies(instructions: list[Instruction]) -> dict[str, str]:
    """COPY source -> destination (flags such as --chown dropped)."""
    out: dict[str, str] = {}
    for ins in instructions:
        if ins.op == "COPY":
            *sources, dest = [a for a in shlex.split(ins.args) if not a.startswith("--")]
            for src in sources:
                out[src] = dest.rstrip("/") + ("/" + Path(src).name if dest.endswith("/") else "")
    return out


def pip_installs(instructions: list[Instruction]) -> list[list[str]]:
    """Each ``pip install`` command of every RUN, as its argument list."""
    found = []
    for ins in instructions:
        if ins.op == "RUN":
            for command in re.split(r"&&|;", ins.args):
                words = shlex.split(command)
                if words[:2] == ["pip", "install"]:
                    found.append(words[2:])
    return found


def test_from_is_the_official_image_of_the_pinned_airflow(instructions: list[Instruction]) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = next(d.split("==")[1] for d in project["dependencies"] if d.startswith("apache-airflow=="))
    python = re.search(r">=(\d+\.\d+)", project["requires-python"]).group(1)
    froms = [i for i in instructions if i.op == "FROM"]
    assert [f.args for f in froms] == [f"apache/airflow:{pinned}-python{python}"]
    assert instructions[0].op == "FROM"


def test_installs_the_runtime_lock_with_hashes_and_never_the_dev_lock(instructions: list[Instruction]) -> None:
    lock_in_image = copies(instructions)["requirements.lock"]
    installs = pip_installs(instructions)
    locked = [args for args in installs if "-r" in args]
    assert len(locked) == 1, installs
    args = locked[0]
    assert "--require-hashes" in args
    assert args[args.index("-r") + 1] == lock_in_image
    assert not [i for i in instructions if "requirements-dev.lock" in i.args]
    dev_tools = ("pytest", "ruff", "mypy", "selenium", "moto", "pandas")
    assert not [a for args in installs for a in args if a.split("=")[0] in dev_tools]


def test_the_package_is_installed_without_unlocked_dependencies(instructions: list[Instruction]) -> None:
    sources = copies(instructions)
    package = [args for args in pip_installs(instructions) if "-r" not in args]
    assert len(package) == 1, package
    assert "--no-deps" in package[0]
    target = [a for a in package[0] if not a.startswith("-")]
    assert target == [str(Path(sources["pyproject.toml"]).parent)]
    assert Path(sources["include/feedmon"]).parts[-2:] == ("include", "feedmon")  # setuptools' where = include


def test_every_copied_file_is_in_the_build_context(instructions: list[Instruction]) -> None:
    patterns = dockerignore()
    for src in copies(instructions):
        assert (REPO / src).exists(), src
        assert not ignored(src, patterns), f"{src} is excluded by .dockerignore"
    assert not ignored("include/feedmon/data/gazetteer.yaml", patterns)


@pytest.mark.parametrize(
    "path", [".venv/bin/python", "data/snapshots/x.parquet", "tests/unit/test_x.py", "eval/tagging/x.tsv",
             "airflow_home/airflow.db", ".env", ".git/HEAD", "include/feedmon/__pycache__/cli.cpython-311.pyc",
             "requirements-dev.lock"],
)  # fmt: skip
def test_build_context_leaves_out_what_the_image_must_not_carry(path: str) -> None:
    assert ignored(path, dockerignore())


def test_the_ignore_matcher_can_say_no() -> None:
    """The matcher above is ours: it must also let things through and honour the last rule."""
    assert not ignored("a/b.txt", ["*", "!a"])
    assert ignored("a/b.txt", ["!a", "*"])
    assert ignored("x/__pycache__/m.pyc", ["**/__pycache__"])


def test_compose_builds_this_dockerfile() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text(encoding="utf-8"))
    build = compose["x-airflow-common"]["build"]
    assert (REPO / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_license_is_the_apache_2_text() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply" in text
    assert len(text) > 11_000  # the whole text, not a stub pointing at it
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "Apache-2.0"}
