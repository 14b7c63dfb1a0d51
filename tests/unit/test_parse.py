"""parse_feed on small committed fixtures: encodings, bozo feeds, dates, non-feeds."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime
from unittest import mock

import pytest

from feedmon.parse import ParsedFeed, decode_body, parse_feed
from feedmon.parse import fast as fastparse
from tests.conftest import FIXTURE_DIR

FEEDS = FIXTURE_DIR / "feeds"


def load(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def test_rss_entries_fields_and_dates_in_utc():
    p = parse_feed(load("ok.xml"), feed_id="agency", base_url="https://agency.example/rss")
    assert (p.bozo, p.error, p.feed_title, p.language) == (False, None, "Sample Agency: World", "en-gb")
    assert [e.guid for e in p.entries] == ["agency-0001", "agency-0002", "agency-0003"]
    first = p.entries[0]
    assert first.feed_id == "agency" and first.title == "Talks resume in Geneva"
    assert first.link == "https://agency.example/world/talks-resume"
    assert first.html == "<p>Negotiators met again on <b>Saturday</b>.</p>"
    assert first.published_at == datetime(2026, 11, 28, 8, 15, tzinfo=UTC)  # +0100 -> UTC
    assert p.entries[1].published_at == datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
    assert p.entries[2].published_at is None
    assert all(e.language == "en-gb" for e in p.entries)


def test_atom_prefers_content_resolves_links_and_keeps_language():
    p = parse_feed(load("atom.xml"), feed_id="fr", base_url="https://agence.example/feed.atom")
    first, second = p.entries
    assert first.html.startswith("<p>Les dirigeants européens") and "Résumé" not in first.html
    assert first.link == "https://agence.example/monde/sommet"
    assert first.guid == "tag:agence.example,2026:sommet"
    assert first.published_at == datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
    assert first.author == "Rédaction" and first.title == "Le sommet s'ouvre à Bruxelles"
    assert first.language == "fr"
    assert second.html == "Une dépêche sans date." and second.published_at is None


def test_relative_guid_is_not_rewritten():
    body = (
        b"<rss version='2.0'><channel><item><guid>item-7</guid><link>/a/7</link><title>t</title></item></channel></rss>"
    )
    [e] = parse_feed(body, feed_id="x", base_url="https://site.example/feed").entries
    assert (e.guid, e.link) == ("item-7", "https://site.example/a/7")


def test_updated_is_used_when_published_missing():
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>1</id><title>a</title>
    <updated>2026-11-27T23:30:00-05:00</updated></entry></feed>"""
    [e] = parse_feed(body, feed_id="x").entries
    assert e.published_at == datetime(2026, 11, 28, 4, 30, tzinfo=UTC)


def test_windows_1251_declared_utf8_is_detected():
    body = load("cp1251_declared_utf8.xml")
    p = parse_feed(body, feed_id="ru", headers={"Content-Type": "application/rss+xml; charset=utf-8"})
    assert p.entries[0].title == "Президент провёл совещание с членами правительства"
    assert p.feed_title == "Новости агентства"
    assert p.encoding == "cp1251" and p.notes


def test_utf8_declared_latin1_stays_utf8():
    body = load("utf8_declared_latin1.xml")
    p = parse_feed(body, feed_id="fr", headers={"Content-Type": "text/xml; charset=ISO-8859-1"})
    assert p.entries[0].title == "Élysée : le café de la réunion"
    assert p.encoding == "utf-8"


def test_http_charset_beats_xml_declaration():
    text = "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><item>"
    text += "<title>Ÿes – “quoted”</title></item></channel></rss>"
    body = text.encode("cp1252")
    p = parse_feed(body, feed_id="x", headers={"content-type": "text/xml; charset=windows-1252"})
    assert p.entries[0].title == "Ÿes – “quoted”"


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-le"])
def test_bom_and_utf16(codec):
    text = "<?xml version='1.0' encoding='iso-8859-1'?><rss version='2.0'><channel><item>"
    text += "<title>Zürich – 東京</title></item></channel></rss>"
    body = text.encode(codec)
    if codec == "utf-16-le":  # no BOM at all: still recognised from the '<\\0?\\0' pattern
        assert not body.startswith(codecs.BOM_UTF16_LE)
    p = parse_feed(body, feed_id="x", headers={"content-type": "text/xml; charset=iso-8859-1"})
    assert p.entries[0].title == "Zürich – 東京"


def test_truncated_multibyte_tail_is_still_utf8():
    text, codec, _ = decode_body("<t>Привет</t>".encode()[:-9])  # cut inside a 2-byte char
    assert codec == "utf-8" and text == "<t>При"


def test_truncated_xml_keeps_complete_items_and_complains():
    p = parse_feed(load("truncated.xml"), feed_id="t")
    assert [e.guid for e in p.entries][:2] == ["trunc-1", "trunc-2"]
    assert p.bozo and p.error and "SAXParseException" in p.error


def test_undefined_entities_are_bozo_but_readable():
    p = parse_feed(load("entities.xml"), feed_id="e")
    assert p.bozo and p.error
    [e] = p.entries
    assert e.title == "Prices\xa0rise — again"
    assert e.published_at == datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def test_items_sharing_one_guid_are_all_kept():
    p = parse_feed(load("same_guid.xml"), feed_id="g")
    assert [e.link for e in p.entries] == [
        "https://sameguid.example/one",
        "https://sameguid.example/two",
        "https://sameguid.example/three",
    ]
    assert {e.guid for e in p.entries} == {"https://sameguid.example/"}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (load("html_page.html"), "HTML"),
        (b"\x89PNG\r\n\x1a\n\x00\x00garbage", "not a feed"),
        (b'{"json": true}', "not a feed"),
        (b"   \n", "empty"),
    ],
)
def test_non_feeds_yield_no_entries_and_an_error(body, needle):
    p = parse_feed(body, feed_id="x")
    assert p.entries == [] and p.error and needle in p.error


def test_valid_feed_without_items_is_not_an_error():
    p = parse_feed(b"<rss version='2.0'><channel><title>quiet</title></channel></rss>", feed_id="x")
    assert (p.entries, p.error, p.feed_title) == ([], None, "quiet")


def test_default_language_fills_gaps():
    p = parse_feed(load("same_guid.xml"), feed_id="g", default_language="en")
    assert p.language == "en" and {e.language for e in p.entries} == {"en"}


def test_body_that_names_a_url_or_file_is_not_fetched(tmp_path):
    secret = tmp_path / "secret.xml"
    secret.write_text("<rss version='2.0'><channel><item><title>leak</title></item></channel></rss>")
    for body in (str(secret).encode(), b"http://127.0.0.1:9/feed.xml"):
        p = parse_feed(body, feed_id="x")
        assert p.entries == [] and p.error


def _feedparser_only(body: bytes, **kwargs: object) -> ParsedFeed:
    """``parse_feed`` as before the fast path: every document read by feedparser."""
    with mock.patch.object(fastparse, "_walk", return_value="switched off for the reference"):
        return parse_feed(body, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "base_url"), [("ok.xml", "https://agency.example/rss"), ("atom.xml", None)])
def test_well_formed_feed_takes_the_fast_path_with_feedparsers_entries(name, base_url):
    body = load(name)
    got = parse_feed(body, feed_id="f", base_url=base_url, default_language="en")
    ref = _feedparser_only(body, feed_id="f", base_url=base_url, default_language="en")
    assert (got.parser, ref.parser) == ("fast", "feedparser")
    assert got.entries and got.entries == ref.entries
    for name_ in ("bozo", "error", "feed_title", "language", "encoding", "version", "notes"):
        assert getattr(got, name_) == getattr(ref, name_), name_


@pytest.mark.parametrize("name", ["truncated.xml", "entities.xml"])
def test_ill_formed_feed_falls_back_to_feedparser_and_keeps_what_it_salvages(name):
    body = load(name)
    got = parse_feed(body, feed_id="f")
    assert got.parser == "feedparser" and got.bozo and got.error
    assert got.entries  # salvaged, as before
    assert got == _feedparser_only(body, feed_id="f")


def test_a_crash_in_the_fast_path_falls_back_to_feedparser():
    with mock.patch.object(fastparse, "parse_document", side_effect=RecursionError("deep")):
        got = parse_feed(load("ok.xml"), feed_id="f")
    assert got.parser == "feedparser" and len(got.entries) == 3 and got.error is None
