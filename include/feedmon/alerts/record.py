"""The alert record: what went wrong, which feeds, since when, and a link to the run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

RUN_FAILED = "run_failed"
RUN_LATE = "run_late"
FAILED_FEEDS = "failed_feeds"
STALE = "no_new_articles"
KINDS = (RUN_FAILED, RUN_LATE, FAILED_FEEDS, STALE)


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
