"""Gazetteer loading, merging, validation and normalisation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from feedmon.gazetteer import (
    GazetteerError,
    compile_gazetteer,
    fold_for_matching,
    load_gazetteer,
    merge,
    shipped_path,
)
from tests.conftest import FIXTURE_DIR

FIXTURES = FIXTURE_DIR / "tag"
USER = FIXTURES / "user_gazetteer.yaml"


def test_fold_for_matching_folds_case_accents_and_punctuation() -> None:
    assert fold_for_matching("Côte d'Ivoire") == "cote d ivoire"
    assert fold_for_matching("Nagorno-Karabakh") == "nagorno karabakh"
    assert fold_for_matching("  BAGHDAD (Reuters) -  Iraq ") == "baghdad reuters iraq"
    assert fold_for_matching("U.S.-led") == "u s led"
    assert fold_for_matching("Tillabéri") == "tillaberi"
    assert fold_for_matching("Côte d’Ivoire") == "cote d ivoire"  # curly apostrophe is a separator too
    assert fold_for_matching("Diyarbakır—Xankəndi “war”") == "diyarbakir xankendi war"
    # other scripts are kept as letters (composed and decomposed spellings meet)
    assert fold_for_matching("Київ and Kyiv") == "київ and kyiv"
    assert fold_for_matching("Kyiv\u0301 Київ") == fold_for_matching("Kyiv Киі\u0308в") == "kyiv київ"
    assert fold_for_matching("«Удар» — по Харькову") == "удар по харькову"
    assert fold_for_matching("أوكرانيا، وغزّة") == "اوكرانيا وغزه"  # hamza carrier, shadda, ta marbuta
    assert fold_for_matching("اوکراین، غزه") == "اوكراين غزه"  # Persian kaf and yeh meet the Arabic ones
    assert fold_for_matching("以色列对加沙地带发动空袭，") == "以色列对加沙地带发动空袭"
    assert fold_for_matching("İsrail'in Gazze'ye") == "israil in gazze ye"
    assert fold_for_matching("") == ""


def test_shipped_gazetteer_is_valid_and_versioned() -> None:
    gaz = load_gazetteer()
    assert gaz.version.count(".") >= 2
    assert str(shipped_path()) in gaz.files
    # the named regions and places are all there
    for name in (
        "Nagorno-Karabakh",
        "Donbas",
        "Gaza Strip",
        "Darfur",
        "Kashmir",
        "Tigray",
        "Sahel",
        "Aceh",
        "Chechnya",
        "Iraqi Kurdistan",
    ):
        assert name in gaz.regions, name
    for key in ("najaf", "fallujah", "donetsk", "khan younis", "el fasher", "artsakh", "karabagh", "donbass"):
        assert key in gaz.keys, key
    # every territory code is ISO 3166-1 alpha-2 (or XK for Kosovo)
    for reg in gaz.regions.values():
        assert all(len(c) == 2 and c.isupper() for c in reg.countries), reg


def test_demonyms_from_gazetteer_and_names_from_pycountry() -> None:
    gaz = load_gazetteer()
    assert gaz.keys["azeri"][0].countries == ("AZ",)
    assert gaz.keys["armenian"][0].countries == ("AM",)
    assert gaz.keys["israeli"][0].countries == ("IL",)
    assert gaz.keys["palestinian"][0].countries == ("PS",)
    assert gaz.keys["ivorian"][0].countries == ("CI",)
    # a pycountry name we never listed by hand
    assert gaz.keys["mongolia"][0].countries == ("MN",)


def test_load_is_cached_and_fast() -> None:
    t0 = time.perf_counter()
    first = load_gazetteer()
    second = load_gazetteer()
    assert first is second
    assert time.perf_counter() - t0 < 1.0


def test_user_file_merge_semantics() -> None:
    gaz = load_gazetteer(str(USER))
    assert gaz.version.endswith("+ops.1")
    assert gaz.regions["Cabinda"].countries == ("AO",)
    assert "flec" in gaz.keys and gaz.keys["flec"][0].kind == "party"
    assert gaz.keys["upper karabakh"][0].region == "Nagorno-Karabakh"  # alias added
    assert "karabagh" in gaz.keys  # shipped aliases kept
    assert "Transnistria" not in gaz.regions and "tiraspol" not in gaz.keys  # disabled
    assert "truce" not in gaz.keys  # remove_terms
    assert gaz.keys["firefights"][0].weight == gaz.keys["airstrike"][0].weight  # a strong term
    assert str(USER) in gaz.files


def test_user_file_via_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDMON_GAZETTEER", str(USER))
    assert "Cabinda" in load_gazetteer().regions


def test_missing_user_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GazetteerError, match="not found"):
        load_gazetteer(str(tmp_path / "nope.yaml"))


def test_bad_country_code_names_the_region() -> None:
    data = merge({"regions": [{"name": "Atlantis", "countries": ["QQ"]}], "term_weights": {}}, {})
    with pytest.raises(GazetteerError, match=r"Atlantis.*'QQ'"):
        compile_gazetteer(data)


def test_region_without_countries_is_an_error() -> None:
    with pytest.raises(GazetteerError, match="Nowhere"):
        compile_gazetteer({"regions": [{"name": "Nowhere"}]})


def test_invalid_yaml_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("regions: [unclosed\n", encoding="utf-8")
    with pytest.raises(GazetteerError, match=r"bad\.yaml"):
        load_gazetteer(str(bad))


def test_merge_does_not_mutate_base() -> None:
    base = {"regions": [{"name": "A", "countries": ["AF"], "aliases": ["x"]}], "terms": {"strong": ["war"]}}
    merged = merge(base, {"regions": [{"name": "a", "aliases": ["y"]}], "terms": {"strong": ["raid"]}})
    assert merged["regions"][0]["aliases"] == ["x", "y"]
    assert base["regions"][0]["aliases"] == ["x"]
    assert base["terms"]["strong"] == ["war"]
    assert merged["terms"]["strong"] == ["war", "raid"]
