"""Regenerate the bundled sample feeds in include/sample_feeds/ (committed; run by hand, not by tests).

They mix real 2004 agency copy from the AG News corpus (../shared/corpus/agnews_test.csv) with the seed
story of a 2021 Putin/Aliyev/Pashinyan meeting as an aggregator scraped it (junk included) and as a
second outlet carried it (clean), so `make demo` and the end-to-end tests show every pipeline stage.
"""

from __future__ import annotations

import csv
import html
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "include" / "sample_feeds"
CORPUS = ROOT.parent / "shared" / "corpus" / "agnews_test.csv"
SEED = ROOT.parent / "shared" / "seed" / "agency_article_example.txt"
BASE = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def ag_rows() -> list[tuple[int, str, str]]:
    with CORPUS.open(encoding="utf-8") as fh:
        return [(int(r[0]), r[1], r[2]) for r in csv.reader(fh) if r[0] != "label"]


def rss(title: str, link: str, items: list[dict]) -> str:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{html.escape(title)}</title><link>{link}</link><description>{html.escape(title)}</description>",
        "<language>en</language>",
    ]
    for it in items:
        parts.append(
            "<item>"
            f"<title>{html.escape(it['title'])}</title>"
            f"<link>{html.escape(it['link'])}</link>"
            f'<guid isPermaLink="false">{html.escape(it["guid"])}</guid>'
            f"<pubDate>{format_datetime(it['date'])}</pubDate>"
            f"<description>{html.escape(it['html'])}</description>"
            "</item>"
        )
    parts.append("</channel></rss>\n")
    return "\n".join(parts)


def atom(title: str, link: str, items: list[dict]) -> str:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">',
        f'<title>{html.escape(title)}</title><id>{link}</id><link href="{link}"/>',
        f"<updated>{BASE.isoformat()}</updated>",
    ]
    for it in items:
        parts.append(
            "<entry>"
            f"<title>{html.escape(it['title'])}</title>"
            f'<link href="{html.escape(it["link"])}"/>'
            f"<id>{html.escape(it['guid'])}</id>"
            f"<updated>{it['date'].isoformat()}</updated>"
            f'<content type="html">{html.escape(it["html"])}</content>'
            "</entry>"
        )
    parts.append("</feed>\n")
    return "\n".join(parts)


def seed_items() -> tuple[dict, dict]:
    lines = SEED.read_text(encoding="utf-8").split("\n")
    title = lines[0]
    paras = [p.strip() for p in "\n".join(lines).split("\n") if p.strip()]
    scraped = "".join(f"<p>{html.escape(p)}</p>" for p in paras)
    body = paras[3 : paras.index(next(p for p in paras if p.startswith("Disclaimer")))]
    clean_html = "".join(f"<p>{html.escape(p)}</p>" for p in [paras[3].removeprefix("MOSCOW: "), *body[1:]])
    when = BASE + timedelta(hours=1)
    aggregator = {
        "title": title,
        "link": "https://www.kapitoshka.info/world/putin-hosts-talks-azerbaijan-armenia.html?utm_source=rss&utm_medium=feed",
        "guid": "kapitoshka-882211",
        "date": when + timedelta(minutes=40),
        "html": scraped,
    }
    outlet = {
        "title": "Putin hosts first post-war talks between Azerbaijan and Armenia leaders",
        "link": "https://worlddesk.example.org/news/2021/01/11/putin-azerbaijan-armenia-talks#comments",
        "guid": "tag:worlddesk.example.org,2021:putin-azerbaijan-armenia",
        "date": when,
        "html": "<p><strong>MOSCOW (Reuters) -</strong> " + clean_html.removeprefix("<p>"),
    }
    return aggregator, outlet


def main() -> int:
    if not CORPUS.exists():
        print(f"needs {CORPUS}", file=sys.stderr)
        return 1
    rows = ag_rows()
    world = [r for r in rows if r[0] == 1]
    other = [r for r in rows if r[0] != 1]
    wire_rows = world[:18] + other[:4]
    wire = []
    for i, (_, title, desc) in enumerate(wire_rows):
        wire.append(
            {
                "title": title,
                "link": f"https://wire.example.com/article/{1000 + i}?utm_source=rss",
                "guid": f"wire-{1000 + i}",
                "date": BASE + timedelta(minutes=7 * i),
                "html": f"<p>{desc}</p>",
            }
        )
    aggregator, outlet = seed_items()
    junk = (
        "<p>Disclaimer: This post has been auto-published from an agency feed without any modifications"
        " to the text and has not been reviewed by an editor</p>"
        "<p>Read all the Latest News, Breaking News and Coronavirus News here</p>"
    )
    agg_items = [aggregator]
    for i, (_, title, desc) in enumerate(world[:8]):
        agg_items.append(
            {
                "title": title,
                "link": f"https://www.kapitoshka.info/world/{2000 + i}.html?utm_medium=feed&traffic_source=rss",
                "guid": f"kapitoshka-{2000 + i}",
                "date": BASE + timedelta(minutes=7 * i + 30),
                "html": f"<p>{desc}</p>{junk}",
            }
        )
    desk_items = [outlet]
    for i, (_, title, desc) in enumerate(world[18:30]):
        desk_items.append(
            {
                "title": title,
                "link": f"https://worlddesk.example.org/news/{3000 + i}",
                "guid": f"tag:worlddesk.example.org,2004:{3000 + i}",
                "date": BASE + timedelta(minutes=9 * i),
                "html": f"<p>{desc}</p>",
            }
        )
    for i, (_, title, desc) in enumerate(world[2:5]):  # the desk also runs three wire stories
        desk_items.append(
            {
                "title": title.replace(" (Reuters)", "").replace(" (AP)", "").replace(" (AFP)", ""),
                "link": f"https://worlddesk.example.org/news/wire-{i}",
                "guid": f"tag:worlddesk.example.org,2004:wire-{i}",
                "date": BASE + timedelta(minutes=9 * i + 50),
                "html": f"<p>{desc}</p><p>Copyright 2004 the news agency. All rights reserved.</p>",
            }
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "wire_world.xml").write_text(rss("Demo Wire: World", "https://wire.example.com/", wire), encoding="utf-8")
    (OUT / "kapitoshka_world.xml").write_text(
        rss("Kapitoshka World", "https://www.kapitoshka.info/", agg_items), encoding="utf-8"
    )
    (OUT / "worlddesk.atom").write_text(
        atom("World Desk", "https://worlddesk.example.org/", desk_items), encoding="utf-8"
    )
    print(f"wrote {len(wire)} + {len(agg_items)} + {len(desk_items)} items to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
