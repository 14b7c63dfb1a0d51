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

from functools import lru_cache

import pycld2
import pycountry

__all__ = ["DETECT_CHARS", "detect_language", "normalize_language_tag", "resolve_language"]

#: Characters of title + text handed to the detector: a title and the start of the lede decide the
#: language as well as the whole article does, at a fraction of the cost.
DETECT_CHARS = 240
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
    raw = sample[:DETECT_CHARS].encode("utf-8", "replace").translate(None, _CONTROL)
    kwargs = {"hintLanguage": hint} if hint in _CLD2_CODES else {}  # CLD2 rejects hints it does not know
    try:
        reliable, nbytes, details = pycld2.detect(raw, isPlainText=True, **kwargs)
        if details[0][1] == "un" and nbytes >= MIN_BYTES:
            # CLD2's quality gate sometimes gives up on plain sentences ("В День памяти жертв Бабьего
            # Яра ..."); its best-effort reading is used, trusted only when it is clear.
            reliable, nbytes, details = pycld2.detect(raw, isPlainText=True, bestEffort=True, **kwargs)
            reliable = reliable and details[0][2] >= BEST_EFFORT_PERCENT and nbytes >= 2 * MIN_BYTES
    except pycld2.error:
        return None, False
    _name, code, percent, _score = details[0]
    lang = _detector_code(code)
    if lang is None or not reliable or nbytes < MIN_BYTES:
        return lang, False
    if percent >= MIN_PERCENT:
        return lang, True
    # A mixed reading (Tagalog 52 % + Waray 47 %) is still a confident "not the declared language"
    # when the declared one has next to no share of the text.
    hint_share = sum(p for _n, c, p, _s in details if _detector_code(c) == hint) if hint else 100
    return lang, hint_share < MAX_HINT_SHARE


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
