"""Credits and datelines: ``MOSCOW (Reuters) -``, ``AP -``, ``(AFP)``, ``-- AP`` and their look-alikes.

What is found is recorded (the story's dateline and agency) and removed from the text, so every
outlet's copy of one agency story reads the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feedmon.clean.rules import CleanRules
from feedmon.vocab import AGENCY_FEED

__all__ = ["TITLE_DASH_CREDIT", "TITLE_PAREN_CREDIT", "Credits", "strip_dateline", "trailing_credit"]

_DASH = r"(?:-{1,3}|–|—)"
_CAPS_WORD = r"[A-Z][A-Z.'’&/-]*[A-Z.]"  # "ST. LOUIS", "SEATTLE/NEW YORK"
_TITLE_WORD = r"[A-Z][\w.'’&-]*"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATELINE_RE = re.compile(
    rf"""^(?P<place>{_CAPS_WORD}(?:\s{_CAPS_WORD}){{0,3}}|{_TITLE_WORD}(?:\s{_TITLE_WORD}){{0,2}})
        (?:,\s*(?P<region>{_TITLE_WORD}(?:\s{_TITLE_WORD}){{0,2}}))?
        (?:,?\s+(?P<date>{_MONTH}\s+\d{{1,2}}(?:,\s*\d{{4}})?))?
        \s*(?:\((?P<credit>[^()]{{1,40}})\))?
        \s*(?P<sep>{_DASH}|:)(?P<gap>\s*)""",
    re.VERBOSE,
)
# "Montana jury orders... to appeal. NEW YORK (Reuters) - A Montana jury...": teaser, then the
# agency lede with its dateline. Only with a credit in brackets, which a sentence never has.
_CREDIT_DASH_RE = re.compile(rf"\((?P<credit>[^()]{{1,40}})\)\s*{_DASH}\s*")
_PLACE_BEFORE_RE = re.compile(
    rf"""(?<=[.!?"”]\s)(?P<place>{_CAPS_WORD}(?:\s{_CAPS_WORD}){{0,3}})
        (?:,\s*(?P<region>{_TITLE_WORD}(?:\s{_TITLE_WORD}){{0,2}}))?\s*$""",
    re.VERBOSE,
)
# AP copy with the byline glued on: "By LAURAN NEERGAARD WASHINGTON (AP) -- ". Name = the first two
# capitalised words (three with a middle initial), place = the rest; only before a known agency.
_AP_BYLINE_RE = re.compile(
    rf"""^By\s+(?P<words>{_CAPS_WORD}(?:\s{_CAPS_WORD}){{2,6}})
        (?:,\s*(?P<region>{_TITLE_WORD}(?:\s{_TITLE_WORD}){{0,2}}))?
        \s*\((?P<credit>[^()]{{1,40}})\)\s*{_DASH}\s*""",
    re.VERBOSE,
)
_PAREN_CREDIT_RE = re.compile(rf"^\((?P<credit>[^()]{{1,40}})\)\s*(?P<sep>{_DASH}|:)?\s*")
_LEAD_CREDIT_RE = re.compile(rf"^(?P<credit>[^\s()\-–—:][^()\n]{{0,38}}?)\s+{_DASH}\s+")
_DOMAIN_CREDIT = re.compile(r"^[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|co\.uk|info|tv)$", re.IGNORECASE)
TITLE_PAREN_CREDIT = re.compile(r"\s*[(\[](?P<credit>[^()\[\]]{1,40})[)\]]\s*$")
TITLE_DASH_CREDIT = re.compile(rf"\s+(?:{_DASH}|\|)\s+(?P<credit>[^-–—|]{{1,40}})$")
_CLOSING_CREDIT = re.compile(
    r"\s(?:[(\[](?P<credit>[^()\[\]]{1,40})[)\]]|(?:-{1,2}|–|—)\s*(?P<dashed>[\w .'-]{2,40}?))\.?$"
)
_TRAILING_CREDIT = re.compile(rf"^(?:{_DASH}\s*|\(\s*)?(?:by\s+)?(?P<credit>[^()]{{1,40}}?)\s*\)?\.?$", re.I)


@dataclass
class Credits:
    dateline: str | None = None
    agency: str | None = None
    title_credit: str | None = None  # unknown credit seen in the title, e.g. "SPACE.com"
    title_credit_confirmed: bool = False  # the body opened with it too, so it is a credit

    def add_agency(self, name: str | None) -> None:
        if name and (self.agency is None or self.agency == AGENCY_FEED):
            self.agency = name


def _credit_name(credit: str, rules: CleanRules, title_credit: str | None) -> str | None:
    """Normalised agency name for a credit, or None if the text does not look like a credit."""
    credit = credit.strip()
    known = rules.agency_name(credit)
    if known:
        return known
    if title_credit and credit.lower() == title_credit.lower():
        return credit
    if _DOMAIN_CREDIT.match(credit):
        return credit
    return None


def _dateline_ok(m: re.Match[str], rules: CleanRules) -> bool:
    """Reject look-alikes: "BREAKING:", "COVID-19 cases", "US: ...", "Summary - ", "Jet Propulsion Lab --"."""
    place, credit = m.group("place"), m.group("credit")
    if not m.group("gap") and credit is None:
        return False
    words = place.replace(",", " ").split()
    if words[0].rstrip(".").upper() in rules.dateline_stopwords:
        return False
    if place.upper() == place:  # "MOSCOW:", "KABUL, Afghanistan -"
        return credit is not None or sum(c.isalpha() for c in place) >= 3
    if credit is not None:  # "London (Reuters) -"
        return True
    # "London - ", "Caracas, Venezuela - ": title case only before a spaced dash, not an organisation,
    # and followed by a sentence ("Reuters - Hopes -- and worries" is not a dateline)
    line = m.string
    if m.group("sep") == ":" or not line[m.start("sep") - 1].isspace():
        return False
    nxt = line[m.end() : m.end() + 1]
    if not nxt or not (nxt.isupper() or nxt.isdigit() or nxt in "\"“‘'"):
        return False
    return not any(w.rstrip(".").lower() in rules.not_places for w in words)


def strip_dateline(line: str, rules: CleanRules, title_credit: str | None) -> tuple[str, str | None, str | None]:
    """``(rest, dateline, agency)``: a lede's leading credits and datelines removed.

    Up to three times, because outlets put their own dateline in front of the agency's
    ("MOSCOW: MOSCOW (Reuters) - ...", "FORT LAUDERDALE, Fla. - (KRT) - "); the first one found
    is recorded.
    """
    rest, dateline, agency = _strip_dateline_once(line, rules, title_credit)
    for _ in range(2):
        if rest is line:
            break
        line = rest
        rest, dateline2, agency2 = _strip_dateline_once(line, rules, title_credit)
        dateline, agency = dateline or dateline2, agency or agency2
    return rest, dateline, agency


def _strip_dateline_once(line: str, rules: CleanRules, title_credit: str | None) -> tuple[str, str | None, str | None]:
    agency = None
    dateline = None
    m = _LEAD_CREDIT_RE.match(line)
    if m:
        name = _credit_name(m.group("credit"), rules, title_credit)
        if name:
            agency, line = name, line[m.end() :]
    m = _PAREN_CREDIT_RE.match(line)
    if m and (m.group("sep") or rules.agency_name(m.group("credit"))):  # not "(The) peacekeeping..."
        agency = agency or rules.agency_name(m.group("credit")) or m.group("credit").strip()
        return line[m.end() :], dateline, agency
    m = _AP_BYLINE_RE.match(line) if line.startswith("By") else None
    if m and rules.agency_name(m.group("credit")):
        words = m.group("words").split()
        name_len = 3 if len(words) > 3 and len(words[1].rstrip(".")) == 1 else 2
        dateline = " ".join(words[name_len:]) + (f", {m.group('region')}" if m.group("region") else "")
        return line[m.end() :], dateline, agency or rules.agency_name(m.group("credit"))
    m = _DATELINE_RE.match(line)
    if m and _dateline_ok(m, rules):
        credit = m.group("credit")
        dateline = m.group("place") + (f", {m.group('region')}" if m.group("region") else "")
        if credit:
            agency = agency or rules.agency_name(credit) or credit.strip()
        return line[m.end() :], dateline, agency
    if agency is None and "(" in line:
        c = _CREDIT_DASH_RE.search(line, 0, 400)
        name = c and rules.agency_name(c.group("credit"))
        if c and name:
            before = line[: c.start()]
            p = _PLACE_BEFORE_RE.search(before, max(0, len(before) - 80))
            if p:
                agency = name
                dateline = p.group("place") + (f", {p.group('region')}" if p.group("region") else "")
                line = line[: p.start()] + line[c.end() :]
    return line, dateline, agency


def trailing_credit(paras: list[list[str]], rules: CleanRules, credits: Credits) -> list[list[str]]:
    """A last line that is only an agency credit ("-- AFP", "(Reuters)") is dropped and recorded."""
    if not paras:
        return paras
    last = paras[-1][-1]
    if len(last) > 50:
        # "... the ministry said. (AFP)", "... said Sunday. -- AP": a known agency closing the text
        m = _CLOSING_CREDIT.search(last, len(last) - 50)
        name = m and rules.agency_name(m.group("credit") or m.group("dashed"))
        if m and name:
            credits.add_agency(name)
            paras[-1][-1] = last[: m.start()].rstrip()
        return paras
    m = _TRAILING_CREDIT.match(last)
    name = m and rules.agency_name(m.group("credit"))
    if m and name:
        credits.add_agency(name)
        paras[-1].pop()
        if not paras[-1]:
            paras.pop()
        return paras
    m = _CLOSING_CREDIT.search(last)  # a short last line ending with a credit
    name = m and rules.agency_name(m.group("credit") or m.group("dashed"))
    if m and name:
        credits.add_agency(name)
        paras[-1][-1] = last[: m.start()].rstrip()
    return paras
