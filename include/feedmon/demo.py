"""Offline demo: serve the bundled sample feeds on localhost and run one real pipeline cycle.

Also used by the end-to-end tests, so the demo path and the tested path are the same code.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from feedmon.config import PROJECT_ROOT

SAMPLE_DIR = PROJECT_ROOT / "include" / "sample_feeds"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_directory(directory: Path | str, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``directory`` over real HTTP on a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="feedmon-demo-http")
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_feeds_file(base_url: str, target: Path, template: Path = SAMPLE_DIR / "feeds.yaml") -> Path:
    """Write a feeds file pointing the sample feeds at ``base_url``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(template.read_text(encoding="utf-8").replace("{base}", base_url), encoding="utf-8")
    return target


def format_summary(summary: dict) -> str:
    """The human summary printed by `feedmon run`, `feedmon demo` and `make demo`."""
    lines = [
        f"feedmon — {summary['date']} (run {summary['run_id']})",
        f"  feeds        {summary['feeds_ok']} ok, {summary['feeds_failed']} failed"
        + (f" ({', '.join(summary['failed_feeds'])})" if summary["failed_feeds"] else ""),
        f"  articles     {summary['articles']} in the day's snapshot ({summary['new_articles']} new this run)",
        f"  stories      {summary['stories']} ({summary['copies_folded']} copies folded into stories,"
        f" {summary.get('exact_duplicates', 0)} exact duplicates dropped this run)",
        f"  conflict     {summary['conflict_stories']} conflict-tagged stories",
    ]
    for region, count in summary["conflict_stories_by_region"].items():
        lines.append(f"               {count:>3}  {region}")
    lines += [f"  snapshot     {summary['snapshot']}", f"  feed health  {summary['feed_health']}"]
    for rec in summary.get("recovered_runs", []):
        what = (
            f"replay failed ({rec['error']}); the next run tries again"
            if "error" in rec
            else f"{rec['new_articles']} new articles from {rec['feeds']} feeds"
        )
        lines.append(f"  recovered    run {rec['run_id']} of {rec['date']}, which never published: {what}")
    return "\n".join(lines)
