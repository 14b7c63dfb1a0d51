"""Raw archive of every fetched body, so a day can be reprocessed without the network.

Layout: ``<data>/raw/date=D/<run_key>/`` holds one gzip file per fetched body and one
``manifest-<batch>.json`` per fetch batch with each feed's URL, status, headers and timings. The
archive is also how the fetch tasks hand their bytes to the parse task (paths through XCom, not data).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from feedmon import storage
from feedmon.ids import body_hash
from feedmon.models import FeedConfig, FetchResult

MANIFEST_VERSION = 1


def _meta(result: FetchResult) -> dict[str, Any]:
    return {
        "feed_id": result.feed_id,
        "url": result.url,
        "final_url": result.final_url,
        "status": result.status,
        "http_status": result.http_status,
        "error": result.error,
        "headers": result.headers,
        "bytes": result.bytes,
        "fetched_at": result.fetched_at.isoformat(),
        "duration_ms": result.duration_ms,
        "consecutive_failures": result.consecutive_failures,
    }


def write_body(run_dir: str, result: FetchResult) -> dict[str, str] | None:
    """Archive one fetched body; returns the manifest fields that name it (None: the result has none).

    Separate from :func:`write_batch` so a fetch can archive each body as it arrives, while other
    feeds are still on the wire, instead of compressing and writing them all after the last one.
    """
    if result.body is None:
        return None
    body_path = storage.join(run_dir, f"{result.feed_id}.body.gz")
    storage.write_bytes_atomic(body_path, gzip.compress(result.body, compresslevel=6, mtime=0))
    return {"body": f"{result.feed_id}.body.gz", "sha256": body_hash(result.body)}


def write_batch(
    run_dir: str,
    batch: int,
    run_id: str,
    results: Sequence[FetchResult],
    feeds: Mapping[str, FeedConfig],
    *,
    written: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """Archive one fetch batch's bodies and manifest; returns the manifest path.

    ``written`` holds what :func:`write_body` returned for bodies archived already (by feed id);
    the others are written here. The feed's configuration is archived too, so a reprocess labels
    articles as the original run did even if the feeds file changed since.
    """
    entries = []
    for result in results:
        meta = _meta(result)
        feed = feeds[result.feed_id]
        meta["feed"] = {"name": feed.name, "agency": feed.agency, "language": feed.language}
        if result.body is not None:
            done = (written or {}).get(result.feed_id)
            meta |= done if done is not None else (write_body(run_dir, result) or {})
        entries.append(meta)
    manifest = {"version": MANIFEST_VERSION, "run_id": run_id, "batch": batch, "results": entries}
    path = storage.join(run_dir, f"manifest-{batch:04d}.json")
    storage.write_text_atomic(path, json.dumps(manifest, indent=1, sort_keys=True))
    return path


def _manifests(run_dir: str) -> list[dict[str, Any]]:
    return [json.loads(storage.read_bytes(p)) for p in storage.glob(storage.join(run_dir, "manifest-*.json"))]


def read_run(run_dir: str, *, bodies: bool = True, strict: bool = True) -> list[FetchResult]:
    """Every archived fetch result of one run, in batch then feed order.

    ``bodies=False`` reads only the manifests (for feed-health rows), skipping decompression. A body
    that fails its checksum raises, or with ``strict=False`` turns that feed's row into a
    ``parse_error`` so the other feeds are still processed.
    """
    results: list[FetchResult] = []
    for manifest in _manifests(run_dir):
        for meta in manifest["results"]:
            body = None
            if bodies and meta.get("body"):
                try:
                    body = gzip.decompress(storage.read_bytes(storage.join(run_dir, meta["body"])))
                    if body_hash(body) != meta["sha256"]:
                        raise ValueError("checksum mismatch")
                except (OSError, ValueError, EOFError) as exc:
                    problem = f"{run_dir}/{meta['body']}: archived body unreadable ({exc}), archive is corrupt"
                    if strict:
                        raise ValueError(problem) from None
                    body, meta = None, meta | {"status": "parse_error", "error": problem}
            results.append(
                FetchResult(
                    feed_id=meta["feed_id"],
                    url=meta["url"],
                    final_url=meta.get("final_url"),
                    status=meta["status"],
                    http_status=meta.get("http_status"),
                    error=meta.get("error"),
                    headers=meta.get("headers") or {},
                    bytes=meta.get("bytes", 0),
                    fetched_at=datetime.fromisoformat(meta["fetched_at"]),
                    duration_ms=meta["duration_ms"],
                    consecutive_failures=meta.get("consecutive_failures", 0),
                    body=body,
                )
            )
    return results


def read_feed_configs(run_dir: str) -> dict[str, FeedConfig]:
    """The feed configurations as they were when the run fetched."""
    feeds: dict[str, FeedConfig] = {}
    for manifest in _manifests(run_dir):
        for meta in manifest["results"]:
            feeds[meta["feed_id"]] = FeedConfig(id=meta["feed_id"], url=meta["url"], **(meta.get("feed") or {}))
    return feeds


def run_id(run_dir: str) -> str:
    """The pipeline run id that wrote an archived run."""
    return _manifests(run_dir)[0]["run_id"]


def run_started_at(run_dir: str) -> datetime | None:
    """Earliest fetch time recorded in a run's manifests (orders runs for reprocessing)."""
    times = [r.fetched_at for r in read_run(run_dir, bodies=False)]
    return min(times) if times else None


def list_runs(raw_day_dir: str) -> list[str]:
    """The archived run folders of one day, oldest first."""
    dirs = {storage.parent(p) for p in storage.glob(storage.join(raw_day_dir, "*", "manifest-*.json"))}
    dated = sorted((run_started_at(d) or datetime.max.replace(tzinfo=UTC), d) for d in dirs)
    return [d for _, d in dated]
