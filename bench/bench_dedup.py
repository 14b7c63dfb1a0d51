"""Throughput and memory of clean + dedup at 100k and 1M articles, side by side with baselines.

Input: the AG corpus (or, without ``../shared``, the originals of the committed evaluation set)
replicated with outlet variants by the evaluation generator (``eval/dedup/make_eval_set.py``):
every row is a distinct article (own URL, own text: variant edits plus a random typo or trim),
and copies of one AG item are one story. Each size runs in its own process, so its peak RSS is
its own. Measured per size:

* ``clean``: :func:`feedmon.clean.clean_article` on the raw variants (on a 20k sample: the
  cleaner's cost per article does not depend on the batch size), articles/s.
* ``feedmon dedup``: :func:`feedmon.dedup.deduplicate` on all N cleaned articles (exact keys,
  LSH, verification, story fields), articles/s and peak RSS of the process (and its RSS before
  dedup, i.e. holding the N input articles).
* ``datasketch``: ``MinHash(num_perm=128).update_batch`` + ``MinHashLSH(threshold=0.3)`` query
  and insert per article (threshold tuned on the evaluation set), on the same cleaned input.
* ``trafilatura``: ``Simhash`` of each article only. Trafilatura has no index, so this is a lower
  bound of its cost (an upper bound of its throughput), in its favour.

Rates are per CPU second of the (single-threaded) process, so a busy machine does not skew
the ratios; the dedup wall time is printed too. Baselines run on the first ``--baseline-max``
articles (default 50k) when N is larger: their cost per article is flat (datasketch) or grows
with N, so the ratio is conservative. Run it with nice::

    nice .venv/bin/python bench/bench_dedup.py [--sizes 100000,1000000] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval" / "dedup"))

from make_eval_set import DEFAULT_CORPUS, make_copy  # noqa: E402

EVAL_SET = ROOT / "eval" / "dedup" / "eval_set.jsonl"
CLEAN_SAMPLE = 20_000
DATASKETCH_THRESHOLD = 0.3
T0 = datetime(2004, 8, 20, tzinfo=UTC)


class PeakRSS:
    """Peak resident memory of this process, sampled every 20 ms in a thread."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def stories() -> tuple[list[tuple[str, str]], str]:
    """(title, description) of every source story, and where they came from."""
    if DEFAULT_CORPUS.exists():
        with DEFAULT_CORPUS.open(encoding="utf-8", newline="") as fh:
            return [(r["title"], r["description"]) for r in csv.DictReader(fh)], "AG corpus (7,600 items)"
    with EVAL_SET.open(encoding="utf-8") as fh:
        items = [json.loads(line) for line in fh]
    return [(it["title"], it["html"]) for it in items if it["edits"] == ["original"]], "eval-set originals"


def perturb(text: str, rng: random.Random) -> str:
    """A cheap extra edit so that replicated variants are distinct articles."""
    words = text.split(" ")
    if len(words) > 8:
        if rng.random() < 0.5:
            k = rng.randrange(len(words))
            w = words[k]
            if len(w) > 3 and w.isalpha():  # a letter dropped; figures are not retyped ("2004" as "204")
                j = rng.randrange(1, len(w) - 1)
                words[k] = w[:j] + w[j + 1 :]
        if rng.random() < 0.3:
            words = words[: len(words) - rng.randint(1, max(1, len(words) // 10))]
    # a random word, not a number: a different figure in the same place would make the copies
    # report different events (feedmon.dedup keeps those apart), which is not what is measured
    return " ".join(words) + " (" + "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(7)) + ")"


def build(n: int, seed: int = 7) -> tuple[list, float, str]:
    """N cleaned articles, plus the measured clean throughput (articles/s) on a sample."""
    from feedmon.clean import clean_article
    from feedmon.ids import content_hash, make_article_id
    from feedmon.models import Article

    rng = random.Random(seed)
    src, origin = stories()
    sample = min(n, CLEAN_SAMPLE)
    raw = []
    for r in range(sample):
        title, desc = src[r % len(src)]
        if r < len(src):
            raw.append((title, desc, r % len(src)))
        else:
            t, body, _ = make_copy(title, desc, rng)
            raw.append((t, body, r % len(src)))
    t0 = time.process_time()
    cleaned = [clean_article(t, h, source="bench") for t, h, _ in raw]
    clean_rate = sample / (time.process_time() - t0)
    arts = []
    for r in range(n):
        c = cleaned[r % sample]
        text = c.text if r < sample else perturb(c.text, rng)
        url = f"https://outlet{r % 97}.example/{r}"
        feed = f"outlet{r % 97}"
        arts.append(
            Article(
                article_id=make_article_id(feed, None, url, c.title),
                feed_id=feed,
                source=feed,
                url=url,
                guid=None,
                title=c.title,
                text=text,
                published_at=None,
                first_seen_at=T0 + timedelta(seconds=r),
                agency=c.agency,
                content_hash=content_hash(c.title, text),
            )
        )
    return arts, clean_rate, origin


def bench_datasketch(texts: list[str]) -> float:
    from datasketch import MinHash, MinHashLSH

    from feedmon.textsig import word_tokens

    t0 = time.process_time()
    lsh = MinHashLSH(threshold=DATASKETCH_THRESHOLD, num_perm=128)
    for i, text in enumerate(texts):
        w = word_tokens(text)
        sh = [" ".join(w[j : j + 3]).encode() for j in range(max(len(w) - 2, 1))]
        m = MinHash(num_perm=128, seed=1)
        m.update_batch(sh)
        lsh.query(m)
        lsh.insert(i, m)
    return len(texts) / (time.process_time() - t0)


def bench_simhash(texts: list[str]) -> float:
    from trafilatura.deduplication import Simhash

    t0 = time.process_time()
    for text in texts:
        Simhash(text)
    return len(texts) / (time.process_time() - t0)


def one_size(n: int, baseline_max: int) -> dict[str, object]:
    from feedmon.dedup import deduplicate

    arts, clean_rate, origin = build(n)
    rss_input = psutil.Process().memory_info().rss
    with PeakRSS() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        res = deduplicate(arts, [], [])
        wall_s, dedup_s = time.perf_counter() - t0, time.process_time() - c0
    m = min(n, baseline_max)
    texts = [f"{a.title}\n{a.text}" for a in arts[:m]]
    ds_rate = bench_datasketch(texts)
    sh_rate = bench_simhash(texts)
    dedup_rate = n / dedup_s
    return {
        "n": n,
        "input": origin,
        "stories": res.stories,
        "clean_per_s": round(clean_rate),
        "dedup_per_s": round(dedup_rate),
        "dedup_wall_s": round(wall_s, 2),
        "clean_dedup_per_s": round(1 / (1 / clean_rate + 1 / dedup_rate)),
        "dedup_us_per_article": round(1e6 / dedup_rate, 2),
        "peak_rss_mib": round(mem.peak / 2**20),
        "input_rss_mib": round(rss_input / 2**20),
        "baseline_n": m,
        "datasketch_per_s": round(ds_rate),
        "simhash_per_s": round(sh_rate),
        "x_datasketch": round(dedup_rate / ds_rate, 1),
        "x_simhash": round(dedup_rate / sh_rate, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark clean + dedup against datasketch and trafilatura.")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--quick", action="store_true", help="one size of 20,000")
    ap.add_argument("--baseline-max", type=int, default=50_000)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one_size(args.one, args.baseline_max)))
        return 0
    sizes = [20_000] if args.quick else [int(x) for x in args.sizes.split(",")]
    rows = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--baseline-max", str(args.baseline_max)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"n={r['n']:>9,}  clean {r['clean_per_s']:>7,}/s  dedup {r['dedup_per_s']:>8,}/s "
            f"({r['dedup_us_per_article']} us/article)  clean+dedup {r['clean_dedup_per_s']:>7,}/s  "
            f"peak RSS {r['peak_rss_mib']:,} MiB (articles alone {r['input_rss_mib']:,})  "
            f"stories {r['stories']:,}  (dedup wall {r['dedup_wall_s']} s)",
            flush=True,
        )
        print(
            f"           baselines on {r['baseline_n']:,}: datasketch {r['datasketch_per_s']:,}/s "
            f"(feedmon dedup x{r['x_datasketch']}), trafilatura Simhash signature only "
            f"{r['simhash_per_s']:,}/s (x{r['x_simhash']})",
            flush=True,
        )
    if len(rows) > 1:
        growth = rows[-1]["dedup_us_per_article"] / rows[0]["dedup_us_per_article"]
        print(f"per-article dedup cost at {rows[-1]['n']:,} vs {rows[0]['n']:,}: x{growth:.2f} (target <= 1.3)")
    print(f"input: {rows[0]['input']} replicated with outlet variants")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
