"""A real ``airflow api-server`` with our plugins folder, for the plugin's auth test and the browser test.

Own AIRFLOW_HOME (a copy of the session's migrated SQLite DB), a free port, SimpleAuthManager with
three users: ``admin`` (Admin), ``viewer`` (Viewer) and ``nobody`` (signed in, but no role, so
Airflow's auth manager refuses them every view). Started in its own session and stopped by process
group, so uvicorn's children go too.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.conftest import REPO

STARTUP_TIMEOUT = 120
USERS = {"admin": "admin", "viewer": "viewer", "nobody": ""}  # user -> SimpleAuthManager role


@dataclass
class ApiServer:
    base: str
    passwords: dict[str, str]
    log: Path

    def token(self, user: str) -> str:
        """A JWT for ``user`` from Airflow's own ``/auth/token``."""
        resp = requests.post(
            f"{self.base}/auth/token", json={"username": user, "password": self.passwords[user]}, timeout=10
        )
        resp.raise_for_status()
        return resp.json()["access_token"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group (started in its own session): TERM, then KILL."""
    pgid, t0 = proc.pid, time.monotonic()
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if not _group_alive(pgid):
            break
        os.killpg(pgid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader so a zombie does not keep the group "alive"
            if not _group_alive(pgid):
                print(f"api-server stopped by {sig.name} in {time.monotonic() - t0:.1f}s")
                break
            time.sleep(0.2)
    proc.wait(timeout=5)


@contextmanager
def api_server(home: Path, data: Path, migrated_db: Path) -> Iterator[ApiServer]:
    """Run the api-server until the block ends; ``data`` is its FEEDMON_DATA_DIR (feeds file inside)."""
    dags = home / "dags"
    dags.mkdir()  # the page needs no DAGs; an empty folder keeps start-up fast
    shutil.copyfile(migrated_db, home / "airflow.db")
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    (home / "passwords.json").write_text(json.dumps(passwords), encoding="utf-8")
    port = _free_port()
    venv_bin = Path(sys.executable).parent
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FEEDMON_"))},
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "FEEDMON_DATA_DIR": str(data),
        "FEEDMON_FEEDS": str(data / "feeds.yaml"),
    }
    log = home / "api-server.log"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(venv_bin / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown stops uvicorn's children too
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"airflow api-server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"airflow api-server not healthy after {STARTUP_TIMEOUT}s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)  # polling the health endpoint while the server boots
        print(f"airflow api-server healthy in {time.monotonic() - started:.1f}s")
        yield ApiServer(base=base, passwords=passwords, log=log)
    finally:
        _stop(proc)
