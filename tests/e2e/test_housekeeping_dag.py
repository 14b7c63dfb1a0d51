"""The feedmon_housekeeping DAG run by Airflow (dag.test) on a seeded data dir."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import REPO
from tests.fixtures.factories import PRODUCT_AREAS, seed_prunable

pytestmark = pytest.mark.e2e

TODAY = date(2026, 11, 28)
DAYS_BACK = [0, 1, 2, 6, 7, 8, 40]


@pytest.fixture
def housekeeping(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "feedmon_housekeeping.py"))
    assert bag.import_errors == {}
    return bag.dags["feedmon_housekeeping"]


def _xcom(run, task_id: str) -> list[str]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key="return_value")
        return XComModel.deserialize_value(session.scalars(query).one())


def _days(paths: list[str]) -> set[int]:
    return {(TODAY - date.fromisoformat(p.split("date=")[1].split("/")[0])).days for p in paths}


def test_housekeeping_prunes_past_the_retention_and_keeps_the_product(housekeeping, data_dir, monkeypatch):
    monkeypatch.setenv("FEEDMON_RAW_RETENTION_DAYS", "7")
    made = seed_prunable(data_dir, TODAY, DAYS_BACK)
    # dag.test() makes manual runs: one triggered without a logical date counts from its run_after ...
    dry = housekeeping.test(
        run_after=datetime(2026, 11, 28, 6, 0, tzinfo=UTC), logical_date=None, run_conf={"dry_run": True}
    )
    assert dry.state == "success"
    assert _days(_xcom(dry, "prune_raw_archives")) == {8, 40}
    assert all(p.exists() for paths in made.values() for p in paths), "a dry run removes nothing"

    # ... one with a logical date from its data interval's end (for a manual run, the logical date).
    # dry_run given again: dag.test() carries the previous run's conf over in the DAG object's params.
    run = housekeeping.test(logical_date=datetime(2026, 11, 28, tzinfo=UTC), run_conf={"dry_run": False})
    assert run.state == "success"
    assert _days(_xcom(run, "prune_raw_archives")) == {8, 40}
    assert _days(_xcom(run, "remove_dead_run_work")) == {2, 6, 7, 8, 40}
    kept_raw = {p for p in made["raw"] if p.exists()}
    assert _days([str(p) for p in kept_raw]) == {0, 1, 2, 6, 7}
    assert _days([str(p) for p in made["work"] if p.exists()]) == {0, 1}
    for area in (*PRODUCT_AREAS, "state"):
        assert all(p.exists() for p in made[area]), f"{area} must never be pruned"
    assert (TODAY - timedelta(days=40)).isoformat() not in str(sorted((data_dir / "raw").iterdir()))
