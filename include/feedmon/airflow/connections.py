"""Airflow Connections for feedmon: where alerts go (``FEEDMON_ALERT_CONN_ID``) and the object store's
credentials (``FEEDMON_DATA_CONN_ID``).

Operators keep secrets where Airflow users expect them (the Connections UI, a secrets backend,
``AIRFLOW_CONN_*``), and the core never learns about Airflow: it gets an alert
:data:`~feedmon.alerts.Channel` and fsspec options. See docs/airflow.md.

* Alerts use the HTTP provider's ``HttpNotifier``: the alert's JSON (``text`` for chat webhooks,
  ``alert`` for machines) is POSTed to the connection's URL. Its ``host`` may be a whole URL
  (``https://hooks.example.org/services/T0/B0/xyz``); extra fields become request headers.
* Data: an ``aws`` connection (login = access key id, password = secret key, extra
  ``endpoint_url``, ``region_name``, ``aws_session_token``) becomes s3fs options; any connection
  may carry ``{"storage_options": {...}}`` in its extra, passed to fsspec as they are.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowNotFoundException

from feedmon import alerts, storage
from feedmon.config import ConfigError, Settings

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- alerts
def alert_channel(conn_id: str, timeout: float = alerts.DEFAULT_WEBHOOK_TIMEOUT) -> alerts.Channel:
    """A channel that POSTs each alert to the HTTP connection ``conn_id`` through ``HttpNotifier``."""

    def send(alert: alerts.Alert) -> bool:
        # Deferred: the provider imports aiohttp, and DAG files import this module at parse time.
        from airflow.providers.http.notifications.http import HttpNotifier

        notifier = HttpNotifier(
            http_conn_id=conn_id,
            json=alert.payload(),
            headers={"User-Agent": alerts.USER_AGENT},
            extra_options={"timeout": timeout},
        )
        try:
            # notify(), not __call__: the payload is data, never a Jinja template.
            notifier.notify({})
        except Exception as exc:  # a missing connection or a refused POST must not break the alert path
            # requests' messages carry the URL, whose path is often the secret: then only the type.
            reason = type(exc).__name__ + ("" if "://" in str(exc) else f": {exc}")
            log.warning("alert connection %s failed for %s alert: %s", conn_id, alert.kind, reason)
            return False
        log.info("alert %s delivered through connection %s", alert.kind, conn_id)
        return True

    return send


def alert_channels(conn_id: str | None, timeout: float = alerts.DEFAULT_WEBHOOK_TIMEOUT) -> list[alerts.Channel]:
    """The connection channel when ``FEEDMON_ALERT_CONN_ID`` is set, else none."""
    return [alert_channel(conn_id, timeout)] if conn_id else []


# --------------------------------------------------------------------------- object storage
def storage_options(conn: Any, protocol: str) -> dict[str, Any]:
    """fsspec options for ``protocol`` from an Airflow Connection (see the module doc)."""
    extra = dict(conn.extra_dejson or {})
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        if conn.login:
            options["key"] = conn.login
        if conn.password:
            options["secret"] = conn.password
        if extra.get("aws_session_token"):
            options["token"] = extra["aws_session_token"]
        client = {k: extra[k] for k in ("endpoint_url", "region_name") if extra.get(k)}
        if client:
            options["client_kwargs"] = client
    given = extra.get("storage_options") or {}
    if not isinstance(given, dict):
        raise ConfigError(f"connection {conn.conn_id}: extra 'storage_options' must be a JSON object")
    options.update(given)
    if not options:
        raise ConfigError(
            f"connection {conn.conn_id} gives no options for {protocol}:// "
            "(use an aws connection, or put 'storage_options' in its extra)"
        )
    return options


def use_data_connection(settings: Settings) -> None:
    """Open the data dir with ``FEEDMON_DATA_CONN_ID``'s credentials in this process (no-op when unset)."""
    conn_id = settings.data_conn_id
    if not conn_id:
        return
    if storage.is_local(settings.data_dir):
        raise ConfigError(
            f"FEEDMON_DATA_CONN_ID={conn_id} is set, but FEEDMON_DATA_DIR={settings.data_dir} is a local path"
        )
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(f"FEEDMON_DATA_CONN_ID={conn_id}: Airflow has no connection of that id") from None
    protocol = storage.protocol_of(settings.data_dir)
    storage.use_options(protocol, storage_options(conn, protocol))
