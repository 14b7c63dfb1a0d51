"""feedmon: watch news-agency feeds, tie syndicated copies into stories, tag conflict regions.

The package never imports Airflow except in :mod:`feedmon.airflow` (tasks, notifier, alert task),
which ruff's banned-api rule checks, so every stage is usable (and tested) from plain Python and
the ``feedmon`` CLI. ``docs/architecture.md`` maps the modules.
"""

__version__ = "0.1.0"
