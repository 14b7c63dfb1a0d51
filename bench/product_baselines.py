"""The two baselines of the product benchmark, each run as its own process (so its memory is its own).

``sequential``: the loop everyone writes first, ``feedparser.parse(requests.get(url).content)`` per
feed, one after another. It fetches and parses only (no cleaning, dedup, tagging or Parquet), so
it is a *lower* bound of what that approach costs for feedmon's work.

``standard``: the same job as ``feedmon run`` (one Parquet of the day, one row per article with a
story id and conflict tags) from standard parts, written the way a competent engineer would:

* fetch: ``requests`` in a ``ThreadPoolExecutor`` (32 workers, one ``Session`` per thread, at most
  2 requests per host at a time like feedmon's default), conditional GET with the ETag /
  Last-Modified remembered in a JSON state file, then ``feedparser.parse`` of the body in the
  same worker (I/O waits overlap with parsing);
* text: ``lxml.html`` ``text_content()`` of the summary, whitespace collapsed;
* exact duplicates: the URL without ``utm_*`` parameters and fragment, or the same text from the
  same feed, dropped;
* stories: ``datasketch`` ``MinHash(num_perm=128)`` over word 3-grams, ``MinHashLSH(threshold=0.3)``
  (the threshold ``bench/bench_dedup.py`` tuned on the dedup evaluation set); an article joins the
  story of its first LSH match, else starts one;
* tags: one compiled regex of pycountry country names plus conflict places, one of conflict words;
  an article is a conflict story when both match, with the matched countries (ISO alpha-2);
* output: a pandas DataFrame written with ``to_parquet`` (pyarrow) to a temporary name, renamed.

Usage (prints one JSON line of figures)::

    python bench/product_baselines.py sequential --feeds-file F [--limit N]
    python bench/product_baselines.py standard --feeds-file F --out day.parquet --state state.json
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import html
import json
import re
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser
import lxml.html
import pandas as pd
import pycountry
import requests
import yaml
from datasketch import MinHash, MinHashLSH
from lxml import etree

TIMEOUT = (5, 30)
WORKERS = 32
PER_HOST = 2
#: Towns that mark where fighting is, beside country names (a hand-written list, as people write).
PLACES = {
    "Baghdad": "IQ", "Najaf": "IQ", "Fallujah": "IQ", "Falluja": "IQ", "Mosul": "IQ", "Basra": "IQ",
    "Samarra": "IQ", "Kabul": "AF", "Kandahar": "AF", "Gaza": "PS", "West Bank": "PS", "Ramallah": "PS",
    "Darfur": "SD", "Khartoum": "SD", "Grozny": "RU", "Chechnya": "RU", "Kashmir": "IN", "Srinagar": "IN",
    "Mogadishu": "SO", "Monrovia": "LR", "Abidjan": "CI", "Kinshasa": "CD", "Goma": "CD", "Kiev": "UA",
    "Kyiv": "UA", "Donetsk": "UA", "Aleppo": "SY", "Damascus": "SY", "Sanaa": "YE", "Tripoli": "LY",
}  # fmt: skip
CONFLICT_WORDS = (
    r"killed|killing|troops|soldiers|fighting|fought|clashes|shelling|airstrikes?|air strikes?|bombings?|"
    r"bombs?|insurgents?|militants?|rebels?|guerrillas?|militia|war|gunmen|gunfire|mortar|offensive|"
    r"ceasefire|cease-fire|suicide attack|car bomb|hostages?|rocket attacks?|raid|casualties"
)


def load_feeds(path: str) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        return [f for f in yaml.safe_load(fh)["feeds"] if f.get("enabled", True)]


# --------------------------------------------------------------------------- sequential
def sequential(feeds: list[dict[str, Any]]) -> dict[str, Any]:
    entries = 0
    fetch_s = 0.0
    t0 = time.perf_counter()
    for f in feeds:
        t1 = time.perf_counter()
        resp = requests.get(f["url"], timeout=TIMEOUT)
        fetch_s += time.perf_counter() - t1
        entries += len(feedparser.parse(resp.content).entries)
    return {"feeds": len(feeds), "seconds": time.perf_counter() - t0, "fetch_seconds": fetch_s, "entries": entries}


# --------------------------------------------------------------------------- standard
class Fetcher:
    """Concurrent conditional GETs, at most PER_HOST at a time per host, parse in the same worker."""

    def __init__(self, state: dict[str, dict[str, str]]) -> None:
        self.state = state
        self.local = threading.local()
        self.hosts: dict[str, threading.Semaphore] = defaultdict(lambda: threading.Semaphore(PER_HOST))
        self.lock = threading.Lock()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "s"):
            self.local.s = requests.Session()
            self.local.s.headers["User-Agent"] = "standard-parts-baseline/1.0"
        return self.local.s

    def __call__(self, feed: dict[str, Any]) -> tuple[dict[str, Any], str, list[Any], datetime]:
        url = feed["url"]
        headers = {}
        prior = self.state.get(url, {})
        if prior.get("etag"):
            headers["If-None-Match"] = prior["etag"]
        if prior.get("last_modified"):
            headers["If-Modified-Since"] = prior["last_modified"]
        with self.lock:
            sem = self.hosts[urlsplit(url).hostname or ""]
        fetched_at = datetime.now(UTC)
        try:
            with sem:
                resp = self.session().get(url, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            return feed, f"error: {exc}", [], fetched_at
        if resp.status_code == 304:
            return feed, "not_modified", [], fetched_at
        if resp.status_code != 200:
            return feed, f"http {resp.status_code}", [], fetched_at
        parsed = feedparser.parse(resp.content)
        self.state[url] = {"etag": resp.headers.get("ETag", ""), "last_modified": resp.headers.get("Last-Modified", "")}
        return feed, "ok", parsed.entries, fetched_at


_WS = re.compile(r"\s+")
_WORDS = re.compile(r"[a-z0-9]+")


def html_text(fragment: str) -> str:
    if not fragment:
        return ""
    if "<" not in fragment:
        return _WS.sub(" ", html.unescape(fragment)).strip()
    try:
        return _WS.sub(" ", lxml.html.fromstring(fragment).text_content()).strip()
    except (ValueError, etree.ParserError):
        return _WS.sub(" ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def canonical(url: str) -> str:
    parts = urlsplit(url.strip())
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if not k.lower().startswith("utm_")])
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, query, ""))


def entry_row(feed: dict[str, Any], e: Any, fetched_at: datetime) -> dict[str, Any]:
    summary = e.get("summary") or (e.get("content") or [{}])[0].get("value", "")
    when = e.get("published_parsed") or e.get("updated_parsed")
    link = e.get("link") or ""
    return {
        "feed_id": feed["id"],
        "source": feed.get("name") or feed["id"],
        "agency": feed.get("agency"),
        "link": link,
        "url": canonical(link) if link else "",
        "guid": e.get("id"),
        "title": html_text(e.get("title", "")),
        "text": html_text(summary),
        "published_at": datetime.fromtimestamp(calendar.timegm(when), tz=UTC) if when else None,
        "first_seen_at": fetched_at,
        "language": feed.get("language"),
    }


class Tagger:
    def __init__(self) -> None:
        names: dict[str, str] = dict(PLACES)
        for c in pycountry.countries:
            for attr in ("name", "common_name"):
                value = getattr(c, attr, None)
                if value and "," not in value:
                    names[value] = c.alpha_2
        self.names = names
        alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        self.places = re.compile(rf"\b(?:{alternation})\b")
        self.conflict = re.compile(rf"\b(?:{CONFLICT_WORDS})\b", re.IGNORECASE)

    def tag(self, text: str) -> tuple[bool, list[str], list[str], list[str]]:
        evidence = sorted({m.lower() for m in self.conflict.findall(text)})
        places = sorted(set(self.places.findall(text)))
        if not (evidence and places):
            return False, [], [], evidence
        return True, places, sorted({self.names[p] for p in places}), evidence


def shingles(text: str) -> set[bytes]:
    words = _WORDS.findall(text.lower())
    return {" ".join(words[i : i + 3]).encode() for i in range(max(1, len(words) - 2))}


def standard(feeds: list[dict[str, Any]], out: Path, state_path: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    fetcher = Fetcher(state)
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(fetcher, feeds))
    t_fetch = time.perf_counter() - t0
    statuses: dict[str, int] = defaultdict(int)
    rows: list[dict[str, Any]] = []
    for feed, status, entries, fetched_at in results:
        statuses[status.split(":")[0]] += 1
        rows.extend(entry_row(feed, e, fetched_at) for e in entries)
    t_rows = time.perf_counter() - t0
    existing = pd.read_parquet(out) if out.exists() else None
    seen_urls = set(existing["url"]) if existing is not None else set()
    seen_content: set[tuple[str, str]] = set()
    kept = []
    for r in rows:
        content = (r["feed_id"], hashlib.sha1(" ".join(_WORDS.findall(r["text"].lower())).encode()).hexdigest())
        if (r["url"] and r["url"] in seen_urls) or content in seen_content:
            continue
        seen_urls.add(r["url"])
        seen_content.add(content)
        r["article_id"] = hashlib.sha1((r["url"] or f"{r['feed_id']}|{r['guid']}|{r['title']}").encode()).hexdigest()
        kept.append(r)
    exact = len(rows) - len(kept)
    if not kept:  # nothing new (every feed answered 304): the day's file stays as it is
        state_path.write_text(json.dumps(state))
        return {
            "seconds": time.perf_counter() - t0,
            "statuses": dict(statuses),
            "entries": 0,
            "articles": 0 if existing is None else len(existing),
            "exact_dropped": 0,
            "path": str(out),
        }
    df = pd.DataFrame(kept)
    if existing is not None:
        df = pd.concat([existing.drop(columns=[c for c in existing.columns if c not in df.columns]), df])
    lsh = MinHashLSH(threshold=0.3, num_perm=128)
    story = []
    for aid, title, text in zip(df["article_id"], df["title"], df["text"], strict=True):
        m = MinHash(num_perm=128)
        m.update_batch(list(shingles(f"{title} {text}")))
        match = lsh.query(m)
        story.append(min(match) if match else aid)
        lsh.insert(aid, m)
    stories_of = dict(zip(df["article_id"], story, strict=True))
    # Follow chains to the root so one story has one id.
    df["story_id"] = [_root(stories_of, s) for s in story]
    t_dedup = time.perf_counter() - t0
    tagger = Tagger()
    tags = [tagger.tag(f"{t} {x}") for t, x in zip(df["title"], df["text"], strict=True)]
    df["is_conflict"] = [t[0] for t in tags]
    df["conflict_regions"] = [t[1] for t in tags]
    df["countries"] = [t[2] for t in tags]
    df["conflict_evidence"] = [t[3] for t in tags]
    t_tag = time.perf_counter() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(out)
    state_path.write_text(json.dumps(state))
    return {
        "seconds": time.perf_counter() - t0,
        "stage_seconds": {
            "fetch_parse": round(t_fetch, 2),
            "rows_text": round(t_rows - t_fetch, 2),
            "exact_minhash_lsh": round(t_dedup - t_rows, 2),
            "tag": round(t_tag - t_dedup, 2),
            "parquet": round(time.perf_counter() - t0 - t_tag, 2),
        },
        "statuses": dict(statuses),
        "entries": len(rows),
        "articles": len(df),
        "exact_dropped": exact,
        "stories": int(df["story_id"].nunique()),
        "conflict": int(df["is_conflict"].sum()),
        "path": str(out),
    }


def _root(parent: dict[str, str], node: str) -> str:
    while parent.get(node, node) != node:
        node = parent[node]
    return node


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="which", required=True)
    seq = sub.add_parser("sequential")
    seq.add_argument("--feeds-file", required=True)
    seq.add_argument("--limit", type=int, help="only the first N feeds (the caller extrapolates)")
    std = sub.add_parser("standard")
    std.add_argument("--feeds-file", required=True)
    std.add_argument("--out", required=True, type=Path)
    std.add_argument("--state", required=True, type=Path)
    a = p.parse_args()
    feeds = load_feeds(a.feeds_file)
    if a.which == "sequential":
        result = sequential(feeds[: a.limit] if a.limit else feeds)
    else:
        result = standard(feeds, a.out, a.state)
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
