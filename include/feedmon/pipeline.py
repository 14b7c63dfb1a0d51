"""One pipeline cycle, stage by stage: fetch → parse → clean → dedup → tag → publish.

Each stage reads the previous stage's file and writes its own, and returns small dicts (paths and
counts), so the Airflow tasks in :mod:`feedmon.airflow.tasks` and the ``feedmon`` CLI call exactly the
same functions. Every stage takes its settings from the run's :class:`~feedmon.config.Settings`
(``ctx.settings``); reading what was published is :mod:`feedmon.outputs`' job. The day a run
writes comes from the run (its logical date, or ``run_after`` for manually triggered runs), never
from the clock.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from feedmon import archive, storage
from feedmon.clean import BoilerplateModel, BoilerplateSettings, CleanRules, clean_article, normalize_text
from feedmon.config import Settings
from feedmon.dedup import deduplicate
from feedmon.feeds import load_feeds
from feedmon.fetch import commit_fetch_state, fetch_feeds, plan_batches
from feedmon.ids import content_hash, make_article_id, run_key
from feedmon.language import resolve_language
from feedmon.models import Article, FeedConfig, FetchResult, RawEntry
from feedmon.outputs import read_snapshot, snapshot_version, summarize
from feedmon.parse import parse_feed
from feedmon.schema import FEED_HEALTH_SCHEMA, articles_to_table, rows_to_table, table_to_articles
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


@dataclass(frozen=True)
class RunContext:
    """Identifies one pipeline run: which day it writes and under which run id."""

    settings: Settings
    day: date
    run_id: str
    #: Set by a reprocess: the scratch snapshot the replay reads and writes instead of the published
    #: one. A replay also refuses a corrupt archive instead of skipping the damaged feed.
    replay_into: str | None = None

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
        return self.settings.work_dir(self.day, self.run_key)

    def work(self, name: str) -> str:
        return storage.join(self.work_dir, name)


def _feeds_by_id(settings: Settings) -> dict[str, FeedConfig]:
    return {f.id: f for f in load_feeds(settings.feeds_file)}


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


def fetch(ctx: RunContext, feed_ids: Sequence[str] | None = None, batch: int = 0) -> dict[str, Any]:
    """Fetch one batch of feeds (all enabled feeds when ``feed_ids`` is None) and archive the bodies.

    HTTP validators are not saved here but by :func:`parse`, once every body is archived *and*
    parsed: a crash in between makes the next run fetch again instead of getting 304 for bodies
    nobody processed, and a body that turns out not to be a feed counts as the failure it is.
    """
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

        results = fetch_feeds(
            feeds,
            state_dir=ctx.settings.state_dir,
            settings=ctx.settings.fetch,
            commit_state=False,
            on_result=archive_body,
        )
    written = {fid: meta for fid, w in writes.items() if (meta := w.result()) is not None}
    manifest = archive.write_batch(ctx.raw_dir, batch, ctx.run_id, results, by_id, written=written)
    failed = [r.feed_id for r in results if r.status in FAILED_STATUSES]
    log.info("batch %d: fetched %d feeds, %d failed %s", batch, len(results), len(failed), failed)
    return {"manifest": manifest, "feeds": len(results), "failed": len(failed)}


# --------------------------------------------------------------------------- parse
def parse(ctx: RunContext) -> dict[str, Any]:
    """Parse every archived body into raw entries (one Parquet) plus a per-feed report, then record
    each feed's final outcome (a body that is not a feed is ``parse_error``) in the fetch state."""
    results = archive.read_run(ctx.raw_dir, strict=ctx.replay_into is not None)
    feeds = archive.read_feed_configs(ctx.raw_dir)
    rows: list[dict[str, Any]] = []
    report: dict[str, dict[str, Any]] = {}
    for res in results:
        entries, error = 0, None
        if res.body is not None:
            try:
                parsed = parse_feed(
                    res.body,
                    feed_id=res.feed_id,
                    headers=res.headers,
                    base_url=res.final_url or res.url,
                    default_language=feeds[res.feed_id].language,
                )
                entries, error = len(parsed.entries), parsed.error
                rows.extend(_entry_row(e, res) for e in parsed.entries)
            except Exception as exc:  # one pathological body must not cost the other feeds their articles
                log.exception("parsing %s failed", res.feed_id)
                error = f"parser crashed: {exc!r}"
            if entries == 0:
                res.status = "parse_error" if error else "empty"
            res.error = error or res.error  # a salvaged bozo feed stays ok, with the parser's complaint
        report[res.feed_id] = {"entries": entries, "status": res.status, "error": res.error}
    commit_fetch_state(
        [feeds[r.feed_id] for r in results],
        results,
        state_dir=ctx.settings.state_dir,
        settings=ctx.settings.fetch,
    )
    for res in results:
        report[res.feed_id]["consecutive_failures"] = res.consecutive_failures
    path = ctx.work("entries.parquet")
    storage.write_parquet_atomic(path, rows_to_table(rows, ENTRY_SCHEMA))
    storage.write_text_atomic(ctx.work("parse_report.json"), json.dumps(report, sort_keys=True))
    return {"path": path, "entries": len(rows)}


def _entry_row(entry: RawEntry, res: FetchResult) -> dict[str, Any]:
    return {
        "feed_id": entry.feed_id,
        "guid": entry.guid,
        "link": entry.link,
        "title": entry.title,
        "html": entry.html,
        "published_at": entry.published_at,
        "language": entry.language,
        "author": entry.author,
        "fetched_at": res.fetched_at,
    }


# --------------------------------------------------------------------------- clean
def clean(ctx: RunContext, entries_path: str) -> dict[str, Any]:
    """Turn raw entries into clean candidate articles with stable ids and canonical URLs."""
    feeds = archive.read_feed_configs(ctx.raw_dir)
    rules = CleanRules.load(ctx.settings.clean.rules_file)
    model = BoilerplateModel.load(
        ctx.settings.state_dir, ctx.day, settings=BoilerplateSettings.from_rules(rules.boilerplate, ctx.settings.clean)
    )
    out: list[Article] = []
    failed = 0
    for row in storage.read_parquet(entries_path).to_pylist():
        feed = feeds[row["feed_id"]]
        try:
            cleaned = clean_article(
                row["title"] or "", row["html"] or "", source=feed.source, rules=rules, boilerplate=model
            )
        except Exception:  # one pathological item must not cost the day its other articles
            log.exception("cleaning an item of %s failed (guid %r); item skipped", row["feed_id"], row["guid"])
            failed += 1
            continue
        # Only http(s) links are kept: a feed's javascript:/data: "link" must never reach readers.
        link = safe_href(row["link"]) or safe_href(row["guid"]) or ""
        url = canonical_url(link) if link else ""
        title = cleaned.title or normalize_text(row["title"] or "", rules=rules)
        if not title and not cleaned.text:
            continue  # nothing a reader could use
        article_id = make_article_id(row["feed_id"], row["guid"], url or None, title)
        model.observe(feed.source, article_id, cleaned.text, cleaned.boilerplate_removed)
        out.append(
            Article(
                article_id=article_id,
                feed_id=row["feed_id"],
                source=feed.source,
                url=url,
                link=link,
                guid=row["guid"],
                title=title,
                text=cleaned.text,
                published_at=row["published_at"],
                first_seen_at=row["fetched_at"],
                language=resolve_language(title, cleaned.text, row["language"], feed.language),
                dateline=cleaned.dateline,
                agency=cleaned.agency or feed.agency,
                content_hash=content_hash(title, cleaned.text),
                first_run_id=ctx.run_id,
            )
        )
    model.save(ctx.settings.state_dir, ctx.day)
    path = ctx.work("cleaned.parquet")
    _finalise_defaults(out)
    storage.write_parquet_atomic(path, articles_to_table(out))
    return {"path": path, "articles": len(out), "items_failed": failed}


def _finalise_defaults(articles: Sequence[Article]) -> None:
    # Story fields are filled by dedup; until then each article is its own story.
    for art in articles:
        art.story_id = art.story_id or art.article_id


# --------------------------------------------------------------------------- dedup
def dedup(ctx: RunContext, cleaned_path: str) -> dict[str, Any]:
    """Drop exact duplicates, tie copies of one story together across outlets and days."""
    candidates = table_to_articles(storage.read_parquet(cleaned_path))
    base = snapshot_version(ctx.snapshot_path)  # before reading: publish compares against what we build on
    existing = read_snapshot(ctx.settings, ctx.day, ctx.snapshot_path)
    history: list[Article] = []
    for back in range(1, ctx.settings.lookback_days + 1):
        history.extend(read_snapshot(ctx.settings, ctx.day - timedelta(days=back)))
    result = deduplicate(candidates, existing, history, lookback_days=ctx.settings.lookback_days)
    path = ctx.work("deduped.parquet")
    storage.write_parquet_atomic(path, articles_to_table(result.articles))
    storage.write_text_atomic(ctx.work("new_per_feed.json"), json.dumps(result.new_per_feed, sort_keys=True))
    storage.write_text_atomic(ctx.work("dedup_base.json"), json.dumps({"snapshot": base}))
    return {
        "path": path,
        "new_articles": len(result.new_ids),
        "exact_duplicates": result.exact_duplicates,
        "day_articles": len(result.articles),
    }


# --------------------------------------------------------------------------- tag
def tag(ctx: RunContext, deduped_path: str) -> dict[str, Any]:
    """Tag every article of the day (deterministic, so re-tagging old rows changes nothing)."""
    tagger = ConflictTagger.load(ctx.settings.tag.gazetteer_file)
    articles = table_to_articles(storage.read_parquet(deduped_path))
    for art in articles:
        try:
            res = tagger.tag(art.title, art.text, art.dateline, art.language)
        except Exception:  # an untaggable article stays untagged rather than failing the day
            log.exception("tagging %s failed; left untagged", art.article_id)
            continue
        art.is_conflict = res.is_conflict
        art.conflict_score = res.conflict_score
        art.conflict_regions = list(res.conflict_regions)
        art.countries = list(res.countries)
        art.conflict_evidence = list(res.conflict_evidence)
    path = ctx.work("tagged.parquet")
    table = articles_to_table(articles)
    # Every tag stays traceable to the gazetteer that produced it.
    table = table.replace_schema_metadata(table.schema.metadata | {b"feedmon.gazetteer_version": tagger.version})
    storage.write_parquet_atomic(path, table)
    return {"path": path, "conflict_articles": sum(a.is_conflict for a in articles)}


# --------------------------------------------------------------------------- publish
def publish(ctx: RunContext, tagged_path: str) -> dict[str, Any]:
    """Atomically replace the day's snapshot and write this run's feed-health rows; return the summary."""
    # Serialise publishing of one day between processes (local data dirs; on object storage keep one
    # writer per day, as the DAG's max_active_runs=1 does).
    with storage.exclusive_lock(storage.join(ctx.settings.state_dir, "locks", f"date={ctx.day.isoformat()}.lock")):
        base = json.loads(storage.read_bytes(ctx.work("dedup_base.json")))["snapshot"]
        if snapshot_version(ctx.snapshot_path) != base:
            # Another run (a CLI run beside the DAG, say) published this day since our dedup read it:
            # build on its snapshot instead of overwriting it.
            log.warning("snapshot of %s changed since dedup; deduplicating and tagging again", ctx.day)
            tagged_path = tag(ctx, dedup(ctx, ctx.work("cleaned.parquet"))["path"])["path"]
        tagged = storage.read_parquet(tagged_path)
        articles = table_to_articles(tagged)
        articles.sort(key=lambda a: (a.first_seen_at, a.article_id))
        table = articles_to_table(articles)
        table = table.replace_schema_metadata(tagged.schema.metadata | table.schema.metadata)
        snapshot = storage.write_parquet_atomic(ctx.snapshot_path, table)

    report = json.loads(storage.read_bytes(ctx.work("parse_report.json")))
    new_per_feed = json.loads(storage.read_bytes(ctx.work("new_per_feed.json")))
    health_rows = []
    for res in archive.read_run(ctx.raw_dir, bodies=False):
        outcome = report[res.feed_id]
        health_rows.append(
            {
                "feed_id": res.feed_id,
                "url": res.url,
                "final_url": res.final_url,
                "run_id": ctx.run_id,
                "status": outcome["status"],
                "http_status": res.http_status,
                "error": outcome["error"],
                "entries": outcome["entries"],
                "new_articles": new_per_feed.get(res.feed_id, 0),
                "bytes": res.bytes,
                "fetched_at": res.fetched_at,
                "duration_ms": res.duration_ms,
                "consecutive_failures": outcome["consecutive_failures"],
            }
        )
    health_path = storage.write_parquet_atomic(
        ctx.settings.feed_health_path(ctx.day, ctx.run_key), rows_to_table(health_rows, FEED_HEALTH_SCHEMA)
    )
    storage.remove_tree(ctx.work_dir)
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
def run_cycle(settings: Settings, day: date, run_id: str | None = None) -> dict[str, Any]:
    """Everything one DAG run does, in-process (the ``feedmon run`` command)."""
    run_id = run_id or f"cli__{datetime.now(UTC).strftime('%Y-%m-%dT%H%M%S.%f')}"
    ctx = RunContext(settings, day, run_id)
    # The fetch mostly waits on the network: build the tagger's gazetteer (cached per process, a
    # second or more of CPU) meanwhile instead of after it.
    warm_up = threading.Thread(target=_warm_up, args=(settings,), name="feedmon-warm-up", daemon=True)
    warm_up.start()
    # Every feed under one scheduler: all hosts' slots at once, so a cycle costs about one latency
    # per host-slot round, not one round per batch (batches exist for Airflow's mapped tasks only).
    fetch(ctx)
    warm_up.join()  # on a busy machine it may outlast the fetch: never build the gazetteer twice
    return process(ctx)


def _warm_up(settings: Settings) -> None:
    """Load what later stages need while the fetch waits; a failure here is the tag stage's to report."""
    try:
        ConflictTagger.load(settings.tag.gazetteer_file)
    except Exception:  # the tag stage loads it again and fails the run with the real error
        log.debug("warm-up of the gazetteer failed; the tag stage will say why", exc_info=True)


def process(ctx: RunContext) -> dict[str, Any]:
    """Stages after fetch, on an already archived run."""
    entries = parse(ctx)
    cleaned = clean(ctx, entries["path"])
    deduped = dedup(ctx, cleaned["path"])
    tagged = tag(ctx, deduped["path"])
    summary = publish(ctx, tagged["path"])
    summary["exact_duplicates"] = deduped["exact_duplicates"]
    return summary


def prune(settings: Settings, today: date, raw_days: int) -> list[str]:
    """Delete raw archives older than ``raw_days`` and work folders of runs that died before publish.

    Snapshots and feed health are never pruned: they are the product. A day whose archive is gone
    can no longer be reprocessed, so keep ``raw_days`` above the longest reprocess you may need.
    """
    removed: list[str] = []
    for area, keep in (("raw", raw_days), ("work", 1)):
        for folder in storage.glob(storage.join(settings.data_dir, area, "date=*")):
            day = date.fromisoformat(folder.rstrip("/").rsplit("date=", 1)[1])
            if (today - day).days > keep:
                storage.remove_tree(folder)
                removed.append(folder)
    return removed


def reprocess_day(settings: Settings, day: date) -> dict[str, Any]:
    """Rebuild a day's snapshot from its raw archive alone, replaying the runs in order.

    The replay builds into a scratch file; the published snapshot is replaced once, atomically, at
    the end, so a crash or a bad archive midway leaves the old snapshot in place.
    """
    raw_day = storage.join(settings.data_dir, "raw", f"date={day.isoformat()}")
    runs = archive.list_runs(raw_day)
    if not runs:
        raise FileNotFoundError(f"no raw archive for {day} under {raw_day}")
    scratch_dir = storage.join(settings.data_dir, "work", f"date={day.isoformat()}", f"reprocess-{uuid.uuid4().hex}")
    scratch = storage.join(scratch_dir, "articles.parquet")
    try:
        summary: dict[str, Any] = {}
        for run_dir in runs:
            summary = process(RunContext(settings, day, archive.run_id(run_dir), replay_into=scratch))
        summary["snapshot"] = storage.write_bytes_atomic(settings.snapshot_path(day), storage.read_bytes(scratch))
    finally:
        storage.remove_tree(scratch_dir)
    return summary
