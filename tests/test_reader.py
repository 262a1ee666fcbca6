"""Reading exports into canonical records: layouts, mappings and normalisation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from governance.sources.config import SourceConfig, default_config
from governance.sources.reader import read_export
from tests.conftest import crm_row


def cfg(**overrides: object) -> SourceConfig:
    return SourceConfig.model_validate({"source": "crm", **overrides})


def test_default_layout_reads_quoted_commas_newlines_and_bom(tmp_path: Path, write_csv) -> None:
    rows = [
        crm_row(record_id="A1", company='"Best" Repairs,\nLtd'),
        crm_row(record_id="A2", last_name="Smith-Jones", first_name="Zoë"),
    ]
    path = write_csv(rows)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    export = read_export(path, default_config("crm"))
    frame = export.frame
    assert export.rows == 2
    assert list(frame["record_id"]) == ["A1", "A2"]
    assert frame.loc[0, "company"] == '"Best" Repairs,\nLtd'
    assert frame.loc[1, "first_name"] == "Zoë"
    # Spreadsheet row numbers: header is row 1, even though row 2 spans two lines.
    assert list(frame["source_row"]) == [2, 3]
    assert len(export.sha256) == 64
    assert export.invalid_counts == {}


def test_header_names_match_ignoring_case_and_spaces(write_csv) -> None:
    row = crm_row()
    header = [f"  {name.upper()} " for name in row]
    path = write_csv([dict(zip(header, row.values(), strict=True))], header=header)
    frame = read_export(path, default_config("crm")).frame
    assert frame.loc[0, "record_id"] == "CRM-1"
    assert frame.loc[0, "relationship"] == "customer"


def test_every_cell_is_text_whatever_the_header_spelling(write_csv) -> None:
    """A header name with a stray space must not leave its column to pyarrow's type
    guessing: `N/A` is no blank flag (the record is doubtful, not unheld) and `00123` is
    not the id 123. The streamed reader of large exports reads the same cells."""
    from governance.sources.reader import open_large_csv

    rows = [
        crm_row(record_id="00123", legal_hold="N/A", purchased="1"),
        crm_row(record_id="1.0E+5", legal_hold="0", purchased="NULL"),
    ]
    header = [f"{name} " if i % 2 else f"\u00a0{name}" for i, name in enumerate(rows[0])]
    body = [dict(zip(header, r.values(), strict=True)) for r in rows]
    path = write_csv(body, header=header)
    export = read_export(path, default_config("crm"))
    frame = export.frame
    assert list(frame["record_id"]) == ["00123", "1.0E+5"]
    assert list(frame["invalid__legal_hold"]) == [True, False]
    assert list(frame["invalid__purchased"]) == [False, True]
    streamed = open_large_csv(path, default_config("crm"), min_bytes=0)
    assert streamed is not None
    cells = [batch.to_pylist() for batch in streamed.batches()]
    assert [row[f"c{list(rows[0]).index('record_id')}"] for row in cells[0]] == ["00123", "1.0E+5"]
    assert all(t == "string" for batch in streamed.batches() for t in map(str, batch.schema.types))


def test_extra_columns_are_ignored_and_reported(write_csv) -> None:
    row = {**crm_row(), "Notes": "called twice"}
    export = read_export(write_csv([row]), default_config("crm"))
    assert "Notes" not in export.frame.columns
    assert export.ignored_columns == ("Notes",)


@pytest.mark.parametrize(
    ("raw", "expected", "invalid"),
    [
        ("customer", "customer", False),
        ("  Customer ", "customer", False),
        ("THIRD_PARTY", "third_party", False),
        ("partner", None, True),
        ("third party", None, True),
        ("", None, False),
    ],
)
def test_enumerations_are_trimmed_and_case_folded(write_csv, raw, expected, invalid) -> None:
    frame = read_export(write_csv([crm_row(relationship=raw)]), default_config("crm")).frame
    value = frame.loc[0, "relationship"]
    assert (None if pd.isna(value) else value) == expected
    assert bool(frame.loc[0, "invalid__relationship"]) is invalid


@pytest.mark.parametrize(
    ("raw", "value", "invalid"),
    [
        ("Y", True, False),
        ("yes", True, False),
        (" TRUE ", True, False),
        ("1", True, False),
        ("n", False, False),
        ("No", False, False),
        ("false", False, False),
        ("0", False, False),
        ("", False, False),
        ("maybe", False, True),
    ],
)
def test_yes_no_flags_in_all_spellings(write_csv, raw, value, invalid) -> None:
    frame = read_export(write_csv([crm_row(legal_hold=raw)]), default_config("crm")).frame
    assert bool(frame.loc[0, "legal_hold"]) is value
    assert bool(frame.loc[0, "invalid__legal_hold"]) is invalid


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-02-29", "2024-02-29"),
        ("2019-08-31", "2019-08-31"),
        (" 2020-01-31 ", "2020-01-31"),
        ("2023-02-29", None),
        ("2023-02-30", None),
        ("31/12/2020", None),
        ("soon", None),
    ],
)
def test_iso_dates_and_invalid_dates(write_csv, raw, expected) -> None:
    frame = read_export(write_csv([crm_row(contract_end_date=raw)]), default_config("crm")).frame
    value = frame.loc[0, "contract_end_date"]
    if expected is None:
        assert pd.isna(value)
        assert frame.loc[0, "invalid__contract_end_date"]
    else:
        assert value == pd.Timestamp(expected)
        assert not frame.loc[0, "invalid__contract_end_date"]


def test_uk_date_format_is_configurable_and_iso_still_accepted(write_csv) -> None:
    rows = [
        crm_row(record_id="A", contract_end_date="31/01/2020"),
        crm_row(record_id="B", contract_end_date="2020-01-31"),
        crm_row(record_id="C", contract_end_date="31/02/2020"),
    ]
    frame = read_export(write_csv(rows), cfg(date_format="%d/%m/%Y")).frame
    assert list(frame["contract_end_date"][:2]) == [pd.Timestamp("2020-01-31")] * 2
    assert list(frame["invalid__contract_end_date"]) == [False, False, True]


@pytest.mark.parametrize(
    ("raw", "london_date"),
    [
        ("2024-03-31T23:30:00Z", "2024-04-01"),  # BST: 00:30 next day in London
        ("2024-01-15T23:30:00Z", "2024-01-15"),  # GMT: same day
        ("2024-06-01T00:30:00+01:00", "2024-06-01"),
        ("2024-06-01T23:30:00+00:00", "2024-06-02"),
        ("2024-06-01T23:30:00-05:00", "2024-06-02"),
        ("2024-10-27T01:30:00", "2024-10-27"),  # naive = London local, ambiguous hour
        ("2024-03-31 01:30", "2024-03-31"),  # naive in the skipped hour
        ("2024-03-31", "2024-03-31"),
        ("2024-06-01T23:59:59.123Z", "2024-06-02"),
    ],
)
def test_timestamps_become_london_dates(write_csv, raw, london_date) -> None:
    frame = read_export(write_csv([crm_row(created_at=raw)]), default_config("crm")).frame
    assert frame.loc[0, "created_at"] == pd.Timestamp(london_date)
    assert not frame.loc[0, "invalid__created_at"]


@pytest.mark.parametrize("raw", ["yesterday", "2024-13-01T10:00:00Z", "2024-02-30T10:00"])
def test_unparseable_timestamps_are_invalid(write_csv, raw) -> None:
    frame = read_export(write_csv([crm_row(created_at=raw)]), default_config("crm")).frame
    assert pd.isna(frame.loc[0, "created_at"])
    assert frame.loc[0, "invalid__created_at"]


def test_timestamp_format_with_stated_time_zone(write_csv) -> None:
    config = cfg(timestamp_format="%Y-%m-%d %H:%M", timezone="America/New_York")
    rows = [
        crm_row(record_id="A", created_at="2026-01-28 12:48"),
        crm_row(record_id="B", created_at="2026-01-28 20:15"),  # 01:15 next day in London
    ]
    frame = read_export(write_csv(rows), config).frame
    assert list(frame["created_at"]) == [pd.Timestamp("2026-01-28"), pd.Timestamp("2026-01-29")]


def test_emails_are_lower_cased_and_bad_ones_marked(write_csv) -> None:
    rows = [
        crm_row(record_id="A", email=" Sian.OBrien@Example.CO.UK "),
        crm_row(record_id="B", email="not-an-email"),
    ]
    frame = read_export(write_csv(rows), default_config("crm")).frame
    assert frame.loc[0, "email"] == "sian.obrien@example.co.uk"
    assert list(frame["invalid__email"]) == [False, True]


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("01242 580654", "+441242580654"),
        ("(01242) 580-654", "+441242580654"),
        ("+44 1242 580654", "+441242580654"),
        ("0044 7700 900123", "+447700900123"),
        ("+44 (0)7700 900123", "+447700900123"),
        ("07700900123", "+447700900123"),
        ("+1 212 555 0100", "+12125550100"),
    ],
)
def test_phones_become_e164(write_csv, raw, e164) -> None:
    frame = read_export(write_csv([crm_row(phone=raw)]), default_config("crm")).frame
    assert frame.loc[0, "phone"] == e164
    assert not frame.loc[0, "invalid__phone"]


@pytest.mark.parametrize("raw", ["call me", "12", "+44 12"])
def test_unreadable_phones_are_invalid(write_csv, raw) -> None:
    frame = read_export(write_csv([crm_row(phone=raw)]), default_config("crm")).frame
    assert pd.isna(frame.loc[0, "phone"])
    assert frame.loc[0, "invalid__phone"]


def test_mapping_renames_maps_values_and_sets_constants(write_csv) -> None:
    header = ["Record ID", "First Name", "Lifecycle Stage", "Create Date", "Opted In"]
    rows = [
        dict(zip(header, ["101", "Ann", "Lead", "2026-01-28 12:48", "true"], strict=True)),
        dict(zip(header, ["102", "Bob", "customer", "2026-01-28 23:30", "false"], strict=True)),
        dict(zip(header, ["103", "Cy", "Evangelist", "2026-01-29 00:10", ""], strict=True)),
    ]
    config = cfg(
        columns={
            "record_id": "record id",
            "first_name": "First Name",
            "relationship": "LIFECYCLE STAGE",
            "created_at": "Create Date",
            "marketing_opt_in": "Opted In",
        },
        values={"relationship": {"lead": "prospect", "Customer": "customer"}},
        constants={"record_type": "contact_details"},
        timestamp_format="%Y-%m-%d %H:%M",
    )
    export = read_export(write_csv(rows, header=header), config)
    frame = export.frame
    assert list(frame["record_type"]) == ["contact_details"] * 3
    assert list(frame["relationship"][:2]) == ["prospect", "customer"]
    assert list(frame["invalid__relationship"]) == [False, False, True]  # unmapped value
    assert list(frame["marketing_opt_in"]) == [True, False, False]
    assert list(frame["created_at"]) == [pd.Timestamp("2026-01-28")] * 2 + [
        pd.Timestamp("2026-01-29")
    ]


def test_footer_lines_after_the_rows_are_ignored(write_csv) -> None:
    path = write_csv([crm_row(record_id="A"), crm_row(record_id="B")])
    path.write_bytes(path.read_bytes() + b"\nGrand Totals (2 records)\n\nConfidential,,\n")
    export = read_export(path, cfg(footer=r"^Grand Totals"))
    assert list(export.frame["record_id"]) == ["A", "B"]


def test_a_footer_is_found_in_classic_mac_line_endings(write_csv) -> None:
    path = write_csv([crm_row(record_id="A"), crm_row(record_id="B")])
    text = path.read_bytes() + b"\nGrand Totals (2 records)\n\nConfidential,,\n"
    path.write_bytes(text.replace(b"\n", b"\r"))
    export = read_export(path, cfg(footer=r"^Grand Totals"))
    assert list(export.frame["record_id"]) == ["A", "B"]


def test_lines_before_the_header_can_be_skipped(write_csv) -> None:
    path = write_csv([crm_row(record_id="A")])
    path.write_bytes(b"Contacts report\nGenerated by CRM\n" + path.read_bytes())
    export = read_export(path, cfg(skip_rows=2))
    assert list(export.frame["record_id"]) == ["A"]
    assert list(export.frame["source_row"]) == [4]


def test_other_encodings_are_configurable(write_csv) -> None:
    path = write_csv([crm_row(first_name="Renée")], encoding="cp1252")
    frame = read_export(path, cfg(encoding="cp1252")).frame
    assert frame.loc[0, "first_name"] == "Renée"


def test_absent_optional_columns_read_as_blank(write_csv) -> None:
    row = {k: v for k, v in crm_row().items() if k not in ("legal_hold", "service")}
    export = read_export(write_csv([row]), default_config("crm"))
    assert set(export.absent_fields) == {"legal_hold", "service"}
    assert not export.frame.loc[0, "legal_hold"]


def test_hr_and_recruitment_layouts(write_csv) -> None:
    hr = write_csv(
        [
            {
                "person_id": "HR-1",
                "person_type": "Former_Employee",
                "employment_end_date": "2020-02-29",
                "created_at": "2015-01-01",
            },
            {
                "person_id": "HR-2",
                "person_type": "relative",
                "related_person_id": "HR-1",
                "created_at": "2015-01-01",
            },
        ],
        name="hr.csv",
        header=[
            "person_id",
            "person_type",
            "related_person_id",
            "employment_end_date",
            "created_at",
        ],
    )
    frame = read_export(hr, default_config("hr")).frame
    assert list(frame["person_type"]) == ["former_employee", "relative"]
    assert frame.loc[1, "related_person_id"] == "HR-1"
    rec = write_csv(
        [
            {
                "person_id": "R-1",
                "role": "Candidate",
                "recruitment_status": " Rejected",
                "recruitment_concluded_date": "2026-05-31",
                "created_at": "2026-01-01T09:00:00Z",
            }
        ],
        name="recruitment.csv",
    )
    frame = read_export(rec, default_config("recruitment")).frame
    assert frame.loc[0, "recruitment_status"] == "rejected"
    assert frame.loc[0, "recruitment_concluded_date"] == pd.Timestamp("2026-05-31")


def test_blank_lines_are_no_records_and_shift_no_row_numbers(write_csv) -> None:
    """A blank line between rows is left out, and the rows after it keep the number a
    spreadsheet shows them at; an empty line inside a quoted cell is part of the cell."""
    from governance.sources.reader import open_large_csv

    rows = [
        crm_row(record_id="A1", company="Two\n\nparagraphs"),
        crm_row(record_id="A2"),
        crm_row(record_id="A3"),
    ]
    path = write_csv(rows)
    lines = path.read_bytes().split(b"\n")
    # header, A1 (three lines), A2, A3: a blank line before A2 and two before A3 (CRLF)
    text = b"\n".join([*lines[:4], b"", lines[4], b"\r", b"", *lines[5:]])
    path.write_bytes(text)
    frame = read_export(path, default_config("crm")).frame
    assert list(frame["record_id"]) == ["A1", "A2", "A3"]
    assert list(frame["source_row"]) == [2, 4, 7]
    assert frame.loc[0, "company"] == "Two\n\nparagraphs"
    assert open_large_csv(path, default_config("crm"), min_bytes=0) is None
    # Without the blank lines, the rows simply follow one another.
    path.write_bytes(b"\n".join(lines))
    assert list(read_export(path, default_config("crm")).frame["source_row"]) == [2, 3, 4]


def test_classic_mac_line_endings_read_like_lf(write_csv) -> None:
    """Lone carriage returns end lines too (pyarrow reads them so; the header and the row
    counting must agree), blank lines included."""
    path = write_csv([crm_row(record_id="A1"), crm_row(record_id="A2")])
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    path.write_bytes(b"\r".join([lines[0], lines[1], b"", lines[2]]) + b"\r")
    frame = read_export(path, default_config("crm")).frame
    assert list(frame["record_id"]) == ["A1", "A2"]
    assert list(frame["source_row"]) == [2, 4]


@pytest.mark.parametrize(
    ("ending", "blank"),
    [
        (b"\n", b"\n"),
        (b"\r\n", b"\r\n"),
        (b"\r", b"\r"),
        (b"\n", b"\r"),  # mixed spellings: the line ends all the same
        (b"\n", b"\r\n"),
        (b"\r\n", b"\n"),
        (b"\r\n", b"\r"),
    ],
)
def test_blank_lines_in_any_line_ending_keep_row_numbers(write_csv, ending, blank) -> None:
    path = write_csv([crm_row(record_id="A1"), crm_row(record_id="A2")])
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    path.write_bytes(ending.join(lines[:2]) + ending + blank + lines[2] + ending)
    frame = read_export(path, default_config("crm")).frame
    assert list(frame["source_row"]) == [2, 4]


def test_a_header_cell_spanning_lines_is_one_header_row(write_csv) -> None:
    """pyarrow skips lines, the header is a record: a quoted line break in a header cell
    (or a skipped line) must not turn the rest of the header into a record."""
    from governance.sources.reader import open_large_csv

    row = crm_row(record_id="A1")
    header = [f"{name}\nof the contact" if name == "company" else name for name in row]
    path = write_csv([dict(zip(header, row.values(), strict=True))], header=header)
    path.write_text('"exported\nby CRM",x\n' + path.read_text())
    config = cfg(skip_rows=1, columns={"company": "company\nof the contact"})
    frame = read_export(path, config).frame
    assert list(frame["record_id"]) == ["A1"]
    assert list(frame["source_row"]) == [3]  # the skipped line is row 1, the header row 2
    streamed = open_large_csv(path, config, min_bytes=0)
    assert streamed is not None
    assert [b.num_rows for b in streamed.batches()] == [1]
