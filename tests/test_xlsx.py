"""XLSX exports: typed cells (numbers, real dates, booleans) read to the same canonical values
as the CSV a system would write for the same records; sheets, footers and whole-export
errors that never quote a cell."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from governance.errors import ExportError
from governance.sources.config import SourceConfig, default_config
from governance.sources.reader import read_export
from tests.conftest import crm_row, default_header

HEADER = default_header("crm")
SECRET_FIRST = "Zebedee-Quixote"
SECRET_EMAIL = "zebedee.quixote@example.org"
SECRET_PHONE = "07700 900461"
SECRET_ID = "CRM-SECRET-77"
SECRETS = (SECRET_FIRST, SECRET_EMAIL, SECRET_PHONE, SECRET_ID, "Siân")


def cfg(**overrides: object) -> SourceConfig:
    return SourceConfig.model_validate({"source": "crm", **overrides})


def write_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[Any]]]) -> Path:
    """A workbook with one sheet per entry, in order, each row written cell by cell with
    openpyxl's own types (numbers, dates, datetimes and booleans stay typed)."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    return path


def typed_row(**cells: Any) -> list[Any]:
    """A row in the default CRM layout: `crm_row` text, with the given cells replaced by
    values of any type (None = empty cell)."""
    base: dict[str, Any] = crm_row()
    base.update(cells)
    return [base[name] for name in HEADER]


def error_of(path: Path, config: SourceConfig) -> ExportError:
    with pytest.raises(ExportError) as info:
        read_export(path, config)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    for secret in SECRETS:
        assert secret not in message
    return info.value


def secret_row(**cells: Any) -> list[Any]:
    return typed_row(
        record_id=SECRET_ID,
        first_name=SECRET_FIRST,
        email=SECRET_EMAIL,
        phone=SECRET_PHONE,
        **cells,
    )


# --- typed cells read like the CSV of the same records -------------------------------------

# Each record as XLSX cells (typed as Excel stores them) and as the CSV text of the export.
RECORDS: list[tuple[dict[str, Any], dict[str, str]]] = [
    (
        {
            "record_id": 1001,  # an id stored as a number
            "first_name": "Siân",
            "phone": 1242580654,  # 01242 580654 typed into Excel: the trunk 0 is lost
            "relationship": "Customer",
            "service": None,  # an empty cell
            "contract_end_date": dt.date(2020, 1, 31),  # a real Excel date
            "created_at": dt.datetime(2019, 5, 1, 10, 0),  # a real Excel datetime (London)
            "last_reviewed_at": dt.datetime(2024, 3, 31, 23, 45),  # BST: still the 31st
            "purchased": True,
            "marketing_opt_in": False,
            "legal_hold": False,
        },
        {
            "record_id": "1001",
            "first_name": "Siân",
            "phone": "01242 580654",
            "relationship": "Customer",
            "service": "",
            "contract_end_date": "2020-01-31",
            "created_at": "2019-05-01 10:00:00",
            "last_reviewed_at": "2024-03-31T23:45:00",
            "purchased": "Y",
            "marketing_opt_in": "N",
            "legal_hold": "N",
        },
    ),
    (
        {
            "record_id": 1002,
            "first_name": "Zoë",
            "last_name": "Müller-Ōtsuka",
            "phone": 447700900123,  # +44 7700 900123 without its plus
            "contract_id": 5000001,
            "contract_end_date": dt.datetime(2024, 2, 29),  # a date cell formatted as datetime
            "created_at": dt.datetime(2024, 10, 27, 1, 30),  # the repeated hour
            "marketing_opt_in": True,
            "marketing_consent_date": dt.date(2023, 12, 31),
            "legal_hold": True,
        },
        {
            "record_id": "1002",
            "first_name": "Zoë",
            "last_name": "Müller-Ōtsuka",
            "phone": "+44 7700 900123",
            "contract_id": "5000001",
            "contract_end_date": "2024-02-29",
            "created_at": "2024-10-27 01:30",
            "marketing_opt_in": "yes",
            "marketing_consent_date": "2023-12-31",
            "legal_hold": "TRUE",
        },
    ),
    (
        {
            "record_id": "CRM-3",  # text cells pass through as written
            "phone": "+44 (0)7700 900123",
            "relationship": " third_party ",
            "contract_status": "Terminated",
            "contract_end_date": "2019-08-31",
            "created_at": "2024-06-01T23:30:00Z",  # 00:30 on 2 June in London
            "enquiry_date": None,
            "purchased": "n",
            "legal_hold": None,  # blank flag: N
        },
        {
            "record_id": "CRM-3",
            "phone": "+44 (0)7700 900123",
            "relationship": " third_party ",
            "contract_status": "Terminated",
            "contract_end_date": "2019-08-31",
            "created_at": "2024-06-01T23:30:00Z",
            "enquiry_date": "",
            "purchased": "n",
            "legal_hold": "",
        },
    ),
]


def test_typed_cells_read_like_the_same_records_as_csv(tmp_path: Path, write_csv) -> None:
    xlsx = write_xlsx(
        tmp_path / "crm.xlsx", {"Sheet1": [HEADER, *(typed_row(**x) for x, _ in RECORDS)]}
    )
    csv = write_csv([crm_row(**c) for _, c in RECORDS], header=HEADER)
    from_xlsx = read_export(xlsx, default_config("crm"))
    from_csv = read_export(csv, default_config("crm"))

    pd.testing.assert_frame_equal(from_xlsx.frame, from_csv.frame)
    assert from_xlsx.invalid_counts == from_csv.invalid_counts == {}
    assert from_xlsx.absent_fields == from_csv.absent_fields == ()

    frame = from_xlsx.frame
    assert list(frame["source_row"]) == [2, 3, 4]
    assert list(frame["record_id"]) == ["1001", "1002", "CRM-3"]  # not 1001.0
    assert list(frame["contract_id"][1:2]) == ["5000001"]
    assert list(frame["first_name"][:2]) == ["Siân", "Zoë"]
    assert frame.loc[1, "last_name"] == "Müller-Ōtsuka"
    assert list(frame["phone"]) == ["+441242580654", "+447700900123", "+447700900123"]
    assert list(frame["relationship"]) == ["customer", "customer", "third_party"]
    assert pd.isna(frame.loc[0, "service"])
    assert list(frame["contract_end_date"]) == [
        pd.Timestamp("2020-01-31"),
        pd.Timestamp("2024-02-29"),
        pd.Timestamp("2019-08-31"),
    ]
    assert list(frame["created_at"]) == [
        pd.Timestamp("2019-05-01"),
        pd.Timestamp("2024-10-27"),
        pd.Timestamp("2024-06-02"),
    ]
    assert frame.loc[0, "last_reviewed_at"] == pd.Timestamp("2024-03-31")
    assert list(frame["purchased"]) == [True, True, False]
    assert list(frame["marketing_opt_in"]) == [False, True, False]
    assert list(frame["legal_hold"]) == [False, True, False]


def test_xlsx_by_extension_with_the_uk_date_format(tmp_path: Path) -> None:
    rows = [
        HEADER,
        typed_row(record_id="A", contract_end_date="31/01/2020"),
        typed_row(record_id="B", contract_end_date=dt.date(2020, 1, 31)),
        typed_row(record_id="C", contract_end_date="31/02/2020"),
    ]
    path = write_xlsx(tmp_path / "Contacts Export.XLSX", {"Contacts": rows})
    frame = read_export(path, cfg(date_format="%d/%m/%Y")).frame
    assert list(frame["contract_end_date"][:2]) == [pd.Timestamp("2020-01-31")] * 2
    assert list(frame["invalid__contract_end_date"]) == [False, False, True]


# --- layout: footers, sheets, rows above the header --------------------------------------


def test_report_footer_rows_are_removed(tmp_path: Path) -> None:
    rows = [
        HEADER,
        typed_row(record_id="A"),
        typed_row(record_id="B"),
        [],
        ["Grand Totals (2 records)", None, None, 2],
        ["Confidential - do not distribute"],
    ]
    path = write_xlsx(tmp_path / "crm.xlsx", {"Report": rows})
    export = read_export(path, cfg(footer=r"^Grand Totals"))
    assert list(export.frame["record_id"]) == ["A", "B"]
    assert list(export.frame["source_row"]) == [2, 3]
    assert export.invalid_counts == {}


def test_a_merged_footer_or_title_is_no_merged_data(tmp_path: Path) -> None:
    """Only the header and the records are refused for merged cells: a report's title
    above (skipped) or footer below may be merged."""
    rows = [["Contacts report"], HEADER, typed_row(record_id="A"), ["Grand Totals"]]
    path = write_xlsx(tmp_path / "crm.xlsx", {"Report": rows})
    book = openpyxl.load_workbook(path)
    book["Report"].merge_cells("A1:D1")
    book["Report"].merge_cells("A4:D4")
    book.save(path)
    export = read_export(path, cfg(skip_rows=1, footer=r"^Grand Totals"))
    assert list(export.frame["record_id"]) == ["A"]
    assert list(export.frame["source_row"]) == [3]


def test_footer_that_does_not_occur_changes_nothing(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "crm.xlsx", {"S": [HEADER, typed_row(record_id="A"), typed_row(record_id="B")]}
    )
    export = read_export(path, cfg(footer=r"^Grand Totals"))
    assert list(export.frame["record_id"]) == ["A", "B"]


SUMMARY = [["Contacts report"], ["Generated", dt.datetime(2026, 1, 28, 9, 0)], ["Rows", 2]]


def test_sheet_is_chosen_by_name(tmp_path: Path) -> None:
    contacts = [HEADER, typed_row(record_id="A"), typed_row(record_id="B", first_name="Renée")]
    path = write_xlsx(tmp_path / "crm.xlsx", {"Summary": SUMMARY, "Contacts": contacts})
    for sheet in ("Contacts", 1):
        frame = read_export(path, cfg(sheet=sheet)).frame
        assert list(frame["record_id"]) == ["A", "B"]
        assert frame.loc[1, "first_name"] == "Renée"


def test_first_sheet_by_default(tmp_path: Path) -> None:
    contacts = [HEADER, secret_row()]
    path = write_xlsx(tmp_path / "crm.xlsx", {"Summary": SUMMARY, "Contacts": contacts})
    err = error_of(path, default_config("crm"))
    assert "required columns missing" in str(err)


def test_unknown_sheet_is_an_export_error(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, secret_row()]})
    assert "cannot be read as XLSX" in str(error_of(path, cfg(sheet="People")))
    assert "cannot be read as XLSX" in str(error_of(path, cfg(sheet=3)))


def test_rows_above_the_header_are_skipped(tmp_path: Path) -> None:
    rows = [["Contacts report"], ["Generated by CRM"], HEADER, typed_row(record_id="A")]
    path = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": rows})
    export = read_export(path, cfg(skip_rows=2))
    assert list(export.frame["record_id"]) == ["A"]
    assert list(export.frame["source_row"]) == [4]


def test_header_names_match_ignoring_case_and_spaces(tmp_path: Path) -> None:
    header = [f" {name.upper()}  " for name in HEADER]
    path = write_xlsx(tmp_path / "crm.xlsx", {"S": [header, typed_row(record_id=7)]})
    frame = read_export(path, default_config("crm")).frame
    assert list(frame["record_id"]) == ["7"]
    assert list(frame["relationship"]) == ["customer"]


# --- whole-export errors ------------------------------------------------------------------


def test_header_only_has_no_data_rows(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER]})
    err = error_of(path, default_config("crm"))
    assert "no data rows" in str(err)


def test_header_and_blank_rows_have_no_data_rows(tmp_path: Path) -> None:
    blank = [""] * len(HEADER)
    path = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, blank, blank]})
    assert "no data rows" in str(error_of(path, default_config("crm")))


def test_only_a_footer_has_no_data_rows(tmp_path: Path) -> None:
    rows = [HEADER, ["Grand Totals (0 records)"]]
    path = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": rows})
    assert "no data rows" in str(error_of(path, cfg(footer="^Grand Totals")))


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    keep = [i for i, name in enumerate(HEADER) if name != "relationship"]
    row = secret_row()
    rows = [[HEADER[i] for i in keep], [row[i] for i in keep]]
    err = error_of(write_xlsx(tmp_path / "crm.xlsx", {"Contacts": rows}), default_config("crm"))
    assert err.column == "relationship"
    assert "required column missing: 'relationship'" in str(err)


def test_all_missing_required_columns_are_named(tmp_path: Path) -> None:
    drop = {"record_type", "created_at"}
    keep = [i for i, name in enumerate(HEADER) if name not in drop]
    row = secret_row()
    rows = [[HEADER[i] for i in keep], [row[i] for i in keep]]
    err = error_of(write_xlsx(tmp_path / "crm.xlsx", {"Contacts": rows}), default_config("crm"))
    assert err.column == "record_type"
    assert "required columns missing: 'record_type', 'created_at'" in str(err)


def test_mapped_required_column_missing_names_the_export_column(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, secret_row()]})
    err = error_of(path, cfg(columns={"relationship": "Lifecycle Stage"}))
    assert err.column == "Lifecycle Stage"
    assert "'Lifecycle Stage'" in str(err)


def test_duplicate_column_is_an_error(tmp_path: Path) -> None:
    header = [*HEADER, "Record_ID "]
    rows = [header, [*secret_row(), SECRET_ID]]
    err = error_of(write_xlsx(tmp_path / "crm.xlsx", {"Contacts": rows}), default_config("crm"))
    assert "appears 2 times" in str(err)


def test_csv_text_named_xlsx_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "crm.xlsx"
    path.write_text(",".join(HEADER) + "\n" + ",".join(str(v) for v in secret_row()) + "\n")
    assert "not an XLSX file" in str(error_of(path, default_config("crm")))


def test_corrupt_workbook_is_an_export_error(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "good.xlsx", {"Contacts": [HEADER, secret_row()]})
    path = tmp_path / "crm.xlsx"
    path.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    assert "cannot be read as XLSX" in str(error_of(path, default_config("crm")))


def test_table_away_from_a1_keeps_spreadsheet_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "crm.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    for r, row in enumerate([HEADER, typed_row(record_id="A"), typed_row(record_id="B")], 3):
        for c, value in enumerate(row, 2):
            sheet.cell(row=r, column=c, value=value)
    book.save(path)
    export = read_export(path, cfg(skip_rows=2))
    assert list(export.frame["record_id"]) == ["A", "B"]
    assert list(export.frame["source_row"]) == [4, 5]
    assert export.ignored_columns == ()


def test_error_cells_read_as_the_spreadsheet_writes_them_in_csv(tmp_path: Path, write_csv) -> None:
    """A `#N/A` in legal_hold is no N: it reads as the text a CSV export of the sheet
    carries, so the flag is invalid (the record held back) in either format."""
    rows = [typed_row(record_id="A", legal_hold="#N/A"), typed_row(record_id="B")]
    book = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, *rows]})
    cells = openpyxl.load_workbook(book)["Contacts"]
    assert cells["S2"].data_type == "e"  # a real error cell
    from_xlsx = read_export(book, default_config("crm")).frame
    as_csv = write_csv([dict(zip(HEADER, map(str, r), strict=True)) for r in rows])
    from_csv = read_export(as_csv, default_config("crm")).frame
    assert list(from_xlsx["invalid__legal_hold"]) == [True, False]
    assert list(from_csv["invalid__legal_hold"]) == [True, False]


def test_a_formula_never_calculated_refuses_the_export(tmp_path: Path) -> None:
    """A workbook written by a program keeps formulas without their values: there is
    nothing to read, and a blank would be a guess."""
    rows = [typed_row(record_id="A", legal_hold='=IF(1=1,"Y","N")'), typed_row(record_id="B")]
    book = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, *rows]})
    error = error_of(book, default_config("crm"))
    assert (error.row, error.column) == (2, "legal_hold")
    assert "recalculated on opening" in error.problem  # openpyxl asks for it
    # Without that request, a formula with no stored value is refused all the same; with
    # it, a stored placeholder (XlsxWriter writes 0, a valid N) is no value either.
    for calc, value in (("", "<v></v>"), (' fullCalcOnLoad="1"', "<v>0</v>")):
        patched = _rewrite(
            book,
            {
                "xl/workbook.xml": lambda x, c=calc: re.sub(
                    rb"<calcPr[^>]*/>", b'<calcPr calcId="1"' + c.encode() + b"/>", x
                ),
                "xl/worksheets/sheet1.xml": lambda x, v=value: re.sub(
                    rb"(<f>[^<]*</f>)(<v\s*/>|<v></v>)?", rb"\1" + v.encode(), x
                ),
            },
        )
        error = error_of(patched, default_config("crm"))
        assert (error.row, error.column) == (2, "legal_hold")
        assert "formula" in error.problem


def _rewrite(book: Path, parts: dict[str, Any]) -> Path:
    """A copy of `book` with some of its XML parts changed."""
    out = book.with_name(f"patched-{book.name}")
    with zipfile.ZipFile(book) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, parts[item.filename](data) if item.filename in parts else data)
    return out


def test_error_cells_are_found_in_prefixed_xml(tmp_path: Path) -> None:
    """Some writers (the .NET OpenXML SDK) prefix every element (`<x:c>`): the error cell
    is found all the same."""
    rows = [typed_row(record_id="A", legal_hold="#N/A"), typed_row(record_id="B")]
    book = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, *rows]})

    def prefixed(xml: bytes) -> bytes:
        text = xml.decode().replace("<worksheet xmlns=", "<x:worksheet xmlns:x=")
        text = text.replace("</worksheet>", "</x:worksheet>")
        return re.sub(r"<(/?)(?!x:)(\w+)", r"<\1x:\2", text).encode()

    patched = _rewrite(book, {"xl/worksheets/sheet1.xml": prefixed})
    assert b"<x:c " in zipfile.ZipFile(patched).read("xl/worksheets/sheet1.xml")
    frame = read_export(patched, default_config("crm")).frame
    assert list(frame["invalid__legal_hold"]) == [True, False]


def test_merged_cells_refuse_the_export(tmp_path: Path) -> None:
    """A `Y` merged over three rows is a value in the first of them only."""
    rows = [typed_row(record_id=i, legal_hold="Y") for i in "ABC"]
    book = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, *rows]})
    workbook = openpyxl.load_workbook(book)
    workbook["Contacts"].merge_cells("S2:S4")
    workbook.save(book)
    error = error_of(book, default_config("crm"))
    assert (error.row, error.column) == (2, "legal_hold")
    assert "merged cells" in error.problem


def test_blank_rows_are_no_records_and_shift_no_row_numbers(tmp_path: Path) -> None:
    """As a blank line in CSV: no phantom record with a blank id (which would be
    quarantined and count against the gate), and the rows keep their numbers."""
    rows = [typed_row(record_id="A"), [None] * len(HEADER), typed_row(record_id="B")]
    book = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, *rows, [None] * 3]})
    frame = read_export(book, default_config("crm")).frame
    assert list(frame["record_id"]) == ["A", "B"]
    assert list(frame["source_row"]) == [2, 4]


def test_an_id_that_is_an_error_cell_quarantines_its_record(tmp_path: Path) -> None:
    from governance.policy.engine import evaluate
    from governance.policy.model import load_policy

    rows = [typed_row(record_id="#N/A"), typed_row(record_id="B")]
    book = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, *rows]})
    assert openpyxl.load_workbook(book)["Contacts"]["A2"].data_type == "e"
    frame = read_export(book, default_config("crm")).frame
    ev = evaluate(frame, "crm", load_policy().policy, dt.date(2026, 11, 30))
    first = ev.decisions[ev.decisions["source_row"] == 2]
    assert list(first["decision"]) == ["quarantine"]
    assert "spreadsheet error" in first["reason"].iloc[0]


def test_a_formula_saved_by_a_spreadsheet_reads_as_its_value(tmp_path: Path) -> None:
    """A spreadsheet stores each formula's value: that value is read (here a `Y`)."""
    rows = [typed_row(record_id="A", legal_hold='=IF(1=1,"Y","N")'), typed_row(record_id="B")]
    book = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, *rows]})
    saved = _rewrite(
        book,
        {
            "xl/workbook.xml": lambda x: re.sub(rb"<calcPr[^>]*/>", b'<calcPr calcId="1"/>', x),
            "xl/worksheets/sheet1.xml": lambda x: re.sub(
                rb'<c r="S2"([^>]*)><f>([^<]*)</f><v\s*/></c>',
                rb'<c r="S2"\1 t="str"><f>\2</f><v>Y</v></c>',
                x,
            ),
        },
    )
    assert b"<v>Y</v>" in zipfile.ZipFile(saved).read("xl/worksheets/sheet1.xml")
    frame = read_export(saved, default_config("crm")).frame
    assert list(frame["legal_hold"]) == [True, False]
    assert not frame["invalid__legal_hold"].any()


def test_numbers_read_as_the_spreadsheet_shows_them(tmp_path: Path) -> None:
    """An id formatted `00000` is `00123`, not the id 123 of another record; an id too
    long for a spreadsheet to keep exactly is shown in E notation and held back, never
    turned into other digits."""
    from governance.policy.engine import evaluate
    from governance.policy.model import load_policy

    rows = [typed_row(record_id=123), typed_row(record_id=12345678901234567), typed_row()]
    book = write_xlsx(tmp_path / "crm.xlsx", {"Contacts": [HEADER, *rows]})
    workbook = openpyxl.load_workbook(book)
    workbook["Contacts"]["A2"].number_format = "00000"
    workbook.save(book)
    frame = read_export(book, default_config("crm")).frame
    assert list(frame["record_id"]) == ["00123", "1.23456789012346E+16", "CRM-1"]
    ev = evaluate(frame, "crm", load_policy().policy, dt.date(2026, 11, 30))
    second = ev.decisions[ev.decisions["source_row"] == 3]
    assert list(second["decision"]) == ["quarantine"]
