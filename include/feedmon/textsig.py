"""Text signatures for near-duplicate detection: word shingles, MinHash and LSH band keys, and the
event entries (numbers, names and dates in their context) that tell two near-identical reports of
different events apart.

Everything is computed for a whole batch of texts at once with numpy, because per-document Python
loops (as in ``datasketch``) dominate the cost of deduplicating millions of articles. Hashes are
computed from the bytes of words with fixed constants, never from Python's salted ``hash()``, so
the same text gets the same signature in every process and every run (story decisions must be
reproducible).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice, repeat

import numpy as np

__all__ = [
    "BandIndex",
    "HeadlineIndex",
    "SignatureParams",
    "Signatures",
    "compute_signatures",
    "content_words",
    "event_conflicts",
    "headline_words",
    "overlap",
    "titles_agree",
    "word_tokens",
]

_WORD_RE = re.compile(r"[^\W_]+")
_U64 = np.uint64
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class SignatureParams:
    """Shape of the signatures. ``bands * rows`` MinHash functions are computed per text."""

    shingle: int = 3
    bands: int = 16
    rows: int = 2
    seed: int = 20240611

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows


@dataclass(slots=True)
class Signatures:
    """Signatures of a batch of texts, row ``i`` belonging to ``texts[i]``.

    Kept in the chunks they were computed in (``chunk`` rows each), so that nothing is copied
    into one big array at the end: for chunk ``c``, ``shingles[c][offsets[c][j]:offsets[c][j + 1]]``
    are the 32-bit shingle hashes of row ``c * chunk + j`` (in text order, repeats kept) and ``band_parts[c][j]``
    its LSH keys (one per band). ``sizes[i] == 0`` marks a text with no words. ``events`` (same
    layout, ``event_offsets``) hold what tells one event from another (see :func:`event_conflicts`;
    ``event_digests`` is 0 for a text without entries and equal for texts with the same ones),
    ``title_masks`` a 64-bit mask of each title's content words (see :func:`titles_agree`), and
    ``title_units`` which of 32 bits the title sets in the boilerplate table (see
    :meth:`mark_boilerplate`). ``title_words`` (layout ``title_offsets``) are each title's content
    words as 32-bit hashes, for :class:`HeadlineIndex`; ``short`` marks texts whose body is at
    most three words longer than their title (a listing may give the title only).
    """

    chunk: int
    shingles: list[np.ndarray]
    offsets: list[np.ndarray]
    band_parts: list[np.ndarray]
    sizes: np.ndarray
    events: list[array[int]] = field(default_factory=list)
    event_offsets: list[array[int]] = field(default_factory=list)
    event_digests: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=_U64))
    title_masks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=_U64))
    title_units: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    boiler_bits: int = 0
    boiler_table: np.ndarray | None = None
    boiler_count: np.ndarray | None = None
    title_words: list[np.ndarray] = field(default_factory=list)
    title_offsets: list[np.ndarray] = field(default_factory=list)
    short: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def band_keys(self) -> np.ndarray:
        """All band keys as one (rows x bands) array (a copy; for inspection and tests)."""
        return np.concatenate(self.band_parts) if self.band_parts else np.zeros((0, 0), dtype=_U64)

    def shingle_set(self, i: int, *, strip_boilerplate: bool = False) -> frozenset[int]:
        """Exact shingle set of text ``i`` (used to verify LSH candidates).

        With ``strip_boilerplate``, shingles marked by :meth:`mark_boilerplate` are left out.
        """
        c, j = divmod(i, self.chunk)
        off = self.offsets[c]
        sh = self.shingles[c][off[j] : off[j + 1]]
        if strip_boilerplate and self.boiler_table is not None:
            sh = sh[~self.boiler_table[sh >> np.uint32(32 - self.boiler_bits)]]
        return frozenset(sh.tolist())

    def event_set(self, i: int) -> frozenset[int]:
        """Event entries of text ``i`` (numbers and names in their context), for :func:`event_conflicts`.

        A slice of the chunk's plain array (a few microseconds): clustering reads the rows of
        stories' first members anywhere in the batch, and a cache of per-chunk Python lists was
        refilled on most of those reads (1 s of a 100k-row batch).
        """
        c, j = divmod(i, self.chunk)
        off = self.event_offsets[c]
        return frozenset(self.events[c][off[j] : off[j + 1]])

    def title_word_set(self, i: int) -> frozenset[int]:
        """Content words of title ``i`` (32-bit word hashes)."""
        c, j = divmod(i, self.chunk)
        off = self.title_offsets[c]
        return frozenset(self.title_words[c][off[j] : off[j + 1]].tolist())

    def mark_boilerplate(self, min_titles: int) -> None:
        """Mark shingles that occur under about ``min_titles`` or more different titles.

        A series blurb or a standard paragraph is carried by many items with nothing else in
        common; the copies of one story mostly keep one headline (or a few). Counting the
        distinct titles of every shingle exactly would need a sort of all shingles; instead each
        shingle's bin in a table ORs in one of 32 bits picked by its item's title (the title's
        smallest content-word hash), and the set bits estimate the distinct titles (4 bits set:
        about 4-5 titles). Costs one pass over the shingles; bins are sized to the batch so
        that unrelated shingles rarely share one. Fills ``boiler_table`` (per bin) and
        ``boiler_count`` (marked shingles per row).
        """
        total = sum(len(s) for s in self.shingles)
        bits = int(min(23, max(16, math.ceil(math.log2(total + 1)) + 1)))
        table = np.zeros(1 << bits, dtype=np.uint32)
        shift = np.uint32(32 - bits)
        one = np.uint32(1)
        for c, (sh, off) in enumerate(zip(self.shingles, self.offsets, strict=True)):
            units = self.title_units[c * self.chunk : c * self.chunk + len(off) - 1]
            np.bitwise_or.at(table, sh >> shift, np.left_shift(one, np.repeat(units, np.diff(off)).astype(np.uint32)))
        marked = np.bitwise_count(table) >= min_titles
        counts = []
        for sh, off in zip(self.shingles, self.offsets, strict=True):
            cs = np.zeros(len(sh) + 1, dtype=np.int64)
            np.cumsum(marked[sh >> shift], out=cs[1:])
            counts.append((cs[off[1:]] - cs[off[:-1]]).astype(np.int32))
        self.boiler_bits, self.boiler_table = bits, marked
        self.boiler_count = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int32)


def content_words(text: str | tuple[str, str]) -> frozenset[str]:
    """Content words (stopwords left out) of a text or (title, text): robust to typos, weak alone.

    Computed on demand from the text rather than stored: only candidate pairs in the "typo
    zone" of :class:`feedmon.dedup.SameStory` need them. Plain strings: hashing one short text
    with numpy costs more in per-call overhead than the whole set in Python.
    """
    parts = text if isinstance(text, tuple) else (text,)
    return frozenset(w for part in parts for w in word_tokens(part) if w not in _STOPSET)


_HEAD_LEDE = 24  # words of a body read with its title by headline_words


def headline_words(title: str, text: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Title words, lede words (content words of the first 24 words of ``text``) and anchors.

    What the anchored matcher of :mod:`feedmon.dedup` compares when the text rule cannot: a
    listing that gives a title only, a copy under another headline. Words are stems (a plural
    or third-person "s" dropped: "pledges" and "pledge" agree; "virus", "crisis" keep theirs);
    *anchors* are the words written with a capital or a digit (names and numbers: what a
    rewrite keeps). Plain Python on demand, for the few rows that reach the
    anchored matcher (numpy's per-call cost would dominate on one short text).
    """
    words: list[str] = []
    anchors: set[str] = set()
    n_title = 0
    for part, limit in ((title, None), (text, _HEAD_LEDE)):
        folded = part if part.isascii() else _ascii_text(part)
        for tok in _WORD_RE.findall(folded)[:limit]:
            w = tok.lower()
            if w in _STOPSET:
                continue
            if w[-1] == "s" and w[-2:-1] not in ("s", "u", "i", "") and len(w.encode("utf-8")) >= 4:
                w = w[:-1]
            words.append(w)
            if tok[0].isdigit() or "A" <= tok[0] <= "Z":
                anchors.add(w)
        if limit is None:
            n_title = len(words)
    return frozenset(words[:n_title]), frozenset(words[n_title:]), frozenset(anchors)


def _fold(text: str) -> str:
    """Casefold, then drop accents (NFKD, combining marks removed)."""
    folded = text.casefold()
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded).translate(_COMBINING)
    return folded


def word_tokens(text: str) -> list[str]:
    """Casefolded words without punctuation or accents: what "same content" compares."""
    return _WORD_RE.findall(_fold(text))


# combining marks (accents after NFKD) mapped to nothing: one C-level translate per text
_COMBINING = (
    dict.fromkeys(range(768, 880))
    | dict.fromkeys(range(6832, 6912))
    | dict.fromkeys(range(7616, 7680))
    | dict.fromkeys(range(8400, 8448))
)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Vectorised splitmix64 finaliser: turns weak combinations into well-mixed 64-bit hashes."""
    with np.errstate(over="ignore"):
        x = x + _U64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
        return x ^ (x >> _U64(31))


def _mult(j: int) -> int:
    """Odd multiplier for the j-th word of a shingle, so word order matters."""
    return ((0xC2B2AE3D27D4EB4F * (2 * j + 1)) & _MASK64) | 1


_KEY_MASK = (1 << 63) - 1
_LEDE_WORDS = 8


_TITLE_END = "zqxjtitleendzqxj"  # sentinel words: never produced by real text
_BODY_END = "zqxjbodyendzqxj"
_CHUNK_TEXTS = 4096


# ASCII letters and digits kept (A-Z lowered), other ASCII bytes to spaces, UTF-8 bytes kept:
# on ASCII text, ``translate`` + ``split`` gives exactly the words of :func:`word_tokens`.
_ASCII_WORDS = bytes(
    b if (48 <= b <= 57 or 97 <= b <= 122 or b >= 128) else (b + 32 if 65 <= b <= 90 else 32) for b in range(256)
)


_SEQ_MULTS = np.array([_mult(j) for j in range(64)], dtype=_U64)


def _seq_key(h: np.ndarray, starts: np.ndarray, lengths: np.ndarray, tag: int) -> np.ndarray:
    """Order-sensitive 63-bit key of each word run ``h[starts[i] : starts[i] + lengths[i]]``."""
    n = len(starts)
    acc = np.zeros(n, dtype=_U64)
    total = int(lengths.sum())
    with np.errstate(over="ignore"):
        if total:
            seg0 = np.cumsum(lengths) - lengths  # where each run starts in the gathered array
            within = np.arange(total, dtype=np.int64) - np.repeat(seg0, lengths)
            sel = np.repeat(starts, lengths) + within
            np.add.at(acc, np.repeat(np.arange(n), lengths), h[sel] * _SEQ_MULTS[np.minimum(within, 63)])
        acc = acc + lengths.astype(_U64) * _U64(0x9E3779B97F4A7C15) + _U64(tag)
    return _splitmix64(acc) & _U64(_KEY_MASK)


@dataclass(slots=True)
class _Chunk:
    """What :func:`_word_chunks` gives for one chunk of texts (see there)."""

    words: np.ndarray
    counts: np.ndarray
    exact: np.ndarray
    events: np.ndarray
    event_counts: np.ndarray
    title_masks: np.ndarray
    title_units: np.ndarray
    title_words: np.ndarray
    title_counts: np.ndarray
    short: np.ndarray


def _word_hashes(texts: Iterable[str | tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word hashes, counts and exact keys of all chunks of :func:`_word_chunks` (for tests)."""
    parts = list(_word_chunks(texts))
    if not parts:
        return np.zeros(0, dtype=_U64), np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=_U64)
    return (
        np.concatenate([p.words for p in parts]),
        np.concatenate([p.counts for p in parts]),
        np.concatenate([p.exact for p in parts]),
    )


# Non-ASCII punctuation that tells sentences and numbers apart, made ASCII; accents (combining
# marks after NFKD) dropped.
_TO_ASCII: dict[int, str | None] = _COMBINING | {
    ord(k): v
    for k, v in {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
    }.items()
}
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _fold_run(m: re.Match[str]) -> str:
    return "".join(c.casefold() if c.isalnum() else " " for c in m.group())


def _ascii_text(text: str) -> str:
    """``text`` as the batch tokeniser reads it: accents stripped, punctuation made ASCII.

    Lowering ASCII letters and turning every other ASCII byte into a space then gives the words
    of :func:`word_tokens`, while capitals, sentence ends and "3.3" stay visible for the event
    entries. Letters left outside ASCII (Cyrillic, Greek...) are casefolded here: their capitals
    are not seen.
    """
    folded = unicodedata.normalize("NFKD", text).translate(_TO_ASCII)
    return folded if folded.isascii() else _NON_ASCII.sub(_fold_run, folded)


def _word_chunks(texts: Iterable[str | tuple[str, str]]) -> Iterator[_Chunk]:
    """Per chunk of texts: word hashes, per-text word counts, exact keys and event entries.

    A text given as ``(title, body)`` also gets keys for its whole title (3+ words) and for the
    first eight words of its body (copies often keep one verbatim); titles or bodies too short to
    be specific get keys of their own that match nothing. Texts are tokenised a chunk at a time
    (one pass over the bytes of thousands of texts joined by sentinel words), which removes the
    per-text Python overhead that dominated the cost. The bytes are read twice: lowered for the
    words, as written for capitals and punctuation (:func:`_events`).
    """
    h_title, h_body = _word_hash(_TITLE_END), _word_hash(_BODY_END)
    sep_t, sep_b = f" {_TITLE_END} ", f" {_BODY_END} "
    row0 = 0
    it = iter(texts)
    while batch := list(islice(it, _CHUNK_TEXTS)):
        pairs = [text if isinstance(text, tuple) else ("", text) for text in batch]
        # accents are stripped per text, and only where there are any: NFKD over a whole chunk
        # whenever one of its texts has a curly quote would cost more than all the rest
        titles = [t if t.isascii() else _ascii_text(t) for t, _ in pairs]
        bodies = [b if b.isascii() else _ascii_text(b) for _, b in pairs]
        n = len(pairs)
        joined = "".join(chain.from_iterable(zip(titles, repeat(sep_t, n), bodies, repeat(sep_b, n), strict=True)))
        raw = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)
        low = raw.tobytes().translate(_ASCII_WORDS)
        low_arr = np.frombuffer(low, dtype=np.uint8)
        starts, lengths, chars = _word_spans(low_arr)
        h = _hash_spans(low_arr, starts, lengths, chars)
        t_end = np.flatnonzero(h == _U64(h_title))
        b_end = np.flatnonzero(h == _U64(h_body))
        prev_b = np.concatenate([[-1], b_end[:-1]])
        t_len = t_end - prev_b - 1
        b_len = b_end - t_end - 1
        own = (np.arange(row0, row0 + n, dtype=_U64) << _U64(2)) | _U64(1 << 63)
        k = np.empty((n, 2), dtype=_U64)
        k[:, 0] = np.where(t_len >= 3, _seq_key(h, prev_b + 1, t_len, 1), own)
        lede = np.minimum(b_len, _LEDE_WORDS)
        k[:, 1] = np.where(b_len >= _LEDE_WORDS, _seq_key(h, t_end + 1, lede, 2), own | _U64(1))
        events, event_counts, masks, units, tw, tw_counts = _events(raw, low_arr, starts, lengths, h, t_end, b_end)
        keep = np.ones(len(h), dtype=bool)
        keep[t_end] = False
        keep[b_end] = False
        yield _Chunk(
            h[keep],
            (t_len + b_len).astype(np.int64),
            k,
            events,
            event_counts,
            masks,
            units,
            tw,
            tw_counts,
            (b_len <= t_len + 3).astype(np.uint8),
        )
        row0 += n


# ---------------------------------------------------------------------------- event entries
# What tells two events apart when their wording is the same: numbers (tolls, magnitudes,
# times, dates, scores) and names (places, parties), each seen in its context. An entry packs,
# in 64 bits: 22 bits of the context (the word before, or the word after, with the side), the
# class (2 bits), 14 bits of the token, then for names (to tell a typo from another name) the
# length (4 bits) and the letters it uses (22 bits: a-z with j, q, x, z folded onto i, k, s).
EV_NAME, EV_COUNT, EV_FIGURE = 0, 1, 2
_LEN_SHIFT = 22
_LETTER_BIT = np.array(["abcdefghiklmnoprstuvwy".index(c) for c in "abcdefghiiklmnopkrstuvwsys"])
_LETTER_OF_BYTE = np.zeros(256, dtype=np.int64)  # byte -> its letter's bit (0 for a non-letter)
_LETTER_OF_BYTE[97:123] = np.left_shift(1, _LETTER_BIT)
_EVENTS_PER_TEXT = 128
_CTX_SHIFT, _CLS_SHIFT, _TOK_SHIFT = 42, 40, 26
_LETTERS = (1 << 22) - 1
# bytes before a capitalised word that make it a sentence start rather than a name
_SENTENCE_START = np.zeros(256, dtype=bool)
_SENTENCE_START[list(b'.!?:;"([\n\r\t')] = True
_SENTENCE_END = np.zeros(256, dtype=bool)
_SENTENCE_END[list(b".!?\"')")] = True
_NUMBER_JOIN = np.zeros(256, dtype=bool)  # "3.3", "4:09", "1,000" are one number
_NUMBER_JOIN[list(b".,:")] = True
_LEFT, _RIGHT = _U64(0x243F6A8885A308D3), _U64(0x13198A2E03707344)


def _events(
    raw: np.ndarray,
    low: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    h: np.ndarray,
    t_end: np.ndarray,
    b_end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Event entries per text (flat, with counts), title content-word masks and title units, and
    the title's content words (32 bits, with counts: see :func:`_title_words`).

    Numbers are digit runs joined by single ``.``, ``,`` or ``:`` ("3.3", "4:09" are *figures*,
    "1,000" and "5" *counts*). Names are capitalised content words that do not start a
    sentence, title words only when the title is in sentence case (in Title Case every word is
    capitalised); months and weekdays count wherever they stand. Each token gets one entry for
    the word before it and one for the word after it (title and body ends are no context):
    "magnitude 3.3 quake near Gilroy" and "magnitude 4.3 quake near Ridgecrest" share the
    contexts and differ in the tokens. A word cut short (before "..." or at the end of a body
    that stops mid-sentence) is left out. The first ``_EVENTS_PER_TEXT`` entries of a text are
    kept: title and lede carry what an event is. Only capitalised and digit words are looked at
    one by one, so the cost is a fraction of hashing the words.
    """
    n, nw = len(b_end), len(h)
    prev_b = np.concatenate([[-1], b_end[:-1]])
    first_raw, first_low = raw[starts], low[starts]
    is_num = (first_low >= 48) & (first_low <= 57)
    masks, units, n_tw, tw, tw_counts = _title_words(h, prev_b, t_end, is_num)
    cand = np.flatnonzero(is_num | ((first_raw >= 65) & (first_raw <= 90)))
    if not len(cand):
        return np.zeros(0, dtype=_U64), np.zeros(n, dtype=np.int64), masks, units, tw, tw_counts
    row = np.searchsorted(b_end, cand)
    num = is_num[cand]
    in_title = cand < t_end[row]
    first = (cand == prev_b[row] + 1) | (cand == t_end[row] + 1)
    hc = h[cand]
    content = (hc & _U64(1)).astype(bool)
    # the nearest byte before the word that is not a space (two spaces at most are skipped)
    st = starts[cand]
    back = [raw[np.maximum(st - d, 0)] for d in (1, 2, 3)]
    before = np.where(back[0] != 32, back[0], np.where(back[1] != 32, back[1], back[2]))
    initial = first | _SENTENCE_START[before] | (st == 0)

    # Title Case: more than half of the title's content words after the first are capitalised
    up_tw = in_title & content & ~num & ~first
    title_case = 2 * np.bincount(row[up_tw], minlength=n) > n_tw
    # a lone capital is an initial or half of "U.S.": it stands for nothing on its own
    is_name = ~initial & content & ~num & ~(in_title & title_case[row]) & (lengths[cand] > 1)
    is_name |= np.isin(hc, _DATE_WORDS)  # "on May 2" / "on June 10": wherever they stand

    # numbers: runs of digit words joined by one separator byte ("3.3", "4:09", "1,000")
    ends = starts + lengths
    nums = cand[num]
    joined = np.zeros(len(nums), dtype=bool)
    sep = np.zeros(len(nums), dtype=np.uint8)
    if len(nums) > 1:
        p = nums[:-1]
        sep[1:] = raw[ends[p]]
        last_low = low[ends[p] - 1]
        joined[1:] = (
            (nums[1:] == p + 1)
            & (starts[nums[1:]] == ends[p] + 1)
            & _NUMBER_JOIN[sep[1:]]
            & (last_low >= 48)
            & (last_low <= 57)
        )
    head = ~joined
    gid = np.cumsum(head) - 1
    g_first = nums[head]
    g_size = np.bincount(gid, minlength=len(g_first))
    g_last = g_first + g_size - 1
    g_figure = np.bincount(gid[joined & (sep != 44)], minlength=len(g_first)) > 0  # "." or ":"
    g_tok = _seq_key(h, g_first, g_size, 3)

    # a word cut short ("Nag..." for Nagorno, a body that stops mid-sentence) tells nothing
    names = cand[is_name]
    tok_first = np.concatenate([names, g_first])
    tok_last = np.concatenate([names, g_last])
    trow = np.concatenate([row[is_name], row[num][head]])
    after1 = raw[np.minimum(ends[tok_last], len(raw) - 1)]
    after2 = raw[np.minimum(ends[tok_last] + 1, len(raw) - 1)]
    cut = ((after1 == 46) & (after2 == 46)) | ((tok_last == b_end[trow] - 1) & ~_SENTENCE_END[after1])
    keep_tok = ~cut
    tok = np.concatenate([hc[is_name], g_tok])[keep_tok]
    cls = np.concatenate([np.full(len(names), EV_NAME), np.where(g_figure, EV_FIGURE, EV_COUNT)])[keep_tok]
    is_nm = np.arange(len(keep_tok)) < len(names)
    letters = np.zeros(len(keep_tok), dtype=_U64)
    if len(names):
        nl = lengths[names]
        pos = np.repeat(starts[names], nl) + (np.arange(int(nl.sum())) - np.repeat(np.cumsum(nl) - nl, nl))
        bits = _LETTER_OF_BYTE[low[pos]]
        letters[: len(names)] = np.bitwise_or.reduceat(bits, np.cumsum(nl) - nl).astype(_U64)
        letters[: len(names)] |= np.minimum(nl, 15).astype(_U64) << _U64(_LEN_SHIFT)
    letters, is_nm = letters[keep_tok], is_nm[keep_tok]
    tok_first, tok_last, trow = tok_first[keep_tok], tok_last[keep_tok], trow[keep_tok]

    # one entry per side whose neighbour is a word of the same title or body (not a sentinel); a
    # stopword, a short word ("in", "the", "s") or a capitalised one (a name next to a name) is
    # too common or too loose alone: the word beyond it joins the context
    prev_i, next_i = tok_first - 1, tok_last + 1
    ok_l = (prev_i != prev_b[trow]) & (prev_i != t_end[trow])
    ok_r = (next_i != t_end[trow]) & (next_i != b_end[trow])
    hp = np.concatenate([h[b_end[:1]], h])  # hp[i + 1] == h[i]; a body end before the chunk
    near_l, near_r = np.maximum(prev_i, 0), np.minimum(next_i, nw - 1)
    ctx_l = _context(hp[near_l + 1], hp[near_l], _weak(near_l, lengths, first_raw), _LEFT)
    far_r = hp[np.minimum(next_i + 1, nw - 1) + 1]
    ctx_r = _context(hp[near_r + 1], far_r, _weak(near_r, lengths, first_raw), _RIGHT)
    body = ((tok >> _U64(50)) << _U64(_TOK_SHIFT)) | (cls.astype(_U64) << _U64(_CLS_SHIFT)) | letters
    ctx_mask = _U64(((1 << 22) - 1) << _CTX_SHIFT)
    entries = np.concatenate([((ctx_l & ctx_mask) | body)[ok_l], ((ctx_r & ctx_mask) | body)[ok_r]])
    where = np.concatenate([tok_first[ok_l], tok_first[ok_r]])
    order = np.argsort(where, kind="stable")
    entries, erow = entries[order], np.concatenate([trow[ok_l], trow[ok_r]])[order]
    per_row = np.bincount(erow, minlength=n)
    rank = np.arange(len(erow)) - (np.cumsum(per_row) - per_row)[erow]
    keep = rank < _EVENTS_PER_TEXT
    return entries[keep], np.bincount(erow[keep], minlength=n).astype(np.int64), masks, units, tw, tw_counts


def _weak(at: np.ndarray, lengths: np.ndarray, first_raw: np.ndarray) -> np.ndarray:
    """Words too loose to be a context alone: one or two letters, or capitalised."""
    first = first_raw[at]
    return (lengths[at] <= 2) | ((first >= 65) & (first <= 90))


def _title_words(
    h: np.ndarray, prev_b: np.ndarray, t_end: np.ndarray, is_num: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per title: a 64-bit mask of its content words (for :func:`titles_agree`), the bit its
    smallest content-word hash picks in the boilerplate table (bit 0 when it has none), and
    how many of its words after the first are content words and not numbers (for Title Case);
    then its content words as 32-bit hashes and how many (for :class:`HeadlineIndex`)."""
    n = len(t_end)
    t_len = t_end - prev_b - 1
    total = int(t_len.sum())
    masks = np.zeros(n, dtype=_U64)
    units = np.zeros(n, dtype=np.uint8)
    if not total:
        none = np.zeros(n, dtype=np.int32)
        return masks, units, np.zeros(n, dtype=np.int64), np.zeros(0, dtype=np.uint32), none
    seg = np.cumsum(t_len) - t_len
    idx = np.repeat(prev_b + 1, t_len) + (np.arange(total) - np.repeat(seg, t_len))
    th = h[idx]
    content = (th & _U64(1)).astype(bool)
    plain = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(content & ~is_num[idx], out=plain[1:])
    n_plain = plain[seg + t_len] - plain[np.minimum(seg + 1, seg + t_len)]  # the first word left out
    has = t_len > 0
    bits = np.where(content, np.left_shift(_U64(1), th >> _U64(58)), _U64(0))
    masks[has] = np.bitwise_or.reduceat(bits, seg[has])
    low = np.where(content, th, _U64(_MASK64))
    mins = np.full(n, _MASK64, dtype=_U64)
    mins[has] = np.minimum.reduceat(low, seg[has])
    units[:] = np.where(mins == _U64(_MASK64), _U64(0), mins >> _U64(59))
    n_content = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(content, out=n_content[1:])
    counts = (n_content[seg + t_len] - n_content[seg]).astype(np.int32)
    return masks, units, n_plain, (th[content] >> _U64(32)).astype(np.uint32), counts


def _context(near: np.ndarray, far: np.ndarray, weak: np.ndarray, side: np.uint64) -> np.ndarray:
    """Context key of one side of a token: the neighbour word, and the next one when the neighbour
    is a stopword or ``weak`` (one or two letters like the "s" of "Zealand's", or capitalised)."""
    with np.errstate(over="ignore"):
        beyond = np.where(((near & _U64(1)) == 0) | weak, _splitmix64(far), _U64(0))
        return _splitmix64(near ^ side ^ beyond)


def event_conflicts(a: frozenset[int], b: frozenset[int]) -> tuple[int, int, int]:
    """(names, counts, figures) that differ between two texts in the same context.

    A token of ``a`` and one of ``b`` conflict when they share a context (the same word before,
    or the same word after), are of one class, and neither occurs anywhere among the other
    text's tokens, not even misspelt (a list re-ordered is not a conflict); two names of about
    one length whose letters differ by one at most are a typo, not a conflict. Entries the two
    texts share cancel out first, so most copies cost a set difference.
    """
    only_a = a - b
    if not only_a:  # a copy cut short
        return _NO_CONFLICT
    only_b = b - a
    if not only_b:  # a copy with a sentence added
        return _NO_CONFLICT
    at: dict[int, list[int]] = {}
    for f in only_b:
        at.setdefault(f >> _CTX_SHIFT, []).append(f)
    found = [0, 0, 0]
    toks_a: set[int] | None = None
    toks_b: set[int] = set()
    seen: set[tuple[int, int]] = set()
    for e in only_a:
        fs = at.get(e >> _CTX_SHIFT)
        if fs is None:  # the usual case: what differs does not stand in the same place
            continue
        te = (e >> _TOK_SHIFT) & 0xFFFF  # class and token
        cls = te >> 14
        for f in fs:
            tf = (f >> _TOK_SHIFT) & 0xFFFF
            if (tf >> 14 == EV_NAME) != (cls == EV_NAME) or (cls == EV_NAME and _typo(e, f)):
                continue
            if toks_a is None:
                toks_a = {(x >> _TOK_SHIFT) & 0xFFFF for x in a}
                toks_b = {(x >> _TOK_SHIFT) & 0xFFFF for x in b}
            if (te, tf) in seen or _present(e, te, toks_b, b) or _present(f, tf, toks_a, a):
                continue
            seen.add((te, tf))
            found[max(cls, tf >> 14)] += 1
    return (found[EV_NAME], found[EV_COUNT], found[EV_FIGURE]) if seen else _NO_CONFLICT


_NO_CONFLICT = (0, 0, 0)


def _present(e: int, token: int, tokens: set[int], entries: frozenset[int]) -> bool:
    """Does the other text carry this token, or (a name) a typo of it? "Loord of the Rngs" and
    "Lord of the Rings" share the context "of the": Loord against Rings is no conflict."""
    if token in tokens:
        return True
    return token >> 14 == EV_NAME and any((x >> _CLS_SHIFT) & 3 == EV_NAME and _typo(e, x) for x in entries)


def _typo(e: int, f: int) -> bool:
    """Two names of about one length and letters that differ by one at most ("Fridy", "Ppe")."""
    la, lb = e & _LETTERS, f & _LETTERS
    len_a, len_b = (e >> _LEN_SHIFT) & 15, (f >> _LEN_SHIFT) & 15
    return abs(len_a - len_b) <= 1 and (la ^ lb).bit_count() <= 1 and (la & lb).bit_count() >= 2


def titles_agree(a: int, b: int) -> bool:
    """Do two titles share at least half of the content words of the shorter (64-bit masks)?

    A missing title (mask 0) agrees with anything: there is nothing to tell the texts apart by.
    """
    both = (a & b).bit_count()
    return not a or not b or 2 * both >= min(a.bit_count(), b.bit_count())


def _shingles(words: np.ndarray, counts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Word k-gram hashes per text (texts shorter than k give one shingle of all their words)."""
    n = len(counts)
    total = int(counts.sum())
    padded = np.zeros(total + k, dtype=_U64)
    padded[:total] = words
    # combine k consecutive word hashes with distinct odd multipliers (order-sensitive)
    with np.errstate(over="ignore"):
        sh = padded[:total] * _U64(0x9E3779B97F4A7C15)
        for j in range(1, k):
            sh = sh + padded[j : total + j] * _U64(_mult(j))
    sh = _splitmix64(sh)
    starts = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(counts[:-1], out=starts[1:])
    # a text of c words has max(c - k + 1, 1) shingles; texts with no words get none
    nsh = np.where(counts > 0, np.maximum(counts - k + 1, 1), 0)
    # positions: for each text, starts[i] .. starts[i] + nsh[i]
    out_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(nsh, out=out_off[1:])
    pos = np.arange(int(out_off[-1]), dtype=np.int64) - np.repeat(out_off[:-1] - starts, nsh)
    sel = sh[pos] if len(pos) else np.zeros(0, dtype=_U64)
    if k > 1:
        # short texts: zero out the words beyond their end (they belong to the next text)
        short = np.nonzero((counts > 0) & (counts < k))[0]
        for i in short.tolist():
            c = int(counts[i])
            ws = words[starts[i] : starts[i] + c]
            with np.errstate(over="ignore"):
                acc = ws[0] * _U64(0x9E3779B97F4A7C15)
                for j in range(1, c):
                    acc = acc + ws[j] * _U64(_mult(j))
            sel[out_off[i]] = _splitmix64(np.array([acc], dtype=_U64))[0]
    return sel, out_off


@functools.cache
def _perms(seed: int, num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mults = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | _U64(1)
    return mults, rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)


def _minhash_bands(sh: np.ndarray, off: np.ndarray, params: SignatureParams) -> np.ndarray:
    """MinHash (multiply-add permutations of 64-bit hashes) folded into one 64-bit key per band."""
    n = len(off) - 1
    sizes = np.diff(off)
    mults, adds = _perms(params.seed, params.num_perm)
    nonempty = np.nonzero(sizes > 0)[0]
    keys = np.zeros((n, params.bands), dtype=_U64)
    if len(nonempty) == 0:
        return keys
    starts = off[:-1][nonempty]
    sig = np.empty((len(nonempty), params.num_perm), dtype=_U64)
    with np.errstate(over="ignore"):
        for p in range(params.num_perm):
            sig[:, p] = np.minimum.reduceat(sh * mults[p] + adds[p], starts)
        for b in range(params.bands):
            acc = _U64(b + 1) * _U64(0xD6E8FEB86659FD93)
            for r in range(params.rows):
                acc = _splitmix64(acc ^ sig[:, b * params.rows + r])
            keys[nonempty, b] = acc
    return keys


_STOPWORDS = [
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "been",
    "but",
    "by",
    "for",
    "from",
    "had",
    "has",
    "have",
    "he",
    "her",
    "his",
    "i",
    "in",
    "is",
    "it",
    "its",
    "me",
    "my",
    "no",
    "not",
    "of",
    "on",
    "or",
    "our",
    "she",
    "so",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "they",
    "this",
    "to",
    "up",
    "us",
    "was",
    "we",
    "were",
    "which",
    "who",
    "will",
    "with",
    "would",
    "you",
    "your",
    "said",
    "says",
    "after",
    "over",
    "new",
    "more",
    "also",
    "about",
    "into",
]


_BYTE_MULTS = np.arange(1, 65, dtype=_U64)  # replaced by mixed odd multipliers below


def _word_spans(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and length of every space-separated word of the bytes ``b``, and where its bytes are."""
    is_char = b != 32
    before = np.zeros_like(is_char)
    before[1:] = is_char[:-1]
    after = np.zeros_like(is_char)
    after[:-1] = is_char[1:]
    starts = np.flatnonzero(is_char & ~before)
    lengths = np.flatnonzero(is_char & ~after) + 1 - starts
    return starts, lengths, np.flatnonzero(is_char)


def _hash_spans(b: np.ndarray, starts: np.ndarray, lengths: np.ndarray, chars: np.ndarray) -> np.ndarray:
    """64-bit hash of every word of :func:`_word_spans`, vectorised over the whole buffer.

    Each byte is multiplied by a constant for its position in the word, the products summed per
    word and mixed: no Python-level work per word, no vocabulary cache (whose cost grows with
    the vocabulary), the same value in every process. The lowest bit tells content words (1)
    from stopwords (0).
    """
    if not len(starts):
        return np.zeros(0, dtype=_U64)
    pos = chars - np.repeat(starts, lengths)
    if lengths.max() > 64:
        np.minimum(pos, 63, out=pos)
    contrib = _BYTE_MULTS[pos]
    with np.errstate(over="ignore"):
        np.multiply(contrib, b[chars], out=contrib)  # in place: no second array per byte
        sums = np.add.reduceat(contrib, np.cumsum(lengths) - lengths)
        h = _splitmix64(sums ^ (lengths.astype(_U64) * _U64(0xD6E8FEB86659FD93))) | _U64(1)
    if len(_STOP_ARR):
        cand = _STOP_LUT[(h >> _U64(1)) & _U64(0xFFFF)]
        stop = (cand >= 0) & (_STOP_ARR[np.maximum(cand, 0)] == h)
        h[stop] &= _U64(~1 & _MASK64)
    return h


def _py_word_hash(w: str) -> int:
    """:func:`_hash_word_bytes` of one word in plain Python (same value, stopword bit aside):
    cheaper than a numpy call for the few words the anchored matcher weighs."""
    acc = 0
    for k, byte in enumerate(w.encode("utf-8")):
        acc += byte * _BYTE_MULT_LIST[min(k, 63)]
    x = ((acc & _MASK64) ^ (len(w.encode("utf-8")) * 0xD6E8FEB86659FD93)) & _MASK64
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) | 1


def _hash_word_bytes(buf: bytes) -> np.ndarray:
    """64-bit hash of every space-separated word of ``buf`` (see :func:`_hash_spans`)."""
    b = np.frombuffer(buf, dtype=np.uint8)
    return _hash_spans(b, *_word_spans(b))


def _word_hash(w: str) -> int:
    """Hash of one normalised word (as :func:`_hash_word_bytes` computes it in a batch)."""
    got = _hash_word_bytes(w.encode("utf-8"))
    return int(got[0]) if len(got) else 0


_STOP_ARR = np.zeros(0, dtype=_U64)
_STOP_LUT = np.full(1 << 16, -1, dtype=np.int32)


def _init_stopwords() -> None:
    global _BYTE_MULTS, _STOP_ARR
    _BYTE_MULTS = _splitmix64(np.arange(1, 65, dtype=_U64)) | _U64(1)
    arr = _hash_word_bytes(" ".join(_STOPWORDS).encode())  # all "content" while the LUT is empty
    _STOP_ARR = arr
    slots = ((arr >> _U64(1)) & _U64(0xFFFF)).astype(np.int64)
    if len(set(slots.tolist())) != len(slots):
        raise RuntimeError("stopword hash slots collide; change the multipliers")
    _STOP_LUT[slots] = np.arange(len(arr), dtype=np.int32)
    _STOP_ARR = arr


_init_stopwords()
_STOPSET = frozenset(_STOPWORDS)
_BYTE_MULT_LIST = _BYTE_MULTS.tolist()
# months and weekdays: event tokens whenever capitalised, even opening a sentence or in a Title
_DATE_WORDS = _hash_word_bytes(
    b"january february march april may june july august september october november december "
    b"jan feb apr jun jul aug sep sept oct nov dec "
    b"monday tuesday wednesday thursday friday saturday sunday"
)


def compute_signatures(texts: Iterable[str | tuple[str, str]], params: SignatureParams | None = None) -> Signatures:
    """Shingle sets and LSH band keys for every text of the batch.

    The band keys end with two exact keys (title, lede) after the ``params.bands`` MinHash bands.
    Work is done a chunk of texts at a time, so temporaries stay small whatever the batch size;
    what is kept is 32-bit shingle hashes (with int32 offsets) plus the band keys.
    """
    params = params or SignatureParams()
    chunk = _CHUNK_TEXTS
    sh_parts, off_parts, key_parts, sizes = [], [], [], []
    ev_parts, ev_offs, digests, masks, units = [], [], [], [], []
    title_words, title_offs, short = [], [], []
    for part in _word_chunks(texts):
        sh, off = _shingles(part.words, part.counts, params.shingle)
        key_parts.append(np.concatenate([_minhash_bands(sh, off, params), part.exact], axis=1))
        # 32 bits a shingle, repeats left in: the sets built from them (and MinHash) ignore them,
        # and sorting a batch's shingles to drop the few repeats cost more than all the rest
        sh_parts.append((sh >> _U64(32)).astype(np.uint32))
        off_parts.append(off.astype(np.int32))
        sizes.append(np.diff(off).astype(np.int32))
        ev_off = np.zeros(len(part.event_counts) + 1, dtype=np.int32)
        np.cumsum(part.event_counts, out=ev_off[1:])
        mixed = np.zeros(len(part.events) + 1, dtype=_U64)
        with np.errstate(over="ignore"):
            np.cumsum(_splitmix64(part.events), out=mixed[1:])
            digests.append(mixed[ev_off[1:]] - mixed[ev_off[:-1]])
        # read a few at a time while clustering: plain arrays index and slice faster than numpy
        ev_parts.append(array("Q", part.events.tobytes()))
        ev_offs.append(array("i", ev_off.tobytes()))
        masks.append(part.title_masks)
        units.append(part.title_units)
        title_words.append(part.title_words)
        title_off = np.zeros(len(part.title_counts) + 1, dtype=np.int32)
        np.cumsum(part.title_counts, out=title_off[1:])
        title_offs.append(title_off)
        short.append(part.short)
    return Signatures(
        chunk=chunk,
        shingles=sh_parts,
        offsets=off_parts,
        band_parts=key_parts,
        sizes=np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int32),
        events=ev_parts,
        event_offsets=ev_offs,
        event_digests=np.concatenate(digests) if digests else np.zeros(0, dtype=_U64),
        title_masks=np.concatenate(masks) if masks else np.zeros(0, dtype=_U64),
        title_units=np.concatenate(units) if units else np.zeros(0, dtype=np.uint8),
        title_words=title_words,
        title_offsets=title_offs,
        short=np.concatenate(short) if short else np.zeros(0, dtype=np.uint8),
    )


class HeadlineIndex:
    """Rows by the words of their title, and how many titles of the batch carry each word.

    For the anchored matcher of :mod:`feedmon.dedup`: a copy that was re-titled, or a listing
    that gives a title only, shares few word 3-grams with its story and so few LSH bands, but
    it keeps some of the story's rarer title words. Built once per batch, when first needed,
    without a comparison sort: title words are bucketed by 16 bits of their hash (a stable
    radix sort keeps rows in order within a bucket), and counted per bin of a table sized to
    the batch. Words sharing a bucket only add candidates (the caller compares the titles); a
    rare word sharing a bin with a common one looks common, which can only lose a match.
    Queries are plain Python on a few array items: numpy's per-call cost would dominate.
    """

    def __init__(self, sigs: Signatures) -> None:
        self.rows = len(sigs)
        self._sigs = sigs
        words = np.concatenate(sigs.title_words) if sigs.title_words else np.zeros(0, dtype=np.uint32)
        rows = np.concatenate(
            [
                np.repeat(np.arange(c * sigs.chunk, c * sigs.chunk + len(off) - 1, dtype=np.int32), np.diff(off))
                for c, off in enumerate(sigs.title_offsets)
            ]
            or [np.zeros(0, dtype=np.int32)]
        )
        bits = int(min(20, max(12, math.ceil(math.log2(len(words) + 1)) + 1)))
        self._shift = 32 - bits
        self._counts = np.bincount(words >> np.uint32(self._shift), minlength=1 << bits).astype(np.int32)
        buckets = (words >> np.uint32(16)).astype(np.uint16)
        order = np.argsort(buckets, kind="stable")
        self._rows, self._buckets = rows[order], buckets[order]
        self._pos = np.empty(len(order), dtype=np.int32)
        self._pos[order] = np.arange(len(order), dtype=np.int32)
        self._base = [0, *np.cumsum([len(w) for w in sigs.title_words]).tolist()]
        self._short = sigs.short.tobytes()

    def title(self, i: int) -> frozenset[int]:
        """Content words of title ``i`` (32-bit word hashes)."""
        return self._sigs.title_word_set(i)

    def short(self, i: int) -> bool:
        """Does text ``i`` add at most three words to its title (maybe a title-only listing)?"""
        return bool(self._short[i])

    def earlier(self, i: int, keys: int, lookback: int) -> list[int]:
        """Earlier rows sharing one of the ``keys`` rarest words of title ``i`` that another
        title also carries: the ``lookback`` latest rows per word (rows are in time order)."""
        sigs = self._sigs
        c, j = divmod(i, sigs.chunk)
        off = sigs.title_offsets[c]
        a, b = int(off[j]), int(off[j + 1])
        words = sigs.title_words[c][a:b].tolist()
        counts, shift = self._counts, self._shift
        seen = [(counts.item(w >> shift), k) for k, w in enumerate(words)]
        picked = sorted(x for x in seen if x[0] >= 2)[:keys]
        pos, buckets, rows = self._pos, self._buckets, self._rows
        out: list[int] = []
        for _, k in picked:
            p = pos.item(self._base[c] + a + k)
            bucket = buckets.item(p)
            for q in range(p - 1, max(-1, p - 1 - lookback), -1):
                if buckets.item(q) != bucket:
                    break
                out.append(rows.item(q))
        return out

    def weight(self, words: Iterable[str]) -> float:
        """Summed ``log(rows / titles carrying the word)`` of words of :func:`headline_words`:
        a name in few titles weighs a lot, "Trump" or "China" little (a stem is counted as the
        word it spells)."""
        counts, shift, total = self._counts, 32 + self._shift, 0.0
        for w in words:
            total += math.log(self.rows / max(1, counts.item(_py_word_hash(w) >> shift)))
        return total


class BandIndex:
    """LSH candidates without hash tables: one sort per band instead of a dict of lists.

    Rows sharing a band key form a *run* in that band's sorted order. A row's candidates are, in
    every band, the first row of its run and the row just before it (both earlier rows). That
    bounds the work per row whatever the size of a run (a story with hundreds of copies, a
    common phrase), keeps memory at a few int32 arrays per band, and still reaches every copy of
    a story because copies share several bands.
    """

    def __init__(self, band_keys: np.ndarray | list[np.ndarray], valid: np.ndarray) -> None:
        parts = band_keys if isinstance(band_keys, list) else [band_keys]
        n = sum(len(p) for p in parts)
        bands = parts[0].shape[1] if parts else 0
        self.n = n
        rows = np.arange(n, dtype=np.int64)
        # per band and row: the first row of its run, and the row before it when that is another
        # earlier row of the run (else the row itself, which is then ignored)
        self.head = np.empty((bands, n), dtype=np.int32)
        self.prev = np.empty((bands, n), dtype=np.int32)
        for b in range(bands):
            keys = np.concatenate([p[:, b] for p in parts])  # one column at a time: small copies
            order = np.lexsort((rows, keys))
            ks = keys[order]
            new = np.ones(n, dtype=bool)
            new[1:] = ks[1:] != ks[:-1]
            start = np.maximum.accumulate(np.where(new, np.arange(n), 0)) if n else rows
            head = order[start]
            prev = order[np.maximum(np.arange(n) - 1, 0)]
            prev = np.where(new | (prev == head), order, prev)
            self.head[b, order] = head
            self.prev[b, order] = prev
        self.valid = valid

    def candidates(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates of rows ``lo..hi-1``: (offsets, candidate rows, shared-band counts).

        Candidates of a row are earlier rows, sorted by decreasing number of bands in which they
        are the row's head or previous row (each band counts once), then by row.
        """
        rows = np.arange(lo, hi, dtype=np.int64)
        head = self.head[:, lo:hi].astype(np.int64)
        prev = self.prev[:, lo:hi].astype(np.int64)
        src = np.concatenate([np.broadcast_to(rows, head.shape).ravel()] * 2)
        dst = np.concatenate([head.ravel(), prev.ravel()])
        keep = (dst < src) & self.valid[src]
        src, dst = src[keep], dst[keep]
        n = self.n
        uniq, counts = np.unique(src * n + dst, return_counts=True)
        # one sort of a composite key (row, fewer bands last, candidate) instead of a lexsort:
        # counts are at most 2 per band, under 64
        key = np.sort((uniq // n) * (64 * n) + (63 - counts) * n + uniq % n)
        s, rest = key // (64 * n), key % (64 * n)
        counts, d = 63 - rest // n, rest % n
        off = np.searchsorted(s, rows, side="left")
        off = np.append(off, len(s))
        return off, d, counts


def overlap(a: frozenset[int] | set[int], b: frozenset[int] | set[int]) -> tuple[int, float, float]:
    """(shared shingles, containment of the smaller set, Jaccard)."""
    if not a or not b:
        return 0, 0.0, 0.0
    inter = len(a & b)
    small = min(len(a), len(b))
    return inter, inter / small, inter / (len(a) + len(b) - inter)
