"""FEEDMON_DATA_DIR=s3://bucket/prefix, end to end, against a local S3 (moto's server on 127.0.0.1).

Scale-out workers on different hosts share one snapshot only through object storage, so the
guarantees that hold on a local disk must hold there: readers see the whole new object or the old
one (a PUT cut off mid-body publishes nothing), a rerun replaces and never doubles, and a file
another host wrote is visible at once. Nothing here leaves the machine: fake credentials, a local
endpoint (``AWS_ENDPOINT_URL``, honoured by botocore and so by s3fs), instance metadata disabled.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import boto3
import duckdb
import fsspec
import pyarrow as pa
import pytest
import s3fs
from botocore.exceptions import BotoCoreError
from moto.server import ThreadedMotoServer

from feedmon import storage
from feedmon.config import Settings

BUCKET = "feedmon-test"
DAY = date(2026, 11, 28)
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask 169.254.169.254 for credentials
    "AWS_MAX_ATTEMPTS": "2",
}


def _reset_s3fs() -> None:
    """fsspec caches one S3FileSystem per process; the endpoint changes between tests, so drop it."""
    fsspec.get_filesystem_class("s3").clear_instance_cache()


@dataclass
class LocalS3:
    endpoint: str
    client: object

    def keys(self, prefix: str) -> list[str]:
        resp = self.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(o["Key"] for o in resp.get("Contents", []))

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalS3]:
    """A fresh bucket on the local S3, with the environment a worker would have."""
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    _reset_s3fs()
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield LocalS3(moto_server, client)
    for key in LocalS3(moto_server, client).keys(""):
        client.delete_object(Bucket=BUCKET, Key=key)
    client.delete_bucket(Bucket=BUCKET)
    _reset_s3fs()


@pytest.fixture
def settings(s3: LocalS3, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings built the way the DAG and the CLI build them: from FEEDMON_DATA_DIR."""
    monkeypatch.setenv("FEEDMON_DATA_DIR", f"s3://{BUCKET}/feedmon")
    return Settings.from_env()


def _table(n: int, tag: str) -> pa.Table:
    return pa.table(
        {
            "article_id": [f"{tag}-{i}" for i in range(n)],
            "countries": [["AZ", "AM"] if i % 2 else ["UA"] for i in range(n)],
        }
    )


def test_data_dir_url_is_kept_as_a_url(settings: Settings) -> None:
    assert settings.data_dir == f"s3://{BUCKET}/feedmon"
    assert settings.snapshot_path(DAY) == (f"s3://{BUCKET}/feedmon/snapshots/date=2026-11-28/articles.parquet")


def test_snapshot_round_trip_through_storage(settings: Settings, s3: LocalS3) -> None:
    path = settings.snapshot_path(DAY)
    assert not storage.exists(path)
    storage.write_parquet_atomic(path, _table(3, "a"))

    assert storage.exists(path)
    assert storage.read_parquet(path).column("article_id").to_pylist() == ["a-0", "a-1", "a-2"]
    assert storage.glob(storage.join(settings.data_dir, "snapshots", "*", "*.parquet")) == [path]
    # Seen by an independent client, under the documented key layout.
    assert s3.keys("feedmon/") == ["feedmon/snapshots/date=2026-11-28/articles.parquet"]


def test_rerun_replaces_and_never_doubles(settings: Settings, s3: LocalS3) -> None:
    path = settings.snapshot_path(DAY)
    storage.write_parquet_atomic(path, _table(5, "first"))
    storage.write_parquet_atomic(path, _table(2, "rerun"))

    assert s3.keys("feedmon/") == ["feedmon/snapshots/date=2026-11-28/articles.parquet"]
    table = storage.read_parquet(path)
    assert table.num_rows == 2
    assert table.column("article_id").to_pylist() == ["rerun-0", "rerun-1"]


def test_a_write_from_another_host_is_visible_at_once(settings: Settings, s3: LocalS3) -> None:
    """A long-lived process (api-server plugin, worker) must not trust a stale listing cache."""
    first = storage.join(settings.data_dir, "feed_health", "date=2026-11-28", "run-1.parquet")
    storage.write_parquet_atomic(first, _table(1, "h1"))
    pattern = storage.join(settings.data_dir, "feed_health", "date=2026-11-28", "*.parquet")
    assert storage.glob(pattern) == [first]

    s3.client.put_object(Bucket=BUCKET, Key="feedmon/feed_health/date=2026-11-28/run-2.parquet", Body=b"x")
    second = first.replace("run-1", "run-2")
    assert storage.exists(second)
    assert storage.glob(pattern) == [first, second]


def test_duckdb_reads_the_snapshot_from_s3(settings: Settings, s3: LocalS3) -> None:
    """How readers (the UI plugin, the report) query S3 without DuckDB's httpfs download."""
    storage.write_parquet_atomic(settings.snapshot_path(DAY), _table(4, "d"))
    con = duckdb.connect()
    con.register_filesystem(fsspec.filesystem("s3"))
    glob = storage.join(settings.data_dir, "snapshots", "**", "*.parquet")
    rows, day, countries = con.execute(
        f"""SELECT count(*), any_value(date)::VARCHAR, list_sort(list_distinct(flatten(list(countries))))
            FROM read_parquet('{glob}', hive_partitioning = true)"""
    ).fetchone()
    assert (rows, day, countries) == (4, "2026-11-28", ["AM", "AZ", "UA"])


# ---- a PUT cut off mid-body -------------------------------------------------------------------------------


class CuttingProxy:
    """TCP proxy to the local S3 that forwards a PUT's headers and a few body bytes, then hangs up.

    That is a worker dying (or its network dropping) in the middle of an upload: the store receives
    a partial body. Everything else is passed through unchanged.
    """

    def __init__(self, upstream: str, body_bytes: int = 1024) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.body_bytes = body_bytes
        self.cuts = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream, timeout=10)
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        head, sent_body, is_put = b"", 0, None
        try:
            while chunk := client.recv(65536):
                if is_put is None:
                    head += chunk
                    if b"\r\n\r\n" not in head:
                        continue
                    is_put = head.startswith(b"PUT ") and b"\r\n\r\n" in head
                    headers, _, body = head.partition(b"\r\n\r\n")
                    chunk = headers + b"\r\n\r\n"
                    upstream.sendall(chunk)
                    chunk = body
                if is_put:
                    room = self.body_bytes - sent_body
                    upstream.sendall(chunk[:room])
                    sent_body += min(len(chunk), room)
                    if sent_body >= self.body_bytes:
                        self.cuts += 1
                        break
                else:
                    upstream.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass


def test_an_interrupted_upload_leaves_the_old_snapshot(
    settings: Settings, s3: LocalS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = settings.snapshot_path(DAY)
    storage.write_parquet_atomic(path, _table(3, "old"))
    old_bytes = s3.get("feedmon/snapshots/date=2026-11-28/articles.parquet")

    new = pa.table({"article_id": [f"new-{i}-{os.urandom(8).hex()}" for i in range(20_000)]})
    monkeypatch.setattr(s3fs.S3FileSystem, "retries", 2)  # fewer back-off sleeps; same failure
    with CuttingProxy(s3.endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        _reset_s3fs()
        # botocore raises ConnectionClosedError; s3fs may translate transport errors to OSError.
        with pytest.raises((BotoCoreError, OSError)):
            storage.write_parquet_atomic(path, new)
        assert proxy.cuts >= 1, "the proxy never cut an upload: the test proved nothing"

    # Straight from the store: the old object, whole, and nothing half-written beside it.
    assert s3.get("feedmon/snapshots/date=2026-11-28/articles.parquet") == old_bytes
    assert s3.keys("feedmon/") == ["feedmon/snapshots/date=2026-11-28/articles.parquet"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    _reset_s3fs()
    assert storage.read_parquet(path).column("article_id").to_pylist() == ["old-0", "old-1", "old-2"]


# ---- the real pipeline, through the `feedmon` command -------------------------------------------------------


def test_feedmon_run_writes_its_snapshot_to_s3(s3: LocalS3, sample_feeds: Path) -> None:
    """`feedmon run --data-dir s3://...` twice for one day: one snapshot, same rows, read back by DuckDB."""
    feedmon = Path(sys.executable).with_name("feedmon")
    data_dir = f"s3://{BUCKET}/cluster"
    cmd = [str(feedmon), "run", "--date", DAY.isoformat(), "--feeds", str(sample_feeds)]
    cmd += ["--data-dir", data_dir, "--json"]
    env = {**os.environ}
    summaries = []
    for attempt in (1, 2):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, f"run {attempt}: {done.stdout}\n{done.stderr}"
        summaries.append(json.loads(done.stdout[done.stdout.index("{") :]))
        # Forget the HTTP validators, so the second run fetches every body again and its items reach
        # dedup (with them every feed answers 304 and "no doubling" would hold trivially).
        for key in s3.keys("cluster/state/fetch/"):
            s3.client.delete_object(Bucket=BUCKET, Key=key)
    first, second = summaries
    assert second["exact_duplicates"] == first["articles"] > 0
    assert second["new_articles"] == 0

    snapshots = [k for k in s3.keys("cluster/snapshots/") if k.endswith(".parquet")]
    assert snapshots == ["cluster/snapshots/date=2026-11-28/articles.parquet"]
    assert s3.keys("cluster/feed_health/date=2026-11-28/"), "no feed-health rows in S3"

    _reset_s3fs()
    con = duckdb.connect()
    con.register_filesystem(fsspec.filesystem("s3"))
    rows, distinct_ids, with_countries = con.execute(
        f"""SELECT count(*), count(DISTINCT article_id), count(*) FILTER (WHERE len(countries) > 0)
            FROM read_parquet('{data_dir}/snapshots/**/*.parquet', hive_partitioning = true)"""
    ).fetchone()
    assert rows > 0
    assert distinct_ids == rows, "the rerun doubled rows"
    assert with_countries > 0


# ---- credentials from an Airflow Connection (FEEDMON_DATA_CONN_ID) ----------------------------------------


def test_the_pipeline_reaches_s3_through_an_airflow_connection(
    s3: LocalS3, sample_feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the connection knows the store: no AWS_* credentials, and AWS_ENDPOINT_URL points nowhere.

    Every reader of the data dir must get the connection's options: storage (snapshots, feed health),
    the fetch state store (its own fsspec handle) and DuckDB's fsspec bridge (the Feed monitor).
    """
    import fsspec.config

    from feedmon import pipeline
    from feedmon.airflow.tasks import task_settings

    monkeypatch.setattr(fsspec.config, "conf", {})  # the process-wide defaults this test sets go with it
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    with socket.socket() as s:  # a port nobody listens on: without the connection, nothing can work
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{s.getsockname()[1]}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("FEEDMON_DATA_DIR", f"s3://{BUCKET}/via-connection")
    _reset_s3fs()

    without = Settings.from_env()
    with pytest.raises(Exception):  # noqa: B017, PT011 - no credentials or no endpoint: botocore's choice
        storage.write_bytes_atomic(storage.join(without.data_dir, "probe"), b"x")

    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": s3.endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_FEEDMON_S3", json.dumps(conn))
    monkeypatch.setenv("FEEDMON_DATA_CONN_ID", "feedmon_s3")
    settings = task_settings()
    summary = pipeline.run_cycle(settings, DAY, "manual__via-connection")
    assert summary["articles"] > 10

    keys = s3.keys("via-connection/")
    assert "via-connection/snapshots/date=2026-11-28/articles.parquet" in keys
    assert [k for k in keys if k.startswith("via-connection/feed_health/date=2026-11-28/")]
    assert [k for k in keys if k.startswith("via-connection/state/fetch/")], "the fetch state store missed it"
    assert not [k for k in keys if k.startswith("via-connection/work/")]

    from feedmon.monitor.queries import FeedMonitor

    with FeedMonitor(settings.data_dir) as monitor:  # the Feed monitor: DuckDB over the fsspec bridge
        assert monitor.day_figures(DAY).articles == summary["articles"]
