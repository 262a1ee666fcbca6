"""Evaluate the retention policy over a canonical frame, as of a date, in bulk.

For each export: the record-level quality checks decide which records are quarantined
(override 1); every other record gets one decision per rule that applies to it, with the
due date computed in calendar months and years clamped to month end; legal hold turns
`delete` into `hold` (override 2). The whole-export gate then says whether the export's
deletions may reach the manifest. No clock is read here: `as_of` is the only "today".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from governance.outputs.safe_cells import FORMULA_PATTERN, formula_mask
from governance.policy.model import DECISIONS, Condition, Policy, Rule
from governance.sources.normalise import EMAIL_PATTERN
from governance.sources.schema import ID_FIELD, INVALID_PREFIX, ROW_COLUMN, Kind, schema

Mask = np.ndarray

QUARANTINE_COLUMNS = ["source_row", "source_record_id", "field", "reason"]


@dataclass
class Evaluation:
    """The decisions of one export."""

    source: str
    rows: int
    decisions: pd.DataFrame
    """One row per (record, applicable rule); one `quarantine` row per quarantined record."""
    quarantine: pd.DataFrame
    """One row per (quarantined record, cause): row number, field and reason, no values."""
    quarantined_rows: int
    max_quarantined_share: float
    breaches: dict[str, int] = field(default_factory=dict)
    causes: list[Cause] = field(default_factory=list)
    """Every quarantine cause checked, failing or not, with its scope and test."""
    derived: dict[str, np.ndarray] = field(default_factory=dict)
    """Columns computed across rows (coverage, relations) that causes test."""

    @property
    def quarantined_share(self) -> float:
        return self.quarantined_rows / self.rows if self.rows else 0.0

    @property
    def blocked_reason(self) -> str | None:
        if self.quarantined_share > self.max_quarantined_share:
            return (
                f"{self.quarantined_rows:,} of {self.rows:,} rows quarantined "
                f"({self.quarantined_share:.2%}), more than the "
                f"{self.max_quarantined_share:.0%} the policy allows"
            )
        return None


@dataclass(frozen=True)
class Test:
    """What a quality check asserts about a column, in terms a validator (Great Expectations)
    can run on the validation frame: `not_null`, `unique`, `in_set` (`values`; a cell that did
    not parse is never in the set), `at_most` (`limit`, an ISO date), `is_true`, `is_false`,
    `not_matching` (`pattern`, a regular expression no filled cell may match).
    Columns are canonical fields, `invalid__*` markers, or the engine's `derived` columns."""

    kind: Literal["not_null", "unique", "in_set", "at_most", "is_true", "is_false", "not_matching"]
    column: str
    values: tuple[str, ...] = ()
    limit: str | None = None
    pattern: str | None = None


@dataclass
class Cause:
    """One quarantine cause: where it is checked (`scope`, None = every row), what it tests,
    and the rows that fail it."""

    check: str
    field: str
    reason: str
    test: Test
    scope: Mask | None
    mask: Mask


@dataclass
class _Causes:
    """Quarantine causes in the order they are reported."""

    n: int
    items: list[Cause] = field(default_factory=list)

    def add(
        self,
        check: str,
        test: Test,
        scope: Mask | None,
        failing: Mask,
        field_name: str,
        reason: str,
    ) -> None:
        mask = failing if scope is None else failing & scope
        self.items.append(Cause(check, field_name, reason, test, scope, mask))

    def any(self) -> Mask:
        out = np.zeros(self.n, dtype=bool)
        for cause in self.items:
            out |= cause.mask
        return out

    def present(self) -> list[Cause]:
        return [c for c in self.items if c.mask.any()]


EMAIL_ID_PATTERN = EMAIL_PATTERN
"""An id that is an e-mail address: the pattern the e-mail field is checked with."""
ERROR_ID_PATTERN = (
    r"^#(?:N/A|NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|GETTING_DATA|SPILL!|CALC!|FIELD!"
    r"|BLOCKED!|CONNECT!|BUSY!|UNKNOWN!)$|^[+-]?[0-9](?:\.[0-9]+)?E[+-]?[0-9]+$"
)
"""An id a spreadsheet mangled: its error value (a failed lookup, as an XLSX error cell or
its CSV export writes it), or a long number shown in E notation (1.23457E+16): the record
it stood for is unknown."""


def _matches(values: pa.Array | pa.ChunkedArray, pattern: str) -> Mask:
    found = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


REVIEW_COLUMNS = ["record_id", "rule_id", "due_date", "decision", "decided_on"]
"""What the engine needs of reviewers' decisions (the store's `review_decisions`)."""


def evaluate(
    frame: pd.DataFrame,
    source: str,
    policy: Policy,
    as_of: date,
    reviews: pd.DataFrame | None = None,
) -> Evaluation:
    """Decide every record of one export as of `as_of`. `reviews` are reviewers' decisions
    on this source's periodic reviews (REVIEW_COLUMNS, decided on or before `as_of`): a
    keep restarts the review period from the day it was decided; a delete turns the review
    of the same cycle (same due date) into a deletion, which legal hold still stops."""
    n = len(frame)
    fields = {f.name: f for f in schema(source)}
    today = np.datetime64(as_of, "s")
    rules = policy.rules_for(source)
    id_col = frame[ID_FIELD[source]]
    ids = pa.array(id_col, type=pa.large_string(), from_pandas=True)

    # Which rules apply to which records (before any quality check).
    applies: dict[str, Mask] = {}
    for rule in rules:
        mask = _conditions(frame, rule.when, fields)
        for other in rule.unless:
            mask &= ~applies[other]
        applies[rule.id] = mask

    # --- Override 1: data quality --------------------------------------------------------
    causes = _Causes(n)
    id_name = ID_FIELD[source]
    blank_id = id_col.isna().to_numpy()
    causes.add(
        "id-present", Test("not_null", id_name), None, blank_id, id_name, f"{id_name} is blank"
    )
    causes.add(
        "id-unique",
        Test("unique", id_name),
        None,
        id_col.duplicated(keep=False).to_numpy() & ~blank_id,
        id_name,
        f"{id_name} appears more than once in the export",
    )
    # An id a spreadsheet would run as a formula could only reach a manifest altered.
    causes.add(
        "id-not-formula",
        Test("not_matching", id_name, pattern=FORMULA_PATTERN),
        None,
        formula_mask(ids) & ~blank_id,
        id_name,
        f"{id_name} looks like a spreadsheet formula",
    )
    # Manifests carry ids, never e-mails: an export keyed by e-mail addresses must not
    # put them into one.
    email_id = _matches(ids, EMAIL_ID_PATTERN) & ~blank_id
    causes.add(
        "id-not-email",
        Test("not_matching", id_name, pattern=EMAIL_ID_PATTERN),
        None,
        email_id,
        id_name,
        f"{id_name} looks like an e-mail address (ids must not be personal data)",
    )
    causes.add(
        "id-not-error",
        Test("not_matching", id_name, pattern=ERROR_ID_PATTERN),
        None,
        _matches(ids, ERROR_ID_PATTERN) & ~blank_id,
        id_name,
        f"{id_name} is a spreadsheet error value or a number in E notation (such as #N/A "
        "or 1.23457E+16), not an id",
    )
    for f in fields.values():
        if f.kind is Kind.ENUM:
            causes.add(
                f"values:{f.name}",
                Test("in_set", f.name, f.values),
                None,
                _invalid(frame, f.name),
                f.name,
                f"{f.name} is not one of its values",
            )
    for f in fields.values():
        if f.kind is Kind.FLAG:
            causes.add(
                f"flag:{f.name}",
                Test("in_set", f.name, ("Y", "N")),
                None,
                _invalid(frame, f.name),
                f.name,
                f"{f.name} is not a yes or a no",
            )
    for check in policy.checks:
        if check.source != source:
            continue
        scope = _conditions(frame, check.when, fields)
        column = frame[check.field]
        invalid = _invalid(frame, check.field)  # a bad value is reported above
        blank = column.isna().to_numpy() & ~invalid
        # A required field, or one with allowed values (blank is not one of them).
        causes.add(
            f"check:{check.id}:present",
            Test("not_null", check.field),
            scope,
            blank,
            check.field,
            check.reason,
        )
        if check.allowed is not None:
            allowed = tuple(check.allowed)
            outside = (column.notna().to_numpy() & ~column.isin(allowed).to_numpy()) | invalid
            causes.add(
                f"check:{check.id}",
                Test("in_set", check.field, allowed),
                scope,
                outside,
                check.field,
                check.reason,
            )
    any_rule = np.zeros(n, dtype=bool)
    for mask in applies.values():
        any_rule |= mask
    # A record no rule covers is not kept or deleted by omission: a person looks at it.
    derived: dict[str, np.ndarray] = {"covered_by_a_rule": any_rule}
    causes.add(
        "rule-coverage",
        Test("is_true", "covered_by_a_rule"),
        None,
        ~any_rule,
        "",
        "no rule of the policy applies to this record",
    )

    triggers: dict[str, _Trigger] = {}
    for rule in rules:
        triggers[rule.id] = _trigger(
            frame, rule, applies[rule.id], fields, today, causes, derived, policy
        )
    base_quarantine = causes.any()
    for rule in rules:
        t = triggers[rule.id]
        if t.target is not None and rule.related is not None:
            has = t.target >= 0
            target_ok = np.ones(n, dtype=bool)
            target_ok[has] = ~base_quarantine[t.target[has]]
            column = f"related_not_quarantined:{rule.id}"
            derived[column] = target_ok
            causes.add(
                f"{rule.id}:related-not-quarantined",
                Test("is_true", column),
                applies[rule.id] & has,
                ~target_ok,
                rule.related.field,
                "points at a quarantined person",
            )
    quarantined = causes.any()

    # --- Decisions ------------------------------------------------------------------------
    hold_field = policy.legal_hold.field
    held = frame[hold_field].to_numpy(dtype=bool) if hold_field in frame else np.zeros(n, bool)
    out = _Decisions(rules)
    out.add_quarantine(causes, quarantined)
    for order, rule in enumerate(rules):
        sel = applies[rule.id] & ~quarantined
        if sel.any():
            reviewed = _reviewed(reviews, rule, ids, n) if rule.action == "review" else None
            _rule_decisions(rule, order, sel, triggers[rule.id], held, today, policy, out, reviewed)
    rows = frame[ROW_COLUMN].to_numpy()
    # An e-mail address is personal data, not an id: such rows are named by row number.
    if email_id.any():
        ids = pc.if_else(pa.array(email_id), pa.scalar(None, ids.type), ids)
    decisions = out.frame(rows, ids)
    breaches = {rule.id: int(applies[rule.id].sum()) for rule in rules if rule.breach}
    return Evaluation(
        source=source,
        rows=n,
        decisions=decisions,
        quarantine=_quarantine_table(rows, ids, causes),
        causes=causes.items,
        derived=derived,
        quarantined_rows=int(quarantined.sum()),
        max_quarantined_share=policy.gate.max_quarantined_share,
        breaches=breaches,
    )


# --- conditions ----------------------------------------------------------------------------


def _conditions(frame: pd.DataFrame, conds: dict[str, Condition], fields: dict) -> Mask:  # type: ignore[type-arg]
    mask = np.ones(len(frame), dtype=bool)
    for name, allowed in conds.items():
        col = frame[name]
        if allowed == "blank":
            mask &= col.isna().to_numpy()
        elif allowed == "present":
            mask &= col.notna().to_numpy()
        elif fields[name].kind is Kind.FLAG:
            values = col.to_numpy(dtype=bool)
            if set(allowed) == {"Y"}:
                mask &= values
            elif set(allowed) == {"N"}:
                mask &= ~values
            elif not allowed:
                mask[:] = False
        else:
            mask &= col.isin(list(allowed)).to_numpy()
    return mask


def _invalid(frame: pd.DataFrame, name: str) -> Mask:
    column = INVALID_PREFIX + name
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    return np.asarray(frame[column].to_numpy(dtype=bool))


def _describe(conds: dict[str, Condition]) -> str:
    parts = []
    for name, allowed in conds.items():
        values = allowed if isinstance(allowed, str) else " or ".join(allowed)
        parts.append(f"{name} {values}")
    return " and ".join(parts)


# --- triggers ------------------------------------------------------------------------------


@dataclass
class _Trigger:
    happened: Mask
    date: np.ndarray  # datetime64[s], NaT where not happened
    target: np.ndarray | None = None  # row of the related person, -1 when none
    target_held: Mask | None = None


def _dates(frame: pd.DataFrame, name: str) -> np.ndarray:
    return np.asarray(frame[name].to_numpy(dtype="datetime64[s]"))


def _trigger(
    frame: pd.DataFrame,
    rule: Rule,
    applies: Mask,
    fields: dict,  # type: ignore[type-arg]
    today: np.datetime64,
    causes: _Causes,
    derived: dict[str, np.ndarray],
    policy: Policy,
) -> _Trigger:
    """The trigger date of `rule` for every record it applies to, adding the quarantine
    causes that make it impossible to date a record."""
    n = len(frame)
    trig = rule.trigger
    if trig.of == "self":
        for name in trig.happened_when:
            causes.add(
                f"{rule.id}:{name}:present",
                Test("not_null", name),
                applies & ~_invalid(frame, name),
                frame[name].isna().to_numpy(),
                name,
                f"{name} is blank ({rule.id} needs it)",
            )
        happened = applies & _conditions(frame, trig.happened_when, fields)
        when_dates, needed_bad, column = _trigger_dates(
            frame, trig.fields, happened, rule, causes, derived
        )
        _future(happened & ~needed_bad, when_dates, column, today, rule, causes)
        when_dates = np.where(happened, when_dates, np.datetime64("NaT"))
        return _Trigger(happened=happened, date=when_dates)

    assert rule.related is not None
    link = rule.related.field
    ids = frame[ID_FIELD[rule.source]]
    first = ~ids.duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
    positions = np.flatnonzero(first)
    lookup = pa.array(ids, type=pa.large_string(), from_pandas=True).filter(pa.array(first))
    ref = frame[link]
    ref_ids = pa.array(ref, type=pa.large_string(), from_pandas=True)
    found = pc.index_in(ref_ids, value_set=lookup).to_numpy(zero_copy_only=False)
    found = np.nan_to_num(found.astype("float64"), nan=-1).astype(np.int64)
    target = np.where(found >= 0, positions[np.maximum(found, 0)], -1)
    has = target >= 0
    linked = ref.notna().to_numpy()

    causes.add(
        f"{rule.id}:{link}:present",
        Test("not_null", link),
        applies,
        ~linked,
        link,
        f"{link} is blank ({rule.id} needs it)",
    )
    column = f"related_found:{rule.id}"
    derived[column] = has
    causes.add(
        f"{rule.id}:related-found",
        Test("is_true", column),
        applies & linked,
        ~has,
        link,
        f"{link} points at a person missing from the export",
    )
    must = _conditions(frame, rule.related.must_be, fields)
    valid_target = np.zeros(n, dtype=bool)
    valid_target[has] = must[target[has]]
    column = f"related_kind:{rule.id}"
    derived[column] = valid_target | ~has
    causes.add(
        f"{rule.id}:related-kind",
        Test("is_true", column),
        applies & has,
        ~valid_target,
        link,
        f"{link} points at a person who is not {_describe(rule.related.must_be)}",
    )

    target_happened_all = _conditions(frame, trig.happened_when, fields)
    target_dates_all = _dates(frame, trig.field or "")
    ok = applies & valid_target
    happened = np.zeros(n, dtype=bool)
    happened[ok] = target_happened_all[target[ok]]
    when_dates = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    when_dates[happened] = target_dates_all[target[happened]]
    column = f"trigger:{rule.id}"
    derived[column] = when_dates
    causes.add(
        f"{rule.id}:related-trigger:present",
        Test("not_null", column),
        happened,
        np.isnat(when_dates),
        link,
        f"the related person's {trig.field} is blank or not a date",
    )
    _future(happened, when_dates, column, today, rule, causes)
    held_all = frame[policy.legal_hold.field].to_numpy(dtype=bool)
    target_held = np.zeros(n, dtype=bool)
    target_held[has] = held_all[target[has]]
    return _Trigger(happened=happened, date=when_dates, target=target, target_held=target_held)


def _trigger_dates(
    frame: pd.DataFrame,
    names: list[str],
    happened: Mask,
    rule: Rule,
    causes: _Causes,
    derived: dict[str, np.ndarray],
) -> tuple[np.ndarray, Mask, str]:
    """The trigger date (latest of `names`); records whose date is needed but blank or
    invalid are quarantined. Returns the dates, the mask of such records and the column
    the dates are validated in."""
    bad_any = np.zeros(len(frame), dtype=bool)
    latest = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[s]")
    for name in names:
        invalid = _invalid(frame, name)
        causes.add(
            f"{rule.id}:{name}:parses",
            Test("is_false", INVALID_PREFIX + name),
            happened,
            invalid,
            name,
            f"{name} is not a date ({rule.id} needs it)",
        )
        bad_any |= happened & invalid
        latest = np.fmax(latest, _dates(frame, name))
    label = " and ".join(names)
    column = names[0] if len(names) == 1 else f"trigger:{rule.id}"
    if len(names) > 1:
        derived[column] = latest
    causes.add(
        f"{rule.id}:trigger:present",
        Test("not_null", column),
        happened & ~bad_any,
        np.isnat(latest),
        names[0] if len(names) == 1 else label,
        f"{label} {'is' if len(names) == 1 else 'are'} blank ({rule.id} needs it)",
    )
    return latest, bad_any | (happened & np.isnat(latest)), column


def _future(
    scope: Mask,
    dates: np.ndarray,
    column: str,
    today: np.datetime64,
    rule: Rule,
    causes: _Causes,
) -> None:
    label = rule.trigger.describe()
    causes.add(
        f"{rule.id}:trigger:not-future",
        Test("at_most", column, limit=str(today.astype("datetime64[D]"))),
        scope,
        ~np.isnat(dates) & (dates > today),
        rule.trigger.field or label,
        f"{label} is after the as-of date although the record says it has happened",
    )


# --- decisions -----------------------------------------------------------------------------


def add_period(dates: np.ndarray, rule: Rule) -> np.ndarray:
    """`dates + period` in calendar years and months, clamped to the end of the month
    (2024-08-31 + 6 months = 2025-02-28), then days."""
    p = rule.period
    series = pd.Series(dates, dtype="datetime64[s]")
    months = p.years * 12 + p.months
    if months:
        series = series + pd.DateOffset(months=months)
    if p.days:
        series = series + pd.Timedelta(days=p.days)
    return np.asarray(series.to_numpy(dtype="datetime64[s]"))


class _Decisions:
    """Decision rows as integer codes, assembled once at the end (no Python strings per row)."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rule_ids = [r.id for r in rules]
        self.reasons: dict[str, int] = {}
        self.parts: list[dict[str, np.ndarray]] = []

    def code(self, reason: str) -> int:
        return self.reasons.setdefault(reason, len(self.reasons))

    def add(
        self,
        pos: np.ndarray,
        order: int,
        decision: np.ndarray,
        reason: np.ndarray,
        trigger: np.ndarray,
        due: np.ndarray,
    ) -> None:
        self.parts.append(
            {
                "pos": pos,
                "order": np.full(len(pos), order, dtype=np.int16),
                "decision": decision.astype(np.int8),
                "reason": reason.astype(np.int32),
                "trigger": trigger.astype("datetime64[s]"),
                "due": due.astype("datetime64[s]"),
            }
        )

    def add_quarantine(self, causes: _Causes, quarantined: Mask) -> None:
        pos = np.flatnonzero(quarantined)
        first = _first_cause(causes)[pos]
        codes = np.array(
            [
                self.code(f"{field}: {reason}" if field else reason)
                for field, reason in ((c.field, c.reason) for c in causes.items)
            ],
            dtype=np.int32,
        )
        nat = np.full(len(pos), np.datetime64("NaT"), dtype="datetime64[s]")
        self.add(
            pos,
            -1,
            np.full(len(pos), DECISIONS.index("quarantine")),
            codes[first] if len(pos) else np.zeros(0, np.int32),
            nat,
            nat,
        )

    def frame(self, rows: np.ndarray, ids: pa.Array) -> pd.DataFrame:
        cols = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        order = np.lexsort((cols["order"], cols["pos"]))
        cols = {k: v[order] for k, v in cols.items()}
        rule_codes = cols["order"].astype(np.int64)
        return pd.DataFrame(
            {
                "source_row": rows[cols["pos"]],
                "source_record_id": pd.Series(pc.take(ids, pa.array(cols["pos"])), dtype="str"),
                "rule_id": pd.Categorical.from_codes(rule_codes, categories=self.rule_ids),
                "decision": pd.Categorical.from_codes(cols["decision"], categories=DECISIONS),
                "trigger_date": cols["trigger"],
                "due_date": cols["due"],
                "reason": pd.Categorical.from_codes(cols["reason"], categories=list(self.reasons)),
            }
        )


@dataclass
class _Reviewed:
    kept_on: np.ndarray
    """datetime64[s] per row: the latest keep of the record's review, NaT when none."""
    delete_rows: np.ndarray
    delete_due: np.ndarray
    """Rows a reviewer decided to delete, and the due date of the review cycle decided."""


def _reviewed(reviews: pd.DataFrame | None, rule: Rule, ids: pa.Array, n: int) -> _Reviewed:
    kept_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    none = _Reviewed(kept_on, np.array([], dtype=np.int64), np.array([], "datetime64[s]"))
    if reviews is None or reviews.empty:
        return none
    mine = reviews[reviews["rule_id"] == rule.id]
    # Duplicated ids are quarantined anyway: the first row of an id is the one decided.
    pos = pc.index_in(
        pa.array(mine["record_id"], pa.large_string(), from_pandas=True), value_set=ids
    ).to_numpy(zero_copy_only=False)
    found = ~np.isnan(pos.astype("float64"))
    rows = np.nan_to_num(pos.astype("float64"), nan=-1).astype(np.int64)
    decided_on = pd.to_datetime(mine["decided_on"]).to_numpy(dtype="datetime64[s]")
    due = pd.to_datetime(mine["due_date"]).to_numpy(dtype="datetime64[s]")
    keep = found & (mine["decision"] == "keep").to_numpy()
    np.fmax.at(kept_on, rows[keep], decided_on[keep])
    delete = found & (mine["decision"] == "delete").to_numpy()
    return _Reviewed(kept_on, rows[delete], due[delete])


def _rule_decisions(
    rule: Rule,
    order: int,
    sel: Mask,
    trig: _Trigger,
    held: Mask,
    today: np.datetime64,
    policy: Policy,
    out: _Decisions,
    reviewed: _Reviewed | None = None,
) -> None:
    idx = np.flatnonzero(sel)
    happened = trig.happened[idx]
    trigger = trig.date[idx]
    if reviewed is not None:
        # A keep counts as a review: the next one is due a period after it.
        trigger = np.where(happened, np.fmax(trigger, reviewed.kept_on[idx]), trigger)
    due = add_period(trigger, rule)
    due_now = happened & (due <= today)
    period = rule.period.describe()
    waiting = (
        f"no trigger yet (waits for {_describe(rule.trigger.happened_when)})"
        if rule.trigger.happened_when
        else "no trigger yet"
    )
    after = (
        f"{period} after {rule.trigger.describe()}"
        if period != "0 days"
        else f"at {rule.trigger.describe()}"
    )
    not_yet = f"retention ends {after}; not yet due"
    d = DECISIONS.index
    c = out.code
    if rule.action == "delete":
        hold = held[idx]
        if policy.legal_hold.follows_related and trig.target_held is not None:
            related_hold = trig.target_held[idx] & ~hold
        else:
            related_hold = np.zeros(len(idx), dtype=bool)
        cases = [due_now & hold, due_now & related_hold, due_now, happened]
        decision = np.select(cases, [d("hold"), d("hold"), d("delete"), d("retain")], d("retain"))
        reason = np.select(
            cases,
            [
                c("legal hold"),
                c("legal hold on the related person"),
                c(f"retention ended {after}"),
                c(not_yet),
            ],
            c(waiting),
        )
    elif rule.action == "review":
        deleted = np.zeros(len(idx), dtype=bool)
        if reviewed is not None and len(reviewed.delete_rows):
            # The reviewer's delete stands only for the cycle decided: a record reviewed
            # again since (a later due date) is not deleted on an old decision.
            at = np.full(len(held), -1, dtype=np.int64)
            at[idx] = np.arange(len(idx))
            where = at[reviewed.delete_rows]
            ok = where >= 0
            same_cycle = due[where[ok]] == reviewed.delete_due[ok]
            deleted[where[ok][same_cycle]] = True
            deleted &= due_now
        kept = (
            happened & (reviewed.kept_on[idx] >= trig.date[idx])
            if reviewed is not None
            else np.zeros(len(idx), dtype=bool)
        )
        hold = held[idx]
        cases = [deleted & hold, deleted, due_now, kept]
        decision = np.select(cases, [d("hold"), d("delete"), d("review"), d("retain")], d("retain"))
        reason = np.select(
            cases,
            [
                c("legal hold"),
                c("a reviewer decided to delete it at its periodic review"),
                c(f"periodic review due ({period})"),
                c(f"kept at its last review; the next is due {period} after it"),
            ],
            c(not_yet),
        )
    else:  # consent
        days = policy.consent.renewal_window_days
        renew = happened & (due - np.timedelta64(days, "D") <= today)
        decision = np.select(
            [due_now, renew], [d("consent_expired"), d("renew_consent")], d("retain")
        )
        reason = np.select(
            [due_now, renew],
            [
                c("marketing consent has expired"),
                c(f"marketing consent expires within {days} days"),
            ],
            c("marketing consent current"),
        )
    nat = np.datetime64("NaT")
    out.add(idx, order, decision, reason, trigger, np.where(happened, due, nat))


def _first_cause(causes: _Causes) -> np.ndarray:
    first = np.full(causes.n, -1, dtype=np.int64)
    for i, cause in enumerate(causes.items):
        first[(first < 0) & cause.mask] = i
    return first


def _quarantine_table(rows: np.ndarray, ids: pa.Array, causes: _Causes) -> pd.DataFrame:
    """One row per (record, field, reason), in row order then cause order."""
    items = causes.items
    pos = [np.flatnonzero(c.mask) for c in items]
    if not pos:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in QUARANTINE_COLUMNS})
    all_pos = np.concatenate(pos)
    cause = np.concatenate([np.full(len(p), i, dtype=np.int32) for i, p in enumerate(pos)])
    order = np.lexsort((cause, all_pos))
    all_pos, cause = all_pos[order], cause[order]
    fields = list(dict.fromkeys(c.field for c in items))
    reasons = list(dict.fromkeys(c.reason for c in items))
    field_code = np.array([fields.index(c.field) for c in items], dtype=np.int32)[cause]
    reason_code = np.array([reasons.index(c.reason) for c in items], dtype=np.int32)[cause]
    # A reason can repeat across rules for the same record: keep one line.
    key = np.stack([all_pos, field_code, reason_code], axis=1)
    _, keep = np.unique(key, axis=0, return_index=True)
    keep.sort()
    all_pos, field_code, reason_code = all_pos[keep], field_code[keep], reason_code[keep]
    return pd.DataFrame(
        {
            "source_row": rows[all_pos],
            "source_record_id": pd.Series(pc.take(ids, pa.array(all_pos)), dtype="str"),
            "field": pd.Categorical.from_codes(field_code, categories=fields),
            "reason": pd.Categorical.from_codes(reason_code, categories=reasons),
        }
    )
