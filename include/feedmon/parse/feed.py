"""Turn fetched feed bytes into :class:`~feedmon.models.RawEntry` rows with feedparser.

feedparser only ever sees bytes we already hold (wrapped in a stream, so it can neither fetch a URL
nor open a local file that a body happens to name), already re-encoded as UTF-8 by
:mod:`feedmon.parse.encoding`. A malformed ("bozo") feed keeps every entry the parser could save and
reports why it is bozo; a body that is no feed at all gives zero entries and an ``error``.
"""

from __future__ import annotations

import calendar
import contextlib
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from feedmon.models import RawEntry
from feedmon.parse.encoding import as_utf8_document, decode_body
from feedmon.sniff import looks_like_html

__all__ = ["ParsedFeed", "parse_feed"]

log = logging.getLogger(__name__)


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


# --- dates ----------------------------------------------------------------------------------------


def _utc(entry: Mapping[str, Any]) -> datetime | None:
    """published, else updated (else created), as an aware UTC datetime; None if absent/unreadable."""
    for key in ("published", "updated", "created"):
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError, OSError, TypeError):
                pass
        raw = entry.get(key)
        if raw:
            when = _parse_date_text(str(raw))
            if when is not None:
                return when
    return None


def _parse_date_text(raw: str) -> datetime | None:
    """Last resort for dates feedparser could not read: RFC 822 or ISO 8601; naive means UTC."""
    when: datetime | None = None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


# --- entries --------------------------------------------------------------------------------------


def _richest_html(entry: Mapping[str, Any]) -> tuple[str, str | None]:
    """The longest content body (else the summary), and its xml:lang if the feed gave one."""
    best, lang = "", None
    for item in entry.get("content") or []:
        value = item.get("value") or ""
        if len(value) > len(best):
            best, lang = value, item.get("language")
    if not best:
        best = entry.get("summary") or entry.get("description") or ""
        detail = entry.get("summary_detail") or {}
        lang = detail.get("language")
    return best, lang


def _absolute(link: Any, base_url: str | None) -> str | None:
    """The entry link, made absolute against the feed URL when it is relative."""
    text = _clean_str(link)
    if text and base_url:
        with contextlib.suppress(ValueError):
            return urljoin(base_url, text)
    return text


def _clean_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


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

    # No content-location: feedparser would "resolve" a relative guid against it and change the
    # item's identity; links are made absolute below instead.
    response_headers = {"content-type": "application/xml; charset=utf-8"}
    try:
        parsed = feedparser.parse(
            io.BytesIO(as_utf8_document(text)),
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

    entries: list[RawEntry] = []
    for entry in parsed.get("entries") or []:
        html, lang = _richest_html(entry)
        entries.append(
            RawEntry(
                feed_id=feed_id,
                guid=_clean_str(entry.get("id")),
                link=_absolute(entry.get("link"), base_url),
                title=str(entry.get("title") or ""),
                html=html,
                published_at=_utc(entry),
                language=_clean_str(lang) or language,
                author=_clean_str(entry.get("author")),
            )
        )
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
