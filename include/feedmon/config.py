"""Configuration in one place: defaults that work offline, overridden by environment variables.

The CLI and the DAGs both build :class:`Settings` from here, so ``FEEDMON_FEEDS`` and
``FEEDMON_DATA_DIR`` mean the same thing everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from feedmon import storage

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FEEDS_FILE = PROJECT_ROOT / "include" / "feeds.yaml"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_SCHEDULE = "*/30 * * * *"


class ConfigError(ValueError):
    """A setting has a value feedmon cannot use; the message names the variable."""


def env_number(
    name: str, default: float, *, kind: type = float, minimum: float | None = None, exclusive: bool = False
) -> float:
    """A number from the environment (``default`` when unset), refused with the variable's name.

    The one parser for every numeric ``FEEDMON_*`` setting, so they all fail the same clear way.
    """
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "whole number" if kind is int else "number"
        raise ConfigError(f"{name}={raw!r} is not a {what}") from None
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        raise ConfigError(f"{name}={raw} must be {'>' if exclusive else '>='} {minimum:g}")
    return value


@dataclass(frozen=True)
class Settings:
    """Where feedmon reads feeds from and writes to, and the run-level policies."""

    feeds_file: str
    data_dir: str
    lookback_days: int = 7
    max_failed_share: float = 0.5

    @classmethod
    def from_env(cls, feeds_file: str | None = None, data_dir: str | None = None) -> Settings:
        """Explicit arguments win over ``FEEDMON_*`` variables, which win over the defaults."""
        feeds = feeds_file or os.environ.get("FEEDMON_FEEDS") or str(DEFAULT_FEEDS_FILE)
        data = data_dir or os.environ.get("FEEDMON_DATA_DIR") or str(DEFAULT_DATA_DIR)
        if storage.is_local(data):
            data = str(Path(data.removeprefix("file://")).expanduser().resolve())
        share = env_number("FEEDMON_MAX_FAILED_SHARE", 0.5, minimum=0.0)
        if share > 1.0:
            raise ConfigError(f"FEEDMON_MAX_FAILED_SHARE={share} must be between 0 and 1")
        lookback = int(env_number("FEEDMON_LOOKBACK_DAYS", 7, kind=int, minimum=0))
        return cls(feeds_file=feeds, data_dir=data, lookback_days=lookback, max_failed_share=share)

    # Layout of the data dir: the contract readers rely on (README "Outputs").
    def snapshot_path(self, day: date) -> str:
        """The day's article snapshot (one file, replaced atomically by every run of the day)."""
        return storage.join(self.data_dir, "snapshots", f"date={day.isoformat()}", "articles.parquet")

    def feed_health_path(self, day: date, run_key: str) -> str:
        """One feed-health file per run, so reruns replace their own rows and nothing else."""
        return storage.join(self.data_dir, "feed_health", f"date={day.isoformat()}", f"{run_key}.parquet")

    def raw_dir(self, day: date, run_key: str) -> str:
        """Raw archive of one run's fetched bodies (see :mod:`feedmon.archive`)."""
        return storage.join(self.data_dir, "raw", f"date={day.isoformat()}", run_key)

    def work_dir(self, day: date, run_key: str) -> str:
        """Intermediate files handed from one pipeline stage to the next."""
        return storage.join(self.data_dir, "work", f"date={day.isoformat()}", run_key)

    @property
    def state_dir(self) -> str:
        """Small state documents (HTTP validators, failure counts, learned boilerplate)."""
        return storage.join(self.data_dir, "state")


def schedule_from_env() -> str:
    """The ingest DAG's cron schedule (``FEEDMON_SCHEDULE``), read at DAG parse time: cheap, no I/O."""
    return os.environ.get("FEEDMON_SCHEDULE") or DEFAULT_SCHEDULE
