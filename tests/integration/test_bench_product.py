"""The product benchmark's own parts: the feeds it serves, the server's HTTP caching, and its guard.

A benchmark whose corpus miscounts, whose server never answers 304, or whose guard passes a short
snapshot would report figures that mean nothing; these tests make each of those fail loudly.
"""

from __future__ import annotations

import gzip
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from bench_product import FeedServer, check_snapshot, result_name  # noqa: E402
from product_corpus import CorpusSpec, build, load_manifest  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(CorpusSpec(feeds=12, items=40), cache=tmp_path_factory.mktemp("corpus"), log=False)


def _entries(corpus: Path, index: int) -> list:
    return feedparser.parse(gzip.decompress((corpus / "feeds" / f"{index}.xml.gz").read_bytes())).entries


def test_corpus_counts_match_the_feeds_and_exact_copies_are_relistings(corpus: Path) -> None:
    m = load_manifest(corpus)
    assert m["served_items"] == 12 * 40
    assert m["copies"] > 0 and m["exact_copies"] > 0
    assert m["expected_articles"] == m["served_items"] - m["exact_copies"]
    links = []
    formats = set()
    for f in m["feeds"]:
        entries = _entries(corpus, f["index"])
        assert len(entries) == f["items"] == 40
        # (RSS 1.0 dates are dc:date, which feedparser reports as "updated")
        assert all(e.get("title") and e.get("summary") for e in entries)
        assert all(e.get("published_parsed") or e.get("updated_parsed") for e in entries)
        links += [e.link for e in entries]
        formats.add(f["format"])
    assert formats == {"rss", "atom", "rdf"}
    # Exactly the planted exact copies share a page once tracking parameters are dropped.
    pages = [urlsplit(u)._replace(query="").geturl() for u in links]
    assert len(pages) - len(set(pages)) == m["exact_copies"]


def test_server_sends_validators_and_answers_304(corpus: Path) -> None:
    m = load_manifest(corpus)
    with FeedServer(corpus, hosts=3) as server:
        assert len(server.ports) == 3
        url = server.url(4)
        assert urlsplit(url).hostname == "127.0.0.2"  # feed i on host 1 + i % K
        req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            etag, last_modified = resp.headers["ETag"], resp.headers["Last-Modified"]
            assert resp.headers["Content-Encoding"] == "gzip"
            assert len(feedparser.parse(gzip.decompress(resp.read())).entries) == m["feeds"][4]["items"]
        for validator in ({"If-None-Match": etag}, {"If-Modified-Since": last_modified}):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(urllib.request.Request(url, headers=validator), timeout=10)
            assert err.value.code == 304
        with urllib.request.urlopen(url, timeout=10) as resp:  # no gzip asked: plain XML
            assert resp.read().startswith(b"<?xml")
        stats = server.stats()
        assert (stats["requests"], stats["not_modified"]) == (4, 2)
        # The fetch window runs from the first request to the last answer, and restarts per /stats.
        assert stats["fetch_span_s"] > 0 and server.stats()["fetch_span_s"] == 0


def test_guard_refuses_a_snapshot_that_lost_or_doubled_rows(corpus: Path, tmp_path: Path) -> None:
    m = load_manifest(corpus)
    n = m["expected_articles"]

    def snapshot(ids: list[str]) -> Path:
        path = tmp_path / f"{len(ids)}.parquet"
        table = pa.table({"article_id": ids, "story_id": ids, "is_conflict": [False] * len(ids)})
        pq.write_table(table, path)
        return path

    ids = [f"a{i}" for i in range(n)]
    assert check_snapshot(snapshot(ids), m)["ok"]
    assert not check_snapshot(snapshot(ids[:-1]), m)["ok"]
    assert not check_snapshot(snapshot([*ids[:-1], ids[0]]), m)["ok"]  # right count, one id twice
    assert not check_snapshot(tmp_path / "missing.parquet", m)["ok"]


def test_a_partial_run_never_overwrites_the_full_result_file() -> None:
    assert result_name(quick=False, only=None) == "product.json"
    assert result_name(quick=True, only=None) == "product-quick.json"
    assert result_name(quick=False, only={"s2"}) == "product-s2.json"
