"""
### Ad hoc retention review

Trigger by hand with the form: the date to decide as of, which sources, whether it is a
dry run, who asks and why (a ticket or reason). The run finds those sources' exports for
that date in the landing area, applies the policy, records the run in the governance store
and writes its outputs apart from scheduled runs, under `<outputs>/adhoc/<run id>/`. The
requester and the reason are recorded in the audit report. A dry run leaves the row-count
history untouched. Like the retention DAG, it decides large exports in parts on several
workers (`split_exports`, mapped `decide_part`, `finish_run`), with the outputs of one pass.

**Where things are** (read inside the task, never when the DAG is parsed): the store is the
Airflow connection `governance_db` (id from `$GOVERNANCE_DB_CONN_ID`), else
`$GOVERNANCE_DB_URL`, else SQLite in `$GOVERNANCE_HOME`; the landing area is the Variable
`governance_landing_dir`, else `$GOVERNANCE_LANDING_DIR`, else each source config's `path`;
`<outputs>` is the Variable `governance_output_dir`, else `$GOVERNANCE_OUTPUT_DIR`, else
`$AIRFLOW_HOME/governance`. A source config's `landing` pattern (`{date:%Y-%m-%d}/crm.csv`)
picks the export of the form's date; a missing export fails the run with one line naming
where it looked.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag

from governance.airflow_support import (
    DEFAULT_ARGS,
    OUTPUT_VARIABLE,
    START,
    partitioned_evaluation,
    sources,
    variable,
)


@dag(
    dag_id="governance_adhoc_review",
    schedule=None,
    start_date=START,
    catchup=False,
    doc_md=__doc__,
    tags=["governance", "ad hoc", "review"],
    default_args=DEFAULT_ARGS,
    params={
        "as_of": Param(
            START.format("YYYY-MM-DD"),
            type="string",
            format="date",
            title="As of",
            description="Decide as of this date (Europe/London).",
        ),
        "sources": Param(
            list(sources()),
            type="array",
            items={"type": "string", "enum": list(sources())},
            title="Sources",
            description="Which exports to review.",
        ),
        "dry_run": Param(
            True,
            type="boolean",
            title="Dry run",
            description="Write the outputs but leave the row-count history as it was.",
        ),
        "requested_by": Param(
            "", type="string", minLength=1, title="Requested by", description="Who asks."
        ),
        "reason": Param(
            "",
            type="string",
            minLength=1,
            title="Reason or ticket",
            description="Why this review is run (recorded in the audit report).",
        ),
    },
)
def adhoc_review() -> None:
    partitioned_evaluation(adhoc_run)


def adhoc_run(context: Any) -> dict[str, Any]:
    """The form's parameters: as_of, sources, dry run, requester and reason."""
    from datetime import date

    from governance.orchestration import adhoc_folder

    params = context["params"]
    return {
        "as_of": date.fromisoformat(params["as_of"]),
        "out_dir": adhoc_folder(context["run_id"], variable(OUTPUT_VARIABLE)),
        "sources": list(params["sources"]),
        "trigger": {
            "kind": "ad hoc",
            "requested_by": params["requested_by"],
            "reason": params["reason"],
            "dry_run": params["dry_run"],
            "airflow_run_id": context["run_id"],
        },
        "dry_run": bool(params["dry_run"]),
    }


adhoc_review()
