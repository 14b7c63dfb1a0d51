"""Alerts that reach people: what went wrong, which feeds, since when, and a link to the run.

Airflow-free, and import-light because DAG files import it (through the adapter) at parse time.
The checks read feed_health and snapshot Parquet through :mod:`feedmon.storage` and return
:class:`Alert` records; :func:`deliver` writes them to the log always and POSTs them as JSON to
``FEEDMON_ALERT_WEBHOOK`` when it is set. The Airflow side (notifier, callbacks, deadline) lives in
:mod:`feedmon.airflow_alerts` and only turns an Airflow context into calls of this module.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from feedmon import storage
from feedmon.config import Settings, env_number
from feedmon.ids import run_key
from feedmon.timeutil import as_utc
from feedmon.vocab import failed_share_exceeded, is_failed

log = logging.getLogger(__name__)

RUN_FAILED = "run_failed"
RUN_LATE = "run_late"
FAILED_FEEDS = "failed_feeds"
STALE = "no_new_articles"
KINDS = (RUN_FAILED, RUN_LATE, FAILED_FEEDS, STALE)

DEFAULT_STALE_HOURS = 6.0
DEFAULT_REPEAT_HOURS = 6.0
DEFAULT_WEBHOOK_TIMEOUT = 10.0
USER_AGENT = "feedmon-alerts/0.1"


@dataclass(frozen=True)
class Alert:
    """One alert: enough for a person to act without opening five pages first."""

    kind: str
    title: str
    what: str
    feeds: tuple[str, ...] = ()
    since: datetime | None = None
    run_link: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    severity: str = "error"
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; expected one of {KINDS}")

    @property
    def key(self) -> str:
        """Identity used to send the same condition once, not every 30 minutes."""
        since = self.since.isoformat() if self.since else "-"
        return f"{self.kind}|{since}|{','.join(sorted(self.feeds))}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO timestamps), the ``alert`` object of the webhook payload."""
        out = asdict(self)
        out["feeds"] = list(self.feeds)
        out["since"] = self.since.isoformat() if self.since else None
        out["details"] = json.loads(json.dumps(dict(self.details), default=str))
        return out

    def format_text(self) -> str:
        """Plain text for logs and chat webhooks: headline first, then the facts, then the link."""
        lines = [f"[feedmon {self.severity.upper()}] {self.title}", self.what]
        if self.feeds:
            shown = ", ".join(self.feeds[:20]) + (f" (+{len(self.feeds) - 20} more)" if len(self.feeds) > 20 else "")
            lines.append(f"Feeds ({len(self.feeds)}): {shown}")
        if self.since:
            lines.append(f"Since: {self.since.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
        if self.dag_id or self.run_id:
            lines.append(f"Run: {self.dag_id or '?'} / {self.run_id or '?'}")
        if self.run_link:
            lines.append(f"Link: {self.run_link}")
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        """Webhook body: ``text`` works as-is for Slack/Mattermost-style hooks, ``alert`` for machines."""
        return {"text": self.format_text(), "alert": self.to_dict()}


# --------------------------------------------------------------------------- delivery
def webhook_from_env() -> str | None:
    """``FEEDMON_ALERT_WEBHOOK`` (empty means: log only)."""
    return os.environ.get("FEEDMON_ALERT_WEBHOOK") or None


def stale_hours_from_env() -> float:
    """``FEEDMON_STALE_HOURS``: hours without a new article before the feeds count as silent."""
    return env_number("FEEDMON_STALE_HOURS", DEFAULT_STALE_HOURS, minimum=0, exclusive=True)


def deliver(
    alert: Alert,
    webhook_url: str | None = None,
    *,
    timeout: float = DEFAULT_WEBHOOK_TIMEOUT,
    use_env: bool = True,
) -> bool:
    """Log the alert, then POST it to the webhook if one is configured.

    Returns True when a webhook accepted it. A failing webhook is logged and swallowed: an alert
    callback that crashes would hide the very failure it reports.
    """
    level = logging.ERROR if alert.severity == "error" else logging.WARNING
    log.log(level, "%s", alert.format_text())
    url = webhook_url or (webhook_from_env() if use_env else None)
    if not url:
        return False
    import requests  # lazy: keeps DAG-file parsing free of requests

    try:
        resp = requests.post(url, json=alert.payload(), timeout=timeout, headers={"User-Agent": USER_AGENT})
        resp.raise_for_status()
    except requests.RequestException as exc:
        # requests puts the full URL in its messages; the path may be the webhook's secret.
        reason = str(exc).replace(url, _redact(url))
        secret = urlsplit(url).path
        if len(secret) > 1:
            reason = reason.replace(secret, "/…")
        log.warning("alert webhook %s failed for %s alert: %s", _redact(url), alert.kind, reason)
        return False
    log.info("alert %s delivered to webhook %s (HTTP %s)", alert.kind, _redact(url), resp.status_code)
    return True


def _redact(url: str) -> str:
    """Webhook URLs often carry their secret in the path: log scheme and host only."""
    m = re.match(r"^([a-z]+://[^/]+)", url)
    return (m.group(1) + "/…") if m else "<webhook>"


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """Link to the run's page in the Airflow 3 UI."""
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


# --------------------------------------------------------------------------- reading the data
def read_feed_health(settings: Settings, days: Iterable[date]) -> list[dict[str, Any]]:
    """All feed_health rows of ``days`` (every run), oldest first."""
    rows: list[dict[str, Any]] = []
    for day in sorted(set(days)):
        pattern = storage.join(settings.data_dir, "feed_health", f"date={day.isoformat()}", "*.parquet")
        for _, table in storage.iter_parquet(pattern):
            rows.extend(table.to_pylist())
    rows.sort(key=lambda r: (r["fetched_at"], r["feed_id"]))
    return rows


def failure_since(history: Sequence[Mapping[str, Any]], feed_id: str) -> datetime | None:
    """When the feed's current run of failures began (first failed fetch after its last success)."""
    since = None
    for row in sorted((r for r in history if r["feed_id"] == feed_id), key=lambda r: r["fetched_at"]):
        # A success resets the streak; the first failure after it is where the streak starts.
        since = (since or row["fetched_at"]) if is_failed(row["status"]) else None
    return since


# --------------------------------------------------------------------------- checks
def failed_feeds_alert(
    run_rows: Sequence[Mapping[str, Any]],
    max_failed_share: float,
    *,
    history: Sequence[Mapping[str, Any]] = (),
    dag_id: str | None = None,
    run_id: str | None = None,
    run_link: str | None = None,
) -> Alert | None:
    """Alert when the share of failed feeds in one run's feed_health rows is above the threshold."""
    if not run_rows:
        return None
    failed = [r for r in run_rows if is_failed(r["status"])]
    if not failed_share_exceeded(len(run_rows), len(failed), max_failed_share):
        return None
    share = len(failed) / len(run_rows)
    history = list(history) or list(run_rows)
    starts = {r["feed_id"]: failure_since(history, r["feed_id"]) or r["fetched_at"] for r in failed}
    feeds = tuple(sorted(starts))
    errors = {r["feed_id"]: f"{r['status']}: {r.get('error') or ''}".strip(": ") for r in failed}
    return Alert(
        kind=FAILED_FEEDS,
        title=f"{len(failed)} of {len(run_rows)} feeds failed ({share:.0%} > {max_failed_share:.0%})",
        what=(
            f"{share:.0%} of the feeds failed in one run, above FEEDMON_MAX_FAILED_SHARE="
            f"{max_failed_share:g}. Errors: " + "; ".join(f"{k}: {errors[k]}" for k in feeds[:10])
        ),
        feeds=feeds,
        since=min(starts.values()),
        run_link=run_link,
        dag_id=dag_id,
        run_id=run_id,
        details={
            "failed_share": round(share, 4),
            "threshold": max_failed_share,
            "errors": errors,
            "failing_since": {k: v.isoformat() for k, v in starts.items()},
        },
    )


def latest_articles_by_feed(settings: Settings, days: Iterable[date]) -> dict[str, datetime]:
    """Per feed, the newest ``first_seen_at`` in the snapshots of ``days``."""
    latest: dict[str, datetime] = {}
    for day in sorted(set(days)):
        path = settings.snapshot_path(day)
        if not storage.exists(path):
            continue
        table = storage.read_parquet(path).select(["feed_id", "first_seen_at"])
        if table.num_rows == 0:
            continue
        grouped = table.group_by("feed_id").aggregate([("first_seen_at", "max")])
        for feed_id, seen in zip(
            grouped.column("feed_id").to_pylist(),
            grouped.column("first_seen_at_max").to_pylist(),
            strict=True,
        ):
            if feed_id not in latest or seen > latest[feed_id]:
                latest[feed_id] = seen
    return latest


def recent_latest(settings: Settings, now: datetime, hours: float) -> tuple[int, dict[str, datetime]]:
    """``(span, newest first_seen_at per feed)`` over the days a window of ``hours`` covers, plus one
    so a quiet midnight still finds yesterday, and at least the dedup lookback."""
    span = max(settings.lookback_days, int(hours // 24) + 1)
    return span, latest_articles_by_feed(settings, [(now - timedelta(days=n)).date() for n in range(span + 1)])


def stale_alert(
    settings: Settings,
    now: datetime,
    hours: float | None = None,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    run_link: str | None = None,
    recent: tuple[int, dict[str, datetime]] | None = None,
) -> Alert | None:
    """Alert when no feed produced a new article in the last ``hours`` (``FEEDMON_STALE_HOURS``).

    ``now`` is the run's time (its data-interval end or run_after), not the wall clock, so a rerun
    of an old run reaches the same verdict. ``recent`` is :func:`recent_latest`, when already read.
    """
    hours = stale_hours_from_env() if hours is None else hours
    now = as_utc(now)
    window = timedelta(hours=hours)
    span, latest = recent or recent_latest(settings, now, hours)
    newest = max(latest.values(), default=None)
    if newest is not None and now - newest <= window:
        return None
    if newest is None:
        what = f"No articles at all in the snapshots of the last {span + 1} days."
    else:
        what = f"No new article from any feed for {_human(now - newest)} (threshold FEEDMON_STALE_HOURS={hours:g})."
    return Alert(
        kind=STALE,
        title=f"No new articles for {hours:g}+ hours",
        what=what,
        feeds=tuple(sorted(latest)),
        since=newest,
        run_link=run_link,
        dag_id=dag_id,
        run_id=run_id,
        severity="warning",
        details={
            "stale_hours": hours,
            "checked_at": now.isoformat(),
            "last_article_by_feed": {k: v.isoformat() for k, v in sorted(latest.items())},
        },
    )


DEFAULT_FEED_STALE_HOURS = 24.0


def feed_stale_hours_from_env() -> float:
    """``FEEDMON_FEED_STALE_HOURS``: hours one feed may bring nothing new before it is named."""
    return env_number("FEEDMON_FEED_STALE_HOURS", DEFAULT_FEED_STALE_HOURS, minimum=0, exclusive=True)


def silent_feeds_alert(
    settings: Settings,
    now: datetime,
    hours: float | None = None,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    run_link: str | None = None,
    recent: tuple[int, dict[str, datetime]] | None = None,
) -> Alert | None:
    """Alert naming the feeds that brought no new article for ``hours`` (``FEEDMON_FEED_STALE_HOURS``,
    default 24) while others still do: a feed that answers 200 or 304 forever with nothing new is
    as dead as one that errors, and no status shows it.

    Only feeds still in the feeds file are judged (a removed feed is not "silent").
    """
    from feedmon.feeds import FeedsFileError, load_feeds

    hours = feed_stale_hours_from_env() if hours is None else hours
    now = as_utc(now)
    _, latest = recent or recent_latest(settings, now, hours)
    try:
        configured = {f.id for f in load_feeds(settings.feeds_file)}
    except FeedsFileError:
        configured = set(latest)
    silent = {f: t for f, t in latest.items() if f in configured and now - t > timedelta(hours=hours)}
    if not silent or len(silent) == len(latest):  # none, or all: the all-feeds alert covers that
        return None
    lines = ", ".join(f"{f} (last {_human(now - t)} ago)" for f, t in sorted(silent.items()))
    return Alert(
        kind=STALE,
        title=f"{len(silent)} feed{'s' if len(silent) > 1 else ''} silent for {hours:g}+ hours",
        what=f"No new article for more than {hours:g} h from: {lines}. Other feeds are still bringing news.",
        feeds=tuple(sorted(silent)),
        since=min(silent.values()),
        run_link=run_link,
        dag_id=dag_id,
        run_id=run_id,
        severity="warning",
        details={
            "feed_stale_hours": hours,
            "last_article_by_feed": {k: v.isoformat() for k, v in sorted(silent.items())},
        },
    )


def _human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, mins = divmod(minutes, 60)
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


# --------------------------------------------------------------------------- repeat suppression
def _ledger_path(settings: Settings) -> str:
    return storage.join(settings.state_dir, "alerts_sent.json")


def _ledger(settings: Settings, now: datetime, repeat_hours: float) -> dict[str, str]:
    path = _ledger_path(settings)
    ledger: dict[str, str] = json.loads(storage.read_bytes(path)) if storage.exists(path) else {}
    horizon = now - timedelta(hours=max(repeat_hours, 24.0) * 2)
    return {k: v for k, v in ledger.items() if datetime.fromisoformat(v) >= horizon}


def unsent(
    settings: Settings, alerts: Sequence[Alert], now: datetime, repeat_hours: float = DEFAULT_REPEAT_HOURS
) -> list[Alert]:
    """The alerts whose condition (same kind, start and feeds) was not sent within ``repeat_hours``:
    a silent feed at 30-minute runs must produce one alert, not 48 a day. Reads only."""
    now = as_utc(now)
    ledger = _ledger(settings, now, repeat_hours)
    fresh = []
    for alert in alerts:
        sent = ledger.get(alert.key)
        if sent and now - datetime.fromisoformat(sent) < timedelta(hours=repeat_hours):
            log.info("alert %s already sent at %s; not repeating", alert.key, sent)
            continue
        fresh.append(alert)
    return fresh


def record_sent(
    settings: Settings, alerts: Sequence[Alert], now: datetime, repeat_hours: float = DEFAULT_REPEAT_HOURS
) -> None:
    """Remember that these alerts reached someone (call only after delivery)."""
    if not alerts:
        return
    now = as_utc(now)
    ledger = _ledger(settings, now, repeat_hours)
    ledger.update({alert.key: now.isoformat() for alert in alerts})
    storage.write_text_atomic(_ledger_path(settings), json.dumps(ledger, sort_keys=True, indent=1))


def filter_unsent(
    settings: Settings, alerts: Sequence[Alert], now: datetime, repeat_hours: float = DEFAULT_REPEAT_HOURS
) -> list[Alert]:
    """:func:`unsent`, recording the result as sent (for callers that deliver only to the log)."""
    fresh = unsent(settings, alerts, now, repeat_hours)
    record_sent(settings, fresh, now, repeat_hours)
    return fresh


def deliver_once(
    settings: Settings, alerts: Sequence[Alert], now: datetime, webhook_url: str | None = None, **kwargs: Any
) -> list[Alert]:
    """Deliver the alerts not sent recently and record only those that got through.

    An alert is recorded when the webhook accepted it, or when no webhook is configured (the log is
    then the delivery); a webhook that is down leaves it unrecorded, so the next run tries again.
    """
    has_webhook = bool(webhook_url or webhook_from_env())
    fresh = unsent(settings, alerts, now)
    delivered = [a for a in fresh if deliver(a, webhook_url, **kwargs) or not has_webhook]
    record_sent(settings, delivered, now)
    return fresh


def check_data(
    settings: Settings,
    day: date,
    now: datetime,
    *,
    run_id: str | None = None,
    dag_id: str | None = None,
    run_link: str | None = None,
    stale_hours: float | None = None,
    include_stale: bool = True,
) -> list[Alert]:
    """Every data-derived alert for one run: failed-feed share (that run's rows) and staleness."""
    out: list[Alert] = []
    if run_id is not None:
        history = read_feed_health(settings, [day - timedelta(days=1), day])
        key = run_key(run_id)
        run_rows = [r for r in history if r["run_id"] == run_id or run_key(r["run_id"]) == key]
        alert = failed_feeds_alert(
            run_rows,
            settings.max_failed_share,
            history=history,
            dag_id=dag_id,
            run_id=run_id,
            run_link=run_link,
        )
        if alert:
            out.append(alert)
    if include_stale:
        ident = {"dag_id": dag_id, "run_id": run_id, "run_link": run_link}
        stale_hours = stale_hours_from_env() if stale_hours is None else stale_hours
        feed_hours = feed_stale_hours_from_env()
        recent = recent_latest(settings, as_utc(now), max(stale_hours, feed_hours))  # read the snapshots once
        stale = stale_alert(settings, now, stale_hours, recent=recent, **ident)
        stale = stale or silent_feeds_alert(settings, now, feed_hours, recent=recent, **ident)
        if stale:
            out.append(stale)
    return out
