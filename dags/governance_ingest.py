"""
### Governance ingestion: read and validate each source's export

One DAG per source config in `include/config/sources/` (`governance_ingest_crm`, ...),
daily. Each run reads the export the config points at, maps it onto the canonical record
and runs its data-quality checks (Great Expectations) as of the run's date in
Europe/London. Only when the export passes does the task update the source's asset
(`governance://exports/<source>`), which schedules the retention evaluation.

The task fails, visibly and with a one-line reason, when the export would be blocked: it
cannot be read (missing, empty, not CSV/XLSX, broken quoting, a required column missing),
more than 5% of its rows are quarantined, or its row count dropped too far against the
previous accepted export. No evaluation follows.

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
            """Read the export and run its checks; fail when it would be blocked. Success
            updates the source's asset."""
            from governance.orchestration import ingest, london_date

            context: Any = get_current_context()
            when = context.get("logical_date") or context["dag_run"].run_after
            return without_retry_on_bad_data(ingest, source, config_path, london_date(when))

        validate_export()

    ingest()


for _source, _config in sources().items():
    build(_source, _config)
