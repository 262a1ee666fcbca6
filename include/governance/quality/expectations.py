"""Expectation suites built from the policy's quality checks, run with Great Expectations.

The engine knows *which* records must have *what* (the policy: a completed contract needs
its end date); Great Expectations checks that the data has it. Each `block` expectation
covers one or more of the engine's quarantine causes: it runs the same test over the same
rows (its scope), and its unexpected count must equal the number of records those causes
quarantine. Were they ever to disagree, the export is blocked: no deletion rests on a check
two implementations do not agree on.

Results carry counts and percentages only: unexpected values are excluded, so no name,
e-mail or phone number reaches a result, a log or an XCom.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from governance.outputs.safe_cells import FORMULA_PATTERN
from governance.policy.engine import EMAIL_ID_PATTERN, ERROR_ID_PATTERN, Evaluation, Test
from governance.quality.config import QualityConfig
from governance.sources.schema import INVALID_PREFIX, ROW_COLUMN, Kind, field_map

Severity = Literal["block", "warn", "export"]
SENTINEL = "\u2047 not parsed"
"""Stands in the validation frame for a cell that did not parse (never its value)."""

_KIND_TEXT = {
    "not_null": "is filled",
    "unique": "is unique",
    "in_set": "is one of",
    "at_most": "is not after",
    "not_matching": "does not match",
}
_PATTERN_TEXT = {
    FORMULA_PATTERN: "does not look like a spreadsheet formula",
    EMAIL_ID_PATTERN: "is not an e-mail address",
    ERROR_ID_PATTERN: "is not a spreadsheet error value or a number in E notation",
}
_PATTERN_NAME = {
    FORMULA_PATTERN: "formula",
    EMAIL_ID_PATTERN: "e-mail",
    ERROR_ID_PATTERN: "spreadsheet-error",
}
"""How a known pattern of a `not_matching` test is described to people."""


@dataclass
class Expectation:
    id: str
    severity: Severity
    description: str
    test: Test | None
    """None for the table-level row-count expectation."""
    scope: np.ndarray | None
    checks: list[str]
    engine_count: int | None
    """Rows the engine quarantines for these checks (block), or marks invalid (warn)."""
    checked: int = 0
    """Rows the expectation really checks (its scope)."""
    min_rows: int | None = None
    column: str | None = None
    """The validation frame's column the expectation tests (set by `validation_frame`)."""


@dataclass
class ExpectationResult:
    id: str
    severity: Severity
    description: str
    success: bool
    unexpected_count: int
    unexpected_percent: float
    element_count: int
    checks: list[str] = field(default_factory=list)
    agrees: bool = True
    unexpected_rows: list[int] | None = None
    """Export row numbers of the failing records (only when asked for, e.g. in tests)."""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "severity": self.severity,
            "description": self.description,
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": round(self.unexpected_percent, 4),
            "element_count": self.element_count,
            "checks": self.checks,
        }
        if not self.agrees:
            doc["agrees_with_engine"] = False
        return doc


@dataclass
class QualityReport:
    source: str
    results: list[ExpectationResult]

    @property
    def export_failures(self) -> list[ExpectationResult]:
        return [r for r in self.results if r.severity == "export" and not r.success]

    @property
    def disagreements(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.agrees]

    def blocked_reason(self) -> str | None:
        for r in self.export_failures:
            return f"data-quality check failed: {r.description}"
        for r in self.disagreements:
            return (
                f"data-quality checks disagree on '{r.description}' "
                f"({r.unexpected_count} failing rows vs the engine's); nothing is deleted"
            )
        return None


def unreadable_report(source: str, error: Any) -> QualityReport:
    """An export that cannot be read fails its first, whole-export check."""
    where = f" (column {error.column!r})" if getattr(error, "column", None) else ""
    result = ExpectationResult(
        id="export-readable",
        severity="export",
        description=f"export readable with its required columns{where}: {error.problem}",
        success=False,
        unexpected_count=0,
        unexpected_percent=0.0,
        element_count=0,
        checks=["export-readable"],
    )
    return QualityReport(source=source, results=[result])


def build_expectations(
    ev: Evaluation,
    frame: pd.DataFrame,
    config: QualityConfig,
    previous_rows: int | None = None,
) -> list[Expectation]:
    """The suite of one export: the engine's causes grouped by test, warn checks, and the
    row-count check against the previous accepted export."""
    source = ev.source
    fields = field_map(source)
    groups: dict[Test, list[int]] = {}
    for i, cause in enumerate(ev.causes):
        groups.setdefault(cause.test, []).append(i)
    out: list[Expectation] = []
    for test, members in groups.items():
        causes = [ev.causes[i] for i in members]
        scope: np.ndarray | None = None
        if all(c.scope is not None for c in causes):
            scope = np.zeros(ev.rows, dtype=bool)
            for c in causes:
                assert c.scope is not None
                scope |= c.scope
        union = np.zeros(ev.rows, dtype=bool)
        for c in causes:
            union |= c.mask
        out.append(
            Expectation(
                id=_expectation_id(test),
                severity="block",
                description=_describe(test, causes[0].reason, scope is not None),
                test=test,
                scope=scope,
                checks=[c.check for c in causes],
                engine_count=int(union.sum()),
                checked=ev.rows if scope is None else int(scope.sum()),
            )
        )
    for name in config.warn_fields:
        if name in fields and INVALID_PREFIX + name in frame:
            test = Test("is_false", INVALID_PREFIX + name)
            kind = "e-mail syntax" if fields[name].kind is Kind.EMAIL else "a readable number"
            out.append(
                Expectation(
                    id=f"warn:{name}",
                    severity="warn",
                    description=f"{name} has {kind} where given",
                    test=test,
                    scope=None,
                    checks=[f"warn:{name}"],
                    engine_count=int(frame[INVALID_PREFIX + name].sum()),
                    checked=ev.rows,
                )
            )
    if previous_rows is not None:
        out.append(build_row_count(previous_rows, config))
    return out


def build_row_count(previous_rows: int, config: QualityConfig) -> Expectation:
    """The whole export's row count against the previous accepted export's."""
    minimum = math.ceil(previous_rows * (1 - config.row_count.max_drop_share))
    return Expectation(
        id="row-count",
        severity="export",
        description=(
            f"row count at least {minimum:,} (previous accepted export had "
            f"{previous_rows:,}; at most a {config.row_count.max_drop_share:.0%} drop)"
        ),
        test=None,
        scope=None,
        checks=["row-count"],
        engine_count=None,
        min_rows=minimum,
    )


def _expectation_id(test: Test) -> str:
    extra = f" {','.join(test.values)}" if test.values else ""
    extra += f" {test.limit}" if test.limit else ""
    if test.pattern is not None:
        extra += " " + _PATTERN_NAME.get(test.pattern, f"/{test.pattern}/")
    return f"{test.kind}:{test.column}{extra}"


def _label(column: str) -> str:
    if column.startswith(INVALID_PREFIX):
        return f"{column.removeprefix(INVALID_PREFIX)} parses"
    kind, _, rule = column.partition(":")
    return {
        "trigger": f"trigger date of {rule}",
        "related_found": f"related person exists ({rule})",
        "related_kind": f"related person is of the right kind ({rule})",
        "related_not_quarantined": f"related person is not quarantined ({rule})",
        "covered_by_a_rule": "a rule of the policy applies",
    }.get(kind, column)


def _describe(test: Test, reason: str, scoped: bool) -> str:
    label = _label(test.column)
    where = " where the policy needs it" if scoped else ""
    if test.kind in ("is_true", "is_false"):
        return f"{label}{where}"
    what = _KIND_TEXT[test.kind]
    if test.kind == "in_set":
        what += " " + ", ".join(test.values)
    elif test.kind == "at_most":
        what += f" {test.limit}"
    elif test.kind == "not_matching":
        what = _PATTERN_TEXT.get(test.pattern or "", f"{what} {test.pattern}")
    return f"{label} {what}{where}"


OUT_OF_SCOPE = "\u2047 not checked"


def validation_frame(
    ev: Evaluation, frame: pd.DataFrame, expectations: list[Expectation]
) -> pd.DataFrame:
    """One column per distinct thing tested: a column's values on the rows the policy
    checks (the expectation's scope) and a neutral value elsewhere; expectations testing
    the same values share a column, named in their `column`. (A row condition per
    expectation would make Great Expectations filter the whole frame each time.) A cell
    that did not parse shows as a sentinel, so it is never "in the set"; text is
    categorical and dates are day numbers, which GX tests in bulk."""
    fields = field_map(ev.source)
    columns: dict[str, Any] = {ROW_COLUMN: frame[ROW_COLUMN].to_numpy()}
    base: dict[str, Any] = {}
    shared: dict[tuple[str, bytes, str], str] = {}
    for exp in expectations:
        if exp.test is None:
            continue
        name = exp.test.column
        if name not in base:
            base[name] = _base_values(name, ev, frame, fields)
        values = _scoped(base[name], exp.test, exp.scope)
        scope = b"" if exp.scope is None else hashlib.sha256(exp.scope.tobytes()).digest()
        key = (name, scope, "" if exp.scope is None else _neutral_key(base[name], exp.test))
        if key not in shared:
            shared[key] = f"e{len(shared)}"
            columns[shared[key]] = values
        exp.column = shared[key]
    return pd.DataFrame(columns)


def _base_values(name: str, ev: Evaluation, frame: pd.DataFrame, fields: dict[str, Any]) -> Any:
    """A column as numbers, booleans, a categorical (enumerations) or Arrow text (cheap
    to re-scope and to test)."""
    marker = INVALID_PREFIX + name
    invalid = frame[marker].to_numpy(dtype=bool) if name in fields and marker in frame else None
    if name in ev.derived:
        values = np.asarray(ev.derived[name])
    elif name in fields and fields[name].kind is Kind.FLAG:
        codes = frame[name].to_numpy(dtype=bool).astype(np.int32)  # 0 = N, 1 = Y
        return _categorical(codes, ["N", "Y"], invalid)
    elif frame[name].dtype == "str":
        text = pa.array(frame[name], type=pa.large_string(), from_pandas=True)
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        if name not in fields or fields[name].kind is not Kind.ENUM:
            # Ids and free text: nearly every value distinct, so left as Arrow text.
            return text if invalid is None else pc.if_else(invalid, SENTINEL, text)
        encoded = text.dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        codes = np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), -1, codes)
        return _categorical(codes.astype(np.int32), encoded.dictionary.to_pylist(), invalid)
    else:
        values = frame[name].to_numpy()
    if np.issubdtype(values.dtype, np.datetime64):
        days = values.astype("datetime64[D]")
        out = days.astype("int64").astype("float64")
        out[np.isnat(days)] = np.nan
        return out
    return values


def _categorical(codes: np.ndarray, categories: list[str], invalid: np.ndarray | None) -> Any:
    """Text as category codes (-1 = blank), with the sentinel for cells that did not parse
    and the neutral out-of-scope value as categories of their own."""
    categories = [*categories, SENTINEL, OUT_OF_SCOPE]
    if invalid is not None:
        codes = np.where(invalid, len(categories) - 2, codes)
    return pd.Categorical.from_codes(codes, categories=categories)


def _neutral(values: Any, test: Test) -> Any:
    """What an out-of-scope row holds in the column of `test`: a value that passes it."""
    if isinstance(values, pd.Categorical | pa.Array):
        return test.values[0] if test.kind == "in_set" else OUT_OF_SCOPE
    if values.dtype == bool:
        return test.kind != "is_false"
    return np.nan if test.kind == "at_most" else 0.0


def _neutral_key(values: Any, test: Test) -> str:
    return repr(_neutral(values, test))


def _scoped(values: Any, test: Test, scope: np.ndarray | None) -> Any:
    if scope is not None and isinstance(values, pa.Array):
        values = pc.if_else(scope, values, _neutral(values, test))
    if isinstance(values, pa.Array):
        return pd.Series(pd.arrays.ArrowStringArray(values))
    if scope is None:
        return values
    neutral = _neutral(values, test)
    if isinstance(values, pd.Categorical):
        categories = list(values.categories)
        if neutral not in categories:
            categories.append(neutral)
            values = values.add_categories([neutral])
        code = categories.index(neutral)
        return pd.Categorical.from_codes(
            np.where(scope, values.codes, code), categories=values.categories
        )
    return np.where(scope, values, neutral)


def _day_number(iso: str) -> float:
    return float(np.datetime64(iso, "D").astype("int64"))


def run_expectations(
    source: str,
    vframe: pd.DataFrame,
    expectations: list[Expectation],
    detail: bool = False,
) -> QualityReport:
    """Run the suite with an ephemeral Great Expectations context."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas(f"{source}_export")
        .add_dataframe_asset(source)
        .add_batch_definition_whole_dataframe("export")
    )
    gx_expectations: list[Any] = []
    for exp in expectations:
        meta = {"id": exp.id, "severity": exp.severity}
        if exp.test is None:
            gx_expectations.append(
                gxe.ExpectTableRowCountToBeBetween(min_value=exp.min_rows, meta=meta)
            )
            continue
        assert exp.column is not None
        kwargs: dict[str, Any] = {"column": exp.column, "meta": meta}
        kind = exp.test.kind
        if kind == "not_null":
            gx_expectations.append(gxe.ExpectColumnValuesToNotBeNull(**kwargs))
        elif kind == "unique":
            gx_expectations.append(gxe.ExpectColumnValuesToBeUnique(**kwargs))
        elif kind == "in_set":
            gx_expectations.append(
                gxe.ExpectColumnValuesToBeInSet(value_set=list(exp.test.values), **kwargs)
            )
        elif kind == "at_most":
            assert exp.test.limit is not None
            gx_expectations.append(
                gxe.ExpectColumnValuesToBeBetween(max_value=_day_number(exp.test.limit), **kwargs)
            )
        elif kind == "not_matching":
            assert exp.test.pattern is not None
            gx_expectations.append(
                gxe.ExpectColumnValuesToNotMatchRegex(regex=exp.test.pattern, **kwargs)
            )
        else:
            wanted = kind == "is_true"
            gx_expectations.append(gxe.ExpectColumnValuesToBeInSet(value_set=[wanted], **kwargs))
    suite = context.suites.add(
        gx.ExpectationSuite(name=f"{source}_quality", expectations=gx_expectations)
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{source}_validation", data=batch, suite=suite)
    )
    result_format: dict[str, Any] = {
        "result_format": "COMPLETE" if detail else "BASIC",
        "exclude_unexpected_values": True,
        "partial_unexpected_count": 0,
        "include_unexpected_rows": False,
    }
    if detail:
        result_format["unexpected_index_column_names"] = [ROW_COLUMN]
    outcome = definition.run(batch_parameters={"dataframe": vframe}, result_format=result_format)
    # The suite may reorder its expectations: match results back by id.
    by_id = {res.expectation_config.meta["id"]: res for res in outcome.results}
    results: list[ExpectationResult] = []
    for exp in expectations:
        res = by_id[exp.id]
        if res.exception_info and res.exception_info.get("raised_exception"):
            raise RuntimeError(f"expectation {exp.id} could not run")
        body = res.result or {}
        if exp.test is None:
            observed = int(body.get("observed_value", 0))
            unexpected = 0 if res.success else observed
            element, percent = observed, 0.0
        else:
            # Out-of-scope rows hold neutral values: count what was really checked.
            unexpected = int(body.get("unexpected_count") or 0)
            element = exp.checked
            percent = 100.0 * unexpected / element if element else 0.0
        rows = None
        if detail and exp.test is not None:
            rows = sorted(_index_rows(body.get("unexpected_index_list") or []))
        results.append(
            ExpectationResult(
                id=exp.id,
                severity=exp.severity,
                description=exp.description,
                success=bool(res.success),
                unexpected_count=unexpected,
                unexpected_percent=percent,
                element_count=element,
                checks=exp.checks,
                agrees=exp.engine_count is None or exp.engine_count == unexpected,
                unexpected_rows=rows,
            )
        )
    return QualityReport(source=source, results=results)


def _index_rows(index_list: list[Any]) -> list[int]:
    rows: list[int] = []
    for entry in index_list:
        value = entry[ROW_COLUMN] if isinstance(entry, dict) else entry
        rows.extend(int(v) for v in value) if isinstance(value, list) else rows.append(int(value))
    return rows


def prepare(
    ev: Evaluation, frame: pd.DataFrame, config: QualityConfig, previous_rows: int | None
) -> tuple[pd.DataFrame, list[Expectation]]:
    """The validation frame and the expectations, without their (row-sized) scopes: what
    `run_expectations` needs, small enough to hand to another process."""
    expectations = build_expectations(ev, frame, config, previous_rows)
    vframe = validation_frame(ev, frame, expectations)
    return vframe, [replace(e, scope=None) for e in expectations]


def validate_export(
    ev: Evaluation,
    frame: pd.DataFrame,
    config: QualityConfig,
    previous_rows: int | None = None,
    detail: bool = False,
) -> QualityReport:
    vframe, expectations = prepare(ev, frame, config, previous_rows)
    return run_expectations(ev.source, vframe, expectations, detail=detail)


def warm_up() -> None:
    """Import Great Expectations (it takes seconds) ahead of the first validation."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations  # noqa: F401
