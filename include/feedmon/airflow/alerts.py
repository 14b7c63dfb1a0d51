"""Airflow adapter for :mod:`feedmon.alerts`: a notifier, the late-run settings and the data-alerts task.

Everything here only translates an Airflow context (a dict whose shape depends on who calls: the DAG
processor for run callbacks, ``dag.test()``, the triggerer for Deadline Alerts) into an
:class:`feedmon.alerts.Alert` and hands it to :func:`feedmon.alerts.deliver`, with the Airflow
Connection ``FEEDMON_ALERT_CONN_ID`` as an extra channel (:mod:`feedmon.airflow.connections`).

Wiring in a DAG (see docs/alerts.md and ``dags/feedmon_ingest.py``)::

    from feedmon.airflow.alerts import FeedmonNotifier, deadline_alerts, raise_data_alerts, run_timeout

    @dag(..., on_failure_callback=FeedmonNotifier(), dagrun_timeout=run_timeout(), deadline=deadline_alerts())
    def my_dag():
        ...
        publish_task >> raise_data_alerts()

Settings come from :class:`feedmon.config.Settings`, built when a callback or task runs; the DAG-level
ones (timeout, deadline) from config's parse-time readers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

# AsyncCallback and the Deadline names are exported lazily by airflow.sdk; mypy does not see them.
from airflow.sdk import (  # type: ignore[attr-defined]
    AsyncCallback,
    BaseNotifier,
    DeadlineAlert,
    DeadlineReference,
    task,
)
from airflow.sdk.configuration import conf

from feedmon import alerts
from feedmon.airflow.connections import alert_channels
from feedmon.airflow.tasks import context_field, run_day, run_time, task_settings
from feedmon.config import (
    DEFAULT_DEADLINE_MINUTES,
    ConfigError,
    Settings,
    alert_conn_id_from_env,
    alert_webhook_from_env,
    deadline_minutes_from_env,
    run_timeout_minutes_from_env,
)
from feedmon.timeutil import as_utc

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://localhost:8080"


# --------------------------------------------------------------------------- settings read at parse time
def run_timeout() -> timedelta:
    """``dagrun_timeout`` for the ingest DAG (``FEEDMON_RUN_TIMEOUT_MINUTES``, default 25 for a 30-min
    schedule): the scheduler fails a run that takes longer, and the failure callback reports it as late."""
    return timedelta(minutes=run_timeout_minutes_from_env())


def late_run_deadline(minutes: float | None = None) -> DeadlineAlert:
    """A Deadline Alert (Airflow >= 3.1, experimental): warn when a run is not finished ``minutes`` after
    it was queued (``FEEDMON_DEADLINE_MINUTES``, default 20), without killing it. Runs in the triggerer."""
    minutes = minutes or deadline_minutes_from_env() or DEFAULT_DEADLINE_MINUTES
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=minutes),
        callback=AsyncCallback(FeedmonNotifier, kwargs={"kind": alerts.RUN_LATE}),
        name="feedmon_run_late",
    )


def deadline_alerts() -> list[DeadlineAlert]:
    """``deadline=`` for a DAG: the late-run Deadline Alert when ``FEEDMON_DEADLINE_MINUTES`` is set, else none.

    Opt-in because in Airflow 3.3.2 ``dag.test()`` of a DAG that has a deadline crashes when the run
    finishes (it looks the alerts up by their serialized dicts instead of their DB ids), so the test
    suites run without it; the scheduler path itself works (tests/e2e/test_report_dag.py).
    """
    minutes = deadline_minutes_from_env()
    return [] if minutes is None else [late_run_deadline(minutes)]


def base_url() -> str:
    """Where the Airflow UI lives, for run links: Airflow's ``[api] base_url`` (``AIRFLOW__API__BASE_URL``)."""
    return (conf.get("api", "base_url", fallback=None) or DEFAULT_BASE_URL).rstrip("/")


# --------------------------------------------------------------------------- context access
def run_identity(context: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(dag_id, run_id)`` from whichever context shape Airflow passed."""
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = context_field(dag, "dag_id") or context_field(dag_run, "dag_id")
    run_id = context.get("run_id") or context_field(dag_run, "run_id") or context_field(dag_run, "dag_run_id")
    return dag_id, run_id


# --------------------------------------------------------------------------- the notifier
class FeedmonNotifier(BaseNotifier):
    """Turns a run-level Airflow event into one :class:`feedmon.alerts.Alert` and delivers it.

    * ``on_failure_callback=FeedmonNotifier()``: a failed run. When the run's own feed_health rows show
      the failed-feed share above ``FEEDMON_MAX_FAILED_SHARE`` the alert says so and names the feeds;
      a run killed by ``dagrun_timeout`` (reason ``timed_out``) becomes a ``run_late`` alert.
    * ``AsyncCallback(FeedmonNotifier, kwargs={"kind": "run_late"})``: a missed Deadline Alert.
    """

    template_fields = ()

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Nothing to template. Skipping also avoids ``dag.get_template_env()``, which the scheduler-side
        DAG that ``dag.test()`` passes to run callbacks does not have."""
        if self.template_fields:
            super().render_template_fields(context, jinja_env)

    def __init__(
        self,
        kind: str | None = None,
        *,
        webhook_url: str | None = None,
        ui_base_url: str | None = None,
        timeout: float = alerts.DEFAULT_WEBHOOK_TIMEOUT,
        context: Any = None,
    ) -> None:
        if kind is not None and kind not in alerts.KINDS:
            raise ValueError(f"unknown alert kind {kind!r}; expected one of {alerts.KINDS}")
        self.kind = kind
        self.webhook_url = webhook_url
        self.ui_base_url = ui_base_url
        self.timeout = timeout
        self.sent: list[alerts.Alert] = []
        super().__init__(context=context)

    def notify(self, context: Any) -> None:
        """Build and deliver the alert; a webhook failure is logged inside :func:`alerts.deliver`."""
        try:
            settings: Settings | None = task_settings()
        except ConfigError:  # a malformed setting must not swallow the alert about this run
            log.exception("feedmon settings unreadable; alerting with what is known")
            settings = None
        try:
            alert = self.build_alert(context, settings)
        except Exception as exc:  # an unexpected context shape must still reach a person
            log.exception("could not build a detailed alert; sending the bare facts")
            dag_id, run_id = run_identity(context)
            alert = alerts.Alert(
                kind=self.kind or alerts.RUN_FAILED,
                title=f"{dag_id} run needs attention",
                what=f"Run {run_id} of {dag_id} reported {context.get('reason') or 'a problem'}; "
                f"the alert details could not be built ({type(exc).__name__}: {exc}).",
                dag_id=dag_id,
                run_id=run_id,
            )
        if alert is None:
            return
        webhook = self.webhook_url or (settings.alerts.webhook if settings else alert_webhook_from_env())
        conn_id = settings.alerts.conn_id if settings else alert_conn_id_from_env()
        channels = alert_channels(conn_id, self.timeout)
        if alert.kind == alerts.FAILED_FEEDS and settings is not None:
            # shared with the data-alerts task: send each condition once
            alerts.deliver_once(settings, [alert], run_time(context), webhook, channels=channels, timeout=self.timeout)
        else:
            alerts.deliver(alert, webhook, timeout=self.timeout, channels=channels)
        self.sent.append(alert)

    async def async_notify(self, context: Any) -> None:
        """Triggerer path (Deadline Alerts): same work, off the event loop (requests is blocking)."""
        await asyncio.to_thread(self.notify, context)

    def build_alert(self, context: Mapping[str, Any], settings: Settings | None = None) -> alerts.Alert | None:
        """The one alert this event deserves (None when it was already sent, e.g. by the data task).

        ``settings`` are the run's (None: they could not be read, so the data cannot be consulted).
        """
        dag_id, run_id = run_identity(context)
        ui = self.ui_base_url or base_url()
        link = alerts.run_url(ui, dag_id, run_id) if dag_id and run_id else None
        kind = self.kind or self._kind_from(context)
        if kind == alerts.RUN_LATE:
            return self._late(context, dag_id, run_id, link)
        if kind == alerts.RUN_FAILED and settings is not None:
            feed_alert = self._failed_feeds(context, settings, dag_id, run_id, link)
            if feed_alert is not None:  # the feeds explain the failure: say so, once
                return feed_alert if alerts.unsent(settings, [feed_alert], run_time(context)) else None
        return self._failed(context, dag_id, run_id, link)

    @staticmethod
    def _kind_from(context: Mapping[str, Any]) -> str:
        if context.get("reason") == "timed_out" or "deadline" in context:
            return alerts.RUN_LATE
        return alerts.RUN_FAILED

    def _late(
        self, context: Mapping[str, Any], dag_id: str | None, run_id: str | None, link: str | None
    ) -> alerts.Alert:
        dag_run = context.get("dag_run")
        started = as_utc(context_field(dag_run, "start_date")) or as_utc(context_field(dag_run, "queued_at"))
        deadline = context.get("deadline")
        if deadline:
            due = as_utc(context_field(deadline, "deadline_time"))
            what = (
                f"Run {run_id} of {dag_id} was not finished by its deadline "
                f"{due:%Y-%m-%d %H:%M UTC}; it is still {context_field(dag_run, 'state', 'running')}."
                if due
                else f"Run {run_id} of {dag_id} missed its deadline."
            )
        else:
            timeout = context_field(context.get("dag"), "dagrun_timeout")
            limit = f" ({timeout})" if timeout else ""
            what = f"Run {run_id} of {dag_id} exceeded its dagrun_timeout{limit} and was stopped."
        return alerts.Alert(
            kind=alerts.RUN_LATE,
            title=f"{dag_id} run is late",
            what=what,
            since=started,
            run_link=link,
            dag_id=dag_id,
            run_id=run_id,
            details={"reason": context.get("reason") or "deadline_missed"},
        )

    def _failed(
        self, context: Mapping[str, Any], dag_id: str | None, run_id: str | None, link: str | None
    ) -> alerts.Alert:
        dag_run = context.get("dag_run")
        ti = context.get("ti") or context.get("task_instance")
        task_id = context_field(ti, "task_id")
        exc = context.get("exception")
        what = f"Run {run_id} of {dag_id} failed"
        what += f" in task {task_id}." if task_id else "."
        if exc:
            what += f" Error: {type(exc).__name__}: {exc}"
        return alerts.Alert(
            kind=alerts.RUN_FAILED,
            title=f"{dag_id} run failed" + (f" at {task_id}" if task_id else ""),
            what=what,
            since=as_utc(context_field(dag_run, "start_date")) or as_utc(context_field(ti, "start_date")),
            run_link=link,
            dag_id=dag_id,
            run_id=run_id,
            details={"reason": context.get("reason"), "task_id": task_id},
        )

    def _failed_feeds(
        self, context: Mapping[str, Any], settings: Settings, dag_id: str | None, run_id: str | None, link: str | None
    ) -> alerts.Alert | None:
        """The failed-feeds alert when this run's feed_health explains the failure, else None."""
        if not run_id:
            return None
        try:
            found = alerts.check_data(
                settings,
                run_day(context),
                run_time(context),
                run_id=run_id,
                dag_id=dag_id,
                run_link=link,
                include_stale=False,
            )
        except (OSError, ValueError) as exc:  # unreadable data must not cost us the failure alert
            log.warning("could not read feed health for %s: %s", run_id, exc)
            return None
        return next((a for a in found if a.kind == alerts.FAILED_FEEDS), None)


# --------------------------------------------------------------------------- the data-alerts task
def check_and_deliver(context: Mapping[str, Any], webhook_url: str | None = None) -> list[dict[str, Any]]:
    """Compute the data alerts of the run in ``context`` and send the ones not sent yet."""
    settings = task_settings()
    dag_id, run_id = run_identity(context)
    link = alerts.run_url(base_url(), dag_id, run_id) if dag_id and run_id else None
    now = run_time(context)
    found = alerts.check_data(settings, run_day(context), now, run_id=run_id, dag_id=dag_id, run_link=link)
    channels = alert_channels(settings.alerts.conn_id)
    return [a.to_dict() for a in alerts.deliver_once(settings, found, now, webhook_url, channels=channels)]


@task(task_id="raise_data_alerts", trigger_rule="all_done", retries=0)
def raise_data_alerts(**context: Any) -> list[dict[str, Any]]:
    """Raise the failed-share and no-new-articles alerts; runs even when upstream failed (all_done)."""
    return check_and_deliver(context)
