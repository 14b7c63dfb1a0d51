"""Load, merge and compile the conflict gazetteer into one Aho-Corasick automaton.

The gazetteer is data, not code (``feedmon/data/gazetteer.yaml``): conflict regions with their
aliases, the places inside them and the armed parties active there; demonyms and common forms of
country names on top of :mod:`pycountry`; the conflict vocabulary, the trap phrases that neutralise
it ("trade war") and the sport/market context words that damp it. Operators extend it without code
through a user file with the same layout, merged over the shipped one (see :func:`merge`).

Every key is normalised the same way as the text (:func:`normalize`) and wrapped in single spaces,
so one pass of the automaton over ``" " + normalize(text) + " "`` reports only whole-word matches:
no per-term regular expressions, no boundary checks after the fact.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import ahocorasick
import pycountry
import yaml

__all__ = [
    "ENV_VAR",
    "Entry",
    "Gazetteer",
    "GazetteerError",
    "Region",
    "compile_gazetteer",
    "load_gazetteer",
    "merge",
    "normalize",
    "read_gazetteer_file",
    "shipped_path",
]

ENV_VAR = "FEEDMON_GAZETTEER"

#: Entry kinds. WHERE evidence: region, place (named territory), demonym ("Iraqi": a country-wide
#: theatre named through its people, so a party as much as a place), umbrella (a wide region such as
#: the Sahel), party, country (any other country). WHAT evidence: term (and party).
#: trap: a phrase whose words would otherwise count as WHAT ("trade war"); it swallows them.
#: ignore: a phrase that swallows a place name inside it ("Latin America", "Georgia Tech").
#: sport / market / disaster: context words that damp the score of stories that merely mention a
#: war, or whose dead come from an accident.
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
)

# ASCII bytes -> lower-case letters/digits or a space; everything else is a separator.
_ASCII_TABLE = bytes(
    (c + 32 if 65 <= c <= 90 else c) if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122) else 32 for c in range(256)
)


_SPACES_RE = re.compile(rb"  +")  # collapsing on bytes beats str.split + join on long texts

# Undecomposable Latin letters that place names use ("Diyarbakır", "Xankəndi", "Łódź").
_LATIN_EXTRA = {
    "ı": "i", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae", "Æ": "AE",
    "œ": "oe", "Œ": "OE", "ə": "e", "Ə": "E", "þ": "th", "ð": "d",
}  # fmt: skip


_FOLD_CACHE: dict[str, str] = {}


def _fold_error(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler for one run of non-ASCII characters (after NFKD): combining marks vanish,
    a few Latin letters are spelt out, everything else becomes a separator. Runs repeat (quotes,
    dashes, accents), so their replacements are cached."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    chunk = exc.object[exc.start : exc.end]
    out = _FOLD_CACHE.get(chunk)
    if out is None:
        out = "".join(_LATIN_EXTRA.get(ch, " ") for ch in chunk if not unicodedata.combining(ch))
        if len(_FOLD_CACHE) < 4096:
            _FOLD_CACHE[chunk] = out
    return out, exc.end


codecs.register_error("feedmon.fold", _fold_error)


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
    """The merged gazetteer, compiled: ``automaton`` maps normalised keys to entry tuples."""

    version: str
    regions: dict[str, Region]
    keys: dict[str, tuple[Entry, ...]]
    automaton: Any = field(repr=False)  # padded key -> (length, first entry): one meaning per key
    files: tuple[str, ...] = ()


def normalize(text: str) -> str:
    """Lower-case, fold accents, turn every non-alphanumeric run into one space.

    No per-character Python loop, because feed text full of curly quotes and dashes is the common
    case: non-ASCII text is NFKD-decomposed and encoded to ASCII with a handler that drops combining
    marks and spells out a few Latin letters ("Diyarbakır", "Xankəndi"), so "Côte d’Ivoire" and
    "Cote d'Ivoire" meet at "cote d ivoire"; anything else non-ASCII (other scripts, symbols, curly
    quotes, dashes) becomes a separator.
    """
    if not text:
        return ""
    if text.isascii():
        raw = text.encode("ascii")
    else:
        # One C-level pass; the handler runs once per run of non-ASCII characters, not per character.
        raw = unicodedata.normalize("NFKD", text).encode("ascii", "feedmon.fold")
    return _SPACES_RE.sub(b" ", raw.translate(_ASCII_TABLE)).strip().decode("ascii")


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

    terms = {k: list(_as_list(v, f"terms.{k}")) for k, v in (base.get("terms") or {}).items()}
    for level, words in (user.get("terms") or {}).items():
        terms[level] = _union(terms.get(level, []), _as_list(words, f"user terms.{level}"))
    removed = {normalize(w) for w in _as_list(user.get("remove_terms"), "remove_terms")}
    if removed:
        terms = {lvl: [t for t in lst if normalize(str(t)) not in removed] for lvl, lst in terms.items()}
    out["terms"] = terms
    out["term_weights"] = {**(base.get("term_weights") or {}), **(user.get("term_weights") or {})}
    for key in ("traps", "ignore", "sport", "market", "disaster"):
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
    def __init__(self) -> None:
        self.keys: dict[str, list[Entry]] = {}

    def add(self, surface: str, entry: Entry) -> None:
        key = normalize(surface)
        if not key:
            return
        lst = self.keys.setdefault(key, [])
        if entry not in lst:
            lst.append(entry)


def compile_gazetteer(data: Mapping[str, Any], files: tuple[str, ...] = ()) -> Gazetteer:
    """Turn merged gazetteer data into regions, key entries and a built automaton."""
    b = _Builder()
    regions: dict[str, Region] = {}
    country_theatre: dict[str, str] = {}
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
        name_kind = "umbrella" if reg.get("umbrella") else "region"
        regions[name] = Region(
            name=name,
            countries=codes,
            kind=kind,
            period=str(reg.get("period", "")),
            sources=tuple(str(s) for s in _as_list(reg.get("sources"), where)),
        )
        if kind == "country":
            for c in codes:
                country_theatre.setdefault(c, name)
        names = [] if reg.get("match_name") is False else [name]
        for alias in [*names, *_as_list(reg.get("aliases"), where)]:
            b.add(str(alias), Entry(name_kind, f"region:{name}", name, codes, 1.0))
        for dem in _as_list(reg.get("demonyms"), where):
            b.add(str(dem), Entry("demonym", f"region:{name}", name, codes, 1.0))
        for j, place in enumerate(_as_list(reg.get("places"), where)):
            if isinstance(place, dict):
                pname = str(place.get("name", ""))
                pcodes = tuple(_check_code(c, f"{where} place {pname!r}") for c in _as_list(place.get("countries"), ""))
                palias = [pname, *_as_list(place.get("aliases"), f"{where} places[{j}]")]
            else:
                pname, pcodes, palias = str(place), (), [str(place)]
            for a in palias:
                b.add(str(a), Entry("place", f"place:{pname}", name, pcodes or codes, 1.0))
        for j, party in enumerate(_as_list(reg.get("parties"), where)):
            if isinstance(party, dict):
                pname = str(party.get("name", ""))
                palias = [pname, *_as_list(party.get("aliases"), f"{where} parties[{j}]")]
                weight = float(party.get("weight", 0.8))
            else:
                pname, palias, weight = str(party), [str(party)], 0.8
            for a in palias:
                b.add(str(a), Entry("party", f"party:{pname}", name, codes, weight))

    extras = data.get("countries") or {}
    codes_all = {c.alpha_2 for c in pycountry.countries} | set(extras)
    for code in sorted(codes_all):
        spec = extras.get(code, {})
        theatre = country_theatre.get(code)
        names = _country_names(code) + [str(a) for a in spec.get("aliases", [])]
        demonyms = [str(d) for d in spec.get("demonyms", [])]
        if theatre:
            tcodes = regions[theatre].countries
            for form in names:
                b.add(form, Entry("region", f"region:{theatre}", theatre, tcodes, 1.0))
            for form in demonyms:
                b.add(form, Entry("demonym", f"region:{theatre}", theatre, tcodes, 1.0))
        else:
            for form in names + demonyms:
                b.add(form, Entry("country", f"country:{code}", None, (code,), 0.5))

    weights = data.get("term_weights") or {}
    for level, words in (data.get("terms") or {}).items():
        if level not in weights:
            raise GazetteerError(f"terms.{level}: no weight for this level in 'term_weights'")
        for w in _as_list(words, f"terms.{level}"):
            b.add(str(w), Entry("term", f"term:{normalize(str(w))}", None, (), float(weights[level])))
    term_keys = {k for k, es in b.keys.items() if any(e.kind == "term" for e in es)}
    for kind in ("traps", "ignore", "sport", "market", "disaster"):
        label = kind.removesuffix("s")
        for w in _as_list(data.get(kind), kind):
            key = normalize(str(w))
            heads: tuple[str, ...] = ()
            if kind == "traps":
                padded = f" {key} "
                heads = tuple(sorted(f"term:{t}" for t in term_keys if f" {t} " in padded and t != key))
            b.add(str(w), Entry(label, f"{label}:{key}", None, (), 0.0, heads))

    # One meaning per key when the same words name two things: the first one added wins (regions,
    # places and parties before plain countries, terms before traps), so every key resolves
    # deterministically; ``keys`` keeps all meanings for inspection.
    automaton = ahocorasick.Automaton()
    keys: dict[str, tuple[Entry, ...]] = {}
    for key, entries in b.keys.items():
        tup = tuple(entries)
        keys[key] = tup
        padded = f" {key} "
        automaton.add_word(padded, (len(padded), tup[0]))
    automaton.make_automaton()
    return Gazetteer(
        version=str(data.get("version", "unversioned")),
        regions=regions,
        keys=keys,
        automaton=automaton,
        files=files,
    )


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
    return compile_gazetteer(data, tuple(files))


def load_gazetteer(user_file: str | None = None) -> Gazetteer:
    """The shipped gazetteer, with ``user_file`` (or ``$FEEDMON_GAZETTEER``) merged over it.

    Compiled once per process and file version: the pipeline builds a tagger per task run, and a
    cached automaton makes that free after the first time.
    """
    user_file = user_file or os.environ.get(ENV_VAR) or None
    return _load_cached(user_file, _mtime(user_file))
