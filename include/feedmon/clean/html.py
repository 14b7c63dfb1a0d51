"""HTML to paragraphs of plain text, with the rule file's drop selectors cut out first.

Fast paths matter here (the 1M-article benchmark runs through it): plain tags, ``.class`` and
``#id`` selectors are handled as strings, and lexbor's CSS engine only runs when a selector may match.
"""

from __future__ import annotations

import html as htmllib
import re
from functools import lru_cache

from feedmon.clean.rules import VOID_TAGS, CleanRules
from feedmon.clean.text import backslashes, fix_unicode, repair_entities, tidy

__all__ = ["ESCAPED_MARKUP", "plain_line", "to_paragraphs"]

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
ESCAPED_MARKUP = re.compile(
    r"</?(?:a|b|i|u|em|strong|font|span|p|br|div|img|sup|sub|small|big|blockquote|ul|li)\b[^<>]{0,400}>",
    re.IGNORECASE,
)


def html_to_text(markup: str, rules: CleanRules, depth: int = 0) -> str:
    """Plain text with ``\\n`` between lines and ``\\n\\n`` between paragraphs."""
    # checked before the marks go in (they are not ASCII): see _simple_markup_text
    may_skip_parser = markup.isascii() and "\r" not in markup and "\x00" not in markup
    structured = bool(_HAS_STRUCTURE.search(markup))
    if structured:
        markup = _BR_RE.sub(_LINE_MARK + "<", markup)
        markup = _BLOCK_RE.sub(_PARA_MARK + "<", markup)
        markup = _CELL_RE.sub(" <", markup)
    if (rules.drop_classes or rules.drop_ids) and ("class" in markup or "id" in markup):
        markup = _cut_marked(markup, rules)
    if rules.drop_void is not None and "<" in markup:
        markup = rules.drop_void.sub("", markup)  # void elements have no content: a regex is exact
    strip = bool(rules.drop_tag_names and rules.drop_tags is not None and rules.drop_tags.search(markup))
    decompose = bool(rules.drop_css and _may_match_css(markup, rules))
    simple = _simple_markup_text(markup) if may_skip_parser and not (strip or decompose) else None
    if simple is not None:
        text = simple
    else:
        from selectolax.lexbor import LexborHTMLParser  # imported lazily: the module loads fast

        tree = LexborHTMLParser(markup)
        if strip:
            tree.strip_tags(list(rules.drop_tag_names), recursive=True)
        if decompose:
            for node in tree.css(rules.drop_css):
                node.decompose()
        root = tree.body if tree.body is not None else tree.root
        text = root.text(deep=True, separator="") if root is not None else ""
    if structured:
        # markup whitespace is not meaningful: only the block/br marks make breaks
        text = " ".join(text.split())
        text = text.replace(_LINE_MARK, "\n").replace(_PARA_MARK, "\n\n")
    if depth == 0 and ESCAPED_MARKUP.search(text):
        # keep the breaks found so far: the second parse collapses plain newlines
        again = "<p>" + text.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>" if structured else text
        return html_to_text(again, rules, depth + 1)
    return text


# Elements that are nothing but their text to an HTML parser wherever they stand (the name ends at
# HTML's own whitespace, not at Python's \s: "\x0b" belongs to the name): no raw-text or
# template content, no table (foster parenting moves text), nothing that belongs in <head>.
_SIMPLE_TAG = re.compile(r"</?(?:a|b|i|u|em|strong|span|p|div|br|img)(?:[ \t\n\f][^<>]*)?/?>", re.IGNORECASE)
# What the parser drops before the first start tag or letter: whitespace and stray end tags (``</br>``
# is a <br>, a start).
_IGNORED_LEAD = re.compile(
    r"(?:[ \t\n\f]|</(?:a|b|i|u|em|strong|span|p|div|img)(?:[ \t\n\f][^<>]*)?/?>)*", re.IGNORECASE
)


def _simple_markup_text(markup: str) -> str | None:
    """The text lexbor would give for ``markup`` (body text, no separator), without parsing, when
    the markup is text and :data:`_SIMPLE_TAG` tags only; None when it needs the parser.

    Most feed items are ``<p>`` and ``<a href>`` around plain text: their text is the markup without
    its tags, which one regex gives in a fraction of the parse. The caller makes sure the markup is
    ASCII (the block/line marks aside) with no CR or NUL, which the parser rewrites or drops; a
    comment or any other ``<``/``>`` falls back to the parser.
    """
    lead = _IGNORED_LEAD.match(markup)
    rest = markup[lead.end() :] if lead else markup
    if rest.startswith("&"):
        return None  # a reference to whitespace (&#12;) would be dropped with the lead: leave it to the parser
    text = _SIMPLE_TAG.sub("", rest)
    if "<" in text or ">" in text:
        return None
    if "&" not in text:
        return text
    # html.unescape decodes references by the HTML5 rules too, but drops references to control
    # characters and noncharacters, which the parser keeps: numeric ones must name a plain character.
    # Decoded run by run: a reference never spans a tag ("&<b>#39;" is no apostrophe).
    runs = _SIMPLE_TAG.split(rest)
    if "&#" in text and not all(_plain_char(m) for run in runs for m in _NUMERIC_REF.finditer(run)):
        return None
    return "".join(htmllib.unescape(run) if "&" in run else run for run in runs)


_NUMERIC_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}))?(;?)")


def _plain_char(ref: re.Match[str]) -> bool:
    """Whether a numeric reference, with its ``;``, names a printable character (no control,
    surrogate or noncharacter), which the parser and :func:`html.unescape` decode alike."""
    hex_digits, digits, semicolon = ref.groups()
    if not semicolon or (hex_digits or digits) is None:
        return False
    code = int(hex_digits, 16) if hex_digits else int(digits)
    return (
        0x20 <= code < 0x7F
        or 0xA0 <= code < 0xD800
        or (0xE000 <= code <= 0x10FFFF and not 0xFDD0 <= code <= 0xFDEF and code & 0xFFFE != 0xFFFE)
    )


_CLASS_ATTR = re.compile(r"""class\s*=\s*["']?([^"'>]*)""")
_ID_ATTR = re.compile(r"""\sid\s*=\s*["']?([^"'>]*)""")


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
        if tag in VOID_TAGS or markup[open_end - 1] == "/":
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
    if not tokens:
        return False  # attribute selectors only ("[hidden]"): no class or id to look for
    if "class" in markup:
        for value in _CLASS_ATTR.findall(markup):
            if not tokens.isdisjoint(value.split()):
                return True
    if " id" in markup:
        for value in _ID_ATTR.findall(markup):
            if not tokens.isdisjoint(value.split()):
                return True
    return False


def to_paragraphs(markup: str, rules: CleanRules) -> list[list[str]]:
    if not markup:
        return []
    markup = repair_entities(markup)
    if rules.backslash_continuations:
        markup = backslashes(markup)
    if "<" in markup and _HAS_TAG.search(markup):
        text = html_to_text(markup, rules)
    else:
        text = htmllib.unescape(markup) if "&" in markup else markup
        if ESCAPED_MARKUP.search(text):
            text = html_to_text(text, rules, 1)
    text = tidy(fix_unicode(text))
    if not text:
        return []
    return [p.split("\n") for p in text.split("\n\n")]


def plain_line(text: str, rules: CleanRules) -> str:
    """A one-line field (a title) as plain text, with the same markup removal as an article's text.

    Titles come from feeds as HTML too (Atom ``type="html"``, RSS titles escaped twice), and a
    ``<script>`` or ``<object>`` in a title is no more readable than in the text.
    """
    if "<" not in text or not _HAS_TAG.search(text):
        return text
    return " ".join(line for para in to_paragraphs(text, rules) for line in para)
