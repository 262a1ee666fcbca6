"""Values outside the export formats' spec are invalid, never guessed: `t`/`f` flags,
ISO dates without zero padding or with digits other than 0-9; and ISO 8601's decimal comma
before a fraction of a second is read as the point it stands for."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from governance.sources.config import SourceConfig, default_config
from governance.sources.reader import read_export
from tests.conftest import crm_row
from tests.engine_helpers import evaluate_rows, only, records


def cfg(**overrides: object) -> SourceConfig:
    return SourceConfig.model_validate({"source": "crm", **overrides})


# --- flags: y/n, yes/no, true/false, 1/0 and blank only ------------------------------------


@pytest.mark.parametrize("field", ["legal_hold", "purchased", "marketing_opt_in"])
@pytest.mark.parametrize("raw", ["t", "T", " t ", "f", "F", " f "])
def test_t_and_f_are_no_flag_spelling(write_csv, field, raw) -> None:
    frame = read_export(write_csv([crm_row(**{field: raw})]), default_config("crm")).frame
    assert bool(frame.loc[0, field]) is False
    assert bool(frame.loc[0, f"invalid__{field}"]) is True


@pytest.mark.parametrize("raw", ["t", "T", "f", "F"])
def test_legal_hold_t_or_f_quarantines_instead_of_deciding(tmp_path: Path, raw: str) -> None:
    """A customer contact 7 years after its contract ended is due for deletion; with a
    legal hold of `t` (or `f`) nobody can say whether it is held: quarantined, not deleted
    (nor held)."""
    row = {"contract_status": "completed", "contract_end_date": "2018-03-15", "legal_hold": raw}
    ev = evaluate_rows(tmp_path, "crm", [row], date(2025, 3, 15))
    decision = only(ev, "C1")
    assert decision["decision"] == "quarantine"
    assert decision["rule_id"] is None and decision["due_date"] is None
    assert "legal_hold" in decision["reason"]
    assert ev.quarantined_rows == 1
    assert [q["field"] for q in records(ev.quarantine)] == ["legal_hold"]
    assert "delete" not in set(ev.decisions["decision"])


# --- dates: strict ISO, ASCII digits ------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "2010-1-1",
        "2010-01-1",
        "2010-1-01",
        " 2010-1-31 ",
        "２０２０-01-31",  # full-width year
        "٢٠٢٠-01-31",  # Arabic-Indic year
    ],
)
def test_iso_dates_must_be_zero_padded_ascii(write_csv, raw) -> None:
    frame = read_export(write_csv([crm_row(contract_end_date=raw)]), default_config("crm")).frame
    assert pd.isna(frame.loc[0, "contract_end_date"])
    assert bool(frame.loc[0, "invalid__contract_end_date"]) is True


@pytest.mark.parametrize(
    "raw",
    [
        "2020-1-31",  # the ISO fallback of a UK source is strict ISO too
        "2020-01-1",
        "31/01/２０２０",
        "1/1/٢٠٢٠",
    ],
)
def test_uk_dates_reject_unpadded_iso_and_non_ascii_digits(write_csv, raw) -> None:
    frame = read_export(
        write_csv([crm_row(contract_end_date=raw)]), cfg(date_format="%d/%m/%Y")
    ).frame
    assert pd.isna(frame.loc[0, "contract_end_date"])
    assert bool(frame.loc[0, "invalid__contract_end_date"]) is True


def test_uk_format_keeps_its_own_spellings_and_strict_iso(write_csv) -> None:
    cells = ["31/01/2020", "1/2/2020", " 2020-01-31 ", "2020-1-31", "３１/０１/2020", "29/02/2023"]
    rows = [crm_row(record_id=f"R{i}", contract_end_date=c) for i, c in enumerate(cells)]
    frame = read_export(write_csv(rows), cfg(date_format="%d/%m/%Y")).frame
    assert list(frame["contract_end_date"][:3]) == [
        pd.Timestamp("2020-01-31"),
        pd.Timestamp("2020-02-01"),
        pd.Timestamp("2020-01-31"),
    ]
    assert frame["contract_end_date"][3:].isna().all()
    assert list(frame["invalid__contract_end_date"]) == [False] * 3 + [True] * 3


# --- timestamps: the decimal comma ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "london_date"),
    [
        ("2022-06-30T23:30:00,5Z", "2022-07-01"),  # BST: 00:30 next day in London
        ("2022-06-30 23:30:00,5Z", "2022-07-01"),
        ("2024-01-15T23:59:59,999999-00:30", "2024-01-16"),
        ("2022-06-30T23:30:00,123+01:00", "2022-06-30"),
        ("2022-06-30T23:30:00,5", "2022-06-30"),  # no offset: London wall clock
    ],
)
def test_decimal_comma_before_the_seconds_fraction(write_csv, raw, london_date) -> None:
    point = raw.replace(",", ".")
    rows = [crm_row(record_id="C", created_at=raw), crm_row(record_id="P", created_at=point)]
    frame = read_export(write_csv(rows), default_config("crm")).frame
    assert list(frame["created_at"]) == [pd.Timestamp(london_date)] * 2
    assert list(frame["invalid__created_at"]) == [False, False]


def test_decimal_comma_changes_nothing_else(write_csv) -> None:
    """Only a seconds fraction takes the comma; hour 24 and lower-case `t`/`z` stay invalid."""
    cells = [
        "2022-06-30T23:30:00,5Z",
        "2022-06-30T24:00:00,0Z",
        "2022-06-30T24:00:00Z",
        "2022-06-30t23:30:00,5z",
        "2022-06-30T23:30:00,5z",
        "2022-06-30t23:30:00Z",
        "2022-06-30T23:30,5Z",
        "2022-06-30T23:30:00,Z",
        "2022-06-30,5",
    ]
    rows = [crm_row(record_id=f"R{i}", created_at=c) for i, c in enumerate(cells)]
    frame = read_export(write_csv(rows), default_config("crm")).frame
    assert frame.loc[0, "created_at"] == pd.Timestamp("2022-07-01")
    assert frame["created_at"][1:].isna().all()
    assert list(frame["invalid__created_at"]) == [False] + [True] * (len(cells) - 1)
