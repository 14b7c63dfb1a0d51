"""Fetch at full concurrency, politely: real servers on loopback hosts, real processes.

* per-host limits hold between two processes that share a data dir (the DAG's mapped tasks and a
  ``feedmon run`` beside them), counted by the server as requests in flight and start spacing;
* ``feedmon run`` fetches every feed under one scheduler: a run over many slow hosts takes about
  one latency per host-slot round, for fresh bodies and when every feed answers 304.

Bounds are generous: this machine has 2 cores shared with other jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from itertools import pairwise
from pathlib import Path

import pyarrow.parquet as pq

from tests.fetch_server import Hit, MisbehavingServer

# One process of the cross-process tests: fetch the URLs given once the go file appears, print the statuses.
CHILD = """
import json, sys, time
from pathlib import Path
from feedmon.fetch import FetchSettings, fetch_feeds
from feedmon.models import FeedConfig
state_dir, go, name, per_host, delay, *urls = sys.argv[1:]
feeds = [FeedConfig(id=f"{name}-{i}", url=u) for i, u in enumerate(urls)]
settings = FetchSettings(per_host=int(per_host), min_host_delay=float(delay), retries=0, read_timeout=10.0)
print("ready", flush=True)
while not Path(go).exists():
    time.sleep(0.005)
rows = fetch_feeds(feeds, state_dir=state_dir, settings=settings, commit_state=False)
print(json.dumps([r.status for r in rows]), flush=True)
"""


def _run_two(tmp_path: Path, urls: dict[str, list[str]], state_dirs: dict[str, Path], per_host: int, delay: float):
    """Start one child per name, release them together, return each one's statuses."""
    go = tmp_path / "go"
    go.unlink(missing_ok=True)
    procs = {}
    for name, its_urls in urls.items():
        cmd = [sys.executable, "-c", CHILD, str(state_dirs[name]), str(go), name, str(per_host), str(delay), *its_urls]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for proc in procs.values():
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        out[name] = json.loads(stdout.strip().splitlines()[-1])
    return out


def _interleaved(hits: list[Hit], a: str, b: str) -> bool:
    """Whether the two processes' requests overlapped in time (else the limit would be trivially kept)."""
    ha = [h for h in hits if f"seed={a}" in h.path]
    hb = [h for h in hits if f"seed={b}" in h.path]
    return min(h.started for h in hb) < max(h.ended or 0 for h in ha) and min(h.started for h in ha) < max(
        h.ended or 0 for h in hb
    )


def test_per_host_limit_holds_across_two_processes(tmp_path):
    with MisbehavingServer(latency=0.3) as srv:
        urls = {n: [srv.url(f"/items?n=3&seed={n}{i}") for i in range(8)] for n in ("a", "b")}
        shared = {"a": tmp_path / "state", "b": tmp_path / "state"}
        statuses = _run_two(tmp_path, urls, shared, per_host=2, delay=0.0)
        assert statuses == {"a": ["ok"] * 8, "b": ["ok"] * 8}
        hits = srv.hits
        assert len(hits) == 16 and _interleaved(hits, "a", "b")
        assert srv.max_active == 2  # never more than per_host in flight, though two processes fetched
        span = max(h.ended or 0 for h in hits) - min(h.started for h in hits)
        assert span >= 16 / 2 * 0.3 * 0.9  # the host's two slots were shared, so 8 rounds, not 4

        # The same two processes with a state dir each share nothing: the server sees both at once.
        # (This is what the lock files prevent; it also shows the assertion above can fail.)
        srv.reset_stats()
        apart = {"a": tmp_path / "state-a", "b": tmp_path / "state-b"}
        _run_two(tmp_path, urls, apart, per_host=2, delay=0.0)
        assert srv.max_active > 2


def test_host_spacing_holds_across_two_processes(tmp_path):
    with MisbehavingServer() as srv:
        urls = {n: [srv.url(f"/items?n=3&seed={n}{i}") for i in range(4)] for n in ("a", "b")}
        shared = {"a": tmp_path / "state", "b": tmp_path / "state"}
        statuses = _run_two(tmp_path, urls, shared, per_host=4, delay=0.3)
        assert statuses == {"a": ["ok"] * 4, "b": ["ok"] * 4}
        starts = sorted(h.started for h in srv.hits)
        assert len(starts) == 8 and _interleaved(srv.hits, "a", "b")
        gaps = [b - a for a, b in pairwise(starts)]
        assert min(gaps) > 0.2, gaps  # 0.3 s between any two starts, whichever process sent them


def _feedmon_run(feeds_file: Path, data_dir: Path) -> dict:
    cmd = [str(Path(sys.executable).with_name("feedmon")), "run", "--feeds", str(feeds_file)]
    cmd += ["--data-dir", str(data_dir), "--date", "2026-11-28", "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMON_")}
    env["FEEDMON_FETCH_RETRIES"] = "0"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _in_flight(hits: list[Hit]) -> int:
    """The most requests any moment saw in flight, over every server."""
    events = sorted([(h.started, 1) for h in hits] + [(h.ended or h.started, -1) for h in hits])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_feedmon_run_fetches_every_host_at_once(tmp_path):
    """16 hosts x 2 feeds answering after 0.5 s: one scheduler needs one host-slot round (plus one
    spacing), however the feeds would be batched for Airflow; host after host would take >= 8 s."""
    latency, n_hosts = 0.5, 16
    with ExitStack() as stack:
        servers = [
            stack.enter_context(MisbehavingServer(host=f"127.0.0.{k + 1}", latency=latency)) for k in range(n_hosts)
        ]
        lines = ["feeds:"]
        for k, srv in enumerate(servers):
            for j in range(2):
                lines.append(f"  - {{id: h{k}-f{j}, url: '{srv.url(f'/feeds/ok.xml?copy={j}')}'}}")
        feeds_file = tmp_path / "feeds.yaml"
        feeds_file.write_text("\n".join(lines) + "\n", encoding="utf-8")

        for cycle in (1, 2):
            for srv in servers:
                srv.reset_stats()
            t0 = time.monotonic()
            summary = _feedmon_run(feeds_file, tmp_path / "data")
            wall = time.monotonic() - t0
            hits = [h for srv in servers for h in srv.hits]
            assert len(hits) == 2 * n_hosts
            if cycle == 2:  # every feed answered 304 and still cost only one round
                assert summary["feeds_failed"] == 0
                assert sum(h.headers.get("if-none-match") is not None for h in hits) == 2 * n_hosts
            span = max(h.ended or 0 for h in hits) - min(h.started for h in hits)
            # one round (0.5 s) plus one host spacing (0.25 s); generous for a loaded 2-core machine
            assert span < 3.0, (cycle, span)
            assert _in_flight(hits) >= n_hosts, cycle  # every host was being fetched at the same time
            assert wall < 60, wall
    table = pq.read_table(tmp_path / "data" / "snapshots" / "date=2026-11-28" / "articles.parquet")
    assert table.num_rows > 0
