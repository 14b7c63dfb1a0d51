from pathlib import Path

import pytest

from feedmon.config import DEFAULT_FEEDS_FILE, ConfigError, Settings
from feedmon.pipeline import RunContext


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
