"""The ``feedmon`` command: one pipeline cycle in-process, with the functions the DAG tasks call.

Scripts can rely on it: the summary (or ``--json``) is the only thing on stdout; progress lines go to
stderr, and only for a person (stderr is a terminal) or with ``-v``; every error is one line on
stderr with exit code 2 (1: ``--strict`` found too many failed feeds; 130: interrupted).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
import time
import traceback
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NoReturn

from feedmon import __version__, pipeline
from feedmon.config import ConfigError, Settings
from feedmon.demo import SAMPLE_DIR, format_summary, serve_directory, write_feeds_file
from feedmon.feeds import FeedsFileError, load_feeds
from feedmon.gazetteer import GazetteerError

#: Errors of the user's input or environment: their message is the whole story, no traceback.
USER_ERRORS = (FeedsFileError, ConfigError, GazetteerError, FileNotFoundError)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (not the usage block) like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-28") from None


def _positive_days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days") from None
    if days < 1:
        raise argparse.ArgumentTypeError(f"{days} days: keep at least 1 day")
    return days


def _progress(args: argparse.Namespace) -> pipeline.Progress:
    """Progress lines on stderr for a person watching (a terminal) or with ``-v``; silent otherwise."""
    if not (args.verbose or sys.stderr.isatty()):
        return lambda _line: None
    start = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - start:6.1f}s] {line}", file=sys.stderr, flush=True)

    return say


def _print(summary: dict, as_json: bool) -> None:
    print(json.dumps(summary, indent=2, default=str) if as_json else format_summary(summary))


def cmd_run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.feeds, args.data_dir)
    summary = pipeline.run_cycle(
        settings, args.date or datetime.now(UTC).date(), refetch=args.refetch, progress=_progress(args)
    )
    _print(summary, args.json)
    if args.strict:
        pipeline.check_feed_health(summary, settings.max_failed_share)
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.feeds, args.data_dir)
    _print(pipeline.reprocess_day(settings, args.date, progress=_progress(args)), args.json)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = Settings.from_env(None, args.data_dir)
    with tempfile.TemporaryDirectory() as tmp, serve_directory(SAMPLE_DIR) as base:
        feeds = write_feeds_file(base, Path(tmp) / "feeds.yaml")
        demo = dataclasses.replace(settings, feeds_file=str(feeds))
        print(f"serving the bundled sample feeds at {base}")
        summary = pipeline.run_cycle(demo, datetime.now(UTC).date(), progress=_progress(args))
    _print(summary, args.json)
    print(
        f"\nread it back:\n  python -c \"import pandas as pd; print(pd.read_parquet('{settings.data_dir}/snapshots'))\""
    )
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    settings = Settings.from_env(None, args.data_dir)
    days = args.raw_days or settings.raw_retention_days
    removed = pipeline.prune(settings, datetime.now(UTC).date(), days, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(removed)} folders (raw archives older than {days} days, leftover work)", end="")
    print("".join(f"\n  {p}" for p in removed))
    return 0


def cmd_check_feeds(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.feeds, None)
    feeds = load_feeds(settings.feeds_file, include_disabled=True)
    print(f"{settings.feeds_file}: {len(feeds)} feeds, {sum(f.enabled for f in feeds)} enabled")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="feedmon", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # -v before or after the subcommand: the subcommands' copy must not reset the top-level one.
    verbose = _Parser(add_help=False)
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log each stage, show progress"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each stage, show progress")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, feeds: bool = True) -> None:
        if feeds:
            p.add_argument("--feeds", help="feeds file (default: $FEEDMON_FEEDS or include/feeds.yaml)")
        p.add_argument("--data-dir", help="output root (default: $FEEDMON_DATA_DIR or ./data)")
        p.add_argument("--json", action="store_true", help="print the summary as JSON")

    run = sub.add_parser("run", parents=[verbose], help="fetch all feeds and update the day's snapshot")
    run.add_argument("--date", type=_day, help="the UTC day to write (default: today)")
    run.add_argument("--strict", action="store_true", help="exit 1 when too many feeds failed")
    run.add_argument("--refetch", action="store_true", help="ignore saved ETag/Last-Modified and backoff")
    common(run)
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser(
        "reprocess", parents=[verbose], help="rebuild a day's snapshot from its raw archive (no network)"
    )
    rep.add_argument("--date", type=_day, required=True)
    common(rep)
    rep.set_defaults(func=cmd_reprocess)

    demo = sub.add_parser("demo", parents=[verbose], help="offline: serve the bundled sample feeds and run one cycle")
    common(demo, feeds=False)
    demo.set_defaults(func=cmd_demo)

    prn = sub.add_parser(
        "prune",
        parents=[verbose],
        help="delete raw archives older than --raw-days (snapshots are kept) and dead runs' leftovers",
    )
    prn.add_argument(
        "--raw-days",
        type=_positive_days,
        help="days of raw archive to keep, at least 1 (default: $FEEDMON_RAW_RETENTION_DAYS or 30)",
    )
    prn.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    prn.add_argument("--data-dir", help="output root (default: $FEEDMON_DATA_DIR or ./data)")
    prn.set_defaults(func=cmd_prune)

    chk = sub.add_parser("check-feeds", parents=[verbose], help="validate a feeds file")
    chk.add_argument("--feeds")
    chk.set_defaults(func=cmd_check_feeds)
    return parser


def _one_line(exc: BaseException) -> str:
    """An error as one line (YAML errors span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("feedmon: interrupted", file=sys.stderr)
        return 130
    except pipeline.FeedsFailedError as exc:
        print(f"feedmon: run failed: {_one_line(exc)}", file=sys.stderr)
        return 1
    except USER_ERRORS as exc:
        print(f"feedmon: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug or an outage: still one line; the traceback only on request
        if args.verbose:
            traceback.print_exc()
        print(f"feedmon: error: {type(exc).__name__}: {_one_line(exc)} (run with -v for details)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
