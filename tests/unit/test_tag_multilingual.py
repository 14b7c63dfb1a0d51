"""Conflict tagging in every listed language: inflection, clitics, compounds, unspaced scripts,
per-language vocabulary and stop words, evidence as written. Offline, on the shipped gazetteer."""

from __future__ import annotations

import pytest

from feedmon.gazetteer import GazetteerError, compile_gazetteer, merge
from feedmon.keyforms import MODE_EXACT, MODE_INFIX, MODE_OPEN_RIGHT, fold_for_matching, key_forms
from feedmon.models import TagResult
from feedmon.tag import ConflictTagger


@pytest.fixture(scope="module")
def tagger() -> ConflictTagger:
    return ConflictTagger.load()


def _tag(tagger: ConflictTagger, title: str, text: str, lang: str) -> TagResult:
    return tagger.tag(title, text, None, lang)


def test_russian_front_line_report_with_inflected_forms(tagger: ConflictTagger) -> None:
    res = _tag(
        tagger,
        "ВСУ отразили штурм под Бахмутом",
        "В результате обстрелов в Бахмуте и Авдеевке погибли двое мирных жителей, ещё пятеро ранены, "
        "сообщили в администрации Донецкой области.",
        "ru",
    )
    assert res.is_conflict
    assert res.countries == ["UA"]
    assert "Donbas" in res.conflict_regions
    # the words as the article has them, not the stems of the gazetteer
    assert {"term:обстрелов", "term:погибли", "term:ранены"} <= set(res.conflict_evidence)
    assert "place:Bakhmut (бахмутом)" in res.conflict_evidence
    assert "place:Avdiivka (авдеевке)" in res.conflict_evidence


def test_russian_gas_is_not_gaza_and_togo_is_a_word(tagger: ConflictTagger) -> None:
    gas = _tag(tagger, "Поставки газа в Европу выросли", "Цены на газ снизились на бирже после атаки хакеров.", "ru")
    assert not gas.is_conflict and "Gaza Strip" not in " ".join(gas.conflict_evidence)
    togo = _tag(tagger, "После того как завершился обстрел", "Жители вышли из укрытий.", "ru")
    assert all(not e.startswith("country:TG") for e in togo.conflict_evidence)


def test_ukrainian_alternating_place_names(tagger: ConflictTagger) -> None:
    res = _tag(tagger, "Росія атакувала Київ дронами", "Внаслідок обстрілу Харкова загинули двоє людей.", "uk")
    assert res.is_conflict and res.countries == ["UA"]
    assert {"place:Kyiv (київ)", "place:Kharkiv (харкова)", "term:обстрілу"} <= set(res.conflict_evidence)


def test_ukrainian_common_words_are_not_mali(tagger: ConflictTagger) -> None:
    res = _tag(tagger, "Малі підприємства отримають пільги", "Депутати мали ухвалити закон раніше.", "uk")
    assert res.conflict_evidence == [] and not res.is_conflict


def test_french_metaphors_are_not_conflict(tagger: ConflictTagger) -> None:
    for title, text in [
        ("Guerre commerciale : Pékin riposte aux droits de douane", "La guerre des tarifs s'intensifie."),
        ('"Une guerre des gangs" à Bruxelles', "Troisième fusillade liée au trafic de drogue."),
        ("Macron : « Nous sommes en guerre » contre le virus", "Le confinement est prolongé."),
    ]:
        res = _tag(tagger, title, text, "fr")
        assert not res.is_conflict, (title, res)


def test_french_conflict_story(tagger: ConflictTagger) -> None:
    res = _tag(
        tagger,
        "Frappes russes sur Kharkiv : au moins dix morts",
        "Des missiles ont touché des immeubles d'habitation, selon les autorités ukrainiennes.",
        "fr",
    )
    assert res.is_conflict and res.countries == ["UA"]


def test_chinese_names_match_without_spaces(tagger: ConflictTagger) -> None:
    res = _tag(tagger, "以色列对加沙地带发动空袭", "卫生部门表示，空袭造成至少十名巴勒斯坦人死亡。", "zh")
    assert res.is_conflict and res.countries == ["PS"]
    assert "region:Gaza Strip (加沙地带)" in res.conflict_evidence and "term:空袭" in res.conflict_evidence
    trad = _tag(tagger, "以色列對加薩發動空襲", "", "zh")  # traditional characters
    assert trad.is_conflict and trad.countries == ["PS"]


def test_chinese_words_containing_names_are_not_places(tagger: ConflictTagger) -> None:
    res = _tag(tagger, "沿海地区经济增长加快", "马里兰州与中非合作论坛的贸易战争", "zh")
    assert not any("HT" in e or "ML" in e for e in res.conflict_evidence)
    assert not res.is_conflict


def test_arabic_clitics_and_article(tagger: ConflictTagger) -> None:
    res = _tag(tagger, "قصف إسرائيلي على غزة", "وقالت الوزارة إن الغارات استهدفت منازل بخان يونس وبالقرب من رفح.", "ar")
    assert res.is_conflict and res.countries == ["PS"]
    assert "place:Khan Younis (بخان يونس)" in res.conflict_evidence


def test_arabic_financial_is_not_mali(tagger: ConflictTagger) -> None:
    res = _tag(tagger, "دعم مالي للشركات الصغيرة", "الحكومة تعلن خطة دعم مالي جديدة", "ar")
    assert all("ML" not in e and "Mali" not in e for e in res.conflict_evidence)


def test_persian_words_spelt_with_zero_width_non_joiner(tagger: ConflictTagger) -> None:
    res = _tag(tagger, "درگیری‌های شدید در قره‌باغ", "آتش‌بس نقض شد و ده‌ها نفر کشته شدند.", "fa")
    assert res.is_conflict and res.countries == ["AZ"]


def test_german_compounds(tagger: ConflictTagger) -> None:
    res = _tag(
        tagger, "Drohnenangriffe auf Charkiw", "Bei russischen Luftangriffen wurden drei Menschen getötet.", "de"
    )
    assert res.is_conflict and res.countries == ["UA"]
    assert {"term:drohnenangriffe", "term:luftangriffen"} <= set(res.conflict_evidence)
    trade = _tag(tagger, "Handelskrieg mit China", "Der Zollkrieg belastet die Exporte.", "de")
    assert not trade.is_conflict


def test_vocabulary_counts_only_in_its_language(tagger: ConflictTagger) -> None:
    # "war" is an English conflict word and a German verb form
    german = _tag(tagger, "Er war in Berlin", "Die Sitzung war lang, sagte der Minister aus Syrien.", "de")
    assert "term:war" not in german.conflict_evidence
    english = _tag(tagger, "Syria war: shelling in Idlib", "", "en")
    assert "term:war" in english.conflict_evidence and english.is_conflict
    # a form German derives from "Mali" ("Malis", "malische") is not a name in English copy
    malik = _tag(tagger, "Malik wins the vote", "Fighting was reported elsewhere.", "en")
    assert all("Mali" not in e for e in malik.conflict_evidence)


def test_turkish_suffixes_after_the_apostrophe(tagger: ConflictTagger) -> None:
    res = _tag(tagger, "İsrail'in Gazze'ye hava saldırısı", "Saldırıda en az on kişi hayatını kaybetti.", "tr")
    assert res.is_conflict and res.countries == ["PS"]
    assert "region:Gaza Strip (gazze ye)" in res.conflict_evidence
    fin = _tag(tagger, "Mali destek paketi açıklandı", "Bakan, mali disiplinin süreceğini söyledi.", "tr")
    assert all("Mali" not in e for e in fin.conflict_evidence)


def test_spanish_conflict_and_trap(tagger: ConflictTagger) -> None:
    res = _tag(tagger, "Bombardeos en la Franja de Gaza dejan decenas de muertos", "", "es")
    assert res.is_conflict and res.countries == ["PS"]
    trap = _tag(tagger, "La guerra contra el narco en México", "Enfrentamientos entre cárteles dejan muertos.", "es")
    assert "trap:guerra contra el narco" in trap.conflict_evidence


def test_unknown_language_uses_every_language(tagger: ConflictTagger) -> None:
    res = tagger.tag("Обстрел Харькова", "Погибли три человека.", None, None)
    assert res.is_conflict and res.countries == ["UA"]


def test_key_forms_per_language() -> None:
    assert key_forms("Бахмут", morphology="slavic", name=True) == [("бахмут", MODE_OPEN_RIGHT, True)]
    gaza = {k: m for k, m, _ in key_forms("Газа", morphology="slavic", name=True)}
    assert {"газа", "газе", "газы"} <= set(gaza) and gaza["газе"] == MODE_EXACT
    assert ("加沙", MODE_INFIX, False) in key_forms("加沙")
    assert {k for k, _, _ in key_forms("قصف*", morphology="arabic")} >= {"قصف", "والقصف", "بالقصف", "للقصف"}
    names = {k for k, _, _ in key_forms("مالي", morphology="arabic", name=True)}
    assert "مالي" in names and "المالي" not in names  # a name never takes the article
    assert {k for k, _, _ in key_forms("Luftangriff(|e|en)")} == {"luftangriff", "luftangriffe", "luftangriffen"}
    assert {k for k, _, _ in key_forms("прекращени* огня")} >= {"прекращения огня", "прекращении огня"}
    assert fold_for_matching("сектор Газа") == "сектор газа"


def test_language_file_errors_name_the_problem() -> None:
    base = merge({"regions": [{"name": "A", "countries": ["AF"]}], "term_weights": {"strong": 0.7}}, {})
    with pytest.raises(GazetteerError, match="Atlantis"):
        compile_gazetteer(base, languages={"ru": {"regions": {"Atlantis": {"aliases": ["Атлантида"]}}}})
    with pytest.raises(GazetteerError, match="Cyrillic"):
        compile_gazetteer(base, languages={"fr": {"terms": {"strong": ["guerre* civile"]}}})


# Floors a little under the figures of gazetteer 2026.12.2 and its learned weights on the dev splits
# (raw text, real and written items together; the weights were fitted on these items, so these guard
# against regressions, they do not measure generalisation): a language file that breaks shows here.
# Blind splits are never read here.
_DEV_FLOORS = {
    "en": (0.85, 0.85),
    "ar": (0.95, 0.87),
    "de": (0.70, 0.50),
    "es": (0.93, 0.85),
    "fa": (0.90, 0.83),
    "fr": (0.83, 0.74),
    "ru": (0.95, 0.90),
    "tr": (0.93, 0.70),
    "uk": (0.88, 0.80),
    "zh": (0.92, 0.84),
}


@pytest.mark.parametrize("lang", sorted(_DEV_FLOORS))
def test_dev_sets_stay_above_floor(tagger: ConflictTagger, lang: str) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "eval" / "tagging" / "run_eval.py"
    spec = importlib.util.spec_from_file_location("run_eval", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    items = mod.load(mod.REAL / f"{lang}_dev.jsonl")
    if not items:
        pytest.skip(f"no {lang} dev set")
    res = mod.evaluate(tagger, items, raw=True)
    conf, ctry = _DEV_FLOORS[lang]
    assert res["is_conflict"]["f1"] >= conf and res["countries"]["f1"] >= ctry, res["is_conflict"]
