#!/usr/bin/env bash
# `make airflow`: Airflow standalone (API server, scheduler, DAG processor, triggerer) on
# SQLite with this project's DAGs and plugins, the sample exports in its landing area.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$root/.venv/bin:$PATH"  # standalone starts its components as `airflow ...`
export AIRFLOW_HOME="${AIRFLOW_HOME:-$root/build/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$root/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$root/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__PORT="${AIRFLOW_PORT:-8080}"
# Tasks reach the API server at this address (the default assumes port 8080).
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://localhost:$AIRFLOW__API__PORT}"
# A laptop-sized worker pool (the default starts 32 processes).
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
export GOVERNANCE_LANDING_DIR="$AIRFLOW_HOME/landing"
export GOVERNANCE_OUTPUT_DIR="$AIRFLOW_HOME/governance"
export GOVERNANCE_HOME="$AIRFLOW_HOME/governance_home"
export GX_ANALYTICS_ENABLED=false

mkdir -p "$AIRFLOW_HOME" "$GOVERNANCE_LANDING_DIR"
cp "$root"/include/sample_exports/*.csv "$GOVERNANCE_LANDING_DIR/"
password="${AIRFLOW_ADMIN_PASSWORD:-admin}"
printf '{"admin": "%s"}\n' "$password" > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
"$root/.venv/bin/airflow" db migrate >/dev/null

cat <<MSG
Airflow is starting with the governance DAGs (SQLite in $AIRFLOW_HOME).
  UI:       http://localhost:$AIRFLOW__API__PORT   (log in as admin / $password)
  landing:  $GOVERNANCE_LANDING_DIR (the sample exports)
  outputs:  $GOVERNANCE_OUTPUT_DIR
Unpause governance_ingest_* and governance_retention, or trigger governance_adhoc_review.
Stop with Ctrl-C.
MSG
exec "$root/.venv/bin/airflow" standalone
