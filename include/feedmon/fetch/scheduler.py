"""Fetch many feeds like a production crawler: concurrent but polite, conditional, bounded, retried.

Why it is built this way:

* **One scheduler, many workers.** A bounded set of worker threads does the HTTP; they pull work
  from one scheduler that decides *what may start now*: at most ``per_host`` requests in flight per
  host and at least ``min_host_delay`` seconds between two request starts to one host, busiest
  host first. A feed waiting for its host (or for a retry's backoff) holds no worker and no
  connection, so 200 feeds on one host neither starve the others nor hammer that host.
* **Every feed is a row.** :func:`fetch_feeds` never raises for one feed's failure: it returns one
  :class:`~feedmon.models.FetchResult` per input feed, in input order, with a status from
  :data:`feedmon.vocab.FEED_STATUSES`. One attempt is :mod:`feedmon.fetch.http`'s job.
* **Conditional GET and backoff** come from :mod:`feedmon.fetch.state`; see
  :func:`~feedmon.fetch.state.next_state` for the exact state transitions.
* **Politeness holds between processes.** On a local state dir the per-host limits are also kept
  in lock files (:mod:`feedmon.fetch.hosts`), so the DAG's mapped fetch tasks and a ``feedmon run``
  beside them share each host's slots and spacing instead of each taking its own.
* **Batches keep hosts together** (:func:`plan_batches`): a few batches, each spanning many hosts,
  run as parallel mapped Airflow tasks at full concurrency without ever sharing a host.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from feedmon.config import FetchSettings
from feedmon.fetch.hosts import HostGate, HostPermit
from feedmon.fetch.http import Fetcher, Outcome
from feedmon.fetch.state import FeedState, FetchStateStore, commit_one, next_state
from feedmon.models import FeedConfig, FetchResult

__all__ = ["fetch_feeds", "host_of", "plan_batches"]

log = logging.getLogger(__name__)


# --- batching for Airflow mapped tasks ------------------------------------------------------------


def host_of(url: str) -> str:
    """The politeness key of a URL: its lower-cased host name (ports of one host share it)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def plan_batches(feeds: Sequence[FeedConfig], max_batches: int = 4) -> list[list[FeedConfig]]:
    """Split feeds into at most ``max_batches`` balanced batches, all feeds of a host in one batch.

    Keeping a host in one batch keeps per-host politeness true across parallel mapped tasks even
    where no lock file can (object storage). Few batches (``FEEDMON_FETCH_BATCHES``) means each
    spans many hosts, so each task has enough hosts' slots to keep its workers busy. Hosts are
    assigned largest-first to the currently smallest batch; each batch keeps the input order of its
    feeds. Returns no empty batches (an empty input gives ``[]``).
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


@dataclass(slots=True)
class _Job:
    """One feed's way through the scheduler: its slot in the output, its host, its attempts."""

    index: int
    feed: FeedConfig
    host: str
    prior: FeedState | None
    attempt: int = 0
    started: float = 0.0
    errors: list[str] = field(default_factory=list)
    permit: HostPermit | None = None  # the host slot held while an attempt is in flight


# --- one fetch of many feeds ------------------------------------------------------------------------


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
    leaves the state store unchanged (see :func:`~feedmon.fetch.state.commit_fetch_state`). ``force``
    (a refetch) ignores backoff and the saved validators: every feed is fetched whole, and its state
    (failure streak, new validators) still moves on as usual. ``now`` (aware) decides backoff and,
    when given, is every row's ``fetched_at``. ``on_result`` is called once per feed as it finishes
    (from worker threads, one call at a time). With a local ``state_dir`` the per-host limits are
    shared with every other process fetching with the same state dir (:mod:`feedmon.fetch.hosts`);
    otherwise they hold within this call.
    """
    settings = settings or FetchSettings()
    store = FetchStateStore.under(state_dir) if state_dir else None
    run = _FetchRun(feeds, settings, store, now, on_result, force=force)
    jobs = run.plan()
    if jobs:
        run.fetch(jobs, commit_state=commit_state, gate=HostGate(state_dir, settings.per_host, settings.min_host_delay))
    return run.rows()


class _FetchRun:
    """The state of one :func:`fetch_feeds` call, shared by its worker threads."""

    def __init__(
        self,
        feeds: Sequence[FeedConfig],
        settings: FetchSettings,
        store: FetchStateStore | None,
        now: datetime | None,
        on_result: Callable[[FetchResult], None] | None,
        *,
        force: bool = False,
    ) -> None:
        self.feeds = feeds
        self.force = force
        self.settings = settings
        self.store = store
        self.now = now  # every row's fetched_at when given
        self.clock_now = now or datetime.now(UTC)  # decides backoff and state transitions
        self.on_result = on_result
        self.results: list[FetchResult | None] = [None] * len(feeds)
        self._callback_lock = threading.Lock()
        self._writer: ThreadPoolExecutor | None = None
        self._writes: list[Future[None]] = []

    def rows(self) -> list[FetchResult]:
        """The results so far, in input order."""
        return [r for r in self.results if r is not None]

    def plan(self) -> list[_Job]:
        """Read every feed's state; feeds still in backoff get their row now, the rest become jobs."""
        feeds, store = self.feeds, self.store
        priors: list[FeedState | None] = [None] * len(feeds)
        if store is not None and feeds:
            with ThreadPoolExecutor(max_workers=min(8, len(feeds)), thread_name_prefix="feedmon-state") as pool:
                priors = list(pool.map(store.get, [f.id for f in feeds]))
        jobs: list[_Job] = []
        for i, feed in enumerate(feeds):
            prior = priors[i]
            if (
                prior is not None
                and not self.force
                and prior.url == feed.url
                and prior.next_poll_at is not None
                and self.clock_now < prior.next_poll_at
            ):
                row = FetchResult(
                    feed_id=feed.id,
                    url=feed.url,
                    status="backoff",
                    fetched_at=self.clock_now,
                    duration_ms=0,
                    error=(
                        f"skipped until {prior.next_poll_at.isoformat()} after "
                        f"{prior.consecutive_failures} consecutive failures (last: {prior.last_error})"
                    ),
                    consecutive_failures=prior.consecutive_failures,
                )
                self.results[i] = row
                if self.on_result:
                    self.on_result(row)
                continue
            jobs.append(_Job(index=i, feed=feed, host=host_of(feed.url), prior=prior))
        return jobs

    def fetch(self, jobs: list[_Job], *, commit_state: bool, gate: HostGate) -> None:
        """Run the jobs on worker threads; re-raise the first bug a worker hit (feeds' failures are rows)."""
        settings = self.settings
        # State documents are written by a few threads of their own, overlapping the fetching: file
        # creation costs milliseconds on a busy disk and must not hold a fetch worker or the host slot.
        if self.store is not None and commit_state:
            self._writer = ThreadPoolExecutor(max_workers=4, thread_name_prefix="feedmon-state")
        fetcher = Fetcher(settings)
        scheduler = _Scheduler(jobs, settings, gate)
        errors: list[BaseException] = []
        # No more threads than requests that may be in flight at once (every host's slots).
        slots = len({job.host for job in jobs}) * max(1, settings.per_host)
        n_threads = min(max(1, settings.max_workers), len(jobs), slots)
        threads = [
            threading.Thread(
                target=self._worker, args=(fetcher, scheduler, errors), name=f"feedmon-fetch-{n}", daemon=True
            )
            for n in range(n_threads)
        ]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            scheduler.close()
            fetcher.close()
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                for fut in self._writes:
                    if fut.exception() is not None:  # a bug, not a feed's failure: say so, keep the rows
                        log.error("storing fetch state failed: %r", fut.exception())
        if errors:
            raise errors[0]

    def _worker(self, fetcher: Fetcher, scheduler: _Scheduler, errors: list[BaseException]) -> None:
        """Pull jobs until none are left: attempt, then retry later or finish the feed's row."""
        try:
            while (job := scheduler.next_job()) is not None:
                try:
                    # A refetch sends no validators, so the server cannot answer 304.
                    out = fetcher.attempt(job.feed, None if self.force else job.prior)
                except Exception as exc:  # a bug in one attempt must not sink the batch
                    log.exception("fetch of %s failed unexpectedly", job.feed.id)
                    out = Outcome("connection_error", error=f"internal error: {type(exc).__name__}: {exc}")
                delay = _retry_delay(job, out, self.settings)
                if delay is not None:
                    job.errors.append(out.error or out.status)
                    job.attempt += 1
                    log.info("retrying %s in %.1fs: %s", job.feed.id, delay, out.error)
                    scheduler.done(job, retry_in=delay)
                    continue
                try:
                    self._finish(job, out)
                finally:
                    scheduler.done(job)
        except BaseException as exc:  # pragma: no cover - surfaced by fetch(), never swallowed
            errors.append(exc)
            scheduler.abort()

    def _finish(self, job: _Job, out: Outcome) -> None:
        """Turn the final outcome into the feed's row and (optionally) its new state. Worker thread."""
        error = out.error
        if job.errors and out.status not in ("ok", "not_modified"):
            error = f"{error} (after {job.attempt + 1} attempts)"
        result = FetchResult(
            feed_id=job.feed.id,
            url=job.feed.url,
            status=out.status,
            fetched_at=self.now or datetime.now(UTC),
            duration_ms=round((time.monotonic() - job.started) * 1000),
            final_url=out.final_url,
            http_status=out.http_status,
            error=error,
            body=out.body,
            headers=out.headers,
            bytes=out.nbytes,
            consecutive_failures=job.prior.consecutive_failures if job.prior else 0,
        )
        if self.store is not None:  # the streak this result leads to (stored by the state writer)
            prior = dataclasses.replace(job.prior or FeedState(feed_id=job.feed.id))
            preview = next_state(prior, result, job.feed, self.settings, self.clock_now)
            result.consecutive_failures = preview.consecutive_failures
        self.results[job.index] = result
        if self._writer is not None and self.store is not None:
            self._writes.append(
                self._writer.submit(commit_one, self.store, job.feed, result, self.settings, self.clock_now)
            )
        if self.on_result:
            with self._callback_lock:
                self.on_result(result)


# --- the scheduler ----------------------------------------------------------------------------------


def _retry_delay(job: _Job, out: Outcome, settings: FetchSettings) -> float | None:
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
    once instead of bouncing through a dispatcher thread. The limits are counted here for this
    process and, through the :class:`~feedmon.fetch.hosts.HostGate`, against other processes: a
    host whose slots another process holds is asked again after the wait the gate names.
    """

    def __init__(self, jobs: list[_Job], settings: FetchSettings, gate: HostGate) -> None:
        self.per_host = max(1, settings.per_host)
        self.delay = max(0.0, settings.min_host_delay)
        self.gate = gate
        self.ready: dict[str, deque[_Job]] = {}
        for job in jobs:
            self.ready.setdefault(job.host, deque()).append(job)
        self.delayed: list[tuple[float, int, _Job]] = []
        self.active: Counter[str] = Counter()
        self.last_start: dict[str, float] = {}
        self.blocked: dict[str, float] = {}  # host -> when to ask the gate again (held elsewhere)
        self.holders: dict[int, _Job] = {}  # jobs holding a permit, by id: close() frees them if a worker died
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
                refused: set[str] = set()
                while True:
                    # Among the hosts that may start now, serve the one with the most waiting feeds:
                    # rate-limited big hosts start early instead of forming a slow tail at the end.
                    best: str | None = None
                    for host, queue in self.ready.items():
                        if self.active[host] >= self.per_host or host in refused:
                            continue
                        gap = max(self.last_start.get(host, -1e18) + self.delay, self.blocked.get(host, -1e18)) - now
                        if gap > 0:
                            wake = gap if wake is None else min(wake, gap)
                            continue
                        if best is None or len(queue) > len(self.ready[best]):
                            best = host
                    if best is None:
                        break
                    permit, wait = self.gate.acquire(best)
                    if permit is None:  # another process holds the host's slots or spacing
                        self.blocked[best] = now + wait
                        wake = wait if wake is None else min(wake, wait)
                        refused.add(best)
                        continue
                    queue = self.ready[best]
                    job = queue.popleft()
                    if not queue:
                        del self.ready[best]
                    self.active[best] += 1
                    self.last_start[best] = now
                    job.permit = permit
                    self.holders[id(job)] = job
                    if not job.started:
                        job.started = now
                    return job
                self.cond.wait(timeout=wake)

    def done(self, job: _Job, retry_in: float | None = None) -> None:
        """Free the job's host slot; requeue it after ``retry_in`` seconds, or count it finished."""
        with self.cond:
            self._release(job)
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

    def _release(self, job: _Job) -> None:
        if job.permit is not None:
            self.gate.release(job.permit)
            job.permit = None
        self.holders.pop(id(job), None)

    def abort(self) -> None:
        with self.cond:
            self.aborted = True
            self.cond.notify_all()

    def close(self) -> None:
        """Release every slot still held (only after a worker died mid-attempt): other processes wait for them."""
        with self.cond:
            for job in list(self.holders.values()):
                self._release(job)
