"""Does feedmon put the items of one story, and only those, under one ``story_id``?

Two sets, reported separately:

* **Real copies** (``eval/dedup/real``, read through its ``load.py``): items as real outlets served
  them (a Reuters/Bloomberg syndication pool, the 2020 captures of 15 outlets, AG's own repeats),
  grouped into stories by reading, with listed hard negatives (templates, same place same day,
  blurbs) and cross-day pairs. Each item is cleaned as the pipeline does and feedmon is replayed
  day by day (one :func:`feedmon.dedup.deduplicate` run per capture day, earlier days within the
  7-day lookback as history), so cross-day links are its own. Figures per split: ``dev`` (tuned
  on) and ``blind`` (never tuned on: the headline). Pair precision over every predicted pair of
  the split; recall of *copies* (pairs of stories without independent reports or translations,
  the target) and of all same-story pairs; hard negatives merged per kind; cross-day relations
  right; dev/blind look-alike pairs (reported with blind). Exit status 1 when blind misses a
  target (precision >= 0.98, recall of copies >= 0.95, hard negatives merged <= 1 %).
* **Synthetic** (``eval_set.jsonl``, built by ``make_eval_set.py`` from AG rows with made-up
  outlet edits; the thresholds were first tuned on it): feedmon in one run and incrementally,
  against ``datasketch`` ``MinHashLSH`` (128 permutations, threshold and reading tuned for its best
  F1 on the set) and ``trafilatura`` ``Simhash`` (all pairs, tuned likewise).

While developing, ``--split dev`` runs the dev items only (the blind ones are not even run) and
``--show-dev`` lists the dev false merges and missed copies::

    .venv/bin/python eval/dedup/run_eval.py [--split dev|both] [--no-synthetic] [--no-baselines] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

import numpy as np

from feedmon.clean import clean_article
from feedmon.dedup import content_hash, deduplicate, make_article_id
from feedmon.models import Article
from feedmon.textsig import word_tokens

HERE = Path(__file__).resolve().parent
DAY0 = datetime(2004, 8, 20, tzinfo=UTC)


@dataclass
class Score:
    name: str
    precision: float
    recall: float
    predicted_pairs: int
    setting: str = ""
    seconds: float = 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def clean_items(items: Sequence[dict]) -> list[Article]:
    """Eval items as the pipeline's cleaned candidates (one outlet per source, own URL)."""
    out = []
    for it in items:
        cleaned = clean_article(it["title"], it["html"], source=it["source"])
        url = f"https://{it['source'].replace(' ', '-').lower()}.example/{it['id']}"
        feed = it["source"].replace(" ", "-").lower()
        seen = DAY0 + timedelta(minutes=it["minutes"])
        aid = make_article_id(feed, it["id"], url, cleaned.title)
        out.append(
            Article(
                article_id=aid,
                feed_id=feed,
                source=it["source"],
                url=url,
                guid=it["id"],
                title=cleaned.title,
                text=cleaned.text,
                published_at=seen - timedelta(minutes=5),
                first_seen_at=seen,
                dateline=cleaned.dateline,
                agency=cleaned.agency,
                content_hash=content_hash(cleaned.title, cleaned.text),
            )
        )
    return out


# ------------------------------------------------------------------------------- pair scoring
def _pairs_of_clusters(labels: Sequence[int], preds: Sequence[object]) -> tuple[int, int, int]:
    """(true positive pairs, predicted pairs, true pairs) for a clustering."""
    cell = Counter(zip(labels, preds, strict=True))
    tp = sum(c * (c - 1) // 2 for c in cell.values())
    pp = sum(c * (c - 1) // 2 for c in Counter(preds).values())
    tt = sum(c * (c - 1) // 2 for c in Counter(labels).values())
    return tp, pp, tt


def score_clusters(name: str, labels: Sequence[int], preds: Sequence[object], setting: str = "") -> Score:
    tp, pp, tt = _pairs_of_clusters(labels, preds)
    return Score(name, tp / pp if pp else 1.0, tp / tt if tt else 1.0, pp, setting)


def score_pairs(name: str, labels: Sequence[int], pairs: Iterable[tuple[int, int]], setting: str = "") -> Score:
    pairs = {(min(a, b), max(a, b)) for a, b in pairs if a != b}
    tp = sum(1 for a, b in pairs if labels[a] == labels[b])
    tt = sum(c * (c - 1) // 2 for c in Counter(labels).values())
    return Score(name, tp / len(pairs) if pairs else 1.0, tp / tt if tt else 1.0, len(pairs), setting)


def components(n: int, pairs: Iterable[tuple[int, int]]) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n)]


def best(scores: Iterable[Score]) -> Score:
    return max(scores, key=lambda s: (round(s.f1, 6), s.precision))


# ------------------------------------------------------------------------------- methods
def doc_text(a: Article) -> str:
    return f"{a.title}\n{a.text}"


def shingle_strings(text: str, k: int = 3) -> list[bytes]:
    words = word_tokens(text)
    if len(words) < k:
        return [" ".join(words).encode()] if words else []
    return [" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)]


def run_feedmon_one_batch(arts: list[Article]) -> list[str]:
    for a in arts:
        a.story_id = a.article_id
    res = deduplicate(arts, [], [], lookback_days=7)
    assert res.exact_duplicates == 0, res.exact_duplicates
    by_id = {a.article_id: a.story_id for a in res.articles}
    return [by_id[a.article_id] for a in arts]


def run_feedmon_incremental(arts: list[Article], runs_per_day: int = 6) -> list[str]:
    """Replay the set as the pipeline sees it: runs through each day, snapshots carried over."""
    for a in arts:
        a.story_id = a.article_id
    by_day: dict[int, list[Article]] = defaultdict(list)
    for a in arts:
        by_day[(a.first_seen_at - DAY0).days].append(a)
    snapshots: dict[int, list[Article]] = {}
    story: dict[str, str] = {}
    for day in sorted(by_day):
        history = [x for d in range(day - 7, day) for x in snapshots.get(d, [])]
        today: list[Article] = []
        slot = timedelta(days=1) / runs_per_day
        for run in range(runs_per_day):
            lo, hi = DAY0 + timedelta(days=day) + run * slot, DAY0 + timedelta(days=day) + (run + 1) * slot
            batch = [a for a in by_day[day] if lo <= a.first_seen_at < hi]
            today = deduplicate(batch, today, history).articles
        snapshots[day] = today
        story.update({a.article_id: a.story_id for a in today})
    return [story[a.article_id] for a in arts]


def run_datasketch(labels: list[int], docs: list[list[bytes]]) -> tuple[Score, float]:
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    sigs = []
    for sh in docs:
        m = MinHash(num_perm=128, seed=1)
        m.update_batch(sh or [b""])
        sigs.append(m)
    sig_seconds = time.perf_counter() - t0
    scores = []
    for t in np.arange(0.1, 0.95, 0.05):
        thr = round(float(t), 2)
        lsh = MinHashLSH(threshold=thr, num_perm=128)
        for i, m in enumerate(sigs):
            lsh.insert(i, m)
        raw = {(i, j) for i, m in enumerate(sigs) for j in lsh.query(m) if j != i}
        verified = {(i, j) for i, j in raw if sigs[i].jaccard(sigs[j]) >= thr}
        for mode, pairs in (("lsh", raw), ("lsh+jaccard", verified)):
            scores.append(score_pairs("datasketch MinHashLSH", labels, pairs, f"t={thr} {mode} pairs"))
            comp = components(len(sigs), pairs)
            scores.append(score_clusters("datasketch MinHashLSH", labels, comp, f"t={thr} {mode} components"))
    return best(scores), sig_seconds


def run_simhash(labels: list[int], texts: list[str]) -> Score:
    from trafilatura.deduplication import Simhash

    hashes = np.array([Simhash(t).hash for t in texts], dtype=np.uint64)
    n = len(hashes)
    dist = np.bitwise_count(hashes[:, None] ^ hashes[None, :]).astype(np.int16)
    iu = np.triu_indices(n, k=1)
    d = dist[iu]
    scores = []
    for max_d in range(25):
        sel = d <= max_d
        pairs = list(zip(iu[0][sel].tolist(), iu[1][sel].tolist(), strict=True))
        sim = (64 - max_d) / 64
        scores.append(score_pairs("trafilatura Simhash", labels, pairs, f"similarity>={sim:.3f} pairs"))
        scores.append(
            score_clusters("trafilatura Simhash", labels, components(n, pairs), f"similarity>={sim:.3f} components")
        )
    return best(scores)


def recall_by_edit(items: list[dict], preds: Sequence[object]) -> dict[str, tuple[int, int]]:
    """Per edit kind: (copies put in their original's story, copies)."""
    original = {it["group"]: i for i, it in enumerate(items) if it["edits"] == ["original"]}
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i, it in enumerate(items):
        if it["edits"] == ["original"]:
            continue
        hit = preds[i] == preds[original[it["group"]]]
        for e in it["edits"]:
            out[e][0] += hit
            out[e][1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


# ------------------------------------------------------------------------------- real copies
REAL = HERE / "real"
TARGETS = {"precision": 0.98, "recall": 0.95, "hard_negatives_merged": 0.01}
INDEPENDENT = {"cross_agency", "translation"}  # positives that are not copies (see real/README.md)


def load_real() -> tuple[list[dict], dict[str, list[dict]], dict[str, list[dict]], list[dict]]:
    """The real-copy set through its own loader, refused when ``load.check`` finds a problem."""
    sys.path.insert(0, str(REAL))
    import load  # eval/dedup/real/load.py (a script folder, not a package)

    items, hard, cross = load.load()
    cross_split = load.load_cross_split()
    problems = load.check(items, hard, cross, cross_split)
    if problems:
        raise SystemExit("real-copy set is broken: " + "; ".join(problems[:5]))
    return items, hard, cross, cross_split


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def real_article(it: dict, seen: datetime) -> Article:
    """One served item as the pipeline's cleaned candidate (its own feed, link and guid)."""
    cleaned = clean_article(it["title"] or "", it["text"] or "", source=it["outlet"])
    feed = it["outlet"]
    url = it.get("link") or None
    return Article(
        article_id=make_article_id(feed, it.get("guid"), url, cleaned.title),
        feed_id=feed,
        source=it["outlet"],
        url=url or "",
        guid=it.get("guid"),
        title=cleaned.title,
        text=cleaned.text,
        published_at=_when(it.get("published")),
        first_seen_at=seen,
        dateline=cleaned.dateline,
        agency=cleaned.agency,
        content_hash=content_hash(cleaned.title, cleaned.text),
    )


def replay_real(items: list[dict], lookback_days: int = 7) -> dict[str, str]:
    """Predicted story of every item, as the pipeline would give it: one run per capture day.

    Each day's items are that day's candidates, earlier days within the lookback are history,
    so links across days are feedmon's own. An item dropped as an exact duplicate (same link,
    same content from the same outlet, same guid) takes the story of the row it duplicates:
    that is what the pipeline shows for it. AG rows (no day) are one run of their own.
    """
    by_day: dict[str, list[dict]] = defaultdict(list)
    for it in items:
        by_day[it.get("day") or "0001-01-01"].append(it)
    snapshots: dict[datetime, list[Article]] = {}
    keys: dict[tuple[str, ...], str] = {}
    pred: dict[str, str] = {}
    for day in sorted(by_day):
        when = datetime.fromisoformat(day).replace(hour=23, tzinfo=UTC)
        arts = [real_article(it, when) for it in by_day[day]]
        for a in arts:
            a.story_id = a.article_id
        history = [
            a for d, snap in snapshots.items() if timedelta(0) < when - d <= timedelta(days=lookback_days) for a in snap
        ]
        res = deduplicate(arts, [], history, lookback_days=lookback_days)
        snapshots[when] = res.articles
        for a in res.articles:
            for k in _exact_keys(a):
                keys.setdefault(k, a.story_id)
        kept = {id(a) for a in res.articles}
        for it, a in zip(by_day[day], arts, strict=True):
            if id(a) in kept:
                pred[it["id"]] = a.story_id
            else:
                pred[it["id"]] = next((keys[k] for k in _exact_keys(a) if k in keys), a.article_id)
    return pred


def _exact_keys(a: Article) -> list[tuple[str, ...]]:
    """What an exact duplicate shares with the row it duplicates, most specific first."""
    out = [("id", a.article_id)]
    if a.url:
        out.append(("url", a.url))
    if a.content_hash:
        out.append(("content", a.source, a.content_hash))
    if a.guid:
        out.append(("guid", a.feed_id, a.guid))
    return out


@dataclass
class RealScore:
    """Figures of one split of the real-copy set."""

    split: str
    items: int
    precision: float
    recall_copies: float
    recall_all: float
    predicted_pairs: int
    false_pairs: int
    copy_pairs: int
    all_pairs: int
    hard: dict[str, tuple[int, int]]
    cross_day: dict[str, tuple[int, int]]
    false_merges: list[tuple[str, str]]

    @property
    def hard_merged(self) -> float:
        merged = sum(m for m, _ in self.hard.values())
        total = sum(n for _, n in self.hard.values())
        return merged / total if total else 0.0

    def meets_targets(self) -> bool:
        return (
            self.precision >= TARGETS["precision"]
            and self.recall_copies >= TARGETS["recall"]
            and self.hard_merged <= TARGETS["hard_negatives_merged"]
        )


def score_real(split: str, items: list[dict], pred: dict[str, str], hard: list[dict], cross: list[dict]) -> RealScore:
    """Pair precision and recall (copies; all positives), hard negatives merged, cross-day links."""
    mine = [it for it in items if it["split"] == split]
    labels = [it["story"] for it in mine]
    tp, pp, tt = _pairs_of_clusters(labels, [pred[it["id"]] for it in mine])
    # copy pairs: both items in a story that is not (partly) independent reports or translations
    story_kinds: dict[str, set[str]] = defaultdict(set)
    for it in mine:
        story_kinds[it["story"]] |= set(it["kinds"])
    members: dict[str, list[dict]] = defaultdict(list)
    for it in mine:
        members[it["story"]].append(it)
    copy_total = copy_hit = 0
    for story, its in members.items():
        if story_kinds[story] & INDEPENDENT:
            continue
        for x, y in combinations(its, 2):
            copy_total += 1
            copy_hit += pred[x["id"]] == pred[y["id"]]
    by_pred: dict[str, list[dict]] = defaultdict(list)
    for it in mine:
        by_pred[pred[it["id"]]].append(it)
    false = [
        (x["id"], y["id"]) for its in by_pred.values() for x, y in combinations(its, 2) if x["story"] != y["story"]
    ]
    hard_fig: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in hard:
        hard_fig[p["kind"]][0] += pred[p["a"]] == pred[p["b"]]
        hard_fig[p["kind"]][1] += 1
    cross_fig: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in cross:
        linked = pred[p["a"]] == pred[p["b"]]
        cross_fig[p["relation"]][0] += linked == (p["relation"] == "same_story")
        cross_fig[p["relation"]][1] += 1
    return RealScore(
        split=split,
        items=len(mine),
        precision=tp / pp if pp else 1.0,
        recall_copies=copy_hit / copy_total if copy_total else 1.0,
        recall_all=tp / tt if tt else 1.0,
        predicted_pairs=pp,
        false_pairs=pp - tp,
        copy_pairs=copy_total,
        all_pairs=tt,
        hard={k: (v[0], v[1]) for k, v in sorted(hard_fig.items())},
        cross_day={k: (v[0], v[1]) for k, v in sorted(cross_fig.items())},
        false_merges=false,
    )


def print_real(score: RealScore, tuned: bool) -> None:
    role = "tuned on" if tuned else "BLIND: never tuned on"
    hard = ", ".join(f"{k} {m}/{n}" for k, (m, n) in score.hard.items())
    cross = ", ".join(f"{k} {ok}/{n}" for k, (ok, n) in score.cross_day.items())
    print(f"\nreal copies, {score.split} ({role}): {score.items} items")
    print(
        f"  pair precision {score.precision:.4f} ({score.false_pairs} false of {score.predicted_pairs} predicted pairs)"
        f"   recall of copies {score.recall_copies:.4f} ({score.copy_pairs} pairs)"
        f"   recall of all same-story pairs {score.recall_all:.4f} ({score.all_pairs}, with independent reports"
        " and translations)"
    )
    print(f"  hard negatives merged {score.hard_merged:.4f} ({hard})")
    print(f"  cross-day relations right: {cross}")


def run_synthetic(path: Path, baselines: bool) -> dict[str, object]:
    """The generated set (AG originals with made-up outlet edits): feedmon and the baselines."""
    items = load(path)
    labels = [it["group"] for it in items]
    t0 = time.perf_counter()
    arts = clean_items(items)
    clean_s = time.perf_counter() - t0
    tt = sum(c * (c - 1) // 2 for c in Counter(labels).values())
    print("\nSYNTHETIC set (generated from AG 2004 rows by make_eval_set.py; thresholds were first tuned on it)")
    print(f"{len(items)} items, {len(set(labels))} stories, {tt} same-story pairs; cleaned in {clean_s:.2f}s")

    results: list[Score] = []
    t0 = time.perf_counter()
    preds = run_feedmon_one_batch(arts)
    s = score_clusters("feedmon", labels, preds, "one run")
    s.seconds = time.perf_counter() - t0
    results.append(s)
    t0 = time.perf_counter()
    preds_inc = run_feedmon_incremental(arts)
    s = score_clusters("feedmon", labels, preds_inc, "incremental: per day, 6 runs a day")
    s.seconds = time.perf_counter() - t0
    results.append(s)

    if baselines:
        texts = [doc_text(a) for a in arts]
        t0 = time.perf_counter()
        s, _ = run_datasketch(labels, [shingle_strings(t) for t in texts])
        s.seconds = time.perf_counter() - t0
        results.append(s)
        t0 = time.perf_counter()
        s = run_simhash(labels, texts)
        s.seconds = time.perf_counter() - t0
        results.append(s)

    print(f"\n{'method':24} {'precision':>9} {'recall':>7} {'F1':>6} {'pairs':>6}  setting")
    for r in results:
        print(f"{r.name:24} {r.precision:9.4f} {r.recall:7.4f} {r.f1:6.4f} {r.predicted_pairs:6d}  {r.setting}")
    print("\nfeedmon recall of copy -> original by edit (one run):")
    for edit, (hit, n) in recall_by_edit(items, preds).items():
        print(f"  {edit:15} {hit:5d}/{n:<5d} {hit / n:.3f}")
    return {"synthetic": [{**r.__dict__, "f1": r.f1} for r in results]}


def run_real(split: str, show: bool) -> tuple[dict[str, object], bool]:
    """The real-copy set: dev alone (``split == "dev"``: blind items are not even run), or both.

    Returns the figures and whether the blind split meets its targets (True when not run).
    """
    items, hard, cross, cross_split = load_real()
    run = [it for it in items if split == "both" or it["split"] == "dev"]
    t0 = time.perf_counter()
    pred = replay_real(run)
    seconds = time.perf_counter() - t0
    print(f"REAL-COPY set (eval/dedup/real: {len(items)} items read into stories by hand; feedmon replayed")
    print(f"day by day as the pipeline runs, 7-day lookback; {len(run)} items run in {seconds:.1f}s)")
    out: dict[str, object] = {}
    ok = True
    for name in ("dev", "blind") if split == "both" else ("dev",):
        sc = score_real(name, run, pred, hard[name], cross[name])
        print_real(sc, tuned=name == "dev")
        out[name] = {k: v for k, v in sc.__dict__.items() if k != "false_merges"} | {"hard_merged": sc.hard_merged}
        if name == "blind":
            merged = [p for p in cross_split if pred[p["a"]] == pred[p["b"]]]
            print(f"  across the split (a dev and a blind item): {len(merged)}/{len(cross_split)} merged")
            out["cross_split_merged"] = [len(merged), len(cross_split)]
            ok = sc.meets_targets()
            print(
                f"  targets (precision >= {TARGETS['precision']}, recall of copies >= {TARGETS['recall']}, "
                f"hard negatives merged <= {TARGETS['hard_negatives_merged']}): {'met' if ok else 'NOT met'}"
            )
        if show and name == "dev":
            _show_dev(run, pred, sc)
    return out, ok


def _show_dev(items: list[dict], pred: dict[str, str], sc: RealScore) -> None:
    """False merges and missed copies of the dev split, to read (never called for blind)."""
    by_id = {it["id"]: it for it in items if it["split"] == "dev"}
    print("\n  dev false merges:")
    for a, b in sc.false_merges:
        print(f"    {a} | {by_id[a]['title'][:70]}\n    {b} | {by_id[b]['title'][:70]}\n")
    print("  dev copies kept apart:")
    members: dict[str, list[dict]] = defaultdict(list)
    for it in by_id.values():
        members[it["story"]].append(it)
    for its in members.values():
        if any(set(it["kinds"]) & INDEPENDENT for it in its):
            continue
        for x, y in combinations(its, 2):
            if pred[x["id"]] != pred[y["id"]]:
                print(f"    {x['id']} | {x['title'][:70]}\n    {y['id']} | {y['title'][:70]}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Evaluate story deduplication on real copies and on the synthetic set.")
    ap.add_argument("--set", type=Path, default=HERE / "eval_set.jsonl", help="the synthetic set")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--no-baselines", action="store_true", help="skip datasketch and trafilatura (synthetic set)")
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument(
        "--split",
        choices=["dev", "both"],
        default="both",
        help="real-copy splits to run: dev while developing (blind items are not even run), both for the figures",
    )
    ap.add_argument("--show-dev", action="store_true", help="list the dev split's false merges and missed copies")
    args = ap.parse_args(argv)

    figures, ok = run_real(args.split, args.show_dev)
    if not args.no_synthetic:
        figures |= run_synthetic(args.set, baselines=not args.no_baselines)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=list) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
