"""
### Governance ingestion: find, read and validate each source's export

One DAG per source config in `include/config/sources/` (`governance_ingest_crm`, ...),
daily. Each run finds the day's export in the landing area, maps it onto the canonical
record and runs its data-quality checks (Great Expectations) as of the run's date in
Europe/London. Only when the export passes does the task update the source's asset
(`governance://exports/<source>`), which schedules the retention evaluation.

**Where things are** (read inside the task, never when the DAG is parsed):

- the governance store: the Airflow connection `governance_db` (another id through
  `$GOVERNANCE_DB_CONN_ID`; Postgres or SQLite), else `$GOVERNANCE_DB_URL`, else SQLite in
  `$GOVERNANCE_HOME`;
- the landing area: the Variable `governance_landing_dir`, else `$GOVERNANCE_LANDING_DIR`,
  else each source config's `path`;
- the outputs: the Variable `governance_output_dir`, else `$GOVERNANCE_OUTPUT_DIR`, else
  `$AIRFLOW_HOME/governance`.

The landing area is a local folder or any fsspec / ObjectStoragePath URI
(`file:///srv/landing`, `s3://aws_default@bucket/landing`). The day's export is the source
config's `landing` pattern under it, formatted with the run's date
(`{date:%Y-%m-%d}/crm.csv`, `crm_{date:%Y%m%d}*.csv`: exactly one file must match); without
a pattern, the file name of the config's `path` (`crm.csv`). A remote export is copied into
a private staging folder under the outputs for the task's duration; messages name its URI.

The task fails at once (no retries: retrying cannot fix the data), with a one-line reason,
when the day's export is missing (the message names where it looked) or would be blocked:
it cannot be read (empty, not CSV/XLSX, broken quoting, a required column missing), more than
5% of its rows are quarantined, or its row count dropped too far against the previous
accepted export in the store. No evaluation follows.

The task's return value (an XCom) carries counts and check results only: never a name,
e-mail or phone number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import dag, get_current_context, task

from governance.airflow_support import (
    DEFAULT_ARGS,
    START,
    export_asset,
    sources,
    task_settings,
    without_retry_on_bad_data,
)


def build(source: str, config_path: Path) -> None:
    @dag(
        dag_id=f"governance_ingest_{source}",
        schedule="@daily",
        start_date=START,
        catchup=False,
        doc_md=__doc__,
        tags=["governance", "ingest", source],
        default_args=DEFAULT_ARGS,
        max_active_runs=1,
    )
    def ingest() -> None:
        @task(outlets=[export_asset(source)])
        def validate_export() -> dict[str, Any]:
            """Find the day's export, read it and run its checks; fail when it is missing or
            would be blocked. Success updates the source's asset."""
            from governance.orchestration import ingest, london_date

            context: Any = get_current_context()
            when = context.get("logical_date") or context["dag_run"].run_after
            return without_retry_on_bad_data(
                ingest, source, config_path, london_date(when), **task_settings()
            )

        validate_export()

    ingest()


for _source, _config in sources().items():
    build(_source, _config)
