"""The Parquet contract: explicit Arrow schemas, versioned in each file's metadata.

Readers (pandas, DuckDB, polars, the UI plugin, the report DAG) rely on these columns. A change here
is deliberate: bump the version, update README's column tables and ``tests/unit/test_schema.py``.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, fields
from typing import Any, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from feedmon.models import Article

ARTICLES_SCHEMA_VERSION = "2"
FEED_HEALTH_SCHEMA_VERSION = "2"
TS = pa.timestamp("us", tz="UTC")

ARTICLE_SCHEMA = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("story_id", pa.string(), nullable=False),
        pa.field("is_canonical", pa.bool_(), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("source_count", pa.int32(), nullable=False),
        pa.field("feed_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("agency", pa.string()),
        pa.field("url", pa.string(), nullable=False),
        pa.field("link", pa.string(), nullable=False),
        pa.field("guid", pa.string()),
        pa.field("title", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("published_at", TS),
        pa.field("first_seen_at", TS, nullable=False),
        pa.field("language", pa.string()),
        pa.field("dateline", pa.string()),
        pa.field("is_conflict", pa.bool_(), nullable=False),
        pa.field("conflict_score", pa.float32(), nullable=False),
        pa.field("conflict_regions", pa.list_(pa.string()), nullable=False),
        pa.field("countries", pa.list_(pa.string()), nullable=False),
        pa.field("conflict_evidence", pa.list_(pa.string()), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("first_run_id", pa.string(), nullable=False),
    ],
    metadata={"feedmon.table": "articles", "feedmon.schema_version": ARTICLES_SCHEMA_VERSION},
)

FEED_HEALTH_SCHEMA = pa.schema(
    [
        pa.field("feed_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("final_url", pa.string()),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("http_status", pa.int32()),
        pa.field("error", pa.string()),
        pa.field("entries", pa.int32(), nullable=False),
        pa.field("new_articles", pa.int32(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("fetched_at", TS, nullable=False),
        pa.field("duration_ms", pa.int32(), nullable=False),
        pa.field("consecutive_failures", pa.int32(), nullable=False),
        # Version 2: the run that replayed this run's archived bodies because it never published.
        pa.field("recovered_by", pa.string()),
    ],
    metadata={"feedmon.table": "feed_health", "feedmon.schema_version": FEED_HEALTH_SCHEMA_VERSION},
)

_ARTICLE_FIELDS = [f.name for f in fields(Article)]
#: Per field with a default: the value, or the factory making it (``list`` for the list columns).
_ARTICLE_DEFAULTS: dict[str, Any] = {
    f.name: f.default if f.default is not MISSING else f.default_factory
    for f in fields(Article)
    if f.default is not MISSING or f.default_factory is not MISSING
}
_BATCH_ROWS = 8192
#: Columns with few distinct values (one feed, one run, one language for many rows).
_SHARED = frozenset({"feed_id", "source", "agency", "language", "dateline", "first_seen_at", "first_run_id"})


class SchemaError(ValueError):
    """A file on disk does not carry the schema this code writes."""


def articles_to_table(articles: Sequence[Article]) -> pa.Table:
    """Build the snapshot table; column order and types come from ARTICLE_SCHEMA, not from the data."""
    cols: dict[str, list[Any]] = {name: [] for name in ARTICLE_SCHEMA.names}
    for art in articles:
        for name in ARTICLE_SCHEMA.names:
            cols[name].append(getattr(art, name))
    return pa.Table.from_pydict(cols, schema=ARTICLE_SCHEMA)


def article_columns_to_table(columns: Mapping[str, Sequence[Any] | pa.Array | pa.ChunkedArray], rows: int) -> pa.Table:
    """:func:`articles_to_table` for records given column by column: the same table, without an
    :class:`Article` per row (clean builds ~100k rows a run: the records and the row-wise copy cost
    more than the columns). Columns left out hold :class:`Article`'s default; each column is one chunk,
    as :func:`articles_to_table` makes them."""
    arrays = []
    for f in ARTICLE_SCHEMA:
        values = columns.get(f.name)
        if values is None:
            default = _ARTICLE_DEFAULTS[f.name]  # KeyError: a field without default must be given
            values = [default() if callable(default) else default] * rows
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        arrays.append(values.cast(f.type) if isinstance(values, pa.Array) else pa.array(values, type=f.type))
    if any(len(a) != rows for a in arrays):
        raise ValueError(f"article columns must all have {rows} rows")
    return pa.Table.from_arrays(arrays, schema=ARTICLE_SCHEMA)


def upgrade_articles(table: pa.Table) -> pa.Table:
    """Bring an older snapshot up to the current schema, so history written before an upgrade still
    serves dedup and readers. Version 1 had no ``link``: the canonical ``url`` stands in for it."""
    meta = table.schema.metadata or {}
    if meta.get(b"feedmon.schema_version") == b"1" and "link" not in table.column_names and "url" in table.column_names:
        table = table.append_column("link", table.column("url"))
        table = table.replace_schema_metadata(meta | {b"feedmon.schema_version": ARTICLES_SCHEMA_VERSION.encode()})
    return table


def upgrade_feed_health(table: pa.Table) -> pa.Table:
    """Bring an older feed-health file up to the current schema. Version 1 had no ``recovered_by``:
    nothing was recovered then, so it is null."""
    meta = table.schema.metadata or {}
    if meta.get(b"feedmon.schema_version") == b"1" and "recovered_by" not in table.column_names:
        table = table.append_column(FEED_HEALTH_SCHEMA.field("recovered_by"), pa.nulls(table.num_rows, pa.string()))
        table = table.replace_schema_metadata(meta | {b"feedmon.schema_version": FEED_HEALTH_SCHEMA_VERSION.encode()})
    return table


def table_to_articles(table: pa.Table, only: Sequence[str] | None = None) -> list[Article]:
    """Inverse of :func:`articles_to_table`; tolerates extra columns (e.g. a hive ``date`` key) and
    upgrades older versions (:func:`upgrade_articles`). ``only``: read just these columns (the
    others keep :class:`Article`'s defaults), for readers that need a few, such as dedup's history.

    Converted column by column (:func:`table_columns`), a fifth less memory per record than a
    row-wise copy."""
    names = _ARTICLE_FIELDS if only is None else list(only)
    cols = table_columns(table, names)
    if only is None:  # every field, in the record's order: positional
        return list(map(Article, *cols.values()))
    return [Article(**dict(zip(cols, row, strict=True))) for row in zip(*cols.values(), strict=True)]


def table_columns(
    table: pa.Table, names: Sequence[str], shared: dict[str, dict[Any, Any]] | None = None
) -> dict[str, list[Any]]:
    """Columns ``names`` of an articles table as Python lists (older versions upgraded, the
    columns checked), a batch of rows at a time (no row dicts). The values of columns with few
    distinct values (:data:`_SHARED`) are one object per value (``shared``: across calls), and a
    ``story_id`` equal to the ``article_id`` is that object."""
    table = checked_columns(table, names)
    shared = {} if shared is None else shared
    seen_of = {name: shared.setdefault(name, {}) for name in names if name in _SHARED}
    out: dict[str, list[Any]] = {name: [] for name in names}
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        for name, column in zip(names, batch.columns, strict=True):
            values = column.to_pylist()
            if name in seen_of:
                seen = seen_of[name]
                values = [seen.setdefault(v, v) for v in values]
            out[name].extend(values)
    if "story_id" in out and "article_id" in out:
        out["story_id"] = [a if s == a else s for a, s in zip(out["article_id"], out["story_id"], strict=True)]
    return out


def checked_columns(table: pa.Table, names: Sequence[str]) -> pa.Table:
    """Columns ``names`` of an articles table, older versions upgraded (:func:`upgrade_articles`)
    and the columns checked against :data:`ARTICLE_SCHEMA` (:class:`SchemaError` if not)."""
    table = upgrade_articles(table)
    expected = pa.schema([ARTICLE_SCHEMA.field(n) for n in names], metadata=ARTICLE_SCHEMA.metadata)
    check_schema(table.schema, expected)
    return table.select(list(names))


class StringColumn(Sequence[str]):
    """A column of strings held as Arrow holds them (one UTF-8 buffer, 64-bit offsets), a row
    decoded when read: a row costs its bytes and eight more, not a Python string of about fifty
    bytes plus its text (dedup reads a million rows' titles and texts; a list of them cost 0.4
    GiB more). Built chunk by chunk (:meth:`extend`), so a caller reading a file a row group at
    a time never holds the whole column twice. Nulls read as empty strings."""

    __slots__ = ("_data", "_offsets")

    def __init__(self, chunks: Iterable[pa.Array | pa.ChunkedArray] = ()) -> None:
        self._data = bytearray()
        self._offsets = array("q", [0])
        for chunk in chunks:
            self.extend(chunk)

    def extend(self, chunk: pa.Array | pa.ChunkedArray) -> None:
        """Append the strings of ``chunk``."""
        for part in _arrays([chunk]):
            if not len(part):
                continue
            part = pc.fill_null(part.cast(pa.large_string()), "")
            _, offsets, data = part.buffers()
            at = np.frombuffer(offsets, dtype=np.int64, count=len(part) + 1, offset=part.offset * 8)
            if data is not None:
                self._data += memoryview(data)[at[0] : at[-1]]
            self._offsets.frombytes((at[1:] - at[0] + self._offsets[-1]).tobytes())

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, k: int) -> str: ...
    @overload
    def __getitem__(self, k: slice) -> list[str]: ...
    def __getitem__(self, k: int | slice) -> str | list[str]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        offsets = self._offsets
        if not 0 <= k < len(offsets) - 1:
            raise IndexError(k)
        return self._data[offsets[k] : offsets[k + 1]].decode()


def _arrays(chunks: Iterable[pa.Array | pa.ChunkedArray]) -> list[pa.Array]:
    """The arrays of ``chunks``, chunked ones taken apart."""
    return [a for chunk in chunks for a in (chunk.chunks if isinstance(chunk, pa.ChunkedArray) else [chunk])]


def value_codes(chunks: Iterable[pa.Array | pa.ChunkedArray], *, empty: bool = False) -> array[int]:
    """One code per row of a string column given in chunks: equal strings, equal codes (0 and
    up); -1 for a null, and for an empty string unless ``empty``. For columns compared only for
    equality, without a Python string per row."""
    column = pa.chunked_array(_arrays(chunks), pa.string())
    if not empty:
        column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    codes = pc.index_in(column, value_set=pc.drop_null(pc.unique(column)), skip_nulls=True)
    return array("q", pc.fill_null(codes, -1).cast(pa.int64()).to_numpy().tobytes())


def article_table(table: pa.Table) -> pa.Table:
    """``table`` as :data:`ARTICLE_SCHEMA` lays it out (the columnar twin of :func:`table_to_articles`):
    older versions upgraded, extra columns dropped, columns in the schema's order; its metadata is
    kept (a gazetteer version, say), with the schema's own on top."""
    table = upgrade_articles(table)
    check_schema(table.schema, ARTICLE_SCHEMA)
    meta = (table.schema.metadata or {}) | (ARTICLE_SCHEMA.metadata or {})
    columns = [table.column(name) for name in ARTICLE_SCHEMA.names]
    return pa.Table.from_arrays(columns, schema=ARTICLE_SCHEMA.with_metadata(meta))


def rows_to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Build a table of ``schema`` from dict rows (missing keys become nulls)."""
    rows = list(rows)
    cols = {name: [r.get(name) for r in rows] for name in schema.names}
    return pa.Table.from_pydict(cols, schema=schema)


def check_schema(actual: pa.Schema, expected: pa.Schema) -> None:
    """Refuse files whose columns or version differ from what this code writes, with a clear message."""
    meta = actual.metadata or {}
    want = (expected.metadata or {})[b"feedmon.schema_version"]
    got = meta.get(b"feedmon.schema_version")
    if got is not None and got != want:
        raise SchemaError(
            f"{expected.metadata[b'feedmon.table'].decode()} file has schema version {got.decode()}, "
            f"this feedmon writes {want.decode()}: migrate or reprocess the day"
        )
    missing = [n for n in expected.names if n not in actual.names]
    if missing:
        raise SchemaError(f"file lacks columns {missing}")
