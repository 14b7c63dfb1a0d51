"""Reading what the pipeline published: snapshots, feed health, and the run summary's figures.

The one module that the pipeline (dedup reads earlier snapshots, publish summarises), the alerts,
the daily report and the Feed monitor's callers share, so "the day's articles" and "a run's
figures" are computed one way. Paths come from :class:`feedmon.config.Settings`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from feedmon import storage
from feedmon.config import Settings
from feedmon.ids import body_hash
from feedmon.models import Article

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "latest_articles_by_feed",
    "read_feed_health",
    "read_snapshot",
    "read_snapshot_table",
    "snapshot_version",
    "summarize",
]


def read_snapshot(
    settings: Settings, day: date, path: str | None = None, only: Sequence[str] | None = None
) -> list[Article]:
    """The published snapshot of ``day`` (empty when none was written yet); with ``only``, just
    these fields are read (the others keep :class:`Article`'s defaults)."""
    from feedmon.schema import table_to_articles  # deferred like storage's pyarrow: alerts import us at DAG parse

    table = read_snapshot_table(settings, day, path, columns=only)
    return [] if table is None else table_to_articles(table, only)


def read_snapshot_table(
    settings: Settings, day: date, path: str | None = None, columns: Sequence[str] | None = None
) -> pa.Table | None:
    """The published snapshot of ``day`` as an Arrow table with its metadata (None when none was
    written yet); only ``columns`` when given."""
    path = path or settings.snapshot_path(day)
    if not storage.exists(path):
        return None
    return storage.read_parquet(path, columns=columns)


def snapshot_version(path: str) -> str:
    """Identity of a snapshot file's content ("absent" when there is none yet)."""
    if not storage.exists(path):
        return "absent"
    return body_hash(storage.read_bytes(path))


def read_feed_health(settings: Settings, days: Iterable[date]) -> list[dict[str, Any]]:
    """All feed_health rows of ``days`` (every run), oldest first; older file versions upgraded."""
    from feedmon.schema import upgrade_feed_health  # deferred like read_snapshot's: pyarrow stays unloaded

    rows: list[dict[str, Any]] = []
    for day in sorted(set(days)):
        pattern = storage.join(settings.data_dir, "feed_health", f"date={day.isoformat()}", "*.parquet")
        for _, table in storage.iter_parquet(pattern):
            rows.extend(upgrade_feed_health(table).to_pylist())
    rows.sort(key=lambda r: (r["fetched_at"], r["feed_id"]))
    return rows


def latest_articles_by_feed(settings: Settings, days: Iterable[date]) -> dict[str, datetime]:
    """Per feed, the newest ``first_seen_at`` in the snapshots of ``days``."""
    latest: dict[str, datetime] = {}
    for day in sorted(set(days)):
        table = read_snapshot_table(settings, day, columns=("feed_id", "first_seen_at"))
        if table is None or table.num_rows == 0:
            continue
        grouped = table.group_by("feed_id").aggregate([("first_seen_at", "max")])
        for feed_id, seen in zip(
            grouped.column("feed_id").to_pylist(),
            grouped.column("first_seen_at_max").to_pylist(),
            strict=True,
        ):
            if feed_id not in latest or seen > latest[feed_id]:
                latest[feed_id] = seen
    return latest


#: The snapshot columns :func:`summarize` reads.
SUMMARY_COLUMNS = ("story_id", "is_conflict", "conflict_regions")


def summarize(
    day: date,
    run_id: str,
    articles: Sequence[Article] | pa.Table,
    health_rows: Sequence[dict[str, Any]],
    failed: Sequence[str],
    snapshot: str,
    health_path: str,
) -> dict[str, Any]:
    """The figures a person wants after a run (printed by the CLI, returned through XCom, reported).

    ``articles`` are the day's rows, as records or as a snapshot table (:data:`SUMMARY_COLUMNS` suffice)."""
    conflict_rows: list[tuple[str, list[str]]]
    if isinstance(articles, Sequence):
        n_rows, n_stories = len(articles), len({a.story_id for a in articles})
        conflict_rows = [(a.story_id, a.conflict_regions) for a in articles if a.is_conflict]
    else:  # counted in Arrow: only the conflict rows become Python values (a day may hold millions)
        import pyarrow.compute as pc  # deferred like read_snapshot's

        n_rows, n_stories = articles.num_rows, pc.count_distinct(articles.column("story_id")).as_py()
        hit = articles.filter(articles.column("is_conflict"))
        conflict_rows = list(zip(*(hit.column(c).to_pylist() for c in ("story_id", "conflict_regions")), strict=True))
    regions: Counter[str] = Counter()
    seen_story_region: set[tuple[str, str]] = set()
    conflict_stories: set[str] = set()
    for story, conflict_regions in conflict_rows:
        conflict_stories.add(story)
        for region in conflict_regions:
            if (story, region) not in seen_story_region:
                seen_story_region.add((story, region))
                regions[region] += 1
    return {
        "date": day.isoformat(),
        "run_id": run_id,
        "feeds": len(health_rows),
        "feeds_ok": len(health_rows) - len(failed),
        "feeds_failed": len(failed),
        "failed_feeds": list(failed),
        "new_articles": sum(r["new_articles"] for r in health_rows),
        "articles": n_rows,
        "stories": n_stories,
        "copies_folded": n_rows - n_stories,
        "conflict_stories": len(conflict_stories),
        "conflict_stories_by_region": dict(sorted(regions.items(), key=lambda kv: (-kv[1], kv[0]))),
        "snapshot": snapshot,
        "feed_health": health_path,
    }
