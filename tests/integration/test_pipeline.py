"""The whole cycle in-process (what `feedmon run` does) against the sample feeds served over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from feedmon import pipeline
from feedmon.config import Settings
from feedmon.pipeline import RunContext

DAY = date(2026, 11, 28)
SEED_PHRASE = "brought together the leaders of Armenia and Azerbaijan"


@pytest.fixture
def settings(sample_feeds: Path, data_dir: Path) -> Settings:
    return Settings.from_env()


def _snapshot(settings: Settings) -> pd.DataFrame:
    return pd.read_parquet(settings.snapshot_path(DAY))


def test_cycle_writes_snapshot_and_feed_health(settings: Settings):
    summary = pipeline.run_cycle(settings, DAY, "run-1")
    assert summary["feeds"] == 4
    assert summary["failed_feeds"] == ["gone-feed"]
    df = _snapshot(settings)
    assert len(df) == summary["articles"] > 30
    assert df["article_id"].is_unique
    health = pd.read_parquet(Path(settings.data_dir) / "feed_health")
    by_feed = health.set_index("feed_id")
    assert by_feed.loc["gone-feed", "status"] == "http_error"
    assert by_feed.loc["gone-feed", "http_status"] == 404
    assert (by_feed.drop("gone-feed")["status"] == "ok").all()
    assert by_feed["new_articles"].sum() == len(df)


def test_seed_story_is_one_clean_tagged_story(settings: Settings):
    pipeline.run_cycle(settings, DAY, "run-1")
    df = _snapshot(settings)
    copies = df[df["text"].str.contains(SEED_PHRASE)]
    assert sorted(copies["feed_id"]) == ["kapitoshka-world", "worlddesk"]
    assert copies["story_id"].nunique() == 1
    assert copies["is_canonical"].sum() == 1
    # The clean copy crediting Reuters, published first, is the story's canonical, not the scraped one.
    assert copies.set_index("feed_id").loc["worlddesk", "is_canonical"]
    scraped = copies[copies["feed_id"] == "kapitoshka-world"].iloc[0]
    text = scraped["text"]
    assert scraped["dateline"] == "MOSCOW"
    assert not text.startswith("MOSCOW")
    assert not text.startswith(scraped["title"]) and scraped["title"] not in text
    assert text.count(SEED_PHRASE) == 1
    for junk in (
        "Disclaimer",
        "Read all the Latest News",
        "What's your reaction?",
        "Write the first comment",
        "0 comment",
        "user-avatar",
        "https://",
    ):
        assert junk not in text, junk
    assert scraped["url"] == "https://kapitoshka.info/world/putin-hosts-talks-azerbaijan-armenia.html"
    assert scraped["link"].startswith("https://www.kapitoshka.info/world/putin-hosts-talks-azerbaijan-armenia.html?")
    for _, row in copies.iterrows():
        assert row["is_conflict"]
        assert "Nagorno-Karabakh" in list(row["conflict_regions"])
        assert "AZ" in list(row["countries"])


def test_snapshot_metadata_names_schema_and_gazetteer_versions(settings: Settings):
    import pyarrow.parquet as pq

    from feedmon.tag import ConflictTagger

    pipeline.run_cycle(settings, DAY, "run-1")
    meta = pq.read_schema(settings.snapshot_path(DAY)).metadata
    assert meta[b"feedmon.schema_version"] == b"2"
    assert meta[b"feedmon.gazetteer_version"].decode() == ConflictTagger.load().version


def test_rerun_same_day_never_doubles(settings: Settings):
    import shutil

    pipeline.run_cycle(settings, DAY, "run-1")
    first = _snapshot(settings)
    # Forget the HTTP validators so the rerun really fetches, parses and deduplicates every item again.
    shutil.rmtree(Path(settings.state_dir) / "fetch")
    summary = pipeline.run_cycle(settings, DAY, "run-2")
    assert summary["exact_duplicates"] == len(first)
    assert summary["new_articles"] == 0
    second = _snapshot(settings)
    assert len(second) == len(first)
    pd.testing.assert_frame_equal(
        first.drop(columns=["first_run_id"]).reset_index(drop=True),
        second.drop(columns=["first_run_id"]).reset_index(drop=True),
    )
    assert set(second["first_run_id"]) == {"run-1"}


def test_duckdb_and_pandas_read_the_hive_layout(settings: Settings):
    pipeline.run_cycle(settings, DAY, "run-1")
    root = settings.data_dir
    n, day = duckdb.sql(
        f"select count(*), any_value(date) from read_parquet('{root}/snapshots/**/*.parquet', hive_partitioning=true)"
    ).fetchall()[0]
    assert n == len(pd.read_parquet(f"{root}/snapshots"))
    assert str(day) == "2026-11-28"
    regions = duckdb.sql(
        f"select r, count(distinct story_id) from read_parquet('{root}/snapshots/**/*.parquet') , "
        "unnest(conflict_regions) as t(r) group by r"
    ).fetchall()
    assert ("Nagorno-Karabakh", 1) in regions


def test_reprocess_from_archive_equals_original(settings: Settings, sample_server):
    pipeline.run_cycle(settings, DAY, "run-1")
    original = _snapshot(settings)
    summary = pipeline.reprocess_day(settings, DAY)
    rebuilt = _snapshot(settings)
    pd.testing.assert_frame_equal(original, rebuilt)
    assert summary["articles"] == len(original)


def test_a_failed_reprocess_leaves_the_published_snapshot_alone(settings: Settings):
    import gzip

    pipeline.run_cycle(settings, DAY, "run-1")
    before = Path(settings.snapshot_path(DAY)).read_bytes()
    body = next((Path(settings.data_dir) / "raw").rglob("worlddesk.body.gz"))
    body.write_bytes(gzip.compress(b"<rss>tampered</rss>"))
    with pytest.raises(ValueError, match="archive is corrupt"):
        pipeline.reprocess_day(settings, DAY)
    assert Path(settings.snapshot_path(DAY)).read_bytes() == before
    assert not list((Path(settings.data_dir) / "work").rglob("reprocess-*"))


def test_a_run_failing_most_feeds_fails_loudly(settings: Settings):
    summary = {"feeds": 4, "feeds_failed": 3, "failed_feeds": ["a", "b", "c"]}
    with pytest.raises(pipeline.FeedsFailedError, match=r"3 of 4 feeds failed.*a, b, c"):
        pipeline.check_feed_health(summary, 0.5)
    pipeline.check_feed_health({"feeds": 4, "feeds_failed": 1, "failed_feeds": ["a"]}, 0.5)


def test_first_seen_at_and_published_at_are_utc(settings: Settings):
    before = datetime.now(UTC)
    pipeline.run_cycle(settings, DAY, "run-1")
    df = _snapshot(settings)
    assert str(df["first_seen_at"].dt.tz) == "UTC"
    assert (df["first_seen_at"] >= pd.Timestamp(before).floor("s")).all()
    assert df["published_at"].notna().all()


def test_run_context_paths(settings: Settings):
    ctx = RunContext(settings, DAY, "scheduled__2026-11-28T00:00:00+00:00")
    assert ctx.raw_dir.endswith("raw/date=2026-11-28/scheduled__2026-11-28T00_00_00_00_00")


def test_prune_keeps_snapshots_and_recent_archives(settings: Settings):
    from datetime import timedelta

    for back in (0, 3, 40):
        pipeline.run_cycle(settings, DAY - timedelta(days=back), f"run-{back}")
    root = Path(settings.data_dir)
    removed = pipeline.prune(settings, DAY, raw_days=30)
    assert [p for p in removed if "/raw/" in p] == [str(root / "raw" / "date=2026-10-19")]
    assert sorted(p.name for p in (root / "raw").iterdir()) == ["date=2026-11-25", "date=2026-11-28"]
    assert len(list((root / "snapshots").iterdir())) == 3
    assert pipeline.prune(settings, DAY, raw_days=30) == []


def test_a_feed_that_keeps_serving_garbage_keeps_failing(settings: Settings, tmp_path: Path, monkeypatch):
    """Regression: the body of a broken feed must not be remembered as good (it would come back
    as not_modified and look healthy from the second run on)."""
    from feedmon.demo import serve_directory

    site = tmp_path / "site"
    site.mkdir()
    (site / "garbage.xml").write_text("<notafeed><p>we moved</p></notafeed>")
    (site / "noitems.xml").write_text("<rss version='2.0'><channel><title>t</title></channel></rss>")
    monkeypatch.setenv("FEEDMON_FETCH_BACKOFF_BASE", "0")  # poll again at once, so each run really fetches
    with serve_directory(site) as base:
        feeds = tmp_path / "garbage.yaml"
        feeds.write_text(
            f"feeds:\n  - {{id: garbage, url: '{base}/garbage.xml'}}\n  - {{id: noitems, url: '{base}/noitems.xml'}}\n"
        )
        s = Settings.from_env(feeds_file=str(feeds))
        for n in (1, 2, 3):
            summary = pipeline.run_cycle(s, DAY, f"g-{n}")
            assert summary["failed_feeds"] == ["garbage", "noitems"], n
            health = pd.read_parquet(s.feed_health_path(DAY, f"g-{n}")).set_index("feed_id")
            assert health.loc["garbage", "status"] == "parse_error"
            assert health.loc["noitems", "status"] == "empty"
            assert list(health["consecutive_failures"]) == [n, n]


def test_script_links_from_a_feed_never_reach_the_snapshot(settings: Settings, tmp_path: Path):
    from feedmon.demo import serve_directory

    site = tmp_path / "site"
    site.mkdir()
    (site / "evil.xml").write_text(
        "<rss version='2.0'><channel><title>e</title>"
        "<item><title>Shelling in Donetsk</title><link>javascript:alert(1)</link><guid>e-1</guid>"
        "<description>Artillery shelling hit Donetsk overnight, officials said.</description></item>"
        "</channel></rss>"
    )
    with serve_directory(site) as base:
        feeds = tmp_path / "evil.yaml"
        feeds.write_text(f"feeds:\n  - {{id: evil, url: '{base}/evil.xml'}}\n")
        s = Settings.from_env(feeds_file=str(feeds))
        pipeline.run_cycle(s, DAY, "evil-1")
    df = pd.read_parquet(s.snapshot_path(DAY))
    assert list(df["title"]) == ["Shelling in Donetsk"]
    assert list(df["url"]) == [""] and list(df["link"]) == [""]


def test_a_run_publishing_after_another_builds_on_its_snapshot(settings: Settings, sample_server, tmp_path: Path):
    """Two runs of one day overlapping (a CLI run beside the DAG): the later publish keeps the earlier one's rows."""
    wire = tmp_path / "wire.yaml"
    wire.write_text(f"feeds:\n  - {{id: demo-wire-world, url: '{sample_server}/wire_world.xml'}}\n")
    desk = tmp_path / "desk.yaml"
    desk.write_text(f"feeds:\n  - {{id: worlddesk, url: '{sample_server}/worlddesk.atom'}}\n")
    slow = RunContext(Settings.from_env(feeds_file=str(wire)), DAY, "slow")
    for batch, ids in enumerate(pipeline.plan(slow)):
        pipeline.fetch(slow, ids, batch)
    cleaned = pipeline.clean(slow, pipeline.parse(slow)["path"])
    tagged = pipeline.tag(slow, pipeline.dedup(slow, cleaned["path"])["path"])
    # publishes first; it also finds the slow run's archive unpublished and replays it (a replay
    # racing the run itself, which then publishes on top of it)
    fast = pipeline.run_cycle(Settings.from_env(feeds_file=str(desk)), DAY, "fast")
    assert [r["run_id"] for r in fast["recovered_runs"]] == ["slow"]
    summary = pipeline.publish(slow, tagged["path"])
    df = _snapshot(settings)
    assert set(df["feed_id"]) == {"demo-wire-world", "worlddesk"}
    assert len(df) == summary["articles"] == fast["articles"]
    assert summary["new_articles"] == 0, "the replay published the slow run's articles already"
    assert df["article_id"].is_unique


_MIXED_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Mixed</title><link>http://example.org/</link><language>en-GB</language>
<item><title>Troops pull back from the border after talks</title><link>http://example.org/a</link><guid>a</guid>
<description>The army said on Monday that two brigades had left the area after the talks ended.</description></item>
<item><title>Lanao del Sur Gov. Adiong, umapela na itigil muna ang Balik Probinsya</title><link>http://example.org/b</link>
<guid>b</guid><description>Umapela si Lanao del Sur Governor Mamintal Adiong Jr. sa gobyerno na itigil muna ang Balik
Probinsya program matapos tumaas ang bilang ng kaso sa kanyang probinsiya.</description></item>
</channel></rss>"""
_UNDECLARED_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Lenta</title><link>http://example.org/</link>
<item><title>Российские войска нанесли удар по Харькову</title><link>http://example.org/c</link><guid>c</guid>
<description>В результате обстрела погибли три человека, ещё пятеро ранены,
сообщили местные власти.</description></item>
</channel></rss>"""


def test_language_is_iso_639_1_detected_and_drives_the_tags(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``en-GB`` becomes ``en``; a Tagalog item in that feed is ``tl``; a feed declaring nothing gets
    its language from the words, and the Russian vocabulary then tags the front-line report."""
    from feedmon.demo import serve_directory

    site = tmp_path / "site"
    site.mkdir()
    (site / "mixed.xml").write_text(_MIXED_FEED, encoding="utf-8")
    (site / "undeclared.xml").write_text(_UNDECLARED_FEED, encoding="utf-8")
    with serve_directory(site) as base:
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(
            f"feeds:\n  - id: mixed\n    url: {base}/mixed.xml\n  - id: undeclared\n    url: {base}/undeclared.xml\n",
            encoding="utf-8",
        )
        monkeypatch.setenv("FEEDMON_FEEDS", str(feeds))
        pipeline.run_cycle(Settings.from_env(), DAY, "run-1")
    snap = pd.read_parquet(Settings.from_env().snapshot_path(DAY)).set_index("guid")
    assert snap.loc["a", "language"] == "en"
    assert snap.loc["b", "language"] == "tl"
    assert snap.loc["c", "language"] == "ru"
    assert bool(snap.loc["c", "is_conflict"]) and list(snap.loc["c", "countries"]) == ["UA"]
    assert "term:обстрела" in list(snap.loc["c", "conflict_evidence"])


def test_every_tagger_language_is_detected_and_tagged_through_feedmon_run(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """One real (or, for ar and tr, written) conflict item per language, each in a feed declaring
    it: the snapshot gives each its language, the conflict flag, the gold countries and evidence."""
    from feedmon.demo import serve_directory
    from tests.fixtures.factories import assert_multilingual_snapshot, write_multilingual_feeds

    site, feeds = tmp_path / "site", tmp_path / "feeds.yaml"
    site.mkdir()
    with serve_directory(site) as base:
        items = write_multilingual_feeds(site, base, feeds)
        monkeypatch.setenv("FEEDMON_FEEDS", str(feeds))
        pipeline.run_cycle(Settings.from_env(), DAY, "run-1")
    assert_multilingual_snapshot(Settings.from_env().snapshot_path(DAY), items)
