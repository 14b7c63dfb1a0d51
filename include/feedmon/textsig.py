"""Text signatures for near-duplicate detection: word shingles, MinHash and LSH band keys.

Everything is computed for a whole batch of texts at once with numpy, because per-document Python
loops (as in ``datasketch``) dominate the cost of deduplicating millions of articles. Hashes are
computed from the bytes of words with fixed constants, never from Python's salted ``hash()``, so
the same text gets the same signature in every process and every run (story decisions must be
reproducible).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BandIndex",
    "SignatureParams",
    "Signatures",
    "compute_signatures",
    "content_words",
    "overlap",
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
    are the sorted unique 32-bit shingle hashes of row ``c * chunk + j`` and ``band_parts[c][j]``
    its LSH keys (one per band). ``sizes[i] == 0`` marks a text with no words.
    """

    chunk: int
    shingles: list[np.ndarray]
    offsets: list[np.ndarray]
    band_parts: list[np.ndarray]
    sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def band_keys(self) -> np.ndarray:
        """All band keys as one (rows x bands) array (a copy; for inspection and tests)."""
        return np.concatenate(self.band_parts) if self.band_parts else np.zeros((0, 0), dtype=_U64)

    def shingle_set(self, i: int) -> frozenset[int]:
        """Exact shingle set of text ``i`` (used to verify LSH candidates)."""
        c, j = divmod(i, self.chunk)
        off = self.offsets[c]
        return frozenset(self.shingles[c][off[j] : off[j + 1]].tolist())


def content_words(text: str | tuple[str, str]) -> frozenset[int]:
    """Content words (stopwords left out) of a text or (title, text): robust to typos, weak alone.

    Computed on demand from the text rather than stored: only candidate pairs in the "typo
    zone" of :class:`feedmon.dedup.SameStory` need them.
    """
    parts = text if isinstance(text, tuple) else (text,)
    words = [w for part in parts for w in word_tokens(part)]
    h = _hash_word_bytes(" ".join(words).encode("utf-8"))
    return frozenset((h[(h & _U64(1)).astype(bool)] >> _U64(32)).tolist())


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


def _word_hashes(texts: Iterable[str | tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All chunks of :func:`_word_chunks` concatenated (for tests and small batches)."""
    parts = list(_word_chunks(texts))
    if not parts:
        return np.zeros(0, dtype=_U64), np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=_U64)
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def _word_chunks(texts: Iterable[str | tuple[str, str]]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per chunk of texts: flat word hashes, per-text word counts, and two exact keys per text.

    A text given as ``(title, body)`` also gets keys for its whole title (3+ words) and for the
    first eight words of its body (copies often keep one verbatim); titles or bodies too short to
    be specific get keys of their own that match nothing. Texts are tokenised a chunk at a time
    (one casefold and one regex pass over thousands of texts joined by sentinel words), which
    removes the per-text Python overhead that dominated the cost.
    """
    h_title, h_body = _word_hash(_TITLE_END), _word_hash(_BODY_END)
    sep_t, sep_b = f" {_TITLE_END} ", f" {_BODY_END} "
    row0 = 0
    it = iter(texts)
    while True:
        chunk: list[str] = []
        for text in it:
            title, body = text if isinstance(text, tuple) else ("", text)
            # accents are stripped per text, and only where there are any: NFKD over a whole chunk
            # whenever one of its texts has a curly quote would cost more than all the rest
            if not title.isascii():
                title = " ".join(word_tokens(title))
            if not body.isascii():
                body = " ".join(word_tokens(body))
            chunk.append(title)
            chunk.append(sep_t)
            chunk.append(body)
            chunk.append(sep_b)
            if len(chunk) >= 4 * _CHUNK_TEXTS:
                break
        if not chunk:
            break
        n = len(chunk) // 4
        h = _hash_word_bytes("".join(chunk).encode("utf-8").translate(_ASCII_WORDS))
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
        keep = np.ones(len(h), dtype=bool)
        keep[t_end] = False
        keep[b_end] = False
        yield h[keep], (t_len + b_len).astype(np.int64), k
        row0 += n


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


def _hash_word_bytes(buf: bytes) -> np.ndarray:
    """64-bit hash of every space-separated word of ``buf``, vectorised over the whole buffer.

    Each byte is multiplied by a constant for its position in the word, the products summed per
    word and mixed: no Python-level work per word, no vocabulary cache (whose cost grows with
    the vocabulary), the same value in every process. The lowest bit tells content words (1)
    from stopwords (0).
    """
    b = np.frombuffer(buf, dtype=np.uint8)
    if not len(b):
        return np.zeros(0, dtype=_U64)
    is_char = b != 32
    before = np.zeros_like(is_char)
    before[1:] = is_char[:-1]
    after = np.zeros_like(is_char)
    after[:-1] = is_char[1:]
    starts = np.flatnonzero(is_char & ~before)
    if not len(starts):
        return np.zeros(0, dtype=_U64)
    lengths = np.flatnonzero(is_char & ~after) + 1 - starts
    chars = np.flatnonzero(is_char)
    pos = chars - np.repeat(starts, lengths)
    with np.errstate(over="ignore"):
        contrib = b[chars].astype(_U64) * _BYTE_MULTS[np.minimum(pos, 63)]
        sums = np.add.reduceat(contrib, np.cumsum(lengths) - lengths)
        h = _splitmix64(sums ^ (lengths.astype(_U64) * _U64(0xD6E8FEB86659FD93))) | _U64(1)
    if len(_STOP_ARR):
        cand = _STOP_LUT[(h >> _U64(1)) & _U64(0xFFFF)]
        stop = (cand >= 0) & (_STOP_ARR[np.maximum(cand, 0)] == h)
        h[stop] &= _U64(~1 & _MASK64)
    return h


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


def _unique_per_row(values: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort 32-bit values within each row and drop repeats (sets, not bags, are compared).

    One sort of ``row << 32 | value`` instead of a two-key lexsort: several times faster.
    """
    n = len(off) - 1
    if len(values) == 0:
        return values.astype(np.uint32), off
    row = np.repeat(np.arange(n, dtype=_U64), np.diff(off))
    key = np.sort((row << _U64(32)) | values.astype(_U64))
    keep = np.ones(len(key), dtype=bool)
    keep[1:] = key[1:] != key[:-1]
    key = key[keep]
    counts = np.bincount((key >> _U64(32)).astype(np.int64), minlength=n)
    new_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=new_off[1:])
    return (key & _U64(0xFFFFFFFF)).astype(np.uint32), new_off


def compute_signatures(texts: Iterable[str | tuple[str, str]], params: SignatureParams | None = None) -> Signatures:
    """Shingle sets and LSH band keys for every text of the batch.

    The band keys end with two exact keys (title, lede) after the ``params.bands`` MinHash bands.
    Work is done a chunk of texts at a time, so temporaries stay small whatever the batch size;
    what is kept is 32-bit shingle hashes (with int32 offsets) plus the band keys.
    """
    params = params or SignatureParams()
    chunk = _CHUNK_TEXTS
    sh_parts, off_parts, key_parts, sizes = [], [], [], []
    for words, counts, exact in _word_chunks(texts):
        sh, off = _shingles(words, counts, params.shingle)
        key_parts.append(np.concatenate([_minhash_bands(sh, off, params), exact], axis=1))
        sh32, off = _unique_per_row(sh >> _U64(32), off)  # the minimum above ignores repeats
        sh_parts.append(sh32)
        off_parts.append(off.astype(np.int32))
        sizes.append(np.diff(off).astype(np.int32))
    return Signatures(
        chunk=chunk,
        shingles=sh_parts,
        offsets=off_parts,
        band_parts=key_parts,
        sizes=np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int32),
    )


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
        pair = src * self.n + dst
        uniq, counts = np.unique(pair, return_counts=True)
        s, d = uniq // self.n, uniq % self.n
        order = np.lexsort((d, -counts, s))
        s, d, counts = s[order], d[order], counts[order]
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
