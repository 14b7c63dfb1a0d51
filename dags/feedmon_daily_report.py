"""
### feedmon_daily_report

Data-aware: runs whenever `feedmon_ingest` publishes a snapshot (the `feedmon_snapshots` asset),
and writes that day's report from the day's Parquet:

* `<FEEDMON_DATA_DIR>/reports/date=D/report.md`: headline figures, conflict regions, top conflict
  stories, feed health (failing feeds first);
* `<FEEDMON_DATA_DIR>/reports/date=D/report.png`: top conflict regions and feed health by status.

The day comes from the triggering asset events (`extra["date"]`); several events coalesced into one
run produce one report per distinct day. A manual run reports its `date` param (trigger form,
`YYYY-MM-DD`), else the day of its `run_after`. Rebuilding is idempotent (files are replaced atomically).
Owner: feedmon maintainers. Failures alert through `FeedmonNotifier` (docs/alerts.md).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from feedmon.airflow.alerts import FeedmonNotifier
from feedmon.airflow.tasks import DEFAULT_ARGS, REPORT_PARAMS, SNAPSHOT_ASSET, param, run_day, task_settings


@dag(
    dag_id="feedmon_daily_report",
    schedule=[SNAPSHOT_ASSET],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["feedmon", "report", "conflict"],
    doc_md=__doc__,
    on_failure_callback=FeedmonNotifier(),
    params=REPORT_PARAMS,
)
def feedmon_daily_report() -> None:
    @task
    def build_report() -> list[dict]:
        from feedmon.report import build_report, report_days

        context = get_current_context()
        extras = [event.extra for events in context["triggering_asset_events"].values() for event in events]
        days = report_days(extras, fallback=param(context, "date") or run_day(context))
        settings = task_settings()
        return [build_report(settings, day) for day in days]

    build_report()


feedmon_daily_report()
