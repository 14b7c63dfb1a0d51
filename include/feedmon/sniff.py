"""Is a body an HTML page rather than a feed? Asked by the fetcher (to refuse it) and the parser.

A low module of its own so that parsing does not import the HTTP client to ask.
"""

from __future__ import annotations

import re

__all__ = ["looks_like_html"]

_FIRST_TAG = re.compile(rb"<\s*([A-Za-z][\w:.-]*)")


def looks_like_html(body: bytes, content_type: str | None = None) -> bool:
    """True when the body is an HTML page rather than a feed (first element is ``<html>``)."""
    head = body[:8192].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<!doctype html"):
        return True
    # Skip the XML declaration, comments and doctypes; look at the first real element.
    cleaned = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!doctype[^>]*>", b"", head, flags=re.S)
    m = _FIRST_TAG.search(cleaned)
    if m:
        return m.group(1) in (b"html", b"head", b"body")
    return bool(content_type and "html" in content_type.lower() and b"<" in head)
