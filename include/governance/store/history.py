"""What earlier runs tell a new one: the row count of a source's previous accepted export."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, select

from governance.store.models import InputFile, Run


def previous_rows(engine: Engine, source: str, as_of: date) -> int | None:
    """Rows of the latest accepted export of `source` in a run strictly before `as_of`
    (dry runs do not count)."""
    query = (
        select(InputFile.rows)
        .join(Run, Run.run_id == InputFile.run_id)
        .where(
            InputFile.source == source,
            InputFile.status == "ok",
            Run.as_of < as_of,
            Run.dry_run.is_(False),
        )
        .order_by(Run.as_of.desc(), Run.finished_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).scalar()
    return int(rows) if rows is not None else None


def policy_version_clash(engine: Engine, version: str, sha256: str) -> tuple[str, date] | None:
    """A recorded run that used policy `version` with other content (another SHA-256): its
    run id and as_of. One version must name one policy, or manifests (which carry only the
    version) no longer say which rules made them."""
    query = (
        select(Run.run_id, Run.as_of)
        .where(Run.policy_version == version, Run.policy_sha256 != sha256)
        .order_by(Run.as_of, Run.run_id)
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return (str(row[0]), row[1]) if row is not None else None
