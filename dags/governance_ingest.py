"""
### Governance ingestion: read and validate each source's export

One DAG per source config in `include/config/sources/` (`governance_ingest_crm`, ...).
Each run reads the export the config points at, maps it onto the canonical record and
runs its data-quality checks (Great Expectations) as of the run's date in Europe/London.
The task fails when the export would be blocked: it cannot be read (missing, empty, not
CSV/XLSX, broken quoting, a required column missing), too many rows are quarantined, or
its row count dropped too far against the previous accepted export.

The task's return value (an XCom) carries counts and check results only: never a name,
e-mail or phone number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

CONFIG_DIR = Path(__file__).resolve().parents[1] / "include" / "config" / "sources"


def build(source: str, config_path: Path) -> None:
    @dag(
        dag_id=f"governance_ingest_{source}",
        schedule="@daily",
        start_date=pendulum.datetime(2026, 1, 1, tz="Europe/London"),
        catchup=False,
        doc_md=__doc__,
        tags=["governance", "ingest", source],
        default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
        max_active_runs=1,
    )
    def ingest() -> None:
        @task
        def validate_export() -> dict[str, object]:
            """Read the configured export and run its checks; fail when it is blocked."""
            from governance.pipeline import check_export, resolve_sources
            from governance.policy.model import load_policy
            from governance.quality.config import (
                RowCountState,
                default_state_path,
                load_quality_config,
            )

            context: Any = get_current_context()
            when = context.get("logical_date") or context["dag_run"].run_after
            as_of = pendulum.instance(when).in_tz("Europe/London").date()
            plan = resolve_sources(files={}, configs={source: config_path})[0]
            result = check_export(
                plan,
                load_policy().policy,
                as_of,
                load_quality_config(),
                RowCountState(default_state_path()),
            )
            if result.blocked_reason:
                raise ValueError(f"{source} export blocked: {result.blocked_reason}")
            return result.summary()

        validate_export()

    ingest()


for _config in sorted(CONFIG_DIR.glob("*.yaml")):
    build(_config.stem, _config)
