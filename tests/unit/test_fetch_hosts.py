"""Per-host limits shared between processes (fetch/hosts.py) and the batches of a DAG run, offline.

Two :class:`HostGate` objects on one directory stand for two processes: ``flock`` treats two open
descriptors of one file as two holders, exactly as it treats two processes. The limits against a
real server and real processes are in tests/integration/test_fetch_concurrency.py.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import date

import pytest

from feedmon.config import FetchSettings, Settings
from feedmon.fetch import plan_batches
from feedmon.fetch.hosts import BUSY_POLL, HostGate
from feedmon.fetch.scheduler import _Job, _Scheduler
from feedmon.models import FeedConfig
from feedmon.pipeline import RunContext, plan

DAY = date(2026, 11, 28)


def test_slots_are_shared_between_holders(tmp_path):
    mine, theirs = HostGate(str(tmp_path), 2, 0.0), HostGate(str(tmp_path), 2, 0.0)
    a1, _ = mine.acquire("a.example")
    a2, _ = mine.acquire("a.example")
    assert a1 is not None and a2 is not None
    refused, wait = theirs.acquire("a.example")
    assert refused is None and wait == BUSY_POLL
    other, _ = theirs.acquire("b.example")  # another host is not affected
    assert other is not None
    mine.release(a1)
    mine.release(a1)  # twice is harmless
    granted, _ = theirs.acquire("a.example")
    assert granted is not None
    assert (tmp_path / "fetch" / "hosts" / "a.example.0.slot").exists()


def test_spacing_is_shared_between_holders(tmp_path):
    mine, theirs = HostGate(str(tmp_path), 4, 0.3), HostGate(str(tmp_path), 4, 0.3)
    first, _ = mine.acquire("a.example")
    assert first is not None
    refused, wait = theirs.acquire("a.example")  # a free slot, but too soon after mine
    assert refused is None and 0.2 < wait <= 0.3
    time.sleep(wait + 0.01)
    later, _ = theirs.acquire("a.example")
    assert later is not None


def test_damaged_start_file_reads_as_no_start(tmp_path):
    gate = HostGate(str(tmp_path), 1, 60.0)
    (tmp_path / "fetch" / "hosts" / "a.example.lock").write_bytes(b"\xffnot a time")
    permit, _ = gate.acquire("a.example")
    assert permit is not None


@pytest.mark.parametrize("state_dir", [None, "memory://feedmon-test/state"])
def test_no_shared_limits_without_a_local_state_dir(state_dir):
    gate = HostGate(state_dir, 1, 60.0)
    assert not gate.shared
    assert all(gate.acquire("a.example")[0] is not None for _ in range(5))


def _jobs(hosts: list[str]) -> list[_Job]:
    return [_Job(i, FeedConfig(id=f"f{i}", url=f"http://{h}/{i}"), h, None) for i, h in enumerate(hosts)]


def test_scheduler_serves_other_hosts_while_one_is_held_elsewhere(tmp_path):
    settings = FetchSettings(per_host=1, min_host_delay=0.0)
    elsewhere = HostGate(str(tmp_path), 1, 0.0)
    held, _ = elsewhere.acquire("busy.example")
    scheduler = _Scheduler(
        _jobs(["busy.example", "busy.example", "free.example"]), settings, HostGate(str(tmp_path), 1, 0.0)
    )
    job = scheduler.next_job()  # busy.example has more waiting feeds, but another process holds it
    assert job is not None and job.host == "free.example"
    scheduler.done(job)
    threading.Timer(0.2, elsewhere.release, [held]).start()
    t0 = time.monotonic()
    job = scheduler.next_job()
    assert job is not None and job.host == "busy.example"
    assert 0.15 < time.monotonic() - t0 < 0.2 + 5 * BUSY_POLL + 1.0  # asked again soon after the release
    assert elsewhere.acquire("busy.example")[0] is None  # now this scheduler holds it
    scheduler.done(job)
    job = scheduler.next_job()
    assert job is not None
    scheduler.close()  # a slot still held (a worker that died mid-attempt) is given back
    assert elsewhere.acquire("busy.example")[0] is not None


def test_batches_span_many_hosts_never_share_one_and_balance():
    sizes = [40, 12, 9, 7, 5, 5, 4, 3, 3, 2, 2, 2] + [1] * 48  # a few big agencies, many small hosts
    feeds = [
        FeedConfig(id=f"h{h}-{i}", url=f"https://host{h}.example/{i}") for h, n in enumerate(sizes) for i in range(n)
    ]
    batches = plan_batches(feeds, max_batches=4)
    assert len(batches) == 4
    assert sorted(f.id for b in batches for f in b) == sorted(f.id for f in feeds)
    owner = {}
    for n, batch in enumerate(batches):
        for f in batch:
            assert owner.setdefault(f.url.split("/")[2], n) == n  # a host in one batch only
    hosts_per_batch = sorted(len({f.url.split("/")[2] for f in b}) for b in batches)
    counts = sorted(len(b) for b in batches)
    # The biggest host (a third of all feeds) fills a batch by itself: its spacing sets the run's
    # length whatever it shares a batch with. The other batches split the rest evenly, many hosts each.
    assert counts[-1] == max(sizes) and hosts_per_batch[0] == 1
    assert counts[2] - counts[0] <= 1 and hosts_per_batch[1] >= 15
    # With no dominating host the batches are even too.
    even = [FeedConfig(id=f"e{i}", url=f"https://h{i % 30}.example/{i}") for i in range(300)]
    assert Counter(len(b) for b in plan_batches(even, max_batches=4)).keys() <= {70, 80}


def test_plan_makes_the_configured_number_of_batches(tmp_path):
    lines = ["feeds:"] + [f"  - {{id: f{i}, url: 'https://h{i % 40}.example/{i}.xml'}}" for i in range(120)]
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {"FEEDMON_FETCH_BATCHES": "3"}
    ctx = RunContext(Settings.from_env(str(feeds_file), str(tmp_path / "data"), environ=env), DAY, "run-1")
    batches = plan(ctx)
    assert sorted(len(b) for b in batches) == [39, 39, 42]
    assert len(plan(RunContext(Settings.from_env(str(feeds_file), str(tmp_path / "data")), DAY, "r"))) == 4
