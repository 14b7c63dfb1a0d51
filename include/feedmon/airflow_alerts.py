"""Airflow adapter for :mod:`feedmon.alerts`: a notifier, the late-run settings and the data-alerts task.

Everything here only translates an Airflow context (a dict whose shape depends on who calls: the DAG
processor for run callbacks, ``dag.test()``, the triggerer for Deadline Alerts) into an
:class:`feedmon.alerts.Alert` and hands it to :func:`feedmon.alerts.deliver`.

Wiring in a DAG (see docs/alerts.md)::

    from feedmon.airflow_alerts import FeedmonNotifier, late_run_deadline, raise_data_alerts, run_timeout

    with DAG(..., on_failure_callback=FeedmonNotifier(), dagrun_timeout=run_timeout(),
             deadline=deadline_alerts()):
        ...
        publish_task >> raise_data_alerts()
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import AsyncCallback, BaseNotifier, DeadlineAlert, DeadlineReference, task

from feedmon import alerts
from feedmon.airflow_tasks import context_field, run_day
from feedmon.config import Settings, env_number
from feedmon.timeutil import as_utc

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://localhost:8080"
DEFAULT_RUN_TIMEOUT_MINUTES = 25.0
DEFAULT_DEADLINE_MINUTES = 20.0


# --------------------------------------------------------------------------- settings read at parse time
def run_timeout() -> timedelta:
    """``dagrun_timeout`` for the ingest DAG (``FEEDMON_RUN_TIMEOUT_MINUTES``, default 25 for a 30-min
    schedule): the scheduler fails a run that takes longer, and the failure callback reports it as late."""
    minutes = env_number("FEEDMON_RUN_TIMEOUT_MINUTES", DEFAULT_RUN_TIMEOUT_MINUTES, minimum=0, exclusive=True)
    return timedelta(minutes=minutes)


def late_run_deadline(minutes: float | None = None) -> DeadlineAlert:
    """A Deadline Alert (Airflow >= 3.1, experimental): warn when a run is not finished ``minutes`` after
    it was queued (``FEEDMON_DEADLINE_MINUTES``, default 20), without killing it. Runs in the triggerer."""
    minutes = minutes or env_number("FEEDMON_DEADLINE_MINUTES", DEFAULT_DEADLINE_MINUTES, minimum=0, exclusive=True)
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
    if os.environ.get("FEEDMON_DEADLINE_MINUTES") in (None, ""):
        return []
    return [late_run_deadline()]


def base_url() -> str:
    """Where the Airflow UI lives, for run links: ``AIRFLOW__API__BASE_URL``, then ``[api] base_url``."""
    url = os.environ.get("AIRFLOW__API__BASE_URL")
    if not url:
        from airflow.sdk.configuration import conf

        url = conf.get("api", "base_url", fallback=None)
    return (url or DEFAULT_BASE_URL).rstrip("/")


# --------------------------------------------------------------------------- context access
def run_identity(context: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(dag_id, run_id)`` from whichever context shape Airflow passed."""
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = context_field(dag, "dag_id") or context_field(dag_run, "dag_id")
    run_id = context.get("run_id") or context_field(dag_run, "run_id") or context_field(dag_run, "dag_run_id")
    return dag_id, run_id


def run_time(context: Mapping[str, Any]) -> datetime:
    """The run's "now" for staleness: data-interval end, else ``run_after``; never the wall clock
    unless Airflow gave neither."""
    dag_run = context.get("dag_run")
    when = as_utc(context.get("data_interval_end") or context_field(dag_run, "data_interval_end"))
    when = when or as_utc(context_field(dag_run, "run_after"))
    return when or datetime.now(UTC)


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
            alert = self.build_alert(context)
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
        if alert.kind == alerts.FAILED_FEEDS:  # shared with the data-alerts task: send each condition once
            alerts.deliver_once(Settings.from_env(), [alert], run_time(context), self.webhook_url, timeout=self.timeout)
        else:
            alerts.deliver(alert, self.webhook_url, timeout=self.timeout)
        self.sent.append(alert)

    async def async_notify(self, context: Any) -> None:
        """Triggerer path (Deadline Alerts): same work, off the event loop (requests is blocking)."""
        await asyncio.to_thread(self.notify, context)

    def build_alert(self, context: Mapping[str, Any]) -> alerts.Alert | None:
        """The one alert this event deserves (None when it was already sent, e.g. by the data task)."""
        dag_id, run_id = run_identity(context)
        link = alerts.run_url(self.ui_base_url or base_url(), dag_id, run_id) if dag_id and run_id else None
        kind = self.kind or self._kind_from(context)
        if kind == alerts.RUN_LATE:
            return self._late(context, dag_id, run_id, link)
        if kind == alerts.RUN_FAILED:
            feed_alert = self._failed_feeds(context, dag_id, run_id, link)
            if feed_alert is not False:
                return feed_alert
        return self._failed(context, dag_id, run_id, link)

    @staticmethod
    def _kind_from(context: Mapping[str, Any]) -> str:
        if context.get("reason") == "timed_out" or "deadline" in context:
            return alerts.RUN_LATE
        return alerts.RUN_FAILED

    def _late(self, context: Mapping[str, Any], dag_id: str | None, run_id: str | None, link: str | None):
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

    def _failed(self, context: Mapping[str, Any], dag_id: str | None, run_id: str | None, link: str | None):
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
        self, context: Mapping[str, Any], dag_id: str | None, run_id: str | None, link: str | None
    ) -> alerts.Alert | None | bool:
        """The failed-feeds alert if this run's feed_health explains the failure; False if it does not.

        None means: it does, but the data-alerts task already sent that exact alert.
        """
        if not run_id:
            return False
        try:
            settings = Settings.from_env()
            day = run_day(context)
            found = alerts.check_data(
                settings,
                day,
                run_time(context),
                run_id=run_id,
                dag_id=dag_id,
                run_link=link,
                include_stale=False,
            )
        except (OSError, ValueError) as exc:  # unreadable data must not cost us the failure alert
            log.warning("could not read feed health for %s: %s", run_id, exc)
            return False
        feed_alerts = [a for a in found if a.kind == alerts.FAILED_FEEDS]
        if not feed_alerts:
            return False
        fresh = alerts.unsent(settings, feed_alerts, run_time(context))
        return fresh[0] if fresh else None


# --------------------------------------------------------------------------- the data-alerts task
def check_and_deliver(context: Mapping[str, Any], webhook_url: str | None = None) -> list[dict[str, Any]]:
    """Compute the data alerts of the run in ``context`` and send the ones not sent yet."""
    settings = Settings.from_env()
    dag_id, run_id = run_identity(context)
    link = alerts.run_url(base_url(), dag_id, run_id) if dag_id and run_id else None
    now = run_time(context)
    found = alerts.check_data(settings, run_day(context), now, run_id=run_id, dag_id=dag_id, run_link=link)
    return [a.to_dict() for a in alerts.deliver_once(settings, found, now, webhook_url)]


@task(task_id="raise_data_alerts", trigger_rule="all_done", retries=0)
def raise_data_alerts(**context: Any) -> list[dict[str, Any]]:
    """Raise the failed-share and no-new-articles alerts; runs even when upstream failed (all_done)."""
    return check_and_deliver(context)
