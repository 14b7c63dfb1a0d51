"""
### feedmon_housekeeping

Daily clean-up of what feedmon keeps only for a while, so `<FEEDMON_DATA_DIR>` does not grow forever:

* **Raw archives** `<FEEDMON_DATA_DIR>/raw/date=D/` older than `FEEDMON_RAW_RETENTION_DAYS`
  (default 30) days before the run's day. A day whose archive is gone can no longer be
  reprocessed (`feedmon reprocess`), so keep the retention above the longest replay you may need.
* **Leftovers of dead runs**: work folders untouched for twice `FEEDMON_RUN_TIMEOUT_MINUTES`
  (a live run never leaves its files that long; a dead run's archive is replayed by the next run),
  temporary files of interrupted writes and old day-lock files (`feedmon.pipeline.clean_leftovers`).
* **Never** snapshots, feed health, reports or state: they are the product.

Each task returns the folders it removed (XCom) and logs them; the `dry_run` param lists without
removing. The run's day is its data-interval end (the day it runs for), or the day it was triggered.
Same as `feedmon prune` on the command line. Owner: feedmon maintainers; failures alert through
`FeedmonNotifier` (docs/alerts.md).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from feedmon.airflow.alerts import FeedmonNotifier
from feedmon.airflow.tasks import DEFAULT_ARGS, param, run_time, task_settings

log = logging.getLogger(__name__)


@dag(
    dag_id="feedmon_housekeeping",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["feedmon", "housekeeping"],
    doc_md=__doc__,
    on_failure_callback=FeedmonNotifier(),
    params={
        "dry_run": Param(False, type="boolean", title="Dry run", description="List what would go; remove nothing.")
    },
)
def feedmon_housekeeping() -> None:
    @task
    def prune_raw_archives() -> list[str]:
        from feedmon import pipeline

        context = get_current_context()
        settings = task_settings()
        removed = pipeline.prune_raw(
            settings, run_time(context).date(), settings.raw_retention_days, dry_run=param(context, "dry_run", False)
        )
        log.info("raw archives past %d days: %d folders %s", settings.raw_retention_days, len(removed), removed)
        return removed

    @task
    def remove_dead_run_work() -> list[str]:
        from feedmon import pipeline

        # What dead runs left behind, judged by how long it has been untouched (never a live run's).
        removed = pipeline.clean_leftovers(
            task_settings(), datetime.now(UTC), dry_run=param(get_current_context(), "dry_run", False)
        )
        log.info("leftovers of dead runs: %d %s", len(removed), removed)
        return removed

    prune_raw_archives()
    remove_dead_run_work()


feedmon_housekeeping()
