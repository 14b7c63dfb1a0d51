"""Tag conflict-region stories: WHERE (a conflict place or party) combined with WHAT (fighting).

One Aho-Corasick pass over the folded title, dateline and text finds every gazetteer key at word
boundaries, in every language the gazetteer carries (see :mod:`feedmon.gazetteer`). Vocabulary of
one language counts only in articles of that language ("war" is a German verb form); names count
everywhere, except where a language's ``stop`` list says the word is a common one there ("того" is
not Togo in Russian). Matches nested inside a longer match are dropped, so "trade war" swallows
"war" and "Gaza Strip" wins over "Gaza". The decision is a small, explainable score (docs/tagging.md
has the full rule and the figures):

* ``where`` is the strongest place evidence: a conflict region, a place inside one, a country-wide
  theatre or its people (1.0); an armed party (its weight, 0.8 by default); any other country (0.6);
  a place named only in the dateline (0.55, weak: "MOSCOW:" or "BAGHDAD (Reuters) -" alone proves
  little).
* ``what`` is a noisy-or over the distinct conflict words (title words count 1.5x; parties add some),
  minus the words a trap in the article explains, then damped by sport, market and disaster words,
  by a title silent on conflict, and capped when only a country with no strong word is in play.
* ``conflict_score = where * what``; ``is_conflict`` when it reaches :data:`THRESHOLD`.

``countries`` are the territory of the conflict, from the best evidence tier present: named regions
and places; regions named through their people; wide regions; parties; the dateline; only as a last
resort the countries mentioned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feedmon.gazetteer import Entry, Gazetteer, load_gazetteer
from feedmon.keyforms import MODE_EXACT, MODE_INFIX, fold_for_matching, unspaced_script, word_at
from feedmon.models import TagResult

__all__ = ["THRESHOLD", "ConflictTagger", "split_dateline"]

THRESHOLD = 0.5
TITLE_BOOST = 1.5  # a word in the title speaks for the whole story
TITLE_CAP = 0.9
COUNTRY_WHERE = 0.6  # any country: a conflict there needs strong or several conflict words
DATELINE_WHERE = 0.55  # weak: the place only in the dateline
TITLE_SILENT = 0.7  # the title names neither a conflict place, a party nor a conflict word
TITLE_SILENT_GENERIC = 0.5  # ... and the body's only strong words name the war ("war", "invasion")
STRONG_WEIGHT = 0.6  # a term at least this heavy is "strong" (war, airstrike, insurgents, ...)
WEAK_PLACE_CAP = 0.8  # with only a country or dateline as place, mild words cap WHAT here

_WHERE_KINDS = frozenset({"region", "place", "demonym", "umbrella", "party", "country"})
_TIER_DATELINE, _TIER_COUNTRY, _TIER_PARTY = 4, 5, 3
_TIERS = {"region": 0, "place": 0, "demonym": 1, "umbrella": 2, "party": _TIER_PARTY, "country": _TIER_COUNTRY}

# "BAGHDAD (Reuters) - ", "GAZA CITY, Gaza Strip - ", "MOSCOW: ", "KABUL, Afghanistan -- ".
_DATELINE_RE = re.compile(
    r"^\s*([A-Z][A-Z.'\- ]{2,40}?)(,\s*[A-Z][\w.' ]{1,30}?)?\s*(\([^)]{1,40}\))?\s*(?:--|-|—|–|:)\s"
)
_AGENCIES = frozenset({"AP", "AFP", "REUTERS", "UPI", "DPA", "XINHUA", "ANSA", "EFE", "TASS", "IANS", "PTI"})

_SEG_TITLE, _SEG_DATELINE, _SEG_BODY = 0, 1, 2
_SEGMENT = "qq0segment0qq"  # between title, dateline and text in the folded text: never in a key


def split_dateline(text: str) -> tuple[str | None, str]:
    """Split a leading agency dateline ("BAGHDAD (Reuters) - ") from the text, if there is one."""
    m = _DATELINE_RE.match(text)
    if not m:
        return None, text
    place = m.group(1).strip()
    if place.upper() in _AGENCIES or not place.replace(" ", "").replace(".", "").isupper():
        return None, text
    return (place + (m.group(2) or "")).strip(), text[m.end() :]


def _shown(entry: Entry, surface: str) -> str:
    """Evidence label: vocabulary as written ("trap:торговой войны"); a name by its canonical label,
    with the words as written when they differ from it ("place:Bakhmut (бахмуте)")."""
    shown = _SHOWN.get((entry.label, surface))
    if shown is None:
        shown = _shown_label(entry.label, surface)
        if len(_SHOWN) < 65536:
            _SHOWN[(entry.label, surface)] = shown
    return shown


def _shown_label(label: str, surface: str) -> str:
    kind, _, name = label.partition(":")
    if kind in _NAME_LABELS:
        canon = _CANON.get(name)
        if canon is None:
            canon = _CANON[name] = fold_for_matching(name)
        return label if surface == canon else f"{label} ({surface})"
    return f"{kind}:{surface}"


_NAME_LABELS = frozenset({"region", "place", "party", "country"})
_CANON: dict[str, str] = {}
_SHOWN: dict[tuple[str, str], str] = {}


@dataclass(slots=True)
class ConflictTagger:
    """Decides whether an article is a conflict story, where, and why. Cheap to build (cached)."""

    gazetteer: Gazetteer
    threshold: float = THRESHOLD

    @classmethod
    def load(cls, user_file: str | None = None) -> ConflictTagger:
        """Shipped gazetteer with ``user_file`` (or ``$FEEDMON_GAZETTEER``) merged over it."""
        return cls(load_gazetteer(user_file))

    @property
    def version(self) -> str:
        """The gazetteer version, for the snapshot metadata."""
        return self.gazetteer.version

    def tag(self, title: str, text: str, dateline: str | None = None, language: str | None = None) -> TagResult:
        """Tag one article. ``dateline`` is the place the cleaner split off; if it is None, a
        leading dateline in ``text`` is detected and treated as weak evidence too. ``language``
        (ISO 639-1, see :mod:`feedmon.language`) selects the vocabulary; unknown: every language's."""
        title = title or ""
        text = text or ""
        if dateline is None:
            dateline, text = split_dateline(text)
        # one fold for the three parts (a fold's fixed cost is most of a title's), joined by a word
        # no key contains, so no match crosses from one part to the next
        folded = fold_for_matching(f"{title} {_SEGMENT} {dateline or ''} {_SEGMENT} {text}")
        hay = f" {folded} "
        t_end = hay.find(_SEGMENT)
        d_end = hay.find(_SEGMENT, t_end + 1)
        lang = language if language in self.gazetteer.languages else None

        # All whole-word matches as (start, -end, mode, key, entry) with the automaton of the
        # article's language (the meaning that counts in it); sorted, a match inside a longer one is
        # dropped (keys share their boundary spaces, so neighbours never count as nested).
        automaton = self.gazetteer.automaton_for(lang, lang is None and unspaced_script(hay))
        raw = [(end - length + 1, -end, mode, key, entry) for end, (length, mode, key, entry) in automaton.iter(hay)]
        if not raw:
            return TagResult()
        raw.sort()
        kept: list[tuple[int, Entry, str]] = []
        max_end = -1
        for start, neg_end, mode, key, entry in raw:
            if -neg_end <= max_end:
                continue
            max_end = -neg_end
            seg = _SEG_TITLE if start < t_end else (_SEG_DATELINE if start < d_end else _SEG_BODY)
            surface = key if mode in (MODE_EXACT, MODE_INFIX) else word_at(hay, start, -neg_end + 1, mode)
            kept.append((seg, entry, surface))
        return self._decide(kept, t_end > 1)

    def _decide(self, kept: list[tuple[int, Entry, str]], has_title: bool) -> TagResult:
        where = 0.0
        terms: dict[str, float] = {}  # term label -> strongest weight seen (title-boosted)
        written: dict[str, list[str]] = {}  # term label -> the words as the article has them
        places: list[tuple[int, Entry]] = []  # (tier, entry): which evidence names the territory
        labels: list[str] = []
        trap_heads: tuple[str, ...] = ()
        sport = market = disaster = protest = aid = migration = health = 0
        party_miss = 1.0  # naming armed groups is some evidence of fighting (each party its own weight)
        parties = 0
        market_title = False
        title_countries: tuple[str, ...] = ()
        title_terms: set[str] = set()
        strong_labels: set[str] = set()
        title_where = False
        for seg, e, surface in kept:
            kind = e.kind
            if kind == "term":
                forms = written.setdefault(e.label, [])
                if surface not in forms:
                    forms.append(surface)
                w = e.weight * TITLE_BOOST if seg == _SEG_TITLE else e.weight
                if w > TITLE_CAP:
                    w = TITLE_CAP
                if w > terms.get(e.label, 0.0):
                    terms[e.label] = w
                if seg == _SEG_TITLE:
                    title_terms.add(e.label)
                if e.weight >= STRONG_WEIGHT:
                    strong_labels.add(e.label)
                continue
            if kind == "ignore":
                continue
            if seg == _SEG_DATELINE:
                if kind in _WHERE_KINDS and kind != "party":
                    if where < DATELINE_WHERE:
                        where = DATELINE_WHERE
                    places.append((_TIER_DATELINE, e))
                    labels.append("dateline:" + e.label.split(":", 1)[1])
                continue
            labels.append(_shown(e, surface))
            tier = _TIERS.get(kind)
            if tier is not None:
                if tier == _TIER_COUNTRY:
                    if where < COUNTRY_WHERE:
                        where = COUNTRY_WHERE
                    if seg == _SEG_TITLE:
                        title_countries += e.countries
                elif tier == _TIER_PARTY:
                    if where < e.weight:
                        where = e.weight
                    if parties < 3:
                        party_miss *= 1.0 - e.what
                    parties += 1
                else:
                    where = 1.0
                if seg == _SEG_TITLE and tier < _TIER_COUNTRY:
                    title_where = True
                places.append((tier, e))
            elif kind == "sport":
                sport += 1
            elif kind == "market":
                market += 1
                market_title = market_title or seg == _SEG_TITLE
            elif kind == "disaster":
                disaster += 1
            elif kind == "protest":
                protest += 1
            elif kind == "aid":
                aid += 1
            elif kind == "migration":
                migration += 1
            elif kind == "health":
                health += 1
            elif kind == "trap":
                trap_heads += e.heads

        # Noisy-or over distinct terms: mild words add up but stay below a strong one; a trap in the
        # article explains its head word everywhere ("trade war ... the war").
        miss = party_miss
        strong = fighting = False
        generic = self.gazetteer.generic
        for label, w in terms.items():
            if label in trap_heads:
                continue
            labels.extend("term:" + form for form in written[label])
            miss *= 1.0 - w
            if label in strong_labels:
                strong = True
                fighting = fighting or label not in generic
        what = 1.0 - miss
        # Any country can host a war, but "missiles", "attack" and "military" in a story about a
        # country with no conflict entry are more often threats, exercises or crime: ask for a strong word.
        if where < 0.8 and not strong and what > WEAK_PLACE_CAP:
            what = WEAK_PLACE_CAP
        # The title names the story's subject: when it is silent on conflict, the war in the body is
        # more likely context ("Kerry challenges Bush record ... the war in Iraq").
        if has_title and not title_where and not (title_terms - set(trap_heads)):
            # ... and all the more when the body only names the war ("Russia's war of aggression")
            # without describing any fighting
            what *= TITLE_SILENT if fighting or not strong else TITLE_SILENT_GENERIC
        if sport:
            what *= 0.5 if sport == 1 else 0.3
        if disaster:
            what *= 0.6 if disaster == 1 else 0.4
        # Protests and riots without an armed group or a strong word are unrest, not conflict; arms
        # deliveries, military aid and sanctions are about the war, not fighting in it.
        if protest and not strong:
            what *= 0.6 if protest == 1 else 0.45
        if health and not strong:  # epidemics in a war zone are conflict news when the war is named
            what *= 0.6 if health == 1 else 0.45
        if aid and not fighting:  # "war" alone is the reason for the aid; an air strike is fighting
            what *= 0.6 if aid == 1 else 0.45
        if migration:
            what *= 0.7
        if market_title or market >= 2:
            what *= 0.4
        elif market:
            what *= 0.7
        score = round(where * what, 3)
        evidence = sorted(set(labels))
        if score < self.threshold:
            return TagResult(False, score, [], [], evidence)
        # Territory from the best tier present: named regions and places; regions named through
        # their people; wide regions; parties; the dateline; last, the countries mentioned (title
        # first). Transnational parties (al-Qaeda) name no territory: they never outrank a country
        # named in the title, and with one present, countries named only in the body are not guessed.
        best = min((t for t, e in places if e.countries or t < _TIER_PARTY), default=_TIER_COUNTRY)
        if best == _TIER_COUNTRY:
            transnational = sorted({e.region for t, e in places if t == _TIER_PARTY and e.region is not None})
            codes = set(title_countries)
            if not codes and not transnational:
                codes = {c for t, e in places if t == best for c in e.countries}
            return TagResult(True, score, transnational, sorted(codes), evidence)
        chosen = [e for t, e in places if t == best]
        names = sorted({e.region for e in chosen if e.region is not None})
        codes = {c for e in chosen for c in e.countries}
        return TagResult(True, score, names, sorted(codes), evidence)
