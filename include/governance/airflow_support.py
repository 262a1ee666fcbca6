"""Shared pieces of the governance DAGs, imported at parse time: so it imports nothing
heavy (no pandas, pyarrow, Great Expectations or database code, and none of the library's
other modules)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pendulum
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from governance.errors import GovernanceError

T = TypeVar("T")

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config" / "sources"
START = pendulum.datetime(2026, 1, 1, tz="Europe/London")
log = logging.getLogger(__name__)


def sources() -> dict[str, Path]:
    """Source name -> config file (a directory listing: no file is read at parse time)."""
    return {p.stem: p for p in sorted(CONFIG_DIR.glob("*.yaml"))}


def export_asset(source: str) -> Asset:
    """Updated when a source's export has been read and has passed its quality checks."""
    return Asset(name=f"governance_export_{source}", uri=f"governance://exports/{source}")


def notify_failure(context: dict[str, Any]) -> None:
    """Failure callback: logs the failed task and, when $GOVERNANCE_NOTIFY_SMTP_CONN_ID
    names an Airflow SMTP connection (off by default), e-mails $GOVERNANCE_NOTIFY_TO.
    Only ids and states are sent, never data from the exports."""
    ti = context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    log.error("governance task failed: %s.%s", dag_id, task_id)
    conn_id = os.environ.get("GOVERNANCE_NOTIFY_SMTP_CONN_ID")
    recipient = os.environ.get("GOVERNANCE_NOTIFY_TO")
    if not conn_id or not recipient:
        return
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    SmtpNotifier(
        to=recipient,
        smtp_conn_id=conn_id,
        subject=f"[governance] {dag_id}.{task_id} failed",
        html_content=f"Task {task_id} of DAG {dag_id} failed; see the Airflow UI for its log.",
    ).notify(context)  # type: ignore[arg-type]


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-governance",
    "retries": 2,
    "retry_delay": pendulum.duration(minutes=5),
    "on_failure_callback": notify_failure,
}


def without_retry_on_bad_data(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a task's work; a blocked export or a configuration error fails the task at once
    (retrying cannot fix the data), while I/O errors still get the task's retries."""
    try:
        return call(*args, **kwargs)
    except GovernanceError as exc:
        raise AirflowFailException(str(exc)) from None
