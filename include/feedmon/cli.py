"""The ``feedmon`` command: one pipeline cycle in-process, with the functions the DAG tasks call."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from feedmon import pipeline
from feedmon.config import ConfigError, Settings
from feedmon.demo import SAMPLE_DIR, format_summary, serve_directory, write_feeds_file
from feedmon.feeds import FeedsFileError, load_feeds


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-28") from None


def _print(summary: dict, as_json: bool) -> None:
    print(json.dumps(summary, indent=2, default=str) if as_json else format_summary(summary))


def cmd_run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.feeds, args.data_dir)
    summary = pipeline.run_cycle(settings, args.date or datetime.now(UTC).date())
    _print(summary, args.json)
    if args.strict:
        pipeline.check_feed_health(summary, settings.max_failed_share)
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.feeds, args.data_dir)
    _print(pipeline.reprocess_day(settings, args.date), args.json)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = Settings.from_env(None, args.data_dir)
    with tempfile.TemporaryDirectory() as tmp, serve_directory(SAMPLE_DIR) as base:
        feeds = write_feeds_file(base, Path(tmp) / "feeds.yaml")
        demo = dataclasses.replace(settings, feeds_file=str(feeds))
        print(f"serving the bundled sample feeds at {base}")
        summary = pipeline.run_cycle(demo, datetime.now(UTC).date())
    _print(summary, args.json)
    print(
        f"\nread it back:\n  python -c \"import pandas as pd; print(pd.read_parquet('{settings.data_dir}/snapshots'))\""
    )
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    settings = Settings.from_env(None, args.data_dir)
    removed = pipeline.prune(settings, datetime.now(UTC).date(), args.raw_days)
    print(f"removed {len(removed)} folders" + "".join(f"\n  {p}" for p in removed))
    return 0


def cmd_check_feeds(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.feeds, None)
    feeds = load_feeds(settings.feeds_file, include_disabled=True)
    print(f"{settings.feeds_file}: {len(feeds)} feeds, {sum(f.enabled for f in feeds)} enabled")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedmon", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log each stage")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, feeds: bool = True) -> None:
        if feeds:
            p.add_argument("--feeds", help="feeds file (default: $FEEDMON_FEEDS or include/feeds.yaml)")
        p.add_argument("--data-dir", help="output root (default: $FEEDMON_DATA_DIR or ./data)")
        p.add_argument("--json", action="store_true", help="print the summary as JSON")

    run = sub.add_parser("run", help="fetch all feeds and update the day's snapshot")
    run.add_argument("--date", type=_day, help="the UTC day to write (default: today)")
    run.add_argument("--strict", action="store_true", help="exit non-zero when too many feeds failed")
    common(run)
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser("reprocess", help="rebuild a day's snapshot from its raw archive (no network)")
    rep.add_argument("--date", type=_day, required=True)
    common(rep)
    rep.set_defaults(func=cmd_reprocess)

    demo = sub.add_parser("demo", help="offline: serve the bundled sample feeds and run one cycle")
    common(demo, feeds=False)
    demo.set_defaults(func=cmd_demo)

    prn = sub.add_parser(
        "prune", help="delete raw archives older than --raw-days (snapshots are kept) and dead runs' leftovers"
    )
    prn.add_argument("--raw-days", type=int, default=30, help="days of raw archive to keep (default 30)")
    prn.add_argument("--data-dir", help="output root (default: $FEEDMON_DATA_DIR or ./data)")
    prn.set_defaults(func=cmd_prune)

    chk = sub.add_parser("check-feeds", help="validate a feeds file")
    chk.add_argument("--feeds")
    chk.set_defaults(func=cmd_check_feeds)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except (FeedsFileError, ConfigError, FileNotFoundError) as exc:
        print(f"feedmon: error: {exc}", file=sys.stderr)
        return 2
    except pipeline.FeedsFailedError as exc:
        print(f"feedmon: run failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
