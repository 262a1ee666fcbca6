"""`governance db migrate`: the init step of the production stack (airflow-init runs it
against the governance database before any DAG does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from governance.store.db import alembic_config

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def migrate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "governance.cli", "db", "migrate", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_an_empty_store_is_migrated_to_the_latest_revision_once(store_url: str) -> None:
    first = migrate("--db", store_url)
    assert first.returncode == 0, first.stderr
    assert f"migrated from an empty database to revision {HEAD}" in first.stdout
    assert {"runs", "manifest_items", "audit_events", "alembic_version"} <= tables(store_url)
    again = migrate("--db", store_url)
    assert again.returncode == 0, again.stderr
    assert f"already at revision {HEAD}" in again.stdout


def test_an_older_store_is_brought_up_to_date(store_url: str) -> None:
    engine = create_engine(store_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    engine.dispose()
    assert "dispositions" not in tables(store_url)
    done = migrate("--db", store_url)
    assert done.returncode == 0, done.stderr
    assert f"migrated from 0002 to revision {HEAD}" in done.stdout
    assert "dispositions" in tables(store_url)


def test_the_url_comes_from_the_environment_and_its_password_is_never_shown(
    pg_server: str, tmp_path: Path
) -> None:
    store = tmp_path / "from-env.db"
    env = {**os.environ, "GOVERNANCE_DB_URL": f"sqlite:///{store}"}
    done = migrate(env=env)
    assert done.returncode == 0, done.stderr
    assert store.exists() and "runs" in tables(f"sqlite:///{store}")
    # A server that refuses the login: exit 1, one line, the password masked.
    wrong = pg_server.replace("postgres@", "nobody:s3cret-pw@")
    refused = migrate("--db", wrong)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: governance store postgresql+psycopg://nobody:***@")
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "s3cret-pw" not in refused.stdout + refused.stderr


def test_a_malformed_url_is_a_usage_error() -> None:
    done = migrate("--db", "not a url")
    assert done.returncode == 2
    assert "not a SQLAlchemy URL" in done.stderr
