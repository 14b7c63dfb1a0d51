"""The Feed monitor in a real browser, inside a real Airflow api-server.

Starts ``airflow api-server`` (own AIRFLOW_HOME in a tmp dir, free port, our ``plugins/`` folder,
fixture Parquet as FEEDMON_DATA_DIR), then drives headless Chromium (Debian ``chromium`` +
``chromium-driver``) through Airflow's real login page to the page, checks its content, the escaped
hostile feed text, the filters and the "Feed monitor" nav entry, and saves screenshots to
``artifacts/`` (and to ``docs/img/feed_monitor.png`` when FEEDMON_UPDATE_SCREENSHOT=1).
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO
from tests.fixtures.factories import MonitorWeek as fx

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "artifacts"
DOCS_SCREENSHOT = REPO / "docs" / "img" / "feed_monitor.png"
STARTUP_TIMEOUT = 120

if not CHROMIUM.exists():  # the Makefile installs it first (tools/install_chromium.sh)
    pytest.skip(
        "/usr/bin/chromium is absent: run `bash tools/install_chromium.sh` (Debian chromium + chromium-driver)",
        allow_module_level=True,
    )


@dataclass
class Airflow:
    base: str
    password: str
    log: Path


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


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, airflow_home: Path) -> Iterator[Airflow]:
    """A real ``airflow api-server`` with our plugins folder, on a free port, stopped by process group.

    Its metadata DB is a copy of the session's migrated one (conftest ``airflow_home``), so the
    migration runs once per test session, not once per server.
    """
    home = tmp_path_factory.mktemp("airflow-home")
    data = tmp_path_factory.mktemp("feedmon-data")
    dags = home / "dags"
    dags.mkdir()  # the page needs no DAGs; an empty folder keeps start-up fast
    shutil.copyfile(airflow_home / "airflow.db", home / "airflow.db")
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"admin": password}), encoding="utf-8")
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
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
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
        # The page reads Parquet per request, so the data can be written while the server boots.
        fx.write_fixture_data(data, datetime.now(UTC).date(), past_days=13)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"airflow api-server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"airflow api-server not healthy after {STARTUP_TIMEOUT}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        print(f"airflow api-server healthy in {time.monotonic() - started:.1f}s")
        yield Airflow(base=base, password=password, log=log)
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1440,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _token(airflow: Airflow) -> str:
    resp = requests.post(
        f"{airflow.base}/auth/token", json={"username": "admin", "password": airflow.password}, timeout=10
    )
    resp.raise_for_status()
    return resp.json()["access_token"]


def _wait(driver: object, condition: object, timeout: float = 20) -> object:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _screenshot(driver: object, name: str, height: int | None = None) -> Path:
    """PNG into artifacts/: the whole page (viewport grown to its height), or a viewport ``height`` high."""
    ARTIFACTS.mkdir(exist_ok=True)
    if height is None:
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    metrics = {"width": 1440, "height": min(max(height, 600), 4000), "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        time.sleep(0.3)  # one layout pass at the new size
        path = ARTIFACTS / name
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


def test_plugin_is_protected_by_airflow_login(airflow: Airflow) -> None:
    """Real Airflow auth: anonymous and forged tokens are refused, a real JWT is accepted."""
    for path in ("/feedmon/", "/feedmon/api/feeds", "/feedmon/api/summary"):
        assert requests.get(airflow.base + path, timeout=10).status_code == 401, path
    forged = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.bad"}
    assert requests.get(f"{airflow.base}/feedmon/api/summary", headers=forged, timeout=10).status_code == 401
    assert requests.get(f"{airflow.base}/feedmon/", cookies={"_token": "garbage"}, timeout=10).status_code == 401
    token = _token(airflow)
    summary = requests.get(
        f"{airflow.base}/feedmon/api/summary", headers={"Authorization": f"Bearer {token}"}, timeout=20
    )
    assert summary.status_code == 200, summary.text
    assert summary.json()["articles"] == 13 and summary.json()["feeds_failed"] == 3
    plugins = requests.get(
        f"{airflow.base}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}, timeout=20
    ).json()
    ours = next(p for p in plugins["plugins"] if p["name"] == "feedmon")
    assert ours["external_views"][0]["name"] == "Feed monitor"
    assert ours["fastapi_apps"][0]["url_prefix"] == "/feedmon"


def test_operator_logs_in_and_uses_the_feed_monitor(airflow: Airflow, browser: object) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    driver = browser
    # Anonymous: the page refuses and offers Airflow's sign-in.
    driver.get(f"{airflow.base}/feedmon/")
    assert "Sign in required" in driver.find_element(By.TAG_NAME, "h1").text
    assert "Reuters World" not in driver.page_source
    driver.find_element(By.LINK_TEXT, "Sign in to Airflow").click()

    # Airflow's own login page (SimpleAuthManager), then back to the page through ?next=.
    _wait(driver, ec.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(airflow.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(driver, lambda d: "_token" in {c["name"] for c in d.get_cookies()})
    _wait(driver, ec.url_contains("/feedmon/"))
    _wait(driver, ec.presence_of_element_located((By.ID, "feeds-table")))

    # No script ran: the hostile feed name/title/error are visible as text, no alert, no <script>/<img>.
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - property access is the check
    assert driver.execute_script("return document.querySelectorAll('script, img').length") == 0
    feeds_text = driver.find_element(By.ID, "feeds-table").text
    stories_text = driver.find_element(By.ID, "stories-table").text
    assert fx.HOSTILE_NAME in feeds_text
    assert fx.HOSTILE_ERROR in feeds_text
    assert fx.HOSTILE_TITLE in stories_text

    # Feeds table: every feed, failing ones first with their status, streak and error.
    rows = driver.find_elements(By.CSS_SELECTOR, "#feeds-table tr.feed-row")
    assert len(rows) == 8
    assert [r.get_attribute("data-status") for r in rows[:3]] == ["backoff", "http_error", "timeout"]
    tass = driver.find_element(By.CSS_SELECTOR, 'tr[data-feed-id="tass-en"]').text
    assert "TASS English" in tass and "HTTP 503" in tass and "3" in tass
    # Figures and chart.
    assert driver.find_element(By.CSS_SELECTOR, "#fig-articles .value").text == "13"
    assert driver.find_element(By.CSS_SELECTOR, "#fig-stories .value").text == "12"
    assert driver.find_element(By.CSS_SELECTOR, "#fig-duplicates .value").text == "1"
    assert driver.find_element(By.CSS_SELECTOR, "#fig-conflict .value").text == "7"
    bars = driver.find_elements(By.CSS_SELECTOR, "#region-chart rect.bar")
    assert len(bars) >= 20 and all(float(b.get_attribute("height")) > 0 for b in bars)
    legend = driver.find_element(By.ID, "chart-legend").text
    assert all(region in legend for region in fx.REGIONS)
    page_shot = _screenshot(driver, "feed_monitor.png")

    # Filters: failing feeds only, then one region.
    Select(driver.find_element(By.ID, "status-filter")).select_by_value("failed")
    driver.find_element(By.ID, "apply").click()
    _wait(driver, ec.url_contains("status=failed"))
    statuses = [r.get_attribute("data-status") for r in driver.find_elements(By.CSS_SELECTOR, "tr.feed-row")]
    assert sorted(statuses) == ["backoff", "http_error", "timeout"]
    Select(driver.find_element(By.ID, "status-filter")).select_by_value("")
    Select(driver.find_element(By.ID, "region-filter")).select_by_visible_text("Gaza")
    driver.find_element(By.ID, "apply").click()
    _wait(driver, ec.url_contains("region=Gaza"))
    ids = {r.get_attribute("data-feed-id") for r in driver.find_elements(By.CSS_SELECTOR, "tr.feed-row")}
    assert ids == {"reuters-world", "evil-feed"}
    assert driver.find_element(By.ID, "chart-legend").text.split()[0] == "Gaza"

    # The "Feed monitor" entry in Airflow's own nav opens the page inside the Airflow UI.
    driver.get(f"{airflow.base}/")
    _wait(driver, ec.element_to_be_clickable((By.XPATH, "//a[contains(., 'Feed monitor')]"))).click()
    _wait(driver, ec.url_contains("/plugin/feed-monitor"))
    frame = _wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, "iframe")))
    assert frame.get_attribute("src").endswith("/feedmon/")
    driver.switch_to.frame(frame)
    _wait(driver, ec.presence_of_element_located((By.ID, "feeds-table")))
    assert fx.HOSTILE_NAME in driver.find_element(By.ID, "feeds-table").text
    driver.switch_to.default_content()
    in_airflow = _screenshot(driver, "feed_monitor_in_airflow.png", height=1400)
    assert page_shot.stat().st_size > 10_000 and in_airflow.stat().st_size > 10_000

    if os.environ.get("FEEDMON_UPDATE_SCREENSHOT") == "1":  # the README picture: the page inside Airflow
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(in_airflow.read_bytes())
