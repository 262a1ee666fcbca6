"""The canonical record of each source: field names, kinds and allowed values.

This is the contract between the readers and the retention engine. Export layouts from
other tools are mapped onto it by source configs (YAML), never by code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    ID = "id"
    TEXT = "text"
    ENUM = "enum"
    FLAG = "flag"
    DATE = "date"
    TIMESTAMP = "timestamp"
    EMAIL = "email"
    PHONE = "phone"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = False
    values: tuple[str, ...] = ()
    personal: bool = False
    """Personal data: kept in memory for matching and checks, never logged or written."""


def _person(*, with_company: bool = False) -> tuple[Field, ...]:
    fields = (
        Field("first_name", Kind.TEXT, personal=True),
        Field("last_name", Kind.TEXT, personal=True),
        Field("email", Kind.EMAIL, personal=True),
        Field("phone", Kind.PHONE, personal=True),
    )
    return (*fields, Field("company", Kind.TEXT)) if with_company else fields


SCHEMAS: dict[str, tuple[Field, ...]] = {
    "crm": (
        Field("record_id", Kind.ID, required=True),
        Field(
            "record_type",
            Kind.ENUM,
            required=True,
            values=(
                "contact_details",
                "payment_details",
                "communication",
                "service_account",
                "device_data",
            ),
        ),
        *_person(with_company=True),
        Field(
            "relationship",
            Kind.ENUM,
            required=True,
            values=("customer", "supplier", "third_party", "prospect", "enquirer", "other"),
        ),
        Field(
            "service",
            Kind.ENUM,
            values=("repair", "support", "rental", "cloud", "connect", "protect"),
        ),
        Field("contract_id", Kind.ID),
        Field("contract_status", Kind.ENUM, values=("active", "completed", "terminated")),
        Field("contract_end_date", Kind.DATE),
        Field("created_at", Kind.TIMESTAMP, required=True),
        Field("last_reviewed_at", Kind.TIMESTAMP),
        Field("enquiry_date", Kind.DATE),
        Field("purchased", Kind.FLAG),
        Field("marketing_opt_in", Kind.FLAG),
        Field("marketing_consent_date", Kind.DATE),
        Field("legal_hold", Kind.FLAG),
    ),
    "hr": (
        Field("person_id", Kind.ID, required=True),
        Field(
            "person_type",
            Kind.ENUM,
            required=True,
            values=("employee", "former_employee", "relative"),
        ),
        *_person(),
        Field("related_person_id", Kind.ID),
        Field("employment_start_date", Kind.DATE),
        Field("employment_end_date", Kind.DATE),
        Field("created_at", Kind.TIMESTAMP, required=True),
        Field("legal_hold", Kind.FLAG),
    ),
    "recruitment": (
        Field("person_id", Kind.ID, required=True),
        Field("role", Kind.ENUM, required=True, values=("candidate", "referee")),
        *_person(),
        Field("related_person_id", Kind.ID),
        Field("requisition_id", Kind.ID),
        Field("application_date", Kind.DATE),
        Field(
            "recruitment_status",
            Kind.ENUM,
            values=("open", "hired", "rejected", "withdrawn", "closed"),
        ),
        Field("recruitment_concluded_date", Kind.DATE),
        Field("created_at", Kind.TIMESTAMP, required=True),
        Field("legal_hold", Kind.FLAG),
    ),
}

SOURCES: tuple[str, ...] = tuple(SCHEMAS)

ID_FIELD: dict[str, str] = {"crm": "record_id", "hr": "person_id", "recruitment": "person_id"}

# Columns every canonical frame carries besides its fields.
ROW_COLUMN = "source_row"
"""Row number in the export as a spreadsheet shows it: the header is row 1."""

INVALID_PREFIX = "invalid__"
"""`invalid__<field>` is True where the export held a value that did not parse."""

# Y/N flags arrive as yes/no, true/false, 1/0 in any case; blank means N. Nothing else
# (`t`, `f`, `x`, ...) is read as one: a doubtful flag is invalid, never guessed.
FLAG_TRUE: frozenset[str] = frozenset({"y", "yes", "true", "1"})
FLAG_FALSE: frozenset[str] = frozenset({"n", "no", "false", "0"})


def schema(source: str) -> tuple[Field, ...]:
    try:
        return SCHEMAS[source]
    except KeyError:
        raise KeyError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}") from None


def field_map(source: str) -> dict[str, Field]:
    return {f.name: f for f in schema(source)}
