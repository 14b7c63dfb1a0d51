"""What dead runs leave behind is removed, what live runs use is kept; the test-only fault hook."""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from feedmon import pipeline
from feedmon.config import Settings
from feedmon.pipeline import RunContext

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
IDLE = timedelta(minutes=50)  # twice the default FEEDMON_RUN_TIMEOUT_MINUTES


def _file(path: Path, age: timedelta, data: bytes = b"x") -> Path:
    """A file written ``age`` before NOW (its new folders too: a folder's time is its last change)."""
    new_dirs = [p for p in path.parents if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = (NOW - age).timestamp()
    for item in (path, *new_dirs):
        os.utime(item, (stamp, stamp))
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(data_dir=str(tmp_path))


def test_dead_runs_leftovers_go_live_runs_files_stay(settings: Settings, tmp_path: Path) -> None:
    assert pipeline.leftover_idle(settings) == IDLE
    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    dead = _file(tmp_path / "work/date=2026-11-28/cli__dead/entries.parquet", hour).parent
    replay = _file(tmp_path / "work/date=2026-11-27/replay-0a1b/run/cleaned.parquet", hour).parents[1]
    live = tmp_path / "work/date=2026-11-28/scheduled__live"
    _file(live / "entries.parquet", hour)
    _file(live / "cleaned.parquet", minute)  # a live run wrote this a minute ago: the folder stays
    torn = _file(tmp_path / "snapshots/date=2026-11-28/.articles.parquet.tmp-0a1b", hour)
    fresh = _file(tmp_path / "snapshots/date=2026-11-28/.articles.parquet.tmp-2c3d", minute)
    state_tmp = _file(tmp_path / "state/fetch/outlet.json.x1y2.tmp", hour)
    snapshot = _file(tmp_path / "snapshots/date=2026-11-28/articles.parquet", hour)
    raw = _file(tmp_path / "raw/date=2026-11-28/cli__dead/outlet.body.gz", hour)  # raw is never touched here
    old_lock = _file(tmp_path / "state/locks/date=2026-11-01.lock", timedelta(days=27), b"")
    recent_lock = _file(tmp_path / "state/locks/date=2026-11-27.lock", hour, b"")

    removed = pipeline.clean_leftovers(settings, NOW)

    assert sorted(removed) == sorted(
        [str(dead), str(replay), str(replay.parent), str(torn), str(state_tmp), str(old_lock)]
    )
    for kept in (live, fresh, snapshot, raw, recent_lock):
        assert kept.exists(), kept
    assert pipeline.clean_leftovers(settings, NOW) == []


def test_a_held_lock_file_is_never_removed(settings: Settings, tmp_path: Path) -> None:
    lock = _file(tmp_path / "state/locks/date=2026-10-01.lock", timedelta(days=58), b"")
    with lock.open("rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        assert pipeline.clean_leftovers(settings, NOW) == []
    assert pipeline.clean_leftovers(settings, NOW) == [str(lock)]


def test_fault_hook_raises_at_its_point_and_names_replays(settings: Settings, monkeypatch) -> None:
    live = RunContext(settings, date(2026, 11, 28), "live")
    replay = RunContext(settings, date(2026, 11, 28), "dead", recovered_by="live")
    pipeline.checkpoint(live, "clean:before")  # no hook set: nothing happens
    monkeypatch.setenv("FEEDMON_TEST_FAIL_AT", "clean:before")
    pipeline.checkpoint(live, "dedup:before")
    pipeline.checkpoint(replay, "clean:before")  # a replay's point is replay:clean:before
    with pytest.raises(pipeline.InjectedFault, match="at clean:before"):
        pipeline.checkpoint(live, "clean:before")
    monkeypatch.setenv("FEEDMON_TEST_FAIL_AT", "replay:clean:before")
    pipeline.checkpoint(live, "clean:before")
    with pytest.raises(pipeline.InjectedFault, match="at replay:clean:before"):
        pipeline.checkpoint(replay, "clean:before")
