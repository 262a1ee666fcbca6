"""What the tasks read from Airflow: the store as a connection (as a SQLAlchemy URL for
psycopg 3 or SQLite), the landing and output locations as Variables, and landing URIs
through ObjectStoragePath or plain fsspec."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from governance.errors import GovernanceError


@pytest.fixture(scope="module", autouse=True)
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Airflow, once imported, keeps its home: make it a throwaway one."""
    before = os.environ.get("AIRFLOW_HOME")
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    yield
    if before is None:
        os.environ.pop("AIRFLOW_HOME", None)


def connection(uri: str) -> Any:
    from airflow.sdk import Connection

    return Connection.from_uri(uri, conn_id="governance_db")


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        ("postgres://gov:pw@db.internal:5432/governance", None),
        ("postgresql://gov:pw@db.internal:5432/governance", None),
        (
            "postgresql://gov:p%40ss%2Fw@db.internal/governance?sslmode=require&cursor=dictcursor",
            "postgresql+psycopg://gov:p%40ss%2Fw@db.internal/governance?sslmode=require",
        ),
        ("postgres://gov@%2Fvar%2Frun%2Fpostgresql/governance", None),
        ("sqlite:////var/lib/governance/store.db", "sqlite:////var/lib/governance/store.db"),
        ("sqlite:///store.db", "sqlite:///store.db"),
        ("postgresql+psycopg://gov@db/governance", "postgresql+psycopg://gov@db/governance"),
    ],
)
def test_a_connection_as_a_sqlalchemy_url(uri: str, url: str | None) -> None:
    from governance.airflow_support import sqlalchemy_url

    expected = {
        "postgres://gov:pw@db.internal:5432/governance": (
            "postgresql+psycopg://gov:pw@db.internal:5432/governance"
        ),
        "postgresql://gov:pw@db.internal:5432/governance": (
            "postgresql+psycopg://gov:pw@db.internal:5432/governance"
        ),
        "postgres://gov@%2Fvar%2Frun%2Fpostgresql/governance": (
            "postgresql+psycopg://gov@/governance?host=%2Fvar%2Frun%2Fpostgresql"
        ),
    }
    assert sqlalchemy_url(connection(uri)) == (url or expected[uri])


def test_the_url_works_with_sqlalchemy_and_psycopg() -> None:
    from sqlalchemy.engine import make_url

    from governance.airflow_support import sqlalchemy_url

    url = make_url(
        sqlalchemy_url(connection("postgres://gov:p%40ss@db:5433/governance?sslmode=require"))
    )
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "gov",
        "p@ss",
        "db",
        5433,
        "governance",
    )
    assert dict(url.query) == {"sslmode": "require"}
    sqlite = make_url(sqlalchemy_url(connection("sqlite:////srv/governance/store.db")))
    assert sqlite.database == "/srv/governance/store.db"


def test_a_sqlite_connection_without_a_file_is_one_line() -> None:
    from airflow.sdk import Connection

    from governance.airflow_support import sqlalchemy_url

    with pytest.raises(GovernanceError) as err:
        sqlalchemy_url(Connection(conn_id="governance_db", conn_type="sqlite"))
    assert str(err.value).startswith("Airflow connection 'governance_db': a sqlite connection")


def test_the_store_is_the_connection_when_there_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from governance.airflow_support import store_url

    monkeypatch.setenv("AIRFLOW_CONN_GOVERNANCE_DB", f"sqlite:///{tmp_path}/store.db")
    assert store_url() == f"sqlite:///{tmp_path}/store.db"
    monkeypatch.setenv("GOVERNANCE_DB_CONN_ID", "other_store")
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_STORE", "postgres://gov@db/governance")
    assert store_url() == "postgresql+psycopg://gov@db/governance"


def test_no_connection_falls_back_quietly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from governance.airflow_support import store_url

    monkeypatch.delenv("AIRFLOW_CONN_GOVERNANCE_DB", raising=False)
    monkeypatch.setenv("GOVERNANCE_DB_CONN_ID", f"absent_{os.getpid()}")
    with caplog.at_level(logging.INFO):
        assert store_url() is None
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == []
    assert any("no Airflow connection" in r.getMessage() for r in caplog.records)


def test_variables_when_set_and_none_when_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from governance.airflow_support import task_settings, variable

    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_LANDING_DIR", "s3://bucket/landing")
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_OUTPUT_DIR", "  ")
    assert variable("governance_landing_dir") == "s3://bucket/landing"
    assert variable("governance_output_dir") is None
    assert variable(f"absent_{os.getpid()}") is None
    settings = task_settings()
    assert settings["landing"] == "s3://bucket/landing" and settings["output_dir"] is None


def test_landing_uris_through_object_storage_or_fsspec(tmp_path: Path) -> None:
    import fsspec

    from governance.airflow_support import landing_filesystem
    from governance.landing import find_export
    from governance.sources.config import SourceConfig

    (tmp_path / "crm.csv").write_text("x\n")
    fs, path = landing_filesystem(f"file://{tmp_path}")  # a scheme Airflow registers
    assert path == str(tmp_path) and fs.isfile(f"{path}/crm.csv")

    memory = fsspec.filesystem("memory")
    memory.pipe(f"/af-{os.getpid()}/2026-11-30/crm.csv", b"y\n")
    found = find_export(
        f"memory://af-{os.getpid()}",
        SourceConfig(source="crm", landing="{date:%Y-%m-%d}/crm.csv"),
        date(2026, 11, 30),
        tmp_path / "staging",
        filesystem=landing_filesystem,
    )
    assert found.uri == f"memory://af-{os.getpid()}/2026-11-30/crm.csv"
    assert found.path.read_bytes() == b"y\n"
    memory.rm(f"/af-{os.getpid()}", recursive=True)
