"""The run's CSV outputs, written with pyarrow (fast, RFC 4180 quoting) and atomically.

Every table is sorted before it is written and dates are ISO `YYYY-MM-DD`, so the same
decisions always give the same bytes. No table has a name, e-mail or phone column. A cell a
spreadsheet would execute is prefixed with an apostrophe (`outputs/safe_cells.py`), except in
the deletion manifest, whose ids must be exact: there such a cell is an error (the engine
quarantines every record whose id would need it, so it never happens).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from governance.errors import GovernanceError
from governance.outputs.atomic import atomic_path, atomic_write_text
from governance.outputs.safe_cells import formula_mask, neutralise_table

DECISIONS_FILE = "decisions.csv"
MANIFEST_FILE = "deletion_manifest.csv"
REVIEW_FILE = "review_queue.csv"
CONSENT_FILE = "consent_actions.csv"
QUARANTINE_FILE = "quarantine.csv"

DECISION_HEADER = [
    "source_system",
    "source_record_id",
    "rule_id",
    "decision",
    "due_date",
    "trigger_date",
    "source_row",
    "reason",
    "export_status",
]
MANIFEST_HEADER = [
    "source_system",
    "source_record_id",
    "rule_id",
    "trigger_date",
    "due_date",
    "run_id",
    "policy_version",
]
REVIEW_HEADER = [
    "source_system",
    "source_record_id",
    "rule_id",
    "trigger_date",
    "due_date",
    "source_row",
    "reason",
]
CONSENT_HEADER = [
    "source_system",
    "source_record_id",
    "rule_id",
    "decision",
    "consent_date",
    "expiry_date",
    "source_row",
]
QUARANTINE_HEADER = ["source_system", "source_record_id", "source_row", "field", "reason"]


def to_arrow(
    frame: pd.DataFrame, header: list[str], constants: dict[str, str] | None = None
) -> pa.Table:
    """The `header` columns of `frame` as text (dates ISO, missing values null), with
    `constants` filling columns the frame lacks."""
    constants = constants or {}
    columns = []
    for name in header:
        if name in constants:
            columns.append(
                pa.array(np.full(len(frame), constants[name], dtype=object), pa.string())
            )
            continue
        col = frame[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            arr = pa.array(col, from_pandas=True).cast(pa.string())
        elif pd.api.types.is_datetime64_any_dtype(col.dtype):
            arr = pa.array(col.to_numpy(dtype="datetime64[s]"), type=pa.timestamp("s"))
            arr = arr.cast(pa.date32()).cast(pa.string())
        elif pd.api.types.is_integer_dtype(col.dtype):
            arr = pa.array(col.to_numpy()).cast(pa.string())
        else:
            arr = pa.array(col, from_pandas=True).cast(pa.string())
        columns.append(arr)
    return pa.table(columns, names=header)


EXACT_FILES = frozenset({MANIFEST_FILE})
"""Tables whose cells are instructions to another system: written exactly or not at all."""


def write_table(path: Path, table: pa.Table) -> str:
    """Write `table` as CSV atomically, with every cell a spreadsheet would execute
    neutralised; returns the SHA-256 of the bytes written."""
    if path.name in EXACT_FILES:
        _refuse_formula_cells(path, table)
    else:
        table = neutralise_table(table)
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp, write_options=options)
        digest = _sha256_file(tmp)
    return digest


def write_chunks(path: Path, chunks: Iterable[pa.Table], header: list[str]) -> tuple[str, int]:
    """`write_table` for a table that comes in chunks (the same bytes as the whole table
    written at once); returns the SHA-256 and the number of rows."""
    schema = pa.schema([pa.field(name, pa.string()) for name in header])
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    rows = 0
    with atomic_path(path) as tmp:
        with pacsv.CSVWriter(tmp, schema, write_options=options) as writer:
            for chunk in chunks:
                table = chunk.select(header)
                if path.name in EXACT_FILES:
                    _refuse_formula_cells(path, table)
                else:
                    table = neutralise_table(table)
                writer.write_table(table.cast(schema))
                rows += table.num_rows
        digest = _sha256_file(tmp)
    return digest, rows


def _refuse_formula_cells(path: Path, table: pa.Table) -> None:
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            hits = formula_mask(column)
            if hits.any():
                raise GovernanceError(
                    f"{path}: column {name!r}, {int(hits.sum())} cell(s) look like a "
                    "spreadsheet formula; the file must carry them unaltered, so it is not "
                    "written"
                )


def write_checksum(path: Path, digest: str) -> Path:
    """`<file>.sha256` in the format of `sha256sum` (checkable with `sha256sum -c`)."""
    target = path.with_name(path.name + ".sha256")
    atomic_write_text(target, f"{digest}  {path.name}\n")
    return target


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
