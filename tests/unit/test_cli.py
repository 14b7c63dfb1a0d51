"""The `feedmon` command's contract with scripts and people, in-process: flags, exit codes, one-line
errors, progress only for a person or with -v (the real subprocess runs are tests/e2e/test_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedmon import __version__, cli, pipeline
from feedmon.config import Settings

SUMMARY = {
    "date": "2026-11-28",
    "run_id": "cli__x",
    "feeds": 1,
    "feeds_ok": 1,
    "feeds_failed": 0,
    "failed_feeds": [],
}


@pytest.fixture
def fake_cycle(monkeypatch):
    """run_cycle that reports progress like the real one and returns a summary; records its kwargs."""
    seen: dict = {}

    def run_cycle(settings: Settings, day, run_id=None, *, refetch=False, progress=None):
        seen.update(day=day, refetch=refetch)
        progress("fetch 1/1: 1 feeds, 0 failed")
        progress("publish: /x")
        return dict(SUMMARY)

    monkeypatch.setattr(pipeline, "run_cycle", run_cycle)
    return seen


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"feedmon {__version__}"


@pytest.mark.parametrize("argv", [["-v", "run", "--json"], ["run", "-v", "--json"], ["run", "--json", "--verbose"]])
def test_verbose_anywhere_shows_progress_on_stderr_and_keeps_stdout_json(argv, fake_cycle, capsys, data_dir):
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["date"] == "2026-11-28"  # stdout is the JSON alone
    assert "fetch 1/1: 1 feeds, 0 failed" in err and "publish: /x" in err


def test_no_progress_for_scripts(fake_cycle, capsys, data_dir):
    """stderr is not a terminal here (captured) and no -v: nothing but the summary."""
    assert cli.main(["run", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) and err == ""


def test_refetch_and_date_reach_the_cycle(fake_cycle, data_dir):
    assert cli.main(["run", "--date", "2026-11-20", "--refetch", "--json"]) == 0
    assert fake_cycle["refetch"] is True and fake_cycle["day"].isoformat() == "2026-11-20"


def test_ctrl_c_is_one_line_and_130(monkeypatch, capsys, data_dir):
    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run_cycle", interrupted)
    assert cli.main(["run"]) == 130
    assert capsys.readouterr().err == "feedmon: interrupted\n"


@pytest.mark.parametrize(
    ("env", "argv", "message"),
    [
        ({"FEEDMON_FETCH_PER_HOST": "two"}, ["run"], "FEEDMON_FETCH_PER_HOST='two': expected int"),
        ({"FEEDMON_RAW_RETENTION_DAYS": "0"}, ["prune"], "FEEDMON_RAW_RETENTION_DAYS=0 must be >= 1"),
        ({}, ["run", "--feeds", "/no/such/feeds.yaml"], "/no/such/feeds.yaml: feeds file not found"),
        ({}, ["reprocess", "--date", "2026-11-01"], "no raw archive for 2026-11-01"),
    ],
)
def test_errors_are_one_line_with_exit_2(env, argv, message, monkeypatch, capsys, data_dir):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("feedmon: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_broken_gazetteer_is_one_line(monkeypatch, capsys, tmp_path: Path, data_dir):
    bad = tmp_path / "gazetteer.yaml"
    bad.write_text("regions: [\n  - name: x\n    countries: [\n")
    monkeypatch.setenv("FEEDMON_GAZETTEER", str(bad))

    def tag_stage(*_a, **_k):
        from feedmon.tag import ConflictTagger

        ConflictTagger.load(str(bad))

    monkeypatch.setattr(pipeline, "run_cycle", tag_stage)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML" in err and err.count("\n") == 1


def test_a_bug_is_one_line_unless_verbose(monkeypatch, capsys, data_dir):
    def bug(*_a, **_k):
        raise KeyError("oops")

    monkeypatch.setattr(pipeline, "run_cycle", bug)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert err == "feedmon: error: KeyError: 'oops' (run with -v for details)\n"
    assert cli.main(["run", "-v"]) == 2
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("days", ["0", "-2", "ten"])
def test_prune_takes_positive_days_only(days, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["prune", "--raw-days", days])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--raw-days" in err


def test_prune_dry_run_lists_and_keeps(capsys, data_dir: Path):
    old = data_dir / "raw" / "date=2020-01-01" / "run" / "feed.body.gz"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"x")
    assert cli.main(["prune", "--dry-run", "--raw-days", "30"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("would remove 1 folders") and "date=2020-01-01" in out
    assert old.exists()
    assert cli.main(["prune", "--raw-days", "30"]) == 0
    assert capsys.readouterr().out.startswith("removed 1 folders") and not old.exists()
