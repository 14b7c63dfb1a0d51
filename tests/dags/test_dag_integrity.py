"""DagBag policy: every DAG imports cleanly and carries the project's defaults (STYLE.md habit 3)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from feedmon.airflow.tasks import ALLOWED_TAGS, FETCH_POOL
from feedmon.config import AlertSettings
from tests.conftest import REPO

DAG_FILES = sorted((REPO / "dags").glob("*.py"))
# Verdicts on data that is already written: a retry could only repeat them (and the alert).
NO_RETRY = {("feedmon_ingest", "check_feed_health"), ("feedmon_ingest", "raise_data_alerts")}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "feedmon_ingest" in dagbag.dag_ids


def test_every_dag_follows_policy(dagbag):
    assert dagbag.dags
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and set(dag.tags) <= ALLOWED_TAGS, dag_id
        assert dag.doc_md and len(dag.doc_md) > 100, dag_id
        assert dag.catchup is False, dag_id
        assert dag.start_date is not None and dag.start_date.tzinfo is not None, dag_id
        assert dag.max_active_runs == 1 or dag_id != "feedmon_ingest"
        for t in dag.tasks:
            assert t.owner == "feedmon", (dag_id, t.task_id)
            assert t.execution_timeout is not None, (dag_id, t.task_id)
            if (dag_id, t.task_id) in NO_RETRY:
                assert t.retries == 0, (dag_id, t.task_id)
            else:  # transient trouble (a busy disk, a flaky worker) must not fail the run outright
                assert t.retries >= 1 and t.retry_delay, (dag_id, t.task_id)


def test_ingest_shape(dagbag):
    dag = dagbag.dags["feedmon_ingest"]
    assert [t.task_id for t in dag.topological_sort()] == [
        "recover", "plan_batches", "fetch", "parse", "clean", "dedup", "tag", "publish", "check_feed_health",
        "raise_data_alerts",
    ]  # fmt: skip
    assert dag.on_failure_callback, "failed runs must alert"
    assert dag.dagrun_timeout is not None, "late runs must time out and alert"
    assert dag.timetable.expression == "*/30 * * * *"
    publish = dag.get_task("publish")
    assert [o.name for o in publish.outlets] == ["feedmon_snapshots"]
    assert dag.get_task("fetch").pool == FETCH_POOL
    assert {t.pool for t in dag.tasks if t.task_id != "fetch"} == {"default_pool"}


def with_conf(params, conf: dict) -> dict:
    """What a trigger with ``conf`` resolves to (Airflow validates the params the same way)."""
    merged = copy.deepcopy(params)
    merged.update(conf)
    return merged.validate()


def test_ingest_params_are_validated_and_documented(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    params = dagbag.dags["feedmon_ingest"].params
    assert params.validate() == {"day": None, "feed_ids": [], "refetch": False}
    for name in ("day", "feed_ids", "refetch"):
        assert params.get_param(name).description, name  # shown in the trigger form
    good = {"day": "2026-11-20", "feed_ids": ["tass-en"], "refetch": True}
    assert with_conf(params, good) == good
    for bad in ({"day": "28/11/2026"}, {"day": "2026-02-30"}, {"feed_ids": ["Not An Id"]}, {"feed_ids": "tass-en"},
                {"refetch": "yes"}, {"feed_ids": ["a", "a"]}):  # fmt: skip
        with pytest.raises(ParamValidationError):
            with_conf(params, bad)


def test_report_takes_a_date_param(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    params = dagbag.dags["feedmon_daily_report"].params
    assert params.validate() == {"date": None}
    assert with_conf(params, {"date": "2026-11-25"}) == {"date": "2026-11-25"}
    with pytest.raises(ParamValidationError):
        with_conf(params, {"date": "yesterday"})


def test_housekeeping_shape(dagbag):
    dag = dagbag.dags["feedmon_housekeeping"]
    assert sorted(t.task_id for t in dag.tasks) == ["prune_raw_archives", "remove_dead_run_work"]
    assert dag.timetable.expression == "0 0 * * *"  # @daily
    assert dag.params.validate() == {"dry_run": False}
    for name in ("FEEDMON_RAW_RETENTION_DAYS", "snapshots", "feed health"):
        assert name in dag.doc_md


def test_snapshot_asset_does_not_depend_on_the_data_dir(tmp_path: Path):
    """Parsed with two data dirs (two processes, as after moving the data), the asset is one."""
    code = (
        "import json, runpy\n"
        f"ns = runpy.run_path({str(REPO / 'dags' / 'feedmon_ingest.py')!r})\n"
        "outlets = ns['feedmon_ingest']().get_task('publish').outlets\n"
        "print(json.dumps([[o.name, o.uri] for o in outlets]))\n"
    )
    seen = []
    for data in (tmp_path / "one", "s3://bucket/elsewhere"):
        env = {**os.environ, "FEEDMON_DATA_DIR": str(data)}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        seen.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert seen[0] == seen[1] == [["feedmon_snapshots", "x-feedmon://snapshots"]]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_parsing_does_no_heavy_work(dag_file: Path):
    """Parsing a DAG file must not import pandas/pyarrow/feedparser or touch the network."""
    code = (
        "import runpy, sys, socket\n"
        "socket.socket.connect = lambda *a, **k: (_ for _ in ()).throw(RuntimeError('network at parse time'))\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        "mods = ('pandas', 'pyarrow', 'feedparser', 'duckdb', 'requests', 'matplotlib')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), out.stdout


def test_schedule_is_configurable(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("FEEDMON_SCHEDULE", "0 * * * *")
    dag = DagBag(dag_folder=str(REPO / "dags" / "feedmon_ingest.py")).dags["feedmon_ingest"]
    assert dag.timetable.expression == "0 * * * *"


def test_ingest_doc_names_every_alert_and_run_setting(dagbag):
    """The DAG page is where an operator looks first: it names each variable that changes this DAG."""
    doc = dagbag.dags["feedmon_ingest"].doc_md
    names = [f.metadata["env"] for f in fields(AlertSettings)]
    names += [
        "FEEDMON_FEEDS",
        "FEEDMON_DATA_DIR",
        "FEEDMON_DATA_CONN_ID",
        "FEEDMON_SCHEDULE",
        "FEEDMON_MAX_FAILED_SHARE",
    ]
    names += ["day", "feed_ids", "refetch", "feedmon_fetch"]
    assert [n for n in names if n not in doc] == []
