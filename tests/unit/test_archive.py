import gzip
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedmon import archive
from feedmon.ids import body_hash
from feedmon.models import FeedConfig, FetchResult

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
FEEDS = {
    "a": FeedConfig(id="a", url="https://a.example/rss", name="A", agency="AP", language="en"),
    "b": FeedConfig(id="b", url="https://b.example/rss"),
}


def _results(t: datetime) -> list[FetchResult]:
    return [
        FetchResult("a", FEEDS["a"].url, "ok", t, 12, http_status=200, body=b"<rss/>", bytes=6,
                    headers={"etag": '"x"'}),
        FetchResult("b", FEEDS["b"].url, "http_error", t, 5, http_status=404, error="HTTP 404"),
    ]  # fmt: skip


def test_round_trip_keeps_bodies_headers_and_feed_config(tmp_path: Path):
    run = str(tmp_path / "run1")
    archive.write_batch(run, 0, "run-1", _results(T0), FEEDS)
    back = archive.read_run(run)
    assert [replace(r, body_sha256=None) for r in back] == _results(T0)
    assert back[0].body_sha256 == body_hash(b"<rss/>") and back[1].body_sha256 is None
    manifest_only = archive.read_run(run, bodies=False)[0]
    assert manifest_only.body is None and manifest_only.body_sha256 == body_hash(b"<rss/>")
    assert archive.read_feed_configs(run)["a"] == FEEDS["a"]
    assert archive.run_id(run) == "run-1"
    assert gzip.decompress((tmp_path / "run1" / "a.body.gz").read_bytes()) == b"<rss/>"


def test_corrupt_body_is_refused(tmp_path: Path):
    run = str(tmp_path / "run1")
    archive.write_batch(run, 0, "run-1", _results(T0), FEEDS)
    (tmp_path / "run1" / "a.body.gz").write_bytes(gzip.compress(b"<rss>tampered</rss>"))
    with pytest.raises(ValueError, match="checksum mismatch"):
        archive.read_run(run)
    lenient = archive.read_run(run, strict=False)
    assert lenient[0].status == "parse_error" and lenient[0].body is None and "corrupt" in lenient[0].error
    assert lenient[1].status == "http_error", "the other feeds are untouched"


def test_runs_listed_oldest_first_whatever_their_names(tmp_path: Path):
    archive.write_batch(str(tmp_path / "zzz-early"), 0, "early", _results(T0), FEEDS)
    archive.write_batch(str(tmp_path / "aaa-late"), 0, "late", _results(T0.replace(hour=9)), FEEDS)
    runs = archive.list_runs(str(tmp_path))
    assert [archive.run_id(r) for r in runs] == ["early", "late"]


def test_a_run_is_unpublished_until_every_manifest_it_archived_is_marked(tmp_path: Path):
    day = tmp_path / "date=2026-11-28"
    early, late = str(day / "early"), str(day / "late")
    for batch in (0, 1):
        archive.write_batch(early, batch, "early", _results(T0), FEEDS)
    archive.write_batch(late, 0, "late", _results(T0.replace(hour=9)), FEEDS)
    assert archive.unpublished_runs(str(day)) == [early, late]
    archive.mark_published(early, ["manifest-0000.json"], run_id="early", by="early", at=T0)
    assert archive.unpublished_runs(str(day)) == [early, late], "batch 1 is not covered yet"
    archive.mark_published(early, archive.manifest_names(early), run_id="early", by="late", at=T0)
    archive.mark_published(early, archive.manifest_names(early), run_id="early", by="early", at=T0)  # a union
    assert archive.unpublished_runs(str(day)) == [late]
    # a batch fetched again after the run published (an Airflow task cleared) is not covered any more
    archive.write_batch(early, 1, "early", _results(T0), FEEDS)
    assert archive.unpublished_runs(str(day)) == [early, late]
    # archives from before the markers (manifest version 1): the caller names the runs that published
    # by other means; a run archived by this version is only ever published by its markers
    legacy = day / "legacy"
    archive.write_batch(str(legacy), 0, "legacy", _results(T0.replace(hour=3)), FEEDS)
    manifest = legacy / "manifest-0000.json"
    manifest.write_text(manifest.read_text().replace('"version": 2', '"version": 1'))
    assert archive.unpublished_runs(str(day)) == [str(legacy), early, late]
    assert archive.unpublished_runs(str(day), legacy_published={"legacy", "late"}) == [early, late]
    assert archive.list_runs(str(day)) == [str(legacy), early, late], "markers are not manifests"


def test_bodies_archived_while_fetching_are_named_not_rewritten(tmp_path: Path):
    run = str(tmp_path / "run1")
    results = _results(T0)
    results.append(FetchResult("c", "https://c.example/rss", "ok", T0, 3, http_status=200, body=b"<feed/>", bytes=7))
    feeds = FEEDS | {"c": FeedConfig(id="c", url="https://c.example/rss")}
    early = archive.write_body(run, results[0])  # as the fetch does when feed a arrives
    assert archive.write_body(run, results[1]) is None  # no body, nothing to archive
    before = (tmp_path / "run1" / "a.body.gz").stat()
    archive.write_batch(run, 0, "run-1", results, feeds, written={"a": early})
    after = (tmp_path / "run1" / "a.body.gz").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not written twice
    # c, not written early, was written by write_batch (read back, a row also names its body's hash)
    back = archive.read_run(run)
    assert [replace(r, body_sha256=None) for r in back] == results
    assert [r.body_sha256 for r in back] == [
        body_hash(r.body) if r.status == "ok" and r.body else None for r in results
    ]
