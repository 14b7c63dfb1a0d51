import re
from dataclasses import fields
from pathlib import Path

import pytest

from feedmon.config import DEFAULT_FEEDS_FILE, ConfigError, FetchSettings, Settings, env_variables
from feedmon.pipeline import RunContext
from tests.conftest import REPO

PACKAGE = REPO / "include" / "feedmon"


def test_env_overrides_defaults(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("FEEDMON_FEEDS", "/etc/feeds.yaml")
    monkeypatch.setenv("FEEDMON_DATA_DIR", str(tmp_path / "out"))
    s = Settings.from_env()
    assert s.feeds_file == "/etc/feeds.yaml"
    assert s.data_dir == str(tmp_path / "out")


def test_arguments_override_env(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("FEEDMON_FEEDS", "/etc/feeds.yaml")
    s = Settings.from_env(feeds_file="mine.yaml", data_dir="s3://bucket/prefix")
    assert s.feeds_file == "mine.yaml"
    assert s.data_dir == "s3://bucket/prefix"
    assert s.snapshot_path(__import__("datetime").date(2026, 1, 2)) == (
        "s3://bucket/prefix/snapshots/date=2026-01-02/articles.parquet"
    )


def test_defaults(monkeypatch):
    monkeypatch.delenv("FEEDMON_FEEDS", raising=False)
    monkeypatch.delenv("FEEDMON_DATA_DIR", raising=False)
    s = Settings.from_env()
    assert s.feeds_file == str(DEFAULT_FEEDS_FILE)
    assert s.data_dir.endswith("/data")


@pytest.mark.parametrize(("var", "value"), [("FEEDMON_MAX_FAILED_SHARE", "2"), ("FEEDMON_LOOKBACK_DAYS", "x")])
def test_bad_values_name_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        Settings.from_env()


def test_run_key_is_file_safe():
    ctx = RunContext(Settings.from_env(), __import__("datetime").date(2026, 1, 2), "manual__2026-01-02T10:00:00+00:00")
    assert ctx.run_key == "manual__2026-01-02T10_00_00_00_00"


# --------------------------------------------------------------------------- the docs follow the code
FETCH_PREFIX = "FEEDMON_FETCH_"


def _readme_variables() -> set[str]:
    """Variable names in the first column of README's configuration table (``FEEDMON_FETCH_*`` expanded)."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("\n## Configuration\n")[1].split("\n## ")[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`(FEEDMON_[A-Z0-9_]+\*?)`", line.split("|")[1]))
    if f"{FETCH_PREFIX}*" in names:
        names.remove(f"{FETCH_PREFIX}*")
        names |= {FetchSettings.env_name(f.name) for f in fields(FetchSettings)}
    return names


def test_readme_configuration_table_is_the_settings():
    assert _readme_variables() == set(env_variables())


def test_env_example_names_every_setting_and_nothing_else():
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    named = set(re.findall(r"^#?\s*(FEEDMON_[A-Z0-9_]+)=", text, re.M))
    compose = set(re.findall(r"\$\{(FEEDMON_[A-Z0-9_]+)", (REPO / "docker-compose.yaml").read_text(encoding="utf-8")))
    settings = set(env_variables())
    fetch = {n for n in settings if n.startswith(FETCH_PREFIX)}
    # The fetch knobs are one family: .env.example shows one and names the pattern.
    assert f"{FETCH_PREFIX}<FIELD>" in text and named & fetch
    assert settings - fetch <= named, f"add to .env.example: {sorted(settings - fetch - named)}"
    assert named <= settings | compose, f"not a setting: {sorted(named - settings - compose)}"


def test_fetch_variables_are_documented_in_fetching_md():
    doc = (REPO / "docs" / "fetching.md").read_text(encoding="utf-8")
    missing = [n for n in env_variables() if n.startswith(FETCH_PREFIX) and f"`{n}`" not in doc]
    assert not missing


def test_only_config_reads_the_environment():
    """Settings are read in one place and handed down; a stage reading os.environ would bypass them."""
    allowed = {"config.py", "gazetteer.py"}  # gazetteer.py: its FEEDMON_GAZETTEER fallback goes with issue 11
    readers = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in allowed and re.search(r"\bos\.environ\b|\bgetenv\(", path.read_text(encoding="utf-8"))
    ]
    assert readers == []


def test_settings_sections_come_from_the_environment():
    env = {
        "FEEDMON_FETCH_PER_HOST": "4",
        "FEEDMON_CLEAN_RULES": "/r.yaml",
        "FEEDMON_BOILERPLATE_MIN_SHARE": "0.2",
        "FEEDMON_GAZETTEER": "/g.yaml",
        "FEEDMON_ALERT_WEBHOOK": "http://hook.example/x",
        "FEEDMON_FEED_STALE_HOURS": "12",
        "FEEDMON_DEADLINE_MINUTES": "15",
    }
    s = Settings.from_env(feeds_file="f.yaml", data_dir="s3://b/p", environ=env)
    assert s.fetch.per_host == 4 and s.fetch.read_timeout == FetchSettings().read_timeout
    assert (s.clean.rules_file, s.clean.boilerplate_overrides()) == ("/r.yaml", {"min_share": 0.2})
    assert s.tag.gazetteer_file == "/g.yaml"
    assert (s.alerts.webhook, s.alerts.feed_stale_hours, s.alerts.deadline_minutes) == ("http://hook.example/x", 12, 15)
    assert s.alerts.stale_hours == 6 and s.alerts.run_timeout_minutes == 25
    with pytest.raises(ConfigError, match="FEEDMON_FETCH_MAX_BYTES"):
        Settings.from_env(environ={"FEEDMON_FETCH_MAX_BYTES": "lots"})


def test_connection_ids_and_retention_come_from_the_environment(monkeypatch):
    s = Settings.from_env()
    assert (s.data_conn_id, s.alerts.conn_id, s.raw_retention_days) == (None, None, 30)
    monkeypatch.setenv("FEEDMON_DATA_CONN_ID", "feedmon_s3")
    monkeypatch.setenv("FEEDMON_ALERT_CONN_ID", "feedmon_alerts")
    monkeypatch.setenv("FEEDMON_RAW_RETENTION_DAYS", "7")
    s = Settings.from_env()
    assert (s.data_conn_id, s.alerts.conn_id, s.raw_retention_days) == ("feedmon_s3", "feedmon_alerts", 7)


@pytest.mark.parametrize("value", ["0", "-3", "a week"])
def test_retention_must_be_a_positive_whole_number_of_days(monkeypatch, value):
    monkeypatch.setenv("FEEDMON_RAW_RETENTION_DAYS", value)
    with pytest.raises(ConfigError, match="FEEDMON_RAW_RETENTION_DAYS"):
        Settings.from_env()
