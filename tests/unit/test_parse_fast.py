"""The exact-equivalence claims inside ``feedmon.parse.fast``, checked against the code they replace."""

from __future__ import annotations

import random
import string
from pathlib import Path
from urllib.parse import urljoin

from feedparser.datetimes import _parse_date

import feedmon.parse.entry as entry_mod
from feedmon.parse import fast as fastparse
from feedmon.parse.entry import _absolute


def test_rfc822_short_cut_is_feedparsers_date_parser() -> None:
    """``_date`` (regex + the same arithmetic) answers exactly like ``_parse_date`` on RFC 822 shapes,
    including impossible dates, odd zones and two-digit years, which it hands back to feedparser."""
    rng = random.Random(12)
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "sat", "Xyz"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "may", "Foo"]
    zones = ["GMT", "UT", "Z", "EST", "edt", "PST", "+0000", "-0530", "+1400", "+9999", "a", "N", "MEST", "XYZ"]
    zones += ["+01:00", "GMT+1", "UTC", "Etc/GMT"]
    fast = 0
    for _ in range(8000):
        text = (
            f"{rng.choice(days)}, {rng.randint(0, 32):0{rng.choice([1, 2])}d} {rng.choice(months)} "
            f"{rng.choice([1, 99, 1970, 2020, 9999])} {rng.randint(0, 25):02d}:{rng.randint(0, 61):02d}:"
            f"{rng.randint(0, 61):02d} {rng.choice(zones)}"
        )
        assert fastparse._date(text) == _parse_date(text), text
        fast += fastparse._RFC822.fullmatch(text) is not None
    assert fast > 2000  # the short cut was actually taken
    for text in ("2020-05-02", "Sat May  2 10:11:12 2020", "", "garbage"):
        assert fastparse._date(text) == _parse_date(text)


def test_w3dtf_short_cut_is_feedparsers_date_parser() -> None:
    """The same for the Atom shape (2020-05-02T10:11:12.5+01:00), edge values included."""
    rng = random.Random(13)
    fast = 0
    for _ in range(8000):
        text = (
            f"{rng.choice(['0001', '1969', '2020', '9999', '0000'])}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}"
            f"{rng.choice(['T', 't', ' '])}{rng.randint(0, 25):02d}:{rng.randint(0, 61):02d}:{rng.randint(0, 61):02d}"
            f"{rng.choice(['', '.5', '.123456', '.9999999'])}"
            f"{rng.choice(['Z', 'z', '+00:00', '-05:30', '+14:00', '+99:99', '', '+0100', ' GMT'])}"
        )
        assert fastparse._date(text) == _parse_date(text), text
        fast += fastparse._W3DTF.fullmatch(text) is not None
    assert fast > 2000


def test_plain_absolute_links_join_to_themselves() -> None:
    """Where ``_absolute_link`` skips ``urljoin``, ``urljoin`` would have returned the link unchanged."""
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=% \t\\|^`{}\"<>"
    bases = ["http://a.example/x/y?q#f", "https://b.example/", "http://c.example", "ftp://x/y", ""]
    matched = 0
    for _ in range(20000):
        link = rng.choice(["http://", "https://", "HTTP://", "http:/", "//", ""]) + "".join(
            rng.choice(alphabet) for _ in range(rng.randint(0, 25))
        )
        for base in bases:
            assert entry_mod._absolute_link(link, base) == _absolute(link, base), (link, base)
        if entry_mod._PLAIN_ABSOLUTE.fullmatch(link.strip()):
            matched += 1
            assert urljoin(bases[0], link.strip()) == link.strip()
    assert matched > 300


def test_fallback_reasons_name_the_cause() -> None:
    assert fastparse.fallback_reason(b"<rss version='2.0'><channel></channel></rss>") is None
    assert fastparse.fallback_reason(b"<rss><channel>").startswith("not well-formed")
    assert fastparse.fallback_reason(b"<html/>") == "root element 'html'"
    assert fastparse.fallback_reason(b"<!DOCTYPE rss><rss/>") == "DOCTYPE"
    doc = b"<rss version='2.0'><channel><item><description><p>x</p></description></item></channel></rss>"
    assert fastparse.fallback_reason(doc) == "element 'p' inside content"


def test_entries_and_feed_fields() -> None:
    """A small feed through the fast path: the fields parse_feed would report."""
    doc = (
        b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'>"
        b"<channel><title>Wire</title><language>en-gb</language>"
        b"<item><title> A &amp; B </title><link>/a?x=1&amp;y=2</link><guid isPermaLink='false'>g1</guid>"
        b"<pubDate>Sat, 02 May 2020 10:11:12 +0100</pubDate><dc:creator>Ann</dc:creator>"
        b"<description>&lt;p&gt;short&lt;/p&gt;</description></item></channel></rss>"
    )
    feed = fastparse.parse_document(doc, feed_id="w", base_url="https://wire.example/rss")
    assert feed is not None
    assert (feed.feed_title, feed.language, feed.version) == ("Wire", "en-gb", "rss20")
    (entry,) = feed.entries
    assert entry.title == "A & B"
    assert entry.link == "https://wire.example/a?x=1&y=2"
    assert entry.guid == "g1"
    assert entry.html == "<p>short</p>"
    assert entry.published_at is not None and entry.published_at.isoformat() == "2020-05-02T09:11:12+00:00"
    assert (entry.author, entry.language, entry.feed_id) == ("Ann", "en-gb", "w")


def test_verified_feedparser_is_the_locked_one() -> None:
    """The fast path runs only on the feedparser release the differential test verified, and that is
    the release both locks pin (an upgrade falls back to feedparser until it is verified again)."""
    import feedparser

    root = Path(__file__).resolve().parents[2]
    pin = f"feedparser=={fastparse.VERIFIED_FEEDPARSER} "
    assert pin in (root / "requirements.lock").read_text()
    assert pin in (root / "tools" / "feedparser-sdist.lock").read_text()
    assert feedparser.__version__ == fastparse.VERIFIED_FEEDPARSER
    doc = b"<rss version='2.0'><channel><item><title>x</title></item></channel></rss>"
    assert fastparse.parse_document(doc, feed_id="f") is not None
