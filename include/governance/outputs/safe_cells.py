"""Cells a spreadsheet would execute, and how the files written for people defuse them.

Excel, LibreOffice and Google Sheets treat a cell that starts with `=`, `+`, `-` or `@` as
a formula (`=HYPERLINK(...)`, `@SUM(...)`, `-2+3+cmd|' /C calc'!A0`), and some skip a
leading tab, carriage return or space first. Every CSV the project writes for people goes
through this module, which prefixes such a cell with an apostrophe (OWASP's advice for CSV
injection): the spreadsheet shows it as text, and a reader of the file sees the change.

A cell made only of a leading sign, digits, spaces and `( ) . , / + -` is left alone: a
phone number (`+44 20 7946 0000`) or a negative number (`-12`) can at most be computed as
arithmetic, never call a function or refer to a cell or another program. ISO dates start
with a digit and are never touched. Ordinary data therefore gives the same bytes as before.

The engine quarantines a record whose id this rule would change (`FORMULA_PATTERN` is also
what Great Expectations checks), so a deletion manifest only ever holds ids exactly as the
source system wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FORMULA_PATTERN = r"(?s)^(?:[\t\r]|[\t\n\r ]*(?:[=@]|[+\-].*[^0-9 ().,/+\-]))"
"""A cell a spreadsheet would run as a formula. The same text for Python's `re`, Arrow's RE2
and Great Expectations (no construct whose meaning differs between them)."""

_LEADING = r"^[\t\n\r =+@\-]"
"""Every cell matching FORMULA_PATTERN starts with one of these (a cheap first pass)."""

_FORMULA = re.compile(FORMULA_PATTERN)

PREFIX = "'"


def looks_like_formula(value: str) -> bool:
    """True when a spreadsheet would execute `value` as a formula."""
    return _FORMULA.match(value) is not None


def neutralise_cell(value: str) -> str:
    """`value` with an apostrophe in front when a spreadsheet would execute it."""
    return PREFIX + value if looks_like_formula(value) else value


def neutralise_row(row: Iterable[str]) -> list[str]:
    return [neutralise_cell(value) for value in row]


def _is_text(values: pa.Array | pa.ChunkedArray) -> bool:
    return bool(pa.types.is_string(values.type) or pa.types.is_large_string(values.type))


def formula_mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which cells of a text array a spreadsheet would execute (missing cells: False)."""
    if not _is_text(values):
        values = pc.cast(values, pa.large_string())
    found = pc.fill_null(pc.match_substring_regex(values, FORMULA_PATTERN), False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def neutralise_array(
    values: pa.Array | pa.ChunkedArray,
) -> pa.Array | pa.ChunkedArray:
    """A text array with every executable cell prefixed; other arrays, and text arrays
    with nothing to change, are returned as they are (the same object)."""
    if not _is_text(values) or len(values) == 0:
        return values
    if not pc.any(pc.match_substring_regex(values, _LEADING)).as_py():
        return values
    mask = pc.match_substring_regex(values, FORMULA_PATTERN)
    if not pc.any(mask).as_py():
        return values
    prefix = pa.scalar(PREFIX, values.type)
    empty = pa.scalar("", values.type)
    return pc.if_else(mask, pc.binary_join_element_wise(prefix, values, empty), values)


def neutralise_table(table: pa.Table) -> pa.Table:
    """`table` with every executable text cell prefixed (the same table when none is)."""
    for i, column in enumerate(table.columns):
        fixed = neutralise_array(column)
        if fixed is not column:
            table = table.set_column(i, table.field(i), fixed)
    return table


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every executable text cell prefixed (the same frame when none is).
    Numbers, dates and missing values are left as they are."""
    out = frame
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = column.cat.categories
            if not any(isinstance(c, str) and looks_like_formula(c) for c in categories):
                continue
            column = column.astype(object)
        elif not (column.dtype == object or pd.api.types.is_string_dtype(column.dtype)):
            continue
        values = column.to_numpy(dtype=object)
        hit = np.fromiter(
            (isinstance(v, str) and _FORMULA.match(v) is not None for v in values),
            dtype=bool,
            count=len(values),
        )
        if not hit.any():
            continue
        if out is frame:
            out = frame.copy()
        fixed = values.copy()
        fixed[hit] = [PREFIX + v for v in values[hit]]
        out.isetitem(position, pd.Series(fixed, index=frame.index, dtype=object))
    return out
