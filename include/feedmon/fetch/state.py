"""Per-feed fetch state: validators, content hash, failure count and backoff.

Layout: one small JSON document per feed, ``<state_dir>/fetch/<feed-key>.json``, where ``feed-key`` is the
feed id made filename-safe (plus a short hash when it had to be changed, so two ids never collide).
One document per feed keeps concurrent mapped Airflow tasks (which fetch *different* feeds) from
ever touching the same file, and makes every update a whole-document replace:

* local paths: write ``<key>.json.<random>.tmp``, then ``os.replace`` it onto the final name (atomic
  on POSIX), under an exclusive ``flock`` on ``<key>.lock`` so that two processes updating the
  *same* feed serialise their read-modify-write instead of losing an update. No ``fsync`` unless
  ``durable=True``: it costs ~1 ms per feed, and the worst a power cut can do without it is leave
  an empty document, which reads as "no state" (one unconditional re-fetch), never as bad data;
* any other fsspec URL (``s3://bucket/state``): one PUT per document, which object stores make
  atomic (readers see the old or the new document, never half of one). There is no lock there:
  two writers of one feed race last-writer-wins, which is harmless for this data.

A document that cannot be read (truncated by a crash of another tool, hand-edited) is treated as
"no state" and overwritten on the next update, never as a reason to stop fetching.

The transitions live here too: :func:`next_state` (pure) says what one fetch result does to a
feed's state, :func:`commit_fetch_state` stores the results of a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from pathlib import Path

from feedmon import storage
from feedmon.config import FetchSettings
from feedmon.fetch.http import retry_after_seconds
from feedmon.ids import body_hash
from feedmon.models import FeedConfig, FetchResult

log = logging.getLogger(__name__)

STATE_VERSION = 1
SUBDIR = "fetch"  # fetch_feeds(state_dir=D) keeps its documents in D/fetch
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(slots=True)
class FeedState:
    """What feedmon remembers about one feed between runs (all datetimes aware UTC)."""

    feed_id: str
    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    consecutive_failures: int = 0
    next_poll_at: datetime | None = None
    last_failure_status: str | None = None  # the most recent failure, kept after recovery
    last_failure_http_status: int | None = None
    last_error: str | None = None
    last_new_content_at: datetime | None = None  # last 200 with a changed body
    failing_since: datetime | None = None  # start of the current failure streak
    permanent_url: str | None = None
    # The newest fetch recorded here: an older result, or this same run's result again (a replay),
    # is not applied, so recording a run's outcomes is idempotent and never goes back in time.
    last_fetched_at: datetime | None = None
    last_run_id: str | None = None
    version: int = STATE_VERSION

    def to_json(self) -> str:
        """Serialise with ISO-8601 datetimes; stable key order keeps diffs readable."""
        doc = {f.name: getattr(self, f.name) for f in _FIELDS}
        for key, value in doc.items():
            if isinstance(value, datetime):
                doc[key] = value.isoformat()
        return json.dumps(doc, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, feed_id: str, text: str) -> FeedState:
        """Parse a stored document, ignoring unknown keys (written by a newer feedmon)."""
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("state document is not an object")
        known = {f.name for f in _FIELDS}
        kwargs = {k: v for k, v in doc.items() if k in known}
        for key in ("next_poll_at", "last_new_content_at", "failing_since", "last_fetched_at"):
            if kwargs.get(key):
                kwargs[key] = datetime.fromisoformat(kwargs[key])
        kwargs["feed_id"] = feed_id
        kwargs["consecutive_failures"] = int(kwargs.get("consecutive_failures") or 0)
        return cls(**kwargs)


_FIELDS = fields(FeedState)


def feed_key(feed_id: str) -> str:
    """File-name-safe key for a feed id; ids that needed changing get a hash suffix (no collisions)."""
    safe = _SAFE.sub("_", feed_id).strip("._") or "feed"
    if safe != feed_id:
        safe = f"{safe[:80]}-{hashlib.sha256(feed_id.encode()).hexdigest()[:10]}"
    return safe


class FetchStateStore:
    """Read and atomically update per-feed :class:`FeedState` documents under ``root``."""

    def __init__(self, root: str | os.PathLike[str], *, durable: bool = False) -> None:
        self.root = os.fspath(root)
        self.durable = durable
        self.local = storage.is_local(self.root)
        if self.local:
            self._dir = Path(self.root.removeprefix("file://"))
            self._dir.mkdir(parents=True, exist_ok=True)
        else:
            import fsspec  # only for object storage; local stores never need it

            self._fs, self._base = fsspec.core.url_to_fs(self.root)
            self._fs.makedirs(self._base, exist_ok=True)

    @classmethod
    def under(cls, state_dir: str | os.PathLike[str], **kwargs: bool) -> FetchStateStore:
        """The store inside a shared state dir: ``<state_dir>/fetch`` (other stages keep theirs beside it)."""
        root = os.fspath(state_dir)
        if storage.is_local(root):
            return cls(str(Path(root.removeprefix("file://")) / SUBDIR), **kwargs)
        return cls(f"{root.rstrip('/')}/{SUBDIR}", **kwargs)

    def path_for(self, feed_id: str) -> str:
        """Where the feed's document lives (a local path or an object key)."""
        name = f"{feed_key(feed_id)}.json"
        return str(self._dir / name) if self.local else f"{self._base.rstrip('/')}/{name}"

    def get(self, feed_id: str) -> FeedState:
        """The stored state, or a fresh one when there is none or it is unreadable."""
        path = self.path_for(feed_id)
        try:
            if self.local:
                text = Path(path).read_text(encoding="utf-8")
            else:
                with self._fs.open(path, "r", encoding="utf-8") as fh:
                    text = fh.read()
        except FileNotFoundError:
            return FeedState(feed_id=feed_id)
        try:
            return FeedState.from_json(feed_id, text)
        except (ValueError, TypeError) as exc:
            log.warning("fetch state for %s unreadable (%s); starting fresh", feed_id, exc)
            return FeedState(feed_id=feed_id)

    def put(self, state: FeedState) -> None:
        """Replace the feed's document atomically."""
        data = state.to_json().encode("utf-8")
        path = self.path_for(state.feed_id)
        if not self.local:
            with self._fs.open(path, "wb") as fh:  # one PUT: atomic on object stores
                fh.write(data)
            return
        fd, tmp = tempfile.mkstemp(prefix=Path(path).name + ".", suffix=".tmp", dir=self._dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if self.durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            Path(tmp).replace(path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()
            raise

    def update(self, feed_id: str, change: Callable[[FeedState], FeedState | None]) -> FeedState:
        """Apply ``change`` to the current state under the feed's lock and store the result.

        ``change`` may mutate and return ``None``; it runs against the freshest stored document,
        so a concurrent writer's update is built upon, not overwritten. Nothing is written when
        the state did not change (a feed answering 304 run after run costs one read).
        """
        # Exclusive per feed for the read-modify-write (local stores; object stores have no locks).
        with storage.exclusive_lock(storage.join(self.root, f"{feed_key(feed_id)}.lock")):
            state = self.get(feed_id)
            before = replace(state)
            new = change(state)
            state = new if new is not None else state
            if state != before:
                self.put(state)
            return state


# --- state transitions ----------------------------------------------------------------------------


def next_state(
    state: FeedState, result: FetchResult, feed: FeedConfig, settings: FetchSettings, now: datetime
) -> FeedState:
    """The feed's state after ``result`` (pure; used by :func:`fetch_feeds` and :func:`commit_fetch_state`).

    * a changed feed URL forgets validators, hash and failure streak (the operator fixed something);
    * ``ok`` stores ETag, Last-Modified and the body hash; ``ok``/``not_modified`` reset the streak
      (a feed answering 304 run after run leaves its document unchanged, so it is not rewritten);
    * any failed status adds one to the streak and sets the next poll time
      (:meth:`FetchSettings.backoff_delay`, or later if the server's ``Retry-After`` says so);
    * ``backoff`` rows leave the state untouched.

    The body's hash comes from the body, or from ``result.body_sha256`` when only the archived
    manifest was read.
    """
    if result.status == "backoff":
        return state
    if state.url != feed.url:
        state = FeedState(feed_id=feed.id, url=feed.url)
    if result.status in ("ok", "not_modified"):
        state.consecutive_failures = 0
        state.next_poll_at = None
        state.failing_since = None
        state.permanent_url = result.final_url
        hdrs = result.headers
        digest = body_hash(result.body) if result.body is not None else result.body_sha256
        if result.status == "ok" and digest is not None:
            state.etag = hdrs.get("etag")
            state.last_modified = hdrs.get("last-modified")
            state.content_hash = digest
            state.last_new_content_at = now
        elif result.http_status == 304:
            state.etag = hdrs.get("etag", state.etag)
            state.last_modified = hdrs.get("last-modified", state.last_modified)
    else:
        state.consecutive_failures += 1
        state.failing_since = state.failing_since or now
        state.last_failure_status = result.status
        state.last_failure_http_status = result.http_status
        state.last_error = result.error
        wait_s = settings.backoff_delay(state.consecutive_failures)
        retry_after = retry_after_seconds(result.headers.get("retry-after"), now.timestamp())
        if retry_after:
            wait_s = max(wait_s, min(retry_after, settings.backoff_max))
        state.next_poll_at = now + timedelta(seconds=wait_s) if wait_s > 0 else None
    return state


def commit_fetch_state(
    feeds: Sequence[FeedConfig],
    results: Sequence[FetchResult],
    *,
    state_dir: str,
    settings: FetchSettings | None = None,
    now: datetime | None = None,
    run_id: str | None = None,
    on_stored: Callable[[str], None] | None = None,
) -> list[FetchResult]:
    """Record results (possibly re-labelled by later stages, e.g. ``parse_error``) in the state store.

    For pipelines that call ``fetch_feeds(..., commit_state=False)`` and commit only once what the
    bodies carried is published, so a crash in between never makes the next run skip a body (304 /
    same hash) whose articles never reached a snapshot. ``now`` (default: each result's own
    ``fetched_at``, which makes a late commit say what the fetch would have said) dates the
    transitions. With ``run_id``, committing the same run's results again changes nothing, and a
    result older than the one a feed's state already records is never applied. ``on_stored(feed_id)``
    is called after each document is written. Updates ``consecutive_failures`` on the results.
    """
    settings = settings or FetchSettings()
    commit(FetchStateStore.under(state_dir), feeds, results, settings, now, run_id=run_id, on_stored=on_stored)
    return list(results)


def commit(
    store: FetchStateStore,
    feeds: Sequence[FeedConfig],
    results: Sequence[FetchResult],
    settings: FetchSettings,
    now: datetime | None,
    *,
    run_id: str | None = None,
    on_stored: Callable[[str], None] | None = None,
) -> None:
    """Store every result's transition (a few threads: each document is a handful of small file
    operations, mostly waiting on the disk)."""
    pairs = list(zip(feeds, results, strict=True))
    if len(pairs) <= 1:
        for feed, result in pairs:
            commit_one(store, feed, result, settings, now, run_id=run_id, on_stored=on_stored)
        return
    with ThreadPoolExecutor(max_workers=min(8, len(pairs)), thread_name_prefix="feedmon-state") as pool:
        futures = [
            pool.submit(commit_one, store, f, r, settings, now, run_id=run_id, on_stored=on_stored) for f, r in pairs
        ]
        for fut in futures:
            fut.result()


def _recorded(state: FeedState, result: FetchResult, run_id: str | None) -> bool:
    """True when ``state`` already holds ``result`` (same run) or something newer."""
    if state.last_fetched_at is None:
        return False
    if result.fetched_at < state.last_fetched_at:
        return True
    return run_id is not None and result.fetched_at == state.last_fetched_at and run_id == state.last_run_id


def commit_one(
    store: FetchStateStore,
    feed: FeedConfig,
    result: FetchResult,
    settings: FetchSettings,
    now: datetime | None,
    *,
    run_id: str | None = None,
    on_stored: Callable[[str], None] | None = None,
) -> None:
    """Store one result's transition and copy the resulting streak onto the result."""
    if result.status == "backoff":
        return

    def change(st: FeedState) -> FeedState:
        if _recorded(st, result, run_id):
            return st
        new = next_state(st, result, feed, settings, now or result.fetched_at)
        new.last_fetched_at, new.last_run_id = result.fetched_at, run_id
        return new

    try:
        state = store.update(feed.id, change)
        result.consecutive_failures = state.consecutive_failures
    except OSError as exc:  # the fetch itself is done; keep the row, say what went wrong
        log.error("could not store fetch state of %s: %s", feed.id, exc)
        return
    if on_stored is not None:
        on_stored(feed.id)
