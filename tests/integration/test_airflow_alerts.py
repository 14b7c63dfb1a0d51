"""feedmon.airflow.alerts: the notifier with the contexts Airflow really passes, delivered to a local webhook.

The run-failure context is built the way Airflow's DAG processor builds it (a RuntimeTaskInstance's
template context plus ``reason``); the deadline path goes through Airflow's own ``CallbackTrigger``,
which is what the triggerer runs when a Deadline Alert is missed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from feedmon.airflow.alerts import (
    FeedmonNotifier,
    check_and_deliver,
    late_run_deadline,
)
from feedmon.config import Settings
from tests.fixtures.airflow_context import failure_context
from tests.fixtures.factories import OneDay
from tests.fixtures.webhook import webhook_receiver

RUN2, T1, T2 = OneDay.RUN2, OneDay.T1, OneDay.T2

UI = "http://airflow.test:8081"


@pytest.fixture
def receiver(monkeypatch):
    with webhook_receiver() as rec:
        monkeypatch.setenv("FEEDMON_ALERT_WEBHOOK", f"{rec.base_url}/hook")
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", UI)
        yield rec


@pytest.fixture
def settings(one_day: Settings) -> Settings:
    return one_day


def test_run_failure_sends_one_alert_with_task_since_and_ui_link(receiver, data_dir):
    when = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    run_id = "scheduled__2026-11-27T12:00:00+00:00"
    FeedmonNotifier()(failure_context("publish", run_id, when))
    [body] = receiver.wait_for(1)
    alert = body["alert"]
    assert alert["kind"] == "run_failed"
    assert alert["title"] == "feedmon_ingest run failed at publish"
    assert alert["dag_id"] == "feedmon_ingest" and alert["run_id"] == run_id
    assert alert["since"] == "2026-11-27T12:00:02+00:00"
    assert alert["run_link"] == (f"{UI}/dags/feedmon_ingest/runs/scheduled__2026-11-27T12%3A00%3A00%2B00%3A00")
    assert "failed in task publish" in body["text"]


def test_run_failed_by_feed_share_names_the_failed_feeds(receiver, settings, monkeypatch):
    monkeypatch.setenv("FEEDMON_MAX_FAILED_SHARE", "0.3")
    notifier = FeedmonNotifier()
    notifier(failure_context("check_feed_health", RUN2, datetime(2026, 11, 27, 9, 30, tzinfo=UTC)))
    [body] = receiver.wait_for(1)
    assert body["alert"]["kind"] == "failed_feeds"
    assert body["alert"]["feeds"] == ["bbc-world", "tass-en"]
    assert body["alert"]["since"] == T1.isoformat()
    assert body["alert"]["run_link"].startswith(f"{UI}/dags/feedmon_ingest/runs/")
    # The same failure reported again (a retry of the callback) is not sent twice.
    notifier(failure_context("check_feed_health", RUN2, datetime(2026, 11, 27, 9, 30, tzinfo=UTC)))
    assert len(receiver.wait_for(2, timeout=0.5)) == 1


def test_data_task_then_failure_callback_make_one_alert(receiver, settings, monkeypatch):
    """raise_data_alerts (all_done) runs before the run is marked failed: the callback must not repeat it."""
    monkeypatch.setenv("FEEDMON_MAX_FAILED_SHARE", "0.3")
    ctx = failure_context("check_feed_health", RUN2, datetime(2026, 11, 27, 9, 30, tzinfo=UTC))
    sent = check_and_deliver(ctx)
    assert [a["kind"] for a in sent] == ["failed_feeds"]
    FeedmonNotifier()(ctx)
    assert [b["alert"]["kind"] for b in receiver.wait_for(2, timeout=0.5)] == ["failed_feeds"]


def test_data_task_raises_stale_alert_from_the_run_time(receiver, settings):
    late = T2 + timedelta(hours=8)
    ctx = failure_context("publish", "scheduled__late", late)
    sent = check_and_deliver(ctx)
    assert [a["kind"] for a in sent] == ["no_new_articles"]
    assert receiver.wait_for(1)[0]["alert"]["since"] == T2.isoformat()
    assert check_and_deliver(ctx) == []  # 30 minutes later nothing new is said


def test_timed_out_run_is_a_late_alert(receiver, data_dir):
    when = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    FeedmonNotifier()(failure_context("publish", "scheduled__t", when, reason="timed_out"))
    [body] = receiver.wait_for(1)
    assert body["alert"]["kind"] == "run_late"
    assert "exceeded its dagrun_timeout (0:25:00)" in body["alert"]["what"]
    assert body["alert"]["since"] == "2026-11-27T12:00:02+00:00"


def test_missed_deadline_through_airflows_callback_trigger(receiver):
    """The triggerer runs ``CallbackTrigger``; give it what ``Deadline.handle_miss`` queues."""
    from airflow.triggers.callback import PAYLOAD_STATUS_KEY, CallbackTrigger

    deadline = late_run_deadline(minutes=20)
    assert deadline.callback.path == "feedmon.airflow.alerts.FeedmonNotifier"
    kwargs = dict(deadline.callback.kwargs)
    kwargs["context"] = {  # Deadline.handle_miss: DAGRunResponse as JSON plus the deadline
        "dag_run": {
            "dag_run_id": "scheduled__2026-11-27T12:00:00+00:00",
            "dag_id": "feedmon_ingest",
            "queued_at": "2026-11-27T12:00:01Z",
            "start_date": "2026-11-27T12:00:02Z",
            "state": "running",
            "run_after": "2026-11-27T12:00:00Z",
            "logical_date": "2026-11-27T12:00:00Z",
        },
        "deadline": {"id": str(uuid.uuid4()), "deadline_time": datetime(2026, 11, 27, 12, 20, 1, tzinfo=UTC)},
    }
    trigger = CallbackTrigger(callback_path=deadline.callback.path, callback_kwargs=kwargs)

    async def run() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(run())
    assert [e[PAYLOAD_STATUS_KEY] for e in events] == ["running", "success"], events
    [body] = receiver.wait_for(1)
    assert body["alert"]["kind"] == "run_late"
    assert "not finished by its deadline 2026-11-27 12:20 UTC; it is still running" in body["alert"]["what"]
    assert body["alert"]["since"] == "2026-11-27T12:00:02+00:00"
    assert body["alert"]["run_link"].endswith("/dags/feedmon_ingest/runs/scheduled__2026-11-27T12%3A00%3A00%2B00%3A00")


def test_webhook_down_never_breaks_the_callback(data_dir, monkeypatch, caplog):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("FEEDMON_ALERT_WEBHOOK", f"http://127.0.0.1:{s.getsockname()[1]}/x")
    notifier = FeedmonNotifier()
    notifier(failure_context("publish", "scheduled__x", datetime(2026, 11, 27, 12, 0, tzinfo=UTC)))
    assert [a.kind for a in notifier.sent] == ["run_failed"]
    assert "alert webhook" in caplog.text


def test_unexpected_context_still_alerts(receiver, data_dir):
    """A context shape we do not expect (an unparsable start date) degrades the alert, never drops it."""
    odd = {"run_id": "r-odd", "dag_run": {"dag_id": "feedmon_ingest", "start_date": "yesterday"}, "reason": "x"}
    FeedmonNotifier()(odd)
    [body] = receiver.wait_for(1)
    assert body["alert"]["kind"] == "run_failed" and body["alert"]["run_id"] == "r-odd"
    assert body["alert"]["title"] == "feedmon_ingest run needs attention"
    assert "could not be built (ValueError" in body["alert"]["what"]


# --------------------------------------------------------------------------- alerts through an Airflow Connection
@pytest.fixture
def conn_receiver(monkeypatch):
    """A local receiver reachable only through the Airflow Connection ``feedmon_alerts`` (no webhook)."""
    with webhook_receiver() as rec:
        monkeypatch.delenv("FEEDMON_ALERT_WEBHOOK", raising=False)
        monkeypatch.setenv("FEEDMON_ALERT_CONN_ID", "feedmon_alerts")
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", UI)
        conn = {"conn_type": "http", "host": f"{rec.base_url}/hooks/feedmon", "extra": {"X-Feedmon-Token": "t0k"}}
        monkeypatch.setenv("AIRFLOW_CONN_FEEDMON_ALERTS", json.dumps(conn))
        yield rec


def test_notifier_reaches_the_receiver_through_a_connection(conn_receiver, data_dir):
    when = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    notifier = FeedmonNotifier()
    notifier(failure_context("publish", "scheduled__conn", when))
    [request] = [r for r in conn_receiver.requests if r["path"] == "/hooks/feedmon"]
    assert request["json"]["alert"]["kind"] == "run_failed"
    assert request["json"]["text"].startswith("[feedmon ERROR] feedmon_ingest run failed at publish")
    assert request["headers"]["X-Feedmon-Token"] == "t0k"  # the connection's extra: request headers
    assert request["headers"]["User-Agent"].startswith("feedmon-alerts/")


def test_data_alerts_through_a_connection_are_sent_once(conn_receiver, settings, monkeypatch):
    monkeypatch.setenv("FEEDMON_MAX_FAILED_SHARE", "0.3")
    ctx = failure_context("check_feed_health", RUN2, datetime(2026, 11, 27, 9, 30, tzinfo=UTC))
    assert [a["kind"] for a in check_and_deliver(ctx)] == ["failed_feeds"]
    assert check_and_deliver(ctx) == []  # recorded: the receiver accepted it
    assert [b["alert"]["kind"] for b in conn_receiver.wait_for(2, timeout=0.5)] == ["failed_feeds"]


def test_a_refusing_connection_leaves_the_alert_for_the_next_run(conn_receiver, settings, monkeypatch, caplog):
    monkeypatch.setenv("FEEDMON_MAX_FAILED_SHARE", "0.3")
    conn = {"conn_type": "http", "host": f"{conn_receiver.base_url}/fail"}
    monkeypatch.setenv("AIRFLOW_CONN_FEEDMON_ALERTS", json.dumps(conn))
    ctx = failure_context("check_feed_health", RUN2, datetime(2026, 11, 27, 9, 30, tzinfo=UTC))
    assert [a["kind"] for a in check_and_deliver(ctx)] == ["failed_feeds"]
    assert "alert connection feedmon_alerts failed for failed_feeds alert" in caplog.text
    assert [a["kind"] for a in check_and_deliver(ctx)] == ["failed_feeds"]  # not recorded: tried again
    assert [r["path"] for r in conn_receiver.requests] == ["/fail", "/fail"]


def test_a_missing_connection_never_breaks_the_callback(data_dir, monkeypatch, caplog):
    monkeypatch.setenv("FEEDMON_ALERT_CONN_ID", "feedmon_not_defined")
    monkeypatch.delenv("FEEDMON_ALERT_WEBHOOK", raising=False)
    notifier = FeedmonNotifier()
    notifier(failure_context("publish", "scheduled__y", datetime(2026, 11, 27, 12, 0, tzinfo=UTC)))
    assert [a.kind for a in notifier.sent] == ["run_failed"]
    assert "alert connection feedmon_not_defined failed" in caplog.text


def test_webhook_and_connection_both_get_the_alert(conn_receiver, data_dir, monkeypatch):
    monkeypatch.setenv("FEEDMON_ALERT_WEBHOOK", f"{conn_receiver.base_url}/plain")
    FeedmonNotifier()(failure_context("publish", "scheduled__z", datetime(2026, 11, 27, 12, 0, tzinfo=UTC)))
    conn_receiver.wait_for(2)
    assert sorted(r["path"] for r in conn_receiver.requests) == ["/hooks/feedmon", "/plain"]
