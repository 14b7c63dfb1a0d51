"""Test-wide environment: an isolated Airflow home and data dir, set before anything imports Airflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from feedmon.config import Settings
from tests.fixtures.factories import MonitorWeek, OneDay

if TYPE_CHECKING:
    from tests.api_server import ApiServer

#: The repository root and the committed fixtures: the one place tests compute a path from ``__file__``.
REPO = Path(__file__).resolve().parents[1]
FIXTURE_DIR = REPO / "tests" / "fixtures"
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="feedmon-test-airflow-"))

# Tests own their environment: never the developer's airflow_home or ./data.
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
# ... and no FEEDMON_* setting leaks in from the shell or the Makefile (which exports FEEDMON_DATA_DIR).
for _name in [n for n in os.environ if n.startswith("FEEDMON_")]:
    del os.environ[_name]
os.environ["FEEDMON_DATA_DIR"] = str(_AIRFLOW_HOME / "default-data")


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """A migrated Airflow metadata DB (SQLite) for tests that run DAGs; created once per session."""
    marker = _AIRFLOW_HOME / ".migrated"
    if not marker.exists():
        airflow = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
        marker.touch()
    return _AIRFLOW_HOME


def pytest_sessionfinish() -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FEEDMON_DATA_DIR for one test."""
    path = tmp_path / "data"
    monkeypatch.setenv("FEEDMON_DATA_DIR", str(path))
    return path


@pytest.fixture
def one_day(data_dir: Path) -> Settings:
    """Settings over a fresh data dir holding :class:`tests.fixtures.factories.OneDay` (two runs of one day)."""
    settings = Settings.from_env()
    OneDay.write(settings)
    return settings


@pytest.fixture
def sample_server():
    """The bundled sample feeds served over real HTTP on localhost; yields the base URL."""
    from feedmon.demo import SAMPLE_DIR, serve_directory

    with serve_directory(SAMPLE_DIR) as base:
        yield base


@pytest.fixture
def sample_feeds(sample_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A feeds file pointing at :func:`sample_server`, exported as FEEDMON_FEEDS."""
    from feedmon.demo import write_feeds_file

    path = write_feeds_file(sample_server, tmp_path / "feeds.yaml")
    monkeypatch.setenv("FEEDMON_FEEDS", str(path))
    return path


@pytest.fixture(scope="session")
def api_server(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One real ``airflow api-server`` with our plugin for the session (the auth and browser tests
    share it): users ``admin``, ``viewer`` and ``nobody`` (no role), Feed-monitor fixture data."""
    from tests.api_server import api_server as run

    data = tmp_path_factory.mktemp("feedmon-data")
    MonitorWeek.write_fixture_data(data, datetime.now(UTC).date(), past_days=13)
    with run(tmp_path_factory.mktemp("airflow-home"), data, airflow_home / "airflow.db") as server:
        yield server
