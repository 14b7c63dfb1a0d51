"""Benchmark: feedmon's fetcher against the plain sequential ``requests`` + ``feedparser`` loop.

Set-up (all local, no network): a separate server process runs an asyncio HTTP/1.1 server that
serves ``--feeds`` RSS feeds of ``--items`` items each and waits ``--latency`` seconds before every
response. It listens on ``--hosts`` loopback addresses (127.0.0.1, 127.0.0.2, ...), feeds spread
round-robin over them, so feedmon's per-host limits (``per_host``, ``min_host_delay``) apply the
way they would to a real feed list where each agency hosts several feeds. Every feed has an ETag
and answers 304 to ``If-None-Match``.

Measured, in this order:

1. cycle 1: ``fetch_feeds`` over all feeds with a fresh state dir (every feed 200);
2. the parse time of those bodies with ``feedmon.parse.parse_feed`` (CPU-bound; reported apart);
3. cycle 2: ``fetch_feeds`` again (every feed answers 304);
4. baseline: ``for url in urls: feedparser.parse(requests.get(url, timeout=30).content)`` on the
   first ``--baseline-feeds`` feeds, extrapolated linearly to all feeds (it is sequential, so the
   per-feed cost is constant); its fetch-only share is timed apart too.

Settings come from ``FetchSettings.from_env()`` (defaults unless ``FEEDMON_FETCH_*`` is set).

    nice .venv/bin/python bench/bench_fetch.py            # full: 1,000 feeds x 50 items (~1-2 min)
    nice .venv/bin/python bench/bench_fetch.py --quick    # 200 feeds, < 60 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from pathlib import Path

import feedparser
import requests
from product_server import read_request

from feedmon.fetch import FetchSettings, fetch_feeds
from feedmon.models import FeedConfig
from feedmon.parse import parse_feed


def make_feed(i: int, items: int) -> bytes:
    """A realistic-size RSS 2.0 feed (~300 bytes per item)."""
    parts = [
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>",
        f"<title>Bench agency {i}</title><link>https://bench.example/{i}</link><language>en</language>",
    ]
    for j in range(items):
        parts.append(
            f"<item><title>Story {i}-{j}: ministers meet to discuss the budget</title>"
            f"<link>https://bench.example/{i}/story-{j}</link><guid isPermaLink='false'>b{i}-{j}</guid>"
            f"<pubDate>Sat, 28 Nov 2026 {j % 24:02d}:{j % 60:02d}:00 GMT</pubDate>"
            f"<description>&lt;p&gt;Officials said on Saturday that talks on story {j} would continue "
            f"next week, the agency reported.&lt;/p&gt;</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


# --- the server process -------------------------------------------------------------------------------


def _serve(n_feeds: int, items: int, latency: float, hosts: list[str], conn: Connection) -> None:
    bodies = [make_feed(i, items) for i in range(n_feeds)]
    etags = [f'"bench-{i}"' for i in range(n_feeds)]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                path, hdrs = await read_request(reader)
                await asyncio.sleep(latency)
                try:
                    i = int(path.rsplit("/", 1)[1].removesuffix(".xml"))
                    body, etag = bodies[i], etags[i]
                except (ValueError, IndexError):
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                if hdrs.get("if-none-match") == etag:
                    writer.write(f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n".encode())
                else:
                    writer.write(
                        (
                            "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                            f"ETag: {etag}\r\nContent-Length: {len(body)}\r\n\r\n"
                        ).encode()
                        + body
                    )
                await writer.drain()
                if hdrs.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, _ctx: None)  # quiet shutdown
        ports = {}
        servers = []
        for host in hosts:
            srv = await asyncio.start_server(handle, host, 0, backlog=512)
            ports[host] = srv.sockets[0].getsockname()[1]
            servers.append(srv)
        conn.send(ports)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # wait for "stop"

    asyncio.run(main())


# --- measurements ---------------------------------------------------------------------------------


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run(args: argparse.Namespace) -> dict[str, float]:
    hosts = [f"127.0.0.{k}" for k in range(1, args.hosts + 1)]
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(
        target=_serve, args=(args.feeds, args.items, args.latency, hosts, child), daemon=True
    )
    proc.start()
    try:
        ports = parent.recv()
        feeds = [
            FeedConfig(id=f"bench-{i}", url=f"http://{hosts[i % len(hosts)]}:{ports[hosts[i % len(hosts)]]}/f/{i}.xml")
            for i in range(args.feeds)
        ]
        settings = FetchSettings.from_env()
        print(
            f"server: {args.feeds} feeds x {args.items} items ({len(make_feed(0, args.items))} bytes each), "
            f"{args.latency * 1000:.0f} ms latency, {len(hosts)} hosts ({hosts[0]}..{hosts[-1]}), "
            f"{args.feeds // len(hosts)} feeds/host"
        )
        load = os.getloadavg()
        print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
        print(
            f"fetcher: max_workers={settings.max_workers} per_host={settings.per_host} "
            f"min_host_delay={settings.min_host_delay}s retries={settings.retries}"
        )
        with tempfile.TemporaryDirectory(prefix="feedmon-bench-") as state_dir:
            cpu0, t0 = _cpu(), time.perf_counter()
            first = fetch_feeds(feeds, state_dir=state_dir, settings=settings)
            cycle1, cpu1 = time.perf_counter() - t0, _cpu() - cpu0
            statuses1 = _count(r.status for r in first)

            t0 = time.perf_counter()
            n_entries = sum(
                len(parse_feed(r.body, feed_id=r.feed_id, headers=r.headers).entries) for r in first if r.body
            )
            parse_s = time.perf_counter() - t0

            cpu0, t0 = _cpu(), time.perf_counter()
            second = fetch_feeds(feeds, state_dir=state_dir, settings=settings)
            cycle2, cpu2 = time.perf_counter() - t0, _cpu() - cpu0
            statuses2 = _count(r.status for r in second)

        subset = feeds[: args.baseline_feeds]
        fetch_only = 0.0
        base_entries = 0
        t0 = time.perf_counter()
        for f in subset:
            t1 = time.perf_counter()
            resp = requests.get(f.url, timeout=30)
            fetch_only += time.perf_counter() - t1
            base_entries += len(feedparser.parse(resp.content).entries)
        base_subset = time.perf_counter() - t0
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()

    scale = args.feeds / len(subset)
    baseline = base_subset * scale
    baseline_fetch = fetch_only * scale
    floor = args.feeds * args.latency / settings.max_workers
    per_host_feeds = -(-args.feeds // len(hosts))
    step = max(settings.min_host_delay, args.latency / max(1, settings.per_host))
    polite_floor = (per_host_feeds - 1) * step + args.latency
    figures = {
        "feeds": args.feeds,
        "items": args.items,
        "hosts": len(hosts),
        "cycle1_s": cycle1,
        "cycle1_cpu_s": cpu1,
        "parse_s": parse_s,
        "entries": n_entries,
        "cycle2_s": cycle2,
        "cycle2_cpu_s": cpu2,
        "baseline_subset_feeds": len(subset),
        "baseline_subset_s": base_subset,
        "baseline_s": baseline,
        "baseline_fetch_only_s": baseline_fetch,
        "floor_s": floor,
        "speedup": baseline / cycle1,
        "speedup_fetch_only": baseline_fetch / cycle1,
        "speedup_with_parse": baseline / (cycle1 + parse_s),
        "vs_floor": cycle1 / floor,
        "loadavg_1m_start": load[0],
        "loadavg_1m_end": os.getloadavg()[0],
        "politeness_floor_s": polite_floor,
    }
    print()
    print(f"cycle 1 (200s):      {cycle1:7.2f} s wall, {cpu1:5.2f} s CPU   statuses {statuses1}")
    print(f"  parse of bodies:   {parse_s:7.2f} s ({n_entries} entries; CPU-bound, done by the parse task)")
    print(f"cycle 2 (304s):      {cycle2:7.2f} s wall, {cpu2:5.2f} s CPU   statuses {statuses2}")
    print(
        f"baseline:            {baseline:7.2f} s  (sequential requests.get + feedparser.parse, measured on "
        f"{len(subset)} feeds in {base_subset:.2f} s, extrapolated x{scale:g}; {base_entries} entries)"
    )
    print(f"  of which fetching: {baseline_fetch:7.2f} s")
    print(
        f"latency floor:       {floor:7.2f} s  ({args.feeds} x {args.latency * 1000:.0f} ms / {settings.max_workers})"
    )
    print(
        f"politeness floor:    {polite_floor:7.2f} s  ({per_host_feeds} feeds on the busiest host, one start "
        f"every {step:g} s)"
    )
    print()
    print(f"speed-up vs baseline:               {figures['speedup']:6.1f}x   (target >= 20x)")
    print(f"speed-up, fetch only vs fetch only: {figures['speedup_fetch_only']:6.1f}x")
    print(f"speed-up incl. our parse time:      {figures['speedup_with_parse']:6.1f}x")
    print(f"cycle 1 / latency floor:            {figures['vs_floor']:6.2f}    (target <= 2)")
    print(f"cycle 2:                            {cycle2:6.2f} s  (target < 5 s)")
    ok = figures["speedup"] >= 20 and figures["vs_floor"] <= 2 and cycle2 < 5
    if args.feeds < 1000:
        print("(the targets are defined for the full run: 1,000 feeds x 50 items; this was a smaller variant)")
    else:
        print("targets met" if ok else "TARGETS MISSED")
    if args.json:
        with Path(args.json).open("w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=1)
    return figures


def _count(statuses: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="200 feeds on 100 hosts, baseline on 20 (< 60 s)")
    p.add_argument("--feeds", type=int, default=1000)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--hosts", type=int, default=100, help="loopback addresses to spread feeds over (<= 254)")
    p.add_argument("--baseline-feeds", type=int, default=100)
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.feeds, args.hosts, args.baseline_feeds = 200, 100, 20
    args.hosts = max(1, min(args.hosts, 254, args.feeds))
    args.baseline_feeds = max(1, min(args.baseline_feeds, args.feeds))
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
