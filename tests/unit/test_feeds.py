from pathlib import Path

import pytest

from feedmon.config import DEFAULT_FEEDS_FILE
from feedmon.feeds import FeedsFileError, load_feeds, parse_feeds


def test_default_feeds_file_is_valid_and_curated():
    feeds = load_feeds(DEFAULT_FEEDS_FILE)
    assert len(feeds) >= 15
    assert len({f.id for f in feeds}) == len(feeds)
    assert all(f.url.startswith("https://") and f.name and f.language for f in feeds)
    assert any(f.agency for f in feeds), "the default list includes agencies' own wires"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"url": "https://a.example/rss"}, "feeds[0]: field 'id'"),
        ({"id": "Bad Id", "url": "https://a.example/rss"}, "field 'id'"),
        ({"id": "a"}, "(id 'a'): field 'url'"),
        ({"id": "a", "url": "ftp://a.example/rss"}, "field 'url'"),
        ({"id": "a", "url": "https://a.example/rss", "language": 3}, "field 'language'"),
        ({"id": "a", "url": "https://a.example/rss", "timeout": -1}, "field 'timeout'"),
        ({"id": "a", "url": "https://a.example/rss", "max_bytes": 1.5}, "field 'max_bytes'"),
        ({"id": "a", "url": "https://a.example/rss", "enabled": "yes"}, "field 'enabled'"),
        ({"id": "a", "url": "https://a.example/rss", "colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_bad_entry_names_entry_and_field(entry, message):
    with pytest.raises(FeedsFileError, match=None) as err:
        parse_feeds({"feeds": [entry]}, "f.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("f.yaml: ")


def test_duplicate_id_names_second_entry():
    data = {"feeds": [{"id": "a", "url": "https://x.example/1"}, {"id": "a", "url": "https://x.example/2"}]}
    with pytest.raises(FeedsFileError, match=r"feeds\[1\] \(id 'a'\): field 'id' duplicates"):
        parse_feeds(data)


@pytest.mark.parametrize("text", ["", "feeds: []", "- a\n- b", "feeds: [oops"])
def test_bad_file_shapes(tmp_path: Path, text: str):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    with pytest.raises(FeedsFileError, match=str(path)):
        load_feeds(path)


def test_missing_file_says_how_to_fix(tmp_path: Path):
    with pytest.raises(FeedsFileError, match="FEEDMON_FEEDS"):
        load_feeds(tmp_path / "nope.yaml")


def test_disabled_feeds_skipped_unless_asked(tmp_path: Path):
    path = tmp_path / "f.yaml"
    path.write_text(
        "feeds:\n  - {id: a, url: 'https://x.example/a'}\n  - {id: b, url: 'https://x.example/b', enabled: false}\n"
    )
    assert [f.id for f in load_feeds(path)] == ["a"]
    assert [f.id for f in load_feeds(path, include_disabled=True)] == ["a", "b"]
