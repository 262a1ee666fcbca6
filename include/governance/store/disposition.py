"""Proof of disposition: does a later export still hold what a manifest asked to delete?

Only an export that passed the gate counts as evidence: a half-written or broken export
must never make a record look deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, insert, select

from governance.store.models import Disposition, ManifestItem, Run
from governance.store.recorder import append_event

DEFAULT_GRACE_DAYS = 30


def check_dispositions(
    conn: Connection,
    run_id: str,
    as_of: date,
    source: str,
    export_ids: pa.Array,
    grace_days: int = DEFAULT_GRACE_DAYS,
) -> dict[str, int]:
    """Compare the manifests of earlier runs (not yet confirmed) with this accepted export
    of `source`: absent records become `confirmed`, records still present past the grace
    period `overdue`. Returns the counts, and appends one audit event per outcome."""
    confirmed = (
        select(Disposition.record_id)
        .where(
            Disposition.manifest_run_id == ManifestItem.run_id,
            Disposition.source == ManifestItem.source,
            Disposition.record_id == ManifestItem.record_id,
            Disposition.rule_id == ManifestItem.rule_id,
            Disposition.status == "confirmed",
        )
        .exists()
    )
    pending = pd.DataFrame(
        conn.execute(
            select(
                ManifestItem.run_id,
                ManifestItem.record_id,
                ManifestItem.rule_id,
                ManifestItem.due_date,
                Run.as_of,
            )
            .join(Run, Run.run_id == ManifestItem.run_id)
            .where(
                ManifestItem.source == source,
                Run.as_of < as_of,
                Run.dry_run.is_(False),
                ~confirmed,
            )
        ).all(),
        columns=["run_id", "record_id", "rule_id", "due_date", "manifested_on"],
    )
    if pending.empty:
        return {"confirmed": 0, "overdue": 0}
    present = pc.is_in(
        pa.array(pending["record_id"].to_numpy(dtype=object), pa.large_string()),
        value_set=export_ids.cast(pa.large_string()),
    ).to_numpy(zero_copy_only=False)
    deadline = pd.to_datetime(pending["manifested_on"]) + timedelta(days=grace_days)
    overdue = present & (deadline <= pd.Timestamp(as_of)).to_numpy()
    outcome = {"confirmed": pending[~present], "overdue": pending[overdue]}
    # Overdue rows are recomputed from the pending items at every check.
    conn.execute(
        delete(Disposition).where(Disposition.source == source, Disposition.status == "overdue")
    )
    counts: dict[str, int] = {}
    for status, rows in outcome.items():
        counts[status] = len(rows)
        if rows.empty:
            continue
        values: list[dict[str, Any]] = [
            {
                "manifest_run_id": r.run_id,
                "source": source,
                "record_id": r.record_id,
                "rule_id": r.rule_id,
                "status": status,
                "manifested_on": r.manifested_on,
                "due_date": r.due_date,
                "seen_on": as_of,
                "checked_run_id": run_id,
            }
            for r in rows.itertuples(index=False)
        ]
        conn.execute(insert(Disposition), values)
        append_event(
            conn,
            f"deletion {status}",
            {"source": source, "records": len(rows), "as_of": as_of.isoformat()},
            run_id=run_id,
        )
    return counts


@dataclass
class DispositionCheck:
    """The check of earlier manifests against a run's accepted exports, made inside the
    transaction that records the run (`record_run(..., then=check)`): the run and its
    check are committed together or not at all, so a run recorded is a run checked, and a
    rerun after a crash (which finds the run not recorded) makes the check. `found` holds
    the counts per source once it has run."""

    run_id: str
    as_of: date
    exports: Sequence[tuple[str, pa.Array]]
    """(source, record ids) of each export that passed the gate."""
    grace_days: int = DEFAULT_GRACE_DAYS
    found: dict[str, dict[str, int]] = field(default_factory=dict)

    def __call__(self, conn: Connection) -> None:
        self.found = {
            source: check_dispositions(conn, self.run_id, self.as_of, source, ids, self.grace_days)
            for source, ids in self.exports
        }


def list_dispositions(conn: Connection, status: str | None = None) -> pd.DataFrame:
    query = select(
        Disposition.source,
        Disposition.record_id,
        Disposition.rule_id,
        Disposition.status,
        Disposition.manifest_run_id,
        Disposition.manifested_on,
        Disposition.due_date,
        Disposition.seen_on,
    ).order_by(Disposition.source, Disposition.seen_on, Disposition.record_id)
    if status:
        query = query.where(Disposition.status == status)
    rows = conn.execute(query).all()
    return pd.DataFrame(
        rows,
        columns=[
            "source",
            "record_id",
            "rule_id",
            "status",
            "manifest_run_id",
            "manifested_on",
            "due_date",
            "seen_on",
        ],
    )
