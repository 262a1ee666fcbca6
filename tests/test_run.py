"""`governance run` end to end: outputs, exit codes, the gate, determinism, privacy."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from governance.policy.model import DEFAULT_POLICY
from governance.sample_data import write_sample_exports
from tests.conftest import governance

AS_OF = "2026-11-30"
OUTPUTS = (
    "decisions.csv",
    "deletion_manifest.csv",
    "review_queue.csv",
    "consent_actions.csv",
    "quarantine.csv",
)


def run(exports: dict[str, Path], out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [f"--{source}={path}" for source, path in exports.items()]
    return governance("run", *args, "--as-of", AS_OF, "--out", str(out), *extra)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_sample_exports(tmp_path_factory.mktemp("exports"), rows=400, seed=11)


@pytest.fixture(scope="module")
def first_run(exports: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    proc = run(exports, out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_writes_every_output_with_the_contracted_columns(first_run: Path) -> None:
    for name in (*OUTPUTS, "deletion_manifest.csv.sha256", "audit_report.json"):
        assert (first_run / name).is_file(), name
    header = cells(first_run / "decisions.csv")[0]
    assert header[:5] == ["source_system", "source_record_id", "rule_id", "decision", "due_date"]
    manifest_header = cells(first_run / "deletion_manifest.csv")[0]
    assert manifest_header == [
        "source_system",
        "source_record_id",
        "rule_id",
        "trigger_date",
        "due_date",
        "run_id",
        "policy_version",
    ]
    quarantine_header = cells(first_run / "quarantine.csv")[0]
    assert quarantine_header == [
        "source_system",
        "source_record_id",
        "source_row",
        "field",
        "reason",
    ]


def test_manifest_is_exactly_the_delete_decisions(first_run: Path) -> None:
    decisions = rows(first_run / "decisions.csv")
    manifest = rows(first_run / "deletion_manifest.csv")
    deletes = [
        (d["source_system"], d["source_record_id"], d["rule_id"], d["due_date"])
        for d in decisions
        if d["decision"] == "delete"
    ]
    assert deletes
    assert [
        (m["source_system"], m["source_record_id"], m["rule_id"], m["due_date"]) for m in manifest
    ] == deletes
    audit = json.loads((first_run / "audit_report.json").read_text())
    assert {m["run_id"] for m in manifest} == {audit["run_id"]}
    assert {m["policy_version"] for m in manifest} == {audit["policy"]["version"]}
    assert all(m["due_date"] <= AS_OF for m in manifest)


def test_each_quarantined_record_has_one_decision_row_and_no_rule(first_run: Path) -> None:
    decisions = rows(first_run / "decisions.csv")
    quarantined = [d for d in decisions if d["decision"] == "quarantine"]
    assert quarantined
    assert all(d["rule_id"] == "" and d["reason"] for d in quarantined)
    keys = [(d["source_system"], d["source_row"]) for d in quarantined]
    assert len(keys) == len(set(keys))
    q_rows = {
        (d["source_system"], d["source_row"]) for d in decisions if d["decision"] != "quarantine"
    }
    assert not set(keys) & q_rows
    listed = {(q["source_system"], q["source_row"]) for q in rows(first_run / "quarantine.csv")}
    assert listed == set(keys)


def test_manifest_checksum_and_audit_agree(first_run: Path) -> None:
    data = (first_run / "deletion_manifest.csv").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert (first_run / "deletion_manifest.csv.sha256").read_text() == (
        f"{digest}  deletion_manifest.csv\n"
    )
    audit = json.loads((first_run / "audit_report.json").read_text())
    assert audit["manifest"]["sha256"] == digest
    assert audit["status"] == "ok"
    for source in ("crm", "hr", "recruitment"):
        export = audit["exports"][source]
        assert export["status"] == "ok"
        assert export["rows_read"] > 0
        assert len(export["sha256"]) == 64
        assert sum(sum(c.values()) for c in export["decisions"].values()) >= export["rows_read"]
    assert audit["assumptions"][0]["rule_id"] == "EMPLOYEE-HANDBOOK-6Y"


def test_review_and_consent_lists_match_decisions(first_run: Path) -> None:
    decisions = rows(first_run / "decisions.csv")
    review = rows(first_run / "review_queue.csv")
    consent = rows(first_run / "consent_actions.csv")
    assert len(review) == sum(d["decision"] == "review" for d in decisions) > 0
    assert (
        len(consent)
        == sum(d["decision"] in ("renew_consent", "consent_expired") for d in decisions)
        > 0
    )
    assert {c["decision"] for c in consent} == {"renew_consent", "consent_expired"}


def test_same_inputs_give_byte_identical_outputs(
    exports: dict[str, Path], first_run: Path, tmp_path: Path
) -> None:
    proc = run(exports, tmp_path / "again")
    assert proc.returncode == 0
    for name in (*OUTPUTS, "deletion_manifest.csv.sha256"):
        assert (tmp_path / "again" / name).read_bytes() == (first_run / name).read_bytes(), name
    a = json.loads((first_run / "audit_report.json").read_text())
    b = json.loads((tmp_path / "again" / "audit_report.json").read_text())
    for doc in (a, b):
        doc.pop("started_at")
        doc.pop("finished_at")
    assert a == b


def test_run_id_changes_with_as_of(
    exports: dict[str, Path], first_run: Path, tmp_path: Path
) -> None:
    args = [f"--{s}={p}" for s, p in exports.items()]
    proc = governance("run", *args, "--as-of", "2026-12-01", "--out", str(tmp_path / "o"))
    assert proc.returncode == 0
    a = json.loads((first_run / "audit_report.json").read_text())["run_id"]
    b = json.loads((tmp_path / "o" / "audit_report.json").read_text())["run_id"]
    assert a != b and b.startswith("20261201-")


def test_no_personal_data_in_any_output(exports: dict[str, Path], first_run: Path) -> None:
    personal: set[str] = set()
    for path in exports.values():
        for row in rows(path):
            for name in ("first_name", "last_name", "email", "phone"):
                if row[name].strip():
                    personal.add(row[name].strip())
    assert len(personal) > 100
    for name in OUTPUTS:
        found = {cell for row in cells(first_run / name) for cell in row}
        assert not found & personal, name
    audit_text = (first_run / "audit_report.json").read_text()
    assert not [v for v in personal if "@" in v and v.lower() in audit_text.lower()]


def test_a_broken_export_is_blocked_and_the_others_complete(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "in", rows=300, seed=3)
    noisy = write_sample_exports(tmp_path / "noisy", rows=300, seed=3, bad_share=0.12)
    exports["hr"] = noisy["hr"]
    proc = run(exports, tmp_path / "out")
    assert proc.returncode == 3
    assert "hr blocked:" in proc.stderr
    audit = json.loads((tmp_path / "out" / "audit_report.json").read_text())
    assert audit["status"] == "blocked" and audit["blocked_exports"] == ["hr"]
    assert "rows quarantined" in audit["exports"]["hr"]["blocked_reason"]
    manifest = rows(tmp_path / "out" / "deletion_manifest.csv")
    assert {m["source_system"] for m in manifest} == {"crm", "recruitment"}
    decisions = rows(tmp_path / "out" / "decisions.csv")
    hr = [d for d in decisions if d["source_system"] == "hr"]
    assert hr and {d["export_status"] for d in hr} == {"blocked"}
    assert any(d["decision"] == "delete" for d in hr)  # decided, but not in the manifest


def test_an_unreadable_export_is_blocked_with_its_one_line_reason(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "in", rows=300, seed=5)
    broken = tmp_path / "recruitment.csv"
    with open(broken, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        for row in cells(exports["recruitment"]):
            writer.writerow(row[:1] + row[2:])  # drop the `role` column
    exports["recruitment"] = broken
    proc = run(exports, tmp_path / "out")
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    audit = json.loads((tmp_path / "out" / "audit_report.json").read_text())
    reason = audit["exports"]["recruitment"]["blocked_reason"]
    assert reason == f"{broken}, column 'role': required column missing: 'role'"
    assert audit["exports"]["crm"]["status"] == "ok"
    assert {m["source_system"] for m in rows(tmp_path / "out" / "deletion_manifest.csv")} == {
        "crm",
        "hr",
    }


def test_xlsx_and_csv_give_the_same_decisions(tmp_path: Path) -> None:
    csvs = write_sample_exports(tmp_path / "csv", rows=200, seed=9)
    xlsxs = write_sample_exports(tmp_path / "xlsx", rows=200, seed=9, fmt="xlsx")
    assert run(csvs, tmp_path / "a").returncode == 0
    assert run(xlsxs, tmp_path / "b").returncode == 0
    for name in ("decisions.csv", "review_queue.csv", "consent_actions.csv", "quarantine.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_configuration_errors_exit_2_and_write_nothing(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    bad_policy = tmp_path / "policy.yaml"
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["rules"][0]["period"] = {"years": -1}
    bad_policy.write_text(yaml.safe_dump(policy))
    out = tmp_path / "out"
    proc = run(exports, out, "--policy", str(bad_policy))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {bad_policy}: rules.0.period.years: Input should be greater than or equal to 0"
    ]
    assert not out.exists()
    proc = governance("run", f"--crm={exports['crm']}", "--as-of", "30/11/2026", "--out", str(out))
    assert proc.returncode == 2
    assert not out.exists()


def test_a_changed_period_is_recorded_with_its_version(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["version"] = "test-12m"
    for rule in policy["rules"]:
        if rule["id"] == "CANDIDATE-6M":
            rule["period"] = {"months": 12}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    proc = run({"recruitment": exports["recruitment"]}, tmp_path / "out", "--policy", str(path))
    assert proc.returncode == 0
    audit = json.loads((tmp_path / "out" / "audit_report.json").read_text())
    assert audit["policy"]["version"] == "test-12m"
    assert audit["policy"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    for m in rows(tmp_path / "out" / "deletion_manifest.csv"):
        if m["rule_id"] == "CANDIDATE-6M":
            trigger = m["trigger_date"]
            assert m["due_date"] == f"{int(trigger[:4]) + 1}{trigger[4:]}" or trigger[5:] == "02-29"


def test_the_audit_report_reads_as_a_page(exports: dict[str, Path], first_run: Path) -> None:
    page = (first_run / "audit_report.html").read_text(encoding="utf-8")
    audit = json.loads((first_run / "audit_report.json").read_text())
    assert audit["run_id"] in page and audit["manifest"]["sha256"] in page
    assert "http://" not in page and "https://" not in page  # self-contained, offline
    for rule in ("CUST-CONTACT-7Y", "CANDIDATE-6M", "EMPLOYEE-HANDBOOK-6Y"):
        assert rule in page
    assert "Assumptions of the policy" in page and "Staff Handbook" in page
    emails = {
        r["email"].strip().lower() for p in exports.values() for r in rows(p) if "@" in r["email"]
    }
    for name in ("audit_report.html", "data_quality.html"):
        text = (first_run / name).read_text(encoding="utf-8").lower()
        assert not [e for e in emails if e in text], name


def test_a_dry_run_does_not_stand_in_for_the_real_run(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    """A dry run of the day's exports first, then the scheduled run: both are recorded,
    and only the real one's manifest is kept to act on."""
    import sqlite3

    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert run(exports, tmp_path / "dry", "--db", db, "--dry-run").returncode == 0
    assert run(exports, tmp_path / "real", "--db", db).returncode == 0
    dry = json.loads((tmp_path / "dry" / "audit_report.json").read_text())
    real = json.loads((tmp_path / "real" / "audit_report.json").read_text())
    assert dry["run_id"] != real["run_id"]
    with sqlite3.connect(tmp_path / "store.db") as conn:
        recorded = dict(conn.execute("SELECT run_id, dry_run FROM runs").fetchall())
        items = dict(
            conn.execute("SELECT run_id, count(*) FROM manifest_items GROUP BY run_id").fetchall()
        )
    assert recorded == {dry["run_id"]: 1, real["run_id"]: 0}
    assert items == {real["run_id"]: real["manifest"]["rows"]}


def test_a_changed_policy_under_the_same_version_is_refused(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    """A manifest names its policy by version: one version must be one set of rules."""
    db = f"sqlite:///{tmp_path / 'g.db'}"
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    first = run({"hr": exports["hr"]}, tmp_path / "a", "--policy", str(path), "--db", db)
    assert first.returncode == 0, first.stderr
    policy["gate"]["max_quarantined_share"] = 0.2  # changed, version kept
    path.write_text(yaml.safe_dump(policy))
    proc = run({"hr": exports["hr"]}, tmp_path / "b", "--policy", str(path), "--db", db)
    assert proc.returncode == 2
    assert "was recorded with other content" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("error:") == 1
    assert "read hr" not in proc.stderr  # refused before any export is read
    assert not (tmp_path / "b" / "deletion_manifest.csv").exists()
    parts = run(
        {"hr": exports["hr"]}, tmp_path / "p", "--policy", str(path), "--db", db,
        "--partitions", "2",
    )  # fmt: skip
    assert parts.returncode == 2 and "was recorded with other content" in parts.stderr
    policy["version"] = "2021.05.25-test"
    path.write_text(yaml.safe_dump(policy))
    bumped = run({"hr": exports["hr"]}, tmp_path / "c", "--policy", str(path), "--db", db)
    assert bumped.returncode == 0, bumped.stderr
