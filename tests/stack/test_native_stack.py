"""The production stack without Docker: docker-compose.yml's topology started natively by
scripts/native_stack.py (PostgreSQL and Redis from Debian's packages, `airflow-init`, the API
server, scheduler, DAG processor, triggerer and two Celery workers), driven only through
Airflow's REST API.

The ingestion DAGs are triggered for the day the scheduler would run them, the retention
DAG follows on their assets, and its manifest and decisions must be the bytes a plain
`governance run` writes for the same exports and date; the governance database holds the
run with an intact audit trail, and survives a pg_dump / pg_restore round trip. Nothing here
depends on task ids: only DAG runs are triggered and awaited.

Component logs and task logs are kept in build/test-artifacts/stack/. Marked `stack`
(skip locally with `-m "not stack"`); `make test` and .ci/run run it.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scripts.native_stack import NativeStack, postgres_bin, redis_server_bin, throwaway_env

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts" / "stack"
SOURCES = sorted(p.stem for p in (ROOT / "include" / "config" / "sources").glob("*.yaml"))
INGEST_DAGS = [f"governance_ingest_{source}" for source in SOURCES]
RETENTION_DAG = "governance_retention"
WORKERS = 2
REGISTER_TIMEOUT = 120  # s, until the DAG processor has serialised every DAG
CHAIN_TIMEOUT = 300  # s, from the triggers to a successful retention run
LONDON = ZoneInfo("Europe/London")
CLEAR_OF_MIDNIGHT = 15 * 60  # s: the stack's start and the chain, with room to spare


def wait_clear_of_london_midnight(now: datetime | None = None) -> float:
    """Sleep past London midnight if it would fall while the chain runs (the scheduler
    would then add the next day's runs mid-test); returns the seconds slept."""
    now = now or datetime.now(LONDON)
    midnight = datetime.combine(now.date() + timedelta(days=1), dt_time(), LONDON)
    left = (midnight - now).total_seconds()
    if left >= CLEAR_OF_MIDNIGHT:
        return 0.0
    time.sleep(left + 30)
    return left + 30


class Api:
    """Airflow's REST API with a JWT from the simple auth manager (POST /auth/token)."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base.rstrip("/")
        self.token = ""
        answer = self.call("POST", "/auth/token", {"username": username, "password": password})
        self.token = str(answer["access_token"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"}
            | ({"Authorization": f"Bearer {self.token}"} if self.token else {}),
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:1000].decode(errors="replace")
            raise AssertionError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        return json.loads(payload) if payload else None


@pytest.fixture
def artifacts() -> Iterator[Path]:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    yield ARTIFACTS


def test_the_compose_topology_runs_the_chain_natively(tmp_path: Path, artifacts: Path) -> None:
    try:  # the servers come from Debian's packages: missing ones fail, never skip
        postgres_bin("initdb")
        redis_server_bin()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    landing, outputs, workdir = tmp_path / "landing", tmp_path / "outputs", tmp_path / "stack"
    landing.mkdir()
    env = throwaway_env(
        {
            "GOVERNANCE_LANDING_HOST_DIR": str(landing),
            "GOVERNANCE_OUTPUT_HOST_DIR": str(outputs),
            # Sized for two shared cores: one API worker, one task per Celery worker.
            "AIRFLOW_API_WORKERS": "1",
            "AIRFLOW_WORKER_CONCURRENCY": "1",
            # Parts of 100 rows: the 300-row CRM export is shared between the workers.
            "GOVERNANCE_PARTITION_ROWS": "100",
        }
    )
    started = time.monotonic()
    progress = artifacts / "progress.log"

    def say(message: str) -> None:
        with progress.open("a") as f:
            f.write(f"{time.monotonic() - started:7.1f} s  {message}\n")

    slept = wait_clear_of_london_midnight()
    if slept:
        say(f"waited {slept:.0f} s for London midnight to pass")
    stack = NativeStack(workdir, env, artifacts / "logs", {"airflow-worker": WORKERS}, say=say)
    try:
        with stack:
            say("stack healthy")
            drive_the_chain(stack, env, landing, outputs, tmp_path, say)
            say("checks done; stopping")
    finally:
        task_logs = workdir / "volumes" / "airflow-logs"
        if task_logs.exists():
            shutil.copytree(task_logs, artifacts / "task-logs", dirs_exist_ok=True)
    say(f"stopped; nothing survived (total {time.monotonic() - started:.0f} s)")
    assert not stack.survivors


def drive_the_chain(
    stack: NativeStack,
    env: dict[str, str],
    landing: Path,
    outputs: Path,
    tmp_path: Path,
    say: Callable[[str], None],
) -> None:
    api = Api(stack.env["AIRFLOW_BASE_URL"], "admin", env["AIRFLOW_ADMIN_PASSWORD"])
    wait_for_dags(api, [*INGEST_DAGS, RETENTION_DAG])
    say("DAGs registered")

    # The day the scheduler would run the ingestion next: triggering exactly that logical
    # date before unpausing leaves the scheduler nothing to add.
    logical = api.call("GET", f"/api/v2/dags/{INGEST_DAGS[0]}")["next_dagrun_logical_date"]
    assert logical, f"{INGEST_DAGS[0]} has no next run"
    as_of = datetime.fromisoformat(logical).astimezone(LONDON).date()
    sample = governance(
        "sample-data", "--out", str(landing), "--rows", "300", "--seed", "2026",
        "--as-of", as_of.isoformat(),
    )  # fmt: skip
    assert sample.returncode == 0, sample.stderr

    api.call("PATCH", f"/api/v2/dags/{RETENTION_DAG}", {"is_paused": False})
    runs = {}
    for dag_id in INGEST_DAGS:
        run = api.call(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            {"dag_run_id": f"stack-test-{as_of}", "logical_date": logical},
        )
        runs[dag_id] = run["dag_run_id"]
        api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    say(f"triggered {', '.join(INGEST_DAGS)} for {as_of}")

    deadline = time.monotonic() + CHAIN_TIMEOUT
    for dag_id, run_id in runs.items():
        state = wait_for_run(api, dag_id, run_id, deadline)
        assert state == "success", f"{dag_id} {run_id}: {state}; see {ARTIFACTS}"
    say("ingestion succeeded")
    retention = wait_for_retention(api, deadline)
    assert retention["state"] == "success", f"{RETENTION_DAG}: {retention}; see {ARTIFACTS}"
    assert retention["run_type"] == "asset_triggered"
    wait_until_idle(api, deadline)
    say(f"{RETENTION_DAG} succeeded ({retention['dag_run_id']}); nothing queued or running")

    # Every task ran on a Celery worker: the workers' logs count them all.
    instances = api.call("GET", "/api/v2/dags/~/dagRuns/~/taskInstances?limit=1000")
    succeeded = [ti for ti in instances["task_instances"] if ti["state"] == "success"]
    assert len(succeeded) == instances["total_entries"] >= len(INGEST_DAGS) + 1
    per_worker = celery_tasks_done(stack, len(succeeded))
    say(f"task instances: {len(succeeded)}; tasks per Celery worker: {per_worker}")
    assert sum(per_worker.values()) == len(succeeded), per_worker
    # The exports were decided in parts, one mapped task each, on both workers.
    parts = [ti for ti in succeeded if ti["task_id"] == "decide_part"]
    assert len(parts) >= 5, [ti["map_index"] for ti in parts]
    assert all(n > 0 for n in per_worker.values()), per_worker

    # The scheduled outputs are the bytes of a plain `governance run` on the same exports.
    scheduled = outputs / "scheduled" / as_of.isoformat()
    assert scheduled.is_dir(), sorted(p.name for p in (outputs / "scheduled").iterdir())
    audit = json.loads((scheduled / "audit_report.json").read_text())
    assert audit["as_of"] == as_of.isoformat()
    assert audit["trigger"]["kind"] == "scheduled"
    cli = tmp_path / "cli"
    plain = governance(
        "run", *(a for s in SOURCES for a in (f"--{s}", str(landing / f"{s}.csv"))),
        "--as-of", as_of.isoformat(), "--out", str(cli), "--db", f"sqlite:///{tmp_path}/cli.db",
    )  # fmt: skip
    assert plain.returncode == 0, plain.stdout[-2000:] + plain.stderr[-2000:]
    for name in ("deletion_manifest.csv", "decisions.csv"):
        assert (scheduled / name).read_bytes() == (cli / name).read_bytes(), name
    manifest_rows = len(list(csv.DictReader((cli / "deletion_manifest.csv").open())))
    assert manifest_rows > 0
    say(f"outputs match a plain governance run ({manifest_rows} manifest rows)")

    # The governance store (its own PostgreSQL database) holds the run, trail intact.
    store = stack.replicas["airflow-worker"][0].env["GOVERNANCE_DB_URL"]
    assert store.rsplit("/", 1)[1] == "governance"
    assert store_runs(store) == [(audit["run_id"], as_of, "scheduled", manifest_rows)]
    verify = governance("audit", "verify", "--db", store)
    assert verify.returncode == 0 and "audit trail intact" in verify.stdout, verify.stderr

    # Backup and restore as the README says: pg_dump -Fc, pg_restore --no-owner.
    restored = backup_and_restore(stack, env, tmp_path / "governance.dump")
    assert store_runs(restored) == store_runs(store)
    verify = governance("audit", "verify", "--db", restored)
    assert verify.returncode == 0 and "audit trail intact" in verify.stdout, verify.stderr
    say("backup restored into a new database: same runs, audit trail intact")


def governance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "governance.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def wait_for_dags(api: Api, dag_ids: list[str]) -> None:
    deadline = time.monotonic() + REGISTER_TIMEOUT
    while True:
        found = api.call("GET", "/api/v2/dags?dag_id_pattern=governance_&limit=100")
        missing = set(dag_ids) - {d["dag_id"] for d in found["dags"]}
        if not missing:
            return
        if time.monotonic() > deadline:
            errors = api.call("GET", "/api/v2/importErrors")
            pytest.fail(f"DAGs never registered: {sorted(missing)}; import errors: {errors}")
        time.sleep(2)


def wait_for_run(api: Api, dag_id: str, run_id: str, deadline: float) -> str:
    while True:
        state = str(api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])
        if state in ("success", "failed"):
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"{dag_id} {run_id} still {state} after {CHAIN_TIMEOUT} s")
        time.sleep(2)


def wait_for_retention(api: Api, deadline: float) -> dict[str, Any]:
    """The retention run the ingestion's assets triggered, once it has finished."""
    while True:
        runs = api.call("GET", f"/api/v2/dags/{RETENTION_DAG}/dagRuns?limit=10")["dag_runs"]
        finished = [r for r in runs if r["state"] in ("success", "failed")]
        if finished:
            return dict(finished[0])
        if time.monotonic() > deadline:
            pytest.fail(f"no finished {RETENTION_DAG} run after {CHAIN_TIMEOUT} s: {runs}")
        time.sleep(2)


def celery_tasks_done(stack: NativeStack, expected: int) -> dict[str, int]:
    """Celery tasks each worker logged as succeeded (a task instance is marked a moment
    before its Celery task returns: wait a little for the last ones)."""
    deadline = time.monotonic() + 30
    while True:
        done = {
            r.name: r.log.read_text(errors="replace").count("succeeded in")
            for r in stack.replicas["airflow-worker"]
        }
        if sum(done.values()) >= expected or time.monotonic() > deadline:
            return done
        time.sleep(1)


def wait_until_idle(api: Api, deadline: float) -> None:
    while True:
        busy = api.call("GET", "/api/v2/dags/~/dagRuns?state=queued&state=running")
        if busy["total_entries"] == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"runs still queued or running: {busy['dag_runs']}")
        time.sleep(2)


def store_runs(url: str) -> list[tuple[str, date, str, int]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT r.run_id, r.as_of, r.trigger_kind, count(m.record_id) "
                    "FROM runs r LEFT JOIN manifest_items m ON m.run_id = r.run_id "
                    "GROUP BY r.run_id, r.as_of, r.trigger_kind ORDER BY r.run_id"
                )
            ).all()
    finally:
        engine.dispose()
    return [(str(r[0]), r[1], str(r[2]), int(r[3])) for r in rows]


def backup_and_restore(stack: NativeStack, env: dict[str, str], dump: Path) -> str:
    """pg_dump the governance database as the superuser and pg_restore it with the README's
    flags into a new database owned by `governance`; the restored database's URL."""
    port = str(stack.host_ports["postgres"])
    pg = {"PGHOST": "127.0.0.1", "PGPORT": port, "PGUSER": "postgres"}
    pg_env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": env["POSTGRES_PASSWORD"], **pg}

    def run(*argv: str) -> None:
        done = subprocess.run(argv, env=pg_env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{argv[0]}: {done.stderr[-2000:]}"

    run("pg_dump", "-Fc", "--file", str(dump), "governance")
    run("psql", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c",
        "CREATE DATABASE governance_restored OWNER governance")  # fmt: skip
    run("pg_restore", "--clean", "--if-exists", "--no-owner", "--role=governance",
        "-d", "governance_restored", str(dump))  # fmt: skip
    store = stack.replicas["airflow-worker"][0].env["GOVERNANCE_DB_URL"]
    return store.rsplit("/", 1)[0] + "/governance_restored"
