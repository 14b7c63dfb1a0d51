"""`make run` refuses a busy port before starting anything, and says how to choose another.

The long path (a real start on a free port, REST-triggered runs) is tests/e2e/test_make_run.py; this
one is fast because nothing may start. Also: every way of bringing Airflow up creates the fetch pool.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

from feedmon.airflow.tasks import FETCH_POOL
from tests.conftest import REPO


def test_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    home = tmp_path / "airflow_home"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FEEDMON_"))}
        env |= {"AIRFLOW_HOME": str(home), "AIRFLOW__API__PORT": str(port), "FEEDMON_DATA_DIR": str(tmp_path / "d")}
        out = subprocess.run(
            ["make", "--no-print-directory", "-C", str(REPO), "run"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert out.returncode != 0
    assert f"port {port} is already in use" in out.stderr, out.stdout + out.stderr
    suggested = re.search(r"AIRFLOW__API__PORT=(\d+) make run", out.stderr)
    assert suggested and int(suggested.group(1)) != port
    assert "starting Airflow" not in out.stdout
    assert not home.exists(), "nothing may be started or created for a busy port"


def test_bad_port_value_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FEEDMON_"))}
    env |= {"AIRFLOW_HOME": str(tmp_path / "h"), "AIRFLOW__API__PORT": "80a"}
    out = subprocess.run(
        ["bash", str(REPO / "tools" / "run_airflow.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "is not a port number" in out.stderr


def test_every_way_up_creates_the_fetch_pool() -> None:
    """`make run`, the compose init and `make test-distributed` (the compose file: test_compose.py)."""
    for script in ("tools/run_airflow.sh", "scripts/test_distributed.sh"):
        text = (REPO / script).read_text(encoding="utf-8")
        pool = re.search(r"airflow pools set \"?\$?\{?(\w+)\}?\"? ", text)
        assert pool, script
        name = pool.group(1)
        assert name == FETCH_POOL or re.search(rf"^{name}={FETCH_POOL}$", text, re.M), script
