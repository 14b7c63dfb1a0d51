"""The Feed monitor behind Airflow's real authentication, in a real ``airflow api-server``.

No browser needed (the browser test drives the page itself): anonymous and forged requests get 401,
a signed-in user whom Airflow's auth manager refuses the website gets 403 from the plugin's
``is_authorized_view`` check, a viewer gets the data.
"""

from __future__ import annotations

import pytest
import requests

from tests.api_server import ApiServer

pytestmark = pytest.mark.e2e

PATHS = ("/feedmon/", "/feedmon/api/feeds", "/feedmon/api/summary")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_anonymous_and_forged_requests_are_refused(api_server: ApiServer) -> None:
    for path in PATHS:
        assert requests.get(api_server.base + path, timeout=10).status_code == 401, path
    forged = _bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.bad")
    assert requests.get(f"{api_server.base}/feedmon/api/summary", headers=forged, timeout=10).status_code == 401
    assert requests.get(f"{api_server.base}/feedmon/", cookies={"_token": "garbage"}, timeout=10).status_code == 401


def test_a_user_without_view_permission_gets_403_and_no_data(api_server: ApiServer) -> None:
    token = api_server.token("nobody")  # a valid session: Airflow signed the token itself
    for path in PATHS:
        resp = requests.get(api_server.base + path, headers=_bearer(token), timeout=20)
        assert resp.status_code == 403, (path, resp.text)
        assert "Reuters" not in resp.text and "tass-en" not in resp.text
    via_cookie = requests.get(f"{api_server.base}/feedmon/", cookies={"_token": token}, timeout=20)
    assert via_cookie.status_code == 403 and "Forbidden" in via_cookie.text


def test_a_viewer_gets_the_data_and_the_plugin_is_registered(api_server: ApiServer) -> None:
    token = api_server.token("viewer")
    summary = requests.get(f"{api_server.base}/feedmon/api/summary", headers=_bearer(token), timeout=20)
    assert summary.status_code == 200, summary.text
    assert summary.json()["articles"] == 13 and summary.json()["feeds_failed"] == 3
    plugins = requests.get(f"{api_server.base}/api/v2/plugins", headers=_bearer(token), timeout=20).json()
    ours = next(p for p in plugins["plugins"] if p["name"] == "feedmon")
    assert ours["external_views"][0]["name"] == "Feed monitor"
    assert ours["fastapi_apps"][0]["url_prefix"] == "/feedmon"
