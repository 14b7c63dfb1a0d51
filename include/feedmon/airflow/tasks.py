"""The one place feedmon meets Airflow: run identity, shared DAG defaults, the snapshot asset.

Kept import-light (no pandas/pyarrow) because DAG files import it at parse time; the task bodies
import :mod:`feedmon.pipeline` when they run (Airflow's "heavy imports inside tasks").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset

from feedmon import storage
from feedmon.config import Settings, data_dir_from_env
from feedmon.timeutil import as_utc

if TYPE_CHECKING:
    from feedmon.pipeline import RunContext

OWNER = "feedmon"
# The fixed tag list: DAG policy tests refuse tags outside it.
ALLOWED_TAGS = frozenset({"feedmon", "ingest", "report", "news", "conflict"})
DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(minutes=20),
}


def snapshot_asset_uri(data_dir: str | None = None) -> str:
    """URI of the snapshots folder as an Airflow asset (``file://`` for local data dirs)."""
    root = data_dir_from_env(data_dir)
    path = storage.join(root, "snapshots")
    return f"file://{path}" if storage.is_local(path) else path


SNAPSHOT_ASSET = Asset(name="feedmon_snapshots", uri=snapshot_asset_uri())


def context_field(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a context object or of its JSON dict form (callbacks from the triggerer get dicts)."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def run_day(context: Mapping[str, Any]) -> date:
    """The UTC day a run writes: its logical date, or ``run_after`` for runs triggered without one."""
    dag_run = context.get("dag_run")
    when = as_utc(context.get("logical_date") or context_field(dag_run, "logical_date"))
    when = when or as_utc(context_field(dag_run, "run_after"))
    if when is None:
        raise ValueError("the run has neither a logical date nor a run_after")
    return when.date()


def run_context(context: Mapping[str, Any]) -> RunContext:
    """Build the pipeline's RunContext from an Airflow task context (runs inside a task: may import heavily)."""
    from feedmon.pipeline import RunContext

    return RunContext(Settings.from_env(), run_day(context), context["dag_run"].run_id)
