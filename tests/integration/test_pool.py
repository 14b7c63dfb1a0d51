"""Parse and clean in a process pool give what one process gives, byte for byte.

One raw archive (fetched over real HTTP from a local server) is processed twice, in two copies of
the data dir: with ``workers=1`` and with ``workers=2`` (pool threshold 0, so the pool is used even
for this small run). The day before was published first, so the learned-boilerplate model removes
a learned footer on the day compared; two feeds of one source list the same pages (one article id
observed in two chunks), one feed is ill-formed (feedparser fallback) and one is an HTML page;
one feed lists the same items every day (the model counted them on day 1: not again).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing.forkserver
import os
import shutil
import signal
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from feedmon import dedup, pipeline
from feedmon.config import Settings
from feedmon.demo import serve_directory
from feedmon.models import TagResult
from feedmon.pipeline import RunContext
from feedmon.pool import WorkerCrashed, map_chunks, stop_fork_server
from tests.fixtures.factories import SpyTagger, ag_copies_batch, make_article

DAY1 = date(2026, 11, 27)
DAY2 = date(2026, 11, 28)
FOOTER = "Read all the Latest News, Breaking News and World News here on Shared Wire"
SOURCES = {
    "wire-a": "Shared Wire",
    "wire-b": "Shared Wire",
    "desk": "Desk",
    "post": "Post",
    "bad": "Bad",
    "page": "Page",
}


def _feed(seed: str, n: int, *, broken: bool = False, note: str = "") -> bytes:
    items = "".join(
        f"<item><title>Story {seed} {i} about talks in region {i % 7}</title>"
        f"<link>https://news.example/{seed}/{i}</link><guid>{seed}-{i}</guid>"
        f"<pubDate>Sat, 28 Nov 2026 {i % 24:02d}:{i % 60:02d}:00 GMT</pubDate>"
        f"<description>&lt;p&gt;Officials met on day {i} of the talks about {seed}.&lt;/p&gt;"
        f"&lt;p&gt;Shelling continued near the line, they said (item {i}).{note}&lt;/p&gt;"
        f"&lt;p&gt;{FOOTER}&lt;/p&gt;</description></item>"
        for i in range(n)
    )
    doc = f"<?xml version='1.0'?><rss version='2.0'><channel><title>{seed}</title>{items}</channel></rss>"
    if broken:
        doc = doc.replace("</channel></rss>", "&nbsp;</channel></rss>")  # undefined entity: not well-formed
    return doc.encode()


def _serve_day(folder: Path, day: str) -> None:
    folder.mkdir(exist_ok=True)
    # the same pages (the same article ids) in two chunks, with texts that differ: the first observation counts
    (folder / "wire-a.xml").write_bytes(_feed(f"shared-{day}", 30))
    (folder / "wire-b.xml").write_bytes(_feed(f"shared-{day}", 30, note=" Updated."))
    (folder / "desk.xml").write_bytes(_feed(f"desk-{day}", 25))
    (folder / "post.xml").write_bytes(_feed("post", 12))  # the same items every day: counted on day 1 only
    (folder / "bad.xml").write_bytes(_feed(f"bad-{day}", 8, broken=True))
    (folder / "page.xml").write_bytes(b"<!doctype html><html><body><p>Not a feed</p></body></html>")


def _use_feeds(tmp_path: Path, base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A feeds file of :data:`SOURCES` served at ``base``, made the run's ``FEEDMON_FEEDS``."""
    feeds = tmp_path / "feeds.yaml"
    entries = (f"  - id: {f}\n    name: {n}\n    url: {base}/{f}.xml\n    language: en\n" for f, n in SOURCES.items())
    feeds.write_text("feeds:\n" + "".join(entries))
    monkeypatch.setenv("FEEDMON_FEEDS", str(feeds))


@pytest.fixture
def archived(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, RunContext]:
    """Day 1 published, day 2 fetched and archived (not processed) in ``data_dir``."""
    settings, ctx, _ = _archive(tmp_path, monkeypatch)
    return settings, ctx


def _archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, ahead_limit: int | None = None, ahead_pool: bool = False
) -> tuple[Settings, RunContext, pipeline.Ahead | None]:
    """Day 1 published, day 2 fetched and archived; with ``ahead_limit``, day 2 is fetched as
    ``feedmon run`` fetches (an :class:`~feedmon.pipeline.Ahead` beside it, that pool threshold;
    ``ahead_pool``: the Ahead of a run with many feeds, in two worker processes)."""
    served = tmp_path / "served"
    _serve_day(served, "1")
    with serve_directory(served) as base:
        _use_feeds(tmp_path, base, monkeypatch)
        settings = dataclasses.replace(Settings.from_env(), workers=1, pool_min_items=0)
        pipeline.run_cycle(settings, DAY1, "day-1")
        _serve_day(served, "2")
        ahead = None
        if ahead_limit is not None:
            settings = dataclasses.replace(settings, pool_min_items=ahead_limit)
        if ahead_pool:
            monkeypatch.setattr(pipeline, "AHEAD_PROCESS_MIN_FEEDS", len(SOURCES))
            settings = dataclasses.replace(settings, workers=2)
        ctx = RunContext(settings, DAY2, "day-2", refetch=True)  # no backoff for the failed page
        if ahead_limit is None:
            pipeline.fetch(ctx)
        else:
            arrived: list = []
            pipeline.fetch(ctx, on_body=arrived.append)
            # bodies arrive in any order: here the reverse of the stages' (feed) order
            ahead = pipeline.Ahead(ctx)
            for result in reversed(arrived):
                ahead.submit(result)
            ahead.finish()
    return settings, ctx, ahead


def _process(ctx: RunContext, ahead: pipeline.Ahead | None = None) -> tuple[dict, dict]:
    parsed = pipeline.parse(ctx, ahead)
    cleaned = pipeline.clean(ctx, parsed["path"], ahead)
    observed = Path(ctx.work("boilerplate.json")).read_bytes()
    deduped = pipeline.dedup(ctx, cleaned["path"])
    tagged = pipeline.tag(ctx, deduped["path"])
    pipeline.publish(ctx, tagged["path"], [])
    return {"parse": parsed, "clean": cleaned}, {"observed": observed}


def test_one_worker_and_two_workers_write_the_same_day(archived: tuple[Settings, RunContext], tmp_path: Path):
    settings, ctx = archived
    other_dir = tmp_path / "data-2"
    shutil.copytree(settings.data_dir, other_dir)
    runs = {}
    for workers, data in ((1, settings.data_dir), (2, str(other_dir))):
        s = dataclasses.replace(settings, data_dir=data, workers=workers)
        stages, files = _process(dataclasses.replace(ctx, settings=s))
        assert stages["parse"]["workers"] == stages["clean"]["workers"] == workers
        # in the pool: wire-a | wire-b | desk + post | bad (cut only between feeds)
        assert stages["clean"]["chunks"] == (1 if workers == 1 else 4)
        runs[workers] = (s, stages, files)

    (s1, stages1, files1), (s2, stages2, files2) = runs[1], runs[2]
    parse1 = stages1["parse"]
    assert parse1["parsers"] == {"fast": 4, "feedparser": 1}  # the ill-formed feed fell back
    assert parse1["entries"] == 30 + 30 + 25 + 12 + 8
    for stage in ("parse", "clean"):
        assert {k: v for k, v in stages1[stage].items() if k not in ("path", "workers", "chunks")} == {
            k: v for k, v in stages2[stage].items() if k not in ("path", "workers", "chunks")
        }

    snap1, snap2 = pq.read_table(s1.snapshot_path(DAY2)), pq.read_table(s2.snapshot_path(DAY2))
    # the two shared feeds list the same pages; post's items were published on day 1
    assert snap1.num_rows == 30 + 25 + 8
    assert snap1.equals(snap2, check_metadata=True)
    assert files1["observed"] == files2["observed"]  # the run's boilerplate observations, byte for byte
    observed = json.loads(files1["observed"])["sources"]
    assert sorted(observed) == ["Bad", "Desk", "Shared Wire"]  # post's articles were counted on day 1
    assert len(observed["Shared Wire"]) == 30
    state1 = Path(s1.state_dir, "boilerplate", f"{DAY2.isoformat()}.json").read_bytes()
    state2 = Path(s2.state_dir, "boilerplate", f"{DAY2.isoformat()}.json").read_bytes()
    assert state1 == state2
    health1 = pq.read_table(s1.feed_health_path(DAY2, ctx.run_key))
    assert health1.equals(pq.read_table(s2.feed_health_path(DAY2, ctx.run_key)))
    by_feed = dict(zip(health1.column("feed_id").to_pylist(), health1.column("status").to_pylist(), strict=True))
    assert by_feed["page"] == "parse_error" and by_feed["bad"] == "ok"
    # the footer learned on day 1 is gone from day 2's texts, in both runs
    texts = snap1.column("text").to_pylist()
    assert texts and not any(FOOTER in t for t in texts)


@pytest.mark.parametrize("pool", [False, True], ids=["thread", "pool"])
def test_parsed_and_cleaned_while_fetching_is_the_same_day(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, pool: bool
):
    """``feedmon run`` parses and cleans each body as it arrives (:class:`~feedmon.pipeline.Ahead`,
    in a thread or, with many feeds, in worker processes): the stages take that work, and the day
    is the one the stages alone write, byte for byte."""
    settings, ctx, ahead = _archive(tmp_path, monkeypatch, ahead_limit=20_000, ahead_pool=pool)
    assert ahead is not None and not ahead.abandoned and ahead._process == pool
    other_dir = tmp_path / "data-2"
    shutil.copytree(settings.data_dir, other_dir)
    with_ahead = _process(ctx, ahead)
    s2 = dataclasses.replace(settings, data_dir=str(other_dir))
    alone = _process(dataclasses.replace(ctx, settings=s2))
    assert with_ahead[0]["parse"]["ahead"] and with_ahead[0]["clean"]["ahead"]
    assert not alone[0]["parse"]["ahead"] and not alone[0]["clean"]["ahead"]
    for stage in ("parse", "clean"):
        ignore = ("path", "workers", "chunks", "ahead")
        assert {k: v for k, v in with_ahead[0][stage].items() if k not in ignore} == {
            k: v for k, v in alone[0][stage].items() if k not in ignore
        }
    assert with_ahead[1]["observed"] == alone[1]["observed"]  # first observation wins in feed order
    assert not ahead._parsed and not ahead._cleaned  # let go of once the stages took them
    snap1, snap2 = pq.read_table(settings.snapshot_path(DAY2)), pq.read_table(s2.snapshot_path(DAY2))
    assert snap1.num_rows == 30 + 25 + 8
    assert snap1.equals(snap2, check_metadata=True)
    for name in (f"boilerplate/{DAY2.isoformat()}.json",):
        assert Path(settings.state_dir, name).read_bytes() == Path(s2.state_dir, name).read_bytes()


def test_a_large_run_is_left_to_the_stages(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    settings, ctx, ahead = _archive(tmp_path, monkeypatch, ahead_limit=40)  # day 2 brings 105 items
    assert ahead is not None and ahead.abandoned
    stages, _ = _process(ctx, ahead)
    assert not stages["parse"]["ahead"] and not stages["clean"]["ahead"]
    assert pq.read_table(settings.snapshot_path(DAY2)).num_rows == 30 + 25 + 8


def test_a_run_whose_first_bodies_say_it_is_large_is_left_to_the_stages(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    # the pool's limit is 80 items; day 2 brings 105, but its first bodies (the small feeds: they
    # come in reversed feed order) already project more than 80 over its six feeds
    monkeypatch.setattr(pipeline, "AHEAD_MAX_ITEMS", 80)
    settings, ctx, ahead = _archive(tmp_path, monkeypatch, ahead_limit=20_000, ahead_pool=True)
    assert ahead is not None and ahead.abandoned and ahead._items < 80
    assert not ahead._parsed and not ahead._cleaned  # what it had done is dropped, not held
    stages, _ = _process(ctx, ahead)
    assert not stages["parse"]["ahead"] and not stages["clean"]["ahead"]
    assert pq.read_table(settings.snapshot_path(DAY2)).num_rows == 30 + 25 + 8


def test_feedmon_run_parses_while_it_fetches(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    served = tmp_path / "served"
    _serve_day(served, "2")
    with serve_directory(served) as base:
        _use_feeds(tmp_path, base, monkeypatch)
        settings = dataclasses.replace(Settings.from_env(), workers=2, pool_min_items=20_000)
        with caplog.at_level("INFO", logger="feedmon.pipeline"):
            pipeline.run_cycle(settings, DAY2, "day-2")
    assert any("while fetching" in r.getMessage() for r in caplog.records if r.getMessage().startswith("parsed"))
    # wire-a and wire-b list the same pages; the page is no feed
    assert pq.read_table(settings.snapshot_path(DAY2)).num_rows == 30 + 25 + 12 + 8


def _square_or_die(context: int, chunk: list[int]) -> list[int]:
    if -1 in chunk:
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does to a worker
    return [context + x * x for x in chunk]


def test_map_chunks_in_worker_processes_yields_in_chunk_order():
    chunks = [[i, i + 1] for i in range(0, 40, 2)]
    got = list(map_chunks(_square_or_die, 1000, chunks, workers=2))
    assert got == [[1000 + x * x for x in chunk] for chunk in chunks]
    assert got == list(map_chunks(_square_or_die, 1000, chunks, workers=1))


def test_the_fork_server_stops_and_a_later_pool_starts_another():
    # a large run stops it after its last pool: the ~100 MB it holds are not kept through dedup
    chunks = [[1], [2], [3]]
    assert list(map_chunks(_square_or_die, 0, chunks, workers=2)) == [[1], [4], [9]]
    server = multiprocessing.forkserver._forkserver
    pid = server._forkserver_pid
    assert pid is not None and _alive(pid)
    stop_fork_server()
    assert server._forkserver_pid is None and not _alive(pid)
    stop_fork_server()  # no server: nothing to do
    assert list(map_chunks(_square_or_die, 0, chunks, workers=2)) == [[1], [4], [9]]
    assert server._forkserver_pid not in (None, pid)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it exited (it is our child)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_worker_that_dies_fails_the_stage_loudly():
    with pytest.raises(WorkerCrashed, match="_square_or_die"):
        list(map_chunks(_square_or_die, 0, [[1], [2], [-1], [3]], workers=2))


def test_tags_computed_beside_dedup_are_the_tags_of_the_tag_stage(archived: tuple[Settings, RunContext]):
    """``feedmon run`` tags a large run's candidates in a worker process while dedup runs
    (:class:`~feedmon.pipeline.TagAhead`): the tag stage then tags nothing itself, and writes
    what it would have written alone."""
    _, ctx = archived
    cleaned = pipeline.clean(ctx, pipeline.parse(ctx)["path"])["path"]
    beside = pipeline.TagAhead(ctx, cleaned)
    deduped = pipeline.dedup(ctx, cleaned)["path"]
    spy = SpyTagger()
    with_ahead = pipeline.tag(ctx, deduped, spy, ahead=beside)
    assert with_ahead["tagged"] == 30 + 25 + 8 and spy.calls == 0  # every new row's tags came from the worker
    table = pq.read_table(with_ahead["path"])
    alone = pipeline.tag(ctx, deduped, spy)
    assert spy.calls == 30 + 25 + 8
    assert table.equals(pq.read_table(alone["path"]), check_metadata=True)
    # another tagger (another gazetteer, model or code): the worker's tags are not used
    other = SpyTagger(fingerprint="another")
    pipeline.tag(ctx, deduped, other, ahead=beside)
    assert other.calls == 30 + 25 + 8


def test_a_small_run_is_tagged_as_its_feeds_come_back_cleaned(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    """With its cleaning in worker processes, :class:`~feedmon.pipeline.Ahead` tags each feed's
    rows in this process as they come back (a small run: the process waits on the network): the
    tag stage then tags nothing itself and writes what it would have written alone. A run whose
    bodies project ``FEEDMON_POOL_MIN_ITEMS`` items or more is left to :class:`TagAhead`."""
    _, ctx, ahead = _archive(tmp_path, monkeypatch, ahead_limit=20_000, ahead_pool=True)
    assert ahead is not None and ahead.tagged
    cleaned = pipeline.clean(ctx, pipeline.parse(ctx, ahead)["path"], ahead)["path"]
    deduped = pipeline.dedup(ctx, cleaned)["path"]
    spy = SpyTagger()
    with_ahead = pipeline.tag(ctx, deduped, spy, ahead=ahead)
    assert with_ahead["tagged"] == 30 + 25 + 8 and spy.calls == 0
    table = pq.read_table(with_ahead["path"])
    alone = pipeline.tag(ctx, deduped, spy)
    assert spy.calls == 30 + 25 + 8
    assert table.equals(pq.read_table(alone["path"]), check_metadata=True)
    assert ahead.results("another") is None  # another tagger: not used

    large = tmp_path / "large"
    large.mkdir()
    monkeypatch.setenv("FEEDMON_DATA_DIR", str(large / "data"))
    _, _, ahead = _archive(large, monkeypatch, ahead_limit=40, ahead_pool=True)  # 105 items projected
    assert ahead is not None and not ahead.abandoned and not ahead.tagged


def test_dedup_screens_in_worker_processes_with_the_same_stories(monkeypatch: pytest.MonkeyPatch):
    """Dedup's anchored-lookup screen computed by two worker processes beside the clustering
    (:meth:`~feedmon.dedup.StoryIndex.screen_ahead`) changes no story, directly and through
    :func:`~feedmon.dedup.deduplicate`."""
    monkeypatch.setattr(dedup, "SCREEN_ROWS", 128)
    texts, times = ag_copies_batch()
    stories = {}
    for workers in (0, 2):
        index = dedup.StoryIndex(texts, text_of=texts.__getitem__, times=times)
        if workers:
            index.screen_ahead(range(len(texts)), texts, workers)
        for i in range(len(texts)):
            index.add(i)
        index.close()
        stories[workers] = (index.story, index.screened_rows)
    assert stories[2][0] == stories[0][0]
    assert stories[0][1] == 0 and stories[2][1] > 100

    def articles() -> list:
        seen = [datetime.fromtimestamp(1_790_000_000 + t, UTC) for t in times]
        return [
            make_article(article_id=f"a{i}", feed_id=f"f{i % 7}", title=ti, text=te, first_seen_at=at, story_id="")
            for i, ((ti, te), at) in enumerate(zip(texts, seen, strict=True))
        ]

    one, two = articles(), articles()
    dedup.deduplicate(one, [], [], workers=1)
    dedup.deduplicate(two, [], [], workers=2)
    assert [a.story_id for a in two] == [a.story_id for a in one]
    assert len({a.story_id for a in one}) < len(one) - 100  # copies were found


def test_a_run_failing_while_tags_are_computed_beside_it_leaves_no_thread_behind(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    """A failed dedup stops the tagging worker beside it before the error leaves ``process``: a
    thread left reading the stage file while the interpreter shut down hung ``feedmon run``
    (seen with ``FEEDMON_TEST_FAIL_AT=dedup:before`` on 100k articles) instead of exiting."""
    import threading

    settings, ctx, ahead = _archive(tmp_path, monkeypatch, ahead_limit=20_000)
    ctx = dataclasses.replace(ctx, settings=dataclasses.replace(settings, workers=2, pool_min_items=0))

    def failing_dedup(*_args: object) -> dict:
        assert any(t.name == "feedmon-tag-ahead" for t in threading.enumerate())  # tagging beside it
        raise RuntimeError("dedup failed")

    monkeypatch.setattr(pipeline, "dedup", failing_dedup)
    with pytest.raises(RuntimeError, match="dedup failed"):
        pipeline.process(ctx, ahead=ahead)
    assert not any(t.name == "feedmon-tag-ahead" for t in threading.enumerate())


def test_a_chunk_that_yields_no_article_cleans_to_an_empty_table(archived: tuple[Settings, RunContext]):
    """No entry (a feed that lists nothing) or none usable (no title, no text): an empty articles
    table, not an error (the clean stage would fail the run, Ahead give up on it)."""
    import pyarrow as pa

    from feedmon import archive
    from feedmon.pipeline import ENTRY_SCHEMA
    from feedmon.schema import ARTICLE_SCHEMA

    _, ctx = archived
    rules, model = pipeline._cleaning_rules_and_model(ctx)
    context = pipeline._CleanContext(archive.read_feed_configs(ctx.raw_dir), rules, model, ctx.run_id)
    empty = pa.Table.from_pylist([], schema=ENTRY_SCHEMA)
    blank = pa.Table.from_pylist(
        [{"feed_id": "desk", "guid": "g", "link": None, "title": "", "html": "", "fetched_at": datetime.now(UTC)}],
        schema=ENTRY_SCHEMA,
    )
    for entries in (empty, blank):
        table, observed, failed = pipeline._clean_chunk(context, entries)
        assert table.num_rows == 0 and table.schema.equals(ARTICLE_SCHEMA) and not observed and failed == 0


def test_the_tag_stage_tags_a_batch_at_a_time_with_the_same_table(
    archived: tuple[Settings, RunContext], monkeypatch: pytest.MonkeyPatch
):
    # the Python values of a million rows' texts and tags at once cost more memory than the table
    class EveryThird(SpyTagger):  # tags of every kind, lists included, in a pattern of rows
        def tag(self, title: str, text: str, dateline: str | None = None, language: str | None = None) -> TagResult:
            res = super().tag(title, text, dateline, language)
            return TagResult(True, 0.5, ["Region"], ["XX"], [title[:12]]) if self.calls % 3 == 0 else res

    _, ctx = archived
    deduped = pipeline.dedup(ctx, pipeline.clean(ctx, pipeline.parse(ctx)["path"])["path"])["path"]
    whole = pq.read_table(pipeline.tag(ctx, deduped, EveryThird())["path"])
    monkeypatch.setattr(pipeline, "_TAG_BATCH", 7)
    batched = pq.read_table(pipeline.tag(ctx, deduped, EveryThird())["path"])
    assert whole.num_rows > 3 * 7 and sum(whole.column("is_conflict").to_pylist()) == whole.num_rows // 3
    assert batched.equals(whole, check_metadata=True)
