"""Load and check the real-copy dedup set (issue 14); standard library only, no scoring.

The set has two halves kept apart on purpose:

* the served text (``items.jsonl``: title, description, link, guid as the outlets served them; the
  feed captures they came from are under ``eval/captures/dedup/``, listed with their origin in
  ``eval/captures/SOURCES-dedup.md``) sits next to this file (or ``--data`` / ``FEEDMON_DEDUP_REAL``);
* the labels (``labels.jsonl``: ``story``, ``split``, ``kinds``, ``note``) and the pair files
  (``hard_negatives_<split>.jsonl``, ``cross_day_<split>.jsonl``, and ``cross_split.jsonl`` for the
  look-alike and follow-up pairs whose two items sit on different sides of the split) are this
  project's own reading and live next to this file.

:func:`load` joins the two into one dict per item with the fields the README lists, and
:func:`check` returns every problem it finds, so a scorer can refuse a broken set instead of
reporting figures from it::

    python eval/dedup/real/load.py [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE
SPLITS = ("dev", "blind")
KINDS = {"syndicated", "template", "same_place_day", "blurb", "followup", "ag_repeat", "translation", "cross_agency"}
HARD_KINDS = {"template", "same_place_day", "blurb"}
RELATIONS = {"same_story", "followup", "different"}
SERVED_FIELDS = ("id", "outlet", "published", "title", "text", "link", "guid", "day")
REPO = HERE.parents[2]
CROSS_SPLIT = HERE / "cross_split.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    """One JSON object per non-empty line; a broken line raises with its line number."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: {exc}") from exc
    return rows


def data_dir(explicit: str | None = None) -> Path:
    """Where the served text is: argument, then FEEDMON_DEDUP_REAL, then this folder."""
    return Path(explicit or os.environ.get("FEEDMON_DEDUP_REAL") or DEFAULT_DATA)


def load(data: Path | None = None) -> tuple[list[dict], dict[str, list[dict]], dict[str, list[dict]]]:
    """Items (served fields joined with labels), hard-negative pairs and cross-day pairs by split."""
    served = {r["id"]: r for r in read_jsonl(data_dir(str(data) if data else None) / "items.jsonl")}
    items = []
    for lab in read_jsonl(HERE / "labels.jsonl"):
        row = dict(served.get(lab["id"], {"id": lab["id"]}))
        row.update(lab)
        items.append(row)
    hard = {s: read_jsonl(HERE / f"hard_negatives_{s}.jsonl") for s in SPLITS}
    cross = {s: read_jsonl(HERE / f"cross_day_{s}.jsonl") for s in SPLITS}
    return items, hard, cross


def load_cross_split() -> list[dict]:
    """Pairs across the dev/blind boundary (a dev item and a blind item): report them, never tune on them."""
    return read_jsonl(CROSS_SPLIT) if CROSS_SPLIT.exists() else []


def check(
    items: list[dict],
    hard: dict[str, list[dict]],
    cross: dict[str, list[dict]],
    cross_split: list[dict] | None = None,
) -> list[str]:
    """Every inconsistency in the set, as readable sentences (empty list: the set is sound)."""
    problems: list[str] = []
    by_id: dict[str, dict] = {}
    for it in items:
        if it["id"] in by_id:
            problems.append(f"duplicate id {it['id']}")
        by_id[it["id"]] = it
        missing = [f for f in SERVED_FIELDS if f not in it]
        if missing:
            problems.append(f"{it['id']}: no served text for {missing} (is items.jsonl from the same version?)")
        if not (it.get("capture") or it.get("ag_row") is not None):
            problems.append(f"{it['id']}: neither capture nor ag_row")
        elif it.get("capture") and not (REPO / it["capture"]).is_file():
            problems.append(f"{it['id']}: capture {it['capture']} is not in the repository")
        if it.get("split") not in SPLITS:
            problems.append(f"{it['id']}: split {it.get('split')!r}")
        if not it.get("story"):
            problems.append(f"{it['id']}: no story label")
        unknown = set(it.get("kinds", [])) - KINDS
        if unknown:
            problems.append(f"{it['id']}: unknown kinds {sorted(unknown)}")
    story_splits: dict[str, set[str]] = {}
    for it in items:
        story_splits.setdefault(it.get("story", ""), set()).add(it.get("split", ""))
    problems += [f"story {s} is split across {sorted(v)}" for s, v in story_splits.items() if len(v) > 1]
    for split in SPLITS:
        for p in hard[split]:
            a, b = by_id.get(p.get("a")), by_id.get(p.get("b"))
            if a is None or b is None:
                problems.append(f"hard_negatives_{split}: unknown item in {p}")
                continue
            if p.get("kind") not in HARD_KINDS:
                problems.append(f"hard_negatives_{split}: kind {p.get('kind')!r} in {p['a']}/{p['b']}")
            if a["story"] == b["story"]:
                problems.append(f"hard_negatives_{split}: {p['a']} and {p['b']} share story {a['story']}")
            if a["split"] != split or b["split"] != split:
                problems.append(f"hard_negatives_{split}: {p['a']}/{p['b']} not both in {split}")
        for p in cross[split]:
            a, b = by_id.get(p.get("a")), by_id.get(p.get("b"))
            if a is None or b is None:
                problems.append(f"cross_day_{split}: unknown item in {p}")
                continue
            rel = p.get("relation")
            if rel not in RELATIONS:
                problems.append(f"cross_day_{split}: relation {rel!r} in {p['a']}/{p['b']}")
            if a.get("day") == b.get("day"):
                problems.append(f"cross_day_{split}: {p['a']}/{p['b']} are on the same day")
            if (rel == "same_story") != (a["story"] == b["story"]):
                problems.append(f"cross_day_{split}: {p['a']}/{p['b']} relation {rel} disagrees with the story labels")
            if a["split"] != split or b["split"] != split:
                problems.append(f"cross_day_{split}: {p['a']}/{p['b']} not both in {split}")
    for p in cross_split or []:
        a, b = by_id.get(p.get("a")), by_id.get(p.get("b"))
        if a is None or b is None:
            problems.append(f"cross_split: unknown item in {p}")
            continue
        if a["split"] == b["split"]:
            problems.append(f"cross_split: {p['a']}/{p['b']} are both in {a['split']} (belongs in a per-split file)")
        if a["story"] == b["story"]:
            problems.append(f"cross_split: {p['a']} and {p['b']} share story {a['story']}")
        if p.get("relation") not in RELATIONS - {"same_story"}:
            problems.append(f"cross_split: relation {p.get('relation')!r} in {p['a']}/{p['b']}")
        if p.get("kind") is not None and p["kind"] not in HARD_KINDS:
            problems.append(f"cross_split: kind {p.get('kind')!r} in {p['a']}/{p['b']}")
    return problems


def counts(items: list[dict], hard: dict[str, list[dict]], cross: dict[str, list[dict]]) -> dict[str, dict]:
    """The figures the README quotes, per split, computed from the files."""
    out: dict[str, dict] = {}
    for split in SPLITS:
        mine = [it for it in items if it["split"] == split]
        members: dict[str, list[dict]] = {}
        for it in mine:
            members.setdefault(it["story"], []).append(it)
        multi = [m for m in members.values() if len(m) > 1]
        out[split] = {
            "items": len(mine),
            "stories": len(members),
            "multi_member_stories": len(multi),
            "multi_outlet_stories": sum(1 for m in multi if len({it["outlet"] for it in m}) > 1),
            "positive_pairs": sum(len(m) * (len(m) - 1) // 2 for m in multi),
            "hard_negatives": dict(Counter(p["kind"] for p in hard[split])),
            "cross_day": dict(Counter(p["relation"] for p in cross[split])),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="folder with items.jsonl (default: eval/dedup/real)")
    args = ap.parse_args(argv)
    items, hard, cross = load(data_dir(args.data))
    cross_split = load_cross_split()
    problems = check(items, hard, cross, cross_split)
    figures: dict = counts(items, hard, cross)
    figures["cross_split"] = {
        "relation": dict(Counter(p["relation"] for p in cross_split)),
        "kind": dict(Counter(p.get("kind") or "none" for p in cross_split)),
    }
    print(json.dumps(figures, indent=2))
    for p in problems[:50]:
        print("PROBLEM:", p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
