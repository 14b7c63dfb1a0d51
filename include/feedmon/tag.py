"""Tag conflict-region stories: WHERE (a conflict place or party) combined with WHAT (fighting).

One Aho-Corasick pass over the folded title, dateline and text finds every gazetteer key at word
boundaries, in every language the gazetteer carries (see :mod:`feedmon.gazetteer`). Vocabulary of
one language counts only in articles of that language ("war" is a German verb form); names count
everywhere, except where a language's ``stop`` list says the word is a common one there ("того" is
not Togo in Russian). Matches nested inside a longer match are dropped, so "trade war" swallows
"war" and "Gaza Strip" wins over "Gaza".

What was found is gathered into an :class:`Evidence` (which places, at which tier, in the title or
the body; how many conflict words of each level; which context words), and two small logistic
models weigh it (docs/tagging.md has the features, the weights and the figures):

* the **conflict model** gives ``conflict_score``, the probability that the story is about armed
  conflict; ``is_conflict`` when it reaches the model's threshold (0.5);
* the **territory model** gives each country the evidence names a probability of being the
  territory where the fighting is; ``countries`` are those at 0.5 or more.

The weights are data (``feedmon/data/tag_model.json``), learned by ``eval/tagging/train_weights.py``
from the dev splits of the labelled sets only, with cross-validated figures stored beside them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import compress
from operator import mul
from pathlib import Path
from typing import Any

from feedmon import gazetteer as _gazetteer_module
from feedmon import keyforms as _keyforms_module
from feedmon.gazetteer import Entry, Gazetteer, load_gazetteer
from feedmon.keyforms import MODE_EXACT, MODE_INFIX, fold_bytes, fold_for_matching, unspaced_script, word_at
from feedmon.models import TagResult

__all__ = [
    "CONFLICT_FEATURES",
    "TERRITORY_FEATURES",
    "Candidates",
    "ConflictTagger",
    "Evidence",
    "TagModel",
    "choose_countries",
    "conflict_features",
    "conflict_probability",
    "features_row",
    "load_model",
    "split_dateline",
    "territory_features",
]

TITLE_BOOST = 1.5  # a word in the title speaks for the whole story
TITLE_CAP = 0.9
COUNTRY_WHERE = 0.6  # any country (or a city of one)
DATELINE_WHERE = 0.55  # weak: the place only in the dateline
STRONG_WEIGHT = 0.6  # a term at least this heavy is "strong" (war, airstrike, insurgents, ...)
MEDIUM_WEIGHT = 0.3  # ... medium (killed, attack, bomb); force words (troops) and weak words below

_WHERE_KINDS = frozenset({"region", "place", "demonym", "umbrella", "party", "country", "city"})
_TIER_REGION, _TIER_PEOPLE, _TIER_WIDE, _TIER_PARTY, _TIER_DATELINE, _TIER_COUNTRY = 0, 1, 2, 3, 4, 5
_TIERS = {
    "region": _TIER_REGION,
    "place": _TIER_REGION,
    "demonym": _TIER_PEOPLE,
    "umbrella": _TIER_WIDE,
    "party": _TIER_PARTY,
    "country": _TIER_COUNTRY,
    "city": _TIER_COUNTRY,
}

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


_NAME_LABELS = frozenset({"region", "place", "party", "country", "city"})
_CANON: dict[str, str] = {}
_SHOWN: dict[tuple[str, str], str] = {}


# ------------------------------------------------------------------------------------------ evidence


class Evidence:
    """What the automaton found in one article, gathered: the input of both models (and of their
    training, ``eval/tagging/train_weights.py``). Scalars default to the class attributes, so an
    article sets only what it has."""

    has_title = title_where = title_country = market_title = False
    strong = fighting = silent = False
    strong_title = strong_body = medium_title = medium_body = force = weak = traps = 0
    what = where = party_what = 0.0
    tier = 9  # best place tier named (the dateline counts only when nothing else is named)

    def __init__(self) -> None:
        self.labels: list[str] = []  # the evidence labels, as shown
        self.places: list[tuple[int, Entry, int]] = []  # (tier, entry, segment) of every place evidence
        self.context: dict[str, int] = {}  # context kind -> words seen


def _gather(
    raw: list[tuple[int, int, int, str, Entry]],
    hay: str,
    t_end: int,
    d_end: int,
    in_bytes: bool,
    generic: frozenset[str],
) -> Evidence:
    """Gather the sorted matches ``(start, -end, mode, key, entry)`` of one article: a match inside
    a longer one is dropped (keys share their boundary spaces, so neighbours never count as nested);
    each kept one is read as evidence of place, of fighting, or of context."""
    ev = Evidence()
    ev.has_title = has_title = t_end > 1
    labels = ev.labels
    places = ev.places
    context = ev.context
    where = 0.0
    terms: dict[str, list[Any]] = {}  # term label -> [weight (title-boosted), level, in title, words as written]
    trap_heads: tuple[str, ...] = ()
    party_miss = 1.0  # naming armed groups is some evidence of fighting (each party its own weight)
    parties = 0
    tier_best = 9
    max_end = -1
    for start, neg_end, mode, key, entry in raw:
        end = -neg_end
        if end <= max_end:
            continue
        max_end = end
        seg = _SEG_TITLE if start < t_end else (_SEG_DATELINE if start < d_end else _SEG_BODY)
        if mode in (MODE_EXACT, MODE_INFIX):
            surface = key
        else:
            surface = word_at(hay, start, end + 1, mode)
            if in_bytes:
                surface = surface.encode("latin-1").decode("utf-8")
        kind, label, _region, _countries, weight, heads, _langs, what = entry
        if kind == "term":
            w = weight
            if seg == _SEG_TITLE:
                w = w * TITLE_BOOST if w * TITLE_BOOST < TITLE_CAP else TITLE_CAP
            rec = terms.get(label)
            if rec is None:
                terms[label] = [w, weight, seg == _SEG_TITLE, [surface]]
            else:
                if w > rec[0]:
                    rec[0] = w
                if seg == _SEG_TITLE:
                    rec[2] = True
                if surface not in rec[3]:
                    rec[3].append(surface)
            continue
        if kind == "ignore":
            continue
        if seg == _SEG_DATELINE:
            if kind in _WHERE_KINDS and kind != "party":
                if where < DATELINE_WHERE:
                    where = DATELINE_WHERE
                places.append((_TIER_DATELINE, entry, seg))
                labels.append("dateline:" + label.split(":", 1)[1])
            continue
        shown = _SHOWN.get((label, surface))
        labels.append(shown if shown is not None else _shown(entry, surface))
        tier = _TIERS.get(kind)
        if tier is not None:
            if tier < tier_best:
                tier_best = tier
            if tier == _TIER_COUNTRY:
                if where < COUNTRY_WHERE:
                    where = COUNTRY_WHERE
                if seg == _SEG_TITLE:
                    ev.title_country = True
            elif tier == _TIER_PARTY:
                if where < weight:
                    where = weight
                if parties < 3:
                    party_miss *= 1.0 - what
                parties += 1
            else:
                where = 1.0
            if seg == _SEG_TITLE and tier < _TIER_COUNTRY:
                ev.title_where = True
            places.append((tier, entry, seg))
        elif kind == "trap":
            trap_heads += heads
            ev.traps += 1
        else:
            context[kind] = context.get(kind, 0) + 1
            if kind == "market" and seg == _SEG_TITLE:
                ev.market_title = True

    # Noisy-or over distinct terms: mild words add up but stay below a strong one; a trap in the
    # article explains its head word everywhere ("trade war ... the war").
    miss = party_miss
    loud_title = False
    strong_title = strong_body = medium_title = medium_body = force = weak = 0
    for label, (w, level, in_title, forms) in terms.items():
        if label in trap_heads:
            continue
        for form in forms:
            labels.append("term:" + form)
        miss *= 1.0 - w
        if in_title:
            loud_title = True
        if level >= STRONG_WEIGHT:
            ev.strong = True
            if label not in generic:
                ev.fighting = True
            if in_title:
                strong_title += 1
            else:
                strong_body += 1
        elif level >= MEDIUM_WEIGHT:
            if in_title:
                medium_title += 1
            else:
                medium_body += 1
        elif level >= 0.2:
            force += 1
        else:
            weak += 1
    if terms:
        ev.strong_title, ev.strong_body, ev.medium_title, ev.medium_body = (
            strong_title,
            strong_body,
            medium_title,
            medium_body,
        )
        ev.force, ev.weak = force, weak
    ev.what = 1.0 - miss
    ev.party_what = 1.0 - party_miss
    ev.where = where
    ev.tier = tier_best if tier_best < 9 else (_TIER_DATELINE if where else 9)
    ev.silent = has_title and not ev.title_where and not loud_title
    return ev


# ------------------------------------------------------------------------------------------ features

#: Features of the conflict model, in the order of its weights (``tag_model.json``): first the
#: flags (0 or 1), then the measures. Counts are capped (a tenth "killed" says little more than the third).
CONFLICT_FLAGS = (
    "bias",
    "where: conflict region or place",
    "where: people of a theatre",
    "where: wide region",
    "where: armed party",
    "where: dateline only",
    "where: a country or city",
    "title names a conflict place or party",
    "title names a country",
    "a strong word that describes fighting",
    "only generic strong words (war, invasion)",
    "title silent on conflict",
    "title silent, only generic strong words",
    "no title",
    "market word in the title",
    "protest without a strong word",
    "health without a strong word",
    "aid without a fighting word",
    "disaster without a fighting word",
    "only a country, no strong word",
)
CONFLICT_MEASURES = (
    "what (log-odds of the noisy-or)",
    "strong words in the title",
    "strong words in the body",
    "medium words in the title",
    "medium words in the body",
    "force words",
    "weak words",
    "parties' what",
    "traps",
    "sport",
    "disaster",
    "protest",
    "health",
    "aid",
    "migration",
    "market",
    "past",
)
CONFLICT_FEATURES = CONFLICT_FLAGS + CONFLICT_MEASURES


def _logit(p: float) -> float:
    p = 0.01 if p < 0.01 else (0.99 if p > 0.99 else p)
    return math.log(p / (1.0 - p))


def conflict_features(ev: Evidence) -> tuple[tuple[bool, ...], tuple[float, ...]]:
    """The conflict model's inputs for one article: its flags and its measures
    (:data:`CONFLICT_FLAGS`, :data:`CONFLICT_MEASURES`)."""
    t = ev.tier
    c = ev.context
    strong, fighting = ev.strong, ev.fighting
    generic_only = strong and not fighting
    if c:
        get = c.get
        protest, health, aid, disaster = get("protest", 0), get("health", 0), get("aid", 0), get("disaster", 0)
        sport, migration, market, past = get("sport", 0), get("migration", 0), get("market", 0), get("past", 0)
    else:
        protest = health = aid = disaster = sport = migration = market = past = 0
    st, sb, mt, mb, fo, we = ev.strong_title, ev.strong_body, ev.medium_title, ev.medium_body, ev.force, ev.weak
    flags = (
        True,
        t == _TIER_REGION,
        t == _TIER_PEOPLE,
        t == _TIER_WIDE,
        t == _TIER_PARTY,
        t == _TIER_DATELINE,
        t == _TIER_COUNTRY,
        ev.title_where,
        ev.title_country,
        fighting,
        generic_only,
        ev.silent,
        ev.silent and generic_only,
        not ev.has_title,
        ev.market_title,
        protest > 0 and not strong,
        health > 0 and not strong,
        aid > 0 and not fighting,
        disaster > 0 and not fighting,
        ev.where < 0.8 and not strong,
    )
    measures = (
        _logit(ev.what),
        st if st < 2 else 2,
        sb if sb < 3 else 3,
        mt if mt < 2 else 2,
        mb if mb < 3 else 3,
        fo if fo < 2 else 2,
        we if we < 3 else 3,
        ev.party_what,
        ev.traps if ev.traps < 2 else 2,
        sport if sport < 2 else 2,
        disaster if disaster < 2 else 2,
        protest if protest < 2 else 2,
        health if health < 2 else 2,
        aid if aid < 2 else 2,
        migration if migration < 2 else 2,
        market if market < 2 else 2,
        past if past < 2 else 2,
    )
    return flags, measures


#: Features of the territory model, for one country the evidence names (order of its weights): flags,
#: then measures.
TERRITORY_FLAGS = (
    "bias",
    "a conflict region or place of it in the title",
    "a conflict region or place of it in the body",
    "its people in the title",
    "its people in the body",
    "a wide region covering it",
    "an armed party of it in the title",
    "an armed party of it in the body",
    "the dateline",
    "its name in the title",
    "its name in the body",
    "a city of it in the title",
    "a city of it in the body",
    "named at the article's best tier",
    "the only country named",
    "a transnational party is named, and it is in the title",
)
TERRITORY_MEASURES = (
    "mentions (a third each, up to three)",
    "one over the number of countries named",
)
TERRITORY_FEATURES = TERRITORY_FLAGS + TERRITORY_MEASURES
_T_SLOT = {  # (tier, kind is city, in title) -> flag index
    (_TIER_REGION, False, True): 1,
    (_TIER_REGION, False, False): 2,
    (_TIER_PEOPLE, False, True): 3,
    (_TIER_PEOPLE, False, False): 4,
    (_TIER_WIDE, False, True): 5,
    (_TIER_WIDE, False, False): 5,
    (_TIER_PARTY, False, True): 6,
    (_TIER_PARTY, False, False): 7,
    (_TIER_DATELINE, False, False): 8,
    (_TIER_DATELINE, True, False): 8,
    (_TIER_COUNTRY, False, True): 9,
    (_TIER_COUNTRY, False, False): 10,
    (_TIER_COUNTRY, True, True): 11,
    (_TIER_COUNTRY, True, False): 12,
}

Candidates = dict[str, tuple[list[bool], tuple[float, float]]]


def territory_features(ev: Evidence) -> Candidates:
    """The territory model's inputs (flags, measures) for every country the evidence names."""
    flags: dict[str, list[bool]] = {}
    best: dict[str, int] = {}
    mentions: dict[str, int] = {}
    transnational = False
    slot = _T_SLOT
    n_flags = len(TERRITORY_FLAGS)
    for tier, e, seg in ev.places:
        if not e.countries:
            transnational = transnational or tier == _TIER_PARTY
            continue
        idx = slot[(tier, e.kind == "city", seg == _SEG_TITLE)]
        for code in e.countries:
            f = flags.get(code)
            if f is None:
                f = flags[code] = [False] * n_flags
                f[0] = True
                best[code] = tier
                mentions[code] = 1
            else:
                if tier < best[code]:
                    best[code] = tier
                mentions[code] += 1
            f[idx] = True
    if not flags:
        return {}
    top = min(best.values())
    n = len(flags)
    out: Candidates = {}
    for code, f in flags.items():
        f[13] = best[code] == top
        f[14] = n == 1
        f[15] = transnational and (f[9] or f[11])
        m = mentions[code]
        out[code] = (f, ((m if m < 3 else 3) / 3.0, 1.0 / n))
    return out


def features_row(flags: Any, measures: Any) -> list[float]:
    """Flags and measures as one row of numbers (for training and inspection)."""
    return [float(x) for x in flags] + [float(x) for x in measures]


# ---------------------------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class TagModel:
    """The two logistic models' weights (``feedmon/data/tag_model.json``), each split as its
    features are: flags (summed where set), measures (multiplied)."""

    conflict: tuple[tuple[float, ...], tuple[float, ...]]
    territory: tuple[tuple[float, ...], tuple[float, ...]]
    threshold: float = 0.5
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_weights(
        cls, conflict: Sequence[float], territory: Sequence[float], threshold: float = 0.5, **info: Any
    ) -> TagModel:
        """Weights in the order of :data:`CONFLICT_FEATURES` and :data:`TERRITORY_FEATURES`."""
        nc, nt = len(CONFLICT_FLAGS), len(TERRITORY_FLAGS)
        c = tuple(float(w) for w in conflict)
        t = tuple(float(w) for w in territory)
        if len(c) != len(CONFLICT_FEATURES) or len(t) != len(TERRITORY_FEATURES):
            raise ValueError("tag model: wrong number of weights")
        return cls((c[:nc], c[nc:]), (t[:nt], t[nt:]), threshold, info)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "tag model") -> TagModel:
        """Check the features the weights were learned for against the code's, and build."""
        for name, expected in (("conflict", CONFLICT_FEATURES), ("territory", TERRITORY_FEATURES)):
            got = tuple(data.get(name, {}).get("features", ()))
            if got != expected:
                raise ValueError(f"{where}: the {name} model was trained on other features; retrain it")
        return cls.from_weights(
            data["conflict"]["weights"],
            data["territory"]["weights"],
            float(data["conflict"].get("threshold", 0.5)),
            **{k: v for k, v in data.items() if k not in ("conflict", "territory")},
        )


def model_path() -> Path:
    """The weights that ship inside the package."""
    return Path(str(resources.files("feedmon").joinpath("data/tag_model.json")))


@cache
def load_model(path: str | None = None) -> TagModel:
    """The shipped weights (or those of ``path``), read once per process."""
    file = Path(path) if path else model_path()
    return TagModel.from_dict(json.loads(file.read_text(encoding="utf-8")), str(file))


#: A conflict story has a territory: when no country reaches 0.5, the likeliest ones are taken if
#: they reach this.
TERRITORY_FLOOR = 0.4


_FLOOR_LOGIT = math.log(TERRITORY_FLOOR / (1.0 - TERRITORY_FLOOR))
Weights = tuple[tuple[float, ...], tuple[float, ...]]


def _logodds(flags: Any, measures: Any, weights: Weights) -> float:
    """The model's log-odds: the weights of the flags that are set, plus the weighted measures."""
    return sum(compress(weights[0], flags)) + sum(map(mul, measures, weights[1]))


def choose_countries(candidates: Candidates, weights: Weights) -> list[str]:
    """The countries whose territory model probability reaches 0.5; else the likeliest (ties all:
    the three Sahel states of a story about the Sahel) if they reach :data:`TERRITORY_FLOOR`.
    Compared as log-odds (0.5 is 0), rounded so that equal evidence ties."""
    logits = {c: round(_logodds(f, m, weights), 6) for c, (f, m) in candidates.items()}
    codes = [c for c, z in logits.items() if z >= 0.0]
    if not codes and logits:
        top = max(logits.values())
        if top >= _FLOOR_LOGIT:
            codes = [c for c, z in logits.items() if z == top]
    codes.sort()
    return codes


def conflict_probability(ev: Evidence, weights: Weights) -> float:
    """The conflict model's probability for the gathered evidence."""
    z = _logodds(*conflict_features(ev), weights)
    return 1.0 / (1.0 + math.exp(-z)) if z > -30.0 else 0.0


@dataclass(slots=True)
class ConflictTagger:
    """Decides whether an article is a conflict story, where, and why. Cheap to build (cached)."""

    gazetteer: Gazetteer
    model: TagModel = field(default_factory=load_model)
    _automata: dict[str | None, tuple[Any, bool]] = field(default_factory=dict, repr=False, compare=False)
    _fingerprint: str = field(default="", repr=False, compare=False)

    @classmethod
    def load(cls, user_file: str | None = None) -> ConflictTagger:
        """Shipped gazetteer with ``user_file`` (or ``$FEEDMON_GAZETTEER``) merged over it."""
        return cls(load_gazetteer(user_file))

    @property
    def version(self) -> str:
        """The gazetteer version, for the snapshot metadata."""
        return self.gazetteer.version

    @property
    def fingerprint(self) -> str:
        """Everything a tag depends on, hashed: the gazetteer's version and files, the model's
        weights, the tagging code. The version alone is not enough: a retrained model or an edited
        language file keeps it. Rows tagged under the same fingerprint need no tagging again."""
        if not self._fingerprint:
            digest = hashlib.sha256(self.gazetteer.version.encode())
            for path in (*self.gazetteer.files, __file__, _gazetteer_module.__file__, _keyforms_module.__file__):
                digest.update(b"\0" + Path(str(path)).read_bytes())
            model = (self.model.conflict, self.model.territory, self.model.threshold)
            digest.update(b"\0" + json.dumps(model).encode())
            self._fingerprint = digest.hexdigest()[:32]
        return self._fingerprint

    def tag(self, title: str, text: str, dateline: str | None = None, language: str | None = None) -> TagResult:
        """Tag one article. ``dateline`` is the place the cleaner split off; if it is None, a
        leading dateline in ``text`` is detected and treated as weak evidence too. ``language``
        (ISO 639-1, see :mod:`feedmon.language`) selects the vocabulary; unknown: every language's."""
        ev = self.evidence(title, text, dateline, language)
        if ev is None:
            return TagResult()
        return self.decide(ev)

    def evidence(
        self, title: str, text: str, dateline: str | None = None, language: str | None = None
    ) -> Evidence | None:
        """What the article's one automaton pass found, gathered; ``None`` when nothing was."""
        title = title or ""
        text = text or ""
        if dateline is None:
            dateline, text = split_dateline(text)
        # one fold for the three parts (a fold's fixed cost is most of a title's), joined by a word
        # no key contains, so no match crosses from one part to the next
        folded = fold_bytes(f"{title} {_SEGMENT} {dateline or ''} {_SEGMENT} {text}")
        # the automaton of the article's language (the meaning of each key that counts in it); the
        # Chinese ones match UTF-8 bytes (see Gazetteer.automaton_for)
        found = self._automata.get(language)
        if found is not None:
            automaton, in_bytes = found
        elif language in self.gazetteer.languages:
            automaton, in_bytes = self._automata[language] = self.gazetteer.automaton_for(language)
        else:
            automaton, in_bytes = self.gazetteer.automaton_for(None, unspaced_script(folded.decode("utf-8")))
        hay = f" {folded.decode('latin-1' if in_bytes else 'utf-8')} "
        t_end = hay.find(_SEGMENT)
        d_end = hay.find(_SEGMENT, t_end + 1)

        # every whole-word match as (start, -end, mode, key, entry), in order
        raw = [(end - length + 1, -end, mode, key, entry) for end, (length, mode, key, entry) in automaton.iter(hay)]
        if not raw:
            return None
        raw.sort()
        return _gather(raw, hay, t_end, d_end, in_bytes, self.gazetteer.generic)

    def decide(self, ev: Evidence) -> TagResult:
        """The two models over the gathered evidence."""
        model = self.model
        p = conflict_probability(ev, model.conflict)
        score = round(p, 3)
        evidence = sorted(set(ev.labels))
        if p < model.threshold:
            return TagResult(False, score, [], [], evidence)
        codes = choose_countries(territory_features(ev), model.territory)
        return TagResult(True, score, _region_names(ev, codes), codes, evidence)


def _region_names(ev: Evidence, codes: list[str]) -> list[str]:
    """The conflict regions behind the chosen territory: those of the best tier that names one of its
    countries; with no territory, the transnational parties (al-Qaeda) named."""
    if not codes:
        return sorted({e.region for t, e, _s in ev.places if t == _TIER_PARTY and not e.countries and e.region})
    best = _TIER_DATELINE
    names: set[str] = set()
    for t, e, _s in ev.places:
        if t > best or t == _TIER_DATELINE or e.region is None or not any(c in codes for c in e.countries):
            continue
        if t < best:
            best = t
            names = set()
        names.add(e.region)
    return sorted(names)
