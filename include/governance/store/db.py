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
from sqlalchemy import Engine, create_engine, event

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


def upgrade(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
