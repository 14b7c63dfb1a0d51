"""Nothing new, nothing rewritten; tag only what is new (issue 12).

In-process against real HTTP (outlets of AG items with working validators, ``tests/fixtures/ag_feeds.py``)
and real files. A cycle that adds no article to the day leaves the snapshot file as it was, byte for
byte and untouched (mtime), while the fetch state, feed health and published markers move on as
usual; a cycle with new items tags only those when the published rows carry the current tagger's
fingerprint, and every row when they do not; either way the tags are what tagging every row gives.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from feedmon import pipeline
from feedmon.config import Settings
from feedmon.pipeline import TAGGED_BY, RunContext
from feedmon.tag import ConflictTagger
from tests.fixtures.ag_feeds import AgFeeds
from tests.fixtures.factories import SpyTagger
from tests.integration.conftest import AG_OUTLETS

DAY = date(2026, 11, 28)
OUTLETS = AG_OUTLETS


def _cycle(settings: Settings, run_id: str, tagger: ConflictTagger | None = None) -> dict[str, Any]:
    """One run through the stage functions (what ``run_cycle`` does), with ``tagger`` for the tag stage."""
    ctx = RunContext(settings, DAY, run_id)
    for batch, ids in enumerate(pipeline.plan(ctx)):
        pipeline.fetch(ctx, ids, batch)
    cleaned = pipeline.clean(ctx, pipeline.parse(ctx)["path"])
    deduped = pipeline.dedup(ctx, cleaned["path"])
    tagged = pipeline.tag(ctx, deduped["path"], tagger=tagger)
    return pipeline.publish(ctx, tagged["path"]) | {"deduped": deduped, "tagged": tagged}


def _stat(path: str) -> tuple[bytes, int, int]:
    p = Path(path)
    return p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino


def _state(settings: Settings, feed: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((Path(settings.state_dir) / "fetch" / f"{feed}.json").read_text())
    return doc


def _assert_tags_are_a_full_tagging(path: str) -> None:
    """Every row's tags are what tagging it afresh gives."""
    tagger = ConflictTagger.load()
    rows = pq.read_table(path).to_pylist()
    assert rows
    for row in rows:
        res = tagger.tag(row["title"], row["text"], row["dateline"], row["language"])
        got = (row["is_conflict"], row["conflict_regions"], row["countries"], row["conflict_evidence"])
        want = (res.is_conflict, res.conflict_regions, res.countries, res.conflict_evidence)
        assert got == want, row["article_id"]
        assert row["conflict_score"] == pytest.approx(res.conflict_score, abs=1e-6)


def test_a_304_only_cycle_leaves_the_snapshot_file_alone(feeds: AgFeeds, settings: Settings):
    first = pipeline.run_cycle(settings, DAY, "run-1")
    snapshot = settings.snapshot_path(DAY)
    before = _stat(snapshot)
    assert first["new_articles"] == first["articles"] > 100

    feeds.answers.clear()
    second = pipeline.run_cycle(settings, DAY, "run-2")
    assert sorted(feeds.answers) == [(n, 304) for n in range(OUTLETS)]
    assert _stat(snapshot) == before, "not rewritten: same bytes, same mtime, same file"
    # ... while everything else moved forward, in the usual order
    for n in range(OUTLETS):
        assert _state(settings, f"outlet-{n}")["last_run_id"] == "run-2"
    health = pq.read_table(settings.feed_health_path(DAY, "run-2")).to_pylist()
    assert {(r["status"], r["new_articles"]) for r in health} == {("not_modified", 0)} and len(health) == OUTLETS
    run = RunContext(settings, DAY, "run-2")
    assert list(Path(run.raw_dir).glob("published-*.json"))
    assert not Path(run.work_dir).exists()
    assert second["new_articles"] == 0
    for key in ("articles", "stories", "copies_folded", "conflict_stories", "conflict_stories_by_region"):
        assert second[key] == first[key], key


def test_a_cycle_of_exact_copies_only_leaves_the_snapshot_file_alone(feeds: AgFeeds, settings: Settings):
    pipeline.run_cycle(settings, DAY, "run-1")
    before = _stat(settings.snapshot_path(DAY))
    shutil.rmtree(Path(settings.state_dir) / "fetch")  # no validators: every feed answers 200 again
    feeds.answers.clear()
    summary = pipeline.run_cycle(settings, DAY, "run-2")
    assert {status for _, status in feeds.answers} == {200}
    assert summary["new_articles"] == 0 and summary["exact_duplicates"] == OUTLETS * 30  # every item served
    assert _stat(settings.snapshot_path(DAY)) == before
    assert _state(settings, "outlet-0")["last_run_id"] == "run-2"


def test_a_later_cycle_with_new_items_tags_only_them(feeds: AgFeeds, settings: Settings):
    pipeline.run_cycle(settings, DAY, "run-1")
    pipeline.run_cycle(settings, DAY, "run-2")  # all 304
    published = pq.read_table(settings.snapshot_path(DAY))
    assert published.schema.metadata[TAGGED_BY].decode() == ConflictTagger.load().fingerprint

    feeds.show = range(20, 45)  # 15 new items per outlet, 10 still listed, 20 rolled off
    spy = SpyTagger()
    summary = _cycle(settings, "run-3", spy)
    new = summary["deduped"]["new_articles"]
    assert new == summary["new_articles"] > 0
    assert spy.calls == summary["tagged"]["tagged"] == new, "only the new rows were tagged"
    table = pq.read_table(settings.snapshot_path(DAY))
    assert table.num_rows == published.num_rows + new == summary["articles"]
    assert set(published["article_id"].to_pylist()) <= set(table["article_id"].to_pylist())
    # the published rows kept their tags, the new ones got theirs: as if every row had been tagged
    _assert_tags_are_a_full_tagging(settings.snapshot_path(DAY))
    # and the file is sorted as before (first seen, then id)
    keys = list(zip(table["first_seen_at"].to_pylist(), table["article_id"].to_pylist(), strict=True))
    assert keys == sorted(keys)


@pytest.mark.parametrize("new_items", [False, True], ids=["nothing-new", "new-items"])
def test_a_snapshot_tagged_by_another_tagger_is_tagged_again_whole(feeds: AgFeeds, settings: Settings, new_items: bool):
    pipeline.run_cycle(settings, DAY, "run-1")
    snapshot = settings.snapshot_path(DAY)
    published = pq.read_table(snapshot)
    # as if an earlier gazetteer, model or tagging code had tagged the day
    stale = published.replace_schema_metadata(published.schema.metadata | {TAGGED_BY: b"an-older-tagger"})
    pq.write_table(stale, snapshot)
    if new_items:
        feeds.show = range(25, 35)
    spy = SpyTagger()
    summary = _cycle(settings, "run-2", spy)
    assert (summary["new_articles"] > 0) is new_items
    table = pq.read_table(snapshot)
    assert spy.calls == table.num_rows == summary["articles"], "every row tagged again"
    assert table.schema.metadata[TAGGED_BY].decode() == spy.fingerprint
    _assert_tags_are_a_full_tagging(snapshot)

    # tagged by this tagger now: the next cycle with nothing new tags nothing and writes nothing
    before = _stat(snapshot)
    again = SpyTagger()
    _cycle(settings, "run-3", again)
    assert again.calls == 0
    assert _stat(snapshot) == before


def test_a_changed_fingerprint_is_a_changed_tagger(feeds: AgFeeds, settings: Settings):
    """The fingerprint, not the gazetteer's version, decides: a tagger with the same version but
    another fingerprint (a retrained model, an edited language file) tags the whole day again."""
    pipeline.run_cycle(settings, DAY, "run-1")
    rows = pq.read_table(settings.snapshot_path(DAY)).num_rows
    other = SpyTagger(fingerprint="retrained-model")
    assert other.version == ConflictTagger.load().version
    _cycle(settings, "run-2", other)
    assert other.calls == rows
    assert pq.read_schema(settings.snapshot_path(DAY)).metadata[TAGGED_BY] == b"retrained-model"
