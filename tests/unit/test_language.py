"""Article language: ISO 639-1 tags from whatever feeds declare, detection, and the precedence rule."""

from __future__ import annotations

import pytest

from feedmon.language import detect_language, normalize_language_tag, resolve_language

TAGALOG = (
    "Lanao del Sur Gov. Adiong, umapela na itigil muna ang Balik Probinsya; COVID-19 cases, 19 na",
    "Umapela si Lanao del Sur Governor Mamintal Adiong Jr. sa gobyerno na itigil muna ang Balik Probinsya "
    "program matapos tumaas ang bilang ng kaso ng COVID-19 sa kanyang probinsiya.",
)  # GMA News, 2020-06-10, served in a feed that declares en-us (eval/captures/en/gmanews_2020-06-10.xml)
ENGLISH = ("Troops pull back from the border", "The army said on Monday that two brigades had left the area.")
RUSSIAN = ("Российские войска нанесли удар по Харькову", "В результате обстрела погибли три человека.")


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("en-gb", "en"),
        ("en-US", "en"),
        ("en_US", "en"),
        ("zh-Hans", "zh"),
        ("zh-Hant-TW", "zh"),
        ("spa", "es"),
        ("fre", "fr"),
        ("ger", "de"),
        ("fas", "fa"),
        ("ukr", "uk"),
        ("English", "en"),
        ("EN", "en"),
        ("iw", "he"),
        ("fil", "tl"),
        ("en, fr", "en"),
        ("und", None),
        ("", None),
        (None, None),
        ("x-klingon", None),
        ("qq", None),
    ],
)
def test_tags_become_iso_639_1(tag: str | None, code: str | None) -> None:
    assert normalize_language_tag(tag) == code


def test_detection_of_the_listed_languages() -> None:
    samples = {
        "ru": RUSSIAN,
        "uk": ("Росія атакувала Київ дронами", "Внаслідок обстрілу загинули двоє людей, ще п'ятеро поранені."),
        "ar": ("قصف إسرائيلي على غزة يقتل عشرة فلسطينيين", "وقالت وزارة الصحة إن الغارات استهدفت منازل في خان يونس."),
        "fa": ("حمله هوایی اسرائیل به غزه ده نفر را کشت", "به گفته وزارت بهداشت، حمله‌ها خانه‌هایی را هدف گرفت."),
        "zh": ("以色列对加沙地带发动空袭", "卫生部门表示，空袭造成至少十名巴勒斯坦人死亡，其中包括儿童。"),
        "tr": ("İsrail Gazze'ye hava saldırısı düzenledi", "Saldırıda en az on kişi hayatını kaybetti."),
        "fr": ("Une frappe israélienne tue dix Palestiniens", "Des enfants figurent parmi les morts."),
        "es": ("Un ataque israelí mata a diez palestinos", "Entre los muertos hay niños, según el ministerio."),
        "de": ("Israelischer Luftangriff tötet zehn Palästinenser", "Unter den Toten seien auch Kinder."),
        "en": ENGLISH,
    }
    for lang, (title, text) in samples.items():
        assert detect_language(title, text) == (lang, True), lang


def test_unreadable_or_empty_input_is_unknown() -> None:
    assert detect_language("", "") == (None, False)
    assert detect_language("Gaza") == (None, False)  # a bare name says nothing
    assert detect_language("bad \ud800 bytes \x01 and controls in an English sentence here")[0] == "en"


def test_confident_detection_beats_the_feed_declaration() -> None:
    assert resolve_language(*TAGALOG, "en-us") == "tl"
    assert resolve_language(*RUSSIAN, "en") == "ru"


def test_otherwise_item_tag_then_feed_declaration() -> None:
    # a headline of names: the detector cannot tell, so the declarations decide, item first
    assert resolve_language("Kyiv: Zelensky", "", "uk-UA", "en") == "uk"
    assert resolve_language("Kyiv: Zelensky", "", None, "en-gb") == "en"
    assert resolve_language("Kyiv: Zelensky", "", "", "zh-Hans") == "zh"
    # an agreeing detection changes nothing; an undeclared feed gets the detection
    assert resolve_language(*ENGLISH, "en-gb") == "en"
    assert resolve_language(*ENGLISH) == "en"
    assert resolve_language("Kyiv: Zelensky", "") is None


def test_a_feed_declaring_the_wrong_language() -> None:
    # a mirror feed of a Russian outlet declaring "en": CLD2 reads Russian without certainty, but the
    # script settles that it is not English (eval/captures/ru/novaya-gazeta-baltic-mirror_2026-02-05.xml)
    title = "Эстония откроет посольство в Молдове во второй половине 2026 года"
    text = "Во второй половине 2026 года Эстония откроет посольство в Молдове. Об этом заявил председатель парламента."
    assert resolve_language(title, text, "en") == "ru"
    # traditional characters in a feed declaring zh-CN stay Chinese (CLD2's "zh" hint means simplified)
    trad = "著名中國問題專家、美國喬治‧華盛頓大學教授沈大偉日前在《華爾街日報》發表文章《中國即將崩潰》"
    assert resolve_language("陳定定對沈大偉的反駁同樣無力", trad, "zh-CN") == "zh"


UKRAINIAN = ("Росія вдарила по Харкову", "Внаслідок обстрілу загинули двоє людей, ще четверо поранені.")


def test_the_script_settles_a_declared_russian_ukrainian_or_chinese_article(monkeypatch: pytest.MonkeyPatch) -> None:
    from feedmon import language

    calls: list[bytes] = []
    real = language.pycld2.detect

    def counting(raw: bytes, *args: object, **kwargs: object) -> object:
        calls.append(raw)
        return real(raw, *args, **kwargs)

    monkeypatch.setattr(language.pycld2, "detect", counting)
    assert resolve_language(*RUSSIAN, "ru") == "ru"
    assert resolve_language(*UKRAINIAN, "uk") == "uk"
    assert resolve_language("以色列空袭加沙", "至少20人死亡，哈马斯表示停火谈判陷入僵局。", "zh") == "zh"
    assert calls == []  # letters only Russian, only Ukrainian use; Han without kana: no detector call
    # the wrong declaration is not settled by the script: the detector reads the text
    assert resolve_language(*UKRAINIAN, "ru") == "uk"
    assert resolve_language(*RUSSIAN, "uk") == "ru"
    assert resolve_language("東京で地震", "気象庁によると、震源の深さは約10キロ。", "zh") == "ja"
    assert len(calls) >= 3


def test_a_first_short_reading_that_confirms_the_declaration_settles_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from feedmon import language

    sizes: list[int] = []
    real = language.pycld2.detect

    def counting(raw: bytes, *args: object, **kwargs: object) -> object:
        sizes.append(len(raw))
        return real(raw, *args, **kwargs)

    monkeypatch.setattr(language.pycld2, "detect", counting)
    long_text = ENGLISH[1] + " The brigades will return to their barracks in the north before the winter begins."
    assert resolve_language(ENGLISH[0], long_text, "en") == "en"
    assert sizes == [language.QUICK_CHARS]  # one call on the first characters only
    sizes.clear()
    assert resolve_language(*TAGALOG, "en") == "tl"  # the short reading disagrees: the full one decides
    assert len(sizes) == 2 and sizes[1] > language.QUICK_CHARS
