"""`governance run`: read the exports, decide, and write the run's outputs.

The run id derives from as_of, the policy's hash and the input files' hashes, so the same
inputs give the same id and byte-identical outputs; the only clock readings (when the run
started and finished) live in `audit_report.json`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine

import governance
from governance.errors import ConfigError, ExportError
from governance.outputs import tables as t
from governance.outputs.atomic import atomic_write_text
from governance.pipeline import SourcePlan
from governance.policy.engine import Evaluation, evaluate
from governance.policy.model import LoadedPolicy
from governance.quality.config import QualityConfig, load_quality_config
from governance.quality.expectations import (
    QualityReport,
    unreadable_report,
    validate_export,
    warm_up,
)
from governance.reports.data_quality import (
    AUDIT_PAGE,
    DATA_QUALITY_PAGE,
    render_audit_report,
    render_data_quality,
)
from governance.sources.reader import read_export
from governance.sources.schema import ID_FIELD, SOURCES
from governance.store.db import engine_for
from governance.store.disposition import AcceptedExport, DispositionCheck
from governance.store.history import policy_version_clash, previous_rows
from governance.store.recorder import record_run
from governance.store.reviews import decisions_for, fingerprint

AUDIT_FILE = "audit_report.json"
PARTS_DIR = ".parts"
"""Where a run decided in parts keeps them (export rows: owner-only, removed at the end)."""
EXIT_OK = 0
EXIT_BLOCKED = 3


@dataclass
class ExportOutcome:
    source: str
    path: Path
    origin: str | None = None
    """The landing-area URI the export was staged from, if it was."""
    sha256: str | None = None
    evaluation: Evaluation | None = None
    quality: QualityReport | None = None
    record_ids: pa.Array | None = None
    """The export's record ids (to prove earlier deletions happened)."""
    error: str | None = None
    """Why the export could not be read at all (it is then blocked)."""
    reviews_applied: int = 0
    reviews_sha256: str | None = None
    """Reviewers' decisions on this source the run applied, and their hash."""

    @property
    def blocked_reason(self) -> str | None:
        if self.error is not None:
            return self.error
        if self.quality is not None and self.quality.blocked_reason():
            return self.quality.blocked_reason()
        assert self.evaluation is not None
        return self.evaluation.blocked_reason

    @property
    def status(self) -> str:
        return "blocked" if self.blocked_reason else "ok"


@dataclass
class RunResult:
    run_id: str
    as_of: date
    out_dir: Path
    outcomes: list[ExportOutcome]
    manifest_rows: int
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_BLOCKED if any(o.status == "blocked" for o in self.outcomes) else EXIT_OK


def run_id_for(
    as_of: date,
    policy_sha256: str,
    inputs: list[tuple[str, str | None]],
    reviews: list[tuple[str, str]] | None = None,
    dry_run: bool = False,
) -> str:
    """Reproducible id: `<as_of>-<12 hex>` of as_of, the policy hash, the input hashes, the
    hashes of the review decisions applied (if any) and whether it is a dry run: a dry run
    must not stand in for the real run of the same inputs (nor the other way round)."""
    material = "|".join(
        [
            as_of.isoformat(),
            policy_sha256,
            *(f"{s}={h or 'unreadable'}" for s, h in inputs),
            *(f"reviews:{s}={h}" for s, h in reviews or []),
            *(["dry run"] if dry_run else []),
        ]
    )
    return f"{as_of:%Y%m%d}-{hashlib.sha256(material.encode()).hexdigest()[:12]}"


def run_retention(
    plans: list[SourcePlan],
    policy: LoadedPolicy,
    as_of: date,
    out_dir: Path,
    on_step: Callable[[str], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    quality: QualityConfig | None = None,
    trigger: dict[str, Any] | None = None,
    db_url: str | None = None,
) -> RunResult:
    """Read, decide, validate and write one run. `trigger` (who asked for an ad hoc run and
    why, whether it is a dry run) goes into the audit report and the store."""
    step = on_step or (lambda _msg: None)
    started = clock()
    # Parts a killed partitioned run left here hold export rows: they go now.
    shutil.rmtree(out_dir / PARTS_DIR, ignore_errors=True)
    # Great Expectations takes seconds to import: let that overlap with the first read.
    warming = threading.Thread(target=warm_up, daemon=True)
    warming.start()
    quality = quality or load_quality_config()
    store = engine_for(db_url)
    refuse_policy_version_clash(store, policy)
    outcomes: list[ExportOutcome] = []
    for plan in sorted(plans, key=lambda p: SOURCES.index(p.source)):
        outcome = ExportOutcome(plan.source, plan.path, origin=plan.origin)
        outcomes.append(outcome)
        try:
            export = read_export(plan.path, plan.config)
        except ExportError as exc:
            outcome.sha256 = exc.sha256
            outcome.error = plan.name(str(exc))
            outcome.quality = unreadable_report(plan.source, exc)
            step(f"{plan.source}: blocked, cannot be read")
            continue
        outcome.sha256 = export.sha256
        step(f"read {plan.source}: {export.rows:,} rows")
        with store.connect() as conn:
            reviews = decisions_for(conn, plan.source, as_of)
        outcome.reviews_applied = len(reviews)
        outcome.reviews_sha256 = fingerprint(reviews)
        ev = outcome.evaluation = evaluate(
            export.frame, plan.source, policy.policy, as_of, reviews=reviews
        )
        id_column = export.frame[ID_FIELD[plan.source]]
        outcome.record_ids = pa.array(id_column.dropna(), pa.large_string(), from_pandas=True)
        outcome.quality = validate_export(
            ev, export.frame, quality, previous_rows=previous_rows(store, plan.source, as_of)
        )
        del export
        step(
            f"decided and checked {plan.source}: {len(ev.decisions):,} decisions, "
            f"{ev.quarantined_rows:,} quarantined ({outcome.status})"
        )
    return finish_run(outcomes, policy, as_of, out_dir, store, started, step, clock, trigger)


def refuse_policy_version_clash(store: Engine, policy: LoadedPolicy) -> None:
    """A manifest names its policy by version: a version recorded with other content (the
    file changed, its version did not) stops the run before anything is read. Every way
    into a run starts with it (`run_retention`, a run in parts, the Airflow split)."""
    clash = policy_version_clash(store, policy.policy.version, policy.sha256)
    if clash is not None:
        raise ConfigError(
            f"{policy.path}: version {policy.policy.version!r} was recorded with other content "
            f"(run {clash[0]}, as of {clash[1]}): bump `version` when the policy changes, so "
            "that a manifest's policy version names one set of rules"
        )


def finish_run(
    outcomes: list[ExportOutcome],
    policy: LoadedPolicy,
    as_of: date,
    out_dir: Path,
    store: Engine,
    started: datetime,
    step: Callable[[str], None],
    clock: Callable[[], datetime],
    trigger: dict[str, Any] | None,
) -> RunResult:
    """Write the run's outputs from its exports' outcomes (decided in one pass or in
    parts) and record it in the store."""
    run_id = run_id_for(
        as_of,
        policy.sha256,
        [(o.source, o.sha256) for o in outcomes],
        [(o.source, o.reviews_sha256) for o in outcomes if o.reviews_sha256],
        dry_run=bool((trigger or {}).get("dry_run", False)),
    )
    files, written, hashes = _write_tables(out_dir, outcomes, run_id, policy)
    manifest = written["manifest"]
    manifest_rows = manifest.num_rows
    step(f"wrote manifest: {manifest_rows:,} deletions")
    page = out_dir / DATA_QUALITY_PAGE
    atomic_write_text(page, render_data_quality(run_id, as_of, outcomes))
    files["data_quality"] = page
    audit = _audit_report(run_id, as_of, policy, outcomes, hashes, manifest_rows, started, clock())
    audit["trigger"] = trigger or {"kind": "library call"}
    audit_path = out_dir / AUDIT_FILE
    atomic_write_text(audit_path, json.dumps(audit, indent=2, sort_keys=False) + "\n")
    files["audit_report"] = audit_path
    atomic_write_text(out_dir / AUDIT_PAGE, render_audit_report(audit))
    files["audit_report_html"] = out_dir / AUDIT_PAGE
    # Every run goes into the store and its audit trail; a dry run's manifest is not one
    # to act on, so its items are not kept (nor does its row count become a reference).
    dry_run = bool(audit["trigger"].get("dry_run", False))
    check = DispositionCheck(
        run_id, as_of, _accepted_exports(outcomes), policy.policy.disposition.grace_days
    )
    new = record_run(
        store,
        audit,
        None if dry_run else _store_items(manifest, STORED_MANIFEST),
        out_dir,
        items=None
        if dry_run
        else {key: _store_items(written[key], columns) for key, columns in STORED_ITEMS.items()},
        # Earlier deletions are checked in the transaction recording the run: a crash
        # leaves both or neither, and a rerun finding the run unrecorded does both.
        then=None if dry_run else check,
    )
    step("recorded the run in the governance store" if new else "run already in the store")
    for source, found in check.found.items():
        if any(found.values()):
            step(
                f"{source}: {found['confirmed']:,} earlier deletions confirmed, "
                f"{found['overdue']:,} overdue"
            )
    return RunResult(run_id, as_of, out_dir, outcomes, manifest_rows, files)


def _accepted_exports(outcomes: list[ExportOutcome]) -> list[AcceptedExport]:
    """The exports that passed the gate, as evidence for the check of earlier manifests:
    their record ids, and the (record, rule) the run decides to delete in them (a record
    still present but no longer decided `delete` under a rule is not overdue under it)."""
    accepted = []
    for o in outcomes:
        if o.status != "ok" or o.record_ids is None or o.evaluation is None:
            continue
        frame = o.evaluation.decisions
        chosen = frame[(frame["decision"] == "delete").to_numpy()]
        still_due = t.to_arrow(chosen, ["source_record_id", "rule_id"]).rename_columns(
            ["record_id", "rule_id"]
        )
        accepted.append(AcceptedExport(o.source, o.record_ids, still_due))
    return accepted


CHUNK_ROWS = 1_000_000
"""Decisions are turned into text and written this many rows at a time."""


def _decision_chunks(outcomes: list[ExportOutcome]) -> Iterator[pa.Table]:
    """Every decision as text, export by export, a chunk at a time (millions of rows
    never become one table of strings)."""
    for o in outcomes:
        if o.evaluation is None:
            continue
        frame = o.evaluation.decisions
        constants = {"source_system": o.source, "export_status": o.status}
        for start in range(0, len(frame), CHUNK_ROWS):
            part = frame.iloc[start : start + CHUNK_ROWS]
            yield t.to_arrow(part, t.DECISION_HEADER, constants=constants)


def _decisions_of(
    outcomes: list[ExportOutcome], kinds: list[str], ok_only: bool, header: list[str]
) -> pa.Table:
    """The `header` columns of the decisions of some kinds, as text (exports that were
    blocked left out if asked)."""
    parts = []
    for o in outcomes:
        if o.evaluation is None or (ok_only and o.status != "ok"):
            continue
        frame = o.evaluation.decisions
        chosen = frame[frame["decision"].isin(kinds).to_numpy()]
        constants = {"source_system": o.source, "export_status": o.status}
        parts.append(t.to_arrow(chosen, header, constants=constants))
    if not parts:
        return pa.table({name: pa.array([], pa.string()) for name in header})
    return pa.concat_tables(parts)


def _quarantine_table(outcomes: list[ExportOutcome]) -> pa.Table:
    parts = [
        t.to_arrow(o.evaluation.quarantine, t.QUARANTINE_HEADER, {"source_system": o.source})
        for o in outcomes
        if o.evaluation is not None
    ]
    if not parts:
        return pa.table({name: pa.array([], pa.string()) for name in t.QUARANTINE_HEADER})
    return pa.concat_tables(parts)


def _write_tables(
    out_dir: Path, outcomes: list[ExportOutcome], run_id: str, policy: LoadedPolicy
) -> tuple[dict[str, Path], dict[str, pa.Table], dict[str, dict[str, Any]]]:
    """Write the run's tables; returns their paths, the tables (manifest, review, consent,
    quarantine) and each file's row count and SHA-256."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = _decisions_of(outcomes, ["delete"], ok_only=True, header=t.MANIFEST_HEADER[:5])
    n = manifest.num_rows
    manifest = manifest.append_column(
        "run_id", pa.array(np.full(n, run_id, dtype=object), pa.string())
    ).append_column(
        "policy_version", pa.array(np.full(n, policy.policy.version, dtype=object), pa.string())
    )
    review = _decisions_of(outcomes, ["review"], ok_only=False, header=t.REVIEW_HEADER)
    consent = _decisions_of(
        outcomes,
        ["renew_consent", "consent_expired"],
        ok_only=False,
        header=[c for c in t.DECISION_HEADER if c not in ("reason", "export_status")],
    ).rename_columns({"trigger_date": "consent_date", "due_date": "expiry_date"})

    quarantine = _quarantine_table(outcomes)
    files: dict[str, Path] = {}
    hashes: dict[str, dict[str, Any]] = {}
    path = out_dir / t.DECISIONS_FILE
    digest, rows = t.write_chunks(path, _decision_chunks(outcomes), t.DECISION_HEADER)
    files["decisions"] = path
    hashes[t.DECISIONS_FILE] = {"rows": rows, "sha256": digest}
    for key, name, table, header in (
        ("review_queue", t.REVIEW_FILE, review, t.REVIEW_HEADER),
        ("consent_actions", t.CONSENT_FILE, consent, t.CONSENT_HEADER),
        ("quarantine", t.QUARANTINE_FILE, quarantine, t.QUARANTINE_HEADER),
        ("deletion_manifest", t.MANIFEST_FILE, manifest, t.MANIFEST_HEADER),
    ):
        path = out_dir / name
        digest = t.write_table(path, table.select(header))
        files[key] = path
        hashes[name] = {"rows": table.num_rows, "sha256": digest}
    files["deletion_manifest_sha256"] = t.write_checksum(
        files["deletion_manifest"], hashes[t.MANIFEST_FILE]["sha256"]
    )
    tables = {"manifest": manifest, "review": review, "consent": consent}
    return files, {**tables, "quarantine": quarantine}, hashes


STORED_MANIFEST = {
    "source_system": "source",
    "source_record_id": "record_id",
    "rule_id": "rule_id",
    "trigger_date": "trigger_date",
    "due_date": "due_date",
}
STORED_ITEMS = {
    "review": STORED_MANIFEST,
    "consent": {
        "source_system": "source",
        "source_record_id": "record_id",
        "rule_id": "rule_id",
        "decision": "action",
        "consent_date": "consent_date",
        "expiry_date": "expiry_date",
    },
    "quarantine": {
        "source_system": "source",
        "source_row": "source_row",
        "field": "field",
        "reason": "reason",
        "source_record_id": "record_id",
    },
}
"""Output columns -> store columns of the items the store keeps (ids and dates only)."""


def _store_items(table: pa.Table, columns: dict[str, str]) -> pa.Table:
    return table.select(list(columns)).rename_columns(list(columns.values()))


def _counts(ev: Evaluation) -> dict[str, dict[str, int]]:
    grouped = ev.decisions.groupby(["rule_id", "decision"], observed=True, dropna=False).size()
    counts: dict[str, dict[str, int]] = {}
    for (rule_id, decision), n in grouped.items():
        rule = "(quarantine)" if pd.isna(rule_id) else str(rule_id)
        counts.setdefault(rule, {})[str(decision)] = int(n)
    return {rule: dict(sorted(counts[rule].items())) for rule in sorted(counts)}


def _audit_report(
    run_id: str,
    as_of: date,
    policy: LoadedPolicy,
    outcomes: list[ExportOutcome],
    hashes: dict[str, dict[str, Any]],
    manifest_rows: int,
    started: datetime,
    finished: datetime,
) -> dict[str, Any]:
    exports: dict[str, Any] = {}
    for o in outcomes:
        doc: dict[str, Any] = {
            "file": o.origin or str(o.path),
            "sha256": o.sha256,
            "status": o.status,
            "blocked_reason": o.blocked_reason,
        }
        ev = o.evaluation
        if ev is not None:
            reasons = (
                ev.quarantine.groupby("reason", sort=True).size() if len(ev.quarantine) else {}
            )
            doc.update(
                rows_read=ev.rows,
                rows_quarantined=ev.quarantined_rows,
                quarantined_share=round(ev.quarantined_share, 6),
                decisions=_counts(ev),
                quarantine_reasons={str(k): int(v) for k, v in dict(reasons).items()},
                breaches={k: v for k, v in ev.breaches.items() if v},
                manifest_rows=int(
                    0 if o.status == "blocked" else (ev.decisions["decision"] == "delete").sum()
                ),
            )
        else:
            doc.update(rows_read=0, rows_quarantined=0, decisions={}, manifest_rows=0)
        if o.reviews_sha256:
            doc["review_decisions"] = {"applied": o.reviews_applied, "sha256": o.reviews_sha256}
        if o.quality is not None:
            doc["data_quality"] = [r.to_json() for r in o.quality.results]
        exports[o.source] = doc
    blocked = [o.source for o in outcomes if o.status == "blocked"]
    return {
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "status": "blocked" if blocked else "ok",
        "blocked_exports": blocked,
        "policy": {
            "id": policy.policy.policy,
            "version": policy.policy.version,
            "sha256": policy.sha256,
            "path": policy.path,
            "gate_max_quarantined_share": policy.policy.gate.max_quarantined_share,
        },
        "exports": exports,
        "manifest": {
            "file": t.MANIFEST_FILE,
            "rows": manifest_rows,
            "sha256": hashes[t.MANIFEST_FILE]["sha256"],
        },
        "outputs": hashes,
        "data_quality_page": DATA_QUALITY_PAGE,
        "assumptions": policy.policy.assumptions(),
        "tool": {"name": "retention-governance", "version": governance.__version__},
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": finished.isoformat(timespec="seconds"),
    }
