"""One run of the real ``feedmon_ingest`` DAG (``dag.test()``), for the product benchmark.

Run in its own process by ``bench_product.py`` with ``AIRFLOW_HOME`` (migrated once), the
``FEEDMON_FEEDS`` and ``FEEDMON_DATA_DIR`` of the scenario set in the environment. ``dag.test()``
runs the tasks one after another in this process (the mapped fetch batches included), as
``airflow dags test`` does; a scheduler with a pool of workers could overlap the fetch batches.
Prints ``BENCH_RESULT {"state", "seconds", "import_seconds"}``: ``seconds`` is the run itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--date", required=True, type=date.fromisoformat, help="the UTC day the run writes")
    a = p.parse_args()
    t0 = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag  # after the caller's AIRFLOW_* environment is in place

    bag = DagBag(dag_folder=str(ROOT / "dags" / "feedmon_ingest.py"))
    if bag.import_errors:
        print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
        return 2
    dag = bag.dags["feedmon_ingest"]
    t1 = time.perf_counter()
    run = dag.test(logical_date=datetime(a.date.year, a.date.month, a.date.day, 12, 0, tzinfo=UTC))
    seconds = time.perf_counter() - t1
    state = str(getattr(run.state, "value", run.state))
    print("BENCH_RESULT " + json.dumps({"state": state, "seconds": seconds, "import_seconds": t1 - t0}), flush=True)
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
