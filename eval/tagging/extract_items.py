"""Build the real-feed multilingual tagging sets (``eval/tagging/real/``) from committed captures.

Three steps, each a sub-command, so every committed line can be traced back to bytes in a capture:

``extract CAPTURE...``
    Print the items of captures as JSON lines (id, capture, outlet, split, title, text, published,
    the feed's declared language). The feed goes through :func:`feedmon.parse.parse_feed`, the
    parser the pipeline uses, so a Windows-1251 body or a lying XML declaration reads as it does in
    production; ``text`` is the item's description with tags removed and nothing else changed
    (credits, datelines and entities stay for the evaluation's own cleaning to meet).
``build``
    Join the extracted items with the hand labels (``real/src/labels.jsonl``, keyed by item id) and
    the written items (``real/src/written_<lang>.jsonl``), then write ``real/<lang>_dev.jsonl``,
    ``real/<lang>_blind.jsonl`` and ``real/other_lang.jsonl``. An extracted item without a label is
    an error: every real item is read and labelled, none is dropped silently.
``check``
    Validate every line of the built files (fields, ISO 3166-1 alpha-2 codes plus ``XK``, ISO 639-1
    language codes, splits) and print per-language counts.

The split is fixed before labelling (see ``real/README.md``): whole captures go to one split, so near
duplicates of a story cannot sit on both sides; written items go to ``blind`` when a hash of their id
falls in the lower half.

Usage::

    python eval/tagging/extract_items.py extract eval/captures/ru/*.xml
    python eval/tagging/extract_items.py build
    python eval/tagging/extract_items.py check
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pycountry
from selectolax.lexbor import LexborHTMLParser

from feedmon.parse import parse_feed

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CAPTURES_DIR = ROOT / "eval" / "captures"
REAL = HERE / "real"
SRC = REAL / "src"

# The ten languages the tagger is evaluated in; items in any other language go to other_lang.jsonl.
SET_LANGS = ("en", "ru", "uk", "ar", "fr", "es", "de", "zh", "tr", "fa")
# Languages whose written items this build owns (other sets may share the output files).
OWN_WRITTEN_LANGS = ("ru", "uk", "zh")

# capture (relative to eval/captures) -> (outlet, split). Decided before any item was labelled.
CAPTURES: dict[str, tuple[str, str]] = {
    "ru/tut-by_2019-12-30.xml": ("TUT.BY", "dev"),
    "ru/liga-net_2021-08-22.xml": ("LIGA.net (Russian edition)", "dev"),
    "ru/liga-net_2020-09-29.xml": ("LIGA.net (Russian edition)", "blind"),
    "ru/pravda-com-ua-rus_2020-09-29.xml": ("Ukrainska Pravda (Russian edition)", "blind"),
    "ru/onliner_2021-10-26.xml": ("Onliner", "blind"),
    "ru/ukranews_2020-09-29.xml": ("Ukrainski Novyny (ukranews.com)", "blind"),
    "uk/unian_2020-09-28.xml": ("UNIAN", "dev"),
    "uk/unian-mirror_2026-02-05.xml": ("UNIAN", "blind"),
    "uk/ukrinform-mirror_2026-04-02.xml": ("Ukrinform", "blind"),
}

REQUIRED = ("id", "lang", "split", "origin", "title", "text", "is_conflict", "countries")
_WS = re.compile(r"\s+")
_BREAK = re.compile(r"<(?=/?(?:p|div|br|li|ul|ol|h[1-6]|blockquote|table|tr|td|figure|figcaption)\b)", re.I)


def html_to_text(markup: str) -> str:
    """The visible text of a description: tags out, entities decoded, whitespace collapsed.

    Deliberately less than :func:`feedmon.clean.clean_article`: the evaluation runs that cleaner on
    the stored text, so removing credits or datelines here would hide what it has to handle.
    """
    if "<" in markup:
        # a space where a block or line break was, none around inline tags ("<b>УНИАН</b>.")
        tree = LexborHTMLParser(_BREAK.sub(" <", markup))
        root = tree.body if tree.body is not None else tree.root
        markup = root.text(deep=True, separator="") if root is not None else ""
    return _WS.sub(" ", html.unescape(markup)).strip()


def item_id(capture: str, n: int) -> str:
    """Stable id of the n-th item (1-based, feed order) of a capture: ``<lang>-<capture stem>-NNN``."""
    path = Path(capture)
    return f"{path.parent.name}-{path.stem}-{n:03d}"


def extract(capture: str) -> list[dict[str, Any]]:
    """The items of one committed capture, in feed order; items with neither title nor text are skipped."""
    outlet, split = CAPTURES[capture]
    body = (CAPTURES_DIR / capture).read_bytes()
    parsed = parse_feed(body, feed_id=capture)
    if parsed.error and not parsed.entries:
        raise SystemExit(f"{capture}: {parsed.error}")
    items = []
    for n, entry in enumerate(parsed.entries, start=1):
        title = html_to_text(entry.title)
        text = html_to_text(entry.html)
        if not title and not text:
            continue
        items.append(
            {
                "id": item_id(capture, n),
                "capture": f"eval/captures/{capture}",
                "outlet": outlet,
                "split": split,
                "title": title,
                "text": text,
                "published": entry.published_at.date().isoformat() if entry.published_at else None,
                "link": entry.link,
                "feed_language": parsed.language,
            }
        )
    return items


def written_split(item_id_: str) -> str:
    """``blind`` for the half of written items whose id hashes low, else ``dev``."""
    return "blind" if int(hashlib.sha256(item_id_.encode()).hexdigest()[:8], 16) % 100 < 50 else "dev"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build() -> dict[str, list[dict[str, Any]]]:
    """Labelled real items plus written items, grouped by output file name."""
    labels = {row["id"]: row for row in _read_jsonl(SRC / "labels.jsonl")}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[str] = set()
    for capture in CAPTURES:
        for item in extract(capture):
            label = labels.get(item["id"])
            if label is None:
                raise SystemExit(f"{item['id']} ({item['title'][:60]!r}) has no label in {SRC / 'labels.jsonl'}")
            seen.add(item["id"])
            row = {
                "id": item["id"],
                "lang": label["lang"],
                "split": item["split"],
                "origin": "real",
                "capture": item["capture"],
                "outlet": item["outlet"],
                "title": item["title"],
                "text": item["text"],
                "published": item["published"],
                "is_conflict": label["is_conflict"],
                "countries": label["countries"],
            }
            if label.get("note"):
                row["note"] = label["note"]
            out[_file_for(row)].append(row)
    stale = sorted(set(labels) - seen)
    if stale:
        raise SystemExit(f"labels for items no capture holds: {stale[:5]}")
    for path in sorted(SRC.glob("written_*.jsonl")):
        for item in _read_jsonl(path):
            row = {"id": item["id"], "lang": item["lang"], "split": written_split(item["id"]), "origin": "written"}
            row.update({k: v for k, v in item.items() if k not in row})
            out[_file_for(row)].append(row)
    return out


def _file_for(row: dict[str, Any]) -> str:
    if row["lang"] not in SET_LANGS:
        return "other_lang.jsonl"
    return f"{row['lang']}_{row['split']}.jsonl"


def _owned(row: dict[str, Any]) -> bool:
    """Whether a line in a built file came from this build (lines of other sets are kept as they are)."""
    if row.get("origin") == "written":
        return row.get("lang") in OWN_WRITTEN_LANGS
    return str(row.get("capture", "")).removeprefix("eval/captures/") in CAPTURES


def write(files: dict[str, list[dict[str, Any]]]) -> None:
    """Replace this build's lines in the output files, keeping lines other sets put there."""
    REAL.mkdir(parents=True, exist_ok=True)
    names = set(files) | {p.name for p in REAL.glob("*.jsonl")}
    for name in sorted(names):
        path = REAL / name
        kept = [r for r in _read_jsonl(path) if not _owned(r)] if path.exists() else []
        rows = kept + files.get(name, [])
        if rows:
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        elif path.exists():
            path.unlink()


def _valid_country(code: str) -> bool:
    return code == "XK" or pycountry.countries.get(alpha_2=code) is not None


def _valid_lang(code: str) -> bool:
    return len(code) == 2 and pycountry.languages.get(alpha_2=code) is not None


def problems(row: dict[str, Any], file_name: str) -> list[str]:
    """What is wrong with one built line (empty when nothing is)."""
    errs = [f"missing {k}" for k in REQUIRED if k not in row]
    if errs:
        return errs
    if not _valid_lang(row["lang"]):
        errs.append(f"lang {row['lang']!r} is not ISO 639-1")
    if row["split"] not in ("dev", "blind"):
        errs.append(f"split {row['split']!r}")
    if file_name != "other_lang.jsonl" and file_name != f"{row['lang']}_{row['split']}.jsonl":
        errs.append(f"belongs in {row['lang']}_{row['split']}.jsonl")
    if not isinstance(row["is_conflict"], bool):
        errs.append("is_conflict is not a boolean")
    bad = [c for c in row["countries"] if not _valid_country(c)]
    if bad:
        errs.append(f"countries not ISO 3166-1 alpha-2: {bad}")
    if row["countries"] and not row["is_conflict"]:
        errs.append("a non-conflict item has countries")
    if not (row["title"] or row["text"]):
        errs.append("neither title nor text")
    if row["origin"] == "real" and not (row.get("capture") and row.get("outlet")):
        errs.append("real item without capture/outlet")
    if row["origin"] == "real" and not (ROOT / row.get("capture", "")).is_file():
        errs.append(f"capture {row.get('capture')} is not committed")
    if row["origin"] == "written" and not row.get("based_on"):
        errs.append("written item without based_on")
    if row["origin"] not in ("real", "written"):
        errs.append(f"origin {row['origin']!r}")
    return errs


def check(paths: Iterable[Path]) -> int:
    """Validate the built files and print per-language counts; the number of bad lines."""
    bad = 0
    ids: Counter[str] = Counter()
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    for path in sorted(paths):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                print(f"{path.name}:{n}: not JSON: {exc}")
                bad += 1
                continue
            errs = problems(row, path.name)
            for e in errs:
                print(f"{path.name}:{n} {row.get('id')}: {e}")
            bad += bool(errs)
            ids[row.get("id", "")] += 1
            key = "other" if path.name == "other_lang.jsonl" else row.get("lang", "?")
            s = stats[key]
            s["items"] += 1
            s[f"{row.get('split')}"] += 1
            s[f"{row.get('split')}_{row.get('origin')}"] += 1
            s[f"{row.get('split')}_conflict"] += bool(row.get("is_conflict"))
            s["conflict"] += bool(row.get("is_conflict"))
    for dup, k in ids.items():
        if k > 1:
            print(f"duplicate id {dup} ({k}x)")
            bad += 1
    print("lang  items  dev(real/written)  blind(real/written)  blind%  conflict% (dev / blind)")
    for lang, s in sorted(stats.items()):
        dev, blind = s["dev"], s["blind"]
        pct = lambda a, b: f"{100 * a / b:.0f}%" if b else "-"  # noqa: E731
        print(
            f"{lang:5} {s['items']:5}  {dev:3} ({s['dev_real']}/{s['dev_written']})"
            f"{'':9}{blind:3} ({s['blind_real']}/{s['blind_written']}){'':9}{pct(blind, s['items']):>5}"
            f"   {pct(s['conflict'], s['items'])} ({pct(s['dev_conflict'], dev)} / {pct(s['blind_conflict'], blind)})"
        )
    print("bad lines:", bad)
    return bad


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_extract = sub.add_parser("extract", help="print the items of captures as JSON lines")
    p_extract.add_argument("captures", nargs="+", type=Path)
    sub.add_parser("build", help="write real/<lang>_{dev,blind}.jsonl and real/other_lang.jsonl")
    p_check = sub.add_parser("check", help="validate the built files and print counts")
    p_check.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "extract":
        for path in args.captures:
            rel = path.resolve().relative_to(CAPTURES_DIR).as_posix()
            for item in extract(rel):
                print(json.dumps(item, ensure_ascii=False))
        return 0
    if args.cmd == "build":
        files = build()
        write(files)
        return 1 if check(REAL.glob("*.jsonl")) else 0
    return 1 if check(args.files or REAL.glob("*.jsonl")) else 0


if __name__ == "__main__":
    sys.exit(main())
