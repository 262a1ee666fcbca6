"""
### Ad hoc retention review

Trigger by hand with the form: the date to decide as of, which sources, whether it is a
dry run, who asks and why (a ticket or reason). The run reads the configured exports,
applies the policy and writes its outputs apart from scheduled runs, under
`$GOVERNANCE_OUTPUT_DIR/adhoc/<run id>/`. The requester and the reason are recorded in the
audit report. A dry run leaves the row-count history untouched.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from governance.airflow_support import DEFAULT_ARGS, START, sources, without_retry_on_bad_data


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
    @task
    def review() -> dict[str, Any]:
        """Run the retention policy with the form's parameters."""
        from datetime import date

        from governance.orchestration import adhoc_folder, evaluate

        context: Any = get_current_context()
        params = context["params"]
        as_of = date.fromisoformat(params["as_of"])
        trigger = {
            "kind": "ad hoc",
            "requested_by": params["requested_by"],
            "reason": params["reason"],
            "dry_run": params["dry_run"],
            "airflow_run_id": context["run_id"],
        }
        return without_retry_on_bad_data(
            evaluate,
            as_of,
            adhoc_folder(context["run_id"]),
            sources=list(params["sources"]),
            trigger=trigger,
            dry_run=bool(params["dry_run"]),
        )

    review()


adhoc_review()
