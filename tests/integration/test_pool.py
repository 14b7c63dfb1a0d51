"""Parse and clean in a process pool give what one process gives, byte for byte.

One raw archive (fetched over real HTTP from a local server) is processed twice, in two copies of
the data dir: with ``workers=1`` and with ``workers=2`` (pool threshold 0, so the pool is used even
for this small run). The day before was published first, so the learned-boilerplate model removes
a learned footer on the day compared; two feeds of one source list the same pages (one article id
observed in two chunks), one feed is ill-formed (feedparser fallback) and one is an HTML page;
one feed lists the same items every day (the model counted them on day 1: not again).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from feedmon import pipeline
from feedmon.config import Settings
from feedmon.demo import serve_directory
from feedmon.pipeline import RunContext
from feedmon.pool import WorkerCrashed, map_chunks

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


@pytest.fixture
def archived(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, RunContext]:
    """Day 1 published, day 2 fetched and archived (not processed) in ``data_dir``."""
    served = tmp_path / "served"
    _serve_day(served, "1")
    with serve_directory(served) as base:
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(
            "feeds:\n"
            + "".join(
                f"  - id: {fid}\n    name: {name}\n    url: {base}/{fid}.xml\n    language: en\n"
                for fid, name in SOURCES.items()
            )
        )
        monkeypatch.setenv("FEEDMON_FEEDS", str(feeds))
        settings = dataclasses.replace(Settings.from_env(), workers=1, pool_min_items=0)
        pipeline.run_cycle(settings, DAY1, "day-1")
        _serve_day(served, "2")
        ctx = RunContext(settings, DAY2, "day-2", refetch=True)  # no backoff for the failed page
        pipeline.fetch(ctx)
    return settings, ctx


def _process(ctx: RunContext) -> tuple[dict, dict]:
    parsed = pipeline.parse(ctx)
    cleaned = pipeline.clean(ctx, parsed["path"])
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


def _square_or_die(context: int, chunk: list[int]) -> list[int]:
    if -1 in chunk:
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does to a worker
    return [context + x * x for x in chunk]


def test_map_chunks_in_worker_processes_yields_in_chunk_order():
    chunks = [[i, i + 1] for i in range(0, 40, 2)]
    got = list(map_chunks(_square_or_die, 1000, chunks, workers=2))
    assert got == [[1000 + x * x for x in chunk] for chunk in chunks]
    assert got == list(map_chunks(_square_or_die, 1000, chunks, workers=1))


def test_a_worker_that_dies_fails_the_stage_loudly():
    with pytest.raises(WorkerCrashed, match="_square_or_die"):
        list(map_chunks(_square_or_die, 0, [[1], [2], [-1], [3]], workers=2))
