"""Exact and near-duplicate detection: one row per article, one ``story_id`` per story.

Two layers, both deterministic (same inputs give the same outputs whatever their order):

* **Exact duplicates** are dropped: the same canonical URL, the same normalised content from the
  same source, or the same guid of the same feed (see *guids* below), against today's snapshot and
  the lookback window, so yesterday's story re-listed today is not new.
* **Near duplicates** (one agency story carried by many outlets with small edits) are kept as
  rows but share a ``story_id``. Candidates come from MinHash LSH over word 3-grams
  (:mod:`feedmon.textsig`), and are then verified on the exact shingle sets, so the cost grows
  linearly with the number of articles and no pair is trusted on a hash collision. A row the
  bands miss is looked up by its rarer title words: a short copy under another headline, or a
  listing that gives a title only, joins its story when the text rule or the title-only rule
  (rare shared names, the same event) says so.
* **One story is one event, not one template.** A verified pair is still two stories when what
  tells events apart differs in the same wording (another place, party, date, magnitude, time;
  another toll unless within hours), and text that many items carry under different headlines
  (a series blurb, a standard paragraph) does not count as shared when the headlines disagree.

Guids are not trusted blindly. Article ids come from the canonical URL when there is one (see
:func:`make_article_id`); a guid match only counts as a duplicate when the two items also carry the
same story, and a feed that gives one guid to different items in the same run has its guids
ignored for that run. See ``docs/dedup.md`` for the rules and the measured quality and speed.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np

from feedmon.ids import content_hash, make_article_id
from feedmon.models import Article
from feedmon.pool import map_chunks
from feedmon.textsig import (
    BandIndex,
    HeadlineIndex,
    SignatureParams,
    Signatures,
    compute_signatures,
    content_words,
    event_conflicts,
    headline_words,
    overlap,
    titles_agree,
)
from feedmon.vocab import AGENCY_FEED

log = logging.getLogger(__name__)

__all__ = [
    "DEDUP_FIELDS",
    "HISTORY_FIELDS",
    "STORY_FIELDS",
    "AnchorScreen",
    "DayStories",
    "DedupResult",
    "DedupRows",
    "SameStory",
    "StoryIndex",
    "content_hash",
    "dedup_rows",
    "deduplicate",
    "make_article_id",
]

#: Rows whose shingle, event and headline sets stay cached (each cache is emptied when it grows
#: past this; ~3 KB a shingle set). 4,096 rows made a 100k-row day of mostly unmatched rows
#: compute each set twice (rule 5 compares a row with rows further back); 16,384 cost 120 MiB and
#: saved 22 % of dedup's CPU there (13.1 -> 10.2 s, the same stories).
_CACHED_ROWS = 16_384

_V = TypeVar("_V")
_K = TypeVar("_K")


class _RowCache(dict[int, _V]):
    """Per-row values made on first use (``make(row)``), emptied when past :data:`_CACHED_ROWS`
    rows: what is asked again is mostly recent rows and stories' first rows."""

    def __init__(self, make: Callable[[int], _V]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, row: int) -> _V:
        if len(self) > _CACHED_ROWS:
            self.clear()
        value = self[row] = self.make(row)
        return value


@dataclass(frozen=True, slots=True)
class SameStory:
    """Verification rule for a candidate pair (tuned on ``eval/dedup`` dev, see ``docs/dedup.md``).

    Two texts carry the same story when most of the shorter one's word 3-grams occur in the
    longer one (containment copes with truncation and added footers), with a floor of shared
    3-grams so two short generic texts do not match; or, for copies hit by typos and rewording
    (each typo breaks three 3-grams), when a fair share of 3-grams *and* most content words agree.
    Different stories on one topic share words (Najaf, Sadr, cleric) but rarely phrases.

    The other fields are used by :class:`StoryIndex`: a shingle seen under about
    ``boilerplate_titles`` different headlines is a blurb when the headlines of a pair disagree;
    one specific headline (``same_title_words`` content words) within ``same_title_hours`` is one
    story whatever the first lines; :meth:`events_differ` vetoes pairs reporting another event.
    A row that matches nothing that way is looked up by its ``anchor_words`` rarest title words
    among rows of the last ``anchor_hours``: the text rule again (a short copy under another
    headline shares too few 3-grams for a band), then :meth:`headlines_agree` (a listing that
    gives a title only).
    """

    min_containment: float = 0.5
    min_shared: int = 3
    typo_containment: float = 0.3
    min_word_containment: float = 0.7
    min_shared_words: int = 4
    min_root_containment: float = 0.25
    boilerplate_titles: int = 4
    same_title_hours: float = 12.0
    same_title_words: int = 4
    update_hours: float = 12.0
    anchor_hours: float = 36.0
    anchor_words: int = 3
    anchor_lookback: int = 3
    headline_share: float = 0.7
    title_only_weight: float = 4.0

    def headlines_agree(
        self,
        a: tuple[frozenset[str], frozenset[str], frozenset[str]],
        b: tuple[frozenset[str], frozenset[str], frozenset[str]],
        weight: Callable[[frozenset[str]], float],
    ) -> float:
        """Score in (0, 1] when a title-only item is the other item's story, else 0.

        ``a`` and ``b`` are (title words, lede words, anchors) of :func:`~feedmon.textsig.headline_words`.
        For a pair the text rule (:meth:`check`) cannot judge: a listing that gives a title only
        (its text adds at most one word, the outlet's name) under its own headline. It is the
        story when ``headline_share`` of its title's content words are in the other's title or
        lede (both title-only: in the other title) and the two share names or numbers
        (capitalised words, digits) rare in the batch: ``weight`` of the shared anchors (summed
        ``log(rows / titles carrying the word)``) of at least ``title_only_weight``. Topic words
        and common names ("Trump", "Ukraine") do not make a copy: a follow-up whose headline
        contains the listing's shares them too. The event check still follows. Two items with
        text of their own are left to the text rule (a looser lede rule merged a court hearing
        with the next day's ruling, and found no copy the text rule missed).
        """
        (ta, la, aa), (tb, lb, ab) = a, b
        only_a, only_b = len(la - ta) <= 1, len(lb - tb) <= 1
        if not (only_a or only_b):
            return 0.0
        if only_a and only_b:
            short = min(len(ta), len(tb))
            share = len(ta & tb) / short if short else 0.0
        else:
            t, other = (ta, tb | lb) if only_a else (tb, ta | la)
            short, share = len(t), len(t & other) / len(t) if t else 0.0
        if short < 3 or share < self.headline_share:
            return 0.0
        return share if weight(aa & ab) >= self.title_only_weight else 0.0

    def events_differ(self, conflicts: tuple[int, int, int], hours_apart: float = math.inf) -> bool:
        """Two texts that passed :meth:`check` report different events (see ``docs/dedup.md``).

        ``conflicts`` is (names, counts, figures) from :func:`feedmon.textsig.event_conflicts`:
        the same wording around a different place, party, date, magnitude, time or toll. A
        different place, party, day, magnitude or clock time is another event; a different
        plain count (a toll, a number of people) within ``update_hours`` is the same event's
        toll updated ("killed 5" becomes "killed 7" in a later version), later it is another.
        """
        names, counts, figures = conflicts
        return names > 0 or figures > 0 or (counts > 0 and hours_apart > self.update_hours)

    def check(
        self,
        a: frozenset[int],
        b: frozenset[int],
        word_sets: Callable[[], tuple[frozenset[str], frozenset[str]]] | None = None,
    ) -> float:
        """Score in (0, 2] when 3-gram sets ``a`` and ``b`` are the same story, else 0.

        ``word_sets`` gives the two content-word sets; it is called only in the typo zone.
        """
        inter, contain, jac = overlap(a, b)
        if inter < self.min_shared:
            return 0.0
        if contain >= self.min_containment:
            return contain + jac
        if contain >= self.typo_containment and word_sets is not None:
            wa, wb = word_sets()
            if wa and wb:
                shared = len(wa & wb)
                if shared >= self.min_shared_words and shared / min(len(wa), len(wb)) >= self.min_word_containment:
                    return contain + jac
        return 0.0


#: The fields :func:`deduplicate` reads of ``history`` rows (the days before; read only): callers
#: may read just these from older snapshots.
HISTORY_FIELDS = (
    "article_id",
    "feed_id",
    "source",
    "url",
    "guid",
    "title",
    "text",
    "published_at",
    "first_seen_at",
    "content_hash",
    "story_id",
)
#: The fields :func:`deduplicate` reads of the day's rows (new and published): the history's, and
#: the agency credit that decides a story's canonical copy. It writes :data:`STORY_FIELDS`.
DEDUP_FIELDS = (*HISTORY_FIELDS, "agency")
#: The fields :func:`deduplicate` sets on the day's rows.
STORY_FIELDS = ("story_id", "is_canonical", "duplicate_of", "source_count")


@dataclass
class DedupResult:
    """Outcome of :func:`deduplicate` for one run. ``articles`` are the day's rows: the ones
    published already first, then the new ones."""

    articles: list[Article]
    new_ids: set[str]
    exact_duplicates: int
    new_per_feed: dict[str, int]
    broken_guid_feeds: set[str] = field(default_factory=set)
    stories: int = 0


@dataclass
class DedupRows:
    """The rows :func:`dedup_rows` reads, column by column: row ``k`` of every column is one
    article. The pipeline builds them straight from Arrow columns, without a record or a Python
    string per article (at a million rows records cost 1.9 GiB, lists of strings 1 GiB; these
    0.4); :func:`deduplicate` builds them from records.

    What dedup only compares for equality is given as codes (``*_code``: equal values, equal
    codes; -1 for none or empty): the article id, canonical URL, guid and content hash.
    ``first_seen`` and ``published`` are epoch seconds (``published`` is ``inf`` when the feed
    gave no date); ``story_id`` is read of the rows before the candidates only (empty: not in a
    story yet), ``agency`` of the day's rows only (None for history rows)."""

    article_id: Sequence[str]
    id_code: Sequence[int]
    feed_id: Sequence[str]
    source: Sequence[str]
    url_code: Sequence[int]
    guid_code: Sequence[int]
    content_code: Sequence[int]
    title: Sequence[str]
    text: Sequence[str]
    story_id: Sequence[str]
    agency: Sequence[str | None]
    first_seen: Sequence[float]
    published: Sequence[float]

    def __len__(self) -> int:
        return len(self.article_id)

    @classmethod
    def of(cls, articles: Sequence[Article]) -> DedupRows:
        """The columns of ``articles`` (records)."""

        def column(name: str) -> list[Any]:
            return [getattr(a, name) for a in articles]

        return cls(
            article_id=column("article_id"),
            id_code=_codes(column("article_id"), empty=True),
            feed_id=column("feed_id"),
            source=column("source"),
            url_code=_codes(column("url")),
            guid_code=_codes(column("guid")),
            content_code=_codes(column("content_hash")),
            title=column("title"),
            text=column("text"),
            story_id=column("story_id"),
            agency=column("agency"),
            first_seen=array("d", (_epoch(a.first_seen_at) for a in articles)),
            published=array("d", (_epoch(a.published_at) for a in articles)),
        )

    def time(self, k: int) -> float:
        """When row ``k`` was published (first seen when the feed gave no date): the story rules' clock."""
        published = self.published[k]
        return published if published != math.inf else self.first_seen[k]


def _codes(values: Iterable[str | None], *, empty: bool = False) -> array[int]:
    """:attr:`DedupRows` codes of ``values`` (-1 for None, and for "" unless ``empty``)."""
    seen: dict[str, int] = {}
    return array("q", (seen.setdefault(v, len(seen)) if v or (empty and v is not None) else -1 for v in values))


@dataclass
class DayStories:
    """Outcome of :func:`dedup_rows`: the day's rows (``rows``: positions in the rows given, the
    ``published`` ones first, then the new ones, in processing order) with their story fields,
    one list per field (:data:`STORY_FIELDS`), in the order of ``rows``."""

    rows: list[int]
    published: int  # the first rows of ``rows``: the day's rows published already
    story_id: list[str]
    is_canonical: list[bool]
    duplicate_of: list[str | None]
    source_count: list[int]
    exact_duplicates: int
    new_per_feed: dict[str, int]
    broken_guid_feeds: set[str]
    stories: int

    @property
    def new(self) -> list[int]:
        """The rows the run adds (positions in the rows given)."""
        return self.rows[self.published :]


def _epoch(value: datetime | None) -> float:
    """Seconds since the epoch for ordering (naive means UTC; a missing time sorts last)."""
    if value is None:
        return math.inf
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _in_order(rows: DedupRows, ks: Iterable[int]) -> list[int]:
    """Rows ``ks`` in processing order: first seen, then published, then id (total and
    input-order independent)."""
    seen, published, ids = rows.first_seen, rows.published, rows.article_id
    return sorted(ks, key=lambda k: (seen[k], published[k], ids[k]))


def _canonical(rows: DedupRows, ks: Iterable[int]) -> int:
    """Canonical copy among rows ``ks``: a copy crediting a named agency, then one credited only
    as "agency copy", then the rest; among those the earliest published (the feed's own date;
    first seen when it has none: fetch order inside one run is noise), then first seen, then the
    lowest id."""
    agency, seen, ids = rows.agency, rows.first_seen, rows.article_id

    def key(k: int) -> tuple[int, float, float, str]:
        rank = 2 if not agency[k] else 1 if agency[k] == AGENCY_FEED else 0
        return (rank, rows.time(k), seen[k], ids[k])

    return min(ks, key=key)


class StoryIndex:
    """Online story clustering of a batch of texts over LSH candidates.

    Rows are clustered in index order (callers order them); each unassigned row joins the best
    verified story among those of its candidate rows (:class:`~feedmon.textsig.BandIndex`), or
    starts a new one. Candidates are computed in vectorised chunks; the per-row Python work is a
    handful of set intersections, so the cost per row does not grow with the batch. A candidate
    sharing at least ``accept_bands`` bands is accepted without verification of its text (with
    two rows per band that means an estimated Jaccard near 0.7, and a pair below 0.3 gets there
    with probability under 1e-5), but not without the event check: templates are near-identical.
    ``times`` (epoch seconds per row) enable the rules that count hours (same headline, updated
    toll); without them those rules are off and every other toll is another event.
    """

    def __init__(
        self,
        texts: Iterable[str | tuple[str, str]],
        *,
        text_of: Callable[[int], str | tuple[str, str]] | None = None,
        params: SignatureParams | None = None,
        rule: SameStory | None = None,
        times: Sequence[float] | None = None,
        max_stories_checked: int = 6,
        accept_bands: int = 9,
        chunk: int = 8192,
    ) -> None:
        self.params = params or SignatureParams()
        self.rule = rule or SameStory()
        self.sigs = compute_signatures(texts, self.params)
        n = len(self.sigs)
        self._bands = BandIndex(self.sigs.band_parts, self.sigs.sizes > 0)
        exact = [p[:, self.params.bands :] for p in self.sigs.band_parts]
        exact_keys = np.concatenate(exact) if exact else np.zeros((0, 2), dtype=np.uint64)
        self._title_key = array("Q", np.ascontiguousarray(exact_keys[:, 0]).tobytes())
        self._lede_key = array("Q", np.ascontiguousarray(exact_keys[:, 1]).tobytes())
        self._times = array("d", times) if times is not None else None
        self.sigs.band_parts = []  # only the index needs them: free them
        # per-row values in plain arrays: read for most candidates, and indexing numpy arrays
        # one element at a time costs more than the checks themselves
        self._digest = array("Q", self.sigs.event_digests.astype(np.uint64).tobytes())
        self._titles = array("Q", self.sigs.title_masks.astype(np.uint64).tobytes())
        self._boiler: bytes | None = None  # rows carrying boilerplate: found when first needed
        self._text_of = text_of
        self.story: list[int] = [-1] * n
        self._max_checked = max_stories_checked
        self._accept = accept_bands
        self._chunk = chunk
        self._cand: tuple[int, int, list[int], list[int], list[int]] = (0, 0, [], [], [])
        # shingle sets (row ~i: without boilerplate) and event sets of the rows compared; what
        # makes them refers to the signatures, not to the index (a cycle would keep the index and
        # its signatures alive after the run until a garbage collection: +1 GiB at 1M rows)
        sigs = self.sigs
        self._sets = _RowCache(lambda k: sigs.shingle_set(~k, strip_boilerplate=True) if k < 0 else sigs.shingle_set(k))
        self._events = _RowCache(sigs.event_set)
        self._mine: tuple[int, frozenset[int]] = (-1, frozenset())  # of the row being matched
        self._root: list[int] = []  # story -> its first row (-1: none yet)
        self._screen: AnchorScreen | None = None  # built when a row first matches nothing
        self._screened: _Screened | None = None  # the screen's answers computed by worker processes
        self.screened_rows = 0
        self.n_stories = 0

    def _shingles(self, i: int, strip: bool = False) -> frozenset[int]:
        return self._sets[~i if strip else i]

    def _strip(self, i: int, m: int) -> bool:
        """Leave boilerplate out when comparing rows ``i`` and ``m``?

        Only when their titles disagree and both carry some: copies of one story mostly keep
        its headline, so a big story (whose text every copy repeats) still matches on all of it,
        while items that share only a blurb under different headlines do not. Asked only of
        pairs about to be accepted; the boilerplate table is built the first time titles
        disagree (a batch of copies under one headline never needs it).
        """
        a, b = self._titles[i], self._titles[m]
        if a == b or titles_agree(a, b):
            return False
        if self._boiler is None:
            self.sigs.mark_boilerplate(self.rule.boilerplate_titles)
            assert self.sigs.boiler_count is not None
            self._boiler = (self.sigs.boiler_count > 0).astype(np.uint8).tobytes()
        return bool(self._boiler[i] and self._boiler[m])

    def _same_headline(self, i: int, m: int) -> bool:
        """One headline (4+ content words), the same hours: one story whatever the standfirsts.

        Outlets carrying a wire story often keep its headline and write their own first lines
        (or none: a listing gives the title only); a series that reuses one headline for
        different items does so on different days. Needs the items' times.
        """
        return _same_headline(self._title_key, self._titles, self._times, self.rule, i, m)

    def _same_event(self, i: int, m: int, s: int) -> bool:
        """Row ``i`` reports the event of member ``m`` and of the story's first row (if another).

        The first row is checked too: a member that lacks the place (a truncated copy) must not
        let another place's report in. Texts with the same entries (equal digests) or none at
        all cannot disagree, and a copy that opens like the other (:meth:`_same_opening`) is not
        another event: that settles most copies without building a set.
        """
        digest = self._digest
        mine = digest[i]
        if not mine:
            return True
        root = self._root[s]
        dm, dr = digest[m], digest[root]
        check_m = dm and dm != mine and not self._same_opening(i, m)
        check_r = dr and dr != mine and dr != dm and not self._same_opening(i, root)
        if not check_m and not check_r:
            return True
        if self._mine[0] != i:
            self._mine = (i, self.sigs.event_set(i))
        events = self._mine[1]
        for x in (m, root) if check_m and check_r else (m,) if check_m else (root,):
            conflicts = event_conflicts(events, self._events[x])
            if conflicts[0] + conflicts[1] + conflicts[2] and self.rule.events_differ(
                conflicts, self._hours_apart(i, x)
            ):
                return False
        return True

    def _same_opening(self, i: int, m: int) -> bool:
        """The same specific headline (4+ content words) over the same first eight words: what
        the event is has been said, later differences are added detail or an updated version."""
        return (
            self._title_key[i] == self._title_key[m]
            and self._lede_key[i] == self._lede_key[m]
            and self._titles[i].bit_count() >= self.rule.same_title_words
        )

    def _hours_apart(self, i: int, m: int) -> float:
        return math.inf if self._times is None else abs(self._times[i] - self._times[m]) / 3600

    def _words(self, i: int) -> frozenset[str]:
        assert self._text_of is not None
        return content_words(self._text_of(i))

    def _candidates(self, i: int) -> tuple[list[int], list[int]]:
        lo, hi, off, rows, counts = self._cand
        if not lo <= i < hi:
            lo, hi = i, min(i + self._chunk, len(self.story))
            o, d, c = self._bands.candidates(lo, hi)
            off, rows, counts = o.tolist(), d.tolist(), c.tolist()
            self._cand = (lo, hi, off, rows, counts)
        a, b = off[i - lo], off[i - lo + 1]
        return rows[a:b], counts[a:b]

    def assign(self, i: int, story: int) -> None:
        """Put row ``i`` into an already known story (e.g. from history)."""
        self.story[i] = story
        root = self._root
        if story >= len(root):
            root.extend([-1] * (story + 1 - len(root)))
        if root[story] < 0:
            root[story] = i
        if story >= self.n_stories:
            self.n_stories = story + 1

    def new_story(self) -> int:
        self.n_stories += 1
        return self.n_stories - 1

    def _agrees_with_root(self, i: int, s: int, cands: list[int], counts: list[int]) -> bool:
        """Row ``i`` also resembles the first row of story ``s`` (guards against chaining).

        Without it, a copy that lifts a background paragraph from another story could pull that
        other story's next copies into its own story, one weak link at a time. Sharing two LSH
        bands with the first row settles it cheaply; otherwise the shingle sets are compared.
        """
        root = self._root[s]
        strip = self._strip(i, root)
        if root in cands and counts[cands.index(root)] >= 2 and not strip:
            return True
        _, contain, _ = overlap(self._shingles(i, strip), self._shingles(root, strip))
        if contain >= self.rule.min_root_containment:
            return True
        if self._text_of is None:
            return False
        wa, wb = self._words(i), self._words(root)
        return bool(wa and wb) and len(wa & wb) / min(len(wa), len(wb)) >= self.rule.min_word_containment

    def match(self, i: int) -> int:
        """Best verified story for row ``i`` among the earlier rows, or -1."""
        cands, counts = self._candidates(i)
        if not cands:
            return self._anchored(i)
        story = self.story
        root = self._root
        titles, digest, title_key, lede_key = self._titles, self._digest, self._title_key, self._lede_key
        title, mine = titles[i], digest[i]
        my_title, my_lede = title_key[i], lede_key[i]
        specific = title.bit_count() >= self.rule.same_title_words
        tried: dict[int, int] = {}  # story -> members tried
        best_score, best_story = 0.0, -1
        for m, c in zip(cands, counts, strict=True):  # most shared bands first
            s = story[m]
            if s < 0 or s == best_story:
                continue
            # the cheap tests inline (same headline, same event entries): most copies stop there
            if (
                c >= self._accept
                and best_story < 0
                and (root[s] == m or self._agrees_with_root(i, s, cands, counts))
                and (titles[m] == title or not self._strip(i, m))
                and (
                    not mine
                    or (
                        root[s] == m
                        and (
                            digest[m] in (0, mine) or (specific and title_key[m] == my_title and lede_key[m] == my_lede)
                        )
                    )
                    or self._same_event(i, m, s)
                )
            ):
                return s
            n = tried.get(s, 0)
            if n >= 2 or (n == 0 and len(tried) >= self._max_checked):
                continue
            tried[s] = n + 1
            score = self._text_score(i, m, s, cands, counts)
            if score > best_score or (score and score == best_score and s < best_story):
                best_score, best_story = score, s
            if score:
                tried[s] = 2
        return best_story if best_story >= 0 else self._anchored(i)

    def _text_score(self, i: int, m: int, s: int, cands: list[int], counts: list[int]) -> float:
        """:meth:`SameStory.check` of rows ``i`` and ``m`` (member of story ``s``), boilerplate left
        out when their titles disagree, or the same headline within hours; 0 unless ``i`` also
        resembles the story's first row and reports the same event."""
        words = None if self._text_of is None else (lambda: (self._words(i), self._words(m)))
        score = self.rule.check(self._shingles(i), self._shingles(m), words)
        if score and self._titles[m] != self._titles[i] and self._strip(i, m):
            score = self.rule.check(self._shingles(i, True), self._shingles(m, True), words)
        if not score and self._same_headline(i, m):
            score = self.rule.min_containment
        if score and self._root[s] != m and not self._agrees_with_root(i, s, cands, counts):
            return 0.0
        if score and not self._same_event(i, m, s):
            return 0.0
        return score

    def screen(self) -> AnchorScreen:
        """The batch's :class:`AnchorScreen` (built when a row first matches nothing)."""
        if self._screen is None:
            assert self._text_of is not None
            self._screen = AnchorScreen(
                self.sigs, self._title_key, self._titles, self._times, self.rule, self._text_of, shingles=self._sets
            )
        return self._screen

    def screen_ahead(self, rows: range, texts: Sequence[tuple[str, str]], workers: int) -> None:
        """Compute the :class:`AnchorScreen` of ``rows`` in ``workers`` processes while this one
        clusters (``texts``: the batch's (title, text), a list the workers get a copy of). The
        stories found are the same; rows whose answer is not there yet are waited for."""
        if self._times is None or not rows:
            return
        # the workers' copy: what the screen reads, nothing the clustering changes meanwhile
        sigs = dataclasses.replace(
            self.sigs, band_parts=[], events=[], event_offsets=[], boiler_table=None, boiler_count=None
        )
        screen = AnchorScreen(sigs, self._title_key, self._titles, self._times, self.rule, texts.__getitem__)
        self._screened = _Screened(screen, rows, workers)

    def _anchored(self, i: int) -> int:
        """Best story for row ``i`` among earlier rows sharing its rarer title words, or -1.

        Asked only when the LSH candidates gave nothing: re-titled copies and title-only
        listings share few 3-grams with their story, so few bands. Candidates are the latest
        rows (``anchor_lookback`` per word, within ``anchor_hours``) whose title carries one of
        the row's ``anchor_words`` rarest title words and at least one other of its title
        words (:meth:`AnchorScreen.pairs`); each is judged by the text rule first (a short copy
        the bands missed), then by :meth:`SameStory.headlines_agree`. A headline match must hold
        for the story's first row too (or the text must resemble it) and the events must agree:
        a weak link never pulls a row into a story whose first row it does not resemble. Pairs
        the screen found unable to score are only counted (up to ``max_stories_checked``).
        """
        rule = self.rule
        if self._times is None or self._text_of is None:
            return -1
        screen = self.screen()
        got = self._screened.get(i) if self._screened is not None else None
        pairs, may = got if got is not None else (screen.pairs(i), None)
        if not pairs:
            return -1
        heads = screen.heads
        mine_short = heads.short(i)
        story, root = self.story, self._root
        best_score, best_story = 0.0, -1
        checked: set[int] = set()
        for k, m in enumerate(pairs):  # latest first
            s = story[m]
            if s < 0 or s in checked:
                continue
            checked.add(s)
            if may is None or may[k]:
                score = self._text_score(i, m, s, [], [])
                if score:
                    score += 2.0  # a text match beats a headline match
                elif mine_short or heads.short(m):
                    mine = screen.headline(i)
                    score = rule.headlines_agree(mine, screen.headline(m), heads.weight)
                    r = root[s]
                    if (
                        score
                        and r != m
                        and not self._agrees_with_root(i, s, [], [])
                        and not rule.headlines_agree(mine, screen.headline(r), heads.weight)
                    ):
                        score = 0.0
                    if score and not self._same_event(i, m, s):
                        score = 0.0
                if score > best_score or (score and score == best_score and s < best_story):
                    best_score, best_story = score, s
            if len(checked) >= self._max_checked:
                break
        return best_story

    def close(self, *, cancel: bool = False) -> None:
        """Let go of the screen's workers (after the last row; ``cancel``: the clustering failed,
        stop them after their chunks in hand); ``screened_rows`` says how many rows their answers
        served."""
        if self._screened is not None:
            self._screened.close(cancel=cancel)
            self.screened_rows = self._screened.answered
            self._screened = None

    def add(self, i: int) -> int:
        """Cluster row ``i`` (join the best matching story or start one)."""
        s = self.match(i)
        if s < 0:
            s = self.new_story()
        self.assign(i, s)
        return s


def _same_headline(
    title_key: array[int], titles: array[int], times: array[float] | None, rule: SameStory, i: int, m: int
) -> bool:
    """See :meth:`StoryIndex._same_headline` (shared with :class:`AnchorScreen`)."""
    return (
        times is not None
        and title_key[i] == title_key[m]
        and abs(times[i] - times[m]) / 3600 <= rule.same_title_hours
        and titles[i].bit_count() >= rule.same_title_words
    )


#: Rows per chunk of :func:`screen_rows` sent to a worker process.
SCREEN_ROWS = 4096
#: Most rows (history and the day's included) a batch may have to be screened by worker processes:
#: each worker holds a copy of all their shingles and texts (about 1 KB a row); larger batches, and
#: daemonic processes (which may not start workers), screen in-process.
SCREEN_MAX_ROWS = 250_000


class AnchorScreen:
    """What the anchored lookup (:meth:`StoryIndex._anchored`) reads of the batch alone, not of
    the stories found so far: which earlier rows a row is compared with (:meth:`pairs`), and
    whether such a pair can score at all (:meth:`may_score`). Most rows reach the lookup (they
    match nothing) and most of their pairs cannot score, so a large batch computes this in worker
    processes while it clusters (:meth:`StoryIndex.screen_ahead`) and the clustering judges only
    the pairs that can: the same stories, the CPU-heavy part on the other cores.
    """

    def __init__(
        self,
        sigs: Signatures,
        title_key: array[int],
        titles: array[int],
        times: array[float] | None,
        rule: SameStory,
        text_of: Callable[[int], str | tuple[str, str]],
        shingles: _RowCache[frozenset[int]] | None = None,
    ) -> None:
        self.sigs, self.title_key, self.titles, self.times, self.rule = sigs, title_key, titles, times, rule
        self.text_of = text_of
        self._caches(shingles)

    def _caches(self, shingles: _RowCache[frozenset[int]] | None = None) -> None:
        """``shingles``: the clustering's cache of row shingle sets (rows ``i >= 0``), shared in-process."""
        self._heads: HeadlineIndex | None = None
        self._sets = shingles if shingles is not None else _RowCache(self.sigs.shingle_set)
        text_of = self.text_of  # not self: no cycle (see StoryIndex's caches)
        self.headline = _RowCache(lambda i: _headline_words(text_of(i))).__getitem__

    def __getstate__(self) -> dict[str, Any]:
        """Sent to worker processes without its caches (each builds its own)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_heads", "_sets", "headline")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._caches()

    @property
    def heads(self) -> HeadlineIndex:
        if self._heads is None:
            self._heads = HeadlineIndex(self.sigs)
        return self._heads

    def pairs(self, i: int) -> list[int]:
        """Earlier rows to compare row ``i`` with, latest first: those sharing one of its
        ``anchor_words`` rarest title words (``anchor_lookback`` per word), within
        ``anchor_hours``, with at least two title words in common."""
        rule, times, heads = self.rule, self.times, self.heads
        title = heads.title(i)
        if len(title) < 2 or times is None:
            return []
        found = heads.earlier(i, rule.anchor_words, rule.anchor_lookback)
        window = rule.anchor_hours * 3600
        return [
            m
            for m in sorted(set(found), reverse=True)
            if abs(times[i] - times[m]) <= window and len(title & heads.title(m)) >= 2
        ]

    def may_score(self, i: int, m: int) -> bool:
        """False when the pair cannot score in :meth:`StoryIndex._anchored`, whatever the stories:
        too few shared 3-grams for any text rule, not the same headline within hours, and not a
        title-only listing whose headline agrees with the other's."""
        rule = self.rule
        inter, contain, _ = overlap(self._sets[i], self._sets[m])
        if inter >= rule.min_shared and contain >= min(rule.min_containment, rule.typo_containment):
            return True
        if _same_headline(self.title_key, self.titles, self.times, rule, i, m):
            return True
        heads = self.heads
        if not (heads.short(i) or heads.short(m)):
            return False
        return rule.headlines_agree(self.headline(i), self.headline(m), heads.weight) > 0


def _headline_words(text: str | tuple[str, str]) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """:func:`~feedmon.textsig.headline_words` of a row's (title, text) or text."""
    return headline_words(*text) if isinstance(text, tuple) else headline_words("", text)


def screen_rows(screen: AnchorScreen, rows: tuple[int, int]) -> tuple[int, list[list[int]], list[bytes]]:
    """:meth:`AnchorScreen.pairs` and :meth:`AnchorScreen.may_score` of rows ``lo..hi-1`` (a
    worker's chunk): ``(lo, pairs per row, one flag byte per pair)``."""
    lo, hi = rows
    pairs = [screen.pairs(i) for i in range(lo, hi)]
    flags = [bytes(screen.may_score(i, m) for m in p) for i, p in zip(range(lo, hi), pairs, strict=True)]
    return lo, pairs, flags


class _Screened:
    """The answers of :func:`screen_rows` for ``rows``, computed by ``workers`` processes in chunks
    of :data:`SCREEN_ROWS` and read back in a thread, by row; chunks already passed are dropped.
    ``get`` gives None when the workers failed: the clustering then screens the row itself (the
    same answer, slower)."""

    def __init__(self, screen: AnchorScreen, rows: range, workers: int) -> None:
        self._first, self._step = rows.start, SCREEN_ROWS
        self._chunks: dict[int, tuple[list[list[int]], list[bytes]]] = {}
        self._done = False
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self.answered = 0
        spans = ((lo, min(lo + self._step, rows.stop)) for lo in range(rows.start, rows.stop, self._step))
        chunks = (span for span in spans if not self._stop.is_set())
        results = map_chunks(screen_rows, screen, chunks, workers=workers)
        self._thread = threading.Thread(target=self._run, args=(results,), name="feedmon-screen", daemon=True)
        self._thread.start()

    def _run(self, results: Iterator[tuple[int, list[list[int]], list[bytes]]]) -> None:
        try:
            for lo, pairs, flags in results:
                with self._cond:
                    self._chunks[lo] = (pairs, flags)
                    self._cond.notify_all()
        except Exception:  # the clustering screens the rows itself
            log.warning("screening rows in worker processes failed; dedup does it in-process", exc_info=True)
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def get(self, i: int) -> tuple[list[int], bytes] | None:
        if i < self._first:
            return None  # an older row (one without a story yet): not screened, screen it in-process
        lo = self._first + (i - self._first) // self._step * self._step
        with self._cond:
            while lo not in self._chunks and not self._done:
                self._cond.wait()
            got = self._chunks.get(lo)
            for old in [c for c in self._chunks if c < lo]:
                del self._chunks[old]
        if got is None:
            return None
        self.answered += 1
        return got[0][i - lo], got[1][i - lo]

    def close(self, *, cancel: bool = False) -> None:
        """Wait for the workers (``cancel``: no further chunks, only those in hand) and let go of
        the answers. Never leave the thread running: one left at interpreter shutdown can hang it."""
        if cancel:
            self._stop.set()
        self._thread.join()
        self._chunks.clear()


def cluster_texts(texts: Sequence[str], **kwargs: Any) -> list[int]:
    """Story number of each text, clustering them in the given order (for eval and benchmarks)."""
    index = StoryIndex(texts, text_of=texts.__getitem__, **kwargs)
    for i in range(len(index.story)):
        index.add(i)
    return index.story


def _same_story_as_first(rows: DedupRows, ks: Sequence[int], rule: SameStory) -> list[bool]:
    """Does each of rows ``ks[1:]`` carry the story of row ``ks[0]``? (the few guid checks of a run)"""
    sigs = compute_signatures([(rows.title[k], rows.text[k]) for k in ks])
    first, events = sigs.shingle_set(0), sigs.event_set(0)
    times = [rows.time(k) for k in ks]
    return [
        bool(rule.check(first, sigs.shingle_set(j)))
        and not rule.events_differ(event_conflicts(sigs.event_set(j), events), abs(times[j] - times[0]) / 3600)
        for j in range(1, len(ks))
    ]


def _put(index: dict[_K, int | list[int]], key: _K, k: int) -> None:
    """Add row ``k`` under ``key`` (one row is kept as an int: most keys have one)."""
    got = index.setdefault(key, k)
    if got != k:
        if isinstance(got, int):
            index[key] = [got, k]
        else:
            got.append(k)


def _under(index: dict[int, int | list[int]], key: int) -> list[int]:
    got = index.get(key)
    return [] if got is None else [got] if isinstance(got, int) else got


class _ExactIndex:
    """Id, URL, content and guid codes of the rows already kept (history, today, this run):
    flags for ids and URLs, rows under a content or guid code (with the source or feed compared
    on lookup: rows under one code are few)."""

    def __init__(self, rows: DedupRows, rule: SameStory) -> None:
        self.rows = rows
        self.ids = bytearray(len(rows))  # codes are below the number of rows
        self.urls = bytearray(len(rows))
        self.contents: dict[int, int | list[int]] = {}
        self.guids: dict[int, int | list[int]] = {}
        self.rule = rule

    def add(self, k: int) -> None:
        rows = self.rows
        self.ids[rows.id_code[k]] = 1
        if (url := rows.url_code[k]) >= 0:
            self.urls[url] = 1
        if (content := rows.content_code[k]) >= 0:
            _put(self.contents, content, k)
        if (guid := rows.guid_code[k]) >= 0:
            _put(self.guids, guid, k)

    def is_duplicate(self, k: int, broken_feeds: set[str]) -> bool:
        rows = self.rows
        url = rows.url_code[k]
        if self.ids[rows.id_code[k]] or (url >= 0 and self.urls[url]):
            return True
        if (content := rows.content_code[k]) >= 0:
            source = rows.source[k]
            if any(rows.source[m] == source for m in _under(self.contents, content)):
                return True
        guid, feed = rows.guid_code[k], rows.feed_id[k]
        if guid >= 0 and feed not in broken_feeds:
            others = [m for m in _under(self.guids, guid) if rows.feed_id[m] == feed]
            if others:
                return any(_same_story_as_first(rows, [k, *others], self.rule))
        return False


def _broken_guid_feeds(rows: DedupRows, ks: Sequence[int], rule: SameStory) -> set[str]:
    """Feeds that gave one guid to items carrying different stories (among rows ``ks``, this run)."""
    guids = np.fromiter((rows.guid_code[k] for k in ks), dtype=np.int64, count=len(ks))
    given = guids >= 0
    repeated = np.zeros(len(ks), dtype=bool)
    if given.any():
        counts = np.bincount(guids[given])
        repeated[given] = counts[guids[given]] > 1  # only guids given to several rows can be reused
    by_guid: dict[int, list[int]] = {}
    for j in np.flatnonzero(repeated).tolist():
        by_guid.setdefault(int(guids[j]), []).append(ks[j])
    broken: set[str] = set()
    for group in by_guid.values():
        feeds: dict[str, list[int]] = {}
        for k in group:
            feeds.setdefault(rows.feed_id[k], []).append(k)
        for feed_id, same in feeds.items():
            if feed_id in broken or len(same) < 2:
                continue
            distinct = {(rows.url_code[k], rows.content_code[k]) for k in same}
            if len(distinct) >= 2 and not all(_same_story_as_first(rows, same, rule)):
                broken.add(feed_id)
    return broken


def deduplicate(
    candidates: Sequence[Article],
    existing_today: Sequence[Article],
    history: Sequence[Article],
    *,
    lookback_days: int = 7,
    params: SignatureParams | None = None,
    rule: SameStory | None = None,
    workers: int = 1,
) -> DedupResult:
    """Drop exact duplicates among ``candidates`` and set the story fields of the whole day.

    ``existing_today`` rows keep everything but their story fields, whose ``story_id`` is kept
    too once set (stories are stable across runs); ``history`` (the lookback days before today)
    is read only. Story fields are written onto the returned rows (the candidate and existing
    objects themselves). See :func:`dedup_rows` (the same on columns) for the rest.
    """
    arts = [*history, *existing_today, *candidates]
    day = dedup_rows(
        DedupRows.of(arts),
        len(history),
        len(existing_today),
        lookback_days=lookback_days,
        params=params,
        rule=rule,
        workers=workers,
    )
    articles = [arts[k] for k in day.rows]
    for name in STORY_FIELDS:
        for art, value in zip(articles, getattr(day, name), strict=True):
            setattr(art, name, value)
    return DedupResult(
        articles=articles,
        new_ids={arts[k].article_id for k in day.new},
        exact_duplicates=day.exact_duplicates,
        new_per_feed=day.new_per_feed,
        broken_guid_feeds=day.broken_guid_feeds,
        stories=day.stories,
    )


def dedup_rows(
    rows: DedupRows,
    n_history: int,
    n_today: int,
    *,
    lookback_days: int = 7,
    params: SignatureParams | None = None,
    rule: SameStory | None = None,
    workers: int = 1,
) -> DayStories:
    """:func:`deduplicate` on columns: ``rows`` are the history (the first ``n_history``, read
    only), then the day's published rows (``n_today``), then the candidates.

    Exact duplicates among the candidates are dropped; every row of the day gets its story
    fields. ``is_canonical``, ``duplicate_of`` and ``source_count`` are per day: one canonical row
    per story in each daily snapshot. ``workers`` > 1: the anchored lookup's screen
    (:class:`AnchorScreen`) of the new rows is computed by that many worker processes while this
    one clusters (the same stories; worth it from about 20,000 new rows, for batches of up to
    :data:`SCREEN_MAX_ROWS` rows, history included).
    """
    rule = rule or SameStory()
    n_old_rows = n_history + n_today
    cands = _in_order(rows, range(n_old_rows, len(rows)))
    today = _in_order(rows, range(n_history, n_old_rows))
    if cands:
        horizon = rows.first_seen[cands[0]] - timedelta(days=lookback_days).total_seconds()
        past = _in_order(rows, (k for k in range(n_history) if rows.first_seen[k] >= horizon))
    else:
        past = _in_order(rows, range(n_history))

    # ---- exact duplicates
    broken = _broken_guid_feeds(rows, [*today, *cands], rule)
    exact = _ExactIndex(rows, rule)
    for k in past:
        exact.add(k)
    for k in today:
        exact.add(k)
    new: list[int] = []
    dropped = 0
    for k in cands:
        if exact.is_duplicate(k, broken):
            dropped += 1
            continue
        exact.add(k)
        new.append(k)

    del exact, cands  # not needed any more: free them before the biggest allocations

    # ---- near duplicates: stories
    pool = [*past, *today, *new]
    title, text, ids = rows.title, rows.text, rows.article_id
    screened = workers > 1 and len(pool) <= SCREEN_MAX_ROWS and not multiprocessing.current_process().daemon
    # the screen's workers get the texts as a list: the clustering reads that list too (each text
    # read from the rows once); else they are read from the rows when needed
    texts = [(title[k], text[k]) for k in pool] if screened else None
    index = StoryIndex(
        texts if texts is not None else ((title[k], text[k]) for k in pool),
        text_of=texts.__getitem__ if texts is not None else lambda i: (title[pool[i]], text[pool[i]]),
        params=params,
        rule=rule,
        times=array("d", (rows.time(k) for k in pool)),
    )
    n_old = len(past) + len(today)
    if texts is not None:
        index.screen_ahead(range(n_old, len(pool)), texts, workers)
    story_ids: list[str] = []
    story_num: dict[str, int] = {}  # of the stories of rows in a story already
    for i, k in enumerate(pool[:n_old]):
        if sid := rows.story_id[k]:
            s = story_num.get(sid)
            if s is None:
                s = story_num[sid] = index.new_story()
                story_ids.append(sid)
            index.assign(i, s)
    del story_num
    assigned = index.story
    try:
        for i, k in enumerate(pool):
            if assigned[i] >= 0:
                continue
            s = index.add(i)
            if s == len(story_ids):  # a new story: named after its first member
                story_ids.append(ids[k])
    except BaseException:
        index.close(cancel=True)
        raise
    index.close()
    day = [*today, *new]
    offset = len(past)
    story_of = [story_ids[s] for s in index.story[offset:]]
    del index  # the signatures: freed before the per-day fields

    # ---- per-day story fields
    canonical = [True] * len(day)
    duplicate_of: list[str | None] = [None] * len(day)
    source_count = [1] * len(day)
    members: dict[str, int | list[int]] = {}  # story -> positions in day
    for j, sid in enumerate(story_of):
        _put(members, sid, j)
    for js in members.values():
        if isinstance(js, int):
            continue
        first = _canonical(rows, (day[j] for j in js))
        n_sources = len({rows.source[day[j]] for j in js})
        for j in js:
            k = day[j]
            canonical[j] = k == first
            duplicate_of[j] = None if k == first else ids[first]
            source_count[j] = n_sources

    new_per_feed: dict[str, int] = {}
    for k in new:
        feed = rows.feed_id[k]
        new_per_feed[feed] = new_per_feed.get(feed, 0) + 1
    return DayStories(
        rows=day,
        published=len(today),
        story_id=story_of,
        is_canonical=canonical,
        duplicate_of=duplicate_of,
        source_count=source_count,
        exact_duplicates=dropped,
        new_per_feed=new_per_feed,
        broken_guid_feeds=broken,
        stories=len(members),
    )
