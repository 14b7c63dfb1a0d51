"""The product benchmark's feeds: N feeds x M items built from AG News rows, written once to disk.

Why generated text: the committed sample has 4,000 real AG rows, and the benchmark needs up to a
million *distinct* articles whose cost and duplicate structure stay the same from 20k to 1M (else
the scaling figure measures the data, not feedmon). So every *story* is either a real AG row (the
first 4,000 stories, in a shuffled order) or a new title and description drawn from a word-bigram
chain trained on those rows: AG-like vocabulary, credits (``AP -``, ``(Reuters)``), datelines,
place names and broken entities, but no shared phrases between two generated stories, so the only
duplicates are the ones planted on purpose:

* ``copy`` (about 20 % of items): another outlet's republication of a story first carried by a
  different feed, edited the way outlets edit (``make_copy`` of ``eval/dedup/make_eval_set.py``):
  its own URL and text, kept as a row, and one story with its original (dedup's work);
* ``exact`` (about 2 %): the very same item re-listed by another feed (same title, text and page;
  half of them with ``?utm_source=...`` added): an exact duplicate that must be dropped.

So the day's snapshot must hold ``served - exact`` rows: :func:`build` records both in
``manifest.json`` and ``bench_product.py`` checks every run against it. Items carry HTML
descriptions (paragraphs, links, share widgets, junk footers), dates inside the benchmark day, and
the feeds are RSS 2.0 (70 %), Atom (20 %) and RSS 1.0/RDF (10 %); every tenth feed is an agency wire.
The build is deterministic (fixed seeds) and cached under ``bench/out/corpus/<key>/``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import html
import io
import json
import random
import re
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval" / "dedup"))

from make_eval_set import _LEAD_CREDIT, make_copy, to_html  # noqa: E402

SAMPLE = ROOT / "bench" / "data" / "agnews_sample.csv.gz"
CACHE = ROOT / "bench" / "out" / "corpus"
#: Bump when the generated feeds change, so stale caches are not reused.
GENERATOR_VERSION = 2
COPY_SHARE = 0.20
EXACT_SHARE = 0.02
RECENT = 5000  # copies pick their story among the last RECENT originals (news is recent)
AGENCIES = ["Reuters", "AP", "AFP"]
_WORD = re.compile(r"[a-z0-9]+")
_TAIL_CREDIT = re.compile(r"\s*(?:\((?:AP|Reuters|AFP)\)|--\s*AP)\s*$")


@dataclass(frozen=True)
class CorpusSpec:
    """What to build: ``feeds`` x ``items``, for the UTC ``day`` the benchmark run writes."""

    feeds: int
    items: int
    day: str = "2026-11-28"
    seed: int = 12

    @property
    def key(self) -> str:
        return f"v{GENERATOR_VERSION}-f{self.feeds}-i{self.items}-s{self.seed}-{self.day}"


def feed_format(i: int) -> str:
    """RSS 2.0 for most feeds, Atom for every 5th-ish, RSS 1.0 (RDF) for every 10th-ish."""
    return "atom" if i % 10 in (3, 7) else "rdf" if i % 10 == 5 else "rss"


def feed_meta(i: int) -> dict[str, str | None]:
    """Feeds-file fields of feed ``i`` (one outlet per feed; every tenth an agency's own wire)."""
    agency = AGENCIES[(i // 10) % len(AGENCIES)] if i % 10 == 0 else None
    name = f"{agency} wire {i}" if agency else f"Outlet {i}"
    return {"id": f"bench-{i:04d}", "name": name, "agency": agency, "language": "en"}


# --------------------------------------------------------------------------- text
def text_key(text: str) -> str:
    """The words of a text without its leading dateline/credit and trailing credit.

    feedmon's cleaner strips those, so two AG rows that differ only there (the corpus holds such
    pairs: "AP - X" and "NEW YORK (AP) - X") are the same content to it: one must go.
    """
    body = _TAIL_CREDIT.sub("", _LEAD_CREDIT.sub("", text.replace("\\", " "), count=1))
    return " ".join(_WORD.findall(body.lower()))


def load_rows() -> list[tuple[str, str]]:
    """(title, description) of the committed AG sample, rows with the same text (see text_key) left out."""
    seen: set[str] = set()
    rows = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            key = text_key(r["description"])
            if key and key not in seen:
                seen.add(key)
                rows.append((r["title"], r["description"]))
    return rows


class BigramChain:
    """Word-bigram chain over whitespace tokens; walks are vectorised with numpy (1M items in seconds)."""

    START, END = 0, 1

    def __init__(self, texts: list[str]) -> None:
        self.vocab: list[str] = ["<s>", "</s>"]
        ids: dict[str, int] = {}
        pairs: list[tuple[int, int]] = [(self.END, self.END)]
        for text in texts:
            prev = self.START
            for tok in text.split():
                t = ids.get(tok)
                if t is None:
                    t = ids[tok] = len(self.vocab)
                    self.vocab.append(tok)
                pairs.append((prev, t))
                prev = t
            pairs.append((prev, self.END))
        arr = np.array(sorted(pairs), dtype=np.int32)
        self.succ = arr[:, 1].copy()
        counts = np.bincount(arr[:, 0], minlength=len(self.vocab))
        self.count = counts.astype(np.int64)
        self.offset = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def walk(self, n: int, max_len: int, rng: np.random.Generator) -> list[str]:
        """``n`` texts of at most ``max_len`` tokens (a text cut at the limit ends with "...")."""
        state = np.full(n, self.START, dtype=np.int64)
        out = np.empty((n, max_len), dtype=np.int32)
        for step in range(max_len):
            pick = (rng.random(n) * self.count[state]).astype(np.int64)
            state = self.succ[self.offset[state] + pick].astype(np.int64)
            out[:, step] = state
        vocab = self.vocab
        texts = []
        for row in out.tolist():
            try:
                cut = row.index(self.END)
                texts.append(" ".join(vocab[t] for t in row[:cut]))
            except ValueError:
                texts.append(" ".join(vocab[t] for t in row) + " ...")
        return texts


class StoryMaker:
    """Distinct stories: real rows first, then chain output that repeats no earlier story's text."""

    def __init__(self, rows: list[tuple[str, str]], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        order = random.Random(seed).sample(range(len(rows)), len(rows))
        self.real = [rows[i] for i in order]
        self.titles = BigramChain([t for t, _ in rows])
        self.descs = BigramChain([d.replace("\\", " ") for _, d in rows])
        self.seen: set[bytes] = {self._key(d) for _, d in rows}
        self.used = 0

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text_key(text).encode(), digest_size=8).digest()

    def take(self, n: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        while self.used < len(self.real) and len(out) < n:
            out.append(self.real[self.used])
            self.used += 1
        while len(out) < n:
            want = max(64, int((n - len(out)) * 1.1))
            for title, desc in zip(
                self.titles.walk(want, 18, self.rng), self.descs.walk(want, 70, self.rng), strict=True
            ):
                if len(title.split()) < 3 or len(desc.split()) < 12:
                    continue
                key = self._key(desc)
                if key in self.seen:
                    continue
                self.seen.add(key)
                out.append((title, desc))
                if len(out) == n:
                    break
        return out


# --------------------------------------------------------------------------- items
@dataclass
class Item:
    title: str
    html: str
    link: str
    guid: str
    published: datetime
    author: str | None


def _slug(title: str) -> str:
    return "-".join(_WORD.findall(title.lower())[:8]) or "story"


def dress(desc: str, rng: random.Random) -> str:
    """An original's description the way a feed carries it: mostly HTML (its own credits and datelines
    come from the AG text: a made-up dateline on an unrelated story would skew the tagging)."""
    body = desc.replace("\\", " ")
    if rng.random() < 0.75:
        return to_html([body], rng)
    return body


def rss(meta: dict, host: str, items: list[Item]) -> str:
    esc = html.escape
    out = [
        "<?xml version='1.0' encoding='utf-8'?>\n<rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'>"
        f"<channel><title>{esc(meta['name'])}</title><link>https://{host}/</link><language>en</language>"
        f"<description>{esc(meta['name'])} world news</description>"
    ]
    for it in items:
        perma = "true" if it.guid == it.link else "false"
        out.append(
            f"<item><title>{esc(it.title)}</title><link>{esc(it.link)}</link>"
            f"<guid isPermaLink='{perma}'>{esc(it.guid)}</guid><pubDate>{format_datetime(it.published)}</pubDate>"
            + (f"<dc:creator>{esc(it.author)}</dc:creator>" if it.author else "")
            + f"<description>{esc(it.html)}</description></item>"
        )
    out.append("</channel></rss>\n")
    return "".join(out)


def atom(meta: dict, host: str, items: list[Item], updated: datetime) -> str:
    esc = html.escape
    out = [
        "<?xml version='1.0' encoding='utf-8'?>\n<feed xmlns='http://www.w3.org/2005/Atom' xml:lang='en'>"
        f"<title>{esc(meta['name'])}</title><id>https://{host}/</id><link href='https://{host}/'/>"
        f"<updated>{updated.isoformat()}</updated>"
    ]
    for it in items:
        out.append(
            f"<entry><title type='html'>{esc(it.title)}</title><link rel='alternate' href='{esc(it.link)}'/>"
            f"<id>{esc(it.guid)}</id><published>{it.published.isoformat()}</published>"
            f"<updated>{it.published.isoformat()}</updated>"
            + (f"<author><name>{esc(it.author)}</name></author>" if it.author else "")
            + f"<summary type='html'>{esc(it.html)}</summary></entry>"
        )
    out.append("</feed>\n")
    return "".join(out)


def rdf(meta: dict, host: str, items: list[Item]) -> str:
    esc = html.escape
    out = [
        "<?xml version='1.0' encoding='utf-8'?>\n<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'"
        " xmlns='http://purl.org/rss/1.0/' xmlns:dc='http://purl.org/dc/elements/1.1/'>"
        f"<channel rdf:about='https://{host}/'><title>{esc(meta['name'])}</title><link>https://{host}/</link>"
        f"<description>{esc(meta['name'])}</description><dc:language>en</dc:language><items><rdf:Seq>"
        + "".join(f"<rdf:li rdf:resource='{esc(it.link)}'/>" for it in items)
        + "</rdf:Seq></items></channel>"
    ]
    for it in items:
        out.append(
            f"<item rdf:about='{esc(it.link)}'><title>{esc(it.title)}</title><link>{esc(it.link)}</link>"
            f"<dc:date>{it.published.isoformat()}</dc:date>"
            + (f"<dc:creator>{esc(it.author)}</dc:creator>" if it.author else "")
            + f"<description>{esc(it.html)}</description></item>"
        )
    out.append("</rdf:RDF>\n")
    return "".join(out)


def build(spec: CorpusSpec, cache: Path = CACHE, *, log: bool = True) -> Path:
    """Write ``feeds/<i>.xml.gz`` and ``manifest.json`` for ``spec`` (reused when already built)."""
    out = cache / spec.key
    manifest = out / "manifest.json"
    if manifest.exists():
        return out
    t0 = time.perf_counter()
    tmp = cache / f"{spec.key}.tmp"
    (tmp / "feeds").mkdir(parents=True, exist_ok=True)
    rng = random.Random(spec.seed)
    maker = StoryMaker(load_rows(), spec.seed)
    day = date.fromisoformat(spec.day)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    # Originals of earlier feeds: (feed, title, description, link, published) for copies to draw from.
    pool: list[tuple[int, str, str, str, str, datetime]] = []
    counts: dict[str, int] = {"original": 0, "copy": 0, "exact": 0}
    feeds = []
    for f in range(spec.feeds):
        meta = feed_meta(f)
        host = f"www.outlet{f}.example"
        kinds = ["original"] * spec.items
        if pool:
            for k in range(spec.items):
                r = rng.random()
                kinds[k] = "exact" if r < EXACT_SHARE else "copy" if r < EXACT_SHARE + COPY_SHARE else "original"
        stories = iter(maker.take(kinds.count("original")))
        used_here: set[int] = set()  # one story appears at most once per feed
        items: list[Item] = []
        originals = []
        recent = pool[-RECENT:]
        pick: tuple[Any, ...] | None
        for k, kind in enumerate(kinds):
            author = f"Staff {k % 7}" if f % 3 == 0 else None
            if kind != "original":
                pick = None
                for _ in range(8):
                    j = rng.randrange(len(recent))
                    if id(recent[j]) not in used_here:
                        pick = recent[j]
                        break
                if pick is None:
                    kind = kinds[k] = "original"
            if kind == "original":
                title, desc = next(stories, None) or maker.take(1)[0]
                published = start + timedelta(minutes=rng.randrange(0, 23 * 60))
                link = f"https://{host}/news/{day:%Y/%m/%d}/{_slug(title)}-{f}-{k}"
                guid = link if f % 2 == 0 else f"urn:bench:{f}:{k}"
                body = dress(desc, rng)
                items.append(Item(title, body, link, guid, published, author))
                originals.append((f, title, desc, link, body, published))
            else:
                assert pick is not None
                _src_feed, title, desc, link, body, published = pick
                used_here.add(id(pick))
                when = min(
                    published + timedelta(minutes=rng.randrange(5, 240)), start + timedelta(hours=23, minutes=59)
                )
                if kind == "exact":
                    if rng.random() < 0.5:
                        link = f"{link}?utm_source=rss&utm_medium=feed{f}"
                    items.append(Item(title, body, link, link, when, author))
                else:
                    ctitle, cbody, _ = make_copy(title, desc, rng)
                    clink = f"https://{host}/world/{_slug(ctitle)}-{f}-{k}"
                    items.append(Item(ctitle, cbody, clink, clink, when, author))
            counts[kind] += 1
        pool = [*pool[-RECENT:], *originals]  # only the recent ones are ever drawn: bound the memory
        fmt = feed_format(f)
        updated = max(it.published for it in items)
        text = (
            rss(meta, host, items)
            if fmt == "rss"
            else atom(meta, host, items, updated)
            if fmt == "atom"
            else rdf(meta, host, items)
        )
        raw = text.encode("utf-8")
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz:
            gz.write(raw)
        (tmp / "feeds" / f"{f}.xml.gz").write_bytes(buf.getvalue())
        feeds.append({**meta, "index": f, "format": fmt, "items": len(items), "bytes": len(raw)})
        if log and spec.feeds >= 200 and (f + 1) % max(1, spec.feeds // 10) == 0:
            print(f"  corpus: {f + 1}/{spec.feeds} feeds", flush=True)
    served = spec.feeds * spec.items
    info: dict[str, Any] = {
        "spec": asdict(spec),
        "key": spec.key,
        "served_items": served,
        "originals": counts["original"],
        "copies": counts["copy"],
        "exact_copies": counts["exact"],
        "expected_articles": served - counts["exact"],
        "real_ag_stories": min(len(maker.real), counts["original"]),
        "bytes": sum(x["bytes"] for x in feeds),
        "build_s": round(time.perf_counter() - t0, 1),
        "origin": "bench/data/agnews_sample.csv.gz (see bench/data/README.md)",
        "feeds": feeds,
    }
    (tmp / "manifest.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    tmp.rename(out)
    if log:
        print(
            f"  corpus {spec.key}: {served:,} items ({counts['copy']:,} copies, {counts['exact']:,} exact), "
            f"{info['bytes'] / 2**20:.0f} MiB of XML, built in {info['build_s']} s",
            flush=True,
        )
    return out


def load_manifest(corpus: Path) -> dict:
    return json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="Build (or reuse) one benchmark corpus and print where it is.")
    p.add_argument("--feeds", type=int, default=10)
    p.add_argument("--items", type=int, default=50)
    a = p.parse_args()
    print(build(CorpusSpec(a.feeds, a.items)))
