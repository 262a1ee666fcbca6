"""Source configs that could only fail at run time, or silently read wrong, are config errors
on load (one line, exit 2); and timestamps in a configured format are read whatever their
offsets, with ISO 8601 accepted too, as dates accept ISO."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from governance.errors import ConfigError
from governance.sources import normalise as norm
from governance.sources.config import CONFIG_DIR, SourceConfig, load_source_config
from governance.sources.reader import read_export
from tests.conftest import crm_row, governance

HUBSPOT = CONFIG_DIR / "mappings" / "hubspot_contacts.yaml"


def cfg(**overrides: object) -> SourceConfig:
    return SourceConfig.model_validate({"source": "crm", **overrides})


def config_error(tmp_path: Path, text: str) -> str:
    """The one-line error of a config file, without the file name in front."""
    path = tmp_path / "crm.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_source_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


def loads(tmp_path: Path, text: str) -> SourceConfig:
    path = tmp_path / "crm.yaml"
    path.write_text(text, encoding="utf-8")
    return load_source_config(path)[0]


def series(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype="str")


def dates(values: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else v.date().isoformat() for v in values]


# --- 1. %z with offsets that differ within one export ---------------------------------------

MIXED_OFFSETS = [
    "2024-03-30 23:30:00+0000",  # GMT: London date 30 March
    "2024-04-01 00:30:00+0100",  # BST
    "2024-03-31 23:30:00+0000",  # 00:30 BST on 1 April
    "2024-07-01 23:30:00-0400",  # 04:30 BST on 2 July
    "2024-07-01 12:00:00Z",
]


def test_a_zone_format_honours_each_cells_own_offset() -> None:
    result, invalid = norm.normalise_timestamp(
        series(MIXED_OFFSETS), "%Y-%m-%d %H:%M:%S%z", "Europe/London"
    )
    assert dates(result) == ["2024-03-30", "2024-04-01", "2024-04-01", "2024-07-02", "2024-07-01"]
    assert not invalid.any()


def test_a_zone_name_format_is_read_per_cell_too() -> None:
    raw = ["2024-07-01 23:30:00 UTC", "2024-07-01 20:00:00 America/New_York", "2024-01-01 x"]
    result, invalid = norm.normalise_timestamp(series(raw), "%Y-%m-%d %H:%M:%S %Z", "Asia/Tokyo")
    assert dates(result) == ["2024-07-02", "2024-07-02", None]
    assert list(invalid) == [False, False, True]


def test_no_cell_makes_a_zone_format_raise() -> None:
    raw = [
        *MIXED_OFFSETS,
        "2024-03-31 23:30:00+2500",  # no such offset
        "9999-12-31 23:00:00-0500",  # in year 10000 in London
        "31/03/2024 23:30 +0100",
        "2024-03-31 23:30:00+01:00",
        "2024-03-31T23:30:00",  # ISO, no offset: the configured zone
        "",
        None,
        "not a time",
    ]
    result, invalid = norm.normalise_timestamp(series(raw), "%Y-%m-%d %H:%M:%S%z", "Europe/London")
    assert dates(result)[5:] == [None, None, None, "2024-03-31", "2024-03-31", None, None, None]
    assert list(invalid)[5:] == [True, True, True, False, False, True, False, True]


@pytest.mark.parametrize("timestamp_format", [None, "%Y-%m-%d %H:%M:%S"])
def test_the_end_of_year_9999_west_of_london_is_invalid_not_an_error(
    timestamp_format: str | None,
) -> None:
    raw = ["9999-12-31T23:30:00", "9999-12-31 23:30:00", "9999-12-31 10:00:00", "2020-01-01"]
    result, invalid = norm.normalise_timestamp(series(raw), timestamp_format, "America/New_York")
    assert dates(result) == [None, None, "9999-12-31", "2020-01-01"]
    assert list(invalid) == [True, True, False, False]
    result, invalid = norm.normalise_timestamp(series(raw), timestamp_format, "Asia/Tokyo")
    assert dates(result) == ["9999-12-31", "9999-12-31", "9999-12-31", "2020-01-01"]
    assert not invalid.any()


def test_an_export_spanning_the_clock_change_is_read(tmp_path: Path, write_csv) -> None:
    rows = [crm_row(record_id=f"C{i}", created_at=v) for i, v in enumerate(MIXED_OFFSETS)]
    export = read_export(write_csv(rows), cfg(timestamp_format="%Y-%m-%d %H:%M:%S%z"))
    assert dates(export.frame["created_at"])[:3] == ["2024-03-30", "2024-04-01", "2024-04-01"]
    assert export.invalid_counts == {}
    config = tmp_path / "tz.yaml"
    config.write_text("source: crm\ntimestamp_format: '%Y-%m-%d %H:%M:%S%z'\n")
    done = governance("read", "--crm", str(tmp_path / "crm.csv"), "--crm-config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


# --- 2. ISO 8601 besides a configured timestamp format --------------------------------------


def test_iso_timestamps_are_accepted_besides_the_configured_format() -> None:
    raw = [
        "2019-01-28 12:48",  # the configured format
        "2019-01-28T12:48:00",  # an XLSX date-time cell: wall-clock time in the zone
        "2019-01-28T23:30:00",
        "2019-03-31",  # an XLSX date-time cell at midnight
        "2019-01-28T23:30:00Z",
        "2019-01-28 23:30:00,5+00:00",
        "2019-02-30T10:00:00",  # no such day
        "2019",  # pandas' ISO parser would make it 1 January
        "28/01/2019 12:48",
        "２０１９-01-28T12:48:00",
    ]
    result, invalid = norm.normalise_timestamp(series(raw), "%Y-%m-%d %H:%M", "America/New_York")
    assert dates(result) == [
        "2019-01-28",
        "2019-01-28",
        "2019-01-29",  # 04:30 in London
        "2019-03-31",
        "2019-01-28",
        "2019-01-28",
        None,
        None,
        None,
        None,
    ]
    assert list(invalid) == [False] * 6 + [True] * 4


def test_hubspot_xlsx_with_date_time_cells_reads_as_its_csv(tmp_path: Path) -> None:
    """An XLSX export's date-time cells arrive as ISO text (`2019-01-28T12:48:00`, a bare
    date at midnight), not in the preset's `%Y-%m-%d %H:%M`: every record was invalid."""
    config, _ = load_source_config(HUBSPOT)
    header = list(config.columns.values())
    created = header.index("Create Date")
    rows = [
        ("2019-01-28 12:48", dt.datetime(2019, 1, 28, 12, 48)),
        ("2019-03-31 00:00", dt.datetime(2019, 3, 31)),
        ("2026-10-01 09:00", dt.datetime(2026, 10, 1, 9)),
    ]
    text_rows: list[list[object]] = []
    for i, (text, _) in enumerate(rows):
        row: list[object] = [""] * len(header)
        row[header.index("Record ID")] = str(101 + i)
        row[header.index("Lifecycle Stage")] = "Lead"
        row[header.index("Marketing contact status")] = "Marketing contact"
        row[created] = text
        text_rows.append(row)
    csv_path = tmp_path / "hubspot.csv"
    csv_path.write_text(
        "".join(",".join(map(str, r)) + "\n" for r in [header, *text_rows]), encoding="utf-8"
    )
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row, (_, cell) in zip(text_rows, rows, strict=True):
        sheet.append([cell if i == created else v or None for i, v in enumerate(row)])
    book.save(tmp_path / "hubspot.xlsx")
    from_csv = read_export(csv_path, config)
    from_xlsx = read_export(tmp_path / "hubspot.xlsx", config)
    assert from_xlsx.invalid_counts == from_csv.invalid_counts == {}
    assert dates(from_xlsx.frame["created_at"]) == ["2019-01-28", "2019-03-31", "2026-10-01"]
    pd.testing.assert_frame_equal(from_xlsx.frame, from_csv.frame)


# --- 3. strptime formats pandas cannot use, or that name no date ----------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "timestamp_format: '%Q-%m'",
            "timestamp_format: not a strptime format pandas can read ('Q' is a bad directive",
        ),
        (
            "date_format: '%d/%m/%Q'",
            "date_format: not a strptime format pandas can read ('Q' is a bad directive",
        ),
        ("date_format: '%-d/%m/%Y'", "date_format: not a strptime format pandas can read"),
        ("date_format: '%d/%m/%Y %'", "date_format: not a strptime format pandas can read"),
        ("date_format: '%G-%V'", "date_format: not a strptime format pandas can read"),
        ("date_format: '%H'", "date_format: has no year, month or day: it must name the year"),
        ("date_format: '%m/%Y'", "date_format: has no day: it must name the year, month and day"),
        ("date_format: ''", "date_format: cannot read back what it writes"),
        (
            "timestamp_format: '%H:%M'",
            "timestamp_format: has no year, month or day: it must name the date",
        ),
        ("timestamp_format: '%d/%m %H:%M'", "timestamp_format: has no year"),
        ("date_format: '%d/%m/%Y%z'", "date_format: a date has no time zone"),
    ],
)
def test_unusable_date_and_timestamp_formats_are_config_errors(
    tmp_path: Path, text: str, message: str
) -> None:
    assert config_error(tmp_path, f"source: crm\n{text}\n").startswith(message)


@pytest.mark.parametrize(
    "text",
    [
        "date_format: '%d/%m/%Y'",
        "date_format: '%Y%m%d'",
        "date_format: '%b %d %Y'",
        "date_format: '%d/%m/%y'",
        "timestamp_format: '%d/%m/%Y %I:%M %p'",
        "timestamp_format: '%Y-%m-%d %H:%M:%S%z'",
        "timestamp_format: '%Y-%m-%d %H:%M:%S %Z'",
        "timestamp_format: '%d/%m/%Y'",
    ],
)
def test_usable_formats_load(tmp_path: Path, text: str) -> None:
    loads(tmp_path, f"source: crm\n{text}\n")


def test_a_bad_directive_is_exit_2_without_a_traceback(tmp_path: Path, write_csv) -> None:
    export = write_csv([crm_row()])
    for key in ("date_format", "timestamp_format"):
        config = tmp_path / f"{key}.yaml"
        config.write_text(f"source: crm\n{key}: '%Q-%m'\n")
        done = governance("read", "--crm", str(export), "--crm-config", str(config))
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr + done.stdout
        assert f"{config}: {key}: not a strptime format" in done.stderr + done.stdout


# --- 4. value maps and constants the reader could not use ------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "values: {relationship: {'Lead': prospect, 'lead ': customer}}",
            "values.relationship: keys 'Lead' and 'lead ' are the same export value",
        ),
        (
            "values: {relationship: {'Lead': customer, 'LEAD': customer}}",
            "values.relationship: keys 'Lead' and 'LEAD' are the same export value",
        ),
        (
            "values: {marketing_opt_in: {'1': maybe}}",
            "values.marketing_opt_in: 'maybe' not in the Y/N flag spellings (1, y, yes, true, "
            "0, n, no, false; in any case)",
        ),
        ("values: {legal_hold: {held: 'X'}}", "values.legal_hold: 'X' not in the Y/N flag"),
        ("values: {relationship: {lead: leads}}", "values.relationship: 'leads' not in customer"),
        ("values: {relationship: {'  ': other}}", "values.relationship: a blank key never"),
        (
            "constants: {legal_hold: maybe}",
            "constants.legal_hold: 'maybe' is not one of the Y/N flag spellings",
        ),
        ("constants: {purchased: ''}", "constants.purchased: '' is not one of the Y/N flag"),
        ("constants: {relationship: partner}", "constants.relationship: 'partner' is not one of"),
        (
            "constants: {contract_end_date: 31/01/2020}",
            "constants.contract_end_date: '31/01/2020' is not an ISO date (YYYY-MM-DD",
        ),
        ("constants: {enquiry_date: '2020-02-30'}", "constants.enquiry_date: '2020-02-30' is"),
        (
            "constants: {enquiry_date: 2020-01-31}",
            "constants.enquiry_date: Input should be a valid string, not a date (YAML reads an "
            "unquoted YYYY-MM-DD so: quote it)",
        ),
        ("constants: {enquiry_date: '2020-1-1'}", "constants.enquiry_date: '2020-1-1' is not"),
        ("constants: {enquiry_date: '1066-10-14'}", "constants.enquiry_date: '1066-10-14' is not"),
        (
            "constants: {created_at: yesterday}",
            "constants.created_at: 'yesterday' is not an ISO 8601 date or timestamp",
        ),
        (
            "constants: {relationship: lead}\nvalues: {relationship: {lead: leads}}",
            "values.relationship: 'leads' not in",
        ),
    ],
)
def test_value_maps_and_constants_the_reader_could_not_use(
    tmp_path: Path, text: str, message: str
) -> None:
    assert config_error(tmp_path, f"source: crm\n{text}\n").startswith(message)


def test_an_impossible_unquoted_date_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "crm.yaml"
    path.write_text("source: crm\nconstants:\n  enquiry_date: 2020-02-30\n")
    with pytest.raises(ConfigError) as info:
        load_source_config(path)
    assert str(info.value) == (
        f"{path}, line 3: constants.enquiry_date: not a date (YAML reads an unquoted "
        "YYYY-MM-DD as one): correct it, or quote it if it is text"
    )


def test_usable_value_maps_and_constants_load_and_read(tmp_path: Path, write_csv) -> None:
    config = loads(
        tmp_path,
        "source: crm\n"
        "values:\n"
        "  relationship: {'Lead': ' Prospect ', key account: CUSTOMER}\n"
        "  legal_hold: {'Held': 'Yes', 'Not held': 'n', 'yes': Y}\n"
        "  record_type: {contacts: contact_details}\n"
        "constants:\n"
        "  record_type: contacts\n"  # constants go through the value map
        "  purchased: 'TRUE'\n"
        "  enquiry_date: '2020-01-31'\n"
        "  last_reviewed_at: '2024-03-31T23:30:00Z'\n",
    )
    rows = [
        crm_row(relationship=" lead ", legal_hold="HELD"),
        crm_row(relationship="Key Account", legal_hold="not held"),
    ]
    header = [c for c in rows[0] if c not in config.constants]
    export = read_export(write_csv(rows, header=header), config)
    frame = export.frame
    assert export.invalid_counts == {}
    assert list(frame["relationship"]) == ["prospect", "customer"]
    assert list(frame["legal_hold"]) == [True, False]
    assert list(frame["record_type"]) == ["contact_details"] * 2
    assert list(frame["purchased"]) == [True, True]
    assert dates(frame["last_reviewed_at"]) == ["2024-04-01"] * 2


def test_every_shipped_config_and_preset_passes_the_checks() -> None:
    for path in sorted((CONFIG_DIR / "sources").glob("*.yaml")) + sorted(
        (CONFIG_DIR / "mappings").glob("*.yaml")
    ):
        load_source_config(path)


# --- 5. YAML booleans where text is wanted ---------------------------------------------------


@pytest.mark.parametrize(("key", "read_as"), [("yes", "true"), ("No", "false"), ("on", "true")])
def test_a_value_map_key_yaml_read_as_a_boolean_says_to_quote_it(
    tmp_path: Path, key: str, read_as: str
) -> None:
    message = config_error(tmp_path, f"source: crm\nvalues: {{legal_hold: {{{key}: Y}}}}\n")
    assert message.startswith(f"values.legal_hold: YAML read a key as {read_as} ")
    assert "quote it" in message
    assert ".1" not in message and ".0" not in message


def test_a_value_yaml_read_as_a_boolean_says_to_quote_it(tmp_path: Path) -> None:
    message = config_error(tmp_path, "source: crm\nconstants: {legal_hold: yes}\n")
    assert message.startswith("constants.legal_hold: Input should be a valid string, not true")
    assert "quote it" in message
    message = config_error(tmp_path, "source: crm\nvalues: {legal_hold: {held: yes}}\n")
    assert message.startswith("values.legal_hold.held: Input should be a valid string")
    assert "quote it" in message
