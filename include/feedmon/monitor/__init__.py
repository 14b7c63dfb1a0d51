"""The Feed monitor: a page in the Airflow UI over the published Parquet, nothing else.

* :mod:`~feedmon.monitor.queries`: DuckDB over the snapshots and feed health (:class:`FeedMonitor`);
* :mod:`~feedmon.monitor.web`: the FastAPI app (one server-rendered page and its JSON endpoints)
  with its template, ``feed_monitor.html.j2``.

``plugins/feedmon_plugin.py`` mounts the app in the Airflow API server and plugs Airflow's
authentication into it; nothing here imports Airflow. Importing this package does not import the
web app (FastAPI) nor DuckDB: the plugin builds the app on its first request.
"""

from feedmon.monitor.queries import (
    FILTER_FAILED,
    FILTER_HEALTHY,
    NO_DATA,
    DayFigures,
    FeedMonitor,
    FeedRow,
    RegionChart,
    StoryRow,
    to_jsonable,
)

__all__ = [
    "FILTER_FAILED",
    "FILTER_HEALTHY",
    "NO_DATA",
    "DayFigures",
    "FeedMonitor",
    "FeedRow",
    "RegionChart",
    "StoryRow",
    "to_jsonable",
]
