"""
### Governance ingestion: read each source's export into canonical records

One DAG per source config in `include/config/sources/` (`governance_ingest_crm`, ...).
Each run reads the export the config points at, maps it onto the canonical record and
reports what it found: rows, absent columns, cells that did not parse. An export that
cannot be read at all (missing, empty, not CSV/XLSX, broken quoting, a required column
missing) fails the task with a one-line reason naming file, row and column.

The task's return value (an XCom) carries counts and column names only: never a name,
e-mail or phone number.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import dag, task

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
        def read_export() -> dict[str, object]:
            """Read the configured export and return its summary (no personal data)."""
            from governance.pipeline import read_sources, resolve_sources

            plan = resolve_sources(files={}, configs={source: config_path})
            result = read_sources(plan)[0]
            if result.error is not None:
                raise result.error
            return result.summary()

        read_export()

    ingest()


for _config in sorted(CONFIG_DIR.glob("*.yaml")):
    build(_config.stem, _config)
