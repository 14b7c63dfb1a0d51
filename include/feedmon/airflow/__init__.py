"""The Airflow adapters: the only place in the package that imports Airflow (ruff TID251 checks it).

* :mod:`~feedmon.airflow.tasks`: run identity, shared DAG defaults, the snapshot asset;
* :mod:`~feedmon.airflow.alerts`: the notifier, late-run settings and the data-alerts task.

Both stay import-light, because DAG files import them at parse time; everything else in
:mod:`feedmon` runs (and is tested) without Airflow.
"""
