"""The Feed monitor in a real browser, inside a real Airflow api-server.

Uses the session's ``airflow api-server`` (``api_server`` in tests/conftest.py: our ``plugins/``
folder, fixture Parquet as FEEDMON_DATA_DIR), then drives headless Chromium (Debian ``chromium`` +
``chromium-driver``) through Airflow's real login page to the page, checks its content, the escaped
hostile feed text, the filters and the "Feed monitor" nav entry, and saves screenshots to
``artifacts/`` (and to ``docs/img/feed_monitor.png`` when FEEDMON_UPDATE_SCREENSHOT=1). The plugin's
refusals under Airflow's real auth are tested without a browser in tests/e2e/test_plugin_auth.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_server import ApiServer
from tests.conftest import REPO
from tests.fixtures.factories import MonitorWeek as fx

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "artifacts"
DOCS_SCREENSHOT = REPO / "docs" / "img" / "feed_monitor.png"

if not CHROMIUM.exists():  # the Makefile installs it first (tools/install_chromium.sh)
    pytest.skip(
        "/usr/bin/chromium is absent: run `bash tools/install_chromium.sh` (Debian chromium + chromium-driver)",
        allow_module_level=True,
    )


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
        # Synchronised, not slept: the viewport has its new size, then two animation frames (one
        # layout and paint at that size) have passed.
        _wait(driver, lambda d: d.execute_script("return window.innerHeight") == metrics["height"])
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));"
        )
        path = ARTIFACTS / name
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


def test_operator_logs_in_and_uses_the_feed_monitor(api_server: ApiServer, browser: object) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    driver = browser
    # Anonymous: the page refuses and offers Airflow's sign-in.
    driver.get(f"{api_server.base}/feedmon/")
    assert "Sign in required" in driver.find_element(By.TAG_NAME, "h1").text
    assert "Reuters World" not in driver.page_source
    driver.find_element(By.LINK_TEXT, "Sign in to Airflow").click()

    # Airflow's own login page (SimpleAuthManager), then back to the page through ?next=.
    _wait(driver, ec.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(api_server.passwords["admin"])
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
    driver.get(f"{api_server.base}/")
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
