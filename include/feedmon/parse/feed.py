"""Turn fetched feed bytes into :class:`~feedmon.models.RawEntry` rows: the lxml fast path, else feedparser.

A well-formed RSS 2.0, RSS 1.0/RDF or Atom document goes through :mod:`feedmon.parse.fast` (lxml,
several times faster, held equal to feedparser by ``tests/integration/test_parse_differential.py``);
anything it does not reproduce exactly (ill-formed XML, a DOCTYPE, markup inside text constructs,
...) goes to feedparser as before. :attr:`ParsedFeed.parser` says which one read the body.

feedparser only ever sees bytes we already hold (wrapped in a stream, so it can neither fetch a URL
nor open a local file that a body happens to name), already re-encoded as UTF-8 by
:mod:`feedmon.parse.encoding`. A malformed ("bozo") feed keeps every entry the parser could save and
reports why it is bozo; a body that is no feed at all gives zero entries and an ``error``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import feedparser

from feedmon.models import RawEntry
from feedmon.parse import fast
from feedmon.parse.encoding import as_utf8_document, decode_body
from feedmon.parse.entry import _clean_str, raw_entry
from feedmon.sniff import looks_like_html

__all__ = ["ParsedFeed", "parse_feed"]

log = logging.getLogger(__name__)

Parser = Literal["fast", "feedparser"]


@dataclass
class ParsedFeed:
    """What one feed body yielded: the entries that could be saved plus what went wrong."""

    entries: list[RawEntry]
    bozo: bool
    error: str | None
    feed_title: str | None
    language: str | None
    encoding: str | None = None
    version: str | None = None
    notes: list[str] = field(default_factory=list)
    #: Which parser read the body: ``fast`` (lxml, :mod:`feedmon.parse.fast`) or ``feedparser``
    #: (the fallback, and bodies refused before parsing).
    parser: Parser = "feedparser"


def parse_feed(
    body: bytes,
    *,
    feed_id: str,
    headers: Mapping[str, str] | None = None,
    base_url: str | None = None,
    default_language: str | None = None,
) -> ParsedFeed:
    """Parse a fetched feed body; never raises for a bad body (the problem goes in ``error``)."""
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = hdrs.get("content-type")
    if not body or not body.strip():
        return ParsedFeed([], False, "empty body", None, default_language)
    text, encoding, notes = decode_body(body, content_type)
    if looks_like_html(text[:8192].encode("utf-8", errors="replace"), content_type):
        return ParsedFeed([], True, "not a feed: an HTML page", None, default_language, encoding, None, notes)
    doc = as_utf8_document(text)
    try:
        quick = fast.parse_document(doc, feed_id=feed_id, base_url=base_url, default_language=default_language)
    except Exception:  # the fast path refuses what it does not reproduce; a crash is one more refusal
        log.warning("fast parser crashed on %s; feedparser reads it", feed_id, exc_info=True)
        quick = None
    if quick is not None:  # the parse stage logs each feed's entries and parser
        return ParsedFeed(
            entries=quick.entries,
            bozo=False,
            error=None,
            feed_title=quick.feed_title,
            language=quick.language,
            encoding=encoding,
            version=quick.version,
            notes=notes,
            parser="fast",
        )

    # No content-location: feedparser would "resolve" a relative guid against it and change the
    # item's identity; links are made absolute below instead.
    response_headers = {"content-type": "application/xml; charset=utf-8"}
    try:
        parsed = feedparser.parse(
            io.BytesIO(doc),
            response_headers=response_headers,
            # The clean stage turns HTML into text: sanitising and URI rewriting here would only
            # cost time (about a third of feedparser's work on a typical agency feed).
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser is defensive, but a crash must stay one feed's problem
        log.warning("feedparser crashed on %s: %r", feed_id, exc)
        return ParsedFeed([], True, f"parser crashed: {exc!r}", None, default_language, encoding, None, notes)

    feed_meta = parsed.get("feed") or {}
    version = parsed.get("version") or None
    language = _clean_str(feed_meta.get("language")) or default_language
    bozo = bool(parsed.get("bozo"))
    bozo_exc = parsed.get("bozo_exception")
    error = f"{type(bozo_exc).__name__}: {bozo_exc}" if bozo and bozo_exc is not None else None

    entries = [raw_entry(entry, feed_id, base_url, language) for entry in parsed.get("entries") or []]
    if not entries and not version:
        error = f"not a feed: no RSS/Atom/RDF document found ({error or 'no feed element'})"
    return ParsedFeed(
        entries=entries,
        bozo=bozo,
        error=error,
        feed_title=_clean_str(feed_meta.get("title")),
        language=language,
        encoding=encoding,
        version=version,
        notes=notes,
    )
