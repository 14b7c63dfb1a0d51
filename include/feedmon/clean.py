"""Turn a feed item's HTML into clean plain text, and pull the dateline and agency credit out of it.

Agency copy reaches us decorated by every outlet that carries it: the title repeated as the first
line, the lede printed twice (once with a ``MOSCOW:`` dateline, once without), credits such as
``AP -`` or ``(Reuters)``, site footers, comment widgets, and broken entities (``#39;``) that were
escaped once too often or not at all. Dedup and tagging compare *text*, so all of that has to go
the same way for every copy, and fast: the 1M-article benchmark runs through here.

Two kinds of junk removal (see ``docs/cleaning.md``):

* rules from :mod:`feedmon/data/clean_rules.yaml` (:class:`CleanRules`), documented and
  overridable with ``FEEDMON_CLEAN_RULES``;
* learned per-source boilerplate (:class:`feedmon.boilerplate.BoilerplateModel`).
"""

from __future__ import annotations

import copy
import html as htmllib
import os
import re
import string
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from feedmon.models import CleanText

if TYPE_CHECKING:
    from feedmon.boilerplate import BoilerplateModel

__all__ = ["AGENCY_FEED", "CleanRules", "clean_article", "clean_title", "match_key", "normalize_text"]

#: ``agency`` recorded for copy that says it came "from an agency feed" without naming the agency.
AGENCY_FEED = "agency"

# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------

_LIST_KEYS = (
    "drop_selectors",
    "line_patterns",
    "paragraph_patterns",
    "agency_disclaimers",
    "stop_patterns",
    "inline_patterns",
    "url_patterns",
    "title_patterns",
    "dateline_stopwords",
    "dateline_not_places",
)


_ESCAPE = re.compile(r"\\.")


def _check(patterns: list[str]) -> None:
    for p in patterns:  # compile one by one so a bad entry is named in the error
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"bad pattern in clean rules: {p!r}: {exc}") from None


def _flags(patterns: list[str]) -> int:
    """Rules are matched against lower-cased text; IGNORECASE (2-3x slower in ``re``) only when needed."""
    return re.IGNORECASE if any(c.isupper() for p in patterns for c in _ESCAPE.sub("", p)) else 0


def _each(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
    """Patterns compiled one by one: ``re`` skips ahead to a leading literal, not in an alternation."""
    _check(patterns)
    return tuple(re.compile(p, _flags([p])) for p in patterns)


def _alternation(patterns: list[str]) -> re.Pattern[str] | None:
    """One compiled regex for a list of patterns: one C-level scan per line instead of N."""
    if not patterns:
        return None
    _check(patterns)
    return re.compile("|".join(f"(?:{p})" for p in patterns), _flags(patterns))


@dataclass(frozen=True)
class _Junk:
    """One paragraph pattern or agency disclaimer, compiled on its own.

    Not one big alternation: ``re`` can skip ahead to a pattern's leading literal ("auto",
    "all rights"), which it cannot do for an alternation of groups (measured 1 µs vs 14 µs
    per line).
    """

    regex: re.Pattern[str]
    anchored: bool  # several ``^`` patterns share one regex, tried at the start only
    disclaimer: bool


def _junk_list(junk: list[tuple[str, bool]]) -> tuple[_Junk, ...]:
    """Disclaimers before paragraph patterns; per kind, the ``^`` ones as one alternation
    (one ``match`` call), the others one by one (``search`` skips ahead to their literal)."""
    _check([p for p, _ in junk])
    out: list[_Junk] = []
    for disclaimer in (True, False):
        anchored = [p[1:] for p, d in junk if d is disclaimer and p.startswith("^")]
        if anchored:
            if disclaimer:  # keep them apart: each may name its own group ``agency``
                out += [_Junk(re.compile(p, _flags([p])), True, True) for p in anchored]
            else:
                out.append(_Junk(re.compile("|".join(f"(?:{p})" for p in anchored), _flags(anchored)), True, False))
        out += [
            _Junk(re.compile(p, _flags([p])), False, disclaimer)
            for p, d in junk
            if d is disclaimer and not p.startswith("^")
        ]
    return tuple(out)


_SIMPLE_TAG = re.compile(r"[a-zA-Z][\w-]*")


def _split_selectors(
    selectors: list[str],
) -> tuple[tuple[str, ...], frozenset[str], frozenset[str], str, frozenset[str] | None, tuple[str, ...]]:
    """``(tags, .classes, #ids, other selectors as one CSS string, their class/id tokens, their attributes)``.

    lexbor's CSS engine costs ~30 µs per query even when nothing matches, so the common selector
    shapes avoid it: plain tags go with ``strip_tags`` (or a regex for void ones), bare ``.class``
    and ``#id`` selectors are cut out of the markup as strings (:func:`_cut_marked`). Only the rest
    goes to a CSS query, and only when the markup has one of the tokens or attributes they name
    (tokens None: always).
    """
    tags: list[str] = []
    classes: set[str] = set()
    ids: set[str] = set()
    other: list[str] = []
    tokens: set[str] | None = set()
    attrs: set[str] = set()
    for group in selectors:
        for sel in (x.strip() for x in group.split(",")):
            if not sel:
                continue
            if _SIMPLE_TAG.fullmatch(sel):
                tags.append(sel.lower())
                continue
            if sel[0] in ".#" and _SIMPLE_TAG.fullmatch(sel[1:]):
                (classes if sel[0] == "." else ids).add(sel[1:])
                continue
            other.append(sel)
            found = re.findall(r"[.#]([\w-]+)", sel)
            named = re.findall(r"\[([\w-]+)", sel)
            attrs.update(named)
            if tokens is not None:
                if found or named:
                    tokens.update(found)
                else:
                    tokens = None
    return (
        tuple(dict.fromkeys(tags)),
        frozenset(classes),
        frozenset(ids),
        ", ".join(other),
        (frozenset(tokens) if tokens is not None else None),
        tuple(sorted(attrs)),
    )


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Lists extend (unless named in ``replace:``), mappings merge, scalars replace."""
    out = copy.deepcopy(base)
    replace = set(extra.get("replace") or [])
    for key, value in extra.items():
        if key == "replace":
            continue
        old = out.get(key)
        if isinstance(old, list) and isinstance(value, list) and key not in replace:
            out[key] = old + [v for v in value if v not in old]
        elif isinstance(old, dict) and isinstance(value, dict) and key not in replace:
            merged = dict(old)
            merged.update(value)
            out[key] = merged
        else:
            out[key] = value
    return out


@dataclass
class CleanRules:
    """The compiled junk rules. Build with :meth:`load`; the raw mapping stays in ``data``."""

    data: dict[str, Any]
    drop_void: re.Pattern[str] | None = None  # void elements among the selectors, removed by regex
    drop_tag_names: tuple[str, ...] = ()
    drop_tags: re.Pattern[str] | None = None  # finds any of drop_tag_names in markup
    drop_classes: frozenset[str] = frozenset()
    drop_ids: frozenset[str] = frozenset()
    drop_css: str = ""
    drop_css_tokens: frozenset[str] | None = None
    drop_css_attrs: tuple[str, ...] = ()
    line_re: re.Pattern[str] | None = None
    junk: tuple[_Junk, ...] = ()  # paragraph patterns and agency disclaimers
    stop_re: re.Pattern[str] | None = None
    inline: tuple[re.Pattern[str], ...] = ()
    url_re: re.Pattern[str] | None = None
    title_re: re.Pattern[str] | None = None
    drop_bare_urls: bool = True
    backslash_continuations: bool = True
    agency_names: dict[str, str] = field(default_factory=dict)
    dateline_stopwords: frozenset[str] = frozenset()
    not_places: frozenset[str] = frozenset()
    boilerplate: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CleanRules:
        """Compile a rules mapping (already merged)."""
        for key in _LIST_KEYS:
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"clean rules: {key!r} must be a list of strings (quote YAML words ON/YES/NO)")
        names: dict[str, str] = {}
        for canonical, spellings in (data.get("agencies") or {}).items():
            for s in [canonical, *(spellings or [])]:
                names[_fold(str(s)).lower()] = str(canonical)
        junk = [(p, False) for p in data.get("paragraph_patterns") or []]
        junk += [(p, True) for p in data.get("agency_disclaimers") or []]
        tag_names, classes, ids, css, css_tokens, css_attrs = _split_selectors(data.get("drop_selectors") or [])
        void = [t for t in tag_names if t in _VOID_TAGS]
        tag_names = tuple(t for t in tag_names if t not in _VOID_TAGS)
        return cls(
            data=data,
            drop_void=re.compile(rf"<(?:{'|'.join(void)})\b[^>]*>", re.IGNORECASE) if void else None,
            drop_tag_names=tag_names,
            drop_tags=re.compile(rf"<(?:{'|'.join(tag_names)})\b", re.IGNORECASE) if tag_names else None,
            drop_classes=classes,
            drop_ids=ids,
            drop_css=css,
            drop_css_tokens=css_tokens,
            drop_css_attrs=css_attrs,
            line_re=_alternation(data.get("line_patterns") or []),
            junk=_junk_list(junk),
            stop_re=_alternation(data.get("stop_patterns") or []),
            inline=_each(data.get("inline_patterns") or []),
            url_re=_alternation(data.get("url_patterns") or []),
            title_re=_alternation(data.get("title_patterns") or []),
            drop_bare_urls=bool(data.get("drop_bare_urls", True)),
            backslash_continuations=bool(data.get("backslash_continuations", True)),
            agency_names=names,
            dateline_stopwords=frozenset(w.upper() for w in data.get("dateline_stopwords") or []),
            not_places=frozenset(w.lower() for w in data.get("dateline_not_places") or []),
            boilerplate=dict(data.get("boilerplate") or {}),
        )

    @classmethod
    def load(cls, path: str | None = None) -> CleanRules:
        """The packaged rules, with ``path`` (or else ``$FEEDMON_CLEAN_RULES``) merged over them."""
        base = yaml.safe_load(resources.files("feedmon").joinpath("data/clean_rules.yaml").read_text("utf-8"))
        user = path or os.environ.get("FEEDMON_CLEAN_RULES") or None
        if user:
            extra = yaml.safe_load(Path(user).expanduser().read_text(encoding="utf-8")) or {}
            if not isinstance(extra, dict):
                raise ValueError(f"clean rules file {user}: top level must be a mapping")
            base = _merge(base, extra)
        return cls.from_dict(base)

    def agency_name(self, credit: str) -> str | None:
        """Canonical short name for a known agency spelling, else None."""
        return self.agency_names.get(_fold(credit).strip().lower())


@lru_cache(maxsize=8)
def _cached_rules(env_value: str | None) -> CleanRules:
    return CleanRules.load(env_value)


def default_rules() -> CleanRules:
    """The rules :func:`clean_article` uses when none are passed (cached per ``FEEDMON_CLEAN_RULES``)."""
    return _cached_rules(os.environ.get("FEEDMON_CLEAN_RULES") or None)


# ---------------------------------------------------------------------------------------------
# Text normalisation
# ---------------------------------------------------------------------------------------------

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
_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
    }
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


_FOLD_PAIRS = tuple((chr(k), v) for k, v in _FOLD.items())
_SPACE_PAIRS = tuple((chr(k), v or "") for k, v in _SPACES.items())


def _replace_pairs(s: str, pairs: tuple[tuple[str, str], ...]) -> str:
    """``str.translate`` with a dict costs ~0.3 µs per character on non-ASCII text; a few
    ``in`` tests (memchr speed) and ``replace`` only for the characters present are far cheaper."""
    for a, b in pairs:
        if a in s:
            s = s.replace(a, b)
    return s


def _fold(s: str) -> str:
    """Typographic quotes and dashes to ASCII: for matching rules, never for stored text."""
    return s if s.isascii() else _replace_pairs(s, _FOLD_PAIRS)


def match_key(s: str) -> str:
    """Comparison key that ignores case, punctuation, hyphens and spacing (``NagornoKarabakh``)."""
    if s.isascii():
        return s.lower().encode("ascii").translate(None, _ASCII_DROP).decode("ascii")
    # NFKC here (never for stored text): full-width letters, ligatures, "½" compare as ASCII
    return _KEY_DROP.sub("", unicodedata.normalize("NFKC", s).casefold())


def _repair_entities(s: str) -> str:
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


def _fix_unicode(s: str) -> str:
    if s.isascii():
        return s
    if ftfy is not None and _MOJIBAKE_HINT.search(s):
        s = ftfy.fix_text(s, _FTFY_CONFIG)
    if not unicodedata.is_normalized("NFC", s):
        s = unicodedata.normalize("NFC", s)
    return s


def _tidy(s: str) -> str:
    """Spaces collapsed, lines stripped, at most one blank line between paragraphs."""
    if not s.isascii():
        s = _replace_pairs(s, _SPACE_PAIRS)
    elif "\t" in s or "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if "  " in s or "\f" in s or "\v" in s:
        s = _WS_RUN.sub(" ", s)
    if "\n" in s:
        s = s.replace(" \n", "\n").replace("\n ", "\n")
        if "\n\n\n" in s:
            s = _NL_RUN.sub("\n\n", s)
    return s.strip()


def _backslashes(s: str) -> str:
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
        s = _repair_entities(s)
        if "&" in s:
            s = htmllib.unescape(s)
    if (rules or default_rules()).backslash_continuations:
        s = _backslashes(s)
    return _tidy(_fix_unicode(s))


# ---------------------------------------------------------------------------------------------
# HTML to paragraphs
# ---------------------------------------------------------------------------------------------

_PARA_MARK = "\ue001"
_LINE_MARK = "\ue000"
_BLOCK_TAGS = (
    "p|div|section|article|header|footer|main|blockquote|pre|h[1-6]|ul|ol|li|dl|dt|dd|hr|figure|"
    "figcaption|address|center|table|caption"
)
# A mark goes in front of every block tag (opening and closing) and <br>: constant replacements,
# which ``re`` does in C (a template such as r"\1" costs a Python call per match on 3.11).
_BLOCK_RE = re.compile(rf"<(?=/?(?:{_BLOCK_TAGS})\b)", re.IGNORECASE)
_BR_RE = re.compile(r"<(?=br\b)", re.IGNORECASE)
_CELL_RE = re.compile(r"<(?=/?t[dhr]\b)", re.IGNORECASE)
_HAS_TAG = re.compile(r"<[a-zA-Z!/][^>]*>")
_HAS_STRUCTURE = re.compile(rf"<(?:br|{_BLOCK_TAGS})\b", re.IGNORECASE)
# Markup that was escaped once too often shows up as tags inside the decoded text.
_ESCAPED_MARKUP = re.compile(
    r"</?(?:a|b|i|u|em|strong|font|span|p|br|div|img|sup|sub|small|big|blockquote|ul|li)\b[^<>]{0,400}>",
    re.IGNORECASE,
)


def _html_to_text(markup: str, rules: CleanRules, depth: int = 0) -> str:
    """Plain text with ``\\n`` between lines and ``\\n\\n`` between paragraphs."""
    from selectolax.lexbor import LexborHTMLParser  # imported lazily: the module loads fast

    structured = bool(_HAS_STRUCTURE.search(markup))
    if structured:
        markup = _BR_RE.sub(_LINE_MARK + "<", markup)
        markup = _BLOCK_RE.sub(_PARA_MARK + "<", markup)
        markup = _CELL_RE.sub(" <", markup)
    if (rules.drop_classes or rules.drop_ids) and ("class" in markup or "id" in markup):
        markup = _cut_marked(markup, rules)
    if rules.drop_void is not None and "<" in markup:
        markup = rules.drop_void.sub("", markup)  # void elements have no content: a regex is exact
    tree = LexborHTMLParser(markup)
    if rules.drop_tag_names and rules.drop_tags is not None and rules.drop_tags.search(markup):
        tree.strip_tags(list(rules.drop_tag_names), recursive=True)
    if rules.drop_css and _may_match_css(markup, rules):
        for node in tree.css(rules.drop_css):
            node.decompose()
    root = tree.body if tree.body is not None else tree.root
    text = root.text(deep=True, separator="") if root is not None else ""
    if structured:
        # markup whitespace is not meaningful: only the block/br marks make breaks
        text = " ".join(text.split())
        text = text.replace(_LINE_MARK, "\n").replace(_PARA_MARK, "\n\n")
    if depth == 0 and _ESCAPED_MARKUP.search(text):
        # keep the breaks found so far: the second parse collapses plain newlines
        again = "<p>" + text.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>" if structured else text
        return _html_to_text(again, rules, depth + 1)
    return text


_CLASS_ATTR = re.compile(r"""class\s*=\s*["']?([^"'>]*)""")
_ID_ATTR = re.compile(r"""\sid\s*=\s*["']?([^"'>]*)""")
_VOID_TAGS = frozenset({"img", "input", "embed", "source", "track", "wbr", "area", "param"})


# Every attribute value; the name before "=" is checked in Python. (A case-insensitive
# "(class|id)=" regex has no literal to skip ahead to and is ~20x slower than this one.)
_ATTR_VALUE = re.compile(r"""=\s*("[^"]*"|'[^']*'|[^\s>"']+)""")
_TAG_NAME = re.compile(r"<([a-zA-Z][\w-]*)")


@lru_cache(maxsize=64)
def _tag_re(tag: str) -> re.Pattern[str]:
    return re.compile(rf"<(/?){re.escape(tag)}\b[^>]*>", re.IGNORECASE)


def _close_of(markup: str, tag: str, pos: int) -> int:
    """End offset of the tag closing the ``tag`` element opened before ``pos``; -1 if unbalanced."""
    depth = 1
    for m in _tag_re(tag).finditer(markup, pos):
        if m.group(1):
            depth -= 1
            if depth == 0:
                return m.end()
        elif not m.group(0).endswith("/>"):
            depth += 1
    return -1


def _cut_marked(markup: str, rules: CleanRules) -> str:
    """Cut out the elements whose class or id is one of the ``.class`` / ``#id`` drop selectors.

    String work on the markup, ~20x cheaper than a lexbor CSS query; an element whose end cannot be
    found (unbalanced markup) is left for the parser and shows up as text, never half-cut.
    """
    out: list[str] = []
    pos = 0
    for m in _ATTR_VALUE.finditer(markup):
        if m.start() < pos:
            continue  # inside an element already cut
        head = markup[max(0, m.start() - 8) : m.start()].rstrip().lower()
        value = m.group(1).strip("\"'")
        if head.endswith("class") and head[-6:-5].isspace():
            if rules.drop_classes.isdisjoint(value.split()):
                continue
        elif head.endswith("id") and head[-3:-2].isspace():  # not "data-id="
            if value not in rules.drop_ids:
                continue
        else:
            continue
        start = markup.rfind("<", pos, m.start())
        tm = _TAG_NAME.match(markup, start) if start >= 0 else None
        open_end = markup.find(">", m.end())
        if tm is None or open_end < 0 or "<" in markup[tm.end() : m.start()]:
            continue
        tag = tm.group(1).lower()
        if tag in _VOID_TAGS or markup[open_end - 1] == "/":
            end = open_end + 1
        else:
            end = _close_of(markup, tag, open_end + 1)
            if end < 0:
                continue
        out.append(markup[pos:start])
        pos = end
    if not out:
        return markup
    out.append(markup[pos:])
    return "".join(out)


def _may_match_css(markup: str, rules: CleanRules) -> bool:
    """Cheap necessary condition for the class/id/attribute selectors (lexbor's CSS costs ~30 µs)."""
    if rules.drop_css_tokens is None:
        return True
    tokens = rules.drop_css_tokens
    if any(a in markup for a in rules.drop_css_attrs):
        return True
    if "class" in markup:
        for value in _CLASS_ATTR.findall(markup):
            if not tokens.isdisjoint(value.split()):
                return True
    if " id" in markup:
        for value in _ID_ATTR.findall(markup):
            if not tokens.isdisjoint(value.split()):
                return True
    return False


def _to_paragraphs(markup: str, rules: CleanRules) -> list[list[str]]:
    if not markup:
        return []
    markup = _repair_entities(markup)
    if rules.backslash_continuations:
        markup = _backslashes(markup)
    if "<" in markup and _HAS_TAG.search(markup):
        text = _html_to_text(markup, rules)
    else:
        text = htmllib.unescape(markup) if "&" in markup else markup
        if _ESCAPED_MARKUP.search(text):
            text = _html_to_text(text, rules, 1)
    text = _tidy(_fix_unicode(text))
    if not text:
        return []
    return [p.split("\n") for p in text.split("\n\n")]


# ---------------------------------------------------------------------------------------------
# Credits and datelines
# ---------------------------------------------------------------------------------------------

_DASH = r"(?:-{1,3}|–|—)"
_CAPS_WORD = r"[A-Z][A-Z.'’&/-]*[A-Z.]"  # "ST. LOUIS", "SEATTLE/NEW YORK"
_TITLE_WORD = r"[A-Z][\w.'’&-]*"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATELINE_RE = re.compile(
    rf"""^(?P<place>{_CAPS_WORD}(?:\s{_CAPS_WORD}){{0,3}}|{_TITLE_WORD}(?:\s{_TITLE_WORD}){{0,2}})
        (?:,\s*(?P<region>{_TITLE_WORD}(?:\s{_TITLE_WORD}){{0,2}}))?
        (?:,?\s+(?P<date>{_MONTH}\s+\d{{1,2}}(?:,\s*\d{{4}})?))?
        \s*(?:\((?P<credit>[^()]{{1,40}})\))?
        \s*(?P<sep>{_DASH}|:)(?P<gap>\s*)""",
    re.VERBOSE,
)
# "Montana jury orders... to appeal. NEW YORK (Reuters) - A Montana jury...": teaser, then the
# agency lede with its dateline. Only with a credit in brackets, which a sentence never has.
_CREDIT_DASH_RE = re.compile(rf"\((?P<credit>[^()]{{1,40}})\)\s*{_DASH}\s*")
_PLACE_BEFORE_RE = re.compile(
    rf"""(?<=[.!?"”]\s)(?P<place>{_CAPS_WORD}(?:\s{_CAPS_WORD}){{0,3}})
        (?:,\s*(?P<region>{_TITLE_WORD}(?:\s{_TITLE_WORD}){{0,2}}))?\s*$""",
    re.VERBOSE,
)
# AP copy with the byline glued on: "By LAURAN NEERGAARD WASHINGTON (AP) -- ". Name = the first two
# capitalised words (three with a middle initial), place = the rest; only before a known agency.
_AP_BYLINE_RE = re.compile(
    rf"""^By\s+(?P<words>{_CAPS_WORD}(?:\s{_CAPS_WORD}){{2,6}})
        (?:,\s*(?P<region>{_TITLE_WORD}(?:\s{_TITLE_WORD}){{0,2}}))?
        \s*\((?P<credit>[^()]{{1,40}})\)\s*{_DASH}\s*""",
    re.VERBOSE,
)
_PAREN_CREDIT_RE = re.compile(rf"^\((?P<credit>[^()]{{1,40}})\)\s*(?P<sep>{_DASH}|:)?\s*")
_LEAD_CREDIT_RE = re.compile(rf"^(?P<credit>[^\s()\-–—:][^()\n]{{0,38}}?)\s+{_DASH}\s+")
_DOMAIN_CREDIT = re.compile(r"^[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|co\.uk|info|tv)$", re.IGNORECASE)
_TITLE_PAREN_CREDIT = re.compile(r"\s*[(\[](?P<credit>[^()\[\]]{1,40})[)\]]\s*$")
_TITLE_DASH_CREDIT = re.compile(rf"\s+(?:{_DASH}|\|)\s+(?P<credit>[^-–—|]{{1,40}})$")
_CLOSING_CREDIT = re.compile(
    r"\s(?:[(\[](?P<credit>[^()\[\]]{1,40})[)\]]|(?:-{1,2}|–|—)\s*(?P<dashed>[\w .'-]{2,40}?))\.?$"
)
_TRAILING_CREDIT = re.compile(rf"^(?:{_DASH}\s*|\(\s*)?(?:by\s+)?(?P<credit>[^()]{{1,40}}?)\s*\)?\.?$", re.I)


@dataclass
class _Credits:
    dateline: str | None = None
    agency: str | None = None
    title_credit: str | None = None  # unknown credit seen in the title, e.g. "SPACE.com"
    title_credit_confirmed: bool = False  # the body opened with it too, so it is a credit

    def add_agency(self, name: str | None) -> None:
        if name and (self.agency is None or self.agency == AGENCY_FEED):
            self.agency = name


def _credit_name(credit: str, rules: CleanRules, title_credit: str | None) -> str | None:
    """Normalised agency name for a credit, or None if the text does not look like a credit."""
    credit = credit.strip()
    known = rules.agency_name(credit)
    if known:
        return known
    if title_credit and credit.lower() == title_credit.lower():
        return credit
    if _DOMAIN_CREDIT.match(credit):
        return credit
    return None


def _dateline_ok(m: re.Match[str], rules: CleanRules) -> bool:
    """Reject look-alikes: "BREAKING:", "COVID-19 cases", "US: ...", "Summary - ", "Jet Propulsion Lab --"."""
    place, credit = m.group("place"), m.group("credit")
    if not m.group("gap") and credit is None:
        return False
    words = place.replace(",", " ").split()
    if words[0].rstrip(".").upper() in rules.dateline_stopwords:
        return False
    if place.upper() == place:  # "MOSCOW:", "KABUL, Afghanistan -"
        return credit is not None or sum(c.isalpha() for c in place) >= 3
    if credit is not None:  # "London (Reuters) -"
        return True
    # "London - ", "Caracas, Venezuela - ": title case only before a spaced dash, not an organisation,
    # and followed by a sentence ("Reuters - Hopes -- and worries" is not a dateline)
    line = m.string
    if m.group("sep") == ":" or not line[m.start("sep") - 1].isspace():
        return False
    nxt = line[m.end() : m.end() + 1]
    if not nxt or not (nxt.isupper() or nxt.isdigit() or nxt in "\"“‘'"):
        return False
    return not any(w.rstrip(".").lower() in rules.not_places for w in words)


def _strip_dateline(line: str, rules: CleanRules, title_credit: str | None) -> tuple[str, str | None, str | None]:
    """``(rest, dateline, agency)``: a lede's leading credits and datelines removed.

    Up to three times, because outlets put their own dateline in front of the agency's
    ("MOSCOW: MOSCOW (Reuters) - ...", "FORT LAUDERDALE, Fla. - (KRT) - "); the first one found
    is recorded.
    """
    rest, dateline, agency = _strip_dateline_once(line, rules, title_credit)
    for _ in range(2):
        if rest is line:
            break
        line = rest
        rest, dateline2, agency2 = _strip_dateline_once(line, rules, title_credit)
        dateline, agency = dateline or dateline2, agency or agency2
    return rest, dateline, agency


def _strip_dateline_once(line: str, rules: CleanRules, title_credit: str | None) -> tuple[str, str | None, str | None]:
    agency = None
    dateline = None
    m = _LEAD_CREDIT_RE.match(line)
    if m:
        name = _credit_name(m.group("credit"), rules, title_credit)
        if name:
            agency, line = name, line[m.end() :]
    m = _PAREN_CREDIT_RE.match(line)
    if m and (m.group("sep") or rules.agency_name(m.group("credit"))):  # not "(The) peacekeeping..."
        agency = agency or rules.agency_name(m.group("credit")) or m.group("credit").strip()
        return line[m.end() :], dateline, agency
    m = _AP_BYLINE_RE.match(line) if line.startswith("By") else None
    if m and rules.agency_name(m.group("credit")):
        words = m.group("words").split()
        name_len = 3 if len(words) > 3 and len(words[1].rstrip(".")) == 1 else 2
        dateline = " ".join(words[name_len:]) + (f", {m.group('region')}" if m.group("region") else "")
        return line[m.end() :], dateline, agency or rules.agency_name(m.group("credit"))
    m = _DATELINE_RE.match(line)
    if m and _dateline_ok(m, rules):
        credit = m.group("credit")
        dateline = m.group("place") + (f", {m.group('region')}" if m.group("region") else "")
        if credit:
            agency = agency or rules.agency_name(credit) or credit.strip()
        return line[m.end() :], dateline, agency
    if agency is None and "(" in line:
        c = _CREDIT_DASH_RE.search(line, 0, 400)
        name = c and rules.agency_name(c.group("credit"))
        if c and name:
            before = line[: c.start()]
            p = _PLACE_BEFORE_RE.search(before, max(0, len(before) - 80))
            if p:
                agency = name
                dateline = p.group("place") + (f", {p.group('region')}" if p.group("region") else "")
                line = line[: p.start()] + line[c.end() :]
    return line, dateline, agency


def clean_title(title: str, rules: CleanRules | None = None) -> tuple[str, str | None, str | None]:
    """``(title, agency, unknown_credit)``: normalised title without ``(AP)``-style credits or junk."""
    rules = rules or default_rules()
    t = normalize_text(title, rules=rules)
    if "<" in t and _ESCAPED_MARKUP.search(t):
        t = _ESCAPED_MARKUP.sub("", t)  # escaped markup in titles ("Poor &lt;b&gt;...&lt;/b&gt;")
    t = " ".join(t.split())
    if rules.title_re is not None:
        low = _low(t)
        spans = [m.span() for m in rules.title_re.finditer(low) if m.end() > m.start()]
        for a, b in reversed(spans):
            t = t[:a] + t[b:]
        t = t.strip()
    agency = None
    unknown = None
    m = _TITLE_PAREN_CREDIT.search(t)
    if m:
        credit = m.group("credit").strip()
        known = rules.agency_name(credit)
        if known:
            agency, t = known, t[: m.start()].rstrip()
        else:
            unknown = credit  # stripped only if the body confirms it is a credit
    else:
        m = _TITLE_DASH_CREDIT.search(t)
        if m and rules.agency_name(m.group("credit")):
            agency, t = rules.agency_name(m.group("credit")), t[: m.start()].rstrip()
    return t, agency, unknown


# ---------------------------------------------------------------------------------------------
# Junk
# ---------------------------------------------------------------------------------------------

_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_ONLY_URLS = re.compile(r"^(?:\s*(?:https?://|www\.)[^\s<>\"']+)+\s*$", re.IGNORECASE)


_MAX_LINE_RULE = 160  # line/stop patterns: widget texts are short, fullmatch on longer lines is waste
_MAX_JUNK = 300  # paragraph patterns and disclaimers: longer lines are article copy
_TAIL = 80  # trailing (inline) patterns look at the end of the line only


def _clean_line(line: str, low: str, rules: CleanRules) -> str | None:
    """The line with trailing and URL junk removed, or None when the whole line is junk.

    ``low`` is the folded, lower-cased line (same length as ``line``) that rules match against.
    """
    if "http" in low or "www." in low:
        if _ONLY_URLS.match(line):
            if rules.drop_bare_urls:
                return None
            if rules.url_re is not None and all(rules.url_re.search(u) for u in _URL_RE.findall(low)):
                return None
        if rules.url_re is not None:
            url_re = rules.url_re
            line = _URL_RE.sub(lambda m: "" if url_re.search(m.group(0).lower()) else m.group(0), line)
            line = " ".join(line.split())
            low = _low(line)
    if rules.inline:
        cut = len(low) - _TAIL if len(low) > _TAIL else 0
        m = _first_inline(low, cut, rules)
        if m and m.start() and low[m.start() - 1].isalnum() and low[m.start()].isalnum():
            m = None  # "spread more" is not "read more": trailing junk starts at a word boundary
        if m:
            line = line[: m.start()].rstrip(" ([")
            low = low[: m.start()].rstrip(" ([")
    if not line:
        return None
    if len(low) <= _MAX_LINE_RULE and rules.line_re is not None and rules.line_re.fullmatch(low):
        return None
    return line


def _first_inline(low: str, cut: int, rules: CleanRules) -> re.Match[str] | None:
    """The earliest trailing-junk match in ``low[cut:]`` (patterns searched one by one: fast)."""
    best = None
    for rx in rules.inline:
        m = rx.search(low, cut)
        if m is not None and (best is None or m.start() < best.start()):
            best = m
    return best


def _low(s: str) -> str:
    """Folded and lower-cased, keeping the length (so match offsets apply to the original)."""
    if s.isascii():
        return s.lower()
    folded = _replace_pairs(s, _FOLD_PAIRS)
    low = folded.lower()
    return low if len(low) == len(s) else folded


def _junk_match(low: str, rules: CleanRules) -> tuple[_Junk, re.Match[str]] | None:
    """The first paragraph pattern or agency disclaimer found in ``low`` (disclaimers first)."""
    for j in rules.junk:
        m = j.regex.match(low) if j.anchored else j.regex.search(low)
        if m is not None:
            return j, m
    return None


def _remove_junk(paras: list[list[str]], rules: CleanRules, credits: _Credits) -> list[list[str]]:
    out: list[list[str]] = []
    kept_any = False
    for para in paras:
        lines: list[str] = []
        for raw in para:
            low = _low(raw)
            n = len(low)
            if n <= _MAX_LINE_RULE and kept_any and rules.stop_re is not None and rules.stop_re.fullmatch(low):
                if lines:
                    out.append(lines)
                return out
            if n <= _MAX_JUNK:
                hit = _junk_match(low, rules)
                if hit:
                    _record_disclaimer(*hit, raw, rules, credits)
                    continue
            line = _clean_line(raw, low, rules)
            if line is not None:
                lines.append(line)
                kept_any = True
        if len(lines) > 1:
            joined = " ".join(lines)
            if len(joined) <= _MAX_JUNK:
                hit = _junk_match(_low(joined), rules)
                if hit:
                    _record_disclaimer(*hit, joined, rules, credits)
                    continue
        if lines:
            out.append(lines)
    return out


def _record_disclaimer(j: _Junk, m: re.Match[str], raw: str, rules: CleanRules, credits: _Credits) -> None:
    """An agency disclaimer marks agency copy: record the agency it names, else "agency"."""
    if not j.disclaimer:
        return
    named = None
    if "agency" in j.regex.groupindex and m.group("agency"):
        named = raw[m.start("agency") : m.end("agency")].strip()
    credits.add_agency((named and rules.agency_name(named)) or named or AGENCY_FEED)


# ---------------------------------------------------------------------------------------------
# Title, lede and dedup
# ---------------------------------------------------------------------------------------------

_BYLINE = re.compile(r"(?:by|BY|By)\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3}(?:\s*(?:,|and|&)\s+[\w.'’ -]{2,40})?$")
_LEDE_WINDOW = 6  # lines at the top where repeated/truncated ledes and datelines are looked for
_TRUNCATED = re.compile(r"(?:\.\.\.|…|\[…\]|\[\.\.\.\])\s*$")


def _strip_title(line: str, titles: tuple[str, ...], keys: tuple[str, ...]) -> str | None:
    """The line without a leading copy of the title; None when it *is* the title.

    ``titles`` are the clean title and the title as printed ("UPDATE 3-...", "... (Reuters)"):
    outlets repeat either.
    """
    key = match_key(line)
    if not key or key in keys:
        return None
    for title, title_key in zip(titles, keys, strict=True):
        glued = title_key and len(title_key) >= 12 and key.startswith(title_key)
        if glued and line.casefold().startswith(title.casefold()):
            rest = line[len(title) :].lstrip(" -–—:|.")
            if rest and not (rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"“‘'("):
                continue  # "Putin meets Erdogan in Sochi...": the lede merely starts like the title
            return rest or None
    return line


def _collapse(paras: list[list[str]], titles: tuple[str, ...], rules: CleanRules, credits: _Credits) -> list[list[str]]:
    """Drop repeated titles and ledes, extract the dateline, keep one copy of each line."""
    titles = tuple(sorted(dict.fromkeys(t for t in titles if t), key=len, reverse=True))  # "T (Reuters)" first
    title_keys = tuple(match_key(t) for t in titles)
    # flat view of (paragraph, line) for the window logic
    flat: list[list[Any]] = [[pi, text] for pi, para in enumerate(paras) for text in para]
    # 1. leading title copies (also "Title Title Lede..." glued in one line)
    while flat:
        rest = _strip_title(flat[0][1], titles, title_keys)
        if rest is None:
            flat.pop(0)
            continue
        if rest is flat[0][1]:
            break
        flat[0][1] = rest
    # 2. a byline over the lede ("By Deborah Cohen") is not text
    while flat and len(flat[0][1]) < 80 and _BYLINE.match(flat[0][1]):
        flat.pop(0)
    # 3. datelines/credits on the lede, and on later lines that repeat the lede
    keys: list[str] = []
    for i, item in enumerate(flat):
        text = item[1]
        if i < _LEDE_WINDOW:
            rest, dateline, agency = _strip_dateline(text, rules, credits.title_credit)
            if rest is not text:
                rest = _strip_title(rest, titles, title_keys) or ""  # "BAGHDAD - <title> <lede>"
                rest_key = match_key(rest)
                if i == 0 or (rest_key and rest_key in keys) or _near_copy(rest_key, keys):
                    item[1] = rest
                    if dateline and not credits.dateline:
                        credits.dateline = dateline
                    credits.add_agency(agency)
                    if credits.title_credit and agency and agency.lower() == credits.title_credit.lower():
                        credits.title_credit_confirmed = True
        keys.append(match_key(item[1]))
    # 4. one copy of each line: exact key anywhere; near copies (truncated) in the lede window
    best: dict[str, int] = {}
    drop: set[int] = set()
    for i, item in enumerate(flat):
        key = keys[i]
        if not key or key in title_keys:
            drop.add(i)
            continue
        j = best.get(key)
        if j is None and i < _LEDE_WINDOW:
            j = _near_index(key, item[1], flat, keys, best, i)
        if j is None:
            best[key] = i
            continue
        if len(item[1]) > len(flat[j][1]) and not _TRUNCATED.search(item[1]):
            flat[j][1] = item[1]  # the better copy (hyphens and punctuation kept) at the first place
        drop.add(i)
    out: list[list[str]] = [[] for _ in paras]
    for i, (pi, text) in enumerate(flat):
        if i not in drop:
            out[pi].append(text)
    return [p for p in out if p]


def _near_copy(key: str, keys: list[str]) -> bool:
    return len(key) >= 40 and any(len(k) >= 40 and (k.startswith(key) or key.startswith(k)) for k in keys)


def _near_index(
    key: str, text: str, flat: list[list[Any]], keys: list[str], best: dict[str, int], i: int
) -> int | None:
    """Index of an earlier lede line this one truncates or is truncated by (``...`` teasers)."""
    if len(key) < 40:
        return None
    for j in best.values():
        if j >= _LEDE_WINDOW:
            continue
        other = keys[j]
        if len(other) < 40:
            continue
        if other.startswith(key) or key.startswith(other):
            if key.startswith(other) and len(key) > len(other):
                # the later line is the full one: keep it in the first place
                flat[j][1] = text
                keys[j] = key
                best[key] = j
            return j
    return None


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def clean_article(
    title: str,
    html: str,
    *,
    source: str | None = None,
    rules: CleanRules | None = None,
    boilerplate: BoilerplateModel | None = None,
    article_key: str | None = None,
) -> CleanText:
    """Clean one feed item.

    ``boilerplate`` removes lines learned as junk for ``source``; with ``article_key`` the item is
    also *observed* by the model (before its learned removal, so what it learns never feeds back
    into what it sees). Without ``article_key`` the caller may ``observe()`` the returned text
    itself: the model is told which lines were removed from it and counts them too. Pure function
    of its inputs plus the model's frozen history.
    """
    rules = rules or default_rules()
    clean_t, title_agency, title_credit = clean_title(title or "", rules)
    credits = _Credits(agency=title_agency, title_credit=title_credit)
    paras = _to_paragraphs(html or "", rules)
    paras = _remove_junk(paras, rules, credits)
    printed = " ".join(normalize_text(title or "", rules=rules).split())
    paras = _collapse(paras, (clean_t, printed), rules, credits)
    if title_credit and credits.title_credit_confirmed:
        # the body opened with the same credit the title ends with: drop "(X)" from the title
        m = _TITLE_PAREN_CREDIT.search(clean_t)
        if m:
            clean_t = clean_t[: m.start()].rstrip()
    paras = _trailing_credit(paras, rules, credits)
    removed: list[str] = []
    if boilerplate is not None and source:
        if article_key is not None:
            boilerplate.observe(source, article_key, "\n".join(line for p in paras for line in p))
        kept: list[list[str]] = []
        for p in paras:
            lines = []
            for ln in p:
                (removed if boilerplate.is_boilerplate(source, ln) else lines).append(ln)
            if lines:
                kept.append(lines)
        paras = kept
    text = "\n\n".join("\n".join(p) for p in paras)
    if boilerplate is not None and source and article_key is None:
        # the caller may observe() the cleaned text: let the model count what it just removed
        boilerplate.note_removed(source, text, removed)
    return CleanText(title=clean_t, text=text, dateline=credits.dateline, agency=credits.agency)


def _trailing_credit(paras: list[list[str]], rules: CleanRules, credits: _Credits) -> list[list[str]]:
    """A last line that is only an agency credit ("-- AFP", "(Reuters)") is dropped and recorded."""
    if not paras:
        return paras
    last = paras[-1][-1]
    if len(last) > 50:
        # "... the ministry said. (AFP)", "... said Sunday. -- AP": a known agency closing the text
        m = _CLOSING_CREDIT.search(last, len(last) - 50)
        name = m and rules.agency_name(m.group("credit") or m.group("dashed"))
        if m and name:
            credits.add_agency(name)
            paras[-1][-1] = last[: m.start()].rstrip()
        return paras
    m = _TRAILING_CREDIT.match(last)
    name = m and rules.agency_name(m.group("credit"))
    if m and name:
        credits.add_agency(name)
        paras[-1].pop()
        if not paras[-1]:
            paras.pop()
        return paras
    m = _CLOSING_CREDIT.search(last)  # a short last line ending with a credit
    name = m and rules.agency_name(m.group("credit") or m.group("dashed"))
    if m and name:
        credits.add_agency(name)
        paras[-1][-1] = last[: m.start()].rstrip()
    return paras
