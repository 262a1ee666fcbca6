"""What the Airflow tasks do, as plain functions (tested without Airflow).

DAG files stay thin: they import this module inside their tasks, pass the run's date and
parameters, and get back summaries fit for an XCom (counts, paths, ids; never a name,
e-mail or phone number).

Locations are read at run time, never at import. The tasks pass what Airflow holds
(`governance.airflow_support.task_settings`: the store's connection, the Variables
`governance_landing_dir` and `governance_output_dir`); anything not given falls back to the
environment (`GOVERNANCE_DB_URL`, `GOVERNANCE_LANDING_DIR`, `GOVERNANCE_OUTPUT_DIR`), then to
the defaults. The day's export is found in the landing area by `governance.landing`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from governance.errors import GovernanceError
from governance.landing import FileSystemResolver, LandedExport, landed_exports, name_origins
from governance.locations import output_root
from governance.pipeline import SourcePlan, check_export, resolve_sources
from governance.policy.model import load_policy
from governance.quality.config import load_quality_config
from governance.run import PARTS_DIR, RunResult, refuse_policy_version_clash, run_retention
from governance.sources.config import SOURCES_DIR, load_source_config
from governance.store.overview import MONTHLY_DIR

LONDON = ZoneInfo("Europe/London")


class ExportBlocked(GovernanceError):
    """An export did not pass the quality gate: the task fails, nothing downstream runs."""


def london_date(moment: datetime) -> date:
    """The calendar date in Europe/London of an (aware) instant."""
    return moment.astimezone(LONDON).date()


def landing_location(configured: str | None = None) -> str | None:
    """The landing area (a folder or an fsspec URI): `configured` (the task's Variable),
    else $GOVERNANCE_LANDING_DIR, else None (each source config's `path` is read)."""
    return configured or os.environ.get("GOVERNANCE_LANDING_DIR") or None


@contextmanager
def landing_files(
    sources: list[str],
    configs: dict[str, Path],
    as_of: date,
    *,
    landing: str | None = None,
    output_dir: str | None = None,
    filesystem: FileSystemResolver | None = None,
) -> Iterator[dict[str, LandedExport]]:
    """Each source's export for `as_of` in the landing area (see `governance.landing`);
    remote ones are staged under `<output root>/staging/` until the block ends. Empty when
    no landing area is configured: each source's configured `path` is read then."""
    location = landing_location(landing)
    if not location:
        yield {}
        return
    loaded = {source: load_source_config(configs[source])[0] for source in sources}
    staging = output_root(output_dir) / "staging"
    with landed_exports(location, loaded, as_of, staging, filesystem=filesystem) as found:
        yield found


def configured_sources() -> dict[str, Path]:
    """Source name -> config file, for every config in `include/config/sources/`."""
    return {p.stem: p for p in sorted(SOURCES_DIR.glob("*.yaml"))}


def ingest(
    source: str,
    config: Path,
    as_of: date,
    *,
    db_url: str | None = None,
    landing: str | None = None,
    output_dir: str | None = None,
    filesystem: FileSystemResolver | None = None,
) -> dict[str, Any]:
    """Read and validate one source's export for `as_of`; raise ExportBlocked when it
    would be blocked (and ExportMissing when the day's export is not in the landing area).
    `db_url` is the store holding the previous accepted row count."""
    with landing_files(
        [source],
        {source: config},
        as_of,
        landing=landing,
        output_dir=output_dir,
        filesystem=filesystem,
    ) as landed:
        files = {s: e.path for s, e in landed.items()}
        plan = resolve_sources(files=files, configs={source: config})[0]
        result = check_export(
            plan,
            load_policy().policy,
            as_of,
            load_quality_config(),
            db_url=db_url,
        )
    if result.blocked_reason:
        message = f"{source} export blocked: {result.blocked_reason}"
        raise ExportBlocked(name_origins(message, landed.values()))
    summary: dict[str, Any] = name_origins(result.summary(), landed.values())
    summary["as_of"] = as_of.isoformat()
    return summary


def evaluate(
    as_of: date,
    out_dir: Path,
    sources: list[str] | None = None,
    trigger: dict[str, Any] | None = None,
    dry_run: bool = False,
    *,
    db_url: str | None = None,
    landing: str | None = None,
    output_dir: str | None = None,
    filesystem: FileSystemResolver | None = None,
) -> dict[str, Any]:
    """Run the retention policy over the day's exports into `out_dir`, recording the run in
    the store at `db_url`; raise ExportBlocked (after writing every output) when an export
    was blocked, ExportMissing (before writing anything) when one is not in the landing
    area."""
    with day_plans(
        as_of, sources, landing=landing, output_dir=output_dir, filesystem=filesystem
    ) as (plans, landed):
        result = run_retention(
            plans,
            load_policy(),
            as_of,
            out_dir,
            trigger={**(trigger or {}), "dry_run": dry_run},
            db_url=db_url,
        )
    return _summary(result, {p.source: p.shown for p in plans}, out_dir, dry_run, landed)


@contextmanager
def day_plans(
    as_of: date,
    sources: list[str] | None,
    *,
    landing: str | None = None,
    output_dir: str | None = None,
    filesystem: FileSystemResolver | None = None,
) -> Iterator[tuple[list[SourcePlan], dict[str, LandedExport]]]:
    """The day's exports of `sources` (default: every configured one) as plans to read,
    staged locally while the block runs."""
    configs = configured_sources()
    chosen = sources or list(configs)
    unknown = sorted(set(chosen) - set(configs))
    if unknown:
        raise GovernanceError(f"unknown source(s): {', '.join(unknown)}")
    chosen_configs = {s: configs[s] for s in chosen}
    with landing_files(
        chosen,
        chosen_configs,
        as_of,
        landing=landing,
        output_dir=output_dir,
        filesystem=filesystem,
    ) as landed:
        files = {s: e.path for s, e in landed.items()}
        plans = [
            replace(p, origin=landed[p.source].uri)
            if p.source in landed and landed[p.source].staged
            else p
            for p in resolve_sources(files=files, configs=chosen_configs)
        ]
        yield plans, landed


def _summary(
    result: RunResult,
    inputs: dict[str, str],
    out_dir: Path,
    dry_run: bool,
    landed: dict[str, LandedExport],
) -> dict[str, Any]:
    """What a retention task returns (an XCom: ids, paths and counts); raises ExportBlocked
    when an export was blocked (after every output was written)."""
    summary: dict[str, Any] = {
        "run_id": result.run_id,
        "as_of": result.as_of.isoformat(),
        "out_dir": str(out_dir),
        "inputs": inputs,
        "manifest": str(result.files["deletion_manifest"]),
        "manifest_rows": result.manifest_rows,
        "audit_report": str(result.files["audit_report"]),
        "data_quality": str(result.files["data_quality"]),
        "exports": {o.source: o.status for o in result.outcomes},
        "dry_run": dry_run,
    }
    blocked = [f"{o.source}: {o.blocked_reason}" for o in result.outcomes if o.blocked_reason]
    if blocked:
        message = "blocked export(s) - " + "; ".join(blocked)
        raise ExportBlocked(name_origins(message, landed.values()))
    named: dict[str, Any] = name_origins(summary, landed.values())
    return named


# --- the same run in parts, for Airflow's dynamic task mapping -----------------------------


def parts_folder(out_dir: Path) -> Path:
    """Where a run's parts wait between its tasks (owner-only; removed when it finishes)."""
    return out_dir / PARTS_DIR


def split_exports(
    as_of: date,
    out_dir: Path,
    sources: list[str] | None = None,
    *,
    db_url: str | None = None,
    landing: str | None = None,
    output_dir: str | None = None,
    filesystem: FileSystemResolver | None = None,
    partition_rows: int | None = None,
) -> list[dict[str, Any]]:
    """Cut the day's exports into parts (one per `partition_rows`, default
    $GOVERNANCE_PARTITION_ROWS or 250,000); returns one `{source, part}` per part, the
    arguments of the mapped tasks. An unreadable export has no parts: the finishing task
    reports it blocked."""
    from governance.partition import cleanup, split_export
    from governance.store.db import engine_for
    from governance.store.reviews import decisions_for

    rows = partition_rows or int(os.environ.get("GOVERNANCE_PARTITION_ROWS") or 0) or None
    loaded = load_policy()
    policy = loaded.policy
    store = engine_for(db_url)
    refuse_policy_version_clash(store, loaded)
    work = parts_folder(out_dir)
    cleanup(work)  # a retry starts afresh
    parts: list[dict[str, Any]] = []
    try:
        with day_plans(
            as_of, sources, landing=landing, output_dir=output_dir, filesystem=filesystem
        ) as (plans, _):
            for plan in plans:
                with store.connect() as conn:
                    reviews = decisions_for(conn, plan.source, as_of)
                split = split_export(plan, policy, work, partition_rows=rows, reviews=reviews)
                parts.extend({"source": plan.source, "part": k} for k in split.parts)
    except BaseException:
        cleanup(work)  # no half-split copies of the exports are left behind
        raise
    return parts


def decide_part(as_of: date, out_dir: Path, source: str, part: int) -> dict[str, Any]:
    """Decide and check one part (a mapped task)."""
    from governance.partition import decide_part as decide
    from governance.sources.config import load_source_config

    config, _ = load_source_config(configured_sources()[source])
    counts = decide(
        parts_folder(out_dir),
        source,
        part,
        config,
        load_policy().policy,
        as_of,
        load_quality_config(),
    )
    return {"source": source, "part": part, **counts}


def finish_parts(
    as_of: date,
    out_dir: Path,
    sources: list[str] | None = None,
    trigger: dict[str, Any] | None = None,
    dry_run: bool = False,
    *,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Put the parts together, write the run's outputs, record it, and remove the parts;
    the same outputs and summary as `evaluate`."""
    from datetime import UTC

    from governance.partition import cleanup, combine, load_split, outcome
    from governance.run import finish_run
    from governance.sources.schema import SOURCES
    from governance.store.db import engine_for
    from governance.store.history import previous_rows

    chosen = sorted(sources or list(configured_sources()), key=SOURCES.index)
    store = engine_for(db_url)
    quality = load_quality_config()
    work = parts_folder(out_dir)
    splits = [load_split(work, s) for s in chosen]
    # The run started when its exports were split (an earlier task).
    started = min((datetime.fromisoformat(s.split_at) for s in splits), default=None)
    started = started or datetime.now(UTC)
    outcomes = [
        outcome(
            split, combine(work, split.source, quality, previous_rows(store, split.source, as_of))
        )
        for split in splits
    ]
    result = finish_run(
        outcomes,
        load_policy(),
        as_of,
        out_dir,
        store,
        started,
        lambda _msg: None,
        lambda: datetime.now(UTC),
        {**(trigger or {}), "dry_run": dry_run},
    )
    cleanup(work)
    return _summary(result, {s.source: s.shown for s in splits}, out_dir, dry_run, {})


def adhoc_folder(run_id: str, output_dir: str | None = None) -> Path:
    """Ad hoc runs write apart from scheduled ones, one folder per Airflow run."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", run_id).strip("-").lower()
    return output_root(output_dir) / "adhoc" / slug


def scheduled_folder(as_of: date, output_dir: str | None = None) -> Path:
    """Scheduled runs write one folder per as_of: a rerun replaces its own outputs."""
    return output_root(output_dir) / "scheduled" / as_of.isoformat()


def monthly_folder(month: str, output_dir: str | None = None) -> Path:
    """Monthly reports: one folder per month, `<outputs>/monthly/<YYYY-MM>/`."""
    return output_root(output_dir) / MONTHLY_DIR / month


def report_month(moment: datetime) -> str:
    """The month a scheduled report covers: the one before the run's date in London (a run
    on 1 December reports on November)."""
    day = london_date(moment).replace(day=1) - timedelta(days=1)
    return f"{day:%Y-%m}"


def monthly_report(
    month: str, *, db_url: str | None = None, output_dir: str | None = None
) -> dict[str, Any]:
    """Write the month's governance report from the store; returns its paths and totals."""
    from governance.reports.monthly import write_monthly_report
    from governance.store.db import engine_for

    folder = monthly_folder(month, output_dir)
    report = write_monthly_report(engine_for(db_url), month, folder)
    return {
        "month": month,
        "report": str(report.files["report"]),
        "tables": str(folder),
        **report.totals,
    }
