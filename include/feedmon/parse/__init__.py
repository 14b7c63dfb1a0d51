"""Parsing fetched feed bodies into raw entries.

* :mod:`~feedmon.parse.encoding`: settle the text encoding (BOM, declarations, detection);
* :mod:`~feedmon.parse.fast`: lxml fast path for well-formed RSS/RDF/Atom, equal to feedparser;
* :mod:`~feedmon.parse.feed`: :func:`parse_feed` tries the fast path on the re-encoded bytes and falls
  back to feedparser for anything else; :mod:`~feedmon.parse.entry` turns entries into rows for both.

:func:`parse_feed` is the stage's entry point; it never raises for a bad body.
"""

from feedmon.parse.encoding import decode_body
from feedmon.parse.feed import ParsedFeed, parse_feed

__all__ = ["ParsedFeed", "decode_body", "parse_feed"]
