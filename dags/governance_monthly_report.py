"""
### Governance monthly report

On the first of each month, writes the governance report for the month before from the
governance store: one self-contained HTML page (charts inline, printable, no external
links) and its tables as CSV, under `<outputs>/monthly/<YYYY-MM>/`. It covers runs and
their status, decisions by rule, deletions issued vs confirmed vs overdue, reviews due and
done, consent renewals and expiries, quarantine and blocked exports, the data-quality trend,
the policy versions in force and the assumptions they flag.

Trigger it by hand with the `month` parameter (`YYYY-MM`) to (re)write any month's report;
the same store gives the same bytes. Where the store and `<outputs>` are: see the retention
DAG (connection `governance_db`, Variable `governance_output_dir`). Its XCom holds the
report's path and totals: no personal data.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from governance.airflow_support import (
    DEFAULT_ARGS,
    START,
    task_settings,
    without_retry_on_bad_data,
)


@dag(
    dag_id="governance_monthly_report",
    schedule="@monthly",
    start_date=START,
    catchup=False,
    doc_md=__doc__,
    tags=["governance", "report"],
    default_args=DEFAULT_ARGS,
    max_active_runs=1,
    params={
        "month": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
            title="Month (YYYY-MM)",
            description="Leave empty for the month before the run's date.",
        ),
    },
)
def monthly_report() -> None:
    @task
    def write_report() -> dict[str, Any]:
        """Read the store and write the month's page and CSV tables."""
        from governance.orchestration import monthly_report, report_month

        context: Any = get_current_context()
        when = context.get("logical_date") or context["dag_run"].run_after
        month = context["params"].get("month") or report_month(when)
        settings = task_settings()
        return without_retry_on_bad_data(
            monthly_report,
            month,
            db_url=settings["db_url"],
            output_dir=settings["output_dir"],
        )

    write_report()


monthly_report()
