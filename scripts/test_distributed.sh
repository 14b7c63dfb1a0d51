#!/usr/bin/env bash
# feedmon on Airflow's distributed engine, for real: CeleryExecutor with a real Celery worker, metadata
# in the machine's PostgreSQL (database feedmon_airflow), broker in its Redis (db index 7), and the
# api-server, scheduler, dag-processor and triggerer started here as separate processes. It triggers
# `feedmon_ingest` through the REST API (no logical date) against a local feed server, waits for
# success, reads the snapshot back with DuckDB, and stops everything it started by process group,
# on success and on failure alike. Called by `make test-distributed`; see docs/scale-out.md.
#
# Knobs (environment): FEEDMON_DIST_TIMEOUT (seconds to wait for the run, default 360),
# FEEDMON_DIST_KEEP=1 (keep the temporary folder with all logs), PGHOST/PGPORT/PGUSER, REDIS_URL_BASE.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.venv/bin"
PY="$BIN/python"
T0=$(date +%s)
RUN_TIMEOUT="${FEEDMON_DIST_TIMEOUT:-360}"
PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
DB=feedmon_airflow
REDIS_DB=7
REDIS_URL_BASE="${REDIS_URL_BASE:-redis://127.0.0.1:6379}"
DAG=feedmon_ingest

WORK="$(mktemp -d "${TMPDIR:-/tmp}/feedmon-distributed.XXXXXX")"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
PIDS=()
NAMES=()

say() { printf '[test-distributed %4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { say "FAILED: $*"; exit 1; }

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start a command in its own session (setsid: pid == process-group id), logging to $LOGS/<name>.log.
start() {
  local name="$1"
  shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  PIDS+=("$!")
  NAMES+=("$name")
  say "started $name (pid $!)"
}

stop_all() {
  local i pid
  # Reverse order: workers and scheduler first, the api-server and feed server last.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid="${PIDS[$i]}"
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 40); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 -- "-$pid" 2>/dev/null; then
      say "process group $pid ignored SIGTERM for 20 s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  done
  PIDS=()
}

print_logs() {
  say "---- component logs (last 40 lines each) ----"
  local f
  for f in "$LOGS"/*.log; do
    echo "==> $f <=="
    tail -n 40 "$f" || true
  done
  say "---- task logs ----"
  find "$AIRFLOW_HOME/logs" -path "*dag_id=$DAG*" -name '*.log' 2>/dev/null | sort | while read -r f; do
    echo "==> $f <=="
    tail -n 60 "$f" || true
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((rc != 0)); then
    print_logs
  fi
  stop_all
  if ((rc == 0)) && [[ "${FEEDMON_DIST_KEEP:-0}" != 1 ]]; then
    psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
      >/dev/null 2>&1 || true
    redis-cli -u "$REDIS_URL_BASE/$REDIS_DB" flushdb >/dev/null 2>&1 || true
    rm -rf "$WORK"
  else
    say "logs and data kept in $WORK"
  fi
  say "$([[ $rc == 0 ]] && echo PASSED || echo FAILED) in $(($(date +%s) - T0)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -x "$BIN/airflow" ]] || die "no $BIN/airflow: run 'make setup' first"
export PATH="$BIN:$PATH"

# Fail in seconds, not minutes, when the locked Celery and the Celery provider do not fit together
# (seen: celery 5.7.0 dropped celery.backends.database.retry, which providers-celery 3.26.0 imports).
"$PY" -c 'import airflow.providers.celery.executors.celery_executor_utils' >"$LOGS/preflight.log" 2>&1 || {
  tail -n 5 "$LOGS/preflight.log"
  die "the Celery executor does not import with the installed celery $("$PY" -c 'import celery; print(celery.__version__)') (pin celery<5.7 in the lock)"
}

# ---- 1. the machine's PostgreSQL and Redis (machine services: started if down, never stopped here) ----
if ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
  say "PostgreSQL is down: starting the machine's cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
fi
pg_isready -q -h "$PGHOST" -p "$PGPORT" || die "PostgreSQL not reachable on $PGHOST:$PGPORT"
if ! redis-cli -u "$REDIS_URL_BASE" ping >/dev/null 2>&1; then
  say "Redis is down: starting the machine's server"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis-cli -u "$REDIS_URL_BASE" ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
[[ "$(redis-cli -u "$REDIS_URL_BASE" ping 2>/dev/null)" == PONG ]] || die "Redis not reachable at $REDIS_URL_BASE"

say "fresh database $DB and Redis db $REDIS_DB"
psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -v ON_ERROR_STOP=1 -q \
  -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
redis-cli -u "$REDIS_URL_BASE/$REDIS_DB" flushdb >/dev/null

# ---- 2. Airflow configuration: everything by environment, in a temporary AIRFLOW_HOME ----
API_PORT=$(free_port)
BASE="http://127.0.0.1:$API_PORT"
PASSWORD="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(16))')"
export AIRFLOW_HOME="$WORK/airflow_home"
mkdir -p "$AIRFLOW_HOME"
printf '{"admin": "%s"}\n' "$PASSWORD" >"$AIRFLOW_HOME/passwords.json"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://$PGUSER@$PGHOST:$PGPORT/$DB"
export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql://$PGUSER@$PGHOST:$PGPORT/$DB"
export AIRFLOW__CELERY__BROKER_URL="$REDIS_URL_BASE/$REDIS_DB"
export AIRFLOW__CELERY__WORKER_CONCURRENCY=2
export AIRFLOW__CORE__PARALLELISM=4
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__API__BASE_URL="$BASE"
export AIRFLOW__API__WORKERS=1
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$BASE/execution/"
# One secret for every component, or workers fail with "Invalid auth token".
AIRFLOW__API_AUTH__JWT_SECRET="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')"
export AIRFLOW__API_AUTH__JWT_SECRET
# Log servers on free ports: 8793/8794 may be taken by another Airflow on the machine.
AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$(free_port)
AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=$(free_port)
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT
# Like the compose file: the package comes from include/ on PYTHONPATH.
export PYTHONPATH="$ROOT/include${PYTHONPATH:+:$PYTHONPATH}"
export FEEDMON_DATA_DIR="$WORK/data"
export FEEDMON_FEEDS="$WORK/feeds.yaml"
# Unpausing a DAG with catchup=False still creates a run for its latest past slot; a cron that last
# fired before the DAG's start_date (29 February) leaves the REST-triggered run as the only one.
export FEEDMON_SCHEDULE="0 0 29 2 *"
unset FEEDMON_ALERT_WEBHOOK || true

# ---- 3. a local feed server with the bundled sample feeds ----
start feed-server "$PY" "$ROOT/scripts/serve_sample_feeds.py" "$FEEDMON_FEEDS"
for _ in $(seq 1 40); do [[ -s "$LOGS/feed-server.log" && -s "$FEEDMON_FEEDS" ]] && break; sleep 0.25; done
[[ -s "$FEEDMON_FEEDS" ]] || die "feed server did not start"
say "feeds served at $(head -n 1 "$LOGS/feed-server.log")"

# ---- 4. metadata DB, then the components ----
say "airflow db migrate (PostgreSQL)"
airflow db migrate >"$LOGS/db-migrate.log" 2>&1 || die "airflow db migrate failed (see $LOGS/db-migrate.log)"
# The fetch tasks run in this pool (as under `make run` and the compose init); without it they never start.
airflow pools set feedmon_fetch 4 "feedmon fetch batches running at once, all runs together" >"$LOGS/pool.log" 2>&1 ||
  die "could not create the feedmon_fetch pool (see $LOGS/pool.log)"
start api-server airflow api-server --host 127.0.0.1 --port "$API_PORT" --workers 1
start scheduler airflow scheduler
start dag-processor airflow dag-processor
start triggerer airflow triggerer
start celery-worker airflow celery worker --concurrency 2 --celery-hostname "feedmon-dist-$$@%h" \
  --without-gossip --without-mingle

# ---- 5. REST: health, token, DAG parsed, unpause, trigger ----
json() { "$PY" -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
alive() {
  local i
  for i in "${!PIDS[@]}"; do
    kill -0 "${PIDS[$i]}" 2>/dev/null || die "${NAMES[$i]} exited (see $LOGS/${NAMES[$i]}.log)"
  done
}

say "waiting for $BASE/api/v2/monitor/health"
for _ in $(seq 1 120); do
  alive
  curl -fsS "$BASE/api/v2/monitor/health" >"$WORK/health.json" 2>/dev/null && break
  sleep 1
done
[[ -s "$WORK/health.json" ]] || die "api-server not healthy after 120 s"

TOKEN=$(curl -fsS -X POST "$BASE/auth/token" -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$PASSWORD\"}" | json 'd["access_token"]')
[[ -n "$TOKEN" ]] || die "no JWT from /auth/token"
api() { # api METHOD PATH [JSON]
  curl -fsS -X "$1" "$BASE$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    ${3:+-d "$3"}
}

say "waiting for the dag-processor to register $DAG"
for _ in $(seq 1 120); do
  alive
  api GET "/api/v2/dags/$DAG" >/dev/null 2>&1 && break
  sleep 1
done
api GET "/api/v2/dags/$DAG" >/dev/null || die "$DAG not registered after 120 s"
api GET "/api/v2/importErrors" | json '"\n".join(e["filename"] + ": " + e["stack_trace"] for e in d["import_errors"])' \
  >"$WORK/import_errors.txt"
if grep -q . "$WORK/import_errors.txt"; then
  cat "$WORK/import_errors.txt"
  die "DAG import errors"
fi
say "no DAG import errors"

api PATCH "/api/v2/dags/$DAG" '{"is_paused": false}' >/dev/null
RUN_JSON=$(api POST "/api/v2/dags/$DAG/dagRuns" '{"logical_date": null, "conf": {}}')
RUN_ID=$(json 'd["dag_run_id"]' <<<"$RUN_JSON")
RUN_DAY=$(json '(d.get("run_after") or "")[:10]' <<<"$RUN_JSON")
RUN_ID_URL=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$RUN_ID")
say "triggered $RUN_ID (run_after day $RUN_DAY); waiting up to $RUN_TIMEOUT s"

# ---- 6. wait for the run ----
T_RUN=$(date +%s)
STATE=queued
while (($(date +%s) - T_RUN < RUN_TIMEOUT)); do
  alive
  STATE=$(api GET "/api/v2/dags/$DAG/dagRuns/$RUN_ID_URL" | json 'd["state"]')
  [[ "$STATE" == success || "$STATE" == failed ]] && break
  sleep 3
done
api GET "/api/v2/dags/$DAG/dagRuns/$RUN_ID_URL/taskInstances" >"$WORK/tis.json"
json '"\n".join("  %s[%s] %s after %s tries on %s (queue %s)" % (t["task_id"], t["map_index"], t["state"], t["try_number"], t["hostname"], t["queue"]) for t in d["task_instances"])' <"$WORK/tis.json"
TI_COUNT=$(json 'len(d["task_instances"])' <"$WORK/tis.json")
[[ "$STATE" == success ]] || die "run $RUN_ID ended '$STATE' after $(($(date +%s) - T_RUN)) s"
say "run succeeded in $(($(date +%s) - T_RUN)) s"

# The work really went through Celery, not an in-process executor.
CELERY_TASKS=$(grep -cE 'execute_workload\[[0-9a-f-]+\] received' "$LOGS/celery-worker.log" || true)
((CELERY_TASKS >= TI_COUNT)) || die "the Celery worker received $CELERY_TASKS tasks for $TI_COUNT task instances"
say "the Celery worker received $CELERY_TASKS task messages for $TI_COUNT task instances"

# ---- 7. read the snapshot back ----
"$PY" - "$FEEDMON_DATA_DIR" "$RUN_DAY" <<'PY'
import sys

import duckdb

data_dir, day = sys.argv[1], sys.argv[2]
con = duckdb.connect()
rows, distinct, countries = con.execute(
    f"""SELECT count(*), count(DISTINCT article_id), list_sort(list_distinct(flatten(list(countries))))
        FROM read_parquet('{data_dir}/snapshots/**/*.parquet', hive_partitioning = true)
        WHERE date = '{day}'"""
).fetchall()[0]
health = con.execute(
    f"SELECT count(*), count(*) FILTER (WHERE status = 'ok') "
    f"FROM read_parquet('{data_dir}/feed_health/date={day}/*.parquet')"
).fetchall()[0]
print(f"snapshot {day}: {rows} articles ({distinct} distinct), countries {countries}; "
      f"feed health: {health[1]}/{health[0]} ok")
assert rows > 0, "empty snapshot"
assert distinct == rows, "duplicate article_id in the snapshot"
assert countries, "no conflict countries tagged"
assert health[0] > 0, "no feed-health rows for the run"
PY
say "snapshot read back with DuckDB"
