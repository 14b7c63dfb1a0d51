"""feedmon.pool without processes: chunking keeps order and balance; workers=1 runs in-process.
And the fetch's thread switch interval (the other way ``feedmon run`` keeps its threads busy)."""

from __future__ import annotations

import sys

import pytest

from feedmon import pipeline
from feedmon.pool import balanced_chunks, map_chunks


@pytest.mark.parametrize("n", [1, 2, 3, 8, 50])
def test_balanced_chunks_keep_order_and_never_split_an_item(n):
    items = [f"feed-{i}" for i in range(20)]
    weights = [(i * 37) % 11 + 1 for i in range(20)]
    chunks = balanced_chunks(items, weights, n)
    assert [x for chunk in chunks for x in chunk] == items
    assert 1 <= len(chunks) <= n and all(chunks)
    if n <= 3:
        assert len(chunks) == n


def test_balanced_chunks_balance_by_weight():
    assert balanced_chunks(list("abcdefgh"), [100, 1, 1, 1, 1, 1, 1, 100], 2) == [list("abcd"), list("efgh")]
    assert balanced_chunks(list("abcd"), [1, 1, 1, 30], 2) == [list("abc"), ["d"]]
    assert balanced_chunks([], [], 4) == []


def _tag(context: str, chunk: list[int]) -> list[str]:
    return [f"{context}{x}" for x in chunk]


def test_map_chunks_in_process_yields_in_chunk_order_lazily():
    read: list[int] = []

    def chunks():
        for i in range(3):
            read.append(i)
            yield [i, i + 10]

    results = map_chunks(_tag, "c", chunks(), workers=1)
    assert read == []  # nothing runs before the first result is asked for
    assert next(results) == ["c0", "c10"] and read == [0]
    assert list(results) == [["c1", "c11"], ["c2", "c12"]]
    assert list(map_chunks(_tag, "c", [[1]], workers=4, parallel=False)) == [["c1"]]


def test_the_fetch_runs_with_a_short_thread_switch_interval_and_gives_it_back() -> None:
    before = sys.getswitchinterval()
    with pipeline._responsive_threads():
        assert sys.getswitchinterval() == pytest.approx(pipeline.FETCH_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == before
    with pytest.raises(KeyboardInterrupt), pipeline._responsive_threads():
        raise KeyboardInterrupt  # Ctrl-C during the fetch
    assert sys.getswitchinterval() == before
