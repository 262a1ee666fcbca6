"""Shared pieces of the governance DAGs, imported at parse time: so it imports nothing
heavy (no pandas, pyarrow, Great Expectations or database code, and none of the library's
other modules).

It also reads the settings that are Airflow's to give, inside tasks only (never at parse
time): the governance store as an Airflow connection, and the landing and output locations
as Airflow Variables (`task_settings`). `governance.orchestration` takes them as plain
parameters and falls back to the environment, so it runs and is tested without Airflow.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict, TypeVar, cast
from urllib.parse import quote, urlencode

import pendulum
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from governance.errors import GovernanceError

T = TypeVar("T")

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config" / "sources"
START = pendulum.datetime(2026, 1, 1, tz="Europe/London")
log = logging.getLogger(__name__)

DB_CONN_ID_ENV = "GOVERNANCE_DB_CONN_ID"
DEFAULT_DB_CONN_ID = "governance_db"
LANDING_VARIABLE = "governance_landing_dir"
OUTPUT_VARIABLE = "governance_output_dir"

LIBPQ_PARAMETERS = frozenset(
    {
        "application_name",
        "channel_binding",
        "client_encoding",
        "connect_timeout",
        "gssencmode",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "options",
        "passfile",
        "service",
        "sslcert",
        "sslcrl",
        "sslkey",
        "sslmode",
        "sslnegotiation",
        "sslpassword",
        "sslrootcert",
        "target_session_attrs",
    }
)
"""Extras of a Postgres connection passed on to psycopg; Airflow-only extras are dropped."""


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
    from governance.outputs.atomic import OutputError

    try:
        return call(*args, **kwargs)
    except OutputError:
        raise  # a full disk or a read-only folder may be fixed before the next try
    except GovernanceError as exc:
        raise AirflowFailException(str(exc)) from None


class TaskSettings(TypedDict):
    """What a governance task reads from Airflow, as keyword arguments of
    `governance.orchestration.ingest` / `evaluate` (None: the environment, then defaults)."""

    db_url: str | None
    landing: str | None
    output_dir: str | None
    filesystem: Callable[[str], tuple[Any, str]]


def task_settings() -> TaskSettings:
    """The store, landing and output locations for the running task. Call inside a task only:
    connections and Variables are never read at parse time. A misconfigured connection fails
    the task at once (no retries)."""
    return TaskSettings(
        db_url=without_retry_on_bad_data(store_url),
        landing=variable(LANDING_VARIABLE),
        output_dir=variable(OUTPUT_VARIABLE),
        filesystem=landing_filesystem,
    )


def variable(key: str) -> str | None:
    """An Airflow Variable's value, or None when it is not set (or blank)."""
    from airflow.sdk import Variable

    value = Variable.get(key, default=None)
    text = "" if value is None else str(value).strip()
    return text or None


def store_url() -> str | None:
    """The SQLAlchemy URL of the governance store from the Airflow connection named by
    $GOVERNANCE_DB_CONN_ID (default `governance_db`), or None when there is no such
    connection (the store is then $GOVERNANCE_DB_URL or the default SQLite file)."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = os.environ.get(DB_CONN_ID_ENV, "").strip() or DEFAULT_DB_CONN_ID
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        log.info(
            "governance store: no Airflow connection %r; using $GOVERNANCE_DB_URL or the default",
            conn_id,
        )
        return None
    url = sqlalchemy_url(conn)
    log.info("governance store: Airflow connection %r (%s)", conn_id, url.partition("://")[0])
    return url


def sqlalchemy_url(conn: Any) -> str:
    """An Airflow connection as a SQLAlchemy URL: Postgres (`postgres`/`postgresql`) through
    psycopg 3 (`postgresql+psycopg://`, libpq extras such as `sslmode` as query parameters),
    SQLite with the database file in the connection's host or schema (`sqlite:////abs.db`),
    anything else (a full SQLAlchemy URL given as the connection's URI) as it is."""
    conn_type = (conn.conn_type or "").lower()
    conn_id = getattr(conn, "conn_id", "?")
    if conn_type in ("postgres", "postgresql"):
        auth = ""
        if conn.login:
            auth = quote(conn.login, safe="")
            if conn.password:
                auth += ":" + quote(conn.password, safe="")
            auth += "@"
        extras = {
            k: str(v) for k, v in conn.extra_dejson.items() if k in LIBPQ_PARAMETERS and v != ""
        }
        host = conn.host or ""
        if host.startswith("/"):  # a Unix socket directory
            extras["host"], host = host, ""
        port = f":{conn.port}" if conn.port else ""
        database = "/" + quote(conn.schema, safe="") if conn.schema else "/"
        query = "?" + urlencode(sorted(extras.items())) if extras else ""
        return f"postgresql+psycopg://{auth}{host}{port}{database}{query}"
    if conn_type == "sqlite":
        database = conn.host or conn.schema
        if not database:
            raise GovernanceError(
                f"Airflow connection {conn_id!r}: a sqlite connection needs the database "
                "file in its host or schema (e.g. sqlite:////var/lib/governance/store.db)"
            )
        return f"sqlite:///{database}"
    if not conn_type:
        raise GovernanceError(f"Airflow connection {conn_id!r}: has no connection type")
    return str(conn.get_uri())


def landing_filesystem(uri: str) -> tuple[Any, str]:
    """A landing URI -> (fsspec filesystem, path): through Airflow's ObjectStoragePath for the
    schemes Airflow or its providers register (`s3://aws_default@bucket/landing` uses that
    connection's credentials), plain fsspec for every other scheme (`memory://`, ...)."""
    from airflow.sdk.io.fs import has_fs

    scheme = uri.partition("://")[0].lower()
    if has_fs(scheme):
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath(uri)
        return path.fs, str(path.path)
    from fsspec.core import url_to_fs

    fs, inner = url_to_fs(uri)
    return fs, str(inner)


def partitioned_evaluation(spec: Callable[[Any], dict[str, Any]]) -> None:
    """The retention run of a DAG as three steps, so several workers share large exports:
        `split_exports` cuts the day's exports into parts (one per
        $GOVERNANCE_PARTITION_ROWS rows, default 250,000), `decide_part` runs once per part
        (dynamic task mapping), and `finish_run` puts the parts together, writes the outputs and
        records the run: the same outputs as one pass; `remove_parts`, a teardown, deletes the parts
    even when a step failed. `spec(context)` gives the run's as_of,
        out_dir, sources, trigger and dry_run; it is called in each task, never at parse time."""
    from airflow.sdk import get_current_context, task

    def current() -> tuple[dict[str, Any], TaskSettings]:
        return spec(get_current_context()), task_settings()

    @task
    def split_exports() -> list[dict[str, Any]]:
        """Find the day's exports and cut them into parts (owner-only files)."""
        from governance.orchestration import split_exports as split

        run, settings = current()
        return without_retry_on_bad_data(
            split, run["as_of"], run["out_dir"], run["sources"], **settings
        )

    label = "{{ task.op_kwargs['part']['source'] }} part {{ task.op_kwargs['part']['part'] }}"

    @task(map_index_template=label)
    def decide_part(part: dict[str, Any]) -> dict[str, Any]:
        """Read, decide and check one part."""
        from governance.orchestration import decide_part as decide

        run = spec(get_current_context())
        return without_retry_on_bad_data(
            decide, run["as_of"], run["out_dir"], part["source"], int(part["part"])
        )

    @task(trigger_rule="none_failed")
    def finish_run() -> dict[str, Any]:
        """Put the parts together, write the manifest and reports, record the run."""
        from governance.orchestration import finish_parts

        run, settings = current()
        return without_retry_on_bad_data(
            finish_parts,
            run["as_of"],
            run["out_dir"],
            run["sources"],
            trigger=run["trigger"],
            dry_run=run["dry_run"],
            db_url=settings["db_url"],
        )

    @task
    def remove_parts() -> None:
        """Remove the parts (copies of the exports' rows), whatever became of the run: a
        teardown, so clearing a failed part reruns the split as well."""
        from governance.orchestration import parts_folder
        from governance.partition import cleanup

        cleanup(parts_folder(spec(get_current_context())["out_dir"]))

    parts = split_exports()
    teardown = remove_parts().as_teardown(setups=cast(Any, parts))  # an XComArg, as in the docs
    decide_part.expand(part=parts) >> finish_run() >> teardown
