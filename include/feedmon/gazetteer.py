"""Load, merge and compile the conflict gazetteer into one Aho-Corasick automaton.

The gazetteer is data, not code (``feedmon/data/gazetteer.yaml``): conflict regions with their
aliases, the places inside them and the armed parties active there; demonyms and common forms of
country names on top of :mod:`pycountry`; the conflict vocabulary, the trap phrases that neutralise
it ("trade war") and the sport/market context words that damp it. Operators extend it without code
through a user file with the same layout, merged over the shipped one (see :func:`merge`).

Languages: the shipped file is English (``language: en``) and lists the other languages it carries
(``languages:``); each has a file ``data/lang/<code>.yaml`` with its names for the shipped regions,
places, parties and countries, its conflict vocabulary, traps and context words, the words that
must never be read as a name in it (``stop``), and its ``morphology`` (:mod:`feedmon.keyforms`).
Country names in every listed language come from the CLDR data that Babel ships.

Every key is folded the same way as the text (:func:`feedmon.keyforms.fold_for_matching`) and wrapped
in single spaces on its closed sides, so one pass of the automaton reports only whole-word matches
(or word-start matches for open stems such as ``обстрел*``, and plain substring matches for Chinese):
no per-term regular expressions, no boundary checks after the fact.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import ahocorasick
import pycountry
import yaml

from feedmon.keyforms import (
    MODE_EXACT,
    MODE_INFIX,
    MODE_OPEN_BOTH,
    MODE_OPEN_LEFT,
    MODE_OPEN_RIGHT,
    check_markers,
    expand_alternatives,
    fold_for_matching,
    key_forms,
    padded,
)

__all__ = [
    "ENV_VAR",
    "Entry",
    "Gazetteer",
    "GazetteerError",
    "Region",
    "compile_gazetteer",
    "fold_for_matching",
    "load_gazetteer",
    "merge",
    "read_gazetteer_file",
    "shipped_path",
]

ENV_VAR = "FEEDMON_GAZETTEER"

#: Entry kinds. WHERE evidence: region, place (named territory), demonym ("Iraqi": a country-wide
#: theatre named through its people, so a party as much as a place), umbrella (a wide region such as
#: the Sahel), party, country (any other country). WHAT evidence: term (and party).
#: trap: a phrase whose words would otherwise count as WHAT ("trade war"); it swallows them.
#: ignore: a phrase that swallows a place name inside it ("Latin America", "Georgia Tech").
#: sport / market / disaster / protest / aid / migration / health / past: context words that damp the
#: score of stories that merely mention a war, whose dead come from an accident, whose violence is a
#: protest without armed groups, whose subject is arms aid or sanctions, migration, an epidemic, or a
#: war of the past (anniversaries, commemorations, legacies).
#: city: a city of a country that is not a conflict theatre (CLDR's time-zone cities): where an
#: attack happened when no conflict place is named ("attacks in Paris"), evidence of place like a country.
KINDS = (
    "region",
    "place",
    "demonym",
    "umbrella",
    "party",
    "country",
    "term",
    "trap",
    "ignore",
    "sport",
    "market",
    "disaster",
    "protest",
    "aid",
    "migration",
    "health",
    "past",
    "city",
)
#: Context kinds: words that tell what else a story may be about (a match, a price, an accident, a
#: protest, arms aid, migration, an epidemic, a past war remembered); the decision weighs them, and
#: they never count as evidence of fighting.
CONTEXT_KINDS = ("sport", "market", "disaster", "protest", "aid", "migration", "health", "past")
COUNTRY_WEIGHT = 0.5  # a country with no conflict entry, or a city of one
PARTY_WHAT = 0.3  # naming an armed group is itself some evidence of fighting (per party: ``what``)


class GazetteerError(ValueError):
    """A gazetteer file is malformed; the message names the file and the entry."""


class Entry(NamedTuple):
    """What one key of the automaton means. A tuple, because the hot loop unpacks it."""

    kind: str
    label: str  # shown in the evidence ("region:Darfur", "term:ceasefire")
    region: str | None  # region name for region/place/party entries
    countries: tuple[str, ...]
    weight: float
    heads: tuple[str, ...] = ()  # for traps: the term labels the trap explains ("trade war" -> term:war)
    # vocabulary counts only in articles of these languages (sorted codes; None: any). A tuple of
    # strings, not a set: an Entry of atoms only is one the cyclic GC stops tracking, and the
    # automata hold ~200,000 of them and their value tuples (tagging ~10 % faster)
    langs: tuple[str, ...] | None = None
    what: float = PARTY_WHAT  # for parties: how much naming it says about fighting ("Taliban" after 2021)


@dataclass(frozen=True, slots=True)
class Region:
    """A conflict region as analysts name it, with the ISO codes of its territory."""

    name: str
    countries: tuple[str, ...]
    kind: str = "region"  # "region" (sub-national / cross-border) or "country" (a country-wide theatre)
    period: str = ""
    sources: tuple[str, ...] = ()


@dataclass(slots=True)
class Gazetteer:
    """The merged gazetteer, compiled.

    The tagger makes one pass per article with the automaton of the article's language
    (:meth:`automaton_for`), built on first use and kept: it holds the names every language
    shares and that language's own words and forms, each key mapped to ``(length, mode, key,
    entry)`` with the one meaning that counts in that language, and leaves out the keys that
    language's ``stop`` list calls common words. A smaller automaton is a faster one (English copy:
    ~6 µs per article with every language's keys, ~4 µs with its own), and no per-match language
    test is left for the hot loop. Articles of unknown or unlisted language get every key.
    """

    version: str
    regions: dict[str, Region]
    keys: dict[str, tuple[Entry, ...]]  # folded key ("обстрел*" for an open stem) -> its meanings
    files: tuple[str, ...] = ()
    languages: frozenset[str] = frozenset()  # languages with their own vocabulary
    generic: frozenset[str] = frozenset()  # strong words that name a war without describing fighting
    forms: dict[tuple[str, int], tuple[Entry, ...]] = field(default_factory=dict, repr=False)
    stop: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _automata: dict[tuple[str | None, bool], Any] = field(default_factory=dict, repr=False)

    def automaton_for(self, lang: str | None, unspaced: bool = False) -> tuple[Any, bool]:
        """The automaton for articles in ``lang`` (``None``: unknown language, every key), and
        whether its keys are in byte form (:func:`as_bytes`: the text must be too).

        Keys of scripts written without spaces (Chinese) would hang off the automaton's root, whose
        children the automaton searches one by one at every step: with a few thousand distinct first
        characters that made Chinese copy cost ~22 µs per article. Those keys are only in the
        automata of ``zh``/``ja`` and, for unknown languages, of text that has such characters
        (``unspaced``); and those automata hold their keys as UTF-8 bytes, so that a node has at
        most 64 children (Chinese copy: ~6 µs).
        """
        unspaced = unspaced or lang in _UNSPACED_LANGS
        cache_key = (lang, unspaced)
        automaton = self._automata.get(cache_key)
        if automaton is None:
            automaton = self._automata[cache_key] = self._build(lang, unspaced)
        return automaton, unspaced

    @property
    def automaton(self) -> Any:
        """Every key of every language (what an article of unknown language is matched against)."""
        return self.automaton_for(None, unspaced=True)[0]

    def _build(self, lang: str | None, unspaced: bool) -> Any:
        automaton = ahocorasick.Automaton()
        for (key, mode), entries in self.forms.items():
            if mode == MODE_INFIX and not unspaced:
                continue
            if lang is None:
                entry = entries[0]
            else:
                stop = self.stop.get(key)
                if stop is not None and lang in stop:
                    continue
                found = next((e for e in entries if e.langs is None or lang in e.langs), None)
                if found is None:
                    continue
                entry = found
            pad = padded(key, mode)
            if unspaced:
                pad = as_bytes(pad)
            automaton.add_word(pad, (len(pad), mode, key, entry))
        automaton.make_automaton()
        return automaton


def as_bytes(text: str) -> str:
    """The UTF-8 bytes of ``text``, one character per byte (what the byte-form automata match)."""
    return text.encode("utf-8").decode("latin-1")


_UNSPACED_LANGS = frozenset({"zh", "ja"})


# ----------------------------------------------------------------------------------------- loading


def read_gazetteer_file(path: str | Path) -> dict[str, Any]:
    """One gazetteer YAML file as a mapping (unmerged, uncompiled)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with Path(path).open(encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=loader)  # safe loaders only
    except yaml.YAMLError as exc:
        raise GazetteerError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GazetteerError(f"{path}: top level must be a mapping")
    return data


def shipped_path() -> Path:
    """The gazetteer that ships inside the package."""
    return Path(str(resources.files("feedmon").joinpath("data/gazetteer.yaml")))


def language_path(lang: str) -> Path:
    """The vocabulary and names of one language, shipped beside the gazetteer."""
    return Path(str(resources.files("feedmon").joinpath(f"data/lang/{lang}.yaml")))


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    raise GazetteerError(f"{where}: expected a list, got {type(value).__name__}")


def _union(a: Iterable[Any], b: Iterable[Any]) -> list[Any]:
    out = list(a)
    seen = {repr(x) for x in out}
    for item in b:
        if repr(item) not in seen:
            out.append(item)
            seen.add(repr(item))
    return out


def merge(base: Mapping[str, Any], user: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a user gazetteer over the shipped one.

    Regions match by name (case-insensitive): list fields are united, scalars replaced, and
    ``disabled: true`` drops the region. ``countries`` lists of a region are replaced when the user
    gives them (the user knows the territory better). Term, trap and context lists are united;
    ``remove_terms`` deletes shipped terms. Country extras (demonyms/aliases) are united per code.
    """
    out: dict[str, Any] = dict(base)
    if "version" in user:
        out["version"] = f"{base.get('version', '?')}+{user['version']}"
    regions = {str(r["name"]).casefold(): dict(r) for r in base.get("regions", [])}
    order = [str(r["name"]).casefold() for r in base.get("regions", [])]
    for i, reg in enumerate(_as_list(user.get("regions"), "user regions")):
        if not isinstance(reg, dict) or "name" not in reg:
            raise GazetteerError(f"user regions[{i}]: each region needs a 'name'")
        key = str(reg["name"]).casefold()
        if key not in regions:
            regions[key] = dict(reg)
            order.append(key)
            continue
        cur = regions[key]
        for fld, val in reg.items():
            if fld in ("aliases", "places", "parties", "sources"):
                cur[fld] = _union(_as_list(cur.get(fld), fld), _as_list(val, fld))
            else:
                cur[fld] = val
    out["regions"] = [regions[k] for k in order if not regions[k].get("disabled")]
    # language files may still name a region the user dropped: they skip it instead of failing
    out["disabled_regions"] = sorted(
        {*base.get("disabled_regions", ()), *(regions[k]["name"] for k in order if regions[k].get("disabled"))}
    )

    terms = {k: list(_as_list(v, f"terms.{k}")) for k, v in (base.get("terms") or {}).items()}
    for level, words in (user.get("terms") or {}).items():
        terms[level] = _union(terms.get(level, []), _as_list(words, f"user terms.{level}"))
    removed = {fold_for_matching(w) for w in _as_list(user.get("remove_terms"), "remove_terms")}
    if removed:
        terms = {lvl: [t for t in lst if fold_for_matching(str(t)) not in removed] for lvl, lst in terms.items()}
    out["terms"] = terms
    out["term_weights"] = {**(base.get("term_weights") or {}), **(user.get("term_weights") or {})}
    for key in ("traps", "ignore", "generic", *CONTEXT_KINDS):
        out[key] = _union(_as_list(base.get(key), key), _as_list(user.get(key), key))
    extras: dict[str, dict[str, list[str]]] = {}
    for src in (base.get("countries") or {}, user.get("countries") or {}):
        for code, spec in src.items():
            cur = extras.setdefault(str(code).upper(), {})
            for fld, val in (spec or {}).items():
                cur[fld] = _union(cur.get(fld, []), _as_list(val, f"countries.{code}.{fld}"))
    out["countries"] = extras
    return out


# --------------------------------------------------------------------------------------- compiling


def _country_names(code: str) -> list[str]:
    c = pycountry.countries.get(alpha_2=code)
    if c is None:
        return []
    names = [c.name]
    for attr in ("common_name", "official_name"):
        val = getattr(c, attr, None)
        if val:
            names.append(val)
    # "Korea, Republic of" is never written that way in news; keep only the usable forms.
    return [n for n in names if "," not in n]


def _check_code(code: Any, where: str) -> str:
    code = str(code).upper()
    if pycountry.countries.get(alpha_2=code) is None and code != "XK":
        raise GazetteerError(f"{where}: {code!r} is not an ISO 3166-1 alpha-2 code")
    return code


class _Builder:
    """Collects (key, mode) -> meanings; a meaning already present for another language only gains
    that language, so "terror" is one entry that counts in English, German and Spanish."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, int], list[Entry]] = {}
        self.stop: dict[str, set[str]] = {}
        self.generic: set[str] = set()

    def add(
        self, surface: str, entry: Entry, *, morphology: str | None = None, name: bool = False, lang: str | None = None
    ) -> None:
        """Add every key of ``surface``. A name is matched in every language, but the forms a
        language's morphology derives from it, and its open stems, only in articles of ``lang``:
        German "Mali*" must not find "Malik", Turkish "Kiev'la" must not find French "Kiev, la"."""
        try:
            forms = key_forms(surface, morphology=morphology, name=name)
        except ValueError as exc:
            raise GazetteerError(f"{entry.label}: {exc}") from exc
        for key, mode, derived in forms:
            if lang is not None and entry.langs is None and (derived or mode != MODE_EXACT):
                entry_here = entry._replace(langs=(lang,))
            else:
                entry_here = entry
            self._put(key, mode, entry_here)

    def _put(self, key: str, mode: int, entry: Entry) -> None:
        lst = self.keys.get((key, mode))
        if lst is None:
            self.keys[(key, mode)] = [entry]
            return
        for i, old in enumerate(lst):
            if old is entry or old == entry:
                return
            if old.label == entry.label and old.kind == entry.kind and _same_but_langs(old, entry):
                if old.langs is not None:
                    merged = None if entry.langs is None else tuple(sorted({*old.langs, *entry.langs}))
                    lst[i] = old._replace(langs=merged)
                return
        lst.append(entry)


def _same_but_langs(a: Entry, b: Entry) -> bool:
    return a._replace(langs=None) == b._replace(langs=None)


def _label(surface: str) -> str:
    """What a vocabulary entry is known by: its first spelling, folded, without markers
    ("Luftangriff(|e|en)" -> "luftangriff", "обстрел*" -> "обстрел"), so its forms count once."""
    return fold_for_matching(expand_alternatives(surface)[0])


def _region_entries(b: _Builder, data: Mapping[str, Any]) -> tuple[dict[str, Region], dict[tuple[str, ...], Entry]]:
    """Regions, places and parties of the shipped (English) layout; returns the regions and the
    entry of every canonical name, so language files can attach their spellings to it."""
    regions: dict[str, Region] = {}
    named: dict[tuple[str, ...], Entry] = {}
    for i, reg in enumerate(_as_list(data.get("regions"), "regions")):
        where = f"regions[{i}]"
        if not isinstance(reg, dict) or not reg.get("name"):
            raise GazetteerError(f"{where}: each region needs a 'name'")
        name = str(reg["name"])
        where = f"region {name!r}"
        codes = tuple(_check_code(c, where) for c in _as_list(reg.get("countries"), where))
        if not codes and not reg.get("transnational"):
            raise GazetteerError(f"{where}: 'countries' is required (ISO 3166-1 alpha-2)")
        kind = str(reg.get("kind", "region"))
        regions[name] = Region(
            name=name,
            countries=codes,
            kind=kind,
            period=str(reg.get("period", "")),
            sources=tuple(str(s) for s in _as_list(reg.get("sources"), where)),
        )
        rentry = Entry("umbrella" if reg.get("umbrella") else "region", f"region:{name}", name, codes, 1.0)
        named[("region", name.casefold())] = rentry
        dentry = Entry("demonym", f"region:{name}", name, codes, 1.0)
        named[("demonym", name.casefold())] = dentry
        names = [] if reg.get("match_name") is False else [name]
        for alias in [*names, *_as_list(reg.get("aliases"), where)]:
            b.add(str(alias), rentry)
        for dem in _as_list(reg.get("demonyms"), where):
            b.add(str(dem), dentry)
        for j, place in enumerate(_as_list(reg.get("places"), where)):
            if isinstance(place, dict):
                pname = str(place.get("name", ""))
                pcodes = tuple(_check_code(c, f"{where} place {pname!r}") for c in _as_list(place.get("countries"), ""))
                palias = [pname, *_as_list(place.get("aliases"), f"{where} places[{j}]")]
            else:
                pname, pcodes, palias = str(place), (), [str(place)]
            pentry = named.setdefault(
                ("place", name.casefold(), pname.casefold()),
                Entry("place", f"place:{pname}", name, pcodes or codes, 1.0),
            )
            for a in palias:
                b.add(str(a), pentry)
        for j, party in enumerate(_as_list(reg.get("parties"), where)):
            if isinstance(party, dict):
                pname = str(party.get("name", ""))
                palias = [pname, *_as_list(party.get("aliases"), f"{where} parties[{j}]")]
                weight = float(party.get("weight", 0.8))
                what = float(party.get("what", PARTY_WHAT))
            else:
                pname, palias, weight, what = str(party), [str(party)], 0.8, PARTY_WHAT
            pentry = named.setdefault(
                ("party", name.casefold(), pname.casefold()),
                Entry("party", f"party:{pname}", name, codes, weight, what=what),
            )
            for a in palias:
                b.add(str(a), pentry)
    return regions, named


def _vocabulary(
    b: _Builder,
    data: Mapping[str, Any],
    weights: Mapping[str, float],
    langs: tuple[str, ...] | None,
    morphology: str | None,
) -> None:
    """Conflict words by level, traps and context words of one language (``langs``)."""
    for level, words in (data.get("terms") or {}).items():
        if level not in weights:
            raise GazetteerError(f"terms.{level}: no weight for this level in 'term_weights'")
        for w in _as_list(words, f"terms.{level}"):
            entry = Entry("term", f"term:{_label(str(w))}", None, (), float(weights[level]), (), langs)
            b.add(str(w), entry, morphology=morphology)
    for w in _as_list(data.get("generic"), "generic"):
        b.generic.add(f"term:{_label(str(w))}")
    for kind in ("traps", "ignore", *CONTEXT_KINDS):
        label = kind.removesuffix("s")
        for w in _as_list(data.get(kind), kind):
            b.add(str(w), Entry(label, f"{label}:{_label(str(w))}", None, (), 0.0, (), langs), morphology=morphology)


def _country_entries(
    b: _Builder, data: Mapping[str, Any], regions: dict[str, Region], named: dict[tuple[str, ...], Entry]
) -> None:
    """Every pycountry country, its gazetteer aliases and demonyms; a country-wide theatre's names
    count as that region."""
    country_theatre: dict[str, str] = {}
    for reg in regions.values():
        if reg.kind == "country":
            for c in reg.countries:
                country_theatre.setdefault(c, reg.name)
    extras = data.get("countries") or {}
    codes_all = {c.alpha_2 for c in pycountry.countries} | set(extras) | {"XK"}
    for code in sorted(codes_all):
        theatre = country_theatre.get(code)
        if theatre:
            tcodes = regions[theatre].countries
            name_entry = Entry("region", f"region:{theatre}", theatre, tcodes, 1.0)
            dem_entry = Entry("demonym", f"region:{theatre}", theatre, tcodes, 1.0)
        else:
            name_entry = dem_entry = Entry("country", f"country:{code}", None, (code,), COUNTRY_WEIGHT)
        named[("country", code)] = name_entry
        named[("country-demonym", code)] = dem_entry
        spec = extras.get(code, {})
        for form in _country_names(code) + [str(a) for a in spec.get("aliases", [])]:
            b.add(form, name_entry)
        for form in spec.get("demonyms", []):
            b.add(str(form), dem_entry)


def _cldr_names(code: str, lang: str) -> list[str]:
    """The country's name in ``lang`` from Babel's CLDR data, without a bracketed qualifier."""
    from babel import Locale

    out: list[str] = []
    for loc in _LOCALES.get(lang, (lang,)):
        name = Locale.parse(loc).territories.get(code)
        if not name:
            continue
        # "Мьянма (Бирма)" but also "Внешние малые острова (США)": the bracket is not a name
        out.append(name.replace("（", "(").split("(")[0].strip())
    return [n for n in dict.fromkeys(out) if n and " - " not in n and " – " not in n]


# Both Chinese scripts: mainland copy is simplified, Taiwan / Hong Kong copy traditional.
_LOCALES = {"zh": ("zh", "zh_Hant")}


def _language_entries(
    b: _Builder,
    lang: str,
    spec: Mapping[str, Any],
    named: dict[tuple[str, ...], Entry],
    regions: dict[str, Region],
    weights: Mapping[str, float],
    disabled: frozenset[str] = frozenset(),
) -> None:
    """One language file: spellings attached to the canonical names, CLDR country names, and the
    language's own vocabulary."""
    where = f"language {lang!r}"
    morph = spec.get("morphology")
    langs = (lang,)
    for code in sorted({k[1] for k in named if k[0] == "country"}):
        for form in _cldr_names(code, lang):
            b.add(form, named[("country", code)], morphology=morph, name=True, lang=lang)
    for code, cspec in (spec.get("countries") or {}).items():
        code = _check_code(code, f"{where} countries")
        for form in _as_list((cspec or {}).get("aliases"), f"{where} countries.{code}"):
            b.add(str(form), named[("country", code)], morphology=morph, name=True, lang=lang)
        # demonyms are adjectives: Arabic gives them the article ("الإسرائيلي"), as it does words
        for form in _as_list((cspec or {}).get("demonyms"), f"{where} countries.{code}"):
            b.add(str(form), named[("country-demonym", code)], morphology=morph, lang=lang)
    canon = {n.casefold(): n for n in regions}
    # a canonical place or party name found under another region than the file says (a party that
    # moved, such as the Islamic State, now transnational) is still that place or party
    anywhere: dict[tuple[str, str], Entry] = {}
    for key, entry in named.items():
        if key[0] in ("place", "party"):
            anywhere.setdefault((key[0], key[2]), entry)
    for rname, rspec in (spec.get("regions") or {}).items():
        region = canon.get(str(rname).casefold())
        if region is None and str(rname).casefold() in disabled:
            continue
        if region is None:
            raise GazetteerError(f"{where}: region {rname!r} is not in the shipped gazetteer")
        rspec = rspec or {}
        rkey = region.casefold()
        for alias in _as_list(rspec.get("aliases"), f"{where} {region}.aliases"):
            b.add(str(alias), named[("region", rkey)], morphology=morph, name=True, lang=lang)
        for dem in _as_list(rspec.get("demonyms"), f"{where} {region}.demonyms"):
            b.add(str(dem), named[("demonym", rkey)], morphology=morph, lang=lang)
        codes = regions[region].countries
        for kind in ("places", "parties"):
            items = rspec.get(kind) or {}
            if not isinstance(items, dict):
                raise GazetteerError(f"{where}: {region}.{kind} must map canonical names to spellings")
            for pname, aliases in items.items():
                k = kind.removesuffix("s").replace("ie", "y")
                known = named.get((k, rkey, str(pname).casefold())) or anywhere.get((k, str(pname).casefold()))
                if known is None:  # a place or party only this language's copy names
                    known = Entry(k, f"{k}:{pname}", region, codes, 1.0 if k == "place" else 0.8)
                    named[(k, rkey, str(pname).casefold())] = known
                    b.add(str(pname), known, morphology=morph, name=True, lang=lang)
                entry = known
                for alias in _as_list(aliases, f"{where} {region}.{kind}.{pname}"):
                    b.add(str(alias), entry, morphology=morph, name=True, lang=lang)
    _vocabulary(b, spec, weights, langs, morph)
    for w in _as_list(spec.get("stop"), f"{where} stop"):
        b.stop.setdefault(fold_for_matching(str(w)), set()).add(lang)


def _city_entries(
    b: _Builder,
    data: Mapping[str, Any],
    regions: dict[str, Region],
    named: dict[tuple[str, ...], Entry],
    languages: Mapping[str, Mapping[str, Any]],
) -> None:
    """Cities from CLDR's time zones (Babel), in English and every listed language: a city of a
    country-wide theatre is a place of it (Kabul, Juba); any other is a ``city`` of its country, evidence
    of place like a country name, which says where an attack happened when no conflict place is named
    ("attacks in Paris", "Brüksel'de patlama"). Added last, so a key that is already a region, place,
    party or country keeps that meaning."""
    spec = data.get("cities") or {}
    areas = {str(a) for a in _as_list(spec.get("areas"), "cities.areas")}
    if not areas:
        return
    skip = {str(s).casefold() for s in _as_list(spec.get("skip"), "cities.skip")}
    from babel import Locale
    from babel.core import get_global

    theatre = {c: reg.name for reg in regions.values() if reg.kind == "country" for c in reg.countries}
    locales = {lang: _LOCALES.get(lang, (lang,)) for lang in languages}
    zones = {loc: Locale.parse(loc).time_zones for locs in locales.values() for loc in locs}
    english_zones = Locale.parse("en").time_zones
    for tz, code in sorted(get_global("zone_territories").items()):
        if tz.split("/")[0] not in areas or ("country", code) not in named:
            continue
        english = tz.rsplit("/", 1)[-1].replace("_", " ")
        english = english_zones.get(tz, {}).get("city", english)
        if english.casefold() in skip:
            continue
        region = theatre.get(code)
        if region is not None:
            entry = named.setdefault(
                ("place", region.casefold(), english.casefold()),
                Entry("place", f"place:{english}", region, regions[region].countries, 1.0),
            )
        else:
            entry = Entry("city", f"city:{english}", None, (code,), COUNTRY_WEIGHT)
        b.add(english, entry)
        for lang, locs in locales.items():
            # case endings and clitics, but not the open ends German and Persian give names for their
            # adjectives: "Prag*" would find "Pragmatismus"
            morph = languages[lang].get("morphology")
            morph = None if morph in _OPEN_MORPHOLOGIES else morph
            for loc in locs:
                local = zones[loc].get(tz, {}).get("city")
                if local and local != english:
                    b.add(local, entry, morphology=morph, name=True, lang=lang)


_OPEN_MORPHOLOGIES = frozenset({"german", "persian"})


def compile_gazetteer(
    data: Mapping[str, Any], files: tuple[str, ...] = (), languages: Mapping[str, Mapping[str, Any]] | None = None
) -> Gazetteer:
    """Turn merged gazetteer data (and the language files' data) into regions, keys and an automaton."""
    b = _Builder()
    regions, named = _region_entries(b, data)
    _country_entries(b, data, regions, named)
    base_lang = data.get("language")
    weights = {str(k): float(v) for k, v in (data.get("term_weights") or {}).items()}
    _vocabulary(b, data, weights, (str(base_lang),) if base_lang else None, None)
    for lang, spec in sorted((languages or {}).items()):
        disabled = frozenset(str(n).casefold() for n in data.get("disabled_regions", ()))
        _language_entries(b, lang, spec, named, regions, weights, disabled)
    _city_entries(b, data, regions, named, languages or {})
    problems = [p for lst in (data.get("terms") or {}).values() for p in check_markers(_as_list(lst, "terms"), "terms")]
    if problems:
        raise GazetteerError("; ".join(problems))
    _explain_traps(b)

    # Every meaning of a key is kept, in the order added (regions, places and parties before plain
    # countries, terms before traps); the tagger takes the first one that counts in the article's
    # language, so every key resolves deterministically.
    keys: dict[str, tuple[Entry, ...]] = {}
    forms: dict[tuple[str, int], tuple[Entry, ...]] = {}
    for (key, mode), entries in b.keys.items():
        forms[(key, mode)] = keys[_display(key, mode)] = tuple(entries)
    langs = frozenset(languages or ()) | ({str(base_lang)} if base_lang else set())
    return Gazetteer(
        version=str(data.get("version", "unversioned")),
        regions=regions,
        keys=keys,
        files=files,
        languages=langs,
        generic=frozenset(b.generic),
        forms=forms,
        stop={k: frozenset(v) for k, v in b.stop.items()},
    )


def _display(key: str, mode: int) -> str:
    """The key as ``keys`` lists it: open sides marked with ``*``."""
    left = "*" if mode in (MODE_OPEN_LEFT, MODE_OPEN_BOTH) else ""
    right = "*" if mode in (MODE_OPEN_RIGHT, MODE_OPEN_BOTH) else ""
    return f"{left}{key}{right}"


def _explain_traps(b: _Builder) -> None:
    """A trap explains the conflict words inside it ("trade war" -> term:war; "торговая война" ->
    term:войн): found by running the terms' own automaton over each trap."""
    terms = ahocorasick.Automaton()
    for (key, mode), entries in b.keys.items():
        labels = tuple(e.label for e in entries if e.kind == "term")
        if labels:
            terms.add_word(padded(key, mode), labels)
    if not len(terms):
        return
    terms.make_automaton()
    for (key, _mode), entries in b.keys.items():
        if not any(e.kind == "trap" for e in entries):
            continue
        found = {lab for _, labs in terms.iter(f" {key} ") for lab in labs}
        for i, e in enumerate(entries):
            if e.kind == "trap":
                heads = tuple(sorted(h for h in found if h != "term:" + e.label.split(":", 1)[1]))
                entries[i] = e._replace(heads=heads)


def _mtime(path: str | None) -> float:
    if not path:
        return 0.0
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return -1.0


@lru_cache(maxsize=8)
def _load_cached(user_file: str | None, _mtime_key: float) -> Gazetteer:
    base_path = shipped_path()
    data = read_gazetteer_file(base_path)
    files = [str(base_path)]
    if user_file:
        if not Path(user_file).is_file():
            raise GazetteerError(f"{user_file}: gazetteer user file not found")
        data = merge(data, read_gazetteer_file(user_file))
        files.append(user_file)
    else:
        data = merge(data, {})
    languages: dict[str, Mapping[str, Any]] = {}
    for lang in _as_list(data.get("languages"), "languages"):
        path = language_path(str(lang))
        if not path.is_file():
            raise GazetteerError(f"{base_path}: language {lang!r} listed but {path} is missing")
        languages[str(lang)] = read_gazetteer_file(path)
        files.append(str(path))
    return compile_gazetteer(data, tuple(files), languages)


def load_gazetteer(user_file: str | None = None) -> Gazetteer:
    """The shipped gazetteer, with ``user_file`` (or ``$FEEDMON_GAZETTEER``) merged over it.

    Compiled once per process and file version: the pipeline builds a tagger per task run, and a
    cached automaton makes that free after the first time.
    """
    user_file = user_file or os.environ.get(ENV_VAR) or None
    return _load_cached(user_file, _mtime(user_file))
