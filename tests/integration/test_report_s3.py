"""The daily report and the alert ledger with FEEDMON_DATA_DIR on a local S3 (moto)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feedmon import report
from feedmon.config import Settings
from tests.fixtures.factories import OneDay

DAY = OneDay.DAY
write_day = OneDay.write
NOW = datetime(2026, 11, 28, 0, 5, tzinfo=UTC)


@pytest.fixture
def s3_settings(monkeypatch):
    """FEEDMON_DATA_DIR=s3://… on moto's S3 server on 127.0.0.1 (fake credentials, no metadata service)."""
    import boto3
    import fsspec
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
        "FEEDMON_DATA_DIR": "s3://feedmon-report/data",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    fsspec.get_filesystem_class("s3").clear_instance_cache()
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="feedmon-report")
    try:
        yield Settings.from_env(), client
    finally:
        fsspec.get_filesystem_class("s3").clear_instance_cache()
        server.stop()


def test_report_and_alert_ledger_on_object_storage(s3_settings):
    from feedmon import alerts, storage

    settings, client = s3_settings
    write_day(settings)
    out = report.build_report(settings, DAY, now=NOW)
    assert out["markdown"] == "s3://feedmon-report/data/reports/date=2026-11-27/report.md"
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="feedmon-report")["Contents"])
    assert "data/reports/date=2026-11-27/report.png" in keys
    assert not [k for k in keys if ".tmp" in k]
    assert storage.read_bytes(out["markdown"]).decode().startswith("# feedmon daily report — 2026-11-27")

    stale = alerts.stale_alert(settings, datetime(2026, 11, 27, 20, 0, tzinfo=UTC), hours=6)
    assert stale is not None and stale.feeds == ("aljazeera", "ap-top", "reuters-world")
    now = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    assert alerts.filter_unsent(settings, [stale], now) == [stale]
    assert alerts.filter_unsent(settings, [stale], now) == []
