"""The `feedmon` console script as a user runs it (subprocess), including `make demo`'s path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

FEEDMON = str(Path(sys.executable).with_name("feedmon"))


def _run(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = os.environ.copy() | (env_extra or {})
    return subprocess.run([FEEDMON, *args], capture_output=True, text=True, timeout=300, env=env)


def test_demo_prints_summary_offline(tmp_path: Path):
    """`make demo` runs exactly `feedmon demo --data-dir data/demo`."""
    makefile = (REPO / "Makefile").read_text()
    assert "$(BIN)/feedmon demo --data-dir $(CURDIR)/data/demo" in makefile
    out = _run("demo", "--data-dir", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "3 ok, 1 failed (gone-feed)" in text
    assert "Nagorno-Karabakh" in text
    for word in ("articles", "stories", "copies folded", "exact duplicates", "conflict-tagged", "snapshot"):
        assert word in text
    snaps = list((tmp_path / "demo" / "snapshots").glob("date=*/articles.parquet"))
    assert len(snaps) == 1 and str(snaps[0]) in text
    assert len(pd.read_parquet(snaps[0])) > 30


def test_run_json_with_date_and_env_config(tmp_path: Path, sample_feeds: Path):
    data = tmp_path / "out"
    out = _run("run", "--date", "2026-11-20", "--json", env_extra={"FEEDMON_DATA_DIR": str(data)})
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["date"] == "2026-11-20"
    assert summary["feeds_failed"] == 1
    assert (data / "snapshots" / "date=2026-11-20" / "articles.parquet").exists()


def test_strict_run_exits_nonzero_when_too_many_feeds_fail(tmp_path: Path, sample_server: str):
    feeds = tmp_path / "f.yaml"
    feeds.write_text(f"feeds:\n  - {{id: a, url: '{sample_server}/nope.xml'}}\n")
    out = _run("run", "--strict", "--feeds", str(feeds), "--data-dir", str(tmp_path / "d"))
    assert out.returncode == 1
    assert "1 of 1 feeds failed" in out.stderr


def test_bad_feeds_file_is_a_clear_error(tmp_path: Path):
    feeds = tmp_path / "f.yaml"
    feeds.write_text("feeds:\n  - {id: ok, url: 'https://x.example/a'}\n  - {id: broken}\n")
    out = _run("run", "--feeds", str(feeds), "--data-dir", str(tmp_path / "d"))
    assert out.returncode == 2
    assert "feeds[1] (id 'broken'): field 'url'" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_date_and_missing_archive(tmp_path: Path):
    bad = _run("run", "--date", "28/11/2026")
    assert bad.returncode == 2 and "is not a date" in bad.stderr
    missing = _run("reprocess", "--date", "2026-11-01", "--data-dir", str(tmp_path))
    assert missing.returncode == 2 and "no raw archive" in missing.stderr


# --------------------------------------------------------------------------- for people and for scripts
def test_ctrl_c_mid_fetch_is_one_line_and_exit_130(tmp_path: Path):
    import signal
    import time

    from tests.fetch_server import MisbehavingServer

    with MisbehavingServer() as srv:
        feeds = tmp_path / "f.yaml"
        feeds.write_text(f"feeds:\n  - {{id: slow, url: '{srv.url('/slow?delay=30')}'}}\n")
        proc = subprocess.Popen(
            [FEEDMON, "run", "--feeds", str(feeds), "--data-dir", str(tmp_path / "d")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not any(h.path.startswith("/slow") for h in srv.hits) and time.monotonic() < deadline:
            time.sleep(0.1)  # waiting for the request to be in flight
        assert srv.hits, "feedmon never reached the server"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert time.monotonic() - started < 10, "Ctrl-C must not wait for the slow feed"
    assert err == "feedmon: interrupted\n", err
    assert out == ""


def test_progress_goes_to_a_terminal_and_never_into_json(tmp_path: Path, sample_feeds: Path):
    """stderr on a terminal: progress lines for the fetch and each stage; stdout (a pipe) stays pure JSON."""
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [FEEDMON, "run", "--date", "2026-11-20", "--json", "--data-dir", str(tmp_path / "d")],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=300,
            env=os.environ.copy(),
        )
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert done.returncode == 0
    assert json.loads(done.stdout)["date"] == "2026-11-20"
    lines = shown.decode().splitlines()
    for stage in ("fetch:", "parse:", "clean:", "dedup:", "tag:", "publish:"):
        assert any(stage in line for line in lines), (stage, lines)


def test_broken_gazetteer_and_bad_setting_are_one_line_errors(tmp_path: Path):
    bad = tmp_path / "gazetteer.yaml"
    bad.write_text("regions: [\n  - name: x\n")
    out = _run("demo", "--data-dir", str(tmp_path / "d"), env_extra={"FEEDMON_GAZETTEER": str(bad)})
    assert out.returncode == 2
    assert out.stderr.startswith("feedmon: error: ") and "not valid YAML" in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    out = _run("run", "--data-dir", str(tmp_path / "d"), env_extra={"FEEDMON_FETCH_READ_TIMEOUT": "soon"})
    assert out.returncode == 2 and out.stderr == "feedmon: error: FEEDMON_FETCH_READ_TIMEOUT='soon': expected float\n"


def test_version_and_verbose_after_the_command():
    assert _run("--version").stdout.strip().startswith("feedmon ")
    out = _run("check-feeds", "-v", "--feeds", str(REPO / "include" / "feeds.yaml"))
    assert out.returncode == 0 and " feeds, " in out.stdout, out.stderr
