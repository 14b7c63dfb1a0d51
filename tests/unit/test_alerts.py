"""feedmon.alerts: the alert record, delivery to log and a real local webhook, and the data checks."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from feedmon import alerts, outputs
from feedmon.config import Settings
from tests.fixtures.report_data import DAY, RUN1, RUN2, T1, T2, write_day
from tests.fixtures.webhook import webhook_receiver


@pytest.fixture
def receiver():
    with webhook_receiver(slow_seconds=2.0) as rec:
        yield rec


@pytest.fixture
def settings(data_dir) -> Settings:
    s = Settings.from_env()
    write_day(s)
    return s


def _alert(**kw) -> alerts.Alert:
    base = {
        "kind": alerts.FAILED_FEEDS,
        "title": "2 of 5 feeds failed",
        "what": "Too many feeds failed.",
        "feeds": ("tass-en", "bbc-world"),
        "since": T1,
        "run_link": "http://airflow.example/dags/feedmon_ingest/runs/r1",
        "dag_id": "feedmon_ingest",
        "run_id": "r1",
    }
    base.update(kw)
    return alerts.Alert(**base)


# --------------------------------------------------------------------------- the record
def test_alert_text_names_what_which_since_and_link():
    text = _alert().format_text()
    assert text.splitlines()[0] == "[feedmon ERROR] 2 of 5 feeds failed"
    assert "Feeds (2): tass-en, bbc-world" in text
    assert "Since: 2026-11-27 09:00 UTC" in text
    assert "Link: http://airflow.example/dags/feedmon_ingest/runs/r1" in text


def test_payload_is_json_with_text_and_structured_alert():
    payload = json.loads(json.dumps(_alert(details={"when": T2}).payload()))
    assert payload["text"].startswith("[feedmon ERROR]")
    assert payload["alert"]["kind"] == "failed_feeds"
    assert payload["alert"]["feeds"] == ["tass-en", "bbc-world"]
    assert payload["alert"]["since"] == "2026-11-27T09:00:05+00:00"
    assert payload["alert"]["details"]["when"].startswith("2026-11-27 09:30:05")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown alert kind"):
        _alert(kind="meh")


def test_run_url_quotes_the_run_id():
    url = alerts.run_url("http://h:8080/", "feedmon_ingest", "manual__2026-11-27T09:00:00+00:00")
    assert url == "http://h:8080/dags/feedmon_ingest/runs/manual__2026-11-27T09%3A00%3A00%2B00%3A00"


# --------------------------------------------------------------------------- delivery
def test_deliver_logs_only_without_webhook(caplog, monkeypatch):
    monkeypatch.delenv("FEEDMON_ALERT_WEBHOOK", raising=False)
    with caplog.at_level(logging.WARNING, logger="feedmon.alerts"):
        assert alerts.deliver(_alert()) is False
    assert any("2 of 5 feeds failed" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_deliver_posts_json_to_the_webhook(receiver):
    assert alerts.deliver(_alert(), f"{receiver.base_url}/hook") is True
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    assert req["path"] == "/hook"
    assert req["headers"]["Content-Type"] == "application/json"
    assert req["headers"]["User-Agent"].startswith("feedmon-alerts/")
    assert req["json"]["alert"]["feeds"] == ["tass-en", "bbc-world"]
    assert req["json"]["alert"]["run_link"].endswith("/runs/r1")


def test_deliver_uses_env_webhook(receiver, monkeypatch):
    monkeypatch.setenv("FEEDMON_ALERT_WEBHOOK", f"{receiver.base_url}/from-env")
    webhook = Settings.from_env().alerts.webhook  # the run's settings carry it to delivery
    assert alerts.deliver(_alert(kind=alerts.STALE, severity="warning"), webhook) is True
    assert receiver.requests[0]["path"] == "/from-env"
    assert receiver.bodies[0]["alert"]["severity"] == "warning"


def test_failing_webhook_is_logged_never_raised_and_secret_not_logged(receiver, caplog):
    with caplog.at_level(logging.WARNING, logger="feedmon.alerts"):
        assert alerts.deliver(_alert(), f"{receiver.base_url}/fail/T0KEN-SECRET") is False
    assert len(receiver.requests) == 1  # it was tried
    warnings = [r.getMessage() for r in caplog.records if "webhook" in r.getMessage()]
    assert warnings and "500" in warnings[0]
    assert all("T0KEN-SECRET" not in m for m in warnings)


def test_unreachable_and_slow_webhooks_do_not_block(receiver, caplog):
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hooks/T0KEN-SECRET"
    with caplog.at_level(logging.WARNING, logger="feedmon.alerts"):
        assert alerts.deliver(_alert(), dead, timeout=2) is False
    logged = [r.getMessage() for r in caplog.records if "webhook" in r.getMessage()]
    assert logged and "T0KEN-SECRET" not in logged[0] and "Connection" in logged[0]
    start = time.monotonic()
    assert alerts.deliver(_alert(), f"{receiver.base_url}/slow", timeout=0.3) is False
    assert time.monotonic() - start < 1.5


# --------------------------------------------------------------------------- failed-feed share
def test_failed_share_above_threshold_names_feeds_and_streak_start(settings):
    history = outputs.read_feed_health(settings, [DAY])
    run2 = [r for r in history if r["run_id"] == RUN2]
    alert = alerts.failed_feeds_alert(run2, 0.3, history=history, dag_id="feedmon_ingest", run_id=RUN2)
    assert alert is not None and alert.kind == alerts.FAILED_FEEDS
    assert alert.feeds == ("bbc-world", "tass-en")
    assert alert.title == "2 of 5 feeds failed (40% > 30%)"
    # tass-en has failed since the first run; bbc-world only since the second.
    assert alert.since == T1
    assert alert.details["failing_since"] == {"bbc-world": T2.isoformat(), "tass-en": T1.isoformat()}
    assert "HTTP 503" in alert.what and "timed out" in alert.what


def test_failed_share_at_or_below_threshold_is_quiet(settings):
    history = outputs.read_feed_health(settings, [DAY])
    run1 = [r for r in history if r["run_id"] == RUN1]
    run2 = [r for r in history if r["run_id"] == RUN2]
    assert alerts.failed_feeds_alert(run1, 0.1, history=history) is not None  # 1 of 5 = 20%
    assert alerts.failed_feeds_alert(run1, 0.2, history=history) is None
    assert alerts.failed_feeds_alert(run2, 0.4, history=history) is None
    assert alerts.failed_feeds_alert([], 0.0) is None


def test_failure_since_resets_after_a_success():
    rows = [
        {"feed_id": "f", "status": "timeout", "fetched_at": T1 - timedelta(hours=2)},
        {"feed_id": "f", "status": "ok", "fetched_at": T1 - timedelta(hours=1)},
        {"feed_id": "f", "status": "http_error", "fetched_at": T1},
        {"feed_id": "f", "status": "backoff", "fetched_at": T2},
    ]
    assert alerts.failure_since(rows, "f") == T1
    assert alerts.failure_since(rows[:2], "f") is None


# --------------------------------------------------------------------------- no new articles
def test_not_stale_within_the_window(settings):
    assert alerts.stale_alert(settings, T2 + timedelta(hours=5, minutes=59), hours=6) is None


def test_stale_after_the_window_says_since_when_and_which_feeds(settings):
    alert = alerts.stale_alert(settings, T2 + timedelta(hours=7), hours=6, dag_id="feedmon_ingest", run_id="r9")
    assert alert is not None and alert.kind == alerts.STALE and alert.severity == "warning"
    assert alert.since == T2  # newest first_seen_at of the day
    assert alert.feeds == ("aljazeera", "ap-top", "reuters-world")
    assert "7 h 00 min" in alert.what and "FEEDMON_STALE_HOURS=6" in alert.what
    assert alert.details["last_article_by_feed"]["reuters-world"] == T1.isoformat()


def test_stale_looks_back_across_midnight(settings):
    next_morning = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # no snapshot for the 28th yet
    assert alerts.stale_alert(settings, next_morning, hours=24) is None
    alert = alerts.stale_alert(settings, next_morning, hours=6)
    assert alert is not None and alert.since == T2


def test_stale_hours_from_env(settings, monkeypatch):
    monkeypatch.setenv("FEEDMON_STALE_HOURS", "12")
    settings = Settings.from_env()
    assert alerts.stale_alert(settings, T2 + timedelta(hours=11)) is None
    assert alerts.stale_alert(settings, T2 + timedelta(hours=13)) is not None
    monkeypatch.setenv("FEEDMON_STALE_HOURS", "soon")
    with pytest.raises(ValueError, match="FEEDMON_STALE_HOURS"):
        Settings.from_env()


def test_no_snapshot_at_all_is_stale(data_dir):
    alert = alerts.stale_alert(Settings.from_env(), T2, hours=6)
    assert alert is not None and alert.since is None and alert.feeds == ()
    assert "No articles at all" in alert.what


# --------------------------------------------------------------------------- one run's checks, sent once
def test_check_data_uses_the_configured_threshold(settings, monkeypatch):
    monkeypatch.setenv("FEEDMON_MAX_FAILED_SHARE", "0.3")
    found = alerts.check_data(Settings.from_env(), DAY, T2, run_id=RUN2, dag_id="feedmon_ingest")
    assert [a.kind for a in found] == [alerts.FAILED_FEEDS]
    monkeypatch.setenv("FEEDMON_MAX_FAILED_SHARE", "0.5")
    assert alerts.check_data(Settings.from_env(), DAY, T2 + timedelta(hours=8), run_id=RUN2) == [
        alerts.stale_alert(Settings.from_env(), T2 + timedelta(hours=8), run_id=RUN2)
    ]


def test_an_alert_the_webhook_refused_is_sent_again_next_run(settings, receiver):
    first = _alert()
    failing = receiver.base_url + "/fail"
    assert alerts.deliver_once(settings, [first], T2, failing) == [first]
    # The webhook answered 500: nothing recorded, so the next run tries again ...
    assert alerts.deliver_once(settings, [first], T2 + timedelta(minutes=30), failing) == [first]
    # ... and once it got through, the same condition is not repeated.
    assert alerts.deliver_once(settings, [first], T2 + timedelta(minutes=60), receiver.base_url) == [first]
    assert alerts.deliver_once(settings, [first], T2 + timedelta(minutes=90), receiver.base_url) == []
    assert len([r for r in receiver.requests if not r["path"].startswith("/fail")]) == 1


def test_same_condition_is_sent_once_then_repeated_after_the_window(settings):
    first = _alert()
    now = T2
    assert alerts.filter_unsent(settings, [first], now) == [first]
    assert alerts.filter_unsent(settings, [first], now + timedelta(minutes=30)) == []
    other = _alert(since=T2)  # a new streak is a new condition
    assert alerts.filter_unsent(settings, [other], now + timedelta(minutes=30)) == [other]
    assert alerts.filter_unsent(settings, [first], now + timedelta(hours=7)) == [first]


def test_a_feed_silent_for_a_day_is_named_while_others_still_bring_news(data_dir, tmp_path, monkeypatch):
    from feedmon import storage
    from feedmon.models import Article
    from feedmon.schema import articles_to_table

    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n  - {id: lively, url: 'https://a.example/rss'}\n  - {id: dead, url: 'https://b.example/rss'}\n"
    )
    monkeypatch.setenv("FEEDMON_FEEDS", str(feeds))
    s = Settings.from_env()
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def article(feed: str, seen: datetime) -> Article:
        return Article(
            article_id=f"{feed}-{seen:%d%H}", feed_id=feed, source=feed, url=f"https://x.example/{feed}/{seen:%d%H}",
            guid=None, title="t", text="x", published_at=None, first_seen_at=seen, story_id=f"{feed}-{seen:%d%H}",
        )  # fmt: skip

    yesterday, today = now.date() - timedelta(days=1), now.date()
    for day, feed, age in ((yesterday, "dead", 30), (today, "lively", 1)):
        table = articles_to_table([article(feed, now - timedelta(hours=age))])
        storage.write_parquet_atomic(s.snapshot_path(day), table)

    assert alerts.stale_alert(s, now) is None, "news is still arriving: no all-feeds alert"
    alert = alerts.silent_feeds_alert(s, now)
    assert alert is not None and alert.feeds == ("dead",)
    assert alert.since == now - timedelta(hours=30)
    assert "dead (last 30 h 00 min ago)" in alert.what
    assert [a.feeds for a in alerts.check_data(s, today, now)] == [("dead",)]
    assert alerts.silent_feeds_alert(s, now, hours=48) is None
    # A feed removed from the feeds file is no longer judged.
    feeds.write_text("feeds:\n  - {id: lively, url: 'https://a.example/rss'}\n")
    assert alerts.silent_feeds_alert(s, now) is None
