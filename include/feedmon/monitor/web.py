"""The Feed monitor web app: one server-rendered HTML page and its JSON endpoints.

Mounted inside the Airflow API server by ``plugins/feedmon_plugin.py`` (at ``/feedmon``), but it has
no Airflow import of its own: the caller hands in ``resolve_user`` (token -> user), so the page is
testable with FastAPI's TestClient and the Airflow coupling stays in the plugin file.

Security choices, all deliberate:

* every route depends on :func:`_require_user`: the Airflow JWT from ``Authorization: Bearer`` or the
  ``_token`` cookie the Airflow UI sets; no token or a bad one is refused (401/403) before any data
  is read. Plugin apps are *not* behind Airflow's login unless they do this themselves.
* feed-supplied text (names, titles, errors, regions) only reaches HTML through Jinja2 with
  autoescaping on; links are emitted only for ``http(s)`` URLs (no ``javascript:`` hrefs).
* the page has no JavaScript at all, and a Content-Security-Policy that forbids scripts and every
  external load, so even an escaping bug could not run a feed's ``<script>``; nothing is fetched
  from the internet (the chart is inline SVG built here).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from feedmon.config import Settings
from feedmon.feeds import load_feeds
from feedmon.monitor.queries import FILTER_FAILED, FILTER_HEALTHY, NO_DATA, FeedMonitor, RegionChart, to_jsonable
from feedmon.urls import safe_href
from feedmon.vocab import FAILED_STATUSES, FEED_STATUSES

log = logging.getLogger(__name__)

#: Name of the cookie in which the Airflow 3 UI keeps the user's JWT.
TOKEN_COOKIE = "_token"
CHART_DAYS = 14
#: The page template (next to this module, autoescaped Jinja2).
TEMPLATE_NAME = "feed_monitor.html.j2"
#: Token -> user object. Raise ``PermissionError`` for "known user, not allowed" (403); any other
#: exception means "not authenticated" (401).
UserResolver = Callable[[str], Awaitable[Any]]
LoginUrl = Callable[[str], str]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "frame-ancestors 'self'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATUS_CLASS = {"ok": "ok", "not_modified": "ok2", "backoff": "warn", NO_DATA: "none"}
# Colour-blind-safe palette (Okabe-Ito), then grey for the rest.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C6D1F", "#999999"]
MAX_SERIES = 7


class Refused(Exception):
    """Authentication failed; rendered as JSON for the API and as a sign-in page for the HTML view."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def _default_login_url(next_url: str) -> str:
    return "/auth/login?next=" + quote(next_url, safe="")


def _token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, cred = auth.partition(" ")
    if scheme.lower() == "bearer" and cred.strip():
        return cred.strip()
    return request.cookies.get(TOKEN_COOKIE) or None


def _fmt_ts(ts: datetime | None) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if ts else "—"


def _ago(ts: datetime | None, now: datetime) -> str:
    if ts is None:
        return "never"
    secs = int((now - ts).total_seconds())
    if secs < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            return f"{secs // size} {unit} ago"
    return "just now"


def chart_geometry(chart: RegionChart, width: int = 760, height: int = 300) -> dict[str, Any]:
    """Stacked-bar layout (pixels) for the inline SVG; regions beyond the top 7 are grouped as Other."""
    names = list(chart.series)
    series = {n: chart.series[n] for n in names[:MAX_SERIES]}
    if len(names) > MAX_SERIES:
        series["Other"] = [sum(chart.series[n][i] for n in names[MAX_SERIES:]) for i in range(len(chart.days))]
    left, right, top, bottom = 36, 8, 18, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(v[i] for v in series.values()) for i in range(len(chart.days))]
    peak = max(totals, default=0)
    step = max(1, -(-peak // 4))  # about four gridlines, whole numbers
    y_max = max(step * 4, 1)
    slot = plot_w / max(len(chart.days), 1)
    bar_w = slot * 0.68
    colours = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(series)}
    bars = []
    for i, day in enumerate(chart.days):
        y: float = top + plot_h
        x = left + i * slot + (slot - bar_w) / 2
        for name, values in series.items():
            v = values[i]
            if not v:
                continue
            h = plot_h * v / y_max
            y -= h
            bars.append(
                {
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "w": round(bar_w, 1),
                    "h": round(h, 1),
                    "colour": colours[name],
                    "title": f"{day.isoformat()} · {name}: {v} {'story' if v == 1 else 'stories'}",
                }
            )
    grid = [
        {"y": round(top + plot_h - plot_h * k * step / y_max, 1), "label": k * step} for k in range(y_max // step + 1)
    ]
    labels = [
        {
            "x": round(left + i * slot + slot / 2, 1),
            "text": d.strftime("%d %b"),
            "total": totals[i],
            "ty": round(top + plot_h - plot_h * totals[i] / y_max - 4, 1),
        }
        for i, d in enumerate(chart.days)
    ]
    legend = [{"name": n, "colour": colours[n], "total": sum(v)} for n, v in series.items()]
    return {
        "width": width,
        "height": height,
        "left": left,
        "plot_w": plot_w,
        "base_y": top + plot_h,
        "bars": bars,
        "grid": grid,
        "labels": labels,
        "legend": legend,
        "bar_w": round(bar_w, 1),
        "top": top,
    }


@lru_cache(maxsize=1)
def _template() -> Any:
    """Compile the page template once (lazily, so importing this module stays cheap)."""
    import jinja2

    source = resources.files("feedmon.monitor").joinpath(TEMPLATE_NAME).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(source)


def _parse_day(raw: str | None) -> date:
    if not raw:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise HTTPException(status_code=400, detail=f"date must be YYYY-MM-DD, got {raw!r}") from None


def _check_status(raw: str | None) -> str | None:
    if not raw:
        return None
    allowed = {FILTER_FAILED, FILTER_HEALTHY, NO_DATA, *FEED_STATUSES}
    if raw not in allowed:
        raise HTTPException(status_code=400, detail=f"unknown status {raw!r}; one of {sorted(allowed)}")
    return raw


def create_app(
    resolve_user: UserResolver,
    *,
    data_dir: str | None = None,
    feeds_file: str | None = None,
    login_url: LoginUrl = _default_login_url,
    mount_path: str = "/feedmon",
) -> FastAPI:
    """Build the app. ``data_dir``/``feeds_file`` default to :class:`feedmon.config.Settings` per request.

    ``resolve_user`` is awaited with the request's token before any data is read.

    ``mount_path`` is only used for the sign-in link's ``next`` target.
    """
    app = FastAPI(title="feedmon Feed monitor", docs_url=None, redoc_url=None, openapi_url=None)

    async def _require_user(request: Request) -> Any:
        token = _token_of(request)
        if not token:
            raise Refused(401, "Not authenticated: sign in to Airflow first")
        try:
            return await resolve_user(token)
        except PermissionError as exc:
            raise Refused(403, f"Forbidden: {exc}") from None
        except Exception as exc:
            # Fail closed: an expired, forged or unreadable token is simply "not signed in".
            log.info("feed monitor: token refused (%s)", type(exc).__name__)
            raise Refused(401, "Invalid or expired session: sign in to Airflow again") from None

    def _settings() -> tuple[str, str | None]:
        settings = Settings.from_env(data_dir=data_dir, feeds_file=feeds_file)
        # feeds_file="" means "no feeds file" (names then come from the articles).
        return settings.data_dir, (None if feeds_file == "" else settings.feeds_file)

    def _configured(path: str | None) -> tuple[list[Any], str | None]:
        if not path:
            return [], None
        try:
            return load_feeds(path, include_disabled=True), None
        except Exception as exc:  # the page must still show the Parquet data
            return [], f"feeds file not readable ({type(exc).__name__}): {exc}"

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        headers = {"WWW-Authenticate": "Bearer", **SECURITY_HEADERS} if exc.status_code == 401 else SECURITY_HEADERS
        if "/api/" in request.url.path:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
        html = _template().render(
            page="refused",
            detail=exc.detail,
            login=login_url(mount_path + "/"),
            status=exc.status_code,
        )
        return HTMLResponse(html, status_code=exc.status_code, headers=headers)

    user_dep = Depends(_require_user)

    @app.get("/", response_class=HTMLResponse)
    def page(
        user: Any = user_dep,
        date_: str | None = Query(None, alias="date"),
        status: str | None = None,
        region: str | None = None,
    ) -> HTMLResponse:
        """The Feed monitor page (server-rendered, escaped, script-free)."""
        day = _parse_day(date_)
        status = _check_status(status)
        region = region or None
        root, feeds_path = _settings()
        configured, feeds_warning = _configured(feeds_path)
        with FeedMonitor(root) as mon:
            figures = mon.day_figures(day)
            feeds = mon.feeds(day, status=status, region=region, configured=configured)
            all_feeds = feeds if not (status or region) else mon.feeds(day, configured=configured)
            chart = mon.conflict_by_region(day, CHART_DAYS, region=region)
            regions = mon.regions(day, CHART_DAYS)
            stories = mon.conflict_stories(day, region=region)
        now = datetime.now(UTC)
        html = _template().render(
            page="monitor",
            day=day.isoformat(),
            today=now.date().isoformat(),
            user=getattr(user, "get_name", lambda: str(user))(),
            figures=figures,
            feeds=[
                {
                    "row": f,
                    "css": STATUS_CLASS.get(f.status, "bad" if f.failed else "none"),
                    "href": safe_href(f.url),
                    "last_success": _fmt_ts(f.last_success),
                    "last_success_ago": _ago(f.last_success, now),
                    "last_checked": _fmt_ts(f.last_checked),
                    "last_checked_ago": _ago(f.last_checked, now),
                    "error_at": _fmt_ts(f.last_error_at),
                }
                for f in feeds
            ],
            total_feeds=len(all_feeds),
            status_options=[
                ("", "All statuses"),
                (FILTER_FAILED, "Failing (any error)"),
                (FILTER_HEALTHY, "Healthy"),
                *((s, s) for s in FEED_STATUSES),
                (NO_DATA, "no data yet"),
            ],
            status=status or "",
            regions=regions if not region or region in regions else [*regions, region],
            region=region or "",
            chart=chart_geometry(chart),
            chart_days=CHART_DAYS,
            chart_total=chart.total,
            stories=[{"row": s, "href": safe_href(s.url), "seen": _fmt_ts(s.first_seen_at)} for s in stories],
            last_run=_fmt_ts(figures.last_run_at),
            last_run_ago=_ago(figures.last_run_at, now),
            failed_statuses=sorted(FAILED_STATUSES),
            feeds_warning=feeds_warning,
        )
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    @app.get("/api/summary")
    def api_summary(_user: Any = user_dep, date_: str | None = Query(None, alias="date")) -> JSONResponse:
        """The day's figures as JSON."""
        day = _parse_day(date_)
        with FeedMonitor(_settings()[0]) as mon:
            figures = mon.day_figures(day)
        return JSONResponse({**to_jsonable(figures), "has_data": figures.has_data}, headers=SECURITY_HEADERS)

    @app.get("/api/feeds")
    def api_feeds(
        _user: Any = user_dep,
        date_: str | None = Query(None, alias="date"),
        status: str | None = None,
        region: str | None = None,
    ) -> JSONResponse:
        """The feeds table as JSON (same filters as the page)."""
        day = _parse_day(date_)
        status = _check_status(status)
        root, feeds_path = _settings()
        configured, _ = _configured(feeds_path)
        with FeedMonitor(root) as mon:
            rows = mon.feeds(day, status=status, region=region or None, configured=configured)
        return JSONResponse({"date": day.isoformat(), "feeds": to_jsonable(rows)}, headers=SECURITY_HEADERS)

    @app.get("/api/regions")
    def api_regions(
        _user: Any = user_dep,
        date_: str | None = Query(None, alias="date"),
        days: int = Query(CHART_DAYS, ge=1, le=366),
        region: str | None = None,
    ) -> JSONResponse:
        """Conflict-tagged stories per region per day (the chart's data)."""
        day = _parse_day(date_)
        with FeedMonitor(_settings()[0]) as mon:
            chart = mon.conflict_by_region(day, days, region=region or None)
        return JSONResponse(
            {"days": to_jsonable(chart.days), "series": chart.series, "total": chart.total},
            headers=SECURITY_HEADERS,
        )

    @app.get("/api/stories")
    def api_stories(
        _user: Any = user_dep,
        date_: str | None = Query(None, alias="date"),
        region: str | None = None,
        limit: int = Query(25, ge=1, le=500),
    ) -> JSONResponse:
        """The day's conflict-tagged stories."""
        day = _parse_day(date_)
        with FeedMonitor(_settings()[0]) as mon:
            rows = mon.conflict_stories(day, region=region or None, limit=limit)
        return JSONResponse({"date": day.isoformat(), "stories": to_jsonable(rows)}, headers=SECURITY_HEADERS)

    return app
