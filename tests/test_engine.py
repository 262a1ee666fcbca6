"""The retention engine against RETENTION_SCHEDULE.md: every rule at its edges, the
overrides, the data-quality causes, the whole-export gate, the policy as data, and
properties over generated records.

Inputs are small CSV exports in the default layouts, written to a temporary directory and
read through the real reader; the shipped policy decides unless a test says otherwise.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.policy.engine import Evaluation, evaluate
from governance.policy.model import DEFAULT_POLICY, load_policy
from governance.sources.config import default_config
from governance.sources.reader import read_export
from tests.engine_helpers import (
    SECRET_EMAIL,
    SECRET_FIRST,
    SECRET_LAST,
    SECRETS,
    by_rule,
    evaluate_rows,
    only,
    records,
    rows_of,
    shipped_policy,
    write_export,
)

Decide = Callable[..., Evaluation]
D = date.fromisoformat
DAY = timedelta(days=1)

AS_OF = D("2025-03-15")
TOMORROW = "2025-03-16"

NO_CONTRACT = {"contract_id": "", "contract_status": ""}


@pytest.fixture
def decide(tmp_path: Path) -> Decide:
    """decide(source, rows, as_of, policy=None): write, read and evaluate a small export."""

    def run(source: str, rows: list[dict[str, str]], as_of: date, policy: Any = None):
        return evaluate_rows(tmp_path, source, rows, as_of, policy)

    return run


def customer(**changes: str) -> dict[str, str]:
    """A customer record of a contract completed on 2018-03-15 (unless changed)."""
    return {"contract_status": "completed", "contract_end_date": "2018-03-15", **changes}


# --- 1. every rule at its edges --------------------------------------------------------------


class Edge(NamedTuple):
    source: str
    rows: list[dict[str, str]]
    record_id: str
    rule_id: str
    trigger: str
    due: str
    action: str
    fact: str  # what the reason says when the rule acts


EDGES = [
    Edge(
        "crm",
        [customer(record_id="C1")],
        "C1",
        "CUST-CONTACT-7Y",
        "2018-03-15",
        "2025-03-15",
        "delete",
        "retention ended 7 years after contract_end_date",
    ),
    Edge(
        "crm",
        [customer(record_id="C1", record_type="communication", contract_status="terminated")],
        "C1",
        "CUST-COMMS-7Y",
        "2018-03-15",
        "2025-03-15",
        "delete",
        "7 years after contract_end_date",
    ),
    Edge(
        "crm",
        [customer(record_id="C1", record_type="payment_details", contract_end_date="2025-03-15")],
        "C1",
        "CUST-PAYMENT-END",
        "2025-03-15",
        "2025-03-15",
        "delete",
        "retention ended at contract_end_date",
    ),
    Edge(
        "crm",
        [
            customer(
                record_id="C1",
                record_type="service_account",
                service="support",
                contract_status="terminated",
                contract_end_date="2025-03-15",
            )
        ],
        "C1",
        "CUST-SERVICE-END",
        "2025-03-15",
        "2025-03-15",
        "delete",
        "at contract_end_date",
    ),
    Edge(
        "crm",
        [
            customer(
                record_id="C1",
                record_type="device_data",
                service="rental",
                contract_end_date="2025-03-15",
            )
        ],
        "C1",
        "RENTAL-DEVICE-END",
        "2025-03-15",
        "2025-03-15",
        "delete",
        "at contract_end_date",
    ),
    Edge(
        "crm",
        [
            {
                "record_id": "C1",
                "record_type": "device_data",
                "service": "repair",
                "created_at": "2025-03-15T09:00:00Z",
            }
        ],
        "C1",
        "REPAIR-NOT-HELD",
        "2025-03-15",
        "2025-03-15",
        "delete",
        "at created_at",
    ),
    Edge(
        "crm",
        [
            customer(
                record_id="C1",
                relationship="supplier",
                record_type="communication",
                contract_end_date="2019-03-15",
            )
        ],
        "C1",
        "SUPPLIER-6Y",
        "2019-03-15",
        "2025-03-15",
        "delete",
        "6 years after contract_end_date",
    ),
    Edge(
        "crm",
        [
            customer(
                record_id="C1",
                relationship="third_party",
                contract_status="terminated",
                contract_end_date="2019-03-15",
            )
        ],
        "C1",
        "THIRD-PARTY-FILE-6Y",
        "2019-03-15",
        "2025-03-15",
        "delete",
        "6 years after contract_end_date",
    ),
    Edge(
        "crm",
        [
            {
                "record_id": "C1",
                "relationship": "enquirer",
                **NO_CONTRACT,
                "enquiry_date": "2024-12-15",
            }
        ],
        "C1",
        "ENQUIRY-3M",
        "2024-12-15",
        "2025-03-15",
        "delete",
        "3 months after enquiry_date",
    ),
    Edge(
        "crm",
        [
            {
                "record_id": "C1",
                "relationship": "prospect",
                **NO_CONTRACT,
                "created_at": "2022-03-15T10:00:00Z",
            }
        ],
        "C1",
        "CONTACTS-REVIEW-3Y",
        "2022-03-15",
        "2025-03-15",
        "review",
        "periodic review due (3 years)",
    ),
    Edge(
        "hr",
        [
            {
                "person_id": "H1",
                "person_type": "former_employee",
                "employment_end_date": "2019-03-15",
            }
        ],
        "H1",
        "EMPLOYEE-HANDBOOK-6Y",
        "2019-03-15",
        "2025-03-15",
        "delete",
        "6 years after employment_end_date",
    ),
    Edge(
        "hr",
        [
            {
                "person_id": "H1",
                "person_type": "former_employee",
                "employment_end_date": "2025-03-15",
            },
            {"person_id": "H2", "person_type": "relative", "related_person_id": "H1"},
        ],
        "H2",
        "RELATIVE-WITH-EMPLOYEE",
        "2025-03-15",
        "2025-03-15",
        "delete",
        "at related person's employment_end_date",
    ),
    Edge(
        "recruitment",
        [
            {
                "person_id": "R1",
                "recruitment_status": "rejected",
                "recruitment_concluded_date": "2024-09-15",
            }
        ],
        "R1",
        "CANDIDATE-6M",
        "2024-09-15",
        "2025-03-15",
        "delete",
        "6 months after recruitment_concluded_date",
    ),
    Edge(
        "recruitment",
        [
            {
                "person_id": "R1",
                "recruitment_status": "hired",
                "recruitment_concluded_date": "2024-09-15",
            },
            {"person_id": "R2", "role": "referee", "related_person_id": "R1"},
        ],
        "R2",
        "REFEREE-WITH-FILE",
        "2024-09-15",
        "2025-03-15",
        "delete",
        "6 months after related person's recruitment_concluded_date",
    ),
    # Month-end clamping and 29 February.
    Edge(
        "recruitment",
        [
            {
                "person_id": "R1",
                "recruitment_status": "withdrawn",
                "recruitment_concluded_date": "2024-08-31",
            }
        ],
        "R1",
        "CANDIDATE-6M",
        "2024-08-31",
        "2025-02-28",
        "delete",
        "6 months after recruitment_concluded_date",
    ),
    Edge(
        "crm",
        [
            {
                "record_id": "C1",
                "relationship": "enquirer",
                **NO_CONTRACT,
                "enquiry_date": "2019-08-31",
            }
        ],
        "C1",
        "ENQUIRY-3M",
        "2019-08-31",
        "2019-11-30",
        "delete",
        "3 months after enquiry_date",
    ),
    Edge(
        "crm",
        [customer(record_id="C1", contract_end_date="2024-02-29")],
        "C1",
        "CUST-CONTACT-7Y",
        "2024-02-29",
        "2031-02-28",
        "delete",
        "7 years after contract_end_date",
    ),
]
EDGE_IDS = [f"{e.rule_id}:{e.trigger}" for e in EDGES]


@pytest.mark.parametrize("edge", EDGES, ids=EDGE_IDS)
def test_rule_acts_on_its_due_date(decide: Decide, edge: Edge) -> None:
    ev = decide(edge.source, edge.rows, D(edge.due))
    row = only(ev, edge.record_id)
    assert row["rule_id"] == edge.rule_id
    assert row["decision"] == edge.action
    assert row["trigger_date"] == D(edge.trigger)
    assert row["due_date"] == D(edge.due)
    assert edge.fact in row["reason"]
    assert ev.quarantined_rows == 0
    # ... and keeps acting afterwards.
    later = only(decide(edge.source, edge.rows, D(edge.due) + timedelta(days=400)), edge.record_id)
    assert (later["decision"], later["due_date"]) == (edge.action, D(edge.due))


@pytest.mark.parametrize("edge", EDGES, ids=EDGE_IDS)
def test_rule_retains_until_the_day_before(decide: Decide, edge: Edge) -> None:
    as_of = D(edge.due) - DAY
    ev = decide(edge.source, edge.rows, as_of)
    row = only(ev, edge.record_id)
    if edge.trigger == edge.due:
        # A zero period is due on its trigger date: the day before, the trigger itself lies
        # in the future although the record says it has happened.
        assert row["decision"] == "quarantine"
        assert row["rule_id"] is None
        return
    assert row["rule_id"] == edge.rule_id
    assert row["decision"] == "retain"
    assert row["trigger_date"] == D(edge.trigger)
    assert row["due_date"] == D(edge.due)
    assert "not yet due" in row["reason"]


def test_zero_period_rules_are_due_on_the_trigger_date_itself(decide: Decide) -> None:
    rows = [
        customer(record_type="payment_details", contract_end_date="2024-06-01"),
        customer(record_type="service_account", contract_end_date="2024-06-01"),
        customer(record_type="device_data", service="rental", contract_end_date="2024-06-01"),
        {"record_type": "device_data", "service": "repair", "created_at": "2024-06-01T08:00:00"},
    ]
    ev = decide("crm", rows, D("2024-06-01"))
    got = [
        (r["rule_id"], r["decision"], r["trigger_date"], r["due_date"])
        for r in records(ev.decisions)
    ]
    day = D("2024-06-01")
    assert got == [
        ("CUST-PAYMENT-END", "delete", day, day),
        ("CUST-SERVICE-END", "delete", day, day),
        ("RENTAL-DEVICE-END", "delete", day, day),
        ("REPAIR-NOT-HELD", "delete", day, day),
    ]


ACTIVE = [
    ("crm", [{"record_type": "contact_details"}], "CUST-CONTACT-7Y"),
    ("crm", [{"record_type": "communication"}], "CUST-COMMS-7Y"),
    ("crm", [{"record_type": "payment_details"}], "CUST-PAYMENT-END"),
    ("crm", [{"record_type": "service_account", "service": "cloud"}], "CUST-SERVICE-END"),
    ("crm", [{"record_type": "device_data", "service": "rental"}], "RENTAL-DEVICE-END"),
    ("crm", [{"relationship": "supplier"}], "SUPPLIER-6Y"),
    ("crm", [{"relationship": "third_party"}], "THIRD-PARTY-FILE-6Y"),
    ("hr", [{"person_type": "employee"}], "EMPLOYEE-HANDBOOK-6Y"),
    ("recruitment", [{"recruitment_status": "open"}], "CANDIDATE-6M"),
]


@pytest.mark.parametrize(("source", "rows", "rule_id"), ACTIVE, ids=[a[2] for a in ACTIVE])
def test_no_trigger_yet_is_retain_with_blank_due_naming_the_rule(
    decide: Decide, source: str, rows: list[dict[str, str]], rule_id: str
) -> None:
    # The active contract has an old end date and the open candidate a concluded date: they
    # are not triggers while the status says nothing has ended.
    rows = [
        {**rows[0], "contract_end_date": "2010-01-31", "recruitment_concluded_date": "2010-01-31"}
    ]
    ev = decide(source, rows, AS_OF)
    row = only(ev, {"crm": "C1", "hr": "H1", "recruitment": "R1"}[source])
    assert row["rule_id"] == rule_id
    assert row["decision"] == "retain"
    assert row["trigger_date"] is None
    assert row["due_date"] is None
    assert "no trigger yet" in row["reason"]


def test_repair_device_data_is_deleted_and_counted_as_a_breach(decide: Decide) -> None:
    rows = [
        {"record_type": "device_data", "service": "repair", "created_at": "2024-01-05T10:00:00Z"},
        # Any relationship: a supplier's repair data is its own breach besides the supplier file.
        {
            "relationship": "supplier",
            "record_type": "device_data",
            "service": " Repair ",
            "created_at": "2024-02-01",
        },
        {"record_type": "device_data", "service": "rental"},
    ]
    ev = decide("crm", rows, AS_OF)
    assert ev.breaches == {"REPAIR-NOT-HELD": 2}
    c1 = only(ev, "C1")
    assert (c1["rule_id"], c1["decision"], c1["due_date"]) == (
        "REPAIR-NOT-HELD",
        "delete",
        D("2024-01-05"),
    )
    c2 = by_rule(ev, "C2")
    assert set(c2) == {"REPAIR-NOT-HELD", "SUPPLIER-6Y"}
    assert c2["REPAIR-NOT-HELD"]["decision"] == "delete"
    assert c2["REPAIR-NOT-HELD"]["due_date"] == D("2024-02-01")
    assert c2["SUPPLIER-6Y"]["decision"] == "retain"
    assert decide("crm", rows[2:], AS_OF).breaches == {"REPAIR-NOT-HELD": 0}


@pytest.mark.parametrize("status", ["hired", "rejected", "withdrawn", "closed"])
def test_every_concluded_status_starts_the_candidate_clock(decide: Decide, status: str) -> None:
    rows = [
        {"recruitment_status": status, "recruitment_concluded_date": "2024-09-15"},
        {"role": "referee", "related_person_id": "R1"},
    ]
    ev = decide("recruitment", rows, AS_OF)
    for rid, rule_id in (("R1", "CANDIDATE-6M"), ("R2", "REFEREE-WITH-FILE")):
        row = only(ev, rid)
        assert (row["rule_id"], row["decision"]) == (rule_id, "delete")
        assert (row["trigger_date"], row["due_date"]) == (D("2024-09-15"), D("2025-03-15"))
    before = decide("recruitment", rows, AS_OF - DAY)
    assert [r["decision"] for r in records(before.decisions)] == ["retain", "retain"]


def test_referee_of_an_open_candidate_is_retained_without_due(decide: Decide) -> None:
    rows = [
        {"recruitment_status": "open", "recruitment_concluded_date": ""},
        {"role": "referee", "related_person_id": "R1", "recruitment_status": ""},
    ]
    ev = decide("recruitment", rows, AS_OF)
    row = only(ev, "R2")
    assert (row["rule_id"], row["decision"]) == ("REFEREE-WITH-FILE", "retain")
    assert row["trigger_date"] is None and row["due_date"] is None
    assert ev.quarantined_rows == 0


def test_relative_follows_the_related_former_employee(decide: Decide) -> None:
    rows = [
        {"person_type": "former_employee", "employment_end_date": "2023-06-30"},
        {"person_type": "relative", "related_person_id": "H1"},
        {"person_type": "employee"},
        {"person_type": "relative", "related_person_id": "H3"},
    ]
    ev = decide("hr", rows, AS_OF)
    h1 = only(ev, "H1")
    assert (h1["rule_id"], h1["decision"], h1["due_date"]) == (
        "EMPLOYEE-HANDBOOK-6Y",
        "retain",
        D("2029-06-30"),
    )
    h2 = only(ev, "H2")
    assert (h2["rule_id"], h2["decision"]) == ("RELATIVE-WITH-EMPLOYEE", "delete")
    assert h2["trigger_date"] == h2["due_date"] == D("2023-06-30")
    h4 = only(ev, "H4")
    assert (h4["rule_id"], h4["decision"]) == ("RELATIVE-WITH-EMPLOYEE", "retain")
    assert h4["trigger_date"] is None and h4["due_date"] is None
    assert ev.quarantined_rows == 0


# --- CONTACTS-REVIEW-3Y ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("created_at", "last_reviewed_at"),
    [
        ("2018-01-01T10:00:00Z", "2022-03-15T10:00:00Z"),  # reviewed after creation
        ("2022-03-15T10:00:00Z", "2020-01-01T10:00:00Z"),  # (odd) created after the review
        ("2022-03-15T10:00:00Z", ""),  # never reviewed
    ],
)
@pytest.mark.parametrize("relationship", ["third_party", "prospect", "enquirer", "other"])
def test_review_is_due_three_years_after_the_latest_of_review_and_creation(
    decide: Decide, relationship: str, created_at: str, last_reviewed_at: str
) -> None:
    row = {
        "relationship": relationship,
        **NO_CONTRACT,
        "created_at": created_at,
        "last_reviewed_at": last_reviewed_at,
        "enquiry_date": "2022-01-10",
        "purchased": "Y",  # an enquirer who purchased is reviewed, not deleted at 3 months
    }
    due = only(decide("crm", [row], AS_OF), "C1")
    assert (due["rule_id"], due["decision"]) == ("CONTACTS-REVIEW-3Y", "review")
    assert (due["trigger_date"], due["due_date"]) == (D("2022-03-15"), D("2025-03-15"))
    before = only(decide("crm", [row], AS_OF - DAY), "C1")
    assert (before["rule_id"], before["decision"]) == ("CONTACTS-REVIEW-3Y", "retain")
    assert before["due_date"] == D("2025-03-15")


def test_enquirer_gets_enquiry_3m_or_the_review_never_both(decide: Decide) -> None:
    enquirer = {
        "relationship": "enquirer",
        **NO_CONTRACT,
        "enquiry_date": "2024-10-01",
        "created_at": "2024-10-01T12:00:00Z",
    }
    rows = [
        {**enquirer, "purchased": "N", "marketing_opt_in": "N"},
        {**enquirer, "purchased": "Y", "marketing_opt_in": "N"},
        {
            **enquirer,
            "purchased": "N",
            "marketing_opt_in": "Y",
            "marketing_consent_date": "2024-10-01",
        },
    ]
    ev = decide("crm", rows, AS_OF)
    c1 = only(ev, "C1")
    assert (c1["rule_id"], c1["decision"], c1["due_date"]) == (
        "ENQUIRY-3M",
        "delete",
        D("2025-01-01"),
    )
    c2 = only(ev, "C2")
    assert (c2["rule_id"], c2["decision"], c2["due_date"]) == (
        "CONTACTS-REVIEW-3Y",
        "retain",
        D("2027-10-01"),
    )
    c3 = by_rule(ev, "C3")
    assert set(c3) == {"CONTACTS-REVIEW-3Y", "MARKETING-CONSENT-3Y"}
    assert c3["CONTACTS-REVIEW-3Y"]["decision"] == "retain"


# --- MARKETING-CONSENT-3Y ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "decision", "fact"),
    [
        ("2025-02-12", "retain", "current"),  # expiry - 31 days
        ("2025-02-13", "renew_consent", "within 30 days"),  # expiry - 30 days
        ("2025-03-14", "renew_consent", "within 30 days"),
        ("2025-03-15", "consent_expired", "expired"),  # expiry
        ("2026-01-01", "consent_expired", "expired"),
    ],
)
def test_marketing_consent_in_addition_to_the_retention_rule(
    decide: Decide, as_of: str, decision: str, fact: str
) -> None:
    row = {"marketing_opt_in": "Y", "marketing_consent_date": "2022-03-15"}
    ev = decide("crm", [row], D(as_of))
    rules = by_rule(ev, "C1")
    assert set(rules) == {"CUST-CONTACT-7Y", "MARKETING-CONSENT-3Y"}
    assert rules["CUST-CONTACT-7Y"]["decision"] == "retain"
    consent = rules["MARKETING-CONSENT-3Y"]
    assert consent["decision"] == decision
    assert consent["trigger_date"] == D("2022-03-15")
    assert consent["due_date"] == D("2025-03-15")
    assert fact in consent["reason"]


def test_consent_applies_to_contact_details_only(decide: Decide) -> None:
    rows = [
        {
            "record_type": "communication",
            "marketing_opt_in": "Y",
            "marketing_consent_date": "2020-01-01",
        },
        {"marketing_opt_in": "N", "marketing_consent_date": "2020-01-01"},
    ]
    ev = decide("crm", rows, AS_OF)
    assert set(by_rule(ev, "C1")) == {"CUST-COMMS-7Y"}
    assert set(by_rule(ev, "C2")) == {"CUST-CONTACT-7Y"}


# --- 2. timestamps and messy spellings -----------------------------------------------------


def test_timestamps_are_london_dates(decide: Decide) -> None:
    prospect = {"relationship": "prospect", **NO_CONTRACT}
    rows = [
        {**prospect, "created_at": "2024-03-31T23:30:00Z"},  # London 2024-04-01 00:30 BST
        {**prospect, "created_at": "2024-03-31T23:30:00"},  # already London local time
        {**prospect, "created_at": "2024-04-01T00:30:00+02:00"},  # London 2024-03-31 23:30
    ]
    ev = decide("crm", rows, D("2027-03-31"))
    assert [(r["trigger_date"], r["due_date"], r["decision"]) for r in records(ev.decisions)] == [
        (D("2024-04-01"), D("2027-04-01"), "retain"),
        (D("2024-03-31"), D("2027-03-31"), "review"),
        (D("2024-03-31"), D("2027-03-31"), "review"),
    ]
    assert only(decide("crm", rows, D("2027-04-01")), "C1")["decision"] == "review"


MESSY = [
    ("crm", customer(relationship="customer"), customer(relationship="  Customer ")),
    ("crm", customer(record_type="communication"), customer(record_type=" COMMUNICATION")),
    ("crm", customer(contract_status="completed"), customer(contract_status="Completed ")),
    ("crm", customer(legal_hold="Y"), customer(legal_hold="yes")),
    ("crm", customer(legal_hold="Y"), customer(legal_hold="TRUE")),
    ("crm", customer(legal_hold="N"), customer(legal_hold="0")),
    ("crm", customer(legal_hold="N"), customer(legal_hold="")),
    (
        "crm",
        {"relationship": "enquirer", **NO_CONTRACT, "enquiry_date": "2024-06-01", "purchased": "N"},
        {"relationship": "enquirer", **NO_CONTRACT, "enquiry_date": "2024-06-01", "purchased": "0"},
    ),
    (
        "crm",
        {"relationship": "enquirer", **NO_CONTRACT, "enquiry_date": "2024-06-01", "purchased": "N"},
        {"relationship": "enquirer", **NO_CONTRACT, "enquiry_date": "2024-06-01", "purchased": ""},
    ),
    (
        "crm",
        {"relationship": "enquirer", **NO_CONTRACT, "enquiry_date": "2024-06-01", "purchased": "Y"},
        {
            "relationship": "enquirer",
            **NO_CONTRACT,
            "enquiry_date": "2024-06-01",
            "purchased": "yes",
        },
    ),
    (
        "crm",
        {"marketing_opt_in": "Y", "marketing_consent_date": "2022-03-20"},
        {"marketing_opt_in": "TRUE", "marketing_consent_date": "2022-03-20"},
    ),
    (
        "hr",
        {"person_type": "former_employee", "employment_end_date": "2019-01-31"},
        {"person_type": "FORMER_EMPLOYEE", "employment_end_date": "2019-01-31"},
    ),
    (
        "hr",
        {"person_type": "former_employee", "employment_end_date": "2019-01-31", "legal_hold": "Y"},
        {
            "person_type": "former_employee",
            "employment_end_date": "2019-01-31",
            "legal_hold": " true ",
        },
    ),
    (
        "recruitment",
        {"recruitment_status": "rejected", "recruitment_concluded_date": "2024-01-31"},
        {"recruitment_status": " REJECTED", "recruitment_concluded_date": "2024-01-31"},
    ),
]


@pytest.mark.parametrize(("source", "clean", "messy"), MESSY)
def test_messy_spellings_decide_like_clean_ones(
    decide: Decide, source: str, clean: dict[str, str], messy: dict[str, str]
) -> None:
    prefix = {"crm": "C", "hr": "H", "recruitment": "R"}[source]
    ev = decide(source, [clean, messy], AS_OF)
    assert ev.quarantined_rows == 0

    def essentials(rid: str) -> list[tuple[Any, ...]]:
        return [
            (r["rule_id"], r["decision"], r["trigger_date"], r["due_date"], r["reason"])
            for r in rows_of(ev, rid)
        ]

    assert essentials(f"{prefix}1") == essentials(f"{prefix}2")
    assert essentials(f"{prefix}1")  # not vacuous


# --- 3. overrides ----------------------------------------------------------------------------


def _held(edge: Edge) -> list[dict[str, str]]:
    id_name = "record_id" if edge.source == "crm" else "person_id"
    return [
        {**row, "legal_hold": "Y"} if row.get(id_name) == edge.record_id else row
        for row in edge.rows
    ]


@pytest.mark.parametrize("edge", EDGES, ids=EDGE_IDS)
def test_legal_hold_turns_delete_into_hold_keeping_the_due_date(decide: Decide, edge: Edge) -> None:
    ev = decide(edge.source, _held(edge), D(edge.due))
    row = only(ev, edge.record_id)
    assert row["rule_id"] == edge.rule_id
    assert row["decision"] == ("hold" if edge.action == "delete" else edge.action)
    assert (row["trigger_date"], row["due_date"]) == (D(edge.trigger), D(edge.due))
    if edge.action == "delete":
        assert "legal hold" in row["reason"]
    # Not yet due under hold: still retain with its due date.
    if edge.trigger != edge.due:
        before = only(decide(edge.source, _held(edge), D(edge.due) - DAY), edge.record_id)
        assert (before["decision"], before["due_date"]) == ("retain", D(edge.due))


def test_consent_and_review_decisions_stand_under_legal_hold(decide: Decide) -> None:
    rows = [
        customer(marketing_opt_in="Y", marketing_consent_date="2021-01-10", legal_hold="Y"),
        {
            "relationship": "other",
            **NO_CONTRACT,
            "created_at": "2020-01-01T09:00:00Z",
            "marketing_opt_in": "Y",
            "marketing_consent_date": "2022-04-01",  # expiry 2025-04-01
            "legal_hold": "Y",
        },
    ]
    ev = decide("crm", rows, AS_OF)
    c1 = by_rule(ev, "C1")
    assert c1["CUST-CONTACT-7Y"]["decision"] == "hold"
    assert c1["CUST-CONTACT-7Y"]["due_date"] == D("2025-03-15")
    assert c1["MARKETING-CONSENT-3Y"]["decision"] == "consent_expired"
    c2 = by_rule(ev, "C2")
    assert c2["CONTACTS-REVIEW-3Y"]["decision"] == "review"
    assert c2["MARKETING-CONSENT-3Y"]["decision"] == "renew_consent"
    assert c2["MARKETING-CONSENT-3Y"]["due_date"] == D("2025-04-01")


def test_quarantine_wins_over_legal_hold(decide: Decide) -> None:
    rows = [customer(contract_end_date="2023-02-30", legal_hold="Y")]
    ev = decide("crm", rows, AS_OF)
    row = only(ev, "C1")
    assert row["decision"] == "quarantine"
    assert row["rule_id"] is None
    assert row["due_date"] is None and row["trigger_date"] is None


def test_legal_hold_on_the_former_employee_holds_the_relative(decide: Decide) -> None:
    rows = [
        {"person_type": "former_employee", "employment_end_date": "2018-01-31", "legal_hold": "Y"},
        {"person_type": "relative", "related_person_id": "H1"},
        {"person_type": "former_employee", "employment_end_date": "2018-01-31"},
        {"person_type": "relative", "related_person_id": "H3"},
    ]
    ev = decide("hr", rows, AS_OF)
    assert [(r["source_record_id"], r["decision"]) for r in records(ev.decisions)] == [
        ("H1", "hold"),
        ("H2", "hold"),
        ("H3", "delete"),
        ("H4", "delete"),
    ]
    h2 = only(ev, "H2")
    assert h2["due_date"] == D("2018-01-31")
    assert "legal hold" in h2["reason"]


def test_legal_hold_on_the_candidate_holds_the_referee(decide: Decide) -> None:
    rows = [
        {
            "recruitment_status": "closed",
            "recruitment_concluded_date": "2024-01-31",
            "legal_hold": "Y",
        },
        {"role": "referee", "related_person_id": "R1"},
        {"recruitment_status": "closed", "recruitment_concluded_date": "2024-01-31"},
        {"role": "referee", "related_person_id": "R3"},
    ]
    ev = decide("recruitment", rows, AS_OF)
    assert [(r["source_record_id"], r["decision"]) for r in records(ev.decisions)] == [
        ("R1", "hold"),
        ("R2", "hold"),
        ("R3", "delete"),
        ("R4", "delete"),
    ]
    r2 = only(ev, "R2")
    assert (r2["rule_id"], r2["due_date"]) == ("REFEREE-WITH-FILE", D("2024-07-31"))
    assert "legal hold" in r2["reason"]


# --- 4. data quality -----------------------------------------------------------------------


class Bad(NamedTuple):
    source: str
    rows: list[dict[str, str]]
    targets: list[int]  # spreadsheet rows (header = 1) that must be quarantined
    field: str
    fact: str
    quarantined: int = 0  # rows quarantined in all (default: len(targets))


EMPLOYEE = {"person_id": "H1", "person_type": "employee"}
CANDIDATE = {
    "person_id": "R1",
    "recruitment_status": "rejected",
    "recruitment_concluded_date": "2024-06-30",
}

BAD = {
    "blank id": Bad(
        "crm", [customer(record_id=""), customer(record_id="C2")], [2], "record_id", "blank"
    ),
    "duplicate id": Bad(
        "crm",
        [customer(record_id="C1"), customer(record_id="C2"), customer(record_id="C1")],
        [2, 4],
        "record_id",
        "more than once",
    ),
    "duplicate person id": Bad(
        "hr",
        [
            EMPLOYEE,
            {
                "person_id": "H1",
                "person_type": "former_employee",
                "employment_end_date": "2020-01-01",
            },
        ],
        [2, 3],
        "person_id",
        "more than once",
    ),
    "relationship partner": Bad(
        "crm", [customer(relationship="partner")], [2], "relationship", "not one of"
    ),
    "record_type outside list": Bad(
        "crm", [customer(record_type="letter")], [2], "record_type", "not one of"
    ),
    "contract_status outside list": Bad(
        "crm", [customer(contract_status="ended")], [2], "contract_status", "not one of"
    ),
    "person_type outside list": Bad(
        "hr", [{"person_type": "contractor"}], [2], "person_type", "not one of"
    ),
    "role outside list": Bad("recruitment", [{"role": "interviewer"}], [2], "role", "not one of"),
    "status outside list": Bad(
        "recruitment", [{"recruitment_status": "hold"}], [2], "recruitment_status", "not one of"
    ),
    "contract end blank": Bad(
        "crm", [customer(contract_end_date="")], [2], "contract_end_date", "blank"
    ),
    "contract end not a date": Bad(
        "crm", [customer(contract_end_date="2023-02-30")], [2], "contract_end_date", "not a date"
    ),
    "employment end blank": Bad(
        "hr",
        [{"person_type": "former_employee", "employment_end_date": ""}],
        [2],
        "employment_end_date",
        "blank",
    ),
    "employment end not a date": Bad(
        "hr",
        [{"person_type": "former_employee", "employment_end_date": "31/13/2020"}],
        [2],
        "employment_end_date",
        "not a date",
    ),
    "concluded blank": Bad(
        "recruitment",
        [{"recruitment_status": "hired", "recruitment_concluded_date": ""}],
        [2],
        "recruitment_concluded_date",
        "blank",
    ),
    "candidate status blank": Bad(
        "recruitment", [{"recruitment_status": ""}], [2], "recruitment_status", "blank"
    ),
    "enquiry date blank": Bad(
        "crm",
        [{"relationship": "enquirer", **NO_CONTRACT, "enquiry_date": ""}],
        [2],
        "enquiry_date",
        "blank",
    ),
    "consent date blank": Bad(
        "crm",
        [customer(marketing_opt_in="Y", marketing_consent_date="")],
        [2],
        "marketing_consent_date",
        "blank",
    ),
    "consent date not a date": Bad(
        "crm",
        [customer(marketing_opt_in="Y", marketing_consent_date="2023-02-30")],
        [2],
        "marketing_consent_date",
        "not a date",
    ),
    "repair created_at blank": Bad(
        "crm",
        [{"record_type": "device_data", "service": "repair", "created_at": ""}],
        [2],
        "created_at",
        "blank",
    ),
    "completed contract ending tomorrow": Bad(
        "crm",
        [customer(contract_end_date=TOMORROW)],
        [2],
        "contract_end_date",
        "after the as-of date",
    ),
    "completed contract ending next year": Bad(
        "crm",
        [customer(relationship="supplier", contract_end_date="2026-01-31")],
        [2],
        "contract_end_date",
        "after the as-of date",
    ),
    "rejected candidate concluded tomorrow": Bad(
        "recruitment",
        [{"recruitment_status": "rejected", "recruitment_concluded_date": TOMORROW}],
        [2],
        "recruitment_concluded_date",
        "after the as-of date",
    ),
    "enquiry dated tomorrow": Bad(
        "crm",
        [{"relationship": "enquirer", **NO_CONTRACT, "enquiry_date": TOMORROW}],
        [2],
        "enquiry_date",
        "after the as-of date",
    ),
    "employment ended tomorrow": Bad(
        "hr",
        [{"person_type": "former_employee", "employment_end_date": TOMORROW}],
        [2],
        "employment_end_date",
        "after the as-of date",
    ),
    "legal_hold maybe": Bad(
        "crm", [customer(legal_hold="maybe")], [2], "legal_hold", "not a yes or a no"
    ),
    "purchased maybe": Bad(
        "crm",
        [
            {
                "relationship": "enquirer",
                **NO_CONTRACT,
                "enquiry_date": "2025-01-01",
                "purchased": "maybe",
            }
        ],
        [2],
        "purchased",
        "not a yes or a no",
    ),
    "opt-in maybe": Bad(
        "crm", [customer(marketing_opt_in="maybe")], [2], "marketing_opt_in", "not a yes or a no"
    ),
    "hr legal_hold maybe": Bad(
        "hr", [{"legal_hold": "maybe"}], [2], "legal_hold", "not a yes or a no"
    ),
    "customer without contract_id": Bad(
        "crm", [customer(contract_id="")], [2], "contract_id", "blank"
    ),
    "customer without contract_status": Bad(
        "crm", [customer(contract_status="", contract_end_date="")], [2], "contract_status", "blank"
    ),
    "supplier without contract_id": Bad(
        "crm", [customer(relationship="supplier", contract_id="")], [2], "contract_id", "blank"
    ),
    "supplier without contract_status": Bad(
        "crm",
        [customer(relationship="supplier", contract_status="")],
        [2],
        "contract_status",
        "blank",
    ),
    "relative to missing person": Bad(
        "hr",
        [EMPLOYEE, {"person_type": "relative", "related_person_id": "H9"}],
        [3],
        "related_person_id",
        "missing",
    ),
    "relative with blank link": Bad(
        "hr",
        [EMPLOYEE, {"person_type": "relative", "related_person_id": ""}],
        [3],
        "related_person_id",
        "blank",
    ),
    "relative to a relative": Bad(
        "hr",
        [
            EMPLOYEE,
            {"person_type": "relative", "related_person_id": "H1"},
            {"person_type": "relative", "related_person_id": "H2"},
        ],
        [4],
        "related_person_id",
        "not person_type employee or former_employee",
    ),
    "relative to quarantined person": Bad(
        "hr",
        [
            {**EMPLOYEE, "legal_hold": "maybe"},
            {"person_type": "relative", "related_person_id": "H1"},
        ],
        [3],
        "related_person_id",
        "quarantined",
        quarantined=2,
    ),
    "relative to former employee without end date": Bad(
        "hr",
        [
            {"person_type": "former_employee", "employment_end_date": ""},
            {"person_type": "relative", "related_person_id": "H1"},
        ],
        [2, 3],
        "",
        "",
    ),
    "referee to missing person": Bad(
        "recruitment",
        [CANDIDATE, {"role": "referee", "related_person_id": "R9"}],
        [3],
        "related_person_id",
        "missing",
    ),
    "referee to a referee": Bad(
        "recruitment",
        [
            CANDIDATE,
            {"role": "referee", "related_person_id": "R1"},
            {"role": "referee", "related_person_id": "R2"},
        ],
        [4],
        "related_person_id",
        "not role candidate",
    ),
    "referee to quarantined candidate": Bad(
        "recruitment",
        [
            {**CANDIDATE, "recruitment_status": "maybe"},
            {"role": "referee", "related_person_id": "R1"},
        ],
        [3],
        "related_person_id",
        "quarantined",
        quarantined=2,
    ),
    "device_data cloud": Bad(
        "crm",
        [customer(record_type="device_data", service="cloud")],
        [2],
        "service",
        "other than rental or repair",
    ),
    "device_data blank service": Bad(
        "crm",
        [customer(record_type="device_data", service="")],
        [2],
        "service",
        "other than rental or repair",
    ),
}


@pytest.mark.parametrize("case", list(BAD.values()), ids=list(BAD))
def test_each_data_quality_cause_quarantines(decide: Decide, case: Bad) -> None:
    ev = decide(case.source, case.rows, AS_OF)
    decisions = records(ev.decisions)
    quarantine = records(ev.quarantine)
    for target in case.targets:
        mine = [d for d in decisions if d["source_row"] == target]
        assert len(mine) == 1, mine
        row = mine[0]
        assert row["decision"] == "quarantine"
        assert row["rule_id"] is None
        assert row["trigger_date"] is None and row["due_date"] is None
        assert row["reason"]
        causes = [q for q in quarantine if q["source_row"] == target]
        assert causes, quarantine
        if case.field:
            assert any(q["field"] == case.field and case.fact in q["reason"] for q in causes), (
                causes
            )
            assert case.field in row["reason"]
    assert ev.quarantined_rows == (case.quarantined or len(case.targets))
    assert len(ev.quarantine.columns) == 4
    assert list(ev.quarantine.columns) == ["source_row", "source_record_id", "field", "reason"]
    assert {q["source_row"] for q in quarantine} == {
        d["source_row"] for d in decisions if d["decision"] == "quarantine"
    }


def test_blank_id_is_reported_without_an_id(decide: Decide) -> None:
    ev = decide("crm", [customer(record_id="  ")], AS_OF)
    row = only(ev, None)
    assert row["decision"] == "quarantine"
    assert records(ev.quarantine) == [
        {
            "source_row": 2,
            "source_record_id": None,
            "field": "record_id",
            "reason": "record_id is blank",
        }
    ]


CUSTOMER_KINDS = {
    "contact_details": {"record_type": "contact_details"},
    "communication": {"record_type": "communication"},
    "payment_details": {"record_type": "payment_details"},
    "service_account": {"record_type": "service_account", "service": "protect"},
    "device_data rental": {"record_type": "device_data", "service": "rental"},
    "device_data repair": {"record_type": "device_data", "service": "repair"},
}


@pytest.mark.parametrize("missing", ["contract_id", "contract_status"])
@pytest.mark.parametrize("kind", list(CUSTOMER_KINDS.values()), ids=list(CUSTOMER_KINDS))
@pytest.mark.parametrize("relationship", ["customer", "supplier"])
def test_customer_or_supplier_record_without_contract_is_quarantined(
    decide: Decide, relationship: str, kind: dict[str, str], missing: str
) -> None:
    """Spec, Data quality: "a customer or supplier record has no contract_id or no
    contract_status" - whatever its record_type."""
    row = customer(relationship=relationship, **kind, **{missing: ""})
    if missing == "contract_status":
        row["contract_end_date"] = ""
    ev = decide("crm", [row], AS_OF)
    got = only(ev, "C1")
    assert got["decision"] == "quarantine", got
    assert got["rule_id"] is None
    assert any(q["field"] == missing for q in records(ev.quarantine))


@pytest.mark.parametrize(
    ("source", "row"),
    [
        ("crm", {"contract_status": "active", "contract_end_date": "2023-02-30"}),
        ("crm", {"contract_status": "active", "contract_end_date": TOMORROW}),
        ("crm", {"enquiry_date": "2023-02-30"}),
        ("crm", {"last_reviewed_at": "not a time"}),
        ("crm", {"marketing_consent_date": "2023-02-30"}),  # not opted in
        ("hr", {"person_type": "employee", "employment_start_date": "2023-02-30"}),
        ("hr", {"person_type": "employee", "employment_end_date": "2023-02-30"}),
        ("hr", {"person_type": "employee", "employment_end_date": TOMORROW}),
        ("recruitment", {"recruitment_status": "open", "application_date": "2023-02-30"}),
        ("recruitment", {"recruitment_status": "open", "recruitment_concluded_date": "2023-02-30"}),
        ("recruitment", {"recruitment_status": "open", "recruitment_concluded_date": TOMORROW}),
    ],
)
def test_an_invalid_date_the_rule_does_not_need_is_no_quarantine(
    decide: Decide, source: str, row: dict[str, str]
) -> None:
    ev = decide(source, [row], AS_OF)
    assert ev.quarantined_rows == 0
    assert ev.quarantine.empty
    assert [r["decision"] for r in records(ev.decisions)] == ["retain"]


def test_reasons_and_fields_never_carry_personal_values(decide: Decide) -> None:
    rows = [
        customer(),
        customer(relationship=SECRET_FIRST),  # a name in an enumerated field
        customer(contract_end_date=SECRET_LAST),  # a name in a date field
        customer(legal_hold=SECRET_EMAIL),  # an e-mail in a flag
        customer(record_type="device_data", service=SECRET_LAST),
        customer(record_id="C1"),  # duplicate id
        customer(contract_id=""),
        customer(email="not an email " + SECRET_LAST, phone="call " + SECRET_FIRST),
        {"relationship": "enquirer", **NO_CONTRACT, "enquiry_date": TOMORROW},
    ]
    crm = decide("crm", rows, AS_OF)
    hr = decide(
        "hr",
        [
            {"person_type": "relative", "related_person_id": SECRET_EMAIL},
            {"person_type": SECRET_FIRST},
            {"person_type": "former_employee", "employment_end_date": SECRET_LAST},
        ],
        AS_OF,
    )
    assert (crm.quarantined_rows, hr.quarantined_rows) == (8, 3)
    for ev in (crm, hr):
        for table in (ev.decisions, ev.quarantine):
            text = table.astype(str).to_csv(index=False).casefold()
            for secret in SECRETS:
                assert secret.casefold() not in text


# --- 5. the whole-export gate --------------------------------------------------------------


def test_gate_allows_exactly_the_threshold(decide: Decide) -> None:
    rows = [customer() for _ in range(19)] + [customer(relationship="partner")]
    ev = decide("crm", rows, AS_OF)
    assert (ev.rows, ev.quarantined_rows) == (20, 1)
    assert ev.quarantined_share == pytest.approx(0.05)
    assert ev.blocked_reason is None


def test_gate_blocks_just_over_the_threshold(decide: Decide) -> None:
    rows = [customer() for _ in range(37)] + [
        customer(relationship="partner"),
        customer(contract_end_date=""),
    ]
    ev = decide("crm", rows, AS_OF)
    assert (ev.rows, ev.quarantined_rows) == (39, 2)
    reason = ev.blocked_reason
    assert reason is not None
    assert "2 of 39" in reason
    assert "5%" in reason


# --- 6. the policy is data -----------------------------------------------------------------


def _modified_policy(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Any:
    raw = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_policy(path)


def test_changing_a_period_in_the_policy_file_changes_the_decision(
    decide: Decide, tmp_path: Path
) -> None:
    def twelve_months(raw: dict[str, Any]) -> None:
        (rule,) = [r for r in raw["rules"] if r["id"] == "CANDIDATE-6M"]
        assert rule["period"] == {"months": 6}
        rule["period"] = {"months": 12}
        raw["version"] = "test-12m"

    loaded = _modified_policy(tmp_path, twelve_months)
    rows = [
        {"recruitment_status": "rejected", "recruitment_concluded_date": "2024-07-15"},
        {"role": "referee", "related_person_id": "R1"},
    ]

    shipped = decide("recruitment", rows, AS_OF)
    for rid in ("R1", "R2"):
        row = only(shipped, rid)
        assert (row["decision"], row["due_date"]) == ("delete", D("2025-01-15"))

    changed = decide("recruitment", rows, AS_OF, loaded.policy)
    candidate = only(changed, "R1")
    assert candidate["rule_id"] == "CANDIDATE-6M"
    assert (candidate["decision"], candidate["due_date"]) == ("retain", D("2025-07-15"))
    assert "12 months" in candidate["reason"]
    # The referee goes with the candidate's file (`same_as`), never before it.
    referee = only(changed, "R2")
    assert (referee["rule_id"], referee["decision"]) == ("REFEREE-WITH-FILE", "retain")
    assert referee["due_date"] == D("2025-07-15")

    shipped_sha = shipped_policy().sha256
    assert shipped_sha == hashlib.sha256(DEFAULT_POLICY.read_bytes()).hexdigest()
    assert loaded.sha256 == hashlib.sha256((tmp_path / "policy.yaml").read_bytes()).hexdigest()
    assert loaded.sha256 != shipped_sha
    assert loaded.policy.version == "test-12m"


def test_gate_threshold_is_policy_data(decide: Decide, tmp_path: Path) -> None:
    loaded = _modified_policy(tmp_path, lambda raw: raw["gate"].update(max_quarantined_share=0.1))
    rows = [customer() for _ in range(37)] + [customer(relationship="partner")] * 2
    assert decide("crm", rows, AS_OF).blocked_reason is not None
    assert decide("crm", rows, AS_OF, loaded.policy).blocked_reason is None


# --- 7. properties over generated records --------------------------------------------------

PROPS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DAY0 = date(2012, 1, 1)
DAYS = st.integers(min_value=0, max_value=14 * 366)  # up to 2026
AS_OFS = st.dates(min_value=date(2019, 1, 1), max_value=date(2032, 12, 31))
LATER = st.lists(st.integers(min_value=1, max_value=4000), min_size=1, max_size=3)


def _sometimes(good: st.SearchStrategy[str], *bad: str) -> st.SearchStrategy[str]:
    """Mostly `good`, now and then one of the `bad` values."""
    return st.integers(min_value=0, max_value=9).flatmap(
        lambda n: st.sampled_from(bad) if n == 0 and bad else good
    )


def _date_text() -> st.SearchStrategy[str]:
    iso = DAYS.map(lambda n: (DAY0 + timedelta(days=n)).isoformat())
    return _sometimes(iso, "", "2023-02-30")


def _timestamp_text() -> st.SearchStrategy[str]:
    clock = st.sampled_from(["T10:00:00Z", "T23:30:00Z", "T00:30:00+01:00", "T12:00:00", ""])
    stamp = st.builds(lambda n, c: (DAY0 + timedelta(days=n)).isoformat() + c, DAYS, clock)
    return _sometimes(stamp, "", "not a time")


FLAGS = _sometimes(st.sampled_from(["Y", "N", "", "yes", "no", "TRUE", "0", "1"]), "maybe")
HOLD = _sometimes(st.sampled_from(["N", "N", "", "Y", "yes"]), "maybe")


@st.composite
def crm_row(draw: st.DrawFn) -> dict[str, str]:
    record_type = draw(
        st.sampled_from(
            [
                "contact_details",
                "payment_details",
                "communication",
                "service_account",
                "device_data",
            ]
        )
    )
    relationship = draw(
        _sometimes(
            st.sampled_from(
                ["customer", "customer", "supplier", "third_party", "prospect", "enquirer", "other"]
            ),
            " Customer ",
            "partner",
        )
    )
    on_file = relationship.strip().lower() in ("customer", "supplier") or draw(st.booleans())
    if record_type == "device_data":
        service = draw(_sometimes(st.sampled_from(["rental", "repair"]), "cloud", ""))
    else:
        service = draw(st.sampled_from(["", "support", "cloud", "connect", "protect"]))
    return {
        "record_type": record_type,
        "relationship": relationship,
        "service": service,
        "contract_id": draw(_sometimes(st.just("K1"), "")) if on_file else "",
        "contract_status": draw(
            _sometimes(st.sampled_from(["active", "completed", "terminated", "Completed"]), "")
        )
        if on_file
        else "",
        "contract_end_date": draw(_date_text()),
        "created_at": draw(_timestamp_text()),
        "last_reviewed_at": draw(st.one_of(st.just(""), _timestamp_text())),
        "enquiry_date": draw(_date_text()),
        "purchased": draw(FLAGS),
        "marketing_opt_in": draw(FLAGS),
        "marketing_consent_date": draw(_date_text()),
        "legal_hold": draw(HOLD),
    }


@st.composite
def crm_exports(draw: st.DrawFn) -> list[dict[str, str]]:
    rows = draw(st.lists(crm_row(), min_size=1, max_size=8))
    out = [{"record_id": f"C{i}", **row} for i, row in enumerate(rows, start=1)]
    if len(out) > 2 and draw(st.integers(0, 4)) == 0:
        out[-1]["record_id"] = out[0]["record_id"]
    return out


@st.composite
def recruitment_exports(draw: st.DrawFn) -> list[dict[str, str]]:
    n = draw(st.integers(min_value=1, max_value=8))
    ids = [f"R{i}" for i in range(1, n + 1)]
    rows = []
    for pid in ids:
        role = draw(st.sampled_from(["candidate", "candidate", "referee"]))
        row = {
            "person_id": pid,
            "role": role,
            "recruitment_status": draw(
                _sometimes(
                    st.sampled_from(["open", "hired", "rejected", "withdrawn", "closed"]),
                    "",
                    " Rejected",
                    "maybe",
                )
            ),
            "recruitment_concluded_date": draw(_date_text()),
            "legal_hold": draw(HOLD),
            "related_person_id": "",
        }
        if role == "referee":
            row["related_person_id"] = draw(st.sampled_from([*ids, "R99", ""]))
            if draw(st.booleans()):
                row["recruitment_status"] = ""
        rows.append(row)
    return rows


@st.composite
def hr_exports(draw: st.DrawFn) -> list[dict[str, str]]:
    n = draw(st.integers(min_value=1, max_value=8))
    ids = [f"H{i}" for i in range(1, n + 1)]
    rows = []
    for pid in ids:
        kind = draw(
            st.sampled_from(
                ["employee", "former_employee", "former_employee", "relative", "FORMER_EMPLOYEE"]
            )
        )
        rows.append(
            {
                "person_id": pid,
                "person_type": kind,
                "employment_end_date": draw(_date_text()),
                "legal_hold": draw(HOLD),
                "related_person_id": draw(st.sampled_from([*ids, "H99"]))
                if kind == "relative"
                else "",
            }
        )
    return rows


def _frame(source: str, rows: list[dict[str, str]]) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_export(Path(tmp), source, rows)
        return read_export(path, default_config(source)).frame


def _held_rows(frame: pd.DataFrame, source: str) -> set[int]:
    """Rows under legal hold themselves or (relatives, referees) through the related person."""
    id_name = "record_id" if source == "crm" else "person_id"
    first_held: dict[Any, bool] = {}
    for pid, h in zip(frame[id_name].astype(object), frame["legal_hold"], strict=True):
        first_held.setdefault(pid, bool(h))
    out = set()
    for _, row in frame.iterrows():
        if bool(row["legal_hold"]):
            out.add(int(row["source_row"]))
        related = row.get("related_person_id")
        if isinstance(related, str) and first_held.get(related, False):
            out.add(int(row["source_row"]))
    return out


def _check_invariants(ev: Evaluation, frame: pd.DataFrame, source: str, as_of: date) -> None:
    decisions = records(ev.decisions)
    # Every record has a rule or is quarantined; a quarantined record has that one row only.
    assert {d["source_row"] for d in decisions} == set(frame["source_row"].astype(int))
    quarantined = {d["source_row"] for d in decisions if d["decision"] == "quarantine"}
    for d in decisions:
        if d["source_row"] in quarantined:
            assert d["decision"] == "quarantine" and d["rule_id"] is None
        else:
            assert d["rule_id"] is not None
    assert ev.quarantined_rows == len(quarantined)
    held = _held_rows(frame, source)
    for d in decisions:
        trigger, due = d["trigger_date"], d["due_date"]
        # (c) due_date >= trigger_date whenever both are set.
        if trigger is not None and due is not None:
            assert due >= trigger, d
        # (c) delete (and hold, review, consent_expired) only once due.
        if d["decision"] in ("delete", "hold", "review", "consent_expired"):
            assert due is not None and due <= as_of, d
        if d["decision"] == "renew_consent":
            assert due is not None and as_of < due <= as_of + timedelta(days=30), d
        if d["decision"] == "retain" and due is not None:
            assert due > as_of, d
        # (b) no quarantined or held record is ever deleted.
        if d["decision"] == "delete":
            assert d["source_row"] not in quarantined, d
            assert d["source_row"] not in held, d


def _check_properties(
    source: str, rows: list[dict[str, str]], as_of: date, later: list[int]
) -> None:
    frame = _frame(source, rows)
    policy = shipped_policy().policy
    ev = evaluate(frame, source, policy, as_of)
    _check_invariants(ev, frame, source, as_of)
    deleted = {
        (d["source_row"], d["rule_id"]): d["due_date"]
        for d in records(ev.decisions)
        if d["decision"] == "delete"
    }
    for k in later:
        day = as_of + timedelta(days=k)
        ev_later = evaluate(frame, source, policy, day)
        _check_invariants(ev_later, frame, source, day)
        now = {(d["source_row"], d["rule_id"]): d for d in records(ev_later.decisions)}
        # (a) monotonic deletion: once delete, delete on every later day, same due date.
        for key, due in deleted.items():
            assert key in now, (key, day)
            assert now[key]["decision"] == "delete", (key, now[key], day)
            assert now[key]["due_date"] == due


@PROPS
@given(rows=crm_exports(), as_of=AS_OFS, later=LATER)
def test_properties_crm(rows: list[dict[str, str]], as_of: date, later: list[int]) -> None:
    _check_properties("crm", rows, as_of, later)


@PROPS
@given(rows=recruitment_exports(), as_of=AS_OFS, later=LATER)
def test_properties_recruitment(rows: list[dict[str, str]], as_of: date, later: list[int]) -> None:
    _check_properties("recruitment", rows, as_of, later)


@PROPS
@given(rows=hr_exports(), as_of=AS_OFS, later=LATER)
def test_properties_hr(rows: list[dict[str, str]], as_of: date, later: list[int]) -> None:
    _check_properties("hr", rows, as_of, later)
