"""The one place feedmon meets Airflow: run identity, shared DAG defaults, the snapshot asset.

Kept import-light (no pandas/pyarrow) because DAG files import it at parse time; the task bodies
import :mod:`feedmon.pipeline` when they run.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from airflow.sdk import Asset

from feedmon import storage
from feedmon.config import Settings

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
    root = data_dir or Settings.from_env().data_dir
    path = storage.join(root, "snapshots")
    return f"file://{path}" if storage.is_local(path) else path


SNAPSHOT_ASSET = Asset(name="feedmon_snapshots", uri=snapshot_asset_uri())


def run_day(context: dict[str, Any]) -> date:
    """The UTC day a run writes: its logical date, or ``run_after`` for runs triggered without one."""
    dag_run = context["dag_run"]
    when = context.get("logical_date") or getattr(dag_run, "logical_date", None) or dag_run.run_after
    return when.astimezone(UTC).date()


def run_context(context: dict[str, Any]):  # -> feedmon.pipeline.RunContext (lazy import)
    """Build the pipeline's RunContext from an Airflow task context."""
    from feedmon.pipeline import RunContext

    return RunContext(Settings.from_env(), run_day(context), context["dag_run"].run_id)
