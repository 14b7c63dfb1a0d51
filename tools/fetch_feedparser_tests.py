"""Fetch feedparser's source distribution (hash-pinned) and unpack its test feeds into .cache/.

The differential parse test runs feedparser's own ~2,000 test feeds through both parsers. They ship
only in the sdist, which is a registry package: pip downloads it with ``--require-hashes`` against
``tools/feedparser-sdist.lock``, and only its ``tests/`` folder is unpacked (data filter, so no
member can land outside the cache). Nothing is installed and nothing is committed.

    .venv/bin/python tools/fetch_feedparser_tests.py     # prints the path of the unpacked tests/
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "tools" / "feedparser-sdist.lock"
CACHE = ROOT / ".cache" / "feedparser-sdist"


def tests_dir() -> Path:
    """The unpacked ``tests/`` folder of the locked sdist; downloads it the first time."""
    stamp = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    target = CACHE / stamp
    done = target / ".complete"
    if not done.exists():
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "--no-build-isolation",  # metadata from the venv's setuptools, no extra download
                    "--require-hashes",
                    "-r",
                    str(LOCK),
                    "-d",
                    tmp,
                ],
                check=True,
            )
            (sdist,) = Path(tmp).glob("feedparser-*.tar.gz")
            with tarfile.open(sdist) as tar:
                members = [m for m in tar.getmembers() if m.name.split("/")[1:2] == ["tests"]]
                tar.extractall(target, members=members, filter="data")
        done.touch()
    (tests,) = target.glob("feedparser-*/tests")
    return tests


if __name__ == "__main__":
    print(tests_dir())
