"""
### feedmon_housekeeping

Daily clean-up of what feedmon keeps only for a while, so `<FEEDMON_DATA_DIR>` does not grow forever:

* **Raw archives** `<FEEDMON_DATA_DIR>/raw/date=D/` older than `FEEDMON_RAW_RETENTION_DAYS`
  (default 30) days before the run's day. A day whose archive is gone can no longer be
  reprocessed (`feedmon reprocess`), so keep the retention above the longest replay you may need.
* **Leftover work folders** `<FEEDMON_DATA_DIR>/work/date=D/` of runs that died before `publish`
  (older than a day).
* **Never** snapshots, feed health, reports or state: they are the product.

Each task returns the folders it removed (XCom) and logs them; the `dry_run` param lists without
removing. The run's day is its data-interval end (the day it runs for), or the day it was triggered.
Same as `feedmon prune` on the command line. Owner: feedmon maintainers; failures alert through
`FeedmonNotifier` (docs/alerts.md).
"""

from __future__ import annotations

import logging

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

        context = get_current_context()
        # TODO(issue 10): the single call site for the leftovers clean-up of dead runs; replace this
        # day-based prune with issue 10's function when it lands.
        removed = pipeline.prune_leftover_work(
            task_settings(), run_time(context).date(), dry_run=param(context, "dry_run", False)
        )
        log.info("leftover work folders: %d %s", len(removed), removed)
        return removed

    prune_raw_archives()
    remove_dead_run_work()


feedmon_housekeeping()
