"""Proof of disposition: does a later export still hold what a manifest asked to delete?

Only an export that passed the gate counts as evidence: a half-written or broken export
must never make a record look deleted.

A record stays due until it is gone, so every daily run manifests it again: the check
works per record and rule (source, record id, rule id), not per manifest row. Each is
compared once, through its earliest manifest not yet settled, and gets at most one
disposition row, on that manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Select, and_, delete, func, insert, or_, select

from governance.store.models import Disposition, InputFile, ManifestItem, Run
from governance.store.recorder import append_event

DEFAULT_GRACE_DAYS = 30


@dataclass(frozen=True)
class AcceptedExport:
    """What a run's export that passed the gate shows about earlier manifests."""

    source: str
    record_ids: pa.Array
    """Every record id in the export."""
    still_due: pa.Table
    """(record_id, rule_id) of the run's own `delete` decisions on the export: what it
    still asks to delete today."""


def latest_check(conn: Connection, source: str, run_id: str) -> date | None:
    """The as_of of the latest run other than `run_id` that checked `source`: every
    recorded run that is not a dry run checks each of its accepted exports."""
    return conn.execute(
        select(func.max(Run.as_of))
        .join(InputFile, InputFile.run_id == Run.run_id)
        .where(
            InputFile.source == source,
            InputFile.status == "ok",
            Run.dry_run.is_(False),
            Run.run_id != run_id,
        )
    ).scalar()


def pending_query(source: str, as_of: date) -> Select[Any]:
    """The items of `source` manifested by earlier runs (not dry runs) and not settled,
    one per (record id, rule id): its earliest manifest. A manifest is settled once its
    record was confirmed deleted after it (a confirmation as of a later day), so later
    manifests of a confirmed record are settled too, while a record that comes back and
    is manifested again is checked again."""
    confirmed = (
        select(
            Disposition.record_id,
            Disposition.rule_id,
            func.max(Disposition.seen_on).label("confirmed_on"),
        )
        .where(Disposition.source == source, Disposition.status == "confirmed")
        .group_by(Disposition.record_id, Disposition.rule_id)
        .subquery()
    )
    ranked = (
        select(
            ManifestItem.run_id,
            ManifestItem.record_id,
            ManifestItem.rule_id,
            ManifestItem.due_date,
            Run.as_of.label("manifested_on"),
            func.row_number()
            .over(
                partition_by=(ManifestItem.record_id, ManifestItem.rule_id),
                order_by=(Run.as_of, ManifestItem.run_id),
            )
            .label("nth"),
        )
        .join(Run, Run.run_id == ManifestItem.run_id)
        .outerjoin(
            confirmed,
            and_(
                confirmed.c.record_id == ManifestItem.record_id,
                confirmed.c.rule_id == ManifestItem.rule_id,
            ),
        )
        .where(
            ManifestItem.source == source,
            Run.as_of < as_of,
            Run.dry_run.is_(False),
            or_(confirmed.c.confirmed_on.is_(None), confirmed.c.confirmed_on <= Run.as_of),
        )
        .subquery()
    )
    return select(
        ranked.c.run_id,
        ranked.c.record_id,
        ranked.c.rule_id,
        ranked.c.due_date,
        ranked.c.manifested_on,
    ).where(ranked.c.nth == 1)


def _among(record_ids: pa.Array, rule_ids: pa.Array, pairs: pa.Table) -> np.ndarray:
    """Whether each (record id, rule id) is one of `pairs` (columns record_id, rule_id)."""
    items = pa.table(
        {
            "record_id": record_ids,
            "rule_id": rule_ids,
            "at": pa.array(np.arange(len(record_ids), dtype=np.int64)),
        }
    )
    wanted = pa.table(
        {name: pc.cast(pairs[name], pa.large_string()) for name in ("record_id", "rule_id")}
    )
    found = items.join(wanted, keys=["record_id", "rule_id"], join_type="left semi")
    mask = np.zeros(len(record_ids), dtype=bool)
    mask[found["at"].to_numpy()] = True
    return mask


def check_dispositions(
    conn: Connection,
    run_id: str,
    as_of: date,
    source: str,
    export_ids: pa.Array,
    still_due: pa.Table,
    grace_days: int = DEFAULT_GRACE_DAYS,
) -> dict[str, int]:
    """Compare the records and rules of earlier manifests not yet settled with this
    accepted export of `source` and the run's own decisions on it (`still_due`: the
    (record_id, rule_id) it decided to delete): a record absent from the export becomes
    `confirmed`; one still present and still due for deletion under the same rule past the
    grace period `overdue`. A record present but no longer due (put on legal hold, or
    retained after a review since) is neither: it stays pending.

    A run as of a day before the latest check of `source` changes nothing: older evidence
    neither confirms nor recomputes what a later export showed.

    Returns the counts of (record, rule) per outcome, and appends one audit event per
    outcome found."""
    latest = latest_check(conn, source, run_id)
    if latest is not None and as_of < latest:
        return {"confirmed": 0, "overdue": 0}
    pending = pd.DataFrame(
        conn.execute(pending_query(source, as_of)).all(),
        columns=["run_id", "record_id", "rule_id", "due_date", "manifested_on"],
    )
    # Overdue rows are recomputed from the pending items at every check.
    conn.execute(
        delete(Disposition).where(Disposition.source == source, Disposition.status == "overdue")
    )
    if pending.empty:
        return {"confirmed": 0, "overdue": 0}
    record_ids = pa.array(pending["record_id"].to_numpy(dtype=object), pa.large_string())
    rule_ids = pa.array(pending["rule_id"].to_numpy(dtype=object), pa.large_string())
    present = pc.is_in(record_ids, value_set=export_ids.cast(pa.large_string())).to_numpy(
        zero_copy_only=False
    )
    due = _among(record_ids, rule_ids, still_due)
    deadline = pd.to_datetime(pending["manifested_on"]) + timedelta(days=grace_days)
    late = (deadline <= pd.Timestamp(as_of)).to_numpy()
    outcome = {
        "confirmed": pending[~present],
        "overdue": pending[present & due & late],
    }
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
    exports: Sequence[AcceptedExport]
    """Each export that passed the gate, with what the run still asks to delete in it."""
    grace_days: int = DEFAULT_GRACE_DAYS
    found: dict[str, dict[str, int]] = field(default_factory=dict)

    def __call__(self, conn: Connection) -> None:
        self.found = {
            e.source: check_dispositions(
                conn, self.run_id, self.as_of, e.source, e.record_ids, e.still_due, self.grace_days
            )
            for e in self.exports
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
