"""Proof of disposition: manifested records are confirmed deleted when a later accepted
export no longer holds them, and overdue while they are still there after the grace."""

from __future__ import annotations

from pathlib import Path

from governance.sample_data import write_sample_exports
from tests.conftest import governance, rows, write_rows


def run(exports: dict[str, Path], out: Path, as_of: str, db: str) -> str:
    args = [f"--{s}={p}" for s, p in exports.items()]
    proc = governance("run", *args, "--as-of", as_of, "--out", str(out), "--db", db)
    assert proc.returncode in (0, 3), proc.stderr
    return proc.stderr


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
