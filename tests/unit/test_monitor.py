"""Feed monitor queries (feedmon.monitor) on fixture Parquet written with the project's own schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from feedmon import storage
from feedmon.config import Settings
from feedmon.feeds import load_feeds
from feedmon.monitor import NO_DATA, FeedMonitor, to_jsonable
from feedmon.schema import ARTICLE_SCHEMA, FEED_HEALTH_SCHEMA
from feedmon.vocab import FAILED_STATUSES, FEED_STATUSES
from tests.fixtures.factories import MonitorWeek as fx

TODAY = date(2026, 11, 28)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("monitor-data")
    feeds_file = fx.write_fixture_data(root, TODAY, past_days=5)
    return root, feeds_file


@pytest.fixture
def mon(data: tuple[Path, Path]) -> Iterator[FeedMonitor]:
    with FeedMonitor(str(data[0])) as m:
        yield m


def test_day_figures_match_the_snapshot(mon: FeedMonitor) -> None:
    arts = fx.articles_for(TODAY, 0)
    fig = mon.day_figures(TODAY)
    assert fig.articles == len(arts) == 13
    assert fig.stories == len({a.story_id for a in arts}) == 12
    assert fig.duplicates_removed == 1  # the AP copy folded into the Reuters story
    assert fig.conflict_stories == len({a.story_id for a in arts if a.is_conflict})
    assert (fig.feeds, fig.feeds_failed, fig.feeds_ok) == (7, 3, 4)
    assert fig.runs == 2
    assert fig.last_run_at == datetime(2026, 11, 28, 7, 0, 11, tzinfo=UTC)
    assert fig.has_data


def test_feeds_table_status_streak_last_success_and_error(mon: FeedMonitor, data: tuple[Path, Path]) -> None:
    rows = {r.feed_id: r for r in mon.feeds(TODAY, configured=load_feeds(data[1]))}
    tass = rows["tass-en"]
    assert (tass.status, tass.failed, tass.http_status, tass.consecutive_failures) == ("http_error", True, 503, 3)
    assert tass.last_success == datetime(2026, 11, 27, 7, 0, 7, tzinfo=UTC)  # yesterday's last run
    assert tass.last_error == "HTTP 503 Service Unavailable"
    assert tass.name == "TASS English"  # display name from the feeds file
    afp = rows["afp-backoff"]
    assert afp.status == "backoff" and afp.failed and afp.consecutive_failures == 6
    assert afp.last_success.date() == TODAY - timedelta(days=3)
    reuters = rows["reuters-world"]
    assert (reuters.status, reuters.failed, reuters.articles_today) == ("ok", False, 6)
    assert reuters.last_success == reuters.last_checked
    assert rows["aljazeera"].failed is False  # not_modified is healthy
    assert rows["ap-top"].articles_today == 5
    # A feed without a configured name shows the name its articles carry, verbatim (escaping is the web layer's job).
    assert rows["evil-feed"].name == fx.HOSTILE_NAME
    assert rows["evil-feed"].last_error == fx.HOSTILE_ERROR
    # Configured but never fetched: listed, with no data, not counted as failed.
    assert rows["never-run"].status == NO_DATA and not rows["never-run"].failed


def test_feeds_are_sorted_failing_first(mon: FeedMonitor) -> None:
    rows = mon.feeds(TODAY)
    failed_flags = [r.failed for r in rows]
    assert failed_flags == sorted(failed_flags, reverse=True)
    assert rows[0].feed_id == "afp-backoff"  # longest streak first


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("failed", {"tass-en", "bbc-world", "afp-backoff"}),
        ("healthy", {"reuters-world", "ap-top", "aljazeera", "evil-feed"}),
        ("timeout", {"bbc-world"}),
        ("ok", {"reuters-world", "ap-top", "evil-feed"}),
        ("parse_error", set()),
    ],
)
def test_status_filter(mon: FeedMonitor, status: str, expected: set[str]) -> None:
    assert {r.feed_id for r in mon.feeds(TODAY, status=status)} == expected


def test_region_filter_keeps_feeds_with_stories_in_that_region(mon: FeedMonitor) -> None:
    # Today Gaza is tagged on a Reuters story and on the hostile feed's story; Sahel only on Reuters.
    assert {r.feed_id for r in mon.feeds(TODAY, region="Gaza")} == {"reuters-world", "evil-feed"}
    assert {r.feed_id for r in mon.feeds(TODAY, region="Gaza", status="failed")} == set()
    assert mon.feeds(TODAY, region="Atlantis") == []


def test_conflict_chart_counts_distinct_stories_per_region_and_day(mon: FeedMonitor) -> None:
    chart = mon.conflict_by_region(TODAY, days=14)
    assert len(chart.days) == 14 and chart.days[0] == TODAY - timedelta(days=13) and chart.days[-1] == TODAY
    # Compute the expectation straight from the fixture articles.
    for offset in range(6):
        day = TODAY - timedelta(days=offset)
        expected: dict[str, set[str]] = {}
        for a in fx.articles_for(day, offset):
            for region in a.conflict_regions:
                expected.setdefault(region, set()).add(a.story_id)
        got = {name: values[13 - offset] for name, values in chart.series.items() if values[13 - offset]}
        assert got == {k: len(v) for k, v in expected.items()}, day
    assert all(v[0] == 0 for v in chart.series.values())  # no data 13 days back
    assert chart.total == sum(chart.day_totals())
    gaza = mon.conflict_by_region(TODAY, days=14, region="Gaza")
    assert list(gaza.series) == ["Gaza"] and gaza.series["Gaza"] == chart.series["Gaza"]


def test_regions_and_stories(mon: FeedMonitor) -> None:
    assert mon.regions(TODAY) == sorted(fx.REGIONS)
    stories = mon.conflict_stories(TODAY)
    assert len(stories) == mon.day_figures(TODAY).conflict_stories
    syndicated = [s for s in stories if s.copies == 2]
    assert len(syndicated) == 1 and syndicated[0].source == "Reuters World"  # the canonical copy's source
    gaza = mon.conflict_stories(TODAY, region="Gaza")
    assert {s.title for s in gaza} >= {fx.HOSTILE_TITLE}
    assert all("Gaza" in s.regions for s in gaza)
    assert stories == sorted(stories, key=lambda s: s.first_seen_at, reverse=True)


def test_empty_day_and_empty_data_dir_are_empty_not_errors(tmp_path: Path, mon: FeedMonitor) -> None:
    future = TODAY + timedelta(days=1)
    fig = mon.day_figures(future)
    assert (fig.articles, fig.feeds, fig.runs, fig.has_data) == (0, 0, 0, False)
    # Feeds of the history window still show, with yesterday's state and zero articles "today".
    assert all(r.articles_today == 0 for r in mon.feeds(future))
    with FeedMonitor(str(tmp_path / "nothing-here")) as empty:
        assert empty.day_figures(TODAY).has_data is False
        assert empty.feeds(TODAY) == []
        assert empty.conflict_by_region(TODAY).total == 0
        assert empty.regions(TODAY) == []
        assert empty.conflict_stories(TODAY) == []


def test_only_requested_days_are_read(mon: FeedMonitor) -> None:
    files = mon.files("snapshots", TODAY - timedelta(days=1), TODAY)
    assert len(files) == 2 and all("date=2026-11-2" in f for f in files)
    assert mon.files("feed_health", TODAY, TODAY) == sorted(mon.files("feed_health", TODAY, TODAY))
    assert len(mon.files("feed_health", TODAY, TODAY)) == 2


def test_temp_files_of_an_unfinished_write_are_ignored(tmp_path: Path) -> None:
    fx.write_fixture_data(tmp_path, TODAY, past_days=0)
    settings = Settings.from_env(data_dir=str(tmp_path))
    partial = Path(settings.snapshot_path(TODAY)).with_name(".articles.parquet.tmp-123")
    partial.write_bytes(b"PAR1 half a file")
    with FeedMonitor(str(tmp_path)) as m:
        assert m.day_figures(TODAY).articles == 13


def test_reads_files_written_by_storage_with_the_contract_schema(tmp_path: Path) -> None:
    fx.write_fixture_data(tmp_path, TODAY, past_days=0)
    settings = Settings.from_env(data_dir=str(tmp_path))
    assert storage.read_parquet(settings.snapshot_path(TODAY)).schema.equals(ARTICLE_SCHEMA, check_metadata=False)
    health = storage.read_parquet(settings.feed_health_path(TODAY, "run0"))
    assert health.schema.equals(FEED_HEALTH_SCHEMA, check_metadata=False)


def test_feed_health_files_of_both_versions_are_read_together(tmp_path: Path) -> None:
    """Feed health v1 (before `recovered_by`) beside v2 files written since: one day, all rows."""
    fx.write_fixture_data(tmp_path, TODAY, past_days=0)
    settings = Settings.from_env(data_dir=str(tmp_path))
    v2 = storage.read_parquet(settings.feed_health_path(TODAY, "run0"))
    v1 = v2.drop_columns(["recovered_by"]).replace_schema_metadata(
        {"feedmon.table": "feed_health", "feedmon.schema_version": "1"}
    )
    storage.write_parquet_atomic(settings.feed_health_path(TODAY, "run0"), v1)
    storage.write_parquet_atomic(settings.feed_health_path(TODAY, "run1"), v2)
    with FeedMonitor(str(tmp_path)) as m:
        assert m.day_figures(TODAY).feeds == len({r["feed_id"] for r in v2.to_pylist()})
        assert len(m._rows(f"SELECT * FROM {m._view('feed_health', TODAY, TODAY)}")) == 2 * v2.num_rows


def test_statuses_come_from_the_shared_vocabulary() -> None:
    statuses, failed = FEED_STATUSES, FAILED_STATUSES
    assert "ok" in statuses and "not_modified" in statuses
    assert "ok" not in failed and "timeout" in failed and failed <= set(statuses)


def test_to_jsonable_serialises_rows(mon: FeedMonitor) -> None:
    out = to_jsonable(mon.feeds(TODAY, status="timeout"))
    assert out[0]["feed_id"] == "bbc-world"
    assert out[0]["last_checked"].startswith("2026-11-28T07:00:08")


def test_last_success_of_a_long_failing_feed_is_found_in_older_weeks(mon: FeedMonitor) -> None:
    # With a 2-day state window, AFP's last success (3 days ago) is only found by the older search.
    rows = {r.feed_id: r for r in mon.feeds(TODAY, state_days=2)}
    assert rows["afp-backoff"].last_success.date() == TODAY - timedelta(days=3)
    assert rows["afp-backoff"].status == "backoff"  # state still from the newest row
    assert rows["tass-en"].last_success.date() == TODAY - timedelta(days=1)
    # Beyond history_days there is no success to show.
    rows = {r.feed_id: r for r in mon.feeds(TODAY, state_days=2, history_days=2)}
    assert rows["afp-backoff"].last_success is None
