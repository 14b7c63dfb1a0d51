"""feedmon.airflow: run identity, DAG-level alert settings, and what survives DAG serialization.

Here rather than in tests/unit: importing Airflow alone takes seconds, and unit stays fast.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG, Connection, task
from airflow.sdk.exceptions import AirflowFailException

from feedmon import alerts
from feedmon.airflow.alerts import (
    FeedmonNotifier,
    base_url,
    late_run_deadline,
    run_time,
    run_timeout,
)
from feedmon.airflow.connections import storage_options
from feedmon.airflow.tasks import SNAPSHOT_ASSET, param, run_day, select_feeds, task_settings
from feedmon.config import ConfigError
from tests.fixtures.airflow_context import failure_context
from tests.fixtures.factories import OneDay

DAY = OneDay.DAY


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


def test_logical_date_wins_and_is_taken_in_utc():
    plus3 = timezone(timedelta(hours=3))
    ctx = {
        "logical_date": datetime(2026, 11, 28, 1, 0, tzinfo=plus3),  # 2026-11-27 22:00 UTC
        "dag_run": SimpleNamespace(logical_date=None, run_after=datetime(2026, 11, 29, tzinfo=UTC)),
    }
    assert run_day(ctx) == date(2026, 11, 27)


def test_run_without_logical_date_uses_run_after():
    run = SimpleNamespace(logical_date=None, run_after=datetime(2026, 11, 28, 9, tzinfo=UTC))
    ctx = {"logical_date": None, "dag_run": run}
    assert run_day(ctx) == date(2026, 11, 28)


def test_snapshot_asset_is_a_fixed_private_uri():
    """`x-` schemes are taken as they are by Airflow (no provider normaliser); nothing of the data dir."""
    assert (SNAPSHOT_ASSET.name, SNAPSHOT_ASSET.uri) == ("feedmon_snapshots", "x-feedmon://snapshots")


def test_day_param_wins_over_the_logical_date():
    ctx = failure_context("publish", "r", datetime(2026, 11, 27, 23, 45, tzinfo=UTC))
    assert run_day({**ctx, "params": {"day": "2026-11-20"}}) == date(2026, 11, 20)
    assert run_day({**ctx, "params": {"day": None}}) == DAY
    assert param({"params": {"refetch": None}}, "refetch", False) is False
    assert param({}, "feed_ids", []) == []


def test_select_feeds_keeps_host_batches_and_refuses_unknown_ids():
    batches = [["a1", "a2"], ["b1"], ["c1", "c2"]]
    assert select_feeds(batches, []) == batches
    assert select_feeds(batches, ["c2", "a1"]) == [["a1"], ["c2"]]
    with pytest.raises(AirflowFailException, match=r"\['nope'\] are not enabled feeds.*known: \['a1'"):
        select_feeds(batches, ["a1", "nope"])


def test_aws_connection_becomes_s3fs_options():
    conn = Connection(
        conn_id="feedmon_data",
        conn_type="aws",
        login="AKIDEXAMPLE",
        password="secret",
        extra=json.dumps({"endpoint_url": "http://minio:9000", "region_name": "eu-west-1", "aws_session_token": "t"}),
    )
    assert storage_options(conn, "s3") == {
        "key": "AKIDEXAMPLE",
        "secret": "secret",
        "token": "t",
        "client_kwargs": {"endpoint_url": "http://minio:9000", "region_name": "eu-west-1"},
    }
    gcs = Connection(conn_id="g", conn_type="google_cloud_platform", extra='{"storage_options": {"token": "anon"}}')
    assert storage_options(gcs, "gs") == {"token": "anon"}
    with pytest.raises(ConfigError, match="gives no options for gs://"):
        storage_options(Connection(conn_id="empty", conn_type="http"), "gs")


def test_data_connection_is_refused_for_a_local_data_dir_or_a_missing_connection(monkeypatch, tmp_path):
    monkeypatch.setenv("FEEDMON_DATA_CONN_ID", "feedmon_nowhere")
    monkeypatch.setenv("FEEDMON_DATA_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="is a local path"):
        task_settings()
    monkeypatch.setenv("FEEDMON_DATA_DIR", "s3://bucket/feedmon")
    with pytest.raises(ConfigError, match="no connection of that id"):
        task_settings()
