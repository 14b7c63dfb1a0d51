"""Build the real-feed multilingual tagging sets from committed captures and hand-written labels.

Why a script: the item texts must come from the committed captures (``eval/captures/<lang>/``)
exactly, so anyone can re-derive them; only the labels are human work. Two capture formats:

* ``*.xml`` / ``*.rss`` / ``*.atom``: an RSS/Atom document as the outlet served it, read with the
  pipeline's own parser (:func:`feedmon.parse.parse_feed`);
* ``*.promos.jsonl``: promos (``assetUri``, ``timestamp`` in ms, ``headline``, ``summary``)
  transcribed from a news page's data file when no feed capture could be found (see
  ``eval/captures/SOURCES.md`` for where each one comes from and what was transcribed).

Labels for real items live in ``eval/tagging/real/labels/<lang>.jsonl`` (``id``, ``is_conflict``,
``countries``, ``lang``, optional ``note``, ``group``, ``skip``); items written from real reporting
live whole in ``eval/tagging/real/written/<lang>.jsonl``. ``build`` joins them, assigns the split
by the fixed rule below and writes ``<lang>_dev.jsonl`` / ``<lang>_blind.jsonl``.

Split rule (fixed before labelling, see ``eval/tagging/real/README.md``): an item is ``blind`` when
``int(sha256(key)[:8], 16) % 100 < 45``, where ``key`` is the item's ``group`` (near-duplicate
reports of one event share a group, so they land in the same split) or else its ``id``.

Usage::

    python eval/tagging/extract_items_promos.py worksheet LANG      # extracted items, unlabelled ones marked
    python eval/tagging/extract_items_promos.py build LANG [LANG..] # write the dev/blind files
    python eval/tagging/extract_items_promos.py build --check LANG  # exit 1 if the committed files differ
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedmon.clean import normalize_text
from feedmon.parse import parse_feed

HERE = Path(__file__).resolve().parent
CAPTURES = HERE.parent / "captures"
REAL = HERE / "real"
BLIND_PERCENT = 45
FEED_SUFFIXES = (".xml", ".rss", ".atom")
PROMO_SUFFIX = ".promos.jsonl"
# Outlet names for transcribed promos, by file-name prefix (feeds carry their own title).
OUTLETS = {
    "bbc-persian": "BBC News فارسی",
    "bbc-turkce": "BBC News Türkçe",
    "bbc-arabic": "BBC News عربي",
}
_TAG = re.compile(r"<[^>]+>")


def plain(markup: str) -> str:
    """Text of a description as served: tags dropped, entities decoded, whitespace tidied."""
    return " ".join(normalize_text(_TAG.sub(" ", markup or "")).split())


def _rel(path: Path) -> str:
    """Capture path as committed (repo-relative), or as given for files outside the repository."""
    try:
        return path.resolve().relative_to(HERE.parents[1]).as_posix()
    except ValueError:
        return path.as_posix()


def _outlet(stem: str) -> str:
    for prefix, name in sorted(OUTLETS.items(), key=lambda kv: -len(kv[0])):
        if stem.startswith(prefix):
            return name
    raise ValueError(f"no outlet name for capture {stem!r}: add it to OUTLETS")


def _promo_items(path: Path, lang: str) -> list[dict[str, Any]]:
    stem = path.name[: -len(PROMO_SUFFIX)]
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        promo = json.loads(line)
        tail = promo["assetUri"].rstrip("/").rsplit("/", 1)[-1]
        when = datetime.fromtimestamp(promo["timestamp"] / 1000, tz=UTC)
        items.append(
            {
                "id": f"{lang}/{stem}#{tail}",
                "capture": _rel(path),
                "outlet": _outlet(stem),
                "title": plain(promo["headline"]),
                "text": plain(promo.get("summary", "")),
                "published": when.date().isoformat(),
            }
        )
    return items


def _feed_items(path: Path, lang: str) -> list[dict[str, Any]]:
    parsed = parse_feed(path.read_bytes(), feed_id=path.stem)
    if parsed.error and not parsed.entries:
        raise ValueError(f"{path}: {parsed.error}")
    items = []
    for n, entry in enumerate(parsed.entries):
        key = entry.guid or entry.link or str(n)
        items.append(
            {
                "id": f"{lang}/{path.stem}#{hashlib.sha256(key.encode()).hexdigest()[:12]}",
                "capture": _rel(path),
                "outlet": parsed.feed_title or path.stem,
                "title": plain(entry.title),
                "text": plain(entry.html or ""),
                "published": entry.published_at.date().isoformat() if entry.published_at else None,
            }
        )
    return items


def extract(lang: str) -> list[dict[str, Any]]:
    """Every item of every capture of ``lang``, in file order; items with neither title nor text dropped."""
    items: list[dict[str, Any]] = []
    for path in sorted((CAPTURES / lang).glob("*")):
        if path.name.endswith(PROMO_SUFFIX):
            items += _promo_items(path, lang)
        elif path.suffix in FEED_SUFFIXES:
            items += _feed_items(path, lang)
    seen: set[str] = set()
    kept = []
    for item in items:
        if (item["title"] or item["text"]) and item["id"] not in seen:
            seen.add(item["id"])
            kept.append(item)
    return kept


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def split_of(key: str) -> str:
    """The fixed split rule: about 45 % of keys go blind, decided by a hash nobody can steer."""
    return "blind" if int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 100 < BLIND_PERCENT else "dev"


def build(lang: str) -> dict[str, list[dict[str, Any]]]:
    """The labelled items of ``lang`` by split; every extracted item must carry a label."""
    labels = {row["id"]: row for row in _read_jsonl(REAL / "labels" / f"{lang}.jsonl")}
    out: dict[str, list[dict[str, Any]]] = {"dev": [], "blind": []}
    extracted = extract(lang)
    missing = [it["id"] for it in extracted if it["id"] not in labels]
    if missing:
        raise SystemExit(f"{lang}: {len(missing)} extracted items have no label, e.g. {missing[:3]}")
    stale = set(labels) - {it["id"] for it in extracted}
    if stale:
        raise SystemExit(f"{lang}: labels for items not in any capture: {sorted(stale)[:3]}")
    rows: list[dict[str, Any]] = []
    for item in extracted:
        label = labels[item["id"]]
        if label.get("skip"):
            continue
        row = {"id": item["id"], "lang": label["lang"], "split": "", "origin": "real"}
        row |= {k: item[k] for k in ("capture", "outlet", "title", "text", "published")}
        row |= {"is_conflict": label["is_conflict"], "countries": label["countries"]}
        for extra in ("note", "group"):
            if label.get(extra):
                row[extra] = label[extra]
        rows.append(row)
    for item in _read_jsonl(REAL / "written" / f"{lang}.jsonl"):
        rows.append({"id": item["id"], "lang": item["lang"], "split": ""} | item)
    for row in rows:
        row["split"] = split_of(row.get("group") or row["id"])
        out[row["split"]].append(row)
    return out


def _dump(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ws = sub.add_parser("worksheet", help="print the extracted items of one language")
    ws.add_argument("lang")
    bd = sub.add_parser("build", help="write (or --check) the dev/blind files")
    bd.add_argument("langs", nargs="+")
    bd.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "worksheet":
        labels = {row["id"] for row in _read_jsonl(REAL / "labels" / f"{args.lang}.jsonl")}
        for item in extract(args.lang):
            print(json.dumps({"labelled": item["id"] in labels, **item}, ensure_ascii=False))
        return 0
    stale = []
    for lang in args.langs:
        for split, rows in build(lang).items():
            path = REAL / f"{lang}_{split}.jsonl"
            text = _dump(rows)
            if args.check:
                if not path.exists() or path.read_text(encoding="utf-8") != text:
                    stale.append(path.name)
            else:
                path.write_text(text, encoding="utf-8")
                print(f"{path.relative_to(HERE.parents[1])}: {len(rows)} items")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
