"""The retention policy file: a pydantic model validated on load, with its version and hash.

The schedule's rules, periods, consent window, gate threshold and overrides all live in
`include/config/retention_policy.yaml`; this module only knows their shape.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from governance.errors import ConfigError
from governance.outputs.safe_cells import looks_like_formula
from governance.sources.config import CONFIG_DIR, load_model
from governance.sources.schema import SOURCES, Kind, field_map

DEFAULT_POLICY = CONFIG_DIR / "retention_policy.yaml"

Decision = Literal[
    "retain", "delete", "review", "renew_consent", "consent_expired", "hold", "quarantine"
]
DECISIONS: tuple[str, ...] = (
    "retain",
    "delete",
    "review",
    "renew_consent",
    "consent_expired",
    "hold",
    "quarantine",
)

Condition = Annotated[
    list[str] | Literal["blank", "present"],
    Field(description="allowed values (Y/N for flags), or blank / present"),
]


class _Strict(BaseModel):
    """Unknown keys and values of the wrong type (`"6"` for 6, `"yes"` for true) are
    errors, not guesses."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Period(_Strict):
    years: int = Field(default=0, ge=0)
    months: int = Field(default=0, ge=0)
    days: int = Field(default=0, ge=0)
    same_as: str | None = None
    """Another rule's id: this rule's period is that rule's, whatever it is set to (a
    referee's file goes with the candidate's: change one period and both follow)."""

    @model_validator(mode="after")
    def _one_way(self) -> Period:
        if self.same_as is not None and (self.years or self.months or self.days):
            raise ValueError("give either years/months/days or same_as, not both")
        return self

    def describe(self) -> str:
        parts = [
            f"{n} {unit}{'s' if n != 1 else ''}"
            for n, unit in ((self.years, "year"), (self.months, "month"), (self.days, "day"))
            if n
        ]
        return " ".join(parts) or "0 days"


class Trigger(_Strict):
    field: str | None = None
    latest_of: list[str] | None = None
    of: Literal["self", "related"] = "self"
    happened_when: dict[str, Condition] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_date(self) -> Trigger:
        if (self.field is None) == (self.latest_of is None):
            raise ValueError("give exactly one of field or latest_of")
        if self.of == "related" and self.latest_of is not None:
            raise ValueError("a related trigger takes a single field")
        return self

    @property
    def fields(self) -> list[str]:
        return [self.field] if self.field is not None else list(self.latest_of or [])

    def describe(self) -> str:
        base = self.field if self.field else "latest of " + ", ".join(self.latest_of or [])
        return f"related person's {base}" if self.of == "related" else base


class Related(_Strict):
    field: str
    must_be: dict[str, Condition]


class Rule(_Strict):
    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]*$")
    source: Literal["crm", "hr", "recruitment"]
    title: str
    when: dict[str, Condition] = Field(default_factory=dict)
    unless: list[str] = Field(default_factory=list)
    related: Related | None = None
    trigger: Trigger
    period: Period
    action: Literal["delete", "review", "consent"]
    breach: bool = False
    assumption: str | None = None


class Check(_Strict):
    """Quarantine a record matching `when` whose `field` is blank (`required`) or holds a
    value outside `allowed` (blank counts as outside)."""

    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]*$")
    source: Literal["crm", "hr", "recruitment"]
    when: dict[str, Condition] = Field(default_factory=dict)
    field: str
    required: bool = False
    allowed: list[str] | None = None
    reason: str

    @model_validator(mode="after")
    def _one_test(self) -> Check:
        if self.required == (self.allowed is not None):
            raise ValueError("give either required: true or a list of allowed values")
        return self


class Gate(_Strict):
    max_quarantined_share: float = Field(ge=0, le=1)


class Consent(_Strict):
    renewal_window_days: int = Field(ge=0)


class DispositionSettings(_Strict):
    grace_days: int = Field(default=30, ge=0)
    """A manifested record still in an export this many days after its manifest is overdue."""


class LegalHold(_Strict):
    field: str = "legal_hold"
    follows_related: bool = True


class Policy(_Strict):
    policy: str
    version: str = Field(min_length=1)
    title: str = ""
    source_document: str = ""
    effective_from: date | None = None
    gate: Gate
    consent: Consent
    legal_hold: LegalHold = LegalHold()
    disposition: DispositionSettings = DispositionSettings()
    checks: list[Check] = Field(default_factory=list)
    rules: list[Rule] = Field(min_length=1)

    @field_validator("effective_from", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        # YAML reads 2021-05-25 as a date already; a quoted one must be ISO too.
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise ValueError("not an ISO date (YYYY-MM-DD)") from None
        return value

    @field_validator("version")
    @classmethod
    def _plain_version(cls, value: str) -> str:
        if looks_like_formula(value):
            # It is written into every row of every manifest.
            raise ValueError("must not start like a spreadsheet formula (=, +, -, @)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule id(s) used twice: {', '.join(dupes)}")
        seen: dict[str, Rule] = {}
        for rule in self.rules:
            where = f"rule {rule.id}"
            fields = field_map(rule.source)
            _check_conditions(where, "when", rule.when, rule.source)
            for other in rule.unless:
                if other not in seen or seen[other].source != rule.source:
                    raise ValueError(
                        f"{where}: unless {other!r} must name an earlier rule of source "
                        f"{rule.source!r}"
                    )
            for name in rule.trigger.fields:
                _check_field(where, "trigger", name, rule.source)
                if fields[name].kind not in (Kind.DATE, Kind.TIMESTAMP):
                    raise ValueError(f"{where}: trigger field {name!r} is not a date")
            _check_conditions(where, "happened_when", rule.trigger.happened_when, rule.source)
            if rule.trigger.of == "related" and rule.related is None:
                raise ValueError(f"{where}: a trigger of the related person needs `related`")
            if rule.related is not None:
                _check_field(where, "related", rule.related.field, rule.source)
                _check_conditions(where, "related.must_be", rule.related.must_be, rule.source)
            seen[rule.id] = rule
        for check in self.checks:
            where = f"check {check.id}"
            _check_conditions(where, "when", check.when, check.source)
            if check.allowed is not None:
                _check_conditions(where, "allowed", {check.field: check.allowed}, check.source)
            else:
                _check_field(where, "field", check.field, check.source)
        for rule in self.rules:
            target = rule.period.same_as
            if target is None:
                continue
            if target not in seen or seen[target].source != rule.source:
                raise ValueError(
                    f"rule {rule.id}: period.same_as {target!r} must name a rule of source "
                    f"{rule.source!r}"
                )
            if seen[target].period.same_as is not None:
                raise ValueError(
                    f"rule {rule.id}: period.same_as {target!r} names a rule whose period is "
                    "itself another's; name the rule that sets it"
                )
            # The period itself, so that everything reading it sees the numbers.
            period = seen[target].period.model_copy(update={"same_as": target})
            object.__setattr__(rule, "period", period)
        for source in SOURCES:
            if self.legal_hold.field not in field_map(source):
                raise ValueError(f"legal_hold.field {self.legal_hold.field!r} not in {source}")
        return self

    def rules_for(self, source: str) -> list[Rule]:
        return [r for r in self.rules if r.source == source]

    def assumptions(self) -> list[dict[str, str]]:
        return [{"rule_id": r.id, "text": r.assumption} for r in self.rules if r.assumption]


def _check_field(where: str, section: str, name: str, source: str) -> None:
    if name not in field_map(source):
        raise ValueError(f"{where}: {section}: {name!r} is not a field of {source}")


def _check_conditions(where: str, section: str, conds: dict[str, Condition], source: str) -> None:
    fields = field_map(source)
    for name, allowed in conds.items():
        _check_field(where, section, name, source)
        if isinstance(allowed, str):
            continue
        field = fields[name]
        if field.kind is Kind.ENUM:
            valid: tuple[str, ...] = field.values
        elif field.kind is Kind.FLAG:
            valid = ("Y", "N")
        else:
            raise ValueError(
                f"{where}: {section}: {name!r} takes blank or present, not a list of values"
            )
        bad = [v for v in allowed if v not in valid]
        if bad:
            raise ValueError(
                f"{where}: {section}: {name}: {', '.join(map(repr, bad))} not in {', '.join(valid)}"
            )


class LoadedPolicy(BaseModel):
    """A validated policy with where it came from and the SHA-256 of its bytes."""

    model_config = ConfigDict(frozen=True)

    policy: Policy
    path: str
    sha256: str


def load_policy(path: Path | str | None = None) -> LoadedPolicy:
    path = Path(path) if path is not None else DEFAULT_POLICY
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: policy file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read policy file ({exc.__class__.__name__})") from None
    policy = load_model(path, Policy)
    return LoadedPolicy(policy=policy, path=str(path), sha256=hashlib.sha256(data).hexdigest())
