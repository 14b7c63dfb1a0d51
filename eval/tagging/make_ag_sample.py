"""Draw the AG News evaluation sample for the conflict tagger, deterministically.

Run once to create ``ag_eval.jsonl``; re-running keeps the labels already written for each row id
(labels are human work, never regenerated) and ``--check`` verifies the committed file is exactly the
sample this script draws, so anyone can audit how the items were chosen.

The sample (seed 20041, from ``agnews_test.csv``; ``row`` is the 1-based data row):

* 250 random World items (class 1): where conflict stories live;
* 20 random items from each of Sports, Business and Sci/Tech (classes 2-4): ordinary negatives;
* 10 "hard" items from each of those classes whose text names a war word or a conflict country
  (regex below): the traps (sport "battles", oil-market stories, "trade war", "virus attacks");
* then 100 more random World items, ``"split": "holdout"``: labelled blind after the tagger had been
  tuned on the 340 ``"dev"`` items, and never used for tuning, so their figures show how the tagger
  generalises rather than how well it was fitted.

Usage::

    python eval/tagging/make_ag_sample.py [--corpus ../shared/corpus/agnews_test.csv] [--check]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parents[2] / "shared" / "corpus" / "agnews_test.csv"
OUT = HERE / "ag_eval.jsonl"
SEED = 20041
N_WORLD = 250
N_OTHER = 20
N_HARD = 10
N_HOLDOUT = 100
CLASSES = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}
HARD_RE = re.compile(
    r"\b(wars?|battle\w*|attack\w*|bomb\w*|troops|killed|fight\w*|rebels?|Iraq\w*|Afghan\w*|"
    r"Israel\w*|Palestin\w*|Sudan\w*|Darfur|Chechn\w*|hostage\w*|militant\w*|insurgen\w*)\b",
    re.IGNORECASE,
)
LABEL_FIELDS = ("is_conflict", "countries", "regions", "note")


def draw(corpus: Path) -> list[dict[str, object]]:
    """The sample, in a stable order (World first, then the others, each by row number)."""
    with corpus.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if header[:3] != ["label", "title", "description"]:
            raise SystemExit(f"{corpus}: unexpected header {header}")
        rows = [(i, r[0], r[1], r[2]) for i, r in enumerate(reader, start=1)]
    rng = random.Random(SEED)
    picked: list[tuple[int, str, str, str]] = []
    world = [r for r in rows if r[1] == "1"]
    picked += sorted(rng.sample(world, N_WORLD))
    for cls in ("2", "3", "4"):
        pool = [r for r in rows if r[1] == cls]
        plain = sorted(rng.sample(pool, N_OTHER))
        taken = {r[0] for r in plain}
        hard_pool = [r for r in pool if r[0] not in taken and HARD_RE.search(r[2] + " " + r[3])]
        hard = sorted(rng.sample(hard_pool, N_HARD))
        picked += [*plain, *hard]
    taken = {r[0] for r in picked}
    holdout = sorted(rng.sample([r for r in world if r[0] not in taken], N_HOLDOUT))
    return [
        {
            "row": i,
            "split": split,
            "ag_class": CLASSES[c],
            "hard": c != "1" and HARD_RE.search(t + " " + d) is not None,
            "title": t,
            "description": d,
        }
        for split, part in (("dev", picked), ("holdout", holdout))
        for i, c, t, d in part
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="verify the committed file matches the draw")
    args = ap.parse_args(argv)
    items = draw(args.corpus)
    existing: dict[int, dict[str, object]] = {}
    if args.out.exists():
        for line in args.out.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                existing[int(rec["row"])] = rec
    if args.check:
        drawn = [(it["row"], it["title"], it["description"]) for it in items]
        have = [(r["row"], r["title"], r["description"]) for r in existing.values()]
        if drawn != have:
            print(f"{args.out}: does not match the deterministic draw", file=sys.stderr)
            return 1
        unlabelled = [r["row"] for r in existing.values() if "is_conflict" not in r]
        print(f"{args.out}: {len(have)} items match the draw; {len(unlabelled)} unlabelled")
        return 0 if not unlabelled else 1
    with args.out.open("w", encoding="utf-8") as fh:
        for it in items:
            old = existing.get(int(it["row"]), {})  # type: ignore[arg-type]
            rec = {**it, **{k: old[k] for k in LABEL_FIELDS if k in old}}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"wrote {len(items)} items to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
