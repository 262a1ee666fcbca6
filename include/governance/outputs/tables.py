"""The run's CSV outputs, written with pyarrow (fast, RFC 4180 quoting) and atomically.

Every table is sorted before it is written and dates are ISO `YYYY-MM-DD`, so the same
decisions always give the same bytes. No table has a name, e-mail or phone column.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from governance.outputs.atomic import atomic_path, atomic_write_text

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


def write_table(path: Path, table: pa.Table) -> str:
    """Write `table` as CSV atomically; returns the SHA-256 of the bytes written."""
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp, write_options=options)
        digest = _sha256_file(tmp)
    return digest


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
