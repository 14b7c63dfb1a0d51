"""Line filters: junk lines from the rules (widgets, disclaimers, bare URLs, "Read more" tails),
and the title and lede that outlets print twice.
"""

from __future__ import annotations

import re
from typing import Any

from feedmon.clean.credits import Credits, strip_dateline
from feedmon.clean.fold import folded_lower
from feedmon.clean.rules import CleanRules, Junk
from feedmon.clean.text import match_key
from feedmon.vocab import AGENCY_FEED

__all__ = ["collapse", "remove_junk"]

_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_ONLY_URLS = re.compile(r"^(?:\s*(?:https?://|www\.)[^\s<>\"']+)+\s*$", re.IGNORECASE)


_MAX_LINE_RULE = 160  # line/stop patterns: widget texts are short, fullmatch on longer lines is waste
_MAX_JUNK = 300  # paragraph patterns and disclaimers: longer lines are article copy
_TAIL = 80  # trailing (inline) patterns look at the end of the line only


def _clean_line(line: str, low: str, rules: CleanRules) -> str | None:
    """The line with trailing and URL junk removed, or None when the whole line is junk.

    ``low`` is the folded, lower-cased line (same length as ``line``) that rules match against.
    """
    if "http" in low or "www." in low:
        if _ONLY_URLS.match(line):
            if rules.drop_bare_urls:
                return None
            if rules.url_re is not None and all(rules.url_re.search(u) for u in _URL_RE.findall(low)):
                return None
        if rules.url_re is not None:
            url_re = rules.url_re
            line = _URL_RE.sub(lambda m: "" if url_re.search(m.group(0).lower()) else m.group(0), line)
            line = " ".join(line.split())
            low = folded_lower(line)
    if rules.inline:
        cut = len(low) - _TAIL if len(low) > _TAIL else 0
        m = _first_inline(low, cut, rules)
        if m and m.start() and low[m.start() - 1].isalnum() and low[m.start()].isalnum():
            m = None  # "spread more" is not "read more": trailing junk starts at a word boundary
        if m:
            line = line[: m.start()].rstrip(" ([")
            low = low[: m.start()].rstrip(" ([")
    if not line:
        return None
    if len(low) <= _MAX_LINE_RULE and rules.line_re is not None and rules.line_re.fullmatch(low):
        return None
    return line


def _first_inline(low: str, cut: int, rules: CleanRules) -> re.Match[str] | None:
    """The earliest trailing-junk match in ``low[cut:]`` (patterns searched one by one: fast)."""
    best = None
    for rx in rules.inline:
        m = rx.search(low, cut)
        if m is not None and (best is None or m.start() < best.start()):
            best = m
    return best


def _junk_match(low: str, rules: CleanRules) -> tuple[Junk, re.Match[str]] | None:
    """The first paragraph pattern or agency disclaimer found in ``low`` (disclaimers first)."""
    for j in rules.junk:
        m = j.regex.match(low) if j.anchored else j.regex.search(low)
        if m is not None:
            return j, m
    return None


def remove_junk(paras: list[list[str]], rules: CleanRules, credits: Credits) -> list[list[str]]:
    out: list[list[str]] = []
    kept_any = False
    for para in paras:
        lines: list[str] = []
        for raw in para:
            low = folded_lower(raw)
            n = len(low)
            if n <= _MAX_LINE_RULE and kept_any and rules.stop_re is not None and rules.stop_re.fullmatch(low):
                if lines:
                    out.append(lines)
                return out
            if n <= _MAX_JUNK:
                hit = _junk_match(low, rules)
                if hit:
                    _record_disclaimer(*hit, raw, rules, credits)
                    continue
            line = _clean_line(raw, low, rules)
            if line is not None:
                lines.append(line)
                kept_any = True
        if len(lines) > 1:
            joined = " ".join(lines)
            if len(joined) <= _MAX_JUNK:
                hit = _junk_match(folded_lower(joined), rules)
                if hit:
                    _record_disclaimer(*hit, joined, rules, credits)
                    continue
        if lines:
            out.append(lines)
    return out


def _record_disclaimer(j: Junk, m: re.Match[str], raw: str, rules: CleanRules, credits: Credits) -> None:
    """An agency disclaimer marks agency copy: record the agency it names, else "agency"."""
    if not j.disclaimer:
        return
    named = None
    if "agency" in j.regex.groupindex and m.group("agency"):
        named = raw[m.start("agency") : m.end("agency")].strip()
    credits.add_agency((named and rules.agency_name(named)) or named or AGENCY_FEED)


_BYLINE = re.compile(r"(?:by|BY|By)\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3}(?:\s*(?:,|and|&)\s+[\w.'’ -]{2,40})?$")
_LEDE_WINDOW = 6  # lines at the top where repeated/truncated ledes and datelines are looked for
_TRUNCATED = re.compile(r"(?:\.\.\.|…|\[…\]|\[\.\.\.\])\s*$")


def _strip_title(line: str, titles: tuple[str, ...], keys: tuple[str, ...]) -> str | None:
    """The line without a leading copy of the title; None when it *is* the title.

    ``titles`` are the clean title and the title as printed ("UPDATE 3-...", "... (Reuters)"):
    outlets repeat either.
    """
    key = match_key(line)
    if not key or key in keys:
        return None
    for title, title_key in zip(titles, keys, strict=True):
        glued = title_key and len(title_key) >= 12 and key.startswith(title_key)
        if glued and line.casefold().startswith(title.casefold()):
            rest = line[len(title) :].lstrip(" -–—:|.")
            if rest and not (rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"“‘'("):
                continue  # "Putin meets Erdogan in Sochi...": the lede merely starts like the title
            return rest or None
    return line


def collapse(paras: list[list[str]], titles: tuple[str, ...], rules: CleanRules, credits: Credits) -> list[list[str]]:
    """Drop repeated titles and ledes, extract the dateline, keep one copy of each line."""
    titles = tuple(sorted(dict.fromkeys(t for t in titles if t), key=len, reverse=True))  # "T (Reuters)" first
    title_keys = tuple(match_key(t) for t in titles)
    # flat view of (paragraph, line) for the window logic
    flat: list[list[Any]] = [[pi, text] for pi, para in enumerate(paras) for text in para]
    # 1. leading title copies (also "Title Title Lede..." glued in one line)
    while flat:
        rest = _strip_title(flat[0][1], titles, title_keys)
        if rest is None:
            flat.pop(0)
            continue
        if rest is flat[0][1]:
            break
        flat[0][1] = rest
    # 2. a byline over the lede ("By Deborah Cohen") is not text
    while flat and len(flat[0][1]) < 80 and _BYLINE.match(flat[0][1]):
        flat.pop(0)
    # 3. datelines/credits on the lede, and on later lines that repeat the lede
    keys: list[str] = []
    for i, item in enumerate(flat):
        text = item[1]
        known: str | None = None  # the key of item[1], when computed already
        if i < _LEDE_WINDOW:
            rest, dateline, agency = strip_dateline(text, rules, credits.title_credit)
            if rest is not text:
                rest = _strip_title(rest, titles, title_keys) or ""  # "BAGHDAD - <title> <lede>"
                rest_key = match_key(rest)
                if i == 0 or (rest_key and rest_key in keys) or _near_copy(rest_key, keys):
                    item[1], known = rest, rest_key
                    if dateline and not credits.dateline:
                        credits.dateline = dateline
                    credits.add_agency(agency)
                    if credits.title_credit and agency and agency.lower() == credits.title_credit.lower():
                        credits.title_credit_confirmed = True
        keys.append(match_key(item[1]) if known is None else known)
    # 4. one copy of each line: exact key anywhere; near copies (truncated) in the lede window
    best: dict[str, int] = {}
    drop: set[int] = set()
    for i, item in enumerate(flat):
        key = keys[i]
        if not key or key in title_keys:
            drop.add(i)
            continue
        j = best.get(key)
        if j is None and i < _LEDE_WINDOW:
            j = _near_index(key, item[1], flat, keys, best)
        if j is None:
            best[key] = i
            continue
        if len(item[1]) > len(flat[j][1]) and not _TRUNCATED.search(item[1]):
            flat[j][1] = item[1]  # the better copy (hyphens and punctuation kept) at the first place
        drop.add(i)
    out: list[list[str]] = [[] for _ in paras]
    for i, (pi, text) in enumerate(flat):
        if i not in drop:
            out[pi].append(text)
    return [p for p in out if p]


def _near_copy(key: str, keys: list[str]) -> bool:
    return len(key) >= 40 and any(len(k) >= 40 and (k.startswith(key) or key.startswith(k)) for k in keys)


def _near_index(key: str, text: str, flat: list[list[Any]], keys: list[str], best: dict[str, int]) -> int | None:
    """Index of an earlier lede line this one truncates or is truncated by (``...`` teasers)."""
    if len(key) < 40:
        return None
    for j in best.values():
        if j >= _LEDE_WINDOW:
            continue
        other = keys[j]
        if len(other) < 40:
            continue
        if other.startswith(key) or key.startswith(other):
            if key.startswith(other) and len(key) > len(other):
                # the later line is the full one: keep it in the first place
                flat[j][1] = text
                keys[j] = key
                best[key] = j
            return j
    return None
