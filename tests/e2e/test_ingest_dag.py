"""End to end: the real feedmon_ingest DAG run by Airflow against feeds served over local HTTP."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture
def ingest_dag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "feedmon_ingest.py"))
    assert bag.import_errors == {}
    return bag.dags["feedmon_ingest"]


def test_scheduled_run_writes_logical_day_and_rerun_does_not_double(ingest_dag, sample_feeds, data_dir):
    logical = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    run = ingest_dag.test(logical_date=logical)
    assert run.state == "success"
    snap = data_dir / "snapshots" / "date=2026-11-27" / "articles.parquet"
    df = pd.read_parquet(snap)
    assert len(df) > 30 and df["article_id"].is_unique
    seed = df[df["text"].str.contains("brought together the leaders of Armenia and Azerbaijan")]
    assert seed["story_id"].nunique() == 1 and len(seed) == 2
    assert seed["is_conflict"].all()

    health = duckdb.sql(
        f"select feed_id, status, http_status from read_parquet('{data_dir}/feed_health/**/*.parquet',"
        " hive_partitioning=true) where date = '2026-11-27' order by feed_id"
    ).fetchall()
    assert ("gone-feed", "http_error", 404) in health
    assert sum(1 for _, status, _ in health if status == "ok") == 3

    # Forget the HTTP validators so the rerun really fetches, parses and deduplicates every item
    # again (with them, every feed answers 304 and nothing would reach dedup).
    shutil.rmtree(data_dir / "state" / "fetch")
    rerun = ingest_dag.test(logical_date=logical)
    assert rerun.state == "success"
    again = pd.read_parquet(snap)
    assert len(again) == len(df)
    assert set(again["article_id"]) == set(df["article_id"])
    health = pd.read_parquet(data_dir / "feed_health" / "date=2026-11-27")
    rerun_health = health[health["run_id"] == rerun.run_id]
    fetched = rerun_health[rerun_health["status"] == "ok"]
    assert len(fetched) == 3 and (fetched["entries"] > 0).all(), "the rerun must fetch and parse again"
    assert (rerun_health["new_articles"] == 0).all()


def test_manual_run_without_logical_date_writes_its_run_after_day(ingest_dag, sample_feeds, data_dir):
    run_after = datetime(2026, 11, 28, 9, 15, tzinfo=UTC)
    run = ingest_dag.test(run_after=run_after, logical_date=None)
    assert run.state == "success"
    assert run.logical_date is None
    assert (data_dir / "snapshots" / "date=2026-11-28" / "articles.parquet").exists()
    assert not (data_dir / "snapshots" / "date=2026-11-27").exists()


def test_run_fails_loudly_when_most_feeds_fail(ingest_dag, tmp_path, data_dir, monkeypatch, sample_server):
    feeds = tmp_path / "bad.yaml"
    feeds.write_text(
        "feeds:\n"
        f"  - {{id: ok-feed, url: '{sample_server}/wire_world.xml'}}\n"
        f"  - {{id: gone-1, url: '{sample_server}/missing-1.xml'}}\n"
        f"  - {{id: gone-2, url: '{sample_server}/missing-2.xml'}}\n"
    )
    monkeypatch.setenv("FEEDMON_FEEDS", str(feeds))
    run = ingest_dag.test(logical_date=datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    assert run.state == "failed"
    # ... but nothing is lost: the healthy feed's articles and every feed's health row are written.
    assert len(pd.read_parquet(data_dir / "snapshots" / "date=2026-11-26")) > 10
    health = pd.read_parquet(data_dir / "feed_health" / "date=2026-11-26")
    assert sorted(health["feed_id"]) == ["gone-1", "gone-2", "ok-feed"]


def test_a_fault_after_parse_fails_the_run_and_the_next_run_publishes_its_articles(
    ingest_dag, tmp_path, data_dir, monkeypatch
):
    """A fault in clean, dedup, tag, publish: each fails its run, and the next run (whose feeds
    answer 304 to the validators they handed out) publishes every article of it. Chained to keep
    Airflow's time down: run n fails at fault n after replaying run n-1; outlet n-1 lists new items
    (the old ones rolled off) just before run n, so each failed run has articles of its own to lose.
    """
    from feedmon import pipeline
    from feedmon.config import Settings
    from tests.fetch_server import MisbehavingServer
    from tests.fixtures.ag_feeds import AgFeeds

    for t in ingest_dag.tasks:  # retries would make dag.test() wait out the retry delay
        monkeypatch.setattr(t, "retries", 0)
    faults = ["clean:before", "dedup:before", "tag:before", "publish:before", None]
    day = datetime(2026, 11, 25, tzinfo=UTC)
    with MisbehavingServer() as server:
        feeds = AgFeeds(server, outlets=4, show=range(10))
        monkeypatch.setenv("FEEDMON_FEEDS", str(feeds.write_feeds_file(tmp_path / "feeds.yaml")))
        monkeypatch.setenv("FEEDMON_FETCH_MIN_HOST_DELAY", "0")

        # the reference: the same feed contents, run after run, nothing failing
        reference = Settings.from_env(data_dir=str(tmp_path / "reference"))
        expected: list[set[str]] = []  # guids of the day after each run
        for n in range(len(faults)):
            if n:
                feeds.windows[n - 1] = range(10, 20)
            pipeline.run_cycle(reference, day.date(), f"reference-{n}")
            expected.append(set(pd.read_parquet(reference.snapshot_path(day.date()))["guid"]))
        feeds.windows.clear()

        snapshot = data_dir / "snapshots" / "date=2026-11-25" / "articles.parquet"
        runs = []
        for n, fault in enumerate(faults):
            if n:
                feeds.windows[n - 1] = range(10, 20)
            if fault:
                monkeypatch.setenv("FEEDMON_TEST_FAIL_AT", fault)
            else:
                monkeypatch.delenv("FEEDMON_TEST_FAIL_AT", raising=False)
            feeds.answers.clear()
            run = ingest_dag.test(logical_date=day + timedelta(minutes=30 * n))
            runs.append(run)
            states = {ti.task_id: ti.state for ti in run.get_task_instances()}
            if fault:
                assert run.state == "failed", fault
                assert states[fault.split(":")[0]] == "failed", states
            else:
                assert run.state == "success", states
            assert states["recover"] == "success"
            if n:
                # the failed run before this one is published, every article of it, by this run
                assert set(pd.read_parquet(snapshot)["guid"]) >= expected[n - 1]
                # every feed but the one that just moved on answered 304 to the validators it handed
                # out, among them the one whose new items the failed run had fetched
                unchanged = sorted(status for outlet, status in feeds.answers if outlet != n - 1)
                assert unchanged == [304] * 3
                health = pd.read_parquet(data_dir / "feed_health" / "date=2026-11-25")
                replayed = health[health["run_id"] == runs[n - 1].run_id]
                assert set(replayed["recovered_by"]) == {run.run_id}
        assert set(pd.read_parquet(snapshot)["guid"]) == expected[-1]
        assert pd.read_parquet(snapshot)["article_id"].is_unique


def test_trigger_params_pick_the_day_the_feeds_and_refetch(ingest_dag, sample_feeds, data_dir):
    """`day` writes that day whatever the run's date; `feed_ids` fetches only those; `refetch` ignores
    the validators that made the previous run of the same feed answer 304."""
    when = datetime(2026, 11, 28, 9, 15, tzinfo=UTC)
    conf = {"day": "2026-11-21", "feed_ids": ["worlddesk"]}
    first = ingest_dag.test(run_after=when, logical_date=None, run_conf=conf)
    assert first.state == "success"
    assert not (data_dir / "snapshots" / "date=2026-11-28").exists()
    health = pd.read_parquet(data_dir / "feed_health" / "date=2026-11-21")
    assert list(health["feed_id"]) == ["worlddesk"] and list(health["status"]) == ["ok"]
    articles = len(pd.read_parquet(data_dir / "snapshots" / "date=2026-11-21"))
    assert articles > 0

    again = ingest_dag.test(run_after=when, logical_date=None, run_conf=conf)
    rows = pd.read_parquet(data_dir / "feed_health" / "date=2026-11-21")
    assert list(rows[rows["run_id"] == again.run_id]["status"]) == ["not_modified"]

    refetched = ingest_dag.test(run_after=when, logical_date=None, run_conf={**conf, "refetch": True})
    rows = pd.read_parquet(data_dir / "feed_health" / "date=2026-11-21")
    mine = rows[rows["run_id"] == refetched.run_id]
    assert list(mine["status"]) == ["ok"] and mine["entries"].iloc[0] > 0, "refetch must fetch the body again"
    assert len(pd.read_parquet(data_dir / "snapshots" / "date=2026-11-21")) == articles  # and never doubles


def test_unknown_feed_id_fails_the_run_at_plan(ingest_dag, sample_feeds, data_dir):
    run = ingest_dag.test(logical_date=datetime(2026, 11, 22, tzinfo=UTC), run_conf={"feed_ids": ["no-such-feed"]})
    assert run.state == "failed"
    assert not (data_dir / "snapshots").exists()


def test_every_tagger_language_is_detected_and_tagged_by_the_dag(ingest_dag, data_dir, tmp_path, monkeypatch):
    """The same ten items as the ``feedmon run`` test (one per tagger language), through the DAG."""
    from feedmon.demo import serve_directory
    from tests.fixtures.factories import assert_multilingual_snapshot, write_multilingual_feeds

    site, feeds = tmp_path / "site", tmp_path / "feeds.yaml"
    site.mkdir()
    with serve_directory(site) as base:
        items = write_multilingual_feeds(site, base, feeds)
        monkeypatch.setenv("FEEDMON_FEEDS", str(feeds))
        run = ingest_dag.test(logical_date=datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    assert run.state == "success"
    assert_multilingual_snapshot(data_dir / "snapshots" / "date=2026-11-23" / "articles.parquet", items)
