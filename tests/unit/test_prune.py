"""Pruning the data dir: raw archives past the retention and leftovers of dead runs go; the
product (snapshots, feed health, reports, state) never does. ``dry_run`` lists without removing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from feedmon import pipeline
from feedmon.config import Settings
from tests.fixtures.factories import PRODUCT_AREAS, seed_prunable

TODAY = date(2026, 11, 28)


@pytest.fixture
def seeded(data_dir: Path) -> tuple[Settings, dict[str, list[Path]]]:
    return Settings.from_env(), seed_prunable(data_dir, TODAY, [0, 1, 2, 3, 30, 31, 45])


def _days(paths: list[str]) -> set[int]:
    return {(TODAY - date.fromisoformat(p.rsplit("date=", 1)[1].split("/")[0])).days for p in paths}


def test_dry_run_lists_and_removes_nothing(seeded):
    settings, made = seeded
    listed = pipeline.prune(settings, TODAY, 30, dry_run=True)
    raw = [p for p in listed if "/raw/" in p]
    assert _days(raw) == {31, 45}  # raw past 30 days
    assert _days([p for p in listed if p not in raw]) == {2, 3, 30, 31, 45}  # work older than a day
    assert all(p.exists() for paths in made.values() for p in paths)


def test_prune_removes_old_raw_and_dead_work_and_keeps_the_product(seeded, data_dir):
    settings, made = seeded
    raw = pipeline.prune_raw(settings, TODAY, 30)
    work = pipeline.clean_leftovers(settings, datetime.now(UTC))
    assert _days(raw) == {31, 45} and all("/raw/" in p for p in raw)
    assert _days(work) == {2, 3, 30, 31, 45} and all("/work/" in p for p in work)
    remaining_raw = {p.parent.parent.name for p in (data_dir / "raw").rglob("*.gz")}
    assert remaining_raw == {f"date={TODAY - timedelta(days=b)}" for b in (0, 1, 2, 3, 30)}
    assert {p.parent.parent.name for p in (data_dir / "work").rglob("*.parquet")} == {
        f"date={TODAY - timedelta(days=b)}" for b in (0, 1)
    }
    for area in (*PRODUCT_AREAS, "state"):
        assert all(p.exists() for p in made[area]), area
    assert pipeline.prune(settings, TODAY, 30) == []  # nothing left to do


def test_retention_must_keep_at_least_a_day(seeded):
    settings, _ = seeded
    with pytest.raises(ValueError, match="at least 1"):
        pipeline.prune_raw(settings, TODAY, 0)
