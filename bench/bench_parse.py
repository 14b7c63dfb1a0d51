"""Benchmark: feed parsing, the lxml fast path (``feedmon.parse.fast``) against feedparser, one core.

Both sides do the whole job ``parse_feed`` does for a fetched body, bytes to
:class:`~feedmon.models.RawEntry` rows (with a base URL, as the pipeline passes one):

* ``feedparser``: ``feedmon.parse.parse_feed`` as it is today (decode, feedparser, rows);
* ``fast``: the same decode (``decode_body`` + ``as_utf8_document``), then
  ``fast.parse_document``; it must return the same rows, which is checked before timing.

Inputs:

* ``realfeeds``: the 30 real captures in ``tests/fixtures/realfeeds`` (1,182 items, 1.6 MB);
* ``ag-500``: one RSS 2.0 feed of 500 items built from the AG News corpus
  (``../shared/corpus/agnews_test.csv``; real 2004 agency headlines and descriptions), shaped like
  the bundled sample feeds (escaped HTML description, permalink-less guid, RFC 822 date);
  skipped when the corpus is not there.

Figures: entries/s and MB/s for each side (best of ``--repeat`` runs) and the speed-up.

    nice .venv/bin/python bench/bench_parse.py            # 7 runs per input
    nice .venv/bin/python bench/bench_parse.py --quick    # 3 runs
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from feedmon.models import RawEntry
from feedmon.parse import decode_body, parse_feed
from feedmon.parse import fast as fastparse
from feedmon.parse.encoding import as_utf8_document

ROOT = Path(__file__).resolve().parents[1]
REALFEEDS = ROOT / "tests" / "fixtures" / "realfeeds"
CORPUS = Path(os.environ.get("FEEDMON_AG_CORPUS", ROOT.parent / "shared" / "corpus" / "agnews_test.csv"))
BASE_URL = "https://example.test/feeds/feed.xml"


def ag_feed(items: int) -> bytes | None:
    """One RSS 2.0 feed of ``items`` AG News items (None without the corpus)."""
    if not CORPUS.exists():
        return None
    with CORPUS.open(encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)  # header
        rows = [r for r in reader if r][:items]
    start = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        "<title>AG wire</title><link>https://wire.example/</link><description>AG wire</description>",
        "<language>en</language>",
    ]
    for i, (_, title, description) in enumerate(rows):
        parts.append(
            "<item>"
            f"<title>{html.escape(title)}</title>"
            f"<link>https://wire.example/world/story-{i}.html</link>"
            f'<guid isPermaLink="false">ag-{i}</guid>'
            f"<pubDate>{format_datetime(start - timedelta(minutes=7 * i))}</pubDate>"
            f"<description>{html.escape('<p>' + description + '</p>')}</description>"
            "</item>"
        )
    parts.append("</channel></rss>\n")
    return "\n".join(parts).encode("utf-8")


def with_feedparser(bodies: list[bytes]) -> list[list[RawEntry]]:
    return [parse_feed(b, feed_id="f", base_url=BASE_URL).entries for b in bodies]


def with_fast_path(bodies: list[bytes]) -> list[list[RawEntry]]:
    out = []
    for body in bodies:
        doc = as_utf8_document(decode_body(body)[0])
        feed = fastparse.parse_document(doc, feed_id="f", base_url=BASE_URL)
        if feed is None:  # what parse_feed will do: hand it to feedparser
            out.append(parse_feed(body, feed_id="f", base_url=BASE_URL).entries)
        else:
            out.append(feed.entries)
    return out


def best_of(repeat: int, bodies: list[bytes]) -> tuple[float, float]:
    """Best time of each side; the runs alternate, so a busy neighbour slows both alike."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for side, fn in enumerate((with_feedparser, with_fast_path)):
            t0 = time.perf_counter()
            fn(bodies)
            best[side] = min(best[side], time.perf_counter() - t0)
    return best[0], best[1]


def run(name: str, bodies: list[bytes], repeat: int) -> dict[str, float | int | str]:
    reference = with_feedparser(bodies)
    assert with_fast_path(bodies) == reference, f"{name}: the fast path does not give feedparser's rows"
    fallbacks = sum(fastparse.fallback_reason(as_utf8_document(decode_body(b)[0])) is not None for b in bodies)
    entries = sum(len(r) for r in reference)
    megabytes = sum(len(b) for b in bodies) / 1e6
    t_fp, t_fast = best_of(repeat, bodies)
    result: dict[str, float | int | str] = {
        "input": name,
        "feeds": len(bodies),
        "entries": entries,
        "megabytes": round(megabytes, 3),
        "fast_path_fallbacks": fallbacks,
        "feedparser_entries_per_s": round(entries / t_fp),
        "feedparser_mb_per_s": round(megabytes / t_fp, 2),
        "fast_entries_per_s": round(entries / t_fast),
        "fast_mb_per_s": round(megabytes / t_fast, 2),
        "speedup": round(t_fp / t_fast, 2),
    }
    print(
        f"{name:10} {len(bodies):3} feeds {entries:6,} entries {megabytes:6.2f} MB | "
        f"feedparser {entries / t_fp:9,.0f} entries/s {megabytes / t_fp:6.2f} MB/s | "
        f"fast {entries / t_fast:9,.0f} entries/s {megabytes / t_fast:6.2f} MB/s | "
        f"x{t_fp / t_fast:.1f} (fallbacks: {fallbacks})"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 runs per input instead of 7")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    repeat = 3 if args.quick else 7
    print(f"feed parsing, one process, python {sys.version.split()[0]}, best of {repeat} runs, rows checked equal")
    results = [run("realfeeds", [p.read_bytes() for p in sorted(REALFEEDS.glob("*.xml"))], repeat)]
    big = ag_feed(500)
    if big is None:
        print(f"AG corpus not found at {CORPUS} (set FEEDMON_AG_CORPUS): ag-500 skipped")
    else:
        results.append(run("ag-500", [big], repeat))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
