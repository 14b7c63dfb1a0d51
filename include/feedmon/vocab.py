"""Words every stage shares: feed statuses, the agency marker and the run's failed-share rule.

Kept at the bottom of the package (it imports nothing), so the fetcher, the pipeline, the alerts,
the report and the Feed monitor read one definition instead of importing each other for it.
"""

from __future__ import annotations

__all__ = [
    "AGENCY_FEED",
    "FAILED_STATUSES",
    "FEED_STATUSES",
    "FEED_STATUS_MEANINGS",
    "failed_share_exceeded",
    "is_failed",
]

FEED_STATUS_MEANINGS: dict[str, str] = {
    "ok": "a feed body was fetched and is new (or changed) since the last successful fetch",
    "not_modified": "the server answered 304, or the body is byte-identical to the last one (not parsed)",
    "http_error": "the server answered an HTTP error (4xx/5xx, after retries for 5xx/429/408)",
    "timeout": "connecting, waiting for the answer or receiving the body took longer than allowed",
    "too_large": "the body (as sent, or once decompressed) was over the size limit; it was not kept",
    "redirect_loop": "redirects went in a circle or there were more than max_redirects of them",
    "connection_error": "no usable HTTP exchange: DNS, refused, reset, TLS, truncated body, bad URL",
    "parse_error": "the body is not a feed (an HTML page, garbage); nothing could be parsed from it",
    "empty": "the server answered 200/204 with an empty body, or a valid feed with no items",
    "backoff": "not fetched: the feed keeps failing and its next poll time has not come yet",
}
#: The fixed set of per-feed outcomes, in documentation order.
FEED_STATUSES: tuple[str, ...] = tuple(FEED_STATUS_MEANINGS)
#: Statuses that count as a failure (for the run's failure share and the feed's failure streak).
FAILED_STATUSES: frozenset[str] = frozenset(FEED_STATUSES) - {"ok", "not_modified"}

#: ``agency`` recorded for copy that says it came "from an agency feed" without naming the agency.
AGENCY_FEED = "agency"


def is_failed(status: str | None) -> bool:
    """True when a feed-health status counts as a failure (:data:`FAILED_STATUSES`)."""
    return status in FAILED_STATUSES


def failed_share_exceeded(feeds: int, failed: int, max_share: float) -> bool:
    """The one rule for "too many feeds failed in a run": the run check, the alert and the notifier.

    A run without feeds never exceeds it; the share must be *above* ``max_share`` (0.5 with two of
    four feeds failing is still a healthy run).
    """
    return feeds > 0 and failed / feeds > max_share
