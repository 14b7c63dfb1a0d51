"""Alerts that reach people: what went wrong, which feeds, since when, and a link to the run.

Airflow-free, and import-light because DAG files import it (through :mod:`feedmon.airflow.alerts`)
at parse time. Split along its seams:

* :mod:`~feedmon.alerts.record`: the :class:`Alert` and its kinds;
* :mod:`~feedmon.alerts.checks`: the data checks of a run (failed-feed share, staleness);
* :mod:`~feedmon.alerts.delivery`: the log, a JSON POST to the run's webhook, and other channels;
* :mod:`~feedmon.alerts.ledger`: each condition sent once, recorded only once delivered.

Reading feed health and snapshots is :mod:`feedmon.outputs`' job; thresholds and the webhook come
from the run's :class:`feedmon.config.Settings`.
"""

from feedmon.alerts.checks import (
    check_data,
    failed_feeds_alert,
    failure_since,
    recent_latest,
    silent_feeds_alert,
    stale_alert,
)
from feedmon.alerts.delivery import DEFAULT_WEBHOOK_TIMEOUT, USER_AGENT, Channel, deliver, run_url
from feedmon.alerts.ledger import DEFAULT_REPEAT_HOURS, deliver_once, filter_unsent, record_sent, unsent
from feedmon.alerts.record import FAILED_FEEDS, KINDS, RUN_FAILED, RUN_LATE, STALE, Alert

__all__ = [
    "DEFAULT_REPEAT_HOURS",
    "DEFAULT_WEBHOOK_TIMEOUT",
    "FAILED_FEEDS",
    "KINDS",
    "RUN_FAILED",
    "RUN_LATE",
    "STALE",
    "USER_AGENT",
    "Alert",
    "Channel",
    "check_data",
    "deliver",
    "deliver_once",
    "failed_feeds_alert",
    "failure_since",
    "filter_unsent",
    "recent_latest",
    "record_sent",
    "run_url",
    "silent_feeds_alert",
    "stale_alert",
    "unsent",
]
