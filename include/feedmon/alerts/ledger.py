"""Sending each condition once: the sent-ledger in the state dir, and delivery that records success.

A silent feed at 30-minute runs must produce one alert, not 48 a day; an alert is recorded as sent
only once it reached someone, so a webhook that is down gets it again next run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from feedmon import storage
from feedmon.alerts.delivery import Channel, deliver
from feedmon.alerts.record import Alert
from feedmon.config import Settings
from feedmon.timeutil import as_utc

log = logging.getLogger(__name__)

DEFAULT_REPEAT_HOURS = 6.0


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
    settings: Settings,
    alerts: Sequence[Alert],
    now: datetime,
    webhook_url: str | None = None,
    *,
    channels: Sequence[Channel] = (),
    **kwargs: Any,
) -> list[Alert]:
    """Deliver the alerts not sent recently and record only those that got through.

    The webhook is ``webhook_url``, else the run's ``settings.alerts.webhook``; ``channels`` are the
    other ways out (see :func:`~feedmon.alerts.delivery.deliver`). An alert is recorded when one of
    them accepted it, or when none is configured (the log is then the delivery); a webhook or
    connection that is down leaves it unrecorded, so the next run tries again.
    """
    url = webhook_url or settings.alerts.webhook
    configured = bool(url or channels)
    fresh = unsent(settings, alerts, now)
    delivered = [a for a in fresh if deliver(a, url, channels=channels, **kwargs) or not configured]
    record_sent(settings, delivered, now)
    return fresh
