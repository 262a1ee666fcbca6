#!/usr/bin/env bash
# The airflow-init service of docker-compose.yml (and the same step of the native stack,
# scripts/native_stack.py): prepare the shared folders, migrate Airflow's metadata database
# and the governance store, and write the admin login of the simple auth manager.
# Every location comes from the environment, so the same script runs in both places.
set -euo pipefail

: "${AIRFLOW__LOGGING__BASE_LOG_FOLDER:?}" "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?}"
: "${GOVERNANCE_OUTPUT_DIR:?}" "${GOVERNANCE_DB_URL:?}" "${AIRFLOW_ADMIN_PASSWORD:?}"
passwords_file="$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
mkdir -p "$AIRFLOW__LOGGING__BASE_LOG_FOLDER" "$(dirname "$passwords_file")" "$GOVERNANCE_OUTPUT_DIR"

echo "airflow-init: Airflow $(airflow version)"
airflow db migrate
governance db migrate

# The admin's password, from the environment (.env), never from a committed file.
python - "$passwords_file" <<'PY'
import json, os, sys
path = sys.argv[1]
with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
    json.dump({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}, f)
os.chmod(path, 0o600)
PY
echo "airflow-init: admin login written to $passwords_file"

# In the container this runs as root: hand the shared folders to the Airflow user.
if [ "$(id -u)" = 0 ] && [ -n "${AIRFLOW_UID:-}" ]; then
  chown -R "$AIRFLOW_UID:0" "$AIRFLOW__LOGGING__BASE_LOG_FOLDER" \
    "$(dirname "$passwords_file")" "$GOVERNANCE_OUTPUT_DIR"
fi
echo "airflow-init: done"
