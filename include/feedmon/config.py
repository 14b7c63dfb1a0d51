"""Configuration in one place: defaults that work offline, overridden by environment variables.

This is the only module that reads ``FEEDMON_*`` variables. :meth:`Settings.from_env` reads them
all once, and the run's :class:`Settings` is handed down to every stage (the CLI and the DAG tasks
build it the same way, so ``FEEDMON_FEEDS`` and ``FEEDMON_DATA_DIR`` mean the same thing everywhere).
The sections:

* the run itself (top-level fields): feeds file, data dir (and the Airflow Connection holding its
  credentials), schedule, dedup lookback, failed share, raw-archive retention, worker processes
  for parse and clean (and the run size below which they are not used);
* :class:`FetchSettings` (``FEEDMON_FETCH_<FIELD>``): timeouts, caps, politeness, retries, backoff;
* :class:`CleanSettings`: the user's rule file and the learned-boilerplate thresholds;
* :class:`TagSettings`: the user's gazetteer;
* :class:`AlertSettings`: webhook or Airflow Connection, staleness thresholds, run timeout and deadline.

A few small readers (:func:`schedule_from_env`, :func:`run_timeout_minutes_from_env`,
:func:`deadline_minutes_from_env`) serve DAG files at parse time, where only one value is needed;
:func:`env_variables` lists every variable, so the docs can be checked against the code.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from feedmon import storage

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FEEDS_FILE = PROJECT_ROOT / "include" / "feeds.yaml"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_SCHEDULE = "*/30 * * * *"

DEFAULT_STALE_HOURS = 6.0
DEFAULT_FEED_STALE_HOURS = 24.0
DEFAULT_RUN_TIMEOUT_MINUTES = 25.0
DEFAULT_DEADLINE_MINUTES = 20.0
DEFAULT_RAW_RETENTION_DAYS = 30
#: Below this many feed items a run parses and cleans in-process: starting worker processes costs
#: more than they save on small runs.
DEFAULT_POOL_MIN_ITEMS = 20000


def default_workers() -> int:
    """Worker processes for parse and clean: one per core, at most 4."""
    return max(1, min(os.cpu_count() or 1, 4))


Environ = Mapping[str, str]


class ConfigError(ValueError):
    """A setting has a value feedmon cannot use; the message names the variable."""


def _env(environ: Environ | None) -> Environ:
    return os.environ if environ is None else environ


def env_number(
    name: str,
    default: float,
    *,
    kind: type = float,
    minimum: float | None = None,
    exclusive: bool = False,
    environ: Environ | None = None,
) -> float:
    """A number from the environment (``default`` when unset), refused with the variable's name.

    The one parser for every numeric ``FEEDMON_*`` setting, so they all fail the same clear way.
    """
    raw = _env(environ).get(name)
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


def _optional_number(name: str, kind: type, environ: Environ | None) -> float | None:
    """:func:`env_number` for settings whose default lives elsewhere (None: not set)."""
    return None if _env(environ).get(name) in (None, "") else env_number(name, 0, kind=kind, environ=environ)


def _optional_text(name: str, environ: Environ | None) -> str | None:
    return _env(environ).get(name) or None


# --------------------------------------------------------------------------- fetch
@dataclass(frozen=True)
class FetchSettings:
    """Global fetch limits; ``FeedConfig.timeout`` / ``FeedConfig.max_bytes`` override per feed.

    Every field can be overridden by ``FEEDMON_FETCH_<FIELD>`` (see :meth:`from_env`).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 20.0  # per socket read, and (plus connect) the whole-attempt deadline
    max_bytes: int = 10 * 2**20  # bytes on the wire
    max_decoded_bytes: int = 50 * 2**20  # bytes after gzip/deflate
    max_redirects: int = 5
    max_workers: int = 64  # threads of one fetch_feeds call: enough for every host slot of a CLI run
    per_host: int = 2  # requests in flight per host, across processes sharing a local data dir
    min_host_delay: float = 0.25  # seconds between two request starts to one host (likewise shared)
    batches: int = 4  # mapped fetch tasks per DAG run (host-disjoint); the CLI fetches all feeds at once
    retries: int = 2  # extra attempts for transient failures (reset, 5xx, 429, 408)
    retry_base_delay: float = 0.5  # first retry waits ~0.5-1 s, then doubles (with jitter)
    retry_max_delay: float = 10.0  # a Retry-After longer than this ends the run's attempts
    backoff_base: float = 900.0  # after the n-th consecutive failure wait base * 2**(n-1) ...
    backoff_max: float = 86400.0  # ... but never more than a day
    user_agent: str = "feedmon/0.1 (+https://github.com/feedmon/feedmon)"
    trust_env: bool = False  # True: honour HTTP(S)_PROXY/NO_PROXY, REQUESTS_CA_BUNDLE, ~/.netrc

    @staticmethod
    def env_name(field_name: str) -> str:
        """The variable that overrides one field (``per_host`` -> ``FEEDMON_FETCH_PER_HOST``)."""
        return f"FEEDMON_FETCH_{field_name.upper()}"

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> FetchSettings:
        """Defaults overridden by ``FEEDMON_FETCH_<FIELD>`` variables (e.g. ``FEEDMON_FETCH_PER_HOST=4``)."""
        env = _env(environ)
        kwargs: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            name = cls.env_name(f.name)
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            kind: Any = type(f.default)
            try:
                if kind is bool:
                    if raw.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                        raise ValueError(raw)
                    kwargs[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
                else:
                    kwargs[f.name] = kind(raw) if kind is not int else int(float(raw))
            except ValueError as exc:
                raise ConfigError(f"{name}={raw!r}: expected {kind.__name__}") from exc
        return cls(**kwargs)  # type: ignore[arg-type]

    def backoff_delay(self, failures: int) -> float:
        """Seconds to wait before polling a feed with ``failures`` consecutive failures."""
        if failures <= 0:
            return 0.0
        return min(self.backoff_max, self.backoff_base * 2 ** min(failures - 1, 30))


# --------------------------------------------------------------------------- clean
def clean_rules_file_from_env(environ: Environ | None = None) -> str | None:
    """``FEEDMON_CLEAN_RULES``: the user's rule file merged over the packaged rules (None: none).

    Its own reader because :func:`feedmon.clean.default_rules` asks per article: it must stay cheap.
    """
    return _optional_text("FEEDMON_CLEAN_RULES", environ)


@dataclass(frozen=True)
class CleanSettings:
    """Cleaning: the user's rule file, and learned-boilerplate thresholds that override the rule file's."""

    rules_file: str | None = field(default=None, metadata={"env": "FEEDMON_CLEAN_RULES"})
    boilerplate_min_articles: int | None = field(default=None, metadata={"env": "FEEDMON_BOILERPLATE_MIN_ARTICLES"})
    boilerplate_min_share: float | None = field(default=None, metadata={"env": "FEEDMON_BOILERPLATE_MIN_SHARE"})
    boilerplate_window_days: int | None = field(default=None, metadata={"env": "FEEDMON_BOILERPLATE_WINDOW_DAYS"})

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> CleanSettings:
        """The rule file and the ``FEEDMON_BOILERPLATE_*`` overrides (unset ones stay None)."""
        min_articles = _optional_number("FEEDMON_BOILERPLATE_MIN_ARTICLES", int, environ)
        window = _optional_number("FEEDMON_BOILERPLATE_WINDOW_DAYS", int, environ)
        return cls(
            rules_file=clean_rules_file_from_env(environ),
            boilerplate_min_articles=None if min_articles is None else int(min_articles),
            boilerplate_min_share=_optional_number("FEEDMON_BOILERPLATE_MIN_SHARE", float, environ),
            boilerplate_window_days=None if window is None else int(window),
        )

    def boilerplate_overrides(self) -> dict[str, float]:
        """The thresholds set here, keyed like the rule file's ``boilerplate:`` mapping."""
        values = {
            "min_articles": self.boilerplate_min_articles,
            "min_share": self.boilerplate_min_share,
            "window_days": self.boilerplate_window_days,
        }
        return {k: v for k, v in values.items() if v is not None}


# --------------------------------------------------------------------------- tag
@dataclass(frozen=True)
class TagSettings:
    """Tagging: the user's gazetteer, merged over the shipped one."""

    gazetteer_file: str | None = field(default=None, metadata={"env": "FEEDMON_GAZETTEER"})

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> TagSettings:
        """``FEEDMON_GAZETTEER`` (None: the shipped gazetteer only)."""
        return cls(gazetteer_file=_optional_text("FEEDMON_GAZETTEER", environ))


# --------------------------------------------------------------------------- alerts
def run_timeout_minutes_from_env(environ: Environ | None = None) -> float:
    """``FEEDMON_RUN_TIMEOUT_MINUTES`` (default 25 for a 30-minute schedule); read at DAG parse time."""
    return env_number(
        "FEEDMON_RUN_TIMEOUT_MINUTES", DEFAULT_RUN_TIMEOUT_MINUTES, minimum=0, exclusive=True, environ=environ
    )


def deadline_minutes_from_env(environ: Environ | None = None) -> float | None:
    """``FEEDMON_DEADLINE_MINUTES`` (None: no Deadline Alert); read at DAG parse time."""
    if _env(environ).get("FEEDMON_DEADLINE_MINUTES") in (None, ""):
        return None
    return env_number("FEEDMON_DEADLINE_MINUTES", DEFAULT_DEADLINE_MINUTES, minimum=0, exclusive=True, environ=environ)


def alert_webhook_from_env(environ: Environ | None = None) -> str | None:
    """``FEEDMON_ALERT_WEBHOOK`` alone: the failure notifier still reaches people when another
    setting is malformed (reading all of :class:`Settings` would refuse)."""
    return _optional_text("FEEDMON_ALERT_WEBHOOK", environ)


def alert_conn_id_from_env(environ: Environ | None = None) -> str | None:
    """``FEEDMON_ALERT_CONN_ID`` alone, for the same reason as :func:`alert_webhook_from_env`."""
    return _optional_text("FEEDMON_ALERT_CONN_ID", environ)


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go and when the data counts as stale or a run as late.

    ``conn_id`` names an Airflow Connection (HTTP) that the Airflow adapter posts alerts to; the core
    only carries the name. ``webhook`` is the shortcut without Airflow: a plain URL.
    """

    webhook: str | None = field(default=None, metadata={"env": "FEEDMON_ALERT_WEBHOOK"})
    conn_id: str | None = field(default=None, metadata={"env": "FEEDMON_ALERT_CONN_ID"})
    stale_hours: float = field(default=DEFAULT_STALE_HOURS, metadata={"env": "FEEDMON_STALE_HOURS"})
    feed_stale_hours: float = field(default=DEFAULT_FEED_STALE_HOURS, metadata={"env": "FEEDMON_FEED_STALE_HOURS"})
    run_timeout_minutes: float = field(
        default=DEFAULT_RUN_TIMEOUT_MINUTES, metadata={"env": "FEEDMON_RUN_TIMEOUT_MINUTES"}
    )
    deadline_minutes: float | None = field(default=None, metadata={"env": "FEEDMON_DEADLINE_MINUTES"})

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> AlertSettings:
        """``FEEDMON_ALERT_WEBHOOK`` (secret), the staleness thresholds, run timeout and deadline."""
        return cls(
            webhook=alert_webhook_from_env(environ),
            conn_id=alert_conn_id_from_env(environ),
            stale_hours=env_number(
                "FEEDMON_STALE_HOURS", DEFAULT_STALE_HOURS, minimum=0, exclusive=True, environ=environ
            ),
            feed_stale_hours=env_number(
                "FEEDMON_FEED_STALE_HOURS", DEFAULT_FEED_STALE_HOURS, minimum=0, exclusive=True, environ=environ
            ),
            run_timeout_minutes=run_timeout_minutes_from_env(environ),
            deadline_minutes=deadline_minutes_from_env(environ),
        )


# --------------------------------------------------------------------------- the run
def schedule_from_env(environ: Environ | None = None) -> str:
    """The ingest DAG's cron schedule (``FEEDMON_SCHEDULE``), read at DAG parse time: cheap, no I/O."""
    return _env(environ).get("FEEDMON_SCHEDULE") or DEFAULT_SCHEDULE


def data_dir_from_env(data_dir: str | None = None, environ: Environ | None = None) -> str:
    """The output root: ``data_dir``, else ``FEEDMON_DATA_DIR``, else ``data/``; local paths made absolute.

    Its own reader because the snapshot asset's URI is needed at DAG parse time.
    """
    data = data_dir or _env(environ).get("FEEDMON_DATA_DIR") or str(DEFAULT_DATA_DIR)
    if storage.is_local(data):
        data = str(Path(data.removeprefix("file://")).expanduser().resolve())
    return data


@dataclass(frozen=True)
class Settings:
    """Where feedmon reads feeds from and writes to, the run-level policies, and one section per stage."""

    feeds_file: str = field(metadata={"env": "FEEDMON_FEEDS"})
    data_dir: str = field(metadata={"env": "FEEDMON_DATA_DIR"})
    #: An Airflow Connection with the object store's credentials; resolved by the Airflow adapter
    #: into fsspec options (:func:`feedmon.storage.use_options`), never by the core.
    data_conn_id: str | None = field(default=None, metadata={"env": "FEEDMON_DATA_CONN_ID"})
    lookback_days: int = field(default=7, metadata={"env": "FEEDMON_LOOKBACK_DAYS"})
    max_failed_share: float = field(default=0.5, metadata={"env": "FEEDMON_MAX_FAILED_SHARE"})
    schedule: str = field(default=DEFAULT_SCHEDULE, metadata={"env": "FEEDMON_SCHEDULE"})
    #: Days of raw archive kept by ``feedmon prune`` and the housekeeping DAG (reprocessing needs them).
    raw_retention_days: int = field(default=DEFAULT_RAW_RETENTION_DAYS, metadata={"env": "FEEDMON_RAW_RETENTION_DAYS"})
    #: Worker processes for the parse and clean stages, and dedup's screen, of large runs (1: everything in-process).
    workers: int = field(default_factory=default_workers, metadata={"env": "FEEDMON_WORKERS"})
    #: Runs with fewer feed items (new rows for dedup) than this stay in-process whatever ``workers`` says.
    pool_min_items: int = field(default=DEFAULT_POOL_MIN_ITEMS, metadata={"env": "FEEDMON_POOL_MIN_ITEMS"})
    fetch: FetchSettings = field(default_factory=FetchSettings)
    clean: CleanSettings = field(default_factory=CleanSettings)
    tag: TagSettings = field(default_factory=TagSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    @classmethod
    def from_env(
        cls, feeds_file: str | None = None, data_dir: str | None = None, *, environ: Environ | None = None
    ) -> Settings:
        """Explicit arguments win over ``FEEDMON_*`` variables, which win over the defaults."""
        env = _env(environ)
        feeds = feeds_file or env.get("FEEDMON_FEEDS") or str(DEFAULT_FEEDS_FILE)
        data = data_dir_from_env(data_dir, env)
        share = env_number("FEEDMON_MAX_FAILED_SHARE", 0.5, minimum=0.0, environ=env)
        if share > 1.0:
            raise ConfigError(f"FEEDMON_MAX_FAILED_SHARE={share} must be between 0 and 1")
        lookback = int(env_number("FEEDMON_LOOKBACK_DAYS", 7, kind=int, minimum=0, environ=env))
        retention = env_number(
            "FEEDMON_RAW_RETENTION_DAYS", DEFAULT_RAW_RETENTION_DAYS, kind=int, minimum=1, environ=env
        )
        workers = env_number("FEEDMON_WORKERS", default_workers(), kind=int, minimum=1, environ=env)
        pool_min_items = env_number("FEEDMON_POOL_MIN_ITEMS", DEFAULT_POOL_MIN_ITEMS, kind=int, minimum=0, environ=env)
        return cls(
            feeds_file=feeds,
            data_dir=data,
            data_conn_id=_optional_text("FEEDMON_DATA_CONN_ID", env),
            lookback_days=lookback,
            max_failed_share=share,
            schedule=schedule_from_env(env),
            raw_retention_days=int(retention),
            workers=int(workers),
            pool_min_items=int(pool_min_items),
            fetch=FetchSettings.from_env(env),
            clean=CleanSettings.from_env(env),
            tag=TagSettings.from_env(env),
            alerts=AlertSettings.from_env(env),
        )

    # Layout of the data dir: the contract readers rely on (README "Layout of the data dir").
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


@dataclass(frozen=True)
class FaultHooks:
    """TEST-ONLY fault injection, read from ``FEEDMON_TEST_KILL_AT`` / ``FEEDMON_TEST_FAIL_AT``.

    Each names one checkpoint of :func:`feedmon.pipeline.checkpoint` (``<stage>:<before|after>``, or
    a point inside ``publish`` such as ``publish:state``; ``replay:`` in front for a recovery's
    replay). ``kill`` SIGKILLs the process there (the crash tests), ``fail`` raises (the DAG tests).
    Never set them in production; they are not settings and are not listed by :func:`env_variables`.
    """

    kill: str | None = None
    fail: str | None = None


#: The test-only variables of :class:`FaultHooks`: not settings, never in .env.example or compose.
FAULT_HOOK_VARIABLES = ("FEEDMON_TEST_KILL_AT", "FEEDMON_TEST_FAIL_AT")


def fault_hooks_from_env(environ: Environ | None = None) -> FaultHooks:
    """The one reader of the test-only fault hooks (see :class:`FaultHooks`); cheap, read per checkpoint."""
    env = _env(environ)
    kill, fail = (env.get(name) or None for name in FAULT_HOOK_VARIABLES)
    return FaultHooks(kill=kill, fail=fail)


def env_variables() -> list[str]:
    """Every environment variable :meth:`Settings.from_env` reads, in section order.

    The docs (README's configuration table, ``.env.example``) are tested against this list.
    """
    names: list[str] = []
    for f in dataclasses.fields(Settings):
        if "env" in f.metadata:
            names.append(f.metadata["env"])
    names += [FetchSettings.env_name(f.name) for f in dataclasses.fields(FetchSettings)]
    for section in (CleanSettings, TagSettings, AlertSettings):
        names += [f.metadata["env"] for f in dataclasses.fields(section)]
    return names
