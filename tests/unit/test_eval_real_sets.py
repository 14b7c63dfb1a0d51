"""The committed real-feed tagging sets stay what their README says: rebuildable, valid, split as fixed.

These files are the ground truth issue 11's figures are measured on; a hand edit, a capture changed
after labelling or a label lost in a merge would silently change those figures.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "eval" / "tagging" / "real"


def _script() -> ModuleType:
    path = ROOT / "eval" / "tagging" / "extract_items.py"
    spec = importlib.util.spec_from_file_location("extract_items", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def script() -> ModuleType:
    """The build script, loaded from its file (eval/ is not a package)."""
    return _script()


def _lines(name: str) -> list[dict]:
    return [json.loads(x) for x in (REAL / name).read_text(encoding="utf-8").splitlines() if x.strip()]


def test_every_committed_line_is_valid(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    """Fields, ISO codes, splits and file placement hold for every line of every built file."""
    assert script.check(REAL.glob("*.jsonl")) == 0, capsys.readouterr().out


def test_the_committed_files_are_what_the_build_makes(script: ModuleType) -> None:
    """Rebuilding from captures + labels + written items gives exactly the committed lines of this set."""
    built = script.build()
    for name, rows in built.items():
        committed = [r for r in _lines(name) if script._owned(r)]
        assert committed == rows, f"{name} differs from a rebuild: run extract_items.py build"


def test_real_splits_follow_the_capture_table(script: ModuleType) -> None:
    """A real item's split is its capture's, never decided item by item."""
    for path in REAL.glob("*.jsonl"):
        for row in _lines(path.name):
            cap = str(row.get("capture", "")).removeprefix("eval/captures/")
            if row["origin"] == "real" and cap in script.CAPTURES:
                assert row["split"] == script.CAPTURES[cap][1], row["id"]
            if row["origin"] == "written" and row["lang"] in script.OWN_WRITTEN_LANGS:
                assert row["split"] == script.written_split(row["id"]), row["id"]


@pytest.mark.parametrize(("lang", "minimum"), [("ru", 150), ("uk", 100), ("zh", 150)])
def test_sizes_and_blind_share(lang: str, minimum: int) -> None:
    """The issue's minimum size, a blind split of at least 40 %, and both classes in the blind split."""
    dev, blind = _lines(f"{lang}_dev.jsonl"), _lines(f"{lang}_blind.jsonl")
    assert len(dev) + len(blind) >= minimum
    assert len(blind) / (len(dev) + len(blind)) >= 0.40
    assert {r["is_conflict"] for r in blind} == {True, False}


def test_problems_reports_a_bad_line(script: ModuleType) -> None:
    """The validator is not a rubber stamp: each kind of broken line is reported."""
    good = {
        "id": "x",
        "lang": "ru",
        "split": "dev",
        "origin": "written",
        "based_on": "an event, 2024-01-01",
        "title": "t",
        "text": "",
        "is_conflict": True,
        "countries": ["UA"],
    }
    assert script.problems(good, "ru_dev.jsonl") == []
    assert script.problems({**good, "countries": ["UK"]}, "ru_dev.jsonl")  # not ISO 3166-1 (GB is)
    assert script.problems({**good, "lang": "rus"}, "ru_dev.jsonl")
    assert script.problems({**good, "is_conflict": False}, "ru_dev.jsonl")  # countries on a non-conflict item
    assert script.problems(good, "ru_blind.jsonl")  # in the wrong file
    assert script.problems({k: v for k, v in good.items() if k != "based_on"}, "ru_dev.jsonl")
    assert script.problems({**good, "origin": "real"}, "ru_dev.jsonl")  # real without a committed capture
    assert script.problems({**good, "countries": ["XK"]}, "ru_dev.jsonl") == []  # Kosovo is allowed


def test_html_to_text_keeps_credits_and_datelines(script: ModuleType) -> None:
    """Extraction only drops markup: what the cleaner must handle is left in the text."""
    html = '<img src="x.jpg"/>КИЕВ, 28 сент. &mdash; <b>УНИАН</b>. Текст.<br clear="all" />Еще<p>абзац</p>'
    assert script.html_to_text(html) == "КИЕВ, 28 сент. — УНИАН. Текст. Еще абзац"
