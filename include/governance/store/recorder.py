"""Recording runs in the store (idempotently) and the hash-chained audit trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from governance.store.models import (
    AuditEvent,
    ConsentItem,
    DecisionCount,
    InputFile,
    ManifestItem,
    QuarantineItem,
    ReviewItem,
    Run,
)

GENESIS = "0" * 64
"""The `prev_hash` of the first event."""
RUN_FINISHED = "run finished"
FINISHED_KINDS = (RUN_FINISHED, "run recorded")
"""The event closing a recorded run (`run recorded` in stores written before 0.4)."""


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any], key: list[str]) -> bool:
    """Insert a row unless its key exists; True when this call inserted it."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table).values(**values)
    elif dialect == "sqlite":
        statement = sqlite.insert(table).values(**values)
    else:  # pragma: no cover - other databases: check, then insert
        exists = conn.execute(
            select(func.count()).select_from(table).filter_by(**{k: values[k] for k in key})
        ).scalar_one()
        if exists:
            return False
        conn.execute(insert(table).values(**values))
        return True
    statement = statement.on_conflict_do_nothing(index_elements=key)
    returned = conn.execute(statement.returning(*(table.__table__.c[k] for k in key))).first()
    return returned is not None


def event_hash(
    prev_hash: str, at: str, kind: str, run_id: str | None, actor: str, detail: str
) -> str:
    body = json.dumps(
        [prev_hash, at, kind, run_id, actor, detail], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append_event(
    conn: Connection,
    kind: str,
    detail: dict[str, Any],
    *,
    run_id: str | None = None,
    actor: str = "governance",
    at: datetime | None = None,
) -> str:
    """Append one event to the trail, chained to the last one; returns its hash. A writer
    that loses a race for the same predecessor retries on the new head."""
    stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    for _ in range(50):
        prev = conn.execute(
            select(AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        ).scalar()
        prev = prev or GENESIS
        digest = event_hash(prev, stamp, kind, run_id, actor, text)
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(AuditEvent).values(
                        at=stamp,
                        kind=kind,
                        run_id=run_id,
                        actor=actor,
                        detail=text,
                        prev_hash=prev,
                        hash=digest,
                    )
                )
        except IntegrityError:
            continue
        return digest
    raise RuntimeError("could not append to the audit trail: too much contention")


@dataclass(frozen=True)
class Verification:
    events: int
    broken_at: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_trail(engine: Engine) -> Verification:
    """Walk the trail in order; report the first event whose link or content is wrong, or
    a recorded run that has no event."""
    prev = GENESIS
    count = 0
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEvent).order_by(AuditEvent.seq)).mappings()
        for row in rows:
            count += 1
            if row["prev_hash"] != prev:
                return Verification(
                    count,
                    row["seq"],
                    "its link to the previous event is broken "
                    "(an event before it was removed or changed)",
                )
            expected = event_hash(
                row["prev_hash"],
                row["at"],
                row["kind"],
                row["run_id"],
                row["actor"],
                row["detail"],
            )
            if row["hash"] != expected:
                return Verification(count, row["seq"], "its content was changed")
            prev = row["hash"]
        runs = set(conn.execute(select(Run.run_id)).scalars())
        recorded = set(
            conn.execute(
                select(AuditEvent.run_id).where(AuditEvent.kind.in_(FINISHED_KINDS))
            ).scalars()
        )
        missing = sorted(runs - recorded)
        if missing:
            return Verification(count, None, f"run {missing[0]} has no '{RUN_FINISHED}' event")
    return Verification(count)


def _bulk_insert(conn: Connection, model: Any, run_id: str, table: pa.Table) -> None:
    """Bulk insert of a run's items (hundreds of thousands of rows), the table's columns
    named as the model's: COPY on PostgreSQL, a plain executemany of tuples on SQLite,
    Core inserts elsewhere."""
    for start in range(0, table.num_rows, INSERT_CHUNK):
        _insert_rows(conn, model, run_id, table.slice(start, INSERT_CHUNK))


INSERT_CHUNK = 200_000
"""Rows turned into Python values at a time: bounded memory for millions of items."""


def _insert_rows(conn: Connection, model: Any, run_id: str, table: pa.Table) -> None:
    texts = [c.cast(pa.string()).to_pylist() for c in table.columns]
    rows = list(zip([run_id] * table.num_rows, *texts, strict=True))
    names = ("run_id", *table.column_names)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    dialect = conn.dialect.name
    target = f"{model.__tablename__} ({', '.join(names)})"
    if dialect == "sqlite":
        # SQLAlchemy keeps SQLite dates as ISO text: the same text goes in directly.
        cursor = raw.cursor()
        marks = ", ".join("?" * len(names))
        cursor.executemany(f"INSERT INTO {target} VALUES ({marks})", rows)
        cursor.close()
    elif dialect == "postgresql":
        pg: Any = raw  # psycopg 3 connection
        with pg.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:  # pragma: no cover
        conn.execute(insert(model), [dict(zip(names, r, strict=True)) for r in rows])


ITEM_MODELS: dict[str, Any] = {
    "review": ReviewItem,
    "consent": ConsentItem,
    "quarantine": QuarantineItem,
}
"""The per-run item tables, by the key `record_run` takes them under."""


def record_run(
    engine: Engine,
    audit: dict[str, Any],
    manifest: pa.Table | list[dict[str, Any]] | None,
    out_dir: object = "",
    items: dict[str, pa.Table] | None = None,
    *,
    then: Callable[[Connection], None] | None = None,
) -> bool:
    """Record a run from its audit report, manifest rows and other items (`review`,
    `consent`, `quarantine` tables named as in ITEM_MODELS). A rerun of the same inputs
    (same run id) writes nothing and returns False; two identical runs at once end with
    one run recorded.

    `then(conn)` is what else the run writes to the store (its check of earlier
    deletions): it runs in the same transaction, after the run and its events, and only
    when this call records the run. So a crash leaves the run either recorded with all of
    it or not at all, and a rerun after a crash does everything again."""
    trigger = audit.get("trigger", {})
    with engine.begin() as conn:
        inserted = _insert_ignore(
            conn,
            Run,
            {
                "run_id": audit["run_id"],
                "as_of": date.fromisoformat(audit["as_of"]),
                "status": audit["status"],
                "policy_version": audit["policy"]["version"],
                "policy_sha256": audit["policy"]["sha256"],
                "trigger_kind": trigger.get("kind", "unknown"),
                "dry_run": bool(trigger.get("dry_run", False)),
                "requested_by": trigger.get("requested_by"),
                "reason": trigger.get("reason"),
                "manifest_rows": audit["manifest"]["rows"],
                "manifest_sha256": audit["manifest"]["sha256"],
                "out_dir": str(out_dir),
                "assumptions": json.dumps(audit.get("assumptions", []), ensure_ascii=False),
                "started_at": datetime.fromisoformat(audit["started_at"]),
                "finished_at": datetime.fromisoformat(audit["finished_at"]),
            },
            ["run_id"],
        )
        if not inserted:
            return False
        run_id = audit["run_id"]
        files = []
        counts = []
        for source, export in audit["exports"].items():
            files.append(
                {
                    "run_id": run_id,
                    "source": source,
                    "path": export["file"],
                    "sha256": export["sha256"],
                    "rows": export.get("rows_read", 0),
                    "rows_quarantined": export.get("rows_quarantined", 0),
                    "status": export["status"],
                    "blocked_reason": export.get("blocked_reason"),
                }
            )
            for rule_id, by_decision in export.get("decisions", {}).items():
                for decision, n in by_decision.items():
                    counts.append(
                        {
                            "run_id": run_id,
                            "source": source,
                            "rule_id": rule_id,
                            "decision": decision,
                            "count": n,
                        }
                    )
        conn.execute(insert(InputFile), files)
        if counts:
            conn.execute(insert(DecisionCount), counts)
        if isinstance(manifest, pa.Table):
            _bulk_insert(conn, ManifestItem, run_id, manifest)
        elif manifest:
            conn.execute(insert(ManifestItem), [{"run_id": run_id, **m} for m in manifest])
        for key, table in (items or {}).items():
            _bulk_insert(conn, ITEM_MODELS[key], run_id, table)
        at = datetime.fromisoformat(audit["finished_at"])
        actor = str(trigger.get("requested_by") or "governance")
        append_event(
            conn,
            "run started",
            {
                "as_of": audit["as_of"],
                "policy_version": audit["policy"]["version"],
                "policy_sha256": audit["policy"]["sha256"],
                "inputs": {s: e["sha256"] for s, e in audit["exports"].items()},
                "trigger": trigger,
            },
            run_id=run_id,
            actor=actor,
            at=datetime.fromisoformat(audit["started_at"]),
        )
        for source, export in audit["exports"].items():
            if export["status"] == "blocked":
                append_event(
                    conn,
                    "export blocked",
                    {
                        "source": source,
                        "reason": export["blocked_reason"],
                        "sha256": export["sha256"],
                    },
                    run_id=run_id,
                    at=at,
                )
        append_event(
            conn,
            "manifest written",
            {"rows": audit["manifest"]["rows"], "sha256": audit["manifest"]["sha256"]},
            run_id=run_id,
            at=at,
        )
        append_event(
            conn,
            RUN_FINISHED,
            {
                "as_of": audit["as_of"],
                "status": audit["status"],
                "blocked_exports": audit.get("blocked_exports", []),
                "manifest_rows": audit["manifest"]["rows"],
            },
            run_id=run_id,
            actor=actor,
            at=at,
        )
        if then is not None:
            then(conn)
    return True
