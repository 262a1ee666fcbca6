"""Connecting to the store and migrating it.

The store is a SQLAlchemy URL: `$GOVERNANCE_DB_URL`, else an SQLite file
`$GOVERNANCE_HOME/governance.db` (the embedded default). PostgreSQL works through
`postgresql+psycopg://...`. Every connection first brings the schema up to date with the
Alembic migrations shipped in the package.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def governance_home() -> Path:
    """$GOVERNANCE_HOME, default ~/.governance: where the embedded store lives."""
    home = os.environ.get("GOVERNANCE_HOME")
    return Path(home) if home else Path.home() / ".governance"


def default_url() -> str:
    url = os.environ.get("GOVERNANCE_DB_URL")
    if url:
        return url
    path = governance_home() / "governance.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def engine_for(url: str | None = None) -> Engine:
    """An engine on the store, migrated to the latest schema."""
    engine = create_engine(url or default_url())
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Write-ahead logging: readers never block the writer, and a commit is one
            # sequential append (durable at checkpoints with synchronous=NORMAL).
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    upgrade(engine)
    return engine


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


MIGRATION_LOCK = 0x676F7665726E  # any constant shared by every process: "govern"
"""The PostgreSQL advisory lock that makes processes migrate one after the other."""


def upgrade(engine: Engine) -> None:
    """Bring the store to the latest schema. Processes opening a brand-new store at the
    same moment take turns: the first migrates, the others then find nothing to do."""
    config = alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            # Take the write lock now, not at the first write: the others wait here
            # (busy_timeout) instead of each creating the same tables.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
