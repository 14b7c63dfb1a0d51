import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from feedmon import storage


def test_atomic_write_replaces_whole_file(tmp_path: Path):
    target = tmp_path / "a" / "b.bin"
    storage.write_bytes_atomic(str(target), b"old")
    storage.write_bytes_atomic(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["b.bin"]


def test_crash_mid_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch):
    target = tmp_path / "snap.parquet"
    storage.write_bytes_atomic(str(target), b"complete old snapshot")

    class Crash(RuntimeError):
        pass

    def exploding_replace(self, other):
        raise Crash("power cut between write and rename")

    monkeypatch.setattr(Path, "replace", exploding_replace)
    with pytest.raises(Crash):
        storage.write_bytes_atomic(str(target), b"half")
    monkeypatch.undo()
    assert target.read_bytes() == b"complete old snapshot"
    assert [p.name for p in tmp_path.iterdir()] == ["snap.parquet"]


def test_parquet_round_trip_keeps_metadata(tmp_path: Path):
    schema = pa.schema([("x", pa.int32())], metadata={"k": "v"})
    path = storage.write_parquet_atomic(str(tmp_path / "t.parquet"), pa.table({"x": [1, 2]}, schema=schema))
    table = storage.read_parquet(path)
    assert table.column("x").to_pylist() == [1, 2]
    assert table.schema.metadata[b"k"] == b"v"


def test_glob_join_parent_remove(tmp_path: Path):
    for name in ("b.json", "a.json", "c.txt"):
        storage.write_text_atomic(storage.join(str(tmp_path), "d", name), "{}")
    found = storage.glob(storage.join(str(tmp_path), "d", "*.json"))
    assert [Path(p).name for p in found] == ["a.json", "b.json"]
    assert storage.parent(found[0]) == str(tmp_path / "d")
    storage.remove(found[0])
    assert not storage.exists(found[0])
    storage.remove_tree(str(tmp_path / "d"))
    assert not (tmp_path / "d").exists()


def test_url_helpers_do_not_touch_the_network():
    assert storage.join("s3://bucket/prefix/", "snapshots", "x") == "s3://bucket/prefix/snapshots/x"
    assert storage.parent("s3://bucket/p/x.parquet") == "s3://bucket/p"
    assert not storage.is_local("s3://bucket")
    assert storage.is_local("/tmp/x") and storage.is_local("file:///tmp/x")


@pytest.mark.parametrize("root", ["local", "memory://feedmon-test-mtime"])
def test_last_modified_of_a_file_and_of_a_folders_newest_file(tmp_path: Path, root: str):
    """What clean_leftovers judges a dead run's work folder by, locally and on an object store."""
    base = str(tmp_path) if root == "local" else root
    before = datetime.now(UTC) - timedelta(seconds=5)
    path = storage.join(base, "work", "run", "entries.parquet")
    storage.write_bytes_atomic(path, b"x")
    file_time, folder_time = storage.last_modified(path), storage.last_modified(storage.join(base, "work"))
    assert file_time is not None and folder_time is not None
    assert before <= file_time <= datetime.now(UTC) + timedelta(seconds=5) and folder_time >= file_time
    assert storage.last_modified(storage.join(base, "nothing-here")) is None


def test_sorted_parquet_pieces_sort_the_file_in_passes_as_a_take_of_the_whole_would(tmp_path: Path) -> None:
    rng = random.Random(3)
    n = 103
    keys = {"t": [rng.randrange(10) for _ in range(n)], "id": [f"{rng.random():.6f}" for _ in range(n)]}
    table = pa.table({**keys, "v": list(range(n))}).replace_schema_metadata({"k": "v"})
    path = tmp_path / "day.parquet"
    pq.write_table(table, path, row_group_size=10)
    by = [("t", "ascending"), ("id", "descending")]
    whole = table.take(pc.sort_indices(table, sort_keys=by))
    for pass_rows in (1000, 20, 7, 1):  # one pass, several, one piece a pass
        pieces = list(storage.sorted_parquet_pieces(str(path), by, piece_rows=7, pass_rows=pass_rows))
        assert [p.num_rows for p in pieces] == [7] * 14 + [5]
        got = pa.concat_tables(pieces)
        assert got.equals(whole) and got.schema.metadata == {b"k": b"v"}
    empty = tmp_path / "empty.parquet"
    pq.write_table(table.slice(0, 0), empty)
    (piece,) = storage.sorted_parquet_pieces(str(empty), by, piece_rows=7, pass_rows=20)
    assert piece.num_rows == 0 and piece.schema.equals(table.schema)
