"""Getting an alert to a person: always the log, a JSON POST to the webhook when there is one, and any
other channel the caller hands in (the Airflow adapter's notifier on an Airflow Connection)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from urllib.parse import quote, urlsplit

from feedmon.alerts.record import Alert

log = logging.getLogger(__name__)

#: Another way to reach people: sends one alert, returns True when it was accepted. Must not raise
#: for a delivery failure (log it and return False); :func:`deliver` guards against bugs anyway.
Channel = Callable[[Alert], bool]

DEFAULT_WEBHOOK_TIMEOUT = 10.0
USER_AGENT = "feedmon-alerts/0.1"


def deliver(
    alert: Alert,
    webhook_url: str | None = None,
    *,
    timeout: float = DEFAULT_WEBHOOK_TIMEOUT,
    channels: Sequence[Channel] = (),
) -> bool:
    """Log the alert, POST it to ``webhook_url`` (the run's ``settings.alerts.webhook``) if given, and
    hand it to every channel.

    Returns True when the webhook or a channel accepted it. A failing one is logged and swallowed: an
    alert callback that crashes would hide the very failure it reports.
    """
    level = logging.ERROR if alert.severity == "error" else logging.WARNING
    log.log(level, "%s", alert.format_text())
    accepted = _post(alert, webhook_url, timeout) if webhook_url else False
    for channel in channels:
        try:
            accepted = channel(alert) or accepted
        except Exception:  # a broken channel must not cost the other channels their alert
            log.exception("alert channel %r crashed for %s alert", channel, alert.kind)
    return accepted


def _post(alert: Alert, url: str, timeout: float) -> bool:
    """The webhook shortcut: the payload as JSON to a plain URL."""
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
