"""feedmon.urls.canonical_url: one URL per page."""

from __future__ import annotations

import pytest

from feedmon.urls import canonical_url


@pytest.mark.parametrize(
    ("url", "want"),
    [
        # tracking parameters, fragments, host case, www., default port, sorted query
        (
            "HTTPS://WWW.Example.com:443/World/Story-1?utm_source=rss&utm_medium=feed&b=2&a=1#comments",
            "https://example.com/World/Story-1?a=1&b=2",
        ),
        ("https://example.com/a?fbclid=IwAR0&gclid=x&traffic_source=rss&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?mc_cid=1&mc_eid=2&ocid=3&cmpid=4&ns_source=5", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com", "https://example.com/"),
        # AMP variants
        ("https://example.com/news/story-1/amp", "https://example.com/news/story-1"),
        ("https://example.com/news/story-1/amp/", "https://example.com/news/story-1"),
        ("https://example.com/news/story-1.amp.html", "https://example.com/news/story-1.html"),
        ("https://www.bbc.co.uk/news/world-123.amp", "https://bbc.co.uk/news/world-123"),
        ("https://example.com/news/story-1?amp", "https://example.com/news/story-1"),
        ("https://example.com/news/story-1?amp=1&outputType=amp", "https://example.com/news/story-1"),
        ("https://amp.example.com/news/story-1", "https://example.com/news/story-1"),
        ("https://example.com/amp/news/story-1", "https://example.com/news/story-1"),
        (
            "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/story-1/amp",
            "https://example.com/news/story-1",
        ),
        ("https://www.google.com/amp/s/www.example.com/news/story-1.amp", "https://example.com/news/story-1"),
        # the AMP patterns are case-insensitive (the cheap "/amp" / ".amp" test before them too)
        ("https://example.com/AMP/news/Story-1.Amp.HTML", "https://example.com/news/Story-1.HTML"),
        ("https://example.com/news/story-1/Amp", "https://example.com/news/story-1"),
        ("https://example.com/examples/camp", "https://example.com/examples/camp"),
        # user info is kept (only netlocs with "@" have any); an empty query adds no "?"
        ("http://user:pw@www.example.com:8080/a?", "http://user:pw@example.com:8080/a"),
        ("http://@example.com/a", "http://example.com/a"),
        # values are kept as written (no re-encoding), repeated keys keep their order
        ("https://example.com/s?q=a%20b&tag=x&tag=a", "https://example.com/s?q=a%20b&tag=x&tag=a"),
        # not http(s): returned stripped, untouched
        ("  mailto:desk@example.com ", "mailto:desk@example.com"),
        ("urn:uuid:1234", "urn:uuid:1234"),
        ("", ""),
        ("http://[bad", "http://[bad"),
    ],
)
def test_canonical_url(url: str, want: str) -> None:
    assert canonical_url(url) == want


def test_variants_of_one_page_collapse() -> None:
    variants = [
        "https://www.example.com/2024/05/01/story.html",
        "https://EXAMPLE.com:443/2024/05/01/story.html",
        "https://example.com/2024/05/01/story.amp.html?utm_campaign=x#top",
        "https://amp.example.com/2024/05/01/story.html?fbclid=abc",
    ]
    assert len({canonical_url(u) for u in variants}) == 1


def test_idempotent() -> None:
    u = "https://www.Example.com/a/amp?z=1&utm_source=x&a=2#f"
    assert canonical_url(canonical_url(u)) == canonical_url(u)


def test_meaningful_parameters_and_paths_are_kept() -> None:
    assert (
        canonical_url("https://example.com/article.php?id=42&page=2") == "https://example.com/article.php?id=42&page=2"
    )
    assert canonical_url("https://example.com/ample/example") == "https://example.com/ample/example"
    assert canonical_url("https://example.com/news/amp-stadium-opens") == "https://example.com/news/amp-stadium-opens"
