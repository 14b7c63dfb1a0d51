"""The Feed monitor web app through FastAPI's TestClient: auth refusal, escaping, filters, empty state."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from feedmon import storage
from feedmon.config import Settings
from feedmon.monitor.web import CSP, TOKEN_COOKIE, chart_geometry, create_app
from feedmon.schema import FEED_HEALTH_SCHEMA, rows_to_table
from feedmon.urls import safe_href
from tests.conftest import REPO
from tests.fixtures.factories import MonitorWeek as fx

GOOD, FORBIDDEN = "good-token", "viewer-without-ui-access"

TODAY = datetime.now(UTC).date()  # the page defaults to today (UTC)


class User:
    def get_name(self) -> str:
        return "<b>operator</b>"  # a user name is displayed too: it must be escaped like feed data


async def resolve(token: str) -> Any:
    """Stand-in for Airflow's auth manager: one valid token, one user without UI access."""
    if token == GOOD:
        return User()
    if token == FORBIDDEN:
        raise PermissionError("no website access")
    raise ValueError("Invalid JWT token")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web-data")
    fx.write_fixture_data(root, TODAY, past_days=3)
    return root


@pytest.fixture(scope="module")
def client(data_dir: Path) -> TestClient:
    app = create_app(resolve, data_dir=str(data_dir), feeds_file=str(data_dir / "feeds.yaml"))
    return TestClient(app)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {GOOD}"}


@pytest.mark.parametrize("path", ["/", "/api/feeds", "/api/summary", "/api/regions", "/api/stories"])
def test_anonymous_requests_are_refused_before_any_data(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert "Reuters" not in resp.text and "tass-en" not in resp.text


def test_anonymous_page_offers_the_airflow_sign_in(client: TestClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 401 and "text/html" in resp.headers["content-type"]
    assert 'href="/auth/login?next=%2Ffeedmon%2F"' in resp.text
    assert client.get("/api/feeds").json() == {"detail": "Not authenticated: sign in to Airflow first"}


@pytest.mark.parametrize(
    ("headers", "cookies", "status"),
    [
        ({"Authorization": "Bearer forged"}, {}, 401),
        ({"Authorization": "Basic Z29vZC10b2tlbjo="}, {}, 401),
        ({}, {TOKEN_COOKIE: "expired"}, 401),
        ({"Authorization": f"Bearer {FORBIDDEN}"}, {}, 403),
        ({}, {TOKEN_COOKIE: FORBIDDEN}, 403),
        ({"Authorization": f"Bearer {GOOD}"}, {}, 200),
        ({}, {TOKEN_COOKIE: GOOD}, 200),
        # An explicit bad credential is not rescued by a good cookie (same precedence as Airflow).
        ({"Authorization": "Bearer forged"}, {TOKEN_COOKIE: GOOD}, 401),
    ],
)
def test_only_a_valid_airflow_token_gets_the_page(
    data_dir: Path, headers: dict[str, str], cookies: dict[str, str], status: int
) -> None:
    client = TestClient(create_app(resolve, data_dir=str(data_dir), feeds_file=str(data_dir / "feeds.yaml")))
    client.cookies.update(cookies)
    assert client.get("/", headers=headers).status_code == status
    assert client.get("/api/summary", headers=headers).status_code == status


def test_page_shows_feeds_figures_chart_and_stories(client: TestClient) -> None:
    resp = client.get("/", headers=auth())
    assert resp.status_code == 200
    page = resp.text
    for name in ("Reuters World", "AP Top News", "TASS English", "BBC World", "AFP World", "Brand-new feed"):
        assert name in page
    assert page.count('class="feed-row') == 8
    assert 'data-feed-id="tass-en" data-status="http_error"' in page
    assert "HTTP 503 Service Unavailable" in page
    assert '<div class="label">Articles</div><div class="value">13</div>' in page
    assert '<div class="label">Duplicates removed</div><div class="value">1</div>' in page
    assert '<svg id="region-chart"' in page and page.count('class="bar"') >= 10
    for region in fx.REGIONS:
        assert region in page
    assert "Sign in" not in page


def test_feed_text_is_escaped_everywhere(client: TestClient) -> None:
    page = client.get("/", headers=auth()).text
    # The hostile name, title, error and user name appear as text ...
    for hostile in (fx.HOSTILE_NAME, fx.HOSTILE_TITLE, fx.HOSTILE_ERROR, "<b>operator</b>"):
        assert str(escape(hostile)) in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    # ... and never as markup: the page has no script element and no event handler at all.
    lowered = page.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "onerror=" not in lowered.replace("onerror=alert(1)&gt;", "")
    assert "<b>" not in lowered


def test_security_headers_forbid_scripts_and_external_loads(client: TestClient) -> None:
    resp = client.get("/", headers=auth())
    assert resp.headers["content-security-policy"] == CSP
    assert "script-src" not in CSP and "default-src 'none'" in CSP  # no script source is allowed
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in resp.text.split("<main>")[0] and "https://" not in resp.text.split("<main>")[0]


def test_javascript_urls_never_become_links(data_dir: Path, tmp_path: Path) -> None:
    fx.write_fixture_data(tmp_path, TODAY, past_days=0)
    settings = Settings.from_env(data_dir=str(tmp_path))
    row = fx.health_rows(TODAY, 0, 5)[0] | {"feed_id": "js-feed", "url": "javascript:alert(document.cookie)"}
    storage.write_parquet_atomic(settings.feed_health_path(TODAY, "evil"), rows_to_table([row], FEED_HEALTH_SCHEMA))
    client = TestClient(create_app(resolve, data_dir=str(tmp_path), feeds_file=""))
    page = client.get("/", headers=auth()).text
    assert 'data-feed-id="js-feed"' in page
    assert 'href="javascript:' not in page.lower()
    assert safe_href("javascript:alert(1)") is None and safe_href("data:text/html,x") is None
    assert safe_href("https://apnews.com/x") == "https://apnews.com/x"


def test_status_and_region_filters(client: TestClient) -> None:
    page = client.get("/", params={"status": "failed"}, headers=auth()).text
    assert page.count('class="feed-row') == 3
    assert "Reuters World" not in page.split('id="feeds-table"')[1].split("</table>")[0]
    assert '<option value="failed" selected>' in page
    page = client.get("/", params={"region": "Sahel"}, headers=auth()).text
    feeds = page.split('id="feeds-table"')[1].split("</table>")[0]
    assert 'data-feed-id="reuters-world"' in feeds and 'data-feed-id="evil-feed"' not in feeds
    assert '<option value="Sahel" selected>' in page
    legend = page.split('id="chart-legend"')[1].split("</div>")[0]
    assert "Sahel" in legend and "Gaza" not in legend
    api = client.get("/api/feeds", params={"status": "timeout"}, headers=auth()).json()
    assert [f["feed_id"] for f in api["feeds"]] == ["bbc-world"]
    nothing = client.get("/", params={"status": "parse_error"}, headers=auth()).text
    assert 'id="feeds-empty"' in nothing


@pytest.mark.parametrize("params", [{"status": "<script>"}, {"date": "yesterday"}, {"date": "2026-13-01"}])
def test_bad_filter_values_are_a_400_not_a_500(client: TestClient, params: dict[str, str]) -> None:
    resp = client.get("/", params=params, headers=auth())
    assert resp.status_code == 400
    assert "<script>" not in resp.text or resp.headers["content-type"].startswith("application/json")


def test_a_day_without_data_renders_the_empty_state(client: TestClient, tmp_path: Path) -> None:
    page = client.get("/", params={"date": "2001-01-01"}, headers=auth())
    assert page.status_code == 200 and 'id="empty-state"' in page.text and 'id="chart-empty"' in page.text
    empty = TestClient(create_app(resolve, data_dir=str(tmp_path / "no-data-yet"), feeds_file=""))
    resp = empty.get("/", headers=auth())
    assert resp.status_code == 200
    assert "No data for" in resp.text and 'id="feeds-empty"' in resp.text
    assert empty.get("/api/summary", headers=auth()).json()["has_data"] is False


def test_unreadable_feeds_file_is_a_notice_not_an_error(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds: [{id: 'Bad Id!', url: x}]", encoding="utf-8")
    client = TestClient(create_app(resolve, data_dir=str(data_dir), feeds_file=str(bad)))
    resp = client.get("/", headers=auth())
    assert resp.status_code == 200 and 'class="notice"' in resp.text and "Reuters World" in resp.text


def test_json_endpoints(client: TestClient) -> None:
    summary = client.get("/api/summary", headers=auth()).json()
    assert summary | {"last_run_at": None} == summary | {
        "day": TODAY.isoformat(),
        "articles": 13,
        "stories": 12,
        "duplicates_removed": 1,
        "feeds_failed": 3,
        "has_data": True,
        "last_run_at": None,
    }
    regions = client.get("/api/regions", params={"days": 7}, headers=auth()).json()
    assert len(regions["days"]) == 7 and set(regions["series"]) == set(fx.REGIONS)
    stories = client.get("/api/stories", params={"region": "Gaza"}, headers=auth()).json()["stories"]
    assert fx.HOSTILE_TITLE in [s["title"] for s in stories]  # JSON carries raw text; JSON is not HTML
    assert json.loads(client.get("/api/feeds", headers=auth()).text)["date"] == TODAY.isoformat()


def test_chart_geometry_stacks_bars_within_the_plot() -> None:
    from feedmon.monitor import RegionChart

    days = [TODAY]
    names = [f"R{i}" for i in range(9)]
    chart = RegionChart(days=days, series={n: [i + 1] for i, n in enumerate(names)})
    geo = chart_geometry(chart)
    assert [item["name"] for item in geo["legend"]][-1] == "Other"  # 9 regions -> 7 + Other
    assert geo["legend"][-1]["total"] == 8 + 9
    assert sum(item["total"] for item in geo["legend"]) == chart.total
    top = min(b["y"] for b in geo["bars"])
    assert top >= geo["top"] and all(b["y"] + b["h"] <= geo["base_y"] + 0.2 for b in geo["bars"])


def test_plugin_registers_app_and_nav_entry_and_imports_cheaply() -> None:
    code = (
        "import sys, runpy; ns = runpy.run_path('plugins/feedmon_plugin.py'); p = ns['FeedmonPlugin'];"
        "import json; print(json.dumps({'apps': [{k: str(v) for k, v in a.items()} for a in p.fastapi_apps],"
        "'views': p.external_views, 'heavy': [m for m in ('duckdb', 'feedmon.monitor.web', 'feedmon.monitor')"
        " if m in sys.modules]}))"
    )
    # conftest points AIRFLOW_HOME at a throw-away directory; the subprocess inherits it.
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["heavy"] == []
    assert info["apps"][0]["url_prefix"] == "/feedmon"
    view = info["views"][0]
    assert (view["name"], view["destination"], view["href"]) == ("Feed monitor", "nav", "feedmon/")


def test_data_dir_on_object_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    """FEEDMON_DATA_DIR=s3://... (scale-out): the page reads the same Parquet from a local S3 (moto)."""
    import boto3
    import fsspec
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        fsspec.get_filesystem_class("s3").clear_instance_cache()
        boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket="monitor")
        assert fx.write_fixture_data("s3://monitor/feedmon", TODAY, past_days=0) is None
        client = TestClient(create_app(resolve, data_dir="s3://monitor/feedmon", feeds_file=""))
        summary = client.get("/api/summary", headers=auth()).json()
        assert (summary["articles"], summary["stories"], summary["feeds_failed"]) == (13, 12, 3)
        page = client.get("/", params={"status": "failed"}, headers=auth())
        assert page.status_code == 200 and page.text.count('class="feed-row') == 3
    finally:
        fsspec.get_filesystem_class("s3").clear_instance_cache()
        server.stop()
