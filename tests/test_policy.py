"""The policy file is validated on load: one clear line naming the file and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from governance.errors import ConfigError
from governance.policy.model import DEFAULT_POLICY, load_policy


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_POLICY.read_text())
    return data


def rule(doc: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in doc["rules"] if r["id"] == rule_id)


def test_shipped_policy_covers_every_rule_of_the_schedule() -> None:
    loaded = load_policy()
    ids = {r.id for r in loaded.policy.rules}
    assert ids == {
        "CUST-CONTACT-7Y", "CUST-COMMS-7Y", "CUST-PAYMENT-END", "CUST-SERVICE-END",
        "RENTAL-DEVICE-END", "REPAIR-NOT-HELD", "SUPPLIER-6Y", "THIRD-PARTY-FILE-6Y",
        "ENQUIRY-3M", "CONTACTS-REVIEW-3Y", "MARKETING-CONSENT-3Y", "EMPLOYEE-HANDBOOK-6Y",
        "RELATIVE-WITH-EMPLOYEE", "CANDIDATE-6M", "REFEREE-WITH-FILE",
    }  # fmt: skip
    assert loaded.policy.gate.max_quarantined_share == 0.05
    assert loaded.policy.consent.renewal_window_days == 30
    assert [a["rule_id"] for a in loaded.policy.assumptions()] == ["EMPLOYEE-HANDBOOK-6Y"]
    assert len(loaded.sha256) == 64


def broken(change: Any) -> dict[str, Any]:
    doc = shipped()
    change(doc)
    return doc


CASES = {
    "unknown field in a condition": (
        lambda d: rule(d, "ENQUIRY-3M")["when"].update(purchaced=["N"]),
        "rule ENQUIRY-3M: when: 'purchaced' is not a field of crm",
    ),
    "value outside an enumeration": (
        lambda d: rule(d, "CANDIDATE-6M")["trigger"]["happened_when"].update(
            recruitment_status=["hired", "fired"]
        ),
        "rule CANDIDATE-6M: happened_when: recruitment_status: 'fired' not in",
    ),
    "unless naming a later or unknown rule": (
        lambda d: rule(d, "CONTACTS-REVIEW-3Y").update(unless=["ENQUIRY-6M"]),
        "unless 'ENQUIRY-6M' must name an earlier rule of source 'crm'",
    ),
    "trigger that is not a date": (
        lambda d: rule(d, "ENQUIRY-3M")["trigger"].update(field="purchased"),
        "trigger field 'purchased' is not a date",
    ),
    "unknown action": (
        lambda d: rule(d, "ENQUIRY-3M").update(action="archive"),
        "action: Input should be 'delete', 'review' or 'consent'",
    ),
    "gate above 100%": (
        lambda d: d["gate"].update(max_quarantined_share=5),
        "gate.max_quarantined_share: Input should be less than or equal to 1",
    ),
    "duplicate rule id": (
        lambda d: d["rules"].append(dict(rule(d, "ENQUIRY-3M"))),
        "rule id(s) used twice: ENQUIRY-3M",
    ),
    "same_as naming an unknown rule": (
        lambda d: rule(d, "REFEREE-WITH-FILE").update(period={"same_as": "CANDIDATE-9M"}),
        "rule REFEREE-WITH-FILE: period.same_as 'CANDIDATE-9M' must name a rule of source",
    ),
    "same_as and a period at once": (
        lambda d: rule(d, "REFEREE-WITH-FILE").update(
            period={"same_as": "CANDIDATE-6M", "months": 6}
        ),
        "give either years/months/days or same_as, not both",
    ),
    "same_as naming a rule that follows another": (
        lambda d: d["rules"].append(
            {
                **rule(d, "REFEREE-WITH-FILE"),
                "id": "REFEREE-COPY",
                "period": {"same_as": "REFEREE-WITH-FILE"},
            }
        ),
        "names a rule whose period is itself another's",
    ),
    "misspelt key": (
        lambda d: rule(d, "ENQUIRY-3M").update(perod={"months": 3}),
        "perod: Extra inputs are not permitted",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_invalid_policies_are_one_clear_line(tmp_path: Path, case: str) -> None:
    change, message = CASES[case]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(broken(change)))
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")
