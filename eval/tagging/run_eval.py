"""Measure the conflict tagger against the committed, hand-labelled evaluation sets.

Prints precision / recall / F1 for ``is_conflict`` and micro-averaged P/R/F1 for ``countries`` on the
AG News sample (``ag_eval.jsonl``, 2004: all 440 items, then its 340 ``dev`` items used while tuning
and its 100 ``holdout`` items labelled blind and never tuned on) and the modern set
(``modern_eval.jsonl``, 2022–2026: 63 ``dev`` items written first and tuned on, 32 ``holdout`` items
written and labelled afterwards without running the tagger).
Items go through the same cleaner as the pipeline (:func:`feedmon.clean.clean_article`: title credit,
dateline split off, entities repaired) unless ``--raw``. Labels follow ``guideline.md``.

Usage::

    python eval/tagging/run_eval.py [--misses] [--json] [--raw] [--gazetteer USER.yaml]

Exit status 1 when a measure on ``ag`` or ``modern`` falls below ``--target`` (default 0.90).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from feedmon.tag import ConflictTagger

HERE = Path(__file__).resolve().parent
SETS = {"ag": HERE / "ag_eval.jsonl", "modern": HERE / "modern_eval.jsonl"}


def load(path: Path) -> list[dict[str, Any]]:
    """The labelled items of one set."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prepare(item: dict[str, Any], raw: bool) -> tuple[str, str, str | None]:
    """(title, text, dateline) as the pipeline would hand them to the tagger."""
    title = item["title"]
    text = item.get("description", item.get("text", ""))
    if raw:
        return title, text, item.get("dateline")
    from feedmon.clean import clean_article

    clean = clean_article(title, text)
    return clean.title, clean.text, clean.dateline or item.get("dateline")


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall, F1 (0 when undefined)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def evaluate(tagger: ConflictTagger, items: Iterable[dict[str, Any]], raw: bool = False) -> dict[str, Any]:
    """Score one set; returns the measures and the list of misses."""
    c_tp = c_fp = c_fn = 0
    k_tp = k_fp = k_fn = 0
    misses: list[dict[str, Any]] = []
    n = 0
    for item in items:
        n += 1
        res = tagger.tag(*prepare(item, raw))
        gold_c, pred_c = bool(item["is_conflict"]), res.is_conflict
        c_tp += gold_c and pred_c
        c_fp += pred_c and not gold_c
        c_fn += gold_c and not pred_c
        gold_k, pred_k = set(item.get("countries") or []), set(res.countries)
        k_tp += len(gold_k & pred_k)
        k_fp += len(pred_k - gold_k)
        k_fn += len(gold_k - pred_k)
        if gold_c != pred_c or gold_k != pred_k:
            misses.append(
                {
                    "id": item.get("row", item.get("id")),
                    "title": item["title"],
                    "gold": [gold_c, sorted(gold_k)],
                    "pred": [pred_c, sorted(pred_k)],
                    "score": res.conflict_score,
                    "regions": res.conflict_regions,
                    "evidence": res.conflict_evidence,
                    "note": item.get("note", ""),
                }
            )
    return {
        "items": n,
        "positives": c_tp + c_fn,
        "is_conflict": prf(c_tp, c_fp, c_fn),
        "countries": prf(k_tp, k_fp, k_fn),
        "misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--misses", action="store_true", help="list every item the tagger got wrong")
    ap.add_argument("--json", action="store_true", help="print the measures as JSON")
    ap.add_argument("--raw", action="store_true", help="skip the cleaner; tag the stored text as is")
    ap.add_argument("--gazetteer", help="a user gazetteer merged over the shipped one")
    ap.add_argument("--target", type=float, default=0.90)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    tagger = ConflictTagger.load(args.gazetteer)
    ag, modern = load(SETS["ag"]), load(SETS["modern"])
    parts = {
        "ag": ag,
        "ag-dev": [it for it in ag if it.get("split") == "dev"],
        "ag-hold": [it for it in ag if it.get("split") == "holdout"],
        "modern": modern,
        "mod-dev": [it for it in modern if it.get("split") == "dev"],
        "mod-hold": [it for it in modern if it.get("split") == "holdout"],
    }
    results = {name: evaluate(tagger, items, raw=args.raw) for name, items in parts.items()}
    elapsed = time.perf_counter() - t0
    if args.json:
        out = {k: {m: v for m, v in r.items() if m != "misses" or args.misses} for k, r in results.items()}
        print(json.dumps({"gazetteer": tagger.version, **out}, indent=2, ensure_ascii=False))
    else:
        print(f"gazetteer {tagger.version}; {elapsed:.2f}s")
        print(f"{'set':8} {'items':>5} {'pos':>4}  {'measure':11} {'P':>6} {'R':>6} {'F1':>6}   tp/fp/fn")
        for name, r in results.items():
            for measure in ("is_conflict", "countries"):
                m = r[measure]
                print(
                    f"{name:8} {r['items']:5d} {r['positives']:4d}  {measure:11} {m['precision']:6.3f} "
                    f"{m['recall']:6.3f} {m['f1']:6.3f}   {m['tp']}/{m['fp']}/{m['fn']}"
                )
        if args.misses:
            for name, r in results.items():
                if name in ("ag", "modern"):
                    continue  # unions of their dev and holdout parts
                print(f"\n# misses in {name} ({len(r['misses'])})")
                for ms in r["misses"]:
                    print(
                        f"- {ms['id']}: {ms['title'][:80]!r} gold={ms['gold']} pred={ms['pred']} "
                        f"score={ms['score']} {ms['note']}\n    {' '.join(ms['evidence'])}"
                    )
    below = [
        f"{name}.{m}"
        for name in ("ag", "modern")
        for m in ("is_conflict", "countries")
        if results[name][m]["f1"] < args.target
    ]
    if below:
        print(f"below target {args.target}: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
