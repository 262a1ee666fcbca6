"""What the Airflow tasks do, as plain functions (tested without Airflow).

DAG files stay thin: they import this module inside their tasks, pass the run's date and
parameters, and get back summaries fit for an XCom (counts, paths, ids; never a name,
e-mail or phone number). Locations come from the environment, read at run time.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from governance.errors import GovernanceError
from governance.pipeline import check_export, resolve_sources
from governance.policy.model import load_policy
from governance.quality.config import load_quality_config
from governance.run import run_retention
from governance.sources.config import SOURCES_DIR

LONDON = ZoneInfo("Europe/London")


class ExportBlocked(GovernanceError):
    """An export did not pass the quality gate: the task fails, nothing downstream runs."""


def london_date(moment: datetime) -> date:
    """The calendar date in Europe/London of an (aware) instant."""
    return moment.astimezone(LONDON).date()


def output_root() -> Path:
    """Where runs write: $GOVERNANCE_OUTPUT_DIR, else $AIRFLOW_HOME/governance, else
    ~/.governance/outputs."""
    if os.environ.get("GOVERNANCE_OUTPUT_DIR"):
        return Path(os.environ["GOVERNANCE_OUTPUT_DIR"])
    if os.environ.get("AIRFLOW_HOME"):
        return Path(os.environ["AIRFLOW_HOME"]) / "governance"
    return Path.home() / ".governance" / "outputs"


def landing_files(sources: list[str], configs: dict[str, Path]) -> dict[str, Path | None]:
    """With $GOVERNANCE_LANDING_DIR set, each source's export is the file of the same name
    in that folder (the configured path's file name); otherwise the configured path."""
    landing = os.environ.get("GOVERNANCE_LANDING_DIR")
    if not landing:
        return {}
    from governance.sources.config import load_source_config

    files: dict[str, Path | None] = {}
    for source in sources:
        config, _ = load_source_config(configs[source])
        name = Path(config.path).name if config.path else f"{source}.csv"
        files[source] = Path(landing) / name
    return files


def configured_sources() -> dict[str, Path]:
    """Source name -> config file, for every config in `include/config/sources/`."""
    return {p.stem: p for p in sorted(SOURCES_DIR.glob("*.yaml"))}


def ingest(source: str, config: Path, as_of: date) -> dict[str, Any]:
    """Read and validate one export; raise ExportBlocked when it would be blocked."""
    files = landing_files([source], {source: config})
    plan = resolve_sources(files=files, configs={source: config})[0]
    result = check_export(
        plan,
        load_policy().policy,
        as_of,
        load_quality_config(),
    )
    if result.blocked_reason:
        raise ExportBlocked(f"{source} export blocked: {result.blocked_reason}")
    summary = result.summary()
    summary["as_of"] = as_of.isoformat()
    return summary


def evaluate(
    as_of: date,
    out_dir: Path,
    sources: list[str] | None = None,
    trigger: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Run the retention policy over the configured exports into `out_dir`; raise
    ExportBlocked (after writing every output) when an export was blocked."""
    configs = configured_sources()
    chosen = sources or list(configs)
    unknown = sorted(set(chosen) - set(configs))
    if unknown:
        raise GovernanceError(f"unknown source(s): {', '.join(unknown)}")
    chosen_configs = {s: configs[s] for s in chosen}
    plans = resolve_sources(files=landing_files(chosen, chosen_configs), configs=chosen_configs)
    result = run_retention(
        plans,
        load_policy(),
        as_of,
        out_dir,
        trigger={**(trigger or {}), "dry_run": dry_run},
    )
    summary: dict[str, Any] = {
        "run_id": result.run_id,
        "as_of": as_of.isoformat(),
        "out_dir": str(out_dir),
        "manifest": str(result.files["deletion_manifest"]),
        "manifest_rows": result.manifest_rows,
        "audit_report": str(result.files["audit_report"]),
        "data_quality": str(result.files["data_quality"]),
        "exports": {o.source: o.status for o in result.outcomes},
        "dry_run": dry_run,
    }
    blocked = [f"{o.source}: {o.blocked_reason}" for o in result.outcomes if o.blocked_reason]
    if blocked:
        raise ExportBlocked("blocked export(s) - " + "; ".join(blocked))
    return summary


def adhoc_folder(run_id: str) -> Path:
    """Ad hoc runs write apart from scheduled ones, one folder per Airflow run."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", run_id).strip("-").lower()
    return output_root() / "adhoc" / slug


def scheduled_folder(as_of: date) -> Path:
    """Scheduled runs write one folder per as_of: a rerun replaces its own outputs."""
    return output_root() / "scheduled" / as_of.isoformat()
