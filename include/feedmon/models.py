"""Records passed between pipeline stages.

Plain dataclasses keep every stage testable without Airflow, pandas or Parquet; the stages that
persist them convert to and from Arrow tables in :mod:`feedmon.schema`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One entry of the feeds file. Optional limits override the global fetch settings."""

    id: str
    url: str
    name: str | None = None
    agency: str | None = None
    language: str | None = None
    enabled: bool = True
    timeout: float | None = None
    max_bytes: int | None = None

    @property
    def source(self) -> str:
        """The outlet name shown to readers; falls back to the feed id."""
        return self.name or self.id


@dataclass(slots=True)
class FetchResult:
    """What one HTTP fetch of one feed produced. ``body`` is the decoded-transport payload bytes.

    ``body_sha256`` stands in for the body when only its archived manifest was read (the state a
    result leads to needs the body's hash, not the body).
    """

    feed_id: str
    url: str
    status: str
    fetched_at: datetime
    duration_ms: int
    final_url: str | None = None
    http_status: int | None = None
    error: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    bytes: int = 0
    consecutive_failures: int = 0
    body_sha256: str | None = None


@dataclass(slots=True)
class RawEntry:
    """One feed item as the parser saw it: HTML still in, dates already UTC."""

    feed_id: str
    guid: str | None
    link: str | None
    title: str
    html: str
    published_at: datetime | None
    language: str | None = None
    author: str | None = None


@dataclass(slots=True)
class CleanText:
    """Output of :func:`feedmon.clean.clean_article`.

    ``boilerplate_removed`` are the lines the learned-boilerplate model took out; a caller that
    observes ``text`` hands them to :meth:`feedmon.clean.BoilerplateModel.observe` too.
    """

    title: str
    text: str
    dateline: str | None = None
    agency: str | None = None
    boilerplate_removed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TagResult:
    """Output of :meth:`feedmon.tag.ConflictTagger.tag`: the decision and why it was made."""

    is_conflict: bool = False
    conflict_score: float = 0.0
    conflict_regions: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    conflict_evidence: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Article:
    """One row of the daily snapshot (see :data:`feedmon.schema.ARTICLE_SCHEMA`).

    Stages fill it progressively: parse+clean set identity and text, dedup sets the story
    fields, tag sets the conflict fields. ``url`` is the canonical form (the page's identity);
    ``link`` is the http(s) address exactly as the feed gave it, for people to click.
    """

    article_id: str
    feed_id: str
    source: str
    url: str
    guid: str | None
    title: str
    text: str
    published_at: datetime | None
    first_seen_at: datetime
    language: str | None = None
    dateline: str | None = None
    agency: str | None = None
    content_hash: str = ""
    story_id: str = ""
    is_canonical: bool = True
    duplicate_of: str | None = None
    source_count: int = 1
    is_conflict: bool = False
    conflict_score: float = 0.0
    conflict_regions: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    conflict_evidence: list[str] = field(default_factory=list)
    first_run_id: str = ""
    link: str = ""
