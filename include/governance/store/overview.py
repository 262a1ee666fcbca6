"""What the Governance page shows, read from the store: plain queries returning small
records (ids, dates, counts and statuses; never a name, e-mail, phone number, requester or
free-text reason).

"Current" review and consent items are those of each source's latest accepted export in a
run that was not a dry run (latest by as_of, then by when the run finished): every run
recomputes its source's queue, so older runs' queues are history, not work. A review item
is done once a decision exists for its record, rule and cycle (due date).

Kept free of pandas and of the run machinery, so the Airflow API server can import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Exists,
    Subquery,
    and_,
    case,
    distinct,
    exists,
    func,
    select,
)

from governance.store.models import (
    ConsentItem,
    Disposition,
    InputFile,
    ReviewDecision,
    ReviewItem,
    Run,
)

RUN_FILES: dict[str, str] = {
    "deletion_manifest.csv": "deletion manifest",
    "deletion_manifest.csv.sha256": "checksum",
    "audit_report.html": "audit report",
    "audit_report.json": "audit JSON",
    "data_quality.html": "data quality",
    "review_queue.csv": "review queue",
    "consent_actions.csv": "consent actions",
}
"""The files of a run's output folder that may be downloaded (name -> label); no other
file is ever served."""

CONSENT_ACTIONS = ("renew_consent", "consent_expired")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MONTHLY_DIR = "monthly"


def monthly_report_name(month: str) -> str:
    return f"governance_report_{month}.html"


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    as_of: date
    status: str
    trigger_kind: str
    dry_run: bool
    manifest_rows: int
    policy_version: str
    finished_at: datetime
    folder: str
    """The last two parts of the output folder (`scheduled/<as_of>`, `adhoc/<Airflow run>`)."""
    files: tuple[str, ...]
    """The downloadable files (RUN_FILES) present in the output folder, in RUN_FILES order."""


@dataclass(frozen=True)
class BlockedExport:
    run_id: str
    as_of: date
    source: str
    reason: str


@dataclass(frozen=True)
class CurrentRun:
    """The run whose items are current for one source."""

    source: str
    run_id: str
    as_of: date


@dataclass(frozen=True)
class ReviewDue:
    source: str
    record_id: str
    rule_id: str
    due_date: date
    run_id: str


@dataclass(frozen=True)
class ReviewSummary:
    open_by_source: dict[str, int]
    done_by_source: dict[str, int]
    items: list[ReviewDue]
    """The open items, earliest due first, capped."""

    @property
    def open(self) -> int:
        return sum(self.open_by_source.values())

    @property
    def done(self) -> int:
        return sum(self.done_by_source.values())


@dataclass(frozen=True)
class OverdueDeletion:
    source: str
    record_id: str
    rule_id: str
    manifest_run_id: str
    manifested_on: date
    due_date: date
    seen_on: date


@dataclass(frozen=True)
class OverdueSummary:
    by_source: dict[str, int]
    items: list[OverdueDeletion]
    """Earliest due first, capped."""

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


@dataclass(frozen=True)
class MonthlyReport:
    month: str
    path: Path


@dataclass(frozen=True)
class Overview:
    runs: list[RunSummary]
    blocked: list[BlockedExport]
    current: list[CurrentRun]
    reviews: ReviewSummary
    consent: dict[str, dict[str, int]]
    """source -> action -> count, for the current run of each source."""
    overdue: OverdueSummary
    monthly: list[MonthlyReport]
    cap: int = field(default=50)


def overview(
    engine: Engine, output_root: Path | None = None, limit: int = 20, cap: int = 50
) -> Overview:
    """Everything the Governance page shows: the latest `limit` runs, blocked exports of
    the latest `limit` blocked, current reviews and consent actions, overdue deletions
    (lists capped at `cap`) and the monthly reports under `output_root`."""
    with engine.connect() as conn:
        return Overview(
            runs=latest_runs(conn, limit),
            blocked=blocked_exports(conn, limit),
            current=current_runs(conn),
            reviews=open_reviews(conn, cap),
            consent=consent_counts(conn),
            overdue=overdue_deletions(conn, cap),
            monthly=monthly_reports(output_root) if output_root is not None else [],
            cap=cap,
        )


def latest_runs(conn: Connection, limit: int = 20) -> list[RunSummary]:
    rows = conn.execute(
        select(
            Run.run_id,
            Run.as_of,
            Run.status,
            Run.trigger_kind,
            Run.dry_run,
            Run.manifest_rows,
            Run.policy_version,
            Run.finished_at,
            Run.out_dir,
        )
        .order_by(Run.finished_at.desc(), Run.run_id)
        .limit(limit)
    ).all()
    return [
        RunSummary(
            run_id=r.run_id,
            as_of=r.as_of,
            status=r.status,
            trigger_kind=r.trigger_kind,
            dry_run=bool(r.dry_run),
            manifest_rows=r.manifest_rows,
            policy_version=r.policy_version,
            finished_at=r.finished_at,
            folder="/".join(Path(r.out_dir).parts[-2:]) if r.out_dir else "",
            files=_present_files(r.out_dir),
        )
        for r in rows
    ]


def blocked_exports(conn: Connection, limit: int = 20) -> list[BlockedExport]:
    rows = conn.execute(
        select(InputFile.run_id, Run.as_of, InputFile.source, InputFile.blocked_reason)
        .join(Run, Run.run_id == InputFile.run_id)
        .where(InputFile.status == "blocked")
        .order_by(Run.finished_at.desc(), InputFile.run_id, InputFile.source)
        .limit(limit)
    ).all()
    return [BlockedExport(r.run_id, r.as_of, r.source, r.blocked_reason or "") for r in rows]


def review_decided(by: date | None = None) -> Exists:
    """A review item's cycle (source, record, rule, due date) has a reviewer's decision
    (taken on or before `by`, when given)."""
    same_cycle = [
        ReviewDecision.source == ReviewItem.source,
        ReviewDecision.record_id == ReviewItem.record_id,
        ReviewDecision.rule_id == ReviewItem.rule_id,
        ReviewDecision.due_date == ReviewItem.due_date,
    ]
    if by is not None:
        same_cycle.append(ReviewDecision.decided_on <= by)
    return exists().where(*same_cycle)


def current_subquery(by: date | None = None, accepted_only: bool = True) -> Subquery:
    """(source, run_id, as_of) of each source's latest accepted, non-dry-run export (as
    of `by`, when given; blocked exports too, unless `accepted_only`)."""
    wanted: list[ColumnElement[bool]] = [Run.dry_run.is_(False)]
    if accepted_only:
        wanted.append(InputFile.status == "ok")
    if by is not None:
        wanted.append(Run.as_of <= by)
    ranked = (
        select(
            InputFile.source,
            InputFile.run_id,
            Run.as_of,
            func.row_number()
            .over(
                partition_by=InputFile.source,
                order_by=(Run.as_of.desc(), Run.finished_at.desc(), Run.run_id.desc()),
            )
            .label("rank"),
        )
        .join(Run, Run.run_id == InputFile.run_id)
        .where(*wanted)
        .subquery()
    )
    return (
        select(ranked.c.source, ranked.c.run_id, ranked.c.as_of)
        .where(ranked.c.rank == 1)
        .subquery("current_runs")
    )


def current_runs(conn: Connection) -> list[CurrentRun]:
    current = current_subquery()
    rows = conn.execute(select(current).order_by(current.c.source)).all()
    return [CurrentRun(r.source, r.run_id, r.as_of) for r in rows]


def open_reviews(conn: Connection, cap: int = 50) -> ReviewSummary:
    """Review items of each source's current run: open and done counts, and the first
    `cap` open items (ids and dates only)."""
    current = current_subquery()
    decided = review_decided()
    in_current = and_(current.c.run_id == ReviewItem.run_id, current.c.source == ReviewItem.source)
    counts = conn.execute(
        select(
            ReviewItem.source,
            func.count(),
            func.sum(case((decided, 1), else_=0)),
        )
        .join(current, in_current)
        .group_by(ReviewItem.source)
        .order_by(ReviewItem.source)
    ).all()
    items = conn.execute(
        select(
            ReviewItem.source,
            ReviewItem.record_id,
            ReviewItem.rule_id,
            ReviewItem.due_date,
            ReviewItem.run_id,
        )
        .join(current, in_current)
        .where(~decided)
        .order_by(ReviewItem.due_date, ReviewItem.source, ReviewItem.record_id, ReviewItem.rule_id)
        .limit(cap)
    ).all()
    return ReviewSummary(
        open_by_source={s: int(total) - int(done or 0) for s, total, done in counts},
        done_by_source={s: int(done or 0) for s, _total, done in counts},
        items=[ReviewDue(r.source, r.record_id, r.rule_id, r.due_date, r.run_id) for r in items],
    )


def consent_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """source -> {renew_consent, consent_expired} -> count, in each source's current run."""
    current = current_subquery()
    rows = conn.execute(
        select(ConsentItem.source, ConsentItem.action, func.count())
        .join(
            current,
            and_(current.c.run_id == ConsentItem.run_id, current.c.source == ConsentItem.source),
        )
        .group_by(ConsentItem.source, ConsentItem.action)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for source, action, n in rows:
        counts.setdefault(source, dict.fromkeys(CONSENT_ACTIONS, 0))[action] = int(n)
    return dict(sorted(counts.items()))


def disposed_records() -> ColumnElement[int]:
    """A count of records in `dispositions`: a record due for deletion is in every
    manifest until it is gone, so it has one disposition per manifest; each (record, rule)
    counts once."""
    return func.count(distinct(Disposition.record_id + "\x1f" + Disposition.rule_id))


def overdue_deletions(conn: Connection, cap: int = 50) -> OverdueSummary:
    overdue = Disposition.status == "overdue"
    counts = conn.execute(
        select(Disposition.source, disposed_records())
        .where(overdue)
        .group_by(Disposition.source)
        .order_by(Disposition.source)
    ).all()
    items = conn.execute(
        select(
            Disposition.source,
            Disposition.record_id,
            Disposition.rule_id,
            Disposition.manifest_run_id,
            Disposition.manifested_on,
            Disposition.due_date,
            Disposition.seen_on,
        )
        .where(overdue)
        .order_by(Disposition.due_date, Disposition.source, Disposition.record_id)
        .limit(cap)
    ).all()
    return OverdueSummary(
        by_source={s: int(n) for s, n in counts},
        items=[
            OverdueDeletion(
                r.source,
                r.record_id,
                r.rule_id,
                r.manifest_run_id,
                r.manifested_on,
                r.due_date,
                r.seen_on,
            )
            for r in items
        ],
    )


def _present_files(out_dir: str | None) -> tuple[str, ...]:
    if not out_dir:
        return ()
    folder = Path(out_dir)
    return tuple(name for name in RUN_FILES if _inside(folder, name) is not None)


def _inside(folder: Path, name: str) -> Path | None:
    """`folder/name` when it is a regular file really inside `folder` (a symbolic link
    pointing elsewhere does not count)."""
    try:
        base = folder.resolve(strict=True)
        path = (folder / name).resolve(strict=True)
    except OSError:
        return None
    if path.parent != base or not path.is_file():
        return None
    return path


def run_file(engine: Engine, run_id: str, name: str) -> Path | None:
    """The file `name` of a recorded run's output folder, or None: only the names of
    RUN_FILES, only runs the store knows, only files inside their folder."""
    if name not in RUN_FILES:
        return None
    with engine.connect() as conn:
        out_dir = conn.execute(select(Run.out_dir).where(Run.run_id == run_id)).scalar()
    if not out_dir:
        return None
    return _inside(Path(out_dir), name)


def monthly_reports(output_root: Path) -> list[MonthlyReport]:
    """The monthly governance reports under `<output root>/monthly/`, latest first."""
    base = output_root / MONTHLY_DIR
    if not base.is_dir():
        return []
    found = []
    for folder in base.iterdir():
        if MONTH.match(folder.name):
            path = monthly_report(output_root, folder.name)
            if path is not None:
                found.append(MonthlyReport(folder.name, path))
    return sorted(found, key=lambda m: m.month, reverse=True)


def monthly_report(output_root: Path, month: str) -> Path | None:
    """The monthly report of `month` (YYYY-MM), or None."""
    if not MONTH.match(month):
        return None
    return _inside(output_root / MONTHLY_DIR / month, monthly_report_name(month))
