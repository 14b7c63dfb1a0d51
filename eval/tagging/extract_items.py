"""Build the real-feed multilingual evaluation sets from the committed captures and the labels.

Why a script: the items must be exactly what the captured feeds served (title + description,
HTML removed), every split must follow one fixed rule, and anyone must be able to re-derive the
committed ``<lang>_dev.jsonl`` / ``<lang>_blind.jsonl`` from ``eval/captures/`` plus the
hand-written labels, so ``--check`` can prove nothing was edited by hand afterwards.

Inputs (all committed):

* ``eval/captures/SOURCES.md`` -- the table of captures (file, outlet, language, repository, path,
  commit, capture date, items); every row is extracted, nothing else is;
* ``eval/tagging/real/labels/<lang>.tsv`` -- one line per extracted item, written by a person who
  read it: ``id<TAB>is_conflict(0/1)<TAB>countries(comma-separated)<TAB>lang<TAB>note``; ``lang``
  is the item's language as read (empty = the capture's language);
* ``eval/tagging/real/written/<lang>.jsonl`` -- items written from real reporting (``origin:
  written``, with ``based_on``) where a language has too few real items.

Rules fixed before labelling (see ``eval/tagging/real/README.md``):

* text = the item's description/summary (never ``content:encoded``), HTML removed, entities
  decoded, whitespace collapsed; items with neither title nor text are skipped;
* an item whose folded title and text repeat an earlier item of the same language is dropped
  (the same story captured twice by one outlet);
* split: ``blind`` when ``int(sha1(folded title)[:8], 16) % 100 < 45``, else ``dev``.

Usage::

    python eval/tagging/extract_items.py --list en        # print unlabelled items for reading
    python eval/tagging/extract_items.py                  # write the sets
    python eval/tagging/extract_items.py --check          # fail if the committed sets differ
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pycountry

# html_to_text is the pipeline's own HTML-to-text step; reusing it keeps one converter in the project.
from feedmon.clean import default_rules, match_key, normalize_text
from feedmon.clean.html import html_to_text
from feedmon.parse import decode_body

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CAPTURES = ROOT / "eval" / "captures"
SOURCES = CAPTURES / "SOURCES.md"
REAL = HERE / "real"
LABELS = REAL / "labels"
WRITTEN = REAL / "written"
TEN = ("en", "ru", "uk", "ar", "fr", "es", "de", "zh", "tr", "fa")
BLIND_PERCENT = 45
FIELD_ORDER = (
    "id",
    "lang",
    "split",
    "origin",
    "capture",
    "outlet",
    "based_on",
    "title",
    "text",
    "published",
    "is_conflict",
    "countries",
    "note",
)


@dataclass(frozen=True)
class Capture:
    """One row of SOURCES.md."""

    file: str
    outlet: str
    lang: str


def read_sources(path: Path = SOURCES) -> list[Capture]:
    """The captures listed in the SOURCES.md table, in table order."""
    rows: list[Capture] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 8 or not cells[0].startswith("`"):
            continue
        rows.append(Capture(file=cells[0].strip("`"), outlet=cells[1], lang=cells[2]))
    if not rows:
        raise SystemExit(f"{path}: no capture rows found")
    return rows


def plain(markup: str) -> str:
    """Markup or plain text to one line of text: tags removed, entities decoded, spaces collapsed."""
    if not markup:
        return ""
    text = html_to_text(markup, default_rules()) if "<" in markup else markup
    return " ".join(normalize_text(text).split())


def _published(entry: dict[str, Any]) -> str | None:
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if value:
            return datetime(*value[:6], tzinfo=UTC).isoformat().replace("+00:00", "Z")
    return None


def capture_items(capture: Capture) -> list[dict[str, Any]]:
    """The items of one capture, in feed order, with stable ids ``<lang>/<stem>#NNN``."""
    body = (CAPTURES / capture.file).read_bytes()
    text, _encoding, _notes = decode_body(body, None)
    # decode_body settled the charset; say so in a header so feedparser does not re-guess it
    parsed = feedparser.parse(
        io.BytesIO(text.encode("utf-8")),
        response_headers={"content-type": "application/xml; charset=utf-8"},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    stem = capture.file.removesuffix(".xml")
    items = []
    for n, entry in enumerate(parsed.entries, start=1):
        title = plain(str(entry.get("title") or ""))
        body_text = plain(str(entry.get("summary") or entry.get("description") or ""))
        if not title and not body_text:
            continue
        items.append(
            {
                "id": f"{stem}#{n:03d}",
                "lang": capture.lang,
                "origin": "real",
                "capture": f"eval/captures/{capture.file}",
                "outlet": capture.outlet,
                "title": title,
                "text": body_text,
                "published": _published(entry),
            }
        )
    return items


def split_of(title: str) -> str:
    """``blind`` or ``dev`` from the folded title alone, so a repeated story never straddles."""
    digest = hashlib.sha1(match_key(title).encode("utf-8")).hexdigest()
    return "blind" if int(digest[:8], 16) % 100 < BLIND_PERCENT else "dev"


def all_real_items() -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Real items per capture language after dropping repeats; also the repeat counts."""
    by_lang: dict[str, list[dict[str, Any]]] = {}
    dropped: dict[str, int] = {}
    seen: dict[str, set[str]] = {}
    for capture in read_sources():
        for item in capture_items(capture):
            key = match_key(item["title"]) + "\x00" + match_key(item["text"])
            keys = seen.setdefault(capture.lang, set())
            if key in keys:
                dropped[capture.lang] = dropped.get(capture.lang, 0) + 1
                continue
            keys.add(key)
            by_lang.setdefault(capture.lang, []).append(item)
    return by_lang, dropped


def read_labels(lang: str) -> dict[str, dict[str, Any]]:
    """The hand labels of one capture language, by item id."""
    path = LABELS / f"{lang}.tsv"
    labels: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return labels
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        cells += [""] * (5 - len(cells))
        item_id, conflict, countries, item_lang, note = (c.strip() for c in cells[:5])
        if conflict not in ("0", "1"):
            raise SystemExit(f"{path}:{lineno}: is_conflict must be 0 or 1, not {conflict!r}")
        if item_id in labels:
            raise SystemExit(f"{path}:{lineno}: {item_id} labelled twice")
        labels[item_id] = {
            "is_conflict": conflict == "1",
            "countries": [c.strip() for c in countries.split(",") if c.strip()],
            "lang": item_lang or None,
            "note": note or None,
        }
    return labels


def read_written(lang: str) -> list[dict[str, Any]]:
    """Items written from real reporting for one language (already labelled)."""
    path = WRITTEN / f"{lang}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ordered(item: dict[str, Any]) -> dict[str, Any]:
    """Fields in a fixed order; absent optional fields left out."""
    out = {k: item[k] for k in FIELD_ORDER if item.get(k) is not None}
    if "countries" not in out:
        out["countries"] = []
    return out


def build() -> dict[str, list[dict[str, Any]]]:
    """Every output file's rows, keyed by file name under ``eval/tagging/real/``."""
    by_lang, _dropped = all_real_items()
    files: dict[str, list[dict[str, Any]]] = {}
    # Languages whose labels are kept here as TSV; ar/fa/tr (BBC page data) are built by extract_items_promos.py.
    langs = sorted(set(by_lang) | {p.stem for p in WRITTEN.glob("*.jsonl") if (LABELS / f"{p.stem}.tsv").exists()})
    for capture_lang in langs:
        labels = read_labels(capture_lang)
        items = by_lang.get(capture_lang, [])
        unknown = set(labels) - {i["id"] for i in items}
        if unknown:
            raise SystemExit(f"labels/{capture_lang}.tsv: ids not in any capture: {sorted(unknown)[:5]}")
        for item in items:
            label = labels.get(item["id"])
            if label is None:
                raise SystemExit(f"labels/{capture_lang}.tsv: {item['id']} is not labelled")
            item = dict(item, is_conflict=label["is_conflict"], countries=label["countries"], note=label["note"])
            item["lang"] = label["lang"] or item["lang"]
            item["split"] = split_of(item["title"])
            _place(files, item)
        for item in read_written(capture_lang):
            item = dict(item, origin="written", split=split_of(item["title"]))
            _place(files, item)
    for rows in files.values():
        rows.sort(key=lambda r: (r["origin"] != "real", r["id"]))
    return files


def _place(files: dict[str, list[dict[str, Any]]], item: dict[str, Any]) -> None:
    validate(item)
    name = f"{item['lang']}_{item['split']}.jsonl" if item["lang"] in TEN else "other_lang.jsonl"
    files.setdefault(name, []).append(ordered(item))


def validate(item: dict[str, Any]) -> None:
    """Refuse an item that breaks the guideline's format (section 5)."""
    where = item.get("id", "?")
    for key in ("id", "lang", "split", "origin", "title", "is_conflict", "countries"):
        if key not in item:
            raise SystemExit(f"{where}: missing {key}")
    if pycountry.languages.get(alpha_2=item["lang"]) is None:
        raise SystemExit(f"{where}: {item['lang']!r} is not an ISO 639-1 code")
    for code in item["countries"]:
        if code != "XK" and pycountry.countries.get(alpha_2=code) is None:
            raise SystemExit(f"{where}: {code!r} is not an ISO 3166-1 alpha-2 code")
    if item["countries"] and not item["is_conflict"]:
        raise SystemExit(f"{where}: a non-conflict item has countries")
    if item["origin"] == "real" and not (item.get("capture") and item.get("outlet")):
        raise SystemExit(f"{where}: a real item needs capture and outlet")
    if item["origin"] == "written" and not item.get("based_on"):
        raise SystemExit(f"{where}: a written item needs based_on")
    if not (item["title"] or item.get("text")):
        raise SystemExit(f"{where}: neither title nor text")


def render(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def summary(files: dict[str, list[dict[str, Any]]]) -> str:
    """Per-file counts: items, real/written, conflict share."""
    lines = [f"{'file':24} {'items':>5} {'real':>5} {'written':>7} {'conflict':>8}"]
    for name in sorted(files):
        rows = files[name]
        real = sum(r["origin"] == "real" for r in rows)
        conflict = sum(r["is_conflict"] for r in rows)
        lines.append(f"{name:24} {len(rows):5d} {real:5d} {len(rows) - real:7d} {conflict / len(rows):8.0%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", metavar="LANG", help="print the extracted items of one capture language")
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed sets differ")
    args = ap.parse_args(argv)

    if args.list:
        by_lang, dropped = all_real_items()
        for item in by_lang.get(args.list, []):
            print(f"{item['id']}\t{item['title']}\t{item['text']}")
        count, repeats = len(by_lang.get(args.list, [])), dropped.get(args.list, 0)
        print(f"# {count} items, {repeats} repeats dropped", file=sys.stderr)
        return 0

    files = build()
    if args.check:
        stale = [n for n, rows in files.items() if not (REAL / n).exists() or _read(REAL / n) != render(rows)]
        if stale:
            print("out of date: " + ", ".join(sorted(stale)), file=sys.stderr)
            return 1
        print(summary(files))
        return 0
    for name, rows in files.items():
        (REAL / name).write_text(render(rows), encoding="utf-8")
    print(summary(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
