"""The real-feed evaluation sets stay derivable from the committed captures and hand labels.

Why: the sets are only trustworthy if nobody edits them by hand after labelling and the split
rule is the one written down; these tests fail when a capture, a label or a set drifts.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "eval" / "tagging" / "extract_items.py"
REAL = ROOT / "eval" / "tagging" / "real"
# the languages whose sets extract_items.py builds here, with the minimum sizes
MINIMUM = {"en": 150, "fr": 150, "es": 150, "de": 100, "ru": 150, "uk": 100, "zh": 150}


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("extract_items", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["extract_items"] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict[str, object]]]:
    return _module().build()


def test_committed_sets_are_exactly_what_the_captures_and_labels_give(built) -> None:
    mod = _module()
    for name, rows in built.items():
        assert (REAL / name).read_text(encoding="utf-8") == mod.render(rows), f"{name} differs from the build"


@pytest.mark.parametrize("lang", sorted(MINIMUM))
def test_sizes_and_blind_share(built, lang: str) -> None:
    dev, blind = built.get(f"{lang}_dev.jsonl", []), built.get(f"{lang}_blind.jsonl", [])
    total = len(dev) + len(blind)
    assert total >= MINIMUM[lang]
    assert len(blind) / total >= 0.40
    assert {r["is_conflict"] for r in blind} == {True, False}


def test_split_rule_is_the_documented_hash(built) -> None:
    mod = _module()
    for rows in built.values():
        for row in rows:
            if row["lang"] in MINIMUM:
                assert row["split"] == mod.split_of(row["title"]), row["id"]


def test_every_row_is_well_formed(built) -> None:
    mod = _module()
    ids: Counter[str] = Counter()
    for name, rows in built.items():
        for row in rows:
            mod.validate(row)
            ids[row["id"]] += 1
            if row["origin"] == "real":
                assert (ROOT / str(row["capture"])).is_file()
            if name != "other_lang.jsonl":
                assert name.startswith(f"{row['lang']}_{row['split']}")
    assert max(ids.values()) == 1


def test_validate_refuses_bad_rows() -> None:
    mod = _module()
    good = {
        "id": "x",
        "lang": "es",
        "split": "dev",
        "origin": "written",
        "based_on": "an event",
        "title": "t",
        "is_conflict": True,
        "countries": ["UA"],
    }
    mod.validate(good)
    for bad in (
        {"countries": ["XX"]},
        {"lang": "spa"},
        {"is_conflict": False},
        {"based_on": None},
    ):
        with pytest.raises(SystemExit):
            mod.validate({**good, **bad})


def test_labels_cover_every_extracted_item() -> None:
    mod = _module()
    by_lang, _dropped = mod.all_real_items()
    for lang, items in by_lang.items():
        labels = mod.read_labels(lang)
        assert {i["id"] for i in items} == set(labels), lang
        for label in labels.values():
            assert json.dumps(label)  # plain data
