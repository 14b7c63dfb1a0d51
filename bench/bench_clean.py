"""Benchmark: ``feedmon.clean.clean_article`` throughput on the AG news corpus, one core.

Inputs, built from ``../shared/corpus/agnews_test.csv`` (7,600 real agency items, with their broken
entities, ``\\`` continuations, credits and datelines), cycled to ``--n`` articles:

* ``ag-raw``: the AG title and description exactly as in the corpus (what a plain RSS summary is);
* ``ag-syndicated``: the same items dressed the way outlets republish them: HTML paragraphs, the title
  repeated on top, the lede repeated with a dateline, a disclaimer, "Read more", share and comment
  widgets, an avatar URL, a tracking pixel, entities escaped twice;
* ``seed``: the seed example (13 paragraphs of Reuters copy plus site junk), the realistic upper size.

For scale, trafilatura's ``html2txt`` (HTML to text only: no junk rules, no datelines) runs on a
sample of the syndicated input. Figures: articles/s, microseconds per article, peak RSS.

    nice .venv/bin/python bench/bench_clean.py            # 100k articles per input
    nice .venv/bin/python bench/bench_clean.py --quick    # 20k
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

from feedmon.clean import clean_article, default_rules

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("FEEDMON_AG_CORPUS", ROOT.parent / "shared" / "corpus" / "agnews_test.csv"))
SEED = ROOT / "tests" / "fixtures" / "clean" / "agency_article_example.html"
SEED_TITLE = "Putin Hosts First Post-war Talks Between Leaders Of Azerbaijan, Armenia"
FOOTER = (
    "<p>Disclaimer: This post has been auto-published from an agency feed without any modifications to the "
    "text and has not been reviewed by an editor</p><p>Read all the Latest News, Breaking News here</p>"
    '<div class="share-buttons"><a href="#">Facebook</a> <a href="#">Twitter</a></div>'
    "<p>What&amp;#39;s your reaction?</p><p>Comments</p><p>https://example.com/assets/user-avatar-s.jpg</p>"
    '<p>0 comment</p><img src="https://example.com/pixel.gif?u=1" width="1" height="1">'
)


def load_ag() -> list[tuple[str, str]]:
    with CORPUS.open(encoding="utf-8", newline="") as fh:
        return [(row["title"], row["description"]) for row in csv.DictReader(fh)]


def syndicate(title: str, desc: str, i: int) -> tuple[str, str]:
    places = ["MOSCOW:", "BAGHDAD, Iraq -", "TEHRAN (Reuters) -", "KABUL, Afghanistan -", "WASHINGTON (AP) --"]
    lede = html.escape(desc.strip()).replace("&#x27;", "&amp;#39;")
    body = f"<p>{html.escape(title)}</p><p>{lede}</p><p>{places[i % len(places)]} {lede}</p>{FOOTER}"
    return title, body


def run(name: str, items: list[tuple[str, str]], n: int, fn: Callable[[str, str], object]) -> dict[str, object]:
    fn(*items[0])  # warm caches (rules compiled, selectolax loaded)
    m = len(items)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for i in range(n):
        t, h = items[i % m]
        fn(t, h)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res = {
        "input": name,
        "articles": n,
        "seconds": round(wall, 2),
        "articles_per_s": round(n / wall),
        "articles_per_cpu_s": round(n / cpu) if cpu else None,
        "us_per_article": round(wall / n * 1e6, 1),
        "peak_rss_mb": round(rss_mb),
    }
    print(
        f"{name:<28} {n:>8,} articles  {wall:7.2f} s  {res['articles_per_s']:>8,}/s wall  "
        f"{res['articles_per_cpu_s']:>8,}/s cpu  {res['us_per_article']:>7} us/article  "
        f"peak RSS {res['peak_rss_mb']} MB",
        flush=True,
    )
    return res


def copy_agreement(ag: list[tuple[str, str]], step: int = 3) -> dict[str, object]:
    """Quality: copies made by the dedup evaluation generator with only *cleanable* edits.

    ``eval/dedup/make_eval_set.make_copy`` republishes an AG item the way outlets do; when the
    edits are only dateline/credit/title-repeat/lede-repeat/footer/junk/HTML/headline changes, the
    cleaned text of the copy should equal the cleaned text of the original (compared on
    :func:`match_key`). Reported as the share of such copies that do.
    """
    import random

    sys.path.insert(0, str(ROOT / "eval" / "dedup"))
    try:
        from make_eval_set import make_copy
    except ImportError:
        print("eval/dedup/make_eval_set.py not found: copy agreement skipped")
        return {"input": "copy-agreement", "skipped": True}
    from feedmon.clean import match_key

    cleanable = {"strip_dateline", "dateline", "credit", "repeated_lede", "tail_line", "junk", "html", "headline"}
    rng = random.Random(3)
    total = same = 0
    for i in range(0, len(ag), step):
        title, desc = ag[i]
        base = match_key(clean_article(title, desc).text)
        for _ in range(2):
            new_title, body, edits = make_copy(title, desc, rng)
            if set(edits) <= cleanable:
                total += 1
                same += match_key(clean_article(new_title, body).text) == base
    share = same / total if total else 0.0
    print(f"copy agreement: {same:,}/{total:,} cleanable copies clean to the original's text ({share:.1%})")
    return {"input": "copy-agreement", "copies": total, "identical": same, "share": round(share, 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="articles per input (default 100k)")
    ap.add_argument("--quick", action="store_true", help="20k articles per input")
    ap.add_argument("--baseline-n", type=int, default=2_000, help="articles for the trafilatura sample")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    n = 20_000 if args.quick else args.n
    if not CORPUS.exists():
        print(f"AG corpus not found at {CORPUS} (set FEEDMON_AG_CORPUS)", file=sys.stderr)
        return 2
    default_rules()
    ag = load_ag()
    synd = [syndicate(t, d, i) for i, (t, d) in enumerate(ag)]
    seed = [(SEED_TITLE, SEED.read_text(encoding="utf-8"))]
    print(f"clean_article, one process, python {sys.version.split()[0]}; AG rows: {len(ag):,}")
    results = [
        run("ag-raw", ag, n, clean_article),
        run("ag-syndicated (html+junk)", synd, n, clean_article),
        run("seed (13 paragraphs+junk)", seed, max(n // 10, 1000), clean_article),
    ]
    # sanity: the syndicated copies must come out as the clean AG text (else the speed is meaningless)
    bad = 0
    for i in range(0, len(ag), 97):
        a = clean_article(*ag[i])
        b = clean_article(*synd[i])
        bad += (a.title, a.text) != (b.title, b.text)
    total = len(range(0, len(ag), 97))
    print(f"check: syndicated copy cleans to the same text as the raw item: {total - bad}/{total}")
    results.append(copy_agreement(ag))
    try:
        from trafilatura import html2txt

        results.append(run("baseline trafilatura.html2txt", synd, min(args.baseline_n, n), lambda _t, h: html2txt(h)))
    except ImportError:
        print("trafilatura not installed: baseline skipped")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
