"""Proof of disposition: manifested records are confirmed deleted when a later accepted
export no longer holds them, and overdue while they are still there after the grace."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from governance.sample_data import write_sample_exports
from governance.store.db import engine_for
from governance.store.models import AuditEvent
from tests.conftest import governance, rows, write_rows


def run(exports: dict[str, Path], out: Path, as_of: str, db: str) -> str:
    args = [f"--{s}={p}" for s, p in exports.items()]
    proc = governance("run", *args, "--as-of", as_of, "--out", str(out), "--db", db)
    assert proc.returncode in (0, 3), proc.stderr
    return proc.stderr


def dispositions(tmp_path: Path, db: str, status: str | None = None) -> list[dict[str, str]]:
    """`governance disposition list` as rows."""
    listing = tmp_path / f"dispositions-{status or 'all'}.csv"
    extra = ["--status", status] if status else []
    proc = governance("disposition", "list", *extra, "--out", str(listing), "--db", db)
    assert proc.returncode == 0, proc.stderr
    return rows(listing)


def with_changes(path: Path, out: Path, changes: dict[str, dict[str, str]]) -> Path:
    """A copy of the export at `path` with some records' fields changed."""
    records = [{**r, **changes.get(r["record_id"], {})} for r in rows(path)]
    write_rows(out, records)
    return out


def test_deletions_are_confirmed_then_overdue(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    exports = write_sample_exports(tmp_path / "day1", rows=300, seed=6)
    run(exports, tmp_path / "out1", "2026-11-30", db)
    manifest = rows(tmp_path / "out1" / "deletion_manifest.csv")
    crm_deleted = {m["source_record_id"] for m in manifest if m["source_system"] == "crm"}
    assert len(crm_deleted) > 20

    # The CRM system deleted half of what the manifest asked for.
    done = set(sorted(crm_deleted)[: len(crm_deleted) // 2])
    kept = [r for r in rows(exports["crm"]) if r["record_id"] not in done]
    day2 = dict(exports)
    day2["crm"] = tmp_path / "crm_day2.csv"
    write_rows(day2["crm"], kept)
    log = run(day2, tmp_path / "out2", "2026-12-05", db)
    assert f"crm: {len(done):,} earlier deletions confirmed, 0 overdue" in log

    listing = tmp_path / "confirmed.csv"
    proc = governance(
        "disposition", "list", "--status", "confirmed", "--out", str(listing), "--db", db
    )
    assert proc.returncode == 0
    confirmed = rows(listing)
    assert {r["record_id"] for r in confirmed if r["source"] == "crm"} == done
    assert set(confirmed[0]) == {
        "source",
        "record_id",
        "rule_id",
        "status",
        "manifest_run_id",
        "manifested_on",
        "due_date",
        "seen_on",
    }
    assert {r["seen_on"] for r in confirmed} == {"2026-12-05"}

    # Five weeks on, the rest of the first manifest is still there: overdue.
    run(day2, tmp_path / "out3", "2027-01-05", db)
    listing = tmp_path / "overdue.csv"
    governance("disposition", "list", "--status", "overdue", "--out", str(listing), "--db", db)
    overdue = {r["record_id"] for r in rows(listing) if r["source"] == "crm"}
    assert crm_deleted - done <= overdue
    assert not overdue & done
    verify = governance("audit", "verify", "--db", db)
    assert verify.returncode == 0


def test_a_blocked_export_proves_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    exports = write_sample_exports(tmp_path / "day1", rows=300, seed=6)
    run(exports, tmp_path / "out1", "2026-11-30", db)
    # Day 2's HR export is broken (a third of its rows bad): absent records prove nothing.
    broken = write_sample_exports(tmp_path / "bad", rows=300, seed=77, bad_share=0.3)
    day2 = {**exports, "hr": broken["hr"]}
    log = run(day2, tmp_path / "out2", "2026-12-05", db)
    assert not [
        line for line in log.splitlines() if line.startswith("hr: ") and "confirmed" in line
    ]
    assert "hr blocked" in log
    listing = tmp_path / "all.csv"
    governance("disposition", "list", "--out", str(listing), "--db", db)
    assert not [r for r in rows(listing) if r["source"] == "hr"]


def test_records_no_longer_due_for_deletion_are_not_overdue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record put on legal hold after it was manifested, or whose deletion a review in the
    CRM cancelled, is still in the export but must be kept: it is not overdue."""
    db = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("GOVERNANCE_REVIEWER", "dpo-team")
    exports = write_sample_exports(tmp_path / "day1", rows=300, seed=11)
    # A reviewer's decision applies from the day it is taken: run as of today or later.
    day1 = max(date(2026, 11, 30), datetime.now(ZoneInfo("Europe/London")).date())
    run(exports, tmp_path / "out1", day1.isoformat(), db)
    crm = rows(exports["crm"])
    held = {r["record_id"] for r in crm if r["legal_hold"] == "Y"}
    queue = rows(tmp_path / "out1" / "review_queue.csv")
    reviewed = next(r["source_record_id"] for r in queue if r["source_record_id"] not in held)
    proc = governance("review", "decide", reviewed, "--delete", "--db", db)
    assert proc.returncode == 0, proc.stderr

    day2 = day1 + timedelta(days=1)
    run(exports, tmp_path / "out2", day2.isoformat(), db)
    manifest = [m for m in rows(tmp_path / "out2" / "deletion_manifest.csv")]
    crm_due = {
        (m["source_record_id"], m["rule_id"]) for m in manifest if m["source_system"] == "crm"
    }
    assert (reviewed, "CONTACTS-REVIEW-3Y") in crm_due
    on_hold = next(i for i, rule in sorted(crm_due) if rule != "CONTACTS-REVIEW-3Y")

    # Since: the record was reviewed in the CRM, and another one put on legal hold.
    stamp = f"{day2.isoformat()}T09:00:00Z"
    later = dict(exports)
    later["crm"] = with_changes(
        exports["crm"],
        tmp_path / "crm_later.csv",
        {reviewed: {"last_reviewed_at": stamp}, on_hold: {"legal_hold": "Y"}},
    )
    day3 = day2 + timedelta(days=40)
    run(later, tmp_path / "out3", day3.isoformat(), db)
    today = {
        (d["source_record_id"], d["rule_id"]): d["decision"]
        for d in rows(tmp_path / "out3" / "decisions.csv")
        if d["source_system"] == "crm"
    }
    assert today[(reviewed, "CONTACTS-REVIEW-3Y")] == "retain"
    assert {today[k] for k in crm_due if k[0] == on_hold} == {"hold"}

    overdue = {
        (r["record_id"], r["rule_id"])
        for r in dispositions(tmp_path, db, "overdue")
        if r["source"] == "crm"
    }
    still_due = {k for k in crm_due if today.get(k) == "delete"}
    assert overdue == still_due
    assert reviewed not in {i for i, _ in overdue}
    assert on_hold not in {i for i, _ in overdue}
    assert not dispositions(tmp_path, db, "confirmed")


def test_a_backdated_run_leaves_dispositions_untouched(tmp_path: Path, store_url: str) -> None:
    db = store_url
    exports = write_sample_exports(tmp_path / "day1", rows=300, seed=6)
    run(exports, tmp_path / "out1", "2026-11-30", db)
    manifest = rows(tmp_path / "out1" / "deletion_manifest.csv")
    crm_deleted = sorted({m["source_record_id"] for m in manifest if m["source_system"] == "crm"})
    # Five weeks on nothing was deleted: everything manifested is overdue.
    run(exports, tmp_path / "out2", "2027-01-05", db)
    before = dispositions(tmp_path, db)
    assert {r["status"] for r in before} == {"overdue"}
    assert {r["record_id"] for r in before if r["source"] == "crm"} == set(crm_deleted)

    # A run as of an earlier day (a late rerun), on an export lacking some of them,
    # confirms nothing and recounts nothing: a later export already showed them present.
    gone = set(crm_deleted[::2])
    back = dict(exports)
    back["crm"] = tmp_path / "crm_back.csv"
    write_rows(back["crm"], [r for r in rows(exports["crm"]) if r["record_id"] not in gone])
    log = run(back, tmp_path / "out3", "2026-12-20", db)
    assert "earlier deletions confirmed" not in log
    assert sorted(map(sorted, map(dict.items, dispositions(tmp_path, db)))) == sorted(
        map(sorted, map(dict.items, before))
    )
    assert governance("audit", "verify", "--db", db).returncode == 0

    # The next run in order checks again as usual.
    log = run(back, tmp_path / "out4", "2027-01-06", db)
    pairs = {(m["source_record_id"], m["rule_id"]) for m in manifest if m["source_system"] == "crm"}
    confirmed = {k for k in pairs if k[0] in gone}
    assert f"crm: {len(confirmed):,} earlier deletions confirmed" in log


def test_a_record_manifested_by_several_runs_counts_once(tmp_path: Path, store_url: str) -> None:
    db = store_url
    exports = write_sample_exports(tmp_path / "day1", rows=300, seed=6)
    # Daily runs: what is due stays due, so each manifest lists the same records again.
    for day in ("2026-11-30", "2026-12-01", "2026-12-02"):
        run(exports, tmp_path / f"out-{day}", day, db)
    first: dict[tuple[str, str], str] = {}
    for day in ("2026-12-02", "2026-12-01", "2026-11-30"):
        for m in rows(tmp_path / f"out-{day}" / "deletion_manifest.csv"):
            if m["source_system"] == "crm":
                first[(m["source_record_id"], m["rule_id"])] = day
    crm_due = set(first)
    done = set(sorted({i for i, _ in crm_due})[::2])
    confirmed = {k for k in crm_due if k[0] in done}
    left = crm_due - confirmed

    later = dict(exports)
    later["crm"] = tmp_path / "crm_later.csv"
    write_rows(later["crm"], [r for r in rows(exports["crm"]) if r["record_id"] not in done])
    log = run(later, tmp_path / "out4", "2027-01-05", db)
    assert f"crm: {len(confirmed):,} earlier deletions confirmed, {len(left):,} overdue" in log
    with engine_for(db).connect() as conn:
        events = conn.execute(
            select(AuditEvent.kind, AuditEvent.detail).where(AuditEvent.kind.like("deletion %"))
        ).all()
    crm_events = {
        kind: json.loads(detail)["records"]
        for kind, detail in events
        if json.loads(detail)["source"] == "crm"
    }
    assert crm_events == {"deletion confirmed": len(confirmed), "deletion overdue": len(left)}

    # One row per record and rule, on its earliest manifest.
    listed = [r for r in dispositions(tmp_path, db) if r["source"] == "crm"]
    assert len(listed) == len(crm_due)
    assert {
        (r["record_id"], r["rule_id"]) for r in listed if r["status"] == "confirmed"
    } == confirmed
    assert {(r["record_id"], r["rule_id"]) for r in listed if r["status"] == "overdue"} == left
    assert {(r["record_id"], r["rule_id"]): r["manifested_on"] for r in listed} == first

    # The later manifests of the confirmed records are settled with them: the next run
    # confirms nothing again.
    log = run(later, tmp_path / "out5", "2027-01-06", db)
    assert "crm: 0 earlier deletions confirmed" in log
    assert f"{len(left):,} overdue" in log
    assert len([r for r in dispositions(tmp_path, db) if r["source"] == "crm"]) == len(crm_due)
