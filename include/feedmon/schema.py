"""The Parquet contract: explicit Arrow schemas, versioned in each file's metadata.

Readers (pandas, DuckDB, polars, the UI plugin, the report DAG) rely on these columns. A change here
is deliberate: bump the version, update README's column tables and ``tests/unit/test_schema.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, fields
from typing import Any

import pyarrow as pa

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

    Converted column by column, a batch of rows at a time (no row dicts); the values of columns
    with few distinct values (:data:`_SHARED`) are one object per value, and a ``story_id`` equal
    to the ``article_id`` is that object: a fifth less memory per record than a row-wise copy."""
    table = upgrade_articles(table)
    names = _ARTICLE_FIELDS if only is None else list(only)
    expected = pa.schema([ARTICLE_SCHEMA.field(n) for n in names], metadata=ARTICLE_SCHEMA.metadata)
    check_schema(table.schema, expected)
    shared: dict[str, dict[Any, Any]] = {name: {} for name in names if name in _SHARED}
    out: list[Article] = []
    for batch in table.select(names).to_batches(max_chunksize=_BATCH_ROWS):
        cols: dict[str, list[Any]] = {}
        for name, column in zip(names, batch.columns, strict=True):
            values = column.to_pylist()
            if name in shared:
                seen = shared[name]
                values = [seen.setdefault(v, v) for v in values]
            cols[name] = values
        if "story_id" in cols and "article_id" in cols:
            cols["story_id"] = [a if s == a else s for a, s in zip(cols["article_id"], cols["story_id"], strict=True)]
        if only is None:  # every field, in the record's order: positional
            out.extend(map(Article, *cols.values()))
        else:
            out.extend(Article(**dict(zip(cols, row, strict=True))) for row in zip(*cols.values(), strict=True))
    return out


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
