"""Shared helpers: small exports written from dicts, in the default layouts."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import pytest

from governance.sources.schema import schema

CRM_BASE = {
    "record_id": "CRM-1",
    "record_type": "contact_details",
    "first_name": "Siân",
    "last_name": "O'Brien",
    "email": "Sian.OBrien@Example.co.uk",
    "phone": "01242 580654",
    "company": "Hughes, Patel & Co",
    "relationship": "customer",
    "service": "",
    "contract_id": "CON-1",
    "contract_status": "completed",
    "contract_end_date": "2020-01-31",
    "created_at": "2019-05-01T10:00:00Z",
    "last_reviewed_at": "",
    "enquiry_date": "",
    "purchased": "Y",
    "marketing_opt_in": "N",
    "marketing_consent_date": "",
    "legal_hold": "N",
}


def csv_text(rows: Iterable[Mapping[str, str]], header: list[str] | None = None) -> str:
    rows = list(rows)
    header = header or list(rows[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def default_header(source: str) -> list[str]:
    return [f.name for f in schema(source)]


def rows(path: Path) -> list[dict[str, str]]:
    """A CSV file's rows as dicts."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, records: list[dict[str, str]]) -> None:
    """Write dicts as a CSV file with their keys as the header."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    def write(
        rows: Iterable[Mapping[str, str]],
        name: str = "crm.csv",
        header: list[str] | None = None,
        encoding: str = "utf-8",
    ) -> Path:
        path = tmp_path / name
        path.write_bytes(csv_text(rows, header).encode(encoding))
        return path

    return write


def governance(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the `governance` command line in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "governance.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def crm_row(**changes: str) -> dict[str, str]:
    return {**CRM_BASE, **changes}


@pytest.fixture(scope="session", autouse=True)
def session_governance_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test touches the real ~/.governance, module-scoped fixtures included."""
    home = tmp_path_factory.mktemp("session_governance_home")
    before = os.environ.get("GOVERNANCE_HOME")
    os.environ["GOVERNANCE_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("GOVERNANCE_HOME", None)
    else:
        os.environ["GOVERNANCE_HOME"] = before


@pytest.fixture(autouse=True)
def governance_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test gets a fresh store and per-user folder."""
    home = tmp_path_factory.mktemp("governance_home")
    monkeypatch.setenv("GOVERNANCE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """One throwaway PostgreSQL server per test process."""
    from tests.pg_server import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty governance store on each supported database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'governance.db'}"
    from uuid import uuid4

    from sqlalchemy import create_engine

    base = request.getfixturevalue("pg_server")
    name = f"store_{uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return f"{base.rsplit('/', 1)[0]}/{name}"
