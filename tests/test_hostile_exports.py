"""Hostile and odd exports, each with a decided outcome: accepted, record quarantined, or
export blocked with one line naming file, row and column (never a cell's value, never a
traceback, nothing written)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from governance.errors import ExportError
from governance.policy.engine import evaluate
from governance.policy.model import load_policy
from governance.sources.config import SourceConfig, default_config
from governance.sources.reader import read_export
from tests.conftest import crm_row, csv_text, default_header, governance
from tests.engine_helpers import complete_rows, records

SECRET = "Zebedee-Quixote"
HEADER = default_header("crm")
AS_OF = date(2026, 11, 30)


def cfg(**overrides: object) -> SourceConfig:
    return SourceConfig.model_validate({"source": "crm", **overrides})


def rows_text(**first: str) -> str:
    """Three CRM rows in the default layout; the first with the given cells."""
    return csv_text(
        [
            crm_row(record_id="A", first_name=SECRET, **first),
            crm_row(record_id="B", first_name="Renée", last_name="O’Brien"),
            crm_row(record_id="C", company='"Best" Repairs,\nLtd'),
        ],
        HEADER,
    )


def write(tmp_path: Path, data: bytes, name: str = "crm.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def blocked(path: Path, config: SourceConfig | None = None) -> ExportError:
    """The export is refused with one line naming the file and never a personal value."""
    with pytest.raises(ExportError) as info:
        read_export(path, config or default_config("crm"))
    message = str(info.value)
    assert message.startswith(str(path))
    assert "\n" not in message
    for secret in (SECRET, "Renée", "O’Brien", "Best"):
        assert secret not in message
    return info.value


def baseline(tmp_path: Path) -> pd.DataFrame:
    path = write(tmp_path, rows_text().encode("utf-8"), "baseline.csv")
    return read_export(path, default_config("crm")).frame


# --- encodings ------------------------------------------------------------------------------


def test_windows_1252_is_read_when_the_config_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, rows_text().encode("cp1252"))
    frame = read_export(path, cfg(encoding="cp1252")).frame
    pd.testing.assert_frame_equal(frame, baseline(tmp_path))
    assert frame.loc[1, "last_name"] == "O’Brien"  # 0x92 in cp1252


def test_windows_1252_read_as_utf8_is_blocked_at_its_byte_row_and_column(tmp_path: Path) -> None:
    data = rows_text().encode("cp1252")
    path = write(tmp_path, data)
    err = blocked(path)
    offset = data.index("Renée".encode("cp1252")) + 3  # the é
    assert f"not valid utf-8 (at byte {offset})" in str(err)
    assert (err.row, err.column) == (3, "first_name")
    assert "set `encoding` in the source config" in str(err)


@pytest.mark.parametrize(
    ("codec", "bom"),
    [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-8", b"\xef\xbb\xbf")],
)
def test_a_byte_order_mark_is_detected_and_wins_over_the_config(
    tmp_path: Path, codec: str, bom: bytes
) -> None:
    path = write(tmp_path, bom + rows_text().encode(codec))
    for config in (default_config("crm"), cfg(encoding="cp1252")):
        frame = read_export(path, config).frame
        pd.testing.assert_frame_equal(frame, baseline(tmp_path))


def test_utf16_without_a_byte_order_mark_needs_the_config(tmp_path: Path) -> None:
    path = write(tmp_path, rows_text().encode("utf-16-le"))
    err = blocked(path)
    assert "UTF-16 text without a byte-order mark; set `encoding: utf-16-le`" in str(err)
    frame = read_export(path, cfg(encoding="utf-16-le")).frame
    pd.testing.assert_frame_equal(frame, baseline(tmp_path))


def test_utf16_that_does_not_decode_is_blocked_at_its_byte_and_row(tmp_path: Path) -> None:
    good = b"\xff\xfe" + rows_text().encode("utf-16-le")
    name = "Renée".encode("utf-16-le")
    lone_surrogate = "Ren".encode("utf-16-le") + b"\x00\xd8" + "e!".encode("utf-16-le")
    path = write(tmp_path, good.replace(name, lone_surrogate))
    err = blocked(path)
    assert f"not valid utf-16 (at byte {good.index(name) + 6})" in str(err)
    assert (err.row, err.column) == (3, "first_name")


def test_utf16_cut_off_mid_character_is_blocked(tmp_path: Path) -> None:
    data = b"\xff\xfe" + rows_text().encode("utf-16-le")
    err = blocked(write(tmp_path, data[:-1]))
    assert f"not valid utf-16 (at byte {len(data) - 2})" in str(err)


# --- layout ---------------------------------------------------------------------------------


def test_crlf_line_endings_read_like_lf(tmp_path: Path) -> None:
    path = write(tmp_path, rows_text().replace("\n", "\r\n").encode("utf-8"))
    frame = read_export(path, default_config("crm")).frame
    expected = baseline(tmp_path)
    # The line break inside the quoted company name is the file's own (CRLF): kept as is.
    assert frame.loc[2, "company"] == '"Best" Repairs,\r\nLtd'
    pd.testing.assert_frame_equal(frame.drop(columns="company"), expected.drop(columns="company"))
    assert list(frame["source_row"]) == [2, 3, 4]


def european_excel(tmp_path: Path) -> Path:
    """What Excel writes as "CSV" with European regional settings: semicolons, Windows-1252,
    day-first dates and CRLF."""
    rows = [
        crm_row(record_id="A", contract_end_date="31/01/2020", company="Hughes; Patel & Co"),
        crm_row(record_id="B", first_name="Renée", contract_end_date="29/02/2024"),
    ]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HEADER, delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return write(tmp_path, buf.getvalue().encode("cp1252"))


def test_semicolon_csv_is_read_with_the_configured_delimiter(tmp_path: Path) -> None:
    config = cfg(delimiter=";", encoding="cp1252", date_format="%d/%m/%Y")
    frame = read_export(european_excel(tmp_path), config).frame
    assert list(frame["record_id"]) == ["A", "B"]
    assert frame.loc[0, "company"] == "Hughes; Patel & Co"
    assert frame.loc[1, "first_name"] == "Renée"
    assert list(frame["contract_end_date"]) == [
        pd.Timestamp("2020-01-31"),
        pd.Timestamp("2024-02-29"),
    ]
    assert not frame["invalid__contract_end_date"].any()


def test_semicolon_csv_without_the_config_is_blocked_with_the_fix(tmp_path: Path) -> None:
    err = blocked(european_excel(tmp_path))
    assert err.row == 1
    assert 'looks semicolon-separated; set `delimiter: ";"` in the source config' in str(err)


@pytest.mark.parametrize(
    ("extra", "column"),
    [(["Record_ID "], "record_id"), (["Notes", " notes"], "Notes")],
    ids=["a column the record needs", "a column nobody reads"],
)
def test_duplicate_header_names_are_blocked_naming_the_column(
    tmp_path: Path, extra: list[str], column: str
) -> None:
    header = [*HEADER, *extra]
    row = {**crm_row(first_name=SECRET), **{name: SECRET for name in extra}}
    path = write(tmp_path, csv_text([row], header).encode("utf-8"))
    err = blocked(path)
    assert (err.row, err.column) == (1, column)
    assert "column appears 2 times in the header" in str(err)


def test_blank_header_names_may_repeat(tmp_path: Path) -> None:
    """A trailing delimiter on every line makes unnamed columns: nobody reads them."""
    rows = [crm_row(record_id="A"), crm_row(record_id="B")]
    path = write(tmp_path, csv_text(rows, [*HEADER, "", ""]).encode("utf-8"))
    assert path.read_bytes().splitlines()[1].endswith(b"N,,")
    export = read_export(path, default_config("crm"))
    assert list(export.frame["record_id"]) == ["A", "B"]
    assert export.ignored_columns == ()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "file is empty"),
        (b" \r\n\r\n", "file is empty"),
        (b"\xef\xbb\xbf", "file is empty"),
        (b"\xff\xfe", "file is empty"),
        (b"\xff\xfe" + "\r\n".encode("utf-16-le"), "file is empty"),
        (",".join(HEADER).encode() + b"\n", "has a header but no data rows"),
        (",".join(HEADER).encode() + b"\r\n\r\n", "has a header but no data rows"),
        (",".join(HEADER).encode(), "has a header but no data rows"),
        (b"\xff\xfe" + (",".join(HEADER) + "\n").encode("utf-16-le"), "no data rows"),
    ],
    ids=[
        "empty",
        "blank lines",
        "utf-8 bom only",
        "utf-16 bom only",
        "utf-16 blank",
        "header",
        "header and blank lines",
        "header without line break",
        "utf-16 header",
    ],
)
def test_empty_and_header_only_files_are_blocked(tmp_path: Path, data: bytes, problem: str) -> None:
    assert problem in str(blocked(write(tmp_path, data)))


# --- an export still being written -----------------------------------------------------------


@pytest.mark.parametrize(
    "cut",
    [
        lambda data: data[: data.rindex(b"\nC,") + 20],  # in the middle of the last row
        lambda data: data[:-1],  # every field there, only the last line break missing
        lambda data: data[:-2],  # the last cell (legal_hold) cut short
    ],
    ids=["mid-row", "last line break", "last cell"],
)
def test_a_truncated_last_line_is_blocked(tmp_path: Path, cut: Callable[[bytes], bytes]) -> None:
    err = blocked(write(tmp_path, cut(rows_text().encode("utf-8"))))
    assert err.row == 4  # C, the last row (its company name spans two lines)
    assert "does not end with a line break: the export may be cut off" in str(err)


def test_a_truncated_quoted_cell_is_blocked(tmp_path: Path) -> None:
    data = rows_text().encode("utf-8")
    err = blocked(write(tmp_path, data[: data.index(b"Repairs")]))
    assert err.row == 4
    assert "cut off" in str(err)


def test_a_tool_that_omits_the_last_line_break_can_be_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, rows_text().encode("utf-8")[:-1])
    export = read_export(path, cfg(require_final_line_break=False))
    pd.testing.assert_frame_equal(export.frame, baseline(tmp_path))


# --- a 10 MB cell ----------------------------------------------------------------------------

TEN_MB = 10 * 1024 * 1024


def big_cell() -> str:
    """Ten megabytes with every character CSV quoting has to deal with."""
    return ('ab,"c"\n' * (TEN_MB // 7 + 1))[:TEN_MB]


def test_a_10_mb_cell_is_accepted(tmp_path: Path) -> None:
    rows = [
        {**crm_row(record_id="A"), "notes": ""},
        {**crm_row(record_id="B", company=big_cell()), "notes": big_cell()},
        {**crm_row(record_id="C"), "notes": ""},
    ]
    path = write(tmp_path, csv_text(rows, [*HEADER, "notes"]).encode("utf-8"))
    export = read_export(path, default_config("crm"))
    assert list(export.frame["record_id"]) == ["A", "B", "C"]
    assert export.frame.loc[1, "company"] == big_cell()
    assert list(export.frame["source_row"]) == [2, 3, 4]
    assert export.ignored_columns == ("notes",)


def test_a_10_mb_cell_does_not_hide_where_a_later_row_breaks(tmp_path: Path) -> None:
    rows = [crm_row(record_id="A", company=big_cell()), crm_row(record_id="B")]
    data = csv_text(rows, HEADER).encode("utf-8") + b"C,contact_details,too,few\n"
    err = blocked(write(tmp_path, data))
    assert err.row == 4
    assert "has 4 fields where the header has 19" in str(err)


def test_a_10_mb_cell_is_read_in_bounded_memory(tmp_path: Path) -> None:
    rows = [crm_row(record_id="A"), crm_row(record_id="B", company=big_cell())]
    path = write(tmp_path, csv_text(rows, HEADER).encode("utf-8"))
    script = textwrap.dedent(
        f"""
        import json, resource
        from governance.sources.config import default_config
        from governance.sources.reader import read_export
        import governance.sources.normalise, pandas, pyarrow.csv
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        export = read_export({str(path)!r}, default_config("crm"))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"rows": export.rows, "grew_kib": after - before}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    result = json.loads(proc.stdout)
    assert result["rows"] == 2
    # A copy or two of a 10 MB file, not a Python object per character or a quadratic parse.
    assert result["grew_kib"] < 200 * 1024


# --- cells a spreadsheet would run ----------------------------------------------------------


def test_formula_like_cells_are_read_as_exact_text_and_never_run(tmp_path: Path) -> None:
    rows = complete_rows(
        "crm",
        [
            {
                "record_id": "-12",
                "first_name": '=HYPERLINK("http://x","y")',
                "phone": "+44 20 7946 0000",
            },
            {"record_id": "=1+1", "company": "@SUM(A1:A9)"},
            {"record_id": "C3", "relationship": "=cmd|' /C calc'!A0"},
            {
                "record_id": "C4",
                "last_name": "-Smith",
                "contract_status": "completed",
                "contract_end_date": "2018-01-31",
            },
        ],
    )
    path = write(tmp_path, csv_text(rows, HEADER).encode("utf-8"))
    frame = read_export(path, default_config("crm")).frame
    assert list(frame["record_id"]) == ["-12", "=1+1", "C3", "C4"]
    assert frame.loc[0, "first_name"] == '=HYPERLINK("http://x","y")'
    assert frame.loc[0, "phone"] == "+442079460000"
    assert frame.loc[1, "company"] == "@SUM(A1:A9)"
    ev = evaluate(frame, "crm", load_policy().policy, AS_OF)
    quarantine = {(r["source_record_id"], r["reason"]) for r in records(ev.quarantine)}
    assert ("=1+1", "record_id looks like a spreadsheet formula") in quarantine
    assert ("C3", "relationship is not one of its values") in quarantine
    assert {record_id for record_id, _ in quarantine} == {"=1+1", "C3"}
    decided = {r["source_record_id"]: r["decision"] for r in records(ev.decisions)}
    assert decided["-12"] == "retain"
    assert decided["C4"] == "delete"  # a name that starts with a minus decides nothing


# --- XLSX -----------------------------------------------------------------------------------


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def xlsx_row(record_id: str) -> list[object]:
    row = crm_row(record_id=record_id, first_name=SECRET)
    return [row[name] for name in HEADER]


def test_an_xlsx_that_is_really_a_csv_is_blocked_with_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, rows_text().encode("utf-8"), "crm.xlsx")
    err = blocked(path)
    assert "is not an XLSX file (not a zip container); it looks like CSV text" in str(err)
    assert "set `format: csv`" in str(err)
    assert read_export(path, cfg(format="csv")).rows == 3


def test_a_legacy_xls_renamed_xlsx_is_blocked(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "crm.xlsx")
    assert "legacy Excel .xls workbook" in str(blocked(path))


def test_an_xlsx_with_several_sheets_reads_the_configured_one(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "crm.xlsx",
        {
            "Contacts": [HEADER, xlsx_row("A"), xlsx_row("B")],
            "About": [["Exported by the CRM"], ["Rows", 2]],
            "Blank": [],
        },
    )
    assert list(read_export(path, default_config("crm")).frame["record_id"]) == ["A", "B"]
    # A summary first: its missing columns block the export rather than being guessed past.
    path = workbook(
        tmp_path / "crm2.xlsx",
        {"About": [["Exported by"], ["the CRM"]], "Contacts": [HEADER, xlsx_row("A")]},
    )
    assert "required columns missing" in str(blocked(path))
    assert list(read_export(path, cfg(sheet="Contacts")).frame["record_id"]) == ["A"]


def test_an_export_split_across_sheets_is_blocked(tmp_path: Path) -> None:
    """Excel holds 1,048,576 rows a sheet: a longer export continues on the next sheet.
    Reading one sheet would make every record on the others look deleted."""
    path = workbook(
        tmp_path / "crm.xlsx",
        {"Contacts": [HEADER, xlsx_row("A")], "Contacts (2)": [HEADER, xlsx_row("B")]},
    )
    for config in (default_config("crm"), cfg(sheet="Contacts (2)")):
        err = blocked(path, config)
        assert "sheets 0 and 1 (0-based) start with the same header row" in str(err)
        assert "split across sheets" in str(err)


# --- dates far away -------------------------------------------------------------------------


def test_dates_far_in_the_past_or_future_never_delete(tmp_path: Path) -> None:
    rows = complete_rows(
        "crm",
        [
            {"contract_status": "completed", "contract_end_date": "1066-10-14"},
            {"contract_status": "completed", "contract_end_date": "9999-12-31"},
            {"contract_status": "active", "contract_end_date": "9999-12-31"},
            {
                "relationship": "prospect",
                "contract_id": "",
                "contract_status": "",
                "created_at": "0001-01-01T00:00:00Z",
            },
            {"marketing_opt_in": "Y", "marketing_consent_date": "1899-12-31"},
            {"contract_status": "completed", "contract_end_date": "1900-01-01"},
        ],
    )
    path = write(tmp_path, csv_text(rows, HEADER).encode("utf-8"))
    frame = read_export(path, default_config("crm")).frame
    # Before 1900 is a typing error or a placeholder: read like a date that does not parse.
    assert list(frame["invalid__contract_end_date"]) == [True, False, False, False, False, False]
    assert frame.loc[1, "contract_end_date"] == pd.Timestamp("9999-12-31")
    ev = evaluate(frame, "crm", load_policy().policy, AS_OF)
    got = {
        (r["source_record_id"], r["rule_id"]): (r["decision"], r["reason"])
        for r in records(ev.decisions)
    }
    assert got[("C1", None)] == (
        "quarantine",
        "contract_end_date: contract_end_date is not a date (CUST-CONTACT-7Y needs it)",
    )
    assert got[("C2", None)][0] == "quarantine"
    assert "after the as-of date" in got[("C2", None)][1]
    assert got[("C3", "CUST-CONTACT-7Y")][0] == "retain"  # 9999-12-31: "no end yet"
    assert got[("C4", None)][0] == "quarantine"
    assert got[("C5", None)] == (
        "quarantine",
        "marketing_consent_date: marketing_consent_date is not a date "
        "(MARKETING-CONSENT-3Y needs it)",
    )
    assert got[("C6", "CUST-CONTACT-7Y")][0] == "delete"  # 1900 itself is plausible


# --- the command line: one line, exit 2, nothing written --------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda p: rows_text().encode("cp1252"),
        lambda p: rows_text().encode("utf-8")[:-2],
        lambda p: rows_text().replace(",", ";").encode("utf-8"),
    ],
    ids=["not utf-8", "cut off", "semicolons"],
)
def test_the_command_line_says_it_in_one_line(
    tmp_path: Path, make: Callable[[Path], bytes]
) -> None:
    path = write(tmp_path, make(tmp_path))
    summary = tmp_path / "summary.json"
    proc = governance("read", "--crm", str(path), "--out", str(summary))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {path}")
    for secret in (SECRET, "Renée", "O’Brien"):
        assert secret not in proc.stdout + proc.stderr
    assert not summary.exists()
