# feedmon's production image: the official Airflow image of the pinned version, plus the runtime lock
# and the feedmon package. No test, lint or benchmark tools (those are in requirements-dev.lock).
# Built by docker-compose.yaml (`docker compose build`); tests/unit/test_dockerfile.py checks
# this file, since Docker does not run on our machines.
FROM apache/airflow:3.3.2-python3.11

# Dependencies first (their layer survives code changes). Every package pinned and hash-checked;
# the lock pins apache-airflow==3.3.2 itself, so nothing here can move the image's Airflow.
COPY --chown=airflow:0 requirements.lock /tmp/feedmon/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/feedmon/requirements.lock

# The package (console script `feedmon`, packaged gazetteer and rules). --no-deps: everything it
# needs came from the lock above. Its build backend (setuptools, pyproject.toml's build-system) is
# fetched into pip's isolated build environment only, not installed into the image.
COPY --chown=airflow:0 pyproject.toml README.md LICENSE /tmp/feedmon/
COPY --chown=airflow:0 include/feedmon /tmp/feedmon/include/feedmon
RUN pip install --no-cache-dir --no-deps /tmp/feedmon && rm -rf /tmp/feedmon

# The feeds file the package defaults to, for images run without the compose file's mounts.
COPY --chown=airflow:0 include/feeds.yaml /opt/airflow/include/feeds.yaml
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
ENV FEEDMON_FEEDS=/opt/airflow/include/feeds.yaml
