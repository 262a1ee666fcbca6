"""The review workflow: periodic reviews that fell due, and reviewers' keep or delete.

A review item is open while no decision exists for its cycle (source, record, rule, due
date). A keep restarts the review period from the day it was decided; a delete puts the
record into the next manifest (legal hold still wins). Each decision is an audit event
naming the reviewer and their reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, Engine, and_, insert, select
from sqlalchemy.exc import IntegrityError

from governance.errors import GovernanceError
from governance.policy.engine import REVIEW_COLUMNS
from governance.store.models import ReviewDecision, ReviewItem
from governance.store.overview import current_subquery, review_decided
from governance.store.recorder import append_event

LONDON = ZoneInfo("Europe/London")
Decision = Literal["keep", "delete"]


class ReviewError(GovernanceError):
    """A review decision that cannot be taken (no such open review, decided otherwise)."""


@dataclass(frozen=True)
class OpenReview:
    source: str
    record_id: str
    rule_id: str
    trigger_date: date | None
    due_date: date
    run_id: str
    as_of: date


def _current_items(
    conn: Connection, source: str | None, record_id: str | None, undecided: bool
) -> list[OpenReview]:
    """Review items of each source's current run (its latest accepted export in a run that
    was not a dry run: see `governance.store.overview`)."""
    current = current_subquery()
    query = select(
        ReviewItem.source,
        ReviewItem.record_id,
        ReviewItem.rule_id,
        ReviewItem.trigger_date,
        ReviewItem.due_date,
        ReviewItem.run_id,
        current.c.as_of,
    ).join(
        current, and_(current.c.run_id == ReviewItem.run_id, current.c.source == ReviewItem.source)
    )
    if undecided:
        query = query.where(~review_decided())
    if source is not None:
        query = query.where(ReviewItem.source == source)
    if record_id is not None:
        query = query.where(ReviewItem.record_id == record_id)
    query = query.order_by(
        ReviewItem.due_date, ReviewItem.source, ReviewItem.record_id, ReviewItem.rule_id
    )
    return [OpenReview(*row) for row in conn.execute(query).all()]


def open_reviews(
    engine: Engine, source: str | None = None, record_id: str | None = None
) -> list[OpenReview]:
    """The reviews due in each source's current run that nobody has decided, oldest due
    first."""
    with engine.connect() as conn:
        return _current_items(conn, source, record_id, undecided=True)


def decide_review(
    engine: Engine,
    record_id: str,
    decision: Decision,
    reviewer: str,
    reason: str,
    source: str | None = None,
    now: datetime | None = None,
) -> tuple[list[OpenReview], bool]:
    """Record a reviewer's decision on the review(s) of `record_id` due in its source's
    current run; returns them and whether this call recorded anything (False: the same decision
    was already recorded, so a retry changes nothing)."""
    if not reason.strip():
        raise ReviewError("a review decision needs a reason (--reason)")
    if not reviewer.strip():
        raise ReviewError("the reviewer is unknown: pass --reviewer")
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    with engine.begin() as conn:
        items = _current_items(conn, source, record_id, undecided=False)
        if not items:
            where = f" in {source}" if source else ""
            raise ReviewError(f"{record_id}{where} has no review due in the latest accepted export")
        sources = sorted({i.source for i in items})
        if len(sources) > 1:
            raise ReviewError(f"{record_id} is under review in {', '.join(sources)}: pass --source")
        recorded = False
        for item in items:
            done = conn.execute(
                select(ReviewDecision).where(
                    ReviewDecision.source == item.source,
                    ReviewDecision.record_id == item.record_id,
                    ReviewDecision.rule_id == item.rule_id,
                    ReviewDecision.due_date == item.due_date,
                )
            ).first()
            if done is not None:
                if done.decision == decision:
                    continue
                raise ReviewError(
                    f"the review of {item.source} {record_id} due {item.due_date} was "
                    f"already decided: {done.decision} on {done.decided_on}"
                )
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(ReviewDecision).values(
                            source=item.source,
                            record_id=item.record_id,
                            rule_id=item.rule_id,
                            due_date=item.due_date,
                            decision=decision,
                            reviewer=reviewer,
                            reason=reason,
                            decided_on=moment.astimezone(LONDON).date(),
                            decided_at=moment.isoformat(timespec="microseconds"),
                            run_id=item.run_id,
                        )
                    )
            except IntegrityError:
                raise ReviewError(
                    f"the review of {item.source} {record_id} was decided by someone else "
                    "at the same moment: see `governance review list`"
                ) from None
            append_event(
                conn,
                "review decided",
                {
                    "source": item.source,
                    "record_id": item.record_id,
                    "rule_id": item.rule_id,
                    "due_date": item.due_date.isoformat(),
                    "decision": decision,
                    "reason": reason,
                },
                run_id=item.run_id,
                actor=reviewer,
                at=moment,
            )
            recorded = True
    return items, recorded


def decisions_for(conn: Connection, source: str, as_of: date) -> pd.DataFrame:
    """Reviewers' decisions on `source` that a run as of `as_of` applies (decided on or
    before it), in a stable order, as the engine takes them."""
    rows = conn.execute(
        select(
            ReviewDecision.record_id,
            ReviewDecision.rule_id,
            ReviewDecision.due_date,
            ReviewDecision.decision,
            ReviewDecision.decided_on,
        )
        .where(ReviewDecision.source == source, ReviewDecision.decided_on <= as_of)
        .order_by(ReviewDecision.record_id, ReviewDecision.rule_id, ReviewDecision.due_date)
    ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=REVIEW_COLUMNS)


def fingerprint(decisions: pd.DataFrame) -> str | None:
    """A hash of the decisions a run applied (None when there are none): it is part of the
    run id, so the same exports with new review decisions make a new run."""
    if decisions.empty:
        return None
    text = decisions.astype(str).to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
