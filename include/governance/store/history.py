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
