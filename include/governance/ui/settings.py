"""Which store and output folder the Governance page reads inside Airflow: the same the
governance tasks use (`governance.airflow_support.task_settings`), read at each request.

The store is the Airflow connection named by `$GOVERNANCE_DB_CONN_ID` (default
`governance_db`), else `$GOVERNANCE_DB_URL`, else the default SQLite store; the outputs are
under the Variable `governance_output_dir`, else `$GOVERNANCE_OUTPUT_DIR`, else
`$AIRFLOW_HOME/governance`. The API server reads connections and Variables from the
metadata database and the configured secrets backends.
"""

from __future__ import annotations

from pathlib import Path


def airflow_store_url() -> str | None:
    from governance.airflow_support import store_url

    return store_url()


def airflow_output_root() -> Path:
    from governance.airflow_support import OUTPUT_VARIABLE, variable
    from governance.locations import output_root

    return output_root(variable(OUTPUT_VARIABLE))
