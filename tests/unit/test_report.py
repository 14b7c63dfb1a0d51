"""feedmon.report: the day's report.md and report.png, built from the day's Parquet."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from feedmon import report
from feedmon.config import Settings
from tests.fixtures.factories import OneDay

DAY, HOSTILE_TITLE = OneDay.DAY, OneDay.HOSTILE_TITLE
articles = OneDay.articles
write_day = OneDay.write

NOW = datetime(2026, 11, 28, 0, 5, tzinfo=UTC)


@pytest.fixture
def settings(one_day: Settings) -> Settings:
    return one_day


def _png_size(data: bytes) -> tuple[int, int]:
    from matplotlib.image import imread

    img = imread(io.BytesIO(data), format="png")
    return img.shape[1], img.shape[0]


def test_report_files_and_figures(settings, data_dir: Path):
    out = report.build_report(settings, DAY, now=NOW)
    folder = data_dir / "reports" / "date=2026-11-27"
    assert out["markdown"] == str(folder / "report.md")
    assert out["chart"] == str(folder / "report.png")
    assert (out["articles"], out["stories"], out["conflict_stories"], out["feeds_failed"]) == (9, 6, 4, 2)
    assert sorted(p.name for p in folder.iterdir()) == ["report.md", "report.png"]  # no temp files left


def test_markdown_content(settings, data_dir: Path):
    report.build_report(settings, DAY, now=NOW)
    md = (data_dir / "reports" / "date=2026-11-27" / "report.md").read_text()
    assert md.startswith("# feedmon daily report — 2026-11-27\n")
    assert "![Top conflict regions and feed health on 2026-11-27](report.png)" in md
    assert "| Copies folded into stories | 3 |" in md
    assert "| Feeds ok / failing | 3 / 2 |" in md
    assert "| Last new article | 2026-11-27 09:30 UTC |" in md
    # regions: stories, not articles (three copies of the Karabakh story count once)
    assert "| Gaza | 2 | PS |" in md
    assert "| Nagorno-Karabakh | 1 | AM, AZ |" in md
    # the most syndicated conflict story leads
    top = md.split("## Top conflict stories")[1]
    assert top.index("Azerbaijan and Armenia trade fire") < top.index("Strikes hit Gaza City")
    assert "3 outlets; Nagorno-Karabakh" in top
    # failing feeds first, with their errors
    health = md.split("## Feed health")[1].strip().splitlines()
    assert health[2].startswith("| Feed | Status |")
    assert health[4].startswith("| bbc-world | **timeout** | 1 |")
    assert health[5].startswith("| tass-en | **http\\_error** | 2 | 0 |") and "HTTP 503" in health[5]


def test_feed_text_is_inert_in_markdown(data_dir: Path):
    rows = articles()
    hostile = rows[3]
    hostile.title = HOSTILE_TITLE
    s = Settings.from_env()
    write_day(s, rows=rows)
    report.build_report(s, DAY, now=NOW)
    md = (data_dir / "reports" / "date=2026-11-27" / "report.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md
    line = next(ln for ln in md.splitlines() if "alert(1)" in ln)
    # the title's own "[click](http://evil)" is not a link, and its pipe cannot break a table
    assert "\\[click\\]" in line and "\\|" in line
    assert re.search(r"(?<!\\)\]\(http://evil\)", line) is None


def test_chart_is_a_readable_png(settings, data_dir: Path):
    report.build_report(settings, DAY, now=NOW)
    data = (data_dir / "reports" / "date=2026-11-27" / "report.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = _png_size(data)
    assert width >= 1200 and 400 <= height <= 900


def test_empty_day_still_reports(data_dir: Path):
    out = report.build_report(Settings.from_env(), date(2026, 1, 2), now=NOW)
    md = Path(out["markdown"]).read_text()
    assert "No conflict-tagged stories today." in md
    assert "No feed-health rows for this day." in md
    assert Path(out["chart"]).read_bytes()[:4] == b"\x89PNG"


def test_rebuild_replaces_identically(settings, data_dir: Path):
    first = Path(report.build_report(settings, DAY, now=NOW)["markdown"]).read_text()
    second = Path(report.build_report(settings, DAY, now=NOW)["markdown"]).read_text()
    assert first == second


def test_report_days_from_asset_events():
    extras = [{"date": "2026-11-28", "run_id": "b"}, {"date": "2026-11-27"}, {"date": "2026-11-28"}, None, {}]
    assert report.report_days(extras) == [date(2026, 11, 27), date(2026, 11, 28)]
    assert report.report_days([], fallback="2026-11-05") == [date(2026, 11, 5)]
    assert report.report_days([{}], fallback=date(2026, 11, 6)) == [date(2026, 11, 6)]
    with pytest.raises(ValueError, match="no day to report"):
        report.report_days([])


# --------------------------------------------------------------------------- object storage


def test_summary_figures_are_the_same_from_records_and_from_a_table():
    """The pipeline summarises the snapshot table, the report its records: one set of figures."""
    from feedmon.outputs import SUMMARY_COLUMNS, summarize
    from feedmon.schema import articles_to_table
    from tests.fixtures.factories import make_article

    seen = datetime(2026, 11, 28, 9, tzinfo=UTC)
    arts = [
        make_article(article_id="a", feed_id="f", title="A", first_seen_at=seen, story_id="s1",
                     is_conflict=True, conflict_regions=["Sahel", "Levant"]),
        make_article(article_id="b", feed_id="g", title="B", first_seen_at=seen, story_id="s1",
                     is_conflict=True, conflict_regions=["Sahel"]),
        make_article(article_id="c", feed_id="g", title="C", first_seen_at=seen, story_id="c"),
    ]  # fmt: skip
    table = articles_to_table(arts).select(list(SUMMARY_COLUMNS))
    from_records = summarize(DAY, "r", arts, [], [], "s", "h")
    assert summarize(DAY, "r", table, [], [], "s", "h") == from_records
    assert (from_records["articles"], from_records["stories"], from_records["conflict_stories"]) == (3, 2, 1)
    assert from_records["conflict_stories_by_region"] == {"Sahel": 1, "Levant": 1}
