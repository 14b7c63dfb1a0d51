"""End to end: ingest publishes the snapshot asset, the event carries the day, the report DAG writes it.

Real Airflow runs via ``dag.test()``. The producer is the real ``feedmon_ingest`` against the sample
feeds over local HTTP; its asset event is read back from the metadata DB. ``dag.test()`` always makes a
manual run, so the one seam is handing that run the real event the scheduler would have attached
(``consumed_asset_events``); everything after that (the task reading ``triggering_asset_events`` through
the execution API, the report, the failure callback) is Airflow and feedmon running for real.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fixtures.factories import OneDay
from tests.fixtures.webhook import webhook_receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dags(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


@pytest.fixture
def report_unpaused(dags):
    """Register the DAGs in the metadata DB (as the DAG processor would) and unpause the report:
    Airflow queues asset-triggered runs only for unpaused DAGs."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = manager.get_bundle("dags-folder")
    bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
    sync_bag_to_db(bag, bundle.name, bundle.version)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == "feedmon_daily_report").values(is_paused=False))


@pytest.fixture
def receiver(monkeypatch):
    with webhook_receiver() as rec:
        monkeypatch.setenv("FEEDMON_ALERT_WEBHOOK", f"{rec.base_url}/hook")
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.test:8081")
        yield rec


@pytest.fixture
def consume(monkeypatch):
    """Attach given asset events to the next run ``dag.test()`` creates, as the scheduler would."""
    import airflow.models.dagrun as dagrun_module

    pending: list[int] = []
    original = dagrun_module.get_or_create_dagrun

    def with_events(**kwargs):
        from airflow.models.asset import AssetEvent

        session = kwargs["session"]
        dr = original(**kwargs)
        for event_id in pending:
            dr.consumed_asset_events.append(session.get(AssetEvent, event_id))
        session.commit()
        return dr

    monkeypatch.setattr(dagrun_module, "get_or_create_dagrun", with_events)
    return pending


def _snapshot_events(run_id: str) -> list:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.id, AssetEvent.extra, AssetModel.name)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == run_id)
        ).all()
    return [(r.id, r.extra, r.name) for r in rows]


def _queued_for(dag_id: str) -> int:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(select(func.count()).where(AssetDagRunQueue.target_dag_id == dag_id))


def test_ingest_event_triggers_report_of_the_event_day(dags, report_unpaused, sample_feeds, data_dir, consume):
    ingest = dags.get_dag("feedmon_ingest")
    run = ingest.test(logical_date=datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    assert run.state == "success"

    [(event_id, extra, name)] = _snapshot_events(run.run_id)
    assert name == "feedmon_snapshots"
    assert extra["date"] == "2026-11-27" and extra["run_id"] == run.run_id
    assert _queued_for("feedmon_daily_report") >= 1  # the scheduler would now start the report

    consume.append(event_id)
    report_dag = dags.get_dag("feedmon_daily_report")
    # The report run itself happens days later: the day must come from the event, not the run.
    report_run = report_dag.test(logical_date=datetime(2026, 11, 30, 6, 0, tzinfo=UTC))
    assert report_run.state == "success"

    folder = data_dir / "reports" / "date=2026-11-27"
    md = (folder / "report.md").read_text()
    assert md.startswith("# feedmon daily report — 2026-11-27")
    assert "Nagorno-Karabakh" in md  # the seed story of the sample feeds
    assert (folder / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert not (data_dir / "reports" / "date=2026-11-30").exists()


def test_failed_report_run_alerts_the_webhook(dags, data_dir, receiver, monkeypatch):
    report_dag = dags.get_dag("feedmon_daily_report")
    for t in report_dag.tasks:  # retries would make dag.test() wait out the retry delay
        monkeypatch.setattr(t, "retries", 0)
    broken = data_dir / "snapshots" / "date=2026-11-25" / "articles.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not parquet")

    run = report_dag.test(logical_date=datetime(2026, 11, 26, 6, 0, tzinfo=UTC), run_conf={"date": "2026-11-25"})
    assert run.state == "failed"
    [body] = receiver.wait_for(1)
    alert = body["alert"]
    assert alert["kind"] == "run_failed"
    assert alert["dag_id"] == "feedmon_daily_report" and alert["run_id"] == run.run_id
    assert alert["title"] == "feedmon_daily_report run failed at build_report"
    assert alert["run_link"].startswith("http://airflow.test:8081/dags/feedmon_daily_report/runs/")


# --------------------------------------------------------------------------- a missed Deadline Alert
PROBE_DAG = """
import pendulum
from airflow.sdk import dag, task
from feedmon.airflow.alerts import late_run_deadline


@dag(dag_id="feedmon_deadline_probe", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
     catchup=False, deadline=late_run_deadline(20))
def probe():
    @task
    def noop() -> None: ...

    noop()


probe()
"""


def test_missed_deadline_reaches_the_webhook(airflow_home, tmp_path, receiver):
    """The scheduler side for real: the DAG serialized with ``late_run_deadline()``, a queued run gets a
    Deadline row, Airflow's ``Deadline.handle_miss`` queues the triggerer's ``CallbackTrigger``; we run
    that trigger from its stored row, as the triggerer does. Only the clock is moved (21 min ahead)."""
    import asyncio
    from datetime import timedelta

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models import Deadline
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.trigger import Trigger
    from airflow.triggers.callback import PAYLOAD_STATUS_KEY, CallbackTrigger
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    (tmp_path / "deadline_probe.py").write_text(PROBE_DAG)
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    sync_bag_to_db(bag, "dags-folder", None)

    when = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    run_id = f"manual__probe_{tmp_path.name}"
    with create_session() as session:
        sdag = SerializedDagModel.get_dag("feedmon_deadline_probe", session=session)
        run = sdag.create_dagrun(
            run_id=run_id,
            logical_date=None,
            data_interval=None,
            run_after=when,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.QUEUED,
            session=session,
        )
        session.flush()
        [deadline] = session.scalars(select(Deadline).where(Deadline.dagrun_id == run.id)).all()
        assert deadline.deadline_time - run.queued_at == timedelta(minutes=20)
        # The scheduler loop's query, 21 minutes later: the run is still queued, the deadline missed.
        later = run.queued_at + timedelta(minutes=21)
        missed = session.scalars(
            select(Deadline).where(Deadline.dagrun_id == run.id, Deadline.deadline_time < later, ~Deadline.missed)
        ).all()
        assert missed == [deadline]
        deadline.handle_miss(session)
        session.flush()
        trigger_row = session.get(Trigger, deadline.callback.trigger_id)
        classpath, kwargs = trigger_row.classpath, trigger_row.kwargs

    assert classpath == "airflow.triggers.callback.CallbackTrigger"
    trigger = CallbackTrigger(**kwargs)

    async def fire() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    assert [e[PAYLOAD_STATUS_KEY] for e in asyncio.run(fire())] == ["running", "success"]
    [body] = receiver.wait_for(1)
    alert = body["alert"]
    assert alert["kind"] == "run_late"
    assert alert["dag_id"] == "feedmon_deadline_probe" and alert["run_id"] == run_id
    assert "was not finished by its deadline" in alert["what"] and "still queued" in alert["what"]
    assert alert["run_link"].startswith("http://airflow.test:8081/dags/feedmon_deadline_probe/runs/")


def test_manual_report_of_the_date_param(dags, one_day):
    """The trigger form's `date` picks the day; without it a manual run would report its run_after day."""
    day = OneDay.DAY.isoformat()
    report_dag = dags.get_dag("feedmon_daily_report")
    run = report_dag.test(run_after=datetime(2026, 11, 30, 8, 0, tzinfo=UTC), logical_date=None, run_conf={"date": day})
    assert run.state == "success"
    report = Path(one_day.data_dir) / "reports" / f"date={day}" / "report.md"
    assert report.read_text(encoding="utf-8").startswith(f"# feedmon daily report — {day}")
    assert not (Path(one_day.data_dir) / "reports" / "date=2026-11-30").exists()
