"""Fixtures of the in-process tests on AG outlets (``test_recovery.py``, ``test_incremental.py``);
a module defining its own ``feeds`` or ``settings`` keeps its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from feedmon.config import Settings
from tests.fetch_server import MisbehavingServer
from tests.fixtures.ag_feeds import AgFeeds

#: How many outlets ``feeds`` serves.
AG_OUTLETS = 4


@pytest.fixture
def feeds(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AgFeeds]:
    """:data:`AG_OUTLETS` outlets listing their items 0-29 on a live server, named by
    ``FEEDMON_FEEDS``, with no politeness wait; move ``show`` to publish new items."""
    with MisbehavingServer() as server:
        ag = AgFeeds(server, outlets=AG_OUTLETS, show=range(30))
        monkeypatch.setenv("FEEDMON_FEEDS", str(ag.write_feeds_file(tmp_path / "feeds.yaml")))
        monkeypatch.setenv("FEEDMON_FETCH_MIN_HOST_DELAY", "0")
        yield ag


@pytest.fixture
def settings(feeds: AgFeeds) -> Settings:
    return Settings.from_env()
