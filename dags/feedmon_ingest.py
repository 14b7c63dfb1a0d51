"""
### feedmon_ingest

Fetches every feed in the feeds file (`FEEDMON_FEEDS`, default `include/feeds.yaml`), then parses,
cleans, deduplicates (exact and cross-outlet), tags conflict regions, and replaces the day's snapshot
`<FEEDMON_DATA_DIR>/snapshots/date=D/articles.parquet`. Each run also writes one feed-health row per
feed to `<FEEDMON_DATA_DIR>/feed_health/date=D/`.

* **Day written**: the run's logical date (UTC); runs triggered from the UI/REST API without one
  write the day of their `run_after`. Reruns replace, never double.
* **Recover** first: runs whose raw archive never reached a snapshot (a killed worker, a failed
  clean/dedup/tag/publish) are replayed from the archive into their day, and work folders of dead
  runs are removed. The summary's `recovered_runs` and feed health's `recovered_by` show it.
* **Fetch** is mapped over host-grouped batches, so the grid shows which group failed. A feed's
  validators and failure streak are stored by `publish`, after the snapshot holds its articles.
* **Fails** only when the share of failed feeds passes `FEEDMON_MAX_FAILED_SHARE` (default 0.5);
  one broken feed is a row in feed health, not a failed run.
* **Alerts** (log; the Airflow Connection `FEEDMON_ALERT_CONN_ID` and/or `FEEDMON_ALERT_WEBHOOK`):
  a failed run, a late run (`FEEDMON_RUN_TIMEOUT_MINUTES`, optional Deadline Alert
  `FEEDMON_DEADLINE_MINUTES`), too many failed feeds, no new articles from any feed for
  `FEEDMON_STALE_HOURS`, single feeds silent for `FEEDMON_FEED_STALE_HOURS`. See docs/alerts.md.
* **Trigger form** (docs/airflow.md): `day` (the day to write, `YYYY-MM-DD`), `feed_ids` (only
  these feeds; the day's snapshot keeps the others' articles), `refetch` (ignore saved validators
  and backoff). Over REST: `{"logical_date": null, "conf": {"day": "2026-11-20", "feed_ids": ["a"]}}`.
* **Fetch** tasks run in the pool `feedmon_fetch` (its slots cap concurrent batches across runs).
* **Storage**: `FEEDMON_DATA_DIR` may be `s3://bucket/prefix`, with credentials from the Airflow
  Connection `FEEDMON_DATA_CONN_ID`. The `feedmon_snapshots` asset's identity does not depend on it;
  each event's extra carries the day and the snapshot's path.
* Schedule: `FEEDMON_SCHEDULE` (cron, default every 30 minutes). Owner: feedmon maintainers.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from feedmon.airflow.alerts import FeedmonNotifier, deadline_alerts, raise_data_alerts, run_timeout
from feedmon.airflow.tasks import (
    DEFAULT_ARGS,
    FETCH_POOL,
    INGEST_PARAMS,
    SNAPSHOT_ASSET,
    param,
    run_context,
    select_feeds,
    task_settings,
)
from feedmon.config import schedule_from_env


@dag(
    dag_id="feedmon_ingest",
    schedule=schedule_from_env(),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=run_timeout(),
    on_failure_callback=FeedmonNotifier(),
    deadline=deadline_alerts(),
    default_args=DEFAULT_ARGS,
    tags=["feedmon", "ingest", "news"],
    doc_md=__doc__,
    params=INGEST_PARAMS,
)
def feedmon_ingest() -> None:
    @task
    def recover() -> list[dict]:
        from feedmon import pipeline

        return pipeline.recover(run_context(get_current_context()))

    @task
    def plan_batches() -> list[dict]:
        from feedmon import pipeline

        context = get_current_context()
        batches = select_feeds(pipeline.plan(run_context(context)), param(context, "feed_ids", []))
        return [{"batch": i, "feed_ids": ids} for i, ids in enumerate(batches)]

    @task(retries=1, pool=FETCH_POOL)
    def fetch(batch: dict) -> dict:
        from feedmon import pipeline

        return pipeline.fetch(run_context(get_current_context()), batch["feed_ids"], batch["batch"])

    @task
    def parse(fetched: list[dict]) -> dict:  # noqa: ARG001 - the fetch results only order parse after every batch
        from feedmon import pipeline

        return pipeline.parse(run_context(get_current_context()))

    @task
    def clean(entries: dict) -> dict:
        from feedmon import pipeline

        return pipeline.clean(run_context(get_current_context()), entries["path"])

    @task
    def dedup(cleaned: dict) -> dict:
        from feedmon import pipeline

        return pipeline.dedup(run_context(get_current_context()), cleaned["path"])

    @task
    def tag(deduped: dict) -> dict:
        from feedmon import pipeline

        return pipeline.tag(run_context(get_current_context()), deduped["path"])

    @task(outlets=[SNAPSHOT_ASSET])
    def publish(tagged: dict, recovered: list[dict]) -> dict:
        from feedmon import pipeline

        context = get_current_context()
        summary = pipeline.publish(run_context(context), tagged["path"], recovered)
        context["outlet_events"][SNAPSHOT_ASSET].extra = {
            "date": summary["date"],
            "snapshot": summary["snapshot"],
            "run_id": summary["run_id"],
        }
        return summary

    @task(retries=0)
    def check_feed_health(summary: dict) -> None:
        from feedmon import pipeline

        pipeline.check_feed_health(summary, task_settings().max_failed_share)

    recovered = recover()
    batches = plan_batches()
    recovered >> batches  # replay what never published before fetching with the validators it stored
    fetched = fetch.expand(batch=batches)
    summary = publish(tag(dedup(clean(parse(fetched)))), recovered)
    check_feed_health(summary)
    summary >> raise_data_alerts()


feedmon_ingest()
