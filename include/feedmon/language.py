"""The language of an article, as an ISO 639-1 code, from its words and from what the feed declares.

Feeds declare languages badly: none at all (about one feed in ten), region or script variants
(``en-gb``, ``zh-Hans``, ``en_US``), three-letter codes (``spa``, ``fre``), whole names ("English"),
and one declaration for a feed that mixes languages (Tagalog items in an ``en`` feed). So every
article's title and lede go through a detector whose model ships inside its package (CLD2, through
``pycld2``: ~5–15 µs per article, no download, nothing loaded at run time; docs/tagging.md has the
measured comparison with lingua, py3langid and fastText), and :func:`resolve_language` applies the
precedence: a confident detection wins, even against the feed; otherwise the item's own tag, then
the feed's declaration; with no declaration, the detector's best guess.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pycld2
import pycountry

__all__ = ["DETECT_CHARS", "detect_language", "normalize_language_tag", "resolve_language"]

#: Characters of title + text handed to the detector: a title and the start of the lede decide the
#: language as well as the whole article does, at a fraction of the cost.
DETECT_CHARS = 240
#: A first reading of this many characters that clearly confirms the declared language settles it.
QUICK_CHARS = 80
QUICK_PERCENT = 90
#: A detection counts as confident when CLD2 calls it reliable, saw at least MIN_BYTES of letters (a
#: bare headline of names is not enough) and gives the language at least this share of the text ...
MIN_PERCENT = 70
MIN_BYTES = 24
#: ... or when the declared language has less than this share of the text.
MAX_HINT_SHARE = 10
#: A best-effort reading (second try) must be this clear to count as confident.
BEST_EFFORT_PERCENT = 90

# Deprecated or macro-language codes feeds still use, and detector codes with no ISO 639-1 form.
_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "sh": "sr", "fil": "tl", "tgl": "tl"}
_CLD2_CODES = frozenset(code for _name, code in pycld2.LANGUAGES)
# C0 controls (CLD2 rejects them as invalid UTF-8) and DEL.
_CONTROL = bytes([*range(9), 11, 12, *range(14, 32), 127])


@lru_cache(maxsize=512)
def normalize_language_tag(tag: str | None) -> str | None:
    """``en-gb`` -> ``en``, ``zh-Hans`` -> ``zh``, ``spa``/``fre`` -> ``es``/``fr``, ``English`` -> ``en``.

    Returns ``None`` for empty, unknown or "undetermined" tags (``und``, ``mul``, ``zxx``) rather
    than guessing. Lists ("en, fr") take the first language.
    """
    if not tag:
        return None
    first = str(tag).strip().replace("_", "-").split(",")[0].split(";")[0].strip()
    primary = first.split("-")[0].strip().lower()
    if not primary or primary in ("und", "mul", "zxx", "mis", "x", "i"):
        return None
    if primary in _ALIASES:
        return _ALIASES[primary]
    if len(primary) == 2 and primary.isalpha():
        return primary if pycountry.languages.get(alpha_2=primary) is not None else None
    if len(primary) == 3 and primary.isalpha():
        lang = pycountry.languages.get(alpha_3=primary) or pycountry.languages.get(bibliographic=primary)
        return getattr(lang, "alpha_2", None) if lang is not None else None
    try:
        lang = pycountry.languages.lookup(first)
    except LookupError:
        return None
    return getattr(lang, "alpha_2", None)


def detect_language(title: str, text: str = "", hint: str | None = None) -> tuple[str | None, bool]:
    """``(code, confident)`` from the words of an article; ``(None, False)`` when CLD2 cannot tell.

    ``hint`` (a declared ISO 639-1 code) breaks near-ties the declared way, as CLD2's own language
    hint does; it never overrides clear evidence ("Pila sa isang barangay…" stays Tagalog in an
    ``en`` feed).
    """
    sample = f"{title}\n{text}" if text else title
    if not sample.strip():
        return None, False
    # CLD2 rejects hints it does not know; and its "zh" means simplified script, which pushes text in
    # traditional characters towards Japanese: Chinese gets no hint.
    kwargs = {"hintLanguage": hint} if hint in _CLD2_CODES and hint != "zh" else {}
    if hint in _SCRIPT_CHECKS and _SCRIPT_CHECKS[hint](sample[:DETECT_CHARS]):
        return hint, True
    if hint is not None and len(sample) > QUICK_CHARS:
        # Most articles are in the language their feed declares: when the first QUICK_CHARS say so
        # clearly, the rest is not read (CLD2 costs ~5 µs a call plus ~35 ns a byte).
        quick = sample[:QUICK_CHARS].encode("utf-8", "replace").translate(None, _CONTROL)
        try:
            reliable, nbytes, details = pycld2.detect(quick, isPlainText=True, **kwargs)
        except pycld2.error:
            reliable = False
        if (
            reliable
            and nbytes >= MIN_BYTES
            and details[0][2] >= QUICK_PERCENT
            and _detector_code(details[0][1]) == hint
        ):
            return hint, True
    raw = sample[:DETECT_CHARS].encode("utf-8", "replace").translate(None, _CONTROL)
    needed = MIN_PERCENT
    try:
        reliable, nbytes, details = pycld2.detect(raw, isPlainText=True, **kwargs)
        if details[0][1] == "un" and nbytes >= MIN_BYTES:
            # CLD2's quality gate sometimes gives up on plain sentences ("В День памяти жертв Бабьего
            # Яра ..."), more so with a wrong hint (Russian in a feed declaring "en"): its best-effort
            # reading without the hint is used, trusted only when it is clear.
            reliable, nbytes, details = pycld2.detect(raw, isPlainText=True, bestEffort=True)
            needed = BEST_EFFORT_PERCENT
    except pycld2.error:
        return None, False
    _name, code, percent, _score = details[0]
    lang = _detector_code(code)
    if lang is None and nbytes >= MIN_BYTES:
        return _cyrillic_guess(sample[:DETECT_CHARS], hint)
    if lang is None or nbytes < MIN_BYTES:
        return lang, False
    if not reliable:  # still confident that it is not the declared language when the script says so
        return lang, hint is not None and lang != hint and _other_script(sample[:DETECT_CHARS], hint)
    if percent >= needed:
        return lang, True
    # A mixed reading (Tagalog 52 % + Waray 47 %) is still a confident "not the declared language"
    # when the declared one has next to no share of the text (Russian in a feed declaring "en").
    hint_share = sum(p for _n, c, p, _s in details if _detector_code(c) == hint) if hint else 100
    return lang, hint_share < MAX_HINT_SHARE


def _mostly_wide(sample: str, at_least: float) -> bool:
    """Whether most characters take several UTF-8 bytes: most letters are Cyrillic (2 bytes) or Han
    (3 bytes), not Latin. One C-level encode, no per-character loop."""
    return len(sample.encode("utf-8", "replace")) >= at_least * len(sample)


def _is_russian(s: str) -> bool:
    """Cyrillic without the letters of Ukrainian, Belarusian, Serbian, Macedonian or the Turkic and
    Mongolian alphabets, and not Bulgarian (ъ without ы or э)."""
    low = s.lower()
    return (
        not any(c in low for c in _NOT_RUSSIAN)
        and ("ы" in low or "э" in low or "ъ" not in low)
        and _mostly_wide(s, 1.5)
    )


_NOT_RUSSIAN = "іїєґўјљњђћѓќџѕөүқңғһәҳӣӯ"


def _is_ukrainian(s: str) -> bool:
    """Cyrillic with letters only Ukrainian uses, none that only Russian or Belarusian do."""
    low = s.lower()
    return any(c in low for c in "іїєґ") and not any(c in low for c in "ыэёъў") and _mostly_wide(s, 1.5)


def _is_chinese(s: str) -> bool:
    """Mostly Han characters and no kana (Japanese) or hangul (Korean)."""
    return _mostly_wide(s, 2.2) and _KANA_HANGUL.search(s) is None


_KANA_HANGUL = re.compile("[\u3040-\u30ff\u3130-\u318f\uac00-\ud7af]")
#: Declared languages the script settles without CLD2 when the text says so unmistakably: the
#: letters only Russian, only Ukrainian use; Han characters without kana or hangul. (Arabic-script
#: and Latin-script languages share their letters: CLD2 decides those.)
_SCRIPT_CHECKS = {"ru": _is_russian, "uk": _is_ukrainian, "zh": _is_chinese}

_CYRILLIC = re.compile("[а-яёіїєґА-ЯЁІЇЄҐ]")
_UKRAINIAN = re.compile("[іїєґІЇЄҐ]")
_LETTER = re.compile(r"[^\W\d_]")


_SCRIPTS = {
    "cyrillic": (
        re.compile("[\u0400-\u04ff]"),
        frozenset({"ru", "uk", "be", "bg", "sr", "mk", "kk", "ky", "tg", "mn"}),
    ),
    "arabic": (re.compile("[\u0600-\u06ff]"), frozenset({"ar", "fa", "ur", "ps", "ku", "sd", "ug"})),
    "han": (re.compile("[\u3040-\u30ff\u3400-\u9fff]"), frozenset({"zh", "ja"})),
}


def _other_script(sample: str, hint: str) -> bool:
    """Whether most letters of the text are in a script the declared language is not written in."""
    letters = len(_LETTER.findall(sample)) or 1
    for pattern, langs in _SCRIPTS.values():
        share = len(pattern.findall(sample)) / letters
        if share >= 0.6 and hint not in langs:
            return True
        if hint in langs and share < 0.2:
            return True
    return False


def _cyrillic_guess(sample: str, hint: str | None) -> tuple[str | None, bool]:
    """When CLD2 gives up on Cyrillic text (it does on some repetitive ledes): Ukrainian if the
    letters only Ukrainian uses are there, else Russian; confident only against a declaration in
    another script (a mirror feed declaring "en")."""
    letters = len(_LETTER.findall(sample))
    if not letters or len(_CYRILLIC.findall(sample)) < 0.6 * letters:
        return None, False
    lang = "uk" if _UKRAINIAN.search(sample) else "ru"
    return lang, hint is not None and _other_script(sample, hint)


@lru_cache(maxsize=256)
def _detector_code(code: str) -> str | None:
    """CLD2's code as ISO 639-1: ``zh-Hant`` -> ``zh``, ``un`` / ``xxx`` -> ``None``."""
    if code in ("un", "xxx", "xx", ""):
        return None
    return normalize_language_tag(code)


def resolve_language(title: str, text: str, *declared: str | None) -> str | None:
    """The article's language: a confident detection; else the first declaration that is a language
    (pass the item's tag before the feed's); else the detector's unconfident guess; else ``None``."""
    decl = next((c for c in map(normalize_language_tag, declared) if c), None)
    found, confident = detect_language(title, text, hint=decl)
    if confident:
        return found
    return decl or found
