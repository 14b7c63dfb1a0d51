"""The junk rules: ``feedmon/data/clean_rules.yaml`` merged with the user's file, compiled for speed.

Documented in ``docs/cleaning.md``; the user's file is ``FEEDMON_CLEAN_RULES`` (the ``clean`` section
of :class:`feedmon.config.Settings`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from feedmon.clean.fold import fold_punctuation
from feedmon.config import clean_rules_file_from_env

__all__ = ["VOID_TAGS", "CleanRules", "Junk", "default_rules"]

#: HTML elements without content: a drop selector naming one is applied with a regex, not a parser.
VOID_TAGS = frozenset({"img", "input", "embed", "source", "track", "wbr", "area", "param"})

_LIST_KEYS = (
    "drop_selectors",
    "line_patterns",
    "paragraph_patterns",
    "agency_disclaimers",
    "stop_patterns",
    "inline_patterns",
    "url_patterns",
    "title_patterns",
    "dateline_stopwords",
    "dateline_not_places",
)


_ESCAPE = re.compile(r"\\.")


def _check(patterns: list[str]) -> None:
    for p in patterns:  # compile one by one so a bad entry is named in the error
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"bad pattern in clean rules: {p!r}: {exc}") from None


def _flags(patterns: list[str]) -> int:
    """Rules are matched against lower-cased text; IGNORECASE (2-3x slower in ``re``) only when needed."""
    return re.IGNORECASE if any(c.isupper() for p in patterns for c in _ESCAPE.sub("", p)) else 0


def _each(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
    """Patterns compiled one by one: ``re`` skips ahead to a leading literal, not in an alternation."""
    _check(patterns)
    return tuple(re.compile(p, _flags([p])) for p in patterns)


def _alternation(patterns: list[str]) -> re.Pattern[str] | None:
    """One compiled regex for a list of patterns: one C-level scan per line instead of N."""
    if not patterns:
        return None
    _check(patterns)
    return re.compile("|".join(f"(?:{p})" for p in patterns), _flags(patterns))


_LEADING_SPACES = re.compile(r"\\s\*(?![*+?{])")  # a pattern that starts with \s* (not \s*?, \s*+)


def _search_hints(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
    """For the :func:`_alternation` of ``patterns``: one regex per pattern that finds something in
    every text the alternation finds something in, and fast.

    ``re`` skips ahead to a pattern's leading literal but tries an alternation at every position
    (~3 µs per title). A leading ``\\s*`` may match nothing, so the pattern without it matches
    wherever the pattern does, and starts with what ``re`` can skip ahead to.
    """
    flags = _flags(patterns)
    hints = []
    for p in patterns:
        m = _LEADING_SPACES.match(p)
        try:
            hints.append(re.compile(p[m.end() :] if m else p, flags))
        except re.error:
            hints.append(re.compile(p, flags))
    return tuple(hints)


@dataclass(frozen=True)
class Junk:
    """One paragraph pattern or agency disclaimer, compiled on its own.

    Not one big alternation: ``re`` can skip ahead to a pattern's leading literal ("auto",
    "all rights"), which it cannot do for an alternation of groups (measured 1 µs vs 14 µs
    per line).
    """

    regex: re.Pattern[str]
    anchored: bool  # several ``^`` patterns share one regex, tried at the start only
    disclaimer: bool


def _junk_list(junk: list[tuple[str, bool]]) -> tuple[Junk, ...]:
    """Disclaimers before paragraph patterns; per kind, the ``^`` ones as one alternation
    (one ``match`` call), the others one by one (``search`` skips ahead to their literal)."""
    _check([p for p, _ in junk])
    out: list[Junk] = []
    for disclaimer in (True, False):
        anchored = [p[1:] for p, d in junk if d is disclaimer and p.startswith("^")]
        if anchored:
            if disclaimer:  # keep them apart: each may name its own group ``agency``
                out += [Junk(re.compile(p, _flags([p])), True, True) for p in anchored]
            else:
                out.append(Junk(re.compile("|".join(f"(?:{p})" for p in anchored), _flags(anchored)), True, False))
        out += [
            Junk(re.compile(p, _flags([p])), False, disclaimer)
            for p, d in junk
            if d is disclaimer and not p.startswith("^")
        ]
    return tuple(out)


_SIMPLE_TAG = re.compile(r"[a-zA-Z][\w-]*")


def _split_selectors(
    selectors: list[str],
) -> tuple[tuple[str, ...], frozenset[str], frozenset[str], str, frozenset[str] | None, tuple[str, ...]]:
    """``(tags, .classes, #ids, other selectors as one CSS string, their class/id tokens, their attributes)``.

    lexbor's CSS engine costs ~30 µs per query even when nothing matches, so the common selector
    shapes avoid it: plain tags go with ``strip_tags`` (or a regex for void ones), bare ``.class``
    and ``#id`` selectors are cut out of the markup as strings (:func:`_cut_marked`). Only the rest
    goes to a CSS query, and only when the markup has one of the tokens or attributes they name
    (tokens None: always).
    """
    tags: list[str] = []
    classes: set[str] = set()
    ids: set[str] = set()
    other: list[str] = []
    tokens: set[str] | None = set()
    attrs: set[str] = set()
    for group in selectors:
        for sel in (x.strip() for x in group.split(",")):
            if not sel:
                continue
            if _SIMPLE_TAG.fullmatch(sel):
                tags.append(sel.lower())
                continue
            if sel[0] in ".#" and _SIMPLE_TAG.fullmatch(sel[1:]):
                (classes if sel[0] == "." else ids).add(sel[1:])
                continue
            other.append(sel)
            found = re.findall(r"[.#]([\w-]+)", sel)
            named = re.findall(r"\[([\w-]+)", sel)
            attrs.update(named)
            if tokens is not None:
                if found or named:
                    tokens.update(found)
                else:
                    tokens = None
    return (
        tuple(dict.fromkeys(tags)),
        frozenset(classes),
        frozenset(ids),
        ", ".join(other),
        (frozenset(tokens) if tokens is not None else None),
        tuple(sorted(attrs)),
    )


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Lists extend (unless named in ``replace:``), mappings merge, scalars replace."""
    out = copy.deepcopy(base)
    replace = set(extra.get("replace") or [])
    for key, value in extra.items():
        if key == "replace":
            continue
        old = out.get(key)
        if isinstance(old, list) and isinstance(value, list) and key not in replace:
            out[key] = old + [v for v in value if v not in old]
        elif isinstance(old, dict) and isinstance(value, dict) and key not in replace:
            merged = dict(old)
            merged.update(value)
            out[key] = merged
        else:
            out[key] = value
    return out


@dataclass
class CleanRules:
    """The compiled junk rules. Build with :meth:`load`; the raw mapping stays in ``data``."""

    data: dict[str, Any]
    drop_void: re.Pattern[str] | None = None  # void elements among the selectors, removed by regex
    drop_tag_names: tuple[str, ...] = ()
    drop_tags: re.Pattern[str] | None = None  # finds any of drop_tag_names in markup
    drop_classes: frozenset[str] = frozenset()
    drop_ids: frozenset[str] = frozenset()
    drop_css: str = ""
    drop_css_tokens: frozenset[str] | None = None
    drop_css_attrs: tuple[str, ...] = ()
    line_re: re.Pattern[str] | None = None
    junk: tuple[Junk, ...] = ()  # paragraph patterns and agency disclaimers
    stop_re: re.Pattern[str] | None = None
    inline: tuple[re.Pattern[str], ...] = ()
    url_re: re.Pattern[str] | None = None
    title_re: re.Pattern[str] | None = None
    title_hints: tuple[re.Pattern[str], ...] = ()  # title_re finds nothing where none of them does
    drop_bare_urls: bool = True
    backslash_continuations: bool = True
    agency_names: dict[str, str] = field(default_factory=dict)
    dateline_stopwords: frozenset[str] = frozenset()
    not_places: frozenset[str] = frozenset()
    boilerplate: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CleanRules:
        """Compile a rules mapping (already merged)."""
        for key in _LIST_KEYS:
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"clean rules: {key!r} must be a list of strings (quote YAML words ON/YES/NO)")
        names: dict[str, str] = {}
        for canonical, spellings in (data.get("agencies") or {}).items():
            for s in [canonical, *(spellings or [])]:
                names[fold_punctuation(str(s)).lower()] = str(canonical)
        junk = [(p, False) for p in data.get("paragraph_patterns") or []]
        junk += [(p, True) for p in data.get("agency_disclaimers") or []]
        tag_names, classes, ids, css, css_tokens, css_attrs = _split_selectors(data.get("drop_selectors") or [])
        void = [t for t in tag_names if t in VOID_TAGS]
        tag_names = tuple(t for t in tag_names if t not in VOID_TAGS)
        return cls(
            data=data,
            drop_void=re.compile(rf"<(?:{'|'.join(void)})\b[^>]*>", re.IGNORECASE) if void else None,
            drop_tag_names=tag_names,
            drop_tags=re.compile(rf"<(?:{'|'.join(tag_names)})\b", re.IGNORECASE) if tag_names else None,
            drop_classes=classes,
            drop_ids=ids,
            drop_css=css,
            drop_css_tokens=css_tokens,
            drop_css_attrs=css_attrs,
            line_re=_alternation(data.get("line_patterns") or []),
            junk=_junk_list(junk),
            stop_re=_alternation(data.get("stop_patterns") or []),
            inline=_each(data.get("inline_patterns") or []),
            url_re=_alternation(data.get("url_patterns") or []),
            title_re=_alternation(data.get("title_patterns") or []),
            title_hints=_search_hints(data.get("title_patterns") or []),
            drop_bare_urls=bool(data.get("drop_bare_urls", True)),
            backslash_continuations=bool(data.get("backslash_continuations", True)),
            agency_names=names,
            dateline_stopwords=frozenset(w.upper() for w in data.get("dateline_stopwords") or []),
            not_places=frozenset(w.lower() for w in data.get("dateline_not_places") or []),
            boilerplate=dict(data.get("boilerplate") or {}),
        )

    @classmethod
    def load(cls, path: str | None = None) -> CleanRules:
        """The packaged rules, with ``path`` (or else ``$FEEDMON_CLEAN_RULES``) merged over them."""
        base = yaml.safe_load(resources.files("feedmon").joinpath("data/clean_rules.yaml").read_text("utf-8"))
        user = path or clean_rules_file_from_env()
        if user:
            extra = yaml.safe_load(Path(user).expanduser().read_text(encoding="utf-8")) or {}
            if not isinstance(extra, dict):
                raise ValueError(f"clean rules file {user}: top level must be a mapping")
            base = _merge(base, extra)
        return cls.from_dict(base)

    def agency_name(self, credit: str) -> str | None:
        """Canonical short name for a known agency spelling, else None."""
        return self.agency_names.get(fold_punctuation(credit).strip().lower())


@lru_cache(maxsize=8)
def _cached_rules(env_value: str | None) -> CleanRules:
    return CleanRules.load(env_value)


def default_rules() -> CleanRules:
    """The rules :func:`clean_article` uses when none are passed (cached per ``FEEDMON_CLEAN_RULES``)."""
    return _cached_rules(clean_rules_file_from_env())
