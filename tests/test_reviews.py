"""The review workflow: reviewers' keep and delete decisions on periodic reviews, applied
by the engine, recorded in the store and the audit trail, and driven from the CLI."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import select

from governance.policy.engine import REVIEW_COLUMNS
from governance.sample_data import write_sample_exports
from governance.store.db import engine_for
from governance.store.models import AuditEvent, ReviewDecision
from governance.store.reviews import decide_review
from tests.conftest import governance, rows
from tests.engine_helpers import evaluate_rows, rows_of

D = date.fromisoformat
AS_OF = D("2025-03-15")
REVIEWED = {
    "relationship": "prospect",
    "contract_id": "",
    "contract_status": "",
    "created_at": "2018-01-01T10:00:00Z",
    "last_reviewed_at": "2022-03-15T10:00:00Z",  # review due 2025-03-15
}


def reviews(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """(record_id, due_date, decision, decided_on) on CONTACTS-REVIEW-3Y."""
    return pd.DataFrame(
        [(r, "CONTACTS-REVIEW-3Y", D(due), dec, D(on)) for r, due, dec, on in rows],
        columns=REVIEW_COLUMNS,
    )


def decision(tmp_path: Path, row: dict[str, str], as_of: date, decided: pd.DataFrame) -> Any:
    ev = evaluate_rows(tmp_path, "crm", [row], as_of, reviews=decided)
    (only,) = rows_of(ev, "C1")
    return only


def test_a_keep_restarts_the_review_period_from_the_day_it_was_decided(tmp_path: Path) -> None:
    kept = reviews(("C1", "2025-03-15", "keep", "2025-03-20"))
    after = decision(tmp_path, REVIEWED, D("2025-03-20"), kept)
    assert (after["decision"], after["trigger_date"], after["due_date"]) == (
        "retain",
        D("2025-03-20"),
        D("2028-03-20"),
    )
    assert after["reason"].startswith("kept at its last review")
    # Due again a full cycle later, not before.
    assert decision(tmp_path, REVIEWED, D("2028-03-19"), kept)["decision"] == "retain"
    again = decision(tmp_path, REVIEWED, D("2028-03-20"), kept)
    assert (again["decision"], again["due_date"]) == ("review", D("2028-03-20"))


def test_a_later_review_in_the_source_system_still_counts(tmp_path: Path) -> None:
    kept = reviews(("C1", "2025-03-15", "keep", "2025-03-20"))
    row = {**REVIEWED, "last_reviewed_at": "2025-06-01T09:00:00Z"}
    later = decision(tmp_path, row, D("2025-07-01"), kept)
    assert (later["decision"], later["due_date"]) == ("retain", D("2028-06-01"))


def test_a_delete_puts_the_record_into_the_manifest_unless_held(tmp_path: Path) -> None:
    deleted = reviews(("C1", "2025-03-15", "delete", "2025-03-16"))
    row = decision(tmp_path, REVIEWED, D("2025-03-16"), deleted)
    assert (row["rule_id"], row["decision"], row["due_date"]) == (
        "CONTACTS-REVIEW-3Y",
        "delete",
        D("2025-03-15"),
    )
    held = decision(tmp_path, {**REVIEWED, "legal_hold": "Y"}, D("2025-03-16"), deleted)
    assert (held["decision"], held["reason"]) == ("hold", "legal hold")


def test_a_delete_for_an_earlier_cycle_deletes_nothing(tmp_path: Path) -> None:
    """The record was reviewed again in the source system after the reviewer's delete:
    the old decision does not apply to the new cycle."""
    deleted = reviews(("C1", "2022-01-01", "delete", "2022-01-02"))
    row = decision(tmp_path, REVIEWED, AS_OF, deleted)
    assert row["decision"] == "review"


def test_decisions_on_other_records_or_quarantined_ones_change_nothing(tmp_path: Path) -> None:
    other = reviews(("C99", "2025-03-15", "delete", "2025-03-15"))
    assert decision(tmp_path, REVIEWED, AS_OF, other)["decision"] == "review"
    bad = {**REVIEWED, "created_at": "not a date"}
    deleted = reviews(("C1", "2025-03-15", "delete", "2025-03-15"))
    assert decision(tmp_path, bad, AS_OF, deleted)["decision"] == "quarantine"


# --- the workflow through the command line and the store ------------------------------------


def _run(exports: dict[str, Path], out: Path, as_of: str, db: str) -> dict[str, Any]:
    args = [f"--{s}={p}" for s, p in exports.items()]
    proc = governance("run", *args, "--as-of", as_of, "--out", str(out), "--db", db)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "audit_report.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture
def workflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("GOVERNANCE_REVIEWER", "dpo-team")
    exports = write_sample_exports(tmp_path / "exports", rows=300, seed=11)
    # Decisions apply from the day they are taken: run as of today or later.
    today = datetime.now(ZoneInfo("Europe/London")).date()
    as_of = max(D("2026-11-30"), today).isoformat()
    first = _run(exports, tmp_path / "out1", as_of, db)
    return {"db": db, "exports": exports, "as_of": as_of, "first": first, "tmp": tmp_path}


def test_review_list_decide_and_the_next_run(workflow: dict[str, Any]) -> None:
    db, tmp = workflow["db"], workflow["tmp"]
    listing = tmp / "open.csv"
    assert governance("review", "list", "--out", str(listing), "--db", db).returncode == 0
    open_items = rows(listing)
    queue = rows(tmp / "out1" / "review_queue.csv")
    assert len(open_items) == len(queue) >= 2
    assert {r["record_id"] for r in open_items} == {r["source_record_id"] for r in queue}
    held = {r["record_id"] for r in rows(workflow["exports"]["crm"]) if r["legal_hold"] == "Y"}
    free = [r["record_id"] for r in open_items if r["record_id"] not in held]
    keep_id, delete_id = free[0], free[1]

    proc = governance(
        "review", "decide", keep_id, "--keep", "--reason", "TICKET-9 still a partner", "--db", db
    )
    assert proc.returncode == 0, proc.stderr
    assert "recorded: keep" in proc.stdout and "dpo-team" in proc.stdout
    proc = governance("review", "decide", delete_id, "--delete", "--db", db)
    assert proc.returncode == 0, proc.stderr
    # A retry is harmless; a contradicting decision is refused in one line.
    again = governance("review", "decide", keep_id, "--keep", "--reason", "retry", "--db", db)
    assert again.returncode == 0 and "already recorded" in again.stdout
    clash = governance("review", "decide", keep_id, "--delete", "--db", db)
    assert clash.returncode == 2
    assert "already decided: keep" in clash.stderr and len(clash.stderr.strip().splitlines()) == 1

    assert governance("review", "list", "--out", str(listing), "--db", db).returncode == 0
    assert {r["record_id"] for r in rows(listing)} == {r["record_id"] for r in open_items} - {
        keep_id,
        delete_id,
    }

    # The next run over the same exports applies both decisions, under a new run id.
    second = _run(workflow["exports"], tmp / "out2", workflow["as_of"], db)
    assert second["run_id"] != workflow["first"]["run_id"]
    assert second["exports"]["crm"]["review_decisions"]["applied"] == 2
    manifest = {r["source_record_id"]: r for r in rows(tmp / "out2" / "deletion_manifest.csv")}
    assert manifest[delete_id]["rule_id"] == "CONTACTS-REVIEW-3Y"
    assert keep_id not in manifest
    decisions = {
        r["source_record_id"]: r
        for r in rows(tmp / "out2" / "decisions.csv")
        if r["rule_id"] == "CONTACTS-REVIEW-3Y"
    }
    assert decisions[keep_id]["decision"] == "retain"
    next_due = D(decisions[keep_id]["due_date"])
    assert next_due > D(workflow["as_of"]) + timedelta(days=3 * 365 - 3)
    queued = {r["source_record_id"] for r in rows(tmp / "out2" / "review_queue.csv")}
    assert keep_id not in queued and delete_id not in queued
    # Rerunning again gives the same run: the decisions are part of the run's identity.
    third = _run(workflow["exports"], tmp / "out3", workflow["as_of"], db)
    assert third["run_id"] == second["run_id"]
    assert (tmp / "out3" / "decisions.csv").read_bytes() == (
        tmp / "out2" / "decisions.csv"
    ).read_bytes()


def test_reviewer_and_reason_are_in_the_audit_trail(workflow: dict[str, Any]) -> None:
    db, tmp = workflow["db"], workflow["tmp"]
    record = rows(tmp / "out1" / "review_queue.csv")[0]["source_record_id"]
    proc = governance(
        "review",
        "decide",
        record,
        "--keep",
        "--reason",
        "TICKET-7",
        "--reviewer",
        "a.auditor",
        "--db",
        db,
    )
    assert proc.returncode == 0, proc.stderr
    engine = engine_for(db)
    with engine.connect() as conn:
        event = conn.execute(select(AuditEvent).where(AuditEvent.kind == "review decided")).one()
        stored = conn.execute(select(ReviewDecision)).one()
    assert event.actor == "a.auditor"
    detail = json.loads(event.detail)
    assert (detail["record_id"], detail["decision"], detail["reason"]) == (
        record,
        "keep",
        "TICKET-7",
    )
    assert (stored.reviewer, stored.reason, stored.decision) == ("a.auditor", "TICKET-7", "keep")
    assert governance("audit", "verify", "--db", db).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["C-NOPE", "--delete"], "has no review due in the latest accepted export"),
        (["{record}", "--keep"], "a keep needs a reason"),
        (["{record}", "--keep", "--delete", "--reason", "x"], "choose one of --keep or --delete"),
        (["{record}"], "choose one of --keep or --delete"),
    ],
)
def test_bad_decisions_are_refused(workflow: dict[str, Any], args: list[str], message: str) -> None:
    db, tmp = workflow["db"], workflow["tmp"]
    record = rows(tmp / "out1" / "review_queue.csv")[0]["source_record_id"]
    proc = governance("review", "decide", *[a.format(record=record) for a in args], "--db", db)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    with engine_for(db).connect() as conn:
        assert conn.execute(select(ReviewDecision)).first() is None


def test_a_decision_takes_effect_from_the_day_it_was_taken(workflow: dict[str, Any]) -> None:
    """Reproducibility: a rerun for a date before the decision decides as it did then."""
    db, tmp = workflow["db"], workflow["tmp"]
    as_of = D(workflow["as_of"])
    record = rows(tmp / "out1" / "review_queue.csv")[0]["source_record_id"]
    later = datetime(as_of.year, as_of.month, as_of.day, 12, tzinfo=UTC) + timedelta(days=3)
    decide_review(engine_for(db), record, "delete", "dpo-team", "TICKET-1", now=later)
    before = _run(workflow["exports"], tmp / "before", as_of.isoformat(), db)
    assert before["run_id"] == workflow["first"]["run_id"]
    assert "review_decisions" not in before["exports"]["crm"]
    on = _run(workflow["exports"], tmp / "on", (as_of + timedelta(days=3)).isoformat(), db)
    assert on["exports"]["crm"]["review_decisions"]["applied"] == 1
