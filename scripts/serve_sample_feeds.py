"""Serve the bundled sample feeds on 127.0.0.1 (free port) until SIGTERM, for scripts/test_distributed.sh.

Writes a feeds file pointing at the server (the same helpers `make demo` uses), then prints the base
URL on stdout so the caller knows the server is up. Usage::

    python scripts/serve_sample_feeds.py FEEDS_FILE_TO_WRITE
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from feedmon.demo import SAMPLE_DIR, serve_directory, write_feeds_file


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with serve_directory(SAMPLE_DIR) as base:
        write_feeds_file(base, Path(argv[0]))
        print(base, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
