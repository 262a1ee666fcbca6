"""The DAGs run through Airflow itself (`dag.test()` on a throwaway SQLite home): the
ingestion → evaluation chain, the ad hoc review with its form, and the failure path."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

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
        "governance_monthly_report",
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
    # The monthly report DAG read the scheduled run back from the store.
    monthly = tmp_path / "af" / "outputs" / "monthly" / "2026-11"
    assert str(monthly / "governance_report_2026-11.html") in proc.stdout
    runs = (monthly / "runs.csv").read_text()
    assert audit["run_id"] in runs
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


def test_store_as_a_connection_and_locations_as_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLES, landing)
    store = tmp_path / "store" / "governance.db"
    store.parent.mkdir()
    outputs = tmp_path / "outputs_from_variable"
    monkeypatch.setenv("AIRFLOW_CONN_GOVERNANCE_DB", f"sqlite:///{store}")
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_LANDING_DIR", landing.as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_OUTPUT_DIR", str(outputs))
    proc = chain(tmp_path / "af")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "governance_retention: success" in proc.stdout
    audit = json.loads((outputs / "scheduled" / "2026-11-30" / "audit_report.json").read_text())
    assert {source: doc["file"] for source, doc in audit["exports"].items()} == {
        source: str(landing / f"{source}.csv") for source in ("crm", "hr", "recruitment")
    }
    with sqlite3.connect(store) as db:
        runs = db.execute("SELECT run_id, as_of, trigger_kind FROM runs").fetchall()
    assert runs == [(audit["run_id"], "2026-11-30", "scheduled")]
    # The Variable wins over $GOVERNANCE_OUTPUT_DIR, the connection over the default store.
    assert not (tmp_path / "af" / "outputs").exists()
    assert not (tmp_path / "af" / "governance_home" / "governance.db").exists()


def test_a_missing_export_fails_ingestion_naming_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "landing"
    empty.mkdir()
    monkeypatch.delenv("AIRFLOW_CONN_GOVERNANCE_DB", raising=False)
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_LANDING_DIR", str(empty))
    proc = chain(tmp_path / "af")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "governance_ingest_crm: failed" in output
    assert f"{empty}/crm.csv: no crm export for 2026-11-30 in the landing area" in output
    assert "governance_retention" not in proc.stdout
    # No store connection is configured: the fallback to the default store is silent.
    assert "governance_db" not in output and "AirflowNotFoundException" not in output


def test_retention_in_parts_on_several_mapped_tasks_matches_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large exports are shared between workers: with 100 rows per part the CRM export is
    decided by several mapped tasks, and the outputs are those of a plain `governance run`."""
    monkeypatch.setenv("GOVERNANCE_PARTITION_ROWS", "100")
    proc = chain(tmp_path / "af", "--landing", str(SAMPLES))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with sqlite3.connect(tmp_path / "af" / "airflow.db") as db:
        mapped = db.execute(
            "SELECT count(*) FROM task_instance WHERE dag_id = 'governance_retention' "
            "AND task_id = 'decide_part' AND state = 'success'"
        ).fetchone()[0]
        teardown = db.execute(
            "SELECT state FROM task_instance WHERE dag_id = 'governance_retention' "
            "AND task_id = 'remove_parts'"
        ).fetchall()
    assert teardown == [("success",)]
    assert mapped >= 5  # crm: 3 parts of ~100 rows, hr and recruitment at least one each
    scheduled = tmp_path / "af" / "outputs" / "scheduled" / "2026-11-30"
    assert not (scheduled / ".parts").exists()
    single = tmp_path / "single"
    args = [f"--{s}={SAMPLES / f'{s}.csv'}" for s in ("crm", "hr", "recruitment")]
    cli = subprocess.run(
        [
            *(sys.executable, "-m", "governance.cli", "run", *args, "--as-of", "2026-11-30"),
            *("--out", str(single), "--db", f"sqlite:///{tmp_path / 'single.db'}"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    for name in ("decisions.csv", "deletion_manifest.csv", "review_queue.csv", "quarantine.csv"):
        assert (scheduled / name).read_bytes() == (single / name).read_bytes(), name
