"""A fast path for well-formed feeds: lxml builds the tree, feedparser's own element handlers read it.

feedparser costs about 300 µs per item of a real news feed, and almost none of it is XML parsing:
expat is fast, the time goes into feedparser's per-element bookkeeping (``unknown_starttag``/``pop``,
its dict subclass, deep copies). This module keeps feedparser's *meaning* and replaces that
bookkeeping:

* lxml parses the document (no DTD, no network, no entity expansion, no huge trees) and the tree is
  walked once, in the order expat reports elements, text and namespace declarations.
* :class:`_Walker` subclasses feedparser's ``_FeedParserMixin``, so every element handler
  (``_start_link``, ``_end_guid``, ``_start_description`` ...) is feedparser's own code, with all its
  quirks (the second ``<description>`` becoming *content*, ``<guid>`` doubling as the link, the
  title of the shallowest element winning ...). Only the hot core is re-implemented, with the same
  semantics as feedparser under ``parse_feed``'s settings (``sanitize_html=False``,
  ``resolve_relative_uris=False``, strict parser): the start/end dispatch, ``pop``,
  ``push_content`` and ``resolve_uri``.
* Short cuts (``_in_*``) do the work of start handler + text + end handler in one step for the
  common elements of an entry, each only in the state it assumes.
* Entries become :class:`~feedmon.models.RawEntry` rows through the same helpers as
  :func:`feedmon.parse.parse_feed` (:func:`feedmon.parse.entry.raw_entry`).

Anything this path does not reproduce exactly returns ``None`` so the caller falls back to
feedparser: XML that is not well-formed, a DOCTYPE (feedparser rewrites those), a root that is not
``rss``/``feed``/``rdf:RDF``, markup *elements* inside a text construct (Atom ``type="xhtml"``,
unescaped HTML in a description: feedparser re-serialises those), an error in a handler, or a
feedparser release other than :data:`VERIFIED_FEEDPARSER`.
``tests/integration/test_parse_differential.py`` holds the two paths equal on every feed in the
repo, 30 real captures and feedparser's own test feeds; ``docs/parsing.md`` explains the rest.

No HTML is sanitised here, exactly as in ``parse_feed``: scripts, styles and event handlers are
removed by :func:`feedmon.clean.clean_article`, which both paths feed the same HTML.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import functools
import logging
import re
import time
import xml.sax.saxutils
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import feedparser
from feedparser.datetimes import _date_handlers, _parse_date
from feedparser.datetimes.rfc822 import _parse_date_rfc822
from feedparser.datetimes.rfc822 import timezone_names as _rfc822_zones
from feedparser.datetimes.w3dtf import _parse_date_w3dtf
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from feedparser.util import FeedParserDict
from lxml import etree

from feedmon.models import RawEntry
from feedmon.parse.entry import _clean_str, raw_entry

log = logging.getLogger(__name__)

__all__ = ["VERIFIED_FEEDPARSER", "FastFeed", "fallback_reason", "parse_document"]

#: The feedparser release the differential test holds this module to. It drives feedparser's own
#: handlers and mirrors its core, so another release falls back to feedparser until verified
#: (bump this together with the lock and ``tools/feedparser-sdist.lock``, then run the test).
VERIFIED_FEEDPARSER = "6.0.14"

# feedparser's namespace table (URI -> canonical prefix, '' for the core RSS/Atom namespaces),
# matched case-insensitively like its strict parser does.
_MATCH: dict[str, str] = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
_XLINK = "http://www.w3.org/1999/xlink"
_USERLAND = "http://backend.userland.com/rss"
_ROOTS = frozenset({"rss", "feed", "rdf:rdf"})
_IMAGE_TAGS = frozenset({"title", "link", "description", "url", "href", "width", "height"})
_TEXTINPUT_TAGS = frozenset({"title", "link", "description", "name"})
_NO_STORE = frozenset({"category", "tags", "itunes_keywords"})
_AMP_REF = re.compile("&([A-Za-z0-9_]+);")
_XHTML = "application/xhtml+xml"
_looks_like_html = _FeedParserMixin.looks_like_html
_map_content_type = _FeedParserMixin.map_content_type
_escape = xml.sax.saxutils.escape

# Safe parsing: a feed body is untrusted input.
_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,  # merges the text around comments, as SAX reports it
    "remove_pis": True,
    "strip_cdata": True,
    "collect_ids": False,
    "encoding": "utf-8",  # the document is UTF-8 whatever its bytes look like
}


class _Unsupported(Exception):
    """The document needs a feedparser code path this module does not reproduce."""


@dataclass(slots=True)
class FastFeed:
    """What :func:`feedmon.parse.parse_feed` reports for a feed that parsed cleanly (``bozo`` False)."""

    entries: list[RawEntry]
    feed_title: str | None
    language: str | None
    version: str


def parse_document(
    doc: bytes,
    *,
    feed_id: str,
    base_url: str | None = None,
    default_language: str | None = None,
) -> FastFeed | None:
    """Entries of a well-formed RSS/RDF/Atom document, or None when feedparser must handle it.

    ``doc`` is the UTF-8 document ``parse_feed`` hands feedparser (``as_utf8_document`` of the
    decoded body), so both paths read the same characters.
    """
    walker = _walk(doc)
    if isinstance(walker, str):
        log.debug("%s: left to feedparser (%s)", feed_id, walker)
        return None
    feed = walker.feeddata
    language = _clean_str(feed.get("language")) or default_language
    entries = [raw_entry(entry, feed_id, base_url, language) for entry in walker.entries]
    return FastFeed(entries, _clean_str(feed.get("title")), language, walker.version)


def fallback_reason(doc: bytes) -> str | None:
    """Why :func:`parse_document` leaves ``doc`` to feedparser (None: it does not)."""
    walker = _walk(doc)
    return walker if isinstance(walker, str) else None


def _walk(doc: bytes, *, shortcuts: bool = True) -> _Walker | str:
    """The walked document, or the reason it is left to feedparser.

    ``shortcuts=False`` sends every element through the general handlers (for the tests).
    """
    if feedparser.__version__ != VERIFIED_FEEDPARSER:
        return f"feedparser {feedparser.__version__} is not the verified {VERIFIED_FEEDPARSER}"
    if b"\x00" in doc:
        return "NUL byte"  # never legal XML; libxml2 would instead guess UTF-16 from the NULs
    try:
        root = etree.fromstring(doc, etree.XMLParser(**_PARSER_OPTIONS))
    except (etree.XMLSyntaxError, ValueError) as exc:
        return f"not well-formed: {exc}"
    if root is None:
        return "no root element"
    if root.getroottree().docinfo.doctype:
        return "DOCTYPE"  # feedparser strips and rewrites DOCTYPEs (and their entities)
    walker = _Walker()
    try:
        walker.walk(root, inline=shortcuts, doc=doc)
    except _Unsupported as exc:
        return str(exc)
    except Exception as exc:  # a handler tripped: feedparser would too (or differ); let it decide
        return f"handler error: {exc!r}"
    if not walker.version:
        return "unknown feed version"
    return walker


_Shortcut = Callable[[etree._Element], bool]
_Handlers = tuple[str, str, Callable[..., Any] | None, Callable[..., Any] | None]


class _Walker(_FeedParserMixin):
    """feedparser's mixin state machine fed by an lxml tree instead of SAX callbacks."""

    def __init__(self) -> None:
        # what feedparser's strict parser sets before the mixin's own __init__
        self.bozo = 0
        self.exc = None
        self.decls: dict[str, str] = {}
        self.baseuri = ""
        self.lang: str | None = None
        self.encoding = "utf-8"
        self.resolve_relative_uris = False
        self.sanitize_html = False
        super().__init__()
        self._tags: dict[str, tuple[str, _Handlers]] = {}
        self._safe_base: dict[str, str] = {}
        self._inline: dict[str, _Shortcut | Literal[False]] = {}
        self._nested: dict[str, _Shortcut | Literal[False]] = {}
        self._feed_skip: dict[str, bool] = {}
        self._inline_ok = False
        self._depths: dict[str, int] = {}
        self._declared_at: dict[etree._Element, list[tuple[str, str]]] = {}
        self._renamed: set[etree._Element] = set()

    # --- the tree walk (replaces expat + StrictFeedParser + unknown_starttag/unknown_endtag) ------

    def walk(self, root: etree._Element, *, inline: bool = True, doc: bytes | None = None) -> None:
        """Feed every element, text and namespace declaration to the handlers in document order.

        ``doc``, the parsed bytes, lets a document without ``xmlns`` below the root skip the search
        for nested declarations (each one needs that word in the source).
        """
        root_tag = self._tag_of(root.tag)[0]
        if root_tag not in _ROOTS:
            raise _Unsupported(f"root element {root_tag!r}")
        self._inline_ok = inline
        declared = []
        for event, item in etree.iterwalk(root, events=("start-ns", "start")):
            if event == "start":
                break
            declared.append(item)  # the root's declarations, in document order
        if doc is None or doc.count(b"xmlns") != len(declared):
            # perhaps declarations below the root: list them all (the root's come first)
            declared = [ns for _, ns in etree.iterwalk(root, events=("start-ns",))]
        if len(declared) != len(root.nsmap):
            # declarations below the root too: note which element makes which (SAX order)
            pending: list[tuple[str, str]] = []
            for event, item in etree.iterwalk(root, events=("start-ns", "start")):
                if event == "start-ns":
                    pending.append(item)
                elif pending:
                    self._declared_at[item] = pending
                    pending = []
            declared = self._declared_at.pop(root, [])
            # feedparser names an element again at its end tag, with the declarations seen by
            # then: an element with a declaring descendant may end under another name
            for el in self._declared_at:
                parent = el.getparent()
                while parent is not None and parent not in self._renamed:
                    self._renamed.add(parent)
                    parent = parent.getparent()
        for prefix, uri in declared:
            self._declare(prefix, uri)
        self._element(root)

    def _element(self, el: etree._Element) -> None:
        """One element and its subtree through feedparser's handlers."""
        if self._declared_at:
            for prefix, uri in self._declared_at.get(el, ()):
                self._declare(prefix, uri)
        tag, handlers = self._tag_of(el.tag)
        self._start(tag, handlers, el)
        stack = self.elementstack
        text = el.text
        if text and stack:
            if self.contentparams.get("type") == _XHTML:
                text = _escape(text)
            stack[-1][2].append(text)
        if len(el):
            self._children(el, stack)
            if el in self._renamed:
                handlers = self._tag_of(el.tag)[1]
        self._end(handlers)

    def _children(self, el: etree._Element, stack: list[list[Any]]) -> None:
        """The children of ``el``: common entry elements take a short cut (``_in_*``)."""
        inline = self._inline
        nested = self._nested
        feed_skip = self._feed_skip
        declared = self._declared_at
        plain = self._plain()
        for child in el:
            clark = child.tag
            if len(child):
                shortcut = nested.get(clark)
                if shortcut is None:
                    shortcut = nested[clark] = self._nested_shortcut(clark)
                if shortcut and child not in declared and shortcut(child):
                    plain = self._plain()
                else:
                    self._element(child)
                    plain = self._plain()
            elif plain == 1:
                shortcut = inline.get(clark)
                if shortcut is None:
                    shortcut = inline[clark] = self._shortcut(clark)
                if not (shortcut and child not in declared and shortcut(child)):
                    self._element(child)
                    plain = self._plain()
            else:
                skip = feed_skip.get(clark)
                if skip is None:
                    skip = feed_skip[clark] = self._tag_of(clark)[1][1] not in _FEED_KEEP
                if not (plain and skip and child not in declared and not _moves_base(child)):
                    self._element(child)
                    plain = self._plain()
            tail = child.tail
            if tail and stack:
                top = stack[-1]
                if plain == 1:  # nothing open: no XHTML escaping; the text of an item is never read
                    if top[0] != "item":
                        top[2].append(tail)
                else:
                    if self.contentparams.get("type") == _XHTML:
                        tail = _escape(tail)
                    top[2].append(tail)

    def _plain(self) -> int:
        """Which short cuts the state allows: 1 inside an entry, 2 at feed level, 0 none.

        Nothing special may be open (content, image, textinput, source, SVG) and the base URI must
        be one a child without xml:base keeps as it is (which leaves it in place after the child
        too); the short cuts resolve against it like ``pop`` does.
        """
        if self.incontent or self.inimage or self.intextinput or self.insource:
            return 0
        if not self._inline_ok or self.svgOK or self.decls:
            return 0
        if self.baseuri and self._child_base(self.baseuri) != self.baseuri:
            return 0
        if self.inentry:
            return 1
        return 2 if self.infeed else 0

    def _child_base(self, base: str) -> str:
        """The base URI feedparser gives a child element that has no xml:base of its own."""
        child = self._safe_base.get(base)
        if child is None:
            child = self._safe_base[base] = make_safe_absolute_uri(base, base) or base
        return child

    def _declare(self, prefix: str | None, uri: str) -> None:
        """A namespace declaration, as feedparser's ``startPrefixMapping`` sees it."""
        if not uri:
            return
        prefix = prefix or None
        self.track_namespace(prefix, uri)
        if prefix and uri == _XLINK:
            self.decls["xmlns:" + prefix] = uri
        self._tags.clear()  # tag names depend on the declarations seen so far
        self._inline.clear()
        self._nested.clear()
        self._feed_skip.clear()

    def _tag_of(self, clark: str) -> tuple[str, _Handlers]:
        """feedparser's name for an element (``dc:creator``, ``title`` ...) and its handlers."""
        hit = self._tags.get(clark)
        if hit is not None:
            return hit
        if clark[0] == "{":
            namespace, local = clark[1:].split("}", 1)
        else:
            namespace, local = "", clark
        lowerns = namespace.lower()
        if "backend.userland.com/rss" in lowerns:
            namespace = lowerns = _USERLAND
        local = local.lower()
        prefix = _MATCH.get(lowerns)
        if prefix:
            tag = prefix.lower() + ":" + local
        else:
            tag = local
            if prefix is None and namespace:
                for name, value in self.namespaces_in_use.items():
                    if name and value == namespace:
                        tag = name + ":" + local
                        break
            tag = tag.lower()
        if ":" in tag:
            prefix, suffix = tag.split(":", 1)
        else:
            prefix, suffix = "", tag
        prefix = self.namespacemap.get(prefix, prefix)
        if prefix:
            prefix += "_"
        name = prefix + suffix
        handlers: _Handlers = (
            prefix,
            name,
            getattr(self, "_start_" + name, None),
            getattr(self, "_end_" + name, None),
        )
        hit = (tag, handlers)
        self._tags[clark] = hit
        return hit

    def _start(self, tag: str, handlers: _Handlers, el: etree._Element) -> None:
        """feedparser's ``startElementNS`` + ``unknown_starttag`` for one element."""
        if self.incontent:
            # markup inside a text construct: feedparser re-serialises it as XHTML (not reproduced)
            raise _Unsupported(f"element {tag!r} inside content")
        self.depth += 1
        attrs_d = self._attrs(el) if len(el.attrib) or self.decls else {}
        if attrs_d:
            base = attrs_d.get("xml:base", attrs_d.get("base")) or self.baseuri
            if self.baseuri:
                self.baseuri = make_safe_absolute_uri(self.baseuri, base) or self.baseuri
            else:
                self.baseuri = _urljoin(self.baseuri, base)
            lang = attrs_d.get("xml:lang", attrs_d.get("lang"))
            if lang == "":
                lang = None
            elif lang is None:
                lang = self.lang
            for key, value in attrs_d.items():
                if key == "xmlns" or key.startswith("xmlns:"):
                    self.track_namespace(key[6:] or None, value)
                    self._tags.clear()
                    self._inline.clear()
                    self._nested.clear()
                    self._feed_skip.clear()
        else:
            if self.baseuri:
                self.baseuri = self._child_base(self.baseuri)
            lang = self.lang
        if lang and tag in ("feed", "rss", "rdf:RDF"):  # sic: feedparser's tags are lower case
            self.feeddata["language"] = lang.replace("_", "-")
        self.lang = lang
        self.basestack.append(self.baseuri)
        self.langstack.append(lang)

        prefix, name, start, _ = handlers
        if not prefix:
            if tag not in _TEXTINPUT_TAGS:
                self.intextinput = 0
            if tag not in _IMAGE_TAGS:
                self.inimage = 0
        if start is not None:
            try:
                start(attrs_d)
                return
            except AttributeError:
                pass  # feedparser treats a handler's AttributeError as "no handler"
        if not attrs_d:
            self.push(name, 1)
        else:
            self._get_context()[name] = attrs_d

    def _attrs(self, el: etree._Element) -> dict[str, str]:
        """Attributes keyed the way feedparser's strict parser keys them (``xml:lang`` and ``lang``)."""
        attrs: dict[str, str] = dict(self.decls)
        self.decls = {}
        qnames: list[tuple[str, str]] = []
        for clark, value in el.items():
            if clark[0] == "{":
                namespace, local = clark[1:].split("}", 1)
                prefix = _MATCH.get(namespace.lower(), "")
                key = prefix + ":" + local if prefix else local
            else:
                local = key = clark
            attrs[key.lower()] = value
            qnames.append((local.lower(), value))
        for key, value in qnames:
            attrs[key] = value
        for key in ("rel", "type"):
            if key in attrs:
                attrs[key] = attrs[key].lower()
        return attrs

    def _end(self, handlers: _Handlers) -> None:
        """feedparser's ``unknown_endtag`` for one element."""
        _, name, _, end = handlers
        try:
            if end is None:
                raise AttributeError(name)
            end()
        except AttributeError:
            self.pop(name)
        self._leave()

    def _leave(self) -> None:
        """The end of ``unknown_endtag``: base URI, language and depth go back to the parent's."""
        if self.incontent:
            raise _Unsupported("element end inside content")
        if self.basestack:
            self.basestack.pop()
            if self.basestack and self.basestack[-1]:
                self.baseuri = self.basestack[-1]
        if self.langstack:
            self.langstack.pop()
            if self.langstack:
                self.lang = self.langstack[-1]
        self.depth -= 1

    def _start_item(self, attrs_d: dict[str, str]) -> None:
        """feedparser's ``_start_item``, plus a fresh depth map for the new entry.

        feedparser keeps the depths of an entry's values in ``property_depth_map`` keyed by the
        entry itself (a dict whose hash is a Python method); values only ever go to the last entry,
        so one map per entry, replaced here, is the same rule.
        """
        if attrs_d:
            super()._start_item(attrs_d)
        else:  # what feedparser's handler does without attributes (no rdf:about, no CDF ones)
            self.entries.append(FeedParserDict())
            self.elementstack.append(["item", 0, []])
            self.inentry = 1
            self.guidislink = 0
            self.title_depth = -1
        self._depths = {}

    _start_entry = _start_item

    # --- short cuts: a leaf element of an entry in the plain state, in one step -----------------
    #
    # Each ``_in_*`` does what feedparser's start handler, the text and its end handler do together
    # for that element in that state (the state ``_plain`` checks), and returns False, having
    # changed nothing, when the element has attributes it does not cover. The differential test
    # runs every corpus with and without them.

    def _shortcut(self, clark: str) -> _Shortcut | Literal[False]:
        """The short cut for an element name, or False."""
        name = self._tag_of(clark)[1][1]
        if name in _DATE_KEYS:
            key = _DATE_KEYS[name]
            return functools.partial(self._in_date, key, key + "_parsed")
        method = _SHORTCUTS.get(name)
        if method is not None:
            return getattr(self, method)
        if name in _NO_EFFECT_PUSH:
            return self._in_ignore
        if name in _NO_EFFECT_TEXT_UP:
            return self._in_ignore_text_up
        _, _, start, end = self._tag_of(clark)[1]
        if start is None and end is None and name not in _KEYMAP and name not in _READ_KEYS:
            return self._in_unknown
        return False

    def _nested_shortcut(self, clark: str) -> _Shortcut | Literal[False]:
        """The short cut for an element with children, or False."""
        name = self._tag_of(clark)[1][1]
        if name in ("item", "entry"):
            return self._in_item
        if name in ("media_group", "media_content"):
            return self._in_transparent
        return False

    def _in_item(self, el: etree._Element) -> bool:
        """``<item>``/``<entry>`` without attributes: feedparser's start and end around its children."""
        if self.inentry or self.incontent or self.decls or not self._inline_ok:
            return False
        if el.items() or el in self._renamed:
            return False
        base = self.baseuri
        if base and self._child_base(base) != base:
            return False
        self.depth += 1
        self.basestack.append(base)
        self.langstack.append(self.lang)
        self.intextinput = 0  # the start tag of an element feedparser does not exempt
        self.inimage = 0
        self._start_item({})
        stack = self.elementstack
        text = el.text
        if text:
            stack[-1][2].append(text)
        self._children(el, stack)
        # feedparser's _end_item: pop("item") (its text is never used), out of the entry
        if stack and stack[-1][0] == "item":
            stack.pop()
        self.inentry = 0
        self.hasContent = 0
        self._leave()
        return True

    def _in_transparent(self, el: etree._Element) -> bool:
        """``<media:group>``/``<media:content>`` with children: their handlers push nothing and store
        only media keys, so in the plain state only the depth of the children changes."""
        if (
            self._plain() != 1
            or el in self._renamed
            or _moves_base(el)
            or el.get(_XML_LANG) is not None
            or el.get("lang") is not None
        ):
            return False
        self.depth += 1
        stack = self.elementstack
        text = el.text
        if text and stack:
            stack[-1][2].append(text)
        self._children(el, stack)
        self.depth -= 1
        return True

    def _in_ignore(self, el: etree._Element) -> bool:
        """An element whose handlers push, pop and store only keys no row reads (tags, media ...)."""
        return not _moves_base(el)

    def _in_source(self, el: etree._Element) -> bool:
        """RSS 2.0 ``<source url=...>name</source>``: only the reset of the title depth matters."""
        attrs = el.items()
        if attrs and (len(attrs) != 1 or attrs[0][0] != "url"):
            return False
        self.title_depth = -1
        return True

    def _in_ignore_text_up(self, el: etree._Element) -> bool:
        """Like ``_in_ignore`` for handlers that push nothing: the text goes to the open element."""
        if _moves_base(el):
            return False
        text = el.text
        stack = self.elementstack
        if text and stack:
            stack[-1][2].append(text)
        return True

    def _in_unknown(self, el: etree._Element) -> bool:
        """An element feedparser has no handler for: stored under its own name, which no row reads."""
        if _moves_base(el):
            return False
        if len(el.attrib):
            return self._in_ignore_text_up(el)
        return True

    def _in_title(self, el: etree._Element) -> bool:
        """``<title>``: the shallowest non-empty title of the entry wins."""
        if _text_type(el, "text/plain") is None:
            return False
        depth = self.depth + 1
        output = _leaf_text(el)
        if not -1 < self.title_depth <= depth:
            self._store(self.entries[-1], "title", output, depth)
        if output:
            self.title_depth = depth
        return True

    def _in_media_title(self, el: etree._Element) -> bool:
        """``<media:title>``: a title like any other, but it leaves the title depth as it was."""
        if _text_type(el, "text/plain") is None:
            return False
        depth = self.depth + 1
        if not -1 < self.title_depth <= depth:
            self._store(self.entries[-1], "title", _leaf_text(el), depth)
        return True

    def _in_link(self, el: etree._Element) -> bool:
        """RSS ``<link>`` with the address as text."""
        if el.items():
            return self._in_atom_link(el)
        text = el.text
        output = text.strip() if text else ""
        if output and (self.baseuri or ":///" in output):
            output = self.resolve_uri(output)
        if not output.isascii():
            output = _fix(output)
        output = output.replace("&amp;", "&")
        if "&" in output:
            output = _AMP_REF.sub(r"&\g<1>", output)
        # (feedparser also appends to the entry's "links": no row reads them, and a later <link>
        # through the handlers appends its own before anything looks at the last one)
        _setitem(self.entries[-1], "link", output)
        return True

    def _in_atom_link(self, el: etree._Element) -> bool:
        """Atom ``<link href=...>``: the alternate HTML link becomes the entry's link."""
        names = {name.lower() for name in el.attrib}
        if "href" not in names or not names <= _ATOM_LINK_ATTRS:
            return False
        attrs_d = self._attrs(el)
        self._start_link(attrs_d)  # pushes nothing when there is an href
        text = el.text
        stack = self.elementstack
        if text and stack:
            stack[-1][2].append(text)
        return True

    def _in_date(self, key: str, parsed_key: str, el: etree._Element) -> bool:
        """``<pubDate>``, ``<dc:date>``, ``<updated>`` ...: the text and feedparser's parse of it."""
        if el.items():
            return False
        output = _leaf_text(el)
        entry = self.entries[-1]
        self._store(entry, key, output, self.depth + 1)
        _setitem(entry, parsed_key, _date(output))
        return True

    def _in_guid(self, el: etree._Element) -> bool:
        """``<guid>``/``<id>``: the id, and the link too unless ``isPermaLink`` says otherwise."""
        attrs = el.items()
        if attrs:
            if len(attrs) != 1 or attrs[0][0].lower() != "ispermalink":
                return False
            guidislink = attrs[0][1] == "true"
        else:
            guidislink = True
        self.guidislink = guidislink
        text = el.text
        output = text.strip() if text else ""
        if output and guidislink and (self.baseuri or ":///" in output):
            output = self.resolve_uri(output)
        if not output.isascii():
            output = _fix(output)
        entry = self.entries[-1]
        self._store(entry, "id", output, self.depth + 1)
        if guidislink and not _has(entry, "link"):  # (the "guidislink" flag it also saves is never read)
            _setitem(entry, "link", output)
        return True

    def _in_content_encoded(self, el: etree._Element) -> bool:
        """``<content:encoded>``: an HTML content body, also the summary if there is none yet."""
        if el.items():
            return False
        self.hasContent = 1
        output = _leaf_text(el)
        self._add_content("text/html", output)
        entry = self.entries[-1]
        if not _has(entry, "summary"):
            _setitem(entry, "summary", output)
        return True

    def _in_description(self, el: etree._Element) -> bool:
        """``<description>`` (also ``dc:``, ``media:``): the summary, or a content body if one exists."""
        return self._summary_like(el, "text/html")

    def _in_summary(self, el: etree._Element) -> bool:
        """Atom ``<summary>`` (also ``itunes:summary``)."""
        return self._summary_like(el, "text/plain")

    def _summary_like(self, el: etree._Element, default_type: str) -> bool:
        entry = self.entries[-1]
        as_content = _has(entry, "summary") and not self.hasContent
        ctype = _text_type(el, "text/plain" if as_content else default_type)
        if ctype is None:
            return False
        output = _leaf_text(el)
        if ctype == "text/plain" and not self.version.startswith("atom") and _looks_like(output):
            ctype = "text/html"
        if as_content:  # _start_content: the second push stays on feedparser's stack
            self.hasContent = 1
            self.elementstack.append(["content", 1, []])
            self._add_content(ctype, output)
            return True
        self._store(entry, "summary", output, self.depth + 1)
        lang = self.lang
        if lang:
            lang = lang.replace("_", "-")
        _setitem(entry, "summary_detail", {"type": ctype, "language": lang, "base": self.baseuri, "value": output})
        return True

    def _in_content(self, el: etree._Element) -> bool:
        """Atom ``<content type=...>`` with text (not XHTML, not ``src``)."""
        ctype = _text_type(el, "text/plain")
        if ctype is None:
            return False
        self.hasContent = 1
        self.elementstack.append(["content", 1, []])
        output = _leaf_text(el)
        copy_to_summary = ctype in _SUMMARY_TYPES
        if ctype == "text/plain" and not self.version.startswith("atom") and _looks_like(output):
            ctype = "text/html"
        self._add_content(ctype, output)
        entry = self.entries[-1]
        if copy_to_summary and not _has(entry, "summary"):
            _setitem(entry, "summary", output)
        return True

    def _in_author(self, el: etree._Element) -> bool:
        """``<author>``/``<dc:creator>`` with the name as text."""
        if el.items():
            return False
        entry = self.entries[-1]
        detail = FeedParserDict()
        _setdefault(entry, "authors", []).append(detail)
        output = _leaf_text(el)
        self._store(entry, "author", output, self.depth + 1)
        self.inauthor = 0
        # feedparser's _sync_author_detail() with a fresh (empty) detail: it looks for an e-mail
        # address in the author text, which cannot match without an "@"; the name is the text.
        author = _get(entry, "author")
        if not author:
            return True
        if "@" in author:
            self._sync_author_detail()
            return True
        if not _has(entry, "author_detail"):
            _setitem(entry, "author_detail", detail)
        _setitem(detail, "name", author)
        return True

    def _store(self, entry: Any, key: str, value: str, depth: int) -> None:
        """``pop``'s rule for entry values: a deeper element never overwrites a shallower one."""
        depths = self._depths
        old = depths.get(key)
        if old is None or depth <= old:
            depths[key] = depth
            _setitem(entry, key, value)

    def _add_content(self, ctype: str, value: str) -> None:
        lang = self.lang.replace("_", "-") if self.lang else self.lang
        entry = self.entries[-1]
        _setdefault(entry, "content", []).append(
            {"type": ctype, "language": lang, "base": self.baseuri, "value": value}
        )

    def unknown_starttag(self, tag: str, attrs: list[tuple[str, str]]) -> None:  # noqa: ARG002 - feedparser's signature
        """Only reached from the SVG path of ``_start_title``: not reproduced."""
        raise _Unsupported("svg title")

    def handle_data(self, text: str, escape: int = 1) -> None:  # noqa: ARG002 - feedparser's signature
        """Only reached from XHTML content paths: not reproduced."""
        raise _Unsupported("xhtml content")

    # --- the hot core, same semantics as feedparser's mixin under parse_feed's settings ---------

    def push_content(self, tag: str, attrs_d: dict[str, str], default_content_type: str, expecting_text: Any) -> None:
        """feedparser's ``push_content`` with a plain dict for the content parameters."""
        self.incontent += 1
        if self.lang:
            self.lang = self.lang.replace("_", "-")
        ctype = _map_content_type(attrs_d.get("type", default_content_type))
        if attrs_d.get("mode", "") == "base64":
            b64 = 1
        elif ctype.startswith("text/") or ctype.endswith(("+xml", "/xml")):
            b64 = 0
        else:
            b64 = 1
        self.contentparams = {"type": ctype, "language": self.lang, "base": self.baseuri, "base64": b64}
        self.elementstack.append([tag, expecting_text, []])

    def resolve_uri(self, uri: str) -> str:
        """``_urljoin(baseuri, uri)``, skipping the work when there is no base and no odd slashes."""
        if not self.baseuri and ":///" not in uri:
            return uri
        return _urljoin(self.baseuri or "", uri)

    def pop(self, element: str, strip_whitespace: int = 1) -> Any:
        """feedparser's ``pop`` for the strict parser, no sanitising and no URI rewriting in HTML."""
        stack = self.elementstack
        if not stack or stack[-1][0] != element:
            return None
        _, expecting_text, pieces = stack.pop()
        params = self.contentparams
        output = "".join(pieces)
        if strip_whitespace:
            output = output.strip()
        if not expecting_text:
            return output
        if params.get("base64", 0):
            with contextlib.suppress(binascii.Error, binascii.Incomplete, UnicodeDecodeError):
                output = base64.decodebytes(output.encode("utf8")).decode("utf8")
        if output and element in self.can_be_relative_uri and (element != "id" or self.guidislink):
            output = self.resolve_uri(output)
        if (
            params.get("type") == "text/plain"
            and not self.version.startswith("atom")
            and ("<" in output or "&" in output)
            and _looks_like_html(output)
        ):
            params["type"] = "text/html"
        params.pop("mode", None)
        params.pop("base64", None)
        output = _fix(output)
        if element in _NO_STORE:
            return output
        if element == "title" and -1 < self.title_depth <= self.depth:
            return output

        if self.inentry and not self.insource:
            entry = self.entries[-1]
            if element == "content":
                entry.setdefault(element, [])
                detail = dict(params)
                detail["value"] = output
                entry[element].append(detail)
            elif element == "link":
                if not self.inimage:
                    output = output.replace("&amp;", "&")
                    if "&" in output:
                        output = _AMP_REF.sub(r"&\g<1>", output)
                    entry[element] = output
                    if output:
                        entry["links"][-1]["href"] = output
            else:
                if element == "description":
                    element = "summary"
                depths = self._depths
                old_depth = depths.get(element)
                if old_depth is None or self.depth <= old_depth:
                    depths[element] = self.depth
                    entry[element] = output
                if self.incontent:
                    detail = dict(params)
                    detail["value"] = output
                    entry[element + "_detail"] = detail
        elif self.infeed or self.insource:
            context = self._get_context()
            if element == "description":
                element = "subtitle"
            context[element] = output
            if element == "link":
                output = _AMP_REF.sub(r"&\g<1>", output)
                context[element] = output
                context["links"][-1]["href"] = output
            elif self.incontent:
                detail = dict(params)
                detail["value"] = output
                context[element + "_detail"] = detail
        return output


# --- tables and helpers of the short cuts --------------------------------------------------------

# feedparser's element name -> short cut (dates: _DATE_KEYS)
_SHORTCUTS: dict[str, str] = {
    "title": "_in_title",
    "dc_title": "_in_title",
    "media_title": "_in_media_title",
    "source": "_in_source",
    "link": "_in_link",
    "guid": "_in_guid",
    "id": "_in_guid",
    "content_encoded": "_in_content_encoded",
    "fullitem": "_in_content_encoded",
    "description": "_in_description",
    "dc_description": "_in_description",
    "media_description": "_in_description",
    "summary": "_in_summary",
    "itunes_summary": "_in_summary",
    "content": "_in_content",
    "author": "_in_author",
    "managingeditor": "_in_author",
    "dc_author": "_in_author",
    "dc_creator": "_in_author",
    "itunes_author": "_in_author",
}
_DATE_KEYS: dict[str, str] = {
    name: key
    for key, names in {
        "published": ("pubdate", "published", "issued", "dcterms_issued"),
        "updated": ("updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"),
        "created": ("created", "dcterms_created"),
    }.items()
    for name in names
}
# handlers that push, pop and store only keys no row reads
_NO_EFFECT_PUSH = frozenset(
    {
        "category",
        "keywords",
        "dc_subject",
        "media_category",
        "media_thumbnail",
        "media_credit",
        "media_rating",
        "media_restriction",
        "media_license",
    }
)
# handlers that push nothing (their text goes to the element below on the stack)
_NO_EFFECT_TEXT_UP = frozenset({"enclosure", "media_content", "media_group"})
# entry keys a row is built from, and the keys feedparser's dict renames on the way in
_READ_KEYS = frozenset(
    {
        "id",
        "link",
        "links",
        "title",
        "summary",
        "summary_detail",
        "subtitle",
        "content",
        "published",
        "published_parsed",
        "updated",
        "updated_parsed",
        "created",
        "created_parsed",
        "author",
        "authors",
        "guidislink",
    }
)
_KEYMAP = frozenset(FeedParserDict.keymap)
# Feed-level leaves matter only through the feed's title and language, the content switches
# (hasContent, _summaryKey) and the contexts (image, textinput, source); everything else a
# feed-level leaf does lands in keys no row reads, so in the plain feed state it is skipped.
_FEED_KEEP = frozenset(
    {
        "title",
        "dc_title",
        "media_title",
        "language",
        "dc_language",
        "image",
        "textinput",
        "itunes_image",
        "itunes_link",
        "source",
        "rss",
        "channel",
        "feed",
        "item",
        "entry",
        "content",
        "content_encoded",
        "fullitem",
        "body",
        "xhtml_body",
        "description",
        "dc_description",
        "media_description",
        "summary",
        "itunes_summary",
        "abstract",
    }
)
_ATOM_LINK_ATTRS = frozenset({"href", "rel", "type", "title", "length", "hreflang"})
_SUMMARY_TYPES = frozenset({"text/plain", "text/html", _XHTML})
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


# feedparser's dict answers `in` in Python; for the keys used here a plain dict's answer is the same
_has = dict.__contains__
_setitem = dict.__setitem__
_get = dict.get
_setdefault = dict.setdefault


def _moves_base(el: etree._Element) -> bool:
    """An ``xml:base`` (or bare ``base``) attribute changes feedparser's base URI for what follows."""
    return el.get(_XML_BASE) is not None or el.get("base") is not None


def _text_type(el: etree._Element, default: str) -> str | None:
    """The content type feedparser gives a text element; None for attributes the short cuts leave
    to the handlers (anything but ``type``) and for types it does not keep as plain text
    (XHTML, which it escapes, and the ones it base64-decodes)."""
    attrs = el.items()
    if not attrs:
        return default
    if len(attrs) != 1 or attrs[0][0] != "type":
        return None
    ctype: str = _map_content_type(attrs[0][1])
    if _is_base64(ctype) or ctype == _XHTML:
        return None
    return ctype


def _is_base64(ctype: str) -> bool:
    """feedparser decodes base64 for content types that are not text/* or XML."""
    return not (ctype.startswith("text/") or ctype.endswith(("+xml", "/xml")))


def _looks_like(output: str) -> bool:
    return ("<" in output or "&" in output) and bool(_looks_like_html(output))


def _leaf_text(el: etree._Element) -> str:
    """What ``pop`` makes of a leaf element's text (no base64, no URI): stripped and repaired."""
    text = el.text
    if not text:
        return ""
    output = text.strip()
    return output if output.isascii() else _fix(output)


# the common shape "Sat, 02 May 2020 10:11:12 GMT|+0100", read exactly as feedparser's handler does
_RFC822_MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
_RFC822_ZONES: dict[str, int] = dict(_rfc822_zones)
_RFC822 = re.compile(
    r"(?:mon|tue|wed|thu|fri|sat|sun), ([0-9]{1,2} (?:"
    + "|".join(_RFC822_MONTHS)
    + r") [0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-][0-9]{4}|"
    + "|".join(sorted(_RFC822_ZONES, key=len, reverse=True))
    + ")",
    re.IGNORECASE | re.ASCII,
)
_EPOCH_DAYS = datetime.date(1970, 1, 1).toordinal()
# the common W3DTF shape; at most 6 decimals, which int(float(...)) truncates like int()
_W3DTF = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_DAY_COMMA = frozenset({"mon,", "tue,", "wed,", "thu,", "fri,", "sat,", "sun,"})
# feedparser tries its date handlers in order: W3DTF first, RFC 822 second (see _date)
_RFC822_SECOND = _date_handlers[:2] == [_parse_date_w3dtf, _parse_date_rfc822]


@functools.lru_cache(maxsize=4096)
def _rfc822_days(dmy: str) -> int | None:
    """Days since 1970 of "2 May 2020" (None for a date that does not exist)."""
    day, month, year = dmy.split(" ")
    try:
        return datetime.date(int(year), _RFC822_MONTHS[month.lower()], int(day)).toordinal() - _EPOCH_DAYS
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def _rfc822_offset(zone: str) -> int:
    """Seconds east of UTC, the way feedparser's RFC 822 handler reads the zone."""
    if zone[0] in "+-":
        offset = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
        return -offset if zone[0] == "-" else offset
    return _RFC822_ZONES[zone.lower()] * 3600


def _date(value: str) -> Any:
    """``feedparser.datetimes._parse_date``, with the two common shapes computed directly.

    * ``2020-05-02T10:11:12+01:00`` (Atom, dc:date): feedparser's first handler, W3DTF, reads it;
      the same arithmetic is done here.
    * ``Sat, 02 May 2020 10:11:12 GMT`` (RSS): W3DTF returns None for any text that starts with a
      day name and a comma (its year part is then not four digits, or not a number), so the
      RFC 822 handler, second in line, decides; its arithmetic is done here.

    Whenever the arithmetic fails (a day that does not exist, a year out of range) feedparser's
    whole chain of handlers answers instead, so nothing is lost.
    """
    if _RFC822_SECOND and value[:1].isdigit():
        match = _W3DTF.fullmatch(value)
        if match is not None:
            year, month, day, hour, minute, second, zone = match.groups()
            h, m, s = int(hour), int(minute), int(second)
            if h < 24 and m < 60 and s < 60:
                try:
                    days = datetime.date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAYS
                except ValueError:
                    days = None
                if days is not None:
                    offset = 0 if zone in "Zz" else (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
                    if zone[0] == "-":
                        offset = -offset
                    parsed = time.gmtime(days * 86400 + h * 3600 + m * 60 + s - offset)
                    if 1 <= parsed.tm_year <= 9999:
                        return parsed
        return _parse_date(value)
    match = _RFC822.fullmatch(value)
    if match is not None and _RFC822_SECOND:
        dmy, hour, minute, second, zone = match.groups()
        days = _rfc822_days(dmy)
        h, m, s = int(hour), int(minute), int(second)
        if days is not None and h < 24 and m < 60 and s < 60:
            # what feedparser computes, (datetime(...) - offset).utctimetuple(), without the
            # datetime objects; out of datetime's range it returns None, so ask it then
            parsed = time.gmtime(days * 86400 + h * 3600 + m * 60 + s - _rfc822_offset(zone))
            if 1 <= parsed.tm_year <= 9999:
                return parsed
    if _RFC822_SECOND and value[:4].lower() in _DAY_COMMA:
        try:
            rfc822: Any = _parse_date_rfc822(value)
        except (KeyError, OverflowError, ValueError, AttributeError):
            rfc822 = None
        if rfc822 and len(rfc822) == 9:
            return rfc822
    return _parse_date(value)


def _fix(output: str) -> str:
    """``pop``'s repair of UTF-8 read as Latin-1, then the Windows-1252 code points."""
    if output.isascii():
        return output
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        output = output.encode("iso-8859-1").decode("utf-8")
    return output.translate(_cp1252)
