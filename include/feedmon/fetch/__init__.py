"""Fetching feeds: one polite, conditional, bounded and retried fetch of many feeds per call.

* :mod:`~feedmon.fetch.scheduler`: :func:`fetch_feeds` (workers, per-host politeness, retries) and
  :func:`plan_batches` (host-grouped batches for mapped Airflow tasks);
* :mod:`~feedmon.fetch.http`: one HTTP attempt (redirects, size caps, gzip/deflate decoding);
* :mod:`~feedmon.fetch.state`: what is remembered per feed between runs (validators, body hash,
  failure streak, backoff) and how one result changes it.

Limits are :class:`feedmon.config.FetchSettings` (``FEEDMON_FETCH_*``), the ``fetch`` section of the
run's settings; statuses are :data:`feedmon.vocab.FEED_STATUSES`. See ``docs/fetching.md``.
"""

from feedmon.config import FetchSettings
from feedmon.fetch.scheduler import fetch_feeds, host_of, plan_batches
from feedmon.fetch.state import FeedState, FetchStateStore, commit_fetch_state, next_state

__all__ = [
    "FeedState",
    "FetchSettings",
    "FetchStateStore",
    "commit_fetch_state",
    "fetch_feeds",
    "host_of",
    "next_state",
    "plan_batches",
]
