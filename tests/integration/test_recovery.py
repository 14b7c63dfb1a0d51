"""Runs that never published are replayed by the next run, once: nothing lost, nothing doubled.

In-process against real HTTP (outlets of AG items that answer 304 to their validators) and real
files; the SIGKILL tests are in ``test_crash_kill.py``. "Unpublished" here is a run that fetched,
parsed, cleaned, deduplicated and tagged, and then died before publish.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from feedmon import pipeline, storage
from feedmon.config import Settings
from feedmon.pipeline import RunContext
from tests.fixtures.ag_feeds import AgFeeds, item_guid
from tests.integration.conftest import AG_OUTLETS

DAY = date(2026, 11, 28)
OUTLETS = AG_OUTLETS


def _unpublished(settings: Settings, run_id: str) -> tuple[RunContext, str]:
    """A run that did everything but publish (its process died there); returns it and its tagged file."""
    ctx = RunContext(settings, DAY, run_id)
    for batch, ids in enumerate(pipeline.plan(ctx)):
        pipeline.fetch(ctx, ids, batch)
    cleaned = pipeline.clean(ctx, pipeline.parse(ctx)["path"])
    return ctx, pipeline.tag(ctx, pipeline.dedup(ctx, cleaned["path"])["path"])["path"]


def _snapshot(settings: Settings) -> pd.DataFrame:
    return pd.read_parquet(settings.snapshot_path(DAY)).sort_values("article_id").reset_index(drop=True)


def _state_files(settings: Settings) -> dict[str, bytes]:
    """Every fetch-state document and learned-statistics file, by name."""
    root = Path(settings.state_dir)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("*/*.json"))}


def _guids(df: pd.DataFrame) -> set[str]:
    return set(df["guid"])


def _uninterrupted(feeds: AgFeeds, data: Path, *windows: range) -> tuple[set[str], list[int]]:
    """The guids an uninterrupted sequence of runs (one per window the feeds list) publishes, in
    another data dir, and each run's new articles; the feeds list ``windows[0]`` again after."""
    reference = Settings.from_env(data_dir=str(data))
    new = []
    for n, window in enumerate(windows):
        feeds.show = window
        new.append(pipeline.run_cycle(reference, DAY, f"reference-{n}")["new_articles"])
    feeds.show = windows[0]
    return _guids(pd.read_parquet(reference.snapshot_path(DAY))), new


def test_a_dead_runs_items_reach_their_day_though_the_feeds_rolled_them_off(feeds, settings, caplog, tmp_path):
    expected, (first, second) = _uninterrupted(feeds, tmp_path / "reference", range(30), range(30, 60))
    _unpublished(settings, "killed")
    # nothing was learned from a run that never published: no validators, no boilerplate counts
    assert not list(Path(settings.state_dir).glob("fetch/*.json"))
    assert not list(Path(settings.state_dir).glob("boilerplate/*.json"))
    assert not Path(settings.snapshot_path(DAY)).exists()

    feeds.show = range(30, 60)  # the feeds moved on: the killed run's items are gone from them
    with caplog.at_level(logging.WARNING, logger="feedmon.pipeline"):
        summary = pipeline.run_cycle(settings, DAY, "next")

    df = _snapshot(settings)
    assert _guids(df) == expected
    assert {item_guid(n, i) for n in range(OUTLETS) for i in (0, 29, 30, 59)} <= expected
    assert df["article_id"].is_unique
    [recovered] = summary["recovered_runs"]
    assert recovered == {"run_id": "killed", "date": "2026-11-28", "feeds": OUTLETS, "new_articles": first}
    assert summary["new_articles"] == second and summary["articles"] == len(expected) == first + second > 200
    assert f"recovered run killed of 2026-11-28, which never published: {first} new articles" in caplog.text
    health = pd.read_parquet(Path(settings.data_dir) / "feed_health" / "date=2026-11-28")
    by_run = health.groupby("run_id")["recovered_by"].agg(lambda s: set(s.fillna("-")))
    assert by_run.to_dict() == {"killed": {"next"}, "next": {"-"}}
    assert set(health[health["run_id"] == "killed"]["status"]) == {"ok"}
    # the state moved with the published day: the validators of what the feeds list now
    for n in range(OUTLETS):
        doc = json.loads((Path(settings.state_dir) / "fetch" / f"outlet-{n}.json").read_text())
        assert (doc["etag"], doc["last_run_id"]) == (feeds.etag(n), "next")
    learned = json.loads((Path(settings.state_dir) / "boilerplate" / "2026-11-28.json").read_text())
    assert sum(src["articles"] for src in learned["sources"].values()) == 240, "both runs' items, once each"


def test_replaying_a_run_twice_doubles_nothing(feeds, settings):
    _unpublished(settings, "killed")
    first = pipeline.recover(RunContext(settings, DAY, "replay-1"))
    assert [r["new_articles"] for r in first] == [len(_snapshot(settings))] and len(_snapshot(settings)) > 100
    snapshot, state = _snapshot(settings), _state_files(settings)
    health = Path(settings.feed_health_path(DAY, "killed"))
    rows = pd.read_parquet(health)

    # the run replaying it died after storing everything but the markers: replayed again
    for marker in Path(settings.data_dir).glob("raw/date=*/killed/published-*.json"):
        marker.unlink()
    second = pipeline.recover(RunContext(settings, DAY, "replay-2"))
    assert [(r["run_id"], r["new_articles"]) for r in second] == [("killed", 0)]
    pd.testing.assert_frame_equal(_snapshot(settings), snapshot)
    assert _state_files(settings) == state, "fetch state and learned statistics are recorded once"
    # feed health keeps the figures of the publish that added the articles
    pd.testing.assert_frame_equal(pd.read_parquet(health), rows)
    assert set(rows["recovered_by"]) == {"replay-1"} and rows["new_articles"].sum() == len(snapshot)

    assert pipeline.recover(RunContext(settings, DAY, "replay-3")) == [], "marked published: nothing to do"


def test_a_replay_racing_the_run_itself_doubles_nothing(feeds, settings):
    """The run was only slow (a DAG run waiting for a retry) and publishes after another run replayed it."""
    killed, tagged = _unpublished(settings, "slow")
    assert [r["run_id"] for r in pipeline.recover(RunContext(settings, DAY, "other"))] == ["slow"]
    snapshot, state = _snapshot(settings), _state_files(settings)
    summary = pipeline.publish(killed, tagged)
    assert summary["new_articles"] == 0 and summary["articles"] == len(snapshot) > 100
    pd.testing.assert_frame_equal(_snapshot(settings), snapshot)
    assert _state_files(settings) == state
    assert not Path(killed.work_dir).exists()
    health = pd.read_parquet(settings.feed_health_path(DAY, "slow"))
    assert set(health["recovered_by"]) == {"other"} and health["new_articles"].sum() == len(snapshot)


def test_a_failed_stage_loses_nothing(feeds, settings, monkeypatch, tmp_path):
    """A fault after parse (before the fix, parse had stored the validators by then): the next run,
    whose feeds answer 304, publishes every article of the failed run."""
    expected, [new] = _uninterrupted(feeds, tmp_path / "reference", range(30))
    monkeypatch.setenv("FEEDMON_TEST_FAIL_AT", "dedup:before")
    with pytest.raises(pipeline.InjectedFault, match="dedup:before"):
        pipeline.run_cycle(settings, DAY, "failed")
    monkeypatch.delenv("FEEDMON_TEST_FAIL_AT")
    feeds.answers.clear()
    summary = pipeline.run_cycle(settings, DAY, "next")
    # the validators the failed run was handed, stored once its articles were published by the replay
    assert sorted(feeds.answers) == [(n, 304) for n in range(OUTLETS)]
    assert _guids(_snapshot(settings)) == expected
    assert [(r["run_id"], r["new_articles"]) for r in summary["recovered_runs"]] == [("failed", new)]


def test_an_unpublished_run_outside_the_window_is_left_alone(feeds, settings, monkeypatch):
    monkeypatch.setenv("FEEDMON_LOOKBACK_DAYS", "2")
    _unpublished(settings, "old")
    later = Settings.from_env()
    assert pipeline.recover(RunContext(later, date(2026, 12, 1), "late")) == []
    assert [r["run_id"] for r in pipeline.recover(RunContext(later, date(2026, 11, 30), "in-time"))] == ["old"]


def test_a_sigkilled_lock_holder_never_blocks_the_day(feeds, settings):
    lock = pipeline._day_lock_path(settings, DAY)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            "from feedmon import storage\n"
            f"with storage.exclusive_lock({lock!r}):\n"
            "    print('locked', flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    assert holder.wait(timeout=30) == -9
    done = threading.Event()

    def publish_the_day() -> None:
        pipeline.run_cycle(settings, DAY, "after-the-kill")
        done.set()

    worker = threading.Thread(target=publish_the_day, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert done.is_set(), "the day's lock of a killed process blocked publishing"
    assert storage.exists(settings.snapshot_path(DAY))


def test_reprocess_publishes_an_unpublished_run_and_records_it_once(feeds, settings):
    pipeline.run_cycle(settings, DAY, "published")
    feeds.show = range(30, 60)
    _unpublished(settings, "killed")
    summary = pipeline.reprocess_day(settings, DAY)
    assert summary["articles"] == len(_snapshot(settings)) > 200
    assert {item_guid(n, 59) for n in range(OUTLETS)} <= _guids(_snapshot(settings))
    assert pipeline.recover(RunContext(settings, DAY, "after")) == [], "reprocess marked it published"
    state = _state_files(settings)
    again = pipeline.reprocess_day(settings, DAY)
    assert again["articles"] == summary["articles"] and _state_files(settings) == state
    assert not list(Path(settings.data_dir).glob("work/date=*/reprocess-*")), "its scratch folder is gone"


def test_a_replay_that_fails_is_reported_and_the_run_goes_on(feeds, settings, capsys):
    from feedmon.demo import format_summary

    _unpublished(settings, "broken")
    [manifest] = Path(settings.data_dir).glob("raw/date=*/broken/manifest-*.json")
    manifest.write_text('{"version": 2, "run_id": "broken", "results": [')  # damaged by hand or a tool
    summary = pipeline.run_cycle(settings, DAY, "next")
    [entry] = summary["recovered_runs"]
    assert entry["run_id"] == "broken" and entry["error"].startswith("JSONDecodeError")
    assert summary["articles"] > 100, "today's run published its own articles"
    assert "replay failed (JSONDecodeError" in format_summary(summary)
    assert [r["run_id"] for r in pipeline.recover(RunContext(settings, DAY, "later"))] == ["broken"]
