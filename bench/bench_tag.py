"""Benchmark conflict tagging throughput on one core, against a naive per-term regex loop.

Articles are AG News titles + descriptions (the corpus when it is present, else the committed
evaluation items), replicated to ``--n`` articles (default 1,000,000; ``--quick`` 100,000) and tagged
one by one in this process, as the pipeline's tag task does. The naive baseline searches every
gazetteer key with its own pre-compiled ``\\b...\\b`` regex (case-insensitive) and only collects the
matches — no decision — on a subset (``--naive-n``, default 2,000 articles) because it is ~100x slower;
the ratio is therefore conservative (the fast path does more work per article).

Run it with ``nice`` on a shared machine::

    nice -n 10 .venv/bin/python bench/bench_tag.py [--n 1000000 | --quick] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import re
import sys
import time
from itertools import cycle, islice
from pathlib import Path

from feedmon.gazetteer import compile_gazetteer, load_gazetteer, merge, read_gazetteer_file, shipped_path
from feedmon.tag import ConflictTagger

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "agnews_test.csv"
EVAL_FILES = [REPO / "eval" / "tagging" / "ag_eval.jsonl", REPO / "eval" / "tagging" / "modern_eval.jsonl"]


def load_articles(corpus: Path) -> tuple[list[tuple[str, str]], str]:
    """(title, text) pairs and where they came from."""
    if corpus.is_file():
        with corpus.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        return [(r[1], r[2]) for r in rows], f"{corpus.name} ({len(rows)} rows)"
    items = []
    for path in EVAL_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                items.append((rec["title"], rec.get("description", rec.get("text", ""))))
    return items, f"committed eval items ({len(items)})"


def naive_patterns(tagger: ConflictTagger) -> list[re.Pattern[str]]:
    """One regex per gazetteer key: the approach the automaton replaces."""
    return [
        re.compile(r"\b" + re.escape(k).replace(r"\ ", r"\W+") + r"\b", re.IGNORECASE) for k in tagger.gazetteer.keys
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="articles to tag (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="100,000 articles")
    ap.add_argument("--naive-n", type=int, default=2_000, help="articles for the naive regex loop")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    n = 100_000 if args.quick else args.n

    articles, source = load_articles(args.corpus)

    # Cold build: read + merge + compile the shipped gazetteer, as a fresh process does.
    t0 = time.perf_counter()
    gaz = compile_gazetteer(merge(read_gazetteer_file(shipped_path()), {}))
    build_s = time.perf_counter() - t0
    tagger = ConflictTagger(load_gazetteer())
    tag = tagger.tag

    conflicts = 0
    c0, w0 = time.process_time(), time.perf_counter()
    for title, text in islice(cycle(articles), n):
        conflicts += tag(title, text).is_conflict
    cpu = time.process_time() - c0
    wall = time.perf_counter() - w0

    patterns = naive_patterns(tagger)
    sub = list(islice(cycle(articles), args.naive_n))
    hits = 0
    c1 = time.process_time()
    for title, text in sub:
        blob = f"{title}\n{text}"
        for pat in patterns:
            if pat.search(blob):
                hits += 1
    naive_cpu = time.process_time() - c1

    fast_rate = n / cpu if cpu else float("inf")
    naive_rate = args.naive_n / naive_cpu if naive_cpu else float("inf")
    out = {
        "articles": n,
        "source": source,
        "keys": len(gaz.keys),
        "gazetteer": gaz.version,
        "build_seconds": round(build_s, 3),
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(wall, 2),
        "articles_per_cpu_second": round(fast_rate),
        "conflict_share": round(conflicts / n, 4),
        "naive_articles": args.naive_n,
        "naive_articles_per_cpu_second": round(naive_rate),
        "speedup_vs_naive": round(fast_rate / naive_rate, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"source: {source}; gazetteer {gaz.version}: {len(gaz.keys)} keys, cold build {build_s * 1000:.0f} ms")
        print(
            f"ConflictTagger: {n:,} articles in {cpu:.2f} s CPU ({wall:.2f} s wall) = "
            f"{fast_rate:,.0f} articles/s on one core; {conflicts / n:.1%} tagged conflict"
        )
        print(
            f"naive per-term regex loop ({len(patterns)} patterns, matching only, {args.naive_n:,} articles): "
            f"{naive_rate:,.0f} articles/s -> Aho-Corasick tagger is {fast_rate / naive_rate:,.0f}x faster"
        )
    return 0 if fast_rate >= 50_000 else 1


if __name__ == "__main__":
    sys.exit(main())
