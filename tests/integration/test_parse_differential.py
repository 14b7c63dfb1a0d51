"""The lxml fast path (``feedmon.parse.fast``) against feedparser (``feedmon.parse.parse_feed``).

Every feed file in the repository, the 30 real captures in ``tests/fixtures/realfeeds`` and the
~2,000 test feeds of feedparser's own sdist (fetched hash-pinned by
``tools/fetch_feedparser_tests.py``) go through both parsers. Wherever the fast path returns a
result it must equal feedparser's:

* the document-level fields ``parse_feed`` reports (feedparser found it well-formed: ``bozo`` False,
  no error; the same feed title, language and version);
* every :class:`~feedmon.models.RawEntry`, field by field (guid, link, title, html, published_at,
  language, author), with no normalisation at all;
* what reaches the snapshot: :func:`feedmon.clean.clean_article` of each entry (title, text,
  dateline, agency);
* and the same again with the short cuts switched off, so the general handler path is held to
  feedparser on its own.

A difference that cannot be fixed goes into ``ALLOWED`` with its reason; an entry there that no
longer happens fails the test, so the list only ever holds real, current differences. It is empty.
The fast path must also take most documents (or it would pass by always falling back) and refuse
the ill-formed ones.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from lxml import etree

import feedmon.parse.entry as entry_mod
from feedmon.clean import clean_article
from feedmon.parse import ParsedFeed, decode_body, parse_feed
from feedmon.parse import fast as fastparse
from feedmon.parse.encoding import as_utf8_document

REPO = Path(__file__).resolve().parents[2]
BASE_URL = "https://example.test/feeds/feed.xml"  # exercises link resolution in both paths
DEFAULT_LANGUAGE = "und"
FEED_SUFFIXES = {".xml", ".atom", ".rss", ".rdf", ".html"}

# (corpus, path inside it, field) -> why the two parsers may differ there. Keep it short.
ALLOWED: dict[tuple[str, str, str], str] = {}


@dataclasses.dataclass
class Outcome:
    """How one corpus went: files, fast-path takers, fallback reasons, differences found."""

    files: int = 0
    fast: int = 0
    entries: int = 0
    fallbacks: Counter[str] = dataclasses.field(default_factory=Counter)
    differences: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in FEED_SUFFIXES)


def _with_feedparser(
    body: bytes, *, base_url: str | None = BASE_URL, default_language: str | None = DEFAULT_LANGUAGE
) -> ParsedFeed:
    """``parse_feed`` with the fast path switched off: the reference, even once ``parse_feed`` tries
    the fast path first (its every entry point goes through ``_walk``)."""
    with mock.patch.object(fastparse, "_walk", return_value="switched off for the reference"):
        return parse_feed(body, feed_id="f", base_url=base_url, default_language=default_language)


def _general_path(doc: bytes) -> fastparse.FastFeed | None:
    """The fast path with every element through the general handlers (no short cuts)."""
    walker = fastparse._walk(doc, shortcuts=False)
    if isinstance(walker, str):
        return None
    language = fastparse._clean_str(walker.feeddata.get("language")) or DEFAULT_LANGUAGE
    entries = [entry_mod.raw_entry(e, "f", BASE_URL, language) for e in walker.entries]
    return fastparse.FastFeed(entries, fastparse._clean_str(walker.feeddata.get("title")), language, walker.version)


def _compare(ref: ParsedFeed, fast: fastparse.FastFeed, *, clean: bool) -> Iterator[tuple[str, str]]:
    """(field, what differs) for every difference between feedparser's result and the fast path's."""
    if ref.bozo or ref.error:
        yield "bozo", f"feedparser: {ref.error!r}; the fast path took the document"
    for name in ("feed_title", "language", "version"):
        if getattr(ref, name) != getattr(fast, name):
            yield name, f"{getattr(ref, name)!r} != {getattr(fast, name)!r}"
    if len(ref.entries) != len(fast.entries):
        yield "entries", f"{len(ref.entries)} != {len(fast.entries)}"
    for i, (a, b) in enumerate(zip(ref.entries, fast.entries, strict=False)):
        for name, value in dataclasses.asdict(a).items():
            other = getattr(b, name)
            if value != other:
                yield name, f"entry {i}: {value!r:.200} != {other!r:.200}"
        if clean:
            ca = clean_article(a.title, a.html, source="diff")
            cb = clean_article(b.title, b.html, source="diff")
            if ca != cb:
                yield "clean_article", f"entry {i}: {ca!r:.200} != {cb!r:.200}"


def _run(corpus: str, root: Path, *, clean: bool = True) -> Outcome:
    out = Outcome()
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        body = path.read_bytes()
        out.files += 1
        ref = _with_feedparser(body)
        if not body.strip():
            out.fallbacks["empty body"] += 1
            continue
        doc = as_utf8_document(decode_body(body)[0])
        fast = fastparse.parse_document(doc, feed_id="f", base_url=BASE_URL, default_language=DEFAULT_LANGUAGE)
        if fast is None:
            reason = fastparse.fallback_reason(doc) or "?"
            out.fallbacks[reason.split(":")[0].split(" '")[0]] += 1
            assert _general_path(doc) is None, f"{rel}: general path took what the fast path refused"
            continue
        out.fast += 1
        out.entries += len(fast.entries)
        for field, detail in _compare(ref, fast, clean=clean):
            out.differences.append((rel, field, detail))
        general = _general_path(doc)
        assert general is not None, f"{rel}: general path refused what the fast path took"
        for field, detail in _compare(ref, general, clean=False):
            out.differences.append((rel, field, "general path: " + detail))
    return out


def _check(corpus: str, out: Outcome) -> None:
    """No difference outside ALLOWED, and no ALLOWED entry that no longer happens."""
    found = {(corpus, rel, field) for rel, field, _ in out.differences}
    unexplained = [d for d in out.differences if (corpus, d[0], d[1]) not in ALLOWED]
    stale = [key for key in ALLOWED if key[0] == corpus and key not in found]
    report = "\n".join(f"  {rel} [{field}] {detail}" for rel, field, detail in unexplained[:40])
    assert not unexplained, f"{len(unexplained)} differences in {corpus}:\n{report}"
    assert not stale, f"ALLOWED entries that no longer differ: {stale}"
    print(
        f"\n{corpus}: {out.files} files, fast path on {out.fast} ({out.entries} entries), "
        f"fallbacks {dict(out.fallbacks)}",
        file=sys.stderr,
    )


def test_repo_feeds() -> None:
    """Every feed file the repository ships or tests with."""
    for corpus, root in (
        ("tests/fixtures/feeds", REPO / "tests" / "fixtures" / "feeds"),
        ("include/sample_feeds", REPO / "include" / "sample_feeds"),
        ("eval/captures", REPO / "eval" / "captures"),
    ):
        if not root.is_dir():
            continue
        out = _run(corpus, root)
        _check(corpus, out)
        if corpus == "include/sample_feeds":
            assert out.fast == out.files, out.fallbacks
    fixtures = REPO / "tests" / "fixtures" / "feeds"
    # the ill-formed fixtures are exactly the ones left to feedparser
    refused = {
        p.name
        for p in _files(fixtures)
        if fastparse.parse_document(as_utf8_document(decode_body(p.read_bytes())[0]), feed_id="f") is None
    }
    assert refused == {"entities.xml", "truncated.xml", "html_page.html"}


def test_real_captures() -> None:
    """The 30 real captures: the fast path takes every one of them, with identical results."""
    out = _run("realfeeds", REPO / "tests" / "fixtures" / "realfeeds")
    _check("realfeeds", out)
    assert out.files == 30
    assert out.fast == 30, out.fallbacks
    assert out.entries >= 1100


_XML_NS = "{http://www.w3.org/XML/1998/namespace}"
_NEW_TAGS = [
    "title", "link", "description", "guid", "pubDate", "author", "category", "comments", "date", "source",
    "enclosure", "summary", "content", "id", "updated", "image", "textinput", "foo",
    "{http://purl.org/dc/elements/1.1/}creator", "{http://purl.org/dc/elements/1.1/}date",
    "{http://purl.org/rss/1.0/modules/content/}encoded", "{http://search.yahoo.com/mrss/}title",
    "{http://search.yahoo.com/mrss/}description", "{http://search.yahoo.com/mrss/}content",
    "{http://unknown.example/}bar",
]  # fmt: skip
_NEW_TEXTS = [
    "", "  x  ", "Hello & <b>bold</b>", "a@b.com (Ann)", "Sat, 02 May 2020 10:11:12 GMT", "2020-05-02T10:11:12Z",
    "/rel/path", "http:///x", "caf\u00e9 \u0093q\u0094", "&lt;p&gt;hi&lt;/p&gt;", "https://ex.test/a?x=1&amp;y=2",
]  # fmt: skip
_NEW_NAMESPACES = [
    ("http://purl.org/dc/elements/1.1/", "x"), ("http://purl.org/dc/terms/", "dc"), ("http://unknown.example/", None),
    ("http://www.w3.org/2005/Atom", "a"), ("http://search.yahoo.com/mrss/", "m"), ("http://purl.org/rss/1.0/", None),
]  # fmt: skip


def _mutate(root: etree._Element, rng: random.Random) -> bytes:
    """A real feed with a few random edits of the kinds feedparser treats specially: xml:base and
    xml:lang anywhere, extra or moved elements (dates, guids, descriptions, media, unknown ones),
    namespace declarations below the root, odd text, removed elements, shuffled children."""
    root = copy.deepcopy(root)
    elements = list(root.iter())
    for _ in range(rng.randint(1, 12)):
        el = rng.choice(elements)
        parent = el.getparent()
        op = rng.random()
        if op < 0.15:
            el.set(_XML_NS + "base", rng.choice(["http://base.example/dir/", "rel/", "javascript:alert(1)", ""]))
        elif op < 0.3:
            el.set(_XML_NS + "lang", rng.choice(["fr", "en_US", ""]))
        elif op < 0.5:
            new = etree.SubElement(el, rng.choice(_NEW_TAGS))
            new.text = rng.choice(_NEW_TEXTS)
            if rng.random() < 0.3:
                new.set(
                    rng.choice(["type", "isPermaLink", "href", "rel", "url", "mode"]),
                    rng.choice(["html", "false", "xhtml", "base64", "http://h.example/x"]),
                )
            if parent is not None and rng.random() < 0.5:
                parent.insert(rng.randint(0, len(parent)), new)
        elif op < 0.6:
            uri, prefix = rng.choice(_NEW_NAMESPACES)
            local = rng.choice(["title", "creator", "date", "link", "description", "content", "id", "issued"])
            etree.SubElement(el, f"{{{uri}}}{local}", nsmap={prefix: uri}).text = rng.choice(_NEW_TEXTS)
        elif op < 0.7 and parent is not None:
            parent.remove(el)
            elements = list(root.iter())
        elif op < 0.85:
            el.text = rng.choice(_NEW_TEXTS)
        elif len(el) > 1:
            children = list(el)
            rng.shuffle(children)
            el.extend(children)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")  # type: ignore[no-any-return]


def test_mutated_real_feeds() -> None:
    """120 randomly edited real captures (fixed seed): wherever the fast path takes one, both paths
    (with and without short cuts) agree with feedparser, as on the untouched corpora."""
    rng = random.Random(20200502)
    roots = [etree.fromstring(p.read_bytes()) for p in _files(REPO / "tests" / "fixtures" / "realfeeds")]
    taken = 0
    for i in range(120):
        body = _mutate(rng.choice(roots), rng)
        ref = _with_feedparser(body)
        doc = as_utf8_document(decode_body(body)[0])
        fast = fastparse.parse_document(doc, feed_id="f", base_url=BASE_URL, default_language=DEFAULT_LANGUAGE)
        if fast is None:
            continue
        taken += 1
        problems = list(_compare(ref, fast, clean=False))
        general = _general_path(doc)
        assert general is not None
        problems += [(f, "general path: " + d) for f, d in _compare(ref, general, clean=False)]
        assert not problems, f"mutation {i}: {problems[:5]}\n{body[:3000]!r}"
    assert taken > 80


@pytest.fixture(scope="session")
def feedparser_tests() -> Path:
    """feedparser's test feeds from its sdist (downloaded once, hash-checked, into .cache/)."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from fetch_feedparser_tests import tests_dir
    finally:
        sys.path.remove(str(REPO / "tools"))
    return tests_dir()


def test_feedparser_own_test_feeds(feedparser_tests: Path) -> None:
    """feedparser's own test suite: the fast path takes most of it and agrees wherever it does."""
    out = _run("feedparser-sdist", feedparser_tests, clean=False)
    _check("feedparser-sdist", out)
    assert out.files > 2000
    assert out.fast > 1600, (out.fast, out.fallbacks)
    # the ones it leaves: XML that is not well-formed and markup inside text constructs
    assert out.fallbacks.most_common(1)[0][0].startswith(("not well-formed", "element"))


def test_script_in_description_never_reaches_the_snapshot() -> None:
    """Neither path sanitises (parse_feed turns feedparser's sanitiser off); clean_article drops
    scripts, styles and event handlers, and it gets the very same HTML from both."""
    feed = (
        b"<rss version='2.0'><channel><title>t</title><item><title>Hi &lt;b&gt;there&lt;/b&gt;</title>"
        b'<link>https://example.test/a</link><description>&lt;p onclick="steal()"&gt;Kept text.'
        b"&lt;script&gt;alert('x')&lt;/script&gt;&lt;style&gt;p{color:red}&lt;/style&gt;&lt;/p&gt;"
        b"</description></item></channel></rss>"
    )
    ref = _with_feedparser(feed, base_url=None, default_language=None)
    fast = fastparse.parse_document(as_utf8_document(decode_body(feed)[0]), feed_id="f")
    assert fast is not None
    assert [dataclasses.asdict(e) for e in fast.entries] == [dataclasses.asdict(e) for e in ref.entries]
    (entry,) = fast.entries
    assert "<script>" in entry.html  # unsanitised on purpose, as feedparser gives it to parse_feed
    cleaned = clean_article(entry.title, entry.html)
    for bad in ("alert", "script", "color:red", "onclick", "steal"):
        assert bad not in cleaned.text and bad not in cleaned.title
    assert "Kept text." in cleaned.text


@pytest.mark.parametrize(
    "doc",
    [
        # external entity (XXE): must not read the file, must not even parse
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<rss version='2.0'><channel><item><title>&x;</title></item></channel></rss>",
        # entity expansion ("billion laughs")
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><rss version="2.0"><channel><item><title>&c;</title>'
        b"</item></channel></rss>",
        # a DTD from the network
        b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/rss.dtd"><rss version="2.0"/>',
        # not well-formed, not a feed, NUL bytes
        b"<rss version='2.0'><channel><item><title>a &nbsp; b</title></item></channel></rss>",
        b"<html><body><p>hello</p></body></html>",
        "<rss version='2.0'><channel><title>\x00</title></channel></rss>".encode("utf-16-le"),
    ],
)
def test_refuses_what_it_must_not_parse(doc: bytes) -> None:
    """DTDs, entities, network, ill-formed XML and foreign roots all go to feedparser."""
    assert fastparse.parse_document(doc, feed_id="f") is None
    assert fastparse.fallback_reason(doc)


def test_end_tag_renamed_by_a_nested_declaration() -> None:
    """feedparser names an element again at its end tag. Here ``media`` is bound to a URI it does
    not know ("//search..."), so ``media:content`` starts as itself; a child then declares the real
    Media RSS URI, which takes over the name ``media``, and the outer end tag becomes a bare
    ``</content>``: it pops the content left open by ``<media:description/>``, whose text the inner
    element filled. (Found by the mutation test; both paths must do the same.)"""
    body = (
        b'<rss version="2.0" xmlns:media="//search.yahoo.com/mrss/"><channel><item><title>t</title>'
        b"<description>short</description><media:description/>"
        b'<media:content url="https://example.test/a.jpg"><m:content xmlns:m="http://search.yahoo.com/mrss/">'
        b"&lt;p&gt;the longer body&lt;/p&gt;</m:content></media:content></item></channel></rss>"
    )
    ref = _with_feedparser(body)
    assert ref.entries[0].html == "<p>the longer body</p>"
    doc = as_utf8_document(decode_body(body)[0])
    fast = fastparse.parse_document(doc, feed_id="f", base_url=BASE_URL, default_language=DEFAULT_LANGUAGE)
    for result in (fast, _general_path(doc)):
        assert result is not None
        assert list(_compare(ref, result, clean=False)) == []
