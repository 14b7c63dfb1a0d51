"""The one place feedmon meets Airflow: run identity, trigger-form params, shared DAG defaults, the
snapshot asset, and the settings a task runs with.

Kept import-light (no pandas/pyarrow) because DAG files import it at parse time; the task bodies
import :mod:`feedmon.pipeline` when they run (Airflow's "heavy imports inside tasks").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, Param
from airflow.sdk.exceptions import AirflowFailException

from feedmon.airflow.connections import use_data_connection
from feedmon.config import Settings
from feedmon.feeds import FEED_ID_PATTERN
from feedmon.timeutil import as_utc

if TYPE_CHECKING:
    from feedmon.pipeline import RunContext

OWNER = "feedmon"
# The fixed tag list: DAG policy tests refuse tags outside it.
ALLOWED_TAGS = frozenset({"feedmon", "ingest", "report", "news", "conflict", "housekeeping"})
DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(minutes=20),
}
#: The pool every fetch task runs in (created by `make run`, the compose init and the distributed
#: test): its slots cap concurrent fetch batches across all runs. See docs/airflow.md for its size.
FETCH_POOL = "feedmon_fetch"

# The snapshot asset's identity is fixed: it names *what* the data is, not where it lives. A URI
# built from FEEDMON_DATA_DIR at parse time broke every run after the data dir moved (Airflow keeps
# one active asset per name). `x-` schemes are Airflow's escape for private URIs: taken as they are,
# no provider normaliser needed. Where the day's snapshot is travels in each event's extra.
SNAPSHOT_ASSET = Asset(name="feedmon_snapshots", uri="x-feedmon://snapshots")

# --------------------------------------------------------------------------- trigger-form params
DATE_PARAM_HELP = "UTC day as YYYY-MM-DD; empty: the run's logical date, or the day it was triggered."
INGEST_PARAMS: dict[str, Param] = {
    "day": Param(
        None,
        type=["null", "string"],
        format="date",
        title="Day to write",
        description=f"The day whose snapshot this run updates. {DATE_PARAM_HELP}",
    ),
    "feed_ids": Param(
        [],
        type="array",
        items={"type": "string", "pattern": FEED_ID_PATTERN},
        uniqueItems=True,
        title="Only these feeds",
        description="Feed ids from the feeds file (one per line); empty: every enabled feed.",
    ),
    "refetch": Param(
        False,
        type="boolean",
        title="Refetch",
        description="Ignore saved ETag/Last-Modified and backoff: fetch the selected feeds whole.",
    ),
}
REPORT_PARAMS: dict[str, Param] = {
    "date": Param(
        None,
        type=["null", "string"],
        format="date",
        title="Day to report",
        description=f"For a manual run; runs started by a snapshot report the snapshot's day. {DATE_PARAM_HELP}",
    ),
}


def context_field(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a context object or of its JSON dict form (callbacks from the triggerer get dicts)."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def param(context: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """One trigger-form param of the run (contexts without params, e.g. the triggerer's, give ``default``)."""
    params = context.get("params")
    value = params.get(name, default) if isinstance(params, Mapping) else default
    return default if value is None else value


def run_day(context: Mapping[str, Any]) -> date:
    """The UTC day a run writes: the ``day`` param, else its logical date, else its ``run_after``."""
    chosen = param(context, "day")
    if chosen:
        return date.fromisoformat(str(chosen))
    dag_run = context.get("dag_run")
    when = as_utc(context.get("logical_date") or context_field(dag_run, "logical_date"))
    when = when or as_utc(context_field(dag_run, "run_after"))
    if when is None:
        raise ValueError("the run has neither a logical date nor a run_after")
    return when.date()


def run_time(context: Mapping[str, Any]) -> datetime:
    """The run's "now" (staleness, retention): data-interval end, else ``run_after``; never the wall
    clock unless Airflow gave neither."""
    dag_run = context.get("dag_run")
    when = as_utc(context.get("data_interval_end") or context_field(dag_run, "data_interval_end"))
    when = when or as_utc(context_field(dag_run, "run_after"))
    return when or datetime.now(UTC)


def select_feeds(batches: Sequence[Sequence[str]], feed_ids: Sequence[str]) -> list[list[str]]:
    """The planned batches cut down to ``feed_ids`` (all of them when empty); unknown ids are refused
    with the ids the feeds file has, so a typo in the trigger form fails at once (no retries: waiting
    does not fix a typo), not silently."""
    if not feed_ids:
        return [list(b) for b in batches]
    planned = {i for b in batches for i in b}
    unknown = sorted(set(feed_ids) - planned)
    if unknown:
        raise AirflowFailException(
            f"feed_ids {unknown} are not enabled feeds of the feeds file; known: {sorted(planned)}"
        )
    wanted = set(feed_ids)
    return [kept for b in batches if (kept := [i for i in b if i in wanted])]


def task_settings() -> Settings:
    """The run's settings, with the data dir opened through ``FEEDMON_DATA_CONN_ID`` when it is set."""
    settings = Settings.from_env()
    use_data_connection(settings)
    return settings


def run_context(context: Mapping[str, Any]) -> RunContext:
    """Build the pipeline's RunContext from an Airflow task context (runs inside a task: may import heavily)."""
    from feedmon.pipeline import RunContext

    return RunContext(
        task_settings(), run_day(context), context["dag_run"].run_id, refetch=bool(param(context, "refetch"))
    )
