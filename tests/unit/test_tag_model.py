"""The learned layer and the rule classes of issue 11, round 2: the two logistic models over the
evidence, CLDR cities, the 'past' context, front directions, the fast folds and the byte-form
Chinese automata. Each test fails without the piece it names."""

from __future__ import annotations

import json
import unicodedata

import pytest

from feedmon.gazetteer import load_gazetteer
from feedmon.keyforms import _LETTER_PAIRS, _MARKS_RE, _RECOMPOSE, _SEP_RE, fold_bytes, fold_for_matching
from feedmon.tag import (
    CONFLICT_FEATURES,
    TERRITORY_FEATURES,
    ConflictTagger,
    TagModel,
    choose_countries,
    load_model,
    model_path,
    territory_features,
)


@pytest.fixture(scope="module")
def tagger() -> ConflictTagger:
    return ConflictTagger.load()


# ------------------------------------------------------------------------------------------ the model


def test_shipped_weights_match_the_features_and_say_how_they_were_learned() -> None:
    data = json.loads(model_path().read_text(encoding="utf-8"))
    assert tuple(data["conflict"]["features"]) == CONFLICT_FEATURES
    assert tuple(data["territory"]["features"]) == TERRITORY_FEATURES
    assert data["training"]["items"] > 2000 and data["training"]["folds"] == 5
    cv = data["cross_validated"]["all dev"]
    assert cv["is_conflict"]["f1"] > 0.9 and cv["countries"]["f1"] > 0.85
    assert not any("blind" in part for part in data["cross_validated"])


def test_weights_learned_for_other_features_are_refused() -> None:
    data = json.loads(model_path().read_text(encoding="utf-8"))
    data["conflict"]["features"] = [*data["conflict"]["features"][:-1], "something else"]
    with pytest.raises(ValueError, match="retrain"):
        TagModel.from_dict(data)


def test_the_decision_follows_the_weights(tagger: ConflictTagger) -> None:
    title, text = "Rebels shell Goma as fighting spreads", "Congolese troops withdrew, officials said."
    assert tagger.tag(title, text, None, "en").is_conflict
    shipped = load_model()
    never = TagModel(((-50.0, *shipped.conflict[0][1:]), shipped.conflict[1]), shipped.territory)
    res = ConflictTagger(tagger.gazetteer, never).tag(title, text, None, "en")
    assert not res.is_conflict and res.conflict_score == 0.0 and res.countries == []
    assert "term:fighting" in res.conflict_evidence  # the evidence is still shown


def test_territory_takes_the_likeliest_when_none_reaches_half() -> None:
    weights = ((0.0,) * 16, (0.0, 0.0))  # every candidate at exactly 0.5
    flags = [True] + [False] * 15
    cands = {"BF": (flags, (0.0, 0.0)), "ML": (flags, (0.0, 0.0))}
    assert choose_countries(cands, weights) == ["BF", "ML"]
    low = ((-1.0,) + (0.0,) * 15, (0.0, 0.0))  # p = 0.27 < floor
    assert choose_countries(cands, low) == []
    mixed = {"BF": (flags, (1.0, 0.0)), "ML": (flags, (0.0, 0.0))}
    slight = ((-0.5,) + (0.0,) * 15, (0.3, 0.0))  # BF at 0.45, ML at 0.38: only the likeliest
    assert choose_countries(mixed, slight) == ["BF"]


def test_territory_features_mark_title_and_best_tier(tagger: ConflictTagger) -> None:
    title, text = "Israeli strikes kill 20 in Khan Younis", "Hamas said the talks in Cairo had stalled."
    ev = tagger.evidence(title, text, None, "en")
    assert ev is not None
    cands = territory_features(ev)
    assert set(cands) >= {"PS", "IL"}
    ps_flags, _ = cands["PS"]
    il_flags, _ = cands["IL"]
    best = TERRITORY_FEATURES.index("named at the article's best tier")
    assert ps_flags[best] and not il_flags[best]
    assert ps_flags[TERRITORY_FEATURES.index("a conflict region or place of it in the title")]


# ------------------------------------------------------------------------------------------- cities


def test_cldr_cities_name_the_territory_of_an_attack(tagger: ConflictTagger) -> None:
    # a transnational party names no territory; the city where the attacks happened does
    res = tagger.tag(
        "Al menos 120 muertos en una cadena de atentados en París",
        "El Estado Islámico reivindicó los ataques con explosivos y fusiles.",
        None,
        "es",
    )
    assert res.is_conflict and res.countries == ["FR"], res
    assert "city:Paris (paris)" in res.conflict_evidence or "city:Paris" in res.conflict_evidence
    # inflected (Russian locative) and in Arabic script
    gaz = load_gazetteer()
    assert gaz.keys.get("париж*") and gaz.keys["париж*"][0].label == "city:Paris"
    assert any(e.label == "city:Brussels" for e in gaz.keys[fold_for_matching("بروكسل")])


def test_a_city_of_a_theatre_is_a_place_of_it() -> None:
    gaz = load_gazetteer()
    abidjan = gaz.keys["abiyan"][0]  # CLDR's Turkish name of Abidjan, which no language file lists
    assert abidjan.kind == "place" and abidjan.label == "place:Abidjan" and abidjan.countries == ("CI",)
    # a key that already means something keeps that meaning ("gaza" is the Gaza Strip, not a city)
    assert gaz.keys["gaza"][0].label == "region:Gaza Strip"


def test_german_city_names_get_no_open_end(tagger: ConflictTagger) -> None:
    res = tagger.tag("Pragmatismus in der Außenpolitik", "Die Kriminalität sinkt, sagt der Minister.", None, "de")
    assert not any(e.startswith(("city:Prague", "region:Crimea")) for e in res.conflict_evidence), res


# ---------------------------------------------------------------------------------------- past, front


def test_a_war_remembered_is_not_news_of_fighting(tagger: ConflictTagger) -> None:
    past = tagger.tag(
        "Bosnia marks 25th anniversary of Srebrenica massacre",
        "Thousands gathered at the memorial to commemorate the victims of the 1995 killings.",
        None,
        "en",
    )
    assert not past.is_conflict, past
    assert "past:anniversary" in past.conflict_evidence
    now = tagger.tag("Shelling kills 12 in Bosnian town", "Artillery struck the market on Monday.", None, "en")
    assert now.is_conflict


def test_a_front_direction_is_the_front_not_the_town_it_is_named_after(tagger: ConflictTagger) -> None:
    res = tagger.tag(
        "Від початку доби на фронті відбулося 114 боїв",
        "Найбільше боїв на Курському напрямку, де ворог штурмував позиції ЗСУ.",
        None,
        "uk",
    )
    assert res.is_conflict and res.countries == ["UA"], res
    assert "place:front line (курському напрямку)" in res.conflict_evidence


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("Russian forces drop 8,000 glide bombs on Ukraine in March", "The defence ministry gave the figures."),
        ("Rebel MLAs meet Speaker", "The rebel MLAs of the ruling party demanded a cabinet berth."),
    ],
)
def test_march_is_a_month_and_rebel_mlas_are_politicians(tagger: ConflictTagger, title: str, text: str) -> None:
    res = tagger.tag(title, text, None, "en")
    assert "protest:march" not in res.conflict_evidence
    if "MLAs" in title:
        assert not res.is_conflict and "trap:rebel mlas" in res.conflict_evidence
    else:
        assert res.is_conflict and "term:glide bombs" in res.conflict_evidence


# ---------------------------------------------------------------------------------------------- speed


def _reference_fold(text: str) -> bytes:
    """The general (NFKD) path, which every fast path must agree with."""
    s = unicodedata.normalize("NFKD", text.lower())
    for a, b in (*_RECOMPOSE, *_LETTER_PAIRS):
        s = s.replace(a, b)
    s = _MARKS_RE.sub("", _SEP_RE.sub(" ", s))
    out = "".join(c if c.isalnum() else " " for c in s)
    return " ".join(out.split()).encode("utf-8")


@pytest.mark.parametrize(
    "text",
    [
        "Ça élève «Straße» Æther Þór ÿ — Zürich’s “news”…",  # Latin-1 letters and separators
        "Diyarbakır’da Łódź œuvre Xankəndi",  # Latin beyond Latin-1
        "Київ: обстріл «Харкова» — ёлка",  # Cyrillic
        "غزة، أوكرانيا: حرب",  # Arabic
        "加沙，乌克兰。ＡＢＣ１２３",  # Chinese, full-width punctuation and letters
    ],
)
def test_fast_folds_agree_with_the_general_one(text: str) -> None:
    assert fold_bytes(text) == _reference_fold(text)


def test_chinese_automaton_matches_bytes_and_shows_words_as_written(tagger: ConflictTagger) -> None:
    assert tagger.gazetteer.automaton_for("zh")[1]
    assert not tagger.gazetteer.automaton_for("en")[1]
    res = tagger.tag("以色列空袭加沙 至少20人死亡", "哈马斯表示停火谈判陷入僵局。", None, "zh")
    assert res.is_conflict and res.countries == ["PS"]
    assert {"region:Gaza Strip (加沙)", "term:空袭", "term:停火"} <= set(res.conflict_evidence)
    # an article of unknown language with Chinese text takes the byte-form automaton too
    assert tagger.tag("以色列空袭加沙 至少20人死亡", "", None, None).countries == ["PS"]
