"""Turn one gazetteer entry ("обстрел*", "Luftangriff{,e,en}", "Бахмут", "غزة") into automaton keys.

The tagger makes ONE Aho-Corasick pass over a folded text (:func:`fold_for_matching`), so inflection
is handled on the key side, once, at build time — never by stemming the article:

* ``(a|b)`` lists alternatives anywhere in a key (``сектор(|а|е) Газа``, ``Luftangriff(|e|en)``; a
  YAML-safe syntax: braces and commas would end a plain scalar in a flow list);
* a leading / trailing ``*`` leaves the word open on that side (``обстрел*`` also matches
  "обстрелом", ``*krieg`` matches "Bürgerkrieg"); a trailing ``=`` switches off the automatic name
  forms below for that one key;
* names (regions, places, parties, countries) of a language get that language's forms automatically
  (``morphology`` in its file): Russian/Ukrainian case endings, Turkish suffixes after the apostrophe,
  Arabic clitics (و ب ل ف ك), an open end for German and Persian derivations;
* keys in a script written without spaces (Chinese, Japanese) match anywhere: no word boundaries.

A key is returned as ``(text, mode)``; the mode says which sides are open, so the tagger can show the
whole word as written in the evidence ("term:обстрелом", not the stem).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "MODE_EXACT",
    "MODE_INFIX",
    "MODE_OPEN_BOTH",
    "MODE_OPEN_LEFT",
    "MODE_OPEN_RIGHT",
    "MORPHOLOGIES",
    "expand_alternatives",
    "fold_bytes",
    "fold_for_matching",
    "key_forms",
    "padded",
]

# Which sides of a key may continue into a longer word. INFIX: a key in a script without spaces.
MODE_EXACT, MODE_OPEN_RIGHT, MODE_OPEN_LEFT, MODE_OPEN_BOTH, MODE_INFIX = 0, 1, 2, 3, 4

# ------------------------------------------------------------------------------------------ folding

# ASCII bytes -> lower-case letters/digits or a space; bytes >= 0x80 (UTF-8 sequences) pass through.
_BYTE_TABLE = bytes(
    (c + 32 if 65 <= c <= 90 else c) if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c >= 128) else 32
    for c in range(256)
)
_SPACES_RE = re.compile(rb"  +")  # collapsing on bytes beats str.split + join on long texts

# Letters folded to one form so spellings meet: undecomposable Latin letters ("Diyarbakır", "Łódź",
# "Xankəndi"); Russian ё as е (most copy writes е); Arabic hamza carriers, alif maqsura, ta marbuta
# and the Persian forms of yeh and kaf, so that Arabic غزة and Persian غزه, أوكرانيا and اوكرانيا
# are one key.
_LETTER_PAIRS = tuple(
    {
        "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe", "ə": "e", "þ": "th", "ð": "d",
        "ё": "е",
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ؤ": "و", "ئ": "ي", "ى": "ي", "ی": "ي", "ة": "ه", "ۀ": "ه",
        "ک": "ك", "ـ": "",
    }.items()
)  # fmt: skip

# Characters whose presence calls for NFKD: accented Latin letters, combining marks, presentation
# forms, full-width letters and digits, half-width kana (full-width punctuation is a separator).
_NFKD_CLASS = (
    "\u00c0-\u024f\u0300-\u036f\u1e00-\u1eff\ufb00-\ufdff\ufe70-\ufeff\uff10-\uff19\uff21-\uff3a\uff41-\uff5a"
    "\uff66-\uffef"
)
_NEEDS_NFKD = re.compile(f"[{_NFKD_CLASS}]")
# Non-ASCII separators: Latin-1 punctuation and NBSP, × ÷, General Punctuation (dashes, curly quotes,
# ZWNJ/ZWJ, bullets), currency, letterlike and other symbols, arrows, CJK and full-width punctuation,
# Arabic comma, semicolon, question mark and percent/decimal signs, Armenian and Hebrew punctuation,
# lone surrogates. A character class on str: far cheaper than byte alternations on Arabic UTF-8,
# whose every letter starts with the same lead bytes.
_SEP_RE = re.compile(
    "[\u00a0-\u00bf\u00d7\u00f7\u2000-\u2bff\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40"
    "\uff5b-\uff65\u060c\u061b\u061f\u066a-\u066d\u0589\u058a\u05c0\u05c3\u05c6\u05f3\u05f4\ufeff\ud800-\udfff]"
)
# Combining marks left after NFKD (U+0300-036F), Cyrillic titlo etc. (U+0483-0489), Arabic harakat,
# superscript alef and Quranic marks: dropped, never separators.
_MARKS_RE = re.compile("[\u0300-\u036f\u0483-\u0489\u0610-\u061a\u064b-\u065f\u0670]+")
_RECOMPOSE = (("и\u0306", "й"), ("і\u0308", "ї"), ("у\u0306", "ў"))
# What needs NFKD, or marks that come without it (Cyrillic titlo and Arabic harakat, superscript
# alef, Quranic marks): one scan finds either kind of work (most text has neither).
_NFKD_OR_MARKS_RE = re.compile(f"[{_NFKD_CLASS}\u0483-\u0489\u0610-\u061a\u064b-\u065f\u0670]")

# Latin-1 text (English with curly quotes, German, Spanish, most French): one byte per character,
# accents dropped by a byte table. The letters that fold to two are replaced first.
_SEP_CLASS = _SEP_RE.pattern[1:-1]
_NOT_LATIN1_RE = re.compile(f"[^\x00-\xff{_SEP_CLASS}]")  # separators past U+00FF become "?", then spaces
_NOT_LATIN_RE = re.compile(f"[^\x00-\u036f\u1e00-\u1eff{_SEP_CLASS}]")  # Latin letters, marks, separators
_LATIN1_WIDE = (("ß", "ss"), ("æ", "ae"), ("Æ", "ae"), ("þ", "th"), ("Þ", "th"))


def _latin1_byte(c: int) -> int:
    """What one Latin-1 byte folds to: ASCII as the byte table says, the accented letters to their
    base letter (as NFKD and the letter pairs do), punctuation and NBSP to a space."""
    if c < 0x80:
        return _BYTE_TABLE[c]
    ch = chr(c).lower()
    base = dict(_LETTER_PAIRS).get(ch) or unicodedata.normalize("NFKD", ch)[0]
    return ord(base[0]) if c >= 0xC0 and base[0].isascii() and base[0].isalpha() else 32


_LATIN1_TABLE = bytes(_latin1_byte(c) for c in range(256))


def _replace_pairs(s: str) -> str:
    """A few ``in`` tests (memchr speed) and ``replace`` only for the letters present: far cheaper
    than ``str.translate`` with a dict, which costs ~0.3 µs per character on non-ASCII text."""
    for a, b in _LETTER_PAIRS:
        if a in s:
            s = s.replace(a, b)
    return s


def fold_bytes(text: str) -> bytes:
    """The form both the gazetteer keys and the article text take before the automaton runs, as
    UTF-8 bytes (:func:`fold_for_matching` gives it as text).

    Lower-case, accents folded, every run of punctuation or spacing turned into one space, letters
    of every script kept ("Київ" stays "київ", "加沙" stays "加沙"). No per-character Python loop:
    ASCII text takes a byte table; Latin-1 text (English with curly quotes, German, Spanish, most
    French) a Latin-1 encode and a byte table that drops the accents; other Latin text NFKD and an
    ASCII encode that drops the marks; other scripts a few C-level passes (lower, optional NFKD, a
    separator regex, UTF-8 encode and the byte table).
    """
    if not text:
        return b""
    if text.isascii():
        raw = text.encode("ascii").translate(_BYTE_TABLE)
    elif _NOT_LATIN1_RE.search(text) is None:
        for a, b in _LATIN1_WIDE:
            if a in text:
                text = text.replace(a, b)
        raw = text.encode("latin-1", "replace").translate(_LATIN1_TABLE)
    elif _NOT_LATIN_RE.search(text) is None:
        # Latin script only (plus marks and separators): after NFKD, dropping every non-ASCII
        # character drops exactly the marks, at C speed
        s = _replace_pairs(unicodedata.normalize("NFKD", text.lower()))
        raw = _SEP_RE.sub(" ", s).encode("ascii", "ignore").translate(_BYTE_TABLE)
    else:
        s = text.lower()
        marked = _NFKD_OR_MARKS_RE.search(s) is not None
        if marked and _NEEDS_NFKD.search(s) is not None:
            s = unicodedata.normalize("NFKD", s)
            for pair, letter in _RECOMPOSE:  # Cyrillic letters whose mark is part of the letter
                if pair in s:
                    s = s.replace(pair, letter)
        s = _SEP_RE.sub(" ", _replace_pairs(s))
        if marked:
            s = _MARKS_RE.sub("", s)
        raw = s.encode("utf-8").translate(_BYTE_TABLE)
    return _SPACES_RE.sub(b" ", raw).strip()


def fold_for_matching(text: str) -> str:
    """The folded form of ``text`` (see :func:`fold_bytes`) as text."""
    return fold_bytes(text).decode("utf-8")


def padded(key: str, mode: int) -> str:
    """The automaton string of a folded key: single spaces on its closed sides."""
    left = "" if mode in (MODE_OPEN_LEFT, MODE_OPEN_BOTH, MODE_INFIX) else " "
    right = "" if mode in (MODE_OPEN_RIGHT, MODE_OPEN_BOTH, MODE_INFIX) else " "
    return f"{left}{key}{right}"


# ------------------------------------------------------------------------------------------ syntax

_ALTERNATIVES_RE = re.compile(r"\(([^()]*\|[^()]*)\)")
# Scripts written without spaces between words: keys in them match anywhere.
_UNSPACED_RE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def unspaced_script(text: str) -> bool:
    """Whether the text has characters of a script written without spaces (Chinese, Japanese)."""
    return _UNSPACED_RE.search(text) is not None


def expand_alternatives(text: str) -> list[str]:
    """``"Luftangriff(|e|en)"`` -> ``["Luftangriff", "Luftangriffe", "Luftangriffen"]``. Parentheses
    without a ``|`` are left alone ("Communist Party of India (Maoist)")."""
    m = _ALTERNATIVES_RE.search(text)
    if m is None:
        return [text]
    out: list[str] = []
    for alt in m.group(1).split("|"):
        out.extend(expand_alternatives(text[: m.start()] + alt.strip() + text[m.end() :]))
    return out


# Endings a "*" inside a Cyrillic key stands for ("удар* беспилотник*": "удары беспилотников",
# "ударом беспилотника"): Russian and Ukrainian noun and adjective endings of up to three letters.
_MID_ENDINGS_CYRILLIC = (
    "", "а", "я", "у", "ю", "е", "и", "ы", "о", "ь", "й", "ой", "ей", "ом", "ем", "ам", "ям", "ами", "ями", "ах",
    "ях", "ов", "ев", "ий", "ый", "ая", "ое", "ее", "ые", "ие", "ых", "их", "ым", "им", "ого", "его", "ому", "ему",
    "ую", "юю", "ою", "ею", "ии", "ию", "ией", "ія", "ії", "ію", "ією", "і", "ї", "ів", "ові", "ью", "ій", "ої", "іх",
    "ім",
)  # fmt: skip


def expand_inner_stars(text: str) -> list[str]:
    """A "*" that is not at an end of the key: the stem before it takes any of the usual endings.
    Only Cyrillic stems can say so (their endings are listed); elsewhere it is an error."""
    body = text.strip()
    core = body[1:] if body.startswith("*") else body
    core = core[:-1] if core.endswith("*") else core
    if "*" not in core:
        return [text]
    head, _, tail = core.partition("*")
    if not _CYRILLIC_RE.search(head[-1:] or "x"):
        raise ValueError(f"{text!r}: '*' inside a key is only understood after a Cyrillic stem")
    pre = "*" if body.startswith("*") else ""
    post = "*" if body.endswith("*") else ""
    out: list[str] = []
    for ending in _MID_ENDINGS_CYRILLIC:
        out.extend(expand_inner_stars(f"{pre}{head}{ending}{tail}{post}"))
    return list(dict.fromkeys(out))


def _marked(text: str) -> tuple[str, bool, bool]:
    """Strip the open-side markers: ``"*krieg*"`` -> ``("krieg", True, True)``."""
    t = text.strip()
    left, right = t.startswith("*"), t.endswith("*")
    return t.strip("*").strip(), left, right


def _mode(left: bool, right: bool) -> int:
    return (MODE_OPEN_BOTH if right else MODE_OPEN_LEFT) if left else (MODE_OPEN_RIGHT if right else MODE_EXACT)


# ------------------------------------------------------------------------------------- morphology
# Each function maps one folded name to (folded key, open right) forms. They are deliberately
# conservative: a stem is only left open when it is long enough not to be the start of common words
# ("Сумы" would open "сум…", the start of "сумма"); short names get an explicit set of endings.

# Russian + Ukrainian noun endings after the stem, by the name's last letter(s).
_SLAVIC_NOUN = {
    "ия": ("ия", "ии", "ию", "ией", "иею", "ії", "ію", "ією", "ія"),
    "ія": ("ія", "ії", "ію", "ією", "ии", "ия", "ию", "ией"),
    "а": ("а", "ы", "и", "е", "у", "ой", "ою", "і"),
    "я": ("я", "и", "е", "ю", "ей", "ею", "і", "ї", "ою"),
    "ь": ("ь", "я", "ю", "е", "ем", "і", "ей", "ом"),
    "й": ("й", "я", "ю", "е", "ем", "ї", "єм"),
    "": ("", "а", "у", "е", "ом", "ем", "і", "ові", "ю", "я", "ы", "ах", "ам"),
}
_SLAVIC_ADJ = (
    "ый", "ого", "ому", "ым", "ом", "ых", "ые", "ий", "его", "ему", "им", "ем", "их", "ие", "ім", "іх", "і",
    "ой", "ая", "ую", "ою", "яя", "юю", "ей", "а", "у", "ої", "ій",
)  # fmt: skip
# Adjectives: Russian -ый/-ий/-ой/-ая/..., Ukrainian feminine -ська/-на ("Південна").
_ADJ_ENDINGS = (
    "ый", "ий", "ой", "ая", "яя", "ое", "ее", "ые", "ие", "ська", "цька", "зька", "чна", "нна", "жна", "вна",
)  # fmt: skip
_SLAVIC_STEM_OPEN = 5  # a stem this long stays open: "донецк*" also finds "Донецкой", "донецкий"
_VOWELS = "аеиоуыэюяіє"


_SLAVIC_MAX_FORMS = 400


def _slavic_word(word: str, last: bool) -> list[tuple[str, bool]]:
    """Forms of one word of a name; only the last word of a name may stay open."""
    if word.endswith(_ADJ_ENDINGS) and len(word) > 4:
        cut = 1 if word.endswith("а") else 2
        return [(word[:-cut] + e, False) for e in _SLAVIC_ADJ]
    if word[-1] in "оеиуюэіы" and not word.endswith(("ия", "ія")):
        return [(word, False)]  # indeclinable ("Того", "Мали", "Перу", "Конго") or plural
    for tail in ("ия", "ія", "а", "я", "ь", "й"):
        if word.endswith(tail):
            stem = word[: -len(tail)]
            break
    else:
        tail, stem = "", word
    open_stem = stem + ("и" if tail == "ия" else "і" if tail == "ія" else "")
    if last and len(open_stem) >= _SLAVIC_STEM_OPEN:
        return [(open_stem, True)]
    return [(stem + e, False) for e in _SLAVIC_NOUN[tail]]


def _slavic(key: str) -> list[tuple[str, bool]]:
    """Russian / Ukrainian case forms of a name: every word declined (adjectives agree: "Южного
    Судана"; head nouns: "сектора Газа"), the last one left open when its stem is long enough."""
    forms: list[tuple[str, bool]] = [("", False)]
    words = key.split(" ")
    for i, word in enumerate(words):
        options = _slavic_word(word, last=i == len(words) - 1) if len(word) > 2 else [(word, False)]
        forms = [(f"{f} {w}".strip(), opn) for f, _ in forms for w, opn in options]
        if len(forms) > _SLAVIC_MAX_FORMS:
            return [(key, False)]
    return forms


# Turkish case suffixes written after the apostrophe of a proper noun (folded: ı->i, ü->u, ş->s).
_TR_SUFFIXES = (
    "da", "de", "ta", "te", "dan", "den", "tan", "ten", "a", "e", "ya", "ye", "i", "yi", "u", "yu",
    "in", "nin", "un", "nun", "daki", "deki", "taki", "teki", "la", "le", "yla", "yle", "na", "ne",
    "nda", "nde", "ndan", "nden", "ndaki", "ndeki", "ni", "nu", "dir", "dur",
)  # fmt: skip


def _turkish(key: str) -> list[tuple[str, bool]]:
    """Turkish: "Gazze'de", "Ukrayna'nın" (suffix after an apostrophe, a separator once folded) and
    the -li adjective without one ("Suriyeli", "Iraklı")."""
    forms = [(key, False)] + [(f"{key} {s}", False) for s in _TR_SUFFIXES]
    forms += [(f"{key}{s}", True) for s in ("li", "lu", "yli")]
    return forms


# Arabic proclitics: conjunctions و ف, prepositions ب ل ك, and their pairs.
_AR_CLITICS = ("", "و", "ف", "ب", "ل", "ك", "وب", "ول", "فب", "فل", "وك")
_AR_ARTICLE = ("ال", "وال", "فال", "بال", "كال", "وبال")


def _arabic(key: str, name: bool) -> list[tuple[str, bool]]:
    """Arabic clitics on the first word. A name keeps its own article or none ("مالي" must never
    become "المالي", *the financial*); common nouns also take the article."""
    out = [c + key for c in _AR_CLITICS]
    if key.startswith("ال"):
        out += ["لل" + key[2:], "ولل" + key[2:], "فلل" + key[2:]]
    elif not name:
        out += [a + key for a in _AR_ARTICLE] + ["لل" + key, "ولل" + key]
    return [(k, False) for k in out]


def _open_long(key: str) -> list[tuple[str, bool]]:
    """German "Israels", "israelische"; Persian "ایرانی": an open end on one-word names of four
    letters or more (shorter ones would open common words)."""
    return [(key, len(key) >= 4 and " " not in key)]


#: morphology name (a language file's ``morphology:``) -> name-form function (key, is_name).
MORPHOLOGIES = {
    "slavic": lambda key, _name: _slavic(key),
    "turkish": lambda key, _name: _turkish(key),
    "arabic": _arabic,
    "german": lambda key, _name: _open_long(key),
    "persian": lambda key, _name: _open_long(key),
}


_COMPOUND_RE = re.compile("[-‐‑–'’ʼ]")  # "Кот-д’Ивуар", "Гвинея-Бисау": written as one, not declined
_CYRILLIC_RE = re.compile("[\u0400-\u04ff]")
_ARABIC_RE = re.compile("[\u0600-\u06ff]")
_SCRIPT_OF: dict[str, Callable[[str], object]] = {
    "slavic": _CYRILLIC_RE.search,
    "arabic": _ARABIC_RE.search,
    "persian": _ARABIC_RE.search,
    "turkish": lambda key: key.isascii(),
    "german": lambda key: key.isascii(),
}


def key_forms(surface: str, *, morphology: str | None = None, name: bool = False) -> list[tuple[str, int, bool]]:
    """Automaton keys (folded, unpadded) with their modes for one gazetteer entry, each flagged
    ``derived`` when the language's morphology made it (not a spelling the author wrote).

    ``morphology`` applies to names (``name=True``) that carry no explicit marker, and its clitics
    (Arabic) to every key; explicit ``*``, ``(…|…)`` and a trailing ``=`` are the author's word.
    """
    explicit = "*" in surface or "=" in surface or _ALTERNATIVES_RE.search(surface) is not None
    out: dict[str, tuple[int, bool]] = {}
    variants = [v for alt in expand_alternatives(surface.rstrip().removesuffix("=")) for v in expand_inner_stars(alt)]
    for variant in variants:
        text, left, right = _marked(variant)
        key = fold_for_matching(text)
        if not key:
            continue
        if _UNSPACED_RE.search(key):
            out.setdefault(key, (MODE_INFIX, False))
            continue
        forms: Iterable[tuple[str, bool]] = [(key, right)]
        fn = MORPHOLOGIES.get(morphology or "")
        if fn is not None and morphology and _SCRIPT_OF[morphology](key):
            if morphology == "arabic":
                forms = [(k, right) for k, _ in fn(key, name)]
            elif name and not explicit and not _is_abbreviation(text) and not _COMPOUND_RE.search(text):
                forms = fn(key, name)
        for k, opn in forms:
            out.setdefault(k, (_mode(left, opn or right), k != key or (opn and not right)))
    return [(k, mode, derived) for k, (mode, derived) in out.items()]


def _is_abbreviation(text: str) -> bool:
    """ "ВСУ", "ХАМАС", "ЦАХАЛ": written in capitals, not declined."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def word_at(hay: str, start: int, end: int, mode: int) -> str:
    """The matched word(s) as they stand in the folded text, for the evidence."""
    if mode in (MODE_EXACT, MODE_INFIX):
        return hay[start:end].strip()
    if mode in (MODE_OPEN_LEFT, MODE_OPEN_BOTH):
        start = hay.rfind(" ", 0, start) + 1
    if mode in (MODE_OPEN_RIGHT, MODE_OPEN_BOTH):
        stop = hay.find(" ", end)
        end = len(hay) if stop < 0 else stop
    return hay[start:end].strip()


def check_markers(items: Sequence[str], where: str) -> list[str]:
    """Entries whose inner ``*`` the automaton cannot honour (not after a Cyrillic stem)."""
    problems = []
    for it in items:
        try:
            expand_inner_stars(str(it))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    return problems
