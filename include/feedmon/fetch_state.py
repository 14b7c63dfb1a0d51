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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path

from feedmon import storage

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
        for key in ("next_poll_at", "last_new_content_at", "failing_since"):
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
