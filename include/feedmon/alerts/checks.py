"""The data checks of one run: too many failed feeds, no new articles, single silent feeds.

They read the run's feed-health rows and the recent snapshots through :mod:`feedmon.outputs` and
return :class:`~feedmon.alerts.record.Alert` records (or None); thresholds come from the run's
:class:`feedmon.config.Settings`. Sending is :mod:`feedmon.alerts.ledger`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from feedmon.alerts.record import FAILED_FEEDS, STALE, Alert
from feedmon.config import Settings
from feedmon.feeds import FeedsFileError, load_feeds
from feedmon.ids import run_key
from feedmon.outputs import latest_articles_by_feed, read_feed_health
from feedmon.timeutil import as_utc
from feedmon.vocab import failed_share_exceeded, is_failed


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
    """Alert when no feed produced a new article in the last ``hours`` (``settings.alerts.stale_hours``).

    ``now`` is the run's time (its data-interval end or run_after), not the wall clock, so a rerun
    of an old run reaches the same verdict. ``recent`` is :func:`recent_latest`, when already read.
    """
    hours = settings.alerts.stale_hours if hours is None else hours
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
    default 24, from ``settings.alerts``) while others still do: a feed that answers 200 or 304 forever
    with nothing new is as dead as one that errors, and no status shows it.

    Only feeds still in the feeds file are judged (a removed feed is not "silent").
    """
    hours = settings.alerts.feed_stale_hours if hours is None else hours
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
        stale_hours = settings.alerts.stale_hours if stale_hours is None else stale_hours
        feed_hours = settings.alerts.feed_stale_hours
        recent = recent_latest(settings, as_utc(now), max(stale_hours, feed_hours))  # read the snapshots once
        stale = stale_alert(settings, now, stale_hours, recent=recent, **ident)
        stale = stale or silent_feeds_alert(settings, now, feed_hours, recent=recent, **ident)
        if stale:
            out.append(stale)
    return out
