"""Queries behind the Feed monitor page: DuckDB over the Parquet outputs, nothing else.

The Airflow UI plugin (:mod:`feedmon.monitor.web`) calls these per request, so the page always shows
what the pipeline last published and there is no second store to keep in sync. Everything here is
plain Python + DuckDB (no Airflow, no web framework), which keeps it testable on fixture Parquet.

Only the day partitions a query needs are handed to DuckDB (the file list is built from the
``date=YYYY-MM-DD`` folder names), so a data dir with months of history stays cheap to query. A day
without files is an empty result, never an error: the page must work before the first run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from feedmon import storage
from feedmon.schema import ARTICLE_SCHEMA, FEED_HEALTH_SCHEMA
from feedmon.timeutil import as_utc
from feedmon.vocab import FAILED_STATUSES

if TYPE_CHECKING:
    import duckdb

    from feedmon.models import FeedConfig

#: Columns the monitor reads; a projection keeps DuckDB from decoding article texts.
ARTICLE_COLUMNS = (
    "feed_id",
    "source",
    "story_id",
    "is_canonical",
    "title",
    "url",
    "link",
    "first_seen_at",
    "is_conflict",
    "conflict_regions",
    "countries",
)
HEALTH_COLUMNS = (
    "feed_id",
    "url",
    "run_id",
    "status",
    "http_status",
    "error",
    "entries",
    "new_articles",
    "fetched_at",
    "duration_ms",
    "consecutive_failures",
)
#: Pseudo-statuses accepted by the status filter besides the real ones.
FILTER_FAILED = "failed"
FILTER_HEALTHY = "healthy"
#: Status shown for a configured feed that has no feed-health row in the history window.
NO_DATA = "no_data"

_DAY_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One line of the feeds table."""

    feed_id: str
    name: str
    url: str | None
    status: str
    failed: bool
    http_status: int | None
    last_checked: datetime | None
    last_success: datetime | None
    consecutive_failures: int
    articles_today: int
    conflict_articles_today: int
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class DayFigures:
    """The day's snapshot at a glance (same definitions as the pipeline summary)."""

    day: date
    articles: int
    stories: int
    duplicates_removed: int
    conflict_stories: int
    feeds: int
    feeds_ok: int
    feeds_failed: int
    runs: int
    last_run_at: datetime | None

    @property
    def has_data(self) -> bool:
        """False before the first run of the day wrote anything."""
        return self.articles > 0 or self.runs > 0


@dataclass(frozen=True, slots=True)
class RegionChart:
    """Conflict-tagged stories per region and day, oldest day first."""

    days: list[date]
    series: dict[str, list[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All story-region pairs in the window (0 means an empty chart)."""
        return sum(sum(v) for v in self.series.values())

    def day_totals(self) -> list[int]:
        """Stacked height of each day's bar."""
        return [sum(v[i] for v in self.series.values()) for i in range(len(self.days))]


@dataclass(frozen=True, slots=True)
class StoryRow:
    """A conflict-tagged story of the day (its canonical copy)."""

    story_id: str
    title: str
    url: str
    source: str
    first_seen_at: datetime | None
    regions: list[str]
    countries: list[str]
    copies: int


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, dates and containers to JSON-ready values (ISO 8601 for times)."""
    if hasattr(obj, "__dataclass_fields__"):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    return obj


def _day_of(path: str) -> date | None:
    match = _DAY_DIR.search(path)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


class FeedMonitor:
    """Read-only view of one data dir. Cheap to create; open one per request and close it after.

    ``data_dir`` is the same root the pipeline writes (``Settings.data_dir``): a local path or an
    fsspec URL such as ``s3://bucket/prefix`` (read through DuckDB's fsspec bridge).
    """

    def __init__(self, data_dir: str) -> None:
        import duckdb

        self.data_dir = data_dir
        self._con: duckdb.DuckDBPyConnection = duckdb.connect(":memory:")
        self._con.execute("SET TimeZone = 'UTC'")
        if not storage.is_local(data_dir):
            import fsspec

            self._con.register_filesystem(fsspec.filesystem(storage.protocol_of(data_dir)))
        self._views: dict[tuple[str, date, date], str] = {}

    def close(self) -> None:
        """Release the DuckDB connection."""
        self._con.close()

    def __enter__(self) -> FeedMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- file discovery
    def files(self, table: str, first: date, last: date) -> list[str]:
        """Parquet files of ``table`` (``snapshots`` or ``feed_health``) for days first..last."""
        pattern = storage.join(self.data_dir, table, "date=*", "*.parquet")
        out = []
        for path in storage.glob(pattern):
            day = _day_of(path)
            if day is not None and first <= day <= last and not path.rsplit("/", 1)[-1].startswith("."):
                out.append(path)
        return out

    def _view(self, table: str, first: date, last: date) -> str:
        """A DuckDB view over the days' files (or an empty one of the right shape)."""
        key = (table, first, last)
        if key in self._views:
            return self._views[key]
        name = f"v_{table}_{len(self._views)}"
        schema, columns = (
            (ARTICLE_SCHEMA, ARTICLE_COLUMNS) if table == "snapshots" else (FEED_HEALTH_SCHEMA, HEALTH_COLUMNS)
        )
        files = self.files(table, first, last)
        cols = ", ".join(columns)
        if files:
            listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            self._con.execute(
                f"CREATE TEMP VIEW {name} AS SELECT {cols}, CAST(date AS DATE) AS day "
                f"FROM read_parquet([{listing}], hive_partitioning = true, union_by_name = true)"
            )
        else:
            empty = pa.schema([schema.field(c) for c in columns]).empty_table()
            empty = empty.append_column("day", pa.array([], pa.date32()))
            self._con.register(f"{name}_arrow", empty)
            self._con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {name}_arrow")
        self._views[key] = name
        return name

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self._con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # ---------------------------------------------------------------- queries
    def day_figures(self, day: date) -> DayFigures:
        """Articles, stories, copies folded into stories, conflict stories and feed counts of ``day``."""
        art = self._view("snapshots", day, day)
        health = self._view("feed_health", day, day)
        a = self._rows(
            f"""SELECT count(*) AS articles, count(DISTINCT story_id) AS stories,
                       count(DISTINCT story_id) FILTER (WHERE is_conflict) AS conflict_stories
                FROM {art}"""
        )[0]
        h = self._rows(
            f"""WITH latest AS (
                    SELECT feed_id, arg_max(status, fetched_at) AS status FROM {health} GROUP BY feed_id)
                SELECT count(*) AS feeds,
                       count(*) FILTER (WHERE list_contains(?, status)) AS failed,
                       (SELECT count(DISTINCT run_id) FROM {health}) AS runs,
                       (SELECT max(fetched_at)::TIMESTAMP FROM {health}) AS last_run_at
                FROM latest""",
            [sorted(FAILED_STATUSES)],
        )[0]
        return DayFigures(
            day=day,
            articles=a["articles"],
            stories=a["stories"],
            duplicates_removed=a["articles"] - a["stories"],
            conflict_stories=a["conflict_stories"],
            feeds=h["feeds"],
            feeds_ok=h["feeds"] - h["failed"],
            feeds_failed=h["failed"],
            runs=h["runs"],
            last_run_at=as_utc(h["last_run_at"]),
        )

    def feeds(
        self,
        day: date,
        *,
        status: str | None = None,
        region: str | None = None,
        configured: Iterable[FeedConfig] | None = None,
        state_days: int = 7,
        history_days: int = 30,
    ) -> list[FeedRow]:
        """Every feed's state as of the end of ``day``, failing feeds first.

        The latest feed-health row of the last ``state_days`` days gives status, HTTP code, streak;
        the last error is the newest non-empty error of those days; last success is searched back
        ``history_days`` days, a week at a time, only for feeds without one in the recent window.
        The day's snapshot gives article counts. ``configured`` feeds (from the feeds file) supply
        display names and appear with status ``no_data`` if they have no recent feed-health row.
        ``status`` filters on a status name, ``failed`` or ``healthy``; ``region`` keeps the feeds
        that published a story tagged with that region on ``day``.
        """
        failed_list = sorted(FAILED_STATUSES)
        health = self._view("feed_health", day - timedelta(days=state_days - 1), day)
        art = self._view("snapshots", day, day)
        # One aggregate pass (hash aggregate, no window functions) over a week of files: at 48 runs a
        # day that is ~340 small files per request, not a month's ~1500.
        rows = self._rows(
            f"""
            WITH h AS (
                SELECT feed_id,
                       arg_max({{'url': url, 'status': status, 'http_status': http_status,
                                 'consecutive_failures': consecutive_failures}}, fetched_at) AS latest,
                       max(fetched_at)::TIMESTAMP AS last_checked,
                       max(fetched_at) FILTER (WHERE NOT list_contains(?, status))::TIMESTAMP AS last_success,
                       arg_max(error, fetched_at) FILTER (WHERE error IS NOT NULL AND error <> '') AS last_error,
                       max(fetched_at) FILTER (WHERE error IS NOT NULL AND error <> '')::TIMESTAMP AS last_error_at
                FROM {health} GROUP BY feed_id),
            arts AS (
                SELECT feed_id, any_value(source) AS source, count(*) AS n,
                       count(*) FILTER (WHERE is_conflict) AS n_conflict
                FROM {art} GROUP BY feed_id)
            SELECT coalesce(h.feed_id, a.feed_id) AS feed_id, a.source,
                   h.latest.url AS url, h.latest.status AS status, h.latest.http_status AS http_status,
                   h.last_checked, h.last_success,
                   coalesce(h.latest.consecutive_failures, 0) AS consecutive_failures,
                   coalesce(a.n, 0) AS articles_today, coalesce(a.n_conflict, 0) AS conflict_today,
                   h.last_error, h.last_error_at
            FROM h FULL OUTER JOIN arts a ON a.feed_id = h.feed_id
            """,
            [failed_list],
        )
        self._older_successes(rows, day - timedelta(days=state_days), day - timedelta(days=history_days))
        names = {}
        known = {r["feed_id"] for r in rows}
        for feed in configured or ():
            if feed.name:
                names[feed.id] = feed.name
            if feed.id not in known and feed.enabled:
                known.add(feed.id)
                rows.append({"feed_id": feed.id, "url": feed.url, "status": None})
        in_region: set[str] | None = None
        if region:
            in_region = {
                r["feed_id"]
                for r in self._rows(
                    f"SELECT DISTINCT feed_id FROM {art} WHERE is_conflict AND list_contains(conflict_regions, ?)",
                    [region],
                )
            }
        out = []
        for r in rows:
            st = r.get("status") or NO_DATA
            row = FeedRow(
                feed_id=r["feed_id"],
                name=names.get(r["feed_id"]) or r.get("source") or r["feed_id"],
                url=r.get("url"),
                status=st,
                failed=st in FAILED_STATUSES,
                http_status=r.get("http_status"),
                last_checked=as_utc(r.get("last_checked")),
                last_success=as_utc(r.get("last_success")),
                consecutive_failures=int(r.get("consecutive_failures") or 0),
                articles_today=int(r.get("articles_today") or 0),
                conflict_articles_today=int(r.get("conflict_today") or 0),
                last_error=r.get("last_error"),
                last_error_at=as_utc(r.get("last_error_at")),
            )
            if not _status_matches(row, status):
                continue
            if in_region is not None and row.feed_id not in in_region:
                continue
            out.append(row)
        out.sort(key=lambda f: (not f.failed, f.status == NO_DATA, -f.consecutive_failures, f.name.lower()))
        return out

    def _older_successes(self, rows: list[dict[str, Any]], newest: date, oldest: date) -> None:
        """Fill ``last_success`` of long-failing feeds from older days, newest week first, in place."""
        missing = {r["feed_id"] for r in rows if r.get("last_checked") and not r.get("last_success")}
        end = newest
        while missing and end >= oldest:
            start = max(oldest, end - timedelta(days=6))
            view = self._view("feed_health", start, end)
            found = {
                r["feed_id"]: r["last_success"]
                for r in self._rows(
                    f"""SELECT feed_id, max(fetched_at)::TIMESTAMP AS last_success FROM {view}
                        WHERE list_contains(?, feed_id) AND NOT list_contains(?, status) GROUP BY feed_id""",
                    [sorted(missing), sorted(FAILED_STATUSES)],
                )
            }
            for r in rows:
                if r["feed_id"] in found:
                    r["last_success"] = found[r["feed_id"]]
            missing -= set(found)
            end = start - timedelta(days=1)

    def conflict_by_region(self, day: date, days: int = 14, region: str | None = None) -> RegionChart:
        """Distinct conflict-tagged stories per region for each of the ``days`` days ending ``day``."""
        first = day - timedelta(days=days - 1)
        art = self._view("snapshots", first, day)
        rows = self._rows(
            f"""SELECT day, region, count(DISTINCT story_id) AS n
                FROM (SELECT day, story_id, unnest(conflict_regions) AS region FROM {art} WHERE is_conflict)
                WHERE ? IS NULL OR region = ?
                GROUP BY day, region""",
            [region, region],
        )
        axis = [first + timedelta(days=i) for i in range(days)]
        index = {d: i for i, d in enumerate(axis)}
        series: dict[str, list[int]] = {}
        for r in rows:
            series.setdefault(r["region"], [0] * days)[index[r["day"]]] = int(r["n"])
        ordered = dict(sorted(series.items(), key=lambda kv: (-sum(kv[1]), kv[0])))
        return RegionChart(days=axis, series=ordered)

    def regions(self, day: date, days: int = 14) -> list[str]:
        """Regions tagged in the window, for the region filter (alphabetical)."""
        art = self._view("snapshots", day - timedelta(days=days - 1), day)
        rows = self._rows(
            f"SELECT DISTINCT unnest(conflict_regions) AS region FROM {art} WHERE is_conflict ORDER BY region"
        )
        return [r["region"] for r in rows]

    def conflict_stories(self, day: date, region: str | None = None, limit: int = 25) -> list[StoryRow]:
        """The day's conflict-tagged stories (canonical copy, copy count), newest first."""
        art = self._view("snapshots", day, day)
        rows = self._rows(
            f"""SELECT story_id,
                       arg_max(title, is_canonical) AS title,
                       arg_max(coalesce(nullif(link, ''), url), is_canonical) AS url,
                       arg_max(source, is_canonical) AS source,
                       min(first_seen_at)::TIMESTAMP AS first_seen_at,
                       arg_max(conflict_regions, is_canonical) AS regions,
                       arg_max(countries, is_canonical) AS countries, count(*) AS copies
                FROM {art} WHERE is_conflict
                GROUP BY story_id
                HAVING ? IS NULL OR list_contains(arg_max(conflict_regions, is_canonical), ?)
                ORDER BY first_seen_at DESC, story_id LIMIT ?""",
            [region, region, limit],
        )
        return [
            StoryRow(
                story_id=r["story_id"],
                title=r["title"],
                url=r["url"],
                source=r["source"],
                first_seen_at=as_utc(r["first_seen_at"]),
                regions=list(r["regions"] or []),
                countries=list(r["countries"] or []),
                copies=int(r["copies"]),
            )
            for r in rows
        ]


def _status_matches(row: FeedRow, wanted: str | None) -> bool:
    if not wanted:
        return True
    if wanted == FILTER_FAILED:
        return row.failed
    if wanted == FILTER_HEALTHY:
        return not row.failed and row.status != NO_DATA
    return row.status == wanted
