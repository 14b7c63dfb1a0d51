"""The daily report: ``<data>/reports/date=D/report.md`` plus ``report.png``, built from the day's Parquet.

Airflow-free (the ``feedmon_daily_report`` DAG calls :func:`build_report`). Figures come from
:func:`feedmon.outputs.summarize`, so the report, the CLI summary and the run's XCom agree. The chart
uses matplotlib's object API on the Agg canvas (no pyplot global state: safe in any worker).
"""

from __future__ import annotations

import html
import io
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast

from feedmon import storage
from feedmon.config import Settings
from feedmon.models import Article
from feedmon.outputs import read_feed_health, read_snapshot, summarize
from feedmon.urls import safe_href
from feedmon.vocab import FAILED_STATUSES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.ticker import MaxNLocator

log = logging.getLogger(__name__)

TOP_REGIONS = 10
TOP_STORIES = 10
MIN_SLOTS = 4
# Colours per feed status: green for fine, grey for "nothing new", warm colours for failures.
STATUS_COLOURS = {
    "ok": "#2e7d32",
    "not_modified": "#81c784",
    "empty": "#9e9e9e",
    "backoff": "#ffb300",
    "timeout": "#fb8c00",
    "http_error": "#e53935",
    "connection_error": "#c62828",
    "parse_error": "#8e24aa",
    "too_large": "#6d4c41",
    "redirect_loop": "#5e35b1",
}


@dataclass(frozen=True)
class DayData:
    """What the report needs of one day: the snapshot's articles and every feed_health row."""

    day: date
    articles: list[Article]
    health_rows: list[dict[str, Any]]

    @property
    def latest_health(self) -> list[dict[str, Any]]:
        """Each feed's newest row of the day: its current state."""
        latest: dict[str, dict[str, Any]] = {}
        for row in sorted(self.health_rows, key=lambda r: r["fetched_at"]):
            latest[row["feed_id"]] = row
        return [latest[k] for k in sorted(latest)]


def report_dir(settings: Settings, day: date) -> str:
    """``<data>/reports/date=D`` (Hive-style, like snapshots)."""
    return storage.join(settings.data_dir, "reports", f"date={day.isoformat()}")


def load_day(settings: Settings, day: date) -> DayData:
    """Read the day's snapshot and feed-health files (missing ones read as empty)."""
    return DayData(day=day, articles=read_snapshot(settings, day), health_rows=read_feed_health(settings, [day]))


def figures(data: DayData) -> dict[str, Any]:
    """Headline figures of the day (same definitions as the pipeline's run summary)."""
    latest = data.latest_health
    failed = sorted(r["feed_id"] for r in latest if r["status"] in FAILED_STATUSES)
    summary = summarize(data.day, "daily-report", data.articles, latest, failed, snapshot="", health_path="")
    summary["runs"] = len({r["run_id"] for r in data.health_rows})
    summary["new_articles"] = sum(r["new_articles"] for r in data.health_rows)
    summary["status_counts"] = dict(Counter(r["status"] for r in latest).most_common())
    summary["last_article_at"] = max((a.first_seen_at for a in data.articles), default=None)
    for key in ("run_id", "snapshot", "feed_health"):
        summary.pop(key, None)
    return summary


def report_days(extras: Sequence[Mapping[str, Any] | None], fallback: date | str | None = None) -> list[date]:
    """The distinct days named by snapshot asset events (``extra["date"]``), oldest first.

    Several ingest runs may be coalesced into one report run, possibly across midnight: one report per
    day. Without any dated event (a manual run) the ``fallback`` day is reported.
    """
    days = {date.fromisoformat(str(e["date"])) for e in extras if e and e.get("date")}
    if not days and fallback is not None:
        days = {fallback if isinstance(fallback, date) else date.fromisoformat(str(fallback))}
    if not days:
        raise ValueError("no day to report: no dated snapshot event and no fallback day")
    return sorted(days)


def build_report(settings: Settings, day: date, *, now: datetime | None = None) -> dict[str, Any]:
    """Write the day's ``report.md`` and ``report.png`` atomically; return their paths and figures."""
    data = load_day(settings, day)
    figs = figures(data)
    out_dir = report_dir(settings, day)
    png = storage.write_bytes_atomic(storage.join(out_dir, "report.png"), render_chart(data, figs))
    md = storage.write_text_atomic(
        storage.join(out_dir, "report.md"), render_markdown(data, figs, now or datetime.now(UTC))
    )
    log.info("report for %s: %s, %s", day, md, png)
    return {
        "date": day.isoformat(),
        "markdown": md,
        "chart": png,
        "articles": figs["articles"],
        "stories": figs["stories"],
        "conflict_stories": figs["conflict_stories"],
        "feeds_failed": figs["feeds_failed"],
    }


# --------------------------------------------------------------------------- chart
def render_chart(data: DayData, figs: Mapping[str, Any]) -> bytes:
    """PNG: top conflict regions (left) and feed health by status (right), headline in the title."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = max(len(figs["conflict_stories_by_region"]), len(figs["status_counts"]), MIN_SLOTS)
    height = 2.4 + 0.42 * min(rows, TOP_REGIONS)  # grows with the bars, stays one screen
    fig = Figure(figsize=(12, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    fig.set_facecolor("white")
    fig.suptitle(
        f"feedmon daily report — {data.day:%A %d %B %Y}\n"
        f"{figs['articles']:,} articles · {figs['stories']:,} stories · "
        f"{figs['copies_folded']:,} copies folded · {figs['conflict_stories']:,} conflict-tagged stories",
        fontsize=14,
        fontweight="bold",
    )
    left, right = fig.subplots(1, 2, width_ratios=[1.5, 1])

    regions = list(figs["conflict_stories_by_region"].items())[:TOP_REGIONS]
    countries = region_countries(data.articles)
    _hbar(
        left,
        [_region_label(r, countries.get(r, set())) for r, _ in regions],
        [n for _, n in regions],
        ["#b71c1c"] * len(regions),
        title=f"Top conflict regions (stories, top {TOP_REGIONS})",
        xlabel="conflict-tagged stories",
        empty="No conflict-tagged stories today",
    )

    counts = figs["status_counts"]
    statuses = sorted(counts, key=lambda s: (s in FAILED_STATUSES, -counts[s], s))
    _hbar(
        right,
        [s.replace("_", " ") for s in statuses],
        [counts[s] for s in statuses],
        [STATUS_COLOURS.get(s, "#607d8b") for s in statuses],
        title=f"Feed health ({figs['feeds']} feeds, {_plural(figs['runs'], 'run')})",
        xlabel="feeds",
        empty="No feed-health rows for this day",
    )
    if figs["failed_feeds"]:
        shown = ", ".join(figs["failed_feeds"][:6]) + (" …" if len(figs["failed_feeds"]) > 6 else "")
        right.text(
            0.0,
            -0.16,
            f"Failing: {shown}",
            transform=right.transAxes,
            fontsize=9,
            color="#c62828",
            va="top",
            wrap=True,
        )

    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return buf.getvalue()


def _hbar(
    ax: Axes,
    labels: Sequence[str],
    values: Sequence[int],
    colours: Sequence[str],
    *,
    title: str,
    xlabel: str,
    empty: str,
) -> None:
    ax.set_title(title, fontsize=12, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not values:
        ax.set_axis_off()
        ax.text(0.5, 0.5, empty, ha="center", va="center", fontsize=13, color="#616161", transform=ax.transAxes)
        return
    # Largest on top; at least MIN_SLOTS rows so two bars do not turn into two slabs.
    ys = list(range(len(values)))
    bars = ax.barh(ys, list(values), color=list(colours), height=0.7)
    ax.set_yticks(ys, list(labels), fontsize=10)
    ax.set_ylim(max(len(values), MIN_SLOTS) - 0.5, -0.5)
    ax.set_xlabel(xlabel, fontsize=10)
    ax.bar_label(bars, padding=3, fontsize=10)
    ax.set_xlim(0, max(values) * 1.15 + 0.5)
    cast("MaxNLocator", ax.xaxis.get_major_locator()).set_params(integer=True)  # an AutoLocator
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.8)
    ax.set_axisbelow(True)


def _region_label(region: str, countries: set[str]) -> str:
    codes = ", ".join(sorted(countries)[:3])
    return f"{_shorten(region, 24)} ({codes})" if codes else _shorten(region)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def region_countries(articles: Sequence[Article]) -> dict[str, set[str]]:
    """Per conflict region, the ISO countries its tagged articles name."""
    out: dict[str, set[str]] = {}
    for art in articles:
        for region in art.conflict_regions if art.is_conflict else ():
            out.setdefault(region, set()).update(art.countries)
    return out


def _shorten(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------- markdown
def md_text(value: Any) -> str:
    """Feed-supplied text made inert in Markdown: HTML escaped, table pipes and link brackets escaped,
    one line."""
    text = " ".join(str(value if value is not None else "").split())
    text = html.escape(text, quote=False)
    for ch in "\\|[]*_`":
        text = text.replace(ch, "\\" + ch)
    return text


def _md_url(url: str) -> str:
    return url.replace(" ", "%20").replace(")", "%29").replace("(", "%28").replace("<", "%3C").replace(">", "%3E")


def _fmt_utc(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def render_markdown(data: DayData, figs: Mapping[str, Any], generated_at: datetime) -> str:
    """The report a person reads: figures, chart, regions, top conflict stories, feed health."""
    day = data.day.isoformat()
    lines = [
        f"# feedmon daily report — {day}",
        "",
        f"![Top conflict regions and feed health on {day}](report.png)",
        "",
        "| Figure | Value |",
        "|---|---:|",
        f"| Articles (distinct) | {figs['articles']:,} |",
        f"| Stories | {figs['stories']:,} |",
        f"| Copies folded into stories | {figs['copies_folded']:,} |",
        f"| Conflict-tagged stories | {figs['conflict_stories']:,} |",
        f"| Feeds ok / failing | {figs['feeds_ok']} / {figs['feeds_failed']} |",
        f"| Ingest runs | {figs['runs']} |",
        f"| Last new article | {_fmt_utc(figs['last_article_at'])} |",
        "",
        "## Conflict regions",
        "",
    ]
    regions = figs["conflict_stories_by_region"]
    if regions:
        countries = region_countries(data.articles)
        lines += ["| Region | Stories | Countries |", "|---|---:|---|"]
        lines += [
            f"| {md_text(r)} | {n} | {', '.join(sorted(countries.get(r, ()))) or '—'} |" for r, n in regions.items()
        ]
    else:
        lines.append("No conflict-tagged stories today.")

    lines += ["", "## Top conflict stories", ""]
    top = sorted(
        (a for a in data.articles if a.is_conflict and a.is_canonical),
        key=lambda a: (-a.source_count, -a.conflict_score, a.first_seen_at, a.article_id),
    )[:TOP_STORIES]
    if top:
        for i, art in enumerate(top, 1):
            href = safe_href(art.link or art.url)
            title = f"[{md_text(art.title)}]({_md_url(href)})" if href else md_text(art.title)
            where = ", ".join(md_text(r) for r in art.conflict_regions) or "region not named"
            outlets = f"{art.source_count} outlets" if art.source_count != 1 else "1 outlet"
            lines.append(f"{i}. {title} — {md_text(art.source)}, {outlets}; {where}")
    else:
        lines.append("None.")

    lines += ["", "## Feed health (latest run of the day)", ""]
    latest = data.latest_health
    if latest:
        new_today: Counter[str] = Counter()
        for row in data.health_rows:
            new_today[row["feed_id"]] += row["new_articles"]
        latest.sort(key=lambda r: (r["status"] not in FAILED_STATUSES, r["feed_id"]))
        lines += [
            "| Feed | Status | Failures in a row | New today | Last fetch | Last error |",
            "|---|---|---:|---:|---|---|",
        ]
        for row in latest:
            status = row["status"]
            mark = "**" if status in FAILED_STATUSES else ""
            lines.append(
                f"| {md_text(row['feed_id'])} | {mark}{md_text(status)}{mark} "
                f"| {row['consecutive_failures']} | {new_today[row['feed_id']]} "
                f"| {_fmt_utc(row['fetched_at'])} | {md_text(row['error'] or '')} |"
            )
    else:
        lines.append("No feed-health rows for this day.")
    lines += ["", f"_Generated {_fmt_utc(generated_at)} by feedmon from the day's Parquet._", ""]
    return "\n".join(lines)
