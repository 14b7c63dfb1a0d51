"""The anchored lookup's screen (:class:`feedmon.dedup.AnchorScreen`): what it rules out cannot
score, and clustering with its answers computed ahead gives the same stories.

The batch: :func:`~tests.fixtures.factories.ag_copies_batch` (real AG rows with title-only listings
and re-titled short copies, the kinds of copy that reach the anchored lookup).
"""

from __future__ import annotations

import gc
import weakref

import pytest

from feedmon import dedup
from feedmon.dedup import StoryIndex
from tests.fixtures.factories import ag_copies_batch


def _clustered(texts: list[tuple[str, str]], times: list[float], *, ahead: bool) -> StoryIndex:
    index = StoryIndex(texts, text_of=texts.__getitem__, times=times)
    if ahead:  # in-process (one worker: computed in the screen's thread), several chunks
        index.screen_ahead(range(len(texts)), texts, workers=1)
    for i in range(len(texts)):
        index.add(i)
    index.close()
    return index


def test_what_the_screen_rules_out_never_scores() -> None:
    texts, times = ag_copies_batch()
    index = _clustered(texts, times, ahead=False)
    screen = index.screen()
    ruled_out = kept = scored = 0
    for i in range(len(texts)):
        for m in screen.pairs(i):
            score = index._text_score(i, m, index.story[m], [], [])
            heads = screen.heads
            if heads.short(i) or heads.short(m):
                score = score or index.rule.headlines_agree(screen.headline(i), screen.headline(m), heads.weight)
            if screen.may_score(i, m):
                kept += 1
                scored += score > 0
            else:
                ruled_out += 1
                assert score == 0, (texts[i], texts[m])
    # not vacuous: the screen rules most pairs out, and keeps pairs that do score
    assert ruled_out > 100 and kept > scored > 20


def test_clustering_with_the_screen_computed_ahead_finds_the_same_stories(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup, "SCREEN_ROWS", 97)  # many chunks, cut anywhere
    texts, times = ag_copies_batch()
    plain = _clustered(texts, times, ahead=False)
    ahead = _clustered(texts, times, ahead=True)
    assert ahead.story == plain.story
    assert ahead.screened_rows > 100  # the rows that reached the anchored lookup took the screen's answers
    assert plain.screened_rows == 0
    joined = len(texts) - plain.n_stories
    assert joined > 100  # copies found, many of them by the anchored lookup


def test_rows_before_the_screened_ones_are_screened_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # rows of the day published already (or history) that reach the lookup are not in the screen's
    # range: they are screened here, without waiting for the screen's chunks
    monkeypatch.setattr(dedup, "SCREEN_ROWS", 97)
    texts, times = ag_copies_batch()
    plain = _clustered(texts, times, ahead=False)
    index = StoryIndex(texts, text_of=texts.__getitem__, times=times)
    start = len(texts) // 3
    index.screen_ahead(range(start, len(texts)), texts, workers=1)
    assert index._screened is not None and index._screened.get(start - 1) is None
    for i in range(len(texts)):
        index.add(i)
    index.close()
    assert index.story == plain.story
    assert 0 < index.screened_rows < len(texts) - start


def test_an_index_let_go_is_freed_at_once_without_a_garbage_collection() -> None:
    # the caches' makers must not refer back to the index or its screen: such a cycle kept a
    # million rows' signatures alive after dedup, under the write that follows (+1 GiB at 1M)
    texts, times = ag_copies_batch()
    gc.disable()
    try:
        index = _clustered(texts, times, ahead=False)
        assert index._screen is not None and index._screen.headline(0) and index._sets and index._events
        refs = [weakref.ref(index), weakref.ref(index._screen)]
        del index
        assert [r() for r in refs] == [None, None]
    finally:
        gc.enable()
