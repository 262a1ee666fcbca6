"""
### Governance retention evaluation

Runs when every source's export has been ingested and validated (its asset updated).
Finds the day's exports in the landing area as the ingestion did, applies the retention
policy as of the run's date in Europe/London, records the run in the governance store and
writes, under `<outputs>/scheduled/<as_of>/`: the deletion manifest and its checksum,
decisions, review queue, consent actions, quarantine list, data-quality page and audit
report. A rerun for the same date replaces its own outputs.

**Where things are** (read inside the task, never when the DAG is parsed): the store is the
Airflow connection `governance_db` (id from `$GOVERNANCE_DB_CONN_ID`; Postgres or SQLite),
else `$GOVERNANCE_DB_URL`, else SQLite in `$GOVERNANCE_HOME`; the landing area is the
Variable `governance_landing_dir`, else `$GOVERNANCE_LANDING_DIR`, else each source config's
`path`; `<outputs>` is the Variable `governance_output_dir`, else `$GOVERNANCE_OUTPUT_DIR`,
else `$AIRFLOW_HOME/governance`. See the ingestion DAGs for the landing convention.

The task fails when an export is missing (before anything is written) or turns out blocked
(its rows never reach the manifest). Its XCom holds the run id, paths and counts: no
personal data.
"""

from __future__ import annotations

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


@dag(
    dag_id="governance_retention",
    schedule=[export_asset(source) for source in sources()],
    start_date=START,
    catchup=False,
    doc_md=__doc__,
    tags=["governance", "retention"],
    default_args=DEFAULT_ARGS,
    max_active_runs=1,
)
def retention() -> None:
    @task
    def evaluate() -> dict[str, Any]:
        """Decide every record, write the manifest and reports for the run's date."""
        from governance.orchestration import evaluate, london_date, scheduled_folder

        context: Any = get_current_context()
        when = context.get("logical_date") or context["dag_run"].run_after
        as_of = london_date(when)
        settings = task_settings()
        return without_retry_on_bad_data(
            evaluate,
            as_of,
            scheduled_folder(as_of, settings["output_dir"]),
            trigger={"kind": "scheduled"},
            **settings,
        )

    evaluate()


retention()
