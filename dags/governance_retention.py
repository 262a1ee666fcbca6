"""
### Governance retention evaluation

Runs when every source's export has been ingested and validated (its asset updated).
Finds the day's exports in the landing area as the ingestion did, applies the retention
policy as of the run's date in Europe/London, records the run in the governance store and
writes, under `<outputs>/scheduled/<as_of>/`: the deletion manifest and its checksum,
decisions, review queue, consent actions, quarantine list, data-quality page and audit
report. A rerun for the same date replaces its own outputs.

Large exports are shared between workers: `split_exports` cuts each export into parts of
`$GOVERNANCE_PARTITION_ROWS` rows (default 250,000; records linked to each other stay in
one part), one mapped `decide_part` task decides and checks each part, and `finish_run`
puts them together, writes the outputs and records the run: the same bytes as one pass.

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

from airflow.sdk import dag

from governance.airflow_support import (
    DEFAULT_ARGS,
    OUTPUT_VARIABLE,
    START,
    export_asset,
    partitioned_evaluation,
    sources,
    variable,
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
    partitioned_evaluation(scheduled_run)


def scheduled_run(context: Any) -> dict[str, Any]:
    """The run's as_of (its logical date in London), folder and trigger."""
    from governance.orchestration import london_date, scheduled_folder

    when = context.get("logical_date") or context["dag_run"].run_after
    as_of = london_date(when)
    return {
        "as_of": as_of,
        "out_dir": scheduled_folder(as_of, variable(OUTPUT_VARIABLE)),
        "sources": None,
        "trigger": {"kind": "scheduled"},
        "dry_run": False,
    }


retention()
