"""`feedmon run` killed with SIGKILL, as an OOM kill, a lost worker or a node restart would: at every
stage boundary, inside publish (also between two feeds' state documents), during the replay of an
earlier killed run, and at random moments. After each kill every Parquet file reads, the day holds
the old articles or all the new ones, the next plain `feedmon run` ends with exactly the articles
of an uninterrupted run, and a further run changes nothing.

The killed runs are separate processes: children of a fork server that has feedmon imported (see
``tests/fixtures/forked_runs.py``), one real ``feedmon`` console-script process, and the kill is
``FEEDMON_TEST_KILL_AT`` (``pipeline.checkpoint``) or a timer. The runs after a kill go through
``feedmon.cli.main(["run"])`` in this process (the console script's entry point, no flags).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from feedmon import archive, cli
from feedmon.fetch import FetchStateStore
from tests.fetch_server import MisbehavingServer
from tests.fixtures.ag_feeds import AgFeeds
from tests.fixtures.forked_runs import feedmon_run

OUTLETS = 20
OLD = range(10)  # the day before the run under test: 20 outlets x 10 items
NEW = range(100)  # the run under test lists 20 x 100 items: 1,800 new ones
FEEDMON = str(Path(sys.executable).with_name("feedmon"))
SIGKILLED = -signal.SIGKILL


@dataclass
class World:
    feeds: AgFeeds
    env: dict[str, str]
    base: Path  # data dir after the first run (the old articles)
    base_run: str
    old: frozenset[tuple[str, str]]
    ref: frozenset[tuple[str, str]]  # after an uninterrupted second run
    ref_rows: int
    run_seconds: float  # how long the uninterrupted second run took (a forked child)


def _articles(data: Path) -> tuple[frozenset[tuple[str, str]], int]:
    """(article_id, content_hash) of every snapshot row of every day, and the row count."""
    pairs: set[tuple[str, str]] = set()
    rows = 0
    for snap in sorted((data / "snapshots").glob("date=*/articles.parquet")):
        table = pq.read_table(snap, columns=["article_id", "content_hash"])
        rows += table.num_rows
        pairs |= set(zip(table["article_id"].to_pylist(), table["content_hash"].to_pylist(), strict=True))
    return frozenset(pairs), rows


def _cli_run(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> str:
    """The next plain `feedmon run` (no flags); returns what it printed."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("FEEDMON_")]:
            mp.delenv(name)
        for name, value in env.items():
            if name.startswith("FEEDMON_"):
                mp.setenv(name, value)
        capsys.readouterr()
        assert cli.main(["run"]) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("crash")
    with MisbehavingServer() as server:
        feeds = AgFeeds(server, OUTLETS, OLD)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMON_")} | {
            "FEEDMON_FEEDS": str(feeds.write_feeds_file(root / "feeds.yaml")),
            "FEEDMON_FETCH_MIN_HOST_DELAY": "0",  # 20 outlets on one test host
            "FEEDMON_FETCH_PER_HOST": "16",
            # leftovers of a killed run count as dead at once (no live run shares these data dirs)
            "FEEDMON_RUN_TIMEOUT_MINUTES": "0.0001",
        }
        base = root / "base"
        assert feedmon_run(env | {"FEEDMON_DATA_DIR": str(base)}) == 0
        old, _ = _articles(base)
        [base_run_dir] = (base / "raw").glob("date=*/*")
        feeds.show = NEW
        reference = root / "reference"
        shutil.copytree(base, reference)
        started = time.monotonic()
        assert feedmon_run(env | {"FEEDMON_DATA_DIR": str(reference)}) == 0
        seconds = time.monotonic() - started
        ref, ref_rows = _articles(reference)
        assert len(ref) - len(old) > 1500 and ref_rows == len(ref)
        yield World(feeds, env, base, archive.run_id(str(base_run_dir)), old, ref, ref_rows, seconds)


def _state_docs(data: Path) -> dict[str, tuple[str | None, str | None]]:
    """Per outlet: the stored ETag and the run whose result the document records last."""
    store = FetchStateStore.under(str(data / "state"))
    states = [store.get(f"outlet-{n}") for n in range(OUTLETS)]
    return {st.feed_id: (st.etag, st.last_run_id) for st in states}


def _killed_run_id(world: World, data: Path) -> str:
    [killed] = [d for d in (data / "raw").glob("date=*/*") if archive.run_id(str(d)) != world.base_run]
    return archive.run_id(str(killed))


def _after_kill(world: World, data: Path) -> None:
    """What a kill may leave: readable files, and the old set or the complete new one."""
    for path in data.rglob("*.parquet"):
        pq.read_table(path)  # raises on a half-written file; hidden temporaries are not *.parquet
    day, rows = _articles(data)
    assert day in (world.old, world.ref), "the day holds a part of the new articles"
    assert rows == len(day)


def _recover_and_check(world: World, data: Path, capsys: pytest.CaptureFixture[str], *, replayed: bool) -> str:
    """The next plain run ends with exactly the uninterrupted run's articles; a further run changes nothing."""
    env = world.env | {"FEEDMON_DATA_DIR": str(data)}
    printed = _cli_run(env, capsys)
    assert _articles(data) == (world.ref, world.ref_rows)
    assert ("which never published" in printed) == replayed, printed
    assert not list((data / "work").glob("date=*/*")), "the killed run's work folder is a leftover"
    assert not [p for p in data.rglob("*.tmp*") if "raw" not in p.parts], "temporary files are leftovers"
    # the validators the feeds hand out for what was published are stored, and they work: every
    # feed answered the run 304 when the killed run's bodies were replayed instead of fetched again
    assert {n: etag for n, (etag, _) in _state_docs(data).items()} == {
        f"outlet-{n}": world.feeds.etag(n) for n in range(OUTLETS)
    }
    if replayed:
        assert [status for _, status in world.feeds.answers[-OUTLETS:]] == [304] * OUTLETS
    again = _cli_run(env, capsys)
    assert "which never published" not in again
    assert re.search(r"\((\d+) new this run\)", again).group(1) == "0"  # type: ignore[union-attr]
    assert _articles(data) == (world.ref, world.ref_rows)
    return printed


def _scenario(world: World, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    data = tmp_path / "data"
    shutil.copytree(world.base, data)
    return data, world.env | {"FEEDMON_DATA_DIR": str(data)}


# Every point where a kill leaves something different behind, with what it leaves: the day's
# articles (old or new), whether the fetch state and boilerplate statistics moved, and whether the
# next run has to replay the archive. In a CLI run nothing happens between one stage's end and the
# next one's start, so <stage>:after also stands for <next stage>:before.
POINTS = [
    ("fetch:before", "old", False, False),  # nothing archived: the next run fetches the new items itself
    ("fetch:after", "old", False, True),  # bodies and manifest archived, nothing parsed
    ("parse:after", "old", False, True),  # entries parked; before the fix, validators were stored here
    ("clean:after", "old", False, True),  # cleaned articles and boilerplate observations parked
    ("dedup:after", "old", False, True),
    ("tag:after", "old", False, True),  # = publish:before
    ("publish:snapshot", "new", False, True),  # snapshot renamed into place, nothing else stored yet
    ("publish:learned", "new", True, True),  # fetch state and statistics stored, no feed health
    ("publish:health", "new", True, True),  # feed health written, archive not marked published
    ("publish:marker", "new", True, False),  # marked published; only the work folder is left
]


@pytest.mark.parametrize(("point", "day", "moved", "replayed"), POINTS, ids=[p[0] for p in POINTS])
def test_kill_at_each_stage_boundary_loses_nothing(world, tmp_path, capsys, point, day, moved, replayed):
    data, env = _scenario(world, tmp_path)
    assert feedmon_run(env | {"FEEDMON_TEST_KILL_AT": point}) == SIGKILLED
    _after_kill(world, data)
    assert _articles(data)[0] == (world.ref if day == "new" else world.old)
    runs = {run for _, run in _state_docs(data).values()}
    assert runs == ({_killed_run_id(world, data)} if moved else {world.base_run})
    assert _boilerplate_unchanged(world, data) != moved
    _recover_and_check(world, data, capsys, replayed=replayed)


def _boilerplate_unchanged(world: World, data: Path) -> bool:
    before = sorted((world.base / "state" / "boilerplate").glob("*.json"))
    after = sorted((data / "state" / "boilerplate").glob("*.json"))
    return [p.name for p in before] == [p.name for p in after] and all(
        a.read_bytes() == b.read_bytes() for a, b in zip(before, after, strict=True)
    )


def test_kill_between_two_feeds_state_documents_loses_nothing(world, tmp_path, capsys):
    """The real console script, killed inside the state commit: some feeds' documents moved, others not."""
    data, env = _scenario(world, tmp_path)
    proc = subprocess.run([FEEDMON, "run"], env=env | {"FEEDMON_TEST_KILL_AT": "publish:state"}, capture_output=True)
    assert proc.returncode == SIGKILLED, proc.stderr
    _after_kill(world, data)
    killed = _killed_run_id(world, data)
    moved = sum(run == killed for _, run in _state_docs(data).values())
    assert 1 <= moved < OUTLETS, f"{moved} of {OUTLETS} state documents written: not inside the commit"
    _recover_and_check(world, data, capsys, replayed=True)


def test_kill_during_the_replay_of_a_killed_run_loses_nothing(world, tmp_path, capsys):
    """A run killed before publishing, then the run replaying it killed inside its state commit."""
    data, env = _scenario(world, tmp_path)
    assert feedmon_run(env | {"FEEDMON_TEST_KILL_AT": "tag:after"}) == SIGKILLED
    assert feedmon_run(env | {"FEEDMON_TEST_KILL_AT": "replay:publish:state"}) == SIGKILLED
    _after_kill(world, data)
    _recover_and_check(world, data, capsys, replayed=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_at_a_random_moment_loses_nothing(world, tmp_path, capsys, seed):
    data, env = _scenario(world, tmp_path)
    moment = random.Random(seed).uniform(0.05, 0.8) * world.run_seconds  # a run under load takes longer
    code = feedmon_run(env, kill_after=moment)
    assert code in (SIGKILLED, 0)
    _after_kill(world, data)
    unpublished = [run for day in (data / "raw").glob("date=*") for run in archive.unpublished_runs(str(day))]
    with capsys.disabled():  # shown with -s: which moment was hit
        print(f"\nkilled after {moment:.2f} s of {world.run_seconds:.2f} s (exit {code}); unpublished: {unpublished}")
    _recover_and_check(world, data, capsys, replayed=bool(unpublished))
