"""Text normalisation: broken entities, mojibake, Unicode forms, whitespace; and the comparison key.

Agency copy reaches us escaped once too often or not at all (``#39;``, ``&amp;quot;``), decoded with
the wrong charset, and spaced every which way; dedup and tagging compare *text*, so every copy
must come out of here the same way.
"""

from __future__ import annotations

import html as htmllib
import re
import string
import unicodedata
from typing import Any

from feedmon.clean.fold import replace_pairs
from feedmon.clean.rules import CleanRules, default_rules

__all__ = ["backslashes", "fix_unicode", "match_key", "normalize_text", "repair_entities", "tidy"]

# Entities escaped twice (``&amp;#39;``) or whose ``&`` was lost (`` #39;``, `` amp;``).
_DOUBLE_ESCAPED = re.compile(r"&amp;(?=#\d{2,6};|#x[0-9a-fA-F]{2,5};|[a-zA-Z]{2,8};)")
# AG-style copy replaced the "&" with a space: "team #39;s" was "team&#39;s", so one space goes too.
# (Patterns start with a literal so the regex engine can skip ahead: these run on every article.)
_BROKEN_NUMERIC_SPACED = re.compile(r" #(\d{2,5});")
_BROKEN_NUMERIC = re.compile(r"#(\d{2,5});")
_BROKEN_NAMED = re.compile(r" ?(?<![&\w])(amp|quot|lt|gt|nbsp|apos);")
_BROKEN_NAMES = ("amp;", "quot;", "lt;", "gt;", "nbsp;", "apos;")
_BACKSLASH = re.compile(r"\\+(\$)?")
_SPACES = str.maketrans(
    {
        "\u00a0": " ",
        "\u2007": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\u200a": " ",
        "\u2002": " ",
        "\u2003": " ",
        "\u3000": " ",
        "\t": " ",
        "\r": "\n",
        "\u2028": "\n",
        "\u2029": "\n\n",
        "\u00ad": None,  # soft hyphen
        "\u200b": None,
        # U+200C (zero-width non-joiner) stays: Persian spells words with it ("حمله‌ها", "قره‌باغ")
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
    }
)
# Cheap test for mojibake (UTF-8 read as Latin-1/cp1252) and C1 controls; ftfy runs only on hits
# because it costs ~100 µs per paragraph even on clean text.
_MOJIBAKE_HINT = re.compile(
    "[\x80-\x9f]|[ÂÃÐÑØÙâ][\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)
_WS_RUN = re.compile(r"[ \f\v]+")
_NL_RUN = re.compile(r"\n\n\n+")
_KEY_DROP = re.compile(r"[\W_]+")
_ASCII_DROP = (string.punctuation + string.whitespace).encode("ascii")

try:  # ftfy is a locked dependency; keep clean usable (minus mojibake repair) if it is missing
    import ftfy

    _FTFY_CONFIG: Any = ftfy.TextFixerConfig(explain=False, uncurl_quotes=False, unescape_html=False)
except ImportError:  # pragma: no cover
    ftfy = None  # type: ignore[assignment]


_SPACE_PAIRS = tuple((chr(k), v or "") for k, v in _SPACES.items())


def match_key(s: str) -> str:
    """Comparison key that ignores case, punctuation, hyphens and spacing (``NagornoKarabakh``)."""
    if s.isascii():
        return s.lower().encode("ascii").translate(None, _ASCII_DROP).decode("ascii")
    # NFKC here (never for stored text): full-width letters, ligatures, "½" compare as ASCII
    return _KEY_DROP.sub("", unicodedata.normalize("NFKC", s).casefold())


def repair_entities(s: str) -> str:
    """Rewrite double-escaped and ``&``-less entities as proper ones, for the decoder to decode."""
    if "&amp;" in s:
        for _ in range(3):
            fixed = _DOUBLE_ESCAPED.sub("&", s)
            if fixed == s:
                break
            s = fixed
    if "#" in s:
        if " #" in s:
            s = _BROKEN_NUMERIC_SPACED.sub(_numeric_entity, s)
        text = s
        if s.count("#") == s.count("&#"):
            return _repair_named(s)

        def bare(m: re.Match[str]) -> str:
            start = m.start()
            return m.group(0) if start and text[start - 1] == "&" else _numeric_entity(m)

        s = _BROKEN_NUMERIC.sub(bare, s)
    return _repair_named(s)


def _repair_named(s: str) -> str:
    if ";" in s and any(n in s for n in _BROKEN_NAMES):
        s = _BROKEN_NAMED.sub(_named_entity, s)
    return s


def _named_entity(m: re.Match[str]) -> str:
    return f"&{m.group(1)};"


def _numeric_entity(m: re.Match[str]) -> str:
    code = int(m.group(1))
    # 32..126 printable ASCII, 128..159 cp1252 punctuation (#151; is an em dash), then real text
    if code < 128:
        if not (33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126):
            return m.group(0)  # "#12;" or "#65;" in prose is a number, not a lost entity
    elif code > 0x2FFFF:
        return m.group(0)
    return f"&#{code};"


def fix_unicode(s: str) -> str:
    if s.isascii():
        return s
    if ftfy is not None and _MOJIBAKE_HINT.search(s):
        s = ftfy.fix_text(s, _FTFY_CONFIG)
    if not unicodedata.is_normalized("NFC", s):
        s = unicodedata.normalize("NFC", s)
    return s


def tidy(s: str) -> str:
    """Spaces collapsed, lines stripped, at most one blank line between paragraphs."""
    if not s.isascii():
        s = replace_pairs(s, _SPACE_PAIRS)
    elif "\t" in s or "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if "  " in s or "\f" in s or "\v" in s:
        s = _WS_RUN.sub(" ", s)
    if "\n" in s:
        s = s.replace(" \n", "\n").replace("\n ", "\n")
        if "\n\n\n" in s:
            s = _NL_RUN.sub("\n\n", s)
    return s.strip()


def backslashes(s: str) -> str:
    """AG-style ``\\`` line continuations become spaces; ``\\$`` becomes ``$``."""
    return _BACKSLASH.sub(lambda m: "$" if m.group(1) else " ", s) if "\\" in s else s


def normalize_text(s: str, *, rules: CleanRules | None = None) -> str:
    """Decode (also broken) entities, repair mojibake, NFC-normalise and tidy whitespace.

    Usable on titles and on plain text. NFC, not NFKC: NFKC would rewrite ``km²`` and ``½``;
    full-width forms and ligatures are handled by ftfy when it runs, and :func:`match_key` does
    the aggressive folding where only comparison matters.
    """
    if not s:
        return ""
    if "&" in s or "#" in s or ";" in s:
        s = repair_entities(s)
        if "&" in s:
            s = htmllib.unescape(s)
    if (rules or default_rules()).backslash_continuations:
        s = backslashes(s)
    return tidy(fix_unicode(s))
