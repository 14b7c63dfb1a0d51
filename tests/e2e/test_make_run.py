"""`make run` as a user runs it, on a port that is not 8080, twice on one Airflow home.

The bugs this guards against were all first-run blockers: tasks reporting to the execution API on
8080 while the server listens elsewhere ("Connection refused", the run never ends), and a snapshot
asset whose URI came from FEEDMON_DATA_DIR (the second data dir failed every run in `publish`).
Each start goes through the Makefile and tools/run_airflow.sh, is triggered over REST with params in
its conf, and is stopped with Ctrl-C (SIGINT to the process group), as in a terminal.

About a minute per start on a 2-core machine; marked e2e (`make e2e`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pyarrow.parquet as pq
import pytest
import requests

from feedmon.airflow.tasks import FETCH_POOL
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

START_TIMEOUT = 240
RUN_TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_env(home: Path, data: Path, feeds: Path, port: int) -> dict[str, str]:
    """A user's shell: nothing of the test session's Airflow or feedmon settings, only what they set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FEEDMON_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__WORKERS="1",
        # Other agents on this machine run Airflow too: their log servers may hold 8793/8794.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        FEEDMON_DATA_DIR=str(data),
        FEEDMON_FEEDS=str(feeds),
        # A cron whose last slot lies before start_date: unpausing creates no scheduled run, so the
        # REST-triggered runs are the only ones.
        FEEDMON_SCHEDULE="0 0 29 2 *",
    )
    return env


@dataclass
class Running:
    base: str
    token: str
    log: Path

    def api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=30, **kwargs)

    def wait_for_dags(self, *dag_ids: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if all(self.api("GET", f"/api/v2/dags/{d}").ok for d in dag_ids):
                return
            time.sleep(2)
        raise AssertionError(f"{dag_ids} not parsed in {START_TIMEOUT}s:\n{self.log.read_text()[-3000:]}")

    def trigger(self, dag_id: str, conf: dict) -> requests.Response:
        return self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})

    def wait_for_run(self, dag_id: str, run_id: str) -> str:
        deadline = time.monotonic() + RUN_TIMEOUT
        state = "queued"
        while time.monotonic() < deadline:
            state = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").json()["state"]
            if state in ("success", "failed"):
                break
            time.sleep(3)
        return state

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return {f"{t['task_id']}[{t['map_index']}]": t["state"] for t in self.api("GET", path).json()["task_instances"]}

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def make_run(env: dict[str, str], log: Path) -> Iterator[Running]:
    """`make run` until the block ends, then Ctrl-C; asserts that Airflow really stopped."""
    home = Path(env["AIRFLOW_HOME"])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "-C", str(REPO), "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    standalone: int | None = None
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "feedmon is running" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"make run exited {proc.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"make run not ready in {START_TIMEOUT}s:\n{log.read_text()[-3000:]}"
            time.sleep(1)
        standalone = int((home / "standalone.pid").read_text())
        port = env["AIRFLOW__API__PORT"]
        assert f"feedmon is running:  http://localhost:{port}" in log.read_text()
        password = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        base = f"http://127.0.0.1:{port}"
        resp = requests.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        resp.raise_for_status()
        yield Running(base, resp.json()["access_token"], home / "standalone.log")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole foreground group
        try:
            proc.wait(timeout=90)
        finally:
            if standalone is not None:
                deadline = time.monotonic() + 60
                while _group_alive(standalone) and time.monotonic() < deadline:
                    time.sleep(0.5)
                leaked = _group_alive(standalone)
                if leaked:
                    os.killpg(standalone, signal.SIGKILL)
                assert not leaked, "Ctrl-C left Airflow running"


def test_make_run_on_another_port_twice_with_two_data_dirs(tmp_path: Path, sample_server: str) -> None:
    from feedmon.demo import write_feeds_file

    feeds = write_feeds_file(sample_server, tmp_path / "feeds.yaml")
    home = tmp_path / "airflow_home"
    first, second = tmp_path / "data-a", tmp_path / "data-b"

    # ---- first start: data dir A, a run for one day and two feeds, through the trigger params ----
    port = free_port()
    assert port != 8080
    with make_run(run_env(home, first, feeds, port), tmp_path / "make-run-1.log") as af:
        af.wait_for_dags("feedmon_ingest", "feedmon_daily_report", "feedmon_housekeeping")
        errors = af.api("GET", "/api/v2/importErrors").json()["import_errors"]
        assert errors == [], errors
        pool = af.api("GET", f"/api/v2/pools/{FETCH_POOL}")
        assert pool.ok and pool.json()["slots"] == 4, pool.text

        bad = af.trigger("feedmon_ingest", {"day": "28/11/2026"})
        assert bad.status_code == 400 and "day" in bad.text, bad.text  # params are validated at trigger
        run = af.trigger("feedmon_ingest", {"day": "2026-11-20", "feed_ids": ["demo-wire-world", "worlddesk"]})
        assert run.ok, run.text
        run_id = run.json()["dag_run_id"]
        state = af.wait_for_run("feedmon_ingest", run_id)
        assert state == "success", af.task_states("feedmon_ingest", run_id)
        fetch_pools = {
            t["pool"]
            for t in af.api(
                "GET", f"/api/v2/dags/feedmon_ingest/dagRuns/{quote(run_id, safe='')}/taskInstances"
            ).json()["task_instances"]
            if t["task_id"] == "fetch"
        }
        assert fetch_pools == {FETCH_POOL}

        snapshot = first / "snapshots" / "date=2026-11-20" / "articles.parquet"
        assert pq.read_table(snapshot).num_rows > 10
        health = pq.read_table(first / "feed_health" / "date=2026-11-20").column("feed_id").to_pylist()
        assert sorted(health) == ["demo-wire-world", "worlddesk"]  # only the feeds asked for

        # The asset event triggers the report of the day it names (extra["date"]).
        report = first / "reports" / "date=2026-11-20" / "report.md"
        deadline = time.monotonic() + RUN_TIMEOUT
        while not report.exists() and time.monotonic() < deadline:
            time.sleep(3)
        assert report.exists(), af.runs("feedmon_daily_report")

    # ---- second start on the same Airflow home: another data dir, a plain manual run ---------------
    port = free_port()
    with make_run(run_env(home, second, feeds, port), tmp_path / "make-run-2.log") as af:
        af.wait_for_dags("feedmon_ingest")
        run = af.trigger("feedmon_ingest", {})
        assert run.ok, run.text
        run_id, day = run.json()["dag_run_id"], run.json()["run_after"][:10]
        state = af.wait_for_run("feedmon_ingest", run_id)
        assert state == "success", af.task_states("feedmon_ingest", run_id)
        assert pq.read_table(second / "snapshots" / f"date={day}" / "articles.parquet").num_rows > 10
        assert not (first / "snapshots" / f"date={day}").exists() or day == "2026-11-20"
        report = second / "reports" / f"date={day}" / "report.md"
        deadline = time.monotonic() + RUN_TIMEOUT
        while not report.exists() and time.monotonic() < deadline:
            time.sleep(3)
        assert report.exists(), af.runs("feedmon_daily_report")
