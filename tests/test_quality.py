"""The data-quality gate: Great Expectations and the engine's quarantine agree row for row,
and the gate's scenarios end as the schedule says."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from governance.policy.engine import evaluate
from governance.policy.model import load_policy
from governance.quality.config import QualityConfig, load_quality_config
from governance.quality.expectations import build_expectations, validate_export
from governance.sample_data import write_sample_exports
from governance.sources.config import default_config
from governance.sources.reader import read_export
from tests.conftest import governance

AS_OF = date(2026, 11, 30)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every defect type of the sample generator, several times over."""
    return write_sample_exports(
        tmp_path_factory.mktemp("noisy"), rows=1500, seed=21, bad_share=0.04
    )


@pytest.mark.parametrize("source", ["crm", "hr", "recruitment"])
def test_gx_and_the_engine_agree_row_for_row(noisy: dict[str, Path], source: str) -> None:
    export = read_export(noisy[source], default_config(source))
    ev = evaluate(export.frame, source, load_policy().policy, AS_OF)
    report = validate_export(ev, export.frame, load_quality_config(), detail=True)
    rows = export.frame["source_row"].to_numpy()
    quarantined = set(ev.decisions.loc[ev.decisions["decision"] == "quarantine", "source_row"])
    assert len(quarantined) > 10
    explained: set[int] = set()
    expectations = {e.id: e for e in build_expectations(ev, export.frame, load_quality_config())}
    for result in report.results:
        assert result.agrees, result.id
        if result.severity != "block":
            continue
        assert result.unexpected_rows is not None
        engine_rows = np.zeros(ev.rows, dtype=bool)
        for cause in ev.causes:
            if cause.check in expectations[result.id].checks:
                engine_rows |= cause.mask
        # The same rows fail in Great Expectations as in the engine, check by check.
        assert set(result.unexpected_rows) == set(rows[engine_rows].tolist()), result.id
        explained |= set(result.unexpected_rows)
    # Every quarantined row is explained by a failed block expectation, and every row
    # failing one is quarantined.
    assert explained == quarantined
    failed = {r.id for r in report.results if r.severity == "block" and not r.success}
    assert len(failed) >= 4


def test_results_carry_no_personal_values(noisy: dict[str, Path]) -> None:
    export = read_export(noisy["crm"], default_config("crm"))
    ev = evaluate(export.frame, "crm", load_policy().policy, AS_OF)
    report = validate_export(ev, export.frame, load_quality_config(), detail=True)
    text = json.dumps([r.to_json() for r in report.results])
    frame = export.frame
    personal = set()
    for column in ("first_name", "last_name", "email", "phone"):
        personal |= {v for v in frame[column].dropna().tolist() if len(v) > 3}
    assert personal
    assert not [v for v in personal if v in text]


def test_warn_checks_report_but_decide_nothing(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path, rows=200, seed=4, bad_share=0)
    path = exports["crm"]
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    record = next(csv.reader([lines[1]]))
    record[header.index("email")] = "not an address"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerow(record)
        fh.writelines(lines[2:])
    export = read_export(path, default_config("crm"))
    ev = evaluate(export.frame, "crm", load_policy().policy, AS_OF)
    report = validate_export(ev, export.frame, load_quality_config())
    email = next(r for r in report.results if r.id == "warn:email")
    assert (email.severity, email.success, email.unexpected_count) == ("warn", False, 1)
    assert ev.quarantined_rows == 0
    assert report.blocked_reason() is None


def test_row_count_expectation_blocks_a_halved_export(noisy: dict[str, Path]) -> None:
    export = read_export(noisy["hr"], default_config("hr"))
    ev = evaluate(export.frame, "hr", load_policy().policy, AS_OF)
    config = QualityConfig()
    report = validate_export(ev, export.frame, config, previous_rows=ev.rows * 2 + 2)
    assert report.blocked_reason() is not None
    assert "row count at least" in report.blocked_reason()  # type: ignore[operator]
    fine = validate_export(ev, export.frame, config, previous_rows=ev.rows + 10)
    assert fine.blocked_reason() is None


# --- scenarios, through the command line ------------------------------------------------


def run(exports: dict[str, Path], out: Path, as_of: str = "2026-11-30") -> dict:  # type: ignore[type-arg]
    args = [f"--{s}={p}" for s, p in exports.items()]
    proc = governance("run", *args, "--as-of", as_of, "--out", str(out))
    audit: dict = json.loads((out / "audit_report.json").read_text())  # type: ignore[type-arg]
    audit["exit"] = proc.returncode
    audit["stderr"] = proc.stderr
    return audit


def manifest_sources(out: Path) -> set[str]:
    with open(out / "deletion_manifest.csv", newline="", encoding="utf-8") as fh:
        return {row["source_system"] for row in csv.DictReader(fh)}


def test_clean_export_passes_every_check(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "in", rows=300, seed=8, bad_share=0)
    audit = run(exports, tmp_path / "out")
    assert audit["exit"] == 0
    for source in ("crm", "hr", "recruitment"):
        results = audit["exports"][source]["data_quality"]
        assert results and all(r["success"] for r in results if r["severity"] != "warn"), source
        assert {"success", "unexpected_count", "unexpected_percent", "severity"} <= set(results[0])
    page = (tmp_path / "out" / "data_quality.html").read_text(encoding="utf-8")
    assert "Passed the gate" in page
    assert "http://" not in page and "https://" not in page  # readable offline


def test_one_broken_row_is_quarantined_and_the_rest_decided(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "in", rows=300, seed=8, bad_share=0)
    path = exports["recruitment"]
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(csv.reader([text[0]]))
    row = next(csv.reader([text[1]]))
    row[header.index("role")] = "interviewer"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerow(header)
        csv.writer(fh, lineterminator="\n").writerow(row)
        fh.writelines(text[2:])
    audit = run(exports, tmp_path / "out")
    assert audit["exit"] == 0
    rec = audit["exports"]["recruitment"]
    assert rec["rows_quarantined"] == 1 and rec["status"] == "ok"
    role = next(r for r in rec["data_quality"] if r["id"].startswith("in_set:role"))
    assert (role["success"], role["unexpected_count"]) == (False, 1)
    assert "recruitment" in manifest_sources(tmp_path / "out")


def test_ten_percent_broken_rows_block_the_export(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "in", rows=300, seed=8)
    exports["crm"] = write_sample_exports(tmp_path / "bad", rows=300, seed=8, bad_share=0.1)["crm"]
    audit = run(exports, tmp_path / "out")
    assert audit["exit"] == 3
    assert audit["exports"]["crm"]["status"] == "blocked"
    assert "crm" not in manifest_sources(tmp_path / "out")
    assert manifest_sources(tmp_path / "out") == {"hr", "recruitment"}


def test_an_export_with_half_the_rows_of_the_previous_one_is_blocked(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "in", rows=400, seed=8)
    first = run(exports, tmp_path / "day1", as_of="2026-11-30")
    assert first["exit"] == 0
    half = tmp_path / "half" / "hr.csv"
    half.parent.mkdir()
    lines = exports["hr"].read_text(encoding="utf-8").splitlines(keepends=True)
    half.write_text("".join(lines[: 1 + (len(lines) - 1) // 2 - 2]), encoding="utf-8")
    second = run({**exports, "hr": half}, tmp_path / "day2", as_of="2026-12-01")
    assert second["exit"] == 3
    assert "row count at least" in second["exports"]["hr"]["blocked_reason"]
    assert "hr" not in manifest_sources(tmp_path / "day2")
    assert second["exports"]["crm"]["status"] == "ok"


def test_a_missing_column_blocks_with_the_column_named(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "in", rows=300, seed=8)
    path = exports["hr"]
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    drop = rows[0].index("person_type")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(r[:drop] + r[drop + 1 :] for r in rows)
    audit = run(exports, tmp_path / "out")
    assert audit["exit"] == 3
    hr = audit["exports"]["hr"]
    assert "'person_type'" in hr["blocked_reason"]
    assert hr["data_quality"][0]["success"] is False
    assert "person_type" in hr["data_quality"][0]["description"]
    page = (tmp_path / "out" / "data_quality.html").read_text(encoding="utf-8")
    assert "Blocked:" in page and "person_type" in page


def test_validate_prints_the_checks_and_exits_by_the_gate(tmp_path: Path) -> None:
    good = write_sample_exports(tmp_path / "good", rows=200, seed=2)["hr"]
    proc = governance("validate", "--source", "hr", str(good), "--as-of", "2026-11-30")
    assert proc.returncode == 0, proc.stderr
    assert "person_id is unique" in proc.stdout and "passes the gate" in proc.stdout
    bad = write_sample_exports(tmp_path / "bad", rows=200, seed=2, bad_share=0.2)["hr"]
    proc = governance("validate", "--source", "hr", str(bad), "--as-of", "2026-11-30")
    assert proc.returncode == 3
    assert "hr blocked:" in proc.stderr
