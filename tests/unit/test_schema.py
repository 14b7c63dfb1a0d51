"""The Parquet contract. If a test here fails, you changed the schema: make it deliberate (bump the
version, update README's column tables) and update the pinned expectations below."""

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from feedmon.models import Article
from feedmon.schema import (
    ARTICLE_SCHEMA,
    FEED_HEALTH_SCHEMA,
    TS,
    SchemaError,
    StringColumn,
    article_columns_to_table,
    articles_to_table,
    check_schema,
    rows_to_table,
    table_to_articles,
    upgrade_feed_health,
    value_codes,
)

PINNED_ARTICLE_COLUMNS = {
    "article_id": "string", "story_id": "string", "is_canonical": "bool", "duplicate_of": "string",
    "source_count": "int32", "feed_id": "string", "source": "string", "agency": "string", "url": "string",
    "link": "string", "guid": "string", "title": "string", "text": "string", "published_at": "timestamp[us, tz=UTC]",
    "first_seen_at": "timestamp[us, tz=UTC]", "language": "string", "dateline": "string",
    "is_conflict": "bool", "conflict_score": "float", "conflict_regions": "list<item: string>",
    "countries": "list<item: string>", "conflict_evidence": "list<item: string>", "content_hash": "string",
    "first_run_id": "string",
}  # fmt: skip
PINNED_HEALTH_COLUMNS = {
    "feed_id": "string", "url": "string", "final_url": "string", "run_id": "string", "status": "string",
    "http_status": "int32", "error": "string", "entries": "int32", "new_articles": "int32", "bytes": "int64",
    "fetched_at": "timestamp[us, tz=UTC]", "duration_ms": "int32", "consecutive_failures": "int32",
    "recovered_by": "string",
}  # fmt: skip
# Readers rely on "never null" as much as on the type: only these columns may hold nulls.
PINNED_ARTICLE_NULLABLE = {"duplicate_of", "agency", "guid", "published_at", "language", "dateline"}
PINNED_HEALTH_NULLABLE = {"final_url", "http_status", "error", "recovered_by"}


def test_article_schema_is_pinned():
    assert {f.name: str(f.type) for f in ARTICLE_SCHEMA} == PINNED_ARTICLE_COLUMNS
    assert {f.name for f in ARTICLE_SCHEMA if f.nullable} == PINNED_ARTICLE_NULLABLE
    assert ARTICLE_SCHEMA.metadata[b"feedmon.schema_version"] == b"2"


def test_feed_health_schema_is_pinned():
    assert {f.name: str(f.type) for f in FEED_HEALTH_SCHEMA} == PINNED_HEALTH_COLUMNS
    assert {f.name for f in FEED_HEALTH_SCHEMA if f.nullable} == PINNED_HEALTH_NULLABLE
    assert FEED_HEALTH_SCHEMA.metadata[b"feedmon.schema_version"] == b"2"


def _article(**kw) -> Article:
    base = {
        "article_id": "a1", "feed_id": "f", "source": "S", "url": "https://x.example/1", "guid": "g",
        "title": "T", "text": "Body", "published_at": None, "story_id": "a1",
        "first_seen_at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        "conflict_regions": ["Gaza Strip"], "countries": ["PS"],
    }  # fmt: skip
    base.update(kw)
    return Article(**base)


def test_round_trip():
    arts = [_article(), _article(article_id="a2", story_id="a1", is_canonical=False, duplicate_of="a1")]
    table = articles_to_table(arts)
    assert table.schema.equals(ARTICLE_SCHEMA, check_metadata=True)
    assert table_to_articles(table) == arts


def test_columns_give_the_table_the_records_give():
    arts = [_article(), _article(article_id="a2", story_id="a2", language="en", agency="AP", conflict_regions=[])]
    arts[1].countries = []
    given = ["article_id", "story_id", "feed_id", "source", "url", "guid", "title", "text", "published_at"]
    given += ["first_seen_at", "language", "agency"]
    columns = {name: [getattr(a, name) for a in arts] for name in given}
    columns["first_seen_at"] = pa.chunked_array([pa.array([a.first_seen_at for a in arts], TS)])  # arrays too
    plain = [_article(conflict_regions=[], countries=[]), arts[1]]  # the left-out columns take the defaults
    assert article_columns_to_table(columns, 2).equals(articles_to_table(plain))
    assert article_columns_to_table({name: [] for name in columns}, 0).equals(articles_to_table([]))
    with pytest.raises(KeyError):
        article_columns_to_table({"article_id": ["a1"]}, 1)  # feed_id & co. have no default
    with pytest.raises(ValueError, match="rows"):
        article_columns_to_table(columns, 3)


def test_other_version_is_refused_with_a_clear_message():
    table = articles_to_table([_article()])
    old = table.replace_schema_metadata({"feedmon.table": "articles", "feedmon.schema_version": "0"})
    with pytest.raises(SchemaError, match="schema version 0, this feedmon writes 2"):
        table_to_articles(old)


def test_version_1_snapshots_are_upgraded_on_read():
    """v1 (before `link`) files written by earlier releases still serve dedup history and readers."""
    v2 = articles_to_table([_article()])
    v1 = v2.drop_columns(["link"]).replace_schema_metadata({"feedmon.table": "articles", "feedmon.schema_version": "1"})
    (art,) = table_to_articles(v1)
    assert art.link == art.url == "https://x.example/1"


def test_version_1_feed_health_is_upgraded_on_read(tmp_path):
    """v1 files (before `recovered_by`) still serve the report, the alerts and the monitor."""
    from feedmon import storage
    from feedmon.config import Settings
    from feedmon.outputs import read_feed_health

    row = {
        "feed_id": "f", "url": "https://x.example/f.xml", "run_id": "r1", "status": "ok", "entries": 3,
        "new_articles": 1, "bytes": 10, "fetched_at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "duration_ms": 5,
        "consecutive_failures": 0,
    }  # fmt: skip
    v2 = rows_to_table([row], FEED_HEALTH_SCHEMA)
    meta = {"feedmon.table": "feed_health", "feedmon.schema_version": "1"}
    v1 = v2.drop_columns(["recovered_by"]).replace_schema_metadata(meta)
    upgraded = upgrade_feed_health(v1)
    assert upgraded.schema.equals(FEED_HEALTH_SCHEMA, check_metadata=True)
    assert upgraded.column("recovered_by").to_pylist() == [None]
    settings = Settings.from_env(data_dir=str(tmp_path))
    storage.write_parquet_atomic(settings.feed_health_path(date(2026, 1, 2), "r1"), v1)
    assert read_feed_health(settings, [date(2026, 1, 2)]) == [
        row | {"final_url": None, "http_status": None, "error": None, "recovered_by": None}
    ]


def test_missing_column_refused():
    with pytest.raises(SchemaError, match="lacks columns"):
        check_schema(pa.schema([("article_id", pa.string())]), ARTICLE_SCHEMA)


def test_article_table_is_the_columnar_twin_of_the_record_round_trip():
    """Stages that stay columnar (tag, publish) see exactly what a round trip through records gives."""
    from feedmon.schema import article_table

    arts = [
        Article(
            article_id=f"a{i}", feed_id="f", source="F", url=f"https://x.example/{i}", guid=None, title=f"T {i}",
            text="body", published_at=None, first_seen_at=datetime(2026, 11, 28, 10, i, tzinfo=UTC),
            conflict_regions=["Sahel"] if i else [], is_conflict=bool(i),
        )
        for i in range(3)
    ]  # fmt: skip
    table = articles_to_table(arts)
    # a hive key column and foreign metadata, in another column order
    messy = table.append_column("date", pa.array(["2026-11-28"] * 3)).select(["date", *reversed(table.column_names)])
    messy = messy.replace_schema_metadata(table.schema.metadata | {b"feedmon.gazetteer_version": b"g1"})
    got = article_table(messy)
    assert got.schema.equals(ARTICLE_SCHEMA) and got.equals(articles_to_table(table_to_articles(messy)))
    assert got.schema.metadata[b"feedmon.gazetteer_version"] == b"g1"
    assert got.schema.metadata[b"feedmon.schema_version"] == ARTICLE_SCHEMA.metadata[b"feedmon.schema_version"]
    v1 = table.drop_columns(["link"]).replace_schema_metadata(
        {"feedmon.table": "articles", "feedmon.schema_version": "1"}
    )
    assert article_table(v1).column("link").to_pylist() == table.column("url").to_pylist()


def test_only_some_fields_are_read_when_asked():
    """dedup's history reads a few columns; the other fields keep the record's defaults."""
    few = ["article_id", "feed_id", "source", "url", "guid", "title", "text", "published_at", "first_seen_at"]
    (art,) = table_to_articles(articles_to_table([_article()]).select(few), only=few)
    assert art.article_id == _article().article_id and art.link == "" and art.conflict_evidence == []
    with pytest.raises(SchemaError, match="lacks columns"):
        table_to_articles(articles_to_table([_article()]).drop_columns(["title"]), only=["article_id", "title"])


def test_a_string_column_reads_back_what_arrow_holds_across_chunks() -> None:
    chunks = [pa.array(["a", "", "héllo – 東京", None]), pa.chunked_array([pa.array(["x", "yz", "w"]).slice(1, 1)])]
    column = StringColumn(chunks)
    assert list(column) == ["a", "", "héllo – 東京", "", "yz"]  # a null reads as ""
    assert (len(column), column[-1], column[1:3]) == (5, "yz", ["", "héllo – 東京"])
    with pytest.raises(IndexError):
        column[5]
    assert list(StringColumn([])) == [] and list(StringColumn([pa.array([], pa.string())])) == []


def test_value_codes_are_equal_for_equal_strings_across_chunks_and_minus_one_for_none() -> None:
    chunks = [pa.array(["u", "", None, "v"]), pa.chunked_array([pa.array(["v", "u", ""])])]
    assert list(value_codes(chunks)) == [0, -1, -1, 1, 1, 0, -1]
    assert list(value_codes(chunks, empty=True)) == [0, 1, -1, 2, 2, 0, 1]
    assert list(value_codes([])) == []
