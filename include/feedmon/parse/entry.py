"""Reading one feedparser-style entry dict: dates, the richest HTML body, links.

Shared by both parsers (:mod:`feedmon.parse.feed`'s feedparser loop and :mod:`feedmon.parse.fast`),
so an entry becomes the same :class:`~feedmon.models.RawEntry` whichever parser read the document.
"""

from __future__ import annotations

import calendar
import contextlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

from feedmon.models import RawEntry

__all__ = ["_absolute", "_clean_str", "_parse_date_text", "_richest_html", "_utc", "raw_entry"]


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


def raw_entry(entry: Mapping[str, Any], feed_id: str, base_url: str | None, language: str | None) -> RawEntry:
    """One feedparser-style entry (from feedparser, or from :mod:`feedmon.parse.fast`) -> one row.

    It reads a plain copy of feedparser's dict (whose every lookup runs in Python) with the one
    alias those reads need: ``description`` is the summary, else the subtitle. (``updated`` falling
    back to ``published`` cannot change what ``_utc`` returns: it tries ``published`` first.)
    """
    entry = dict(entry)
    if "summary" not in entry and "subtitle" in entry:
        entry["description"] = entry["subtitle"]
    html, lang = _richest_html(entry)
    return RawEntry(
        feed_id=feed_id,
        guid=_clean_str(entry.get("id")),
        link=_absolute_link(entry.get("link"), base_url),
        title=str(entry.get("title") or ""),
        html=html,
        published_at=_utc(entry),
        language=_clean_str(lang) or language,
        author=_clean_str(entry.get("author")),
    )


# An absolute http(s) URL of plain ASCII with a non-empty path/query/fragment where present:
# ``urljoin`` splits and re-joins it to the very same string, whatever the base.
_PLAIN_ABSOLUTE = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[^\x00-\x20\x7f?#;\[\]\\]*)?(?:\?[^\x00-\x20\x7f#]+)?(?:#[^\x00-\x20\x7f]+)?"
)


def _absolute_link(link: Any, base_url: str | None) -> str | None:
    """``_absolute`` without ``urljoin``'s two URL parses when the link is plainly absolute."""
    if isinstance(link, str) and link.isascii():
        text = link.strip()
        if text and _PLAIN_ABSOLUTE.fullmatch(text):
            return text
    return _absolute(link, base_url)
