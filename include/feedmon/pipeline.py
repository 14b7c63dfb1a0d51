"""One pipeline cycle, stage by stage: fetch → parse → clean → dedup → tag → publish.

Each stage reads the previous stage's file and writes its own, and returns small dicts (paths and
counts), so the Airflow tasks in :mod:`feedmon.airflow.tasks` and the ``feedmon`` CLI call exactly the
same functions. Every stage takes its settings from the run's :class:`~feedmon.config.Settings`
(``ctx.settings``); reading what was published is :mod:`feedmon.outputs`' job. The day a run
writes comes from the run (its logical date, or ``run_after`` for manually triggered runs), never
from the clock.

**State moves with output.** Nothing a later run relies on (a feed's validators and body hash, its
failure streak, the learned boilerplate statistics) is stored before the day's snapshot holds the
articles it describes: ``parse`` and ``clean`` park those updates in the run's work folder and
:func:`publish` stores them after the snapshot's atomic rename, then marks the run's raw archive
published. A run that dies before that leaves an archive without the marker, and the next run
replays it first (:func:`recover`), so a killed run's bodies reach their day even if the feed has
rolled those items off since. Every step of that is idempotent: replaying twice, or a replay racing
the run itself, doubles nothing. :func:`clean_leftovers` removes what dead runs left behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import json
import logging
import math
import os
import queue
import signal
import sys
import threading
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from feedmon import archive, storage
from feedmon.clean import BoilerplateModel, BoilerplateSettings, CleanRules, clean_article, plain_title
from feedmon.config import Settings, fault_hooks_from_env
from feedmon.dedup import (
    DEDUP_FIELDS,
    HISTORY_FIELDS,
    SCREEN_MAX_ROWS,
    STORY_FIELDS,
    DayStories,
    DedupRows,
    dedup_rows,
)
from feedmon.feeds import load_feeds
from feedmon.fetch import commit_fetch_state, fetch_feeds, plan_batches
from feedmon.ids import content_hash, make_article_id, run_key
from feedmon.language import resolve_language
from feedmon.models import FeedConfig, FetchResult, RawEntry
from feedmon.outputs import SUMMARY_COLUMNS, snapshot_version, summarize
from feedmon.parse import parse_feed
from feedmon.pool import CHUNKS_PER_WORKER, balanced_chunks, map_chunks, stop_fork_server
from feedmon.schema import (
    ARTICLE_SCHEMA,
    FEED_HEALTH_SCHEMA,
    StringColumn,
    article_columns_to_table,
    article_table,
    checked_columns,
    rows_to_table,
    table_columns,
    value_codes,
)
from feedmon.tag import ConflictTagger
from feedmon.urls import canonical_url, safe_href
from feedmon.vocab import FAILED_STATUSES, failed_share_exceeded

log = logging.getLogger(__name__)

ENTRY_SCHEMA = pa.schema(
    [
        ("feed_id", pa.string()),
        ("guid", pa.string()),
        ("link", pa.string()),
        ("title", pa.string()),
        ("html", pa.string()),
        ("published_at", pa.timestamp("us", tz="UTC")),
        ("language", pa.string()),
        ("author", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
    ]
)


class FeedsFailedError(RuntimeError):
    """Too large a share of feeds failed in one run: the run must fail loudly and say which."""


class InjectedFault(RuntimeError):
    """Raised at a checkpoint named by the test-only ``FEEDMON_TEST_FAIL_AT`` (never in production)."""


@dataclass(frozen=True)
class RunContext:
    """Identifies one pipeline run: which day it writes and under which run id."""

    settings: Settings
    day: date
    run_id: str
    #: Set by a reprocess: the scratch snapshot the replay reads and writes instead of the published
    #: one. A replay also refuses a corrupt archive instead of skipping the damaged feed.
    replay_into: str | None = None
    #: A folder of its own for the work files (replays, reprocesses) instead of ``work/date=D/<run>``,
    #: so a replay never shares files with the run it replays, should that run still be alive.
    scratch: str | None = None
    #: Set when this context replays a run that never published: the id of the run replaying it.
    recovered_by: str | None = None
    #: Fetch every feed whole: no conditional GET, no backoff (the ingest DAG's ``refetch`` param).
    refetch: bool = False

    @property
    def snapshot_path(self) -> str:
        return self.replay_into or self.settings.snapshot_path(self.day)

    @property
    def run_key(self) -> str:
        """The run id made safe for a file name."""
        return run_key(self.run_id)

    @property
    def raw_dir(self) -> str:
        return self.settings.raw_dir(self.day, self.run_key)

    @property
    def work_dir(self) -> str:
        if self.scratch is not None:
            return storage.join(self.scratch, self.run_key)
        return self.settings.work_dir(self.day, self.run_key)

    def work(self, name: str) -> str:
        return storage.join(self.work_dir, name)


def checkpoint(ctx: RunContext, point: str) -> None:
    """A named moment of a run, where the crash tests inject faults (TEST-ONLY; a no-op otherwise).

    ``FEEDMON_TEST_KILL_AT=<point>`` SIGKILLs the process the first time it gets there (as an OOM
    kill or a lost worker would), ``FEEDMON_TEST_FAIL_AT=<point>`` raises :class:`InjectedFault`.
    Points are ``<stage>:before`` / ``<stage>:after`` for fetch, parse, clean, dedup, tag and
    publish, and inside publish ``publish:snapshot`` (snapshot renamed, nothing else stored),
    ``publish:state`` (after each feed's state document), ``publish:learned`` (fetch state and
    boilerplate statistics stored), ``publish:health`` (feed health written) and ``publish:marker``
    (archive marked published, work folder not yet removed). A replay's points start with ``replay:``.
    """
    hooks = fault_hooks_from_env()
    if hooks.kill is None and hooks.fail is None:
        return
    name = f"replay:{point}" if ctx.recovered_by is not None else point
    if hooks.kill == name:
        log.warning("test hook: killing the process at %s", name)
        os.kill(os.getpid(), signal.SIGKILL)
    if hooks.fail == name:
        raise InjectedFault(f"test hook: fault injected at {name}")


def _feeds_by_id(settings: Settings) -> dict[str, FeedConfig]:
    return {f.id: f for f in load_feeds(settings.feeds_file)}


@contextmanager
def _day_lock(settings: Settings, day: date) -> Iterator[None]:
    """Serialise the writers of one day between processes: its snapshot, the learned statistics of
    the day, the runs' feed health and markers (flock: a killed holder never blocks the day)."""
    with storage.exclusive_lock(_day_lock_path(settings, day)):
        yield


def _day_lock_path(settings: Settings, day: date) -> str:
    return storage.join(settings.state_dir, "locks", f"date={day.isoformat()}.lock")


# --------------------------------------------------------------------------- fetch
def plan(ctx: RunContext, max_batches: int | None = None) -> list[list[str]]:
    """Split the enabled feeds into host-disjoint batches, one mapped fetch task each; returns feed ids.

    ``max_batches`` defaults to ``FEEDMON_FETCH_BATCHES`` (4): few batches, each spanning many hosts,
    so the tasks that run at once (the ``feedmon_fetch`` pool's slots) each have enough hosts to
    keep their workers busy, and a host is never in two of them.
    """
    feeds = list(_feeds_by_id(ctx.settings).values())
    n = ctx.settings.fetch.batches if max_batches is None else max_batches
    return [[f.id for f in batch] for batch in plan_batches(feeds, max_batches=n)]


def fetch(
    ctx: RunContext,
    feed_ids: Sequence[str] | None = None,
    batch: int = 0,
    *,
    on_body: Callable[[FetchResult], None] | None = None,
) -> dict[str, Any]:
    """Fetch one batch of feeds (all enabled feeds when ``feed_ids`` is None) and archive the bodies.
    ``on_body`` sees each result with a body as it arrives (``feedmon run``'s :class:`Ahead`).

    HTTP validators are not saved here but by :func:`publish`, once the snapshot holds what the
    bodies carried: a crash in between makes the next run replay the archive (:func:`recover`)
    instead of getting 304 for bodies nobody published, and a body that turns out not to be a feed
    counts as the failure it is.
    """
    checkpoint(ctx, "fetch:before")
    by_id = _feeds_by_id(ctx.settings)
    ids = list(feed_ids) if feed_ids is not None else list(by_id)
    gone = sorted(set(ids) - set(by_id))
    if gone:  # the feeds file changed since plan_batches: fetch the rest, never fail the batch for it
        log.warning("feeds %s are no longer in %s; skipped", gone, ctx.settings.feeds_file)
    feeds = [by_id[i] for i in ids if i in by_id]
    # Each body is compressed and archived as it arrives, while the other feeds are still on the
    # wire (a few ms per body on a busy disk: over a second per 300 feeds if left until the end).
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="feedmon-archive") as writer:
        writes: dict[str, Future[dict[str, str] | None]] = {}

        def archive_body(result: FetchResult) -> None:  # called one feed at a time
            if result.body is not None:
                writes[result.feed_id] = writer.submit(archive.write_body, ctx.raw_dir, result)
                if on_body is not None:
                    on_body(result)

        results = fetch_feeds(
            feeds,
            state_dir=ctx.settings.state_dir,
            settings=ctx.settings.fetch,
            commit_state=False,
            force=ctx.refetch,
            on_result=archive_body,
        )
    written = {fid: meta for fid, w in writes.items() if (meta := w.result()) is not None}
    manifest = archive.write_batch(ctx.raw_dir, batch, ctx.run_id, results, by_id, written=written)
    failed = [r.feed_id for r in results if r.status in FAILED_STATUSES]
    log.info("batch %d: fetched %d feeds, %d failed %s", batch, len(results), len(failed), failed)
    checkpoint(ctx, "fetch:after")
    return {"manifest": manifest, "feeds": len(results), "failed": len(failed)}


# --------------------------------------------------------------------------- parse
#: One feed's body as the parse workers get it: id, body, headers, base URL, default language, fetched at.
_FeedBody = tuple[str, bytes, dict[str, str], str, str | None, datetime]
#: What parsing one feed settled: id, entries, error, parser used (None when it crashed).
_FeedOutcome = tuple[str, int, str | None, str | None]
#: Feeds parsed per step in-process (only one step's entry rows are Python objects at a time).
PARSE_STEP_FEEDS = 16
#: Largest chunk of feed bodies sent to a parse worker, and of entry rows to a clean worker: a
#: run's chunks (a few per worker) were an eighth of it each, and with four in flight a 1M-item
#: run held gigabytes of chunks, their pickles and their results at once.
MAX_CHUNK_BYTES = 16 * 2**20
MAX_CHUNK_ROWS = 20_000


def parse(ctx: RunContext, ahead: Ahead | None = None) -> dict[str, Any]:
    """Parse every archived body into raw entries (one Parquet) plus a per-feed report with each
    feed's final outcome (a body that is not a feed is ``parse_error``). The report is what
    :func:`publish` records in the fetch state once the articles are in the snapshot.

    A large run (``FEEDMON_POOL_MIN_ITEMS`` items or more) is parsed by ``FEEDMON_WORKERS``
    processes, in chunks of whole feeds merged in feed order (:mod:`feedmon.pool`): the same file
    as in-process. Entries are written chunk by chunk (one row group or more each). ``ahead``
    (``feedmon run``) may hold every feed parsed already, from the very inputs read here.
    """
    checkpoint(ctx, "parse:before")
    manifests = archive.manifest_names(ctx.raw_dir)
    results = archive.read_run(ctx.raw_dir, strict=ctx.replay_into is not None, manifests=manifests)
    feeds = archive.read_feed_configs(ctx.raw_dir)
    bodies: list[_FeedBody] = [
        (res.feed_id, res.body, res.headers, res.final_url or res.url, feeds[res.feed_id].language, res.fetched_at)
        for res in results
        if res.body is not None
    ]
    workers = ctx.settings.workers
    items = sum(_estimated_items(body[1]) for body in bodies)
    parallel = workers > 1 and len(bodies) > 1 and items >= ctx.settings.pool_min_items
    # in the pool: about CHUNKS_PER_WORKER chunks per worker; in-process: a few feeds per step
    if parallel:  # and chunks of at most MAX_CHUNK_BYTES: what is in flight stays small on a huge run
        n_chunks = max(workers * CHUNKS_PER_WORKER, -(-sum(len(b[1]) for b in bodies) // MAX_CHUNK_BYTES))
    else:
        n_chunks = -(-len(bodies) // PARSE_STEP_FEEDS)
    chunks = balanced_chunks(bodies, [len(b[1]) for b in bodies], n_chunks)
    settled: dict[str, _FeedOutcome] = {}
    parsers: dict[str, int] = {"fast": 0, "feedparser": 0}

    done_ahead = ahead is not None and ahead.parsed_all(bodies)
    if done_ahead:
        assert ahead is not None
        chunk_results: Iterable[tuple[pa.Table, list[_FeedOutcome]]] = ahead.parse_results()
        parallel = False
    else:
        chunk_results = map_chunks(_parse_chunk, None, chunks, workers=workers, parallel=parallel)

    def tables() -> Iterator[pa.Table]:
        for table, outcomes in chunk_results:
            for outcome in outcomes:
                settled[outcome[0]] = outcome
            yield table

    path, rows = storage.write_parquet_parts_atomic(ctx.work("entries.parquet"), ENTRY_SCHEMA, tables())
    outcomes: dict[str, dict[str, Any]] = {}
    for res in results:
        entries, error = 0, None
        if res.body is not None:
            _, entries, error, parser = settled[res.feed_id]
            if parser is not None:
                parsers[parser] += 1
            if entries == 0:
                res.status = "parse_error" if error else "empty"
            res.error = error or res.error  # a salvaged bozo feed stays ok, with the parser's complaint
        outcomes[res.feed_id] = {"entries": entries, "status": res.status, "error": res.error}
    # The manifests read here are the ones publish marks as published: a batch archived later
    # (a fetch task cleared meanwhile) stays unpublished until a run parses it.
    report = {"manifests": manifests, "feeds": outcomes}
    storage.write_text_atomic(ctx.work("parse_report.json"), json.dumps(report, sort_keys=True))
    how = "while fetching" if done_ahead else f"{workers} workers" if parallel else "in-process"
    log.info("parsed %d entries (%s), %s", rows, parsers, how)
    checkpoint(ctx, "parse:after")
    return {
        "path": path,
        "entries": rows,
        "parsers": parsers,
        "workers": workers if parallel else 1,
        "ahead": done_ahead,
    }


def _estimated_items(body: bytes) -> int:
    """About how many items a feed body holds (RSS ``<item>``, Atom ``<entry>``): sizes the run."""
    return body.count(b"<item") + body.count(b"<entry")


def _parse_chunk(_context: None, chunk: Sequence[_FeedBody]) -> tuple[pa.Table, list[_FeedOutcome]]:
    """Parse whole feeds (a worker's chunk, or the whole run in-process): their entry rows and outcomes."""
    rows: list[dict[str, Any]] = []
    outcomes: list[_FeedOutcome] = []
    for feed_id, body, headers, base_url, language, fetched_at in chunk:
        try:
            parsed = parse_feed(body, feed_id=feed_id, headers=headers, base_url=base_url, default_language=language)
        except Exception as exc:  # one pathological body must not cost the other feeds their articles
            log.exception("parsing %s failed", feed_id)
            outcomes.append((feed_id, 0, f"parser crashed: {exc!r}", None))
            continue
        log.debug("%s: %d entries, %s parser", feed_id, len(parsed.entries), parsed.parser)
        rows.extend(_entry_row(e, fetched_at) for e in parsed.entries)
        outcomes.append((feed_id, len(parsed.entries), parsed.error, parsed.parser))
    return rows_to_table(rows, ENTRY_SCHEMA), outcomes


def _entry_row(entry: RawEntry, fetched_at: datetime) -> dict[str, Any]:
    return {
        "feed_id": entry.feed_id,
        "guid": entry.guid,
        "link": entry.link,
        "title": entry.title,
        "html": entry.html,
        "published_at": entry.published_at,
        "language": entry.language,
        "author": entry.author,
        "fetched_at": fetched_at,
    }


# --------------------------------------------------------------------------- clean
#: Entry rows read per batch by the clean stage (and cleaned per step in-process).
CLEAN_BATCH_ROWS = 2048


@dataclass
class _CleanContext:
    """What every clean chunk needs; one copy per worker process (or one for an in-process stage)."""

    feeds: dict[str, FeedConfig]
    rules: CleanRules
    model: BoilerplateModel
    run_id: str


def clean(ctx: RunContext, entries_path: str, ahead: Ahead | None = None) -> dict[str, Any]:
    """Turn raw entries into clean candidate articles with stable ids and canonical URLs.

    What the learned-boilerplate model observes is parked in the work folder; :func:`publish`
    adds it to the day's statistics, so they never count a run that did not publish. The model
    decides with earlier days' statistics only, so chunks of feeds clean independently: a large run
    (``FEEDMON_POOL_MIN_ITEMS`` entries or more) is cleaned by ``FEEDMON_WORKERS`` processes and
    their observations merged in feed order, the first observation of an article winning, as in
    one pass. Entries are read and articles written batch by batch. When :func:`parse` took every
    feed from ``ahead``, so does this stage: each feed was cleaned there by a light model of its own,
    merged here like the pool's chunks.
    """
    checkpoint(ctx, "clean:before")
    rules, model = _cleaning_rules_and_model(ctx)
    workers = ctx.settings.workers
    total = storage.parquet_rows(entries_path)
    parallel = workers > 1 and total >= ctx.settings.pool_min_items
    feeds = archive.read_feed_configs(ctx.raw_dir)
    done_ahead = ahead is not None and ahead.cleaned_all(entries_path, feeds)
    # The workers get a light copy of the model (its decisions, not its statistics); what earlier
    # days and runs counted is filtered out here, after the merge.
    context = _CleanContext(feeds, rules, model.for_workers() if parallel else model, ctx.run_id)
    # in-process: one batch at a time; in the pool: about CHUNKS_PER_WORKER chunks per worker
    target = min(max(1, -(-total // (workers * CHUNKS_PER_WORKER))), MAX_CHUNK_ROWS) if parallel else CLEAN_BATCH_ROWS
    batch_rows = min(CLEAN_BATCH_ROWS, target)
    chunks = _feed_chunks(storage.iter_parquet_batches(entries_path, batch_rows), target)
    observed: dict[str, dict[str, list[str]]] = {}
    failed = done = 0

    if done_ahead:
        assert ahead is not None
        chunk_results: Iterable[_Cleaned] = ahead.clean_results()
        parallel = False
    else:
        chunk_results = map_chunks(_clean_chunk, context, chunks, workers=workers, parallel=parallel)

    def tables() -> Iterator[pa.Table]:
        nonlocal failed, done
        for table, observations, chunk_failed in chunk_results:
            failed += chunk_failed
            done += 1
            for source, articles in observations.items():
                into = observed.setdefault(source, {})
                for akey, keys in articles.items():
                    into.setdefault(akey, keys)  # the first chunk to observe an article wins, as in one pass
            yield table

    path, articles = storage.write_parquet_parts_atomic(ctx.work("cleaned.parquet"), ARTICLE_SCHEMA, tables())
    light = parallel or done_ahead  # chunks cleaned by light models: filter what earlier days counted
    observations = model.observations() | {"sources": model.unseen(observed) if light else observed}
    storage.write_text_atomic(ctx.work("boilerplate.json"), json.dumps(observations, separators=(",", ":")))
    checkpoint(ctx, "clean:after")
    return {
        "path": path,
        "articles": articles,
        "items_failed": failed,
        "workers": workers if parallel else 1,
        "chunks": done,
        "ahead": done_ahead,
    }


def _cleaning_rules_and_model(ctx: RunContext) -> tuple[CleanRules, BoilerplateModel]:
    """The junk rules and the learned-boilerplate model (earlier days' statistics) the run cleans with."""
    rules = CleanRules.load(ctx.settings.clean.rules_file)
    settings = BoilerplateSettings.from_rules(rules.boilerplate, ctx.settings.clean)
    return rules, BoilerplateModel.load(ctx.settings.state_dir, ctx.day, settings=settings)


def _feed_chunks(batches: Iterable[pa.RecordBatch], target: int) -> Iterator[pa.Table]:
    """Entry batches regrouped into tables of about ``target`` rows, cut only between two feeds
    (the entries of one feed are consecutive)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows < target:
            continue
        table = pa.Table.from_batches(pending)
        ids = table.column("feed_id").combine_chunks()
        changes = pc.indices_nonzero(pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1)))
        if len(changes) == 0:
            continue  # one feed so far: keep reading
        cut = changes[-1].as_py() + 1
        yield table.slice(0, cut)
        rest = table.slice(cut)
        pending, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield pa.Table.from_batches(pending)


#: What cleaning one chunk gives: its articles, what the model newly observed, items that failed.
_Cleaned = tuple[pa.Table, dict[str, dict[str, list[str]]], int]


def _clean_chunk(context: _CleanContext, table: pa.Table) -> _Cleaned:
    """Clean one chunk of entry rows: its articles, what the model newly observed, items that failed."""
    # Column by column, no dict per entry nor Article per row: the table is the one articles_to_table
    # makes of the Articles (story_id = article_id, the other story/tag fields at their defaults), and
    # the timestamps go from the entries to the articles without a round trip through datetime.
    feeds, rules, model = context.feeds, context.rules, context.model
    fields = ("feed_id", "guid", "link", "title", "html", "language")
    entries = zip(*(table.column(name).to_pylist() for name in fields), strict=True)
    names = (
        "article_id",
        "feed_id",
        "source",
        "url",
        "link",
        "guid",
        "title",
        "text",
        "language",
        "dateline",
        "agency",
        "content_hash",
    )
    rows: list[tuple[Any, ...]] = []  # one per article, in ``names`` order
    kept: list[int] = []  # the entries that became articles
    failed = 0
    for i, (feed_id, guid, raw_link, raw_title, html, language) in enumerate(entries):
        feed = feeds[feed_id]
        try:
            cleaned = clean_article(raw_title or "", html or "", source=feed.source, rules=rules, boilerplate=model)
        except Exception:  # one pathological item must not cost the day its other articles
            log.exception("cleaning an item of %s failed (guid %r); item skipped", feed_id, guid)
            failed += 1
            continue
        # Only http(s) links are kept: a feed's javascript:/data: "link" must never reach readers.
        link = safe_href(raw_link) or safe_href(guid) or ""
        url = canonical_url(link) if link else ""
        title = cleaned.title or plain_title(raw_title or "", rules)
        text = cleaned.text
        if not title and not text:
            continue  # nothing a reader could use
        article_id = make_article_id(feed_id, guid, url or None, title)
        model.observe(feed.source, article_id, text, cleaned.boilerplate_removed)
        kept.append(i)
        lang = resolve_language(title, text, language, feed.language)
        agency = cleaned.agency or feed.agency
        rows.append(
            (
                article_id,
                feed_id,
                feed.source,
                url,
                link,
                guid,
                title,
                text,
                lang,
                cleaned.dateline,
                agency,
                content_hash(title, text),
            )
        )
    columns: dict[str, Any] = {name: [row[j] for row in rows] for j, name in enumerate(names)}
    times = table.select(["published_at", "fetched_at"]).take(pa.array(kept, pa.int64()))  # typed: [] too
    columns["story_id"] = columns["article_id"]  # each article is its own story until dedup
    columns["published_at"] = times.column("published_at")
    columns["first_seen_at"] = times.column("fetched_at")
    columns["first_run_id"] = [context.run_id] * len(rows)
    return article_columns_to_table(columns, len(rows)), model.take_observations(), failed  # only this chunk's


# --------------------------------------------------------------------------- dedup
#: Rows per Parquet row group when dedup and publish write a day a piece at a time.
_ROW_GROUP = 50_000
#: Most rows :func:`publish` holds while it sorts the day (more: another pass over the file).
PUBLISH_PASS_ROWS = 300_000
#: Snapshot metadata naming what tagged its rows (:attr:`~feedmon.tag.ConflictTagger.fingerprint`).
TAGGED_BY = b"feedmon.tagger_fingerprint"


def dedup(ctx: RunContext, cleaned_path: str) -> dict[str, Any]:
    """Drop exact duplicates, tie copies of one story together across outlets and days.

    Writes ``deduped.parquet`` (the day's rows already published first, then the new ones) only
    when the day changes: a run that brings no new article (every feed answered 304 or failed,
    or every item is a copy of a published one) leaves the published rows as they are, and
    ``dedup_base.json`` says so (``new``: 0) to :func:`tag` and :func:`publish`.
    """
    checkpoint(ctx, "dedup:before")
    base = snapshot_version(ctx.snapshot_path)  # before reading: publish compares against what we build on
    if storage.parquet_rows(cleaned_path) == 0 and base != "absent":
        # Nothing fetched brought an item: the day's rows stay as published (story fields and all).
        schema = storage.read_parquet_schema(ctx.snapshot_path)
        info = {"snapshot": base, "new": 0, "existing": None, "tagged_by": _tagged_by(schema.metadata)}
        new_per_feed: dict[str, int] = {}
        exact_duplicates = 0
    else:
        settings = ctx.settings
        existing = [ctx.snapshot_path] if base != "absent" else []
        tagged_by = _tagged_by(storage.read_parquet_schema(existing[0]).metadata) if existing else None
        past = (settings.snapshot_path(ctx.day - timedelta(days=back)) for back in range(1, settings.lookback_days + 1))
        history = [path for path in past if storage.exists(path)]
        # Columns of just what dedup reads (history: read only), a row group at a time: no record
        # per row, no whole table beside them; the day's rows are written from the files (below).
        rows, counts = _dedup_rows(
            [
                *(_file_pieces(path, HISTORY_FIELDS) for path in history),
                *(_file_pieces(path, DEDUP_FIELDS) for path in existing),
                _file_pieces(cleaned_path, DEDUP_FIELDS),
            ]
        )
        n_history, n_existing, n_new = sum(counts[: len(history)]), sum(counts[len(history) : -1]), counts[-1]
        release_memory()
        workers = settings.workers if n_new >= settings.pool_min_items else 1  # a pool is worth it
        day = dedup_rows(rows, n_history, n_existing, lookback_days=settings.lookback_days, workers=workers)
        info = {"snapshot": base, "new": len(day.new), "existing": n_existing, "tagged_by": tagged_by}
        new_per_feed, exact_duplicates = day.new_per_feed, day.exact_duplicates
        del rows
        if day.new or base == "absent":  # else the day's rows are the published ones, unchanged
            release_memory()
            _write_day_rows(ctx, [*existing, cleaned_path], day, n_history, n_existing + n_new)
    storage.write_text_atomic(ctx.work("new_per_feed.json"), json.dumps(new_per_feed, sort_keys=True))
    storage.write_text_atomic(ctx.work("dedup_base.json"), json.dumps(info))
    checkpoint(ctx, "dedup:after")
    return {
        "path": ctx.work("deduped.parquet"),
        "new_articles": info["new"],
        "exact_duplicates": exact_duplicates,
    }


def _write_day_rows(ctx: RunContext, paths: Sequence[str], day: DayStories, n_history: int, n_rows: int) -> None:
    """Write ``deduped.parquet``: the rows of ``paths`` (the published snapshot, if any, then the
    cleaned rows; ``n_rows`` in all, dedup's rows after its ``n_history``) that ``day`` keeps, in
    their files' order (published rows first; :func:`publish` sorts the day), with dedup's story
    fields. Copied from the files a row group at a time, not rebuilt from records: what dedup did
    not read (tags of published rows, links, run ids) is copied, and no whole table is held."""
    if sum(storage.parquet_rows(path) for path in paths) != n_rows:
        # publish would refuse this run anyway (it checks the snapshot it built on): say why now
        raise RuntimeError(f"the snapshot {ctx.snapshot_path} changed while dedup ran; run again")
    at = np.full(n_rows, -1, dtype=np.int64)  # file row -> position among the day's rows (-1: dropped)
    at[np.asarray(day.rows, dtype=np.int64) - n_history] = np.arange(len(day.rows))
    stories = {name: pa.array(getattr(day, name), ARTICLE_SCHEMA.field(name).type) for name in STORY_FIELDS}

    def pieces() -> Iterator[pa.Table]:
        start = 0
        for path in paths:
            for piece in _file_pieces(path):
                piece = article_table(piece).replace_schema_metadata(ARTICLE_SCHEMA.metadata)
                where = at[start : start + piece.num_rows]
                start += piece.num_rows
                kept = where >= 0
                if not kept.all():
                    piece, where = piece.filter(pa.array(kept)), where[kept]
                for name, values in stories.items():
                    column = values.take(pa.array(where))
                    piece = piece.set_column(ARTICLE_SCHEMA.get_field_index(name), ARTICLE_SCHEMA.field(name), column)
                yield piece

    storage.write_parquet_atomic(ctx.work("deduped.parquet"), pieces(), schema=ARTICLE_SCHEMA)


def _dedup_rows(groups: Sequence[Iterable[pa.Table]]) -> tuple[DedupRows, list[int]]:
    """The rows :func:`~feedmon.dedup.dedup_rows` reads, ``groups`` one after another (history,
    the day's published rows, the new ones; each given as tables, such as a file's row groups),
    with the rows of each group. No record and no Python string per row: texts stay in Arrow's
    buffers (:class:`~feedmon.schema.StringColumn`), keys become codes, the dates epoch seconds
    straight from the timestamps; feeds, sources and agencies are one object per value. History
    carries no ``agency`` (not read of it)."""
    strings = {name: StringColumn() for name in ("article_id", "title", "text", "story_id")}
    keys: dict[str, list[pa.ChunkedArray]] = {name: [] for name in ("article_id", "url", "guid", "content_hash")}
    shared_names = ("feed_id", "source", "agency")
    shared: dict[str, dict[Any, Any]] = {}  # one object per feed, source, agency across the tables
    lists: dict[str, list[Any]] = {name: [] for name in shared_names}
    seen, published = array("d"), array("d")
    counts = []
    for group in groups:
        counts.append(0)
        for piece in group:
            names = [n for n in DEDUP_FIELDS if n != "agency" or n in piece.column_names]
            table = checked_columns(piece, names)
            for name, column in strings.items():
                column.extend(table.column(name))
            for name, chunks in keys.items():
                chunks.append(table.column(name))
            got = table_columns(table, [n for n in shared_names if n in names], shared)
            for name in shared_names:
                lists[name].extend(got.get(name, [None] * table.num_rows))
            seen.extend(_epoch_seconds(table.column("first_seen_at")))
            published.extend(_epoch_seconds(table.column("published_at")))
            counts[-1] += table.num_rows
    codes = {name: value_codes(keys.pop(name), empty=name == "article_id") for name in list(keys)}
    rows = DedupRows(
        article_id=strings["article_id"],
        id_code=codes["article_id"],
        feed_id=lists["feed_id"],
        source=lists["source"],
        url_code=codes["url"],
        guid_code=codes["guid"],
        content_code=codes["content_hash"],
        title=strings["title"],
        text=strings["text"],
        story_id=strings["story_id"],
        agency=lists["agency"],
        first_seen=seen,
        published=published,
    )
    return rows, counts


def _file_pieces(path: str, columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """A Parquet file (``columns`` of it), :data:`_ROW_GROUP` rows at a time (with its metadata)."""
    for batch in storage.iter_parquet_batches(path, _ROW_GROUP, columns=columns):
        yield pa.Table.from_batches([batch])


def _epoch_seconds(column: pa.ChunkedArray) -> array[float]:
    """Seconds since the epoch of a timestamp column (a missing one: ``inf``), as
    :meth:`datetime.timestamp` gives them (microseconds / 10**6, both exact in a double)."""
    micros = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).cast(pa.float64())
    seconds = pc.divide(micros, 1e6).fill_null(math.inf)
    return array("d", seconds.to_numpy().tobytes())


def _tagged_by(metadata: dict[bytes, bytes] | None) -> str | None:
    value = (metadata or {}).get(TAGGED_BY)
    return value.decode() if value is not None else None


def _dedup_info(ctx: RunContext) -> dict[str, Any]:
    """What :func:`dedup` decided: the snapshot it built on, how many rows are new and how many were
    published already (``existing``; None when it did not read them), what tagged those."""
    info: dict[str, Any] = json.loads(storage.read_bytes(ctx.work("dedup_base.json")))
    return {"new": None, "existing": None, "tagged_by": None} | info  # older work files: tag all, rewrite


def _unchanged(info: dict[str, Any]) -> bool:
    """The run adds nothing to a snapshot that exists: no new rows for it."""
    return info["new"] == 0 and info["snapshot"] != "absent"


# --------------------------------------------------------------------------- tag
#: The columns :func:`tag` fills, with their snapshot types.
TAG_COLUMNS = ("is_conflict", "conflict_score", "conflict_regions", "countries", "conflict_evidence")


def tag(
    ctx: RunContext, deduped_path: str, tagger: ConflictTagger | None = None, ahead: Ahead | TagAhead | None = None
) -> dict[str, Any]:
    """Tag the day's rows that need it: the new ones, and every row when the published ones were
    tagged by another gazetteer, model or tagging code (their :attr:`~ConflictTagger.fingerprint`
    in the snapshot's metadata). Tagging is deterministic, so a row tagged by the same fingerprint
    keeps its tags. When the day gains nothing and its tags are current, nothing is written and
    :func:`publish` leaves the snapshot alone (``tag.json`` says which). ``ahead``: the new rows
    tagged already (``feedmon run``: by :class:`Ahead` as they came back cleaned on a small run,
    by :class:`TagAhead` while :func:`dedup` ran on a large one)."""
    checkpoint(ctx, "tag:before")
    tagger = tagger or ConflictTagger.load(ctx.settings.tag.gazetteer_file)
    info = _dedup_info(ctx)
    current = info["tagged_by"] == tagger.fingerprint
    path = ctx.work("tagged.parquet")
    if _unchanged(info) and current:
        storage.write_text_atomic(ctx.work("tag.json"), json.dumps({"rewrite": False, "tagged": 0}))
        checkpoint(ctx, "tag:after")
        return {"path": path, "tagged": 0, "conflict_articles": None}
    # Nothing new but stale tags: the published rows are the day's rows.
    source = ctx.snapshot_path if _unchanged(info) else deduped_path
    start = info["existing"] if current and info["existing"] is not None else 0
    known = ahead.results(tagger.fingerprint) if ahead is not None else None
    # Every tag stays traceable to the gazetteer that produced it.
    stamp = {b"feedmon.gazetteer_version": tagger.version.encode(), TAGGED_BY: tagger.fingerprint.encode()}
    rows = conflicts = 0

    def pieces() -> Iterator[pa.Table]:  # a row group at a time: the day is never whole in memory
        nonlocal rows, conflicts
        for piece in _file_pieces(source):
            table = _tag_rows(article_table(piece), max(start - rows, 0), tagger, known)
            rows += table.num_rows
            conflicts += pc.sum(table["is_conflict"]).as_py() or 0
            yield table.replace_schema_metadata(table.schema.metadata | stamp)

    meta = (storage.read_parquet_schema(source).metadata or {}) | (ARTICLE_SCHEMA.metadata or {}) | stamp
    schema = ARTICLE_SCHEMA.with_metadata(meta)  # as article_table() lays a piece out, with the stamp
    storage.write_parquet_atomic(path, pieces(), schema=schema)
    tagged = rows - min(start, rows)
    storage.write_text_atomic(ctx.work("tag.json"), json.dumps({"rewrite": True, "tagged": tagged}))
    checkpoint(ctx, "tag:after")
    return {"path": path, "tagged": tagged, "conflict_articles": conflicts}


#: What a row's tags depend on, besides the tagger: its id and content hash stand for title and text.
_TAG_KEY = ("article_id", "content_hash", "dateline", "language")


def _tag_rows(
    table: pa.Table, start: int, tagger: ConflictTagger, known: dict[tuple[Any, ...], tuple[Any, ...]] | None = None
) -> pa.Table:
    """``table`` with the tag columns of rows ``start:`` computed (or taken from ``known``, the
    tags of rows with the same :data:`_TAG_KEY` by the same tagger); the rows before keep theirs.
    A batch of :data:`_TAG_BATCH` rows at a time: the Python values of a million rows' texts and
    tags at once cost more memory than the whole table."""
    columns = ("article_id", "title", "text", "dateline", "language", "content_hash")
    chunks: dict[str, list[pa.Array]] = {name: [] for name in TAG_COLUMNS}
    for lo in range(start, table.num_rows, _TAG_BATCH):
        values: dict[str, list[Any]] = {name: [] for name in TAG_COLUMNS}
        parts = [table.column(c).slice(lo, _TAG_BATCH).to_pylist() for c in columns]
        for i, (article_id, title, text, dateline, language, chash) in enumerate(zip(*parts, strict=True), lo):
            if known is not None and (got := known.get((article_id, chash, dateline, language))) is not None:
                for name, value in zip(TAG_COLUMNS, got, strict=True):
                    values[name].append(value)
                continue
            try:
                res = tagger.tag(title, text, dateline, language)
                got = (
                    res.is_conflict,
                    res.conflict_score,
                    list(res.conflict_regions),
                    list(res.countries),
                    list(res.conflict_evidence),
                )
            except Exception:  # an untaggable article keeps what it had rather than failing the day
                log.exception("tagging %s failed; left untagged", article_id)
                got = tuple(table.column(name)[i].as_py() for name in TAG_COLUMNS)
            for name, value in zip(TAG_COLUMNS, got, strict=True):
                values[name].append(value)
        for name in TAG_COLUMNS:
            chunks[name].append(pa.array(values[name], type=ARTICLE_SCHEMA.field(name).type))
    for name in TAG_COLUMNS:
        field = ARTICLE_SCHEMA.field(name)
        kept = table.column(name).slice(0, start).chunks
        column = pa.chunked_array([*kept, *chunks[name]], type=field.type)
        table = table.set_column(ARTICLE_SCHEMA.get_field_index(name), field, column)
    return table


#: Rows tagged per batch by :func:`_tag_rows`.
_TAG_BATCH = 16_384


#: Cleaned rows per chunk sent to the tagging worker.
TAG_AHEAD_ROWS = 25_000
#: Largest run tagged beside dedup: the worker and the tags it hands back cost memory (at 1M
#: articles the run's peak went from 3.2 to 4.5 GiB of summed RSS), more than the time is worth there.
TAG_AHEAD_MAX_ROWS = 250_000


class TagAhead:
    """``feedmon run``, large runs only: tag the cleaned candidates in a worker process while
    :func:`dedup` keeps this process busy (tagging does not depend on stories). An optimisation
    only: :func:`tag` takes a row's tags from here when the row's :data:`_TAG_KEY` and the tagger's
    fingerprint are the ones it would tag with, and tags the rest itself; a worker that fails
    leaves all of it to :func:`tag`. Chunks of :data:`TAG_AHEAD_ROWS` rows bound the worker's memory.
    """

    def __init__(self, ctx: RunContext, cleaned_path: str) -> None:
        self._gazetteer = ctx.settings.tag.gazetteer_file
        self._known: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._fingerprint: str | None = None
        self._failed = False
        self._path = cleaned_path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feedmon-tag-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            chunks = (
                pa.Table.from_batches([batch])
                for batch in storage.iter_parquet_batches(self._path, TAG_AHEAD_ROWS)
                if batch.num_rows and not self._stop.is_set()
            )
            for fingerprint, keys, tags in map_chunks(_tag_chunk, self._gazetteer, chunks, workers=1, background=True):
                self._fingerprint = fingerprint
                self._known.update(zip(keys, tags, strict=True))
        except Exception:  # tag() tags what is missing itself
            log.debug("tagging beside dedup failed; the tag stage tags every row", exc_info=True)
            self._failed = True

    def cancel(self) -> None:
        """Stop after the chunk in hand and wait for that (the run failed): a thread left reading
        the stage file while the interpreter shuts down hung ``feedmon run`` instead of exiting."""
        self._stop.set()
        self._thread.join()

    def results(self, fingerprint: str) -> dict[tuple[Any, ...], tuple[Any, ...]] | None:
        """The tags computed, by :data:`_TAG_KEY`, if the worker's tagger is ``fingerprint``'s."""
        self._thread.join()
        if self._failed or self._fingerprint != fingerprint:
            return None
        return self._known


def _tag_chunk(gazetteer_file: str | None, table: pa.Table) -> tuple[str, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Tag one chunk of cleaned rows (in the tagging worker): the tagger's fingerprint, each row's
    :data:`_TAG_KEY` and its tags in :data:`TAG_COLUMNS` order."""
    tagger = ConflictTagger.load(gazetteer_file)  # cached per process
    tagged = _tag_rows(article_table(table), 0, tagger)
    keys = list(zip(*(tagged.column(c).to_pylist() for c in _TAG_KEY), strict=True))
    tags = list(zip(*(tagged.column(c).to_pylist() for c in TAG_COLUMNS), strict=True))
    return tagger.fingerprint, keys, tags


# --------------------------------------------------------------------------- publish
def publish(ctx: RunContext, tagged_path: str, recovered: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Atomically replace the day's snapshot, then store what the run learned; return the summary.

    In this order, under the day's lock: the snapshot (renamed into place), the fetch state and
    the learned boilerplate statistics, this run's feed-health rows, the archive's published
    markers; then the work folder goes. A crash anywhere before the markers leaves the run
    unpublished, and the next run replays it: each of these steps is idempotent. A run that adds
    nothing to the day (:func:`tag` wrote no table) leaves the snapshot file untouched and
    stores the rest in the same order. ``recovered``
    (what :func:`recover` replayed first) goes into the summary. A reprocess (``replay_into``) only
    builds its scratch snapshot here; :func:`reprocess_day` stores the rest once it published.
    """
    checkpoint(ctx, "publish:before")
    # Serialise publishing of one day between processes (local data dirs; on object storage keep one
    # writer per day, as the DAG's max_active_runs=1 does).
    with _day_lock(ctx.settings, ctx.day):
        base = _dedup_info(ctx)["snapshot"]
        if snapshot_version(ctx.snapshot_path) != base:
            # Another run (a CLI run beside the DAG, say) published this day since our dedup read it:
            # build on its snapshot instead of overwriting it.
            log.warning("snapshot of %s changed since dedup; deduplicating and tagging again", ctx.day)
            tagged_path = tag(ctx, dedup(ctx, ctx.work("cleaned.parquet"))["path"])["path"]
        if _rewrites(ctx):
            # sorted with at most PUBLISH_PASS_ROWS rows in memory (a day of a million rows is read
            # in a few passes), a row group at a time
            by = [("first_seen_at", "ascending"), ("article_id", "ascending")]
            pieces = storage.sorted_parquet_pieces(tagged_path, by, piece_rows=_ROW_GROUP, pass_rows=PUBLISH_PASS_ROWS)
            snapshot = storage.write_parquet_atomic(ctx.snapshot_path, pieces)
            release_memory()
        else:  # nothing new: the published file stays byte for byte
            snapshot = ctx.snapshot_path
        table = storage.read_parquet(snapshot, columns=SUMMARY_COLUMNS)  # only its figures are read
        if ctx.replay_into is not None:
            return {"articles": table.num_rows, "snapshot": snapshot}
        checkpoint(ctx, "publish:snapshot")
        summary = _promote(ctx, table, snapshot)
    storage.remove_tree(ctx.work_dir)
    checkpoint(ctx, "publish:after")
    summary["recovered_runs"] = list(recovered)
    return summary


def _rewrites(ctx: RunContext) -> bool:
    """Whether :func:`tag` wrote a table to publish (True for work folders from before ``tag.json``)."""
    path = ctx.work("tag.json")
    return not storage.exists(path) or bool(json.loads(storage.read_bytes(path))["rewrite"])


def _health_written(path: str, rows: Sequence[dict[str, Any]]) -> bool:
    """True when ``path`` holds the rows of these very fetch results already: this publish repeats
    an earlier one (a replay, or the run publishing after its replay), whose figures stay (it is
    the one that added the articles). A rerun's new fetch replaces its run's rows."""
    if not storage.exists(path):
        return False
    table = storage.read_parquet(path)
    written = sorted(zip(table["feed_id"].to_pylist(), table["fetched_at"].to_pylist(), strict=True))
    return written == sorted((r["feed_id"], r["fetched_at"]) for r in rows)


def _promote(ctx: RunContext, articles: pa.Table, snapshot: str) -> dict[str, Any]:
    """Store what a published run learned and mark its archive published; the caller holds the day's lock.
    ``articles``: the published snapshot (its :data:`~feedmon.outputs.SUMMARY_COLUMNS` at least)."""
    report = json.loads(storage.read_bytes(ctx.work("parse_report.json")))
    outcomes = report["feeds"]
    new_per_feed = json.loads(storage.read_bytes(ctx.work("new_per_feed.json")))
    results = archive.read_run(ctx.raw_dir, bodies=False, manifests=report["manifests"])
    for res in results:  # the outcome parse settled on (a body that is not a feed is a failure)
        res.status, res.error = outcomes[res.feed_id]["status"], outcomes[res.feed_id]["error"]
    feeds = archive.read_feed_configs(ctx.raw_dir)
    commit_fetch_state(
        [feeds[r.feed_id] for r in results],
        results,
        state_dir=ctx.settings.state_dir,
        settings=ctx.settings.fetch,
        run_id=ctx.run_id,
        on_stored=lambda _feed_id: checkpoint(ctx, "publish:state"),
    )
    observed = json.loads(storage.read_bytes(ctx.work("boilerplate.json")))
    BoilerplateModel.record(ctx.settings.state_dir, ctx.day, observed)
    checkpoint(ctx, "publish:learned")

    health_rows = [
        {
            "feed_id": res.feed_id,
            "url": res.url,
            "final_url": res.final_url,
            "run_id": ctx.run_id,
            "status": res.status,
            "http_status": res.http_status,
            "error": res.error,
            "entries": outcomes[res.feed_id]["entries"],
            "new_articles": new_per_feed.get(res.feed_id, 0),
            "bytes": res.bytes,
            "fetched_at": res.fetched_at,
            "duration_ms": res.duration_ms,
            "consecutive_failures": res.consecutive_failures,
            "recovered_by": ctx.recovered_by,
        }
        for res in results
    ]
    health_path = ctx.settings.feed_health_path(ctx.day, ctx.run_key)
    if not _health_written(health_path, health_rows):
        storage.write_parquet_atomic(health_path, rows_to_table(health_rows, FEED_HEALTH_SCHEMA))
    checkpoint(ctx, "publish:health")
    archive.mark_published(
        ctx.raw_dir,
        report["manifests"],
        run_id=ctx.run_id,
        by=ctx.recovered_by or ctx.run_id,
        at=datetime.now(UTC),
    )
    checkpoint(ctx, "publish:marker")
    failed = sorted(r["feed_id"] for r in health_rows if r["status"] in FAILED_STATUSES)
    return summarize(ctx.day, ctx.run_id, articles, health_rows, failed, snapshot, health_path)


def check_feed_health(summary: dict[str, Any], max_failed_share: float) -> None:
    """Fail loudly when too many feeds failed; one broken feed alone never fails the run."""
    feeds = summary["feeds"]
    if failed_share_exceeded(feeds, summary["feeds_failed"], max_failed_share):
        raise FeedsFailedError(
            f"{summary['feeds_failed']} of {feeds} feeds failed (threshold {max_failed_share:.0%}): "
            + ", ".join(summary["failed_feeds"])
        )


# --------------------------------------------------------------------------- whole cycles
#: Told one line per finished step ("fetch: ...", "clean: ..."); the CLI prints them on long runs.
Progress = Callable[[str], None]


def _quiet(_line: str) -> None:
    """The default :data:`Progress`: runs under Airflow log per stage already."""


def run_cycle(
    settings: Settings,
    day: date,
    run_id: str | None = None,
    *,
    refetch: bool = False,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Everything one DAG run does, in-process (the ``feedmon run`` command): first the runs that
    never published, then this one."""
    run_id = run_id or f"cli__{datetime.now(UTC).strftime('%Y-%m-%dT%H%M%S.%f')}"
    ctx = RunContext(settings, day, run_id, refetch=refetch)
    recovered = recover(ctx)
    if recovered:
        progress(f"recovered {len(recovered)} run(s) that never published")
    # The fetch mostly waits on the network: build the tagger's gazetteer (cached per process, a
    # second or more of CPU) meanwhile instead of after it.
    warm_up = threading.Thread(target=_warm_up, args=(settings,), name="feedmon-warm-up", daemon=True)
    warm_up.start()
    # Likewise parse and clean each body as it arrives (small runs; a large one goes to the pool).
    ahead = Ahead(ctx, warm_up)
    # Every feed under one scheduler: all hosts' slots at once, so a cycle costs about one latency
    # per host-slot round, not one round per batch (batches exist for Airflow's mapped tasks only).
    try:
        with _responsive_threads():
            fetched = fetch(ctx, on_body=ahead.submit)
    except BaseException:  # Ctrl-C, a failed fetch: drop the queued work instead of doing it first
        ahead.abandoned = True
        raise
    finally:
        ahead.finish()
    progress(f"fetch: {fetched['feeds']} feeds, {fetched['failed']} failed")
    warm_up.join()  # on a busy machine it may outlast the fetch: never build the gazetteer twice
    # What is alive now (the gazetteer's millions of objects above all) lives to the end of the
    # command: out of the cyclic collector's way, whose full passes over it slowed dedup's
    # allocations (S1: dedup 9.3 -> 8.7 s). Reference counting still frees what dies.
    gc.freeze()
    try:
        return process(ctx, recovered, progress=progress, ahead=ahead)
    finally:
        gc.unfreeze()  # a caller that lives on (a test session, a notebook) gets its collector back


#: The interpreter's thread switch interval while ``feedmon run`` fetches (the default is 5 ms).
FETCH_SWITCH_INTERVAL = 0.0005


@contextmanager
def _responsive_threads() -> Iterator[None]:
    """A short thread switch interval while the fetch threads share this process with CPU work
    (the gazetteer warm-up, :class:`Ahead`'s thread): a fetch thread whose response arrived waits
    for the GIL up to one interval, several times a request, and each host's next request waits
    on the one before (on 300 feeds of 30 hosts, 0.35 s of a 3.2 s fetch)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, FETCH_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


#: Feeds from which :class:`Ahead` parses and cleans in a worker process instead of a thread.
AHEAD_PROCESS_MIN_FEEDS = 64
#: Most items :class:`Ahead`'s pool takes: it holds the parsed and cleaned tables of every feed
#: until the stages write them (about 1 KB an item).
AHEAD_MAX_ITEMS = 250_000


class Ahead:
    """``feedmon run`` only: parse and clean each feed's body as it arrives, while the rest of the
    fetch waits on the network (the all-new cycle of a few thousand items then costs little more
    than its fetch) or, on a large run, while this process is busy fetching.

    Only an optimisation, never a second source of truth: nothing is written here; :func:`parse`
    and :func:`clean` take these results only when they cover every body of the run and were
    computed from exactly the inputs the stages read back from the archive, else the stages do the
    work as always. Each feed is cleaned by a light boilerplate model of its own, so the merge in
    :func:`clean` is the pool's (feed order, first observation wins, earlier days filtered out) and
    gives the same files.

    Where: with :data:`AHEAD_PROCESS_MIN_FEEDS` feeds or more (and ``FEEDMON_WORKERS`` > 1), in the
    ``FEEDMON_WORKERS`` processes of a pool started with the fetch, up to :data:`AHEAD_MAX_ITEMS`
    items (what it holds until the stages write it), so the fetch threads never wait on this work
    for the GIL; with fewer feeds, in a thread (the fetch would be over before a worker started),
    up to ``FEEDMON_POOL_MIN_ITEMS`` items. A run that outgrows its limit, or whose first bodies
    say it will (items per body so far times the feeds, pool only), is left to the stages and what
    was done here is dropped.
    """

    def __init__(self, ctx: RunContext, warm_up: threading.Thread | None = None) -> None:
        self._ctx = ctx
        self._warm_up = warm_up
        self._queue: queue.SimpleQueue[_FeedBody | None] = queue.SimpleQueue()
        self._items = 0
        self._bodies_seen = 0
        self._projected = 0.0
        self._tags: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._fingerprint: str | None = None  # of the tagger that tagged here
        self._tagged_all = True
        self._order: list[str] = []
        self.abandoned = False
        self._inputs: dict[str, _FeedBody] = {}
        self._parsed: dict[str, tuple[pa.Table, list[_FeedOutcome]]] = {}
        self._cleaned: dict[str, _Cleaned] = {}
        self._feeds = _feeds_by_id(ctx.settings)
        # With many feeds the workers keep this process's fetch threads and the gazetteer warm-up
        # from waiting on the GIL (300 feeds: the fetch took 0.5 s longer and the last bodies'
        # cleaning another 0.4 s in a thread); a pool costs about 0.4 s to start.
        self._process = ctx.settings.workers > 1 and len(self._feeds) >= AHEAD_PROCESS_MIN_FEEDS
        self._workers = ctx.settings.workers if self._process else 1
        self._limit = AHEAD_MAX_ITEMS if self._process else ctx.settings.pool_min_items
        self._thread = threading.Thread(target=self._run, name="feedmon-ahead", daemon=True)
        self._thread.start()

    def submit(self, result: FetchResult) -> None:
        """Queue one fetched body (called by :func:`fetch`, one feed at a time)."""
        if self.abandoned or result.body is None:
            return
        self._items += _estimated_items(result.body)
        self._bodies_seen += 1
        projected = self._items / self._bodies_seen * len(self._feeds) if self._process else self._items
        self._projected = projected
        if max(self._items, projected) >= self._limit:
            self.abandoned = True  # a large run: the stages' pool does it with less memory
            return
        feed = self._feeds.get(result.feed_id)
        language = feed.language if feed is not None else None
        url = result.final_url or result.url
        self._queue.put((result.feed_id, result.body, result.headers, url, language, result.fetched_at))

    def finish(self) -> None:
        """Wait until every queued body is done (or the work was abandoned: then drop it)."""
        self._queue.put(None)
        self._thread.join()
        if self.abandoned:
            self._drop()

    def _drop(self) -> None:
        self._inputs.clear()
        self._parsed.clear()
        self._cleaned.clear()
        self._tags.clear()

    def _tag(self, table: pa.Table) -> None:
        """Tag a feed's cleaned rows here, in this thread, on a small run whose cleaning the
        workers do: this process waits on the network meanwhile, and :func:`tag` then only looks
        the tags up (a large run is tagged beside dedup by :class:`TagAhead`; the workers loading
        the gazetteer each cost more than they saved). Uses the gazetteer the warm-up loaded."""
        if not self._process or not self._tagged_all or self._projected >= self._ctx.settings.pool_min_items:
            self._tagged_all = False
            return
        if self._fingerprint is None and self._warm_up is not None:
            self._warm_up.join()  # never build the gazetteer twice
        self._fingerprint, keys, tags = _tag_chunk(self._ctx.settings.tag.gazetteer_file, table)
        self._tags.update(zip(keys, tags, strict=True))

    @property
    def tagged(self) -> bool:
        """Whether every feed done here was tagged too (see :meth:`_tag`)."""
        return self._process and self._tagged_all and not self.abandoned and self._fingerprint is not None

    def results(self, fingerprint: str) -> dict[tuple[Any, ...], tuple[Any, ...]] | None:
        """The tags computed, by :data:`_TAG_KEY`, if its tagger is ``fingerprint``'s (as
        :meth:`TagAhead.results`)."""
        if not self.tagged or self._fingerprint != fingerprint:
            return None
        return self._tags

    def _run(self) -> None:
        try:
            rules, model = _cleaning_rules_and_model(self._ctx)
            context = _CleanContext(self._feeds, rules, model.for_workers(), self._ctx.run_id)
            bodies, workers = self._bodies(), self._workers
            done = map_chunks(_ahead_chunk, context, bodies, workers=workers, parallel=self._process, background=True)
            for fid, parsed, cleaned in done:
                if self.abandoned:
                    self._drop()  # the stages will do it: hold nothing meanwhile
                    continue
                self._parsed[fid] = parsed
                self._cleaned[fid] = cleaned
                self._tag(cleaned[0])
        except Exception:  # the stages do the work instead, and report what goes wrong there
            log.debug("parsing and cleaning while fetching failed; the stages do it", exc_info=True)
            self.abandoned = True
            for _ in iter(self._queue.get, None):  # drain, so finish() returns
                pass

    def _bodies(self) -> Iterator[_FeedBody]:
        """The queued bodies until :meth:`finish`; none once the run was abandoned (drained only)."""
        for body in iter(self._queue.get, None):
            if self.abandoned:
                continue  # drain the queue; finish() waits for its end
            self._inputs[body[0]] = body
            yield body

    def parsed_all(self, bodies: Sequence[_FeedBody]) -> bool:
        """True when every one of ``bodies`` (as :func:`parse` read them back) was parsed here from
        the same inputs; then :meth:`parse_results` gives them in that order."""
        if self.abandoned or len(bodies) != len(self._parsed):
            return False
        if any(self._inputs.get(body[0]) != body for body in bodies):
            return False
        self._order = [body[0] for body in bodies]
        return True

    def parse_results(self) -> Iterator[tuple[pa.Table, list[_FeedOutcome]]]:
        """The parse results in :meth:`parsed_all`'s order, each let go of once handed over."""
        self._inputs.clear()
        return (self._parsed.pop(fid) for fid in self._order)

    def cleaned_all(self, entries_path: str, recorded: dict[str, FeedConfig]) -> bool:
        """True when :func:`parse` took every feed from here (and wrote ``entries_path``) and the
        feeds were cleaned with the configuration the archive ``recorded``."""
        if self.abandoned or not self._order or not entries_path:
            return False
        return all(recorded.get(fid) == self._feeds.get(fid) for fid in self._order)

    def clean_results(self) -> Iterator[_Cleaned]:
        """The clean results in feed order, each let go of once handed over."""
        return (self._cleaned.pop(fid) for fid in self._order)


def _ahead_chunk(context: _CleanContext, body: _FeedBody) -> tuple[str, tuple[pa.Table, list[_FeedOutcome]], _Cleaned]:
    """Parse and clean one feed's body for :class:`Ahead` (in its thread or its worker process),
    with a light boilerplate model of the feed's own (merged later as the pool's chunks are)."""
    parsed = _parse_chunk(None, [body])
    own = _CleanContext(context.feeds, context.rules, context.model.fresh(), context.run_id)
    return body[0], parsed, _clean_chunk(own, parsed[0])


def _warm_up(settings: Settings) -> None:
    """Load what later stages need while the fetch waits; a failure here is the tag stage's to report."""
    # pyarrow imports pandas (its pandas shim) on its first array or Parquet read, whatever the data:
    # 0.2 s or more of CPU that even a cycle with nothing new would pay after the fetch.
    pa.array([0])
    try:
        ConflictTagger.load(settings.tag.gazetteer_file)
    except Exception:  # the tag stage loads it again and fails the run with the real error
        log.debug("warm-up of the gazetteer failed; the tag stage will say why", exc_info=True)


def release_memory() -> None:
    """Hand memory that freed objects and tables leave behind back to the system, between the big
    stages of one process (``feedmon run``): else each stage's peak stacks on the garbage of the
    ones before (pyarrow's allocator and glibc's malloc both keep freed pages). Well under a
    millisecond (no ``gc.collect()``: the records are freed by reference counting, and a
    collection over the gazetteer's objects costs 50 ms)."""
    pa.default_memory_pool().release_unused()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> Any:
    """The C library, looked up on first use (``find_library`` may run ``ldconfig``: not at import)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:  # no C library to load by that name: nothing to trim
        return None
    return libc if hasattr(libc, "malloc_trim") else None  # glibc only (not macOS, musl)


def process(
    ctx: RunContext,
    recovered: Sequence[dict[str, Any]] = (),
    *,
    progress: Progress = _quiet,
    ahead: Ahead | None = None,
) -> dict[str, Any]:
    """Stages after fetch, on an already archived run (``ahead``: what ``feedmon run`` parsed and
    cleaned while it fetched)."""
    entries = parse(ctx, ahead)
    progress(f"parse: {entries['entries']} entries")
    release_memory()
    cleaned = clean(ctx, entries["path"], ahead)
    progress(f"clean: {cleaned['articles']} articles")
    release_memory()
    # A large run (feedmon run): tag the candidates on the other core while dedup runs.
    settings = ctx.settings
    large = settings.pool_min_items <= cleaned["articles"] <= TAG_AHEAD_MAX_ROWS
    beside: Ahead | TagAhead | None = None
    if ahead is not None and ahead.tagged and cleaned["ahead"]:
        beside = ahead  # it tagged each feed as it came back cleaned, and clean took those rows
    elif ahead is not None and settings.workers > 1 and large:
        beside = TagAhead(ctx, cleaned["path"])
    if cleaned["articles"] > max(TAG_AHEAD_MAX_ROWS, SCREEN_MAX_ROWS):
        stop_fork_server()  # no pool after clean on a run this large: its ~100 MB go before dedup's peak
    try:
        deduped = dedup(ctx, cleaned["path"])
        progress(f"dedup: {deduped['new_articles']} new, {deduped['exact_duplicates']} exact duplicates")
        release_memory()
        tagged = tag(ctx, deduped["path"], ahead=beside)
    except BaseException:
        if isinstance(beside, TagAhead):
            beside.cancel()
        raise
    del beside  # its tags are in the stage file now
    if tagged["conflict_articles"] is None:
        progress("tag: nothing new to tag")
    else:
        progress(f"tag: {tagged['tagged']} articles tagged, {tagged['conflict_articles']} conflict articles in the day")
    release_memory()
    summary = publish(ctx, tagged["path"], recovered)
    progress(f"publish: {ctx.snapshot_path}")
    summary["exact_duplicates"] = deduped["exact_duplicates"]
    return summary


# --------------------------------------------------------------------------- recovery and leftovers
def recover(ctx: RunContext) -> list[dict[str, Any]]:
    """Replay every archived run of the last days that never published, oldest first; then remove
    what dead runs left behind (:func:`clean_leftovers`). Returns one entry per replayed run.

    "Never published": a manifest in ``raw/`` without its published marker (the run was killed, or
    a stage after fetch failed). Each is processed by the same stages as a live run, with a scratch
    work folder of its own, into its own day, as its own run id (its feed-health rows name the
    replaying run in ``recovered_by``). The window is the run's day, the day after, and
    ``max(1, FEEDMON_LOOKBACK_DAYS)`` days before it. Replaying a run that is in fact still alive
    (a DAG run waiting for a retry beside a ``feedmon run``) costs work but doubles nothing. A
    replay that fails is logged and reported (``error``), and tried again by the next run.
    """
    settings = ctx.settings
    first = ctx.day - timedelta(days=max(1, settings.lookback_days))
    recovered: list[dict[str, Any]] = []
    for offset in range((ctx.day - first).days + 2):
        day = first + timedelta(days=offset)
        # Archives from before the published markers: a run whose feed health exists did publish
        # (feed health was its last write).
        health = storage.glob(storage.join(settings.data_dir, "feed_health", f"date={day.isoformat()}", "*.parquet"))
        legacy = {storage.basename(p).removesuffix(".parquet") for p in health}
        raw_day = storage.join(settings.data_dir, "raw", f"date={day.isoformat()}")
        for run_dir in archive.unpublished_runs(raw_day, legacy):
            recovered.append(_replay(ctx, day, run_dir))
    clean_leftovers(settings, datetime.now(UTC))
    return recovered


def _replay(ctx: RunContext, day: date, run_dir: str) -> dict[str, Any]:
    scratch = storage.join(ctx.settings.data_dir, "work", f"date={day.isoformat()}", f"replay-{uuid.uuid4().hex}")
    entry: dict[str, Any] = {"run_id": storage.basename(run_dir), "date": day.isoformat()}
    try:
        run_id = entry["run_id"] = archive.run_id(run_dir)
        summary = process(RunContext(ctx.settings, day, run_id, scratch=scratch, recovered_by=ctx.run_id))
    except Exception as exc:  # an archive that cannot be replayed must not stop today's run
        log.exception("recovering unpublished run %s of %s failed; the next run tries again", entry["run_id"], day)
        return entry | {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        storage.remove_tree(scratch)
    log.warning(
        "recovered run %s of %s, which never published: %d new articles from %d feeds replayed from its raw archive",
        run_id,
        day,
        summary["new_articles"],
        summary["feeds"],
    )
    return entry | {"feeds": summary["feeds"], "new_articles": summary["new_articles"]}


def leftover_idle(settings: Settings) -> timedelta:
    """How long a work folder or temporary file stays untouched before it counts as a dead run's:
    twice ``FEEDMON_RUN_TIMEOUT_MINUTES``, the ingest DAG's run timeout (after it, Airflow has
    failed the run; no live stage leaves its files that long)."""
    return timedelta(minutes=2 * settings.alerts.run_timeout_minutes)


def clean_leftovers(
    settings: Settings, now: datetime, idle: timedelta | None = None, *, dry_run: bool = False
) -> list[str]:
    """Remove what dead runs left behind; returns the removed paths. Safe beside live runs.

    * Work folders (``work/date=D/<run>/``, a replay's or reprocess's scratch folder) untouched for
      ``idle`` (default :func:`leftover_idle`): their run published, or it never will and
      :func:`recover` replays its raw archive with a scratch folder of its own. Empty day folders go too.
    * Temporary files of interrupted atomic writes (``.<name>.tmp-*``, a state document's
      ``*.tmp``) under ``snapshots/``, ``feed_health/``, ``reports/`` and ``state/``, as old.
      Readers never see them (hidden names), they only take space. Local data dirs only: an
      object store's single PUT leaves none.
    * Day lock files of days before the recovery window. Locks are ``flock``: a killed holder's
      lock is released by the kernel, so no lock ever blocks a day; the files are only tidied.

    Raw archives are never touched here (``feedmon prune`` keeps ``--raw-days`` of them). ``dry_run``
    lists what would go and removes nothing.
    Called by every run after its recovery, by ``feedmon prune`` and by the housekeeping DAG.
    """
    idle = leftover_idle(settings) if idle is None else idle
    removed: list[str] = []

    def stale(path: str) -> bool:
        when = storage.last_modified(path)
        return when is not None and now - when >= idle

    for day_dir in storage.glob(storage.join(settings.data_dir, "work", "date=*")):
        for folder in storage.glob(storage.join(day_dir, "*")):
            if stale(folder):
                if not dry_run:
                    storage.remove_tree(folder)
                removed.append(folder)
        if not dry_run and storage.is_local(day_dir) and not storage.glob(storage.join(day_dir, "*")):
            storage.remove_tree(day_dir)
            removed.append(day_dir)
    if storage.is_local(settings.data_dir):
        for area in ("snapshots", "feed_health", "reports", "state"):
            for pattern in ("**/.*.tmp-*", "**/*.tmp"):
                for tmp in storage.glob(storage.join(settings.data_dir, area, pattern)):
                    if stale(tmp):
                        if not dry_run:
                            storage.remove(tmp)
                        removed.append(tmp)
    oldest = now.date() - timedelta(days=max(1, settings.lookback_days) + 1)
    for lock in storage.glob(storage.join(settings.state_dir, "locks", "date=*.lock")):
        day = date.fromisoformat(storage.basename(lock).removeprefix("date=").removesuffix(".lock"))
        if day < oldest and (dry_run or storage.remove_lock_file(lock)):
            removed.append(lock)
    return removed


def prune_raw(settings: Settings, today: date, raw_days: int, *, dry_run: bool = False) -> list[str]:
    """Delete raw archives older than ``raw_days`` (at least 1) before ``today``; ``dry_run`` only lists them.

    A day whose archive is gone can no longer be reprocessed, so keep ``raw_days`` above the longest
    reprocess you may need (and above ``FEEDMON_LOOKBACK_DAYS``, the window in which runs that never
    published are replayed).
    """
    if raw_days < 1:
        raise ValueError(f"raw_days must be at least 1, not {raw_days}")
    removed: list[str] = []
    for folder in storage.glob(storage.join(settings.data_dir, "raw", "date=*")):
        day = date.fromisoformat(folder.rstrip("/").rsplit("date=", 1)[1])
        if (today - day).days > raw_days:
            if not dry_run:
                storage.remove_tree(folder)
            removed.append(folder)
    return removed


def prune(settings: Settings, today: date, raw_days: int, *, dry_run: bool = False) -> list[str]:
    """Delete raw archives older than ``raw_days`` (:func:`prune_raw`) and what dead runs left behind
    (:func:`clean_leftovers`). Snapshots and feed health are never pruned: they are the product."""
    return prune_raw(settings, today, raw_days, dry_run=dry_run) + clean_leftovers(
        settings, datetime.now(UTC), dry_run=dry_run
    )


def reprocess_day(settings: Settings, day: date, *, progress: Progress = _quiet) -> dict[str, Any]:
    """Rebuild a day's snapshot from its raw archive alone, replaying the runs in order.

    The replay builds into a scratch file; the published snapshot is replaced once, atomically, at
    the end, so a crash or a bad archive midway leaves the old snapshot in place. Only then are the
    runs' fetch state, learned statistics, feed health and published markers stored (a no-op for
    runs that published before; a run that never did counts as published from here on).
    """
    raw_day = storage.join(settings.data_dir, "raw", f"date={day.isoformat()}")
    runs = archive.list_runs(raw_day)
    if not runs:
        raise FileNotFoundError(f"no raw archive for {day} under {raw_day}")
    scratch_dir = storage.join(settings.data_dir, "work", f"date={day.isoformat()}", f"reprocess-{uuid.uuid4().hex}")
    scratch = storage.join(scratch_dir, "articles.parquet")
    try:
        contexts = []
        exact_duplicates = 0
        for run_dir in runs:
            rctx = RunContext(settings, day, archive.run_id(run_dir), replay_into=scratch, scratch=scratch_dir)
            exact_duplicates = process(rctx, progress=progress)["exact_duplicates"]
            contexts.append(rctx)
        with _day_lock(settings, day):
            snapshot = storage.write_bytes_atomic(settings.snapshot_path(day), storage.read_bytes(scratch))
            table = storage.read_parquet(snapshot, columns=SUMMARY_COLUMNS)
            summary: dict[str, Any] = {}
            for rctx in contexts:
                summary = _promote(rctx, table, snapshot)
    finally:
        storage.remove_tree(scratch_dir)
    summary["exact_duplicates"] = exact_duplicates
    return summary
