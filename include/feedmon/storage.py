"""One storage abstraction for every file feedmon writes: local paths and object-store URLs.

``FEEDMON_DATA_DIR`` may be ``./data`` or ``s3://bucket/prefix``; all writes go through
:func:`write_bytes_atomic`, so a crash never leaves a half file. Locally that is temp file + fsync +
``os.replace``; on object stores a single PUT is already all-or-nothing.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import fsspec
import fsspec.config

if TYPE_CHECKING:
    import pyarrow as pa


def _fs(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    # Scale-out fixes, both covered by tests/integration/test_storage_s3.py:
    # - url_to_fs, not get_fs_token_paths: the latter expands a glob pattern itself, so glob() on s3://
    #   returned only its first match.
    # - fsspec reuses one filesystem per process and s3fs caches listings forever, so files another
    #   worker/host wrote stayed invisible to exists()/glob(); the store is the shared truth, so drop
    #   the (in-memory) listing cache on every call.
    fs, p = fsspec.core.url_to_fs(path)
    fs.invalidate_cache()
    return fs, p


def use_options(protocol: str, options: Mapping[str, Any]) -> None:
    """Open every ``protocol`` filesystem of this process with ``options`` (credentials, endpoint, ...).

    For credentials that do not come from the environment (the Airflow adapter resolves
    ``FEEDMON_DATA_CONN_ID`` into them). Set as fsspec's own per-protocol defaults, so every reader
    of the data dir (this module, the fetch state store, DuckDB's fsspec bridge) uses them without
    passing them around; options given explicitly at a call still win.
    """
    fsspec.config.conf[protocol] = dict(options)


def protocol_of(path: str) -> str:
    """``s3`` for ``s3://bucket/x``; ``file`` for local paths."""
    return path.split("://", 1)[0] if "://" in path else "file"


def is_local(path: str) -> bool:
    """True for plain paths and ``file://`` URLs."""
    return "://" not in path or path.startswith("file://")


def join(root: str, *parts: str) -> str:
    """Join path parts with ``/`` for URLs and the OS separator for local paths."""
    if is_local(root):
        return str(Path(root.removeprefix("file://"), *parts))
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def parent(path: str) -> str:
    """The folder holding ``path`` (URL-aware)."""
    if is_local(path):
        return str(Path(path.removeprefix("file://")).parent)
    return path.rstrip("/").rsplit("/", 1)[0]


def basename(path: str) -> str:
    """The last part of a path or URL (a file's name)."""
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def remove_tree(path: str) -> None:
    """Delete a folder and everything below it, if it exists."""
    if is_local(path):
        shutil.rmtree(path.removeprefix("file://"), ignore_errors=True)
        return
    fs, p = _fs(path)
    with suppress(FileNotFoundError):
        fs.rm(p, recursive=True)


@contextmanager
def exclusive_lock(path: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` between processes of this host.

    Local paths only: object stores have no locks, so remote paths yield without one (callers
    document the one-writer rule that applies there).
    """
    if not is_local(path):
        yield
        return
    import fcntl  # POSIX only, like Airflow workers

    lock = Path(path.removeprefix("file://"))
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def remove_lock_file(path: str) -> bool:
    """Delete a lock file nobody holds (taken without waiting first); False when it is held or absent."""
    if not is_local(path):
        return False
    import fcntl

    lock = Path(path.removeprefix("file://"))
    try:
        with lock.open("rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            lock.unlink()
            return True
    except FileNotFoundError:
        return False


def last_modified(path: str) -> datetime | None:
    """When a file, or the newest thing inside a folder, was last written (None when absent)."""
    if is_local(path):
        root = Path(path.removeprefix("file://"))
        stamps: list[float] = []
        for item in [root, *(root.rglob("*") if root.is_dir() else ())]:
            with suppress(FileNotFoundError):  # removed while we looked
                stamps.append(item.stat().st_mtime)
        return datetime.fromtimestamp(max(stamps), UTC) if stamps else None
    fs, p = _fs(path)
    infos = list(fs.find(p, detail=True).values()) if fs.isdir(p) else []
    if not infos:
        try:
            infos = [fs.info(p)]
        except FileNotFoundError:
            return None
    times = [t for info in infos if (t := _info_time(info)) is not None]
    return max(times) if times else None


def _info_time(info: dict[str, object]) -> datetime | None:
    for key in ("LastModified", "mtime", "created"):  # s3fs, local-like and memory filesystems
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
    return None


def write_bytes_atomic(path: str, data: bytes) -> str:
    """Write ``data`` so readers see either the old file or the whole new one, never a part."""
    if is_local(path):
        return _write_local_atomic(path, lambda fh: fh.write(data))
    fs, p = _fs(path)
    fs.pipe_file(p, data)
    return path


def _write_local_atomic(path: str, write: Callable[[BinaryIO], object]) -> str:
    """``write`` into a hidden temporary file beside ``path``, fsync, rename over ``path``."""
    target = Path(path.removeprefix("file://"))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    try:
        with tmp.open("wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(target)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()
    return str(target)


def write_text_atomic(path: str, text: str) -> str:
    """UTF-8 text variant of :func:`write_bytes_atomic`."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def read_bytes(path: str) -> bytes:
    """Read a whole file (raises FileNotFoundError when absent)."""
    if is_local(path):
        return Path(path.removeprefix("file://")).read_bytes()
    fs, p = _fs(path)
    return fs.cat_file(p)


def exists(path: str) -> bool:
    """True when the file or folder exists."""
    if is_local(path):
        return Path(path.removeprefix("file://")).exists()
    fs, p = _fs(path)
    return fs.exists(p)


def glob(pattern: str) -> list[str]:
    """Sorted matches of a glob pattern, as paths/URLs usable with the other functions."""
    if is_local(pattern):
        pat = pattern.removeprefix("file://")
        anchor = Path(pat).anchor or "."
        rel = os.path.relpath(pat, anchor) if Path(pat).is_absolute() else pat
        return sorted(str(p) for p in Path(anchor).glob(rel))
    fs, p = _fs(pattern)
    proto = protocol_of(pattern)
    return sorted(f"{proto}://{m}" for m in fs.glob(p))


def remove(path: str) -> None:
    """Delete a file if it exists."""
    if is_local(path):
        with suppress(FileNotFoundError):
            Path(path.removeprefix("file://")).unlink()
        return
    fs, p = _fs(path)
    with suppress(FileNotFoundError):
        fs.rm_file(p)


def write_parquet_atomic(path: str, table: pa.Table | Iterable[pa.Table], *, schema: pa.Schema | None = None) -> str:
    """Write a table to Parquet and publish it atomically. ``table`` may also be an iterable of
    tables of one schema (each a row group), so a big file never needs its whole table in memory;
    ``schema`` (else the first piece's) lets an iterable with no piece still write a valid file.
    Local files are written in place of a temporary name, without a copy of the file in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq  # deferred: keeps DAG parsing light

    def write(sink: BinaryIO) -> None:
        if isinstance(table, pa.Table):
            pq.write_table(table, sink, compression="zstd")
            return
        writer = None if schema is None else pq.ParquetWriter(sink, schema, compression="zstd")
        for piece in table:
            if writer is None:
                writer = pq.ParquetWriter(sink, piece.schema, compression="zstd")
            writer.write_table(piece)
        if writer is None:
            raise ValueError(f"{path}: no table to write")
        writer.close()

    if is_local(path):
        return _write_local_atomic(path, write)
    buf = io.BytesIO()
    write(buf)
    return write_bytes_atomic(path, buf.getvalue())


#: Rows gathered before :func:`write_parquet_parts_atomic` writes a row group.
PARQUET_GROUP_ROWS = 2048


def write_parquet_parts_atomic(path: str, schema: pa.Schema, parts: Iterable[pa.Table]) -> tuple[str, int]:
    """:func:`write_parquet_atomic` for a table that arrives in parts (one row group or more each),
    so no caller holds the whole table; empty parts are skipped, the file has ``schema`` even when
    no row came. Returns the path and the number of rows written."""
    import pyarrow as pa

    rows = 0

    def pieces() -> Iterator[pa.Table]:
        # Small parts (one feed's entries) are gathered into row groups of PARQUET_GROUP_ROWS or
        # more: hundreds of tiny row groups cost time to write and to read back.
        nonlocal rows
        pending: list[pa.Table] = []
        held = 0
        for part in parts:
            if part.num_rows:
                rows += part.num_rows
                pending.append(part if part.schema.equals(schema) else part.cast(schema))
                held += part.num_rows
                if held >= PARQUET_GROUP_ROWS:
                    yield pa.concat_tables(pending)
                    pending, held = [], 0
        if pending:
            yield pa.concat_tables(pending)

    return write_parquet_atomic(path, pieces(), schema=schema), rows


@contextmanager
def _parquet_input(path: str, *, footer_only: bool = False) -> Iterator[BinaryIO]:
    """One Parquet file to read: a local file as it is (no copy of its bytes in memory); an object
    in one GET, or opened for ranged reads when only its footer is wanted."""
    if is_local(path):
        with Path(path.removeprefix("file://")).open("rb") as fh:
            yield fh
    elif footer_only:
        fs, p = _fs(path)
        with fs.open(p, "rb") as fh:
            yield fh
    else:
        yield io.BytesIO(read_bytes(path))


def parquet_rows(path: str) -> int:
    """How many rows a Parquet file holds (its footer only is read)."""
    import pyarrow.parquet as pq

    with _parquet_input(path, footer_only=True) as fh:
        return int(pq.ParquetFile(fh).metadata.num_rows)


def iter_parquet_batches(
    path: str, batch_size: int = 2048, columns: Sequence[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """The rows of one Parquet file, ``batch_size`` at a time (decoded batch by batch); only
    ``columns`` when given."""
    import pyarrow.parquet as pq

    with _parquet_input(path) as fh:
        yield from pq.ParquetFile(fh).iter_batches(
            batch_size=batch_size, columns=None if columns is None else list(columns)
        )


def sorted_parquet_pieces(
    path: str, sort_keys: Sequence[tuple[str, str]], *, piece_rows: int, pass_rows: int
) -> Iterator[pa.Table]:
    """The rows of one Parquet file sorted by ``sort_keys`` (``pyarrow.compute.sort_indices``'
    keys), ``piece_rows`` at a time, holding at most about ``pass_rows`` rows: a file of up to
    ``pass_rows`` rows is read whole, once; a larger one has only its key columns read whole,
    then the file once per ``pass_rows`` rows of output, keeping the rows that land there. The
    pieces are what ``table.take(order)`` of the whole table would give, ``piece_rows`` at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if parquet_rows(path) <= pass_rows:  # one pass: the whole table at once, sorted as it is
        table = read_parquet(path)
        order = pc.sort_indices(table, sort_keys=list(sort_keys))
        for i in range(0, max(table.num_rows, 1), piece_rows):
            yield table.take(order[i : i + piece_rows])
        return
    keys = read_parquet(path, columns=[name for name, _ in sort_keys])
    n = keys.num_rows
    rank = np.empty(n, dtype=np.int64)  # file row -> output position
    rank[pc.sort_indices(keys, sort_keys=list(sort_keys)).to_numpy()] = np.arange(n)
    del keys
    step = max(pass_rows // piece_rows, 1) * piece_rows  # passes end on piece boundaries
    for lo in range(0, n, step):
        parts, where, start = [], [], 0
        for batch in iter_parquet_batches(path, piece_rows):
            r = rank[start : start + batch.num_rows]
            start += batch.num_rows
            inside = (r >= lo) & (r < lo + step)
            if inside.any():
                parts.append(pa.Table.from_batches([batch]).filter(pa.array(inside)))
                where.append(r[inside] - lo)
        rows = pa.concat_tables(parts)
        at = np.empty(rows.num_rows, dtype=np.int64)  # output position -> row of ``rows``
        at[np.concatenate(where)] = np.arange(rows.num_rows)
        for i in range(0, rows.num_rows, piece_rows):
            yield rows.take(pa.array(at[i : i + piece_rows]))
        del rows, parts
        pa.default_memory_pool().release_unused()  # each pass's rows, not the sum of them


def read_parquet(path: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Read one Parquet file (with its schema metadata); only ``columns`` when given."""
    import pyarrow.parquet as pq

    with _parquet_input(path) as fh:
        return pq.read_table(fh, columns=None if columns is None else list(columns))


def read_parquet_schema(path: str) -> pa.Schema:
    """The schema (and metadata) of one Parquet file, from its footer alone."""
    import pyarrow.parquet as pq

    with _parquet_input(path, footer_only=True) as fh:
        return pq.read_schema(fh)


def iter_parquet(pattern: str) -> Iterator[tuple[str, pa.Table]]:
    """Yield ``(path, table)`` for every Parquet file matching ``pattern``."""
    for path in glob(pattern):
        yield path, read_parquet(path)
