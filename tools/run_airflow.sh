#!/usr/bin/env bash
# Start Airflow standalone with feedmon's DAGs and plugin, wait until healthy, create the fetch pool,
# print the login, and stop every child cleanly on Ctrl-C. Used by `make run`.
#
# The port: AIRFLOW__API__PORT (default 8080). The UI's base URL and the execution API the tasks
# report to follow it (unless AIRFLOW__API__BASE_URL / AIRFLOW__CORE__EXECUTION_API_SERVER_URL are
# set), and a busy port is refused before anything starts.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
export AIRFLOW_HOME=${AIRFLOW_HOME:-$ROOT/airflow_home}
export PATH="$ROOT/.venv/bin:$PATH"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-4}
export AIRFLOW__API__PORT=${AIRFLOW__API__PORT:-8080}
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}
export FEEDMON_DATA_DIR=${FEEDMON_DATA_DIR:-$ROOT/data}
PORT=$AIRFLOW__API__PORT
HOST=${AIRFLOW__API__HOST:-0.0.0.0}
POOL=feedmon_fetch
POOL_SLOTS=${FEEDMON_FETCH_POOL_SLOTS:-4}

# ---- ports: checked before anything starts ------------------------------------------------------
port_free() { # port_free HOST PORT: can a server listen there now?
  "$PY" - "$1" "$2" <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is not "busy"
    try:
        s.bind((host, port))
    except OSError:
        sys.exit(1)
PY
}
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
  echo "make run: AIRFLOW__API__PORT=$PORT is not a port number (1-65535)." >&2
  exit 2
fi
if ! port_free "$HOST" "$PORT"; then
  cat >&2 <<MSG
make run: port $PORT is already in use (another Airflow, or another program, listens there).
Nothing was started. Choose another port, for example:

    AIRFLOW__API__PORT=$(free_port) make run

(the UI, the login and the tasks' execution API all follow AIRFLOW__API__PORT).
MSG
  exit 2
fi
# The UI's links and the execution API the tasks report to: both on this port, not Airflow's 8080.
export AIRFLOW__API__BASE_URL=${AIRFLOW__API__BASE_URL:-http://localhost:$PORT}
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://localhost:$PORT/execution/}
# Internal log servers (8793 worker, 8794 triggerer): another Airflow on this machine holds them
# too; take free ones rather than fail, unless they were chosen explicitly.
for var in AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT:8793 AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT:8794; do
  name=${var%%:*} default=${var##*:}
  if [[ -z "${!name:-}" ]] && ! port_free 0.0.0.0 "$default"; then
    export "$name=$(free_port)"
    echo "note: port $default is in use; $name=${!name}"
  fi
done

mkdir -p "$AIRFLOW_HOME" "$FEEDMON_DATA_DIR"
LOG="$AIRFLOW_HOME/standalone.log"

setsid airflow standalone >"$LOG" 2>&1 &
PID=$!
echo "$PID" >"$AIRFLOW_HOME/standalone.pid"
stop() {
  trap - EXIT INT TERM
  echo; echo "stopping Airflow (process group $PID)…"
  kill -INT -"$PID" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 -"$PID" 2>/dev/null || break; sleep 0.5; done
  kill -TERM -"$PID" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 -"$PID" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -"$PID" 2>/dev/null || true
  rm -f "$AIRFLOW_HOME/standalone.pid"
}
trap stop EXIT
trap 'stop; exit 130' INT TERM

echo "starting Airflow standalone on port $PORT (log: $LOG)…"
for _ in $(seq 180); do
  if curl -fsS "http://localhost:$PORT/api/v2/monitor/health" >/dev/null 2>&1; then break; fi
  kill -0 "$PID" 2>/dev/null || { echo "Airflow exited; last log lines:"; tail -30 "$LOG"; exit 1; }
  sleep 1
done
# The metadata DB is migrated now: create (or resize) the pool the fetch tasks run in. Tasks
# queued before it exists wait for it; they do not fail.
airflow pools set "$POOL" "$POOL_SLOTS" "feedmon fetch batches running at once, all runs together" \
  >>"$AIRFLOW_HOME/pools.log" 2>&1 || { echo "could not create the pool $POOL (see $AIRFLOW_HOME/pools.log)"; exit 1; }
PWFILE="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
for _ in $(seq 30); do [ -s "$PWFILE" ] && break; sleep 1; done
PASSWORD=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" "$PWFILE" 2>/dev/null || echo "see $LOG")
cat <<MSG

  feedmon is running:  $AIRFLOW__API__BASE_URL
  login:               admin / $PASSWORD
  DAGs:                feedmon_ingest (every 30 min, unpaused), feedmon_daily_report (after each snapshot),
                       feedmon_housekeeping (daily)
  fetch pool:          $POOL, $POOL_SLOTS slots (FEEDMON_FETCH_POOL_SLOTS)
  Feed monitor:        Airflow nav → Feed monitor
  output:              $FEEDMON_DATA_DIR/snapshots/date=YYYY-MM-DD/articles.parquet
  feeds:               ${FEEDMON_FEEDS:-$ROOT/include/feeds.yaml}

  Ctrl-C stops everything.
MSG
wait "$PID"
