"""The DAGs run through Airflow itself (`dag.test()` on a throwaway SQLite home): the
ingestion → evaluation chain, the ad hoc review with its form, and the failure path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "include" / "sample_exports"


def chain(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "airflow_chain.py"), "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_ingestion_evaluation_and_adhoc_review_run_in_airflow(tmp_path: Path) -> None:
    proc = chain(tmp_path / "af", "--adhoc", "Data team", "TICKET-123")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for dag_id in (
        "governance_ingest_crm",
        "governance_ingest_hr",
        "governance_ingest_recruitment",
        "governance_retention",
        "governance_adhoc_review",
    ):
        assert f"{dag_id}: success" in proc.stdout
    scheduled = tmp_path / "af" / "outputs" / "scheduled" / "2026-11-30"
    audit = json.loads((scheduled / "audit_report.json").read_text())
    assert audit["trigger"] == {"kind": "scheduled", "dry_run": False}
    assert audit["status"] == "ok" and (scheduled / "deletion_manifest.csv").stat().st_size > 0
    (adhoc,) = (tmp_path / "af" / "outputs" / "adhoc").iterdir()
    adhoc_audit = json.loads((adhoc / "audit_report.json").read_text())
    assert adhoc_audit["trigger"]["kind"] == "ad hoc"
    assert adhoc_audit["trigger"]["requested_by"] == "Data team"
    assert adhoc_audit["trigger"]["reason"] == "TICKET-123"
    assert adhoc_audit["trigger"]["dry_run"] is True
    # Same exports and date: the ad hoc run decides exactly as the scheduled one did.
    assert (adhoc / "decisions.csv").read_bytes() == (scheduled / "decisions.csv").read_bytes()


def test_a_broken_export_stops_at_ingestion(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLES, landing)
    (landing / "hr.csv").write_text("person_id,created_at\nH1,2020-01-01\n")
    proc = chain(tmp_path / "af", "--landing", str(landing))
    assert proc.returncode == 1
    assert "governance_ingest_crm: success" in proc.stdout
    assert "governance_ingest_hr: failed" in proc.stdout
    assert "governance_retention" not in proc.stdout
    assert not (tmp_path / "af" / "outputs" / "scheduled").exists()
