"""Turn fetched feed bytes into :class:`~feedmon.models.RawEntry` rows with feedparser.

feedparser only ever sees bytes we already hold (wrapped in a stream, so it can neither fetch a URL
nor open a local file that a body happens to name). Before it does, we settle the text encoding
ourselves, because feeds in the wild lie about it:

1. a byte-order mark wins (it cannot be there by accident);
2. then the declared charsets, HTTP ``Content-Type`` first, then the XML declaration (RFC 7303) --
   but a body that is valid UTF-8 with non-ASCII bytes is UTF-8 even when it claims a single-byte
   charset (the classic ``ISO-8859-1`` server default on a UTF-8 document);
3. a declaration that does not decode the bytes is ignored, and charset-normalizer detects the
   encoding instead, so a Windows-1251 feed that says ``utf-8`` still reads as Cyrillic.

The text is re-encoded as UTF-8 with a matching declaration, so feedparser has nothing left to
guess. A malformed ("bozo") feed keeps every entry the parser could save and reports why it is
bozo; a body that is no feed at all gives zero entries and an ``error``.
"""

from __future__ import annotations

import calendar
import codecs
import contextlib
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import charset_normalizer
import feedparser

from feedmon.models import RawEntry
from feedmon.sniff import looks_like_html

log = logging.getLogger(__name__)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_XML_DECL_TEXT = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([A-Za-z0-9._:-]+)(["'])""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)


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


# --- encodings ------------------------------------------------------------------------------------


def _codec(name: str | None) -> str | None:
    """Canonical codec name, or None for unknown labels."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def _single_byte(codec: str) -> bool:
    """True for legacy 8-bit codecs (any byte sequence decodes, so they 'succeed' on UTF-8 too)."""
    return codec.startswith(("cp", "iso8859", "latin", "koi8", "mac-", "windows-", "tis-620", "ascii")) and (
        codec not in ("cp932", "cp949", "cp950", "cp936")
    )


def _decodes(body: bytes, codec: str) -> str | None:
    """Strict decode that tolerates only an incomplete character at the very end (a truncated body)."""
    dec = codecs.getincrementaldecoder(codec)(errors="strict")
    try:
        text = dec.decode(body, final=False)
    except UnicodeDecodeError:
        return None
    pending = dec.getstate()[0]
    if pending and len(pending) > 4:
        return None
    return text


def decode_body(body: bytes, content_type: str | None = None) -> tuple[str, str, list[str]]:
    """Text of a feed body, the codec used and notes on any declaration that was overruled."""
    notes: list[str] = []
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, errors="replace").lstrip("\ufeff"), codec.removesuffix("-sig"), notes
    # UTF-16 without a BOM still starts with "<" and a NUL.
    if body.startswith(b"<\x00") and len(body) > 3 and body[3] == 0:
        return body.decode("utf-16-le", errors="replace"), "utf-16-le", notes
    if body.startswith(b"\x00<"):
        return body.decode("utf-16-be", errors="replace"), "utf-16-be", notes

    http = None
    if content_type:
        m = _CHARSET.search(content_type)
        http = _codec(m.group(1)) if m else None
    m = _XML_DECL.match(body[:512])
    xml = _codec(m.group(1).decode("ascii")) if m else None
    declared = [c for i, c in enumerate((http, xml)) if c and c not in (http, xml)[:i]]

    if body.isascii():
        codec = declared[0] if declared and not declared[0].startswith("utf-16") else "utf-8"
        return body.decode("ascii"), codec, notes

    utf8 = _decodes(body, "utf-8")
    for codec in declared:
        if codec.startswith(("utf-16", "utf-32")):
            continue  # without a BOM these labels are nearly always wrong on an ASCII-looking body
        if utf8 is not None and codec != "utf-8" and _single_byte(codec):
            notes.append(f"declared {codec} but the body is valid UTF-8; read as UTF-8")
            return utf8, "utf-8", notes
        text = utf8 if codec == "utf-8" else _decodes(body, codec)
        if text is not None:
            return text, codec, notes
        notes.append(f"declared {codec} does not decode the body")
    if utf8 is not None:
        return utf8, "utf-8", notes
    best = charset_normalizer.from_bytes(body).best()
    if best is not None and best.encoding:
        notes.append(f"encoding detected as {best.encoding}")
        return str(best), best.encoding, notes
    notes.append("undecodable bytes replaced")
    return body.decode("utf-8", errors="replace"), "utf-8", notes


def _as_utf8_document(text: str) -> bytes:
    """UTF-8 bytes whose XML declaration (if any) says UTF-8, so feedparser does not re-guess."""
    text = text.lstrip("\ufeff")
    text = _XML_DECL_TEXT.sub(r"\g<1>utf-8\g<3>", text, count=1)
    return text.encode("utf-8", errors="replace")


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
            io.BytesIO(_as_utf8_document(text)),
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
    exc = parsed.get("bozo_exception")
    error = f"{type(exc).__name__}: {exc}" if bozo and exc is not None else None

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
