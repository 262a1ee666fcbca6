"""Helpers for the engine tests: small exports in the default layout, read through the real
reader and evaluated with the shipped policy (or a given one)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from governance.policy.engine import Evaluation, evaluate
from governance.policy.model import LoadedPolicy, Policy, load_policy
from governance.sources.config import default_config
from governance.sources.reader import read_export
from governance.sources.schema import ID_FIELD
from tests.conftest import csv_text, default_header

# Distinctive personal values: no decision or quarantine line may ever repeat them.
SECRET_FIRST = "Zebedee"
SECRET_LAST = "Quixotic-Fennimore"
SECRET_EMAIL = "zebedee.quixotic@secret-example.co.uk"
SECRET_PHONE = "07700 900123"
SECRETS = (SECRET_FIRST, SECRET_LAST, SECRET_EMAIL.lower(), SECRET_PHONE, "+447700900123")

_PERSON = {
    "first_name": SECRET_FIRST,
    "last_name": SECRET_LAST,
    "email": SECRET_EMAIL,
    "phone": SECRET_PHONE,
}

DEFAULTS: dict[str, dict[str, str]] = {
    # A customer contact whose contract is still active.
    "crm": {
        "record_type": "contact_details",
        **_PERSON,
        "company": "Hughes, Patel & Co",
        "relationship": "customer",
        "service": "",
        "contract_id": "CON-1",
        "contract_status": "active",
        "contract_end_date": "",
        "created_at": "2019-05-01T10:00:00Z",
        "last_reviewed_at": "",
        "enquiry_date": "",
        "purchased": "N",
        "marketing_opt_in": "N",
        "marketing_consent_date": "",
        "legal_hold": "N",
    },
    # A current employee.
    "hr": {
        "person_type": "employee",
        **_PERSON,
        "related_person_id": "",
        "employment_start_date": "2015-03-02",
        "employment_end_date": "",
        "created_at": "2015-02-20T09:00:00Z",
        "legal_hold": "N",
    },
    # A candidate in an open recruitment.
    "recruitment": {
        "role": "candidate",
        **_PERSON,
        "related_person_id": "",
        "requisition_id": "REQ-1",
        "application_date": "2023-01-10",
        "recruitment_status": "open",
        "recruitment_concluded_date": "",
        "created_at": "2023-01-10T09:00:00Z",
        "legal_hold": "N",
    },
}

ID_PREFIX = {"crm": "C", "hr": "H", "recruitment": "R"}


@functools.cache
def shipped_policy() -> LoadedPolicy:
    return load_policy()


def complete_rows(source: str, rows: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """Rows with every unspecified column filled from DEFAULTS; ids default to C1, C2, ..."""
    id_name = ID_FIELD[source]
    out = []
    for i, row in enumerate(rows, start=1):
        full = {id_name: f"{ID_PREFIX[source]}{i}", **DEFAULTS[source], **row}
        out.append(full)
    return out


def write_export(directory: Path, source: str, rows: Iterable[Mapping[str, str]]) -> Path:
    path = directory / f"{source}.csv"
    text = csv_text(complete_rows(source, rows), default_header(source))
    path.write_bytes(text.encode("utf-8"))
    return path


def evaluate_rows(
    directory: Path,
    source: str,
    rows: Iterable[Mapping[str, str]],
    as_of: date,
    policy: Policy | None = None,
    reviews: pd.DataFrame | None = None,
) -> Evaluation:
    path = write_export(directory, source, rows)
    frame = read_export(path, default_config(source)).frame
    return evaluate(frame, source, policy or shipped_policy().policy, as_of, reviews=reviews)


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a decisions/quarantine frame as plain dicts (dates as `date`, NA as None)."""
    return [
        {k: _plain(v) for k, v in row.items()}
        for row in table.astype(object).to_dict(orient="records")
    ]


def rows_of(ev: Evaluation, record_id: str | None, table: str = "decisions") -> list[dict]:
    frame = getattr(ev, table)
    return [r for r in records(frame) if r["source_record_id"] == record_id]


def only(ev: Evaluation, record_id: str | None) -> dict[str, Any]:
    """The single decision row of a record."""
    found = rows_of(ev, record_id)
    assert len(found) == 1, found
    return found[0]


def by_rule(ev: Evaluation, record_id: str) -> dict[str, dict[str, Any]]:
    found = rows_of(ev, record_id)
    out = {r["rule_id"]: r for r in found}
    assert len(out) == len(found), found
    return out
