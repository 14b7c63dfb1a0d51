from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace

from feedmon.airflow.tasks import run_day, snapshot_asset_uri


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


def test_asset_uri():
    assert snapshot_asset_uri("/srv/data") == "file:///srv/data/snapshots"
    assert snapshot_asset_uri("s3://b/p") == "s3://b/p/snapshots"
