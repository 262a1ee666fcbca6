"""No formula injection out: every CSV written for people neutralises the cells a
spreadsheet would execute, and the deletion manifest only ever carries exact ids."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from governance.errors import GovernanceError
from governance.outputs import tables
from governance.outputs.safe_cells import (
    formula_mask,
    looks_like_formula,
    neutralise_cell,
    neutralise_frame,
    neutralise_table,
)
from governance.policy.engine import evaluate
from governance.policy.model import load_policy
from governance.quality.config import load_quality_config
from governance.quality.expectations import validate_export
from governance.sample_data import write_sample_exports
from governance.sources.config import default_config
from governance.sources.reader import read_export
from tests.conftest import csv_text, default_header, governance
from tests.engine_helpers import complete_rows

EXECUTABLE = [
    "=1+1",
    '=HYPERLINK("http://evil.example","click")',
    "@SUM(A1:A9)",
    "+A1",
    "-A1",
    "-2+3+cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "=cmd|' /C calc'!A0",
    "\t=1+1",
    "\t-12",
    "\r=1+1",
    " =1+1",
    "\n@SUM(A1)",
    "-12\n=1",
    "-1e5",
]
LEFT_ALONE = [
    "+44 20 7946 0000",
    "+44 (0)7700 900123",
    "01242 580654",
    "-12",
    "-12.50",
    "-1,234.5",
    "+1-2",
    "-",
    "2026-11-30",
    "2026-11-30T10:00:00Z",
    "CRM-0000042",
    "O'Brien",
    "a@b.example",
    "x=1",
    "retention ended 7 years after contract_end_date",
    "",
]


@pytest.mark.parametrize("value", EXECUTABLE)
def test_cells_a_spreadsheet_would_execute_get_an_apostrophe(value: str) -> None:
    assert looks_like_formula(value)
    assert neutralise_cell(value) == "'" + value
    assert not looks_like_formula(neutralise_cell(value))


@pytest.mark.parametrize("value", LEFT_ALONE)
def test_phone_numbers_plain_numbers_and_dates_are_left_alone(value: str) -> None:
    assert not looks_like_formula(value)
    assert neutralise_cell(value) == value


CELLS = st.text(alphabet=st.sampled_from(list("=+-@ \t\r\n0123456789().,/aZ|'!:;%e")), max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(CELLS, min_size=1, max_size=40))
def test_arrow_and_python_apply_the_same_rule(values: list[str]) -> None:
    """The engine tests ids with Arrow, outputs and Great Expectations with Python's `re`."""
    expected = [looks_like_formula(v) for v in values]
    assert formula_mask(pa.array(values)).tolist() == expected
    assert formula_mask(pa.array(values, pa.large_string())).tolist() == expected
    fixed = neutralise_table(pa.table({"cell": values})).column("cell").to_pylist()
    assert fixed == [neutralise_cell(v) for v in values]
    frame = neutralise_frame(pd.DataFrame({"cell": values, "n": range(len(values))}))
    assert frame["cell"].tolist() == fixed


def test_nothing_to_neutralise_returns_the_same_objects() -> None:
    table = pa.table({"a": LEFT_ALONE, "b": list(range(len(LEFT_ALONE)))})
    assert neutralise_table(table) is table
    frame = pd.DataFrame(
        {
            "text": pd.Series(LEFT_ALONE, dtype="str"),
            "category": pd.Categorical([*LEFT_ALONE[:-1], None]),
            "number": np.arange(len(LEFT_ALONE)) - 5,
            "when": pd.date_range("2026-11-01", periods=len(LEFT_ALONE)),
        }
    )
    assert neutralise_frame(frame) is frame


def test_frames_keep_missing_values_numbers_and_dates() -> None:
    frame = pd.DataFrame(
        {
            "who": ["=cmd", None, "ok"],
            "kind": pd.Categorical(["@x", "b", "@x"]),
            "n": [-1, 2, 3],
            "on": [date(2026, 11, 30), None, date(2026, 1, 1)],
        }
    )
    text = neutralise_frame(frame).to_csv(index=False, lineterminator="\n")
    assert text == ("who,kind,n,on\n'=cmd,'@x,-1,2026-11-30\n,b,2,\nok,'@x,3,2026-01-01\n")
    assert frame.loc[0, "who"] == "=cmd"  # the caller's frame is not changed


# --- the engine quarantines ids that would need it, and GX agrees ----------------------------

AS_OF = date(2026, 11, 30)
FORMULA_IDS = ['=HYPERLINK("http://evil.example","x")', "@SUM(A1)", "-A1"]
EXACT_IDS = ["-12", "+44 20 7946 0000"]


def crm_export(directory: Path) -> Path:
    """50 ended customer contracts: 2 ids a spreadsheet would run (4%, under the gate), 2
    that only look like numbers, and a company name that is a formula."""
    ended = {"contract_status": "completed", "contract_end_date": "2018-01-31"}
    rows: list[dict[str, str]] = [{"record_id": f"C{i}", **ended} for i in range(1, 46)]
    rows += [{"record_id": record_id, **ended} for record_id in EXACT_IDS]
    rows += [{"record_id": record_id, **ended} for record_id in FORMULA_IDS[:2]]
    rows.append({"record_id": "C46", "company": "=cmd|' /C calc'!A0", **ended})
    path = directory / "crm.csv"
    path.write_text(csv_text(complete_rows("crm", rows), default_header("crm")))
    return path


def test_ids_that_look_like_formulas_are_quarantined_and_gx_agrees(tmp_path: Path) -> None:
    rows = complete_rows("crm", [{"record_id": v} for v in [*FORMULA_IDS, *EXACT_IDS, "C1"]])
    path = tmp_path / "crm.csv"
    path.write_text(csv_text(rows, default_header("crm")))
    frame = read_export(path, default_config("crm")).frame
    ev = evaluate(frame, "crm", load_policy().policy, AS_OF)
    cause = next(c for c in ev.causes if c.check == "id-not-formula")
    assert cause.reason == "record_id looks like a spreadsheet formula"
    engine_rows = set(frame["source_row"][cause.mask])
    assert engine_rows == {2, 3, 4}
    report = validate_export(ev, frame, load_quality_config(), detail=True)
    result = next(r for r in report.results if "formula" in r.id)
    assert result.id == "not_matching:record_id formula"
    assert result.description == "record_id does not look like a spreadsheet formula"
    assert result.severity == "block"
    assert set(result.unexpected_rows or []) == engine_rows
    assert result.agrees
    assert report.blocked_reason() is None or "disagree" not in report.blocked_reason()


def all_cells(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("hostile_run")
    export = crm_export(base)
    db = f"sqlite:///{base / 'governance.db'}"
    out = base / "run"
    proc = governance(
        "run",
        "--crm",
        str(export),
        "--as-of",
        "2026-11-30",
        "--out",
        str(out),
        "--db",
        db,
        "--requested-by",
        "=cmd|' /C calc'!A0",
        "--reason",
        "@SUM(1+1)",
    )
    assert proc.returncode == 0, proc.stderr
    monthly = base / "monthly"
    proc = governance("report", "monthly", "--month", "2026-11", "--out", str(monthly), "--db", db)
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "monthly": monthly, "db": Path(db)}


def test_the_manifest_carries_exact_ids_only(hostile_run: dict[str, Path]) -> None:
    manifest = csv_rows(hostile_run["out"] / "deletion_manifest.csv")
    ids = {row["source_record_id"] for row in manifest}
    assert set(EXACT_IDS) <= ids  # "-12" and "+44 ..." exactly as the source wrote them
    assert not any(i.startswith("'") for i in ids)
    assert not ids & set(FORMULA_IDS)
    assert len(ids) == 48


def test_every_run_output_is_safe_to_open_in_a_spreadsheet(hostile_run: dict[str, Path]) -> None:
    out = hostile_run["out"]
    for name in (
        tables.DECISIONS_FILE,
        tables.MANIFEST_FILE,
        tables.REVIEW_FILE,
        tables.CONSENT_FILE,
        tables.QUARANTINE_FILE,
    ):
        for cell in all_cells(out / name):
            assert not looks_like_formula(cell), (name, cell)
    quarantine = csv_rows(out / tables.QUARANTINE_FILE)
    assert {row["source_record_id"] for row in quarantine} == {"'" + i for i in FORMULA_IDS[:2]}
    assert {row["reason"] for row in quarantine} == {"record_id looks like a spreadsheet formula"}
    decided = {row["source_record_id"]: row["decision"] for row in csv_rows(out / "decisions.csv")}
    assert decided["'@SUM(A1)"] == "quarantine"
    assert decided["-12"] == "delete"


def test_monthly_report_tables_are_neutralised(hostile_run: dict[str, Path]) -> None:
    monthly = hostile_run["monthly"]
    csvs = sorted(monthly.glob("*.csv"))
    assert len(csvs) == 9
    for path in csvs:
        for cell in all_cells(path):
            assert not looks_like_formula(cell), (path.name, cell)
    runs = csv_rows(monthly / "runs.csv")
    assert runs[0]["requested_by"] == "'=cmd|' /C calc'!A0"
    assert runs[0]["manifest_rows"] == "48"


def test_the_manifest_is_never_written_altered(tmp_path: Path) -> None:
    table = pa.table({"source_system": ["crm"], "source_record_id": ["=1+1"]})
    path = tmp_path / tables.MANIFEST_FILE
    with pytest.raises(GovernanceError) as info:
        tables.write_table(path, table)
    assert "column 'source_record_id', 1 cell(s) look like a spreadsheet formula" in str(info.value)
    assert "=1+1" not in str(info.value)
    assert not path.exists()
    other = tmp_path / tables.QUARANTINE_FILE
    tables.write_table(other, table)
    assert other.read_text() == '"source_system","source_record_id"\n"crm","\'=1+1"\n'


def test_normal_data_is_written_byte_for_byte_as_before(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "exports", rows=400, seed=5, bad_share=0.04)
    for source, path in exports.items():
        frame = read_export(path, default_config(source)).frame
        ev = evaluate(frame, source, load_policy().policy, AS_OF)
        assert not any(c.mask.any() for c in ev.causes if c.check == "id-not-formula")
        header = ["source_row", "source_record_id", "rule_id", "decision", "due_date", "reason"]
        table = tables.to_arrow(ev.decisions, header)
        assert neutralise_table(table) is table
        quarantine = tables.to_arrow(ev.quarantine, list(ev.quarantine.columns))
        assert neutralise_table(quarantine) is quarantine


def test_sample_exports_hold_no_cell_a_spreadsheet_would_execute(tmp_path: Path) -> None:
    """Sample exports imitate what source systems hand over, so they are written as a source
    system would, not neutralised; the generator never writes such a cell, so the sample's
    decisions are those of ordinary data."""
    exports = write_sample_exports(tmp_path, rows=2000, seed=7, bad_share=0.04)
    for path in exports.values():
        assert not any(looks_like_formula(cell) for cell in all_cells(path)), path.name


# --- the command line's own CSV exports ----------------------------------------------------


def invoke(*args: str) -> Any:
    from governance.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_disposition_list_out_is_neutralised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records manifested before ids were checked could still hold such an id."""
    import governance.store.disposition as disposition

    frame = pd.DataFrame(
        {
            "source": ["crm", "crm"],
            "record_id": ["=1+1", "-12"],
            "rule_id": ["CUST-CONTACT-7Y"] * 2,
            "status": ["overdue", "confirmed"],
            "manifest_run_id": ["20261031-abc"] * 2,
            "manifested_on": [date(2026, 10, 31)] * 2,
            "due_date": [date(2026, 10, 1)] * 2,
            "seen_on": [date(2026, 11, 30)] * 2,
        }
    )
    monkeypatch.setattr(disposition, "list_dispositions", lambda conn, status=None: frame)
    out = tmp_path / "dispositions.csv"
    invoke("disposition", "list", "--out", str(out), "--db", f"sqlite:///{tmp_path / 'g.db'}")
    rows = csv_rows(out)
    assert [r["record_id"] for r in rows] == ["'=1+1", "-12"]
    assert rows[1]["seen_on"] == "2026-11-30"


def test_review_list_out_is_neutralised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import governance.store.reviews as reviews

    items = [
        reviews.OpenReview(*values)
        for values in (
            (
                "crm",
                "@SUM(A1)",
                "CONTACTS-REVIEW-3Y",
                date(2022, 1, 1),
                date(2025, 1, 1),
                "r1",
                AS_OF,
            ),
            ("crm", "+44 20 7946 0000", "CONTACTS-REVIEW-3Y", None, date(2025, 1, 1), "r1", AS_OF),
        )
    ]
    monkeypatch.setattr(reviews, "open_reviews", lambda engine, source=None: items)
    out = tmp_path / "reviews.csv"
    invoke("review", "list", "--out", str(out), "--db", f"sqlite:///{tmp_path / 'g.db'}")
    rows = csv_rows(out)
    assert [r["record_id"] for r in rows] == ["'@SUM(A1)", "+44 20 7946 0000"]
    assert rows[1]["trigger_date"] == ""


def test_ids_that_are_e_mail_addresses_are_quarantined_and_gx_agrees(tmp_path: Path) -> None:
    """Manifests carry ids, never e-mails: an export keyed by e-mail is held back (and,
    whole, blocked at the gate) rather than leaking addresses into a manifest."""
    # A non-breaking or other Unicode space is no blank to either check: Python's `\s`
    # would say it is, Arrow's would not, and the two would block the export in dispute.
    ids = ["jane.doe@example.org", "C1", "C2@", "x@y", "team @example.org", "a@b.co.uk"]
    ids += ["jo\u00a0doe@example.org", "C\u2003@x"]
    rows = complete_rows("crm", [{"record_id": v} for v in ids])
    path = tmp_path / "crm.csv"
    path.write_text(csv_text(rows, default_header("crm")))
    frame = read_export(path, default_config("crm")).frame
    ev = evaluate(frame, "crm", load_policy().policy, AS_OF)
    cause = next(c for c in ev.causes if c.check == "id-not-email")
    assert cause.reason.startswith("record_id looks like an e-mail address")
    engine_rows = set(frame["source_row"][cause.mask])
    assert engine_rows == {2, 7, 8}
    report = validate_export(ev, frame, load_quality_config(), detail=True)
    result = next(r for r in report.results if r.id == "not_matching:record_id e-mail")
    assert result.description == "record_id is not an e-mail address"
    assert set(result.unexpected_rows or []) == engine_rows
    assert result.agrees


def test_an_e_mail_id_is_written_nowhere(tmp_path: Path) -> None:
    """The quarantined row is named by its row number only: the address reaches neither
    the decisions nor the quarantine list."""
    rows = complete_rows("crm", [{"record_id": "jane.doe@example.org"}, {"record_id": "C1"}])
    path = tmp_path / "crm.csv"
    path.write_text(csv_text(rows, default_header("crm")))
    frame = read_export(path, default_config("crm")).frame
    ev = evaluate(frame, "crm", load_policy().policy, AS_OF)
    for table in (ev.decisions, ev.quarantine):
        assert "jane.doe@example.org" not in set(table["source_record_id"].dropna())
    held = ev.quarantine[ev.quarantine["source_row"] == 2]
    assert len(held) >= 1 and held["source_record_id"].isna().all()


def test_ids_that_are_spreadsheet_errors_are_quarantined_and_gx_agrees(tmp_path: Path) -> None:
    """A failed lookup leaves `#N/A` where the id was: the record it stood for is unknown,
    so nothing about it is decided. Ids that merely start with `#` are ids."""
    ids = ["#N/A", "C1", "#REF!", "#12", "N/A", "#NAME?", "#n/a", "1.23457E+16", "E10", "2E5X"]
    rows = complete_rows("crm", [{"record_id": v} for v in ids])
    path = tmp_path / "crm.csv"
    path.write_text(csv_text(rows, default_header("crm")))
    frame = read_export(path, default_config("crm")).frame
    ev = evaluate(frame, "crm", load_policy().policy, AS_OF)
    cause = next(c for c in ev.causes if c.check == "id-not-error")
    engine_rows = set(frame["source_row"][cause.mask])
    assert engine_rows == {2, 4, 7, 9}
    held = ev.decisions[ev.decisions["source_row"].isin(engine_rows)]
    assert set(held["decision"]) == {"quarantine"}
    report = validate_export(ev, frame, load_quality_config(), detail=True)
    result = next(r for r in report.results if r.id == "not_matching:record_id spreadsheet-error")
    assert result.description == (
        "record_id is not a spreadsheet error value or a number in E notation"
    )
    assert set(result.unexpected_rows or []) == engine_rows
    assert result.agrees
