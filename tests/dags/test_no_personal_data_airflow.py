"""No personal data in what Airflow keeps of the governance DAGs: the chain of
`scripts/airflow_chain.py` (`dag.test()` of ingestion, retention, the monthly report and an
ad hoc review) runs on generated exports with Airflow logging at DEBUG, and its output (where
`dag.test()` writes the task logs), the task log files under AIRFLOW_HOME, the XComs and the
rest of its metadata database, the governance store and every output file are searched for
the names, e-mails and phone numbers of the exports.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from governance.sample_data import write_sample_exports
from tests.test_no_personal_data import (
    Personal,
    assert_clean,
    bad_inputs,
    files_under,
    personal_values,
    text_of,
)

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ROOT / "scripts" / "airflow_chain.py"

VERBOSE = """
import os, runpy, sys
level, chain = sys.argv[1:3]
update = os.environ.update
def verbose(*args, **kwargs):  # the chain sets its own (quiet) logging level: raise it
    update(*args, **kwargs)
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = level
os.environ.update = verbose
sys.argv = [chain, *sys.argv[3:]]
runpy.run_path(chain, run_name="__main__")
"""
"""`scripts/airflow_chain.py` with Airflow's logging at the level given."""


def chain(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", VERBOSE, "DEBUG", str(CHAIN), "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def xcoms(home: Path) -> list[str]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute("SELECT dag_id, task_id, value FROM xcom").fetchall()
    return [f"{dag}.{task}: {value!s}" for dag, task, value in rows]


def assert_airflow_keeps_nothing_personal(
    home: Path, proc: subprocess.CompletedProcess[str], personal: Personal
) -> list[str]:
    assert_clean(personal, "the chain's stdout (task logs)", proc.stdout)
    assert_clean(personal, "the chain's stderr", proc.stderr)
    kept = xcoms(home)
    for value in kept:
        assert_clean(personal, f"XCom {value[:80]}", value)
    for path in files_under(home):  # logs, airflow.db, the store, every output
        assert_clean(personal, str(path.relative_to(home)), text_of(path))
    return kept


def test_airflow_logs_xcoms_and_outputs_hold_no_personal_data(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "exports", rows=300, seed=406)
    bad = bad_inputs(exports, tmp_path / "bad")
    landing = tmp_path / "landing"
    landing.mkdir()
    # Misplaced personal values (quarantined, the export still passes) go all the way.
    shutil.copy(bad["misplaced"][1], landing / "crm.csv")
    shutil.copy(exports["hr"], landing / "hr.csv")
    shutil.copy(bad["linked_by_email"][1], landing / "recruitment.csv")
    personal = personal_values(exports.values())
    home = tmp_path / "af"
    proc = chain(home, "--landing", str(landing), "--adhoc", "Data team", "TICKET-9")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "governance_adhoc_review: success" in proc.stdout
    assert proc.stdout.count("\n") > 1000  # DEBUG: the task logs are all there
    kept = assert_airflow_keeps_nothing_personal(home, proc, personal)
    assert any("governance_retention" in x for x in kept)
    assert any("governance_ingest_crm" in x for x in kept)
    assert (home / "outputs" / "scheduled" / "2026-11-30" / "quarantine.csv").is_file()


def test_failed_ingestion_logs_hold_no_personal_data(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "exports", rows=300, seed=407)
    noisy = write_sample_exports(tmp_path / "noisy", rows=300, seed=408, bad_share=0.2)
    bad = bad_inputs(exports, tmp_path / "bad")
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copy(bad["latin1"][1], landing / "crm.csv")  # cannot be read
    shutil.copy(bad["missing_column"][1], landing / "hr.csv")  # cannot be read
    shutil.copy(noisy["recruitment"], landing / "recruitment.csv")  # blocked by the gate
    personal = personal_values([*exports.values(), *noisy.values()])
    home = tmp_path / "af"
    proc = chain(home, "--landing", str(landing))
    assert proc.returncode == 1
    for source in ("crm", "hr", "recruitment"):
        assert f"governance_ingest_{source}: failed" in proc.stdout
    output = proc.stdout + proc.stderr
    assert "not valid utf-8" in output and "required column missing" in output
    assert "rows quarantined" in output
    assert "Traceback" in output  # the failures are logged in full, causes included
    assert_airflow_keeps_nothing_personal(home, proc, personal)
