"""Tables of the governance store. Ids and counts only: no name, e-mail or phone number."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One run of the retention policy; its id derives from as_of, the policy's hash and
    the input files' hashes, so a rerun of the same inputs is the same row."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16))
    policy_version: Mapped[str] = mapped_column(String(64))
    policy_sha256: Mapped[str] = mapped_column(String(64))
    trigger_kind: Mapped[str] = mapped_column(String(32))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    manifest_rows: Mapped[int] = mapped_column(Integer)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    out_dir: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InputFile(Base):
    __tablename__ = "input_files"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    rows_quarantined: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    blocked_reason: Mapped[str | None] = mapped_column(Text)


class DecisionCount(Base):
    """Decisions of a run by source, rule and decision (the decisions themselves stay in
    the run's decisions.csv)."""

    __tablename__ = "decision_counts"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    decision: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class ManifestItem(Base):
    __tablename__ = "manifest_items"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date, index=True)


class AuditEvent(Base):
    """An append-only, hash-chained trail: each event's hash covers its content and the
    previous event's hash, and a hash can be the predecessor of one event only, so two
    writers racing for the same link cannot fork the chain."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("prev_hash", name="uq_audit_events_prev_hash"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[str] = mapped_column(String(40))
    """UTC time as ISO 8601 text: hashed exactly as stored, on every database."""
    kind: Mapped[str] = mapped_column(String(64), index=True)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class Disposition(Base):
    """Proof of disposition of one manifested record: `confirmed` once a later accepted
    export of its source no longer holds it, `overdue` while it is still there after the
    grace period."""

    __tablename__ = "dispositions"

    manifest_run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    manifested_on: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    seen_on: Mapped[date] = mapped_column(Date)
    """Confirmed: the as_of of the first export without the record; overdue: the latest
    export that still held it."""
    checked_run_id: Mapped[str] = mapped_column(String(64))
