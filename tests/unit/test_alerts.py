"""feedmon.alerts: the alert record, delivery to log and a real local webhook, and the data checks."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from feedmon import alerts, outputs
from feedmon.config import Settings
from tests.fixtures.factories import OneDay, make_alert, make_article, write_snapshot

DAY, RUN1, RUN2, T1, T2 = OneDay.DAY, OneDay.RUN1, OneDay.RUN2, OneDay.T1, OneDay.T2


@pytest.fixture
def settings(one_day: Settings) -> Settings:
    return one_day


# --------------------------------------------------------------------------- the record
def test_alert_text_names_what_which_since_and_link():
    text = make_alert().format_text()
    assert text.splitlines()[0] == "[feedmon ERROR] 2 of 5 feeds failed"
    assert "Feeds (2): tass-en, bbc-world" in text
    assert "Since: 2026-11-27 09:00 UTC" in text
    assert "Link: http://airflow.example/dags/feedmon_ingest/runs/r1" in text


def test_payload_is_json_with_text_and_structured_alert():
    payload = json.loads(json.dumps(make_alert(details={"when": T2}).payload()))
    assert payload["text"].startswith("[feedmon ERROR]")
    assert payload["alert"]["kind"] == "failed_feeds"
    assert payload["alert"]["feeds"] == ["tass-en", "bbc-world"]
    assert payload["alert"]["since"] == "2026-11-27T09:00:05+00:00"
    assert payload["alert"]["details"]["when"].startswith("2026-11-27 09:30:05")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown alert kind"):
        make_alert(kind="meh")


def test_run_url_quotes_the_run_id():
    url = alerts.run_url("http://h:8080/", "feedmon_ingest", "manual__2026-11-27T09:00:00+00:00")
    assert url == "http://h:8080/dags/feedmon_ingest/runs/manual__2026-11-27T09%3A00%3A00%2B00%3A00"


# --------------------------------------------------------------------------- delivery
def test_deliver_logs_only_without_webhook(caplog, monkeypatch):
    monkeypatch.delenv("FEEDMON_ALERT_WEBHOOK", raising=False)
    with caplog.at_level(logging.WARNING, logger="feedmon.alerts"):
        assert alerts.deliver(make_alert()) is False
    assert any("2 of 5 feeds failed" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


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


def test_same_condition_is_sent_once_then_repeated_after_the_window(settings):
    first = make_alert()
    now = T2
    assert alerts.filter_unsent(settings, [first], now) == [first]
    assert alerts.filter_unsent(settings, [first], now + timedelta(minutes=30)) == []
    other = make_alert(since=T2)  # a new streak is a new condition
    assert alerts.filter_unsent(settings, [other], now + timedelta(minutes=30)) == [other]
    assert alerts.filter_unsent(settings, [first], now + timedelta(hours=7)) == [first]


def test_a_feed_silent_for_a_day_is_named_while_others_still_bring_news(data_dir, tmp_path, monkeypatch):
    from feedmon.models import Article

    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n  - {id: lively, url: 'https://a.example/rss'}\n  - {id: dead, url: 'https://b.example/rss'}\n"
    )
    monkeypatch.setenv("FEEDMON_FEEDS", str(feeds))
    s = Settings.from_env()
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def article(feed: str, seen: datetime) -> Article:
        key = f"{feed}-{seen:%d%H}"
        return make_article(
            article_id=key, feed_id=feed, url=f"https://x.example/{feed}/{seen:%d%H}", title="t", text="x",
            first_seen_at=seen, language=None,
        )  # fmt: skip

    yesterday, today = now.date() - timedelta(days=1), now.date()
    for day, feed, age in ((yesterday, "dead", 30), (today, "lively", 1)):
        write_snapshot(s, day, [article(feed, now - timedelta(hours=age))])

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


# --------------------------------------------------------------------------- other channels
def test_channels_get_the_alert_and_decide_delivery(caplog):
    got: list[alerts.Alert] = []
    alert = make_alert()

    def accept(a: alerts.Alert) -> bool:
        got.append(a)
        return True

    def refuse(_a: alerts.Alert) -> bool:
        return False

    def crash(_a: alerts.Alert) -> bool:
        raise RuntimeError("bug in a channel")

    assert alerts.deliver(alert, None, channels=[crash, refuse, accept]) is True
    assert got == [alert], "a crashing channel must not cost the next one its alert"
    assert "crashed" in caplog.text
    assert alerts.deliver(alert, None, channels=[refuse]) is False


def test_deliver_once_records_only_what_a_channel_accepted(settings):
    alert = make_alert()
    now = T2 + timedelta(minutes=1)
    # Down: nothing recorded, so the next run tries again.
    assert alerts.deliver_once(settings, [alert], now, channels=[lambda _a: False]) == [alert]
    assert alerts.unsent(settings, [alert], now) == [alert]
    # Up: recorded, and not sent again within the repeat window.
    sent: list[alerts.Alert] = []
    channel = lambda a: sent.append(a) or True  # noqa: E731
    assert alerts.deliver_once(settings, [alert], now, channels=[channel]) == [alert]
    assert alerts.deliver_once(settings, [alert], now + timedelta(minutes=30), channels=[channel]) == []
    assert sent == [alert]
