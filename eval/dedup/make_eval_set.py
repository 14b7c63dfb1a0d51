"""Build the near-duplicate evaluation set from the AG news corpus (deterministic: fixed seed).

Each *story* is one real AG item. It appears once as the agency original and, for most stories,
again as copies "republished" by other outlets with the edits outlets really make: datelines and
credits added, moved or stripped, junk footers, truncation, reworded headlines, typos, light
rewording, a repeated lede, and HTML. Stories are drawn topic by topic (items sharing a rare
proper noun: Najaf, Sadr, Darfur, a company, a player...), so most stories sit next to *hard
negatives*: different AG stories on the same topic and place. The label of a row is its story.

AG items that are themselves near-copies of another AG item (the corpus holds some: the same
Reuters story under two headlines, or one boilerplate blurb under many headlines) are left out,
because their true label is unknown; the count is printed.

Usage::

    python eval/dedup/make_eval_set.py [--corpus ../shared/corpus/agnews_test.csv] [--out eval/dedup/eval_set.jsonl]
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parents[2] / "shared" / "corpus" / "agnews_test.csv"
SEED = 20261128
N_STORIES = 1000
MAX_PER_TOPIC = 5
FORCED_TOPICS = ["Najaf", "Sadr", "Darfur", "Fallujah", "Arafat", "Chechnya", "Kerry", "Yukos", "Oracle"]

OUTLETS = [
    "kapitoshka.info",
    "Daily Caucasus",
    "The Herald Times",
    "World Wire Digest",
    "Metro Morning",
    "NewsNow24",
    "Global Post Review",
    "Capital Courier",
    "The Evening Ledger",
    "Asia Wire Today",
    "Continental Tribune",
    "Harbor City Gazette",
    "Sunrise Daily",
    "North Star News",
    "Valley Chronicle",
]
CITIES = [
    ("WASHINGTON", "WASHINGTON"),
    ("LONDON", "LONDON"),
    ("BAGHDAD", "BAGHDAD, Iraq"),
    ("NEW YORK", "NEW YORK"),
    ("MOSCOW", "MOSCOW"),
    ("PARIS", "PARIS"),
    ("TOKYO", "TOKYO"),
    ("BEIJING", "BEIJING"),
    ("JERUSALEM", "JERUSALEM"),
    ("KABUL", "KABUL, Afghanistan"),
]
AGENCIES = ["AP", "Reuters", "AFP"]
JUNK_LINES = [
    "Read all the Latest News, Breaking News and Coronavirus News here",
    "Disclaimer: This post has been auto-published from an agency feed without any modifications "
    "to the text and has not been reviewed by an editor",
    "What's your reaction?",
    "0 comment",
    "Write the first comment for this!",
    "Follow us on Telegram for the latest updates.",
    "Share this: Facebook Twitter WhatsApp Email",
    "Click here to subscribe to our daily newsletter.",
    "Copyright 2004 The Associated Press. All rights reserved.",
    "Related: More world news",
    "Advertisement",
]
TITLE_PREFIXES = ["UPDATE 1-", "UPDATE 2-", "WRAPUP 1-", "BREAKING: ", "WATCH: ", ""]
SYNONYMS = {
    "says": "said",
    "said": "says",
    "rises": "climbs",
    "rise": "climb",
    "falls": "drops",
    "fall": "drop",
    "wins": "takes",
    "win": "take",
    "kills": "leaves dead",
    "killed": "dead",
    "new": "fresh",
    "plan": "proposal",
    "talks": "negotiations",
    "chief": "head",
    "urges": "calls on",
    "shares": "stocks",
    "profit": "earnings",
    "soldiers": "troops",
    "troops": "forces",
    "big": "major",
    "announced": "unveiled",
    "reported": "said",
    "about": "around",
    "more than": "over",
    "Monday": "on Monday",
    "U.S.": "US",
    "percent": "per cent",
    "company": "firm",
}
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_CAP = re.compile(r"\b([A-Z][a-z]{3,})\b")
_LEAD_CREDIT = re.compile(r"^\s*(?:[A-Z][A-Za-z .,'-]{1,40}\s*)?(?:\((?:AP|Reuters|AFP)\)\s*)?[-:]{1,2}\s+")
_STOP_CAPS = {
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "This",
    "That",
    "With",
    "When",
    "After",
    "From",
    "They",
    "Their",
    "There",
    "What",
    "Reuters",
    "Update",
    "Company",
    "Inc",
    "Corp",
    "January",
    "February",
    "March",
    "April",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Will",
    "Have",
    "Says",
    "More",
    "Over",
    "Into",
    "About",
    "Just",
    "Than",
    "First",
    "News",
    "World",
    "Sports",
    "Business",
    "Technology",
    "Report",
    "Year",
    "Week",
}


def _norm_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", html.unescape(text.replace("#39;", "'")).lower())


def _shingles(text: str) -> set[tuple[str, ...]]:
    w = _norm_words(text)
    return {tuple(w[i : i + 3]) for i in range(max(len(w) - 2, 1))}


def near_copies_in_corpus(rows: list[dict[str, str]]) -> set[int]:
    """Indices of AG items sharing much of their text with another item (their label is unknown)."""
    sets = [_shingles(r["description"]) for r in rows]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for sh in s:
            index[sh].append(i)
    bad: set[int] = set()
    for i, s in enumerate(sets):
        counts: dict[int, int] = defaultdict(int)
        for sh in s:
            postings = index[sh]
            if len(postings) > 200:
                continue
            for j in postings:
                if j != i:
                    counts[j] += 1
        for j, c in counts.items():
            if c >= 4 and c / max(1, min(len(s), len(sets[j]))) >= 0.35:
                bad.update((i, j))
    return bad


def topics(rows: list[dict[str, str]], allowed: set[int]) -> dict[str, list[int]]:
    """Rare proper nouns (document frequency 2..60) mapped to the items naming them."""
    by_word: dict[str, list[int]] = defaultdict(list)
    for i in sorted(allowed):
        r = rows[i]
        for w in set(_CAP.findall(r["title"] + " " + r["description"])) - _STOP_CAPS:
            by_word[w].append(i)
    return {w: ids for w, ids in by_word.items() if 2 <= len(ids) <= 60}


def pick_stories(rows: list[dict[str, str]], rng: random.Random) -> list[tuple[int, str]]:
    """(row index, topic) for N_STORIES stories, grouped so same-topic stories appear together."""
    bad = near_copies_in_corpus(rows)
    allowed = {i for i, r in enumerate(rows) if i not in bad and len(_norm_words(r["description"])) >= 10}
    print(f"corpus rows {len(rows)}, excluded as near-copies of another row {len(bad)}")
    by_topic = topics(rows, allowed)
    order = [t for t in FORCED_TOPICS if t in by_topic]
    rest = sorted(set(by_topic) - set(order))
    rng.shuffle(rest)
    order += rest
    chosen: list[tuple[int, str]] = []
    used: set[int] = set()
    for topic in order:
        ids = [i for i in by_topic[topic] if i not in used]
        if len(ids) < 2:
            continue
        rng.shuffle(ids)
        for i in ids[:MAX_PER_TOPIC]:
            chosen.append((i, topic))
            used.add(i)
        if len(chosen) >= N_STORIES:
            break
    return chosen[:N_STORIES]


# ------------------------------------------------------------------------------------ edits
def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    k = rng.randrange(1, len(word) - 1)
    op = rng.choice(["swap", "drop", "double"])
    if op == "swap":
        return word[: k - 1] + word[k] + word[k - 1] + word[k + 1 :]
    if op == "drop":
        return word[:k] + word[k + 1 :]
    return word[:k] + word[k] + word[k:]


def add_typos(text: str, rng: random.Random, n: int) -> str:
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    for i in rng.sample(idx, min(n, len(idx))):
        words[i] = _typo(words[i], rng)
    return " ".join(words)


def reword(text: str, rng: random.Random, p: float) -> str:
    for a, b in SYNONYMS.items():
        if rng.random() < p:
            text = re.sub(rf"\b{re.escape(a)}\b", b, text, count=1)
    return text


def rewrite_title(title: str, rng: random.Random) -> str:
    title = re.sub(r"\s*\((?:AP|Reuters|AFP|[A-Za-z. ]+\.com|PC World|SPACE\.com)\)\s*$", "", title)
    title = reword(title, rng, 0.7)
    r = rng.random()
    if r < 0.25:
        title = title[:1] + title[1:].lower()  # sentence case
    elif r < 0.4:
        words = title.split()
        title = " ".join(words[: max(3, len(words) - rng.randint(1, 2))])
    elif r < 0.5:
        title = title + rng.choice([": report", " - officials", ", sources say"])
    return rng.choice(TITLE_PREFIXES) + title


def truncate(text: str, rng: random.Random) -> str:
    words = text.split()
    keep = max(8, int(len(words) * rng.uniform(0.5, 0.85)))
    if keep >= len(words):
        return text
    return " ".join(words[:keep]) + rng.choice(["...", " ...", " [...]", "\u2026 Read more"])


def to_html(paragraphs: list[str], rng: random.Random) -> str:
    out = []
    for p in paragraphs:
        p = html.escape(p, quote=False)
        if rng.random() < 0.3:
            words = p.split(" ")
            if len(words) > 6:
                k = rng.randrange(len(words) - 2)
                words[k] = f'<a href="https://example.com/tag/{k}">{words[k]}</a>'
                p = " ".join(words)
        if rng.random() < 0.2:
            p = p.replace("'", "&#39;")
        out.append(f"<p>{p}</p>")
    if rng.random() < 0.3:
        out.append('<div class="share"><a href="#">Share</a> <img src="https://px.example/t.gif"/></div>')
    return "\n".join(out)


def make_copy(title: str, desc: str, rng: random.Random) -> tuple[str, str, list[str]]:
    """One outlet's republication of an AG item: (title, html, edits applied)."""
    edits: list[str] = []
    body = desc.replace("\\", " ")
    if rng.random() < 0.5 and _LEAD_CREDIT.match(body):
        body = _LEAD_CREDIT.sub("", body, count=1)
        edits.append("strip_dateline")
    if rng.random() < 0.35:
        city = rng.choice(CITIES)[1]
        agency = rng.choice(AGENCIES)
        style = rng.choice([f"{city}: ", f"{city} ({agency}) - ", f"{city} -- ", f"{agency} - "])
        body = style + _LEAD_CREDIT.sub("", body, count=1)
        edits.append("dateline")
    if rng.random() < 0.25:
        body = body.rstrip() + rng.choice([" (AFP)", " (Reuters)", " -- AP"])
        edits.append("credit")
    if rng.random() < 0.3:
        body = reword(body, rng, 0.5)
        edits.append("reword")
    if rng.random() < 0.4:
        body = add_typos(body, rng, rng.randint(1, 3))
        edits.append("typos")
    if rng.random() < 0.3:
        body = truncate(body, rng)
        edits.append("truncate")
    new_title = title
    if rng.random() < 0.6:
        new_title = rewrite_title(title, rng)
        edits.append("headline")
    paragraphs = [body]
    if rng.random() < 0.1:
        paragraphs = [f"{new_title} {new_title} {body.split(' - ', 1)[-1]}", body]
        edits.append("repeated_lede")
    if rng.random() < 0.15:
        paragraphs.append(rng.choice(["Reporting by staff; editing by the desk.", "More to follow."]))
        edits.append("tail_line")
    if rng.random() < 0.45:
        paragraphs.extend(rng.sample(JUNK_LINES, rng.randint(1, 4)))
        edits.append("junk")
    if rng.random() < 0.7:
        return new_title, to_html(paragraphs, rng), [*edits, "html"]
    return new_title, "\n\n".join(paragraphs), edits


def n_copies(rng: random.Random) -> int:
    """Outlets carrying a story besides the original: most stories get a few, some many."""
    r = rng.random()
    if r < 0.25:
        return 0
    if r < 0.5:
        return 1
    if r < 0.7:
        return 2
    if r < 0.85:
        return 3
    return rng.randint(4, 8)


def background_copy(own: str, other: str, rng: random.Random) -> str:
    """Story ``own`` with a background clause lifted from another story on the same topic.

    Agencies reuse background paragraphs across the stories of a running event; the result is
    still ``own``'s story, and a hard negative for ``other`` (they share a phrase, not a story).
    """
    words = other.replace("\\", " ").split()
    n = max(6, int(len(words) * 0.4))
    k = rng.randrange(0, max(1, len(words) - n))
    clause = " ".join(words[k : k + n]).rstrip(".,;")
    return f"{own.rstrip()} Earlier, {clause}."


def generate(rows: list[dict[str, str]], seed: int = SEED) -> Iterator[dict[str, object]]:
    rng = random.Random(seed)
    stories = pick_stories(rows, rng)
    by_topic: dict[str, list[int]] = defaultdict(list)
    for story, (_, topic) in enumerate(stories):
        by_topic[topic].append(story)
    for story, (i, topic) in enumerate(stories):
        row = rows[i]
        outlets = rng.sample(OUTLETS, k=len(OUTLETS))
        base_minutes = rng.randint(0, 60 * 24 * 3)  # spread over three days
        yield {
            "id": f"s{story:04d}-0",
            "group": story,
            "topic": topic,
            "ag_row": i,
            "source": rng.choice(AGENCIES) + " wire",
            "title": row["title"],
            "html": row["description"],
            "minutes": base_minutes,
            "edits": ["original"],
        }
        for c in range(1, n_copies(rng) + 1):
            title, body, edits = make_copy(row["title"], row["description"], rng)
            yield {
                "id": f"s{story:04d}-{c}",
                "group": story,
                "topic": topic,
                "ag_row": i,
                "source": outlets[c % len(outlets)],
                "title": title,
                "html": body,
                "minutes": base_minutes + rng.randint(1, 600),
                "edits": edits,
            }
        others = [o for o in by_topic[topic] if o != story]
        if others and rng.random() < 0.4:
            other_row = rows[stories[rng.choice(others)][0]]
            yield {
                "id": f"s{story:04d}-b",
                "group": story,
                "topic": topic,
                "ag_row": i,
                "source": outlets[-1],
                "title": rewrite_title(row["title"], rng),
                "html": background_copy(row["description"], other_row["description"], rng),
                "minutes": base_minutes + rng.randint(1, 600),
                "edits": ["background_from_other"],
            }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=HERE / "eval_set.jsonl")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    with args.corpus.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    items = list(generate(rows, args.seed))
    tmp = args.out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
    tmp.replace(args.out)
    groups = len({it["group"] for it in items})
    print(f"wrote {len(items)} items in {groups} stories to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
