"""Learned boilerplate: lines that recur across many articles of one source are site junk.

Rule files cannot list every outlet's footer ("Read all the Latest News, Breaking News and
Coronavirus News here"), but an outlet prints its footer under every article, so counting
lines per source finds them. A line is boilerplate for a source when, over the ``window_days``
days *before* the day being cleaned, it appeared in at least ``min_articles`` distinct articles of
that source and in at least ``min_share`` of them.

Determinism: the snapshot of day D must come out identical whenever D is reprocessed from its
raw archive, so decisions on day D use only statistics saved for days < D; what is observed on D
goes into D's own file and takes effect from D+1. Storage: ``<state_dir>/boilerplate/<day>.json``,
one small JSON document per day (counts per source, keyed by 64-bit hashes of the normalised line
and of the article key), written atomically. Observing is idempotent per article key, also
across the runs of one day (the day's file is read back and extended) and across days (an article
re-listed tomorrow is not counted again while yesterday's file is in the window).

A run's observations reach that file only once the run has published (statistics must not count
articles no snapshot holds): cleaning collects them (:meth:`BoilerplateModel.observations`), the
pipeline parks them with the run's work files, and ``publish`` adds them with :meth:`record`,
which counts each article once however often a run is replayed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from hashlib import blake2b
from typing import Any

from feedmon import storage
from feedmon.clean.rules import default_rules
from feedmon.config import CleanSettings

log = logging.getLogger(__name__)

__all__ = ["BoilerplateModel", "BoilerplateSettings", "line_key"]

_FORMAT_VERSION = 1
_DIGITS = re.compile(r"\d+")
_NON_WORD = re.compile(r"[\W_]+")


def _h(s: str) -> str:
    return blake2b(s.encode("utf-8"), digest_size=8).hexdigest()


# ASCII bytes that are not letters or digits: what ``_NON_WORD`` removes from an ASCII line.
_ASCII_NON_ALNUM = bytes(b for b in range(128) if not chr(b).isalnum())


def line_key(line: str) -> str:
    """Normalised form of a line for counting: case, punctuation and numbers ignored ("0 comment")."""
    if line.isascii():
        # every line of every article comes through here: one C-level ``translate`` instead of the
        # ``[\W_]+`` regex (~10x faster, same key); the digit regex only when there are digits
        key = line.lower().encode("ascii").translate(None, _ASCII_NON_ALNUM).decode("ascii")
        return key if key.isalpha() or not key else _DIGITS.sub("0", key)
    return _DIGITS.sub("0", _NON_WORD.sub("", line.casefold()))


@dataclass(frozen=True)
class BoilerplateSettings:
    """Thresholds; defaults come from ``boilerplate:`` in clean_rules.yaml, then the environment."""

    min_articles: int = 5
    min_share: float = 0.1
    window_days: int = 30
    min_chars: int = 3
    max_chars: int = 300

    @classmethod
    def from_rules(
        cls, values: dict[str, Any] | None = None, clean: CleanSettings | None = None
    ) -> BoilerplateSettings:
        """Rule-file values overridden by the run's ``FEEDMON_BOILERPLATE_*`` settings (``clean``;
        read from the environment when not handed in)."""
        v = dict(values or {})
        v.update((clean or CleanSettings.from_env()).boilerplate_overrides())
        s = cls(
            min_articles=int(v.get("min_articles", cls.min_articles)),
            min_share=float(v.get("min_share", cls.min_share)),
            window_days=int(v.get("window_days", cls.window_days)),
            min_chars=int(v.get("min_chars", cls.min_chars)),
            max_chars=int(v.get("max_chars", cls.max_chars)),
        )
        if s.min_articles < 1 or not 0.0 <= s.min_share <= 1.0 or s.window_days < 1:
            raise ValueError(f"boilerplate settings out of range: {s}")
        return s


@dataclass
class _SourceStats:
    articles: int = 0
    lines: dict[str, int] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {"articles": self.articles, "lines": dict(sorted(self.lines.items())), "seen": sorted(self.seen)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _SourceStats:
        return cls(
            articles=int(d.get("articles", 0)),
            lines={str(k): int(c) for k, c in (d.get("lines") or {}).items()},
            seen={str(x) for x in d.get("seen") or []},
        )


class BoilerplateModel:
    """Per-source line counts: frozen history (days before D) plus the day's own observations."""

    def __init__(self, settings: BoilerplateSettings | None = None) -> None:
        self.settings = settings or BoilerplateSettings.from_rules(None)
        self._history: dict[str, _SourceStats] = {}  # decides: days < D only
        self._today: dict[str, _SourceStats] = {}  # observed on D; saved, never used on D
        self._known: dict[str, frozenset[str]] = {}  # per source: boilerplate line keys (cache)
        self._observed: dict[str, dict[str, list[str]]] = {}  # this model's own observations, to record later

    # -- persistence --------------------------------------------------------------------------

    @staticmethod
    def _dir(state_dir: str) -> str:
        return storage.join(state_dir, "boilerplate")

    @staticmethod
    def _read(path: str) -> dict[str, _SourceStats]:
        try:
            doc = json.loads(storage.read_bytes(path))
            if doc.get("version") != _FORMAT_VERSION:
                raise ValueError(f"unknown version {doc.get('version')!r}")
            return {src: _SourceStats.from_json(d) for src, d in (doc.get("sources") or {}).items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError, AttributeError) as exc:
            # a damaged statistics file costs learned junk removal for a while, never a run
            log.warning("boilerplate stats %s unreadable (%s); ignored", path, exc)
            return {}

    @classmethod
    def load(cls, state_dir: str | None, day: date, *, settings: BoilerplateSettings | None = None) -> BoilerplateModel:
        """The model for cleaning ``day``: statistics of the ``window_days`` days before it.

        The day's own file (earlier runs of the same day) is read too, but only so that
        :meth:`save` extends it; it never influences :meth:`is_boilerplate` on ``day``.
        """
        if settings is None:
            settings = BoilerplateSettings.from_rules(default_rules().boilerplate)
        model = cls(settings)
        if not state_dir:
            return model
        folder = cls._dir(state_dir)
        first = day - timedelta(days=settings.window_days)
        for path in storage.glob(storage.join(folder, "*.json")):
            name = storage.basename(path).removesuffix(".json")
            try:
                d = date.fromisoformat(name)
            except ValueError:
                continue
            if first <= d < day:
                for src, stats in cls._read(path).items():
                    into = model._history.setdefault(src, _SourceStats())
                    into.articles += stats.articles
                    into.seen |= stats.seen
                    for k, c in stats.lines.items():
                        into.lines[k] = into.lines.get(k, 0) + c
            elif d == day:
                model._today = cls._read(path)
        return model

    @classmethod
    def record(cls, state_dir: str, day: date, observations: dict[str, Any]) -> int:
        """Add a published run's :meth:`observations` to ``day``'s statistics file; returns how many
        articles were new to it. Articles the file already counts are skipped, so recording one
        run twice (a replay, a replay racing the run) changes nothing. Callers serialise writers of
        one day (the pipeline holds the day's lock)."""
        model = cls(BoilerplateSettings())  # counting needs no thresholds
        model._today = cls._read(storage.join(cls._dir(state_dir), f"{day.isoformat()}.json"))
        added = sum(
            model._count(source, akey, keys)
            for source, articles in (observations.get("sources") or {}).items()
            for akey, keys in articles.items()
        )
        if added:
            model.save(state_dir, day)
        return added

    def observations(self) -> dict[str, Any]:
        """What :meth:`observe` counted on this model (per source, article key: its line keys), for
        :meth:`record` once the run that observed it has published."""
        return {"version": _FORMAT_VERSION, "sources": self._observed}

    def for_workers(self) -> BoilerplateModel:
        """A light copy for cleaning chunks in other processes: it decides exactly like this model
        (every source's boilerplate lines, computed here) but carries no statistics, so it does not
        know which articles earlier days or runs counted: filter what it observed with :meth:`unseen`."""
        light = BoilerplateModel(self.settings)
        light._known = {source: self._boilerplate_keys(source) for source in self._history}
        return light

    def take_observations(self) -> dict[str, dict[str, list[str]]]:
        """What :meth:`observe` counted since the last call (per source, article key: line keys),
        handed over once: a chunk's own observations, in order."""
        taken, self._observed = self._observed, {}
        return taken

    def fresh(self) -> BoilerplateModel:
        """Another light model deciding like this one (a :meth:`for_workers` copy) with nothing
        observed yet: one per chunk, when the chunks' observations are merged in another order
        than they were made."""
        light = BoilerplateModel(self.settings)
        light._known = self._known  # decisions only; equal for every copy
        return light

    def unseen(self, observations: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
        """``observations`` (per source, article key: line keys) without the articles this model
        has counted already: what :meth:`observe` on this model would have kept, in the same order."""
        kept: dict[str, dict[str, list[str]]] = {}
        for source, articles in observations.items():
            new = {akey: keys for akey, keys in articles.items() if not self._counted(source, akey)}
            if new:
                kept[source] = new
        return kept

    def save(self, state_dir: str, day: date) -> None:
        """Write the statistics observed on ``day`` (history + this file = stats as of its end)."""
        doc = {
            "version": _FORMAT_VERSION,
            "day": day.isoformat(),
            "sources": {src: st.to_json() for src, st in sorted(self._today.items()) if st.articles},
        }
        data = json.dumps(doc, separators=(",", ":"), sort_keys=False).encode("utf-8")
        storage.write_bytes_atomic(storage.join(self._dir(state_dir), f"{day.isoformat()}.json"), data)

    # -- learning and deciding ---------------------------------------------------------------

    def _key(self, line: str) -> str | None:
        n = len(line)
        if n < self.settings.min_chars or n > self.settings.max_chars:
            return None
        k = line_key(line)
        return _h(k) if k else None

    def observe(self, source: str, article_key: str, text: str, removed: Sequence[str] = ()) -> None:
        """Count the distinct lines of one article; a second call for the same article is a no-op.

        ``removed`` are the lines the model itself took out of ``text``
        (:attr:`feedmon.models.CleanText.boilerplate_removed`): they are counted too, because a
        footer must keep being counted while it is being removed, or it would fall out of the
        statistics and come back.
        """
        akey = _h(article_key)
        if self._counted(source, akey):
            return
        if removed:
            text = text + "\n" + "\n".join(removed)
        keys = sorted({k for line in text.split("\n") if (k := self._key(line.strip()))})
        self._add(source, akey, keys)
        self._observed.setdefault(source, {})[akey] = keys

    def _counted(self, source: str, akey: str) -> bool:
        hist = self._history.get(source)
        today = self._today.get(source)
        return (today is not None and akey in today.seen) or (hist is not None and akey in hist.seen)

    def _count(self, source: str, akey: str, keys: Sequence[str]) -> bool:
        """Count one article's distinct line keys unless it is counted already; True when counted now."""
        if self._counted(source, akey):
            return False
        self._add(source, akey, keys)
        return True

    def _add(self, source: str, akey: str, keys: Sequence[str]) -> None:
        """Count one article's distinct line keys (the caller checked it was not counted yet)."""
        today = self._today.get(source)
        if today is None:  # not setdefault: that would build a _SourceStats per article
            today = self._today[source] = _SourceStats()
        today.seen.add(akey)
        today.articles += 1
        for k in keys:
            today.lines[k] = today.lines.get(k, 0) + 1

    def _boilerplate_keys(self, source: str) -> frozenset[str]:
        known = self._known.get(source)
        if known is None:
            st = self._history.get(source)
            if st is None or not st.articles:
                known = frozenset()
            else:
                need = max(self.settings.min_articles, self.settings.min_share * st.articles)
                known = frozenset(k for k, c in st.lines.items() if c >= need)
            self._known[source] = known
        return known

    def is_boilerplate(self, source: str, line: str) -> bool:
        """True when ``line`` is learned junk for ``source`` (history before the model's day only)."""
        known = self._boilerplate_keys(source)
        if not known:
            return False
        k = self._key(line.strip())
        return k is not None and k in known

    def boilerplate_count(self, source: str) -> int:
        """How many distinct lines are currently boilerplate for ``source`` (for logs and tests)."""
        return len(self._boilerplate_keys(source))
