"""Raw archive of every fetched body, so a day can be reprocessed without the network.

Layout: ``<data>/raw/date=D/<run_key>/`` holds one gzip file per fetched body and one
``manifest-<batch>.json`` per fetch batch with each feed's URL, status, headers and timings. The
archive is also how the fetch tasks hand their bytes to the parse task (paths through XCom, not data).

Once the day's snapshot holds what a manifest's bodies carried, ``publish`` writes
``published-<batch>.json`` beside it (:func:`mark_published`). A manifest without its marker belongs
to a run that never published (killed, failed): :func:`unpublished_runs` finds those folders so the
next run can replay them. One marker per manifest makes "covered" a union that needs no
read-modify-write (no lock, also on object storage), and finding unpublished runs a listing.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from feedmon import storage
from feedmon.ids import body_hash
from feedmon.models import FeedConfig, FetchResult

#: 2: written by a feedmon that marks published runs (``published-<batch>.json``); 1: from before.
MANIFEST_VERSION = 2


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
    name = f"manifest-{batch:04d}.json"
    # A batch fetched again (an Airflow task cleared after the run published) is not covered by the
    # earlier publish: drop its marker first, so the run counts as unpublished until it publishes again.
    storage.remove(storage.join(run_dir, _marker_name(name)))
    path = storage.join(run_dir, name)
    storage.write_text_atomic(path, json.dumps(manifest, indent=1, sort_keys=True))
    return path


def manifest_names(run_dir: str) -> list[str]:
    """File names of a run's manifests, in batch order."""
    return [storage.basename(p) for p in storage.glob(storage.join(run_dir, "manifest-*.json"))]


def _manifests(run_dir: str, names: Collection[str] | None = None) -> list[dict[str, Any]]:
    paths = storage.glob(storage.join(run_dir, "manifest-*.json"))
    if names is not None:
        paths = [p for p in paths if storage.basename(p) in names]
    return [json.loads(storage.read_bytes(p)) for p in paths]


def read_run(
    run_dir: str, *, bodies: bool = True, strict: bool = True, manifests: Collection[str] | None = None
) -> list[FetchResult]:
    """Every archived fetch result of one run (or of the named ``manifests`` only), in batch then feed order.

    ``bodies=False`` reads only the manifests (for feed-health rows and fetch state: each result
    carries its body's ``body_sha256``), skipping decompression. A body that fails its checksum
    raises, or with ``strict=False`` turns that feed's row into a ``parse_error`` so the other
    feeds are still processed.
    """
    results: list[FetchResult] = []
    for manifest in _manifests(run_dir, manifests):
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
                    body_sha256=meta.get("sha256") if meta["status"] == "ok" else None,
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


def _oldest_first(run_dirs: Iterable[str]) -> list[str]:
    """Runs by their first fetch; a run whose manifests cannot be read goes last (reading it will say why)."""
    latest = datetime.max.replace(tzinfo=UTC)

    def started(run_dir: str) -> datetime:
        try:
            return run_started_at(run_dir) or latest
        except (OSError, ValueError, KeyError):
            return latest

    return [d for _, d in sorted((started(d), d) for d in set(run_dirs))]


def list_runs(raw_day_dir: str) -> list[str]:
    """The archived run folders of one day, oldest first."""
    return _oldest_first(storage.parent(p) for p in storage.glob(storage.join(raw_day_dir, "*", "manifest-*.json")))


# --- published markers ------------------------------------------------------------------------------


def _marker_name(manifest: str) -> str:
    return "published-" + manifest.removeprefix("manifest-")


def mark_published(run_dir: str, manifests: Iterable[str], *, run_id: str, by: str, at: datetime) -> None:
    """Record that the day's snapshot holds everything the named manifests' bodies carried.

    ``by`` is the run that published it (``run_id`` itself, or the run that replayed it).
    Writing a marker twice (a replay racing the run itself) leaves it covered: markers are a union.
    """
    for name in manifests:
        doc = {"manifest": name, "run_id": run_id, "published_by": by, "published_at": at.isoformat()}
        storage.write_text_atomic(storage.join(run_dir, _marker_name(name)), json.dumps(doc, sort_keys=True))


def _archived_before_markers(run_dir: str) -> bool:
    try:
        return all(m["version"] < 2 for m in _manifests(run_dir))
    except (OSError, ValueError, KeyError):
        return False  # unreadable: let the replay say why


def unpublished_runs(raw_day_dir: str, legacy_published: Collection[str] = ()) -> list[str]:
    """Run folders of one day holding a manifest that no published marker covers, oldest first.

    ``legacy_published``: run keys known to have published by other means; their folders count as
    published when all their manifests are version 1 (archived before markers existed).
    A listing, no reads (reads only to order the few folders found): cheap enough for every run.
    """
    names: dict[str, set[str]] = {}
    for path in storage.glob(storage.join(raw_day_dir, "*", "*.json")):
        names.setdefault(storage.parent(path), set()).add(storage.basename(path))
    pending = []
    for run_dir, files in names.items():
        if not any(n.startswith("manifest-") and _marker_name(n) not in files for n in files):
            continue
        if storage.basename(run_dir) in legacy_published and _archived_before_markers(run_dir):
            continue
        pending.append(run_dir)
    return _oldest_first(pending)
