"""feedmon.airflow.alerts: the notifier with the contexts Airflow really passes, delivered to a local webhook.

The run-failure context is built the way Airflow's DAG processor builds it (a RuntimeTaskInstance's
template context plus ``reason``); the deadline path goes through Airflow's own ``CallbackTrigger``,
which is what the triggerer runs when a Deadline Alert is missed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG, task

from feedmon import alerts
from feedmon.airflow.alerts import (
    FeedmonNotifier,
    base_url,
    check_and_deliver,
    late_run_deadline,
    run_day,
    run_time,
    run_timeout,
)
from feedmon.config import Settings
from tests.fixtures.report_data import DAY, RUN2, T1, T2, write_day
from tests.fixtures.webhook import webhook_receiver

UI = "http://airflow.test:8081"


@pytest.fixture
def receiver(monkeypatch):
    with webhook_receiver() as rec:
        monkeypatch.setenv("FEEDMON_ALERT_WEBHOOK", f"{rec.base_url}/hook")
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", UI)
        yield rec


@pytest.fixture
def settings(data_dir) -> Settings:
    s = Settings.from_env()
    write_day(s)
    return s


def _dag() -> DAG:
    with DAG(
        "feedmon_ingest",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        dagrun_timeout=timedelta(minutes=25),
    ) as dag:

        @task
        def publish() -> None: ...

        @task
        def check_feed_health() -> None: ...

        publish() >> check_feed_health()
    return dag


def failure_context(task_id: str, run_id: str, when: datetime, reason: str = "task_failure") -> dict[str, Any]:
    """What Airflow's DAG processor hands an ``on_failure_callback`` (processor._execute_dag_callbacks)."""
    from airflow.sdk.api.datamodels._generated import DagRun, TIRunContext
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    dag = _dag()
    dag_run = DagRun(
        dag_id=dag.dag_id,
        run_id=run_id,
        logical_date=when,
        data_interval_start=when - timedelta(minutes=30),
        data_interval_end=when,
        run_after=when,
        start_date=when + timedelta(seconds=2),
        end_date=when + timedelta(minutes=3),
        run_type="scheduled",
        state="failed",
        consumed_asset_events=[],
        partition_key=None,
    )
    ti = RuntimeTaskInstance.model_construct(
        id=uuid.uuid4(),
        task_id=task_id,
        dag_id=dag.dag_id,
        run_id=run_id,
        try_number=1,
        map_index=-1,
        dag_version_id=uuid.uuid4(),
        task=dag.get_task(task_id),
        _ti_context_from_server=TIRunContext(dag_run=dag_run, max_tries=0),
        max_tries=0,
        state="failed",
        start_date=when + timedelta(minutes=2),
    )
    context = ti.get_template_context()
    context["reason"] = reason
    return context


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


def test_deadline_and_timeout_survive_dag_serialization(monkeypatch):
    from airflow.serialization.serialized_objects import DagSerialization

    monkeypatch.setenv("FEEDMON_RUN_TIMEOUT_MINUTES", "40")
    monkeypatch.setenv("FEEDMON_DEADLINE_MINUTES", "15")
    with DAG(
        "deadline_probe",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        dagrun_timeout=run_timeout(),
        deadline=late_run_deadline(),
        on_failure_callback=FeedmonNotifier(),
    ) as dag:

        @task
        def noop() -> None: ...

        noop()
    data = DagSerialization.to_dict(dag)
    restored = DagSerialization.from_dict(data)
    assert restored.dagrun_timeout == timedelta(minutes=40)
    assert restored.has_on_failure_callback
    [deadline] = data["dag"]["deadline"]
    assert deadline["reference"] == {"reference_type": "DagRunQueuedAtDeadline"}
    assert deadline["interval"]["__data__"] == 900.0
    assert deadline["callback"]["__data__"] == {
        "path": "feedmon.airflow.alerts.FeedmonNotifier",
        "kwargs": {"kind": "run_late"},
    }


def test_webhook_down_never_breaks_the_callback(data_dir, monkeypatch, caplog):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("FEEDMON_ALERT_WEBHOOK", f"http://127.0.0.1:{s.getsockname()[1]}/x")
    notifier = FeedmonNotifier()
    notifier(failure_context("publish", "scheduled__x", datetime(2026, 11, 27, 12, 0, tzinfo=UTC)))
    assert [a.kind for a in notifier.sent] == ["run_failed"]
    assert "alert webhook" in caplog.text


def test_context_helpers(monkeypatch):
    ctx = failure_context("publish", "r", datetime(2026, 11, 27, 23, 45, tzinfo=UTC))
    assert run_day(ctx) == DAY
    assert run_time(ctx) == datetime(2026, 11, 27, 23, 45, tzinfo=UTC)
    manual = {"dag_run": {"run_after": "2026-11-28T00:10:00Z", "logical_date": None}}
    assert run_day(manual).isoformat() == "2026-11-28"
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.org/")
    assert base_url() == "https://airflow.example.org"
    with pytest.raises(ValueError, match="unknown alert kind"):
        FeedmonNotifier("late")
    assert FeedmonNotifier(alerts.RUN_LATE).kind == "run_late"


def test_unexpected_context_still_alerts(receiver, data_dir):
    """A context shape we do not expect (an unparsable start date) degrades the alert, never drops it."""
    odd = {"run_id": "r-odd", "dag_run": {"dag_id": "feedmon_ingest", "start_date": "yesterday"}, "reason": "x"}
    FeedmonNotifier()(odd)
    [body] = receiver.wait_for(1)
    assert body["alert"]["kind"] == "run_failed" and body["alert"]["run_id"] == "r-odd"
    assert body["alert"]["title"] == "feedmon_ingest run needs attention"
    assert "could not be built (ValueError" in body["alert"]["what"]


def test_deadline_alerts_are_opt_in(monkeypatch):
    from feedmon.airflow.alerts import deadline_alerts

    monkeypatch.delenv("FEEDMON_DEADLINE_MINUTES", raising=False)
    assert deadline_alerts() == []
    monkeypatch.setenv("FEEDMON_DEADLINE_MINUTES", "15")
    [alert] = deadline_alerts()
    assert alert.interval == timedelta(minutes=15)
    assert alert.callback.kwargs == {"kind": "run_late"}
    monkeypatch.setenv("FEEDMON_DEADLINE_MINUTES", "-3")
    with pytest.raises(ValueError, match="must be > 0"):
        deadline_alerts()
