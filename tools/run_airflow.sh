#!/usr/bin/env bash
# Start Airflow standalone with feedmon's DAGs and plugin, wait until healthy, print the login,
# and stop every child cleanly on Ctrl-C. Used by `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
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
mkdir -p "$AIRFLOW_HOME" "$FEEDMON_DATA_DIR"
LOG="$AIRFLOW_HOME/standalone.log"
PORT=$AIRFLOW__API__PORT

setsid airflow standalone >"$LOG" 2>&1 &
PID=$!
stop() {
  echo; echo "stopping Airflow (process group $PID)…"
  kill -INT -"$PID" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "$PID" 2>/dev/null || break; sleep 0.5; done
  kill -TERM -"$PID" 2>/dev/null || true
}
trap stop EXIT INT TERM

echo "starting Airflow standalone (log: $LOG)…"
for _ in $(seq 120); do
  if curl -fsS "http://localhost:$PORT/api/v2/monitor/health" >/dev/null 2>&1; then break; fi
  kill -0 "$PID" 2>/dev/null || { echo "Airflow exited; last log lines:"; tail -30 "$LOG"; exit 1; }
  sleep 1
done
PWFILE="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
for _ in $(seq 30); do [ -s "$PWFILE" ] && break; sleep 1; done
PASSWORD=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" "$PWFILE" 2>/dev/null || echo "see $LOG")
cat <<MSG

  feedmon is running:  http://localhost:$PORT
  login:               admin / $PASSWORD
  DAGs:                feedmon_ingest (every 30 min, unpaused), feedmon_daily_report (after each snapshot)
  Feed monitor:        Airflow nav → Feed monitor
  output:              $FEEDMON_DATA_DIR/snapshots/date=YYYY-MM-DD/articles.parquet
  feeds:               ${FEEDMON_FEEDS:-$ROOT/include/feeds.yaml}

  Ctrl-C stops everything.
MSG
wait "$PID"
