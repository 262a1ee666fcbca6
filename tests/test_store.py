"""The governance store: idempotent runs and a tamper-evident audit trail, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from governance.sample_data import write_sample_exports
from governance.store.db import engine_for
from governance.store.models import AuditEvent, InputFile, ManifestItem, Run
from governance.store.recorder import append_event, record_run, verify_trail
from tests.conftest import governance


def audit_doc(run_id: str = "20261130-abc") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "as_of": "2026-11-30",
        "status": "ok",
        "policy": {"version": "v1", "sha256": "p" * 64},
        "manifest": {"rows": 1, "sha256": "m" * 64},
        "started_at": "2026-11-30T06:00:00+00:00",
        "finished_at": "2026-11-30T06:00:05+00:00",
        "trigger": {"kind": "command line"},
        "exports": {
            "crm": {
                "file": "crm.csv",
                "sha256": "c" * 64,
                "rows_read": 10,
                "rows_quarantined": 0,
                "status": "ok",
                "blocked_reason": None,
                "decisions": {"ENQUIRY-3M": {"delete": 1, "retain": 9}},
            }
        },
    }


MANIFEST = [
    {
        "source": "crm",
        "record_id": "CRM-1",
        "rule_id": "ENQUIRY-3M",
        "trigger_date": None,
        "due_date": __import__("datetime").date(2026, 1, 1),
    }
]


def count(engine: Any, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_rerun_is_recognised_and_writes_nothing(store_url: str) -> None:
    engine = engine_for(store_url)
    assert record_run(engine, audit_doc(), MANIFEST) is True
    assert record_run(engine, audit_doc(), MANIFEST) is False
    assert (count(engine, Run), count(engine, InputFile), count(engine, ManifestItem)) == (1, 1, 1)
    assert count(engine, AuditEvent) == 3  # run started, manifest written, run finished
    assert verify_trail(engine).ok


def _record(url: str) -> bool:
    return record_run(engine_for(url), audit_doc("20261130-race"), MANIFEST)


def test_two_identical_runs_at_once_record_one(store_url: str) -> None:
    url = store_url
    engine_for(url)  # migrate once, as a deployment does
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_record, [url, url])
    assert sorted(results) == [False, True]
    engine = engine_for(url)
    assert count(engine, Run) == 1 and count(engine, ManifestItem) == 1
    assert verify_trail(engine).ok


def _open_fresh(url: str, go: Any, results: Any, i: int) -> None:
    go.wait()
    try:
        results.put((i, record_run(engine_for(url), audit_doc(f"20261130-new{i}"), MANIFEST)))
    except Exception as exc:  # reported to the test, which names it
        results.put((i, f"{type(exc).__name__}: {exc}"[:300]))


def test_processes_opening_a_brand_new_store_at_once_all_work(store_url: str) -> None:
    """Nobody migrates first: three processes open the empty store at the same moment.
    The migration runs once, the others wait for it, and every run is recorded."""
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_open_fresh, args=(store_url, go, results, i)) for i in range(3)]
    for w in workers:
        w.start()
    time.sleep(3)  # every process imported and waiting
    go.set()
    outcomes = dict(results.get(timeout=120) for _ in workers)
    for w in workers:
        w.join(timeout=60)
    assert outcomes == {0: True, 1: True, 2: True}
    engine = engine_for(store_url)
    assert count(engine, Run) == 3 and verify_trail(engine).ok


def _append_many(url: str) -> None:
    engine = engine_for(url)
    for i in range(20):
        with engine.begin() as conn:
            append_event(conn, "review decided", {"n": i})


def test_concurrent_writers_keep_one_unbroken_chain(store_url: str) -> None:
    url = store_url
    engine_for(url)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_append_many, [url, url])
    engine = engine_for(url)
    result = verify_trail(engine)
    assert result.ok and result.events == 40


@pytest.fixture
def trail(store_url: str) -> Any:
    engine = engine_for(store_url)
    record_run(engine, audit_doc("run-a"), MANIFEST)
    record_run(engine, audit_doc("run-b"), [])
    assert verify_trail(engine).ok
    return engine


def test_an_edited_event_is_the_first_broken_link(trail: Any) -> None:
    with trail.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(actor="mallory"))
    result = verify_trail(trail)
    assert (result.ok, result.broken_at) == (False, 2)
    assert "changed" in (result.problem or "")


def test_a_deleted_event_breaks_the_next_link(trail: Any) -> None:
    with trail.begin() as conn:
        conn.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
    result = verify_trail(trail)
    assert (result.ok, result.broken_at) == (False, 3)


def test_a_removed_last_event_is_caught_by_its_run(trail: Any) -> None:
    with trail.begin() as conn:
        last = conn.execute(select(func.max(AuditEvent.seq))).scalar_one()
        conn.execute(delete(AuditEvent).where(AuditEvent.seq == last))
    result = verify_trail(trail)
    assert not result.ok and "run-b" in (result.problem or "")


def test_the_command_line_records_runs_and_verifies_the_trail(
    tmp_path: Path, store_url: str
) -> None:
    exports = write_sample_exports(tmp_path / "in", rows=200, seed=3)
    url = store_url
    args = [f"--{s}={p}" for s, p in exports.items()]
    for _ in range(2):
        proc = governance(
            "run", *args, "--as-of", "2026-11-30", "--out", str(tmp_path / "o"), "--db", url
        )
        assert proc.returncode == 0, proc.stderr
    assert "run already in the store" in proc.stderr
    engine = engine_for(url)
    audit = json.loads((tmp_path / "o" / "audit_report.json").read_text())
    with engine.connect() as conn:
        run = conn.execute(select(Run)).one()
        assert run.run_id == audit["run_id"] and run.trigger_kind == "command line"
        items = conn.execute(select(func.count()).select_from(ManifestItem)).scalar_one()
    assert items == audit["manifest"]["rows"]
    ok = governance("audit", "verify", "--db", url)
    assert ok.returncode == 0 and "audit trail intact" in ok.stdout
    with engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.seq == 1).values(detail="{}"))
    broken = governance("audit", "verify", "--db", url)
    assert broken.returncode == 1
    assert "audit trail broken at event #1" in broken.stderr


def test_previous_rows_come_from_the_latest_earlier_accepted_run(store_url: str) -> None:
    from datetime import date

    from governance.store.history import previous_rows

    engine = engine_for(store_url)

    def run(run_id: str, as_of: str, rows: int, status: str = "ok", dry: bool = False) -> None:
        doc = audit_doc(run_id)
        doc["as_of"] = as_of
        doc["exports"]["crm"].update(rows_read=rows, status=status)
        doc["trigger"] = {"kind": "ad hoc" if dry else "scheduled", "dry_run": dry}
        record_run(engine, doc, [])

    assert previous_rows(engine, "crm", date(2026, 11, 30)) is None
    run("a", "2026-11-27", 1000)
    run("b", "2026-11-28", 900)
    run("c", "2026-11-29", 10, status="blocked")  # not accepted
    run("d", "2026-11-29", 5, dry=True)  # a dry run is no reference
    run("e", "2026-11-30", 7)  # the same day is not "previous"
    assert previous_rows(engine, "crm", date(2026, 11, 30)) == 900
    assert previous_rows(engine, "crm", date(2026, 11, 28)) == 1000
    assert previous_rows(engine, "hr", date(2026, 11, 30)) is None


def test_migrations_build_exactly_the_models(store_url: str) -> None:
    """The Alembic migrations and the SQLAlchemy models describe the same schema, so a
    store migrated on a customer's database is the one the code expects."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from governance.store.models import Base

    engine = engine_for(store_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_a_policy_version_names_one_policy(store_url: str) -> None:
    from governance.store.history import policy_version_clash

    engine = engine_for(store_url)
    record_run(engine, audit_doc("20261130-one"), MANIFEST)
    assert policy_version_clash(engine, "v1", "p" * 64) is None
    assert policy_version_clash(engine, "v2", "q" * 64) is None
    clash = policy_version_clash(engine, "v1", "q" * 64)
    assert clash is not None and clash[0] == "20261130-one"
    assert str(clash[1]) == "2026-11-30"
