"""One way to turn the many datetime shapes feedmon meets into a plain UTC ``datetime``.

Import-light (stdlib only) because the Airflow adapter, the alerts and the Feed monitor all need it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

__all__ = ["as_utc"]


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: Any) -> datetime | None: ...


def as_utc(value: Any) -> datetime | None:
    """A plain stdlib UTC datetime from an aware or naive-UTC datetime (pendulum included) or an ISO
    string; None stays None. Pendulum's ``astimezone(UTC) - timedelta`` silently drops the zone,
    so everything is normalised here before any arithmetic."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if value.tzinfo is None:  # DuckDB and some Airflow paths hand back naive UTC
        value = value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)
