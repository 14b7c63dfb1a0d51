"""Airflow 3 UI plugin: the **Feed monitor** page (``/feedmon/``), with a "Feed monitor" nav entry.

Thin on purpose: the page and its queries live in :mod:`feedmon.monitor.web` and :mod:`feedmon.monitor.queries`.
This file only (1) tells Airflow where to mount the FastAPI app and what to show in the nav, and
(2) plugs Airflow's own authentication into it, because plugin apps are *not* behind Airflow's login
unless they check it themselves.

Importing it is cheap (every Airflow component imports plugins): the FastAPI app is built on its first
request, and Airflow's auth manager is looked up per request.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/feedmon"


async def resolve_airflow_user(token: str) -> Any:
    """Airflow's JWT (Bearer header or the UI's ``_token`` cookie) -> the signed-in user.

    Same check as ``airflow.api_fastapi.core_api.security.get_user``: the configured auth manager
    validates signature, expiry and revocation. The user must also be allowed to see the Airflow
    website itself (``AccessView.WEBSITE``), so the page is never wider open than the UI.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView

    manager = get_auth_manager()
    user = await manager.get_user_from_token(token)
    if not manager.is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise PermissionError("this Airflow user may not view the Airflow UI")
    return user


def airflow_login_url(next_url: str) -> str:
    """The auth manager's sign-in page, returning to the Feed monitor afterwards."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=next_url)


class LazyASGIApp:
    """An ASGI app that builds the real FastAPI app on its first request (keeps plugin import cheap)."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        with self._lock:
            if self._app is None:
                from feedmon.airflow.tasks import task_settings
                from feedmon.monitor.web import create_app

                task_settings()  # opens the data dir through FEEDMON_DATA_CONN_ID, when it is set

                self._app = create_app(resolve_airflow_user, login_url=airflow_login_url, mount_path=URL_PREFIX)
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self._app or self._build()
        await app(scope, receive, send)

    def __repr__(self) -> str:
        return "feedmon.monitor.web.create_app() (built on first request)"


class FeedmonPlugin(AirflowPlugin):
    """Registers the Feed monitor app under ``/feedmon`` and its entry in the Airflow nav bar."""

    name = "feedmon"
    fastapi_apps = [  # noqa: RUF012 - the AirflowPlugin API is class attributes
        {"app": LazyASGIApp(), "url_prefix": URL_PREFIX, "name": "Feed monitor"},
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Feed monitor",
            # Relative to the UI's <base href>, so it also works under a base_url prefix.
            "href": URL_PREFIX.lstrip("/") + "/",
            "url_route": "feed-monitor",
            "destination": "nav",
            "nav_top_level": True,
        },
    ]
