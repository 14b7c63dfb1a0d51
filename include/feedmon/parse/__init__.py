"""Parsing fetched feed bodies into raw entries.

* :mod:`~feedmon.parse.encoding`: settle the text encoding (BOM, declarations, detection);
* :mod:`~feedmon.parse.feed`: feedparser on the re-encoded bytes, dates and links normalised.

:func:`parse_feed` is the stage's entry point; it never raises for a bad body. A faster parser for
well-formed feeds can sit beside ``feed.py`` and be chosen here.
"""

from feedmon.parse.encoding import decode_body
from feedmon.parse.feed import ParsedFeed, parse_feed

__all__ = ["ParsedFeed", "decode_body", "parse_feed"]
