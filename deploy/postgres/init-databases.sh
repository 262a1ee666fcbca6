#!/usr/bin/env bash
# Run by the postgres image on its first start, when its data volume is empty
# (/docker-entrypoint-initdb.d/), and by the native stack after initdb: one role and one
# database for Airflow's metadata, one for the governance store. Passwords come from the
# environment (.env); psql passes them as quoted literals.
set -euo pipefail
: "${POSTGRES_USER:?}" "${POSTGRES_DB:?}" "${AIRFLOW_DB_PASSWORD:?}" "${GOVERNANCE_DB_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set airflow_password="$AIRFLOW_DB_PASSWORD" \
  --set governance_password="$GOVERNANCE_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
CREATE ROLE governance LOGIN PASSWORD :'governance_password';
CREATE DATABASE governance OWNER governance;
REVOKE ALL ON DATABASE governance FROM PUBLIC;
SQL
echo "init-databases: roles and databases airflow and governance created"
