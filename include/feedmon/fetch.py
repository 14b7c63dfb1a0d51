"""Fetch feeds like a production crawler: concurrent but polite, conditional, bounded, retried.

Why it is built this way:

* **One scheduler, many workers.** A bounded set of worker threads does the HTTP; they pull work
  from one scheduler that decides *what may start now*: at most ``per_host`` requests in flight per
  host and at least ``min_host_delay`` seconds between two request starts to one host, busiest
  host first. A feed waiting for its host (or for a retry's backoff) holds no worker and no
  connection, so 200 feeds on one host neither starve the others nor hammer that host.
* **Own the HTTP.** Redirects are followed by hand (loops and chains bounded, permanent moves
  recorded); the body is streamed with a byte cap and gzip/deflate is decoded here with a cap on the
  *decoded* size, so a decompression bomb stops at the cap instead of filling memory.
* **Every feed is a row.** :func:`fetch_feeds` never raises for one feed's failure: it returns one
  :class:`~feedmon.models.FetchResult` per input feed, in input order, with a status from
  :data:`FEED_STATUSES`.
* **Conditional GET and backoff** come from :mod:`feedmon.fetch_state`; see
  :func:`next_state` for the exact state transitions.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import random
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from feedmon.config import FetchSettings
from feedmon.fetch_state import FeedState, FetchStateStore
from feedmon.ids import body_hash
from feedmon.models import FeedConfig, FetchResult
from feedmon.sniff import looks_like_html

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT_REDIRECTS = frozenset({301, 308})
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 64 * 1024


# --- batching for Airflow mapped tasks ------------------------------------------------------------


def host_of(url: str) -> str:
    """The politeness key of a URL: its lower-cased host name (ports of one host share it)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def plan_batches(feeds: Sequence[FeedConfig], max_batches: int = 16) -> list[list[FeedConfig]]:
    """Split feeds into at most ``max_batches`` balanced batches, all feeds of a host in one batch.

    Keeping a host in one batch keeps per-host politeness true across parallel mapped tasks.
    Hosts are assigned largest-first to the currently smallest batch; each batch keeps the input
    order of its feeds. Returns no empty batches (an empty input gives ``[]``).
    """
    if not feeds:
        return []
    groups: dict[str, list[int]] = {}
    for i, feed in enumerate(feeds):
        groups.setdefault(host_of(feed.url), []).append(i)
    n = max(1, min(max_batches, len(groups)))
    batches: list[list[int]] = [[] for _ in range(n)]
    order = sorted(groups.values(), key=lambda idx: (-len(idx), idx[0]))
    for idx in order:
        min(batches, key=len).extend(idx)
    return [[feeds[i] for i in sorted(b)] for b in sorted(batches, key=lambda b: b[0]) if b]


# --- one attempt ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Outcome:
    status: str
    http_status: int | None = None
    error: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str | None = None
    nbytes: int = 0
    transient: bool = False
    retry_after: float | None = None
    consumed: bool = False  # the body was read to its end: the connection can be reused


class _TooLarge(Exception):
    pass


class _Decoder:
    """Streaming gzip/deflate decoder that refuses to produce more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1:
            raise ValueError(f"unsupported stacked content-encoding {encoding!r}")
        self.coding = codings[0] if codings else ""
        if self.coding not in ("", "gzip", "x-gzip", "deflate"):
            raise ValueError(f"unsupported content-encoding {self.coding!r}")
        self.limit = limit
        self.total = 0
        self._z = self._new()
        self._raw_deflate_tried = False
        self._started = False

    def _new(self) -> zlib._Decompress | None:
        if self.coding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.coding == "deflate":
            return zlib.decompressobj()
        return None

    def _count(self, chunk: bytes) -> bytes:
        self.total += len(chunk)
        if self.total > self.limit:
            raise _TooLarge(f"body over {self.limit} bytes once decompressed")
        return chunk

    def feed(self, data: bytes) -> bytes:
        if self._z is None:
            return self._count(data)
        out: list[bytes] = []
        buf = data
        while buf:
            try:
                chunk = self._z.decompress(buf, self.limit - self.total + 1)
            except zlib.error:
                # "deflate" is often sent raw (no zlib header): retry once as raw deflate.
                if self.coding == "deflate" and not self._started and not self._raw_deflate_tried:
                    self._raw_deflate_tried = True
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise
            self._started = True
            out.append(self._count(chunk))
            if self._z.eof and self._z.unused_data.strip(b"\0"):
                buf = self._z.unused_data  # concatenated gzip members
                self._z = self._new()
            else:
                buf = self._z.unconsumed_tail
        return b"".join(out)

    def flush(self) -> bytes:
        return self._count(self._z.flush()) if self._z is not None else b""


def _retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now_ts = time.time() if now is None else now
    return max(0.0, when.timestamp() - now_ts)


@dataclass(slots=True)
class _Job:
    index: int
    feed: FeedConfig
    host: str
    prior: FeedState | None
    attempt: int = 0
    started: float = 0.0
    errors: list[str] = field(default_factory=list)


class _Fetcher:
    """Performs single attempts; holds one ``requests.Session`` per worker thread (keep-alive)."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        sess = getattr(self._local, "session", None)
        if sess is None:
            sess = requests.Session()
            adapter = HTTPAdapter(pool_connections=64, pool_maxsize=max(2, self.settings.per_host), max_retries=0)
            sess.mount("http://", adapter)
            sess.mount("https://", adapter)
            # Off by default: no ~/.netrc credentials sent to feed hosts, no per-request proxy lookup.
            sess.trust_env = self.settings.trust_env
            self._local.session = sess
            with self._lock:
                self._sessions.append(sess)
        return sess

    def close(self) -> None:
        with self._lock:
            for sess in self._sessions:
                sess.close()
            self._sessions.clear()

    def attempt(self, job: _Job) -> _Outcome:
        """One attempt (following redirects); never raises for network trouble."""
        try:
            return self._attempt(job)
        except _TooLarge as exc:
            return _Outcome("too_large", error=str(exc))
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            return _Outcome("timeout", error=f"timeout: {_short(exc)}")
        except requests.exceptions.SSLError as exc:
            return _Outcome("connection_error", error=f"TLS error: {_short(exc)}")
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            return _Outcome("connection_error", error=f"invalid URL: {_short(exc)}")
        except requests.exceptions.InvalidSchema as exc:
            return _Outcome("connection_error", error=f"unsupported URL scheme: {_short(exc)}")
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.HTTPError,
            ConnectionError,
        ) as exc:
            return _Outcome("connection_error", error=f"connection error: {_short(exc)}", transient=True)
        except zlib.error as exc:
            return _Outcome("http_error", error=f"content decoding failed: {exc}")
        except (requests.exceptions.RequestException, OSError) as exc:
            return _Outcome("connection_error", error=f"{type(exc).__name__}: {_short(exc)}")

    def _attempt(self, job: _Job) -> _Outcome:
        s = self.settings
        feed = job.feed
        read_timeout = feed.timeout or s.read_timeout
        deadline = time.monotonic() + s.connect_timeout + read_timeout
        headers = {
            "User-Agent": s.user_agent,
            "Accept": "application/rss+xml, application/atom+xml, application/rdf+xml, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        prior = job.prior if job.prior is not None and job.prior.url == feed.url else None
        if prior is not None:
            if prior.etag:
                headers["If-None-Match"] = prior.etag
            if prior.last_modified:
                headers["If-Modified-Since"] = prior.last_modified
        url = feed.url
        visited = {url}
        permanent_url: str | None = None
        all_permanent = True
        session = self.session()
        for hop in range(s.max_redirects + 1):
            scheme = urlsplit(url).scheme.lower()
            if scheme not in ("http", "https"):
                return _Outcome("connection_error", error=f"unsupported URL scheme {scheme!r} in {url}")
            resp = session.get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(s.connect_timeout, read_timeout),
            )
            reusable = False
            try:
                location = resp.headers.get("location")
                if resp.status_code in _REDIRECTS and location:
                    target = urljoin(url, location.strip())
                    if all_permanent and resp.status_code in _PERMANENT_REDIRECTS:
                        permanent_url = target
                    else:
                        all_permanent = False
                    if target in visited:
                        return _Outcome("redirect_loop", resp.status_code, f"redirect loop: {url} -> {target}")
                    if hop == s.max_redirects:
                        return _Outcome("redirect_loop", resp.status_code, f"more than {s.max_redirects} redirects")
                    visited.add(target)
                    url = target
                    reusable = _drain(resp)
                    continue
                out = self._read(resp, feed, prior, deadline)
                if out.status in ("ok", "not_modified"):
                    out.final_url = permanent_url
                # Only bodies we never started reading (304, error pages) are worth draining.
                reusable = out.consumed or (out.status in ("http_error", "not_modified") and _drain(resp))
                return out
            finally:
                # A fully read response goes back to the pool (keep-alive); anything else is closed,
                # because unread bytes would poison the next request on that connection.
                if reusable:
                    resp.raw.release_conn()
                else:
                    resp.close()
        raise AssertionError("unreachable")  # the loop always returns

    def _read(self, resp: requests.Response, feed: FeedConfig, prior: FeedState | None, deadline: float) -> _Outcome:
        s = self.settings
        code = resp.status_code
        hdrs = {k.lower(): v for k, v in resp.headers.items()}
        if code == 304:
            return _Outcome("not_modified", code, headers=hdrs)
        if code >= 300 or code < 200:
            reason = resp.reason or ""
            return _Outcome(
                "http_error",
                code,
                f"HTTP {code} {reason}".strip(),
                headers=hdrs,
                transient=code in _TRANSIENT_HTTP or code >= 500,
                retry_after=_retry_after_seconds(hdrs.get("retry-after")),
            )
        max_bytes = feed.max_bytes or s.max_bytes
        declared = hdrs.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > max_bytes:
            return _Outcome("too_large", code, f"Content-Length {declared} over limit {max_bytes}", headers=hdrs)
        try:
            decoder = _Decoder(hdrs.get("content-encoding", ""), s.max_decoded_bytes)
        except ValueError as exc:
            return _Outcome("http_error", code, str(exc), headers=hdrs)
        parts: list[bytes] = []
        wire = 0
        while True:
            if time.monotonic() > deadline:
                return _Outcome("timeout", code, "body not complete within the time limit", headers=hdrs)
            data = resp.raw.read1(_CHUNK, decode_content=False)
            if not data:
                break
            wire += len(data)
            if wire > max_bytes:
                return _Outcome("too_large", code, f"body over limit {max_bytes} bytes", headers=hdrs)
            try:
                parts.append(decoder.feed(data))
            except _TooLarge as exc:
                return _Outcome("too_large", code, str(exc), headers=hdrs)
        try:
            parts.append(decoder.flush())
        except _TooLarge as exc:
            return _Outcome("too_large", code, str(exc), headers=hdrs)
        body = b"".join(parts)
        if not body.strip():
            return _Outcome("empty", code, "empty body", headers=hdrs, consumed=True)
        if looks_like_html(body, hdrs.get("content-type")):
            msg = "not a feed: the server sent an HTML page"
            return _Outcome("parse_error", code, msg, headers=hdrs, nbytes=len(body), consumed=True)
        if prior is not None and prior.content_hash and prior.content_hash == body_hash(body):
            return _Outcome("not_modified", code, None, headers=hdrs, nbytes=len(body), consumed=True)
        return _Outcome("ok", code, None, body=body, headers=hdrs, nbytes=len(body), consumed=True)


def _drain(resp: requests.Response, limit: int = 64 * 1024) -> bool:
    """Read a small unread body (redirect, 304, error page) so the connection can be reused."""
    if resp.status_code == 304 or resp.status_code < 200 or resp.status_code == 204:
        return True
    length = resp.headers.get("content-length", "").strip()
    if not length.isdigit() or int(length) > limit:
        return False
    try:
        resp.raw.read(int(length), decode_content=False)
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError):
        return False
    return True


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


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
        if result.status == "ok" and result.body is not None:
            state.etag = hdrs.get("etag")
            state.last_modified = hdrs.get("last-modified")
            state.content_hash = body_hash(result.body)
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
        retry_after = _retry_after_seconds(result.headers.get("retry-after"), now.timestamp())
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
) -> list[FetchResult]:
    """Record results (possibly re-labelled by later stages, e.g. ``parse_error``) in the state store.

    For pipelines that call ``fetch_feeds(..., commit_state=False)`` and commit only once the raw
    bodies are archived and parsed, so a crash in between never makes the next run skip a body
    (304 / same hash) that was never stored. Updates ``consecutive_failures`` on the results.
    """
    settings = settings or FetchSettings()
    _commit(FetchStateStore.under(state_dir), feeds, results, settings, now or datetime.now(UTC))
    return list(results)


# --- the scheduler --------------------------------------------------------------------------------


def fetch_feeds(
    feeds: Sequence[FeedConfig],
    *,
    state_dir: str | None,
    settings: FetchSettings | None = None,
    now: datetime | None = None,
    commit_state: bool = True,
    force: bool = False,
    on_result: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Fetch every feed once; one :class:`FetchResult` per input feed, in input order.

    ``state_dir=None`` fetches statelessly (no conditional GET, no backoff). ``commit_state=False``
    leaves the state store unchanged (see :func:`commit_fetch_state`). ``force`` ignores backoff.
    ``now`` (aware) decides backoff and, when given, is every row's ``fetched_at``.
    ``on_result`` is called once per feed as it finishes (from worker threads, one call at a time).
    """
    settings = settings or FetchSettings()
    store = FetchStateStore.under(state_dir) if state_dir else None
    clock_now = now or datetime.now(UTC)
    results: list[FetchResult | None] = [None] * len(feeds)
    callback_lock = threading.Lock()
    jobs: list[_Job] = []
    priors: list[FeedState | None] = [None] * len(feeds)
    if store is not None and feeds:
        with ThreadPoolExecutor(max_workers=min(8, len(feeds)), thread_name_prefix="feedmon-state") as pool:
            priors = list(pool.map(store.get, [f.id for f in feeds]))
    for i, feed in enumerate(feeds):
        prior = priors[i]
        if (
            prior is not None
            and not force
            and prior.url == feed.url
            and prior.next_poll_at is not None
            and clock_now < prior.next_poll_at
        ):
            results[i] = FetchResult(
                feed_id=feed.id,
                url=feed.url,
                status="backoff",
                fetched_at=clock_now,
                duration_ms=0,
                error=(
                    f"skipped until {prior.next_poll_at.isoformat()} after "
                    f"{prior.consecutive_failures} consecutive failures (last: {prior.last_error})"
                ),
                consecutive_failures=prior.consecutive_failures,
            )
            if on_result:
                on_result(results[i])
            continue
        jobs.append(_Job(index=i, feed=feed, host=host_of(feed.url), prior=prior))

    def finish(job: _Job, out: _Outcome) -> None:
        """Turn the final outcome into the feed's row and (optionally) its new state. Worker thread."""
        error = out.error
        if job.errors and out.status not in ("ok", "not_modified"):
            error = f"{error} (after {job.attempt + 1} attempts)"
        result = FetchResult(
            feed_id=job.feed.id,
            url=job.feed.url,
            status=out.status,
            fetched_at=now or datetime.now(UTC),
            duration_ms=round((time.monotonic() - job.started) * 1000),
            final_url=out.final_url,
            http_status=out.http_status,
            error=error,
            body=out.body,
            headers=out.headers,
            bytes=out.nbytes,
            consecutive_failures=job.prior.consecutive_failures if job.prior else 0,
        )
        if store is not None:  # the streak this result leads to (stored by the state writer)
            preview = next_state(
                dataclasses.replace(job.prior or FeedState(feed_id=job.feed.id)), result, job.feed, settings, clock_now
            )
            result.consecutive_failures = preview.consecutive_failures
        results[job.index] = result
        if writer is not None:
            writes.append(writer.submit(_commit_one, store, job.feed, result, settings, clock_now))
        if on_result:
            with callback_lock:
                on_result(result)

    # State documents are written by a few threads of their own, overlapping the fetching: file
    # creation costs milliseconds on a busy disk and must not hold a fetch worker or the host slot.
    writer = (
        ThreadPoolExecutor(max_workers=4, thread_name_prefix="feedmon-state")
        if store is not None and commit_state and jobs
        else None
    )
    writes: list[Future[None]] = []
    if jobs:
        fetcher = _Fetcher(settings)
        scheduler = _Scheduler(jobs, settings)
        n_threads = min(max(1, settings.max_workers), len(jobs))
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                while (job := scheduler.next_job()) is not None:
                    try:
                        out = fetcher.attempt(job)
                    except Exception as exc:  # a bug in one attempt must not sink the batch
                        log.exception("fetch of %s failed unexpectedly", job.feed.id)
                        out = _Outcome("connection_error", error=f"internal error: {type(exc).__name__}: {exc}")
                    delay = _retry_delay(job, out, settings)
                    if delay is not None:
                        job.errors.append(out.error or out.status)
                        job.attempt += 1
                        log.info("retrying %s in %.1fs: %s", job.feed.id, delay, out.error)
                        scheduler.done(job, retry_in=delay)
                        continue
                    try:
                        finish(job, out)
                    finally:
                        scheduler.done(job)
            except BaseException as exc:  # pragma: no cover - surfaced below, never swallowed
                errors.append(exc)
                scheduler.abort()

        threads = [threading.Thread(target=worker, name=f"feedmon-fetch-{n}", daemon=True) for n in range(n_threads)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            fetcher.close()
            if writer is not None:
                writer.shutdown(wait=True)
                for fut in writes:
                    if fut.exception() is not None:  # a bug, not a feed's failure: say so, keep the rows
                        log.error("storing fetch state failed: %r", fut.exception())
        if errors:
            raise errors[0]
    return [r for r in results if r is not None]


def _commit(
    store: FetchStateStore,
    feeds: Sequence[FeedConfig],
    results: Sequence[FetchResult],
    settings: FetchSettings,
    now: datetime,
) -> None:
    pairs = list(zip(feeds, results, strict=True))
    if len(pairs) <= 1:
        for feed, result in pairs:
            _commit_one(store, feed, result, settings, now)
        return
    # A few threads: each document is a handful of small file operations, mostly waiting on the disk.
    with ThreadPoolExecutor(max_workers=min(8, len(pairs)), thread_name_prefix="feedmon-state") as pool:
        for fut in [pool.submit(_commit_one, store, f, r, settings, now) for f, r in pairs]:
            fut.result()


def _commit_one(
    store: FetchStateStore, feed: FeedConfig, result: FetchResult, settings: FetchSettings, now: datetime
) -> None:
    if result.status == "backoff":
        return
    try:
        state = store.update(feed.id, lambda st: next_state(st, result, feed, settings, now))
        result.consecutive_failures = state.consecutive_failures
    except OSError as exc:  # the fetch itself is done; keep the row, say what went wrong
        log.error("could not store fetch state of %s: %s", feed.id, exc)


def _retry_delay(job: _Job, out: _Outcome, settings: FetchSettings) -> float | None:
    """Seconds before the next attempt, or None when this failure must not be retried now."""
    if not out.transient or job.attempt >= settings.retries:
        return None
    if out.retry_after is not None:
        if out.retry_after > settings.retry_max_delay:
            return None  # the server wants a long pause: leave it to the next run (state backoff)
        return out.retry_after + random.uniform(0, 0.1 * max(out.retry_after, 0.1))
    base = settings.retry_base_delay * 2**job.attempt
    return min(settings.retry_max_delay, base + random.uniform(0, base))


class _Scheduler:
    """Hands jobs to worker threads while honouring per-host concurrency, host delay and retry waits.

    Workers *pull* (``next_job``) and report back (``done``); a worker waiting for a host or a retry
    holds no connection and no host slot, and a finished worker starts the next eligible job at
    once instead of bouncing through a dispatcher thread.
    """

    def __init__(self, jobs: list[_Job], settings: FetchSettings) -> None:
        self.per_host = max(1, settings.per_host)
        self.delay = max(0.0, settings.min_host_delay)
        self.ready: dict[str, deque[_Job]] = {}
        for job in jobs:
            self.ready.setdefault(job.host, deque()).append(job)
        self.delayed: list[tuple[float, int, _Job]] = []
        self.active: Counter[str] = Counter()
        self.last_start: dict[str, float] = {}
        self.remaining = len(jobs)
        self.seq = 0
        self.aborted = False
        self.cond = threading.Condition()

    def next_job(self) -> _Job | None:
        """The next job that may start now (blocking until one may), or None when all are done."""
        with self.cond:
            while True:
                if self.remaining <= 0 or self.aborted:
                    return None
                now = time.monotonic()
                while self.delayed and self.delayed[0][0] <= now:
                    job = heapq.heappop(self.delayed)[2]
                    self.ready.setdefault(job.host, deque()).appendleft(job)
                wake: float | None = self.delayed[0][0] - now if self.delayed else None
                # Among the hosts that may start now, serve the one with the most waiting feeds:
                # rate-limited big hosts start early instead of forming a slow tail at the end.
                best: str | None = None
                for host, queue in self.ready.items():
                    if self.active[host] >= self.per_host:
                        continue
                    gap = self.last_start.get(host, -1e18) + self.delay - now
                    if gap > 0:
                        wake = gap if wake is None else min(wake, gap)
                        continue
                    if best is None or len(queue) > len(self.ready[best]):
                        best = host
                if best is not None:
                    queue = self.ready[best]
                    job = queue.popleft()
                    if not queue:
                        del self.ready[best]
                    self.active[best] += 1
                    self.last_start[best] = now
                    if not job.started:
                        job.started = now
                    return job
                self.cond.wait(timeout=wake)

    def done(self, job: _Job, retry_in: float | None = None) -> None:
        """Free the job's host slot; requeue it after ``retry_in`` seconds, or count it finished."""
        with self.cond:
            self.active[job.host] -= 1
            if retry_in is not None:
                self.seq += 1
                heapq.heappush(self.delayed, (time.monotonic() + retry_in, self.seq, job))
            else:
                self.remaining -= 1
            if self.remaining <= 0:
                self.cond.notify_all()
            else:
                self.cond.notify()

    def abort(self) -> None:
        with self.cond:
            self.aborted = True
            self.cond.notify_all()
