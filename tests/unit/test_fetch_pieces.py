"""The offline pieces of fetching: the status contract, settings, batching, the state store, header
parsing, the decoder and HTML sniffing. The HTTP behaviour is in tests/integration/test_fetch.py."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedmon.fetch import (
    FetchSettings,
    commit_fetch_state,
    plan_batches,
)
from feedmon.fetch.http import Decoder, TooLarge, retry_after_seconds
from feedmon.fetch.state import FeedState, FetchStateStore, feed_key
from feedmon.models import FeedConfig, FetchResult
from feedmon.vocab import FAILED_STATUSES, FEED_STATUS_MEANINGS, FEED_STATUSES
from tests.conftest import REPO

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_docs_explain_every_status_and_setting():
    doc = (REPO / "docs" / "fetching.md").read_text(encoding="utf-8")
    for status in FEED_STATUSES:
        assert f"| `{status}` |" in doc, status
    for f in fields(FetchSettings):
        assert f"`FEEDMON_FETCH_{f.name.upper()}`" in doc, f.name


def test_status_set_is_fixed_and_documented():
    assert set(FEED_STATUSES) == {
        "ok",
        "not_modified",
        "http_error",
        "timeout",
        "too_large",
        "redirect_loop",
        "connection_error",
        "parse_error",
        "empty",
        "backoff",
    }
    assert set(FEED_STATUSES) - {"ok", "not_modified"} == FAILED_STATUSES
    assert all(FEED_STATUS_MEANINGS[s] for s in FEED_STATUSES)


def test_plan_batches_keeps_hosts_together_and_balances():
    feeds = [FeedConfig(id=f"a{i}", url=f"https://a.example/{i}") for i in range(6)]
    feeds += [FeedConfig(id=f"b{i}", url=f"https://B.example:8443/{i}") for i in range(3)]
    feeds += [FeedConfig(id=f"h{i}", url=f"https://host{i}.example/") for i in range(9)]
    batches = plan_batches(feeds, max_batches=4)
    assert len(batches) == 4
    assert sorted(f.id for b in batches for f in b) == sorted(f.id for f in feeds)
    for prefix in ("a", "b"):
        assert sum(any(f.id.startswith(prefix) and f.id[1:].isdigit() for f in b) for b in batches) == 1
    sizes = sorted(len(b) for b in batches)
    assert sizes[-1] - sizes[0] <= 2
    assert plan_batches([], 4) == []
    assert len(plan_batches(feeds[:2], 16)) == 1  # one host -> one batch


def test_settings_from_env():
    s = FetchSettings.from_env({"FEEDMON_FETCH_PER_HOST": "4", "FEEDMON_FETCH_READ_TIMEOUT": "2.5"})
    assert (s.per_host, s.read_timeout, s.max_workers) == (4, 2.5, 64)
    assert FetchSettings.from_env({"FEEDMON_FETCH_TRUST_ENV": "yes"}).trust_env is True
    assert FetchSettings.from_env({"FEEDMON_FETCH_TRUST_ENV": "0"}).trust_env is False
    with pytest.raises(ValueError, match="FEEDMON_FETCH_TRUST_ENV"):
        FetchSettings.from_env({"FEEDMON_FETCH_TRUST_ENV": "maybe"})
    with pytest.raises(ValueError, match="FEEDMON_FETCH_MAX_BYTES"):
        FetchSettings.from_env({"FEEDMON_FETCH_MAX_BYTES": "lots"})


def test_state_store_layout_and_corruption(tmp_path):
    store = FetchStateStore(tmp_path)
    store.put(FeedState(feed_id="a/b", etag='"x"', next_poll_at=NOW))
    path = Path(store.path_for("a/b"))
    assert path.parent == tmp_path and path.name == f"{feed_key('a/b')}.json" and "/" not in feed_key("a/b")
    assert feed_key("a/b") != feed_key("a_b")
    doc = json.loads(path.read_text())
    assert doc["etag"] == '"x"' and doc["next_poll_at"] == NOW.isoformat()
    assert store.get("a/b").next_poll_at == NOW
    path.write_text('{"etag": ')  # a torn or hand-broken document
    assert store.get("a/b") == FeedState(feed_id="a/b")


def test_state_store_on_object_storage_url(tmp_path):
    """Any fsspec URL works (memory:// stands in for s3:// here)."""
    store = FetchStateStore("memory://feedmon-test/state")
    store.update("x", lambda st: setattr(st, "etag", '"e"'))
    assert FetchStateStore("memory://feedmon-test/state").get("x").etag == '"e"'


def test_retry_after_header_forms():
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("Sat, 28 Nov 2026 12:01:00 GMT", now=NOW.timestamp()) == 60
    assert retry_after_seconds("Sat, 28 Nov 2026 11:00:00 GMT", now=NOW.timestamp()) == 0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_decoder_handles_concatenated_gzip_members_and_caps_output():
    import gzip

    dec = Decoder("gzip", limit=1000)
    assert dec.feed(gzip.compress(b"abc") + gzip.compress(b"def")) + dec.flush() == b"abcdef"
    with pytest.raises(ValueError, match="unsupported"):
        Decoder("br", limit=10)
    bomb = Decoder("gzip", limit=10_000)
    with pytest.raises(TooLarge):
        bomb.feed(gzip.compress(b"\0" * 1_000_000))


def test_looks_like_html():
    from feedmon.sniff import looks_like_html

    assert looks_like_html(b"\xef\xbb\xbf  <!DOCTYPE html><html><body>x</body></html>")
    assert looks_like_html(b"<?xml version='1.0'?>\n<!-- hi --><html xmlns='http://www.w3.org/1999/xhtml'/>")
    assert not looks_like_html(b"<?xml version='1.0'?><rss version='2.0'><channel/></rss>")
    assert not looks_like_html(b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "text/html")


def _ok(fetched_at: datetime, etag: str) -> FetchResult:
    """A 200 as the archive hands it to publish: the body's hash, not the body."""
    return FetchResult(
        "f", "https://f.example/rss", "ok", fetched_at, 5, http_status=200, headers={"etag": etag}, body_sha256=etag
    )


def test_recording_a_runs_results_is_idempotent_and_never_goes_back(tmp_path):
    """What publish relies on: a replay records nothing twice, an older result never overwrites a newer one."""
    feed = FeedConfig(id="f", url="https://f.example/rss")
    store = FetchStateStore.under(tmp_path)
    commit_fetch_state([feed], [_ok(NOW, '"v1"')], state_dir=str(tmp_path), run_id="run-1")
    first = Path(store.path_for("f")).read_bytes()
    state = store.get("f")
    assert (state.etag, state.content_hash, state.last_new_content_at) == ('"v1"', '"v1"', NOW)
    assert (state.last_fetched_at, state.last_run_id) == (NOW, "run-1")

    commit_fetch_state([feed], [_ok(NOW, '"v1"')], state_dir=str(tmp_path), run_id="run-1")  # replayed
    assert Path(store.path_for("f")).read_bytes() == first

    later = NOW + timedelta(minutes=30)
    commit_fetch_state([feed], [_ok(later, '"v2"')], state_dir=str(tmp_path), run_id="run-2")
    failed = FetchResult("f", feed.url, "http_error", NOW + timedelta(minutes=1), 5, http_status=500)
    commit_fetch_state([feed], [failed], state_dir=str(tmp_path), run_id="run-0")  # older: a late replay
    state = store.get("f")
    assert (state.etag, state.consecutive_failures, state.last_run_id) == ('"v2"', 0, "run-2")


def test_a_late_commit_dates_its_transitions_by_the_fetch(tmp_path):
    feed = FeedConfig(id="f", url="https://f.example/rss")
    failed = FetchResult("f", feed.url, "http_error", NOW, 5, http_status=503)
    settings = FetchSettings(backoff_base=600)
    commit_fetch_state([feed], [failed], state_dir=str(tmp_path), settings=settings, run_id="r")
    state = FetchStateStore.under(tmp_path).get("f")
    assert (state.failing_since, state.next_poll_at) == (NOW, NOW + timedelta(seconds=600))
