"""feedmon: watch news-agency feeds, tie syndicated copies into stories, tag conflict regions.

The package never imports Airflow except in its adapters (:mod:`feedmon.airflow_tasks` for the
pipeline, :mod:`feedmon.airflow_alerts` for notifications), so every stage is usable (and tested)
from plain Python and the ``feedmon`` CLI.
"""

__version__ = "0.1.0"
