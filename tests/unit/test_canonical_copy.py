"""The canonical copy of a story, one rule per test, so removing any one rule fails a test here.

Among the copies of one story dedup names one canonical (``dedup._canonical``):

1. a copy crediting a named agency beats one credited only as "agency copy", which beats an
   uncredited copy, whatever their dates;
2. within a rank, the earliest *published* copy wins over the one fetched first (fetch order inside
   one run is noise).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feedmon.dedup import deduplicate
from feedmon.ids import content_hash, make_article_id
from feedmon.models import Article
from feedmon.vocab import AGENCY_FEED
from tests.fixtures.factories import make_article

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TITLE = "Putin hosts talks"
STORY = (
    "Russian President Vladimir Putin on Monday brought together the leaders of Armenia and Azerbaijan "
    "for the first time since a war last year over the Nagorno-Karabakh region, an effort to resolve "
    "problems that risk undermining the deal that ended the conflict."
)


def copy(feed: str, *, agency: str | None, published: datetime, seen: datetime) -> Article:
    """One outlet's copy of the story, as the clean stage hands it to dedup."""
    url = f"https://{feed}.example/world/putin-hosts-talks"
    return make_article(
        article_id=make_article_id(feed, None, url, TITLE),
        feed_id=feed,
        url=url,
        title=TITLE,
        text=STORY,
        agency=agency,
        published_at=published,
        first_seen_at=seen,
        content_hash=content_hash(TITLE, STORY),
    )


def canonical(copies: list[Article]) -> list[str]:
    """The feeds whose copy dedup made canonical (the copies must form one story)."""
    result = deduplicate(copies, [], [])
    assert len({a.story_id for a in result.articles}) == 1
    return [a.feed_id for a in result.articles if a.is_canonical]


def test_a_named_agency_beats_an_agency_copy_published_and_fetched_earlier() -> None:
    unnamed = copy("unnamed", agency=AGENCY_FEED, published=T0, seen=T0)
    named = copy("named", agency="Reuters", published=T0 + timedelta(hours=1), seen=T0 + timedelta(hours=1))
    assert canonical([unnamed, named]) == ["named"]


def test_an_agency_copy_beats_an_uncredited_copy_published_and_fetched_earlier() -> None:
    plain = copy("plain", agency=None, published=T0, seen=T0)
    unnamed = copy("unnamed", agency=AGENCY_FEED, published=T0 + timedelta(hours=1), seen=T0 + timedelta(hours=1))
    assert canonical([plain, unnamed]) == ["unnamed"]


def test_the_earliest_published_copy_wins_over_the_one_fetched_first() -> None:
    fetched_first = copy("fetched-first", agency="Reuters", published=T0 + timedelta(minutes=30), seen=T0)
    published_first = copy("published-first", agency="Reuters", published=T0, seen=T0 + timedelta(minutes=5))
    assert canonical([fetched_first, published_first]) == ["published-first"]
