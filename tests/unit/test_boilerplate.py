"""feedmon.boilerplate: per-source learned junk, deterministic per day."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from feedmon.clean import BoilerplateModel, BoilerplateSettings, clean_article, line_key

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
FOOTER = "Read all the Latest News, Breaking News and Coronavirus News here"
SETTINGS = BoilerplateSettings(min_articles=3, min_share=0.5, window_days=30)


WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
]


def _name(i: int) -> str:
    """Distinct words per article: line keys ignore digits, so numbers alone would not differ."""
    return f"{WORDS[i % len(WORDS)]} {WORDS[(i // len(WORDS)) % len(WORDS)]}"


def _article(i: int, footer: bool = True) -> str:
    lines = [f"Story {_name(i)} happened somewhere.", f"A second line unique to {_name(i)}."]
    if footer:
        lines.append(FOOTER)
    return "\n".join(lines)


def _learn(state: Path, day: date, n: int, source: str = "site-a", start: int = 0) -> BoilerplateModel:
    m = BoilerplateModel.load(str(state), day, settings=SETTINGS)
    for i in range(start, start + n):
        m.observe(source, f"{source}-{i}", _article(i))
    m.save(str(state), day)
    return m


def test_learned_on_one_day_applies_from_the_next(tmp_path: Path) -> None:
    today = _learn(tmp_path, D1, 4)
    assert not today.is_boilerplate("site-a", FOOTER)  # day D never uses its own observations
    tomorrow = BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS)
    assert tomorrow.is_boilerplate("site-a", FOOTER)
    assert tomorrow.is_boilerplate("site-a", "read all the latest news breaking news and coronavirus news here!")
    assert not tomorrow.is_boilerplate("site-a", f"Story {_name(1)} happened somewhere.")
    assert tomorrow.is_boilerplate("site-a", "12 comments") is False  # too few articles had it
    assert not tomorrow.is_boilerplate("site-b", FOOTER)  # per source


def test_threshold_k_and_share(tmp_path: Path) -> None:
    _learn(tmp_path, D1, 2)  # 2 articles < K=3
    assert not BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS).is_boilerplate("site-a", FOOTER)
    m = BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS)
    for i in range(10, 20):  # 10 more articles without the footer: 3/12 < 50%
        m.observe("site-a", f"a-{i}", _article(i, footer=False))
    m.observe("site-a", "a-99", _article(99))
    m.save(str(tmp_path), D2)
    assert not BoilerplateModel.load(str(tmp_path), D3, settings=SETTINGS).is_boilerplate("site-a", FOOTER)
    loose = BoilerplateSettings(min_articles=3, min_share=0.2)
    assert BoilerplateModel.load(str(tmp_path), D3, settings=loose).is_boilerplate("site-a", FOOTER)


def test_observe_is_idempotent_per_article_key_across_runs_and_days(tmp_path: Path) -> None:
    m = BoilerplateModel.load(str(tmp_path), D1, settings=SETTINGS)
    for _ in range(5):
        m.observe("site-a", "same-article", _article(1))
    m.save(str(tmp_path), D1)
    # a second run of the same day re-observes the same article: still one
    m = BoilerplateModel.load(str(tmp_path), D1, settings=SETTINGS)
    m.observe("site-a", "same-article", _article(1))
    m.save(str(tmp_path), D1)
    doc = json.loads((tmp_path / "boilerplate" / "2026-11-01.json").read_text())
    assert doc["sources"]["site-a"]["articles"] == 1
    # re-listed the next day: not counted again
    m = BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS)
    m.observe("site-a", "same-article", _article(1))
    m.save(str(tmp_path), D2)
    doc2 = json.loads((tmp_path / "boilerplate" / "2026-11-02.json").read_text())
    assert doc2["sources"] == {}


def test_reprocessing_a_day_gives_identical_files(tmp_path: Path) -> None:
    _learn(tmp_path, D1, 4)
    _learn(tmp_path, D2, 4, start=100)
    first = (tmp_path / "boilerplate" / "2026-11-02.json").read_bytes()
    # reprocess D2 from scratch, in another order, in two runs
    (tmp_path / "boilerplate" / "2026-11-02.json").unlink()
    m = BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS)
    for i in (103, 101):
        m.observe("site-a", f"site-a-{i}", _article(i))
    m.save(str(tmp_path), D2)
    m = BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS)
    for i in (100, 102, 101):
        m.observe("site-a", f"site-a-{i}", _article(i))
    m.save(str(tmp_path), D2)
    assert (tmp_path / "boilerplate" / "2026-11-02.json").read_bytes() == first
    # and files written after D do not change the model for D
    _learn(tmp_path, D3, 4, source="site-b")
    a = BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS)
    assert a.boilerplate_count("site-a") == 1 and a.boilerplate_count("site-b") == 0


def test_window_forgets_old_days(tmp_path: Path) -> None:
    _learn(tmp_path, D1, 4)
    short = BoilerplateSettings(min_articles=3, min_share=0.5, window_days=1)
    assert BoilerplateModel.load(str(tmp_path), D2, settings=short).is_boilerplate("site-a", FOOTER)
    assert not BoilerplateModel.load(str(tmp_path), D3, settings=short).is_boilerplate("site-a", FOOTER)


def test_no_state_dir_and_damaged_file(tmp_path: Path) -> None:
    assert not BoilerplateModel.load(None, D1, settings=SETTINGS).is_boilerplate("x", FOOTER)
    (tmp_path / "boilerplate").mkdir()
    (tmp_path / "boilerplate" / "2026-11-01.json").write_text("{not json")
    (tmp_path / "boilerplate" / "notes.json").write_text("{}")
    assert BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS).boilerplate_count("site-a") == 0


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    _learn(tmp_path, D1, 3)
    assert sorted(p.name for p in (tmp_path / "boilerplate").iterdir()) == ["2026-11-01.json"]


def test_clean_article_observes_then_removes_learned_lines(tmp_path: Path) -> None:
    def html(i: int) -> str:
        return f"<p>Story {_name(i)} opens here.</p><p>Subscribe to Example Daily for more stories like this</p>"

    m = BoilerplateModel.load(str(tmp_path), D1, settings=SETTINGS)
    for i in range(4):
        out = clean_article("T", html(i), source="site-a", boilerplate=m, article_key=f"k{i}")
        assert "Subscribe to Example Daily" in out.text  # not learned yet on its own day
    m.save(str(tmp_path), D1)
    m2 = BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS)
    out = clean_article("T", html(9), source="site-a", boilerplate=m2, article_key="k9")
    assert out.text == f"Story {_name(9)} opens here."
    other = clean_article("T", html(9), source="site-b", boilerplate=m2)
    assert "Subscribe to Example Daily" in other.text


def test_footer_keeps_being_counted_while_removed(tmp_path: Path) -> None:
    """Both wirings (article_key, or observe() of the cleaned text) keep counting removed lines."""

    def html(i: int) -> str:
        return f"<p>Story {_name(i)} opens here.</p><p>Subscribe to Example Daily for more stories like this</p>"

    m = BoilerplateModel.load(str(tmp_path), D1, settings=SETTINGS)
    for i in range(4):
        clean_article("T", html(i), source="s", boilerplate=m, article_key=f"k{i}")
    m.save(str(tmp_path), D1)
    m2 = BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS)
    for i in range(10, 14):  # day 2: the footer is removed; one wiring per half
        if i % 2:
            out = clean_article("T", html(i), source="s", boilerplate=m2, article_key=f"k{i}")
        else:
            out = clean_article("T", html(i), source="s", boilerplate=m2)
            m2.observe("s", f"k{i}", out.text, out.boilerplate_removed)
        assert "Subscribe" not in out.text
    m2.save(str(tmp_path), D2)
    doc = json.loads((tmp_path / "boilerplate" / "2026-11-02.json").read_text())
    assert doc["sources"]["s"]["articles"] == 4
    assert max(doc["sources"]["s"]["lines"].values()) == 4  # the footer, counted in all four


def test_settings_from_rules_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDMON_BOILERPLATE_MIN_ARTICLES", "9")
    s = BoilerplateSettings.from_rules({"min_articles": 5, "min_share": 0.3})
    assert (s.min_articles, s.min_share) == (9, 0.3)
    monkeypatch.setenv("FEEDMON_BOILERPLATE_MIN_SHARE", "2")
    with pytest.raises(ValueError, match="out of range"):
        BoilerplateSettings.from_rules({})
    monkeypatch.setenv("FEEDMON_BOILERPLATE_MIN_SHARE", "lots")
    with pytest.raises(ValueError, match="FEEDMON_BOILERPLATE_MIN_SHARE"):
        BoilerplateSettings.from_rules({})


def test_observations_reach_the_day_only_when_recorded_and_once(tmp_path: Path) -> None:
    """What the pipeline does: clean observes (nothing saved), publish records, a replay records again."""
    m = BoilerplateModel.load(str(tmp_path), D1, settings=SETTINGS)
    for i in range(4):
        m.observe("site-a", f"a-{i}", _article(i))
    m.observe("site-a", "a-0", _article(0))  # listed twice in one run: one observation
    assert not (tmp_path / "boilerplate").exists(), "observing stores nothing"
    observed = json.loads(json.dumps(m.observations()))  # as parked in the work folder
    assert BoilerplateModel.record(str(tmp_path), D1, observed) == 4
    saved = (tmp_path / "boilerplate" / f"{D1}.json").read_bytes()
    assert BoilerplateModel.record(str(tmp_path), D1, observed) == 0
    assert (tmp_path / "boilerplate" / f"{D1}.json").read_bytes() == saved
    # a later run of the day, cleaned after that publish, observes only what is new to the day
    later = BoilerplateModel.load(str(tmp_path), D1, settings=SETTINGS)
    later.observe("site-a", "a-1", _article(1))
    later.observe("site-a", "a-9", _article(9))
    assert len(later.observations()["sources"]["site-a"]) == 1
    assert BoilerplateModel.record(str(tmp_path), D1, later.observations()) == 1
    stats = json.loads((tmp_path / "boilerplate" / f"{D1}.json").read_text())["sources"]["site-a"]
    assert stats["articles"] == 5


def test_light_copy_for_workers_decides_alike_and_unseen_drops_what_was_counted(tmp_path: Path) -> None:
    _learn(tmp_path, D1, 4)
    full = BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS)
    light = full.for_workers()
    for line in (FOOTER, f"Story {_name(1)} happened somewhere.", "12 comments"):
        for source in ("site-a", "site-b"):
            assert light.is_boilerplate(source, line) == full.is_boilerplate(source, line)
    assert light.is_boilerplate("site-a", FOOTER)
    one_pass = BoilerplateModel.load(str(tmp_path), D2, settings=SETTINGS)
    for model in (one_pass, light):
        for i in (6, 2, 5, 5):  # article 2 was counted on D1, article 5 comes twice
            model.observe("site-a", f"site-a-{i}", _article(i))
    assert len(light.observations()["sources"]["site-a"]) == 3  # the light copy cannot know about 2
    got = full.unseen(light.observations()["sources"])
    expected = one_pass.observations()["sources"]
    assert got == expected and list(got["site-a"]) == list(expected["site-a"])  # same articles, same order
    assert len(got["site-a"]) == 2


def test_line_key_shortcut_on_ascii_lines_matches_the_regex_key() -> None:
    # line_key takes a byte-table shortcut on ASCII lines: the key must be the regex one exactly
    import random
    import re

    def regex_key(line: str) -> str:
        return re.sub(r"\d+", "0", re.sub(r"[\W_]+", "", line.casefold()))

    rng = random.Random(3)
    alphabet = "aZ09_ -'.,;:!?\t\x00\x01\x0b\x1f\x7f&#<>/\\\"$%@"
    lines = ["", "0 comments", "12 of 345", "__", "Read MORE >>", "".join(map(chr, range(128)))]
    lines += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    for line in lines:
        assert line_key(line) == regex_key(line), repr(line)
    assert line_key("Ünïcode 12 Zeilen") == regex_key("Ünïcode 12 Zeilen") == "ünïcode0zeilen"
