"""Every way a feed host misbehaves, through the whole pipeline: `feedmon run`'s code path and the
real DAG. Each case gets the right status in feed_health; the healthy feeds' articles all arrive."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from feedmon import pipeline
from feedmon.config import Settings
from tests.conftest import REPO
from tests.fetch_server import MisbehavingServer

pytestmark = pytest.mark.e2e

# feed id -> (path on the misbehaving server, extra feeds.yaml keys, expected status)
CASES = {
    "healthy": ("/feeds/ok.xml", "", "ok"),
    "atom": ("/feeds/atom.xml", "", "ok"),
    "slow": ("/slow?delay=4", ", timeout: 1", "timeout"),
    "flaky": ("/flaky/p1?fail=1", "", "ok"),
    "rate-limited": ("/ratelimit/p1?after=1", "", "ok"),
    "gone": ("/status/404", "", "http_error"),
    "loop": ("/loop/a", "", "redirect_loop"),
    "moved": ("/moved", "", "ok"),
    "too-big": ("/big?size=200000", ", max_bytes: 10000", "too_large"),
    "bomb": ("/bomb?mib=16", "", "too_large"),
    "wrong-charset": ("/wrong-charset", "", "ok"),
    "html-page": ("/html", "", "parse_error"),
    "empty": ("/empty", "", "empty"),
    "truncated": ("/truncated", "", "ok"),
    "same-guid": ("/same-guid", "", "ok"),
}


@pytest.fixture
def misbehaving_feeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with MisbehavingServer() as srv:
        srv.prepare_bomb(16)
        lines = ["feeds:"]
        for feed_id, (path, extra, _) in CASES.items():
            lines.append(f"  - {{id: {feed_id}, url: '{srv.url(path)}'{extra}}}")
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text("\n".join(lines) + "\n")
        monkeypatch.setenv("FEEDMON_FEEDS", str(feeds))
        monkeypatch.setenv("FEEDMON_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("FEEDMON_FETCH_MAX_DECODED_BYTES", str(5 * 2**20))
        monkeypatch.setenv("FEEDMON_FETCH_RETRY_BASE_DELAY", "0.05")
        monkeypatch.setenv("FEEDMON_FETCH_MIN_HOST_DELAY", "0")
        monkeypatch.setenv("FEEDMON_FETCH_PER_HOST", "8")
        monkeypatch.setenv("FEEDMON_MAX_FAILED_SHARE", "0.6")
        yield srv


def _check(settings: Settings, day: date) -> None:
    health = pd.read_parquet(Path(settings.data_dir) / "feed_health" / f"date={day}").set_index("feed_id")
    assert sorted(health.index) == sorted(CASES)
    got = {fid: health.loc[fid, "status"] for fid in CASES}
    assert got == {fid: case[2] for fid, case in CASES.items()}
    assert health.loc["gone", "http_status"] == 404
    assert health.loc["moved", "final_url"].endswith("/feeds/ok.xml")
    assert health.loc["truncated", "error"], "a salvaged bozo feed keeps the parser's complaint"
    assert (health.loc[[f for f, c in CASES.items() if c[2] != "ok"], "consecutive_failures"] >= 1).all()

    snap = pd.read_parquet(settings.snapshot_path(day))
    per_feed = snap.groupby("feed_id").size()
    assert per_feed["healthy"] == 3
    assert per_feed["same-guid"] == 3, "one guid for every item must not collapse distinct stories"
    assert per_feed["truncated"] >= 1
    cyrillic = snap[snap["feed_id"] == "wrong-charset"]["title"].str.cat()
    assert any("\u0400" <= ch <= "\u04ff" for ch in cyrillic), cyrillic
    assert health.loc[list(per_feed.index), "new_articles"].sum() == len(snap)


def test_cli_cycle_records_every_case(misbehaving_feeds):
    settings = Settings.from_env()
    day = date(2026, 11, 25)
    pipeline.run_cycle(settings, day, "misbehaving-1")
    _check(settings, day)


def test_dag_run_records_every_case(misbehaving_feeds, airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags" / "feedmon_ingest.py")).dags["feedmon_ingest"]
    run = dag.test(logical_date=datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    assert run.state == "success"
    _check(Settings.from_env(), date(2026, 11, 24))
