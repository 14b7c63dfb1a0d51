"""Benchmark of the product path: ``feedmon run`` and one DAG run, end to end, beside two baselines.

What users run is measured, nothing else: ``feedmon run`` as a subprocess (``.venv/bin/feedmon``)
and one ``feedmon_ingest`` DAG run (``dag.test()`` in a subprocess, ``bench/product_dag.py``),
against a separate feed-server process (``bench/product_server.py``) on K loopback hosts
127.0.0.x with ETag / Last-Modified / 304 and optional latency. The feeds are built from AG News
rows by ``bench/product_corpus.py`` (real rows, generated AG-like text, ~20 % cross-feed copies
of a story, ~2 % exact re-listings). In the same run, the baselines of
``bench/product_baselines.py``: (a) the sequential ``requests.get`` + ``feedparser.parse`` loop,
timed on a subset of the feeds and extrapolated when the whole would take minutes (said in the
output), (b) a concurrent standard-parts pipeline producing the same kind of output.

Every process is measured the same way: wall time of the whole process (imports included), CPU
seconds (user + system of the process and its children, including pool workers that are not
waited for: see TreeRSS), and peak RSS of its process tree (psutil,
sampled every 50 ms; RSS of children is summed, so pages they share with their parent count twice).

Correctness guard: after every feedmon (and baseline) run the day's Parquet is read back; it must
hold ``served - exact copies`` rows with unique article ids, or the run is marked FAILED (a fast run
that drops data cannot look good). Scenarios (from issue 12; ``--quick`` runs smaller ones):

* S1: 100k articles, 200 feeds x 500 items on 50 hosts, no latency: ``feedmon run``, one DAG run,
  the standard-parts pipeline, the sequential loop. Targets: >= 10x the standard pipeline (3x at the
  very least); the DAG run <= 2x the CLI.
* S2: 300 feeds x 20 items on 30 hosts answering after 300 ms: ``feedmon run`` cycle 1, then cycle 2
  where every feed answers 304. Targets: >= 20x the sequential loop; cycle 2 <= 5 s.
* S3 (``--scale``): ``feedmon run`` at 20k (20 feeds x 1,000 items, 2 hosts) and 1M (1,000 x 1,000,
  100 hosts). Targets: per-article cost at 1M <= 1.3x that at 20k; peak memory at 1M <= 2 GiB.

    nice .venv/bin/python bench/bench_product.py --quick        # small S1 + S2, < 2 min
    nice .venv/bin/python bench/bench_product.py --scale        # full S1 + S2 + S3 (make bench-product)
    nice .venv/bin/python bench/bench_product.py --only s1 --profile   # + cProfile of the S1 CLI run

Results: printed table, and ``bench/results/product.json`` (``product-quick.json`` for ``--quick``;
``--only s2`` writes ``product-s2.json``, so a partial run never replaces the full run's file).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from product_corpus import CorpusSpec, build, load_manifest  # noqa: E402
from product_server import host_of_feed, loopback_hosts  # noqa: E402

ROOT = HERE.parent
OUT = HERE / "out" / "product"
RESULTS = HERE / "results"
BIN = Path(sys.executable).parent
DAY = "2026-11-28"
GiB = 2**30

TARGETS = {
    "s1_vs_standard": 10.0,
    "s1_vs_standard_min": 3.0,
    "s1_dag_vs_cli": 2.0,
    "s2_vs_sequential": 20.0,
    "s2_cycle2_s": 5.0,
    "s3_cost_ratio": 1.3,
    "s3_peak_rss_gib": 2.0,
}

FULL: dict[str, Any] = {
    "s1": {"feeds": 200, "items": 500, "hosts": 50},
    "s2": {"feeds": 300, "items": 20, "hosts": 30, "latency": 0.3},
    "s3": [{"feeds": 20, "items": 1000, "hosts": 2}, {"feeds": 1000, "items": 1000, "hosts": 100}],
}
QUICK: dict[str, Any] = {
    "s1": {"feeds": 20, "items": 150, "hosts": 10},
    "s2": {"feeds": 24, "items": 20, "hosts": 6, "latency": 0.3},
    "s3": [{"feeds": 5, "items": 1000, "hosts": 1}, {"feeds": 50, "items": 1000, "hosts": 5}],
}


# --------------------------------------------------------------------------- measuring a process
class TreeRSS:
    """Peak summed RSS (and process count) of a process and all its descendants, every 50 ms, and
    the CPU seconds each of them used as last seen: a pool's workers are children of a fork server
    that nobody waits for, so ``RUSAGE_CHILDREN`` never counts them."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.peak_procs = 0
        self.cpu_by_pid: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):  # a child that just exited
                total += p.memory_info().rss
                t = p.cpu_times()
                self.cpu_by_pid[p.pid] = t.user + t.system
        self.peak = max(self.peak, total)
        self.peak_procs = max(self.peak_procs, len(procs))

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> TreeRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def tree_cpu(self) -> float:
        """CPU seconds of every process of the tree as last sampled (up to one interval short each)."""
        return sum(self.cpu_by_pid.values())


@dataclass
class Measured:
    """One process run: wall seconds, CPU seconds, peak tree RSS, exit code, its BENCH_RESULT."""

    wall: float
    cpu: float
    peak_rss: int
    peak_procs: int
    rc: int
    stdout: str
    result: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall, 2),
            "cpu_s": round(self.cpu, 2),
            "cores_used": round(self.cpu / self.wall, 2) if self.wall else None,
            "peak_rss_mib": round(self.peak_rss / 2**20),
            "peak_processes": self.peak_procs,
            "exit_code": self.rc,
        }


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(cmd: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run ``cmd`` to completion (stdout kept, stderr to ``log``) and measure it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out_path = log.with_suffix(".out")
    with log.open("wb") as err, out_path.open("wb") as out:
        cpu0 = _children_cpu()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=ROOT)
        with TreeRSS(proc.pid) as rss:
            rc = proc.wait()
        wall = time.perf_counter() - t0
        # What the kernel counted for the waited-for tree, or the sampled sum when processes outside
        # it (a fork server's pool workers) used more.
        cpu = max(_children_cpu() - cpu0, rss.tree_cpu)
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    result: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line.removeprefix("BENCH_RESULT "))
    if rc != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        print(f"    ! {cmd[1] if len(cmd) > 1 else cmd[0]} exited {rc}; log {log}\n{tail}", flush=True)
    return Measured(wall, cpu, rss.peak, rss.peak_procs, rc, stdout, result)


def base_env(**extra: str) -> dict[str, str]:
    """The caller's environment without FEEDMON_* / AIRFLOW_* (the Makefile exports some), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDMON_", "AIRFLOW_", "AIRFLOW__"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' Pythons cache bytecode; see warm_bytecode()
    env["PYTHONHASHSEED"] = "0"
    env.update(extra)
    return env


def warm_bytecode() -> None:
    """Compile every module the measured processes import, as an install does.

    With ``PYTHONDONTWRITEBYTECODE`` set (some shells and CI images set it) and no ``.pyc`` files,
    every process would compile hundreds of modules from source (seconds; far more for Airflow),
    which users do not pay. Cheap when everything is compiled already.
    """
    t0 = time.perf_counter()
    site = Path(psutil.__file__).resolve().parents[1]  # this venv's site-packages
    dirs = [site, ROOT / "include", ROOT / "dags", HERE, ROOT / "eval" / "dedup"]
    cmd = [sys.executable, "-m", "compileall", "-q", "-j", "0", *map(str, dirs)]
    subprocess.run(cmd, env=base_env(), capture_output=True, cwd=ROOT)
    print(f"  bytecode compiled/checked in {time.perf_counter() - t0:.1f} s", flush=True)


# --------------------------------------------------------------------------- the feed server
class FeedServer:
    """``bench/product_server.py`` in its own process; stopped by closing its stdin."""

    def __init__(self, corpus: Path, hosts: int, latency: float = 0.0) -> None:
        self.hosts = loopback_hosts(hosts)
        self.cmd = [sys.executable, str(HERE / "product_server.py"), "--corpus", str(corpus)]
        self.cmd += ["--hosts", str(len(self.hosts)), "--latency", str(latency)]
        self.ports: dict[str, int] = {}

    def __enter__(self) -> FeedServer:
        OUT.mkdir(parents=True, exist_ok=True)
        self.log = (OUT / "server.log").open("ab")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=HERE)
        line = self.proc.stdout.readline() if self.proc.stdout else b""
        if not line:
            raise RuntimeError("the feed server did not start")
        self.ports = json.loads(line)["ports"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def url(self, i: int) -> str:
        host = host_of_feed(i, self.hosts)
        return f"http://{host}:{self.ports[host]}/f/{i}.xml"

    def stats(self) -> dict[str, int]:
        host = self.hosts[0]
        with urllib.request.urlopen(f"http://{host}:{self.ports[host]}/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def write_feeds_file(self, manifest: dict[str, Any], path: Path) -> Path:
        feeds = []
        for f in manifest["feeds"]:
            entry = {"id": f["id"], "name": f["name"], "language": f["language"], "url": self.url(f["index"])}
            if f["agency"]:
                entry["agency"] = f["agency"]
            feeds.append(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False), encoding="utf-8")
        return path


# --------------------------------------------------------------------------- guard
def check_snapshot(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Read the day's Parquet back: it must hold every served article but the exact copies."""
    expected = manifest["expected_articles"]
    if not path.exists():
        return {"ok": False, "rows": 0, "expected": expected, "why": f"no snapshot at {path}"}
    table = pq.read_table(path, columns=["article_id", "story_id", "is_conflict"])
    rows = table.num_rows
    ids = len(set(table.column("article_id").to_pylist()))
    stories = len(set(table.column("story_id").to_pylist()))
    ok = rows == expected and ids == rows
    out = {
        "ok": ok,
        "rows": rows,
        "expected": expected,
        "unique_ids": ids,
        "stories": stories,
        "planted_stories": manifest["originals"],
        "conflict_rows": sum(bool(v) for v in table.column("is_conflict").to_pylist()),
    }
    if not ok:
        out["why"] = f"{rows} rows ({ids} unique ids), expected {expected} (served {manifest['served_items']}"
        out["why"] += f" minus {manifest['exact_copies']} exact copies)"
    return out


def _guard_line(g: dict[str, Any]) -> str:
    if not g["ok"]:
        return f"GUARD FAILED: {g['why']}"
    return (
        f"guard ok: {g['rows']:,} rows = served - exact copies; {g['stories']:,} stories "
        f"({g['planted_stories']:,} planted), {g['conflict_rows']:,} conflict rows"
    )


# --------------------------------------------------------------------------- the runs
def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def snapshot_of(data_dir: Path) -> Path:
    """Where feedmon writes the day's snapshot (the layout README's "Outputs" documents)."""
    return data_dir / "snapshots" / f"date={DAY}" / "articles.parquet"


def feedmon_run(feeds_file: Path, data_dir: Path, log: Path, profile: Path | None = None) -> Measured:
    args = ["run", "--feeds", str(feeds_file), "--data-dir", str(data_dir), "--date", DAY, "--json"]
    if profile is None:
        cmd = [str(BIN / "feedmon"), *args]
    else:
        cmd = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "feedmon.cli", *args]
    m = measure(cmd, base_env(), log)
    try:
        m.result = json.loads(m.stdout)
    except json.JSONDecodeError:
        m.result = {}
    return m


def airflow_env(data_dir: Path, feeds_file: Path) -> dict[str, str]:
    home = OUT / "airflow_home"
    return base_env(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        FEEDMON_FEEDS=str(feeds_file),
        FEEDMON_DATA_DIR=str(data_dir),
    )


def migrate_airflow_once() -> None:
    """A migrated SQLite metadata DB for the DAG runs, kept under bench/out (about 10 s, once)."""
    home = OUT / "airflow_home"
    marker = home / ".migrated"
    if marker.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    print("  (once) airflow db migrate ...", flush=True)
    env = airflow_env(home, home)
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, cwd=ROOT)
    marker.touch()


def dag_run(feeds_file: Path, data_dir: Path, log: Path) -> Measured:
    migrate_airflow_once()
    cmd = [sys.executable, str(HERE / "product_dag.py"), "--date", DAY]
    return measure(cmd, airflow_env(data_dir, feeds_file), log)


def standard_run(feeds_file: Path, out: Path, state: Path, log: Path) -> Measured:
    cmd = [sys.executable, str(HERE / "product_baselines.py"), "standard", "--feeds-file", str(feeds_file)]
    cmd += ["--out", str(out), "--state", str(state)]
    return measure(cmd, base_env(), log)


def sequential_run(feeds_file: Path, n_feeds: int, limit: int, log: Path) -> dict[str, Any]:
    """The sequential loop on the first ``limit`` feeds, extrapolated linearly to ``n_feeds``."""
    limit = max(1, min(limit, n_feeds))
    cmd = [sys.executable, str(HERE / "product_baselines.py"), "sequential", "--feeds-file", str(feeds_file)]
    m = measure([*cmd, "--limit", str(limit)], base_env(), log)
    scale = n_feeds / limit
    loop = m.result.get("seconds", float("nan"))
    return {
        "measured_feeds": limit,
        "measured_loop_s": round(loop, 2),
        "fetch_share": round(m.result.get("fetch_seconds", 0) / loop, 3) if loop else None,
        "entries": m.result.get("entries"),
        "extrapolated": limit < n_feeds,
        "seconds": round(loop * scale, 2),
        "note": (
            f"measured on {limit} of {n_feeds} feeds ({loop:.2f} s), extrapolated x{scale:g}"
            if limit < n_feeds
            else f"measured on all {n_feeds} feeds"
        ),
        "peak_rss_mib": round(m.peak_rss / 2**20),
    }


def prepare(name: str, spec: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    corpus = build(CorpusSpec(spec["feeds"], spec["items"], day=DAY))
    manifest = load_manifest(corpus)
    print(
        f"  {name}: {manifest['served_items']:,} items = {spec['feeds']} feeds x {spec['items']} on "
        f"{spec['hosts']} hosts, latency {spec.get('latency', 0) * 1000:.0f} ms; expected "
        f"{manifest['expected_articles']:,} articles ({manifest['exact_copies']:,} exact copies, "
        f"{manifest['copies']:,} cross-feed copies), {manifest['bytes'] / 2**20:.0f} MiB of XML",
        flush=True,
    )
    return corpus, manifest


def _say(label: str, m: Measured, extra: str = "") -> None:
    print(
        f"    {label:<22} {m.wall:8.2f} s wall  {m.cpu:8.2f} s CPU  {m.peak_rss / 2**20:7.0f} MiB peak  {extra}",
        flush=True,
    )


# --------------------------------------------------------------------------- scenarios
def scenario_s1(spec: dict[str, Any], seq_limit: int, profile: bool, skip_dag: bool) -> dict[str, Any]:
    corpus, manifest = prepare("S1", spec)
    work = fresh(OUT / "s1")
    res: dict[str, Any] = {"spec": spec, "served": manifest["served_items"], "expected": manifest["expected_articles"]}
    with FeedServer(corpus, spec["hosts"]) as server:
        feeds_file = server.write_feeds_file(manifest, work / "feeds.yaml")

        m = feedmon_run(feeds_file, work / "cli", work / "logs" / "cli.log")
        g = check_snapshot(snapshot_of(work / "cli"), manifest)
        res["feedmon_run"] = {**m.figures(), "articles_per_s": round(g["rows"] / m.wall), "guard": g}
        _say("feedmon run", m, f"{g['rows'] / m.wall:,.0f} articles/s")
        print(f"      {_guard_line(g)}", flush=True)
        shutil.rmtree(work / "cli", ignore_errors=True)

        m = standard_run(
            feeds_file, work / "standard" / "day.parquet", work / "standard" / "state.json", work / "logs" / "std.log"
        )
        g = check_snapshot(work / "standard" / "day.parquet", manifest)
        res["standard"] = {**m.figures(), "stages_s": m.result.get("stage_seconds"), "guard": g}
        _say("standard pipeline", m, f"{g['rows'] / m.wall:,.0f} articles/s")
        print(f"      {_guard_line(g)}", flush=True)

        seq = sequential_run(feeds_file, spec["feeds"], seq_limit, work / "logs" / "seq.log")
        res["sequential"] = seq
        print(f"    {'sequential loop':<22} {seq['seconds']:8.2f} s   ({seq['note']}; fetch + parse only)", flush=True)

        if not skip_dag:
            m = dag_run(feeds_file, work / "dag", work / "logs" / "dag.log")
            g = check_snapshot(snapshot_of(work / "dag"), manifest)
            run_s = m.result.get("seconds", float("nan"))
            res["dag_run"] = {
                **m.figures(),
                "dag_test_s": round(run_s, 2),
                "state": m.result.get("state"),
                "guard": g,
            }
            _say("DAG run (process)", m, f"dag.test() itself {run_s:.2f} s, state {m.result.get('state')}")
            print(f"      {_guard_line(g)}", flush=True)
            shutil.rmtree(work / "dag", ignore_errors=True)

        if profile:
            prof = OUT / "profiles" / f"s1-{spec['feeds']}x{spec['items']}.prof"  # outside work/: kept
            prof.parent.mkdir(parents=True, exist_ok=True)
            m = feedmon_run(feeds_file, fresh(work / "prof"), work / "logs" / "prof.log", profile=prof)
            res["profile"] = {"wall_s": round(m.wall, 2), "file": str(prof), "summary": profile_summary(prof)}
            _say("feedmon run (cProfile)", m)
            shutil.rmtree(work / "prof", ignore_errors=True)
    cli = res["feedmon_run"]["wall_s"]
    res["ratio_vs_standard"] = round(res["standard"]["wall_s"] / cli, 2)
    # CPU seconds move less than wall time when other jobs share the machine: kept beside it.
    res["cpu_ratio_vs_standard"] = round(res["standard"]["cpu_s"] / res["feedmon_run"]["cpu_s"], 2)
    res["ratio_vs_sequential"] = round(res["sequential"]["seconds"] / cli, 2)
    if "dag_run" in res:
        res["dag_vs_cli"] = round(res["dag_run"]["dag_test_s"] / cli, 2)
    return res


def scenario_s2(spec: dict[str, Any], seq_limit: int) -> dict[str, Any]:
    corpus, manifest = prepare("S2", spec)
    work = fresh(OUT / "s2")
    res: dict[str, Any] = {"spec": spec, "served": manifest["served_items"], "expected": manifest["expected_articles"]}
    with FeedServer(corpus, spec["hosts"], spec["latency"]) as server:
        feeds_file = server.write_feeds_file(manifest, work / "feeds.yaml")
        for cycle in (1, 2):
            before = server.stats()
            m = feedmon_run(feeds_file, work / "cli", work / "logs" / f"cli{cycle}.log")
            after = server.stats()
            got = _served(before, after)
            g = check_snapshot(snapshot_of(work / "cli"), manifest)
            res[f"feedmon_cycle{cycle}"] = {**m.figures(), "server": got, "guard": g}
            _say(
                f"feedmon run, cycle {cycle}",
                m,
                f"{got['requests']} requests, {got['not_modified']} answered 304, fetch {got['fetch_span_s']:.2f} s",
            )
            print(f"      {_guard_line(g)}", flush=True)
        for cycle in (1, 2):
            before = server.stats()
            m = standard_run(
                feeds_file, work / "std" / "day.parquet", work / "std" / "state.json", work / "logs" / f"std{cycle}.log"
            )
            after = server.stats()
            got = _served(before, after)
            g = check_snapshot(work / "std" / "day.parquet", manifest)
            res[f"standard_cycle{cycle}"] = {**m.figures(), "server": got, "guard": g}
            _say(
                f"standard, cycle {cycle}",
                m,
                f"{got['requests']} requests, {got['not_modified']} answered 304, fetch {got['fetch_span_s']:.2f} s",
            )
            print(f"      {_guard_line(g)}", flush=True)
        seq = sequential_run(feeds_file, spec["feeds"], seq_limit, work / "logs" / "seq.log")
        res["sequential"] = seq
        print(f"    {'sequential loop':<22} {seq['seconds']:8.2f} s   ({seq['note']})", flush=True)
    shutil.rmtree(work / "cli", ignore_errors=True)
    c1 = res["feedmon_cycle1"]["wall_s"]
    res["ratio_vs_sequential"] = round(seq["seconds"] / c1, 2)
    res["ratio_vs_standard"] = round(res["standard_cycle1"]["wall_s"] / c1, 2)
    res["fetch_floor_s"] = fetch_floor(spec)
    return res


def _served(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What the server saw during one run: counts, and the span from first request to last answer."""
    counts = {k: after[k] - before[k] for k in ("requests", "not_modified", "bytes")}
    return counts | {"fetch_span_s": after["fetch_span_s"]}


def fetch_floor(spec: dict[str, Any]) -> dict[str, float]:
    """The least a polite fetch of the scenario can take with feedmon's default limits.

    Workers busy (feeds x latency / workers), one host's slot rounds (its feeds / per_host x
    latency), one host's spacing (its feeds x min_host_delay + latency); the largest of them is the
    floor. Feeds are spread over hosts as the server does (feed i on host i mod K).
    """
    from feedmon.config import FetchSettings  # the defaults feedmon run uses

    d = FetchSettings()
    per_host = -(-spec["feeds"] // spec["hosts"])
    lat = spec.get("latency", 0.0)
    floors = {
        "workers_s": spec["feeds"] * lat / d.max_workers,
        "host_slot_rounds_s": -(-per_host // d.per_host) * lat,
        "host_spacing_s": (per_host - 1) * d.min_host_delay + lat,
    }
    return {k: round(v, 2) for k, v in floors.items()} | {"floor_s": round(max(floors.values()), 2)}


def scenario_s3(specs: list[dict[str, Any]]) -> dict[str, Any]:
    res: dict[str, Any] = {"points": []}
    for spec in specs:
        corpus, manifest = prepare(f"S3 {spec['feeds'] * spec['items']:,}", spec)
        work = fresh(OUT / "s3")
        with FeedServer(corpus, spec["hosts"]) as server:
            feeds_file = server.write_feeds_file(manifest, work / "feeds.yaml")
            m = feedmon_run(feeds_file, work / "cli", work / "logs" / "cli.log")
        g = check_snapshot(snapshot_of(work / "cli"), manifest)
        us = m.wall / max(1, g["rows"]) * 1e6
        us_cpu = m.cpu / max(1, g["rows"]) * 1e6
        point = {"spec": spec, **m.figures(), "us_per_article": round(us, 1), "cpu_us_per_article": round(us_cpu, 1)}
        res["points"].append({**point, "guard": g})
        _say(f"feedmon run {g['rows']:,}", m, f"{us:.1f} us/article ({us_cpu:.1f} us CPU)")
        print(f"      {_guard_line(g)}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
    small, large = res["points"][0], res["points"][-1]
    res["cost_ratio"] = round(large["us_per_article"] / small["us_per_article"], 2)
    res["cpu_cost_ratio"] = round(large["cpu_us_per_article"] / small["cpu_us_per_article"], 2)
    res["peak_rss_gib_large"] = round(large["peak_rss_mib"] / 1024, 2)
    return res


# --------------------------------------------------------------------------- profile
def profile_summary(prof: Path, top: int = 30) -> dict[str, Any]:
    """Where the time went: top functions by own time, and cumulative time of feedmon's functions."""
    st: Any = pstats.Stats(str(prof))  # total_tt and stats are undeclared attributes
    total = st.total_tt
    rows = []
    for (file, line, name), (_cc, nc, tt, ct, _callers) in st.stats.items():
        rows.append((tt, ct, nc, f"{Path(file).name}:{line}({name})", file))
    own = sorted(rows, reverse=True)[:top]
    by_package: dict[str, float] = {}
    for (file, _line, name), (_cc, _nc, tt, _ct, callers) in st.stats.items():
        if not file.startswith("~") or not callers:
            by_package[_package(file)] = by_package.get(_package(file), 0.0) + tt
            continue
        # A C function's time goes to the package that called it (lock waits are kept apart).
        for (cfile, _cl, _cn), caller_stats in callers.items():
            key = "(waiting: lock acquire)" if "acquire" in name else _package(cfile)
            by_package[key] = by_package.get(key, 0.0) + caller_stats[2]
    cum = sorted((r for r in rows if "/feedmon/" in r[4]), key=lambda r: -r[1])[:top]
    text = [f"total {total:.2f} s (profiled process; cProfile slows Python code, so read shares, not seconds)"]
    text.append("\nown time by package or feedmon module (C built-ins counted for their caller):")
    text += [f"  {t:7.2f} s {t / total:6.1%}  {k}" for k, t in sorted(by_package.items(), key=lambda kv: -kv[1])[:20]]
    text.append("\nown time (tottime):")
    text += [f"  {tt:7.2f} s {tt / total:6.1%}  {nc:>10,} calls  {name}" for tt, _ct, nc, name, _f in own]
    text.append("\ncumulative time of feedmon functions:")
    text += [f"  {ct:7.2f} s {ct / total:6.1%}  {nc:>10,} calls  {name}" for _tt, ct, nc, name, _f in cum]
    return {"total_s": round(total, 2), "text": "\n".join(text)}


def _package(file: str) -> str:
    """``feedmon/<module>``, the site-packages package, ``(built-in)`` or ``stdlib`` of a profiled file."""
    if file.startswith("~"):
        return "(built-in)"
    parts = Path(file).parts
    if "feedmon" in parts:
        return "feedmon/" + Path(file).stem
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    return "stdlib"


# --------------------------------------------------------------------------- report
def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--", "include", "dags"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
        )
    except OSError:
        commit, dirty = "unknown", False
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(psutil.virtual_memory().total / GiB, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "feedmon_commit": commit + ("+dirty" if dirty else ""),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "niceness": os.nice(0),
    }


def table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: scenario, feedmon, baseline(s), ratio, target, met."""
    rows: list[dict[str, Any]] = []
    s1 = results.get("s1")
    if s1:
        run = s1["feedmon_run"]
        cli = run["wall_s"]
        rows.append(
            {
                "scenario": f"S1 {s1['served']:,} articles, feedmon run",
                "feedmon": f"{cli:.1f} s ({run['articles_per_s']:,}/s, {run['peak_rss_mib']} MiB)",
                "baseline": f"standard {s1['standard']['wall_s']:.1f} s ({s1['standard']['peak_rss_mib']} MiB); "
                f"sequential {s1['sequential']['seconds']:.1f} s{'*' if s1['sequential']['extrapolated'] else ''}",
                "ratio": f"{s1['ratio_vs_standard']:.2f}x std (CPU {s1['cpu_ratio_vs_standard']:.2f}x), "
                f"{s1['ratio_vs_sequential']:.2f}x seq",
                "target": ">= 10x std (>= 3x at least)",
                "met": s1["ratio_vs_standard"] >= TARGETS["s1_vs_standard"],
            }
        )
        if "dag_run" in s1:
            d = s1["dag_run"]
            rows.append(
                {
                    "scenario": f"S1 {s1['served']:,} articles, one DAG run",
                    "feedmon": f"{d['dag_test_s']:.1f} s dag.test ({d['wall_s']:.1f} s process, "
                    f"{d['peak_rss_mib']} MiB)",
                    "baseline": f"feedmon run {cli:.1f} s",
                    "ratio": f"{s1['dag_vs_cli']:.2f}x the CLI",
                    "target": "<= 2x the CLI",
                    "met": s1["dag_vs_cli"] <= TARGETS["s1_dag_vs_cli"],
                }
            )
    s2 = results.get("s2")
    if s2:
        c1, c2 = s2["feedmon_cycle1"], s2["feedmon_cycle2"]
        seq = s2["sequential"]
        rows.append(
            {
                "scenario": f"S2 fetch {s2['spec']['feeds']} feeds/{s2['spec']['hosts']} hosts/"
                f"{s2['spec']['latency'] * 1000:.0f} ms, cycle 1",
                "feedmon": f"{c1['wall_s']:.1f} s (fetch {c1['server']['fetch_span_s']:.1f} s, "
                f"floor {s2['fetch_floor_s']['floor_s']:.1f} s)",
                "baseline": f"sequential {seq['seconds']:.1f} s{'*' if seq['extrapolated'] else ''}; "
                f"standard {s2['standard_cycle1']['wall_s']:.1f} s",
                "ratio": f"{s2['ratio_vs_sequential']:.2f}x seq, {s2['ratio_vs_standard']:.2f}x std",
                "target": ">= 20x seq",
                "met": s2["ratio_vs_sequential"] >= TARGETS["s2_vs_sequential"],
            }
        )
        rows.append(
            {
                "scenario": "S2 cycle 2 (all 304)",
                "feedmon": f"{c2['wall_s']:.1f} s (fetch {c2['server']['fetch_span_s']:.1f} s; "
                f"{c2['server']['not_modified']}/{c2['server']['requests']} were 304)",
                "baseline": f"standard {s2['standard_cycle2']['wall_s']:.1f} s",
                "ratio": "",
                "target": "<= 5 s",
                "met": c2["wall_s"] <= TARGETS["s2_cycle2_s"],
            }
        )
    s3 = results.get("s3")
    if s3:
        small, large = s3["points"][0], s3["points"][-1]
        rows.append(
            {
                "scenario": f"S3 cost per article {small['guard']['rows']:,} -> {large['guard']['rows']:,}",
                "feedmon": f"{small['us_per_article']:.0f} -> {large['us_per_article']:.0f} us/article",
                "baseline": "",
                "ratio": f"{s3['cost_ratio']:.2f}x (CPU {s3['cpu_cost_ratio']:.2f}x)",
                "target": "<= 1.3x",
                "met": s3["cost_ratio"] <= TARGETS["s3_cost_ratio"],
            }
        )
        rows.append(
            {
                "scenario": f"S3 peak memory at {large['guard']['rows']:,}",
                "feedmon": f"{large['peak_rss_mib'] / 1024:.2f} GiB ({large['wall_s']:.0f} s)",
                "baseline": "",
                "ratio": "",
                "target": "<= 2 GiB",
                "met": s3["peak_rss_gib_large"] <= TARGETS["s3_peak_rss_gib"],
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]], quick: bool) -> None:
    cols = ["scenario", "feedmon", "baseline", "ratio", "target", "met"]
    cells = [[str(r[c]) if c != "met" else ("yes" if r[c] else "NO") for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print()
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    print("(* extrapolated from a subset of the feeds; std = the standard-parts pipeline; seq = the sequential loop)")
    if quick:
        print("(--quick: smaller sets than the issue's targets are defined for; 'met' is indicative only)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small S1 and S2 (< 2 min); with --scale a small S3 too")
    p.add_argument("--scale", action="store_true", help="also run S3 (20k and 1M articles; heavy)")
    p.add_argument("--only", help="comma-separated scenarios to run (s1,s2,s3)")
    p.add_argument("--no-dag", action="store_true", help="skip the DAG run of S1")
    p.add_argument("--profile", action="store_true", help="also run S1's feedmon run under cProfile")
    p.add_argument("--json", type=Path, help="result file (default bench/results/product[-quick].json)")
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    chosen = set(args.only.split(",")) if args.only else {"s1", "s2"} | ({"s3"} if args.scale else set())
    started = datetime.now(UTC)
    info = machine()
    print(
        f"product benchmark ({'quick' if args.quick else 'full'}): {', '.join(sorted(chosen))}; "
        f"{info['nproc']} CPUs, load {info['loadavg_start'][0]:.1f}, feedmon {info['feedmon_commit'][:12]}",
        flush=True,
    )
    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    warm_bytecode()
    if "s1" in chosen:
        s1 = sizes["s1"]
        results["s1"] = scenario_s1(s1, max(5, s1["feeds"] // 10), args.profile, args.no_dag)
    if "s2" in chosen:
        s2 = sizes["s2"]
        results["s2"] = scenario_s2(s2, max(10, s2["feeds"] // 10))
    if "s3" in chosen:
        results["s3"] = scenario_s3(sizes["s3"])
    rows = table(results)
    print_table(rows, args.quick)
    guards = list(_walk(results, "guard"))
    guards_ok = all(g["ok"] for g in guards)
    print(f"\ncorrectness guards: {sum(g['ok'] for g in guards)}/{len(guards)} ok")
    info["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    doc = {
        "benchmark": "product path (issue 12)",
        "mode": "quick" if args.quick else "full",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - t0, 1),
        "machine": info,
        "targets": TARGETS,
        "guards_ok": guards_ok,
        "table": rows,
        "scenarios": results,
    }
    if "profile" in results.get("s1", {}):
        print("\nprofile of S1's feedmon run:\n" + results["s1"]["profile"]["summary"]["text"])
    out = args.json or RESULTS / result_name(args.quick, chosen if args.only else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({doc['duration_s']} s)")
    return 0 if guards_ok else 1


def result_name(quick: bool, only: set[str] | None) -> str:
    """``product[-s2][-quick].json``: a run of some scenarios never overwrites the full run's file."""
    parts = ["product", *(sorted(only) if only else []), *(["quick"] if quick else [])]
    return "-".join(parts) + ".json"


def _walk(obj: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere in nested dicts and lists."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key and isinstance(v, dict):
                yield v
            else:
                yield from _walk(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v, key)


if __name__ == "__main__":
    sys.exit(main())
