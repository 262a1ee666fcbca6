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
    assumptions: Mapped[str | None] = mapped_column(Text)
    """The assumptions the policy in force flags (JSON list), for the monthly report."""
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


class ReviewItem(Base):
    """A record whose periodic review was due in a run (its review queue)."""

    __tablename__ = "review_items"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)


class ConsentItem(Base):
    """A consent renewal to ask for, or an expired consent to stop marketing on."""

    __tablename__ = "consent_items"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    consent_date: Mapped[date | None] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date)


class QuarantineItem(Base):
    """A row held back from every decision because its data is bad or doubtful."""

    __tablename__ = "quarantine_items"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_row: Mapped[int] = mapped_column(Integer, primary_key=True)
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), primary_key=True)
    record_id: Mapped[str | None] = mapped_column(String(200))


class ReviewDecision(Base):
    """A reviewer's keep or delete for one review cycle of a record (the cycle is its due
    date): a keep restarts the review period from the day it was decided, a delete puts
    the record into the next manifest."""

    __tablename__ = "review_decisions"
    __table_args__ = (
        UniqueConstraint(
            "source", "record_id", "rule_id", "due_date", name="uq_review_decisions_cycle"
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    source: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(200), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    due_date: Mapped[date] = mapped_column(Date)
    decision: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    decided_on: Mapped[date] = mapped_column(Date, index=True)
    """The London date of the decision: runs as of that date or later apply it."""
    decided_at: Mapped[str] = mapped_column(String(40))
    run_id: Mapped[str] = mapped_column(String(64))
    """The run whose review queue held the item."""


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
