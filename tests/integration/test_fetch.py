"""Fetching against a real misbehaving HTTP server on 127.0.0.1 (see tests/fetch_server.py)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from feedmon.fetch import (
    FetchSettings,
    commit_fetch_state,
    fetch_feeds,
)
from feedmon.fetch.state import FetchStateStore
from feedmon.models import FeedConfig
from feedmon.parse import parse_feed
from tests.fetch_server import FIXTURES, MisbehavingServer

FAST = FetchSettings(
    connect_timeout=1.0,
    read_timeout=1.0,
    min_host_delay=0.0,
    per_host=8,
    retry_base_delay=0.05,
    retry_max_delay=3.0,
)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
OK_BYTES = (FIXTURES / "ok.xml").read_bytes()


@pytest.fixture(scope="module")
def server():
    with MisbehavingServer() as srv:
        srv.prepare_bomb(64)
        yield srv


def feed(srv: MisbehavingServer, path: str, fid: str | None = None, **kw) -> FeedConfig:
    return FeedConfig(id=fid or path.strip("/").replace("/", "_").replace("?", "_"), url=srv.url(path), **kw)


def one(srv, path, *, state_dir=None, settings=FAST, now=NOW, **kw):
    [res] = fetch_feeds([feed(srv, path, **kw)], state_dir=state_dir, settings=settings, now=now)
    return res


# --- contract ---------------------------------------------------------------------------------------


def test_every_misbehaving_case_in_one_batch(server, tmp_path):
    """The issue's table: each case gets its status, results keep input order, healthy feeds parse."""
    cases = [
        ("/feeds/ok.xml", "ok"),
        ("/slow?delay=6", "timeout"),
        ("/flaky/mixed?fail=1", "ok"),
        ("/ratelimit/mixed?after=1", "ok"),
        ("/status/404", "http_error"),
        ("/status/410", "http_error"),
        ("/loop/a", "redirect_loop"),
        ("/moved", "ok"),
        ("/big?size=2000000", "too_large"),
        ("/bomb", "too_large"),
        ("/wrong-charset", "ok"),
        ("/html", "parse_error"),
        ("/empty", "empty"),
        ("/truncated", "ok"),
        ("/same-guid", "ok"),
        ("/reset/mixed?fail=1", "ok"),
        ("/gzip", "ok"),
        ("/feeds/atom.xml", "ok"),
    ]
    feeds = [feed(server, p, fid=f"f{i:02d}", max_bytes=1_000_000) for i, (p, _) in enumerate(cases)]
    t0 = time.monotonic()
    settings = replace(FAST, read_timeout=2.5)  # generous: the machine running the tests may be busy
    results = fetch_feeds(feeds, state_dir=str(tmp_path), settings=settings, now=NOW)
    assert [r.feed_id for r in results] == [f.id for f in feeds]
    assert [(p, r.status) for (p, _), r in zip(cases, results, strict=True)] == cases
    # Concurrency from the server's own clock, not the wall time of a busy machine: while the slow
    # case waits out its 2.5 s timeout, other cases start (one after the other, none could).
    [slow] = [h for h in server.hits_for("/slow?delay=6") if h.started >= t0]
    during = [h for h in server.hits if h is not slow and slow.started <= h.started < slow.started + 2.0]
    assert len(during) >= 3, "cases must run concurrently, not one after the other"
    for (_path, status), r in zip(cases, results, strict=True):
        if status == "ok":
            assert r.body and r.bytes == len(r.body) and r.http_status == 200
            parsed = parse_feed(r.body, feed_id=r.feed_id, headers=r.headers, base_url=r.url)
            assert parsed.entries, r.url
        else:
            assert r.body is None
            assert r.error
            assert r.consecutive_failures == 1
    by_path = dict(zip([p for p, _ in cases], results, strict=True))
    assert by_path["/moved"].final_url == server.url("/feeds/ok.xml")
    assert by_path["/feeds/ok.xml"].final_url is None
    assert len(parse_feed(by_path["/same-guid"].body, feed_id="x").entries) == 3
    cyr = parse_feed(by_path["/wrong-charset"].body, feed_id="x", headers=by_path["/wrong-charset"].headers)
    assert cyr.entries[0].title.startswith("Президент")
    trunc = parse_feed(by_path["/truncated"].body, feed_id="x")
    assert [e.guid for e in trunc.entries][:2] == ["trunc-1", "trunc-2"]
    assert trunc.bozo and trunc.error


# --- HTTP behaviour ----------------------------------------------------------------------------------


def test_ok_sends_user_agent_and_lowercases_headers(server):
    res = one(server, "/feeds/ok.xml")
    assert res.status == "ok" and res.body == OK_BYTES and res.bytes == len(OK_BYTES)
    assert res.headers["etag"] and "ETag" not in res.headers
    assert res.fetched_at == NOW and res.duration_ms >= 0
    hit = server.hits_for("/feeds/ok.xml")[-1]
    assert hit.headers["user-agent"] == FAST.user_agent
    assert "gzip" in hit.headers["accept-encoding"]


def test_connections_are_kept_alive_across_feeds_and_error_pages(server):
    paths = ["/feeds/ok.xml?k=ka1", "/status/404?k=ka", "/moved?k=ka", "/feeds/atom.xml?k=ka2", "/gzip?k=ka"]
    feeds = [feed(server, p, fid=f"ka{i}") for i, p in enumerate(paths)]
    server.reset_stats()
    res = fetch_feeds(feeds, state_dir=None, settings=replace(FAST, max_workers=1, per_host=1))
    assert [r.status for r in res] == ["ok", "http_error", "ok", "ok", "ok"]
    assert res[0].body == OK_BYTES and res[4].body == OK_BYTES
    assert len(server.hits) == 6  # five feeds plus the redirect's target
    clients = {h.client for h in server.hits}
    assert len(clients) == 1, "one worker, one host: every request should reuse the same connection"


def test_conditional_get_turns_into_not_modified(server, tmp_path):
    first = one(server, "/feeds/atom.xml", state_dir=str(tmp_path))
    second = one(server, "/feeds/atom.xml", state_dir=str(tmp_path))
    assert first.status == "ok"
    assert second.status == "not_modified" and second.http_status == 304 and second.body is None
    assert [p.name for p in tmp_path.iterdir()] == ["fetch"]  # shares the state dir with other stages
    last = server.hits_for("/feeds/atom.xml")[-1]
    assert last.headers["if-none-match"] == first.headers["etag"]
    assert last.headers["if-modified-since"] == first.headers["last-modified"]


def test_unchanged_body_without_validators_is_not_modified(server, tmp_path):
    first = one(server, "/novalidators/ok.xml", state_dir=str(tmp_path))
    second = one(server, "/novalidators/ok.xml", state_dir=str(tmp_path))
    assert (first.status, second.status) == ("ok", "not_modified")
    assert second.http_status == 200 and second.body is None


def test_stateless_fetch_never_sends_validators(server):
    one(server, "/feeds/same_guid.xml")
    res = one(server, "/feeds/same_guid.xml")
    assert res.status == "ok"
    assert "if-none-match" not in server.hits_for("/feeds/same_guid.xml")[-1].headers


def test_slow_response_times_out_without_retry(server):
    res = one(server, "/slow?delay=2&k=timeout", settings=replace(FAST, read_timeout=0.3))
    assert res.status == "timeout" and res.body is None
    assert len(server.hits_for("/slow?delay=2&k=timeout")) == 1


def test_drip_feed_hits_the_whole_body_deadline(server):
    # Every byte comes within the per-read timeout; only the whole-body deadline (0.8 s here) stops
    # a 10 s drip. Its own message proves which limit fired, whatever the machine's load.
    res = one(server, "/drip?delay=0.05&bytes=200", settings=replace(FAST, connect_timeout=0.3, read_timeout=0.5))
    assert res.status == "timeout"
    assert res.error == "body not complete within the time limit"


def test_per_feed_timeout_overrides_global(server):
    res = one(server, "/slow?delay=1&k=perfeed", settings=replace(FAST, read_timeout=5), timeout=0.3)
    assert res.status == "timeout"


def test_500_then_success_is_retried(server):
    res = one(server, "/flaky/a?fail=1")
    assert res.status == "ok"
    assert len(server.hits_for("/flaky/a")) == 2


def test_500_exhausts_retries(server):
    res = one(server, "/flaky/b?fail=9", settings=replace(FAST, retries=2))
    assert res.status == "http_error" and res.http_status == 500
    assert "3 attempts" in res.error
    assert len(server.hits_for("/flaky/b")) == 3


def test_429_honours_retry_after(server):
    res = one(server, "/ratelimit/a?after=1")
    assert res.status == "ok"
    hits = server.hits_for("/ratelimit/a")
    assert len(hits) == 2
    assert hits[1].started - hits[0].started >= 0.95


def test_429_with_long_retry_after_waits_for_next_run(server, tmp_path):
    res = one(server, "/ratelimit/b?after=7200", state_dir=str(tmp_path))
    assert res.status == "http_error" and res.http_status == 429
    assert len(server.hits_for("/ratelimit/b")) == 1
    state = FetchStateStore.under(tmp_path).get(res.feed_id)
    assert state.next_poll_at >= NOW + timedelta(seconds=7200)


@pytest.mark.parametrize("code", [404, 410, 403])
def test_permanent_errors_are_not_retried(server, code):
    res = one(server, f"/status/{code}?k=perm")
    assert res.status == "http_error" and res.http_status == code
    assert len(server.hits_for(f"/status/{code}?k=perm")) == 1


def test_redirects(server):
    loop = one(server, "/loop/a")
    assert loop.status == "redirect_loop" and "loop" in loop.error
    long_chain = one(server, "/chain/7", settings=replace(FAST, max_redirects=5))
    assert long_chain.status == "redirect_loop" and "more than 5" in long_chain.error
    short_chain = one(server, "/chain/3")
    assert short_chain.status == "ok" and short_chain.final_url is None
    temp = one(server, "/temp")
    assert temp.status == "ok" and temp.final_url is None
    moved = one(server, "/moved")
    assert moved.status == "ok" and moved.final_url == server.url("/feeds/ok.xml")


def test_size_limits(server):
    declared = one(server, "/big?size=3000000", max_bytes=1_000_000)
    assert declared.status == "too_large" and "Content-Length" in declared.error
    streamed = one(server, "/big-stream?size=3000000", max_bytes=1_000_000)
    assert streamed.status == "too_large" and streamed.body is None
    fits = one(server, "/big?size=500000", max_bytes=1_000_000)
    assert fits.status == "ok" and fits.bytes == 500000


def test_gzip_bomb_is_stopped_at_the_decoded_cap(server):
    settings = replace(FAST, max_decoded_bytes=4 * 2**20)
    res = one(server, "/bomb?mib=32", settings=settings)
    assert res.status == "too_large" and "decompressed" in res.error


@pytest.mark.parametrize("path", ["/gzip", "/deflate"])
def test_compressed_bodies_are_decoded(server, path):
    res = one(server, path)
    assert res.status == "ok" and res.body == OK_BYTES


def test_connection_reset_is_retried_then_reported(server):
    assert one(server, "/reset/a?fail=1").status == "ok"
    res = one(server, "/reset/b?fail=9")
    assert res.status == "connection_error"
    assert len(server.hits_for("/reset/b")) == FAST.retries + 1


def test_refused_and_bad_urls_are_rows_not_exceptions():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    feeds = [
        FeedConfig(id="refused", url=f"http://127.0.0.1:{port}/feed"),
        FeedConfig(id="ftp", url="ftp://example.org/feed.xml"),
        FeedConfig(id="junk", url="http://[::1"),
    ]
    res = fetch_feeds(feeds, state_dir=None, settings=replace(FAST, retries=0))
    assert [r.status for r in res] == ["connection_error"] * 3
    assert all(r.error for r in res)


def test_html_page_is_parse_error_and_not_retried(server):
    res = one(server, "/html?k=1")
    assert res.status == "parse_error" and "HTML" in res.error
    assert len(server.hits_for("/html?k=1")) == 1


# --- state, backoff, politeness ----------------------------------------------------------------------


def test_failure_backoff_and_recovery(server, tmp_path):
    sd = str(tmp_path)
    settings = replace(FAST, backoff_base=600, backoff_max=86400)
    bad = FeedConfig(id="bad", url=server.url("/status/503?k=backoff"))
    first = fetch_feeds([bad], state_dir=sd, settings=replace(settings, retries=0), now=NOW)[0]
    assert (first.status, first.consecutive_failures) == ("http_error", 1)
    n_hits = len(server.hits_for("/status/503?k=backoff"))
    skipped = fetch_feeds([bad], state_dir=sd, settings=settings, now=NOW + timedelta(minutes=5))[0]
    assert skipped.status == "backoff" and skipped.consecutive_failures == 1
    assert len(server.hits_for("/status/503?k=backoff")) == n_hits, "backoff must not touch the host"
    later = fetch_feeds([bad], state_dir=sd, settings=replace(settings, retries=0), now=NOW + timedelta(minutes=11))
    assert later[0].consecutive_failures == 2
    state = FetchStateStore.under(sd).get("bad")
    assert state.next_poll_at == NOW + timedelta(minutes=11) + timedelta(seconds=1200)
    # backoff grows but is capped at a day
    assert settings.backoff_delay(30) == 86400
    # the operator fixes the URL: streak forgotten, fetched at once
    fixed = replace(bad, url=server.url("/feeds/ok.xml"))
    healed = fetch_feeds([fixed], state_dir=sd, settings=settings, now=NOW + timedelta(minutes=12))[0]
    assert (healed.status, healed.consecutive_failures) == ("ok", 0)


def test_success_resets_the_streak(server, tmp_path):
    sd = str(tmp_path)
    f = FeedConfig(id="flaky", url=server.url("/flaky/streak?fail=1"))
    r1 = fetch_feeds([f], state_dir=sd, settings=replace(FAST, retries=0), now=NOW)[0]
    r2 = fetch_feeds([f], state_dir=sd, settings=FAST, now=NOW + timedelta(days=1))[0]
    assert (r1.consecutive_failures, r2.status, r2.consecutive_failures) == (1, "ok", 0)


def test_deferred_commit_counts_parse_errors(server, tmp_path):
    sd = str(tmp_path)
    f = FeedConfig(id="later", url=server.url("/feeds/ok.xml?k=deferred"))
    g = FeedConfig(id="fine", url=server.url("/feeds/atom.xml?k=deferred"))
    res, fine = fetch_feeds([f, g], state_dir=sd, settings=FAST, now=NOW, commit_state=False)
    assert (res.status, fine.status) == ("ok", "ok") and not list(tmp_path.rglob("*.json"))
    res.status, res.error = "parse_error", "pretend the parser refused it"
    commit_fetch_state([f, g], [res, fine], state_dir=sd, settings=FAST, now=NOW)
    state = FetchStateStore.under(sd).get("later")
    assert state.consecutive_failures == 1 and state.content_hash is None and state.etag is None
    assert res.consecutive_failures == 1
    assert FetchStateStore.under(sd).get("fine").etag == fine.headers["etag"]
    again = fetch_feeds([g], state_dir=sd, settings=FAST, now=NOW)[0]
    assert again.status == "not_modified"


def test_per_host_limit_and_delay(server):
    settings = replace(FAST, per_host=2, min_host_delay=0.3, max_workers=16)
    feeds = [feed(server, f"/slow?delay=0.3&k=host{i}", fid=f"h{i}") for i in range(6)]
    server.reset_stats()
    res = fetch_feeds(feeds, state_dir=None, settings=settings)
    assert [r.status for r in res] == ["ok"] * 6
    hits = sorted(server.hits_for("/slow?delay=0.3&k=host"), key=lambda h: h.started)
    assert server.max_active <= 2
    # Starts are 0.3 s apart at the client; the server sees them with some arrival jitter on a busy
    # machine, so allow 0.1 s of it (a missing delay would show gaps of ~0).
    gaps = [b.started - a.started for a, b in itertools.pairwise(hits)]
    assert min(gaps) >= 0.2


def test_hosts_are_fetched_in_parallel():
    with MisbehavingServer(host="127.0.0.1") as a, MisbehavingServer(host="127.0.0.2") as b:
        # 1 s per request: wide enough that "host b started before host a's first answer" holds under load.
        feeds = [FeedConfig(id=f"{s.host}-{i}", url=s.url(f"/slow?delay=1&i={i}")) for s in (a, b) for i in range(2)]
        # read_timeout well above the 1 s answer: a busy machine must not turn it into a timeout.
        settings = replace(FAST, per_host=1, min_host_delay=0, read_timeout=10.0)
        res = fetch_feeds(feeds, state_dir=None, settings=settings)
        hits_a, hits_b = a.hits, b.hits
    assert [r.status for r in res] == ["ok"] * 4
    assert a.max_active == 1 and b.max_active == 1  # each host one at a time ...
    assert hits_b[0].started < hits_a[0].ended  # ... but the two hosts at the same time


# --- state store ---------------------------------------------------------------------------------------


_BUMP = """
import sys
from feedmon.fetch.state import FetchStateStore
store = FetchStateStore(sys.argv[1])
for _ in range(int(sys.argv[2])):
    store.update("shared/feed", lambda st: setattr(st, "consecutive_failures", st.consecutive_failures + 1))
"""


def test_state_store_survives_concurrent_writers(tmp_path):
    """Four processes bump one feed's counter 50 times each: no update lost, nothing torn."""
    procs = [subprocess.Popen([sys.executable, "-c", _BUMP, str(tmp_path), "50"]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 4
    assert FetchStateStore(tmp_path).get("shared/feed").consecutive_failures == 200
    assert not list(tmp_path.glob("*.tmp"))


# --- small pure pieces -----------------------------------------------------------------------------------
