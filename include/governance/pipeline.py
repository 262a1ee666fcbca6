"""The job's steps as plain functions, shared by the CLI and the Airflow tasks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from governance.errors import ExportError
from governance.policy.model import Policy
from governance.quality.config import QualityConfig
from governance.quality.expectations import QualityReport
from governance.sources.config import (
    SOURCES_DIR,
    SourceConfig,
    default_config,
    load_source_config,
    resolve_export_path,
)
from governance.sources.reader import CanonicalExport, read_export
from governance.sources.schema import SOURCES


@dataclass(frozen=True)
class SourcePlan:
    source: str
    path: Path
    config: SourceConfig
    origin: str | None = None
    """Where the export came from when `path` is a staged copy (a landing-area URI): what
    reports and messages name."""

    @property
    def shown(self) -> str:
        return self.origin or str(self.path)

    def name(self, message: str) -> str:
        """`message` naming the export's origin rather than its staged copy."""
        return message.replace(str(self.path), self.origin) if self.origin else message


@dataclass
class SourceResult:
    source: str
    path: Path
    export: CanonicalExport | None = None
    error: ExportError | None = None

    def summary(self) -> dict[str, Any]:
        """What was read, without a single personal value."""
        doc: dict[str, Any] = {"source": self.source, "path": str(self.path)}
        if self.error is not None:
            doc.update(status="error", error=str(self.error))
            return doc
        assert self.export is not None
        exp = self.export
        doc.update(
            status="ok",
            sha256=exp.sha256,
            rows=exp.rows,
            absent_fields=list(exp.absent_fields),
            ignored_columns=list(exp.ignored_columns),
            invalid_cells=dict(sorted(exp.invalid_counts.items())),
        )
        return doc


def resolve_sources(
    files: Mapping[str, Path | None], configs: Mapping[str, Path | None]
) -> list[SourcePlan]:
    """Which exports to read: a source takes part when it has a file or a config. With
    neither for any source, all shipped configs with a path are used."""
    plans: list[SourcePlan] = []
    chosen = [s for s in SOURCES if files.get(s) is not None or configs.get(s) is not None]
    for source in chosen or SOURCES:
        config_path = configs.get(source)
        if config_path is not None:
            config, base = load_source_config(config_path)
            if config.source != source:
                from governance.errors import ConfigError

                raise ConfigError(
                    f"{config_path}: is a config for {config.source!r}, given for {source!r}"
                )
        else:
            config, base = default_config(source), SOURCES_DIR
        file = files.get(source)
        path = file if file is not None else resolve_export_path(config, base)
        plans.append(SourcePlan(source=source, path=path, config=config))
    return plans


def read_sources(
    plans: list[SourcePlan], on_done: Callable[[str], None] | None = None
) -> list[SourceResult]:
    """Read every planned export; one that cannot be read is reported, not raised, so the
    others still complete."""
    results = []
    for plan in plans:
        try:
            export = read_export(plan.path, plan.config)
        except ExportError as exc:
            results.append(SourceResult(plan.source, plan.path, error=exc))
            if on_done:
                on_done(f"{plan.source}: cannot be read")
            continue
        results.append(SourceResult(plan.source, plan.path, export=export))
        if on_done:
            on_done(f"read {plan.source}: {export.rows:,} rows")
    return results


@dataclass
class QualityCheck:
    """The data-quality verdict on one export (what `governance validate` and the ingest
    DAG's task report): counts only, never a value from the export."""

    source: str
    path: Path
    report: QualityReport
    rows: int
    quarantined: int
    blocked_reason: str | None

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "path": str(self.path),
            "status": "blocked" if self.blocked_reason else "ok",
            "blocked_reason": self.blocked_reason,
            "rows": self.rows,
            "rows_quarantined": self.quarantined,
            "checks": [r.to_json() for r in self.report.results],
        }


def check_export(
    plan: SourcePlan,
    policy: Policy,
    as_of: date,
    quality: QualityConfig,
    db_url: str | None = None,
) -> QualityCheck:
    """Read one export and run its data-quality checks as of a date (the row count is
    compared with the previous accepted export recorded in the store)."""
    from governance.policy.engine import evaluate
    from governance.quality.expectations import unreadable_report, validate_export

    try:
        export = read_export(plan.path, plan.config)
    except ExportError as exc:
        report = unreadable_report(plan.source, exc)
        return QualityCheck(plan.source, plan.path, report, 0, 0, str(exc))
    from governance.store.db import engine_for
    from governance.store.history import previous_rows

    ev = evaluate(export.frame, plan.source, policy, as_of)
    previous = previous_rows(engine_for(db_url), plan.source, as_of)
    report = validate_export(ev, export.frame, quality, previous_rows=previous)
    blocked = report.blocked_reason() or ev.blocked_reason
    return QualityCheck(plan.source, plan.path, report, ev.rows, ev.quarantined_rows, blocked)
